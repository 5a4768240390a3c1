"""An import of any format over bytes already held raises the item's marking, never lowers it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import REGISTRY
from assay.store.schema import items
from assay.versioning import LabelRecord
from assay.workspace import Workspace


def test_every_reader_raises_an_existing_items_marking(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(tmp_path / "imgs" / "frame_000001.png")
    (item,) = ws.ingest([tmp_path / "imgs"]).new
    ws.create_dataset("src")
    ws.add_items("src")
    box = Region(kind="box", control="label", label="car", box=(2, 2, 10, 10))
    ws.set_labels("src", [LabelRecord(item, [box])])
    held = ["CUI"]
    # GeoJSON and STAC carry georeferenced items only (this PNG has none): their imports
    # raise markings in test_fmt_geo_roundtrip.py.
    readers = [r for r in REGISTRY.readers() if r not in ("geojson", "stac")]
    assert {"coco", "labelstudio", "yolo", "voc", "jsonl", "parquet"} <= set(readers)
    for i, fmt in enumerate(readers):
        out = tmp_path / fmt
        ws.export("src", fmt, out)
        source = out / "annotations.json" if fmt == "coco" else out
        report = ws.import_labels(source, fmt, f"copy{i}", marking=f"CUI/C{i}")
        old = "/".join(held) if i else "UNCLASSIFIED"
        held.append(f"C{i}")
        assert [c.to_dict() for c in report.raised] == [
            {"item": item, "old": old, "new": "/".join(held)}
        ], fmt
        # The same import with a lower marking changes nothing.
        again = ws.import_labels(source, fmt, f"copy{i}", marking="UNCLASSIFIED")
        assert again.raised == [], fmt
    marks = [e.details for e in ws.audit_log() if e.action == "item.mark"]
    assert [m["via"] for m in marks] == ["import"] * len(readers)


def test_a_no_media_reimport_raises_the_items_it_names(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(tmp_path / "imgs" / "scene.png")
    (item,) = ws.ingest([tmp_path / "imgs"]).new
    ws.create_dataset("src")
    ws.add_items("src")
    for fmt in ("jsonl", "parquet"):
        ws.export("src", fmt, tmp_path / fmt, media=False)
    first = ws.import_labels(tmp_path / "jsonl", "jsonl", "again", marking="SECRET")
    assert [c.to_dict() for c in first.raised] == [
        {"item": item, "old": "UNCLASSIFIED", "new": "SECRET"}
    ]
    second = ws.import_labels(tmp_path / "parquet", "parquet", "again", marking="CUI/SAR")
    assert [c.new for c in second.raised] == ["SECRET/SAR"]


def _exported(ws: Workspace, tmp_path: Path, fmt: str) -> tuple[str, Path]:
    """One UNCLASSIFIED image in the dataset "src", exported as `fmt`: its id and the folder."""
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(tmp_path / "imgs" / "scene.png")
    (item,) = ws.ingest([tmp_path / "imgs"]).new
    ws.create_dataset("src")
    ws.add_items("src")
    ws.export("src", fmt, tmp_path / fmt)
    return item, tmp_path / fmt


def _parquet_marked(folder: Path, meta: dict[bytes, bytes]) -> None:
    """The export's items.parquet with its schema metadata keys set to `meta`."""
    import pyarrow.parquet as pq

    path = folder / "items.parquet"
    table = pq.read_table(path)
    kept = {k: v for k, v in (table.schema.metadata or {}).items() if k not in meta}
    pq.write_table(table.replace_schema_metadata({**kept, **meta}), path)


