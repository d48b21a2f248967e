"""The provisioning side's one link to the host tools: ports, card clients, admin keys.

Everything that talks to a card goes through `host_tools` (transport, protocol client, port
discovery, admin-key diversification); this module only adapts their calls for
`provisioner.py`, so tests can hand fakes to the provisioner instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from host_tools.client import CardClient
from host_tools.errors import UsageError
from host_tools.transport import open_transport


def open_client(port: str) -> CardClient:
    return CardClient(open_transport(port))


def derive_admin_key(master_admin_key: bytes, serial_number: str) -> bytes:
    """The card's admin key: `host_tools.admin_keys` diversifies the master admin key."""
    admin_keys: Any = importlib.import_module("host_tools.admin_keys")
    key: bytes = admin_keys.derive_admin_key(master_admin_key, serial_number)
    return key


def resolve_ports(ports: Sequence[str]) -> list[str]:
    """`auto` becomes the attached card found by discovery (the only one, else an error)."""
    out = []
    for port in ports:
        if port != "auto":
            out.append(port)
            continue
        try:
            discovery: Any = importlib.import_module("host_tools.discovery")
        except ImportError:
            raise UsageError("--port auto needs card discovery (host_tools.discovery): "
                             "give the port") from None
        out.append(str(discovery.auto_port()))
    return out
