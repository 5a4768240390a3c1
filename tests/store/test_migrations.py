"""Schema migrations from every earlier version, on SQLite and on PostgreSQL, lose no data.

An old database is the current one with what each later migration adds taken away (its tables
dropped, its columns dropped) and its version set back; opening it migrates it forward.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import Table, inspect, select, text
from sqlalchemy.engine import Connection

from assay import Workspace
from assay.domain.labels import Region
from assay.formats import ImportBundle, ImportedAnnotation, ImportedMedia
from assay.formats.io import import_bundle
from assay.labeling import Workflow, add_user, next_task, submit
from assay.store import schema
from assay.store._sql import insert_tuples
from labeling_world import PASSWORD, World, build_world, choice
from pg import fresh_schema

# What migration n (version n -> n + 1) adds. A new migration is described here too.
ADDED_TABLES: dict[int, tuple[Table, ...]] = {
    1: schema.LABELING_TABLES,
    2: schema.EVAL_TABLES,
    4: schema.ID_TABLES,
    6: (schema.derived,),
    8: (schema.model_promotions,),
    9: (schema.picture_versions,),
}
ADDED_COLUMNS: dict[int, tuple[tuple[str, str], ...]] = {
    3: (("tasks", "target"),),
    5: (("projects", "marking"), ("datasets", "marking")),
    7: (("audit", "sig"), ("api_tokens", "expires")),
    8: (("models", "stage"),),
    13: (("api_tokens", "scopes"),),
}
# Migrations that add indexes to tables already there: (table, index).
ADDED_INDEXES: dict[int, tuple[tuple[str, str], ...]] = {
    14: (("items", "items_parent"), ("tasks", "tasks_item")),
}
# Migrations that add no table nor column, only rows (each tested on its own).
ADDED_ROWS: dict[int, str] = {
    10: "derived: the scenes already ingested (tests/ingest/test_scenes.py)",
}
# Migrations that widen columns on PostgreSQL, with each column's type before.
WIDENED: dict[int, tuple[tuple[str, str, str], ...]] = {
    12: (
        ("items", "size", "INTEGER"),
        ("models", "size", "INTEGER"),
        ("annotations", "author", "VARCHAR(200)"),
        ("annotations", "source_id", "VARCHAR(200)"),
        ("eval_runs", "model_name", "VARCHAR(200)"),
    ),
}
# Migrations that change a table's keys, and the statements that rebuild it as it was before.
CHANGED_KEYS: dict[int, tuple[str, ...]] = {
    11: (  # submissions: primary key (client_id) -> (user_id, client_id)
        "CREATE TABLE submissions_old AS SELECT * FROM submissions",
        "DROP TABLE submissions",
        "CREATE TABLE submissions (client_id VARCHAR(100) PRIMARY KEY, "
        "user_id INTEGER NOT NULL REFERENCES users (id), "
        "task_id INTEGER NOT NULL REFERENCES tasks (id), action VARCHAR(12) NOT NULL, "
        "result TEXT NOT NULL, created VARCHAR(40) NOT NULL)",
        "INSERT INTO submissions (client_id, user_id, task_id, action, result, created) "
        "SELECT client_id, user_id, task_id, action, result, created FROM submissions_old",
        "DROP TABLE submissions_old",
    ),
}


def test_every_migration_is_described_here() -> None:
    described = set(ADDED_TABLES) | set(ADDED_COLUMNS) | set(ADDED_ROWS) | set(CHANGED_KEYS)
    described |= set(WIDENED) | set(ADDED_INDEXES)
    assert described == set(schema.MIGRATIONS)
    assert max(schema.MIGRATIONS) == schema.SCHEMA_VERSION - 1


@contextmanager
def _url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "postgresql":
        with fresh_schema() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / f'old-{uuid.uuid4().hex[:6]}.db'}"


@contextmanager
def _answered(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workspace, World, int, dict[str, Any]]]:
    """A workspace with a commit and ana's answer "c-1": (it, its world, the task, the result)."""
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
    with _url(backend, tmp_path) as url:
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)
        ws = Workspace.init(tmp_path / "ws")
        w = build_world(ws, tmp_path / "data", public=3, cui=1, secret=0, workflow=Workflow())
        ws.commit("flood", "survey imagery")
        lease = next_task(ws, w.users["ana"], w.project)
        assert lease is not None
        first = submit(ws, w.users["ana"], lease.task_id, "c-1", [choice("minor")], lead_time=2.0)
        yield ws, w, lease.task_id, first


