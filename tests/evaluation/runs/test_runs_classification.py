"""Classification runs end to end: ONNX and Python models, slices, suites, records, reruns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from assay.evaluation import accuracy, bootstrap_metric, mcnemar
from assay.evaluation.corruptions import CorruptionSpec, apply
from assay.evaluation.runs import RunSettings, SliceDef, rerun, run_evaluation
from assay.store.schema import eval_runs
from cli_support import on_a_terminal
from evaluation.runs.runs_world import World, linear_classifier

SMALL = RunSettings(
    suites=("clean", "corruptions", "adversarial"),
    corruptions=("gaussian_noise", "fog"),
    severities=(1, 3),
    n_resamples=100,
)


@pytest.fixture(scope="module")
def onnx_run(world: World, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("runs") / "onnx"
    return run_evaluation(
        world.ws,
        world.spec,
        out,
        model="flood-clf",
        slices=world.root.parent / "slices.yaml",
        settings=SMALL,
    )


def test_run_is_a_record_with_folder_row_and_audit_event(world: World, onnx_run) -> None:  # type: ignore[no-untyped-def]
    rec = onnx_run.record
    assert rec["dataset"]["commit"] == world.commit
    assert rec["model"]["ref"] == "flood-clf@1" and len(rec["model"]["sha256"]) == 64
    assert [s["name"] for s in rec["slices"]] == ["drone", "night", "north", "flooded"]
    assert {t["name"] for t in rec["transforms"]} == {"gaussian_noise", "fog"}
    assert rec["seeds"]["corruptions"] == 0 and rec["libraries"]["numpy"] == np.__version__
    assert rec["libraries"]["onnxruntime"] and rec["metric_versions"]["classification"]
    for name in ("run.json", "summary.json", "samples.parquet", "items.parquet", "report.html"):
        assert (onnx_run.path / name).is_file()
    with world.ws.db.read() as conn:
        row = conn.execute(select(eval_runs).where(eval_runs.c.id == onnx_run.run_id)).one()
    assert row.commit_id == world.commit and row.model_sha256 == rec["model"]["sha256"]
    events = [e for e in world.ws.audit_log() if e.action == "eval.run"]
    assert any(e.details["run"] == onnx_run.run_id for e in events)


def test_metrics_match_the_evaluation_modules(world: World, onnx_run) -> None:  # type: ignore[no-untyped-def]
    samples = onnx_run.samples()
    clean = samples[samples["suite"] == "clean"]
    assert len(clean) == 24
    expected = accuracy(clean["y_true"], clean["y_pred"])
    assert onnx_run.summary["headline"]["accuracy"] == expected
    truth = clean.set_index("item_id")["y_true"].to_dict()
    assert truth == world.truth
    items = onnx_run.items()
    drone = set(items.loc[items["slice:drone"], "item_id"])
    assert drone == {i for i, n in world.names.items() if n.startswith("drone")}
    assert set(items.loc[items["slice:night"], "item_id"]) == drone  # drone scenes are at 22:30
    assert set(items.loc[items["slice:north"], "item_id"]) == drone
    sub = clean[clean["item_id"].isin(drone)].reset_index(drop=True)
    est = bootstrap_metric(sub, "accuracy", n_resamples=100, seed=0)
    entry = onnx_run.summary["slices"]["drone"]
    assert entry["n"] == 12
    assert entry["metrics"]["accuracy"] == {"value": est.value, "low": est.low, "high": est.high}
    assert set(entry["metrics"]) == {"accuracy", "macro_f1", "brier", "ece"}


def test_corruptions_are_deterministic_and_reported_per_severity(world: World, onnx_run) -> None:  # type: ignore[no-untyped-def]
    corr = onnx_run.summary["corruptions"]
    cells = {(r["corruption"], r["severity"]) for r in corr["rows"]}
    assert cells == {("gaussian_noise", 1), ("gaussian_noise", 3), ("fog", 1), ("fog", 3)}
    assert corr["mCE"] is None and corr["baseline"] is None  # no baseline given
    assert corr["rPC"] == pytest.approx(corr["mPC"] / onnx_run.summary["headline"]["accuracy"])
    # The stored per-sample rows are what the model says on apply(image, spec, index=i).
    samples = onnx_run.samples()
    fog3 = samples[(samples["corruption"] == "fog") & (samples["severity"] == 3)]
    assert len(fog3) == 24
    from assay.evaluation.runs._data import decode, load_dataset
    from assay.evaluation.runs._predict import from_registry, model_probabilities

    data = load_dataset(world.ws, world.spec)
    images = [decode(it) for it in data.items]
    bad = [apply(im, CorruptionSpec("fog", 3, 0), index=i) for i, im in enumerate(images)]
    probs = model_probabilities(from_registry(world.ws, "flood-clf"), bad)
    assert np.array_equal(np.stack(fog3["probs"].to_list()), probs)


def test_onnx_adversarial_is_not_applicable(onnx_run) -> None:  # type: ignore[no-untyped-def]
    adv = onnx_run.summary["adversarial"]
    assert adv["status"] == "not_applicable" and "ONNX" in adv["reason"]
    html = (onnx_run.path / "report.html").read_text()
    assert "not applicable: ONNX models expose no input gradients" in html


def test_callable_with_gradients_gets_robust_accuracy_and_mce(
    world: World,
    onnx_run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    run = run_evaluation(
        world.ws,
        world.spec,
        tmp_path / "py",
        model=linear_classifier(),
        settings=SMALL,
        baseline=str(onnx_run.path),
    )
    adv = run.summary["adversarial"]
    assert adv["status"] == "ok"
    accs = [r["accuracy"] for r in adv["rows"]]
    assert accs[0] == run.summary["headline"]["accuracy"]
    assert accs[-1] < accs[0]  # 8/255 PGD hurts a linear colour model
    assert all(r["max_perturbation"] <= r["epsilon"] + 1e-12 for r in adv["rows"])
    corr = run.summary["corruptions"]
    # Same maths as the ONNX model: corruption error against it is 1 (up to float32 ties).
    assert corr["baseline"] == onnx_run.run_id
    assert corr["mCE"] == pytest.approx(1.0, abs=0.05)
    for name, entry in corr["per_corruption"].items():
        mine = [1 - r["value"] for r in corr["rows"] if r["corruption"] == name]
        base = [
            1 - r["value"]
            for r in onnx_run.summary["corruptions"]["rows"]
            if r["corruption"] == name
        ]
        assert entry["CE"] == pytest.approx(sum(mine) / sum(base))


def test_rerun_reproduces_every_number(world: World, onnx_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    again, same = rerun(world.ws, onnx_run.path, tmp_path / "again")
    assert same
    assert again.record["rerun_of"] == onnx_run.run_id
    assert again.run_id != onnx_run.run_id
    pd.testing.assert_frame_equal(again.samples(), onnx_run.samples())
    # The same arguments give the same numbers too.
    fresh = run_evaluation(
        world.ws,
        world.spec,
        tmp_path / "fresh",
        model="flood-clf",
        slices=world.root.parent / "slices.yaml",
        settings=SMALL,
        report=False,
    )
    strip = {k: v for k, v in fresh.summary.items() if k != "run_id"}
    assert strip == {k: v for k, v in onnx_run.summary.items() if k != "run_id"}
    assert not (tmp_path / "fresh" / "report.html").exists()


def test_prediction_csv_run_and_rerun(world: World, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for iid, label in world.truth.items():
        p = 0.8 if rng.uniform() < 0.75 else 0.3
        rows.append(
            {
                "item": iid[:16],
                "dry": 1 - p if label == "flooded" else p,
                "flooded": p if label == "flooded" else 1 - p,
            }
        )
    # A long file name (the run's model name): PostgreSQL's VARCHAR(200) failed to record it.
    path = tmp_path / f"preds-{'x' * 220}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    run = run_evaluation(
        world.ws,
        world.spec,
        tmp_path / "csv",
        predictions=path,
        settings=RunSettings(n_resamples=50),
    )
    clean = run.samples()
    assert run.summary["headline"]["accuracy"] == pytest.approx(clean["correct"].mean())
    assert run.record["model"]["kind"] == "predictions"
    path.unlink()  # the record keeps the file's bytes in the blob store
    again, same = rerun(world.ws, run.run_id[:10], tmp_path / "csv2")
    assert same
    res = mcnemar(clean["correct"], again.samples()["correct"])
    assert (res.b, res.c) == (0, 0)


def test_report_is_self_contained(onnx_run) -> None:  # type: ignore[no-untyped-def]
    html = (onnx_run.path / "report.html").read_text()
    assert html.count("<svg") >= 3  # PR curves, reliability diagram, corruption heat map
    for needle in ("Slices", "Precision-recall", "Reliability", "Corruptions", "drone"):
        assert needle in html
    for external in ("http://", "https://", "<script", "<link", "src="):
        assert external not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    summary = json.loads((onnx_run.path / "summary.json").read_text())
    low = summary["slices"]["all"]["metrics"]["accuracy"]["low"]
    assert f"{low:.3f}" in html


def test_a_run_tells_its_progress_over_every_pass(world: World, tmp_path: Path) -> None:
    """Images through the model, pass after pass: the clean one, each corruption and
    severity, each adversarial budget; the bar moves long before the run ends."""
    for name, model, adversarial in (
        ("onnx", "flood-clf", 0),  # no gradients: not attacked
        ("py", linear_classifier(), len(SMALL.epsilons)),
    ):
        told: list[tuple[int, int]] = []

        def tell(done: int, total: int, told: list[tuple[int, int]] = told) -> None:
            told.append((done, total))

        run_evaluation(world.ws, world.spec, tmp_path / name, model=model, settings=SMALL,
                       report=False, progress=tell)  # fmt: skip
        passes = 1 + 2 * 2 + adversarial
        # Then the bootstrap: each of the 4 metrics of the one slice ("all"), 100 resamples.
        resampled = 4 * SMALL.n_resamples
        total = passes * 24 + resampled
        assert told[-1] == (total, total) and {t for _, t in told} == {total}
        done = [d for d, _ in told]
        assert done == sorted(done)
        # After each pass, and during the bootstrap of the clean pass: ECE, a callable
        # metric, a resample at a time (the bootstrap was not counted at all).
        assert 24 in done and len(set(done)) > passes + SMALL.n_resamples


def test_a_prediction_file_run_tells_its_bootstrap(world: World, tmp_path: Path) -> None:
    """A prediction file's run reads no image: its waiting is the bootstrap, which told
    nothing (no bar at all under `eval run --predictions ... --resamples 5000`)."""
    rows = [
        {"item": iid[:16], "dry": 0.3 + 0.4 * (i % 2), "flooded": 0.7 - 0.4 * (i % 2)}
        for i, iid in enumerate(sorted(world.truth))
    ]
    preds = tmp_path / "probs.csv"
    pd.DataFrame(rows).to_csv(preds, index=False)
    told: list[tuple[int, int]] = []
    run_evaluation(world.ws, world.spec, tmp_path / "file", predictions=preds, report=False,
                   settings=RunSettings(n_resamples=50), progress=lambda d, t: told.append((d, t)),
                   slices=world.root.parent / "slices.yaml")  # fmt: skip
    total = 5 * 4 * 50  # "all" and 4 slices, 4 metrics, 50 resamples
    assert told[-1] == (total, total) and {t for _, t in told} == {total}
    done = [d for d, _ in told]
    assert done == sorted(done) and len(set(done)) > 5 * 4


def test_the_cli_shows_a_bar_on_a_terminal_and_none_with_json(world: World, tmp_path: Path) -> None:
    args = ["-w", str(world.root), "eval", "run", "--dataset", world.spec, "--model",
            "flood-clf", "--suite", "clean,corruptions", "--corruptions", "fog",
            "--severities", "1", "--resamples", "50", "--no-report"]  # fmt: skip
    shown = on_a_terminal([*args, "--out", str(tmp_path / "a")], tmp_path)
    # 24 images, clean and fogged, then 4 metrics of the one slice with 50 resamples each
    assert "evaluating" in shown and "248/248" in shown
    quiet = on_a_terminal([*args, "--out", str(tmp_path / "b"), "--json"], tmp_path)
    assert "evaluating" not in quiet
    assert (tmp_path / "b/run.json").is_file()


def test_object_size_and_label_slices_leave_out_crowd_regions(
    tmp_path: Path, closing: Callable[[World], World]
) -> None:
    # An item whose only small box was a crowd region (iscrowd) was in the `small` slice:
    # COCO ignores crowd regions, so they hold no object of any size. It was in the slice
    # `{label: people}` too, though it holds no object `people` that is scored.
    from assay.domain.labels import Region
    from assay.formats.io import export_bundle
    from assay.versioning import LabelRecord
    from evaluation.runs.runs_world import classification_world

    w = closing(classification_world(tmp_path / "ws", n=4))
    rows = export_bundle(w.ws, w.ws.resolve(w.spec)).rows
    crowd = Region(kind="box", control="objects", label="people", box=(1.0, 1.0, 10.0, 10.0),
                   attributes={"iscrowd": 1})  # fmt: skip
    person = Region(kind="box", control="objects", label="person", box=(1.0, 1.0, 8.0, 8.0))
    w.ws.set_labels(
        w.dataset,
        [
            LabelRecord(rows[0].item_id, [*rows[0].regions, crowd]),
            LabelRecord(rows[1].item_id, [*rows[1].regions, crowd, person]),
        ],
    )
    spec = f"{w.dataset}@{w.ws.commit(w.dataset, 'objects').id}"
    pred = tmp_path / "p.csv"
    pd.DataFrame([{"item": iid, "dry": 0.5, "flooded": 0.5} for iid in w.truth]).to_csv(
        pred, index=False
    )
    run = run_evaluation(w.ws, spec, tmp_path / "run", predictions=pred,
                         slices=[SliceDef("small", {"object_size": "small"}),
                                 SliceDef("people", {"label": "people"}),
                                 SliceDef("person", {"label": "person"})],
                         settings=RunSettings(n_resamples=20), report=False)  # fmt: skip
    assert run.summary["slices"]["small"]["n"] == 1
    items = run.items()
    assert list(items.loc[items["slice:small"], "item_id"]) == [rows[1].item_id]
    assert run.summary["slices"]["people"]["n"] == 0 and run.empty_slices == ["people"]
    assert list(items.loc[items["slice:person"], "item_id"]) == [rows[1].item_id]
