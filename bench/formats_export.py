"""Time exporting N items with boxes through the format writers, against a plain-json baseline.

The baseline builds the same COCO document from plain tuples (no Region objects, no checks) and
writes it with one ``json.dumps``: the floor for any COCO writer in Python.

    PYTHONPATH=src .venv/bin/python bench/formats_export.py --items 100000 --runs 5
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from assay.domain.labels import Region
from assay.formats import ExportBundle, ExportRow, get_codec

LABELS = ["building", "vehicle", "person", "debris", "boat"]


def make_rows(n: int, boxes_per_item: int, seed: int = 0) -> list[ExportRow]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        regions = []
        for _ in range(boxes_per_item):
            x, y = rng.uniform(0, 500), rng.uniform(0, 400)
            box = (x, y, rng.uniform(1, 140), rng.uniform(1, 80))
            regions.append(Region(kind="box", label=rng.choice(LABELS), box=box))
        rows.append(
            ExportRow(
                item_id=f"{i:064x}",
                name=f"scene_{i:06d}.png",
                media_type="image/png",
                width=640,
                height=480,
                marking="CUI",
                metadata={"sensor": "uav-1"},
                regions=regions,
                read_bytes=lambda: b"",
            )
        )
    return rows


def baseline(rows: list[ExportRow], out: Path) -> tuple[float, float]:
    """Plain tuples in, one json.dumps out; returns (wall, cpu) seconds."""
    plain = [(r.name, r.width, r.height, [(g.label, g.box) for g in r.regions]) for r in rows]
    cats = {n: i for i, n in enumerate(LABELS, 1)}
    t0, c0 = time.perf_counter(), time.process_time()
    images, anns = [], []
    for i, (name, w, h, boxes) in enumerate(plain, 1):
        images.append({"id": i, "file_name": name, "width": w, "height": h})
        for label, (x, y, bw, bh) in boxes:
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": cats[label],
                    "bbox": [x, y, bw, bh],
                    "area": bw * bh,
                    "segmentation": [],
                    "iscrowd": 0,
                }
            )
    doc = {"images": images, "annotations": anns, "categories": list(cats)}
    (out / "annotations.json").write_text(json.dumps(doc, separators=(",", ":")))
    return time.perf_counter() - t0, time.process_time() - c0


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds; on a busy machine CPU time is the steadier figure."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--boxes", type=int, default=3, help="boxes per item")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--formats", default="coco,yolo,jsonl,parquet,labelstudio")
    args = ap.parse_args()
    rows = make_rows(args.items, args.boxes)
    b = ExportBundle(
        rows=rows,
        label_names=LABELS,
        dataset="bench",
        revision=None,
        marking="CUI",
        copy_media=False,
    )
    results: dict[str, list[tuple[float, float]]] = {"plain json (COCO baseline)": []}
    for fmt in args.formats.split(","):
        results[f"assay {fmt}"] = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp) / "base"
            base.mkdir()
            results["plain json (COCO baseline)"].append(baseline(rows, base))
            for fmt in args.formats.split(","):
                out = Path(tmp) / fmt
                codec = get_codec(fmt)
                assert codec.write is not None
                write = codec.write
                results[f"assay {fmt}"].append(timed(lambda w=write, o=out: w(b, o)))
                shutil.rmtree(out)
    base_wall = statistics.median(w for w, _ in results["plain json (COCO baseline)"])
    base_cpu = statistics.median(c for _, c in results["plain json (COCO baseline)"])
    n, k = args.items, args.boxes
    print(f"Export of {n:,} items x {k} boxes, copy_media=False, {args.runs} runs\n")
    print("| writer | median wall s | min wall s | median CPU s | wall ratio | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, times in results.items():
        wall = statistics.median(w for w, _ in times)
        cpu = statistics.median(c for _, c in times)
        print(
            f"| {name} | {wall:.2f} | {min(w for w, _ in times):.2f} | {cpu:.2f} | "
            f"{wall / base_wall:.2f}x | {cpu / base_cpu:.2f}x |"
        )


if __name__ == "__main__":
    main()
