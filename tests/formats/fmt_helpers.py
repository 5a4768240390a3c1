"""Builders shared by the format tests: images, export bundles, region strategies."""

from __future__ import annotations

import io
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from PIL import Image

from assay.domain.labels import Region
from assay.formats import ExportBundle, ExportRow, ImportBundle

FIXTURES = Path("/work/shared/fixtures/labelstudio")
LABELS = ["building", "vehicle", "person", "debris"]


@lru_cache(maxsize=64)
def png_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buf, format="PNG")
    return buf.getvalue()


def save_images(folder: Path, names: list[str], size: tuple[int, int] = (640, 480)) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(*size))


def scenes(folder: Path, n: int = 6) -> Path:
    """The 640x480 images the Label Studio fixtures refer to, as scenes/scene_NNN.png."""
    save_images(folder, [f"scenes/scene_{i:03d}.png" for i in range(n)])
    return folder


def unzip(name: str, dest: Path) -> Path:
    with zipfile.ZipFile(FIXTURES / name) as zf:
        zf.extractall(dest)
    return dest


def image_row(
    name: str,
    regions: list[Region],
    size: tuple[int, int] = (64, 48),
    marking: str = "UNCLASSIFIED",
    metadata: dict[str, Any] | None = None,
    authors: list[str] | None = None,
) -> ExportRow:
    w, h = size
    return ExportRow(
        item_id=f"id-{name}",
        name=name,
        media_type="image/png",
        width=w,
        height=h,
        marking=marking,
        metadata=metadata or {},
        regions=regions,
        read_bytes=lambda: png_bytes(w, h),
        authors=authors or [],
    )


def text_row(name: str, text: str, regions: list[Region], marking: str = "CUI") -> ExportRow:
    data = text.encode()
    return ExportRow(
        item_id=f"id-{name}",
        name=name,
        media_type="text/plain",
        width=None,
        height=None,
        marking=marking,
        metadata={"source": "field-report"},
        regions=regions,
        read_bytes=lambda: data,
    )


def bundle(rows: list[ExportRow], labels: list[str] | None = None, **kw: Any) -> ExportBundle:
    args: dict[str, Any] = {
        "dataset": "flood-2026",
        "revision": "c0ffee",
        "marking": "CUI",
        "copy_media": True,
    }
    args.update(kw)
    return ExportBundle(rows=rows, label_names=list(LABELS if labels is None else labels), **args)


def regions_by_name(b: ImportBundle) -> dict[str, list[Region]]:
    return {m.name: [r for a in m.annotations for r in a.regions] for m in b.media}


# --- hypothesis strategies -------------------------------------------------------------------

sizes = st.tuples(st.integers(16, 96), st.integers(16, 96))
labels = st.sampled_from(LABELS)
finite = {"allow_nan": False, "allow_infinity": False}


@st.composite
def boxes(draw: st.DrawFn, w: int, h: int, min_size: float = 0.5) -> Region:
    x = draw(st.floats(0, w - 1, **finite))
    y = draw(st.floats(0, h - 1, **finite))
    bw = draw(st.floats(min(min_size, w - x), w - x, **finite))
    bh = draw(st.floats(min(min_size, h - y), h - y, **finite))
    return Region(kind="box", label=draw(labels), box=(x, y, bw, bh))


@st.composite
def polygons(draw: st.DrawFn, w: int, h: int) -> Region:
    pt = st.tuples(st.floats(0, w, **finite), st.floats(0, h, **finite))
    pts = draw(st.lists(pt, min_size=3, max_size=6))
    return Region(kind="polygon", label=draw(labels), points=tuple(pts))


@st.composite
def points(draw: st.DrawFn, w: int, h: int) -> Region:
    p = (draw(st.floats(0, w, **finite)), draw(st.floats(0, h, **finite)))
    return Region(kind="point", control="keypoints", label=draw(labels), points=(p,))
