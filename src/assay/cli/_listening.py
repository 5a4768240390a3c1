"""`--json` of the servers: one document once the server listens, for a script to wait on."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from assay.cli._common import Env


def url(host: str, port: int, path: str = "/") -> str:
    """`http://HOST:PORT/PATH`, an IPv6 address in brackets."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


def announce_when_listening(env: Env, sock: socket.socket, doc: dict[str, Any]) -> None:
    """Print `doc` (and the process id, to stop it by) as the one JSON document on stdout as
    soon as `sock`, the server's own bound socket, listens: uvicorn listens on it once the app
    has started (in this process or in its worker processes, which share it), so the server
    is up, and it is this server: nothing connects to the port to find out, which could reach
    another process's. A script reads it instead of trying the port in a loop. Watched from a
    daemon thread while the server starts in this one; a server that fails to start exits with
    its error and nothing is printed."""

    def wait() -> None:
        while True:
            try:
                accepting = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            except OSError:  # closed: the server stopped before it listened
                return
            if accepting:
                env.emit_json({**doc, "pid": os.getpid()})
                return
            time.sleep(0.05)

    threading.Thread(target=wait, name="assay-listening", daemon=True).start()
