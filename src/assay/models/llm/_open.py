"""Open a generator from what the user names: a model directory or an endpoint URL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import InvalidInput, NotFound
from assay.models.llm._cache import CachedGenerator, ResponseCache
from assay.models.llm._endpoint import EndpointGenerator
from assay.models.llm._offline import go_offline
from assay.models.llm._transformers import TransformersGenerator
from assay.models.llm._types import Generator

if TYPE_CHECKING:
    from assay.workspace import Workspace


@dataclass(frozen=True)
class BackendOptions:
    """Knobs of the backends (CLI flags): local batch size and device; endpoint model name,
    API key (None: ``ASSAY_LLM_API_KEY``, e.g. an assay token for `assay serve-model`),
    concurrency, timeout and retries; and whether to use the response cache."""

    batch_size: int = 8
    device: str = "cpu"
    endpoint_model: str = "default"
    api_key: str | None = None
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 2
    cache: bool = True


def registered_generator(ws: Workspace, spec: str, opts: BackendOptions) -> Generator:
    """A registered causal language model (``NAME[@VERSION]``): a transformers directory, or
    a PEFT adapter on its base (the registered base, else the path its lineage names)."""
    from assay.models.registry import get_model

    try:
        info = get_model(ws, spec)
    except NotFound:
        raise NotFound(
            f"--model {spec}: no such model directory and no registered model of that name"
        ) from None
    if info.task != "causal-lm" or info.kind not in ("transformers", "peft-adapter"):
        raise InvalidInput(
            f"--model {spec}: a {info.kind} model for {info.task}; text generation needs a "
            "causal language model (a transformers directory or a PEFT adapter)"
        )
    from assay.models.serving import resolve_target

    target = resolve_target(ws, info.ref)  # a LoRA adapter: on its recorded base
    meta = {"ref": info.ref, "model_id": info.id, "marking": ws.scheme.render(target.marking)}
    return TransformersGenerator(
        target.path,
        adapter=target.adapter,
        batch_size=opts.batch_size,
        device=opts.device,
        name=info.ref,
        sha256=info.sha256,
        lineage=info.lineage,
        registered=meta,
    )


def open_generator(
    ws: Workspace | None,
    *,
    model: str | None = None,
    endpoint: str | None = None,
    options: BackendOptions | None = None,
) -> Generator:
    """A `Generator` for ``--model PATH`` (a transformers model directory), ``--model
    NAME[@VERSION]`` (a registered causal language model) or ``--endpoint URL``, wrapped in
    the workspace's response cache unless ``options.cache`` is off.

    Sets the Hugging Face offline switches first.
    """
    go_offline()
    opts = options or BackendOptions()
    gen: Generator
    if (model is None) == (endpoint is None):
        raise InvalidInput("give exactly one of --model PATH and --endpoint URL")
    if endpoint is not None:
        gen = EndpointGenerator(
            endpoint,
            model=opts.endpoint_model,
            api_key=opts.api_key or os.environ.get("ASSAY_LLM_API_KEY") or None,
            concurrency=opts.concurrency,
            timeout=opts.timeout,
            retries=opts.retries,
        )
    elif model is not None:
        path = Path(model)
        if path.is_dir():
            gen = TransformersGenerator(path, batch_size=opts.batch_size, device=opts.device)
        elif ws is not None:
            gen = registered_generator(ws, model, opts)
        else:
            raise NotFound(f"--model {model}: no such model directory")
    if opts.cache and ws is not None:
        return CachedGenerator(gen, ResponseCache.for_workspace(ws.root))
    return gen
