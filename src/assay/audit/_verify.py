"""`verify`: the chain, every signature, every known checkpoint, then the state tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from assay.audit._chain import GENESIS, _digest
from assay.audit._checkpoint import Checkpoint, checkpoint_message, signature_ok
from assay.audit._state import check_state
from assay.store.schema import audit, meta

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass
class _Run:
    """Consecutive events signed by one key: the first and newest, and the newest's hash."""

    key: str
    first: int
    last: int
    hash: str
    sig: str


def _first_bad_signature(
    conn: Connection,
    keys: dict[str, Ed25519PublicKey],
    origin: str,
    runs: list[_Run],
    every: bool,
) -> tuple[int, str] | None:
    """(seq, why) of the first event whose signature does not hold, or None."""

    def signed_from(seq: int) -> int:
        """The first signed event at or after `seq` (runs begin and end with one)."""
        q = select(audit.c.seq).where(audit.c.seq >= seq, audit.c.sig.is_not(None))
        return int(conn.execute(q.order_by(audit.c.seq).limit(1)).scalar_one())

    def why(seq: int) -> str | None:
        row = conn.execute(select(audit.c.hash, audit.c.sig).where(audit.c.seq == seq)).one()
        if row.sig is None:
            return None  # bound by the next signed event, checked on its own
        return signature_ok(keys, str(row.sig), checkpoint_message(origin, seq, row.hash))

    for run in runs:
        if not every:
            if signature_ok(keys, run.sig, checkpoint_message(origin, run.last, run.hash)) is None:
                continue
            # Signatures hold up to some event and fail from it on (each hash covers the one
            # before): the lower bound of "the next signed event from x fails" finds it.
            lo, hi = run.first, run.last
            while lo < hi:
                mid = (lo + hi) // 2
                if why(signed_from(mid)) is not None:
                    hi = mid
                else:
                    lo = mid + 1
            lo = signed_from(lo)
            return lo, why(lo) or "its signature does not verify"
        for seq in range(run.first, run.last + 1):
            reason = why(seq)
            if reason is not None:
                return seq, reason
    return None


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
        blobs_checked: Blobs read back and hashed (None when not asked for).
        blobs_bad: The blobs among them that are missing or do not hash to their names.
    """

    ok: bool
    checked: int
    first_bad: int | None = None
    reason: str = ""
    signed: int = 0
    checkpoints: int = 0
    state: tuple[str, ...] = field(default_factory=tuple)
    blobs_checked: int | None = None
    blobs_bad: tuple[str, ...] = ()


def verify(
    conn: Connection,
    keys: dict[str, Ed25519PublicKey],
    checkpoints: Sequence[tuple[str, Checkpoint]] = (),
    *,
    state: bool = True,
    all_signatures: bool = False,
) -> VerifyResult:
    """Walk the chain from the start and report the first thing that does not hold.

    Every event's hash, link and number are checked. Signatures are checked for the newest
    event of each run signed by one key: because each hash covers the one before, that
    signature holds only if nothing before it in the run changed. When it fails, a binary
    search over the run's signatures names the first event that changed.

    Args:
        conn: A read connection to the workspace database.
        keys: Trusted public keys by key id (current and retired).
        checkpoints: (where it came from, checkpoint) pairs kept outside the database.
        state: Also replay the trail's account events against the state tables.
        all_signatures: Check every event's signature (slower: one Ed25519 check each).
    """
    wanted = {cp.size for _, cp in checkpoints}
    hashes: dict[int, str] = {}
    prev, origin = GENESIS, ""
    checked = signed = 0
    newest_signed = False
    runs: list[_Run] = []

    def broken(seq: int | None, reason: str) -> VerifyResult:
        bad = _first_bad_signature(conn, keys, origin, runs, all_signatures)
        if bad is not None and (seq is None or bad[0] < seq):
            seq, reason = bad
        done = checked if seq is None else min(checked, seq - 1)
        return VerifyResult(False, done, seq, reason, min(signed, done))

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
        # An unsigned event is bound by the next signed one (its hash covers this one);
        # the newest event must be signed itself or be a checkpoint's head (below).
        if r.sig is not None:
            kid = str(r.sig).partition(":")[0]
            if runs and runs[-1].key == kid:
                runs[-1].last, runs[-1].hash, runs[-1].sig = r.seq, r.hash, r.sig
            else:
                runs.append(_Run(kid, r.seq, r.seq, r.hash, r.sig))
            signed += 1
        newest_signed = r.sig is not None
        if r.seq in wanted:
            hashes[r.seq] = r.hash
        prev = r.hash
        checked += 1
    bad = _first_bad_signature(conn, keys, origin, runs, all_signatures)
    if bad is not None:
        return broken(*bad)
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
            # Every signature held, so the events up to the newest signed one before the
            # checkpoint are proven; the rewrite lies after it, at or before `cp.size`.
            q = select(func.max(audit.c.seq)).where(audit.c.seq < cp.size, audit.c.sig.is_not(None))
            proven = int(conn.execute(q).scalar() or 0)
            checked = proven
            return broken(
                proven + 1,
                f"events {proven + 1}..{cp.size} differ from checkpoint {where} of {cp.time}: "
                "the trail was rewritten",
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
