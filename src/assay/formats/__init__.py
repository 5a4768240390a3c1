"""Label formats: one codec per module, all reachable through one registry.

Example:
    >>> from assay.formats import get_codec
    >>> get_codec("coco").name
    'coco'
"""

from __future__ import annotations

from assay.formats import (
    coco,
    cvat,
    cvat_video,
    geojson,
    jsonl,
    labelstudio,
    llm,
    mot,
    parquet,
    stac,
    voc,
    yolo,
)
from assay.formats._model import (
    ExportBundle,
    ExportRow,
    ImportBundle,
    ImportedAnnotation,
    ImportedMedia,
    ItemLineage,
)
from assay.formats._registry import Codec, Reader, Registry, Writer
from assay.formats._validate import BOUNDS_TOLERANCE_PX


def _build() -> Registry:
    registry = Registry()
    for module in (coco, yolo, voc, labelstudio, jsonl, parquet, cvat, cvat_video, mot, geojson,
                   stac):  # fmt: skip
        registry.register(module.CODEC)
    registry.register(yolo.SEGMENT_CODEC)
    for codec in (llm.CHAT_CODEC, llm.SFT_CODEC, llm.DPO_CODEC):
        registry.register(codec)
    return registry


REGISTRY = _build()


def get_codec(name: str) -> Codec:
    """The codec registered as `name`, or `InvalidInput` listing the known formats."""
    return REGISTRY.get(name)


__all__ = [
    "BOUNDS_TOLERANCE_PX",
    "REGISTRY",
    "Codec",
    "ExportBundle",
    "ExportRow",
    "ImportBundle",
    "ImportedAnnotation",
    "ImportedMedia",
    "ItemLineage",
    "Reader",
    "Registry",
    "Writer",
    "get_codec",
]
