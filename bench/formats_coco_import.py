"""Import of a large COCO file (~110 MB) vs pycocotools' ``COCO()`` load of the same file.

The file is shaped like COCO train2017 (polygon outlines of 8-40 points, a few crowd RLE masks,
~7 objects per image); the images are distinct 640x480 PNGs of a few hundred bytes each (the
size the file states: an import checks it against the image), so the run measures the label
file, not image hashing (their hashing and blob writes are still part of the assay import). Both
tools run in fresh processes, alternating, and the peak resident memory of each process
(``VmHWM``) is reported beside the wall time.

    PYTHONPATH=src .venv/bin/python bench/formats_coco_import.py --runs 3

The assay side is the whole ``assay import FILE --format coco --dataset big`` command through the
CLI's entry point; the floor rows are msgspec's typed decode of the file alone (floats made) and
the decode assay's import does now, segmentations left as raw JSON text (what its parse costs
before any region text, image or row is made), and the floor of any import that keeps labels in
SQLite: that decode, each image read and hashed, each image's annotations written once as the
file's own text into one table, without a single check (`STORE_ONLY`). CPU seconds (user +
system of the process) are printed beside wall time: on a shared machine they are the steadier
figure.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

from _common import ROOT, WORK, median, table, write_result

LABELS = ["person", "vehicle", "building", "debris", "boat", "tree", "road", "water"]


def _png(k: int, w: int = 640, h: int = 480) -> bytes:
    """A distinct w x h grayscale PNG of a few hundred bytes (each image must be its own item,
    and of the size the file states: an import checks that against the image)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    first = b"\x00" + k.to_bytes(4, "big") + bytes(w - 4)
    raw = first + (b"\x00" + bytes(w)) * (h - 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def make(folder: Path, images: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    w, h = 640, 480  # as the file states, and as the PNGs are (a few hundred bytes each)
    imgs, anns = [], []
    for i in range(1, images + 1):
        name = f"img_{i:06d}.png"
        (folder / "images" / name).write_bytes(_png(i))
        imgs.append({"id": i, "file_name": name, "width": w, "height": h})
        for _ in range(rng.randint(3, 11)):
            cx, cy = rng.uniform(60, w - 60), rng.uniform(60, h - 60)
            n = rng.randint(8, 40)
            pts = []
            for k in range(n):
                ang = 2 * math.pi * k / n
                rad = rng.uniform(10, 50)
                pts += [round(cx + rad * math.cos(ang), 2), round(cy + rad * math.sin(ang), 2)]
            xs, ys = pts[0::2], pts[1::2]
            x0, y0 = min(xs), min(ys)
            anns.append(
                {
                    "segmentation": [pts],
                    "area": round((max(xs) - x0) * (max(ys) - y0) * 0.7, 2),
                    "iscrowd": 0,
                    "image_id": i,
                    "bbox": [x0, y0, round(max(xs) - x0, 2), round(max(ys) - y0, 2)],
                    "category_id": rng.randint(1, len(LABELS)),
                    "id": len(anns) + 1,
                }
            )
    doc = {
        "info": {"description": "bench", "year": 2026},
        "licenses": [],
        "images": imgs,
        "annotations": anns,
        "categories": [
            {"id": k, "name": n, "supercategory": "thing"} for k, n in enumerate(LABELS, 1)
        ],
    }
    path = folder / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


# The peak is the process's own VmHWM: `ru_maxrss` would carry over the high-water mark of the
# memory it was spawned from (Linux keeps it across exec, and a vfork child starts in the
# parent's memory), so every tool read the bench's own peak after it had made the file.
PEAK = """
import resource
u = resource.getrusage(resource.RUSAGE_SELF)
hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]
print('PEAK', hwm.split()[1])
print('CPU', u.ru_utime + u.ru_stime)
"""

PYCOCOTOOLS = (
    """
import sys, time
t = time.perf_counter()
from pycocotools.coco import COCO
COCO(sys.argv[1])
print('TIME', time.perf_counter() - t)
"""
    + PEAK
)

# An assay command through the CLI's own entry point, in a fresh process: ``WORKSPACE ARGS...``
# (the whole `assay import FILE --format coco --dataset big` here); the workspace is made
# beforehand (`INIT`), untimed.
ASSAY = (
    """
import sys, time
t = time.perf_counter()
from assay.cli import main
try:
    main(["-w", sys.argv[1], *sys.argv[2:]])
except SystemExit as exc:
    if exc.code:
        raise
print('TIME', time.perf_counter() - t)
"""
    + PEAK
)
INIT = "import sys; from assay.workspace import Workspace; Workspace.init(sys.argv[1]).close()"


# The floor of assay's way of reading: msgspec's typed decode of the file alone (no regions, no
# images, no store), in a fresh process like the others.
DECODE_ONLY = (
    """
import sys, time
t = time.perf_counter()
from pathlib import Path
from assay.formats._coco_fast import decode
decode(Path(sys.argv[1]))
print('TIME', time.perf_counter() - t)
"""
    + PEAK
)


# What assay's import parses now: the same decode with each segmentation left as JSON text
# (`decode_raw`), the points then cut from that text (`_coco_points`).
RAW_DECODE_ONLY = (
    """
import sys, time
t = time.perf_counter()
from pathlib import Path
from assay.formats._coco_fast import decode_raw
decode_raw(Path(sys.argv[1]))
print('TIME', time.perf_counter() - t)
"""
    + PEAK
)


# The floor of any import that keeps its labels in SQLite, assay's or another's: read and decode
# the file (segmentations as raw text), read and hash each image (an import must, to know the
# item), and write each image's annotations once, as the file's own text, into one table of a
# new database with the workspace's pragmas (WAL, synchronous NORMAL, 200 MB cache). No check,
# no label map, no points in pairs, no provenance, no audit, no second table: nothing an assay
# import guarantees, so no import can be faster than this on the same machine.
STORE_ONLY = (
    """
import sys, time
t = time.perf_counter()
import hashlib, sqlite3
from pathlib import Path
import msgspec
class Ann(msgspec.Struct):
    image_id: int
    segmentation: msgspec.Raw
class Doc(msgspec.Struct):
    images: list[dict]
    annotations: list[Ann]
path = Path(sys.argv[1])
doc = msgspec.json.decode(path.read_bytes(), type=Doc)
texts = {}
for a in doc.annotations:
    texts.setdefault(a.image_id, []).append(bytes(a.segmentation))
rows = []
for img in doc.images:
    digest = hashlib.sha256((path.parent / 'images' / img['file_name']).read_bytes()).hexdigest()
    rows.append((digest, b'[' + b','.join(texts.get(img['id'], [])) + b']'))
db = sqlite3.connect(Path(sys.argv[2]) / 'floor.db')
for pragma in ('journal_mode=WAL', 'synchronous=NORMAL', 'cache_size=-200000'):
    db.execute('PRAGMA ' + pragma)
db.execute('CREATE TABLE labels (item TEXT PRIMARY KEY, payload BLOB NOT NULL)')
db.executemany('INSERT INTO labels VALUES (?, ?)', rows)
db.commit()
db.close()
print('TIME', time.perf_counter() - t)
"""
    + PEAK
)


def _env() -> dict[str, str]:
    return {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "ASSAY_ACTOR": "user:bench"}


def dataset(folder: Path, make: Callable[[Path, int], Path], n: int, fresh: bool) -> Path:
    """The bench's COCO file in `folder` (``annotations.json``), made by `make` unless it is
    there already (or again with `fresh`)."""
    path = folder / "annotations.json"
    if fresh or not path.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        make(folder, n)
    return path


def run(code: str, *args: str) -> tuple[float, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=_env(),
    )
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    vals = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    return float(vals["TIME"]), float(vals["PEAK"]) / 1024, float(vals["CPU"])  # s, MB, s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=30000, help="Images in a new file (~110 MB).")
    ap.add_argument("--runs", type=int, default=3, help="Runs of each tool.")
    ap.add_argument("--fresh", action="store_true", help="Make the file again.")
    args = ap.parse_args()
    folder = WORK / "coco_import"
    path = dataset(folder, make, args.images, args.fresh)
    size_mb = path.stat().st_size / 1e6
    times: dict[str, list[float]] = {
        "pycocotools COCO()": [],
        "assay import": [],
        "floor: msgspec decode only": [],
        "floor: msgspec decode, segmentation as raw text": [],
        "floor: decode, hash images, one SQLite write (no checks)": [],
    }
    peaks: dict[str, list[float]] = {k: [] for k in times}
    cpus: dict[str, list[float]] = {k: [] for k in times}
    for r in range(args.runs):
        order = list(times) if r % 2 == 0 else list(reversed(times))
        for tool in order:
            ws = folder / "ws"
            shutil.rmtree(ws, ignore_errors=True)
            if tool == "assay import":
                subprocess.run(
                    [sys.executable, "-c", INIT, str(ws)],
                    check=True,
                    env=_env(),
                    capture_output=True,
                )
                argv = ["import", str(path), "--format", "coco", "--dataset", "big"]
                t, peak, cpu = run(ASSAY, str(ws), *argv)
            elif tool == "pycocotools COCO()":
                t, peak, cpu = run(PYCOCOTOOLS, str(path))
            elif tool.startswith("floor: decode, hash"):
                ws.mkdir(parents=True)
                t, peak, cpu = run(STORE_ONLY, str(path), str(ws))
            elif tool == "floor: msgspec decode only":
                t, peak, cpu = run(DECODE_ONLY, str(path))
            else:
                t, peak, cpu = run(RAW_DECODE_ONLY, str(path))
            times[tool].append(t)
            peaks[tool].append(peak)
            cpus[tool].append(cpu)
            print(
                f"run {r + 1}: {tool}: {t:.2f} s, {cpu:.2f} s CPU, peak {peak:.0f} MB", flush=True
            )
    base = median(times["pycocotools COCO()"])
    base_cpu = median(cpus["pycocotools COCO()"])
    rows = [
        [
            tool,
            f"{median(ts):.2f}",
            ", ".join(f"{t:.2f}" for t in ts),
            f"{max(peaks[tool]):.0f}",
            f"{base / median(ts):.2f}x",
            f"{median(cpus[tool]):.2f}",
            f"{base_cpu / median(cpus[tool]):.2f}x",
        ]
        for tool, ts in times.items()
    ]
    raw = path.read_bytes()
    n_anns, n_images = raw.count(b'"segmentation"'), raw.count(b'"file_name"')
    text = (
        f"### COCO import of a {size_mb:.0f} MB file ({n_images} images, {n_anns} annotations; "
        f"median of {args.runs})\n\n"
        + table(
            [
                "tool",
                "median s",
                "runs s",
                "peak MB",
                "speed vs COCO()",
                "median CPU s",
                "CPU speed vs COCO()",
            ],
            rows,
        )
        + "\n"
    )
    write_result("formats_coco_import", text)


if __name__ == "__main__":
    main()
