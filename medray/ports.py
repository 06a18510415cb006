"""A free loopback TCP port, for the servers medray starts itself (broker, Serve HTTP, test servers)."""
from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port the OS had free a moment ago (bind to 0). Racy by nature: bind soon after asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
