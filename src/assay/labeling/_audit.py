"""The audit append of the hot paths (lease, submit): the same hash chain as `assay.audit`.

`assay.audit.append` builds its statements per call; at a thousand submissions a second
that construction dominates, so these are prepared once as plain SQL. The event format,
hash and recorded head are the ones `assay.audit.verify` checks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from assay.audit._chain import GENESIS, _digest
from assay.domain.labels import canonical_json
from assay.timeutil import now_iso

_LAST = text("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
_INSERT = text(
    "INSERT INTO audit (seq, time, actor, action, target, details, prev_hash, hash) "
    "VALUES (:seq, :time, :actor, :action, :target, :details, :prev, :hash)"
)
_HEAD = text("UPDATE meta SET value = :v WHERE key = 'audit_head'")
_HEAD_NEW = text("INSERT INTO meta (key, value) VALUES ('audit_head', :v)")


def append(
    conn: Connection, actor: str, action: str, target: str, details: dict[str, Any] | None = None
) -> int:
    """Append one event inside the caller's transaction; returns its sequence number."""
    last = conn.execute(_LAST).first()
    seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    time = now_iso()
    body = canonical_json(details or {})
    digest = _digest(seq, time, actor, action, target, body, prev)
    conn.execute(
        _INSERT,
        {
            "seq": seq,
            "time": time,
            "actor": actor,
            "action": action,
            "target": target,
            "details": body,
            "prev": prev,
            "hash": digest,
        },
    )
    if conn.execute(_HEAD, {"v": f"{seq}:{digest}"}).rowcount == 0:
        conn.execute(_HEAD_NEW, {"v": f"{seq}:{digest}"})
    return seq
