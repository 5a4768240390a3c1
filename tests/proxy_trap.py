"""A proxy named in the environment that only listens: what reaches it is recorded, nothing is
answered. A client that honours HTTP_PROXY (and its kin) talks to it instead of the server the
user named; one that goes directly leaves it with nothing heard."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY")


@contextmanager
def proxy_trap(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Set every proxy variable to a loopback listener; yields what it heard (the first
    request's bytes, if any), complete once the block has ended."""
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(4)
    proxy.settimeout(0.5)
    heard: list[bytes] = []

    def listen() -> None:
        try:
            conn, _ = proxy.accept()
        except OSError:
            return
        with conn:
            heard.append(conn.recv(65536))

    waiter = threading.Thread(target=listen)
    waiter.start()
    for var in PROXY_VARIABLES:
        monkeypatch.setenv(var, f"http://127.0.0.1:{proxy.getsockname()[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        yield heard
    finally:
        waiter.join()
        proxy.close()
