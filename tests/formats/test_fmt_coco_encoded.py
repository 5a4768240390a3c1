"""The import's encoded COCO path (polygon points spliced from the file's own number text,
`assay.formats._coco_points`) stores exactly what the regions path stores, table by table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fmt_helpers import png_bytes
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from assay.domain.labels import payload_of_texts, payload_text_and_hash
from assay.errors import InvalidInput
from assay.formats import coco
from assay.formats._coco_points import polygon_points
from assay.formats.io import import_bundle
from assay.store.schema import annotations_table, datasets, working
from assay.workspace import Workspace

W, H = 64, 48


def _ring(*values: str, sep: str = ",") -> str:
    return "[" + sep.join(values) + "]"


# Number texts as other writers put them: integers, trailing zeros, exponents, -0, tiny and
# long values, values at and past the edges (W + 1 and H + 1 are the tolerance's limits).
RINGS = [
    ["1.5", "2.25", "10.0", "2.0", "10.5", "12.75"],  # canonical: spliced
    ["1", "2", "10", "2", "10", "12"],  # integers: ".0" added
    ["1.50", "2.0", "10.0", "2.0", "10.0", "12.0"],  # trailing zero
    ["1e1", "2.0", "10.0", "2.0", "10.0", "12.0"],  # exponent
    ["-0.0", "0.0", "10.0", "2.0", "10.0", "12.0"],  # -0.0 stays -0.0
    ["-0", "0", "10", "2", "10", "12"],  # -0 reads as 0.0
    ["0.0000001", "2.0", "10.0", "2.0", "10.0", "12.0"],  # 1e-07 as json.dumps writes it
    ["0.0001", "2.0", "10.0", "2.0", "10.0", "12.0"],
    ["0.30000000000000004", "2.0", "10.0", "2.0", "10.0", "12.0"],  # 17 digits
    ["0.1000000000000000055511151231257827", "2.0", "10.0", "2.0", "10.0", "12.0"],
    ["12.345678901234", "2.0", "10.0", "2.0", "10.0", "12.0"],
    ["-0.5", "-1.0", "65.0", "49.0", "64.99", "48.5"],  # inside the tolerance, at its edges
    ["-1.5", "2.0", "10.0", "2.0", "10.0", "12.0"],  # outside: the validating path fails
]
OUT_OF_BOUNDS = len(RINGS) - 1


def _document(with_bad: bool, sep: str = ", ") -> dict[str, Any]:
    anns: list[dict[str, Any]] = []

    def add(image_id: int, seg: Any, **kw: Any) -> None:
        anns.append(
            {"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "segmentation": seg, **kw}
        )

    for k, ring in enumerate(RINGS):
        if k != OUT_OF_BOUNDS or with_bad:
            add(1 + k % 3, f"@@{_ring(*ring, sep=sep)}@@", area=12.5)
    add(1, [[1.0, 2.0, 11.0, 2.0, 11.0, 12.0, 1.0, 12.0]], bbox=[1.0, 2.0, 10.0, 10.0])  # a box
    add(1, [[1.0, 2.0, 11.0, 2.0, 11.0, 12.0, 1.0, 12.0]])  # 4 points, no bbox: a polygon
    add(2, [[1.0, 2.0, 9.0, 2.0, 9.0, 8.0], [20.0, 20.0, 30.0, 20.0, 30.0, 30.0]])  # two parts
    w2, h2 = W + 2, H + 2  # image 2's size
    add(2, {"size": [h2, w2], "counts": [10, 20, w2 * h2 - 30]}, bbox=[0, 0, 5, 5], iscrowd=1)
    add(2, [[3.5, 4.5, 9.5, 4.5, 9.5, 8.5]], iscrowd=1, score=0.875, area=1e-7)
    add(3, [[3.5, 4.5, 9.5, 4.5, 9.5, 8.5]], attributes={"occluded": True})
    add(3, [[3.5, 4.5, 9.5, 4.5, 9.5, 8.5]], category_id="street")
    add(3, [], bbox=[2.0, 2.0, 4.0, 4.0])  # no polygon: a box
    add(3, None, bbox=[2.0, 2.0, 4.0, 4.0])
    anns.append({"id": "s-1", "image_id": 3, "category_id": 2, "bbox": [1, 1, 2, 2]})
    anns.append(
        {"image_id": 3, "category_id": 2, "segmentation": [[5, 5, 9.25, 5, 9.25, 9.0]]}
    )  # no id, integers mixed in
    return {
        "info": {"description": "awkward numbers"},
        "images": [
            {"id": i, "file_name": f"img{i}.png", "width": W + i, "height": H + i}
            for i in (1, 2, 3, 4)
        ],
        "annotations": anns,
        "categories": [
            {"id": 1, "name": "building"},
            {"id": 2, "name": 'véhicule "x"'},
            {"id": "street", "name": "street"},
        ],
    }


def _write(folder: Path, doc: dict[str, Any], indent: int | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for img in doc["images"]:
        (folder / img["file_name"]).write_bytes(png_bytes(img["width"], img["height"]))
    # indent -1: compact, as most COCO files are written
    seps = (",", ":") if indent == -1 else None
    text = json.dumps(doc, indent=None if indent == -1 else indent, separators=seps)
    # The number texts exactly as written in RINGS, not as json.dumps would write them.
    text = text.replace('"@@', "[").replace('@@"', "]")
    path = folder / "annotations.json"
    path.write_text(text)
    return path


def _working(ws: Workspace, dataset: str) -> list[dict[str, Any]]:
    """The dataset's working rows, each with the stored payload of its annotation."""
    with ws.db.read() as conn:
        ds = conn.execute(select(datasets.c.id).where(datasets.c.name == dataset)).scalar_one()
        rows = conn.execute(
            select(working).where(working.c.dataset_id == ds).order_by(working.c.item_id)
        )
        out = [{k: v for k, v in r.items() if k != "dataset_id"} for r in rows.mappings()]
        for r in out:
            stored = conn.execute(
                select(annotations_table).where(annotations_table.c.id == r["annotation_ids"])
            ).mappings()
            r["annotation"] = [{k: v for k, v in a.items() if k != "created"} for a in stored]
    return out


