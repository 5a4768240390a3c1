"""`assay init` on a PostgreSQL database: a fresh workspace needs a database that holds none;
`--attach` joins the one it holds from a second folder, only when the blobs are shared."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from assay import Workspace
from assay.audit import KEY_ENV
from assay.errors import Conflict, InvalidInput
from assay.store.schema import audit, items, meta
from blob_stacks import use_stack
from cli_support import TEST_DB
from init_race import race_inits
from pg import fresh_schema

RunCli = Any  # the `cli` fixture of tests/conftest.py


@pytest.fixture
def shared_db(database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The PostgreSQL schema the test's workspaces share: the suite's under `--db postgresql`,
    else a fresh one (attaching is about PostgreSQL whichever database the run is on)."""
    if database_url is not None:
        yield database_url
        return
    with fresh_schema() as url:
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)
        monkeypatch.setitem(TEST_DB, "url", url)
        yield url


@pytest.fixture
def on_s3(
    blob_stack: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> str:
    """Blobs on the SeaweedFS server, under a new prefix: the store both folders share (set
    after `blob_stack`, which the CLI fixtures take, put them in the workspace folder)."""
    use_stack("s3", request, monkeypatch, tmp_path)
    return os.environ["ASSAY_BLOB_URL"]


def _item_ids(ws: Workspace) -> set[str]:
    with ws.db.read() as conn:
        return {r[0] for r in conn.execute(select(items.c.id))}


def test_a_second_init_on_the_database_is_refused_naming_it_without_password(
    shared_db: str, cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trust auth ignores the password, so the URL with one still reaches the same schema.
    with_password = shared_db.replace("postgres@", "postgres:field-secret@")
    monkeypatch.setitem(TEST_DB, "url", with_password)
    cli("init", "first")
    res = cli("init", "second", code=1)
    assert "field-secret" not in res.stderr
    assert "postgres:***@127.0.0.1:5432/test" in res.stderr
    assert f"already holds the assay workspace made in {tmp_path / 'first'}" in res.stderr
    assert "assay init --attach" in res.stderr
    assert not (tmp_path / "second").exists()  # nothing half-made to open later


RACES = 3  # which side wins varies


def test_inits_racing_on_an_empty_database_make_one_workspace_and_refuse_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for race in range(RACES):
        with fresh_schema() as url:
            monkeypatch.setenv("ASSAY_DATABASE_URL", url.replace("postgres@", "postgres:s3cr3t@"))
            # A folder of the user's, and one the init makes: a losing init removes only its own.
            mine, new = tmp_path / f"race{race}" / "mine", tmp_path / f"race{race}" / "new"
            mine.mkdir(parents=True)
            (mine / "notes.txt").write_text("keep")
            folders = [mine, new]
            outcomes = race_inits(folders, after="refuse_taken")  # both found none
            made = [f for f, (kind, _) in zip(folders, outcomes, strict=True) if kind == "made"]
            assert len(made) == 1, outcomes
            (winner,) = made
            (loser,) = set(folders) - {winner}
            kind, message = outcomes[folders.index(loser)]
            assert kind == "Conflict", outcomes
            assert f"already holds the assay workspace made in {winner} on host" in message
            assert "s3cr3t" not in message and "postgres:***@127.0.0.1:5432/test" in message
            _left_as_before(mine, loser)
            # The refusal is the one an init gets once the workspace is there.
            with pytest.raises(Conflict) as again:
                Workspace.init(loser)
            assert str(again.value) == message
            _left_as_before(mine, loser)
            with Workspace.open(winner) as ws, ws.db.read() as conn:
                events = conn.execute(select(audit.c.action, audit.c.target)).all()
                blobs = conn.execute(select(meta.c.value).where(meta.c.key == "blob_url"))
                assert events == [("workspace.init", str(winner))]
                assert blobs.scalar_one() == str(winner / ".assay" / "objects")
                assert ws.audit_verify().ok


def _left_as_before(mine: Path, loser: Path) -> None:
    """The user's folder as it was, and nothing else the losing init made (folder or file)."""
    assert (mine / "notes.txt").read_text() == "keep"
    assert not (loser / ".assay").exists()
    assert loser == mine or not loser.exists()


def test_attach_with_a_shared_s3_store_joins_the_workspace(
    shared_db: str, on_s3: str, samples: Any, tmp_path: Path
) -> None:
    with Workspace.init(tmp_path / "hq") as hq:
        hq.ingest([samples.png("roof.png", seed=1), samples.text("gauge.txt", seed=2)])
    with Workspace.init(tmp_path / "field", attach=True) as field:
        ids = sorted(_item_ids(field))
        assert len(ids) == 2
        # The first folder's items have their bytes here.
        assert [hashlib.sha256(b).hexdigest() for b in field.blobs.read_many(ids)] == ids
        field.ingest([samples.png("bridge.png", seed=3)])
        events = sorted(field.audit_log(), key=lambda e: e.seq)
        assert field.audit_verify().ok
    with Workspace.open(tmp_path / "hq") as again:
        assert len(_item_ids(again)) == 3
    got = [(e.action, e.target, e.details.get("blobs")) for e in events]
    assert [g for g in got if g[0].startswith("workspace.")] == [
        ("workspace.init", str(tmp_path / "hq"), on_s3),
        ("workspace.attach", str(tmp_path / "field"), on_s3),
    ]
    actions = [a for a, _, _ in got]
    attached = actions.index("workspace.attach")
    assert "ingest" in actions[:attached] and "ingest" in actions[attached:]


def test_attach_with_local_blobs_in_a_new_folder_is_refused(
    shared_db: str, samples: Any, tmp_path: Path
) -> None:
    with Workspace.init(tmp_path / "hq") as hq:
        hq.ingest([samples.png("roof.png")])
    with pytest.raises(Conflict) as err:
        Workspace.init(tmp_path / "field", attach=True)
    message = str(err.value)
    here = socket.gethostname()
    assert f"keeps its blobs in {tmp_path / 'hq' / '.assay' / 'objects'} on host {here}" in message
    assert f"would keep them in {tmp_path / 'field' / '.assay' / 'objects'} on host" in message
    assert "move its blobs to S3" in message
    assert not (tmp_path / "field" / ".assay").exists()


def test_attach_at_the_same_path_with_local_blobs_is_refused_even_without_items(
    shared_db: str, tmp_path: Path
) -> None:
    Workspace.init(tmp_path / "hq").close()
    # The same path on a second machine: a new folder, with none of the first one's blobs.
    (tmp_path / "hq").rename(tmp_path / "hq-on-the-first-machine")
    with pytest.raises(Conflict) as err:
        Workspace.init(tmp_path / "hq", attach=True)
    objects = f"{tmp_path / 'hq' / '.assay' / 'objects'} on host {socket.gethostname()}"
    assert f"keeps its blobs in {objects}, this folder would keep them in {objects}" in str(
        err.value
    )
    assert not (tmp_path / "hq" / ".assay").exists()


def test_attach_with_a_different_s3_url_is_refused(
    shared_db: str, on_s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Workspace.init(tmp_path / "hq").close()  # no items yet: the recorded URL alone decides
    monkeypatch.setenv("ASSAY_BLOB_URL", on_s3 + "-field")
    with pytest.raises(Conflict, match=f"set ASSAY_BLOB_URL={on_s3} "):
        Workspace.init(tmp_path / "field", attach=True)
    monkeypatch.setenv("ASSAY_BLOB_URL", on_s3 + "/")  # the same place, written differently
    Workspace.init(tmp_path / "field", attach=True).close()


def test_a_workspace_that_records_no_blob_store_is_checked_by_an_items_bytes(
    shared_db: str, on_s3: str, samples: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Workspace.init(tmp_path / "hq") as hq:
        hq.ingest([samples.png("roof.png", seed=4)])
        with hq.db.begin() as conn:  # as a workspace made before the blob store was recorded
            conn.execute(delete(meta).where(meta.c.key == "blob_url"))
        (item,) = _item_ids(hq)
    monkeypatch.setenv("ASSAY_BLOB_URL", on_s3 + "-elsewhere")
    with pytest.raises(Conflict, match=f"lacks the bytes of its item {item[:12]}"):
        Workspace.init(tmp_path / "field", attach=True)
    monkeypatch.setenv("ASSAY_BLOB_URL", on_s3)
    with Workspace.init(tmp_path / "field", attach=True) as field:
        assert field.blobs.exists(item)


def test_attach_to_a_database_without_a_workspace_is_refused(
    shared_db: str, cli: RunCli, tmp_path: Path
) -> None:
    res = cli("init", "field", "--attach", code=1)
    assert "holds no assay workspace to attach to" in res.stderr
    assert "without --attach" in res.stderr
    assert not (tmp_path / "field" / ".assay").exists()


def test_attach_takes_the_workspace_marking_levels(
    shared_db: str, on_s3: str, tmp_path: Path
) -> None:
    levels = ("OPEN", "SENSITIVE", "RESTRICTED")
    Workspace.init(tmp_path / "hq", levels=levels).close()
    with pytest.raises(InvalidInput, match="the workspace attached to has OPEN, SENSITIVE"):
        Workspace.init(tmp_path / "field", levels=("PUBLIC", "CUI"), attach=True)
    with Workspace.init(tmp_path / "field", attach=True) as field:
        assert field.scheme.levels == levels
    config = json.loads((tmp_path / "field" / ".assay" / "config.json").read_text())
    assert config["marking_levels"] == list(levels)


def test_attach_from_a_machine_with_another_audit_key_is_refused(
    shared_db: str, on_s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Workspace.init(tmp_path / "hq").close()
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "field-keys" / "audit-ed25519.key"))
    with pytest.raises(Conflict, match=r"its audit trail is signed with key \w+, and this"):
        Workspace.init(tmp_path / "field", attach=True)
    assert not (tmp_path / "field" / ".assay").exists()


def test_an_attached_folder_belongs_to_the_joined_workspace_and_an_old_one_is_bound(
    shared_db: str, on_s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Workspace.init(tmp_path / "hq").close()
    Workspace.init(tmp_path / "field", attach=True).close()
    field_config = tmp_path / "field" / ".assay" / "config.json"
    joined = json.loads((tmp_path / "hq" / ".assay" / "config.json").read_text())["workspace"]
    assert json.loads(field_config.read_text())["workspace"] == joined
    assert joined["folder"] == str(tmp_path / "hq")
    # Attached before folders recorded it: its `workspace.attach` event names it, so it is bound.
    config = json.loads(field_config.read_text())
    del config["workspace"]
    field_config.write_text(json.dumps(config))
    Workspace.open(tmp_path / "field").close()
    assert json.loads(field_config.read_text())["workspace"] == joined
    with fresh_schema() as other:
        monkeypatch.setenv("ASSAY_DATABASE_URL", other)
        Workspace.init(tmp_path / "elsewhere").close()
        with pytest.raises(Conflict, match=f"belongs to workspace {joined['id'][:16]}, made"):
            Workspace.open(tmp_path / "field")


def test_the_cli_attach_reports_and_refuses_once_attached(
    shared_db: str, on_s3: str, cli: RunCli, tmp_path: Path
) -> None:
    cli("init", "hq")
    out = cli("init", "field", "--attach", "--json").json()
    assert out == {"workspace": str(tmp_path / "field" / ".assay"), "attached": True}
    res = cli("init", "field", "--attach", code=1)
    assert "already holds an assay workspace" in res.stderr
    log = cli("-w", "field", "audit", "log", "--json").json()
    assert [(e["action"], e["target"]) for e in log] == [
        ("workspace.init", str(tmp_path / "hq")),
        ("workspace.attach", str(tmp_path / "field")),
    ]


def test_restore_into_a_database_holding_a_workspace_is_refused(
    shared_db: str, cli: RunCli, tmp_path: Path
) -> None:
    cli("init", "hq")
    cli("-w", "hq", "backup", "saved")
    res = cli("restore", "saved", "copy", code=1)
    assert "already holds the assay workspace made in" in res.stderr
    assert "restore into an empty database or schema" in res.stderr


def test_a_restored_workspace_records_its_own_blob_store(
    shared_db: str, on_s3: str, samples: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Workspace.init(tmp_path / "hq") as hq:
        hq.ingest([samples.png("roof.png", seed=5)])
    from assay.store.backup import backup

    with Workspace.open(tmp_path / "hq") as hq:
        backup(hq.db, hq.blobs, hq.root / "config.json", tmp_path / "saved")
    moved = on_s3 + "-moved"
    monkeypatch.setenv("ASSAY_BLOB_URL", moved)
    with fresh_schema() as url:
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)
        Workspace.restore(tmp_path / "saved", tmp_path / "restored")
        monkeypatch.setenv("ASSAY_BLOB_URL", on_s3)  # where the backed-up workspace kept them
        with pytest.raises(Conflict, match=f"keeps its blobs in {moved},"):
            Workspace.init(tmp_path / "field", attach=True)
        monkeypatch.setenv("ASSAY_BLOB_URL", moved)
        with Workspace.init(tmp_path / "field", attach=True) as field:
            assert len(_item_ids(field)) == 1


def test_sqlite_workspaces_are_unaffected(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
    monkeypatch.setitem(TEST_DB, "url", None)
    cli("init", "one")
    cli("init", "two")  # each has its own database file in .assay/
    assert (tmp_path / "two" / ".assay" / "assay.db").is_file()
    res = cli("init", "three", "--attach", code=1)
    assert "ASSAY_DATABASE_URL is not set" in res.stderr
    assert not (tmp_path / "three" / ".assay").exists()
