"""`assay audit log|verify` on an intact and on a tampered trail."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from assay import Workspace


@pytest.fixture
def trail(tmp_path: Path, samples, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    """Five events: init, ingest, dataset.create, dataset.add, commit."""
    monkeypatch.setenv("ASSAY_ACTOR", "user:tester")
    root = tmp_path / "ws"
    with Workspace.init(root) as w:
        w.ingest([samples.text("r.txt", seed=3)])
        w.create_dataset("reports")
        w.add_items("reports")
        w.commit("reports", "v1")
    return root


def _tamper(root: Path, sql: str) -> None:
    """`sql` run on the workspace's own database (SQLite or PostgreSQL), past assay's checks."""
    with Workspace.open(root) as w, w.db.begin() as conn:
        assert conn.execute(text(sql)).rowcount == 1


def test_log_and_verify_intact(cli, trail: Path) -> None:  # type: ignore[no-untyped-def]
    events = cli("-w", trail, "audit", "log", "--json").json()
    assert [e["action"] for e in events] == [
        "workspace.init",
        "ingest",
        "dataset.create",
        "dataset.add",
        "commit",
    ]
    assert set(events[0]) == {
        "seq",
        "time",
        "actor",
        "action",
        "target",
        "details",
        "prev_hash",
        "hash",
        "sig",
    }
    assert [e["seq"] for e in cli("-w", trail, "audit", "log", "-n", "2", "--json").json()] == [
        4,
        5,
    ]
    table = cli("-w", trail, "audit", "log").stdout
    assert "dataset.create" in table and "dataset:reports" in table
    assert cli("-w", trail, "audit", "verify", "--json").json() == {
        "ok": True,
        "checked": 5,
        "first_bad": None,
        "reason": "",
        "signed": 5,
        "checkpoints": 1,
        "state": [],
    }
    assert "audit trail intact: 5 event(s) verified" in cli("-w", trail, "audit", "verify").stdout


@pytest.mark.parametrize(
    ("sql", "seq"),
    [
        ("UPDATE audit SET target='dataset:other' WHERE seq=3", 3),
        ("DELETE FROM audit WHERE seq=2", 2),
        ("DELETE FROM audit WHERE seq=5", 5),
        ("UPDATE audit SET hash='" + "0" * 64 + "' WHERE seq=4", 4),
        ("UPDATE audit SET time='2020-01-01T00:00:00.000000Z' WHERE seq=1", 1),
    ],
)
def test_verify_fails_naming_the_first_broken_event(cli, trail: Path, sql: str, seq: int) -> None:  # type: ignore[no-untyped-def]
    _tamper(trail, sql)
    res = cli("-w", trail, "audit", "verify", code=1)
    assert f"audit trail broken at event {seq}:" in res.stderr
    assert f"({seq - 1} event(s) before it verified)" in res.stderr
    data = cli("-w", trail, "audit", "verify", "--json", code=1).json()
    assert (data["ok"], data["first_bad"], data["checked"]) == (False, seq, seq - 1)
