"""How `dsc` reports an error: the one table from exception types to exit statuses, the option
hints the libraries leave out, and the text or JSON a failed command prints.

The libraries raise exceptions that name facts and carry data (`field`, `reason`, `status`,
`attempts_remaining`, ...); only this module knows exit statuses and option names. Types are
named by module and class, so reporting an error never imports a package the command did not
load (the emulator is heavy).

    status 0  done (`dsc verify`: accepted)
    status 1  the operation failed or was refused (card not answering, wrong response, ...)
    status 2  the command line or an input is wrong; nothing was changed
    status 130  interrupted (Ctrl-C)
    status 141  stdout was closed (`dsc audit | head -1`): the command stopped quietly
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Any


class UsageError(Exception):
    """The command line is wrong (an option missing, two that exclude each other, ...)."""


class CommandFailed(Exception):
    """A command failed for a reason of its own (no display for the window, ...)."""


# (module.Class, exit status): the first class of an exception's MRO found here decides.
EXIT_STATUS: dict[str, int] = {
    "host_tools.cli.exits.UsageError": 2,
    "host_tools.cli.exits.CommandFailed": 1,
    "host_tools.errors.InvalidInputError": 2,
    "host_tools.errors.DscError": 1,
    "provisioning.errors.InvalidInputError": 2,
    "provisioning.errors.SoftCardRefusal": 1,
    "provisioning.errors.ProvisioningError": 1,
    "emulator.errors.ScenarioError": 2,
    "emulator.errors.EmulatorError": 1,
}

# An input's name in the libraries' `field` -> how the command line gives it.
OPTION_FOR_FIELD: dict[str, str] = {
    "pin_len": "--pin-len",
    "serial_number": "--serial-number",
    "master_admin_key": "--admin-master-key-file",
    "pin": "--pin-stdin",
    "protection": "--password-stdin or --psk-file",
    "card_choice": "--serial-number",
}

# Extra words for a type, after the message (how to go on). A key `module.Class[word]` is for
# an exception of that type whose `reason` or `status` is `word`, and wins over the plain type.
# The libraries say what to do in words of the operations ("provision it again"); this is
# where those become commands.
HINT_FOR_TYPE: dict[str, str] = {
    "host_tools.confirm.ConfirmationFailed": "provision it again",
    "provisioning.errors.SoftCardRefusal": "`dsc softcard disable|enable|remove SERIAL`",
    "host_tools.admin_keys.MasterKeyFileMissing":
        "give --admin-master-key-file, set DSC_ADMIN_MASTER_KEY_FILE, or run `dsc registry init`",
    "provisioning.errors.RegistryError[no registry]": "`dsc registry init`",
    "provisioning.errors.RegistryError[not initialised]": "`dsc registry init`",
    "provisioning.errors.RegistryError[not a registry]": "`dsc registry init`",
    "provisioning.errors.RegistryError[old schema]": "`dsc registry init` migrates it",
    "provisioning.errors.CardStateError[not lost]": "`dsc lost`",
    "provisioning.errors.MasterKeyError[no key file]": "`dsc registry init`",
    "provisioning.errors.MasterKeyError[exposed]": "`dsc registry rotate-key`",
    "provisioning.errors.NoPinError": "`dsc reset-pin`",
    "provisioning.errors.ProvisionFailed[retry]": "`dsc provision`",
    "provisioning.errors.ProvisionFailed[retry wipe]": "`dsc wipe`",
    # A card in the wrong state: the commands that take it on from there.
    "provisioning.errors.CardStateError[blank]": "`dsc provision` with the card attached",
    "provisioning.errors.CardStateError[provisioned]": "`dsc assign`",
    "provisioning.errors.CardStateError[assigned]": "`dsc activate`",
    "provisioning.errors.CardStateError[unavailable]": "`dsc reactivate`",
    "provisioning.errors.CardStateError[lost]": "`dsc replace`, `dsc found` or `dsc return`",
    "provisioning.errors.CardStateError[returned]": "`dsc wipe` or `dsc retire`",
}


def _names(exc: BaseException) -> list[str]:
    return [f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__]


def exit_status(exc: BaseException) -> int | None:
    """The exit status for an exception the CLI reports as one line; None for a bug (an
    exception no library raises on purpose), which keeps its traceback."""
    for name in _names(exc):
        if name in EXIT_STATUS:
            return EXIT_STATUS[name]
    return None


def hint(exc: BaseException) -> str | None:
    words = [str(w) for w in (getattr(exc, "reason", None), getattr(exc, "status", None))
             if isinstance(w, str)]
    for name in _names(exc):
        for key in (*(f"{name}[{w}]" for w in words), name):
            if key in HINT_FOR_TYPE:
                return HINT_FOR_TYPE[key]
    field = getattr(exc, "field", None)
    if isinstance(field, str) and field in OPTION_FOR_FIELD:
        return OPTION_FOR_FIELD[field]
    return None


def message(exc: BaseException) -> str:
    """The one line for an error: the library's facts, then the option hint, if any."""
    text = str(exc) or type(exc).__name__
    extra = hint(exc)
    return f"{text} ({extra})" if extra and extra not in text else text


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# Attributes of library exceptions that a JSON error carries (facts, never secrets).
DATA_FIELDS = ("reason", "status", "serial_number", "attempts_remaining", "locked_until",
               "field", "path", "retry_after_ms")


def as_json(exc: BaseException, status: int) -> dict[str, Any]:
    """`{"error": message, "type": class, "exit_status": n, ...data}` for `--json`."""
    data: dict[str, Any] = {"error": message(exc), "type": type(exc).__name__,
                            "exit_status": status}
    for name in DATA_FIELDS:
        value = getattr(exc, name, None)
        if value is not None:
            data[name] = _plain(value)
    return data


def report(exc: BaseException, status: int, *, json_output: bool) -> None:
    """Print an error on stderr: one JSON object on one line with --json, else
    `dsc: error: ...`. stdout keeps only results, so a script never mistakes an error for one."""
    if json_output:
        print(json.dumps(as_json(exc, status), sort_keys=True), file=sys.stderr, flush=True)
    else:
        print(f"dsc: error: {message(exc)}", file=sys.stderr)
