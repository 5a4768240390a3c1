"""Detection runs: COCO numbers equal pycocotools on the exported dataset, ONNX detectors."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assay.errors import InvalidInput
from assay.evaluation import DetectionParams, evaluate_detection
from assay.evaluation.runs import (
    EvalRun,
    RunSettings,
    SliceDef,
    compare_runs,
    rerun,
    run_evaluation,
)
from assay.workspace import Workspace
from evaluation.runs.runs_world import World, detection_world, onnx_detector

Closing = Callable[[World], World]  # the `closing` fixture


def _pycocotools(gt_file: Path, dets: list[dict[str, object]], tmp: Path) -> list[float]:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(s) for s in ev.stats]


def test_prediction_file_matches_pycocotools_and_onnx_detector_runs(
    tmp_path: Path, closing: Closing
) -> None:
    w = closing(detection_world(tmp_path / "ws", n=8))
    w.ws.export(w.spec, "coco", tmp_path / "coco", media=False)
    gt_file = next((tmp_path / "coco").rglob("*.json"))
    gt = json.loads(gt_file.read_text())
    rng = np.random.default_rng(1)
    dets = []
    for a in gt["annotations"]:
        x, y, bw, bh = a["bbox"]
        dets.append(
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "bbox": [x + rng.uniform(-2, 2), y + rng.uniform(-2, 2), bw, bh],
                "score": float(rng.uniform(0.3, 1.0)),
            }
        )
    dets.append({"image_id": 1, "category_id": 1, "bbox": [20, 2, 8, 8], "score": 0.95})
    pred = tmp_path / "dets.json"
    pred.write_text(json.dumps(dets))
    slices = tmp_path / "s.yaml"
    slices.write_text("slices:\n  small: {object_size: small}\n  drone: {sensor: drone}\n")
    told: list[tuple[int, int]] = []
    run = run_evaluation(
        w.ws,
        w.spec,
        tmp_path / "run",
        predictions=pred,
        slices=slices,
        settings=RunSettings(n_resamples=30),
        progress=lambda d, t: told.append((d, t)),
    )
    # A prediction file's run told nothing while its bootstrap ran (COCO's evaluation per
    # resample, seconds of waiting): 3 slices ("all" too), 5 metrics, 30 resamples each.
    total = 3 * 5 * 30
    assert told[-1] == (total, total) and {t for _, t in told} == {total}
    assert [d for d, _ in told] == sorted(d for d, _ in told) and len(told) > total // 2
    expected = _pycocotools(gt_file, dets, tmp_path)
    assert run.summary["coco"]["stats"] == expected  # bit for bit
    assert run.summary["headline"]["AP"] == expected[0]
    assert run.summary["slices"]["small"]["metrics"]["AP"]["value"] == expected[3]
    assert run.summary["slices"]["drone"]["n"] == 8
    assert (run.path / "boxes.parquet").is_file()
    _again, same = rerun(w.ws, run.path, tmp_path / "again")
    assert same

    # An ONNX "detector" that always outputs the roof box (input 32x32, images 48x32).
    det = onnx_detector(
        tmp_path / "det.onnx",
        [(2.0, 3.0, 20.0, 20.0), (0.0, 0.0, 2.0, 2.0)],
        [0.9, 0.2],
        [1, 0],
        ["boat", "roof"],
    )
    from assay.models import add_model

    add_model(w.ws, "fixed-det", det)
    onnx_run = run_evaluation(
        w.ws,
        w.spec,
        tmp_path / "onnx",
        model="fixed-det",
        slices=slices,
        settings=RunSettings(
            suites=("corruptions", "adversarial"),
            corruptions=("contrast",),
            severities=(1,),
            n_resamples=30,
        ),
    )
    boxes = onnx_run.boxes()
    roof = boxes[(boxes["kind"] == "dt") & (boxes["label"] == "roof") & (boxes["suite"] == "clean")]
    assert np.allclose(roof[["x", "y", "w", "h"]].to_numpy()[0], [3.0, 3.0, 30.0, 20.0])
    assert onnx_run.summary["headline"]["AP50"] == pytest.approx(
        onnx_run.summary["coco"]["stats"][1]
    )
    assert onnx_run.summary["corruptions"]["rows"][0]["corruption"] == "contrast"
    assert onnx_run.summary["adversarial"]["status"] == "not_applicable"
    cmp = compare_runs(w.ws, run.path, onnx_run.path, n_resamples=30)
    ap = cmp["slices"]["all"]["tests"]["AP"]
    assert ap["a"] == expected[0] and ap["difference"] == pytest.approx(ap["b"] - ap["a"])
    assert set(cmp["slices"]) == {"all", "small", "drone"}


def test_a_class_name_the_dataset_does_not_have_is_one_error(
    tmp_path: Path, closing: Closing
) -> None:
    # "boats" for "boat" counted only as false alarms: F1 and precision fell, unsaid.
    w = closing(detection_world(tmp_path / "ws", n=2))
    name = next(iter(w.names.values()))
    good = {"image_id": name, "category_id": "roof", "bbox": [3, 3, 30, 20], "score": 0.9}
    typo = {**good, "category_id": "boats"}
    pred = tmp_path / "dets.json"
    pred.write_text(json.dumps([good, typo]))
    with pytest.raises(InvalidInput, match=r"dets\.json: \[1\]\.category_id: 'boats' is not a "):
        run_evaluation(w.ws, w.spec, tmp_path / "run", predictions=pred)
    assert not (tmp_path / "run").exists()
    pred.write_text(json.dumps([good]))
    run = run_evaluation(w.ws, w.spec, tmp_path / "run", predictions=pred)
    assert run.summary["classes"] == ["boat", "roof"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("boats", r"\[1\]\.category_name: 'boats' is not a class of the dataset"),
        (7, r"\[1\]\.category_name: 7 is not a category of the dataset"),
        (None, r"\[1\]\.category_name: expected an integer or a class name"),
    ],
)
def test_an_error_names_category_name_when_the_row_used_it(
    tmp_path: Path, value: object, message: str, closing: Closing
) -> None:
    # A file of category_name rows was told its category_id was wrong, a field it never had.
    w = closing(detection_world(tmp_path / "ws", n=2))
    name = next(iter(w.names.values()))
    good = {"image_id": name, "category_name": "roof", "bbox": [3, 3, 30, 20], "score": 0.9}
    pred = tmp_path / "dets.json"
    pred.write_text(json.dumps([good, {**good, "category_name": value}]))
    with pytest.raises(InvalidInput, match=message) as info:
        run_evaluation(w.ws, w.spec, tmp_path / "run", predictions=pred)
    assert "category_id" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_a_model_that_detects_nothing_scores_zero_without_warnings(
    tmp_path: Path, closing: Closing
) -> None:
    # numpy's "All-NaN slice encountered" leaked to the terminal: precision has no value.
    w = closing(detection_world(tmp_path / "ws", n=2))
    pred = tmp_path / "dets.json"
    pred.write_text("[]")
    with warnings.catch_warnings():
        # numpy's warnings (not a ResourceWarning of an earlier test's connection, which the
        # garbage collector may finalise inside this block)
        warnings.simplefilter("error", RuntimeWarning)
        run = run_evaluation(
            w.ws, w.spec, tmp_path / "run", predictions=pred, settings=RunSettings(n_resamples=20)
        )
    assert run.summary["headline"] == {
        "AP": 0.0, "AP50": 0.0, "F1": 0.0, "precision": None, "recall": 0.0,
    }  # fmt: skip


def _with_region(
    w: World, k: int, region: Any, message: str, tmp_path: Path
) -> tuple[str, Path, dict[str, Any]]:
    """Commit `region` added to the `k`-th item of a detection world; the commit's spec, and
    its `assay export --format coco` file and document."""
    from assay.formats.io import export_bundle
    from assay.versioning import LabelRecord

    rows = export_bundle(w.ws, w.ws.resolve(w.spec)).rows
    w.ws.set_labels("boats", [LabelRecord(rows[k].item_id, [*rows[k].regions, region])])
    spec = f"boats@{w.ws.commit('boats', message).id}"
    w.ws.export(spec, "coco", tmp_path / "coco", media=False)
    gt_file = next((tmp_path / "coco").rglob("*.json"))
    return spec, gt_file, json.loads(gt_file.read_text())


def test_an_object_size_slice_holds_the_images_with_a_box_of_that_size(
    tmp_path: Path,
    closing: Closing,
    invoke,  # type: ignore[no-untyped-def]
) -> None:
    # A size slice kept every image: it was never empty, so a slice of a size the commit has
    # no box of (here `large`: the images are 48x32) showed n 8 and no warning.
    from assay.domain.labels import Region
    from assay.evaluation.runs import gate

    w = closing(detection_world(tmp_path / "ws", n=4))
    big = Region(kind="box", control="objects", label="roof", box=(2.0, 2.0, 40.0, 28.0))
    spec, gt_file, gt = _with_region(w, 0, big, "a medium roof", tmp_path)
    dets = [
        {**{k: a[k] for k in ("image_id", "category_id", "bbox")}, "score": 0.5 + a["id"] / 100}
        for a in gt["annotations"]
    ]
    image_ids = sorted(im["id"] for im in gt["images"])
    # A medium false alarm where no medium box is: image 2 holds a medium detection only.
    boat = next(c["id"] for c in gt["categories"] if c["name"] == "boat")
    alarm = {"image_id": image_ids[1], "category_id": boat, "bbox": [1, 1, 40, 30], "score": 0.9}
    slices = tmp_path / "s.yaml"
    slices.write_text(
        "slices:\n  small: {object_size: small}\n  medium: {object_size: medium}\n"
        "  large: {object_size: large}\n"
    )
    runs = []
    for name, rows_ in (("a", dets), ("b", [*dets, alarm])):
        pred = tmp_path / f"{name}.json"
        pred.write_text(json.dumps(rows_))
        args = ("-w", w.root, "eval", "run", "--dataset", spec, "--predictions", pred,
                "--slices", slices, "--resamples", "30", "--no-report",
                "--out", tmp_path / name)  # fmt: skip
        err: list[str] = []
        code, text = invoke(*args, "--json", stderr=err)
        assert code == 0, text
        doc = json.loads(text)
        assert doc["empty_slices"] == ["large"]
        assert "warning: slice large (object_size=large)" in err[0] and "medium" not in err[0]
        expected = _pycocotools(gt_file, rows_, tmp_path)
        table = doc["summary"]["slices"]
        assert table["large"]["n"] == 0 and table["small"]["n"] == 4
        # Images without a box of the size add nothing to COCO's AP for it.
        assert table["small"]["metrics"]["AP"]["value"] == expected[3]
        assert table["medium"]["metrics"]["AP"]["value"] == expected[4]
        runs.append(doc)
    a, b = runs
    assert a["summary"]["slices"]["medium"]["n"] == 1
    assert b["summary"]["slices"]["medium"]["n"] == 2
    assert b["summary"]["slices"]["medium"]["metrics"]["precision"]["value"] == 0.5
    # Compared, B's false alarm counts where A had nothing of that size.
    told: list[tuple[int, int]] = []
    cmp = compare_runs(w.ws, a["path"], b["path"], n_resamples=30,
                       progress=lambda d, t: told.append((d, t)))  # fmt: skip
    # AP and F1 of all, small and medium, a resample of both runs at a time; large is empty.
    assert told[-1] == (180, 180) and [d for d, _ in told] == list(range(0, 181))
    f1 = cmp["slices"]["medium"]["tests"]["F1"]
    assert cmp["slices"]["medium"]["n"] == 2
    assert f1["a"] == a["summary"]["slices"]["medium"]["metrics"]["F1"]["value"]
    assert f1["b"] == b["summary"]["slices"]["medium"]["metrics"]["F1"]["value"]
    assert cmp["slices"]["large"]["n"] == 0
    with pytest.raises(InvalidInput, match="--slice large: no item both runs evaluated is in it"):
        gate(w.ws, a["path"], b["path"], max_drop=0.01, slices=["large"])


SIZES = ("small", "medium", "large")


def _size_run(ws: Workspace, spec: str, dets: list[dict[str, Any]], tmp: Path) -> EvalRun:
    """A run of the detections `dets` with one slice per COCO object size."""
    pred = tmp / "dets.json"
    pred.write_text(json.dumps(dets))
    slices = [SliceDef(s, {"object_size": s}) for s in SIZES]
    settings = RunSettings(n_resamples=10)
    return run_evaluation(
        ws, spec, tmp / "run", predictions=pred, slices=slices, settings=settings, report=False
    )


def test_size_slices_cap_detections_per_image_before_the_area_range(
    tmp_path: Path, closing: Closing
) -> None:
    # pycocotools keeps each image's top 100 detections per class by score, then applies the
    # area range; an image with 150 confident false alarms loses its true small, medium and
    # large detections. The size slices' AP must be COCO's AP_small / medium / large exactly.
    from assay.domain.labels import Region
    from assay.formats.io import export_bundle
    from assay.versioning import LabelRecord

    w = closing(detection_world(tmp_path / "ws", n=4))
    rows = export_bundle(w.ws, w.ws.resolve(w.spec)).rows
    medium = Region(kind="box", control="objects", label="roof", box=(2.0, 2.0, 40.0, 28.0))
    large = Region(kind="box", control="objects", label="boat", box=(0.0, 0.0, 120.0, 100.0))
    w.ws.set_labels("boats", [LabelRecord(r.item_id, [*r.regions, medium, large]) for r in rows])
    spec = f"boats@{w.ws.commit('boats', 'all sizes').id}"
    w.ws.export(spec, "coco", tmp_path / "coco", media=False)
    gt_file = next((tmp_path / "coco").rglob("*.json"))
    gt = json.loads(gt_file.read_text())
    dets = [
        {**{k: a[k] for k in ("image_id", "category_id", "bbox")}, "score": 0.2 + a["id"] / 1000}
        for a in gt["annotations"]
    ]
    first = min(im["id"] for im in gt["images"])
    for c in gt["categories"]:
        for k in range(150):
            side = (4.0, 40.0, 110.0)[k % 3]
            dets.append({"image_id": first, "category_id": c["id"], "score": 0.5 + k / 1000,
                         "bbox": [200.0 + 3 * k, 200.0, side, side * 0.8]})  # fmt: skip
    run = _size_run(w.ws, spec, dets, tmp_path)
    expected = _pycocotools(gt_file, dets, tmp_path)
    got = [run.summary["slices"][s]["metrics"]["AP"]["value"] for s in SIZES]
    assert got == expected[3:6]  # bit for bit
    assert run.summary["coco"]["stats"][3:6] == expected[3:6]
    # The fixture does exercise the cap: without it the true detections would count.
    uncapped = evaluate_detection(gt, dets, DetectionParams(max_dets=(1, 10, 1000)))
    for area, value in zip(SIZES, got, strict=True):
        assert uncapped.stat_value(ap=True, area=area, max_det=1000) > value


def test_outlines_and_stored_areas_are_ground_truth_as_the_coco_export_has_them(
    tmp_path: Path,
) -> None:
    # A COCO dataset imported with polygon outlines was scored without them (only box regions
    # were ground truth: every detection of an outlined object was a false alarm), and a box's
    # stored `area` (the mask's, which COCO's area ranges use) was replaced by w * h.
    from PIL import Image

    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    images = []
    for i in (1, 2, 3):
        Image.fromarray(np.full((100, 120, 3), 40 * i, np.uint8)).save(src / f"images/{i}.png")
        images.append({"id": i, "file_name": f"{i}.png", "width": 120, "height": 100})

    def ann(i: int, image: int, cat: int, bbox: list[float], area: float, seg: list) -> dict:  # type: ignore[type-arg]
        return {"id": i, "image_id": image, "category_id": cat, "bbox": bbox, "area": area,
                "iscrowd": 0, "segmentation": seg}  # fmt: skip

    anns = [
        # A box whose mask covers 900 of its 1200 pixels: small for COCO, not medium.
        ann(1, 1, 1, [10, 10, 40, 30], 900.0, [[10, 10, 50, 10, 50, 40, 10, 40]]),
        # A triangle (area 800, small), and an object in two rings (medium: 1200 + 400).
        ann(2, 2, 1, [5, 5, 40, 40], 800.0, [[5, 5, 45, 5, 25, 45]]),
        ann(3, 3, 2, [0, 0, 80, 50], 1600.0,
            [[0, 0, 40, 0, 40, 30, 0, 30], [60, 30, 80, 30, 80, 50, 60, 50]]),
        ann(4, 3, 1, [90, 60, 20, 30], 600.0, [[90, 60, 110, 60, 110, 90, 90, 90]]),
    ]  # fmt: skip
    cats = [{"id": 1, "name": "boat"}, {"id": 2, "name": "roof"}]
    (src / "annotations.json").write_text(
        json.dumps({"images": images, "categories": cats, "annotations": anns})
    )
    ws = Workspace.init(tmp_path / "ws")
    ws.import_labels(src, "coco", "survey")
    spec = f"survey@{ws.commit('survey', 'imported').id}"
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [11, 10, 40, 30], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [5, 6, 40, 39], "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": [60, 60, 30, 35], "score": 0.95},
        {"image_id": 3, "category_id": 2, "bbox": [1, 0, 79, 50], "score": 0.7},
        {"image_id": 3, "category_id": 1, "bbox": [90, 62, 20, 28], "score": 0.6},
    ]
    run = _size_run(ws, spec, dets, tmp_path)
    ws.export(spec, "coco", tmp_path / "coco", media=False)
    exported = next((tmp_path / "coco").rglob("*.json"))
    for gt_file in (src / "annotations.json", exported):
        expected = _pycocotools(gt_file, dets, tmp_path)
        assert run.summary["coco"]["stats"] == expected  # bit for bit
        got = [run.summary["slices"][s]["metrics"]["AP"]["value"] for s in SIZES]
        assert got == [None if v < 0 else v for v in expected[3:6]]
    # Small: the 900-pixel box, the triangle, the 600-pixel boat; medium: the two-ring roof,
    # and each image with a medium detection (w * h, as pycocotools' loadRes takes it).
    assert run.summary["slices"]["small"]["n"] == 3 and run.summary["slices"]["medium"]["n"] == 3
    ws.close()


def test_a_label_slice_leaves_out_crowd_regions(tmp_path: Path, closing: Closing) -> None:
    # An image whose only boat was a crowd region (iscrowd) was in the slice `{label: boat}`:
    # its n counted an image COCO scores no boat on (crowd regions are ignore regions).
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from assay.domain.labels import Region
    from assay.formats.io import export_bundle

    w = closing(detection_world(tmp_path / "ws", n=4))
    crowd = Region(kind="box", control="objects", label="boat", box=(30.0, 20.0, 12.0, 8.0),
                   attributes={"iscrowd": 1})  # fmt: skip
    spec, gt_file, gt = _with_region(w, 1, crowd, "a crowd of boats", tmp_path)
    rows = export_bundle(w.ws, w.ws.resolve(spec)).rows
    dets = [
        {**{k: a[k] for k in ("image_id", "category_id", "bbox")}, "score": 0.5 + a["id"] / 100}
        for a in gt["annotations"]
        if not a["iscrowd"] and a["id"] % 3
    ]
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps(dets))
    run = run_evaluation(w.ws, spec, tmp_path / "run", predictions=pred,
                         slices=[SliceDef("boats", {"label": "boat"})],
                         settings=RunSettings(n_resamples=20), report=False)  # fmt: skip
    boat = next(c["id"] for c in gt["categories"] if c["name"] == "boat")
    with_boats = sorted({a["image_id"] for a in gt["annotations"] if a["category_id"] == boat
                         and not a["iscrowd"]})  # fmt: skip
    assert run.summary["slices"]["boats"]["n"] == len(with_boats) == 2
    items = run.items()
    assert rows[1].item_id not in set(items.loc[items["slice:boats"], "item_id"])
    # The slice's AP is pycocotools' on the images with a boat to score.
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_file))
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.params.imgIds = with_boats
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert run.summary["slices"]["boats"]["metrics"]["AP"]["value"] == float(ev.stats[0])


def test_gate_shows_a_metric_it_could_not_measure_as_undefined_never_ok(
    tmp_path: Path,
    closing: Closing,
    invoke,  # type: ignore[no-untyped-def]
) -> None:
    # A slice without a ground-truth box to score (here `medium`: a false alarm of that size
    # alone) has no AP in either run (NaN): the gate showed it `ok`, a pass it never measured;
    # with F1 defined in one run only (a false alarm, or nothing) it was `ok` as well.
    from assay.evaluation.runs import gate

    w = closing(detection_world(tmp_path / "ws", n=4))
    w.ws.export(w.spec, "coco", tmp_path / "coco", media=False)
    gt = json.loads(next((tmp_path / "coco").rglob("*.json")).read_text())
    dets = [{**{k: a[k] for k in ("image_id", "category_id", "bbox")}, "score": 0.9}
            for a in gt["annotations"]]  # fmt: skip
    boat = next(c["id"] for c in gt["categories"] if c["name"] == "boat")
    second = sorted(im["id"] for im in gt["images"])[1]
    alarm = {"image_id": second, "category_id": boat, "bbox": [1, 1, 40, 30], "score": 0.9}
    slices = [SliceDef("medium", {"object_size": "medium"})]

    def run(name: str, rows: list[dict[str, Any]]) -> str:
        pred = tmp_path / f"{name}.json"
        pred.write_text(json.dumps(rows))
        settings = RunSettings(n_resamples=20)
        return str(run_evaluation(w.ws, w.spec, tmp_path / name, predictions=pred, slices=slices,
                                  settings=settings, report=False).path)  # fmt: skip

    base, cand, quiet = run("base", [*dets, alarm]), run("cand", [*dets, alarm]), run("q", dets)
    args = ("-w", w.root, "eval", "gate", "--baseline", base, "--candidate", cand,
            "--max-drop", "0.01")  # fmt: skip
    code, out = invoke(*args, "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert {r["slice"]: r["result"] for r in doc["rows"]} == {"all": "ok", "medium": "undefined"}
    medium = next(r for r in doc["rows"] if r["slice"] == "medium")
    assert (medium["baseline"], medium["candidate"], medium["drop"]) == (None, None, None)
    assert doc["passed"] and doc["undefined"] == ["medium"] and doc["empty"] == []
    err: list[str] = []
    code, out = invoke(*args, stderr=err)
    assert code == 0, out
    row = next(line for line in out.splitlines() if "medium" in line)
    assert "undefined" in row and "ok" not in row
    assert ("note: slice medium: AP is undefined in both runs (no ground-truth box of the slice "
            "to score), so it gates nothing") in err[0]  # fmt: skip
    code, out = invoke(*args, "--slice", "medium")
    assert code == 1 and "--slice medium: AP is undefined in both runs" in out
    # F1 of a false alarm alone is 0; of nothing at all, undefined: the drop is not measured.
    res = gate(w.ws, base, quiet, max_drop=0.01, metric="F1")
    assert [(r.slice, r.result) for r in res.rows] == [("all", "ok"), ("medium", "undefined")]
    assert res.rows[1].unmeasured == (
        "F1 is undefined in the candidate (0.000 in the baseline) (no ground-truth box and no "
        "detection at the score threshold)"
    )
    res = gate(w.ws, quiet, base, max_drop=0.01, metric="F1")
    assert res.with_result("undefined") == ["medium"]
    assert "undefined in the baseline (0.000 in the" in str(res.rows[1].unmeasured)

    # Compare: no value is no number and no significance (it printed NaN, p 0, and its
    # --json was no strict JSON).
    def strict(text: str) -> Any:
        def refuse(constant: str) -> None:
            raise AssertionError(f"{constant} in --json")

        return json.loads(text, parse_constant=refuse)

    code, out = invoke("-w", w.root, "eval", "compare", base, quiet, "--json")
    assert code == 0, out
    tests = strict(out)["slices"]["medium"]["tests"]
    assert {k: tests["AP"][k] for k in ("a", "b", "difference", "p_value")} == dict.fromkeys(
        ("a", "b", "difference", "p_value")
    )
    assert tests["F1"]["a"] == 0.0 and (tests["F1"]["b"], tests["F1"]["p_value"]) == (None, None)
    code, out = invoke("-w", w.root, "eval", "compare", base, quiet)
    assert code == 0 and "nan" not in out.lower()


def test_a_gate_that_measures_no_slice_is_refused(tmp_path: Path, closing: Closing) -> None:
    # A commit without a box has no AP anywhere: every slice was `ok` and the gate passed.
    from assay.domain.labels import Region
    from assay.evaluation.runs import gate
    from assay.formats.io import export_bundle
    from assay.versioning import LabelRecord

    w = closing(detection_world(tmp_path / "ws", n=2))
    rows = export_bundle(w.ws, w.ws.resolve(w.spec)).rows
    calm = [Region(kind="choice", control="scene", label="calm")]
    w.ws.set_labels("boats", [LabelRecord(r.item_id, calm) for r in rows])
    spec = f"boats@{w.ws.commit('boats', 'no boxes').id}"
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps([{"image_id": 1, "category_id": "boat", "bbox": [1, 1, 5, 5],
                                 "score": 0.9}]))  # fmt: skip
    a, b = (
        run_evaluation(w.ws, spec, tmp_path / name, predictions=pred,
                       settings=RunSettings(n_resamples=10), report=False)
        for name in ("a", "b")
    )  # fmt: skip
    with pytest.raises(
        InvalidInput,
        match=r"--metric AP gates nothing: on every slice the runs share, AP is undefined in "
        r"both runs \(no ground-truth box of the slice to score\); gate one of F1",
    ):
        gate(w.ws, a, b, max_drop=0.01)
    assert gate(w.ws, a, b, max_drop=0.01, metric="F1").passed  # a false alarm in both: F1 0


# Detection's metric definitions before label slices left out crowd regions (version 2).
DETECTION_V2 = (
    "coco-bbox(pycocotools mode; ground truth as the COCO export: outlines, stored area),F1@IoU.5/2"
)


def _as_version_2(ws: Workspace, run: EvalRun, crowd_only: str, out: Path) -> EvalRun:
    """`run` as the release before version 3 recorded it: detection metrics version 2, and
    the item whose only boat is a crowd region in the slice `boats`."""
    import hashlib

    from assay.domain.labels import canonical_json
    from assay.evaluation.runs._store import BOXES, ITEMS, SAMPLES, write_run

    body = {k: v for k, v in run.record.items() if k != "run_id"}
    body["metric_versions"] = {**body["metric_versions"], "detection": DETECTION_V2}
    body["created"] = "2026-12-06T12:00:00Z"
    record = {**body, "run_id": hashlib.sha256(canonical_json(body).encode()).hexdigest()[:20]}
    items = run.items()
    items.loc[items["item_id"] == crowd_only, "slice:boats"] = True
    tables = {SAMPLES: run.samples(), BOXES: run.boxes(), ITEMS: items}
    return write_run(ws, out, record, {**run.summary, "run_id": record["run_id"]}, tables, None)


def test_compare_says_and_gate_refuses_runs_of_other_metric_versions(
    tmp_path: Path,
    closing: Closing,
    invoke,  # type: ignore[no-untyped-def]
) -> None:
    # A run of version 2 (its `boats` slice held the image whose only boat is a crowd region)
    # and one of version 3 (it does not) were compared and gated without a word: the
    # membership note blamed the commits, which were the same.
    from assay.domain.labels import Region
    from assay.evaluation.runs import gate
    from assay.formats.io import export_bundle

    w = closing(detection_world(tmp_path / "ws", n=4))
    crowd = Region(kind="box", control="objects", label="boat", box=(30.0, 20.0, 12.0, 8.0),
                   attributes={"iscrowd": 1})  # fmt: skip
    spec, _gt_file, gt = _with_region(w, 1, crowd, "a crowd of boats", tmp_path)
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps([
        {**{k: a[k] for k in ("image_id", "category_id", "bbox")}, "score": 0.9}
        for a in gt["annotations"] if not a["iscrowd"]
    ]))  # fmt: skip

    def run(name: str) -> EvalRun:
        return run_evaluation(w.ws, spec, tmp_path / name, predictions=pred,
                              slices=[SliceDef("boats", {"label": "boat"})],
                              settings=RunSettings(n_resamples=20), report=False)  # fmt: skip

    new, again = run("new"), run("again")
    crowd_only = export_bundle(w.ws, w.ws.resolve(spec)).rows[1].item_id  # no boat but a crowd
    old = _as_version_2(w.ws, run("old"), crowd_only, tmp_path / "v2")
    cmp = compare_runs(w.ws, old.path, new.path)
    assert cmp["metric_versions"] == {
        "metric": "detection", "a": DETECTION_V2, "b": new.record["metric_versions"]["detection"],
        "same": False,
    }  # fmt: skip
    assert cmp["slices"]["boats"]["membership"]["only_a"] == 1
    assert compare_runs(w.ws, new.path, again.path)["metric_versions"]["same"]
    err: list[str] = []
    code, out = invoke("-w", w.root, "eval", "compare", old.path, new.path, stderr=err)
    assert code == 0, out
    notes = [line for line in err[0].splitlines() if line.startswith("note:")]
    assert notes[0].startswith(
        f"note: run A was scored under detection metrics version 2 ({DETECTION_V2!r}) and run B "
        "under version 3 ("
    )
    assert "defined differently" in notes[0]
    assert "slice boats: 1 item(s) in it in run A only" in notes[1]
    assert "their metric versions' slice rules" in notes[1]
    with pytest.raises(
        InvalidInput,
        match=rf"run {old.run_id} was scored under detection metrics version 2 .* and run "
        rf"{new.run_id} under version 3 .*: a gate compares models under the same metric "
        rf"definitions; score {old.run_id} again under the current ones: `assay eval run "
        rf"--rerun {old.run_id} --out DIR` \(`assay eval compare` shows the two as they are\)",
    ):
        gate(w.ws, old, new, max_drop=0.01)
    assert gate(w.ws, new, again, max_drop=0.0).passed