def test_a_parquet_files_own_marking_raises_every_row(ws: Workspace, tmp_path: Path) -> None:
    # The file's marking (schema metadata `assay.marking`, as the export writes it, or
    # `marking`) was not read: a row marked lower than its file came in at the row's level.
    item, out = _exported(ws, tmp_path, "parquet")
    _parquet_marked(out, {b"assay.marking": b"CUI/FLOOD", b"marking": b"SECRET"})
    report = ws.import_labels(out, "parquet", "copy", marking="CUI/SAR")
    # The highest of both keys, --marking and the row's own.
    assert [c.to_dict() for c in report.raised] == [
        {"item": item, "old": "UNCLASSIFIED", "new": "SECRET/FLOOD/SAR"}
    ]
    # Only one key, lower than the item now: nothing goes down.
    _parquet_marked(out, {b"assay.marking": b"CUI", b"marking": b"CUI"})
    assert ws.import_labels(out, "parquet", "copy").raised == []
    # A key that holds no marking of this workspace is refused by name; nothing is written.
    events = len(ws.audit_log())
    _parquet_marked(out, {b"marking": b"SEKRET"})
    with pytest.raises(InvalidInput, match=r"items\.parquet: schema metadata 'marking': "):
        ws.import_labels(out, "parquet", "never")
    assert len(ws.audit_log()) == events
    assert "never" not in [d.name for d in ws.datasets()]


def test_a_jsonl_files_own_marking_raises_every_row(ws: Workspace, tmp_path: Path) -> None:
    # metadata.json's `marking` (the export's highest) was not read either.
    item, out = _exported(ws, tmp_path, "jsonl")
    meta = json.loads((out / "metadata.json").read_text())
    (out / "metadata.json").write_text(json.dumps({**meta, "marking": "CUI/FLOOD"}))
    report = ws.import_labels(out, "jsonl", "copy")
    assert [c.to_dict() for c in report.raised] == [
        {"item": item, "old": "UNCLASSIFIED", "new": "CUI/FLOOD"}
    ]
    (out / "metadata.json").write_text(json.dumps({**meta, "marking": "SEKRET"}))
    with pytest.raises(InvalidInput, match=r"metadata\.json: marking: "):
        ws.import_labels(out, "jsonl", "copy")
    # A row's own unknown marking names the file and the item (it named neither).
    (out / "metadata.json").write_text(json.dumps(meta))
    line = (out / "items.jsonl").read_text().replace('"marking":"UNCLASSIFIED"', '"marking":"X"')
    (out / "items.jsonl").write_text(line)
    with pytest.raises(InvalidInput, match=r"items\.jsonl: media 'scene\.png': marking: unknown"):
        ws.import_labels(out, "jsonl", "copy")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_banner_its_rows_reach_leaves_each_row_its_own(
    ws: Workspace, tmp_path: Path, fmt: str
) -> None:
    # A file's own marking is its banner, the highest of all it holds. Re-importing an export
    # of a dataset marked UNCLASSIFIED and SECRET item by item raised every item to SECRET.
    for name, colour, mark in (("low", 10, None), ("high", 200, "SECRET")):
        (tmp_path / name).mkdir()
        Image.new("RGB", (64, 48), (colour, 20, 30)).save(tmp_path / name / f"{name}.png")
        ws.ingest([tmp_path / name], marking=mark)
    ws.create_dataset("src")
    ws.add_items("src")
    ws.export("src", fmt, tmp_path / fmt)
    report = ws.import_labels(tmp_path / fmt, fmt, "again")
    assert report.raised == []
    with ws.db.read() as conn:
        assert set(conn.execute(select(items.c.marking)).scalars()) == {"UNCLASSIFIED", "SECRET"}
    # The dataset the import makes is declared at the banner, as the exported one was at
    # least: it stays SECRET when its SECRET item leaves it.
    (again,) = [d for d in ws.datasets() if d.name == "again"]
    assert again.marking == "SECRET"
    create = [e for e in ws.audit_log() if e.action == "dataset.create"][-1]
    assert create.details == {"via": "import", "marking": "SECRET"}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_banner_above_every_row_raises_them_all(ws: Workspace, tmp_path: Path, fmt: str) -> None:
    # A dataset declared higher than its items: nothing says which rows the banner covers.
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(tmp_path / "imgs" / "scene.png")
    (item,) = ws.ingest([tmp_path / "imgs"]).new
    ws.create_dataset("src", marking="SECRET/SAR")
    ws.add_items("src")
    ws.export("src", fmt, tmp_path / fmt)
    report = ws.import_labels(tmp_path / fmt, fmt, "again")
    assert [c.to_dict() for c in report.raised] == [
        {"item": item, "old": "UNCLASSIFIED", "new": "SECRET/SAR"}
    ]
