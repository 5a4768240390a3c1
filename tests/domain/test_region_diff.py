"""Label-level diff of one item: every change kind, the IoU threshold, and invariants."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.domain.diff import MOVED_IOU, diff_regions
from assay.domain.labels import Region, box_iou
from label_strategies import region, regions, with_ids

BOAT = Region(id="b1", kind="box", label="boat", box=(10.0, 10.0, 100.0, 100.0), author="user:ana")


def kinds(before: list[Region], after: list[Region]) -> Counter[str]:
    return Counter(c.change for c in diff_regions("item", before, after))


def test_added_and_removed() -> None:
    (added,) = diff_regions("img1", [], [BOAT])
    assert (added.item, added.change, added.before, added.author) == (
        "img1",
        "added",
        None,
        "user:ana",
    )
    assert (
        added.after is not None and added.after["label"] == "boat" and "author" not in added.after
    )
    (removed,) = diff_regions("img1", [BOAT], [])
    assert removed.change == "removed" and removed.after is None
    assert removed.before == {
        "id": "b1",
        "kind": "box",
        "control": "label",
        "label": "boat",
        "box": (10.0, 10.0, 100.0, 100.0),
        "attributes": {},
    }


def test_relabeled_keeps_place_and_names_new_author() -> None:
    after = BOAT.model_copy(update={"label": "debris", "author": "user:bo"})
    (c,) = diff_regions("i", [BOAT], [after])
    assert c.change == "relabeled"
    assert (c.before["label"], c.after["label"], c.author) == ("boat", "debris", "user:bo")  # type: ignore[index]


def test_moved_below_iou_threshold_reports_iou() -> None:
    after = BOAT.model_copy(update={"box": (20.0, 10.0, 100.0, 100.0)})
    (c,) = diff_regions("i", [BOAT], [after])
    expected = box_iou(BOAT.box, after.box)  # type: ignore[arg-type]
    assert expected < MOVED_IOU
    assert c.change == "moved" and c.iou == pytest.approx(expected)
    assert c.to_dict()["iou"] == round(expected, 6)


def test_tiny_nudge_at_or_above_threshold_is_not_moved() -> None:
    after = BOAT.model_copy(update={"box": (10.0, 10.0, 100.0, 100.5)})
    assert box_iou(BOAT.box, after.box) >= MOVED_IOU  # type: ignore[arg-type]
    assert diff_regions("i", [BOAT], [after]) == []


def test_relabel_and_move_together_without_ids() -> None:
    before = BOAT.model_copy(update={"id": ""})
    after = before.model_copy(update={"label": "person", "box": (30.0, 10.0, 100.0, 100.0)})
    assert kinds([before], [after]) == Counter({"relabeled": 1, "moved": 1})


def test_attribute_changed() -> None:
    after = BOAT.model_copy(update={"attributes": {"occluded": True}})
    (c,) = diff_regions("i", [BOAT], [after])
    assert c.change == "attribute_changed"
    assert c.before["attributes"] == {} and c.after["attributes"] == {"occluded": True}  # type: ignore[index]
    assert "iou" not in c.to_dict()


def test_text_and_rating_changes_are_changed() -> None:
    note = Region(kind="text", control="notes", text="water rising")
    rating = Region(kind="rating", control="quality", value=3.0)
    assert kinds(
        [note, rating], [note.model_copy(update={"text": "water falling"}), rating]
    ) == Counter({"changed": 1})
    assert kinds([note, rating], [note, rating.model_copy(update={"value": 4.0})]) == Counter(
        {"changed": 1}
    )


def test_choice_change_is_relabeled() -> None:
    scene = Region(kind="choice", control="scene", label="flooded")
    assert kinds([scene], [scene.model_copy(update={"label": "dry"})]) == Counter({"relabeled": 1})


def test_polygon_point_span_move_on_any_geometry_change() -> None:
    poly = Region(kind="polygon", label="damaged_roof", points=((0, 0), (10, 0), (10, 10)))
    moved = poly.model_copy(update={"points": ((0, 0), (10, 0), (10, 11))})
    assert kinds([poly], [moved]) == Counter({"moved": 1})
    pt = Region(kind="point", label="person", points=((5, 5),))
    assert kinds([pt], [pt.model_copy(update={"points": ((6, 5),)})]) == Counter({"moved": 1})
    span = Region(kind="span", control="ents", label="place", span=(3, 9))
    assert kinds([span], [span.model_copy(update={"span": (3, 10)})]) == Counter({"moved": 1})


def test_pairing_by_id_beats_geometry() -> None:
    a = Region(id="a", kind="box", label="boat", box=(0, 0, 10, 10))
    b = Region(id="b", kind="box", label="person", box=(50, 50, 10, 10))
    # Swap the geometry: with ids, both regions moved; nothing is added or removed.
    after = [a.model_copy(update={"box": b.box}), b.model_copy(update={"box": a.box})]
    assert kinds([a, b], after) == Counter({"moved": 2})


def test_disjoint_regions_of_different_kinds_are_add_and_remove() -> None:
    box = Region(kind="box", label="boat", box=(0, 0, 10, 10))
    far = Region(kind="box", label="boat", box=(200, 200, 10, 10))
    pt = Region(kind="point", label="boat", points=((1, 1),))
    assert kinds([box], [pt]) == Counter({"added": 1, "removed": 1})
    assert kinds([box], [far]) == Counter({"added": 1, "removed": 1})


def test_identical_degenerate_boxes_are_unchanged() -> None:
    # A zero-width box (a line drawn by a slip of the mouse) is still equal to itself.
    line = Region(kind="box", label="debris", box=(5.0, 5.0, 0.0, 10.0))
    assert diff_regions("i", [line], [line]) == []
    assert (
        diff_regions(
            "i", [line.model_copy(update={"id": "a"})], [line.model_copy(update={"id": "a"})]
        )
        == []
    )


def test_duplicate_region_ids_in_one_payload_do_not_invent_changes() -> None:
    # Ids are only unique per source tool; two regions can share one after an import.
    a = Region(id="x", kind="box", label="boat", box=(0, 0, 10, 10))
    b = Region(id="x", kind="box", label="person", box=(50, 50, 10, 10))
    assert diff_regions("i", [a, b], [a, b]) == []
    new = Region(id="y", kind="point", label="person", points=((1, 1),))
    assert kinds([a, b], [a, b, new]) == Counter({"added": 1})


@settings(max_examples=40, deadline=None)
@given(regions)
def test_diff_of_a_payload_with_itself_is_empty(rs: list[Region]) -> None:
    assert diff_regions("i", rs, rs) == []
    assert diff_regions("i", with_ids(rs), with_ids(rs)) == []


@settings(max_examples=40, deadline=None)
@given(regions, st.lists(region(), max_size=4), st.data())
def test_added_minus_removed_is_the_region_count_change(
    before: list[Region], extra: list[Region], data: st.DataObject
) -> None:
    before = with_ids(before)
    keep = data.draw(st.lists(st.booleans(), min_size=len(before), max_size=len(before)))
    after = [r for r, k in zip(before, keep, strict=True) if k] + with_ids(extra, "new")
    counts = kinds(before, after)
    assert counts["added"] - counts["removed"] == len(after) - len(before)
    # Kept regions are paired by id and unchanged, so no change can involve them.
    kept_ids = {r.id for r, k in zip(before, keep, strict=True) if k}
    for c in diff_regions("item", before, after):
        assert (c.before or {}).get("id") not in kept_ids
