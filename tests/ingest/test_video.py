"""Drone video ingest: frames as derived items with telemetry, footprints checked against
pyproj, sampling options, markings from the KLV security set, and bad input."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from sqlalchemy import update

from assay import Workspace
from assay.ingest.sensors.footprint import footprint
from assay.ingest.sensors.synth import Flight, write_flight
from assay.store.schema import items
from blob_stacks import stacks
from item_rows import item_rows

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()


def _local_to_lonlat(lon0: float, lat0: float, east: float, north: float) -> tuple[float, float]:
    """Independently of assay: an azimuthal equidistant projection centred on the point."""
    aeqd = Transformer.from_crs(
        f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m", "EPSG:4326", always_xy=True
    )
    lon, lat = aeqd.transform(east, north)
    return lon, lat


def test_flight_becomes_a_video_item_and_frames_with_telemetry(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    packets = write_flight(tmp_path / "flight.ts", seconds=4, klv_hz=10)
    res = cli("ingest", tmp_path / "flight.ts", "--json").json()
    assert (res["new"], res["failed"], res["notes"]) == (5, 0, [])
    video, *frames = item_rows(tmp_path)
    assert video["media_type"] == "video/mp2t" and video["parent_id"] is None
    assert video["metadata"]["klv"]["packets"] == len(packets) == 40
    assert video["metadata"]["mission_id"] == "FLOOD-RECON-7"
    assert video["metadata"]["captured_at"] == "2026-07-25T17:20:00Z"
    assert [f["metadata"]["frame"]["time_s"] for f in frames] == [0.0, 1.0, 2.0, 3.0]
    for k, f in enumerate(frames):
        assert f["media_type"] == "image/jpeg" and f["parent_id"] == video["id"]
        derivation = json.loads(f["derivation"])
        assert (derivation["frame"], derivation["time_s"]) == (30 * k, float(k))
        assert derivation["pts"] == f["metadata"]["frame"]["pts"]
        meta = f["metadata"]
        # Packets every 0.1 s, one exactly at each sampled frame.
        assert meta["klv_offset_s"] == 0.0
        assert meta["telemetry"]["precision_time_stamp"] == 1_785_000_000_000_000 + k * 10**6
        assert meta["footprint_method"] == "corners"
        ring = meta["footprint"]["coordinates"][0]
        assert len(ring) == 5 and ring[0] == ring[-1]
        # The drone flies east at 15 m/s: frame centre k seconds along, checked with pyproj.
        lon, lat = _local_to_lonlat(-95.3698, 29.7604, 15.0 * k, 0.0)
        assert meta["geo"]["lon"] == pytest.approx(lon, abs=1e-6)
        assert meta["geo"]["lat"] == pytest.approx(lat, abs=1e-6)
    again = cli("ingest", tmp_path / "flight.ts", "--json").json()
    assert (again["new"], again["duplicate"]) == (0, 5)


def _nadir_values(flight: Flight) -> dict[str, object]:
    return {
        "sensor_latitude": flight.lat,
        "sensor_longitude": flight.lon,
        "sensor_true_altitude": flight.altitude_m,
        "sensor_horizontal_fov": flight.hfov,
        "sensor_vertical_fov": flight.vfov,
        "platform_heading": flight.heading,
        "sensor_relative_elevation": -90.0,
    }


@pytest.mark.parametrize("heading", [0.0, 90.0, 225.0])
def test_footprint_from_sensor_geometry_matches_pyproj(heading: float) -> None:
    fl = Flight(heading=heading, altitude_m=400.0, hfov=50.0, vfov=35.0)
    fp = footprint(_nadir_values(fl), 1280, 720)
    assert fp is not None and fp.method == "sensor_geometry"
    half_w = 400.0 * math.tan(math.radians(25.0))
    half_h = 400.0 * math.tan(math.radians(17.5))
    h = math.radians(heading)
    fwd, right = np.array([math.sin(h), math.cos(h)]), np.array([math.cos(h), -math.sin(h)])
    # UL, UR, LR, LL: image up is the direction of flight for a nadir camera.
    local = ((-half_w, half_h), (half_w, half_h), (half_w, -half_h), (-half_w, -half_h))
    for corner, (r, f) in zip(fp.corners, local, strict=True):
        east, north = r * right + f * fwd
        lon, lat = _local_to_lonlat(fl.lon, fl.lat, float(east), float(north))
        assert corner == pytest.approx((lon, lat), abs=2e-7)  # ~2 cm


def test_footprint_from_target_width_and_from_offset_corners() -> None:
    center = {"frame_center_latitude": 29.76, "frame_center_longitude": -95.37}
    fp = footprint({**center, "target_width": 200.0, "platform_heading": 0.0}, 400, 300)
    assert fp is not None and fp.method == "target_width"
    ul_lon, ul_lat = _local_to_lonlat(-95.37, 29.76, -100.0, 75.0)
    assert fp.corners[0] == pytest.approx((ul_lon, ul_lat), abs=2e-7)
    offsets = {
        f"offset_corner_{a}_{k}": (0.001 * k if a == "latitude" else -0.002 * k)
        for k in range(1, 5)
        for a in ("latitude", "longitude")
    }
    fp = footprint({**center, **offsets}, 400, 300)
    assert fp is not None and fp.method == "offset_corners"
    assert fp.corners[2] == pytest.approx((-95.37 - 0.006, 29.76 + 0.003))
    assert footprint({"sensor_latitude": 1.0}, 10, 10) is None


def test_sparse_telemetry_is_interpolated_and_headings_wrap(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "sparse.ts", seconds=3, klv_hz=0.4, flight=Flight(heading=359.0))
    cli("ingest", tmp_path / "sparse.ts", "--every", "0.5")
    _, *frames = item_rows(tmp_path)
    # Packets at 0 s and 2.5 s: the frame at 1 s lies between them.
    one = next(f for f in frames if f["metadata"]["frame"]["time_s"] == 1.0)
    assert one["metadata"]["klv_interpolated"] is True
    assert one["metadata"]["klv_offset_s"] == pytest.approx(1.0)
    east, north = 15.0 * math.sin(math.radians(359)), 15.0 * math.cos(math.radians(359))
    lon, lat = _local_to_lonlat(-95.3698, 29.7604, east, north)
    assert one["metadata"]["geo"] == pytest.approx({"lat": lat, "lon": lon}, abs=1e-6)
    assert 358.9 < one["metadata"]["telemetry"]["platform_heading"] < 359.1


def test_frames_far_outside_the_telemetry_are_noted(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Telemetry from 2.6 s on (5 Hz from 2.5 s): the frames at 0 s and 1 s carry the first
    # packet's position and time, 2.6 s and 1.6 s away (39 m and 24 m at 15 m/s). Ingest said
    # nothing of it.
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "late.ts", seconds=4, klv_hz=5, klv_from_s=2.5)
    res = cli("ingest", tmp_path / "late.ts", "--json").json()
    assert res["new"] == 5
    notes = [n["note"] for n in res["notes"]]
    assert notes == [
        "2 frame(s) more than 1 s before the first KLV packet or after the last (up to 2.6 s): "
        "they carry that packet's time and position (klv_offset_s)"
    ]
    _, *frames = item_rows(tmp_path)
    first = next(f for f in frames if f["metadata"]["frame"]["time_s"] == 0.0)
    assert first["metadata"]["klv_offset_s"] == pytest.approx(-2.6, abs=0.01)
    # Telemetry throughout: no such note.
    write_flight(tmp_path / "full.ts", seconds=2, klv_hz=5, seed=4)
    assert cli("ingest", tmp_path / "full.ts", "--json").json()["notes"] == []


def test_frames_another_video_holds_already_are_noted(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Two flights over the same terrain (here: the same generated pixels, as a re-encode or a
    # black lead-in gives): the second video's frames are items of the first, named and
    # parented there. Ingest said "1 new, 4 duplicate" and nothing else; the second video had
    # no frames of its own, and `fuse` then found no `copy.ts#t=1.000`.
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "a.ts", seconds=2, klv_hz=5)
    write_flight(tmp_path / "copy.ts", seconds=2, klv_hz=5, corners=False)  # other KLV
    assert cli("ingest", tmp_path / "a.ts", "--json").json()["notes"] == []
    res = cli("ingest", tmp_path / "copy.ts", "--json").json()
    assert (res["new"], res["duplicate"]) == (1, 2)
    assert [n["note"] for n in res["notes"]] == [
        "2 frame(s) or chip(s) have the bytes of items made from another file: they stay that "
        "file's (name, parent, metadata) and are not listed under this one"
    ]
    # The same file again is no such case: its frames are its own.
    assert cli("ingest", tmp_path / "a.ts", "--json").json()["notes"] == []


def test_sampling_options(cli, tmp_path: Path, new_database) -> None:  # type: ignore[no-untyped-def]
    write_flight(tmp_path / "f.ts", seconds=4)
    for n, (args, frames) in enumerate(
        (
            (("--every", "0.5"), 8),
            (("--max-frames", "2"), 2),
            (("--every", "10"), 1),
            (("--every", "0", "--dedup", "64"), 1),  # every frame is "the same" at distance 64
        )
    ):
        ws = tmp_path / f"ws{n}"
        new_database()  # each option in a fresh workspace, on PostgreSQL too
        Workspace.init(ws).close()
        res = cli("ingest", tmp_path / "f.ts", *args, "--json", cwd=ws).json()
        assert res["new"] == 1 + frames, args


def test_scene_change_keeps_the_cut(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import av

    path = tmp_path / "cut.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            shade = 30 if i < 17 else 220  # a hard cut at 1.7 s
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), shade, np.uint8), "rgb24")
            frame.pts = i
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
    Workspace.init(tmp_path / "ws").close()
    res = cli(
        "ingest", path, "--every", "10", "--scene-change", "0.3", "--json", cwd=tmp_path / "ws"
    )
    _, *frames = item_rows(tmp_path / "ws")
    assert [f["metadata"]["frame"]["index"] for f in frames] == [0, 17], res.stdout
    # A video without KLV is ingested in a clearly reported degraded mode.
    assert "no MISB ST 0601 telemetry" in res.json()["notes"][0]["note"]
    assert all("footprint" not in f["metadata"] for f in frames)


def test_bad_klv_lenient_records_strict_refuses(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "bad.ts", seconds=2, bad_checksum_every=4, wrong_length_every=6)
    strict = cli("ingest", tmp_path / "bad.ts", "--klv", "strict", "--json", code=None).json()
    assert strict["new"] == 0 and "checksum" in strict["failures"][0]["reason"]
    assert item_rows(tmp_path) == []  # nothing partial
    res = cli("ingest", tmp_path / "bad.ts")
    assert "KLV: " in res.stderr and "problem(s)" in res.stderr
    video = item_rows(tmp_path)[0]
    problems = video["metadata"]["klv"]["problem_list"]
    assert any("checksum" in p for p in problems)
    assert any("tag 5 (platform_heading): 3 bytes, expected 2" in p for p in problems)


def test_corrupt_video_is_one_clear_failure(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    (tmp_path / "broken.ts").write_bytes(b"\x47" + bytes(range(256)) * 40)
    res = cli("ingest", tmp_path / "broken.ts", "--json", code=None).json()
    assert res["new"] == 0 and res["failed"] == 1
    assert res["failures"][0]["path"].endswith("broken.ts")
    assert item_rows(tmp_path) == []


def test_klv_security_classification_raises_the_marking(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "s.ts", seconds=1, classification="SECRET")
    cli("ingest", tmp_path / "s.ts", "--marking", "CUI/FLOOD")
    assert {r["marking"] for r in item_rows(tmp_path)} == {"SECRET/FLOOD"}
    # RESTRICTED is not a level of the default scheme: the next one above it is used.
    write_flight(tmp_path / "r.ts", seconds=1, classification="RESTRICTED", seed=3)
    cli("ingest", tmp_path / "r.ts")
    assert {r["marking"] for r in item_rows(tmp_path) if r["name"].startswith("r.ts")} == {
        "CONFIDENTIAL"
    }


def test_reingesting_a_video_raises_frames_to_its_klv_level(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An item met again with a higher declared level is raised (never lowered)."""
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "s.ts", seconds=1, classification="SECRET")
    cli("ingest", tmp_path / "s.ts")
    with Workspace.open(tmp_path) as ws, ws.db.begin() as conn:
        conn.execute(update(items).values(marking="CUI"))  # as if ingested before the KLV was read
    res = cli("ingest", tmp_path / "s.ts", "--json").json()
    assert len(res["raised"]) == 2
    assert {r["marking"] for r in item_rows(tmp_path)} == {"SECRET"}


