"""Export 100,000 items with boxes to COCO: `assay export` vs writing the same JSON directly
with one `json.dumps`.

The baseline builds the COCO dict from the same manifest with plain Python and writes it
with one `json.dumps` (a lower bound for any COCO writer in Python). assay is timed through the API
on a committed version, with and without copying media files.
Target (issue 2): <= 5 s for 100,000 items.

Run: .venv/bin/python bench/foundation_export.py [--items 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time

from _common import WORK, median, table, write_result
from foundation_versioning import setup

WS = WORK / "export_ws"


def baseline(out_dir: str) -> None:
    """COCO JSON straight from the manifest: no validation, no media, no marking."""
    from assay import Workspace
    from assay.versioning import _manifest

    ws = Workspace.open(WS)
    c = ws.log("aerial")[0]
    t = _manifest.read(ws.blobs, c.manifest, ["item_id", "labels"])
    cats: dict[str, int] = {}
    images, anns = [], []
    for k, (item, labels) in enumerate(
        zip(t["item_id"].to_pylist(), t["labels"].to_pylist(), strict=True)
    ):
        images.append({"id": k + 1, "file_name": f"{item[:12]}.png", "width": 64, "height": 64})
        for r in json.loads(labels):
            cid = cats.setdefault(r["label"], len(cats) + 1)
            x, y, w, h = r["box"]
            anns.append(
                {"id": len(anns) + 1, "image_id": k + 1, "category_id": cid,
                 "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
    cat_list = [{"id": v, "name": n} for n, v in cats.items()]
    doc = {"images": images, "annotations": anns, "categories": cat_list}
    with open(f"{out_dir}/annotations.json", "w") as fh:
        fh.write(json.dumps(doc))  # one C-encoded dumps; json.dump streams in pure Python
    ws.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from assay import Workspace

    setup(args.items, WS, with_blobs=True)
    ws = Workspace.open(WS)
    ws.commit("aerial", "bench")
    times: dict[str, list[float]] = {"json.dumps baseline": [], "assay (labels)": []}
    times["assay (labels + media)"] = []
    for _ in range(args.runs):
        for key, fn in (
            ("json.dumps baseline", lambda o: baseline(o)),
            ("assay (labels)", lambda o: ws.export("aerial@HEAD", "coco", o, media=False)),
            ("assay (labels + media)", lambda o: ws.export("aerial@HEAD", "coco", o)),
        ):
            out = WORK / "export_out"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            # Deleting the previous run's 100,000 files keeps this file system busy for a
            # while; let it settle so no writer pays for the one before it.
            os.sync()
            time.sleep(3.0)
            t = time.perf_counter()
            fn(str(out))
            times[key].append(time.perf_counter() - t)
    base = median(times["json.dumps baseline"])
    rows = [
        [k, f"{median(v):.2f}", ", ".join(f"{x:.2f}" for x in v), f"{median(v) / base:.2f}x"]
        for k, v in times.items()
    ]
    text = (
        f"### Export {args.items:,} items with 1-5 boxes each to COCO (median of {args.runs})\n\n"
        + table(["writer", "median s", "runs s", "vs baseline"], rows)
        + "\n\nTarget: <= 5 s. assay reads the committed manifest, checks every box, writes "
        "annotations.json atomically plus MARKING.txt; `labels + media` also copies every "
        "media blob into images/.\n"
    )
    write_result("foundation_export", text)


if __name__ == "__main__":
    main()
