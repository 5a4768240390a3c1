"""A workspace folder opens only the database of its own workspace: the identity recorded at
init (the hash of the trail's first event) must match the database's, on SQLite and on
PostgreSQL; a folder made before it was recorded is bound on its first open when the
database is unambiguously its own."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, make_url, select, text
from sqlalchemy.pool import NullPool

from assay import Workspace
from assay.errors import Conflict
from assay.store.schema import audit
from cli_support import TEST_DB
from pg import fresh_schema

RunCli = Any  # the `cli` fixture of tests/conftest.py


class Databases:
    """Makes workspaces each on a database of its own and points ASSAY_DATABASE_URL (and
    the CLI's) at one: a workspace's SQLite file, or a new PostgreSQL schema."""

    def __init__(self, kind: str, stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kind = kind
        self.stack = stack
        self.monkeypatch = monkeypatch

    def init(self, folder: Path) -> str:
        """A workspace in `folder` (with one dataset); the URL of its database."""
        if self.kind == "sqlite":
            self.use(None)
            url = f"sqlite:///{folder / '.assay' / 'assay.db'}"
        else:
            url = self.stack.enter_context(fresh_schema())
            self.use(url)
        with Workspace.init(folder) as ws:
            ws.create_dataset(f"{folder.name}-reports")
        return url

    def empty(self, tmp_path: Path) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{tmp_path / 'empty.db'}"
        return self.stack.enter_context(fresh_schema())

    def use(self, url: str | None) -> None:
        if url is None:
            self.monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
        else:
            self.monkeypatch.setenv("ASSAY_DATABASE_URL", url)
        self.monkeypatch.setitem(TEST_DB, "url", url)


@pytest.fixture(params=["sqlite", "postgresql"])
def dbs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Databases]:
    with ExitStack() as stack:
        yield Databases(request.param, stack, monkeypatch)


def _contents(url: str) -> dict[str, list[str]]:
    """Every row of every table of the database at `url` (read without assay's code)."""
    if url.startswith("sqlite") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            return {n: sorted(map(repr, conn.execute(text(f'SELECT * FROM "{n}"')))) for n in names}
    finally:
        engine.dispose()


def _config(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / ".assay" / "config.json").read_text()))


def _as_made_before_identities(config: Path) -> None:
    """Take the workspace's identity out of a config file, as assay wrote it before."""
    data = json.loads(config.read_text())
    del data["workspace"]
    config.write_text(json.dumps(data, indent=2) + "\n")


