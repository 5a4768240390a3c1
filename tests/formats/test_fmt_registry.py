from __future__ import annotations

import pytest

from assay.errors import InvalidInput
from assay.formats import REGISTRY, Codec, Registry, get_codec


def test_every_format_is_registered_once() -> None:
    writers = ["coco", "jsonl", "labelstudio", "parquet", "voc", "yolo", "yolo-seg"]
    assert set(writers) <= set(REGISTRY.writers())
    assert {"coco", "labelstudio", "yolo", "voc"} <= set(REGISTRY.readers())
    assert get_codec("yolo").name == "yolo"


def test_unknown_format_lists_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"unknown format 'pascal'; known formats: chat, coco, "):
        get_codec("pascal")


def test_duplicate_name_fails_loudly() -> None:
    reg = Registry()
    reg.register(get_codec("coco"))
    with pytest.raises(ValueError, match="registered twice"):
        reg.register(Codec(name="coco", read=None, write=None))
