#!/usr/bin/env bash
# Debian packages the tests need beyond Python/Node: Xvfb (the emulator window test runs a real
# Tk window on a virtual screen) and Chromium (the browser tests drive it with Playwright).
# PostgreSQL is handled by scripts/postgres.sh.
# Installs only what is missing; without root (and no sudo) it says what to install and goes on:
# the tests that need a package skip with that reason.
set -euo pipefail
need=()
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
[ -x /usr/bin/chromium ] || need+=(chromium fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "system-deps.sh: please install: ${need[*]} (apt-get install ${need[*]})" >&2; exit 0
  fi
fi
echo "system-deps.sh: installing ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
