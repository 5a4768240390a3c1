"""A network guard for air-gap tests: with this folder first on PYTHONPATH, every Python
process refuses (and logs to $ASSAY_NETGUARD_LOG) any connection or name lookup that is not
loopback or a Unix socket, before a packet is sent."""

from __future__ import annotations

import ipaddress
import os
import socket

_LOG = os.environ.get("ASSAY_NETGUARD_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def refuse(what: str) -> None:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(what + "\n")
    raise OSError(f"network guard: refused {what}")


def check_address(family: int, address: object) -> None:
    if family == getattr(socket, "AF_UNIX", -1):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback(host):
        refuse(f"connect {address!r}")


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: object) -> None:
    check_address(self.family, address)
    _connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    check_address(self.family, address)
    return _connect_ex(self, address)  # type: ignore[arg-type]


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if host is not None and not is_loopback(host):
        refuse(f"resolve {host!r}")
    return _getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


if _LOG:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