def test_encoded_import_stores_what_the_regions_path_stores(ws: Workspace, tmp_path: Path) -> None:
    for indent in (None, 1, -1):
        doc = _document(with_bad=False, sep="," if indent == -1 else ", ")
        path = _write(tmp_path / f"file{indent}", doc, indent)
        ws.import_labels(path, "coco", f"fast{indent}")  # the workspace reads the encoded way
        bundle = coco.read(path)
        assert all(a.encoded is None for m in bundle.media for a in m.annotations)
        import_bundle(ws, bundle, f"slow{indent}")
        got, want = _working(ws, f"fast{indent}"), _working(ws, f"slow{indent}")
        assert len(got) == 4
        assert all(len(r["annotation"]) == 1 for r in got)
        assert got == want
        assert [r["annotation"][0]["payload"] for r in got] == [r["labels"] for r in got]


def test_rings_spliced_and_left_to_the_regions_path() -> None:
    rings = [_ring(*r).replace("[", "[[").replace("]", "]]").encode() for r in RINGS]
    got = polygon_points(rings, [W + 1.0] * len(rings), [H + 1.0] * len(rings), [False] * 13, 1.0)
    spliced = [k for k, text in enumerate(got) if text is not None]
    assert spliced == [0, 1, 4, 7, 10, 11]
    for k in spliced:
        flat = msgspec.json.decode(rings[k], type=list[list[float]])[0]
        pts = [flat[j : j + 2] for j in range(0, len(flat), 2)]
        assert got[k] == json.dumps(pts, separators=(",", ":")).encode()
    assert got[1] == b"[[1.0,2.0],[10.0,2.0],[10.0,12.0]]"
    assert got[4] == b"[[-0.0,0.0],[10.0,2.0],[10.0,12.0]]"
    # A ring of four points where the annotation has a bbox may be a box: the regions path.
    assert polygon_points([b"[[1.0,2.0,3.0,2.0,3.0,4.0,1.0,4.0]]"], [9.0], [9.0], [True], 1) == [
        None
    ]


