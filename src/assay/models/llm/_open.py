"""Open a generator from what the user names: a model directory or an endpoint URL."""

from __future__ import annotations

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
    API key, concurrency, timeout and retries; and whether to use the response cache."""

    batch_size: int = 8
    device: str = "cpu"
    endpoint_model: str = "default"
    api_key: str | None = None
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 2
    cache: bool = True


def open_generator(
    ws: Workspace | None,
    *,
    model: str | None = None,
    endpoint: str | None = None,
    options: BackendOptions | None = None,
) -> Generator:
    """A `Generator` for ``--model PATH`` (a transformers model directory) or ``--endpoint
    URL``, wrapped in the workspace's response cache unless ``options.cache`` is off.

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
            api_key=opts.api_key,
            concurrency=opts.concurrency,
            timeout=opts.timeout,
            retries=opts.retries,
        )
    elif model is not None:
        path = Path(model)
        if not path.is_dir():
            raise NotFound(f"--model {model}: no such model directory")
        gen = TransformersGenerator(path, batch_size=opts.batch_size, device=opts.device)
    if opts.cache and ws is not None:
        return CachedGenerator(gen, ResponseCache.for_workspace(ws.root))
    return gen
