"""JSONL and Parquet: everything survives; Parquet reads in Hugging Face datasets."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fmt_helpers import LABELS, bundle, image_row, points, polygons, sizes, text_row
from fmt_helpers import boxes as box_regions
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import ExportRow, jsonl, parquet

TEXT = "Shelter at Lincoln High School is full; send water."


def _rows() -> list[ExportRow]:
    box = Region(
        id="r1",
        kind="box",
        label="vehicle",
        box=(1.5, 2, 3, 4),
        attributes={"occluded": True, "note": "half under water"},
        score=0.75,
        author="model:det@2",
    )
    return [
        image_row(
            "scenes/a.png",
            [box, Region(kind="choice", control="damage", label="minor", author="user:ana")],
            metadata={"sensor": "uav-1", "geo": {"lat": 38.5, "lon": -121.7}},
            marking="SECRET/FLOOD",
            authors=["model:det@2", "user:ana"],
        ),
        text_row(
            "r1.txt",
            TEXT,
            [
                Region(kind="span", control="ner", label="LOC", span=(10, 29), author="user:bo"),
                Region(kind="rating", control="urgency", value=4.0, author="user:bo"),
                Region(kind="ranking", control="rank", ranking=("a", "b"), author="user:bo"),
                Region(kind="text", control="summary", text="shelter full", author="user:bo"),
            ],
        ),
    ]


def _regions(b: Any) -> dict[str, list[Region]]:
    return {m.name: [r for a in m.annotations for r in a.regions] for m in b.media}


@pytest.mark.parametrize("codec", [jsonl, parquet])
def test_write_then_read_keeps_everything(tmp_path: Path, codec: Any) -> None:
    rows = _rows()
    written = codec.write(bundle(rows, marking="SECRET/FLOOD"), tmp_path)
    assert tmp_path / "MARKING.txt" in written
    assert (tmp_path / "MARKING.txt").read_text().startswith("SECRET/FLOOD\n")
    assert (tmp_path / "media/scenes/a.png").is_file()
    back = codec.read(tmp_path)
    assert _regions(back) == {r.name: r.regions for r in rows}
    img, txt = back.media
    assert img.metadata == rows[0].metadata and img.marking == "SECRET/FLOOD"
    assert (img.width, img.height) == (64, 48)
    assert img.path == (tmp_path / "media/scenes/a.png").resolve()
    assert txt.path is not None and txt.path.read_text() == TEXT
    assert [a.author for a in img.annotations] == ["model:det@2", "user:ana"]
    assert [a.kind for a in img.annotations] == ["model", "human"]
    assert back.label_names[: len(LABELS)] == LABELS


def test_jsonl_records_and_file_metadata(tmp_path: Path) -> None:
    jsonl.write(bundle(_rows(), marking="SECRET/FLOOD"), tmp_path)
    lines = (tmp_path / "items.jsonl").read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert {"id", "file", "media_type", "marking", "metadata", "labels"} <= set(first)
    assert first["marking"] == "SECRET/FLOOD" and second["text"] == TEXT
    assert first["labels"][0]["box"] == [1.5, 2, 3, 4]
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["marking"] == "SECRET/FLOOD" and meta["items"] == 2


def test_parquet_schema_metadata_and_hf_datasets(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    parquet.write(bundle(_rows(), marking="SECRET/FLOOD"), tmp_path / "out")
    path = tmp_path / "out/items.parquet"
    meta = pq.read_schema(path).metadata
    assert meta[b"assay.marking"] == b"SECRET/FLOOD"
    assert json.loads(meta[b"assay.label_names"]) == LABELS
    import datasets

    ds = datasets.load_dataset(
        "parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert ds.num_rows == 2
    assert ds[0]["marking"] == "SECRET/FLOOD" and ds[1]["marking"] == "CUI"
    assert ds[0]["labels"][0]["box"] == [1.5, 2, 3, 4]
    assert ds[0]["labels"][0]["label"] == "vehicle"
    assert ds[1]["labels"][0]["span"] == [10, 29]
    assert json.loads(ds[0]["metadata"])["sensor"] == "uav-1"


def test_bad_jsonl_lines(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    good = {"name": "a.txt", "text": "hi", "labels": []}
    bad_region = {"name": "a.txt", "text": "hi", "labels": [{"kind": "box", "box": [1, 2]}]}
    cases = [
        ("{not json}", "items.jsonl line 2 column 2: invalid JSON"),
        (json.dumps(bad_region), "items.jsonl line 2: labels[0].box.2: Field required"),
        (json.dumps({"name": "b.png", "file": "media/b.png"}), "media 'media/b.png' not found"),
        (json.dumps({"name": "c", "labels": {}}), "items.jsonl line 2: labels: expected a list"),
        (
            json.dumps({"name": "c"}),
            "record: neither 'file', 'text' nor the item 'id' gives the media",
        ),
    ]
    for line, message in cases:
        path.write_text(json.dumps(good) + "\n" + line + "\n")
        with pytest.raises(InvalidInput) as err:
            jsonl.read(path)
        assert message in str(err.value)


def test_bad_parquet(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(InvalidInput, match=r"items.parquet: not a readable Parquet file"):
        parquet.read(path)
    import pyarrow as pa

    pq.write_table(pa.table({"id": ["x"]}), path)
    with pytest.raises(InvalidInput, match=r"items.parquet: schema: missing columns: name"):
        parquet.read(path)


@st.composite
def any_rows(draw: st.DrawFn) -> list[ExportRow]:
    rows = []
    attrs = st.dictionaries(st.sampled_from(["difficult", "note"]), st.integers(0, 3), max_size=2)
    authors = st.sampled_from(["user:1", "model:m@1", None])
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(sizes)
        geo = st.one_of(box_regions(w, h), polygons(w, h), points(w, h))
        regions = [
            r.model_copy(
                update={
                    "attributes": draw(attrs),
                    "author": draw(authors),
                    "id": f"r{j}",
                    "score": draw(st.none() | st.floats(0, 1)),
                }
            )
            for j, r in enumerate(draw(st.lists(geo, max_size=4)))
        ]
        marking = draw(st.sampled_from(["UNCLASSIFIED", "CUI", "SECRET/SAR"]))
        rows.append(image_row(f"i{i}.png", regions, (w, h), marking=marking))
    return rows


@settings(max_examples=20, deadline=None)
@given(any_rows(), st.sampled_from([jsonl, parquet]))
def test_round_trip_property(rows: list[ExportRow], codec: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        codec.write(bundle(rows), Path(tmp))
        back = codec.read(Path(tmp))
    got = _regions(back)
    for row, m in zip(rows, back.media, strict=True):
        assert sorted(got[row.name], key=lambda r: r.id) == row.regions
        assert m.marking == row.marking


def test_region_record_matches_model_dump() -> None:
    from assay.formats._records import region_record

    for row in _rows():
        for r in row.regions:
            assert json.loads(json.dumps(region_record(r))) == r.model_dump(
                mode="json", exclude_none=True
            )
