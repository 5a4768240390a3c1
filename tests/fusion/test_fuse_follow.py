"""`assay fuse --follow`: the real command fusing detections as they arrive (a file being
appended, standard input, CoT events from a socket), each new version published by a running
`assay feed` through taky to a TAK client.

The world: three targets (two vehicles, a person) crossing the flooded town in straight lines,
seen by two sensors every half second with 2 m of noise; the per-scan fusion makes one entity
of each (the accuracy against truth is measured in test_fuse.py on the simulated scenario).
"""

from __future__ import annotations

import json
import math
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from assay.fusion import pictures
from assay.fusion.sources import Observation
from assay.workspace import Workspace
from feed_peers import CotClient, Taky, free_port
from ports import start_on_free_port

T0 = datetime(2026, 7, 25, 17, 20, tzinfo=UTC)
LON0, LAT0 = -95.35, 29.75
M_LON = 111_320.0 * math.cos(math.radians(LAT0))
M_LAT = 110_574.0
TARGETS = [  # label, start east/north (m), velocity (m/s)
    ("vehicle", (0.0, 0.0), (8.0, 0.0)),
    ("vehicle", (0.0, 300.0), (0.0, -6.0)),
    ("person", (400.0, 150.0), (-1.0, 0.5)),
]


def detections(scans: int, start: int = 0, seed: int = 3) -> Iterator[dict[str, object]]:
    """Both sensors' detections of every target, scan by scan (0.5 s apart)."""
    rng = random.Random(seed + start)
    for k in range(start, start + scans):
        t = 0.5 * k
        for sensor in ("drone-a", "drone-b"):
            for label, (x0, y0), (vx, vy) in TARGETS:
                x = x0 + vx * t + rng.gauss(0, 2)
                y = y0 + vy * t + rng.gauss(0, 2)
                yield {
                    "time": (T0 + timedelta(seconds=t)).isoformat().replace("+00:00", "Z"),
                    "label": label,
                    "lon": LON0 + x / M_LON,
                    "lat": LAT0 + y / M_LAT,
                    "sigma_m": 3.0,
                    "sensor": sensor,
                    # Every row states its marking: one without stops the run (unless the
                    # run gives one with --marking), it never goes in at the lowest level.
                    "marking": "CUI" if sensor == "drone-b" else "UNCLASSIFIED",
                }


