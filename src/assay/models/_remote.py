"""A registered image model named so that any process can load it: its file is a blob of
the store, found by the store's url and the file's sha256 (never a path on the caller's
machine). `assay.compute` sends these to local worker processes or cluster workers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from assay.errors import InvalidInput
from assay.store import open_blobs

# One ONNX session per process and model: a worker handles many units.
_ADAPTERS: dict[tuple[str, str, str, tuple[str, ...]], Any] = {}


@dataclass(frozen=True)
class ModelRef:
    """Where a worker finds a registered ONNX image model."""

    blob_url: str
    sha256: str
    kind: str  # classification | detection
    classes: tuple[str, ...]
    ref: str  # NAME@VERSION


def load_model(m: ModelRef) -> Any:
    """The model's adapter (`OnnxClassifier` / `OnnxDetector`), loaded once per process from
    the blob store and checked against its sha256."""
    key = (m.blob_url, m.sha256, m.kind, m.classes)
    adapter = _ADAPTERS.get(key)
    if adapter is None:
        from assay.models._onnx import OnnxClassifier, OnnxDetector

        path = open_blobs(m.blob_url).path(m.sha256)
        if hashlib.sha256(path.read_bytes()).hexdigest() != m.sha256:
            raise InvalidInput(f"model {m.ref}: stored file does not match its sha256 {m.sha256}")
        cls = OnnxDetector if m.kind == "detection" else OnnxClassifier
        adapter = _ADAPTERS[key] = cls(path, list(m.classes), m.ref)
    return adapter
