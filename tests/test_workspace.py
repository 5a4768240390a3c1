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
from assay.store.schema import SCHEMA_VERSION, audit, meta
from assay.workspace import find_root
from init_race import race_inits


def _dataset_names(root: Path) -> list[str]:
    with Workspace.open(root) as w:
        return [d.name for d in w.datasets()]


def _schema_versions(ws: Workspace) -> list[str]:
    with ws.db.read() as conn:
        return list(conn.scalars(select(meta.c.value).where(meta.c.key == "schema_version")))


def test_init_creates_wal_database_and_objects(
    run_cli, tmp_path: Path, database_url: str | None
) -> None:
    target = tmp_path / "flood-ws"
    res = run_cli("init", target, "--json")
    root = target / ".assay"
    assert Path(res.json()["workspace"]) == root.resolve()
    assert (root / "objects").is_dir()
    with Workspace.open(target) as ws:
        assert _schema_versions(ws) == [str(SCHEMA_VERSION)]
        assert [e.action for e in ws.audit_log()] == ["workspace.init"]
    config = json.loads((root / "config.json").read_text())
    assert config["marking_levels"][0] == "UNCLASSIFIED"
    if database_url is not None:  # the metadata is in PostgreSQL: no database file here
        assert sorted(os.listdir(root)) == ["config.json", "objects"]
        return
    con = sqlite3.connect(root / "assay.db")
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


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


def test_workspace_option_and_environment_variable(  # type: ignore[no-untyped-def]
    run_cli, cli, tmp_path: Path, new_database: Callable[[], None], monkeypatch
) -> None:
    a, b, elsewhere = tmp_path / "a", tmp_path / "b", tmp_path / "elsewhere"
    # Levels of their own make the folder a command chose show, whatever its database.
    Workspace.init(a, levels=("OPEN", "RESTRICTED")).close()
    in_a = _database_env()
    new_database()  # on PostgreSQL the second workspace needs a database of its own
    Workspace.init(b).close()
    in_b = _database_env()
    elsewhere.mkdir()
    run_cli("-w", a, *_create("via-option", "RESTRICTED"), cwd=elsewhere, env=in_a)
    env_b = {"ASSAY_WORKSPACE": str(b), **in_b}
    run_cli(*_create("via-env", "CUI"), cwd=elsewhere, env=env_b)
    # -w names the .assay folder itself too, and wins over the environment.
    cli("-w", a / ".assay", *_create("via-dotdir", "RESTRICTED"), cwd=b, env={**env_b, **in_a})
    for folder, env, names in ((a, in_a, ["via-dotdir", "via-option"]), (b, in_b, ["via-env"])):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert _dataset_names(folder) == names


def _create(dataset: str, marking: str) -> tuple[str, ...]:
    """`assay dataset create` with a marking only one of the two workspaces' levels hold."""
    return ("dataset", "create", dataset, "--marking", marking)


def _database_env() -> dict[str, str]:
    """The environment naming the database of the workspace made last: each folder has its
    own SQLite file, but a PostgreSQL database is named by ASSAY_DATABASE_URL alone."""
    url = os.environ.get("ASSAY_DATABASE_URL")
    return {"ASSAY_DATABASE_URL": url} if url else {}


def _no_workspace_above(folder: Path) -> None:
    """These tests walk up from `folder`: a stray workspace above the test's temporary folder
    (an `assay init` run in /tmp) would be found, and is named here rather than as a miss."""
    stray = find_root(folder)
    assert stray is None, f"a workspace outside the test, at {stray}, is above {folder}"


def test_an_actor_longer_than_the_audit_keeps_is_refused(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_cli("init", tmp_path / "ws")
    long = {"ASSAY_ACTOR": "user:" + "a" * 196}  # 201 characters: PostgreSQL's column holds 200
    res = run_cli("-w", tmp_path / "ws", "dataset", "create", "d", env=long, code=1)
    assert "error: ASSAY_ACTOR is 201 characters long: at most 200" in res.stderr
    fits = {"ASSAY_ACTOR": "user:" + "a" * 195}
    run_cli("-w", tmp_path / "ws", "dataset", "create", "d", env=fits)
    assert "d" in run_cli("-w", tmp_path / "ws", "dataset", "list", env=fits).stdout


def test_not_a_workspace_is_exit_1(run_cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _no_workspace_above(empty)
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
    with Workspace.init(tmp_path) as ws, ws.db.begin() as conn:
        newer = meta.update().where(meta.c.key == "schema_version")
        conn.execute(newer.values(value=str(SCHEMA_VERSION + 7)))
    with pytest.raises(AssayError, match=rf"schema version {SCHEMA_VERSION + 7}.*upgrade assay"):
        Workspace.open(tmp_path)
    res = run_cli("dataset", "list", code=1)
    assert "newer than this assay understands" in res.stderr


def test_python_api_open_and_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_WORKSPACE", raising=False)
    Workspace.init(tmp_path / "w").close()
    with pytest.raises(Conflict):
        Workspace.init(tmp_path / "w")
    sub = tmp_path / "w" / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    with Workspace.open() as w:
        assert w.root == (tmp_path / "w" / ".assay").resolve()
    monkeypatch.chdir(tmp_path)
    _no_workspace_above(tmp_path)
    with pytest.raises(NotFound, match="no assay workspace"):
        Workspace.open()
    monkeypatch.setenv("ASSAY_WORKSPACE", str(tmp_path / "w"))
    with Workspace.open() as w:
        assert w.root.name == ".assay"
        # Reopening never changes the schema version or duplicates the meta row.
        assert _schema_versions(w) == [str(SCHEMA_VERSION)]


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
