"""A simulated world to measure fusion against: `assay simulate scenario OUT`.

Vehicles and people move through the flooded town (constant velocity with small random
accelerations, turning back at the edge of the area). Two drones fly over it, slowly and in
opposite directions, each recording H.264 video with MISB ST 0601 KLV (`ingest.sensors.synth`).
A detector sees every target in a drone's view with probability `p_detect`, at the pixel the
drone's camera model puts it plus pixel noise and the drone's own georegistration bias (a
constant offset on the ground, as real telemetry has), and reports clutter (false
detections) at random pixels. Field reports mention some targets by type in free text with a
location a few tens of metres off. Everything follows from the seed.

Files written to OUT:
    flight-a.ts, flight-b.ts   the two drones' video with KLV (`assay ingest --every SCAN`)
    scene.tif                  a georeferenced scene of the town (UTM 15N)
    detections.jsonl           one detection a line: item (frame name), label, box, score
    reports.jsonl              field reports: id, time, text, lon, lat, cep_m, spans, marking
                               (UNCLASSIFIED: the simulator states it, as a source must)
    truth.csv                  ground truth: time, id, label, lon, lat (one row a target a scan)
    scenario.json              the configuration and counts
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from assay.domain.geo import homography
from assay.errors import InvalidInput

__all__ = ["DRONES", "Scenario", "simulate"]

ORIGIN = (-95.3698, 29.7604)  # lon, lat: where the generated flight starts
M_PER_DEG_LAT = 110_852.0  # at 29.76° N (WGS84)
M_PER_DEG_LON = 96_700.0
SIZES = {"vehicle": (4.5, 2.0), "person": (0.7, 0.7)}
SPEEDS = {"vehicle": (2.5, 5.0), "person": (0.6, 1.4)}
AREA = (45.0, 55.0)  # targets stay within ±east, ±north metres of ORIGIN
# Drone name -> (east offset of its start, m; heading; altitude, m).
DRONES: dict[str, tuple[float, float, float]] = {
    "a": (-20.0, 90.0, 300.0),
    "b": (20.0, 270.0, 280.0),
}
DRONE_SPEED = 2.0


@dataclass(frozen=True)
class Scenario:
    """What to simulate; every field has a sensible default (`assay simulate scenario -h`)."""

    seed: int = 7
    seconds: float = 20.0
    scan_s: float = 0.5
    vehicles: int = 3
    people: int = 3
    p_detect: float = 0.9
    clutter: float = 0.3  # mean false detections a frame
    pixel_sigma: float = 1.0
    bias_m: float = 5.0  # each drone's georegistration bias on the ground
    reports: int = 4
    fps: int = 10
    media: bool = True  # write the videos and the scene (off: only the tables)
    model: str = "model:flood-detector@1"
    counts: dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        if not (0 < self.scan_s <= self.seconds):
            raise InvalidInput("scan interval must be positive and at most the duration")
        if not 0 <= self.p_detect <= 1:
            raise InvalidInput("p_detect must be between 0 and 1")
        if self.vehicles < 0 or self.people < 0 or self.vehicles + self.people == 0:
            raise InvalidInput("a scenario needs at least one vehicle or person")
        if round(self.scan_s * self.fps, 6) % 1:
            raise InvalidInput(f"scan interval {self.scan_s} s is not a whole number of frames")


def to_lonlat(east: float, north: float) -> tuple[float, float]:
    return ORIGIN[0] + east / M_PER_DEG_LON, ORIGIN[1] + north / M_PER_DEG_LAT


def _flight(name: str) -> Any:
    from assay.ingest.sensors.synth import Flight

    east, heading, altitude = DRONES[name]
    lon, lat = to_lonlat(east, 0.0)
    return Flight(lat=lat, lon=lon, altitude_m=altitude, heading=heading, speed_mps=DRONE_SPEED)


def _to_pixel(flight: Any, t: float, width: int, height: int) -> np.ndarray:
    """The homography from (lon, lat) to pixels of the frame at `t`."""
    from assay.ingest.sensors.synth import telemetry_at

    v: dict[str, Any] = dict(telemetry_at(flight, t))
    corners = [
        (float(v[f"corner_longitude_{k}"]), float(v[f"corner_latitude_{k}"])) for k in range(1, 5)
    ]
    return homography(corners, [(0, 0), (width, 0), (width, height), (0, height)])


def _truth(cfg: Scenario, rng: np.random.Generator, times: np.ndarray) -> list[dict[str, Any]]:
    labels = ["vehicle"] * cfg.vehicles + ["person"] * cfg.people
    rows: list[dict[str, Any]] = []
    for k, label in enumerate(labels):
        pos = rng.uniform((-AREA[0] * 0.8, -AREA[1] * 0.8), (AREA[0] * 0.8, AREA[1] * 0.8))
        speed, course = rng.uniform(*SPEEDS[label]), rng.uniform(0, 2 * math.pi)
        vel = np.array([math.sin(course), math.cos(course)]) * speed
        for i, t in enumerate(times):
            if i:
                vel = vel + rng.normal(0, 0.05 * speed, 2) * cfg.scan_s
                pos = pos + vel * cfg.scan_s
                for axis in (0, 1):  # turn back at the edge of the area
                    if abs(pos[axis]) > AREA[axis]:
                        vel[axis] = -vel[axis]
                        pos[axis] = math.copysign(AREA[axis], pos[axis])
            lon, lat = to_lonlat(float(pos[0]), float(pos[1]))
            rows.append(
                {
                    "time": float(t),
                    "id": f"{label}-{k + 1}",
                    "label": label,
                    "lon": lon,
                    "lat": lat,
                    "east": float(pos[0]),
                    "north": float(pos[1]),
                }
            )
    return rows


def written_files(cfg: Scenario) -> set[str]:
    """The files `simulate` writes into its folder for `cfg`."""
    tables = {"detections.jsonl", "reports.jsonl", "truth.csv", "scenario.json"}
    media = ({f"flight-{name}.ts" for name in DRONES} | {"scene.tif"}) if cfg.media else set()
    return tables | media


def _check_out(cfg: Scenario, out: Path) -> None:
    """Refuse a folder that is not new, empty, or an earlier scenario's with only files this
    one replaces (as exports refuse a folder of other files): replacing some of someone's
    files, or leaving old ones beside the new, would pass unnoticed."""
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out}: exists and is not a folder")
    found = sorted(
        Path(dirpath, fn).relative_to(out).as_posix()
        for dirpath, _dirs, files in os.walk(out)
        for fn in files
    )
    if not found:
        return
    if "scenario.json" not in found:
        raise InvalidInput(
            f"{out}: not empty and not a scenario's folder (no scenario.json; first file: "
            f"{found[0]}); write into a new or empty folder"
        )
    stale = [f for f in found if f not in written_files(cfg)]
    if stale:
        raise InvalidInput(
            f"{out}: holds {len(stale)} file(s) this scenario does not write (first: "
            f"{stale[0]}), which would be read as part of it; write into a new or empty "
            "folder, or remove that one first"
        )


def simulate(cfg: Scenario, out: Path, width: int = 320, height: int = 240) -> Scenario:
    """Write the scenario to the folder `out`: a new or empty one, or an earlier scenario's
    holding only files this one writes (they are replaced).

    Raises:
        InvalidInput: a bad setting, or `out` holds other files (nothing is written).
    """
    from assay.ingest.sensors.synth import START_US, write_flight, write_scene

    cfg.check()
    _check_out(cfg, out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    times = np.arange(0, cfg.seconds - 1e-9, cfg.scan_s)
    truth = _truth(cfg, rng, times)
    start = datetime.fromtimestamp(START_US / 1e6, tz=UTC)
    detections: list[dict[str, Any]] = []
    for k, name in enumerate(DRONES):
        flight = _flight(name)
        bias = rng.normal(0, cfg.bias_m / math.sqrt(2), 2)
        for t in times:
            h = _to_pixel(flight, float(t), width, height)
            frame = f"flight-{name}.ts#t={t:.3f}"
            for row in (r for r in truth if r["time"] == t):
                if rng.random() > cfg.p_detect:
                    continue
                lon, lat = to_lonlat(row["east"] + bias[0], row["north"] + bias[1])
                u, v, w = h @ np.array([lon, lat, 1.0])
                x, y = (
                    u / w + rng.normal(0, cfg.pixel_sigma),
                    v / w + rng.normal(0, cfg.pixel_sigma),
                )
                if not (0 <= x < width and 0 <= y < height):
                    continue
                detections.append(_det(frame, row["label"], x, y, rng.uniform(0.55, 0.95), cfg))
            for _ in range(rng.poisson(cfg.clutter)):
                label = str(rng.choice(["vehicle", "person"]))
                x, y = rng.uniform(0, width), rng.uniform(0, height)
                detections.append(_det(frame, label, x, y, rng.uniform(0.3, 0.6), cfg))
        if cfg.media:
            write_flight(
                out / f"flight-{name}.ts",
                seconds=cfg.seconds,
                fps=cfg.fps,
                width=width,
                height=height,
                flight=flight,
                seed=cfg.seed + k,
            )
    if cfg.media:
        write_scene(out / "scene.tif", size=1024, seed=cfg.seed)
    reports = _reports(cfg, rng, truth, start)
    _write_jsonl(out / "detections.jsonl", detections)
    _write_jsonl(out / "reports.jsonl", reports)
    with (out / "truth.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "id", "label", "lon", "lat"])
        for r in truth:
            when = (start + timedelta(seconds=r["time"])).isoformat().replace("+00:00", "Z")
            w.writerow([when, r["id"], r["label"], f"{r['lon']:.8f}", f"{r['lat']:.8f}"])
    counts = {
        "targets": cfg.vehicles + cfg.people,
        "scans": len(times),
        "detections": len(detections),
        "reports": len(reports),
    }
    done = Scenario(**{**asdict(cfg), "counts": counts})
    (out / "scenario.json").write_text(json.dumps(asdict(done), indent=2) + "\n")
    return done


def _det(frame: str, label: str, x: float, y: float, score: float, cfg: Scenario) -> dict[str, Any]:
    w, h = SIZES[label]
    gsd = 0.68  # metres a pixel at 300 m with a 40° field of view over 320 pixels
    bw, bh = max(2.0, w / gsd), max(2.0, h / gsd)
    box = [round(x - bw / 2, 2), round(y - bh / 2, 2), round(bw, 2), round(bh, 2)]
    return {
        "item": frame,
        "label": label,
        "box": box,
        "score": round(float(score), 3),
        "model": cfg.model,
    }


def _reports(
    cfg: Scenario, rng: np.random.Generator, truth: list[dict[str, Any]], start: datetime
) -> list[dict[str, Any]]:
    words = {"vehicle": "a vehicle", "person": "a person"}
    places = ["by the school", "near the north bridge", "on Main Street", "at the sports hall"]
    out = []
    for k in range(cfg.reports):
        row = truth[int(rng.integers(0, len(truth)))]
        east, north = row["east"] + rng.normal(0, 15), row["north"] + rng.normal(0, 15)
        lon, lat = to_lonlat(east, north)
        what = words[row["label"]]
        text = f"Field report: {what} seen {places[k % len(places)]}, moving slowly through water."
        begin = text.index(what) + 2
        when = (start + timedelta(seconds=row["time"])).isoformat().replace("+00:00", "Z")
        out.append(
            {
                "id": f"report-{k + 1}",
                "time": when,
                "text": text,
                "lon": round(lon, 7),
                "lat": round(lat, 7),
                "cep_m": 30.0,
                "marking": "UNCLASSIFIED",
                "spans": [
                    {"start": begin, "end": begin + len(row["label"]), "label": row["label"]}
                ],
                "truth": row["id"],
            }
        )
    return out


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
