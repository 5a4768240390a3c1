"""`--json` of the servers: one document once the server listens, for a script to wait on."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from assay.cli._common import Env

# Where a connection to a server bound to every address of the machine is tried.
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def url(host: str, port: int, path: str = "/") -> str:
    """`http://HOST:PORT/PATH`, an IPv6 address in brackets."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


def announce_when_listening(env: Env, host: str, port: int, doc: dict[str, Any]) -> None:
    """Print `doc` (and the process id, to stop it by) as the one JSON document on stdout as
    soon as HOST:PORT accepts a connection: the server is up. A script reads it instead of
    trying the port in a loop. Tried from a daemon thread while the server starts in this one;
    a server that fails to start exits with its error and nothing is printed."""
    target = _LOOPBACK.get(host, host)

    def wait() -> None:
        while True:
            try:
                socket.create_connection((target, port), timeout=1).close()
            except OSError:
                time.sleep(0.05)
                continue
            env.emit_json({**doc, "pid": os.getpid()})
            return

    threading.Thread(target=wait, name="assay-listening", daemon=True).start()
