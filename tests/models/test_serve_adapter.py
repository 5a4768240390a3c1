"""A LoRA adapter trained by `assay train llm` is served merged onto its recorded base, and
pre-labels and is red-teamed by its registered name the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput
from assay.labeling import Workflow, create_project
from assay.models._llm import GenRequest, LanguageModel
from assay.models.serving import resolve_target
from assay.models.train_llm import train_llm
from models.train_world import HAZARDS, REPORTS, SFT, build

# The hazards the adapter learns to name, as the labels of a choices control.
HAZARD = f"controls:\n  - name: hazard\n    type: choices\n    labels: [{', '.join(HAZARDS)}]\n"


def test_the_adapter_answers_what_it_learned(tmp_path: Path) -> None:
    world = build(tmp_path / "llm")
    try:
        trained = train_llm(world.ws, str(world.base), world.spec, "hazard-lora", SFT).model
        target = resolve_target(world.ws, trained.ref)
        assert target.adapter is not None and target.path == world.base
        assert (target.id, target.aliases) == ("hazard-lora@1", ("hazard-lora",))
        assert world.ws.scheme.render(target.marking) == "CUI"  # its training data's
        with pytest.raises(InvalidInput, match="--marking: model hazard-lora@1 carries its own"):
            resolve_target(world.ws, trained.ref, marking="UNCLASSIFIED")
        served = LanguageModel(target.path, adapter=target.adapter)
        base = LanguageModel(world.base)
        right = 0
        for r in REPORTS:
            prompt = str(r["text"])
            got = served.generate([GenRequest(served.encode(prompt), max_tokens=1)])[0].text
            right += got.strip() == r["answer"]
        assert right >= len(REPORTS) - 1  # the toy task is learnt: the hazard of each report
        before = [
            base.generate([GenRequest(base.encode(str(r["text"])), max_tokens=1)])[0].text.strip()
            for r in REPORTS
        ]
        assert sum(b == r["answer"] for b, r in zip(before, REPORTS, strict=True)) < right
    finally:
        world.ws.close()


def test_a_registered_adapter_prelabels_and_is_red_teamed_by_name(tmp_path: Path, cli: Any) -> None:
    """`assay prelabel --model ADAPTER@V --prompt` and `assay redteam --model ADAPTER@V` load
    the adapter on its recorded base, as `serve-model` and `eval llm` do; they stopped with
    "not a model directory (no config.json)" naming the adapter's cache folder."""
    world = build(tmp_path / "llm")
    try:
        train_llm(world.ws, str(world.base), world.spec, "hazard-lora", SFT)
        schema = LabelSchema.from_yaml_text(HAZARD, "schema.yaml")
        create_project(world.ws, "triage", schema, "reports", Workflow(overlap=1))
        root = world.ws.root
    finally:
        world.ws.close()
    report = cli(
        "-w", root, "prelabel", "triage", "--model", "hazard-lora@1", "--prompt", "{text}",
        "--json",
    ).json()  # fmt: skip
    assert report["model"] == "hazard-lora@1" and report["open_tasks"] == len(REPORTS)
    assert report["labelled"] >= len(REPORTS) - 1  # the answers it learnt, parsed to labels
    rt = cli(
        "-w", root, "redteam", "--model", "hazard-lora@1", "--suite", "extraction",
        "--max-new-tokens", "2", "--out", tmp_path / "rt", "--json",
    ).json()  # fmt: skip
    assert rt["marking"] == "CUI"  # the adapter's, from its training data
    assert [r["category"] for r in rt["categories"]] == ["extraction"]
