"""`verify`: the chain, every signature, every known checkpoint, then the state tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay.audit._chain import GENESIS, _digest
from assay.audit._checkpoint import Checkpoint, checkpoint_message, signature_ok
from assay.audit._state import check_state
from assay.store.schema import audit, meta

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` found.

    Attributes:
        ok: Nothing is wrong.
        checked: Events that held (hash, link and signature) before the first problem.
        first_bad: The first event that does not hold, when one can be named.
        reason: Why it does not hold.
        signed: Events carrying a valid signature.
        checkpoints: Signed checkpoints kept outside the database that were checked.
        state: Rows of users, tokens and sessions that disagree with the trail.
    """

    ok: bool
    checked: int
    first_bad: int | None = None
    reason: str = ""
    signed: int = 0
    checkpoints: int = 0
    state: tuple[str, ...] = field(default_factory=tuple)


def verify(
    conn: Connection,
    keys: dict[str, Ed25519PublicKey],
    checkpoints: Sequence[tuple[str, Checkpoint]] = (),
    *,
    state: bool = True,
) -> VerifyResult:
    """Walk the chain from the start and report the first thing that does not hold.

    Args:
        conn: A read connection to the workspace database.
        keys: Trusted public keys by key id (current and retired).
        checkpoints: (where it came from, checkpoint) pairs kept outside the database.
        state: Also replay the trail's account events against the state tables.
    """
    wanted = {cp.size for _, cp in checkpoints}
    hashes: dict[int, str] = {}
    prev, origin = GENESIS, ""
    checked = signed = 0
    newest_signed = False

    def broken(seq: int | None, reason: str) -> VerifyResult:
        return VerifyResult(False, checked, seq, reason, signed)

    for r in conn.execute(select(audit).order_by(audit.c.seq)):
        expected = checked + 1
        if r.seq != expected:
            return broken(expected, f"event {expected} is missing")
        if r.prev_hash != prev:
            return broken(r.seq, "its link to the previous event is broken")
        digest = _digest(r.seq, r.time, r.actor, r.action, r.target, r.details, r.prev_hash)
        if digest != r.hash:
            return broken(r.seq, "its content does not match its hash")
        if r.seq == 1:
            origin = r.hash
        if r.sig is None:
            if signed:
                return broken(
                    r.seq,
                    "it carries no signature, though earlier events do "
                    "(forged, or written without the audit key)",
                )
        else:
            why = signature_ok(keys, r.sig, checkpoint_message(origin, r.seq, r.hash))
            if why is not None:
                return broken(r.seq, why)
            signed += 1
        newest_signed = r.sig is not None
        if r.seq in wanted:
            hashes[r.seq] = r.hash
        prev = r.hash
        checked += 1
    if checked == 0:
        return broken(
            1,
            "the trail is empty, but every workspace starts with a workspace.init event: "
            "all events were deleted",
        )
    head = conn.execute(select(meta.c.value).where(meta.c.key == "audit_head")).scalar()
    if head != f"{checked}:{prev}":
        return broken(checked + 1, "events after it were removed (the recorded head differs)")
    covered = newest_signed
    for where, cp in checkpoints:
        why = signature_ok(keys, cp.signature, cp.message)
        if why is not None:
            return broken(None, f"checkpoint {where}: {why}")
        if cp.origin != origin:
            return broken(
                1,
                f"checkpoint {where} belongs to a trail whose first event differs: event 1 "
                "was rewritten, or the checkpoint is another workspace's",
            )
        if cp.size > checked:
            return broken(
                checked + 1,
                f"checkpoint {where} of {cp.time} holds {cp.size} events, the trail only "
                f"{checked}: events were cut off the end",
            )
        if hashes[cp.size] != cp.head:
            return broken(
                cp.size,
                f"it differs from checkpoint {where} of {cp.time}: the trail was rewritten",
            )
        covered = covered or cp.size == checked
    if not covered:
        return broken(
            checked,
            "the newest event is neither signed nor the head of a signed checkpoint "
            "(written without the audit key); run `assay audit checkpoint` to sign it",
        )
    problems = tuple(check_state(conn)) if state else ()
    if problems:
        return VerifyResult(
            False,
            checked,
            None,
            f"the state tables disagree with the trail: {problems[0]}",
            signed,
            len(checkpoints),
            problems,
        )
    return VerifyResult(True, checked, None, "", signed, len(checkpoints))
