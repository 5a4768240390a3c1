"""Check that the server can bind its address before saying it is serving."""

from __future__ import annotations

import errno
import socket

from assay.errors import InvalidInput


def check_port_free(host: str, port: int) -> None:
    """Raise `InvalidInput` naming the address when it cannot be bound (in use, no such host).

    Binds with SO_REUSEADDR, as uvicorn does, so a socket lingering in TIME_WAIT after a
    restart is not mistaken for a running server.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidInput(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            reason = "it is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise InvalidInput(
                f"cannot serve on {host}:{port}: {reason}; stop the other server or choose "
                "another port with --port"
            ) from None
