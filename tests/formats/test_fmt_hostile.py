"""Hostile label files (attacker pass, December 2026): a file that names URLs or files
elsewhere, or holds numbers no column can hold, is one clear error naming file and place,
and nothing is written."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from assay import Workspace
from assay.domain import Region
from assay.errors import InvalidInput
from assay.store.schema import items
from assay.versioning import LabelRecord
from cli_support import geo_workspace, item_ids


def _coco(folder: Path, image_id: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (40, 80, 120)).save(folder / "a.png")
    path = folder / "annotations.json"
    path.write_text(
        f'{{"images": [{{"id": {image_id}, "file_name": "a.png", "width": 64, "height": 48'
        f"{extra}}}], "
        f'"annotations": [{{"id": 1, "image_id": {image_id}, "category_id": 1, '
        '"bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0}], '
        '"categories": [{"id": 1, "name": "car"}]}'
    )
    return path


@pytest.mark.parametrize(
    ("image_id", "extra", "message"),
    [
        ("1" + "0" * 5000, "", "annotations.json: invalid JSON: a number of more than 4300 digits"),
        (str(10**23), "", "annotations.json: images[0].id: integer out of range"),
        (str(2**63), "", "annotations.json: images[0].id: integer out of range"),
        ("1", ', "x": ' + "[" * 100_000 + "]" * 100_000, "JSON nested too deep to read"),
    ],
    ids=["5001 digits", "10^23", "2^63", "nested 100000 deep"],
)
def test_a_coco_file_with_numbers_no_column_holds_is_one_clear_error(
    ws: Workspace, tmp_path: Path, image_id: str, extra: str, message: str
) -> None:
    path = _coco(tmp_path / "coco", image_id, extra)
    with pytest.raises(InvalidInput) as err:
        ws.import_labels(path, "coco", "cars", images=tmp_path / "coco")
    assert message in str(err.value)
    assert ws.datasets() == []


def _stac_export(tmp_path: Path) -> tuple[Workspace, Path]:
    ws = geo_workspace(tmp_path)
    assert isinstance(ws, Workspace)
    chip = item_ids(ws)["town.tif#col=188&row=88"]
    box = Region(kind="box", label="building", box=(10, 20, 100, 50))
    ws.set_labels("geo", [LabelRecord(chip, [box])])
    ws.export("geo", "stac", tmp_path / "stac")
    return ws, tmp_path / "stac" / "catalog.json"


def test_a_stac_catalog_naming_a_url_is_refused_before_any_connection(
    tmp_path: Path, closes: Callable[[Workspace], Workspace]
) -> None:
    ws, catalog = _stac_export(tmp_path)
    closes(ws)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.2)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/item.json"
        doc = json.loads(catalog.read_text())
        doc["links"].append({"rel": "item", "href": url, "type": "application/json"})
        catalog.write_text(json.dumps(doc))
        with pytest.raises(InvalidInput) as err:
            ws.import_labels(catalog, "stac", "back")
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody called
    assert str(err.value) == (
        f"catalog.json: {url}: a catalog link or asset naming a URL: assay reads local files only"
    )
    assert [d.name for d in ws.datasets()] == ["geo"]


def test_a_stac_label_asset_outside_the_catalog_folder_is_not_read(
    tmp_path: Path, closes: Callable[[Workspace], Workspace]
) -> None:
    ws, catalog = _stac_export(tmp_path)
    closes(ws)
    item_file = next(p for p in catalog.parent.rglob("*-labels.json"))
    item = json.loads(item_file.read_text())
    elsewhere = tmp_path / "elsewhere.geojson"
    elsewhere.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    item["assets"]["labels"]["href"] = str(elsewhere)
    item_file.write_text(json.dumps(item))
    with pytest.raises(InvalidInput) as err:
        ws.import_labels(catalog, "stac", "back")
    assert f"{elsewhere}: outside the catalog's folder" in str(err.value)
    assert [d.name for d in ws.datasets()] == ["geo"]


@pytest.mark.parametrize("media_type", ["text/html", "text/javascript", "text/xml"])
def test_a_record_naming_an_active_text_type_is_refused(
    ws: Workspace, tmp_path: Path, media_type: str
) -> None:
    # The server answers an item's bytes in its media type: an imported `text/html` item
    # was a page of the site, and a `text/javascript` one a script `script-src 'self'` runs.
    src = tmp_path / "in"
    (src / "media").mkdir(parents=True)
    (src / "media" / "page.html").write_text('<script src="/api/v1/items/x/blob"></script>')
    rec = {"name": "page.html", "file": "media/page.html", "media_type": media_type}
    (src / "items.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(InvalidInput) as err:
        ws.import_labels(src, "jsonl", "pages")
    assert str(err.value) == (
        f"items.jsonl line 1: record.media_type: {media_type!r} is not a text type assay "
        "keeps (text/markdown, text/plain)"
    )
    assert ws.datasets() == []
    with ws.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(items)).scalar() == 0
