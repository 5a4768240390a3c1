"""A local transformers causal language model (a model directory), batched on CPU or GPU."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput, NotFound, require
from assay.models.llm._offline import go_offline
from assay.models.llm._types import (
    ChatMessage,
    Generation,
    GenerationParams,
    Prompt,
    cut_at_stop,
)

_CHUNK = 1 << 20


def hash_model_dir(path: Path) -> str:
    """sha256 over every file of a model directory (relative path and content, sorted)."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        fh = hashlib.sha256()
        with f.open("rb") as src:
            while chunk := src.read(_CHUNK):
                fh.update(chunk)
        h.update(f"{rel}\0{fh.hexdigest()}\n".encode())
    return h.hexdigest()


def render_chat(messages: Sequence[ChatMessage]) -> str:
    """The plain-text form of a chat for tokenizers without a chat template."""
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    parts = [f"{names[m.role]}: {m.content}" for m in messages]
    return "\n\n".join([*parts, "Assistant:"])


class TransformersGenerator:
    """A causal LM loaded from a local directory (``config.json``, weights, tokenizer files).

    Prompts are sorted by length and generated in batches of ``batch_size`` with left
    padding, so a batch wastes little on padding; outputs come back in the input order.
    Nothing is downloaded: the Hugging Face offline switches are set before loading.

    Args:
        path: The model directory.
        batch_size: Prompts per forward pass.
        device: ``cpu`` (default) or a torch device such as ``cuda``.
        name: A display name for records (default: the directory name).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 8,
        device: str = "cpu",
        name: str | None = None,
        sha256: str | None = None,
        lineage: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise NotFound(f"{self.path}: not a model directory (no config.json)")
        if batch_size < 1:
            raise InvalidInput(f"batch size must be at least 1, not {batch_size}")
        self.batch_size = batch_size
        self.device = device
        self.name = name or self.path.name
        self.sha256 = sha256 or hash_model_dir(self.path)
        self.lineage = lineage
        self._loaded: tuple[Any, Any] | None = None

    @property
    def identity(self) -> str:
        return f"sha256:{self.sha256}"

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "transformers",
            "name": self.name,
            "path": str(self.path.resolve()),
            "sha256": self.sha256,
            "lineage": self.lineage,
        }

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            go_offline()
            require("torch", "llm")
            transformers: Any = require("transformers", "llm")
            try:
                tok = transformers.AutoTokenizer.from_pretrained(self.path, local_files_only=True)
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    self.path, local_files_only=True
                )
            except (OSError, ValueError) as exc:
                raise InvalidInput(f"{self.path}: cannot load the model ({exc})") from None
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            model.to(self.device)
            model.eval()
            self._loaded = (tok, model)
        return self._loaded

    def _text(self, tok: Any, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if getattr(tok, "chat_template", None):
            msgs = [{"role": m.role, "content": m.content} for m in prompt]
            return str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
        return render_chat(prompt)

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        if not prompts:
            return []
        tok, model = self._load()
        texts = [self._text(tok, p) for p in prompts]
        lengths = [len(tok(t)["input_ids"]) for t in texts]
        limit = getattr(model.config, "max_position_embeddings", None)
        for i, n in enumerate(lengths):
            if limit is not None and n + params.max_new_tokens > limit:
                raise InvalidInput(
                    f"prompt {i}: {n} tokens + max_new_tokens {params.max_new_tokens} exceed "
                    f"the model's context of {limit} tokens"
                )
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        out: list[Generation | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            for i, g in zip(
                idx, self._batch(tok, model, [texts[i] for i in idx], params), strict=True
            ):
                out[i] = g
        return [g for g in out if g is not None]

    def _batch(
        self, tok: Any, model: Any, texts: list[str], params: GenerationParams
    ) -> list[Generation]:
        import torch

        t0 = time.perf_counter()
        enc = tok(texts, return_tensors="pt", padding=True).to(self.device)
        kw: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": tok.eos_token_id,
        }
        if params.temperature > 0:
            torch.manual_seed(params.seed)
            kw.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kw.update(do_sample=False)
        with torch.inference_mode():
            seqs = model.generate(**enc, **kw)
        new = seqs[:, enc["input_ids"].shape[1] :].tolist()
        share = (time.perf_counter() - t0) / len(texts)
        result = []
        for row, mask in zip(new, enc["attention_mask"].tolist(), strict=True):
            n = len(row)
            hit_eos = tok.eos_token_id is not None and tok.eos_token_id in row
            if hit_eos:
                n = row.index(tok.eos_token_id) + 1
            text = tok.decode(row[:n], skip_special_tokens=True)
            text, stopped = cut_at_stop(text, params.stop)
            result.append(
                Generation(
                    text=text,
                    latency_s=share,
                    prompt_tokens=int(sum(mask)),
                    completion_tokens=n,
                    finish_reason="stop" if hit_eos or stopped else "length",
                )
            )
        return result
