"""assay <-> the real Label Studio 1.23.2 server, region by region.

One server per test session (`ls_server.LabelStudio`). assay exports a dataset with boxes,
polygons, a whole-image choice, two annotators and a model's predictions (`--all-annotations`);
the test creates a project from assay's ``label_config.xml`` (Label Studio validates it),
imports ``tasks.json`` through the API and checks every result and label as Label Studio stores
it. Then it exports the project in JSON (quick and full snapshot), JSON_MIN, COCO and YOLO and
imports each back into assay, comparing region by region with what was sent.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ls_server import LabelStudio, unpack
from PIL import Image

from assay.domain.labels import Region
from assay.formats import ImportBundle, ImportedAnnotation, ImportedMedia, labelstudio
from assay.formats._ls_results import to_regions
from assay.formats.io import export_bundle, import_bundle
from assay.workspace import Workspace

pytestmark = pytest.mark.xdist_group("labelstudio")

W, H = 640, 480


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    server = LabelStudio(tmp_path_factory.mktemp("label-studio"))
    try:
        yield server
    finally:
        server.close()


def _images(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for k, name in enumerate(["flood_001.png", "flood_002.png"]):
        Image.new("RGB", (W, H), (30 + 40 * k, 90, 160)).save(folder / name)
        out[name] = folder / name
    return out


ANA = [
    Region(id="b1", kind="box", label="vehicle", box=(10.0, 20.0, 100.0, 50.0)),
    Region(
        id="p1",
        kind="polygon",
        label="debris",
        points=((200.0, 200.0), (300.0, 210.0), (250.0, 300.0)),
    ),
    Region(id="c1", kind="choice", control="damage", label="minor"),
]
BO = [
    Region(id="b2", kind="box", label="person", box=(50.0, 60.0, 20.0, 40.0)),
    Region(id="b3", kind="box", label="vehicle", box=(12.0, 22.0, 98.0, 48.0)),
]
MODEL = [Region(id="m1", kind="box", label="vehicle", box=(11.0, 21.0, 99.0, 49.0), score=0.8)]
SECOND = [
    Region(
        id="p2",
        kind="polygon",
        label="roof",
        points=((5.0, 5.0), (60.0, 8.0), (40.0, 70.0), (8.0, 50.0)),
    ),
    Region(id="b4", kind="box", label="person", box=(400.0, 300.0, 30.0, 60.0)),
    Region(id="c2", kind="choice", control="damage", label="destroyed"),
]


def _dataset(ws: Workspace, images: dict[str, Path]) -> None:
    a = ImportedMedia(name="flood_001.png", path=images["flood_001.png"], width=W, height=H)
    a.annotations = [
        ImportedAnnotation(ANA, author="user:ana", lead_time=12.5, source_id="x1"),
        ImportedAnnotation(BO, author="user:bo", lead_time=3.25, source_id="x2"),
        ImportedAnnotation(MODEL, author="model:det@3", kind="model", source_id="x3"),
    ]
    b = ImportedMedia(name="flood_002.png", path=images["flood_002.png"], width=W, height=H)
    b.annotations = [ImportedAnnotation(SECOND, author="user:ana", lead_time=7.0)]
    import_bundle(ws, ImportBundle(media=[a, b]), "flood")


def _key(r: Region) -> tuple[Any, ...]:
    """What must survive: kind, label and geometry to 1e-6 px (controls may be renamed)."""
    geo: Any = None
    if r.box is not None:
        geo = tuple(round(c, 6) for c in r.box)
    elif r.points is not None:
        geo = tuple((round(x, 6), round(y, 6)) for x, y in r.points)
    return (r.kind, r.label, geo)


def _keys(
    regions: list[Region], kinds: tuple[str, ...] = ("box", "polygon", "choice")
) -> list[Any]:
    return sorted(_key(r) for r in regions if r.kind in kinds)


SENT = {
    ("flood_001.png", "user:ana"): _keys(ANA),
    ("flood_001.png", "user:bo"): _keys(BO),
    ("flood_002.png", "user:ana"): _keys(SECOND),
}


@pytest.fixture(scope="module")
def project(label_studio: LabelStudio, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """assay's export, imported into a new Label Studio project through its API."""
    base = tmp_path_factory.mktemp("ls-roundtrip")
    images = _images(base / "src")
    ws = Workspace.init(base / "ws")
    try:
        _dataset(ws, images)
        out = label_studio.docs / "flood"
        res = ws.export("flood", "labelstudio", out, all_annotations=True, strict=True)
    finally:
        ws.close()
    assert res["dropped"] == {}
    tasks = json.loads((out / "tasks.json").read_text())
    for t in tasks:  # the document root is the folder above the export
        t["data"]["image"] = t["data"]["image"].replace("?d=images/", "?d=flood/images/")
    config = (out / "label_config.xml").read_text()
    assert label_studio.validate_config(config).status_code == 204, config
    pid = label_studio.create_project("assay round trip", config)
    report = label_studio.import_tasks(pid, tasks)
    return {"id": pid, "config": config, "report": report, "images": base / "src", "base": base}


