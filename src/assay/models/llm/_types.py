"""The generation seam: prompts and parameters in, texts with latency and token counts out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from assay.errors import AssayError, InvalidInput

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")


class EndpointError(AssayError):
    """A model endpoint timed out, refused, failed or answered something unreadable."""

    http_status = 502


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a chat prompt."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidInput(f"chat message role {self.role!r}: use one of {', '.join(ROLES)}")


Prompt = str | tuple[ChatMessage, ...]
"""A plain text prompt (completion) or a chat (a tuple of messages)."""


def chat(*turns: tuple[Role, str]) -> tuple[ChatMessage, ...]:
    """A chat prompt from ``(role, content)`` pairs: ``chat(("user", "Hi"))``."""
    return tuple(ChatMessage(role, content) for role, content in turns)


def prompt_json(prompt: Prompt) -> Any:
    """The prompt as plain JSON (a string, or a list of {role, content})."""
    if isinstance(prompt, str):
        return prompt
    return [{"role": m.role, "content": m.content} for m in prompt]


def prompt_from_json(value: Any) -> Prompt:
    """Inverse of `prompt_json`."""
    if isinstance(value, str):
        return value
    return tuple(ChatMessage(m["role"], m["content"]) for m in value)


@dataclass(frozen=True)
class GenerationParams:
    """How to generate. ``temperature`` 0 is greedy decoding (deterministic); above 0 samples
    with ``seed``. ``stop`` strings cut the output at their first occurrence."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InvalidInput(f"max_new_tokens must be at least 1, not {self.max_new_tokens}")
        if self.temperature < 0:
            raise InvalidInput(f"temperature must be at least 0, not {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InvalidInput(f"top_p must be in (0, 1], not {self.top_p}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenerationParams:
        known = {"max_new_tokens", "temperature", "top_p", "seed", "stop"}
        extra = sorted(set(d) - known)
        if extra:
            raise InvalidInput(
                f"generation parameter {extra[0]!r} is unknown; use {', '.join(sorted(known))}"
            )
        kw = dict(d)
        if "stop" in kw:
            kw["stop"] = tuple(kw["stop"])
        return cls(**kw)


@dataclass(frozen=True)
class Generation:
    """One output. ``latency_s`` is the request's wall time for an endpoint and the batch's
    wall time shared evenly among its prompts for a local model; token counts are None when
    the backend does not report them. ``cached`` outputs come from the response cache with
    the numbers of the run that made them."""

    text: str
    latency_s: float
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None = None
    cached: bool = False


@runtime_checkable
class Generator(Protocol):
    """A language model that turns a batch of prompts into outputs (in the same order)."""

    @property
    def identity(self) -> str:
        """What the outputs depend on: ``sha256:<hash of the model files>`` for a local
        model, ``endpoint:<url>#<model>`` for an endpoint. Keys the response cache."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON for the run record (kind, name, path or url, hash, lineage)."""
        ...

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """One output per prompt, in order; raises `EndpointError` / `InvalidInput`."""
        ...


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text up to the first stop string, and whether one was found."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut], cut < len(text)


def request_key(identity: str, prompt: Prompt, params: GenerationParams) -> str:
    """The response-cache key: sha256 of the model identity, the prompt and the parameters."""
    body = {"model": identity, "prompt": prompt_json(prompt), "params": params.to_dict()}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