@pytest.mark.parametrize("container,suffix", [("mp4", ".mp4"), ("matroska", ".mkv")])
def test_video_cut_short_is_one_clear_failure(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, container: str, suffix: str
) -> None:
    # A copy that stopped early: its header still declares the whole flight, the frames of
    # its last part are gone. The part that is there decodes, so nothing would say so.
    Workspace.init(tmp_path).close()
    whole = tmp_path / f"whole{suffix}"
    write_flight(whole, seconds=4, klv_stream=False, container=container)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) * 7 // 10])
    res = cli("ingest", cut, "--json", code=None).json()
    assert res["new"] == 0 and res["failed"] == 1
    reason = res["failures"][0]["reason"]
    assert res["failures"][0]["path"].endswith(f"cut{suffix}")
    declared = r"of the (120 frames|4\.000 s) its header declares"
    assert re.search(r"video ends early: \d+(\.\d+ s)? " + declared, reason), reason
    assert item_rows(tmp_path) == []  # nothing partial
    # The whole file goes in: its header and its frames agree.
    ok = cli("ingest", whole, "--json").json()
    assert ok["new"] == 5 and ok["failed"] == 0


def test_damaged_packets_of_a_stream_are_noted_and_kept(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A recording off a radio link with a burst of noise in it: MPEG-TS decodes past it (the
    # frames near it show artefacts), so the flight goes in, and ingest says where.
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "f.ts", seconds=4, klv_hz=2)
    data = bytearray((tmp_path / "f.ts").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20_000] = np.random.default_rng(3).bytes(20_000)
    (tmp_path / "noisy.ts").write_bytes(bytes(data))
    res = cli("ingest", tmp_path / "noisy.ts", "--json").json()
    assert res["failed"] == 0 and res["new"] >= 1
    notes = [n["note"] for n in res["notes"] if n["path"].endswith("noisy.ts")]
    damaged = [n for n in notes if "damaged video packet(s)" in n]
    assert len(damaged) == 1 and re.search(r"first at \d+\.\d{3} s", damaged[0]), notes
    video = next(r for r in item_rows(tmp_path) if r["name"] == "noisy.ts")
    times = video["metadata"]["video"]["damaged_packets_s"]
    assert times and all(0 < t < 4 for t in times)


@pytest.mark.parametrize("inside_a_packet", [True, False])
def test_mpegts_cut_off_is_noted_and_kept(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, inside_a_packet: bool
) -> None:
    # A recording cut off mid-flight: MPEG-TS states no length, so it goes in as far as it
    # goes, but where it ends (inside a TS packet, or inside the PES of a frame at a packet's
    # end) says it was cut; it went in without a word.
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "f.ts", seconds=4, klv_hz=2)
    data = (tmp_path / "f.ts").read_bytes()
    end = len(data) * 7 // 10 // 188 * 188 + (100 if inside_a_packet else 0)
    (tmp_path / "cut.ts").write_bytes(data[:end])
    res = cli("ingest", tmp_path / "cut.ts")
    assert "cut.ts: MPEG-TS cut off" in res.stderr, res.stderr
    video = next(r for r in item_rows(tmp_path) if r["name"] == "cut.ts")
    found = video["metadata"]["video"]["cut_off"]
    assert ("ends 100 bytes into a 188-byte TS packet" in found) is inside_a_packet
    assert "ends inside a PES packet of the video stream (PID 256)" in " ".join(found), found
    assert 1 < video["metadata"]["video"]["frames_sampled"] < 4  # as far as it goes
    # The whole recording ends where a stream ends: nothing to say.
    whole = cli("ingest", tmp_path / "f.ts", "--json").json()
    assert not [n for n in whole["notes"] if "cut off" in n["note"]], whole["notes"]
    assert (
        "cut_off"
        not in next(r for r in item_rows(tmp_path) if r["name"] == "f.ts")["metadata"]["video"]
    )


