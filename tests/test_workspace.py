"""The workspace: init, discovery (walk up, -w, ASSAY_WORKSPACE), schema version, errors."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from assay import Workspace
from assay.errors import AssayError, Conflict, NotFound
from assay.store.schema import SCHEMA_VERSION, audit
from init_race import race_inits


def _dataset_names(root: Path) -> list[str]:
    with Workspace.open(root) as w:
        return [d.name for d in w.datasets()]


def test_init_creates_wal_database_and_objects(run_cli, tmp_path: Path) -> None:
    target = tmp_path / "flood-ws"
    res = run_cli("init", target, "--json")
    root = target / ".assay"
    assert Path(res.json()["workspace"]) == root.resolve()
    assert (root / "assay.db").is_file()
    assert (root / "objects").is_dir()
    con = sqlite3.connect(root / "assay.db")
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
        actions = [r[0] for r in con.execute("SELECT action FROM audit ORDER BY seq")]
        assert actions == ["workspace.init"]
    finally:
        con.close()
    config = json.loads((root / "config.json").read_text())
    assert config["marking_levels"][0] == "UNCLASSIFIED"


def test_init_twice_is_a_user_error(run_cli, tmp_path: Path) -> None:
    run_cli("init", cwd=tmp_path)
    res = run_cli("init", cwd=tmp_path, code=1)
    assert "already holds an assay workspace" in res.stderr


def test_discovery_walks_up_from_a_subfolder(run_cli, tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    deep = tmp_path / "missions" / "2026" / "flood"
    deep.mkdir(parents=True)
    run_cli("dataset", "create", "river-crossings", cwd=deep)
    assert _dataset_names(tmp_path) == ["river-crossings"]


def test_workspace_option_and_environment_variable(run_cli, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b, elsewhere = tmp_path / "a", tmp_path / "b", tmp_path / "elsewhere"
    Workspace.init(a).close()
    Workspace.init(b).close()
    elsewhere.mkdir()
    run_cli("-w", a, "dataset", "create", "via-option", cwd=elsewhere)
    run_cli("dataset", "create", "via-env", cwd=elsewhere, env={"ASSAY_WORKSPACE": str(b)})
    # -w names the .assay folder itself too, and wins over the environment.
    cli(
        "-w",
        a / ".assay",
        "dataset",
        "create",
        "via-dotdir",
        cwd=b,
        env={"ASSAY_WORKSPACE": str(b)},
    )
    assert _dataset_names(a) == ["via-dotdir", "via-option"]
    assert _dataset_names(b) == ["via-env"]


def test_not_a_workspace_is_exit_1(run_cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("dataset", "list", cwd=empty, code=1)
    assert "assay init" in res.stderr
    res = run_cli("-w", empty, "dataset", "list", code=1)
    assert str(empty) in res.stderr and "not an assay workspace" in res.stderr


def test_usage_errors_exit_2(run_cli, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    assert "No such command" in run_cli("frobnicate", code=2).stderr
    res = cli("dataset", "add", "d", code=2)
    assert "exactly one of --all or --items" in res.stderr
    assert "Missing argument" in cli("dataset", "create", code=2).stderr


def test_newer_schema_version_is_a_clear_error(run_cli, tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    con = sqlite3.connect(tmp_path / ".assay" / "assay.db")
    with con:
        con.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 7),)
        )
    con.close()
    with pytest.raises(AssayError, match=rf"schema version {SCHEMA_VERSION + 7}.*upgrade assay"):
        Workspace.open(tmp_path)
    res = run_cli("dataset", "list", code=1)
    assert "newer than this assay understands" in res.stderr


def test_python_api_open_and_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_WORKSPACE", raising=False)
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
    Workspace.init(tmp_path / "w").close()
    with pytest.raises(Conflict):
        Workspace.init(tmp_path / "w")
    sub = tmp_path / "w" / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    with Workspace.open() as w:
        assert w.root == (tmp_path / "w" / ".assay").resolve()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFound, match="no assay workspace"):
        Workspace.open()
    monkeypatch.setenv("ASSAY_WORKSPACE", str(tmp_path / "w"))
    with Workspace.open() as w:
        assert w.root.name == ".assay"
    # Reopening never changes the schema version or duplicates the meta row.
    con = sqlite3.connect(tmp_path / "w" / ".assay" / "assay.db")
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    con.close()
    assert rows == [(str(SCHEMA_VERSION),)]


RACES = 3  # which side wins varies


def test_inits_racing_in_one_folder_make_one_workspace(
    tmp_path: Path, new_database: Callable[[], None]
) -> None:
    for race in range(RACES):
        new_database()
        folder = tmp_path / f"race{race}"
        # Both found no config.json there; `blob_location` is the step before it is written.
        outcomes = sorted(race_inits([folder, folder], after="blob_location"))
        assert [kind for kind, _ in outcomes] == ["Conflict", "made"], outcomes
        # Refused by the folder, or on PostgreSQL by the database if the other init was done.
        assert "already holds" in outcomes[0][1] and str(folder) in outcomes[0][1]
        with Workspace.open(folder) as ws, ws.db.read() as conn:
            events = conn.execute(select(audit.c.action, audit.c.target)).all()
            assert events == [("workspace.init", str(folder))]
            assert ws.audit_verify().ok
        assert not [n for n in os.listdir(folder / ".assay") if n.endswith(".tmp")]
