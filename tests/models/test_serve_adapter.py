"""A LoRA adapter trained by `assay train llm` is served merged onto its recorded base."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import InvalidInput
from assay.models._llm import GenRequest, LanguageModel
from assay.models.serving import resolve_target
from assay.models.train_llm import train_llm
from models.train_world import REPORTS, SFT, build


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
