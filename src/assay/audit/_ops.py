"""Workspace-level audit operations: checkpoint, verify against every witness, rotate the key."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay.audit import _keys
from assay.audit._chain import append
from assay.audit._checkpoint import (
    Checkpoint,
    read_file,
    sign,
    witness_append,
    witness_latest,
    witness_read,
    write_file,
)
from assay.audit._verify import VerifyResult, verify
from assay.errors import Conflict
from assay.store import Database
from assay.store.schema import audit

log = logging.getLogger(__name__)


def head(conn: Connection) -> tuple[str, int, str] | None:
    """(origin, size, head hash) of the trail, or None when it is empty."""
    first = conn.execute(select(audit.c.hash).where(audit.c.seq == 1)).scalar()
    last = conn.execute(select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc())).first()
    if first is None or last is None:
        return None
    return str(first), int(last.seq), str(last.hash)


def checkpoint(db: Database, root: Path, out: Path | None = None) -> Checkpoint:
    """Sign the current head, record it with the witness, and write it to `out` if given.

    The head is checked first (`verify`): signing a tampered trail would bless it.
    """
    with db.read() as conn:
        result = verify_with_witness(conn, root, [])
        found = head(conn)
    if not result.ok or found is None:
        raise Conflict(
            f"the audit trail does not verify ({result.reason}); refusing to sign its head"
        )
    cp = sign(_keys.signer(), *found, workspace=root)
    witness_append(_keys.witness_dir(), cp, root)
    if out is not None:
        write_file(cp, out)
    return cp


def checkpoint_if_new(db: Database, root: Path) -> Checkpoint | None:
    """The automatic checkpoint: only when the head moved since the witness last saw it.

    Unlike `checkpoint` it does not verify the whole trail first (it runs at every close);
    a signature is only made over a head whose own signature holds.
    """
    from assay.audit._checkpoint import checkpoint_message, signature_ok

    with db.read() as conn:
        found = head(conn)
        sig = conn.execute(select(audit.c.sig).order_by(audit.c.seq.desc())).scalar()
    if found is None:
        return None
    folder = _keys.witness_dir()
    latest = witness_latest(folder, found[0], root)
    if latest is not None and (latest.size, latest.head) == found[1:]:
        return None
    if latest is not None:
        with db.read() as conn:
            then = conn.execute(select(audit.c.hash).where(audit.c.seq == latest.size)).scalar()
        if then != latest.head:
            log.warning("the audit trail no longer extends its last checkpoint; not signing")
            return None
    if sig is None:
        return None  # a trail from before signing: `assay audit checkpoint` verifies, then signs
    if signature_ok(_keys.trusted_keys(), sig, checkpoint_message(*found)) is not None:
        log.warning("the newest audit event's signature does not verify; not checkpointing")
        return None
    cp = sign(_keys.signer(), *found, workspace=root)
    witness_append(folder, cp, root)
    return cp


def verify_with_witness(
    conn: Connection, root: Path, files: list[Path], *, all_signatures: bool = False
) -> VerifyResult:
    """Verify against the witness's checkpoints for this workspace and the given files."""
    keys = _keys.trusted_keys()
    given = [(str(p), read_file(p)) for p in files]
    first = conn.execute(select(audit.c.hash).where(audit.c.seq == 1)).scalar()
    witnessed: list[tuple[str, Checkpoint]] = []
    if first is not None:
        folder = _keys.witness_dir()
        witnessed = [
            (f"witness#{n}", cp) for n, cp in enumerate(witness_read(folder, str(first), root), 1)
        ]
    return verify(conn, keys, [*given, *witnessed], all_signatures=all_signatures)


def rotate_key(db: Database, root: Path, actor: str) -> dict[str, Any]:
    """New signing key; the old public key stays trusted; the switch is itself an event."""
    before = checkpoint(db, root)  # proves the trail held under the old key
    new, old_id = _keys.rotate()
    with db.begin() as conn:
        append(conn, actor, "audit.rotate-key", f"key:{new.id}", {"old": old_id, "new": new.id})
    after = checkpoint(db, root)
    return {
        "old_key": old_id,
        "new_key": new.id,
        "key_file": str(new.path),
        "retired_list": str(new.path.with_name(new.path.name + ".retired")),
        "checkpoint_before": before.size,
        "checkpoint_after": after.size,
    }
