"""A causal language model from a local directory, generating on CPU with transformers.

`LanguageModel` loads a transformers model directory (``config.json``, weights, tokenizer
files) offline and generates for several prompts in one padded batch. `Batcher` gathers the
requests that arrive within a few milliseconds of each other into such batches, so
concurrent callers share one forward pass per token. Temperature 0 is greedy decoding: the
same prompt always gives the same answer.

Example:
    >>> # lm = LanguageModel("models/flood-llm")
    >>> # lm.generate([GenRequest(lm.encode("The river"), max_tokens=8)])[0].text
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.errors import InvalidInput, require
from assay.models.llm._offline import go_offline

log = logging.getLogger(__name__)


def check_model_dir(path: str | Path) -> Path:
    """`path` as a transformers model directory; one error naming it when it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise InvalidInput(f"{p}: not a directory; give a transformers model directory")
    if not (p / "config.json").is_file():
        raise InvalidInput(
            f"{p}: not a model directory (no config.json); save one with "
            "model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR)"
        )
    return p


@dataclass(frozen=True)
class GenRequest:
    """One prompt (token ids) and how to continue it; temperature 0 means greedy."""

    prompt_ids: tuple[int, ...]
    max_tokens: int = 16
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        """Requests with equal keys can share a batch."""
        if self.seed is not None:
            return ("seeded", id(self))  # a seed makes sense only for a batch of one
        if self.temperature == 0:
            return ("greedy",)
        return ("sample", self.temperature, self.top_p)


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: Literal["stop", "length"]
    batch: int = 1  # how many requests shared the forward passes


def _has_tokenizer(path: Path) -> bool:
    return any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))


def _plain_chat(messages: Sequence[dict[str, str]]) -> str:
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


class LanguageModel:
    """A transformers causal LM on CPU, loaded from a local directory."""

    def __init__(self, path: str | Path, *, adapter: str | Path | None = None) -> None:
        go_offline()
        require("torch", "serve")
        require("transformers", "serve")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = check_model_dir(path)
        vocab = adapter if adapter is not None and _has_tokenizer(Path(adapter)) else self.path
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(vocab, local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInput(
                f"{self.path}: not a loadable causal language model ({exc})"
            ) from None
        if adapter is not None:
            peft: Any = require("peft", "train")
            # Merged once at load: generation then costs what the base model alone costs.
            self.model = peft.PeftModel.from_pretrained(self.model, str(adapter)).merge_and_unload()
        self.model.train(False)  # inference: no dropout
        tok = self.tokenizer
        if tok.pad_token_id is None and tok.eos_token_id is None:
            raise InvalidInput(f"{self.path}: the tokenizer has neither a pad nor an eos token")
        self.pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        self.eos_id = None if tok.eos_token_id is None else int(tok.eos_token_id)
        self.context = int(getattr(self.model.config, "max_position_embeddings", 2048))

    def encode(self, text: str, *, special: bool = True) -> tuple[int, ...]:
        """Token ids of `text`; `special=False` for text a chat template already framed."""
        return tuple(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> tuple[int, ...]:
        """The tokenizer's chat template with a generation prompt, or plain `role: text` lines."""
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=True
            )
            return self.encode(str(text), special=False)
        return self.encode(_plain_chat(messages))

    def check(self, req: GenRequest) -> None:
        """Raise `InvalidInput` when the prompt and its answer do not fit the context."""
        if not req.prompt_ids:
            raise InvalidInput("the prompt is empty")
        if len(req.prompt_ids) + req.max_tokens > self.context:
            raise InvalidInput(
                f"the prompt ({len(req.prompt_ids)} tokens) plus max_tokens ({req.max_tokens}) "
                f"exceeds the model's context of {self.context} tokens"
            )

    def generate(self, reqs: Sequence[GenRequest]) -> list[Generation]:
        """Continue every prompt in one left-padded batch (all share `reqs[0]`'s sampling)."""
        import torch

        first = reqs[0]
        width = max(len(r.prompt_ids) for r in reqs)
        ids = [[self.pad_id] * (width - len(r.prompt_ids)) + list(r.prompt_ids) for r in reqs]
        mask = [[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in reqs]
        sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None}
        if first.temperature > 0:
            sampling = {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p}
            if first.seed is not None:
                torch.manual_seed(first.seed)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=torch.tensor(ids),
                attention_mask=torch.tensor(mask),
                max_new_tokens=max(r.max_tokens for r in reqs),
                pad_token_id=self.pad_id,
                eos_token_id=self.eos_id,
                top_k=None,
                **sampling,
            )
        n = len(reqs)
        return [self._finish(r, out[i, width:].tolist(), n) for i, r in enumerate(reqs)]

    def _finish(self, req: GenRequest, new: list[int], batch: int) -> Generation:
        reason: Literal["stop", "length"] = "length"
        new = new[: req.max_tokens]
        if self.eos_id is not None and self.eos_id in new:
            new = new[: new.index(self.eos_id)]
            reason = "stop"
        text = str(self.tokenizer.decode(new, skip_special_tokens=True))
        cuts = [text.find(s) for s in req.stop if s and s in text]
        if cuts:
            text = text[: min(cuts)]
            reason = "stop"
        return Generation(text, len(req.prompt_ids), len(new), reason, batch)


@dataclass
class _Pending:
    req: GenRequest
    future: Future[Generation] = field(default_factory=Future)


class Batcher:
    """One thread that runs the model; requests arriving within `wait` seconds share a batch."""

    def __init__(self, model: LanguageModel, *, max_batch: int = 8, wait: float = 0.01) -> None:
        if max_batch < 1:
            raise InvalidInput(f"--max-batch must be at least 1, got {max_batch}")
        self.model = model
        self.max_batch = max_batch
        self.wait = wait
        self.batches: list[int] = []  # sizes of the batches run, newest last (for reports)
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="assay-lm-batcher", daemon=True)
        self._thread.start()

    def submit(self, req: GenRequest) -> Future[Generation]:
        """Queue `req` (checked against the context first); the future holds its answer."""
        self.model.check(req)
        pending = _Pending(req)
        self._queue.put(pending)
        return pending.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _gather(self, first: _Pending) -> list[_Pending]:
        got = [first]
        deadline = time.monotonic() + self.wait
        while len(got) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                nxt = (
                    self._queue.get(timeout=max(left, 0.0))
                    if left > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)  # close after this batch
                break
            got.append(nxt)
        return got

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            groups: dict[tuple[Any, ...], list[_Pending]] = {}
            for p in self._gather(first):
                groups.setdefault(p.req.key, []).append(p)
            for group in groups.values():
                self.batches.append(len(group))
                try:
                    results = self.model.generate([p.req for p in group])
                except Exception as exc:  # answered to each caller, never lost in the thread
                    log.exception("generation failed")
                    for p in group:
                        p.future.set_exception(exc)
                    continue
                for p, r in zip(group, results, strict=True):
                    p.future.set_result(r)
