"""Detection results equal pycocotools' — stats and the full precision/recall/scores arrays."""

from __future__ import annotations

import numpy as np
import pytest
from coco_eval_fixtures import pycocotools_eval, random_coco
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.evaluation import DetectionParams, evaluate_detection
from assay.evaluation._coco_input import read_detections, read_ground_truth
from assay.evaluation._det_pairs import box_iou


def assert_same(gt, dt, max_dets=(1, 10, 100), iou_thresholds=None) -> None:
    ev = pycocotools_eval(gt, dt, max_dets, iou_thresholds)
    params = DetectionParams(max_dets=max_dets)
    if iou_thresholds is not None:
        params = DetectionParams(max_dets=max_dets, iou_thresholds=iou_thresholds)
    ours = evaluate_detection(gt, dt, params)
    np.testing.assert_allclose(ours.stats, ev.stats, rtol=0, atol=1e-12)
    assert np.array_equal(ours.precision, ev.eval["precision"])
    assert np.array_equal(ours.recall, ev.eval["recall"])
    assert np.array_equal(ours.scores, ev.eval["scores"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), grid=st.booleans())
def test_matches_pycocotools_on_generated_edge_cases(seed: int, grid: bool) -> None:
    gt, dt = random_coco(np.random.default_rng(seed), grid=grid)
    if not dt:  # pycocotools' loadRes cannot take an empty list
        return
    assert_same(gt, dt)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_more_detections_than_max_dets(seed: int) -> None:
    gt, dt = random_coco(np.random.default_rng(seed), n_images=4, gt_per_image=8, dt_per_image=20)
    if not dt:
        return
    assert_same(gt, dt, max_dets=(1, 3, 5))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_larger_seeded_fixture(seed: int) -> None:
    gt, dt = random_coco(
        np.random.default_rng(seed),
        n_images=40,
        n_cats=5,
        gt_per_image=12,
        dt_per_image=30,
        grid=seed != 2,
    )
    assert_same(gt, dt)


def test_custom_iou_thresholds_including_zero_and_one() -> None:
    gt, dt = random_coco(np.random.default_rng(7), n_images=12, gt_per_image=6)
    assert_same(gt, dt, iou_thresholds=(0.0, 0.3, 0.5, 0.75, 1.0))


def test_custom_area_ranges() -> None:
    gt, dt = random_coco(np.random.default_rng(8), n_images=12, gt_per_image=6, grid=False)
    ranges = (
        ("all", 0.0, 1e10),
        ("small", 0.0, 500.0),
        ("medium", 500.0, 5000.0),
        ("huge", 5000.0, 1e10),
    )
    ev = pycocotools_eval(gt, dt, area_ranges=ranges)
    ours = evaluate_detection(gt, dt, DetectionParams(area_ranges=ranges))
    np.testing.assert_allclose(ours.stats, ev.stats, rtol=0, atol=1e-12)
    assert np.array_equal(ours.precision, ev.eval["precision"])
    assert ours.stats[5] == -1  # no 'large' label: undefined, as in pycocotools


def _one_class(anns, dets):
    gt = {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 1, "name": "boat"}],
        "annotations": anns,
    }
    return gt, dets


def test_annotation_id_zero_quirk_and_corrected_mode() -> None:
    anns = [
        {"id": 0, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1600},
        {"id": 5, "image_id": 2, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1600},
    ]
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.8},
    ]
    gt, dt = _one_class([{**a, "iscrowd": 0} for a in anns], dets)
    assert_same(gt, dt)  # pycocotools turns the match to id 0 into a false positive
    compat = evaluate_detection(gt, dt)
    fixed = evaluate_detection(gt, dt, DetectionParams(mode="corrected"))
    assert compat.stats[1] < 1.0
    assert fixed.stats[1] == pytest.approx(1.0)


def test_corrected_mode_honours_custom_max_dets_in_headline_ap() -> None:
    gt, dt = random_coco(np.random.default_rng(11), n_images=10, gt_per_image=6)
    ev = pycocotools_eval(gt, dt, (1, 10, 300))
    compat = evaluate_detection(gt, dt, DetectionParams(max_dets=(1, 10, 300)))
    fixed = evaluate_detection(gt, dt, DetectionParams(max_dets=(1, 10, 300), mode="corrected"))
    assert compat.stats[0] == ev.stats[0] == -1  # pycocotools looks up maxDets=100: absent
    assert fixed.stats[0] == pytest.approx(fixed.stat_value(ap=True, max_det=300))
    assert fixed.stats[0] > 0
    assert fixed.stats[1:] == compat.stats[1:]
    assert "maxDets=300" in fixed.summary_lines()[0]


