"""The provisioning side's one link to the host tools: ports, card clients, admin keys.

Everything that talks to a card goes through `host_tools` (transport, protocol client, port
discovery, admin-key diversification); this module only adapts their calls for
`provisioner.py`, so tests can hand fakes to the provisioner instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from host_tools import admin_keys, discovery
from host_tools.client import CardClient
from host_tools.transport import open_transport


def open_client(port: str, timeout: float = 3.0) -> CardClient:
    """A client for the card on `port`; `timeout`: seconds to wait for each answer."""
    return CardClient(open_transport(port), timeout=timeout)


def derive_admin_key(master_admin_key: bytes, serial_number: str) -> bytes:
    """The card's admin key: `host_tools.admin_keys` diversifies the master admin key."""
    return admin_keys.derive_admin_key(master_admin_key, serial_number)


def resolve_ports(ports: Sequence[str]) -> list[str]:
    """`auto` becomes the only attached card found by discovery (else it says what it found)."""
    return [discovery.resolve_port(p) for p in ports]
