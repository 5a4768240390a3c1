"""Where an evaluation's images meet the model: in this process, or as units of work on a
local process pool or a Dask cluster (`assay.compute`).

A registered ONNX model runs in units: a unit names the model and a run of items by the blob
store's url and their sha256, with the corruption (if any) and the items' place in the run,
so the corruption's seeds are the same wherever it runs. A Python model object, which need
not pickle, and prediction files stay in this process. Either way the same images are
decoded, corrupted and batched the same way, so the numbers match. Either way the images
go through the model a unit at a time, and `Steps` is told of each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.compute import Runner, chunks
from assay.evaluation.corruptions import CorruptionSpec, apply
from assay.evaluation.runs._data import EvalItem, Image, decode_bytes
from assay.evaluation.runs._predict import (
    BATCH,
    Boxes,
    Source,
    model_detections,
    model_probabilities,
)
from assay.models import ModelRef, load_model
from assay.store import open_blobs

UNIT_ITEMS = 4 * BATCH  # whole model batches, so a unit batches as one process would


@dataclass(frozen=True)
class PredictUnit:
    """A run of items to predict on, maybe corrupted first."""

    model: ModelRef
    name: str  # the model's name in messages
    task: str  # classification | detection
    item_ids: tuple[str, ...]
    names: tuple[str, ...]
    start: int  # the first item's place in the evaluated list (the corruption's index)
    corruption: CorruptionSpec | None


def _predict(src: Source, images: list[Image]) -> Any:
    if src.task == "classification":
        return model_probabilities(src, images)
    return model_detections(src, images)


def _corrupt(images: list[Image], spec: CorruptionSpec | None, start: int) -> list[Image]:
    if spec is None:
        return images
    return [apply(im, spec, index=start + k) for k, im in enumerate(images)]


def predict_unit(unit: PredictUnit) -> Any:
    """Probabilities (n, C) or detections of one unit (the function workers run)."""
    adapter = load_model(unit.model)
    blobs = open_blobs(unit.model.blob_url)
    images = [
        decode_bytes(data, iid, name)
        for iid, name, data in zip(
            unit.item_ids, unit.names, blobs.read_many(list(unit.item_ids)), strict=True
        )
    ]
    src = Source("onnx", unit.name, unit.task, list(adapter.classes), adapter=adapter)  # type: ignore[arg-type]
    return _predict(src, _corrupt(images, unit.corruption, unit.start))


@dataclass
class Steps:
    """How far a run is: images through the model over all of its passes (the clean one,
    one per corruption and severity, one per adversarial budget), told to
    `progress(done, total)` a unit at a time, then the bootstrap resamples of its intervals
    (every slice's every metric), a resample or a chunk of them at a time."""

    progress: Callable[[int, int], None] | None = None
    total: int = 0
    done: int = 0

    def plan(self, passes: int, items: int, resamples: int = 0) -> None:
        self.total = passes * items + resamples
        self.add(0)

    def add(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)


@dataclass
class Predictor:
    """The model's answers on `items`, clean or under one corruption."""

    src: Source
    items: list[EvalItem]
    run: Runner | None = None
    model: ModelRef | None = None
    steps: Steps = field(default_factory=Steps)
    _images: list[Image] | None = field(default=None, repr=False)

    @property
    def remote(self) -> bool:
        return self.run is not None and self.model is not None

    @property
    def images(self) -> list[Image]:
        """The decoded images, in this process (the adversarial suite needs them here)."""
        if self._images is None:
            from assay.evaluation.runs._data import decode

            self._images = [decode(it) for it in self.items]
        return self._images

    def predict(self, spec: CorruptionSpec | None = None) -> Any:
        parts = chunks(list(range(len(self.items))), UNIT_ITEMS)
        results = []
        if not self.remote:
            images = self.images
            # Units of whole model batches, each corrupted from its place in the run: the
            # same batches and seeds as one call on all of them.
            for part in parts:
                ims = images[part[0] : part[-1] + 1]
                results.append(_predict(self.src, _corrupt(ims, spec, part[0])))
                self.steps.add(len(part))
            return self._joined(results)
        assert self.run is not None and self.model is not None
        units = []
        for part in parts:
            its = [self.items[k] for k in part]
            units.append(
                PredictUnit(
                    self.model,
                    self.src.name,
                    self.src.task,
                    tuple(it.item_id for it in its),
                    tuple(it.name for it in its),
                    part[0],
                    spec,
                )
            )
        for unit, result in zip(units, self.run.map(predict_unit, units), strict=True):
            results.append(result)
            self.steps.add(len(unit.item_ids))
        return self._joined(results)

    def _joined(self, results: list[Any]) -> Any:
        if self.src.task == "classification":
            if not results:
                return np.zeros((0, len(self.src.classes)))
            return np.concatenate(results)
        out: list[Boxes] = []
        for r in results:
            out += r
        return out
