"""The API keeps the promises of its OpenAPI document, tried by schemathesis with all checks.

A real `assay serve` process on a loopback port over a small workspace (items at three
markings, users of every role, a project), run twice: with an admin's token and without one.
Any server error, undocumented status, response off its schema or wrong content type fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assay.labeling import Workflow, create_token
from assay.workspace import Workspace
from labeling_world import build_world
from ports import start_on_free_port

SRC = Path(__file__).resolve().parents[2] / "src"
ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 15  # per operation and phase: keeps both runs well under a minute
SEED = 20261205  # fixed, so a failure here is reproducible with the command it prints


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, module_database: str | None
) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("api")
    env = {**os.environ, "PYTHONPATH": str(SRC), "ASSAY_ARGON2_MEMORY_KIB": "1024"}
    env.pop("ASSAY_WORKSPACE", None)
    env.pop("ASSAY_DATABASE_URL", None)
    if module_database is not None:  # `--db postgresql`: the module's schema
        env["ASSAY_DATABASE_URL"] = module_database
    os.environ.setdefault("ASSAY_ACTOR", "user:tester")
    ws = Workspace.init(root / "ws")
    build_world(ws, root / "data", workflow=Workflow(overlap=1, review="all"))
    token = create_token(ws, "root")
    ws.close()
    log = root / "serve.log"

    def launch(ports: list[int]) -> subprocess.Popen[bytes]:
        args = ["-w", str(root / "ws"), "serve", "--port", str(ports[0])]
        with log.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "assay", *args], env=env, stdout=out, stderr=out
            )

    def ready(proc: subprocess.Popen[bytes], ports: list[int]) -> bool:
        try:
            got = httpx.get(f"http://127.0.0.1:{ports[0]}/api/v1/openapi.json", timeout=2)
        except httpx.TransportError:
            return False
        return got.status_code == 200

    def said(proc: subprocess.Popen[bytes]) -> str:
        return log.read_text(errors="replace")

    proc, [port] = start_on_free_port(launch, "assay serve", said, timeout=120, ready=ready)
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, token
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    server_log = log.read_text()
    assert "Traceback" not in server_log, server_log[-5000:]


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_the_api_keeps_its_openapi_document(
    served: tuple[str, str], tmp_path: Path, who: str
) -> None:
    url, token = served
    args = [
        str(ST), "--no-color", "--config-file", str(CONFIG),
        "run", f"{url}/api/v1/openapi.json", "--url", url,
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
        "--workers", "1", "--report-dir", str(tmp_path / "report"),
    ]  # fmt: skip
    if who == "admin":
        args += ["-H", f"Authorization: Bearer {token}"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-8000:] + res.stderr[-2000:]
    assert "API Operations" in res.stdout  # it really ran