def test_reingest_with_other_options_keeps_the_item_and_says_what_differs(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    # The same bytes are the same item, so a second ingest with other KLV, sampling or source
    # options keeps the first metadata; it did so without a word, as if the options applied.
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "f.ts", seconds=2, klv_hz=2)
    cli("ingest", tmp_path / "f.ts")
    first = {r["id"]: r["metadata"] for r in item_rows(tmp_path)}
    same = cli("ingest", tmp_path / "f.ts", "--json").json()
    assert (same["duplicate"], same["notes"]) == (3, [])
    res = cli("ingest", tmp_path / "f.ts", "--klv", "strict", "--every", "2", "--source", "drone-b")
    assert "f.ts: 2 item(s) of this file were ingested before with other metadata" in res.stderr
    differs = re.search(r"differing in ([^)]*)\)", res.stderr)
    assert differs, res.stderr
    assert set(differs.group(1).split(", ")) == {
        "klv.mode",
        "source",
        "video.frames_sampled",
        "video.sampling.every_s",
    }
    # The items keep the metadata they were made with.
    assert {r["id"]: r["metadata"] for r in item_rows(tmp_path)} == first


def test_a_quicktime_mov_is_a_video(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Many drones (DJI's among them) record QuickTime .MOV files, upper-case suffix and all.
    Workspace.init(tmp_path).close()
    write_flight(tmp_path / "DJI_0001.MOV", seconds=2, klv_stream=False, container="mov")
    res = cli("ingest", tmp_path / "DJI_0001.MOV", "--json").json()
    assert (res["new"], res["failed"]) == (3, 0), res
    video = next(r for r in item_rows(tmp_path) if r["name"] == "DJI_0001.MOV")
    assert video["media_type"] == "video/quicktime"
    assert video["metadata"]["video"]["frames_sampled"] == 2
