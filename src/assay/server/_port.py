"""The servers' listening socket: bound by the command itself, then handed to uvicorn.

Binding it here (not checking the port and letting uvicorn bind it later) means the address
the command reports is the one it holds: no other process can take it in between, and
`--port 0` (any free port) reports the port the system gave.
"""

from __future__ import annotations

import errno
import socket
import sys
from typing import TYPE_CHECKING

from assay.errors import InvalidInput

if TYPE_CHECKING:
    import uvicorn

_STARTUP_FAILURE = 3  # uvicorn's exit status for a server that did not start


def _in_use(host: str, port: int) -> InvalidInput:
    return InvalidInput(
        f"cannot serve on {host}:{port}: it is in use; stop the other server or choose "
        "another port with --port"
    )


def bind_port(host: str, port: int) -> socket.socket:
    """The TCP socket bound to HOST:PORT (PORT 0: any free port), not yet listening: uvicorn
    listens on it once the app has started. Raise `InvalidInput` naming the address when it
    cannot be bound (in use, no such host).

    Binds with SO_REUSEADDR, as uvicorn does, so a socket lingering in TIME_WAIT after a
    restart is not mistaken for a running server.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidInput(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _in_use(host, port) from None
        raise InvalidInput(
            f"cannot serve on {host}:{port}: {exc.strerror}; choose another address with "
            "--host or --port"
        ) from None
    sock.set_inheritable(True)  # the worker processes of --workers N serve it too
    return sock


def bound_port(sock: socket.socket) -> int:
    """The port `sock` holds (the one the system chose for `--port 0`)."""
    return int(sock.getsockname()[1])


def serve_on(sock: socket.socket, config: uvicorn.Config, host: str) -> None:
    """Run uvicorn with `config` on `sock` (from `bind_port`, for HOST): in this process, or in
    `config.workers` worker processes sharing it; until Ctrl-C. A server whose app fails to
    start exits with uvicorn's status 3, as `uvicorn.run` does."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
            return
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        return
    except OSError as exc:
        # Another process bound the port with SO_REUSEADDR too and listened first: fail
        # with the clear message rather than a traceback (nothing was announced).
        if exc.errno == errno.EADDRINUSE:
            raise _in_use(host, bound_port(sock)) from None
        raise
    finally:
        sock.close()
    if not server.started:
        sys.exit(_STARTUP_FAILURE)
