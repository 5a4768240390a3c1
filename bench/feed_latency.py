"""Feed latency: from a detection entering `assay fuse --follow` to its CoT event at a TAK client.

The path, all real processes: this script writes ground detections (JSON Lines) into the
standard input of `assay fuse flood --follow --from detections:-` at a steady rate; fuse
tracks them (per-scan fusion, Stone Soup) and saves a picture version each time a scan closes;
`assay feed flood --to tcp://taky` hears of each version (notification, not polling) and sends
the changed entities as CoT to taky (PyPI, the TAK server), which routes them to a second
client in another process; the client parses the stream and stamps each event's arrival.

The world: TARGETS vehicles 100 m apart moving at 5 m/s, seen by two sensors at FPS frames a
second each (rate = 2 x FPS x TARGETS detections a second; 1,000/s is 25 targets at 20 Hz),
2 m of noise, a scan the length of a frame. A detection of target j at scan k has reached the
client when an event for target j's entity (the one nearest j's place) whose last-seen time is
scan k or later arrives. Latency runs from the moment the detection fell due (written late
because the writer was slow counts too) to that arrival; detections due before WARMUP_S after
the first event reached the client (the feed process starting and connecting) are not
counted. Both processes read the system-wide
monotonic clock.

The peer run sends ready-made CoT events straight to the same taky at the same rate: the
router's and client's share alone. Runs alternate, so both see the same machine load.

Run: .venv/bin/python bench/feed_latency.py [--rate 1000] [--seconds 6] [--runs 3]
Writes bench/results/feed_latency.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from _common import median, percentile, table, write_result  # noqa: E402
from assay.domain.entity import Entity  # noqa: E402
from assay.feeds.cot import entity_event  # noqa: E402

LON0, LAT0 = -95.36, 29.75
M_LON = 111_320.0 * math.cos(math.radians(LAT0))
M_LAT = 110_574.0
SPACING_M, SPEED = 100.0, 5.0
WARM_FRAMES = 10  # sent before the timed run: tracks start, the feed connects


def start_taky(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = root / "taky.conf"
    conf.write_text(
        f"[taky]\nbind_ip = 127.0.0.1\nroot_dir = {root}\n[cot_server]\nport = {port}\n"
        f"[ssl]\nenabled = false\n[dp_server]\nupload_path = {root / 'dp'}\n"
    )
    exe = Path(sys.executable).with_name("taky")
    proc = subprocess.Popen([str(exe), "-c", str(conf)], cwd=root, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("taky did not start")


class World:
    """Targets on a grid moving east together; where target j is at time t (epoch s)."""

    def __init__(self, targets: int, fps: float, t0: float) -> None:
        self.targets, self.fps, self.t0 = targets, fps, t0
        self.side = math.ceil(math.sqrt(targets))

    def xy(self, j: int, t: float) -> tuple[float, float]:
        return (j % self.side) * SPACING_M + SPEED * (t - self.t0), (j // self.side) * SPACING_M

    def nearest(self, x: float, y: float, t: float) -> int:
        gx = round((x - SPEED * (t - self.t0)) / SPACING_M)
        gy = round(y / SPACING_M)
        return gy * self.side + gx

    def frame(self, n: int, rng: object) -> list[str]:
        """Both sensors' detections of every target in frame n, as JSON lines."""
        import random

        assert isinstance(rng, random.Random)
        t = self.t0 + n / self.fps
        when = datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")
        out = []
        for sensor in ("drone-a", "drone-b"):
            for j in range(self.targets):
                x, y = self.xy(j, t)
                x, y = x + rng.gauss(0, 2), y + rng.gauss(0, 2)
                out.append(
                    json.dumps(
                        {
                            "time": when.replace("+00:00", "Z"),
                            "label": "vehicle",
                            "lon": LON0 + x / M_LON,
                            "lat": LAT0 + y / M_LAT,
                            "sigma_m": 3.0,
                            "sensor": sensor,
                            "marking": "CUI" if sensor == "drone-b" else "UNCLASSIFIED",
                        }
                    )
                )
        return out


