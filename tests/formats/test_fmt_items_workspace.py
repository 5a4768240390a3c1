"""assay's own JSONL and Parquet through a workspace and back: every region of every author,
exports made without media, and Parquet with the images inside (Hugging Face `datasets`)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import ImportBundle, ImportedAnnotation, ImportedMedia
from assay.formats.io import export_bundle, import_bundle
from assay.versioning import LabelRecord
from assay.workspace import Workspace

ANA = [
    Region(kind="box", label="vehicle", box=(2.0, 3.0, 10.0, 8.0), author="user:ana"),
    Region(kind="polygon", label="debris", points=((1.0, 1.0), (9.0, 1.0), (5.0, 7.0))),
]
BEN = [Region(kind="box", label="person", box=(20.0, 12.0, 6.0, 14.0), author="user:ben")]
PRED = [Region(kind="box", label="vehicle", box=(2.5, 3.0, 10.0, 8.0), score=0.8)]
FORMATS = ["jsonl", "parquet"]


def _two_labellers(ws: Workspace, tmp_path: Path) -> str:
    """One flood image labelled by two people; the labels of record keep all three regions."""
    (tmp_path / "img").mkdir()
    for k, name in enumerate(("bridge.png", "road.png")):
        Image.new("RGB", (64, 48), (40 + 50 * k, 90, 160)).save(tmp_path / "img" / name)
    media = []
    for name in ("bridge.png", "road.png"):
        m = ImportedMedia(name=name, path=tmp_path / "img" / name, width=64, height=48)
        m.annotations.append(ImportedAnnotation(regions=ANA, author="user:ana", lead_time=12.5))
        m.annotations.append(ImportedAnnotation(regions=BEN, author="user:ben"))
        m.annotations.append(ImportedAnnotation(regions=PRED, author="model:det@1", kind="model"))
        media.append(m)
    import_bundle(ws, ImportBundle(media=media), "flood")
    rows = export_bundle(ws, ws.resolve("flood", default_head=False)).rows
    item = next(r for r in rows if r.name == "bridge.png").item_id
    full = export_bundle(ws, ws.resolve("flood", default_head=False), all_annotations=True)
    ids = [a.id for r in full.rows if r.item_id == item for a in r.annotations if a.kind == "human"]
    regions = [ANA[0], BEN[0], ANA[1].model_copy(update={"author": "user:ana"})]
    ws.set_labels("flood", [LabelRecord(item, regions, ids, ["user:ana", "user:ben"])])
    return item


def _record(ws: Workspace, dataset: str, item: str) -> Any:
    return next(
        r
        for r in export_bundle(ws, ws.resolve(dataset, default_head=False)).rows
        if r.item_id == item
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_all_regions_of_all_authors_survive_the_round_trip(
    ws: Workspace,
    tmp_path: Path,
    fmt: str,
    new_database: Callable[[], None],
    closes: Callable[[Workspace], Workspace],
) -> None:
    item = _two_labellers(ws, tmp_path)
    before = _record(ws, "flood", item)
    assert len(before.regions) == 3
    ws.export("flood", fmt, tmp_path / "out")
    report = ws.import_labels(tmp_path / "out", fmt, "copy")
    after = _record(ws, "copy", item)
    assert after.regions == before.regions  # 3 stay 3, in order, each with its author
    assert [r.author for r in after.regions] == ["user:ana", "user:ben", "user:ana"]
    assert after.authors == ["user:ana", "user:ben"]
    assert report.regions == 4  # three on the bridge, one (the latest answer) on the road
    # a fresh workspace gets the same labels of record
    new_database()  # a fresh workspace: its own metadata, on PostgreSQL too
    other = closes(Workspace.init(tmp_path / "other"))
    other.import_labels(tmp_path / "out", fmt, "flood")
    assert _record(other, "flood", item).regions == before.regions


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_media_export_imports_back_where_the_items_are(
    ws: Workspace,
    tmp_path: Path,
    fmt: str,
    new_database: Callable[[], None],
    closes: Callable[[Workspace], Workspace],
) -> None:
    item = _two_labellers(ws, tmp_path)
    res = ws.export("flood", fmt, tmp_path / "labels", media=False)
    assert not (tmp_path / "labels" / "media").exists()
    assert res["dropped"] == {}
    report = ws.import_labels(tmp_path / "labels", fmt, "relabelled")
    assert report.media == 2 and report.new_items == 0
    assert _record(ws, "relabelled", item).regions == _record(ws, "flood", item).regions

    new_database()  # a fresh workspace: its own metadata, on PostgreSQL too
    other = closes(Workspace.init(tmp_path / "other"))
    with pytest.raises(InvalidInput) as err:
        other.import_labels(tmp_path / "labels", fmt, "flood")
    msg = str(err.value)
    assert "labels" in msg and "not in this workspace" in msg and "--no-media" in msg
    assert other.datasets() == []  # nothing partial


def test_no_media_import_error_is_one_line_in_the_cli(
    run_cli: Any, tmp_path: Path, new_database: Callable[[], None]
) -> None:
    run_cli("init", tmp_path / "w")
    ws = Workspace.open(tmp_path / "w")
    _two_labellers(ws, tmp_path)
    ws.export("flood", "jsonl", tmp_path / "labels", media=False)
    ws.close()
    new_database()  # a fresh workspace: its own metadata, on PostgreSQL too
    run_cli("init", tmp_path / "fresh")
    res = run_cli(
        "-w",
        tmp_path / "fresh",
        "import",
        tmp_path / "labels",
        "--format",
        "jsonl",
        "--dataset",
        "flood",
        code=1,
    )
    assert "not in this workspace" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_embedded_images_load_in_hf_datasets_and_import_back(
    ws: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_database: Callable[[], None],
    closes: Callable[[Workspace], Workspace],
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    import datasets

    item = _two_labellers(ws, tmp_path)
    res = ws.export("flood", "parquet", tmp_path / "hf", embed_media=True)
    assert not (tmp_path / "hf" / "media").exists()  # the bytes live in the file
    path = tmp_path / "hf" / "items.parquet"
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert isinstance(ds.features["image"], datasets.Image)
    rows = {r["id"]: r for r in ds}
    assert set(rows) == {
        r.item_id for r in export_bundle(ws, ws.resolve("flood", default_head=False)).rows
    }
    row = rows[item]
    original = Image.open(tmp_path / "img" / "bridge.png")
    assert row["image"].size == (64, 48)
    assert np.array_equal(
        np.asarray(row["image"].convert("RGB")), np.asarray(original.convert("RGB"))
    )
    assert [(r["kind"], r["label"], r["author"]) for r in row["labels"]] == [
        ("box", "vehicle", "user:ana"),
        ("box", "person", "user:ben"),
        ("polygon", "debris", "user:ana"),
    ]
    assert row["labels"][1]["box"] == [20.0, 12.0, 6.0, 14.0]
    assert res["files"] and res["dropped"] == {}

    new_database()  # a fresh workspace: its own metadata, on PostgreSQL too
    other = closes(Workspace.init(tmp_path / "other"))
    report = other.import_labels(path, "parquet", "flood")
    assert report.new_items == 2
    back = _record(other, "flood", item)
    assert back.regions == _record(ws, "flood", item).regions
    assert Image.open(io.BytesIO(back.read_bytes())).size == (64, 48)


def test_embed_media_is_refused_for_formats_without_a_bytes_column(
    ws: Workspace, tmp_path: Path
) -> None:
    _two_labellers(ws, tmp_path)
    with pytest.raises(InvalidInput, match="--embed-media"):
        ws.export("flood", "jsonl", tmp_path / "x", embed_media=True)
    assert not (tmp_path / "x").exists()


def test_jsonl_carries_the_label_map_and_image_numbers(
    ws: Workspace,
    tmp_path: Path,
    new_database: Callable[[], None],
    closes: Callable[[Workspace], Workspace],
) -> None:
    _two_labellers(ws, tmp_path)
    ws.export("flood", "jsonl", tmp_path / "out", media=True)
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    first = export_bundle(ws, ws.resolve("flood", default_head=False))
    assert meta["label_map"] == [[n, i] for n, i in first.classes().pairs()]
    new_database()  # a fresh workspace: its own metadata, on PostgreSQL too
    other = closes(Workspace.init(tmp_path / "other"))
    other.import_labels(tmp_path / "out", "jsonl", "flood")
    again = export_bundle(other, other.resolve("flood", default_head=False))
    assert again.classes().pairs() == first.classes().pairs()
    assert [(r.item_id, r.number) for r in again.rows] == [
        (r.item_id, r.number) for r in first.rows
    ]


def test_cli_embed_media(run_cli: Any, tmp_path: Path) -> None:
    run_cli("init", tmp_path / "w")
    ws = Workspace.open(tmp_path / "w")
    _two_labellers(ws, tmp_path)
    ws.close()
    base = ["-w", tmp_path / "w", "export", "flood", "--embed-media"]
    doc = run_cli(*base, "--format", "parquet", "--out", tmp_path / "pq", "--json").json()
    assert doc["items"] == 2 and doc["dropped"] == {}
    assert not (tmp_path / "pq" / "media").exists()
    res = run_cli(*base, "--format", "jsonl", "--out", tmp_path / "j", code=1)
    assert "--embed-media" in res.stderr and "parquet" in res.stderr


@pytest.mark.parametrize("fmt", FORMATS)
def test_all_annotations_carry_every_author_prediction_and_lead_time(
    ws: Workspace,
    tmp_path: Path,
    fmt: str,
    new_database: Callable[[], None],
    closes: Callable[[Workspace], Workspace],
) -> None:
    _two_labellers(ws, tmp_path)
    res = ws.export("flood", fmt, tmp_path / "all", all_annotations=True)
    assert res["dropped"] == {}
    new_database()  # a fresh workspace: its own metadata, on PostgreSQL too
    other = closes(Workspace.init(tmp_path / "other"))
    other.import_labels(tmp_path / "all", fmt, "flood")

    def stored(w: Workspace) -> list[Any]:
        rows = export_bundle(w, w.resolve("flood", default_head=False), all_annotations=True).rows
        return sorted(
            (r.name, a.author, a.kind, a.lead_time, a.of_record, tuple(a.regions))
            for r in rows
            for a in r.annotations
        )

    before, after = stored(ws), stored(other)
    assert after == before
    pred = tuple(r.model_copy(update={"author": "model:det@1"}) for r in PRED)
    assert ("bridge.png", "model:det@1", "model", None, False, pred) in after
    assert any(a[1] == "user:ana" and a[3] == 12.5 for a in after)


@pytest.mark.parametrize("fmt", FORMATS)
def test_media_without_a_suffix_is_typed_by_its_bytes_and_exported_with_one(
    ws: Workspace, tmp_path: Path, fmt: str
) -> None:
    # Records naming media files without a suffix (`images/0001`): the bytes say what they
    # are on import (a stated type they contradict is replaced and counted), and the export
    # wrote them as `media/0001`, a file no viewer and no `assay ingest` recognises.
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    Image.new("RGB", (32, 24), (1, 2, 3)).save(src / "images" / "0001", format="PNG")
    Image.new("RGB", (32, 24), (9, 8, 7)).save(src / "images" / "0002", format="JPEG")
    box = {"kind": "box", "label": "boat", "box": [1, 1, 4, 4], "author": "user:ana"}
    records = [
        {"name": "images/0001", "file": "images/0001", "labels": [box]},
        {"name": "images/0002", "file": "images/0002", "media_type": "image/png"},
    ]
    (src / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    report = ws.import_labels(src, "jsonl", "raw")
    assert report.dropped == {"stated media types contradicting the media (replaced)": 1}
    rows = export_bundle(ws, ws.resolve("raw", default_head=False)).rows
    assert {r.name: r.media_type for r in rows} == {"0001": "image/png", "0002": "image/jpeg"}
    out = tmp_path / "out"
    ws.export("raw", fmt, out)
    assert sorted(p.name for p in (out / "media").iterdir()) == ["0001.png", "0002.jpg"]
    if fmt == "jsonl":
        lines = (out / "items.jsonl").read_text().splitlines()
        files = [json.loads(line)["file"] for line in lines]
    else:
        import pyarrow.parquet as pq

        files = pq.read_table(out / "items.parquet").column("file").to_pylist()
    assert sorted(files) == ["media/0001.png", "media/0002.jpg"]
    # The folder ingests as the same items, and the export imports back whole.
    ingested = ws.ingest([out / "media"])
    assert (len(ingested.duplicate), ingested.failed) == (2, [])
    again = ws.import_labels(out, fmt, "again")
    assert (again.media, again.new_items, again.regions, again.dropped) == (2, 0, 1, {})


def test_inline_text_keeps_the_text_type_its_record_states(ws: Workspace, tmp_path: Path) -> None:
    # A Markdown item's record with its text inline (an export made without media) came
    # back text/plain; a record that states an image type for inline text is counted.
    rows = [
        {"name": "notes.md", "text": "# Levee", "media_type": "text/markdown"},
        {"name": "plain", "text": "water at 3 m"},
        {"name": "odd", "text": "not a picture", "media_type": "image/png"},
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = ws.import_labels(tmp_path / "items.jsonl", "jsonl", "notes")
    assert report.dropped == {"stated media types contradicting the media (replaced)": 1}
    got = export_bundle(ws, ws.resolve("notes", default_head=False)).rows
    assert {r.name: r.media_type for r in got} == {
        "notes.md": "text/markdown",
        "plain": "text/plain",
        "odd": "text/plain",
    }
