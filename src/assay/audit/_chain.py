from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay.domain.labels import canonical_json
from assay.store.schema import audit, meta
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
        }


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad: int | None = None
    reason: str = ""


def _digest(
    seq: int, time: str, actor: str, action: str, target: str, details: str, prev: str
) -> str:
    body = canonical_json([seq, time, actor, action, target, details, prev])
    return hashlib.sha256(body.encode()).hexdigest()


def append(
    conn: Connection, actor: str, action: str, target: str, details: dict[str, Any] | None = None
) -> int:
    """Append one event; call inside the transaction that makes the change."""
    last = conn.execute(
        select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    time = now_iso()
    text = canonical_json(details or {})
    digest = _digest(seq, time, actor, action, target, text, prev)
    conn.execute(
        audit.insert().values(
            seq=seq,
            time=time,
            actor=actor,
            action=action,
            target=target,
            details=text,
            prev_hash=prev,
            hash=digest,
        )
    )
    _set_head(conn, f"{seq}:{digest}")
    return seq


def _set_head(conn: Connection, value: str) -> None:
    # The newest event is also recorded apart from the chain, so cutting events off the end shows.
    updated = conn.execute(meta.update().where(meta.c.key == "audit_head").values(value=value))
    if updated.rowcount == 0:
        conn.execute(meta.insert().values(key="audit_head", value=value))


def events(conn: Connection, limit: int | None = None) -> list[AuditEvent]:
    q = select(audit).order_by(audit.c.seq.desc())
    if limit:
        q = q.limit(limit)
    rows = conn.execute(q).all()
    return [
        AuditEvent(
            r.seq, r.time, r.actor, r.action, r.target, json.loads(r.details), r.prev_hash, r.hash
        )
        for r in reversed(rows)
    ]


def verify(conn: Connection) -> VerifyResult:
    """Walk the chain from the start; report the first event that does not hold."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for r in conn.execute(select(audit).order_by(audit.c.seq)):
        if r.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, f"event {expected_seq} is missing")
        if r.prev_hash != prev:
            return VerifyResult(False, checked, r.seq, "its link to the previous event is broken")
        digest = _digest(r.seq, r.time, r.actor, r.action, r.target, r.details, r.prev_hash)
        if digest != r.hash:
            return VerifyResult(False, checked, r.seq, "its content does not match its hash")
        prev = r.hash
        expected_seq += 1
        checked += 1
    head = conn.execute(select(meta.c.value).where(meta.c.key == "audit_head")).scalar()
    expected_head = f"{checked}:{prev}" if checked else None
    if head != expected_head:
        return VerifyResult(
            False, checked, checked + 1, "events after it were removed (the recorded head differs)"
        )
    return VerifyResult(True, checked)
