"""Layered manifests: every commit after the first stores only what it changed over its
parent's manifest, and reading resolves the chain to exactly the committed rows."""

from __future__ import annotations

import random
from typing import Any

import pyarrow.parquet as pq
import pytest

from assay import Workspace
from assay.versioning import _manifest, _rows
from blob_stacks import stacks
from versioning_world import box, manifest_path

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()


def _working(ws: Workspace) -> Rows:
    with ws.db.read() as conn:
        rows = _rows.working_rows(conn, 1).to_pylist()
    return sorted(rows, key=lambda r: str(r["item_id"]))


Rows = list[dict[str, Any]]


def _committed(ws: Workspace, sha: str, columns: list[str] | None = None) -> Rows:
    return sorted(_manifest.read(ws.blobs, sha, columns).to_pylist(), key=lambda r: r["item_id"])


def test_a_long_history_reads_back_exactly(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    ids = [
        ws.ingest([samples.text(f"reports/r{i}.txt", content=f"levee report {i}")]).new[0]
        for i in range(24)
    ]
    ws.create_dataset("levee")
    ws.add_items("levee")
    rng = random.Random(7)
    snapshots: dict[str, Rows] = {}
    depths: list[int] = []
    removed: list[str] = []
    for step in range(_manifest.MAX_DEPTH + 8):
        members = sorted(set(ids) - set(removed))
        records = []
        for item in rng.sample(members, 3):
            # x = step: every relabel changes what the labels say.
            regions = [box(rng.choice(["breach", "seepage"]), step, author="user:kim")
                       for _ in range(rng.randint(1, 3))]  # fmt: skip
            records.append(_record(item, regions, step))
        ws.set_labels("levee", records)
        if step % 3 == 1:
            gone = rng.choice(members)
            ws.remove_items("levee", f"id={gone}")
            removed.append(gone)
        if step % 5 == 4 and removed:
            back = removed.pop(0)
            ws.add_items("levee", f"id={back}")
        expected = _working(ws)
        c = ws.commit("levee", f"step {step}")
        meta = pq.ParquetFile(manifest_path(ws, c.manifest)).schema_arrow.metadata
        depths.append(int(meta.get(b"assay.depth", 0)))
        assert _committed(ws, c.manifest) == expected
        assert c.stats["items"] == len(expected)
        assert c.stats["regions"] == sum(r["n_regions"] for r in expected)
        picked = _committed(ws, c.manifest, ["item_id", "label_hash"])
        assert picked == [{k: r[k] for k in ("item_id", "label_hash")} for r in expected]
        snapshots[c.id] = expected
    # The first commit writes a whole manifest; layers pile up to the depth limit, then a
    # commit writes the whole manifest again.
    top = _manifest.MAX_DEPTH
    assert depths[: top + 1] == list(range(top + 1))
    assert depths[top + 1] == 0 and depths[-1] == len(depths) - top - 2
    # Every earlier version still reads back as it was committed.
    for c in ws.log("levee"):
        if c.id in snapshots:
            assert _committed(ws, c.manifest) == snapshots[c.id]
    # A diff across many layers (not adjacent, so not from the deltas) matches the snapshots.
    log = ws.log("levee")
    old, new = log[20], log[0]
    d = ws.diff("levee", old.id, new.id)
    before = {r["item_id"]: r["label_hash"] for r in snapshots[old.id]}
    after = {r["item_id"]: r["label_hash"] for r in snapshots[new.id]}
    assert sorted(d.items_added) == sorted(set(after) - set(before))
    assert sorted(d.items_removed) == sorted(set(before) - set(after))
    assert sorted(d.items_changed) == sorted(
        i for i in set(before) & set(after) if before[i] != after[i]
    )


def _record(item: str, regions: list[object], step: int):  # type: ignore[no-untyped-def]
    from assay.versioning import LabelRecord

    return LabelRecord(item, regions, [f"ann-{step}-{item[:6]}"], ["user:kim"])  # type: ignore[arg-type]


def test_a_large_change_writes_the_whole_manifest(ws: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = tmp_path / "calls.jsonl"
    n = _manifest.LAYER_MIN_ROWS + 10
    rows.write_text("".join(f'{{"text": "hotline call {i}"}}\n' for i in range(n)))
    ws.ingest([rows])
    ws.create_dataset("calls")
    ws.add_items("calls")
    ws.commit("calls", "v1")
    with ws.db.read() as conn:
        ids = _rows.working_rows(conn, 1)["item_id"].to_pylist()
    small = [_record(i, [box("caller", 1.0)], 1) for i in ids[:5]]
    ws.set_labels("calls", small)
    layered = ws.commit("calls", "five calls tagged")
    ws.set_labels("calls", [_record(i, [box("caller", 2.0)], 2) for i in ids])
    expected = _working(ws)
    whole = ws.commit("calls", "every call tagged")
    for c, depth in ((layered, b"1"), (whole, None)):
        meta = pq.ParquetFile(manifest_path(ws, c.manifest)).schema_arrow.metadata
        assert meta.get(b"assay.depth") == depth
    assert _committed(ws, whole.manifest) == expected
    assert whole.stats["regions"] == n


def test_a_failing_consumer_stops_the_streamed_read(flood) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []

    def sink(table: object) -> None:
        seen.append(1)
        raise OSError("disk full")

    with flood.ws.db.read() as conn:
        with pytest.raises(OSError, match="disk full"):
            _rows.stream_working(conn, 1, sink)
        # The reading thread is done with the connection: it still answers.
        assert conn.exec_driver_sql("SELECT count(*) FROM working").scalar() == 6
    assert seen == [1]