def _downgrade(conn: Connection, to: int) -> None:
    for v in range(schema.SCHEMA_VERSION - 1, to - 1, -1):
        for _table, index in ADDED_INDEXES.get(v, ()):
            conn.exec_driver_sql(f"DROP INDEX {index}")
        for statement in CHANGED_KEYS.get(v, ()):
            conn.exec_driver_sql(statement)
        for table, column, kind in WIDENED.get(v, ()) if conn.dialect.name == "postgresql" else ():
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind}")
        for table, column in ADDED_COLUMNS.get(v, ()):
            if inspect(conn).has_table(table):
                conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        schema.metadata.drop_all(conn, tables=list(ADDED_TABLES.get(v, ())))
    conn.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(to)})


def _contents(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, by the columns the database has, in a stable order."""
    out = {}
    for name in sorted(inspect(conn).get_table_names()):
        cols = sorted(c["name"] for c in inspect(conn).get_columns(name))
        rows = conn.execute(text(f"SELECT {', '.join(cols)} FROM {name}")).all()
        out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("version", range(1, schema.SCHEMA_VERSION))
def test_an_old_database_migrates_forward_without_loss(
    backend: str, version: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _answered(backend, tmp_path, monkeypatch) as (ws, _w, _task, _first):
        with ws.db.begin() as conn:
            _downgrade(conn, version)
        with ws.db.read() as conn:
            before = _contents(conn)
            assert schema.current_version(conn) == version
            assert not _indexes(conn) & _indexes_added_since(version)
        ws.db.dispose()

        ws = Workspace.open(tmp_path / "ws")  # opening migrates
        with ws.db.read() as conn:
            assert schema.current_version(conn) == schema.SCHEMA_VERSION
            after = _contents(conn)
            names = set(inspect(conn).get_table_names())
            assert _indexes(conn) >= _indexes_added_since(1)
        assert {t.name for t in schema.metadata.sorted_tables} <= names
        for table, rows in before.items():
            if table == "meta":
                continue
            cols = sorted(c["name"] for c in _columns(ws, table))
            old_cols = [c for c in cols if c not in _added_since(version, table)]
            keep = [cols.index(c) for c in old_cols]
            assert sorted((tuple(r[i] for i in keep) for r in after[table]), key=repr) == rows, (
                table
            )
        assert [c.message for c in ws.log("flood")] == ["survey imagery"]
        assert ws.status("flood").items_changed == []
        ws.db.dispose()


def _columns(ws: Workspace, table: str) -> list[dict[str, Any]]:
    with ws.db.read() as conn:
        return list(inspect(conn).get_columns(table))


def _indexes(conn: Connection) -> set[tuple[str, str]]:
    """(table, index) of the indexes the database has on the tables later migrations index."""
    tables = {t for pairs in ADDED_INDEXES.values() for t, _i in pairs}
    tables = {t for t in tables if inspect(conn).has_table(t)}
    return {(t, i["name"]) for t in tables for i in inspect(conn).get_indexes(t) if i["name"]}


def _indexes_added_since(version: int) -> set[tuple[str, str]]:
    return {pair for v, pairs in ADDED_INDEXES.items() if v >= version for pair in pairs}


def _added_since(version: int, table: str) -> set[str]:
    return {c for v, pairs in ADDED_COLUMNS.items() if v >= version for t, c in pairs if t == table}


def test_the_old_tables_are_really_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The downgrade is real: a version-1 database has none of the later tables or columns."""
    monkeypatch.setenv("ASSAY_DATABASE_URL", f"sqlite:///{tmp_path / 'one.db'}")
    ws = Workspace.init(tmp_path / "ws")
    with ws.db.begin() as conn:
        _downgrade(conn, 1)
    with ws.db.read() as conn:
        names = set(inspect(conn).get_table_names())
        audit_cols = {c["name"] for c in inspect(conn).get_columns("audit")}
        dataset_cols = {c["name"] for c in inspect(conn).get_columns("datasets")}
        version = conn.execute(
            select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
        ).scalar()
    ws.db.dispose()
    assert not names & {t.name for t in (*schema.LABELING_TABLES, *schema.EVAL_TABLES)}
    assert "sig" not in audit_cols and "marking" not in dataset_cols
    assert version == "1"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_client_ids_become_each_users_own(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Version 11 keyed submissions by client id alone: a second user's "c-1" was refused.
    with _answered(backend, tmp_path, monkeypatch) as (ws, w, task_id, first):
        ana = w.users["ana"]
        with ws.db.begin() as conn:
            _downgrade(conn, 11)
        with ws.db.read() as conn:
            assert inspect(conn).get_pk_constraint("submissions")["constrained_columns"] == [
                "client_id"
            ]
        ws.db.dispose()

        ws = Workspace.open(tmp_path / "ws")  # opening migrates
        with ws.db.read() as conn:
            pk = inspect(conn).get_pk_constraint("submissions")["constrained_columns"]
            assert sorted(pk) == ["client_id", "user_id"]
            assert conn.execute(select(schema.submissions.c.user_id)).scalars().all() == [ana.id]
        # The kept row still answers ana's retry; bob's own "c-1" is an answer of its own.
        assert submit(ws, ana, task_id, "c-1", [choice("minor")], lead_time=2.0) == {
            **first,
            "duplicate": True,
        }
        bob = add_user(ws, "bob", "annotator", "CUI/FLOOD", PASSWORD)
        other = next_task(ws, bob, w.project)
        assert other is not None
        assert submit(ws, bob, other.task_id, "c-1", [choice("none")])["duplicate"] is False
        ws.db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_file_over_2_gib_and_long_imported_ids_are_stored_after_the_migration_too(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL's INTEGER stops at 2**31 - 1: a scene or video over 2 GiB failed to store;
    # its VARCHAR(200) failed an import whose annotation had a longer author or source id.
    big = 3 * 2**30
    row = ("a" * 64, "image/tiff", big, 9, 9, "scene.tif", "", "{}", "0" * 64, "UNCLASSIFIED")
    columns = ("id", "media_type", "size", "width", "height", "name", "source", "metadata")
    columns += ("metadata_hash", "marking", "created")
    with _url(backend, tmp_path) as url:
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)
        ws = Workspace.init(tmp_path / "ws")
        with ws.db.begin() as conn:
            _downgrade(conn, 12)
        ws.db.dispose()
        ws = Workspace.open(tmp_path / "ws")  # opening migrates
        with ws.db.begin() as conn:  # the ingest's own insert
            insert_tuples(conn, schema.items, columns, [(*row, "2026-12-06T00:00:00Z")])
        ws.create_dataset("big")
        assert ws.add_items("big", f"size>{2**31}") == 1
        with ws.db.read() as conn:
            assert conn.execute(select(schema.items.c.size)).scalar_one() == big
        Image.new("RGB", (8, 6), (40, 90, 160)).save(tmp_path / "b.png")
        media = ImportedMedia(name="b.png", path=tmp_path / "b.png", width=8, height=6)
        author, source = "user:" + "a" * 300, "task-" + "7" * 300
        box = Region(kind="box", label="vehicle", box=(1.0, 1.0, 4.0, 3.0))
        media.annotations.append(ImportedAnnotation([box], author=author, source_id=source))
        import_bundle(ws, ImportBundle(media=[media]), "imported")
        with ws.db.read() as conn:
            got = conn.execute(
                select(schema.annotations_table.c.author, schema.annotations_table.c.source_id)
            )
            assert [tuple(r) for r in got] == [(author, source)]
        ws.db.dispose()
