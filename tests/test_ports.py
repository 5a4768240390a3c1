"""The helpers that start servers as processes on free ports (tests/ports.py): a port taken by
another process between the pick and the server's bind is never taken for the server's, and
the server is started again on a new port."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ports import ATTEMPTS, listening, start_on_free_port, wait_ours


def http_server(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """Python's own file server: it exits saying "Address already in use" on a taken port."""
    return subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "-b", "127.0.0.1", "-d", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def said(proc: subprocess.Popen[bytes]) -> str:
    return proc.stderr.read().decode(errors="replace") if proc.stderr else ""


@pytest.fixture
def foreign() -> Iterator[list[socket.socket]]:
    """Listeners of "another process" (this one): each takes a port a server was given."""
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()


def occupy(port: int, socks: list[socket.socket]) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    socks.append(s)


def test_a_listener_of_another_process_is_not_taken_for_the_servers(
    tmp_path: Path, foreign: list[socket.socket]
) -> None:
    (tmp_path / "ours.txt").write_text("ours")
    launched: list[subprocess.Popen[bytes]] = []

    def launch(ports: list[int]) -> subprocess.Popen[bytes]:
        if not launched:  # another worker's server takes the port before ours binds it
            occupy(ports[0], foreign)
        launched.append(http_server(ports[0], tmp_path))
        return launched[-1]

    proc, [port] = start_on_free_port(launch, "http.server", said)
    try:
        taken = foreign[0].getsockname()[1]
        assert port != taken and listening(proc, port) and not listening(proc, taken)
        # the first server found its port taken and exited; the second is the one answering
        assert len(launched) == 2 and launched[0].returncode not in (None, 0)
        assert httpx.get(f"http://127.0.0.1:{port}/ours.txt", timeout=30).text == "ours"
    finally:
        proc.kill()
        proc.wait()


def test_a_server_that_never_listens_is_not_ready_while_another_holds_its_port(
    tmp_path: Path, foreign: list[socket.socket]
) -> None:
    occupy(0, foreign)
    port = foreign[0].getsockname()[1]
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with pytest.raises(RuntimeError, match=rf"idler did not listen on \[{port}\] within 3 s"):
        wait_ours(idle, [port], "idler", timeout=3)
    assert idle.poll() is not None  # stopped, not left behind


def test_a_server_failing_for_another_reason_is_one_error_with_its_output(tmp_path: Path) -> None:
    calls: list[int] = []

    def broken(ports: list[int]) -> subprocess.Popen[bytes]:
        calls.append(ports[0])
        code = "import sys; sys.exit('config: no such key: flood')"
        return subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)

    with pytest.raises(RuntimeError, match=r"broken exited with 1: config: no such key: flood"):
        start_on_free_port(broken, "broken", said)
    assert len(calls) == 1  # not retried: a new port would not help


def test_a_port_taken_every_time_ends_in_one_clear_error(
    tmp_path: Path, foreign: list[socket.socket]
) -> None:
    def launch(ports: list[int]) -> subprocess.Popen[bytes]:
        occupy(ports[0], foreign)
        return http_server(ports[0], tmp_path)

    with pytest.raises(RuntimeError, match=rf"taken by another process {ATTEMPTS} times in a row"):
        start_on_free_port(launch, "http.server", said)
    assert len(foreign) == ATTEMPTS
