"""Free ports for servers the tests start as processes, and knowing the one answering is ours.

A port picked by binding port 0 and closing the socket is free only at that moment: before the
server binds it, another test worker's server or an outgoing connection can take it. Then the
server fails to start (the port is in use), or worse, a readiness check that merely connects
reaches the other process and calls ours ready. `start_on_free_port` waits until the port's
listener is the child (or one of its descendants) itself, and picks a new port when the child
exited because the one it was given was taken.
"""

from __future__ import annotations

import errno
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import psutil

P = TypeVar("P", bound="subprocess.Popen[Any]")

ATTEMPTS = 5  # ports tried before giving up: a collision is rare, five in a row is a real fault


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port free now (it may be taken before it is used: see `start_on_free_port`)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port where nothing answers, for as long as the block runs: bound by this
    process and never listening, so a connection is refused and no other server can take it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def listening(proc: subprocess.Popen[Any], port: int) -> bool:
    """True when `proc` or one of its descendants listens on TCP `port` (not just anyone)."""
    try:
        top = psutil.Process(proc.pid)
        family = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    for p in family:
        try:
            conns = p.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns):
            return True
    return False


def in_use(port: int) -> bool:
    """Whether someone listens on (or holds) loopback TCP `port` now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def wait_ours(
    proc: subprocess.Popen[Any],
    ports: list[int],
    what: str,
    *,
    timeout: float = 120,
    ready: Callable[[], bool] | None = None,
) -> bool:
    """Until `proc` (or a descendant) listens on every one of `ports` and `ready()` holds:
    True; False when `proc` exits first. A listener of another process on a port is never
    taken for ours. Past `timeout`, `proc` is killed and RuntimeError names what was missing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if all(listening(proc, p) for p in ports) and (ready is None or ready()):
            return True
        time.sleep(0.05)
    missing = [p for p in ports if not listening(proc, p)]
    stop(proc)
    because = f"did not listen on {missing}" if missing else "listened and was not ready"
    raise RuntimeError(f"{what} {because} within {timeout} s")


def start_on_free_port(
    launch: Callable[[list[int]], P],
    what: str,
    output: Callable[[P], str],
    *,
    ports: int = 1,
    timeout: float = 120,
    ready: Callable[[P, list[int]], bool] | None = None,
) -> tuple[P, list[int]]:
    """`launch(ports)` on `ports` free loopback ports, returned with them once the process
    itself listens on each (and `ready(proc, ports)` holds, if given).

    A process that exits because a port was taken meanwhile (its output says "in use", or the
    port has a listener now) is started again on new ports, `ATTEMPTS` times at most; any other
    exit, or the last collision, is a RuntimeError with the end of `output(proc)`."""
    for _ in range(ATTEMPTS):
        picked = _distinct_free_ports(ports)
        proc = launch(picked)
        check = None if ready is None else partial(ready, proc, picked)
        if wait_ours(proc, picked, what, timeout=timeout, ready=check):
            return proc, picked
        said = output(proc)
        collided = "in use" in said.lower() or any(in_use(p) for p in picked)
        if not collided:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {said[-3000:]}")
    raise RuntimeError(
        f"{what} found its port taken by another process {ATTEMPTS} times in a row (the last "
        f"ones {picked}): {said[-3000:]}"
    )


def _distinct_free_ports(n: int) -> list[int]:
    """`n` different free ports (all held at once while picking, so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()
