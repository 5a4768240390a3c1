"""Versioning at scale: 1,000,000 items with 1-5 boxes each.

Times, each phase in a fresh process with its peak memory (ru_maxrss):
  first commit; relabel 1,000 items then `status` + `commit`; `diff HEAD~1 HEAD`.
Targets (issue 2): first commit <= 10 s; status + commit <= 3 s; diff <= 2 s; peak <= 2 GB.
There is no peer tool for label-level dataset commits in this run; the figures are absolute.

Run: .venv/bin/python bench/foundation_versioning.py [--items 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from _common import WORK, median, table, write_result

WS = WORK / "versioning_ws"
CLASSES = ("building", "vehicle", "person", "debris")


def _region(rng: random.Random, k: int) -> dict[str, object]:
    return {
        "attributes": {},
        "box": [float(rng.randint(0, 600)), float(rng.randint(0, 440)), 24.0 + k, 16.0 + k],
        "control": "label",
        "id": f"b{k}",
        "kind": "box",
        "label": CLASSES[rng.randrange(4)],
    }


def _payload(regions: list[dict[str, object]]) -> tuple[str, str]:
    from assay.domain.labels import canonical_json

    text = canonical_json(regions)
    keys = sorted(canonical_json({k: v for k, v in r.items() if k != "id"}) for r in regions)
    return text, hashlib.sha256("\n".join(keys).encode()).hexdigest()


def bench_rows(n: int, with_blobs: bool = False) -> tuple[list[tuple], list[tuple], list[bytes]]:  # type: ignore[type-arg]
    """Rows of `items` and `working` (dataset 1) for n labelled items, sorted by item id,
    and the blob contents when `with_blobs`."""
    from assay.domain.labels import Region, metadata_record, payload_hash

    rng = random.Random(0)
    sample = [_region(rng, 0), _region(rng, 1)]
    assert _payload(sample)[1] == payload_hash([Region.model_validate(r) for r in sample])
    item_rows, work_rows = [], []
    contents: list[bytes] = []
    meta_text, meta_hash = metadata_record({"sensor": "sat-2"})
    for i in range(n):
        content = f"chip-{i}".encode()
        sha = hashlib.sha256(content).hexdigest()
        if with_blobs:
            contents.append(content)
        item_rows.append(
            (sha, "image/png", 12000, 64, 64, f"chip_{i:07d}.png", "bench", meta_text, meta_hash,
             "UNCLASSIFIED", None, None, "2026-11-28T00:00:00Z")
        )  # fmt: skip
        regions = [_region(rng, k) for k in range(rng.randint(1, 5))]
        text, h = _payload(regions)
        work_rows.append((1, sha, text, h, len(regions), f"ann-{i}", "user:bench"))
    item_rows.sort()
    work_rows.sort(key=lambda r: r[1])
    return item_rows, work_rows, contents


ITEM_COLUMNS = (
    "id,media_type,size,width,height,name,source,metadata,metadata_hash,marking,parent_id,"
    "derivation,created"
)
WORKING_COLUMNS = "dataset_id,item_id,labels,label_hash,n_regions,annotation_ids,authors"


def setup(n: int, ws_path: Path = WS, with_blobs: bool = False) -> None:
    """Build a workspace of n labelled items with bulk SQL (setup is not timed)."""
    from assay import Workspace

    shutil.rmtree(ws_path, ignore_errors=True)
    ws = Workspace.init(ws_path)
    ws.create_dataset("aerial")
    blobs = ws.blobs
    ws.close()
    item_rows, work_rows, contents = bench_rows(n, with_blobs)
    blobs.put_many(contents)
    db = sqlite3.connect(ws_path / ".assay" / "assay.db")
    db.execute("PRAGMA synchronous=OFF")
    db.executemany(
        f"INSERT INTO items ({ITEM_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", item_rows
    )
    db.executemany(f"INSERT INTO working ({WORKING_COLUMNS}) VALUES (?,?,?,?,?,?,?)", work_rows)
    db.commit()
    db.close()


def phase(name: str) -> None:
    """One timed phase, run in its own process; prints a JSON line."""
    import assay.versioning  # noqa: F401  (imports are process start-up, not the operation)
    from assay import Workspace
    from assay.domain.labels import Region
    from assay.versioning import LabelRecord

    ws = Workspace.open(WS)
    out: dict[str, float] = {}
    if name == "commit":
        t = time.perf_counter()
        ws.commit("aerial", "first import")
        out["commit"] = time.perf_counter() - t
    elif name == "relabel":
        with ws.db.read() as conn:
            ids = [r[0] for r in conn.exec_driver_sql(
                "SELECT item_id FROM working ORDER BY random() LIMIT 1000")]  # fmt: skip
        recs = [
            LabelRecord(
                i, [Region(kind="box", label="debris", box=(1, 2, 30, 30), author="user:x")]
            )
            for i in ids
        ]
        ws.set_labels("aerial", recs)
        t = time.perf_counter()
        st = ws.status("aerial")
        out["status"] = time.perf_counter() - t
        t2 = time.perf_counter()
        ws.commit("aerial", "relabel 1000")
        out["commit"] = time.perf_counter() - t2
        out["status+commit"] = out["status"] + out["commit"]
        assert len(st.items_changed) == 1000, len(st.items_changed)
    elif name == "diff":
        t = time.perf_counter()
        d = ws.diff("aerial", "HEAD~1", "HEAD")
        out["diff"] = time.perf_counter() - t
        assert len(d.items_changed) == 1000
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_phase(name: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", name], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--phase")
    ap.add_argument(
        "--reuse", action="store_true", help="Reuse the snapshot of an earlier setup of this size."
    )
    args = ap.parse_args()
    if args.phase:
        phase(args.phase)
        return
    snapshot = WORK / "versioning_snapshot"
    marker = snapshot / f".items-{args.items}"
    if not (args.reuse and marker.exists()):
        t = time.perf_counter()
        setup(args.items)
        print(f"setup {args.items:,} items: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(WS, snapshot)
        marker.touch()
    results: dict[str, list[float]] = {}
    peaks: dict[str, list[float]] = {}
    for _ in range(args.runs):
        shutil.rmtree(WS)
        shutil.copytree(snapshot, WS)
        for name in ("commit", "relabel", "diff"):
            r = run_phase(name)
            peaks.setdefault(name, []).append(r.pop("peak_mb"))
            for k, v in r.items():
                results.setdefault(f"{name}:{k}", []).append(v)
    targets = {
        "commit:commit": ("first commit", 10.0),
        "relabel:status": ("status after relabeling 1,000", None),
        "relabel:commit": ("commit after relabeling 1,000", None),
        "relabel:status+commit": ("status + commit", 3.0),
        "diff:diff": ("diff HEAD~1 HEAD", 2.0),
    }
    rows = []
    for key, (label, target) in targets.items():
        vals = results[key]
        rows.append(
            [label, f"{median(vals):.2f}", ", ".join(f"{v:.2f}" for v in vals),
             f"<= {target:.0f}" if target else "-", f"{max(peaks[key.split(':')[0]]):.0f}"]
        )  # fmt: skip
    text = (
        f"### Versioning {args.items:,} items with 1-5 boxes each (median of {args.runs})\n\n"
        + table(["operation", "median s", "runs s", "target s", "peak MB (process)"], rows)
        + "\n\nEach phase runs in a fresh process; peak is that process's max RSS "
        "(target <= 2,048 MB).\n"
    )
    write_result("foundation_versioning", text)


if __name__ == "__main__":
    main()
