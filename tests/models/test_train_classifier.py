"""`assay train classifier`: a logistic-regression head on MiniLM (text) or pixel (image)
embeddings of a commit, registered with lineage, loaded back, verified."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput, NotFound
from assay.labeling import Workflow, add_user, create_project, next_task, submit
from assay.labeling.pull import pull
from assay.models import ModelInfo, model_dir, model_manifest
from assay.models._directory import HEAD_FILE
from assay.models.lineage import verify_model
from assay.models.train_classifier import EmbeddingHead, train_classifier
from assay.workspace import Workspace
from evaluation.runs.runs_world import World

RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py
SCHEMA = """
title: Report triage
controls:
  - name: hazard
    type: choices
    labels: [flood, fire]
"""
TEXTS = {
    "flood": [
        "Water is over the road near the bridge.",
        "The river burst its banks and the basement is flooded.",
        "Flood water rising in the town square.",
        "Families stranded by high water on the farm.",
        "The levee is leaking and streets are under water.",
        "Heavy rain flooded the underpass.",
    ],
    "fire": [
        "Smoke rising from the roof of the mill.",
        "A grass fire is spreading towards the depot.",
        "Flames seen in the school kitchen.",
        "The warehouse is burning, thick black smoke.",
        "Wildfire approaching the village from the hills.",
        "A car is on fire in the car park.",
    ],
}


def _labelled_texts(ws: Workspace, folder: Path) -> str:
    folder.mkdir()
    rows = [{"text": t} for texts in TEXTS.values() for t in texts]
    (folder / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ws.ingest([folder], marking="CUI")
    ws.create_dataset("triage")
    ws.add_items("triage", "media_type~text/*")
    create_project(ws, "triage", LabelSchema.from_yaml_text(SCHEMA, "s.yaml"), "triage", Workflow())
    user = add_user(ws, "tia", "annotator", "CUI", "flood-watch-2026")
    hazard = {t: h for h, texts in TEXTS.items() for t in texts}
    while (lease := next_task(ws, user, "triage")) is not None:
        label = hazard[lease.item["text"]]
        region = Region(kind="choice", control="hazard", label=label)
        submit(ws, user, lease.task_id, str(uuid.uuid4()), [region])
    pull(ws, "triage", "triage", "latest")
    return ws.commit("triage", "triaged").id


def test_text_head_on_minilm_embeddings(ws: Workspace, tmp_path: Path, cli: RunCli) -> None:
    commit = _labelled_texts(ws, tmp_path / "texts")
    res = cli(
        "-w", ws.root, "train", "classifier", "--data", f"triage@{commit[:10]}", "--out",
        "triage-head", "--json",
    )  # fmt: skip
    out = json.loads(res.stdout)
    assert out["rows"] == 12 and out["train_accuracy"] == 1.0
    assert out["cv_accuracy"] is not None and out["cv_accuracy"] >= 0.75
    model = out["model"]
    assert (model["kind"], model["task"], model["classes"]) == (
        "embedding-head",
        "text-classification",
        ["fire", "flood"],
    )
    assert model["trained_on"] == commit and model["details"]["marking"] == "CUI"
    lineage = model["details"]["lineage"]
    assert lineage["data"]["format"] == "labels" and lineage["data"]["rows"] == 12
    assert lineage["hyperparameters"]["embedder"] == "minilm"
    assert {"scikit-learn", "python"} <= set(lineage["libraries"])
    head = EmbeddingHead.load(ws, "triage-head")
    p = head.predict_texts(["The cellar is full of flood water.", "The barn is on fire."])
    assert [head.classes[int(k)] for k in np.argmax(p, axis=1)] == ["flood", "fire"]
    card = (model_dir(ws, "triage-head") / "README.md").read_text()
    assert f"- triage@{commit}\n" in card
    assert "verified" in cli("-w", ws.root, "model", "verify", "triage-head").stdout


def test_image_head_on_pixels_is_reproducible(world: World) -> None:
    result = train_classifier(world.ws, world.spec, "pixel-head")
    info = result.model
    assert info.task == "classification" and info.details["embedder"] == "pixels"
    assert result.rows == 24 and result.train_accuracy >= 0.9
    assert verify_model(world.ws, info.ref).ok
    lineage = info.lineage
    assert lineage is not None and lineage["data"]["commit"] == world.commit
    # Retrained on the same commit: a new version (a new lineage record, its own time) with
    # the same weights.
    again = train_classifier(world.ws, world.spec, "pixel-head").model
    assert again.ref == "pixel-head@2"

    def weights(m: ModelInfo) -> str:
        return next(f["sha256"] for f in model_manifest(world.ws, m) if f["path"] == HEAD_FILE)

    assert weights(again) == weights(info)


def test_classifier_bad_input(ws: Workspace, tmp_path: Path, cli: RunCli) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "r.jsonl").write_text(json.dumps({"text": "no labels"}) + "\n")
    ws.ingest([folder])
    ws.create_dataset("bare")
    ws.add_items("bare")
    ws.commit("bare", "unlabelled")
    res = cli(
        "-w", ws.root, "train", "classifier", "--data", "bare@HEAD", "--out", "x", code=1
    )  # fmt: skip
    assert "a classifier needs at least two classes" in res.stderr
    with pytest.raises(InvalidInput, match=r"^bare: 0 items with a single class answer"):
        train_classifier(ws, "bare", "x")  # its HEAD, as bare@HEAD
    ws.create_dataset("fresh")
    with pytest.raises(NotFound, match=r"^fresh: training reads a commit and fresh has none yet"):
        train_classifier(ws, "fresh", "x")
    assert cli("-w", ws.root, "model", "list", "--json").stdout.strip() == "[]"


def test_a_bare_dataset_name_trains_on_its_head_and_names_the_commit(
    ws: Workspace, tmp_path: Path, cli: RunCli
) -> None:
    # `--data triage` was refused while `eval run` and `model add --trained-on` take it as
    # HEAD; the working state (here: every label taken back) is not what is trained on.
    commit = _labelled_texts(ws, tmp_path / "texts")
    from assay.formats.io import export_bundle
    from assay.versioning import LabelRecord

    rows = export_bundle(ws, ws.resolve("triage", default_head=False)).rows
    ws.set_labels("triage", [LabelRecord(r.item_id, []) for r in rows])
    res = cli("-w", ws.root, "train", "classifier", "--data", "triage", "--out", "head", "--json")
    model = json.loads(res.stdout)["model"]
    assert json.loads(res.stdout)["rows"] == 12 and model["trained_on"] == commit
    lineage = model["details"]["lineage"]
    assert (lineage["data"]["commit"], lineage["data"]["spec"]) == (commit, "triage")
    assert f"- triage@{commit}\n" in (model_dir(ws, "head") / "README.md").read_text()
    assert "verified" in cli("-w", ws.root, "model", "verify", "head").stdout


def test_prelabel_with_a_trained_text_head(ws: Workspace, tmp_path: Path, cli: RunCli) -> None:
    commit = _labelled_texts(ws, tmp_path / "texts")
    train_classifier(ws, f"triage@{commit}", "triage-head")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    new = {
        "The cellar is full of flood water.": "flood",
        "The barn is on fire and smoke is everywhere.": "fire",
        "High water cut off the road to the farm.": "flood",
        "Flames are coming out of the bakery windows.": "fire",
    }
    (incoming / "n.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in new))
    ws.ingest([incoming], marking="CUI", source="incoming")
    ws.create_dataset("incoming")
    ws.add_items("incoming", "source=incoming")
    create_project(
        ws, "incoming", LabelSchema.from_yaml_text(SCHEMA, "s.yaml"), "incoming", Workflow()
    )
    res = cli("-w", ws.root, "prelabel", "incoming", "--model", "triage-head", "--json")
    report = json.loads(res.stdout)
    assert (report["model"], report["task"], report["control"]) == (
        "triage-head@1",
        "text-classification",
        "hazard",
    )
    assert report["open_tasks"] == 4 and report["labelled"] == 4 and report["regions"] == 4
    from sqlalchemy import select

    from assay.domain.labels import payload_from_json
    from assay.store.schema import annotations_table

    with ws.db.read() as conn:
        rows = conn.execute(
            select(annotations_table.c.item_id, annotations_table.c.payload).where(
                annotations_table.c.author == "model:triage-head@1"
            )
        ).all()
    text_of = {r.item_id: ws.blobs.get_bytes(r.item_id).decode() for r in rows}
    got = {text_of[r.item_id]: payload_from_json(r.payload)[0] for r in rows}
    assert {t: region.label for t, region in got.items()} == new
    assert all(region.score is not None and 0.5 < region.score <= 1.0 for region in got.values())
    # A second run skips what this version labelled; a reader below CUI is refused: the
    # project (of CUI items), looked up first, is as unknown to them as the model.
    again = json.loads(cli("-w", ws.root, "prelabel", "incoming", "--model", "triage-head",
                           "--json").stdout)  # fmt: skip
    assert again["labelled"] == 0 and again["already"] == 4
    add_user(ws, "ursula", "manager", "UNCLASSIFIED", "flood-watch-2026")
    denied = cli(
        "-w", ws.root, "prelabel", "incoming", "--model", "triage-head", "--as", "ursula", code=1
    )  # fmt: skip
    assert "no project named 'incoming'" in denied.stderr


def test_prelabel_with_a_trained_image_head(world: World) -> None:
    from assay.labeling.prelabel_text import prelabel_model

    train_classifier(world.ws, world.spec, "scene-head")
    schema = (
        "title: Scenes\ncontrols:\n  - name: state\n    type: choices\n    labels: [dry, flooded]\n"
    )
    create_project(
        world.ws, "scenes", LabelSchema.from_yaml_text(schema, "s.yaml"), "floods", Workflow()
    )
    report = prelabel_model(world.ws, "scenes", "scene-head")
    assert (report.task, report.control, report.open_tasks) == ("classification", "state", 24)
    assert report.labelled == 24 and report.not_images == 0
    # The head's answers are its own predictions on the same items, with their probability.
    head = EmbeddingHead.load(world.ws, "scene-head")
    from sqlalchemy import select

    from assay.domain.labels import payload_from_json
    from assay.store.schema import annotations_table

    with world.ws.db.read() as conn:
        rows = conn.execute(
            select(annotations_table.c.item_id, annotations_table.c.payload).where(
                annotations_table.c.author == "model:scene-head@1"
            )
        ).all()
    ids = [r.item_id for r in rows]
    p = head.predict_items(world.ws, ids)
    for row, probs in zip(rows, p, strict=True):
        (region,) = payload_from_json(row.payload)
        assert region.label == head.classes[int(np.argmax(probs))]
        assert region.score == pytest.approx(float(probs.max()))
