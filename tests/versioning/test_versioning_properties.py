"""Property: commit then diff(HEAD~1, HEAD) reports exactly the items whose labels changed."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay import Workspace
from assay.domain.labels import payload_hash
from assay.versioning import LabelRecord
from label_strategies import regions

N_ITEMS = 6
_names = itertools.count()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(regions, min_size=N_ITEMS, max_size=N_ITEMS),
    st.lists(st.one_of(st.none(), regions), min_size=N_ITEMS, max_size=N_ITEMS),
    st.sets(st.integers(0, N_ITEMS - 1), max_size=2),
)
def test_commit_then_diff_reports_exactly_the_changed_items(
    ws: Workspace,
    samples,
    first,
    edits,
    dropped,  # type: ignore[no-untyped-def]
) -> None:
    pool = samples.root / "pool"
    if not pool.exists():  # once per test; hypothesis reuses the workspace across examples
        for i in range(N_ITEMS):
            samples.text(f"pool/r{i}.txt", seed=i)
        ws.ingest([pool])
    items = sorted(ws.ingest([pool]).duplicate)
    name = f"ds{next(_names)}"
    ws.create_dataset(name)
    ws.add_items(name)
    ws.set_labels(name, [LabelRecord(i, r) for i, r in zip(items, first, strict=True)])
    ws.commit(name, "first")
    second = [r if r is not None else first[k] for k, r in enumerate(edits)]
    ws.set_labels(name, [LabelRecord(i, r) for i, r in zip(items, second, strict=True)])
    for k in dropped:
        ws.remove_items(name, f"id={items[k]}")
    expected_changed = sorted(
        i
        for k, i in enumerate(items)
        if k not in dropped and payload_hash(first[k]) != payload_hash(second[k])
    )
    expected_removed = sorted(items[k] for k in dropped)
    if not expected_changed and not expected_removed:
        assert ws.status(name).empty
        return
    ws.commit(name, "second")
    d = ws.diff(name, "HEAD~1", "HEAD")
    assert d.items_changed == expected_changed
    assert d.items_removed == expected_removed
    assert d.items_added == []
    assert {c.item for c in d.changes} <= set(expected_changed)
    for k, i in enumerate(items):
        if i in expected_changed:
            mine = [c for c in d.changes if c.item == i]
            assert mine, "a changed payload yields at least one label change"
            added = sum(c.change == "added" for c in mine)
            removed = sum(c.change == "removed" for c in mine)
            assert added - removed == len(second[k]) - len(first[k])
    assert ws.diff(name, "HEAD", "HEAD").empty


def _pool(ws: Workspace, samples) -> list[str]:  # type: ignore[no-untyped-def]
    pool = samples.root / "pool"
    if not pool.exists():
        for i in range(N_ITEMS):
            samples.text(f"pool/r{i}.txt", seed=i)
        ws.ingest([pool])
    return sorted(ws.ingest([pool]).duplicate)


def _changed(items: list[str], a: list, b: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(i for k, i in enumerate(items) if payload_hash(a[k]) != payload_hash(b[k]))


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.lists(regions, min_size=N_ITEMS, max_size=N_ITEMS), min_size=3, max_size=3))
def test_every_diff_path_agrees(ws: Workspace, samples, rounds) -> None:  # type: ignore[no-untyped-def]
    """Adjacent commits (delta), distant commits (manifests), reversed, and working state."""
    items = _pool(ws, samples)
    name = f"three{next(_names)}"
    ws.create_dataset(name)
    ws.add_items(name)
    ws.set_labels(name, [LabelRecord(i, r) for i, r in zip(items, rounds[0], strict=True)])
    ws.commit(name, "r0")
    made = 1
    for labels in rounds[1:]:
        ws.set_labels(name, [LabelRecord(i, r) for i, r in zip(items, labels, strict=True)])
        if not ws.status(name).empty:
            ws.commit(name, f"r{made}")
            made += 1
    history = [c.id for c in ws.log(name)][::-1]
    assert len(history) == made
    first, last = rounds[0], rounds[-1]
    far = ws.diff(name, history[0][:12], "HEAD")
    assert far.items_changed == _changed(items, first, last)
    assert far.items_added == far.items_removed == []
    back = ws.diff(name, "HEAD", history[0][:12])
    assert back.items_changed == far.items_changed
    assert sorted(c.change for c in back.changes if c.change in ("added", "removed")) == sorted(
        {"added": "removed", "removed": "added"}[c.change]
        for c in far.changes
        if c.change in ("added", "removed")
    )
    for a, b in itertools.pairwise(history):
        step = ws.diff(name, a, b)
        assert step.items_changed and not step.items_added and not step.items_removed
    # The working state (= last round) against the first commit, through the change-free path.
    assert ws.diff(name, history[0][:12], "WORKING").to_dict()["items_changed"] == far.items_changed
