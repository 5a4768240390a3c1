"""Pre-labeling text items with transformers models: classifier, token tagger, prompted LM."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput, PermissionDenied
from assay.labeling import Workflow, add_user, create_project
from assay.labeling.prelabel_text import prelabel_text
from assay.models._text import PromptLabeler, TextClassifierModel, TokenClassifierModel
from assay.store.schema import annotations_table
from assay.workspace import Workspace
from llm_world import build_tiny_llama
from models.tiny_llm import build_text_classifier, build_token_classifier

REPORTS = {
    "r1.txt": "the river is over the road near the north bridge",
    "r2.txt": "two families wait on a roof near the school",
    "r3.txt": "the levee is seeping and a crew is sandbagging",
    "r4.txt": "power line down across main street",
}
SCHEMA = """
title: Field reports
controls:
  - name: hazard
    type: spans
    labels: [water, debris]
  - name: status
    type: choices
    labels: [flooded, dry]
"""


@pytest.fixture
def reports(ws: Workspace, tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "reports"
    folder.mkdir()
    for name, text in REPORTS.items():
        (folder / name).write_text(text)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "s1.txt").write_text("the shelter needs blankets and water")
    ids = list(ws.ingest([folder]).new)
    ws.ingest([secret], marking="SECRET")
    ws.create_dataset("reports")
    ws.add_items("reports")
    schema = LabelSchema.from_yaml_text(SCHEMA, "reports.yaml")
    create_project(ws, "triage", schema, "reports", Workflow(overlap=1))
    return {i: ws.blobs.get_bytes(i).decode() for i in ids}


def _stored(ws: Workspace, author: str) -> dict[str, list[dict[str, object]]]:
    with ws.db.read() as conn:
        rows = conn.execute(
            select(annotations_table.c.item_id, annotations_table.c.payload).where(
                annotations_table.c.author == author
            )
        ).all()
    return {r.item_id: json.loads(r.payload) for r in rows}


def test_token_classifier_stores_character_spans(
    ws: Workspace, tmp_path: Path, reports: dict[str, str]
) -> None:
    tags = ["O", "B-water", "I-water", "B-debris", "I-debris"]
    tagger = TokenClassifierModel(build_token_classifier(tmp_path / "tagger", tags, "B-water"))
    assert tagger.classes == ["debris", "water"]
    seen: list[tuple[int, int]] = []
    report = prelabel_text(
        ws, "triage", tagger, "tagger@1", "UNCLASSIFIED", task="token-classification",
        batch_size=2, progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]  # a batch at a time, rising to the end
    assert report.control == "hazard"
    assert report.labelled == 5  # the four reports and the SECRET one (the owner runs it)
    stored = _stored(ws, "model:tagger@1")
    for item_id, text in reports.items():
        spans = [tuple(r["span"]) for r in stored[item_id]]  # type: ignore[arg-type]
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        assert spans == words  # every word its own B-water entity
        assert {r["label"] for r in stored[item_id]} == {"water"}
        assert all(r["kind"] == "span" and r["control"] == "hazard" for r in stored[item_id])


def test_text_classifier_matches_the_models_own_forward_pass(
    ws: Workspace, tmp_path: Path, reports: dict[str, str]
) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = build_text_classifier(tmp_path / "clf", ["flooded", "dry"])
    report = prelabel_text(
        ws, "triage", TextClassifierModel(path), "clf@1", "UNCLASSIFIED", task="text-classification"
    )
    assert report.control == "status" and report.labelled == 5
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()
    stored = _stored(ws, "model:clf@1")
    for item_id, text in reports.items():
        with torch.inference_mode():
            probs = model(**tok(text, return_tensors="pt")).logits.softmax(-1)[0]
        k = int(probs.argmax())
        (region,) = stored[item_id]
        assert region["label"] == model.config.id2label[k]
        assert region["score"] == pytest.approx(float(probs[k]), abs=1e-5)


def test_prompted_language_model_answers_are_parsed_to_labels(
    ws: Workspace, tmp_path: Path, reports: dict[str, str]
) -> None:
    path = build_tiny_llama(tmp_path / "lm")
    template = "label flooded label dry {text} answer"
    lm = PromptLabeler(path, template, [])
    report = prelabel_text(
        ws,
        "triage",
        lm,
        "lm@1",
        "UNCLASSIFIED",
        task="causal-lm",
        labels_for=lambda labels: setattr(lm, "classes", labels),
    )
    assert lm.classes == ["flooded", "dry"]
    assert report.labelled + report.unmapped.get("(no label in the answer)", 0) == 5
    stored = _stored(ws, "model:lm@1")
    assert all(r[0]["label"] in ("flooded", "dry") for r in stored.values())
    assert lm._parse("it is DRY, not flooded")[0].label == "dry"
    assert lm._parse("flooded dry")[0].label == "flooded"
    assert lm._parse("undry") == []
    with pytest.raises(InvalidInput, match=r"needs \{text\}"):
        PromptLabeler(path, "no placeholder", ["dry"])


def test_a_user_below_the_models_marking_cannot_prelabel(
    ws: Workspace, tmp_path: Path, reports: dict[str, str]
) -> None:
    tags = ["O", "B-water", "I-water"]
    tagger = TokenClassifierModel(build_token_classifier(tmp_path / "tagger", tags, "B-water"))
    ana = add_user(ws, "ana", "manager", "UNCLASSIFIED", "correct horse battery")
    with pytest.raises(PermissionDenied, match="not cleared for model tagger@1"):
        prelabel_text(
            ws, "triage", tagger, "tagger@1", "SECRET", task="token-classification", user=ana
        )
    # Run by the owner, a SECRET model writes only onto SECRET items: its answers carry
    # what it learned, so the four UNCLASSIFIED reports are skipped and counted.
    report = prelabel_text(ws, "triage", tagger, "tagger@1", "SECRET", task="token-classification")
    assert (report.labelled, report.below_model_marking) == (1, 4)


def test_cli_prelabels_with_registered_text_models_and_hides_models_above_the_user(
    ws: Workspace, tmp_path: Path, reports: dict[str, str], cli: Any
) -> None:
    tags = ["O", "B-water", "I-water"]
    tagger = build_token_classifier(tmp_path / "tagger", tags, "B-water")
    lm = build_tiny_llama(tmp_path / "lm")
    root = ws.root
    cli("-w", root, "model", "add", "tagger", tagger)
    cli("-w", root, "model", "add", "reporter", lm, "--marking", "SECRET")
    add_user(ws, "ana", "manager", "UNCLASSIFIED", "correct horse battery")
    doc = cli("-w", root, "prelabel", "triage", "--model", "tagger", "--json").json()
    assert (doc["model"], doc["task"], doc["control"], doc["labelled"]) == (
        "tagger@1",
        "token-classification",
        "hazard",
        5,
    )
    assert len(_stored(ws, "model:tagger@1")) == 5 and doc["ran_on"] == "this process"
    # A cluster asked for (the flag or ASSAY_CLUSTER) that a text model does not use is said.
    again = cli(
        "-w", root, "prelabel", "triage", "--model", "tagger", "--redo", "--cluster",
        "127.0.0.1:9", "--json",
    )  # fmt: skip
    assert again.json()["ran_on"] == "this process" and again.json()["labelled"] == 5
    assert (
        "model:tagger@1 ran in this process, not on the cluster at 127.0.0.1:9: only registered "
        "ONNX image models run on a cluster" in " ".join(again.stderr.split())
    )
    bad = cli("-w", root, "prelabel", "triage", "--model", "reporter", code=1)
    assert "model reporter@1 is a language model: give --prompt TEMPLATE" in bad.stderr
    hidden = cli(
        "-w",
        root,
        "prelabel",
        "triage",
        "--model",
        "reporter",
        "--as",
        "ana",
        "--prompt",
        "{text}",
        code=1,
    )
    missing = cli("-w", root, "prelabel", "triage", "--model", "nope", "--as", "ana", code=1)
    assert hidden.stderr == missing.stderr.replace("nope", "reporter")
    doc = cli(
        "-w",
        root,
        "prelabel",
        "triage",
        "--model",
        "reporter@1",
        "--prompt",
        "label flooded label dry {text} answer",
        "--json",
    ).json()
    # A SECRET model writes only onto the SECRET report; its answer names a label or is counted.
    assert doc["below_model_marking"] == 4
    assert doc["labelled"] + doc["unmapped"].get("(no label in the answer)", 0) == 1
    bad = cli("-w", root, "prelabel", "triage", "--model", "tagger", "--prompt", "{text}", code=1)
    assert "--prompt: model tagger@1 is a token-classification model" in bad.stderr
