"""The hash-chained audit trail: appends inside transactions, and `verify` finds any edit."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from assay import Workspace
from assay.audit import verify
from assay.audit._chain import GENESIS
from audit_tamper import query, sql, verify_as_found


def _verify(folder: Path):  # type: ignore[no-untyped-def]
    return verify_as_found(folder)


def test_events_chain_from_genesis(trail: Path) -> None:
    with Workspace.open(trail) as w:
        events = w.audit_log()
        assert [e.action for e in events] == [
            "workspace.init",
            "ingest",
            "dataset.create",
            "dataset.add",
            "commit",
            "tag",
        ]
        assert [e.seq for e in events] == list(range(1, 7))
        assert events[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
        assert all(e.actor == "user:tester" for e in events)
        assert events[1].details["new"] == 2 and events[4].details["items"] == 2
        assert [e.seq for e in w.audit_log(limit=2)] == [5, 6]
        result = w.audit_verify()
    assert (result.ok, result.checked, result.first_bad) == (True, 6, None)


def test_failed_change_leaves_no_event(trail: Path) -> None:
    with Workspace.open(trail) as w:
        with pytest.raises(Exception, match="already exists"):
            w.create_dataset("reports")
        assert len(w.audit_log()) == 6 and w.audit_verify().ok


@pytest.mark.parametrize(
    ("tamper", "first_bad", "reason"),
    [
        ("UPDATE audit SET details='{\"new\": 0}' WHERE seq=2", 2, "content does not match"),
        ("UPDATE audit SET actor='user:mallory' WHERE seq=4", 4, "content does not match"),
        ("UPDATE audit SET hash=:forged WHERE seq=3", 3, "content does not match"),
        ("DELETE FROM audit WHERE seq=3", 3, "event 3 is missing"),
        ("DELETE FROM audit WHERE seq=6", 6, "recorded head differs"),
        ("DELETE FROM audit WHERE seq=1", 1, "event 1 is missing"),
    ],
)
def test_verify_names_the_first_broken_event(
    trail: Path, tmp_path: Path, tamper: str, first_bad: int, reason: str
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trail, copy)
    sql(copy, tamper, **({"forged": "f" * 64} if ":forged" in tamper else {}))
    result = _verify(copy)
    assert not result.ok
    assert result.first_bad == first_bad
    assert reason in result.reason
    assert result.checked == first_bad - 1


def test_rehashing_an_edited_event_breaks_its_signature(trail: Path) -> None:
    from assay.audit._chain import _digest

    ((seq, time, actor, action, target, _details, prev),) = query(
        trail, "SELECT seq, time, actor, action, target, details, prev_hash FROM audit WHERE seq=2"
    )
    forged = '{"new":99}'
    sql(
        trail,
        "UPDATE audit SET details=:details, hash=:hash WHERE seq=2",
        details=forged,
        hash=_digest(seq, time, actor, action, target, forged, prev),
    )
    result = _verify(trail)
    assert (result.ok, result.first_bad) == (False, 2)
    assert "signature does not verify" in result.reason


def test_empty_trail_with_a_head_is_broken(trail: Path) -> None:
    sql(trail, "DELETE FROM audit")
    result = _verify(trail)
    assert not result.ok and result.first_bad == 1


def test_verify_function_on_a_connection(trail: Path) -> None:
    from assay.audit._keys import trusted_keys

    with Workspace.open(trail) as w, w.db.read() as conn:
        assert verify(conn, trusted_keys()).ok
