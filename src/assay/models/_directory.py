"""Directory models: a transformers model, a PEFT adapter or an embedding classifier head.

A directory is registered file by file: every file goes to the blob store and a manifest of
``{"path", "sha256", "size"}`` (sorted by path, canonical JSON) names them. The manifest is
itself a blob, and its sha256 is the model version's ``sha256``: one hash pins every byte.

What a directory is, from the files it holds:

* ``adapter_config.json`` -> ``peft-adapter`` (task from its ``task_type``);
* ``config.json`` -> ``transformers`` (task from its ``architectures``);
* ``classifier.json`` -> ``embedding-head`` (a logistic-regression head on embeddings, as
  `assay train classifier` writes it).

Weights must be safetensors (pickled ``.bin`` weights run code when loaded: convert them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay.domain.labels import canonical_json
from assay.errors import InvalidInput
from assay.store.blobs import sha256_file

DIRECTORY_KINDS = ("transformers", "peft-adapter", "embedding-head")
LANGUAGE_TASKS = ("causal-lm", "text-classification", "token-classification")
HEAD_FILE = "classifier.json"
LINEAGE_FILE = "lineage.json"

_PEFT_TASKS = {
    "CAUSAL_LM": "causal-lm",
    "SEQ_CLS": "text-classification",
    "TOKEN_CLS": "token-classification",
}
_ARCH_SUFFIX = {
    "ForCausalLM": "causal-lm",
    "LMHeadModel": "causal-lm",
    "ForSequenceClassification": "text-classification",
    "ForTokenClassification": "token-classification",
}


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{path}: expected a JSON object")
    return value


def model_files(path: Path) -> list[Path]:
    """The files a directory model consists of (hidden files and folders left out)."""
    out = []
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if f.is_symlink():
            raise InvalidInput(f"{f}: a symbolic link; copy the file into the model directory")
        if f.is_file():
            out.append(f)
    return out


def manifest_of(path: Path) -> list[dict[str, Any]]:
    """``[{"path", "sha256", "size"}]`` of every file, sorted by path."""
    return [
        {
            "path": f.relative_to(path).as_posix(),
            "sha256": sha256_file(f),
            "size": f.stat().st_size,
        }
        for f in model_files(path)
    ]


def manifest_bytes(manifest: list[dict[str, Any]]) -> bytes:
    """The canonical bytes of a manifest (its sha256 is the model version's)."""
    return canonical_json(manifest).encode("utf-8")


def _task_of_architectures(config: dict[str, Any]) -> str | None:
    for arch in config.get("architectures") or []:
        for suffix, task in _ARCH_SUFFIX.items():
            if str(arch).endswith(suffix):
                return task
    return None


def _weights(path: Path, what: str) -> None:
    names = [f.name for f in model_files(path)]
    if any(n.endswith(".safetensors") for n in names):
        return
    if any(n.endswith((".bin", ".pt", ".pth", ".ckpt")) for n in names):
        raise InvalidInput(
            f"{path}: {what} weights are pickled (.bin/.pt), which run code when loaded; "
            "save them as safetensors (model.save_pretrained(dir, safe_serialization=True))"
        )
    raise InvalidInput(f"{path}: {what} directory without *.safetensors weights")


def describe_directory(path: Path, task: str | None) -> dict[str, Any]:
    """Kind, task, classes and details of a model directory, or one clear error."""
    if (path / "adapter_config.json").is_file():
        cfg = _json(path / "adapter_config.json")
        found = _PEFT_TASKS.get(str(cfg.get("task_type", "")))
        _weights(path, "PEFT adapter")
        kind = "peft-adapter"
        details: dict[str, Any] = {
            "base_model": cfg.get("base_model_name_or_path"),
            "peft_type": cfg.get("peft_type"),
            "r": cfg.get("r"),
        }
        classes: list[str] = []
    elif (path / "config.json").is_file():
        cfg = _json(path / "config.json")
        if "model_type" not in cfg and "architectures" not in cfg:
            raise InvalidInput(
                f"{path / 'config.json'}: not a transformers config (no model_type or "
                "architectures)"
            )
        found = _task_of_architectures(cfg)
        _weights(path, "transformers model")
        kind = "transformers"
        details = {"model_type": cfg.get("model_type"), "architectures": cfg.get("architectures")}
        labels = cfg.get("id2label") or {}
        classes = [str(labels[k]) for k in sorted(labels, key=lambda k: int(k))] if labels else []
    elif (path / HEAD_FILE).is_file():
        head = _json(path / HEAD_FILE)
        kind, found = "embedding-head", "text-classification"
        if head.get("media") == "image":
            found = "classification"
        classes = [str(c) for c in head.get("classes", [])]
        details = {"embedder": head.get("embedder")}
    else:
        raise InvalidInput(
            f"{path}: not a model directory (no config.json of a transformers model, no "
            f"adapter_config.json of a PEFT adapter, no {HEAD_FILE} of an assay classifier)"
        )
    if found is None and task is None:
        raise InvalidInput(
            f"{path}: cannot tell the task from its config; give --task "
            f"({', '.join(LANGUAGE_TASKS)})"
        )
    if task is not None and found is not None and task != found:
        raise InvalidInput(f"{path}: --task {task} but the directory is a {found} model")
    if (path / LINEAGE_FILE).is_file():
        details["lineage_file"] = LINEAGE_FILE
    return {
        "kind": kind,
        "format": "directory",
        "task": task or found,
        "classes": classes,
        "details": details,
    }
