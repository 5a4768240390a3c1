"""ONNX image models run with onnxruntime (the `eval` extra), single-threaded for exact reruns.

Conventions:

* one image input, float32 ``(N, 3, H, W)`` with values in [0, 1]; fixed H and W in the
  graph make assay resize images to that size;
* a classifier has one output ``(N, C)`` of probabilities (or logits, which are softmaxed);
* a detector has outputs named ``boxes`` ``(N, K, 4)`` as ``[x, y, w, h]`` in input pixels,
  ``scores`` ``(N, K)`` and ``labels`` ``(N, K)`` class indices (a negative label pads);
* class names come from the model's metadata property ``classes`` (JSON list or
  comma-separated) or from ``assay model add --classes``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput, require
from assay.models._types import Detection, FloatBatch, Task, softmax_if_needed

DETECTOR_OUTPUTS = ("boxes", "scores", "labels")


@dataclass(frozen=True)
class OnnxInfo:
    """What registration learns from a graph."""

    task: Task
    input_size: tuple[int, int] | None
    classes: list[str]
    outputs: list[str]


def _session(path: Path) -> Any:
    ort = cast(Any, require("onnxruntime", "eval"))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # one thread: reductions sum in one order, reruns match
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise InvalidInput(f"{path}: not a loadable ONNX model ({exc})") from None


def _parse_classes(text: str, path: Path) -> list[str]:
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: metadata 'classes' is not a JSON list ({exc})") from None
        return [str(v) for v in values]
    return [c.strip() for c in text.split(",") if c.strip()]


def inspect_onnx(path: Path, session: Any = None) -> OnnxInfo:
    """Task, input size and class names of an ONNX image model (`session`: one already
    open on `path`, so the graph is not loaded twice)."""
    sess = session if session is not None else _session(path)
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise InvalidInput(f"{path}: expected one image input, the graph has {len(inputs)}")
    shape = inputs[0].shape
    if len(shape) != 4 or shape[1] not in (3, "3"):
        raise InvalidInput(f"{path}: input must be (N, 3, H, W), the graph says {shape}")
    h, w = shape[2], shape[3]
    size = (h, w) if isinstance(h, int) and isinstance(w, int) else None
    outputs = [o.name for o in sess.get_outputs()]
    task: Task = "detection" if set(DETECTOR_OUTPUTS) <= set(outputs) else "classification"
    if task == "classification" and len(outputs) != 1:
        raise InvalidInput(
            f"{path}: a classifier has one output (N, C); a detector has outputs named "
            f"{', '.join(DETECTOR_OUTPUTS)}; this graph has {', '.join(outputs)}"
        )
    meta = sess.get_modelmeta().custom_metadata_map
    classes = _parse_classes(meta["classes"], path) if "classes" in meta else []
    return OnnxInfo(task, size, classes, outputs)


class _OnnxModel:
    def __init__(self, path: Path, classes: list[str], name: str) -> None:
        self.path = path
        self.name = name
        self._sess = _session(path)
        info = inspect_onnx(path, self._sess)
        self.input_size = info.input_size
        self.classes = classes or info.classes
        if not self.classes:
            raise InvalidInput(
                f"model {name}: no class names; register it with --classes a,b,c or store "
                "them in the ONNX metadata property 'classes'"
            )
        self._input = self._sess.get_inputs()[0].name

    def _run(self, x: FloatBatch) -> list[npt.NDArray[Any]]:
        out = self._sess.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})
        return [np.asarray(o) for o in out]


class OnnxClassifier(_OnnxModel):
    """An ONNX classifier; no gradients (onnxruntime runs inference only)."""

    def predict_proba(self, x: FloatBatch) -> npt.NDArray[np.float64]:
        """Probabilities (n, C); logits are softmaxed."""
        (out,) = self._run(x)[:1]
        if out.ndim != 2 or out.shape != (len(x), len(self.classes)):
            raise InvalidInput(
                f"model {self.name}: output shape {out.shape}, expected "
                f"({len(x)}, {len(self.classes)}) for classes {', '.join(self.classes)}"
            )
        return softmax_if_needed(out)


class OnnxDetector(_OnnxModel):
    """An ONNX detector with boxes / scores / labels outputs."""

    def detect(self, x: FloatBatch) -> list[list[Detection]]:
        """Detections per image, boxes in input pixels."""
        names = [o.name for o in self._sess.get_outputs()]
        out = dict(zip(names, self._run(x), strict=True))
        boxes, scores, labels = (out[k] for k in DETECTOR_OUTPUTS)
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:2]:
            raise InvalidInput(
                f"model {self.name}: boxes {boxes.shape} / scores {scores.shape} do not have "
                "shapes (N, K, 4) / (N, K)"
            )
        result: list[list[Detection]] = []
        for b, s, lab in zip(boxes, scores, labels.astype(np.int64), strict=True):
            dets = []
            for box, score, k in zip(b.tolist(), s.tolist(), lab.tolist(), strict=True):
                if k < 0:
                    continue
                if k >= len(self.classes):
                    raise InvalidInput(
                        f"model {self.name}: label index {k} but only {len(self.classes)} classes"
                    )
                bx, by, bw, bh = (float(v) for v in box)
                dets.append(Detection((bx, by, bw, bh), float(score), self.classes[k]))
            result.append(dets)
        return result
