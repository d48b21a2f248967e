"""Time in the registry: Unix seconds (UTC), one day, and how a time reads in a message."""

from __future__ import annotations

import datetime as dt

DAY = 86400


def when(t: int | None) -> str:
    """A registry time as text (`-` for none): 2026-01-31 12:00:00 UTC."""
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
