# OpenDSC — every set-up step lives here, so a fresh machine needs only `make demo` / `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
PY       := $(BIN)/python
STUBS    := .stubs
BOARD    ?= pico
PORT     ?= auto
DRY_RUN  ?=
PYTEST_ARGS ?=

FIRMWARE_PY := $(shell find firmware boards -name '*.py' 2>/dev/null | sort)

.PHONY: system-deps help setup demo test lint typecheck typecheck-host typecheck-firmware mpy pytest bench \
        flash docs clean postgres

help:
	@echo "make demo    - set everything up, then show an emulated card at work"
	@echo "make test    - set everything up, then lint, type-check, compile and run all tests"
	@echo "make bench   - benchmarks (firmware on CPython and both MicroPython VMs, emulator, host)"
	@echo "make flash BOARD=pico PORT=/dev/ttyACM0 - compile and copy the firmware to a board"
	@echo "             (DRY_RUN=1: print what would be copied, touch nothing)"
	@echo "make docs    - regenerate generated docs (board wiring tables)"
	@echo "make demo-web - the support console and the portal on emulated cards (prints URLs)"
	@echo "make screenshots - the console's and portal's pages to docs/screenshots/*.png"

# --- set-up -----------------------------------------------------------------------------------
$(BIN)/.stamp: requirements/host.txt requirements/dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# The firmware package `dsc` as a plain path entry too: the path finder then finds it as a
	@# regular package, which beats a bare `dsc/` directory in the current directory (the
	@# editable install's finder alone comes after the path finder). host_tools refuses to run
	@# with any other `dsc` and names it.
	echo "$(CURDIR)/firmware" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/opendsc-firmware.pth"
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# MicroPython stubs for the firmware type check, one directory per port (they shadow the stdlib).
$(STUBS)/%/.stamp: requirements/stubs-%.txt | $(BIN)/.stamp
	rm -rf $(STUBS)/$*
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --target $(STUBS)/$* -r $<
	touch $@

setup: $(BIN)/.stamp node_modules/.stamp $(STUBS)/rp2/.stamp $(STUBS)/esp32/.stamp system-deps

system-deps:
	bash scripts/system-deps.sh

# --- checks -----------------------------------------------------------------------------------
lint: $(BIN)/.stamp
	$(BIN)/ruff check .

typecheck-host: $(BIN)/.stamp
	$(BIN)/mypy

typecheck-firmware: node_modules/.stamp $(STUBS)/rp2/.stamp $(STUBS)/esp32/.stamp
	@for port in rp2 esp32; do \
	  echo "pyright: firmware/ against micropython-$$port-stubs"; \
	  sed "s|@STUBS@|$(STUBS)/$$port|g" pyrightconfig.template.json > $(STUBS)/pyrightconfig.$$port.json; \
	  node_modules/.bin/pyright -p $(STUBS)/pyrightconfig.$$port.json || exit 1; \
	done

typecheck: typecheck-host typecheck-firmware

# Every file under firmware/ and boards/ must compile with mpy-cross.
mpy: $(BIN)/.stamp
	$(BIN)/dsc build check $(FIRMWARE_PY)

pytest: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test: setup lint typecheck mpy postgres
	source scripts/postgres-env.sh && $(BIN)/pytest $(PYTEST_ARGS)

postgres:
	bash scripts/postgres.sh start

bench: setup postgres
	source scripts/postgres-env.sh && $(PY) -m bench.run

demo: setup
	$(BIN)/dsc demo

flash: setup
	$(BIN)/dsc flash --board $(BOARD) --port $(PORT)$(if $(filter 1 yes true,$(DRY_RUN)), --dry-run)

docs: $(BIN)/.stamp
	$(BIN)/dsc build wiring --write docs/boards.md

clean:
	rm -rf $(VENV) node_modules $(STUBS) build .pytest_cache .mypy_cache .ruff_cache

# The console's and the portal's pages in Chromium, saved to docs/screenshots/*.png.
.PHONY: screenshots demo-web
screenshots:
	DSC_SCREENSHOTS=1 $(PY) -m pytest -q tests/browser/test_web_console_portal.py \
		tests/browser/test_browser_admin.py tests/browser/test_browser_softcard.py \
		-k 'end_to_end or admin_pages or console_creates_the_soft_card'

# `dsc serve` on a fresh registry with emulated cards; prints the console's and portal's URLs.
demo-web:
	$(PY) -m host_tools.web.demo
