"""The PostgreSQL pass's guard (`open_connections`): a test anywhere under `--db postgresql`
that leaves a connection open fails, by its own name; one that closes what it opens passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

LEAKS = """
from pathlib import Path

import pytest

from assay import Workspace


@pytest.fixture
def leaky(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "f")


def test_by_hand(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").create_dataset("d")


def test_by_fixture(leaky: Workspace) -> None:
    leaky.create_dataset("d")


def test_through_a_cycle(tmp_path: Path) -> None:
    held = {"ws": Workspace.init(tmp_path / "ws")}
    held["self"] = held


def test_closed(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        ws.create_dataset("d")
"""


def test_a_test_anywhere_that_leaves_a_connection_open_fails_by_its_name(tmp_path: Path) -> None:
    # A folder outside every suite that had the guard: the suite's root conftest as a plugin.
    (tmp_path / "test_leaks.py").write_text(LEAKS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent / "src")])}
    env.pop("ASSAY_DATABASE_URL", None)
    argv = ["-p", "conftest", "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", "."]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *argv, "-q", "--db", "postgresql", "test_leaks.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout
    errors = {line.split()[1] for line in out.splitlines() if line.startswith("ERROR ")}
    assert errors == {
        "test_leaks.py::test_by_hand",
        "test_leaks.py::test_by_fixture",
        "test_leaks.py::test_through_a_cycle",
    }, out
    assert "connections left open" in out and "4 passed, 3 errors" in out, out
