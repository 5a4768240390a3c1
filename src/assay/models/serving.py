"""What `assay serve-model` serves: a language model, its name and its marking.

A spec is a registered model (``NAME`` or ``NAME@VERSION``) or a model directory. A
directory has no recorded lineage, so its marking is the one given (default the lowest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assay.domain.marking import Marking
from assay.errors import InvalidInput
from assay.models._llm import check_model_dir

if TYPE_CHECKING:
    from assay.workspace import Workspace


@dataclass(frozen=True)
class ServeTarget:
    """The model directory, the id clients name it by, other accepted names, its marking."""

    path: Path
    id: str
    aliases: tuple[str, ...]
    marking: Marking
    adapter: Path | None = None  # a LoRA adapter applied on `path`, the base model


def resolve_target(ws: Workspace, spec: str, *, marking: str | None = None) -> ServeTarget:
    """The model `spec` names, checked to be a language model directory."""
    local = Path(spec)
    if local.is_dir():
        path = check_model_dir(local)
        mark = ws.scheme.parse(marking or "")
        return ServeTarget(path, path.resolve().name, (), mark)
    from assay.models.registry import get_model, model_dir, model_marking

    info = get_model(ws, spec)
    if marking is not None:
        raise InvalidInput(
            f"--marking: model {info.ref} carries its own marking ({model_marking(ws, info)})"
        )
    if info.task != "causal-lm":
        raise InvalidInput(
            f"model {info.ref} ({info.kind}, {info.task}) is not a causal language model; "
            "serve-model serves transformers causal LMs and LoRA adapters on one"
        )
    mark = ws.scheme.parse(model_marking(ws, info))
    if info.kind != "peft-adapter":
        path = check_model_dir(model_dir(ws, info))
        return ServeTarget(path, info.ref, (info.name,), mark)
    from assay.models._adapter_base import base_dir

    base_path, base_mark = base_dir(ws, info)  # the base it was registered with, checked
    if base_mark is not None:
        mark = ws.scheme.highest([mark, base_mark])
    return ServeTarget(
        check_model_dir(base_path), info.ref, (info.name,), mark, adapter=model_dir(ws, info)
    )
