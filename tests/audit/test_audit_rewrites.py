"""Issue 11, finding 2: a database writer rewrites the trail and recomputes every hash.

Each test plays an attacker who can write `assay.db` (and knows the hash function) but
cannot read the signing key: the rewrites that passed `verify` before signing must fail.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from assay import Workspace
from assay.audit._chain import GENESIS, _digest
from assay.audit._keys import witness_dir
from audit_tamper import query, raw, verify_as_found


@dataclass
class Row:
    seq: int
    time: str
    actor: str
    action: str
    target: str
    details: str
    sig: str | None


def _rows(folder: Path) -> list[Row]:
    return [
        Row(*r)
        for r in query(
            folder, "SELECT seq, time, actor, action, target, details, sig FROM audit ORDER BY seq"
        )
    ]


def _rewrite(folder: Path, rows: list[Row], *, renumber: bool = True) -> None:
    """Replace the whole trail with `rows`, every hash, link and the head recomputed."""
    prev = GENESIS
    with raw(folder) as conn:
        conn.execute(text("DELETE FROM audit"))
        for n, r in enumerate(rows, 1):
            seq = n if renumber else r.seq
            digest = _digest(seq, r.time, r.actor, r.action, r.target, r.details, prev)
            conn.execute(
                text(
                    "INSERT INTO audit (seq, time, actor, action, target, details, prev_hash, "
                    "hash, sig) VALUES (:seq, :time, :actor, :action, :target, :details, :prev, "
                    ":hash, :sig)"
                ),
                {**vars(r), "seq": seq, "prev": prev, "hash": digest},
            )
            prev = digest
        conn.execute(text("DELETE FROM meta WHERE key = 'audit_head'"))
        if rows:
            conn.execute(
                text("INSERT INTO meta (key, value) VALUES ('audit_head', :head)"),
                {"head": f"{len(rows)}:{prev}"},
            )


def _verify(folder: Path, *files: Path):  # type: ignore[no-untyped-def]
    return verify_as_found(folder, *files)


def _forget_witness() -> None:
    shutil.rmtree(witness_dir(), ignore_errors=True)


def test_intact_trail_verifies_with_its_witness(trail: Path) -> None:
    result = _verify(trail)
    assert (result.ok, result.checked, result.signed, result.checkpoints) == (True, 6, 6, 1)


@pytest.mark.parametrize("strip", ["keep", "strip-after", "strip-all"])
def test_edit_an_event_and_rehash_everything_after_it(trail: Path, strip: str) -> None:
    rows = _rows(trail)
    rows[1].details = json.dumps({"new": 0, "duplicate": 0, "failed": 0})
    for r in rows[1:] if strip == "strip-after" else rows if strip == "strip-all" else []:
        r.sig = None
    _rewrite(trail, rows)
    result = _verify(trail)
    assert not result.ok
    if strip == "keep":
        assert result.first_bad == 2
        assert "signature does not verify" in result.reason
    else:
        # No signature left to break after event 1 (or at all): the witness's checkpoint of
        # event 6 catches it, and the last signature that holds bounds where.
        first = 2 if strip == "strip-after" else 1
        assert (result.first_bad, result.checked) == (first, first - 1)
        assert f"events {first}..6 differ from checkpoint" in result.reason
        assert "the trail was rewritten" in result.reason


def test_cut_the_tail_and_rewrite_the_head(trail: Path) -> None:
    _rewrite(trail, _rows(trail)[:4])
    result = _verify(trail)
    assert (result.ok, result.first_bad, result.checked) == (False, 5, 4)
    assert "holds 6 events, the trail only 4: events were cut off the end" in result.reason


def test_cut_tail_is_caught_by_a_checkpoint_file_when_the_witness_is_gone(
    trail: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "kept" / "head.json"
    with Workspace.open(trail) as w:
        cp = w.audit_checkpoint(kept)
    assert cp.size == 6 and json.loads(kept.read_text())["size"] == 6
    _rewrite(trail, _rows(trail)[:5])
    _forget_witness()
    assert _verify(trail).ok  # a signed prefix: only a checkpoint from outside shows the cut
    result = _verify(trail, kept)
    assert (result.ok, result.first_bad) == (False, 6)
    assert f"checkpoint {kept}" in result.reason and "cut off the end" in result.reason


def test_delete_a_middle_event(trail: Path) -> None:
    rows = _rows(trail)
    del rows[2]
    _rewrite(trail, rows)  # renumbered and rehashed: no gap left to see
    result = _verify(trail)
    assert (result.ok, result.first_bad) == (False, 3)
    assert "signature does not verify" in result.reason


def test_delete_a_middle_event_keeping_the_numbers(trail: Path) -> None:
    rows = _rows(trail)
    del rows[2]
    _rewrite(trail, rows, renumber=False)
    result = _verify(trail)
    assert (result.ok, result.first_bad, result.reason) == (False, 3, "event 3 is missing")


@pytest.mark.parametrize("sig", ["none", "copied", "made-up"])
def test_append_a_forged_event(trail: Path, sig: str) -> None:
    rows = _rows(trail)
    forged = Row(7, rows[-1].time, "user:root", "user.add", "user:mallory", "{}", None)
    forged.sig = {"none": None, "copied": rows[-1].sig, "made-up": "0123456789abcdef:AAAA"}[sig]
    _rewrite(trail, [*rows, forged])
    result = _verify(trail)
    assert (result.ok, result.first_bad, result.checked) == (False, 7, 6)
    assert "signed" in result.reason or "signature" in result.reason


def test_delete_every_event_and_the_head(trail: Path) -> None:
    _rewrite(trail, [])
    for witness in (True, False):
        if not witness:
            _forget_witness()
        result = _verify(trail)
        assert (result.ok, result.checked, result.first_bad) == (False, 0, 1)
        assert "all events were deleted" in result.reason


def test_a_whole_new_unsigned_trail_is_not_trusted(trail: Path) -> None:
    """A writer who drops every signature and starts a fresh chain has nothing signed."""
    rows = _rows(trail)[:3]
    for r in rows:
        r.sig = None
    rows[0].time = "2020-01-01T00:00:00.000000Z"  # a new first event: a new origin
    _rewrite(trail, rows)
    result = _verify(trail)
    assert (result.ok, result.first_bad) == (False, 3)
    assert "neither signed nor the head of a signed checkpoint" in result.reason


def test_checkpoints_of_another_workspace_or_edited_ones_fail(
    trail: Path,
    tmp_path: Path,
    new_database: Callable[[], None],
    database_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new_database()  # another workspace: its own metadata (its own schema on PostgreSQL)
    other = Workspace.init(tmp_path / "other")
    theirs = other.audit_checkpoint(tmp_path / "theirs.json")
    other.close()
    if database_url is not None:  # the trail's schema again
        monkeypatch.setenv("ASSAY_DATABASE_URL", database_url)
    assert theirs.size == 1
    result = _verify(trail, tmp_path / "theirs.json")
    assert not result.ok and "first event differs" in result.reason
    mine = tmp_path / "mine.json"
    with Workspace.open(trail) as w:
        w.audit_checkpoint(mine)
    edited = json.loads(mine.read_text())
    edited["size"] = 3
    mine.write_text(json.dumps(edited))
    result = _verify(trail, mine)
    assert not result.ok and "signature does not verify" in result.reason


def test_a_checkpoint_is_refused_over_a_tampered_trail(trail: Path) -> None:
    _rewrite(trail, _rows(trail)[:4])
    with Workspace.open(trail) as w, pytest.raises(Exception, match="refusing to sign"):
        w.audit_checkpoint()


def test_a_garbled_signature_on_intact_content_needs_all_signatures(trail: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The newest signature binds the content of every event before it, so by default a
    spoiled signature on an unchanged event is not a change; `--all-signatures` names it."""
    rows = _rows(trail)
    rows[2].sig = rows[2].sig[:17] + "AAAA" + rows[2].sig[21:]  # type: ignore[index]
    _rewrite(trail, rows)
    assert _verify(trail).ok
    res = cli("-w", trail, "audit", "verify", "--all-signatures", "--json", code=1).json()
    assert (res["ok"], res["first_bad"]) == (False, 3)


