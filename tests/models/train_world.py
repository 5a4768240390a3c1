"""A tiny Llama-architecture model and a labelled flood-report dataset to fine-tune it on.

The model (about 100k parameters) is `llm_world.build_tiny_llama` with a word-level tokenizer
trained here on the reports, so the code path that trains a user's real model runs in
seconds. The task is learnable: each report's answer is the hazard it describes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, add_user, create_project, next_task, submit
from assay.labeling.pull import pull
from assay.models.train_llm import LlmTrainConfig
from assay.workspace import Workspace
from llm_world import build_tiny_llama

SCHEMA = """
title: Hazard reports
controls:
  - name: answer
    type: text
  - name: preference
    type: ranking
    candidates_field: responses
"""
HAZARDS = {
    "flood": ["water over the road", "river rising at the bridge", "basement flooded"],
    "fire": ["smoke from the mill roof", "grass fire near the depot", "flames in the school"],
    "collapse": ["wall fell on the street", "bridge deck cracked", "roof caved in at the hall"],
}
REPORTS = [
    {
        "text": f"report : {what} . hazard :",
        "answer": hazard,
        "responses": [hazard, "unknown"],
    }
    for hazard, whats in HAZARDS.items()
    for what in whats
]
PASSWORD = "flood-watch-2026"
# LoRA SFT on the reports: every report in each step (batch 9), so the loss falls smoothly.
SFT = LlmTrainConfig(
    method="sft",
    lora_r=8,
    lora_alpha=16,
    target_modules="all-linear",
    max_steps=10,
    learning_rate=3e-2,
    batch_size=9,
    max_length=32,
    seed=7,
)


@dataclass
class LlmWorld:
    ws: Workspace
    base: Path
    spec: str  # reports@<commit>
    commit: str


def labelled_reports(ws: Workspace, folder: Path, marking: str = "CUI") -> str:
    """Ingest REPORTS, have an annotator answer and rank each, pull and commit; the commit id."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reports.jsonl").write_text(
        "".join(
            json.dumps({"text": r["text"], "responses": r["responses"]}) + "\n" for r in REPORTS
        )
    )
    ws.ingest([folder], marking=marking)
    ws.create_dataset("reports")
    ws.add_items("reports", "media_type~text/*")
    schema = LabelSchema.from_yaml_text(SCHEMA, "schema.yaml")
    create_project(ws, "hazards", schema, "reports", Workflow(overlap=1))
    user = add_user(ws, "ana", "annotator", marking, PASSWORD)
    by_text = {r["text"]: r for r in REPORTS}
    while (lease := next_task(ws, user, "hazards")) is not None:
        report = by_text[lease.item["text"]]
        regions = [
            Region(kind="text", control="answer", text=str(report["answer"])),
            Region(kind="ranking", control="preference", ranking=("0", "1")),
        ]
        submit(ws, user, lease.task_id, str(uuid.uuid4()), regions)
    pull(ws, "reports", "hazards", "latest")
    return ws.commit("reports", "hazards answered and ranked").id


def build(root: Path) -> LlmWorld:
    ws = Workspace.init(root / "ws")
    commit = labelled_reports(ws, root / "reports")
    texts = [str(r["text"]) + " " + " ".join(map(str, r["responses"])) for r in REPORTS]
    base = build_tiny_llama(root / "tiny-llama", texts=texts)
    return LlmWorld(ws, base, f"reports@{commit[:12]}", commit)
