"""The metadata database: SQLite in WAL mode, schema version, forward migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, select, text

from assay.errors import AssayError
from assay.store import Database, schema
from assay.store._sql import insert_ignore, insert_rows


def test_new_database_has_schema_and_wal(tmp_path: Path) -> None:
    db = Database.sqlite(tmp_path / "a.db")
    with db.read() as conn:
        assert schema.current_version(conn) == schema.SCHEMA_VERSION
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        tables = set(
            conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'").scalars()
        )
    db.dispose()
    assert {
        "meta",
        "items",
        "datasets",
        "working",
        "annotations",
        "commits",
        "refs",
        "audit",
    } <= tables


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = Database.sqlite(tmp_path / "a.db")
    with pytest.raises(RuntimeError), db.begin() as conn:
        conn.execute(schema.meta.insert().values(key="probe", value="1"))
        raise RuntimeError("crash mid-way")
    with db.read() as conn:
        assert (
            conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "probe")).first()
            is None
        )
    db.dispose()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Database.sqlite(tmp_path / "a.db").dispose()
    con = sqlite3.connect(tmp_path / "a.db")
    with con:
        con.execute("UPDATE meta SET value='42' WHERE key='schema_version'")
    con.close()
    with pytest.raises(AssayError, match="schema version 42, newer than this assay understands"):
        Database.sqlite(tmp_path / "a.db")


def test_opening_migrates_forward_and_keeps_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database.sqlite(tmp_path / "a.db")
    with db.begin() as conn:
        conn.execute(schema.meta.insert().values(key="keep", value="me"))
    db.dispose()

    def add_column(conn: object) -> None:
        conn.exec_driver_sql("ALTER TABLE items ADD COLUMN sensor TEXT")  # type: ignore[attr-defined]

    # Simulate the next release: version + 1 with one migration step.
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION - 1, add_column)
    db = Database.sqlite(tmp_path / "a.db")
    with db.read() as conn:
        assert schema.current_version(conn) == schema.SCHEMA_VERSION
        assert (
            conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "keep")).scalar()
            == "me"
        )
        cols = [r[1] for r in conn.execute(text("PRAGMA table_info(items)"))]
    db.dispose()
    assert "sensor" in cols


def test_insert_ignore_skips_conflicts(tmp_path: Path) -> None:
    db = Database.sqlite(tmp_path / "a.db")
    t = Table("probe", MetaData(), Column("k", String, primary_key=True), Column("v", Integer))
    with db.begin() as conn:
        t.create(conn)
        insert_ignore(conn, t, [{"k": "a", "v": 1}, {"k": "b", "v": 2}])
        insert_ignore(conn, t, [{"k": "a", "v": 9}, {"k": "c", "v": 3}])
        insert_ignore(conn, t, [])
        rows = sorted(conn.execute(select(t)).all())
    db.dispose()
    assert rows == [("a", 1), ("b", 2), ("c", 3)]


def test_bulk_inserts_store_each_value_as_sqlalchemy_would(tmp_path: Path) -> None:
    """Rows go to the driver as tuples in column order, a float column's values converted
    (an int stored as a float), one column or many, in the order given."""
    db = Database.sqlite(tmp_path / "a.db")
    md = MetaData()
    t = Table(
        "probe",
        md,
        Column("k", String, primary_key=True),
        Column("f", Float),
        Column("v", Integer),
        Column("s", String),
    )
    one = Table("single", md, Column("k", String, primary_key=True))
    with db.begin() as conn:
        md.create_all(conn)
        insert_rows(
            conn, t, [{"s": "x", "k": "b", "f": 2, "v": 1}, {"k": "a", "f": None, "v": 3, "s": "é"}]
        )
        insert_ignore(
            conn,
            t,
            [{"k": "a", "f": 9.5, "v": 9, "s": ""}, {"k": "c", "f": 0.25, "v": None, "s": "z"}],
        )
        insert_rows(conn, one, [{"k": "q"}, {"k": "p"}])
        insert_ignore(conn, one, [{"k": "p"}, {"k": "r"}])
        rows = conn.execute(select(t).order_by(text("rowid"))).all()
        singles = conn.execute(select(one.c.k).order_by(text("rowid"))).scalars().all()
        floats = conn.execute(text("SELECT typeof(f) FROM probe ORDER BY rowid")).scalars().all()
    db.dispose()
    assert [tuple(r) for r in rows] == [
        ("b", 2.0, 1, "x"),
        ("a", None, 3, "é"),
        ("c", 0.25, None, "z"),
    ]
    assert floats == ["real", "null", "real"]
    assert singles == ["q", "p", "r"]


def test_a_reader_does_not_hold_the_write_lock(tmp_path: Path) -> None:
    # WAL lets readers and one writer work at once; a read transaction must not BEGIN IMMEDIATE.
    db = Database.sqlite(tmp_path / "a.db")
    other = sqlite3.connect(tmp_path / "a.db", timeout=0.2, isolation_level=None)
    try:
        with db.read() as conn:
            assert conn.execute(select(schema.meta.c.key)).first() is not None
            other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if the reader holds it
            other.execute("INSERT INTO meta (key, value) VALUES ('writer', 'ok')")
            other.execute("COMMIT")
    finally:
        other.close()
        db.dispose()
