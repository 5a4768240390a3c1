"""`assay serve` binds its own listening socket: `--port 0` takes any free port and reports
the one it holds, and the address it reports is served by this process, never another's."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from json_document import Running
from pg import fresh_schema
from ports import listening, wait_ours


def _serve(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    ws = tmp_path / "ws"
    subprocess.run(
        [sys.executable, "-m", "assay", "init", str(ws)], env=env, check=True, capture_output=True
    )
    return subprocess.Popen(
        [sys.executable, "-m", "assay", "-w", str(ws), "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _said_url(proc: subprocess.Popen[str]) -> str:
    """The URL of the human-readable `serving ... on URL (Ctrl-C to stop)` line."""
    assert proc.stdout is not None
    text = ""
    while "(Ctrl-C to stop)" not in text:
        line = proc.stdout.readline()
        assert line, f"stdout ended before the serving line: {text!r}"
        text += " " + line.strip()
    found = re.search(r" on (http://\S+) \(Ctrl-C to stop\)", text)
    assert found, text
    return found.group(1)


@pytest.mark.parametrize(
    ("as_json", "workers"), [(True, 1), (False, 1), (True, 2)], ids=["json", "human", "workers"]
)
def test_serve_on_port_0_reports_the_port_it_took_and_serves_it(
    tmp_path: Path, subprocess_env: dict[str, str], as_json: bool, workers: int
) -> None:
    """`--port 0` was refused (1-65535): a script had to pick a port, which another process
    could take before the server bound it. Now the system picks one and the --json document
    (and the `serving on` line) names the port taken, served by this very process (or its
    worker processes, sharing the socket it bound: PostgreSQL)."""
    with ExitStack() as stack:
        env = dict(subprocess_env)
        if workers > 1:  # a SQLite workspace is served by one process
            env["ASSAY_DATABASE_URL"] = stack.enter_context(fresh_schema())
        _check_port_0(tmp_path, env, as_json, workers)


def _check_port_0(tmp_path: Path, env: dict[str, str], as_json: bool, workers: int) -> None:
    json_args = ["--json"] if as_json else []
    proc = _serve(tmp_path, env, "--port", "0", "--workers", str(workers), *json_args)
    try:
        if as_json:
            doc = Running(proc).document()
            url = doc["url"]
            assert doc["pid"] == proc.pid and doc["workers"] == workers
        else:
            url = _said_url(proc)
        port = urlsplit(url).port
        assert port and url == f"http://127.0.0.1:{port}/"
        if as_json:
            # listening when said, and by this process (the socket is its own, not a port
            # that merely answered a connection)
            assert listening(proc, port)
        else:  # the line comes before the app has started: until this process listens
            assert wait_ours(proc, [port], "assay serve --port 0")
        # served: the first request is answered (401: no credentials)
        assert httpx.get(f"{url}api/v1/projects", timeout=60).status_code == 401
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out == ""  # nothing more on stdout after the document or the line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_json_on_a_port_another_process_listens_on_is_refused(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """A foreign listener's port: one clear error and exit 1, and no `listening` document
    (the server never reports an address it does not hold)."""
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        proc = _serve(tmp_path, subprocess_env, "--port", str(port), "--json")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert out == ""
    assert err.strip() == (
        f"error: cannot serve on 127.0.0.1:{port}: it is in use; stop the other server or "
        "choose another port with --port"
    )
