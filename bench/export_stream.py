"""The whole `assay export NAME --no-media` command on a large commit: time and peak memory,
beside the `json.dumps` floor measured in the same run.

Each format is run as its own process (`python -m assay export ...`), so the figure is the one a
user feels: start-up, reading the committed manifest and the item table, writing the files.
Peak memory is the child's maximum resident set (`wait4`). The floor builds the COCO document
(or the JSONL lines) from the same manifest with plain Python and writes it with one C-encoded
`json.dumps`; it keeps everything in memory, as a floor for time, not for memory.
Targets (issue 18): peak memory <= 1.5 GB at 1,000,000 items whatever the size; COCO <= 15 s,
JSONL and Parquet <= 10 s.

Run: PYTHONPATH=src .venv/bin/python bench/export_stream.py [--items 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, WORK, median, table, write_result
from foundation_versioning import setup

WS = WORK / "export_stream_ws"
FORMATS = ["coco", "jsonl", "parquet"]


def run_export(fmt: str, out: Path) -> tuple[float, float, float]:
    """(seconds, CPU seconds, peak RSS in MB) of one `assay export` process."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "assay", "--workspace", str(WS), "export", "aerial@HEAD"]
    cmd += ["--format", fmt, "--no-media", "--out", str(out)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def floor(fmt: str, out: Path) -> tuple[float, float, float]:
    """The same document from the manifest with plain Python and one json.dumps, in process."""
    from assay import Workspace
    from assay.versioning import _manifest

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t, cpu = time.perf_counter(), time.process_time()
    ws = Workspace.open(WS)
    c = ws.log("aerial")[0]
    tbl = _manifest.read(ws.blobs, c.manifest, ["item_id", "labels"])
    items, labels = tbl["item_id"].to_pylist(), tbl["labels"].to_pylist()
    if fmt == "coco":
        cats: dict[str, int] = {}
        images, anns = [], []
        for k, (item, text) in enumerate(zip(items, labels, strict=True)):
            images.append({"id": k + 1, "file_name": f"{item[:12]}.png", "width": 64, "height": 64})
            for r in json.loads(text):
                cid = cats.setdefault(r["label"], len(cats) + 1)
                x, y, w, h = r["box"]
                anns.append(
                    {"id": len(anns) + 1, "image_id": k + 1, "category_id": cid,
                     "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
                )  # fmt: skip
        doc = {"images": images, "annotations": anns, "categories": cats}
        (out / "annotations.json").write_text(json.dumps(doc))
    else:
        lines = [
            json.dumps({"id": item, "media": f"{item[:12]}.png", "labels": json.loads(text)})
            for item, text in zip(items, labels, strict=True)
        ]
        (out / "data.jsonl").write_text("\n".join(lines) + "\n")
    ws.close()
    return time.perf_counter() - t, time.process_time() - cpu, 0.0


def floor_process(fmt: str, out: Path) -> tuple[float, float, float]:
    """`floor` in a process of its own: (seconds, CPU seconds, 0)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, __file__, "--floor-only", fmt]
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    secs, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return secs, cpu, 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--reuse", action="store_true", help="keep the workspace of a previous run")
    ap.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--floor-only", help=argparse.SUPPRESS)
    args = ap.parse_args()
    formats = args.formats.split(",")
    if args.setup_only:
        from assay import Workspace

        setup(args.items, WS)
        ws = Workspace.open(WS)
        ws.commit("aerial", "bench")
        ws.close()
        return
    if args.floor_only:
        secs, cpu, _ = floor(args.floor_only, WORK / "export_stream_out")
        print(json.dumps([secs, cpu]))
        return
    # This process stays small: the set-up and the floor run in processes of their own, so a
    # child's peak memory (which counts the pages it shares with its parent before exec)
    # is its own.
    if not (args.reuse and WS.exists()):
        run = [sys.executable, __file__, "--items", str(args.items), "--setup-only"]
        subprocess.run(run, check=True)
    out = WORK / "export_stream_out"
    times: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    peaks: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for fmt in formats:
            for who, fn in ((f"floor {fmt}", floor_process), (f"assay {fmt}", run_export)):
                if who == "floor parquet":
                    continue  # one floor per text shape: COCO and JSON lines
                secs, cpu, peak = fn(fmt, out)
                times.setdefault(who, []).append(secs)
                cpus.setdefault(who, []).append(cpu)
                peaks.setdefault(who, []).append(peak)
                print(f"{who}: {secs:.2f} s, CPU {cpu:.2f} s, peak {peak:.0f} MB", flush=True)
    rows = []
    for fmt in formats:
        base = median(cpus.get(f"floor {fmt}", cpus.get("floor jsonl", [0.0])))
        for who in (f"floor {fmt}", f"assay {fmt}"):
            if who not in times:
                continue
            m, c = median(times[who]), median(cpus[who])
            peak = f"{max(peaks[who]):.0f}" if who.startswith("assay") else "-"
            runs = ", ".join(f"{x:.1f}" for x in times[who])
            ratio = f"{c / base:.2f}x" if base else "-"
            rows.append([who, f"{m:.2f}", f"{c:.2f}", runs, peak, ratio])
    text = (
        f"### `assay export --no-media` of a {args.items:,}-item commit, 1-5 boxes each "
        f"(median of {args.runs})\n\n"
        + table(["command", "median s", "CPU s", "runs s", "peak MB", "CPU vs floor"], rows)
        + "\n\nThe floor builds the same COCO document or JSON lines from the manifest with plain "
        "Python and one `json.dumps` (everything in memory). assay runs as its own process "
        "(start-up, manifest, item table, checks, atomic write, MARKING.txt). CPU seconds are "
        "quoted "
        "beside wall time because a loaded machine stretches wall time but not CPU time.\n"
    )
    write_result("export_stream", text)


if __name__ == "__main__":
    main()
