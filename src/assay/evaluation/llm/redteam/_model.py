"""The model under test as the red team holds it: a `Generate` over one of the language-model
backends, and what a registered model's record says (its files, training commit, marking)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import NotFound
from assay.evaluation.llm.redteam._types import Generate, Message

if TYPE_CHECKING:
    from assay.workspace import Workspace


@dataclass(frozen=True)
class ModelRef:
    """``--model`` resolved: a directory, or a registered model's ``NAME@VERSION`` (either is
    what `open_generator` takes as ``model``), and for a registered model the commit its
    lineage says it learned from (``NAME@COMMIT``) and its marking."""

    spec: str
    trained_on: str | None = None
    marking: str | None = None


def resolve_model(ws: Workspace, model: str) -> ModelRef:
    """A model directory as it is, or a registered model ``NAME[@VERSION]`` (a transformers
    directory, or a LoRA adapter that `open_generator` loads on its recorded base)."""
    if Path(model).is_dir():
        return ModelRef(model)
    if "/" in model or model.startswith("."):
        raise NotFound(f"--model {model}: no such model directory")
    from assay.models import get_model

    info = get_model(ws, model)
    data = (info.lineage or {}).get("data") or {}
    trained = None
    if data.get("dataset") and data.get("commit"):
        trained = f"{data['dataset']}@{data['commit']}"
    elif info.trained_on and info.trained_on_spec:
        trained = info.trained_on_ref()
    # By its name: `open_generator` loads a LoRA adapter on its recorded base.
    return ModelRef(info.ref, trained, info.marking or None)


def as_generate(generator: Any, params: Any) -> Generate:
    """A `Generate` over an `assay.models.llm.Generator` with fixed generation parameters."""
    from assay.models.llm import prompt_from_json

    def generate(conversations: Sequence[Sequence[Message]]) -> list[str]:
        prompts = [prompt_from_json(list(c)) for c in conversations]
        return [g.text for g in generator.generate(prompts, params)]

    return generate
