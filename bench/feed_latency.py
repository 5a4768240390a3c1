"""Feed latency: from a detection entering the publish path to its CoT event at a TAK client.

Detections fall due at a steady rate and go in as the scan of the last millisecond; each
becomes an entity update (`Feed.update`, the path a tracker's live output takes:
clearance filter, fingerprint, CoT encoding, the TCP sink) at a steady rate; taky (PyPI, the
TAK server) routes each event to a second client in another process, which stamps its
arrival. Each detection updates one of 200 entities (TAK clients see updates of the same
uids; taky's memory persistence scans every tracked uid on each event, so a new uid per
detection would measure that scan); the detection's number rides in the event's remarks.
The peer run sends the same rate of ready-made CoT events straight to taky: the
router's own share. Runs alternate, so both see the same machine load. Latency uses the
system-wide monotonic clock (both processes read it).

Run: .venv/bin/python bench/feed_latency.py [--rate 1000] [--seconds 5] [--runs 3]
Writes bench/results/feed_latency.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import re
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from _common import median, percentile, table, write_result  # noqa: E402
from assay.domain.entity import Entity  # noqa: E402
from assay.domain.marking import MarkingScheme  # noqa: E402
from assay.feeds.cot import entity_event  # noqa: E402
from assay.feeds.publish import Feed, Subscription  # noqa: E402
from assay.feeds.sinks import open_sink  # noqa: E402


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


def receiver(port: int, expect: int, conn: Connection) -> None:
    """A TAK client: parse the event stream, stamp each uid's arrival, send them back."""
    from lxml import etree

    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(0.5)
    conn.send("ready")
    parser = etree.XMLPullParser(events=("end",), tag="event")
    parser.feed(b"<root>")
    seen: dict[int, float] = {}
    number = re.compile(r"; (\d+) detection")
    idle = 0
    while len(seen) < expect and idle < 10:
        try:
            data = sock.recv(1 << 16)
        except TimeoutError:
            idle += 1
            continue
        if not data:
            break
        now = time.monotonic()
        idle = 0
        parser.feed(data)
        for _, elm in parser.read_events():
            m = number.search(elm.findtext("detail/remarks") or "")
            if m:
                seen.setdefault(int(m.group(1)), now)
            elm.clear()
    conn.send(seen)


ENTITIES = 200


def entity(n: int) -> Entity:
    return Entity(
        id=f"ent-{n % ENTITIES:04d}",
        label="vehicle",
        cot_type="a-u-G-E-V-C",
        lon=-95.37 + (n % 1000) * 1e-5,
        lat=29.76,
        first_seen="2026-07-25T17:20:00Z",
        last_seen="2026-07-25T17:20:00Z",
        confidence=0.9,
        status="confirmed",
        marking="CUI" if n % 2 else "",
        detections=n,
    )


async def paced(total: int, rate: float, send: object) -> dict[int, float]:
    """Detections 0..total fall due at `rate` per second; every millisecond `send(ns)` gets
    those due since the last call (a tracker's scan). Returns when each fell due, so time
    spent waiting behind a slow sender counts in the latency."""
    due: dict[int, float] = {}
    start = time.monotonic()
    n = 0
    while n < total:
        upto = min(total, int((time.monotonic() - start) * rate) + 1)
        if upto > n:
            batch = list(range(n, upto))
            for i in batch:
                due[i] = start + i / rate
            await send(batch)  # type: ignore[operator]
            n = upto
        await asyncio.sleep(0.001)
    return due


async def via_assay(port: int, total: int, rate: float) -> dict[int, float]:
    scheme = MarkingScheme.default()
    feed = Feed(
        "flood", scheme, [Subscription(open_sink(f"tcp://127.0.0.1:{port}"), scheme.parse("CUI"))]
    )
    await feed.open()

    async def send(ns: list[int]) -> None:
        await feed.update([entity(n) for n in ns])

    entered = await paced(total, rate, send)
    await feed.close()
    return entered


async def raw_to_taky(port: int, total: int, rate: float) -> dict[int, float]:
    events = [entity_event(entity(n), picture="flood") for n in range(total)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send(ns: list[int]) -> None:
        writer.write(b"".join(events[n] for n in ns))
        await writer.drain()

    entered = await paced(total, rate, send)
    writer.write_eof()
    await reader.read()  # let taky read everything before the socket goes
    writer.close()
    return entered


def one(kind: str, port: int, total: int, rate: float) -> tuple[list[float], float, int]:
    ours, theirs = mp.Pipe()
    proc = mp.get_context("fork").Process(target=receiver, args=(port, total, theirs))
    proc.start()
    assert ours.recv() == "ready"
    time.sleep(0.3)
    run = via_assay if kind == "assay" else raw_to_taky
    entered = asyncio.run(run(port, total, rate))
    sent_for = max(entered.values()) - min(entered.values())
    arrived: dict[int, float] = ours.recv()
    proc.join(10)
    lat = [(arrived[u] - t) * 1000 for u, t in entered.items() if u in arrived]
    return lat, (total - 1) / sent_for, total - len(lat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=float, default=1000.0, help="Detections per second.")
    ap.add_argument("--seconds", type=float, default=5.0, help="Length of each run.")
    ap.add_argument("--runs", type=int, default=3, help="Runs per variant (alternating).")
    args = ap.parse_args()
    total = int(args.rate * args.seconds)
    root = Path(tempfile.mkdtemp(prefix="feed-latency-"))
    taky, port = start_taky(root)
    results: dict[str, list[tuple[float, float, float, float, int]]] = {"assay": [], "taky": []}
    try:
        for _ in range(args.runs):
            for kind in ("assay", "taky"):
                lat, achieved, lost = one(kind, port, total, args.rate)
                results[kind].append(
                    (percentile(lat, 0.5), percentile(lat, 0.99), max(lat), achieved, lost)
                )
    finally:
        taky.terminate()
        taky.wait(10)
    rows = []
    for kind, label in (
        ("assay", "assay feed -> taky -> client"),
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
                f"{median([r[3] for r in rs]):.0f}",
                str(sum(r[4] for r in rs)),
            ]
        )
    p99_ratio = median([r[1] for r in results["assay"]]) / median([r[1] for r in results["taky"]])
    text = (
        f"### Detection to CoT event at a TAK client, {args.rate:.0f}/s for {args.seconds:g} s, "
        f"{args.runs} runs each (ms)\n\n"
        + table(
            [
                "path",
                "median p50",
                "median p99",
                "p99 per run",
                "median max",
                "achieved /s",
                "lost",
            ],
            rows,
        )
        + f"\n\nassay's p99 / taky alone: {p99_ratio:.2f}x (goal: assay p99 <= 200 ms).\n"
    )
    write_result("feed_latency", text)


if __name__ == "__main__":
    main()
