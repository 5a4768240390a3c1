"""Hypothesis strategies for label regions (shared by the domain and versioning tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from assay.domain.labels import Region

CLASSES = ["person", "vehicle", "boat", "damaged_roof", "debris"]
AUTHORS = ["user:ana", "user:bo", "model:yolo@3", None]

coord = st.integers(0, 400).map(float)
size = st.integers(1, 120).map(float)
attrs = st.dictionaries(st.sampled_from(["occluded", "severity"]), st.integers(0, 3), max_size=2)


@st.composite
def region(draw: st.DrawFn) -> Region:
    kind = draw(st.sampled_from(["box", "box", "polygon", "point", "choice", "text", "rating"]))
    common = {
        "author": draw(st.sampled_from(AUTHORS)),
        "attributes": draw(attrs),
    }
    if kind == "box":
        box = (draw(coord), draw(coord), draw(size), draw(size))
        return Region(kind="box", label=draw(st.sampled_from(CLASSES)), box=box, **common)
    if kind == "polygon":
        pts = draw(st.lists(st.tuples(coord, coord), min_size=3, max_size=5, unique=True))
        return Region(
            kind="polygon", label=draw(st.sampled_from(CLASSES)), points=tuple(pts), **common
        )
    if kind == "point":
        return Region(
            kind="point",
            label=draw(st.sampled_from(CLASSES)),
            points=((draw(coord), draw(coord)),),
            **common,
        )
    if kind == "choice":
        return Region(
            kind="choice",
            control="scene",
            label=draw(st.sampled_from(["flooded", "dry", "unclear"])),
            **common,
        )
    if kind == "text":
        return Region(
            kind="text", control="notes", text=draw(st.text("abc xyz", max_size=12)), **common
        )
    return Region(kind="rating", control="quality", value=float(draw(st.integers(1, 5))), **common)


def with_ids(regions: list[Region], prefix: str = "r") -> list[Region]:
    return [r.model_copy(update={"id": f"{prefix}{i}"}) for i, r in enumerate(regions)]


regions = st.lists(region(), max_size=6)
