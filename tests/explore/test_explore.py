"""The explorer's services on real workspaces: filters, need-to-know, thumbnails made once,
evaluation outcomes re-matched at the page's IoU, item provenance and revision diffs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assay.domain.labels import Region
from assay.errors import InvalidInput, NotFound
from assay.evaluation.runs import run_evaluation
from assay.explore import ExploreQuery, diff_page, explore_page, item_detail, outcomes, thumbnail
from assay.explore.outcomes import match_counts
from assay.labeling import Workflow, add_user
from assay.store.schema import derived
from assay.versioning import LabelRecord
from assay.workspace import Workspace
from evaluation.runs.runs_world import detection_world
from labeling_world import HIDDEN, PASSWORD, World, box, build_world

SWEEP = HIDDEN["dataset"]  # every item of the world, the SECRET/SAR one too


def _labelled(world: World) -> list[str]:
    ids = sorted(world.items["public"] + world.items["cui"] + world.items["secret"])
    world.ws.set_labels(
        SWEEP,
        [
            LabelRecord(i, [box(1, 1, 4 + n, 4, "vehicle" if n % 2 else "building")])
            for n, i in enumerate(ids)
        ],
    )
    world.ws.commit(SWEEP, "boxes")
    return ids


def test_filters_answer_from_the_index(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world = build_world(ws, tmp_path / "data")
    ids = _labelled(world)
    root = world.users["root"]

    def total(**kw: object) -> int:
        return int(explore_page(ws, root, SWEEP, ExploreQuery(rev="HEAD", **kw))["total"])

    assert total() == len(ids) == 9
    assert total(label="vehicle") == 4
    assert total(label="nothing") == 0
    assert total(marking="SECRET/SAR") == 1
    # areas are (4 + n) * 4 for n = 0..8
    assert total(min_area=20, max_area=28) == 3
    assert (total(min_area=40), total(max_area=20)) == (3, 2)  # one bound: per-row extremes
    assert total(field="path") == 9
    with pytest.raises(InvalidInput, match="no metadata field 'colour'"):
        total(field="colour", value="red")
    page = explore_page(ws, root, SWEEP, ExploreQuery(rev="HEAD", label="vehicle", limit=2))
    assert len(page["items"]) == 2 and page["items"][0]["regions"][0]["label"] == "vehicle"
    rest = explore_page(
        ws, root, SWEEP, ExploreQuery(rev="HEAD", label="vehicle", offset=2, limit=10)
    )
    seen = [i["item_id"] for i in page["items"] + rest["items"]]
    assert len(set(seen)) == 4
    # the index was built once, kept as a blob, and is read back for the working state too
    with ws.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(derived)).scalar_one() == 1
    assert explore_page(ws, root, SWEEP, ExploreQuery())["total"] == 9


def test_need_to_know_hides_datasets_above_the_viewer(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world = build_world(ws, tmp_path / "data")
    _labelled(world)
    with pytest.raises(NotFound, match=f"no dataset named '{SWEEP}'"):
        explore_page(ws, world.users["man"], SWEEP, ExploreQuery(rev="HEAD"))
    ws.create_dataset("pub")
    ws.add_items("pub", "name~scene_0*")
    page = explore_page(ws, world.users["man"], "pub", ExploreQuery())
    assert page["total"] == 6 and page["facets"]["markings"] == ["UNCLASSIFIED"]


def test_thumbnails_are_made_once_and_content_addressed(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    world = build_world(ws, tmp_path / "data")
    item = world.items["public"][0]
    first = thumbnail(ws, world.users["ana"], item)
    blobs_before = sum(1 for _ in ws.blobs.iter_shas())
    again = thumbnail(ws, world.users["ana"], item)
    assert first == again and first[:2] == b"\xff\xd8"
    assert sum(1 for _ in ws.blobs.iter_shas()) == blobs_before
    with ws.db.read() as conn:
        row = conn.execute(select(derived).where(derived.c.source == item)).one()
    assert ws.blobs.get_bytes(row.blob) == first
    import io

    assert Image.open(io.BytesIO(first)).size == (48, 32)  # never scaled up
    with pytest.raises(NotFound):
        thumbnail(ws, world.users["ana"], world.items["secret"][0])


def test_item_detail_has_every_annotation_and_the_labels_provenance(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from assay.labeling import next_task, submit

    world = build_world(ws, tmp_path / "data")
    root = world.users["root"]
    lease = next_task(ws, root, "survey")
    assert lease is not None
    submit(ws, root, lease.task_id, "c1", [box(2, 2, 5, 5)])
    d = item_detail(ws, root, "flood", lease.item["id"])
    assert [a["author"] for a in d["annotations"]] == ["user:root"]
    assert d["annotations"][0]["project"] == "survey" and d["in_revision"]


def test_diff_pages_both_sides_and_change_kinds(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world = build_world(ws, tmp_path / "data")
    ids = _labelled(world)
    ws.set_labels(SWEEP, [LabelRecord(ids[0], [box(1, 1, 4, 4, "vehicle")])])
    ws.set_labels(SWEEP, [LabelRecord(ids[8], [])])  # its box removed
    root, man = world.users["root"], world.users["man"]
    d = diff_page(ws, root, SWEEP, "HEAD", "")
    assert d["total"] == 2 and d["summary"]["relabeled"] == 1
    first = next(i for i in d["items"] if i["item_id"] == ids[0])
    assert first["before"][0]["label"] == "building" and first["after"][0]["label"] == "vehicle"
    with pytest.raises(NotFound):
        diff_page(ws, man, SWEEP, "HEAD", "")


def test_eval_outcomes_follow_the_iou_threshold(
    tmp_path: Path, closes: Callable[[Workspace], Workspace]
) -> None:
    w = detection_world(tmp_path / "ws", n=4)
    closes(w.ws)
    w.ws.export(w.spec, "coco", tmp_path / "coco", media=False)
    gt = json.loads(next((tmp_path / "coco").rglob("*.json")).read_text())
    cats = {c["name"]: c["id"] for c in gt["categories"]}
    dets = []
    for a in gt["annotations"]:
        x, y, bw, bh = a["bbox"]
        shift = 1.0 if a["category_id"] == cats["boat"] else 0.0  # boat IoU 20/28 = 0.71
        dets.append(
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "bbox": [x + shift, y, bw, bh],
                "score": 0.9,
            }
        )
    pred = tmp_path / "dets.json"
    pred.write_text(json.dumps(dets))
    run = run_evaluation(w.ws, w.spec, tmp_path / "run", predictions=pred)
    loose = outcomes(w.ws, "boats", run.run_id, 0.5)
    strict = outcomes(w.ws, "boats", run.run_id, 0.75)
    with_boat = {i for i, (tp, _fp, _fn) in loose.items() if tp == 2}
    assert len(with_boat) == 2 and all(loose[i] == (1, 0, 0) for i in set(loose) - with_boat)
    assert all(strict[i] == (1, 1, 1) for i in with_boat)
    add_user(w.ws, "ada", "reviewer", "UNCLASSIFIED", PASSWORD)
    from assay.labeling.users import list_users

    ada = next(u for u in list_users(w.ws) if u.name == "ada")
    q = ExploreQuery(rev="HEAD", run=run.run_id, outcome="fn", iou=0.75)
    page = explore_page(w.ws, ada, "boats", q)
    assert {i["item_id"] for i in page["items"]} == with_boat
    q = ExploreQuery(rev="HEAD", run=run.run_id, outcome="fn", iou=0.5)
    assert explore_page(w.ws, ada, "boats", q)["total"] == 0


def test_a_run_of_a_model_above_the_viewer_is_not_offered_nor_used(
    tmp_path: Path, closes: Callable[[Workspace], Workspace]
) -> None:
    """A SECRET model's run on an UNCLASSIFIED dataset: its name and what it found are SECRET
    (attacker pass: both reached an UNCLASSIFIED reviewer through the explorer)."""
    from assay.explore import runs_of
    from assay.labeling.users import list_users
    from assay.models.registry import add_model

    w = detection_world(tmp_path / "ws", n=2)
    closes(w.ws)
    w.ws.export(w.spec, "coco", tmp_path / "coco", media=False)
    gt = json.loads(next((tmp_path / "coco").rglob("*.json")).read_text())
    dets = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1}
        for a in gt["annotations"]
    ]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    add_model(w.ws, "raven", tmp_path / "dets.json", task="detection", marking="SECRET")
    run = run_evaluation(w.ws, w.spec, tmp_path / "run", model="raven")
    add_user(w.ws, "ada", "reviewer", "UNCLASSIFIED", PASSWORD)
    add_user(w.ws, "sam", "reviewer", "SECRET", PASSWORD)
    ada, sam = (next(u for u in list_users(w.ws) if u.name == n) for n in ("ada", "sam"))
    q = ExploreQuery(rev="HEAD", run=run.run_id, outcome="tp")
    assert explore_page(w.ws, sam, "boats", q)["total"] == 2
    with pytest.raises(NotFound, match=f"no evaluation run '{run.run_id}' on dataset 'boats'"):
        explore_page(w.ws, ada, "boats", q)
    assert [r["model"] for r in runs_of(w.ws, "boats", sam)] == ["raven"]
    assert runs_of(w.ws, "boats", ada) == []


def test_match_counts_is_greedy_by_score_within_a_class() -> None:
    import pandas as pd

    gt = pd.DataFrame({"label": ["a", "a"], "x": [0, 10], "y": [0, 0], "w": [4, 4], "h": [4, 4]})
    dt = pd.DataFrame(
        {
            "label": ["a", "a", "b"],
            "x": [0, 0.5, 10],
            "y": [0, 0, 0],
            "w": [4, 4, 4],
            "h": [4, 4, 4],
            "score": [0.5, 0.9, 0.9],
        }
    )
    # the 0.9 detection takes the first box; the 0.5 one is a duplicate; b matches nothing
    assert match_counts(gt, dt, 0.5) == (1, 2, 1)


def test_quality_suspects_are_items_whose_consensus_is_doubtful(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from assay.labeling import next_task, submit
    from labeling_world import choice

    world = build_world(ws, tmp_path / "data", workflow=Workflow(overlap=3))
    people = [world.users["root"], world.users["man"], world.users["ana"]]
    split: set[str] = set()
    for n, who in enumerate(people):
        k = 0
        while (lease := next_task(ws, who, "survey")) is not None:
            item = lease.item["id"]
            doubtful = item in world.items["public"][:2]
            label = ["none", "minor", "destroyed"][n] if doubtful else "minor"
            if doubtful:
                split.add(item)
            submit(ws, who, lease.task_id, f"{who.name}-{k}", [choice(label)])
            k += 1
    root = world.users["root"]
    page = explore_page(ws, root, "flood", ExploreQuery(suspects=True))
    found = {i["item_id"] for i in page["items"]}
    assert found == split
    assert "Dawid-Skene" in page["suspects_note"]


def test_region_facts_parse_boxes_polygons_and_whole_item_answers() -> None:
    from assay.domain.labels import payload_to_json
    from assay.explore._build import _metadata_columns, _region_facts
    from labeling_world import choice

    polygon = Region(
        kind="polygon", control="area", label="water", points=((0, 0), (10, 0), (4, 5))
    )
    rows = [
        payload_to_json([box(1, 1, 4, 3, "vehicle"), polygon, choice("minor")]),
        payload_to_json([]),
    ]
    classes, areas = _region_facts(rows)
    assert classes.to_pylist() == [["vehicle", "water", "minor"], []]
    assert areas.to_pylist() == [[12.0, 50.0, None], []]
    meta = _metadata_columns(['{"sensor": "drone", "alt": 120, "geo": {"lat": 1}}', "{}"])
    assert {k: v.to_pylist() for k, v in meta.items()} == {
        "alt": ["120", None],
        "sensor": ["drone", None],
    }


def test_per_row_reductions_cover_every_value_and_empty_rows() -> None:
    import numpy as np

    from assay.explore._reduce import reduce_rows

    values = np.array([3.0, 9.0, 1.0, 7.0, 5.0])
    offsets = np.array([0, 0, 3, 3, 5, 5])  # rows: [], [3, 9, 1], [], [7, 5], []
    top = reduce_rows(np.fmax, values, offsets, np.nan)
    low = reduce_rows(np.fmin, values, offsets, np.nan)
    assert np.array_equal(top, [np.nan, 9.0, np.nan, 7.0, np.nan], equal_nan=True)
    assert np.array_equal(low, [np.nan, 1.0, np.nan, 5.0, np.nan], equal_nan=True)
    bits = np.array([1, 4, 2], dtype=np.uint64)
    got = reduce_rows(np.bitwise_or, bits, np.array([0, 2, 2, 3]), np.uint64(0))
    assert got.tolist() == [5, 0, 2]