def test_encoded_read_gives_the_texts_of_the_regions(tmp_path: Path) -> None:
    path = _write(tmp_path, _document(with_bad=False), None)
    slow, fast = coco.read(path), coco.read(path, encoded=True)
    pairs = [
        (a.regions, b.encoded)
        for m, n in zip(slow.media, fast.media, strict=True)
        for a, b in zip(m.annotations, n.annotations, strict=True)
    ]
    assert len(pairs) == 4
    for regions, encoded in pairs:
        assert encoded is not None
        assert payload_of_texts([e[0] for e in encoded], [e[1] for e in encoded]) == (
            payload_text_and_hash(regions)
        )


def _error(path: Path, *, encoded: bool) -> str:
    with pytest.raises(InvalidInput) as info:
        coco.read(path, encoded=encoded)
    return str(info.value)


def test_encoded_read_fails_as_the_validating_path_does(tmp_path: Path) -> None:
    path = _write(tmp_path, _document(with_bad=True), None)
    message = _error(path, encoded=True)
    assert message == _error(path, encoded=False)
    assert "annotations[12].segmentation[0]" in message


def test_a_segmentation_of_the_wrong_type_is_named_by_the_validating_path(
    tmp_path: Path,
) -> None:
    doc = _document(with_bad=False)
    doc["annotations"][0]["segmentation"] = [["1.0", 2.0, 3.0, 4.0, 5.0, 6.0]]
    path = _write(tmp_path, doc, None)
    message = _error(path, encoded=True)
    assert message == _error(path, encoded=False)
    assert "annotations[0].segmentation[0]" in message


# Any float, written by json.dumps (repr) or as other writers do (trailing zeros, exponents,
# integers): where the ring is spliced, its text is the canonical JSON of the floats it reads as.
floats = st.floats(min_value=-2, max_value=700, allow_nan=False)


def _texts(x: float, style: int) -> str:
    if style == 0:
        return repr(x)
    if style == 1:
        return f"{x:.3f}"
    if style == 2:
        return f"{x:e}"
    return str(round(x))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(floats, floats, st.integers(0, 3)), min_size=1, max_size=12))
def test_spliced_points_are_the_canonical_text_of_their_floats(
    values: list[tuple[float, float, int]],
) -> None:
    ring = "[[" + ",".join(f"{_texts(x, s)}, {_texts(y, s)}" for x, y, s in values) + "]]"
    got = polygon_points([ring.encode()], [641.0], [481.0], [False], 1.0)[0]
    flat = msgspec.json.decode(ring, type=list[list[float]])[0]
    pts = [[flat[k], flat[k + 1]] for k in range(0, len(flat), 2)]
    fits = all(c >= -1 for c in flat) and all(x <= 641 and y <= 481 for x, y in pts)
    if got is not None:
        assert fits and len(flat) >= 6
        assert got == json.dumps(pts, separators=(",", ":")).encode()
    elif len(flat) >= 6 and fits and all(s == 0 for *_, s in values):
        # repr texts inside the image are spliced unless tiny or long
        assert any(0 < abs(c) < 1e-4 or len(repr(c).lstrip("-")) > 16 for c in flat)


IMPORT_IN_A_NEW_PROCESS = """
import sys
from assay.cli import main
from assay.workspace import Workspace
Workspace.init(sys.argv[1]).close()
try:
    main(["-w", sys.argv[1], "import", sys.argv[2], "--format", "coco", "--dataset", "d"])
except SystemExit as exc:
    if exc.code:
        raise
print(sorted(m for m in sys.modules if m.split(".")[0] == "pandas"))
"""


def test_a_coco_import_does_not_load_pandas(tmp_path: Path) -> None:
    """Reading the polygons' numbers (Arrow, numpy) needs no pandas, and loading it costs a
    quarter second of every import: a new process, so no other test has loaded it."""
    path = _write(tmp_path / "file", _document(with_bad=False), None)
    env = {k: v for k, v in os.environ.items() if k != "ASSAY_DATABASE_URL"}  # its own SQLite
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_IN_A_NEW_PROCESS, str(tmp_path / "ws"), str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