def test_label_studio_accepts_the_config_and_stores_every_result(
    label_studio: LabelStudio, project: dict[str, Any]
) -> None:
    assert label_studio.version() == "1.23.2"
    assert project["report"]["task_count"] == 2
    assert project["report"]["annotation_count"] == 3
    assert project["report"]["prediction_count"] == 1
    root = ET.fromstring(project["config"])
    controls = {el.get("name"): el for el in root.iter() if el.get("toName")}
    tasks = {t["meta"]["assay_name"]: t for t in label_studio.tasks(project["id"])}
    assert sorted(tasks) == ["flood_001.png", "flood_002.png"]
    stored: dict[tuple[str, str], list[Any]] = {}
    for name, task in tasks.items():
        anns = label_studio.annotations(task["id"])
        for ann in anns:
            for res in ann["result"]:
                # Each result points at a control of its own type that lists its label: this is
                # what the editor shows (a polygon under a RectangleLabels name shows no label).
                control = controls[res["from_name"]]
                assert control.tag.lower() == res["type"]
                labels = res["value"][res["type"]]
                assert len(labels) == 1
                assert labels[0] in {c.get("value") for c in control}
            regions = _regions(ann["result"], (W, H))
            stored[(name, ann["result"][0]["assay_author"])] = _keys(regions)
        lead = sorted(a["lead_time"] for a in anns)
        assert lead == ([3.25, 12.5] if name == "flood_001.png" else [7.0])
    assert stored == SENT
    preds = label_studio.predictions(tasks["flood_001.png"]["id"])
    assert [(p["model_version"], p["score"]) for p in preds] == [("det@3", 0.8)]
    assert _keys(_regions(preds[0]["result"], (W, H))) == _keys(MODEL)


def _regions(results: list[dict[str, Any]], size: tuple[int, int]) -> list[Region]:
    return [r for res in results for r in to_regions(res, size, None, "api", "result")]


def _by_annotation(ws: Workspace) -> dict[tuple[str, str], list[Any]]:
    """Every stored annotation of the dataset: (file name, author) -> region keys."""
    bundle = export_bundle(ws, ws.resolve("back", default_head=False), all_annotations=True)
    out: dict[tuple[str, str], list[Any]] = {}
    for row in bundle.rows:
        for a in row.annotations:
            out[(row.name, a.author)] = _keys(a.regions)
    return out


def test_json_export_imports_back_with_every_annotation_author_and_lead_time(
    label_studio: LabelStudio, project: dict[str, Any], tmp_path: Path
) -> None:
    folder = unpack(label_studio.export(project["id"], "JSON"), tmp_path / "json")
    ws = Workspace.init(tmp_path / "ws")
    try:
        report = ws.import_labels(
            folder / "export.json", "labelstudio", "back", images=project["images"]
        )
        got = _by_annotation(ws)
    finally:
        ws.close()
    # The quick export lists predictions by id: counted, not silently lost.
    assert report.dropped == {"predictions given by id only": 1}
    assert got == SENT


