"""The demo's local peers: a CoT router (taky, the TAK server) and nats-server with JetStream,
each on a free loopback port in a folder of its own, started for a run and stopped after."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(proc: subprocess.Popen[bytes], port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited at start (code {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"{what} did not listen on 127.0.0.1:{port}")


def start_taky(exe: Path, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = root / "taky.conf"
    conf.write_text(
        "[taky]\nhostname = localhost\nnode_id = ASSAYDEMO\nbind_ip = 127.0.0.1\n"
        f"root_dir = {root}\n[cot_server]\nport = {port}\n[ssl]\nenabled = false\n"
        f"[dp_server]\nupload_path = {root / 'dp'}\n"
    )
    with (root / "taky.log").open("wb") as log:
        proc = subprocess.Popen([str(exe), "-c", str(conf)], cwd=root, stdout=log, stderr=log)
    _listening(proc, port, "taky")
    return proc, port


def start_nats(exe: str, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with (root / "nats.log").open("wb") as log:
        proc = subprocess.Popen(
            [exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(root / "store")],
            stdout=log,
            stderr=log,
        )
    _listening(proc, port, "nats-server")
    return proc, port
