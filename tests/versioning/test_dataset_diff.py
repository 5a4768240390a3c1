"""`diff` between revisions and `status` of the working state, at label level."""

from __future__ import annotations

from collections import Counter

import pytest

from assay.domain.labels import Region
from assay.errors import NotFound
from blob_stacks import stacks
from versioning_world import Flood, box

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()

DIFF_KEYS = {
    "before",
    "after",
    "items_added",
    "items_removed",
    "items_changed",
    "changes",
    "summary",
}
CHANGE_KEYS = {"item", "change", "before", "after", "author"}


def _base(flood: Flood) -> str:
    flood.label(flood.images[0], box("boat", 10, id="b1"), box("person", 60, id="p1"))
    flood.label(flood.images[1], box("vehicle", 10, id="v1", attributes={"occluded": False}))
    flood.label(
        flood.texts[0],
        Region(kind="text", control="summary", text="Road closed"),
        Region(kind="rating", control="urgency", value=2.0),
    )
    return flood.ws.commit("flood", "baseline").id


def test_each_change_kind(flood: Flood) -> None:
    ws = flood.ws
    _base(flood)
    img0, img1, img2 = flood.images[:3]
    flood.label(
        img0,
        box("debris", 10, id="b1", author="user:bo"),  # relabeled
        box("person", 70, id="p1", author="user:bo"),  # moved: IoU 0.33
        box("boat", 30, y=40, id="b2", author="user:bo"),  # added
    )
    flood.label(img1, box("vehicle", 10.1, id="v1", attributes={"occluded": True}))  # attr only
    flood.label(
        flood.texts[0],
        Region(kind="text", control="summary", text="Road open"),
        Region(kind="rating", control="urgency", value=4.0),
    )
    flood.label(img2, box("boat", 5))  # item gains its first label
    ws.remove_items("flood", f"name={'scene_3.png'}")
    ws.commit("flood", "review pass")
    d = ws.diff("flood", "HEAD~1", "HEAD")
    out = d.to_dict()
    assert set(out) == DIFF_KEYS
    assert out["items_added"] == []
    assert out["items_removed"] == [flood.images[3]]
    assert out["items_changed"] == sorted([img0, img1, img2, flood.texts[0]])
    for c in out["changes"]:
        assert set(c) >= CHANGE_KEYS
    by_item = {
        i: Counter(c["change"] for c in out["changes"] if c["item"] == i)
        for i in out["items_changed"]
    }
    assert by_item[img0] == Counter({"relabeled": 1, "moved": 1, "added": 1})
    assert by_item[img1] == Counter({"attribute_changed": 1})  # 0.1 px nudge is not a move
    assert by_item[flood.texts[0]] == Counter({"changed": 2})
    assert by_item[img2] == Counter({"added": 1})
    moved = next(c for c in out["changes"] if c["change"] == "moved")
    assert moved["iou"] == pytest.approx(10 * 20 / (2 * 400 - 10 * 20), abs=1e-6)
    assert moved["before"]["box"] == [60.0, 10.0, 20.0, 20.0] or moved["before"]["box"] == (
        60.0,
        10.0,
        20.0,
        20.0,
    )
    relabel = next(c for c in out["changes"] if c["change"] == "relabeled")
    assert (relabel["before"]["label"], relabel["after"]["label"], relabel["author"]) == (
        "boat",
        "debris",
        "user:bo",
    )
    assert out["summary"] == {
        "added": 2,
        "removed": 0,
        "relabeled": 1,
        "moved": 1,
        "attribute_changed": 1,
        "changed": 2,
        "items_added": 0,
        "items_removed": 1,
        "items_changed": 4,
    }
    # The reverse diff mirrors it.
    back = ws.diff("flood", "HEAD", "HEAD~1").summary()
    assert (back["added"], back["removed"], back["items_added"], back["items_removed"]) == (
        0,
        2,
        1,
        0,
    )


def test_removed_region_and_added_item(flood: Flood) -> None:
    ws = flood.ws
    _base(flood)
    ws.remove_items("flood", "name=scene_3.png")
    ws.commit("flood", "drop 3")
    flood.label(flood.images[0], box("boat", 10, id="b1"))  # person removed
    ws.add_items("flood")
    d = ws.diff("flood", "HEAD", "WORKING")
    assert d.items_added == [flood.images[3]]
    assert [(c.change, c.before["label"]) for c in d.changes] == [("removed", "person")]  # type: ignore[index]
    assert d.after == "flood (working)"


def test_status_is_label_level_and_matches_diff_to_working(flood: Flood) -> None:
    ws = flood.ws
    st0 = ws.status("flood")
    assert sorted(st0.items_added) == sorted(flood.all) and not st0.changes
    assert st0.before == "flood@(no commits)"
    _base(flood)
    assert ws.status("flood").empty
    flood.label(flood.images[0], box("boat", 10, id="b1"), box("person", 90, id="p1"))
    ws.remove_items("flood", "media_type=text/plain")
    st = ws.status("flood")
    assert st.items_changed == [flood.images[0]]
    assert st.items_removed == sorted(flood.texts)
    assert [(c.item, c.change) for c in st.changes] == [(flood.images[0], "moved")]
    d = ws.diff("flood", "HEAD", "WORKING")
    assert d.to_dict()["summary"] == st.to_dict()["summary"]
    assert d.changes == st.changes


def test_diff_between_tags_and_identical_revisions(flood: Flood) -> None:
    ws = flood.ws
    _base(flood)
    ws.tag("flood", "HEAD", "v1")
    flood.label(flood.images[1], box("boat", 50))
    ws.commit("flood", "second")
    ws.tag("flood", "HEAD", "v2")
    assert ws.diff("flood", "v1", "v1").empty
    d = ws.diff("flood", "v1", "v2")
    assert d.items_changed == [flood.images[1]] and "flood@" in d.before
    assert Counter(c.change for c in d.changes) == Counter({"added": 1, "removed": 1})
    with pytest.raises(NotFound):
        ws.diff("flood", "v1", "v3")
