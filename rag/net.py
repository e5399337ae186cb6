"""Host names: whether an address stays on this machine (binding the UI, sending a token in clear text)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