def receiver(port: int, world: World, first: Any, conn: Connection) -> None:
    """A TAK client: parse the event stream; for each event, which target and which scan it
    shows and when it arrived (the first arrival of each pair is kept)."""
    from lxml import etree

    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(0.5)
    conn.send("ready")
    parser = etree.XMLPullParser(events=("end",), tag="event")
    parser.feed(b"<root>")
    seen: dict[tuple[int, int], float] = {}
    raw_seen: dict[int, float] = {}
    last_seen = re.compile(r"last seen ([0-9T:.\-]+)Z")
    number = re.compile(r"; (\d+) detection")
    quiet = 0  # half-seconds without data since the first event: 30 end the run
    while quiet < 30:
        try:
            data = sock.recv(1 << 16)
        except TimeoutError:
            quiet += 1 if first.is_set() else 0
            continue
        if not data:
            break
        quiet = 0
        now = time.monotonic()
        parser.feed(data)
        for _, elm in parser.read_events():
            remarks = elm.findtext("detail/remarks") or ""
            if elm.get("uid", "").startswith("raw."):
                m = number.search(remarks)
                if m:
                    raw_seen.setdefault(int(m.group(1)), now)
                    first.set()
            else:
                m = last_seen.search(remarks)
                pt = elm.find("point")
                if m and pt is not None:
                    t = datetime.fromisoformat(m.group(1) + "+00:00").timestamp()
                    x = (float(pt.get("lon")) - LON0) * M_LON
                    y = (float(pt.get("lat")) - LAT0) * M_LAT
                    k = round((t - world.t0) * world.fps)
                    seen.setdefault((world.nearest(x, y, t), k), now)
                    # taky replays the events it holds to a new client: an earlier run's
                    # (the same uids, older times) does not start this one
                    if k >= 0:
                        first.set()
            elm.clear()
    conn.send((seen, raw_seen))


