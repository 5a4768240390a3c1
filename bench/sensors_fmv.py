"""Drone video ingest (frames every second + full KLV decode) vs the peers, as real-time factors.

Two files:
- a 60 s 1280x720 30 fps H.264 flight with a 10 Hz ST 0601 stream (assay's generator, muxed by
  FFmpeg through PyAV): `assay ingest FILE` (whole command, fresh workspace) vs a plain
  klvdata + PyAV loop doing the same work (decode every frame, one JPEG a second, every KLV
  packet decoded by klvdata);
- stanag4609's own demo flight (`stanag4609-demo-samples`, needs the ffmpeg program, 640x360
  15 fps, H.264 + audio + synchronous KLV): `assay ingest` vs `stanag4609-export-geojson` (its
  KLV-to-GeoJSON export, which decodes no video) on the same file.

Run: PYTHONPATH=src .venv/bin/python bench/sensors_fmv.py [--seconds 60] [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

from _common import ROOT, WORK, median, run_timed, table, timed, write_result

sys.path.insert(0, str(ROOT / "src"))

from assay.ingest.sensors.synth import write_flight

BIN = Path(sys.executable).parent
PEER_OUT = WORK / "fmv-peer"


def klvdata_pyav(path: Path, out: Path) -> int:
    """The peer loop users write: PyAV decodes, klvdata parses, a JPEG per second."""
    import av
    import klvdata

    out.mkdir(parents=True, exist_ok=True)
    packets = 0
    next_t = 0.0
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        video.thread_type = "AUTO"
        for pkt in c.demux(video, *c.streams.data):
            if pkt.stream.type == "data":
                for _ in klvdata.StreamParser(bytes(pkt)):
                    packets += 1
                continue
            for frame in pkt.decode():
                t = float(frame.time or 0)
                if t + 1e-6 >= next_t:
                    buf = io.BytesIO()
                    frame.to_image().save(buf, format="JPEG", quality=92)
                    (out / f"{t:08.3f}.jpg").write_bytes(buf.getvalue())
                    next_t += 1.0
    return packets


def assay_ingest(path: Path, tag: str) -> float:
    ws = WORK / f"fmv-ws-{tag}"
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir(parents=True)
    env = {"PYTHONPATH": str(ROOT / "src")}
    run_timed([str(BIN / "python"), "-m", "assay", "init", "."], cwd=ws, env=env)
    return run_timed([str(BIN / "python"), "-m", "assay", "ingest", str(path)], cwd=ws, env=env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    flight = WORK / f"flight-720p-{args.seconds}s.ts"
    if not flight.exists():
        print(f"writing {flight} ...")
        write_flight(
            flight, seconds=args.seconds, fps=30, width=1280, height=720, klv_hz=10,
            preset="veryfast",
        )  # fmt: skip
    demo_dir = WORK / "stanag4609-demo"
    demo = demo_dir / "stanag4609-day-demo.ts"
    if not demo.exists() and shutil.which("ffmpeg"):
        subprocess.run(
            [str(BIN / "stanag4609-demo-samples"), str(demo_dir), "--duration", str(args.seconds)],
            check=True, capture_output=True,
        )  # fmt: skip
    rows = []
    a, p = [], []
    for k in range(args.runs):
        order = [0, 1] if k % 2 == 0 else [1, 0]  # alternate who runs first
        for who in order:
            if who == 0:
                a.append(assay_ingest(flight, "720"))
            else:
                shutil.rmtree(PEER_OUT, ignore_errors=True)
                p.append(timed(lambda: klvdata_pyav(flight, PEER_OUT)))
    rt_a, rt_p = args.seconds / median(a), args.seconds / median(p)
    rows.append([
        f"{args.seconds} s 720p30 H.264 + 10 Hz KLV", "klvdata 0.0.3 + PyAV loop",
        f"{median(a):.2f} s ({rt_a:.1f}x real time)", f"{median(p):.2f} s ({rt_p:.1f}x)",
        f"{median(p) / median(a):.2f}x",
    ])  # fmt: skip
    if demo.exists():
        geo = WORK / "stanag4609.geojsonl"
        a2, s2 = [], []
        for k in range(args.runs):
            order = [0, 1] if k % 2 == 0 else [1, 0]
            for who in order:
                if who == 0:
                    a2.append(assay_ingest(demo, "demo"))
                else:
                    s2.append(
                        run_timed(
                            [str(BIN / "stanag4609-export-geojson"), "--force", str(demo), str(geo)]
                        )
                    )
        rows.append([
            f"stanag4609 demo, {args.seconds} s 360p15 + audio + KLV",
            "stanag4609-export-geojson (KLV only, no video decode)",
            f"{median(a2):.2f} s ({args.seconds / median(a2):.1f}x real time)",
            f"{median(s2):.2f} s ({args.seconds / median(s2):.1f}x)",
            f"{median(s2) / median(a2):.2f}x",
        ])  # fmt: skip
    text = (
        f"## FMV ingest (median of {args.runs} runs, whole commands)\n\n"
        + table(["file", "peer", "assay ingest", "peer", "peer / assay"], rows)
        + "\n"
    )
    write_result("sensors_fmv", text)


if __name__ == "__main__":
    main()
