"""The column path's text helpers: floats printed as JSON, texts written from Arrow's own
buffers, the label-map check that skips parsing payloads, and media names cleaned in bulk."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from assay.domain.canonical import canonical_json
from assay.errors import InvalidInput
from assay.formats import _arrow_json as aj
from assay.formats._export import safe_relpath, safe_relpaths, unique_relpaths
from assay.formats._stream import RowColumns
from assay.formats.io import _all_known


def _general(values: np.ndarray) -> list[str]:
    """Each value through Arrow's float printing (the path a batch with any fraction takes)."""
    mixed = np.concatenate([values, [0.5]])
    return aj.floats(mixed).to_pylist()[:-1]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "values",
    [
        [0.0, 1.0, -3.0, 64.0, 999_999_999.0, -999_999_999.0],
        [-0.0, 0.0, 12.0],
        [1e9, 2e15, 123.0],
        list(np.random.default_rng(0).integers(-5000, 5000, 2000).astype(float)),
    ],
)
def test_whole_floats_print_as_arrow_prints_them(values: list[float]) -> None:
    arr = np.array(values, dtype=np.float64)
    got = aj.floats(arr).to_pylist()
    assert got == _general(arr)
    assert [float(t) for t in got] == values
    assert all("." in t or "e" in t for t in got)


def test_floats_keep_fractions_and_negative_zero() -> None:
    got = aj.floats(np.array([-0.0, 2.5, 0.1 + 0.2, 24.0])).to_pylist()
    assert got == ["-0.0", "2.5", "0.30000000000000004", "24.0"]


def test_text_is_the_arrays_own_bytes() -> None:
    arr = pa.array(["ab", "cdé", None, "gh"])
    assert bytes(aj.text(arr)) == "abcdégh".encode()
    assert bytes(aj.text(arr.slice(1, 2))) == "cdé".encode()
    assert bytes(aj.text(pa.chunked_array([["a"], ["b", "c"]]))) == b"abc"
    assert bytes(aj.text(pa.array([], pa.string()))) == b""


def _payloads(*regions: list[dict[str, object]]) -> pa.Array:
    return pa.array([canonical_json(r) for r in regions])  # as stored


def test_known_labels_are_told_without_parsing() -> None:
    known = {"roof", 'vehicle "car"', "débris", "a\\b"}
    box = {"kind": "box", "box": [1.0, 2.0, 3.0, 4.0], "attributes": {}}
    assert _all_known(
        _payloads([{**box, "label": "roof"}], [], [{**box, "label": "débris"}]), known
    )
    assert _all_known(_payloads([{**box, "label": "a\\b"}]), known)
    assert _all_known(_payloads([], []), known)
    # Anything else answers False, and the payloads are parsed.
    assert not _all_known(_payloads([{**box, "label": "tree"}]), known)
    assert not _all_known(_payloads([{**box, "label": 'vehicle "car"'}]), known)
    assert not _all_known(_payloads([{**box, "label": None}]), known)
    nested = {**box, "label": "roof", "attributes": {"label": "tree"}}
    assert not _all_known(_payloads([nested]), known)
    assert not _all_known(_payloads([{**box, "text": '"label":"x"', "label": "tree"}]), known)


AWKWARD = ["a.png", "x/y.png", "a.b.png", "./a.png", "x//y.png", "x\\y.png", "é.png", "x/../y.png"]


def test_names_are_cleaned_as_one_by_one() -> None:
    got = safe_relpaths(pa.array(AWKWARD)).to_pylist()
    assert got == [safe_relpath(n) for n in AWKWARD]
    for bad in ["../up.png", "/etc/x.png", ""]:
        with pytest.raises(InvalidInput):
            safe_relpaths(pa.array(["ok.png", bad]))


def _columns(names: list[str], unique: bool) -> RowColumns:
    columns = RowColumns.of_table(pa.table({"name": pa.array(names, pa.string())}))
    columns.unique_names = unique
    return columns


def test_names_known_unique_are_not_counted_again_unless_cleaned() -> None:
    names = ["a.png", "b.png"]
    assert unique_relpaths(_columns(names, True), "image").to_pylist() == names
    with pytest.raises(InvalidInput, match=r"would both be written as image 'a\.png'"):
        unique_relpaths(_columns(["a.png", "a.png"], False), "image")
    # Distinct names that clean to one path are refused, known unique or not.
    with pytest.raises(InvalidInput, match=r"would both be written as image 'b\.png'"):
        unique_relpaths(_columns(["x/../b.png", "b.png"], True), "image")
