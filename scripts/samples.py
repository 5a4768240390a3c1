"""Generated civilian sample data: aerial-style scenes of a flooded town and field reports.

Used by the demo and the benchmarks. Everything is drawn from a seeded generator, so the
same seed gives the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("building", "vehicle", "person")
DAMAGE = ("none", "minor", "destroyed")
W, H = 640, 480

REPORT_TEMPLATES = (
    "Water over the road at {street}; {n} residents waiting on rooftops.",
    "Bridge on {street} partly collapsed, no vehicle traffic possible.",
    "Shelter at {place} reports {n} people registered, drinking water low.",
    "Power line down across {street}, crews requested.",
    "Search team cleared {n} houses near {place}; two people evacuated by boat.",
)
STREETS = ("Mill Road", "River Street", "Route 9", "Station Lane", "Church Hill")
PLACES = ("the school gym", "the fire station", "the town hall", "St. Anne's church")


@dataclass
class Box:
    label: str
    x: float
    y: float
    w: float
    h: float


def draw_scene(rng: np.random.Generator) -> tuple[Image.Image, list[Box], str]:
    """A top-down flood scene: land, floodwater, buildings, vehicles and people."""
    img = Image.new("RGB", (W, H), (96, 120, 72))
    d = ImageDraw.Draw(img)
    water_top = int(rng.integers(180, 320))
    d.rectangle([0, water_top, W, H], fill=(58, 92, 128))
    for _ in range(40):  # ripples
        x, y = int(rng.integers(0, W)), int(rng.integers(water_top, H))
        d.line([x, y, x + int(rng.integers(8, 30)), y], fill=(84, 118, 150))
    boxes: list[Box] = []
    for _ in range(int(rng.integers(2, 6))):
        w, h = int(rng.integers(40, 110)), int(rng.integers(40, 90))
        x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
        d.rectangle([x, y, x + w, y + h], fill=(150, 140, 130), outline=(60, 50, 40), width=3)
        d.line([x, y, x + w, y + h], fill=(120, 110, 100), width=2)
        boxes.append(Box("building", x, y, w, h))
    for _ in range(int(rng.integers(1, 5))):
        w, h = int(rng.integers(16, 30)), int(rng.integers(9, 14))
        x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
        colour = tuple(int(c) for c in rng.integers(40, 230, 3))
        d.rectangle([x, y, x + w, y + h], fill=colour)
        boxes.append(Box("vehicle", x, y, w, h))
    for _ in range(int(rng.integers(0, 4))):
        x, y = int(rng.integers(0, W - 8)), int(rng.integers(0, H - 8))
        d.ellipse([x, y, x + 7, y + 7], fill=(230, 60, 40))
        boxes.append(Box("person", x, y, 7, 7))
    damage = DAMAGE[int(rng.integers(0, 3))]
    return img, boxes, damage


def report(rng: np.random.Generator, i: int) -> dict[str, object]:
    template = REPORT_TEMPLATES[int(rng.integers(0, len(REPORT_TEMPLATES)))]
    text = template.format(
        street=STREETS[int(rng.integers(0, len(STREETS)))],
        place=PLACES[int(rng.integers(0, len(PLACES)))],
        n=int(rng.integers(2, 40)),
    )
    return {"text": text, "report_id": f"FR-{1000 + i}", "team": f"team-{i % 4 + 1}"}


def ls_result(box: Box, rid: str) -> dict[str, object]:
    return {
        "id": rid,
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": W,
        "original_height": H,
        "image_rotation": 0,
        "value": {
            "x": round(box.x / W * 100, 4),
            "y": round(box.y / H * 100, 4),
            "width": round(box.w / W * 100, 4),
            "height": round(box.h / H * 100, 4),
            "rotation": 0,
            "rectanglelabels": [box.label],
        },
    }


def write_flood_town(out: Path, scenes: int = 24, reports: int = 30, seed: int = 7) -> None:
    """scenes/*.png, reports/field_reports.jsonl and two Label Studio exports (v1, v2)."""
    rng = np.random.default_rng(seed)
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    (out / "reports").mkdir(parents=True, exist_ok=True)
    tasks_v1, tasks_v2 = [], []
    for i in range(scenes):
        img, boxes, damage = draw_scene(rng)
        name = f"scene_{i:03d}.png"
        img.save(out / "scenes" / name)
        annotator = 1 + i % 3
        results = [ls_result(b, f"r{i:03d}{j:02d}") for j, b in enumerate(boxes)]
        choice = {
            "id": f"c{i:03d}",
            "from_name": "damage",
            "to_name": "image",
            "type": "choices",
            "value": {"choices": [damage]},
        }
        data = {"image": f"/data/local-files/?d=scenes/{name}", "sensor": "uav-ortho"}
        tasks_v1.append(_task(i, data, [*results, choice], annotator))
        # v2: a reviewer corrects a few scenes: relabels a box, tightens another, adds a person.
        fixed = json.loads(json.dumps(results))
        if i % 4 == 0 and fixed:
            swapped = "vehicle" if boxes[0].label != "vehicle" else "building"
            fixed[0]["value"]["rectanglelabels"] = [swapped]
        if i % 5 == 1 and len(fixed) > 1:
            fixed[1]["value"]["x"] = round(fixed[1]["value"]["x"] + 1.5, 4)
        if i % 6 == 2:
            fixed.append(ls_result(Box("person", 300, 200, 7, 7), f"r{i:03d}99"))
        tasks_v2.append(_task(i, data, [*fixed, choice], 4 if i % 4 == 0 else annotator))
    (out / "labels_v1.json").write_text(json.dumps(tasks_v1, indent=1))
    (out / "labels_v2.json").write_text(json.dumps(tasks_v2, indent=1))
    with (out / "reports" / "field_reports.jsonl").open("w") as fh:
        for i in range(reports):
            fh.write(json.dumps(report(rng, i)) + "\n")


def _task(i: int, data: dict[str, object], result: list[object], user: int) -> dict[str, object]:
    return {
        "id": 1000 + i,
        "data": data,
        "annotations": [
            {
                "id": 5000 + i + 100 * user,
                "completed_by": user,
                "result": result,
                "was_cancelled": False,
                "ground_truth": False,
                "created_at": f"2026-11-2{user}T10:{i % 60:02d}:00.000000Z",
                "lead_time": 12.5 + i % 7,
            }
        ],
        "predictions": [],
    }