def lines(rows: Iterator[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def follow_cmd(ws: Workspace, *args: str) -> list[str]:
    return [sys.executable, "-m", "assay", "-w", str(ws.root), "fuse", "flood", "--follow", *args]


def wait_versions(ws: Workspace, n: int, timeout: float = 60) -> list[object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pictures.is_picture(ws, "flood") and len(got := pictures.log(ws, "flood")) >= n:
            return got
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} versions of flood after {timeout} s")


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return out, err


def test_follow_fuses_a_growing_file_then_names_a_bad_line(
    ws: Workspace, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    feed = tmp_path / "dets.jsonl"
    feed.write_text(lines(detections(6)))
    proc = subprocess.Popen(
        follow_cmd(ws, "--from", f"detections:{feed}", "--json"),
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = wait_versions(ws, 1)
        with feed.open("a") as f:  # the sensors go on: twenty more scans, appended as they come
            for k in range(6, 26):
                f.write(lines(detections(1, start=k)))
                f.flush()
                time.sleep(0.02)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            head = pictures.load(ws, "flood")
            if head.stats["scans"] == 26:
                break
            time.sleep(0.1)
        found = pictures.entities(ws, pictures.load(ws, "flood"))
        assert head.stats["observations"] == 26 * 6 and head.stats["late"] == 0
        assert sorted(e.label for e in found) == ["person", "vehicle", "vehicle"]
        assert all(e.sensors == ("drone-a", "drone-b") for e in found)
        assert all(e.marking == "CUI" for e in found)  # drone b's marking carries
        assert {e.last_seen for e in found} == {"2026-07-25T17:20:12.500000Z"}, found
        assert len(pictures.log(ws, "flood")) > len(first)
        saved = len(pictures.log(ws, "flood"))
        with feed.open("a") as f:
            f.write('{"time": "2026-07-25T17:20:13Z", "label": "vehicle", "lon": "east"}\n')
        proc.wait(60)
        _, err = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert f"{feed}, line {26 * 6 + 1}: field 'lon' must be a finite number" in err
    assert "Traceback" not in err
    assert len(pictures.log(ws, "flood")) == saved  # nothing from the bad line


def test_follow_reads_standard_input_until_it_ends(
    ws: Workspace, subprocess_env: dict[str, str]
) -> None:
    res = subprocess.run(
        follow_cmd(ws, "--from", "detections:-", "--json"),
        input=lines(detections(20)),
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["stats"]["observations"] == 20 * 6 and out["stats"]["scans"] == 20
    head = pictures.load(ws, "flood")
    assert head.sources == ("detections:stdin",)
    found = pictures.entities(ws, head)
    assert len(found) == 3 and all(e.status == "confirmed" for e in found)
    # Each entity moves as its target does (vehicle 1: 8 m/s east).
    fast = max(found, key=lambda e: e.velocity[0] if e.velocity else 0)
    assert fast.velocity is not None and abs(fast.velocity[0] - 8.0) < 1.5


def test_follow_refuses_a_track_file_without_markings_unless_the_run_gives_one(
    ws: Workspace, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    tracks = tmp_path / "tracks.csv"
    rows = [
        f"{T0 + timedelta(seconds=k):%Y-%m-%dT%H:%M:%SZ},boat-7,{LON0},{LAT0},boat"
        for k in range(6)
    ]
    tracks.write_text("time,track_id,lon,lat,label\n" + "\n".join(rows) + "\n")
    args = ("--from", f"tracks:{tracks}", "--exit-idle", "0.5", "--json")
    run = {"env": subprocess_env, "capture_output": True, "text": True, "timeout": 120}
    res = subprocess.run(follow_cmd(ws, *args), **run)  # type: ignore[call-overload]
    assert res.returncode == 1 and f"{tracks}, line 2: no marking" in res.stderr
    assert not pictures.is_picture(ws, "flood")
    res = subprocess.run(follow_cmd(ws, *args, "--marking", "CUI"), **run)  # type: ignore[call-overload]
    assert res.returncode == 0, res.stderr
    (boat,) = pictures.entities(ws, pictures.load(ws, "flood"))
    assert boat.marking == "CUI" and boat.detections == 6


def test_follow_refuses_detections_without_a_marking_unless_the_run_gives_one(
    ws: Workspace, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    dets = tmp_path / "dets.jsonl"
    rows = [r if r["sensor"] == "drone-a" else {**r, "marking": ""} for r in detections(6)]
    dets.write_text(lines(iter(rows)))
    args = ("--from", f"detections:{dets}", "--exit-idle", "0.5", "--json")
    run = {"env": subprocess_env, "capture_output": True, "text": True, "timeout": 120}
    res = subprocess.run(follow_cmd(ws, *args), **run)  # type: ignore[call-overload]
    # Drone a states UNCLASSIFIED; drone b's first row (line 4) states nothing.
    assert res.returncode == 1 and f"{dets}, line 4: no marking" in res.stderr, res.stderr
    assert not pictures.is_picture(ws, "flood")
    res = subprocess.run(follow_cmd(ws, *args, "--marking", "CUI"), **run)  # type: ignore[call-overload]
    assert res.returncode == 0, res.stderr
    found = pictures.entities(ws, pictures.load(ws, "flood"))
    assert len(found) == 3 and all(e.marking == "CUI" for e in found)


def test_follow_refuses_to_listen_for_cot_without_a_marking(
    ws: Workspace, subprocess_env: dict[str, str]
) -> None:
    port = free_port()
    res = subprocess.run(
        follow_cmd(ws, "--from", f"cot://127.0.0.1:{port}", "--exit-idle", "0.5"),
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1, res.stderr
    assert f"cot:127.0.0.1:{port}: a network source needs --marking" in res.stderr
    assert "Traceback" not in res.stderr
    assert not pictures.is_picture(ws, "flood")
    # refused before it claims to follow anything
    assert "following" not in res.stdout + res.stderr, res.stdout


def test_a_cot_event_without_a_marking_takes_the_runs_or_is_skipped(ws: Workspace) -> None:
    from assay.fusion.live import cot_observation

    bare = cot_event("boat-team-1", T0, 0.0, 0.0, 6.0, marking=None)
    got = cot_observation(ws, bare, "cot:127.0.0.1:4242", 1, "CUI")
    assert isinstance(got, Observation) and got.marking == "CUI"
    low = cot_event("boat-team-1", T0, 0.0, 0.0, 6.0, marking="UNCLASSIFIED")
    got = cot_observation(ws, low, "cot:127.0.0.1:4242", 2, "CUI")
    assert isinstance(got, Observation) and got.marking == "CUI"  # raised to the run's
    own = cot_event("boat-team-1", T0, 0.0, 0.0, 6.0, marking="CUI/FLOOD")
    got = cot_observation(ws, own, "cot:127.0.0.1:4242", 3, "UNCLASSIFIED")
    assert isinstance(got, Observation) and got.marking == "CUI/FLOOD"
    # Without a marking from anywhere the event is not taken (never at the lowest level).
    skipped = cot_observation(ws, bare, "cot:127.0.0.1:4242", 4)
    assert isinstance(skipped, str) and skipped.startswith("event boat-team-1: no marking")
    assert "--marking M" in skipped


def cot_event(
    uid: str,
    t: datetime,
    east: float,
    north: float,
    ce: float,
    marking: str | None = "CUI/FLOOD",
) -> bytes:
    """An external track point as taky itself encodes events (taky.cot.models)."""
    from taky.cot.models import Detail, Event, Point

    naive = t.astimezone(UTC).replace(tzinfo=None)
    ev = Event(
        uid=uid,
        etype="a-f-G-E-V-C",
        how="m-g",
        time=naive,
        start=naive,
        stale=naive + timedelta(minutes=5),
    )
    ev.point = Point(lat=LAT0 + north / M_LAT, lon=LON0 + east / M_LON, hae=10.0, ce=ce, le=4.0)
    detail = etree.Element("detail")
    if marking is not None:
        etree.SubElement(detail, "marking", text=marking)
    ev.detail = Detail.from_elm(detail)
    return bytes(etree.tostring(ev.as_element))


def test_follow_takes_cot_tracks_from_tcp_and_udp(
    ws: Workspace, subprocess_env: dict[str, str]
) -> None:

    def launch(ports: list[int]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            follow_cmd(
                ws,
                "--from",
                f"cot://127.0.0.1:{ports[0]}",
                "--marking",
                "CUI",  # the network's marking, for events stating none
                "--scan",
                "1",
                "--exit-idle",
                "3",
                "--json",
            ),
            env=subprocess_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    proc, [port] = start_on_free_port(launch, "fuse follow", lambda p: p.communicate()[1])
    try:
        tcp = socket.create_connection(("127.0.0.1", port), timeout=5)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # A boat team's tracker over TCP (a stream of events, split anywhere), a second
        # system's track of the same vehicle over UDP (a datagram an event), both live: a point
        # a second each. The second system marks nothing: its events take the run's CUI.
        for k in range(8):
            when = T0 + timedelta(seconds=k)
            event = cot_event("boat-team-1", when, 5.0 * k, 0.0, 6.0)
            tcp.sendall(event[:50])
            time.sleep(0.01)
            tcp.sendall(event[50:])
            unmarked = cot_event("drone-track-7", when, 5.0 * k + 2, 1.0, 8.0, marking=None)
            udp.sendto(unmarked, ("127.0.0.1", port))
            time.sleep(0.05)
        udp.sendto(b"<event uid='x'", ("127.0.0.1", port))  # not XML: skipped, warned
        tcp.close()
        udp.close()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "not XML" in err
    stats = json.loads(out)["stats"]
    assert (stats["cot_events"], stats["cot_skipped"]) == (17, 1)
    # Every point is used, or counted late: a scan closes after a scan's length of silence,
    # which a sender stalled for a second on a loaded machine can cause.
    assert stats["observations"] + stats["late"] == 16 and stats["late"] <= 2
    [e] = pictures.entities(ws, pictures.load(ws, "flood"))  # two systems, one vehicle
    assert e.label == "vehicle" and e.marking == "CUI/FLOOD"
    assert e.sensors == (f"cot:127.0.0.1:{port}#boat-team-1", f"cot:127.0.0.1:{port}#drone-track-7")
    assert e.covariance is not None and 0 < e.covariance[0] < 36.0  # within one sensor's ce²


@pytest.mark.xdist_group("taky")
def test_follow_to_feed_to_taky(
    ws: Workspace,
    tmp_path: Path,
    taky: Taky,
    cot_client: CotClient,
    subprocess_env: dict[str, str],
) -> None:
    """Detections into `fuse --follow`, its versions out through `assay feed` to a TAK client
    (the path bench/feed_latency.py measures)."""
    dets = tmp_path / "dets.jsonl"
    dets.write_text(lines(detections(4)))
    fuse = subprocess.Popen(
        follow_cmd(ws, "--from", f"detections:{dets}"),
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    feed = None
    try:
        wait_versions(ws, 1)
        feed = subprocess.Popen(
            [sys.executable, "-m", "assay", "-w", str(ws.root), "feed", "flood",
             "--interval", "30", "--to", f"tcp://127.0.0.1:{taky.port}?clearance=CUI"],
            env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert len(cot_client.wait_for(3)) >= 3
        # New scans: with a 30 s look interval, only the saved version's word brings them.
        with dets.open("a") as f:
            f.write(lines(detections(4, start=4)))
        want = "2026-07-25T17:20:03.500000Z"  # the last scan's time
        deadline = time.monotonic() + 30
        latest: dict[str, str] = {}
        while time.monotonic() < deadline:
            for raw in list(cot_client.raw):
                ev = etree.fromstring(raw)
                remarks = ev.findtext("detail/remarks") or ""
                latest[ev.get("uid") or ""] = remarks.split("last seen ")[1].split(";")[0]
            if len(latest) == 3 and all(v == want for v in latest.values()):
                break
            time.sleep(0.05)
        assert len(latest) == 3, latest
        assert all(v == want for v in latest.values()), latest
    finally:
        for p in (fuse, feed):
            if p is not None:
                stop(p)
