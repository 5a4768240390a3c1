from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.domain.labels import Region
from assay.domain.tracks import (
    KEYFRAME,
    TRACK_ID,
    Track,
    TrackShape,
    frame_regions,
    tracks_from_frames,
)


def _box(x: float, y: float = 0.0) -> Region:
    return Region(kind="box", label="boat", box=(x, y, 10.0, 10.0))


def test_boxes_move_linearly_between_keyframes_and_hold_after_the_last() -> None:
    t = Track(3, "boat", (TrackShape(0, _box(0)), TrackShape(4, _box(8, 4))))
    assert t.at(1) == _box(2, 1)
    assert t.at(4) == _box(8, 4)
    assert t.at(9) == _box(8, 4)  # no outside shape: still in view
    assert t.at(-1) is None
    assert [s.keyframe for s in t.expand(6)] == [True, False, False, False, True, False]


def test_outside_shapes_make_gaps() -> None:
    shapes = (
        TrackShape(0, _box(0)),
        TrackShape(2, _box(0), outside=True),
        TrackShape(5, _box(20)),
        TrackShape(7, _box(20), outside=True),
    )
    t = Track(1, "boat", shapes)
    assert t.visible_ranges(10) == [(0, 2), (5, 7)]
    assert t.outside_ranges(10) == [(2, 5), (7, 10)]
    assert [s.frame for s in t.expand(10)] == [0, 1, 5, 6]
    assert t.at(3) is None and t.at(1) == _box(0)  # no interpolation across an outside gap


def test_polygons_interpolate_point_by_point_or_hold() -> None:
    a = Region(kind="polygon", label="roof", points=((0, 0), (10, 0), (10, 10)))
    b = Region(kind="polygon", label="roof", points=((10, 0), (20, 0), (20, 10)))
    c = Region(kind="polygon", label="roof", points=((0, 0), (1, 1), (2, 0), (3, 3)))
    assert Track(1, "roof", (TrackShape(0, a), TrackShape(2, b))).at(1).points == (  # type: ignore[union-attr]
        (5, 0),
        (15, 0),
        (15, 10),
    )
    assert Track(1, "roof", (TrackShape(0, a), TrackShape(2, c))).at(1) == a


def test_shapes_must_be_in_frame_order() -> None:
    with pytest.raises(ValueError, match="distinct frames"):
        Track(1, "boat", (TrackShape(3, _box(0)), TrackShape(1, _box(0))))


def test_untracked_regions_stay_loose_and_two_regions_of_one_track_on_a_frame_fail() -> None:
    loose = Region(kind="box", label="debris", box=(1, 1, 2, 2))
    tagged = _box(0).model_copy(update={"attributes": {TRACK_ID: 4}})
    tracks, rest = tracks_from_frames({0: [loose, tagged]}, 1)
    assert rest == {0: [loose]} and [t.id for t in tracks] == [4]
    with pytest.raises(ValueError, match="track 4 has two regions on frame 0"):
        tracks_from_frames({0: [tagged, tagged]}, 1)


@st.composite
def track_sets(draw: st.DrawFn) -> tuple[list[Track], int]:
    stop = draw(st.integers(2, 30))
    tracks = []
    for tid in range(draw(st.integers(1, 4))):
        frames = sorted(draw(st.sets(st.integers(0, stop - 1), min_size=1, max_size=8)))
        shapes = []
        for f in frames:
            x = draw(st.floats(0, 100, allow_nan=False))
            occluded = draw(st.integers(0, 1))
            region = _box(x).model_copy(update={"attributes": {"occluded": occluded}})
            shapes.append(TrackShape(f, region, outside=draw(st.booleans()) and f != frames[0]))
        tracks.append(Track(tid, "boat", tuple(shapes)))
    return tracks, stop


@settings(max_examples=50, deadline=None)
@given(track_sets())
def test_per_frame_regions_rebuild_the_same_frames(data: tuple[list[Track], int]) -> None:
    tracks, stop = data
    frames = frame_regions(tracks, stop)
    back, loose = tracks_from_frames(frames, stop)
    assert loose == {}
    assert frame_regions(back, stop) == frames
    for t, b in zip(tracks, back, strict=True):
        assert b.visible_ranges(stop) == t.visible_ranges(stop)
        for f in range(stop):
            assert b.at(f) == t.at(f)
    for regions in frames.values():
        assert all(isinstance(r.attributes[KEYFRAME], bool) for r in regions)
