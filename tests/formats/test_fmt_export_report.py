"""What an export tells the user beyond the files: a YOLO export with no validation split
says so (and never validates on the training images), and a long export shows its progress
on a terminal as an import does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fmt_helpers import save_images

from assay.domain.labels import Region
from assay.formats import ImportBundle, ImportedAnnotation, ImportedMedia
from assay.formats import _export as fexport
from assay.formats.io import import_bundle
from assay.workspace import Workspace
from cli_support import on_a_terminal


def _street(ws: Workspace, tmp_path: Path, n: int, splits: dict[int, str] | None = None) -> None:
    media = []
    for i in range(n):
        name = f"s{i:03d}.png"
        save_images(tmp_path / "img", [name], (64, 48 + i))  # bytes of their own
        meta = {"split": (splits or {}).get(i, "train")}
        m = ImportedMedia(
            name=name, path=tmp_path / "img" / name, width=64, height=48 + i, metadata=meta
        )
        box = Region(kind="box", label="car", box=(1.0, 2.0, 10.0, 10.0))
        m.annotations.append(ImportedAnnotation(regions=[box], author="user:ana"))
        media.append(m)
    import_bundle(ws, ImportBundle(media=media), "street")


@pytest.mark.parametrize("fmt", ["yolo", "yolo-seg"])
def test_yolo_without_a_val_split_never_validates_on_the_training_images(
    ws: Workspace, tmp_path: Path, fmt: str
) -> None:
    # data.yaml said `val: images/train`: Ultralytics validated on what it trained on and
    # reported inflated metrics, and the export said nothing.
    _street(ws, tmp_path, 3, {2: "test"})
    out = tmp_path / "out"
    result = ws.export("street", fmt, out)
    doc = yaml.safe_load((out / "data.yaml").read_text())
    assert (doc["train"], doc["val"], doc["test"]) == ("images/train", "images/val", "images/test")
    assert (out / "images/val").is_dir() and not any((out / "images/val").iterdir())
    assert (out / "labels/val").is_dir()
    assert len(result["warnings"]) == 1
    assert "no item has split 'val'" in result["warnings"][0]
    assert "images/val" in result["warnings"][0]
    if fmt == "yolo":  # a warning, not a loss: --strict does not refuse it
        assert result["dropped"] == {}
        ws.export("street", fmt, tmp_path / "strict", strict=True)


def test_yolo_with_a_val_split_has_no_warning(ws: Workspace, tmp_path: Path) -> None:
    _street(ws, tmp_path, 2, {1: "val"})
    result = ws.export("street", "yolo", tmp_path / "out")
    assert result["warnings"] == []
    assert (tmp_path / "out/images/val/s001.png").is_file()


def test_the_cli_says_so_on_stderr_and_under_warnings(
    cli: Any, ws: Workspace, tmp_path: Path
) -> None:
    _street(ws, tmp_path, 2)
    res = cli("export", "street", "--format", "yolo", "--out", tmp_path / "o", "--json",
              cwd=tmp_path / "ws")  # fmt: skip
    assert "no item has split 'val'" in res.json()["warnings"][0]
    assert "warning: yolo export: no item has split 'val'" in res.stderr
    ws.commit("street", "first")
    res = cli("checkout", "street", "--format", "coco", "--out", tmp_path / "c", "--json",
              cwd=tmp_path / "ws")  # fmt: skip
    assert res.json()["warnings"] == [] and "warning" not in res.stderr


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc", "jsonl", "mot"])
def test_an_export_tells_its_progress_over_every_media_file(
    ws: Workspace, tmp_path: Path, fmt: str
) -> None:
    n = 2 * fexport._TELL_EVERY + 5
    _street(ws, tmp_path, n)
    told: list[tuple[int, int]] = []
    ws.export("street", fmt, tmp_path / "out", progress=lambda d, t: told.append((d, t)))
    assert told[-1] == (n, n)
    assert [d for d, _ in told] == sorted({d for d, _ in told})
    assert len(told) == n // fexport._TELL_EVERY + 1  # every few files, not every file
    if fmt != "voc":  # VOC reads each image for its depth even with --no-media
        told.clear()
        ws.export("street", fmt, tmp_path / "bare", media=False, progress=lambda d, t: None)
        assert told == []


def test_the_cli_shows_a_bar_on_a_terminal_and_none_with_json(
    ws: Workspace, tmp_path: Path
) -> None:
    _street(ws, tmp_path, 3, {0: "val"})
    cwd = tmp_path / "ws"
    shown = on_a_terminal(["export", "street", "--format", "yolo", "--out", "a"], cwd)
    assert "writing media" in shown
    quiet = on_a_terminal(["export", "street", "--format", "yolo", "--out", "b", "--json"], cwd)
    assert "writing media" not in quiet
    assert (cwd / "b/data.yaml").is_file()


def test_import_shows_its_bar_on_a_terminal_and_none_with_json(
    ws: Workspace, tmp_path: Path
) -> None:
    _street(ws, tmp_path, 3)
    ws.export("street", "coco", tmp_path / "c")
    cwd = tmp_path / "ws"
    args = ["import", str(tmp_path / "c/annotations.json"), "--format", "coco",
            "--images", str(tmp_path / "c/images")]  # fmt: skip
    shown = on_a_terminal([*args, "--dataset", "again"], cwd)
    assert "storing media" in shown
    quiet = on_a_terminal([*args, "--dataset", "twice", "--json"], cwd)
    assert "storing media" not in quiet
    assert {d.name: d.items for d in ws.datasets()}["twice"] == 3  # imported all the same
