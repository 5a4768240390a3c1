"""The IoU tracker that links model detections on video frames into track pre-labels."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assay.domain.iou_tracker import iou, link_detections
from assay.domain.labels import Region
from assay.domain.tracks import frame_regions, tracks_from_frames


def box(x: float, y: float = 0, label: str = "vehicle", w: float = 20) -> Region:
    return Region(kind="box", label=label, box=(x, y, w, 20))


def test_iou_of_known_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == 50 / 150
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0


def test_two_crossing_objects_keep_their_tracks() -> None:
    # A car drives right, a truck left, on separate lanes; a third car shows up on frame 2.
    frames = {
        0: [box(0), box(100, 50, "truck")],
        1: [box(95, 50, "truck"), box(5)],
        2: [box(10), box(90, 50, "truck"), box(300)],
        3: [box(15)],
    }
    tracks = link_detections(frames, stop=4)
    seen = {
        t.id: (t.label, [(s.frame, s.region.box[0]) for s in t.shapes if not s.outside])
        for t in tracks
    }
    assert seen == {
        0: ("vehicle", [(0, 0), (1, 5), (2, 10), (3, 15)]),
        1: ("truck", [(0, 100), (1, 95), (2, 90)]),
        2: ("vehicle", [(2, 300)]),
    }
    truck = tracks[1]
    assert [s.frame for s in truck.shapes if s.outside] == [3]
    assert truck.at(3) is None and tracks[0].at(3) is not None


def test_labels_never_mix_and_low_overlap_starts_a_new_track() -> None:
    frames = {0: [box(0)], 1: [box(0, label="person")], 2: [box(60, label="person")]}
    tracks = link_detections(frames, stop=3)
    assert [(t.label, t.start) for t in tracks] == [("vehicle", 0), ("person", 1), ("person", 2)]


def test_a_missed_frame_within_max_gap_continues_the_track_with_an_outside_gap() -> None:
    frames = {0: [box(0)], 1: [], 2: [box(4)]}
    one = link_detections(frames, max_gap=1, stop=3)
    two = link_detections(frames, max_gap=2, stop=3)
    assert len(one) == 2
    assert len(two) == 1
    assert two[0].outside_ranges(3) == [(1, 2)]


@given(
    st.dictionaries(
        st.integers(0, 12),
        st.lists(st.integers(0, 200).map(lambda x: box(float(x))), max_size=4),
        max_size=12,
    )
)
def test_every_detection_lands_in_exactly_one_track_and_round_trips(frames) -> None:  # type: ignore[no-untyped-def]
    tracks = link_detections(frames, stop=13)
    placed = sorted((s.frame, s.region.box) for t in tracks for s in t.shapes if not s.outside)
    assert placed == sorted((f, r.box) for f, rs in frames.items() for r in rs)
    # Stored per frame and read back, the tracks are the same objects on the same frames.
    per_frame = frame_regions(tracks, 13)
    back, loose = tracks_from_frames(per_frame, 13)
    assert loose == {}
    assert [[s.frame for s in t.shapes] for t in back] == [
        [s.frame for s in t.shapes] for t in tracks
    ]
