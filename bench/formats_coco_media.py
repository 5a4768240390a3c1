"""Import of a COCO dataset whose images are camera-sized JPEGs: the media side of an import.

`formats_coco_import.py` measures the label file (its images are tiny stand-ins); here the
images are the bulk, as in a real dataset: ~2,000 JPEGs of 640x480 (~190 KB each, ~380 MB)
named by a small COCO file with a box or two each. The whole
`assay import FILE --format coco --dataset d` command is timed beside `cp -r` of the images
folder (the floor: the bytes read and written once, no hash) and `assay ingest` of the same
folder (assay's own way in for bare files: a process pool), each in a fresh process,
alternating, with its peak resident memory (`VmHWM`). Page cache warm (the files were just
written).

    PYTHONPATH=src .venv/bin/python bench/formats_coco_media.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import WORK, median, table, write_result
from formats_coco_import import ASSAY, INIT, _env, dataset, run


def make(folder: Path, images: int, seed: int = 0) -> Path:
    """`images` JPEGs of smooth noise (compressing as a photo does) and a COCO file naming them."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    imgs, anns = [], []
    for i in range(1, images + 1):
        small = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
        big = Image.fromarray(small).resize((640, 480), Image.Resampling.BILINEAR)
        noise = rng.integers(-12, 13, (480, 640, 3))
        pixels = np.clip(np.asarray(big, np.int16) + noise, 0, 255).astype(np.uint8)
        name = f"site_{i:05d}.jpg"
        Image.fromarray(pixels).save(folder / "images" / name, quality=90)
        imgs.append({"id": i, "file_name": name, "width": 640, "height": 480})
        for _ in range(pick.randint(1, 2)):
            x, y = pick.uniform(0, 500), pick.uniform(0, 380)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": pick.randint(1, 3),
                    "bbox": [round(x, 2), round(y, 2), 80.0, 60.0],
                    "area": 4800.0,
                    "iscrowd": 0,
                }
            )
    cats = [{"id": k, "name": n} for k, n in enumerate(["debris", "vehicle", "person"], 1)]
    path = folder / "annotations.json"
    path.write_text(json.dumps({"images": imgs, "annotations": anns, "categories": cats}))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000, help="JPEGs in a new dataset.")
    ap.add_argument("--runs", type=int, default=3, help="Runs of each tool.")
    ap.add_argument("--fresh", action="store_true", help="Make the dataset again.")
    args = ap.parse_args()
    folder = WORK / "coco_media"
    path = dataset(folder, make, args.images, args.fresh)
    files = sorted((folder / "images").iterdir())
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    times: dict[str, list[float]] = {"cp -r": [], "assay ingest": [], "assay import": []}
    peaks: dict[str, list[float]] = {k: [] for k in times}
    for r in range(args.runs):
        order = list(times) if r % 2 == 0 else list(reversed(times))
        for tool in order:
            ws = folder / "ws"
            shutil.rmtree(ws, ignore_errors=True)
            if tool == "cp -r":
                t0 = time.perf_counter()
                subprocess.run(["cp", "-r", str(folder / "images"), str(ws)], check=True)
                t, peak = time.perf_counter() - t0, float("nan")
            else:
                env = _env()
                subprocess.run([sys.executable, "-c", INIT, str(ws)], check=True, env=env)
                if tool == "assay ingest":
                    argv = ["ingest", str(folder / "images")]
                else:
                    argv = ["import", str(path), "--format", "coco", "--dataset", "d"]
                t, peak, _cpu = run(ASSAY, str(ws), *argv)
            times[tool].append(t)
            peaks[tool].append(peak)
            print(f"run {r + 1}: {tool}: {t:.2f} s, peak {peak:.0f} MB", flush=True)
    base = median(times["cp -r"])
    rows = [
        [
            tool,
            f"{median(ts):.2f}",
            ", ".join(f"{t:.2f}" for t in ts),
            "-" if tool == "cp -r" else f"{max(peaks[tool]):.0f}",
            f"{median(ts) / base:.2f}x",
        ]
        for tool, ts in times.items()
    ]
    text = (
        f"### COCO import of {len(files)} JPEGs ({size_mb:.0f} MB; median of {args.runs})\n\n"
        + table(["tool", "median s", "runs s", "peak MB", "time vs cp -r"], rows)
        + "\n"
    )
    write_result("formats_coco_media", text)


if __name__ == "__main__":
    main()
