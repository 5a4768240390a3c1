"""Tiny Llama-architecture models for serving and pre-labeling tests, built in the test.

The causal LM and its word-level tokenizer come from `train_world.tiny_llama` (the training
tests' builder); the classifiers reuse that tokenizer with a Llama classification head, so
the same code path that loads a user's real model loads these. `start_model_server` runs a
real `assay serve-model` process on one of them (the serving and sitrep-summary tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from labeling_world import SRC
from models.train_world import tiny_llama

for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_key] = "1"

CORPUS = [
    "the river is over the road near the north bridge",
    "two families wait on a roof near the school",
    "the levee is seeping and a crew is sandbagging",
    "power line down across main street",
    "the shelter needs blankets and water",
    "flooded damaged dry intact road bridge school debris",
    "label flooded label dry answer yes answer no",
    "user assistant system : ,",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }} : {{ m['content'] }} </s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant :{% endif %}"
)


def build_tiny_llama(out: Path, *, chat_template: bool = True, context: int = 64) -> Path:
    """A tiny Llama causal LM directory (`context` positions); with `chat_template`, its
    tokenizer has one."""
    from transformers import AutoTokenizer

    tiny_llama(out, CORPUS, context)
    if chat_template:
        tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
        tok.chat_template = CHAT_TEMPLATE
        tok.save_pretrained(out)
    return out


def _head(out: Path, cls: Any, labels: list[str]) -> Any:
    import torch
    from transformers import AutoConfig

    tiny_llama(out, CORPUS)  # the tokenizer; the causal LM's config and weights are replaced
    config = AutoConfig.from_pretrained(out, local_files_only=True)
    config.architectures = None
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {lab: i for i, lab in enumerate(labels)}
    torch.manual_seed(3)
    return cls(config)


def build_text_classifier(out: Path, labels: list[str]) -> Path:
    """A tiny Llama sequence classifier over `labels` (random weights, fixed seed)."""
    from transformers import LlamaForSequenceClassification

    _head(out, LlamaForSequenceClassification, labels).save_pretrained(out)
    return out


def build_token_classifier(out: Path, tags: list[str], always: str) -> Path:
    """A tiny Llama token classifier whose every token is tagged `always` (its head's weights
    are zero and its bias favours that tag), so the expected spans are known: every word."""
    import torch
    from transformers import LlamaForTokenClassification

    model = _head(out, LlamaForTokenClassification, tags)
    with torch.no_grad():
        model.score.weight.zero_()
        model.score.bias.fill_(0.0)
        model.score.bias[tags.index(always)] = 4.0
    model.save_pretrained(out)
    return out


def start_model_server(
    root: Path, spec: str | Path, port: int, *extra: str
) -> subprocess.Popen[bytes]:
    """`assay -w ROOT serve-model SPEC --port PORT`, returned once it answers /v1/models."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assay",
            "-w",
            str(root),
            "serve-model",
            str(spec),
            "--port",
            str(port),
            *extra,
        ],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"serve-model exited: {proc.stderr.read() if proc.stderr else b''!r}"
            )
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("serve-model did not start")