def _first_event(url: str) -> tuple[str, str, str, str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            cols = audit.c.hash, audit.c.time, audit.c.target, audit.c.details
            row = conn.execute(select(*cols).where(audit.c.seq == 1)).one()
    finally:
        engine.dispose()
    return row.hash, row.time, row.target, json.loads(row.details)["host"]


def test_init_records_the_workspace_its_first_event_made(dbs: Databases, tmp_path: Path) -> None:
    url = dbs.init(tmp_path / "hq")
    digest, made, folder, host = _first_event(url)
    assert _config(tmp_path / "hq")["workspace"] == {
        "id": digest,
        "made": made,
        "folder": str(tmp_path / "hq"),
        "host": socket.gethostname(),
    }
    assert folder == str(tmp_path / "hq") and host == socket.gethostname()


def test_a_folder_refuses_another_workspaces_database_writing_nothing(
    dbs: Databases, cli: RunCli, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    url_a, url_b = dbs.init(a), dbs.init(b)
    before = {url_a: _contents(url_a), url_b: _contents(url_b)}
    config_a = _config(a)
    wrong = url_b.replace("postgres@", "postgres:field-secret@")  # trust auth ignores it
    dbs.use(wrong)
    with pytest.raises(Conflict) as err:
        Workspace.open(a)
    message = str(err.value)
    shown = make_url(wrong).render_as_string(hide_password=True)
    ids = {"a": config_a["workspace"]["id"], "b": _config(b)["workspace"]["id"]}
    assert f"ASSAY_DATABASE_URL={shown} holds workspace {ids['b'][:16]}, made " in message
    assert f" in {b} on host {socket.gethostname()}, but the folder {a / '.assay'} " in message
    assert f"belongs to workspace {ids['a'][:16]}, made " in message
    assert f" in {a} on host {socket.gethostname()}; nothing was opened: " in message
    assert "field-secret" not in message
    remedy = "unset ASSAY_DATABASE_URL" if dbs.kind == "sqlite" else "point ASSAY_DATABASE_URL"
    assert remedy in message and f"or open {b}, the folder of the database's workspace" in message
    # The CLI says it in its one error line, and writes nothing: no event, no row, no table.
    res = cli("-w", a, "dataset", "create", "misfiled", code=1)
    assert res.stderr == f"error: {message}\n"
    assert {url_a: _contents(url_a), url_b: _contents(url_b)} == before
    assert _config(a) == config_a
    dbs.use(url_a)  # the right pairing opens
    cli("-w", a, "dataset", "create", "filed")
    with Workspace.open(a) as ws:
        assert [d.name for d in ws.datasets()] == ["a-reports", "filed"]
        assert ws.audit_verify().ok


def test_a_database_holding_no_workspace_is_refused_and_left_empty(
    dbs: Databases, tmp_path: Path
) -> None:
    dbs.init(tmp_path / "a")
    empty = dbs.empty(tmp_path)
    dbs.use(empty)
    with pytest.raises(Conflict, match=r"holds no assay workspace, but the folder .* belongs to"):
        Workspace.open(tmp_path / "a")
    assert _contents(empty) == {}  # not even the schema's tables were made
    assert not (tmp_path / "empty.db").exists()


def test_a_folder_made_before_identities_is_bound_on_first_open(
    dbs: Databases, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    url_a, url_b = dbs.init(a), dbs.init(b)
    recorded = _config(a)["workspace"]
    _as_made_before_identities(a / ".assay" / "config.json")
    before = _contents(url_a)
    dbs.use(url_a if dbs.kind == "postgresql" else None)
    with Workspace.open(a) as ws:
        assert [d.name for d in ws.datasets()] == ["a-reports"]
    assert _config(a)["workspace"] == recorded  # bound, from the database's first event
    assert _contents(url_a) == before  # binding writes to the folder only
    dbs.use(url_b)  # and from now on it is refused another database
    with pytest.raises(Conflict, match=f"belongs to workspace {recorded['id'][:16]}"):
        Workspace.open(a)


def test_a_folder_made_before_identities_is_refused_a_database_not_naming_it(
    dbs: Databases, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    dbs.init(a)
    url_b = dbs.init(b)
    _as_made_before_identities(a / ".assay" / "config.json")
    config_a, before = _config(a), _contents(url_b)
    dbs.use(url_b)
    with pytest.raises(Conflict) as err:
        Workspace.open(a)
    message = str(err.value)
    assert f"the folder {a / '.assay'} was made before assay recorded which workspace" in message
    assert f"that workspace's trail does not name {a}; nothing was opened" in message
    digest = _config(b)["workspace"]["id"]
    assert f'add "workspace": "{digest}" to {a / ".assay" / "config.json"}' in message
    assert _config(a) == config_a and _contents(url_b) == before


def test_a_moved_folder_made_before_identities_is_bound_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ExitStack() as stack:
        dbs = Databases("postgresql", stack, monkeypatch)
        dbs.init(tmp_path / "hq")
        _as_made_before_identities(tmp_path / "hq" / ".assay" / "config.json")
        (tmp_path / "hq").rename(tmp_path / "moved")
        with pytest.raises(Conflict) as err:  # its trail names hq only: not unambiguous
            Workspace.open(tmp_path / "moved")
        hint = str(err.value).rpartition("; if this folder is that workspace's, add ")[2]
        entry, _, config = hint.partition(" to ")
        data = json.loads(Path(config).read_text())
        Path(config).write_text(json.dumps({**data, **json.loads("{" + entry + "}")}))
        with Workspace.open(tmp_path / "moved") as ws:
            assert [d.name for d in ws.datasets()] == ["hq-reports"]


def test_restore_keeps_the_backed_up_workspace_and_records_it_for_old_backups(
    dbs: Databases, cli: RunCli, tmp_path: Path
) -> None:
    url = dbs.init(tmp_path / "hq")
    identity = _config(tmp_path / "hq")["workspace"]
    cli("-w", tmp_path / "hq", "backup", tmp_path / "saved")
    cli("-w", tmp_path / "hq", "backup", tmp_path / "old")
    _as_made_before_identities(tmp_path / "old" / "config.json")  # a backup taken before identities
    assert "workspace" not in json.loads((tmp_path / "old" / "config.json").read_text())
    for backup, restored in (("saved", "restored"), ("old", "restored-old")):
        target = dbs.empty(tmp_path) if dbs.kind == "postgresql" else None
        dbs.use(target)
        cli("restore", tmp_path / backup, tmp_path / restored)
        # The trail carries on, so the restored folder is the backed-up workspace's.
        assert _config(tmp_path / restored)["workspace"] == identity
        cli("-w", tmp_path / restored, "dataset", "create", "after-restore")
        cli("-w", tmp_path / restored, "audit", "verify")
    dbs.use(url if dbs.kind == "postgresql" else None)
    with Workspace.open(tmp_path / "hq") as ws:
        assert [d.name for d in ws.datasets()] == ["hq-reports"]


def test_audit_verify_examines_another_workspaces_trail_and_says_so(
    dbs: Databases, cli: RunCli, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    dbs.init(a)
    url_b = dbs.init(b)
    dbs.use(url_b)
    res = cli("-w", a, "audit", "verify", code=1)
    ids = {f: _config(f)["workspace"]["id"][:16] for f in (a, b)}
    assert res.stderr.startswith("audit trail broken at event 1: the trail is not this folder's")
    assert f"its first event is workspace {ids[b]}, made " in res.stderr
    assert f"and {a / '.assay'} belongs to workspace {ids[a]}, made " in res.stderr
    cli("-w", b, "audit", "verify")  # the same database, from its own folder
    empty = dbs.empty(tmp_path)  # one without assay's tables has no trail to examine
    dbs.use(empty)
    res = cli("-w", a, "audit", "verify", code=1)
    assert "holds no assay workspace, but the folder" in res.stderr
    assert _contents(empty) == {} and not (tmp_path / "empty.db").exists()
