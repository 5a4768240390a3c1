"""What the video tests share: a generated drone flight as dataset `flight`, a schema with
declared track attributes, and each frame's stored answer."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from assay.domain.labels import Region, payload_from_json
from assay.ingest.sensors.synth import write_flight
from assay.store.schema import annotations_table, items
from assay.workspace import Workspace

# Vehicles and boats that may start or stop moving along a track; a vehicle's colour is fixed.
MOVING_TRAFFIC_SCHEMA = """
title: Moving traffic
controls:
  - name: label
    type: boxes
    attributes:
      - {name: moving, type: checkbox}
    labels:
      - name: vehicle
        attributes:
          - {name: colour, type: select, values: [grey, red], mutable: false}
      - boat
      - person
"""


def flight_dataset(
    ws: Workspace, folder: Path, seconds: int = 5, marking: str | None = None
) -> None:
    """Ingest a `seconds`-long flight (one frame a second) and put its frames in `flight`."""
    write_flight(folder / "flight.ts", seconds=seconds, klv_hz=5)
    ws.ingest([folder / "flight.ts"], marking=marking)
    ws.create_dataset("flight")
    ws.add_items("flight", "media_type=image/jpeg")


def frame_answers(ws: Workspace) -> dict[int, list[Region]]:
    """Each frame's newest human answer, by frame index (the frames are 1 s apart)."""
    t = annotations_table
    with ws.db.read() as conn:
        rows = conn.execute(
            select(items.c.derivation, t.c.payload)
            .join(items, items.c.id == t.c.item_id)
            .where(t.c.kind == "human")
            .order_by(t.c.created, t.c.id)
        ).all()
    return {round(json.loads(d)["time_s"]): payload_from_json(p) for d, p in rows}
