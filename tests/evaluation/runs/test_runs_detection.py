"""Detection runs: COCO numbers equal pycocotools on the exported dataset, ONNX detectors."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assay.errors import InvalidInput
from assay.evaluation.runs import RunSettings, compare_runs, rerun, run_evaluation
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
    run = run_evaluation(
        w.ws,
        w.spec,
        tmp_path / "run",
        predictions=pred,
        slices=slices,
        settings=RunSettings(n_resamples=30),
    )
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


def test_an_object_size_slice_holds_the_images_with_a_box_of_that_size(
    tmp_path: Path,
    closing: Closing,
    invoke,  # type: ignore[no-untyped-def]
) -> None:
    # A size slice kept every image: it was never empty, so a slice of a size the commit has
    # no box of (here `large`: the images are 48x32) showed n 8 and no warning.
    from assay.domain.labels import Region
    from assay.evaluation.runs import gate
    from assay.formats.io import export_bundle
    from assay.versioning import LabelRecord

    w = closing(detection_world(tmp_path / "ws", n=4))
    rows = export_bundle(w.ws, w.ws.resolve(w.spec)).rows
    big = Region(kind="box", control="objects", label="roof", box=(2.0, 2.0, 40.0, 28.0))
    w.ws.set_labels("boats", [LabelRecord(rows[0].item_id, [*rows[0].regions, big])])
    spec = f"boats@{w.ws.commit('boats', 'a medium roof').id}"
    w.ws.export(spec, "coco", tmp_path / "coco", media=False)
    gt_file = next((tmp_path / "coco").rglob("*.json"))
    gt = json.loads(gt_file.read_text())
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
    cmp = compare_runs(w.ws, a["path"], b["path"], n_resamples=30)
    f1 = cmp["slices"]["medium"]["tests"]["F1"]
    assert cmp["slices"]["medium"]["n"] == 2
    assert f1["a"] == a["summary"]["slices"]["medium"]["metrics"]["F1"]["value"]
    assert f1["b"] == b["summary"]["slices"]["medium"]["metrics"]["F1"]["value"]
    assert cmp["slices"]["large"]["n"] == 0
    with pytest.raises(InvalidInput, match="--slice large: no item both runs evaluated is in it"):
        gate(w.ws, a["path"], b["path"], max_drop=0.01, slices=["large"])