def test_iou_equals_pycocotools_mask_iou() -> None:
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(3)
    d = np.round(rng.uniform(0, 50, (30, 4)), 1)
    g = np.round(rng.uniform(0, 50, (20, 4)), 1)
    crowd = rng.random(20) < 0.3
    ref = mask_utils.iou(d.tolist(), g.tolist(), crowd.astype(np.uint8).tolist())
    di, gi = np.meshgrid(np.arange(30), np.arange(20), indexing="ij")
    ours = box_iou(d[di.ravel()], g[gi.ravel()], crowd[gi.ravel()]).reshape(30, 20)
    assert np.array_equal(ours, ref)


def test_empty_detections_give_zero_ap_for_classes_with_gt() -> None:
    gt, _ = random_coco(np.random.default_rng(5), n_images=8)
    result = evaluate_detection(gt, [])
    assert result.stats[0] == 0.0
    assert result.stats[8] == 0.0
    per = {c.name: c for c in result.per_class()}
    assert per["damage_2"].ap is None  # no ground truth: left out, not zero


def test_detections_without_any_ground_truth_give_minus_one() -> None:
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "car"}], "annotations": []}
    dt = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.4}]
    assert evaluate_detection(gt, dt).stats == (-1.0,) * 12


def test_per_class_and_pr_curve_are_consistent_with_arrays() -> None:
    gt, dt = random_coco(np.random.default_rng(9), n_images=20, gt_per_image=8)
    r = evaluate_detection(gt, dt)
    per = r.per_class()
    valid = [c.ap for c in per if c.ap is not None]
    assert np.mean(valid) == pytest.approx(r.stats[0])
    curve = r.pr_curve(per[0].category_id, iou=0.5)
    assert len(curve.recall) == 101
    assert np.array_equal(curve.precision, r.precision[0, :, 0, 0, 2])
    mean_curve = r.pr_curve(None, iou=0.75)
    assert np.mean(mean_curve.precision) == pytest.approx(r.stats[2])
    doc = r.to_dict()
    assert len(doc["stats"]) == 12 and set(doc["per_class"]) == set(r.category_names)


def test_reader_keeps_file_order_for_ties() -> None:
    gt, dt = random_coco(np.random.default_rng(4))
    g = read_ground_truth(gt, "gt")
    d = read_detections(dt, g, "dt")
    assert np.array_equal(d.score, [x["score"] for x in dt])
    assert g.image_ids.tolist() == sorted(i["id"] for i in gt["images"])


@settings(max_examples=50, deadline=None)
@given(npig=st.lists(st.integers(1, 5000), min_size=1, max_size=6))
def test_first_count_equals_search_in_recall(npig: list[int]) -> None:
    from assay.evaluation._det_accumulate import _first_count

    thr = np.linspace(0.0, 1.00, 101)
    got = _first_count(np.array([npig]), thr)[0]
    for n, row in zip(npig, got, strict=True):
        assert np.array_equal(row, np.searchsorted(np.arange(n + 1) / n, thr, side="left"))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1)), min_size=1, max_size=40))
def test_segment_suffix_max_equals_naive(pairs: list[tuple[int, float]]) -> None:
    from assay.evaluation._det_accumulate import _segment_suffix_max

    pairs.sort(key=lambda p: p[0])
    seg = np.array([p[0] for p in pairs])
    vals = np.array([p[1] for p in pairs])
    naive = [max(v for s2, v in pairs[i:] if s2 == s) for i, (s, _) in enumerate(pairs)]
    assert np.array_equal(_segment_suffix_max(vals, seg, 5), naive)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    c=st.sampled_from([0.05, 0.3, 0.5, 0.75, 0.95, 1.0]),
    grid=st.booleans(),
)
def test_pruned_pairs_keep_every_pair_that_can_match(seed: int, c: float, grid: bool) -> None:
    from assay.evaluation._det_pairs import all_pairs, candidate_pairs, corners, pair_iou

    rng = np.random.default_rng(seed)
    n_d, n_g = 60, 40

    def boxes(n: int) -> np.ndarray:
        if grid:  # exact IoU values such as 0.5 sit on the threshold
            return np.concatenate(
                [rng.integers(0, 6, (n, 2)) * 8.0, rng.integers(1, 6, (n, 2)) * 8.0], axis=1
            )
        return np.concatenate(
            [rng.uniform(-50, 50, (n, 2)), np.exp(rng.uniform(-1, 4, (n, 2)))], axis=1
        )

    dkey = np.sort(rng.integers(0, 4, n_d))
    gkey = np.sort(rng.integers(0, 4, n_g))
    dbox, gbox = boxes(n_d), boxes(n_g)
    crowd = rng.random(n_g) < 0.2
    d_all, g_all = all_pairs(dkey, gkey)
    iou_all = pair_iou(corners(dbox), corners(gbox), crowd, d_all, g_all)
    want = set(zip(d_all[iou_all >= c].tolist(), g_all[iou_all >= c].tolist(), strict=True))
    d, g = candidate_pairs(dkey, dbox, gkey, gbox, crowd, c)
    got = set(zip(d.tolist(), g.tolist(), strict=True))
    assert want <= got
    assert len(got) == d.size  # no duplicates
