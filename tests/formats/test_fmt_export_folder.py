"""An export into a folder that already holds an export: replaced file by file when the new one
writes every file there, refused otherwise (a trainer reads every image it finds)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fmt_helpers import save_images

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import ImportBundle, ImportedAnnotation, ImportedMedia
from assay.formats.io import import_bundle
from assay.workspace import Workspace


def _street(ws: Workspace, tmp_path: Path, names: list[str]) -> None:
    media = []
    for i, name in enumerate(names):
        save_images(tmp_path / "img", [name], (64, 48 + i))  # bytes of their own
        m = ImportedMedia(name=name, path=tmp_path / "img" / name, width=64, height=48 + i)
        box = Region(kind="box", label="car", box=(1.0, 2.0, 10.0, 10.0))
        m.annotations.append(ImportedAnnotation(regions=[box], author="user:ana"))
        media.append(m)
    import_bundle(ws, ImportBundle(media=media), "street")


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_smaller_export_into_an_old_one_is_refused_and_leaves_it(
    ws: Workspace, tmp_path: Path
) -> None:
    # YOLO trains on every image under images/: the removed item's image and label file,
    # left behind by the first export, went on being trained on, unseen.
    _street(ws, tmp_path, ["a.png", "b.png"])
    out = tmp_path / "yolo"
    ws.export("street", "yolo", out)
    before = _files(out)
    assert "images/train/b.png" in before and "labels/train/b.txt" in before
    ws.remove_items("street", "name=b.png")
    with pytest.raises(InvalidInput, match=r"yolo: holds 2 file\(s\) this export does not write"):
        ws.export("street", "yolo", out)
    assert _files(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # Another format into the same folder would mix two exports: refused too.
    with pytest.raises(InvalidInput, match=r"annotations\.json|data\.yaml"):
        ws.export("street", "coco", out)


def test_the_same_export_again_replaces_its_files(ws: Workspace, tmp_path: Path) -> None:
    _street(ws, tmp_path, ["a.png", "b.png"])
    out = tmp_path / "yolo"
    ws.export("street", "yolo", out)
    (out / "labels" / "train" / "a.txt").write_text("stale\n")
    ws.export("street", "yolo", out)
    assert (out / "labels" / "train" / "a.txt").read_text() != "stale\n"
