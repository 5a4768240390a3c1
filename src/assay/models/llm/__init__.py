"""Language models behind one seam: a batch of prompts and parameters in, outputs out.

Backends: `TransformersGenerator` (a local model directory, batched), `EndpointGenerator`
(any OpenAI-compatible HTTP endpoint, concurrent, with retries and timeouts) and
`CachedGenerator` (a `ResponseCache` keyed by model identity, prompt and parameters in
front of either, so a rerun is free and exact). `open_generator` builds one from the CLI's
``--model PATH`` / ``--endpoint URL``. Every entry point calls `go_offline` first.

>>> from assay.models.llm import GenerationParams, chat
>>> GenerationParams(max_new_tokens=8).to_dict()["temperature"]
0.0
>>> chat(("user", "Which bridges are closed?"))[0].role
'user'
"""

from assay.models.llm._cache import CachedGenerator, ResponseCache
from assay.models.llm._endpoint import EndpointGenerator
from assay.models.llm._offline import OFFLINE_ENV, go_offline
from assay.models.llm._open import BackendOptions, open_generator
from assay.models.llm._transformers import TransformersGenerator, hash_model_dir, render_chat
from assay.models.llm._types import (
    ChatMessage,
    EndpointError,
    Generation,
    GenerationParams,
    Generator,
    Prompt,
    chat,
    cut_at_stop,
    prompt_from_json,
    prompt_json,
    request_key,
)

__all__ = [
    "OFFLINE_ENV",
    "BackendOptions",
    "CachedGenerator",
    "ChatMessage",
    "EndpointError",
    "EndpointGenerator",
    "Generation",
    "GenerationParams",
    "Generator",
    "Prompt",
    "ResponseCache",
    "TransformersGenerator",
    "chat",
    "cut_at_stop",
    "go_offline",
    "hash_model_dir",
    "open_generator",
    "prompt_from_json",
    "prompt_json",
    "render_chat",
    "request_key",
]
