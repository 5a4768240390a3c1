from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from assay.audit._checkpoint import checkpoint_message
from assay.audit._keys import signer
from assay.domain.canonical import canonical_json
from assay.store.schema import audit
from assay.timeutil import now_iso

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    time: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
    sig: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "sig": self.sig,
        }


def _digest(
    seq: int, time: str, actor: str, action: str, target: str, details: str, prev: str
) -> str:
    body = canonical_json([seq, time, actor, action, target, details, prev])
    return hashlib.sha256(body.encode()).hexdigest()


_LAST = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
_INSERT = (
    "INSERT INTO audit (seq, time, actor, action, target, details, prev_hash, hash, sig) "
    "VALUES (:seq, :time, :actor, :action, :target, :details, :prev, :hash, :sig)"
)
_ORIGIN = "SELECT hash FROM audit WHERE seq = 1"
_NEWEST = "SELECT seq, hash, sig FROM audit ORDER BY seq DESC LIMIT 1"
# One lock for every audit append in the database ("assay" in ASCII as the key).
_PG_LOCK = "SELECT pg_advisory_xact_lock(1634956665)"
_SEAL = "UPDATE audit SET sig = :sig WHERE seq = :seq AND sig IS NULL"
_HEAD = "UPDATE meta SET value = :v WHERE key = 'audit_head'"
_HEAD_NEW = "INSERT INTO meta (key, value) VALUES ('audit_head', :v)"
_TEXT = {
    sql: text(sql) for sql in (_LAST, _INSERT, _HEAD, _HEAD_NEW, _ORIGIN, _NEWEST, _SEAL, _PG_LOCK)
}


def lock_trail(conn: Connection) -> None:
    """Take the lock `append` takes now, for a transaction that reads the trail before it
    appends (held until the transaction ends; on SQLite its write lock holds already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_TEXT[_PG_LOCK])


def append(
    conn: Connection | sqlite3.Connection,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
    *,
    sign: bool = True,
) -> int:
    """Append one event; call inside the transaction that makes the change.

    The event is signed unless `sign` is False; then the caller must `seal` the transaction
    before it commits (its newest event's signature covers every event before it).

    The head of the chain is read inside that transaction, so concurrent writers (threads or
    processes) chain correctly: SQLite's write lock (`BEGIN IMMEDIATE`) or, on PostgreSQL, a
    transaction-level advisory lock taken here orders them (held until commit). On SQLite
    the statements run on the DBAPI connection itself, where sqlite3 keeps them prepared;
    `conn` may be that raw connection.
    """
    run = _runner(conn)
    if not isinstance(conn, sqlite3.Connection) and conn.dialect.name == "postgresql":
        run(_PG_LOCK, {})
    last = run(_LAST, {}).fetchone()
    seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    time = now_iso()
    body = canonical_json(details or {})
    digest = _digest(seq, time, actor, action, target, body, prev)
    # A signed event is itself a checkpoint of the chain up to it (see `_checkpoint`).
    sig = _sign(run, seq, digest) if sign else None
    row = {
        "seq": seq,
        "time": time,
        "actor": actor,
        "action": action,
        "target": target,
        "details": body,
        "prev": prev,
        "hash": digest,
        "sig": sig,
    }
    run(_INSERT, row)
    # The newest event is also recorded apart from the chain, so cutting events off the end shows.
    head = {"v": f"{seq}:{digest}"}
    if run(_HEAD, head).rowcount == 0:
        run(_HEAD_NEW, head)
    return seq


def _sign(run: Callable[[str, dict[str, Any]], Any], seq: int, digest: str) -> str:
    if seq == 1:
        origin = digest
    else:
        first = run(_ORIGIN, {}).fetchone()
        origin = str(first[0]) if first else ""
    return signer().sign(checkpoint_message(origin, seq, digest))


def seal(conn: sqlite3.Connection | Connection) -> None:
    """Sign the newest event if it is unsigned; call just before the transaction commits."""
    run = _runner(conn)
    last = run(_NEWEST, {}).fetchone()
    if last is not None and last[2] is None:
        run(_SEAL, {"seq": int(last[0]), "sig": _sign(run, int(last[0]), str(last[1]))})


def _runner(conn: Connection | sqlite3.Connection) -> Callable[[str, dict[str, Any]], Any]:
    if isinstance(conn, sqlite3.Connection):
        return conn.execute
    raw = _driver_sqlite(conn)
    return raw.execute if raw is not None else partial(_run_alchemy, conn)


def _driver_sqlite(conn: Connection) -> sqlite3.Connection | None:
    """The sqlite3 connection under a SQLAlchemy one (same transaction), else None."""
    if conn.dialect.name != "sqlite" or not conn.in_transaction():
        return None
    driver = conn.connection.driver_connection
    return driver if isinstance(driver, sqlite3.Connection) else None


def _run_alchemy(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    return conn.execute(_TEXT[sql], params)


def events(conn: Connection, limit: int | None = None) -> list[AuditEvent]:
    q = select(audit).order_by(audit.c.seq.desc())
    if limit is not None:
        q = q.limit(limit)
    rows = conn.execute(q).all()
    return [
        AuditEvent(
            r.seq,
            r.time,
            r.actor,
            r.action,
            r.target,
            json.loads(r.details),
            r.prev_hash,
            r.hash,
            r.sig,
        )
        for r in reversed(rows)
    ]