def test_sealed_batches_bind_their_unsigned_events(trail: Path) -> None:
    """A group commit signs only its newest event (`seal`); the events before it are bound
    by that signature through the chain, and a rewrite of one is still found."""
    from assay import audit

    with Workspace.open(trail) as w:
        for batch in range(3):  # events 7-9, 10-12, 13-15; 9, 12 and 15 signed
            with w.db.begin() as conn:
                for i in range(3):
                    audit.append(conn, "user:ana", "task.submit", f"task:{batch}{i}", sign=False)
                audit.seal(conn)
    rows = _rows(trail)
    assert [r.seq for r in rows if r.sig is None] == [7, 8, 10, 11, 13, 14]
    assert _verify(trail).ok
    rows[10 - 1].target = "task:forged"
    _rewrite(trail, rows)
    result = _verify(trail)
    assert (result.ok, result.first_bad, result.checked) == (False, 12, 11)
    assert "signature does not verify" in result.reason


def test_the_witness_log_stays_bounded(tmp_path: Path) -> None:
    from assay.audit._checkpoint import sign, witness_append, witness_read
    from assay.audit._keys import signer

    folder, origin, where, keep = tmp_path / "witness", "o" * 64, tmp_path / "ws", 16
    for size in range(1, 3 * keep + 1):
        cp = sign(signer(), origin, size, f"{size:064x}", where)
        witness_append(folder, cp, where, keep=keep)
    kept = witness_read(folder, origin, where)
    sizes = [cp.size for cp in kept]
    assert len(kept) < 2 * keep + 1
    assert sizes[-keep:] == list(range(2 * keep + 1, 3 * keep + 1))
    assert sizes == sorted(sizes) and 1 in sizes  # older ones thinned, one per power of two