def test_full_json_snapshot_brings_predictions_back(
    label_studio: LabelStudio, project: dict[str, Any], tmp_path: Path
) -> None:
    tasks = label_studio.export_full_json(project["id"])
    path = tmp_path / "full" / "export.json"
    path.parent.mkdir()
    path.write_text(json.dumps(tasks))
    b = labelstudio.read(path, images=project["images"])
    assert b.dropped.to_dict() == {}
    got = {(m.name, a.author): _keys(a.regions) for m in b.media for a in m.annotations}
    assert got == {**SENT, ("flood_001.png", "model:det@3"): _keys(MODEL)}
    scores = [
        r.score for m in b.media for a in m.annotations if a.kind == "model" for r in a.regions
    ]
    assert scores == [0.8]
    leads = sorted(a.lead_time or 0 for m in b.media for a in m.annotations if a.kind == "human")
    assert leads == [3.25, 7.0, 12.5]


def test_json_min_export_imports_back_with_the_project_config(
    label_studio: LabelStudio, project: dict[str, Any], tmp_path: Path
) -> None:
    folder = unpack(label_studio.export(project["id"], "JSON_MIN"), tmp_path / "min")
    (folder / "label_config.xml").write_text(project["config"])
    b = labelstudio.read(folder / "export.json", images=project["images"])
    # JSON_MIN keeps no assay author: the annotations come back as Label Studio's user, one
    # annotation per row, each with its regions and lead time.
    got = sorted(
        (Path(m.name).name, a.lead_time, _keys(a.regions)) for m in b.media for a in m.annotations
    )
    want = sorted(
        [
            ("flood_001.png", 12.5, SENT[("flood_001.png", "user:ana")]),
            ("flood_001.png", 3.25, SENT[("flood_001.png", "user:bo")]),
            ("flood_002.png", 7.0, SENT[("flood_002.png", "user:ana")]),
        ]
    )
    assert got == want


def test_coco_export_imports_back_region_by_region(
    label_studio: LabelStudio, project: dict[str, Any], tmp_path: Path
) -> None:
    folder = unpack(label_studio.export(project["id"], "COCO"), tmp_path / "coco")
    b = labelstudio_coco = _read("coco", folder / "result.json", project["images"])
    # COCO holds boxes and polygons, one image entry per annotation; no choices, no authors.
    got = sorted(
        (m.name, tuple(_keys(a.regions, ("box", "polygon"))))
        for m in b.media
        for a in m.annotations
    )
    want = sorted(
        (name, tuple(k for k in keys if k[0] != "choice")) for (name, _a), keys in SENT.items()
    )
    assert got == want
    assert labelstudio_coco.label_map is not None


def test_yolo_export_imports_back_region_by_region(
    label_studio: LabelStudio, project: dict[str, Any], tmp_path: Path
) -> None:
    folder = unpack(label_studio.export(project["id"], "YOLO"), tmp_path / "yolo")
    b = _read("yolo", folder, project["images"])
    # Label Studio's YOLO export writes one annotation per task (its first).
    got = {Path(m.name).name: _keys([r for a in m.annotations for r in a.regions]) for m in b.media}
    for name, keys in got.items():
        candidates = [
            [k for k in want if k[0] != "choice"] for (n, _a), want in SENT.items() if n == name
        ]
        assert any(_close(keys, c) for c in candidates), (name, keys, candidates)


def _close(a: list[Any], b: list[Any], tol: float = 1e-3) -> bool:
    """Same regions to `tol` px (YOLO text rounds the normalised coordinates)."""
    if len(a) != len(b):
        return False
    for (ka, la, ga), (kb, lb, gb) in zip(a, b, strict=True):
        if (ka, la) != (kb, lb):
            return False
        fa = [c for p in ga for c in (p if isinstance(p, tuple) else (p,))]
        fb = [c for p in gb for c in (p if isinstance(p, tuple) else (p,))]
        if len(fa) != len(fb) or any(abs(x - y) > tol for x, y in zip(fa, fb, strict=True)):
            return False
    return True


def _read(fmt: str, path: Path, images: Path) -> ImportBundle:
    from assay.formats import get_codec

    reader = get_codec(fmt).read
    assert reader is not None
    return reader(path, images)
