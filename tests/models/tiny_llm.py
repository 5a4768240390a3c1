"""Tiny Llama-architecture classifiers for pre-labeling tests, built in the test, and a real
model server.

The classifiers reuse the word-level tokenizer of `llm_world.build_tiny_llama` (the one
causal-LM builder) with a Llama classification head, so the same code path that loads a
user's real model loads these. `start_model_server` runs a real `assay serve-model` process
on a registered model (the serving and sitrep-summary tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labeling_world import ServerProcess, start_assay_server
from llm_world import build_tiny_llama


def _head(out: Path, cls: Any, labels: list[str]) -> Any:
    import torch
    from transformers import AutoConfig

    build_tiny_llama(out)  # the tokenizer; the causal LM's config and weights are replaced
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


def start_model_server(root: Path, spec: str | Path, *extra: str) -> ServerProcess:
    """`assay -w ROOT serve-model SPEC` on a free port, returned once it listens (the model
    loaded): `.port`, `.url`."""
    return start_assay_server(root, "serve-model", str(spec), *extra)
