"""Nothing dropped unseen: every export reports what it could not carry; --strict refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fmt_helpers import save_images

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import ImportBundle, ImportedAnnotation, ImportedMedia
from assay.formats.io import import_bundle
from assay.workspace import Workspace

REPORTS = [
    "Field report: river gauge at the north bridge reads 4.2 m, water over the road.",
    "Field report: levee seepage observed at km 12, sandbagging crew on site.",
]


def _mixed(ws: Workspace, tmp_path: Path) -> None:
    save_images(tmp_path / "img", ["a.png"], (64, 48))
    regions = [
        Region(kind="box", label="car", box=(1.0, 2.0, 10.0, 10.0)),
        Region(kind="choice", control="damage", label="minor"),
        Region(kind="choice", control="scene", label="urban"),
        Region(kind="point", label="car", points=((3.0, 4.0),)),
    ]
    m = ImportedMedia(name="a.png", path=tmp_path / "img" / "a.png", width=64, height=48)
    m.annotations.append(ImportedAnnotation(regions=regions, author="user:ana"))
    import_bundle(ws, ImportBundle(media=[m]), "street")


def test_export_counts_what_the_format_cannot_hold(ws: Workspace, tmp_path: Path) -> None:
    _mixed(ws, tmp_path)
    res = ws.export("street", "coco", tmp_path / "coco", media=False)
    assert res["dropped"] == {"choices": 2, "points": 1}
    doc = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert len(doc["annotations"]) == 1


def test_python_export_logs_its_drops_in_the_plural(
    ws: Workspace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A Python API user reads the log line, not `dropped`: "2 choice, 1 point" read as a slip.
    _mixed(ws, tmp_path)
    ws.export("street", "coco", tmp_path / "coco", media=False)
    said = [r.getMessage() for r in caplog.records if "cannot hold" in r.getMessage()]
    assert said == ["COCO export cannot hold these regions and skipped them: 2 choices, 1 points"]


def test_strict_export_refuses_and_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    _mixed(ws, tmp_path)
    out = tmp_path / "coco"
    with pytest.raises(InvalidInput, match=r"COCO cannot hold 2 choices, 1 points.*--strict"):
        ws.export("street", "coco", out, strict=True)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # Label Studio holds every kind: strict passes.
    res = ws.export("street", "labelstudio", tmp_path / "ls", strict=True)
    assert res["dropped"] == {}


def test_cli_reports_drops_on_stderr_and_in_json(run_cli, tmp_path: Path) -> None:
    run_cli("init", tmp_path / "w")
    w = Workspace.open(tmp_path / "w")
    _mixed(w, tmp_path)
    w.close()
    res = run_cli(
        "-w",
        tmp_path / "w",
        "export",
        "street",
        "--format",
        "yolo",
        "--out",
        tmp_path / "y",
        "--json",
    )
    assert json.loads(res.stdout)["dropped"] == {"choices": 2, "points": 1}
    assert "could not carry 2 choices, 1 points" in res.stderr
    res = run_cli(
        "-w",
        tmp_path / "w",
        "export",
        "street",
        "--format",
        "voc",
        "--out",
        tmp_path / "v",
        "--strict",
        code=1,
    )
    assert "nothing written" in res.stderr
    assert not (tmp_path / "v").exists()


def test_text_dataset_to_an_image_format_is_refused(ws: Workspace, tmp_path: Path) -> None:
    media = [ImportedMedia(name=f"r{i}.txt", text=t) for i, t in enumerate(REPORTS)]
    media[0].annotations.append(
        ImportedAnnotation([Region(kind="span", label="place", span=(0, 5))], author="user:ana")
    )
    import_bundle(ws, ImportBundle(media=media), "reports")
    out = tmp_path / "coco"
    for fmt in ("coco", "yolo", "voc"):
        with pytest.raises(InvalidInput, match=r"cannot hold the media of reports .*text/plain"):
            ws.export("reports", fmt, out)
        assert not out.exists()


def test_mixed_media_counts_the_items_left_out(ws: Workspace, tmp_path: Path) -> None:
    _mixed(ws, tmp_path)
    text = ImportedMedia(name="r.txt", text=REPORTS[0])
    import_bundle(ws, ImportBundle(media=[text]), "street")
    res = ws.export("street", "coco", tmp_path / "coco", media=False)
    assert res["dropped"] == {"choices": 2, "points": 1, "text items": 1}