def assay_run(
    port: int, rate: float, seconds: float, root: Path, env: dict[str, str], every: float = 0.0
) -> tuple[list[float], int, dict[str, float]]:
    import random

    fps = 20.0
    targets = max(1, round(rate / (2 * fps)))
    ws = root / f"ws-{time.monotonic_ns()}"
    assay = [sys.executable, "-m", "assay", "-w", str(ws)]
    subprocess.run([*assay[:3], "init", str(ws)], env=env, check=True, capture_output=True)
    ws = ws / ".assay"
    assay = [sys.executable, "-m", "assay", "-w", str(ws)]
    fuse = subprocess.Popen(
        [*assay, "fuse", "flood", "--follow", "--from", "detections:-", "--scan", str(1 / fps),
         "--every", str(every)],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert fuse.stdin is not None and fuse.stdout is not None
    fuse.stdout.readline()  # "following ...": fuse is up and reading
    threading.Thread(target=fuse.stdout.read, daemon=True).start()  # its lines a version
    rng = random.Random(5)
    total_frames = int(seconds * fps) + WARM_FRAMES
    world = World(targets, fps, time.time())
    ours, theirs = mp.Pipe()
    first = mp.get_context("fork").Event()
    proc = mp.get_context("fork").Process(target=receiver, args=(port, world, first, theirs))
    proc.start()
    assert ours.recv() == "ready"
    feed = None
    published: dict[int, float] = {}  # version number -> when the feed had sent it
    due: dict[tuple[int, int], float] = {}
    from assay.fusion import pictures
    from assay.workspace import Workspace

    w = Workspace.open(ws)
    try:
        # Untimed: the first frames (tracks start), then the feed, up once an event arrived.
        fuse.stdin.write(
            "".join("\n".join(world.frame(n, rng)) + "\n" for n in range(WARM_FRAMES)).encode()
        )
        fuse.stdin.flush()
        while not pictures.is_picture(w, "flood"):
            time.sleep(0.1)
        feed = subprocess.Popen(
            [*assay, "feed", "flood", "--interval", "5",
             "--to", f"tcp://127.0.0.1:{port}?clearance=CUI"],
            env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        threading.Thread(target=published_at, args=(feed, published), daemon=True).start()
        if not first.wait(300):
            raise SystemExit("no event reached the client in 300 s")
        # Timed: the frames at their pace from now on (their sensor times run on).
        mono0 = time.monotonic() + 0.05
        for n in range(WARM_FRAMES, total_frames):
            at = mono0 + (n - WARM_FRAMES) / fps
            pause = at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            fuse.stdin.write(("\n".join(world.frame(n, rng)) + "\n").encode())
            fuse.stdin.flush()
            for j in range(targets):
                due[(j, n)] = at
        timed_s = time.monotonic() - mono0
        fuse.stdin.close()
        _, status, usage = os.wait4(fuse.pid, 0)  # fuse's CPU seconds, other jobs not counted
        fuse.returncode = os.waitstatus_to_exitcode(status)
        if fuse.returncode != 0:
            err = fuse.stderr.read().decode() if fuse.stderr else ""
            raise SystemExit(f"assay fuse --follow failed: {err[-2000:]}")
        seen, _ = ours.recv()
        feed_cpu = cpu_seconds(feed.pid)
        head = pictures.head(w, "flood")
        versions = pictures.log(w, "flood")
        saved = saved_at(versions, due)
        seq_scan = {int(p.seq): int(p.stats.get("scans", 0)) - 1 for p in versions}
    finally:
        w.close()
        if feed is not None:
            feed.terminate()
            feed.wait(10)
        proc.join(10)
    # First arrival showing target j at scan n or later: a suffix minimum over scans.
    lat: list[float] = []
    lost = 0
    reached: dict[tuple[int, int], float] = {}
    for j in range(targets):
        best = math.inf
        for n in range(total_frames - 1, -1, -1):
            best = min(best, seen.get((j, n), math.inf))
            reached[(j, n)] = best
        for n in range(WARM_FRAMES, total_frames):
            if reached[(j, n)] == math.inf:
                lost += 1
            else:
                lat.append((reached[(j, n)] - due[(j, n)]) * 1000)
    # Fuse's share: from the newest scan's detections falling due to the version saved; the
    # rest (the feed, taky, the client): from then to the last of its targets shown there at
    # that scan or later.
    fuse_ms = [(t - due[(0, n)]) * 1000 for n, t in saved.items()] or [math.nan]
    rest_ms = [(max(reached[(j, n)] for j in range(targets)) - t) * 1000 for n, t in saved.items()]
    rest_ms = [x for x in rest_ms if math.isfinite(x)] or [math.nan]
    # The feed's share: from the version saved to the feed done sending it (taky's and the
    # client's is the rest).
    sent = {seq_scan[v]: t for v, t in published.items() if seq_scan.get(v) in saved}
    feed_ms = [(t - saved[n]) * 1000 for n, t in sent.items()] or [math.nan]
    info = {
        "versions": head.seq,
        "late": int(head.stats.get("late", 0)),
        # CPU a second of the timed run (the warm-up frames and start-up count too)
        "fuse_cpu": (usage.ru_utime + usage.ru_stime) / timed_s,
        "feed_cpu": feed_cpu / timed_s,
    }
    return (
        lat,
        lost,
        {
            **info,
            "fuse_p50": percentile(fuse_ms, 0.5),
            "fuse_p99": percentile(fuse_ms, 0.99),
            "rest_p50": percentile(rest_ms, 0.5),
            "rest_p99": percentile(rest_ms, 0.99),
            "feed_p50": percentile(feed_ms, 0.5),
            "feed_p99": percentile(feed_ms, 0.99),
            "fuse_max": max(fuse_ms),
            "rest_max": max(rest_ms),
            "feed_max": max(feed_ms),
        },
    )


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def published_at(feed: subprocess.Popen[bytes], out: dict[int, float]) -> None:
    """When `assay feed` said it had published each version (a line ``flood@N: sent ...``
    once the CoT is written to taky's socket)."""
    assert feed.stdout is not None
    for line in feed.stdout:
        name, at, rest = line.decode().partition("@")
        if name == "flood" and at:
            out.setdefault(int(rest.partition(":")[0]), time.monotonic())


def saved_at(versions: list[Any], due: dict[tuple[int, int], float]) -> dict[int, float]:
    """When each version was saved (its creation time, on the monotonic clock), by its newest
    scan (its count of scans less one; scan k is frame k), for the timed frames."""
    wall_minus_mono = time.time() - time.monotonic()
    out: dict[int, float] = {}
    for p in versions:
        n = int(p.stats.get("scans", 0)) - 1
        if (0, n) in due:
            created = datetime.fromisoformat(p.created.replace("Z", "+00:00")).timestamp()
            out[n] = created - wall_minus_mono
    return out


def raw_events(total: int) -> list[bytes]:
    def event(n: int) -> bytes:
        e = Entity(
            id=f"{n % 200:04d}",
            label="vehicle",
            cot_type="a-u-G-E-V-C",
            lon=LON0,
            lat=LAT0,
            first_seen="2026-07-25T17:20:00Z",
            last_seen="2026-07-25T17:20:00Z",
            confidence=0.9,
            status="confirmed",
            detections=n,
        )
        return entity_event(e, picture="flood").replace(b"assay.flood.", b"raw.")

    return [event(n) for n in range(total)]


async def raw_to_taky(port: int, events: list[bytes], rate: float) -> dict[int, float]:
    total = len(events)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    due: dict[int, float] = {}
    start = time.monotonic()
    n = 0
    while n < total:
        upto = min(total, int((time.monotonic() - start) * rate) + 1)
        if upto > n:
            for i in range(n, upto):
                due[i] = start + i / rate
            writer.write(b"".join(events[n:upto]))
            await writer.drain()
            n = upto
        await asyncio.sleep(0.001)
    writer.write_eof()
    await reader.read()
    writer.close()
    return due


def taky_run(port: int, rate: float, seconds: float) -> tuple[list[float], int]:
    total = int(rate * seconds)
    events = raw_events(total)  # made before the client connects: its quiet time ends a run
    ours, theirs = mp.Pipe()
    world = World(1, 1, 0)
    first = mp.get_context("fork").Event()
    proc = mp.get_context("fork").Process(target=receiver, args=(port, world, first, theirs))
    proc.start()
    assert ours.recv() == "ready"
    time.sleep(0.3)
    due = asyncio.run(raw_to_taky(port, events, rate))
    _, arrived = ours.recv()
    proc.join(10)
    lat = [(arrived[n] - t) * 1000 for n, t in due.items() if n in arrived]
    return lat, total - len(lat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=float, default=1000.0, help="Detections per second.")
    ap.add_argument("--seconds", type=float, default=6.0, help="Length of each run.")
    ap.add_argument("--runs", type=int, default=3, help="Runs per variant (alternating).")
    ap.add_argument(
        "--every", type=float, default=0.0, help="fuse --every: at most a version this often (s)."
    )
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="feed-latency-"))
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src"), "ASSAY_ACTOR": "user:bench"}
    results: dict[str, list[tuple[float, float, float, int, str]]] = {"assay": [], "taky": []}
    # A fresh taky for each pair of runs: one kept across runs slowed its later runs' routing
    # (p99 127, 388, 524 ms in one invocation, the stall after the feed had sent: taky to
    # client), while a fresh one gave 86-87 ms every time (bench/README.md, live feeds).
    for i in range(args.runs):
        (root / f"taky-{i}").mkdir()
        taky, port = start_taky(root / f"taky-{i}")
        try:
            lat, lost, st = assay_run(port, args.rate, args.seconds, root, env, args.every)
            note = (
                f"{st['versions']} versions, {st['late']} late; due to saved p50 "
                f"{st['fuse_p50']:.1f}, p99 {st['fuse_p99']:.1f}, max {st['fuse_max']:.1f}; "
                f"saved to client p50 {st['rest_p50']:.1f}, p99 {st['rest_p99']:.1f}, max "
                f"{st['rest_max']:.1f} (of which the feed's p50 {st['feed_p50']:.1f}, p99 "
                f"{st['feed_p99']:.1f}, max {st['feed_max']:.1f}); CPU s/s: "
                f"fuse {st['fuse_cpu']:.2f}, feed {st['feed_cpu']:.2f}"
            )
            if not lat:
                raise SystemExit(f"assay: no detection reached the client ({lost} lost; {note})")
            results["assay"].append(
                (percentile(lat, 0.5), percentile(lat, 0.99), max(lat), lost, note)
            )
            print("assay", results["assay"][-1], flush=True)
            lat, lost = taky_run(port, args.rate, args.seconds)
            results["taky"].append(
                (percentile(lat, 0.5), percentile(lat, 0.99), max(lat), lost, "")
            )
            print("taky", results["taky"][-1], flush=True)
        finally:
            taky.terminate()
            taky.wait(10)
    rows = []
    for kind, label in (
        ("assay", "fuse --follow -> feed -> taky -> client"),
        ("taky", "raw CoT -> taky -> client"),
    ):
        rs = results[kind]
        rows.append(
            [
                label,
                f"{median([r[0] for r in rs]):.1f}",
                f"{median([r[1] for r in rs]):.1f}",
                ", ".join(f"{r[1]:.1f}" for r in rs),
                f"{median([r[2] for r in rs]):.1f}",
                str(sum(r[3] for r in rs)),
                "; ".join(r[4] for r in rs if r[4]),
            ]
        )
    ratio = median([r[1] for r in results["assay"]]) / median([r[1] for r in results["taky"]])
    load = os.getloadavg()[0]
    text = (
        f"### Detection into `assay fuse --follow` to CoT event at a TAK client, "
        f"{args.rate:.0f}/s for {args.seconds:g} s, {args.runs} runs each (ms; load average "
        f"{load:.1f})\n\n"
        + table(
            ["path", "median p50", "median p99", "p99 per run", "median max", "lost", "notes"],
            rows,
        )
        + f"\n\nassay's p99 / taky alone: {ratio:.2f}x (goal: assay p99 <= 200 ms).\n"
    )
    write_result("feed_latency", text)


if __name__ == "__main__":
    main()
