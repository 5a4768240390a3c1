"""dpo preference pairs from rated text answers: several annotators each write an answer and
rate it; the higher mean rating is chosen, ties are dropped and counted."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.formats.llm import rated_pairs
from assay.labeling import Workflow, add_user, create_project, next_task, submit
from assay.labeling.pull import pull
from assay.workspace import Workspace

SCHEMA = """
title: Replies to shelters
controls:
  - name: answer
    type: text
  - name: quality
    type: rating
    max: 5
"""
PROMPTS = [
    "Shelter in Millbrook needs blankets. Reply to the shelter lead.",
    "Road to Riverton is under water. Reply to the convoy driver.",
]
# Per annotator: (answer, rating) for each prompt.
ANSWERS = {
    0: [("Blankets leave the depot at noon.", 5), ("Take the ridge road.", 4)],
    1: [("Send nothing.", 1), ("Take the ridge road.", 5)],
    2: [("Blankets are on the way.", 3), ("Wait for the water to drop.", 4)],
}


def test_rated_pairs_order_by_mean_rating_and_drop_ties() -> None:
    pairs, ties = rated_pairs({"a": 4.0, "b": 2.0, "c": 4.0})
    assert pairs == [("a", "b"), ("c", "b")] and ties == 1


def test_dpo_export_from_rated_answers(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "replies"
    folder.mkdir()
    (folder / "r.jsonl").write_text("".join(json.dumps({"text": p}) + "\n" for p in PROMPTS))
    ws.ingest([folder])
    ws.create_dataset("replies")
    ws.add_items("replies", "media_type~text/*")
    schema = LabelSchema.from_yaml_text(SCHEMA, "s.yaml")
    create_project(ws, "replies", schema, "replies", Workflow(overlap=3))
    for n in range(3):
        user = add_user(ws, f"r{n}", "annotator", "UNCLASSIFIED", "flood-watch-2026")
        while (lease := next_task(ws, user, "replies")) is not None:
            k = PROMPTS.index(lease.item["text"])
            text, rating = ANSWERS[n][k]
            regions = [
                Region(kind="text", control="answer", text=text),
                Region(kind="rating", control="quality", value=rating),
            ]
            submit(ws, user, lease.task_id, str(uuid.uuid4()), regions)
    pull(ws, "replies", "replies", "latest")
    ws.commit("replies", "rated replies")
    result = ws.export("replies@HEAD", "dpo", tmp_path / "dpo")
    rows = [json.loads(x) for x in (tmp_path / "dpo" / "dpo.jsonl").read_text().splitlines()]
    got = {(r["prompt"][:8], r["chosen"], r["rejected"]) for r in rows}
    assert got == {
        ("Shelter ", "Blankets leave the depot at noon.", "Send nothing."),
        ("Shelter ", "Blankets leave the depot at noon.", "Blankets are on the way."),
        ("Shelter ", "Blankets are on the way.", "Send nothing."),
        # "Take the ridge road." twice: its mean 4.5 beats the other answer's 4.
        ("Road to ", "Take the ridge road.", "Wait for the water to drop."),
    }
    assert result["dropped"] == {}
    lineage = json.loads((tmp_path / "dpo" / "lineage.json").read_text())
    assert lineage["rows"] == 4 and "rated text answers" in lineage["filters"]["items"]
