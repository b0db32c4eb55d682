"""Loopback ports for servers a test starts, taken from the range this suite's servers may use."""

from __future__ import annotations

import socket


def free_port(first: int = 18600, last: int = 18699) -> int:
    """A port in [first, last] that nothing listens on now (the caller binds it at once)."""
    for port in range(first, last + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last}")
