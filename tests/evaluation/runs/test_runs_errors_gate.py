"""Bad input writes nothing; compare and gate on constructed runs; the CLI commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from assay.domain.labels import Region
from assay.errors import InvalidInput, NotFound
from assay.evaluation import mcnemar
from assay.evaluation.runs import (
    EvalRun,
    RunSettings,
    compare_runs,
    gate,
    parse_slices,
    run_evaluation,
)
from assay.evaluation.runs import time_of_day as tod
from assay.store.schema import eval_runs
from assay.versioning import LabelRecord
from evaluation.runs.runs_world import World, classification_world

FAST = RunSettings(n_resamples=200)


def _count(world: World) -> int:
    with world.ws.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(eval_runs)).scalar_one())


def _preds(world: World, path: Path, wrong: set[str]) -> Path:
    """Confident predictions, wrong exactly on the items in `wrong`."""
    rows = []
    for iid, label in sorted(world.truth.items()):
        hit = label if iid not in wrong else ("dry" if label == "flooded" else "flooded")
        rows.append(
            {
                "name": world.names[iid],
                "dry": 0.9 if hit == "dry" else 0.1,
                "flooded": 0.9 if hit == "flooded" else 0.1,
            }
        )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("model", "no model 'ghost'"),
        ("csv", "column 'name': 'not-an-item.jpg' is not an item"),
        # A file covering some of the labelled items scored those alone, unsaid (n=1, 100%).
        ("partial", r"no row for 1 of the \d+ item\(s\) with a class of record"),
        ("coco", r"\[0\]\.image_id: 999 is not an item"),
        # A negative width was matched by area and IoU as if it were a box.
        ("box", r"p\.json: \[0\]\.bbox: width and height must be >= 0, got \[5, 5, -3, 4\]"),
        # Scores that are no probabilities (logits, per-class sigmoids) skewed Brier and ECE.
        ("sum", r"p\.csv: row 2: the class probabilities \(dry, flooded\) sum to 1\.5, not 1"),
        ("slices", "slices.bad.weather: unknown field 'weather'"),
        ("suite", "corruptions suite runs a model"),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(
    world: World, tmp_path: Path, kind: str, message: str
) -> None:
    before = _count(world)
    out = tmp_path / "run"
    kw: dict[str, object] = {"settings": FAST}
    if kind == "model":
        kw["model"] = "ghost"
    elif kind == "csv":
        p = tmp_path / "p.csv"
        p.write_text("name,dry,flooded\nnot-an-item.jpg,0.5,0.5\n")
        kw["predictions"] = p
    elif kind == "partial":
        p = _preds(world, tmp_path / "p.csv", set())
        p.write_text("".join(p.read_text().splitlines(keepends=True)[:-1]))
        kw["predictions"] = p
    elif kind == "sum":
        p = _preds(world, tmp_path / "p.csv", set())
        lines = p.read_text().splitlines(keepends=True)
        name = lines[2].split(",")[0]
        lines[2] = f"{name},0.9,0.6\n"
        p.write_text("".join(lines))
        kw["predictions"] = p
    elif kind in ("coco", "box"):
        p = tmp_path / "p.json"
        box = [0, 0, 1, 1] if kind == "coco" else [5, 5, -3, 4]
        p.write_text(json.dumps([{"image_id": 999, "category_id": 1, "bbox": box, "score": 1.0}]))
        kw["predictions"] = p
    elif kind == "slices":
        s = tmp_path / "slices.yaml"
        s.write_text("slices:\n  bad: {weather: rain}\n")
        kw.update(model="flood-clf", slices=s)
    else:
        kw.update(
            predictions=_preds(world, tmp_path / "p.csv", set()),
            settings=RunSettings(suites=("corruptions",), corruptions=("fog",)),
        )
    with pytest.raises((InvalidInput, NotFound), match=message) as err:
        run_evaluation(world.ws, world.spec, out, **kw)  # type: ignore[arg-type]
    if kind in ("csv", "partial", "sum", "coco", "box", "slices"):
        assert str(tmp_path) in str(err.value)  # the message names the file
    assert not out.exists() and not list(tmp_path.glob(".run.*"))
    assert _count(world) == before


def test_a_probability_column_of_a_class_the_dataset_lacks_is_one_error(
    world: World, tmp_path: Path
) -> None:
    # An extra column "cloudy" was taken as a model class, silently.
    p = _preds(world, tmp_path / "p.csv", set())
    frame = pd.read_csv(p)
    frame["cloudy"] = 0.0
    frame.to_csv(p, index=False)
    with pytest.raises(InvalidInput, match=r"p\.csv: column 'cloudy' is not a class of floods@"):
        run_evaluation(world.ws, world.spec, tmp_path / "run", predictions=p, settings=FAST)
    assert not (tmp_path / "run").exists()


def test_slice_files_are_checked_field_by_field() -> None:
    with pytest.raises(InvalidInput, match=r"s\.yaml: unknown field 'slice'"):
        parse_slices({"slice": {}}, "s.yaml")
    with pytest.raises(InvalidInput, match=r"slices\.x\.time_of_day: expected one of"):
        parse_slices({"slices": {"x": {"time_of_day": "noon"}}}, "s.yaml")
    with pytest.raises(InvalidInput, match=r"slices\.x\.geo_box"):
        parse_slices({"slices": {"x": {"geo_box": [1, 2, 3]}}}, "s.yaml")
    (s,) = parse_slices({"slices": {"x": {"metadata.site": ["a", "b"], "sensor": "drone"}}}, "f")
    assert s.where == {"metadata.site": ["a", "b"], "sensor": "drone"}


@given(st.integers(0, 23), st.integers(0, 59))
def test_every_hour_has_one_part_of_the_day(hour: int, minute: int) -> None:
    part = tod(f"2026-03-01T{hour:02d}:{minute:02d}:00")
    assert part in ("night", "morning", "afternoon", "evening")
    assert (part == "night") == (hour >= 21 or hour < 5)


def test_gate_fails_on_a_significant_drop_and_passes_otherwise(
    world: World,
    tmp_path: Path,
    invoke,  # type: ignore[no-untyped-def]
) -> None:
    ids = sorted(world.truth)
    drone = sorted(i for i in ids if world.names[i].startswith("drone"))
    slices = world.root.parent / "slices.yaml"

    def run(name: str, wrong: set[str]) -> str:
        p = _preds(world, tmp_path / f"{name}.csv", wrong)
        r = run_evaluation(
            world.ws,
            world.spec,
            tmp_path / name,
            predictions=p,
            slices=slices,
            settings=FAST,
            report=False,
        )
        return str(r.path)

    base = run("base", {ids[0]})
    worse = run("worse", {ids[0], *drone[1:11]})  # ten more drone scenes wrong
    same = run("same", {ids[1]})  # one swap: no significant change
    cmp = compare_runs(world.ws, base, worse)
    acc = cmp["slices"]["drone"]["tests"]["accuracy"]
    assert acc["p_value"] == mcnemar([True] * 12, [True] + [False] * 10 + [True]).p_value
    assert acc["difference"] == pytest.approx(-10 / 12)

    failed = gate(world.ws, base, worse, max_drop=0.01)
    assert not failed.passed and "drone" in failed.failing and "all" in failed.failing
    assert [r.slice for r in failed.rows] == ["all", "drone", "night", "north", "flooded"]
    assert gate(world.ws, base, same, max_drop=0.01).passed
    # Not significant on its own: a 1-item drop passes even with max-drop 0.
    assert gate(world.ws, base, same, max_drop=0.0).passed

    code, out = invoke(
        "-w",
        world.root,
        "eval",
        "gate",
        "--baseline",
        base,
        "--candidate",
        worse,
        "--max-drop",
        "0.01",
    )
    assert code == 1 and "gate failed" in out and "drone" in out.splitlines()[-1]
    code, out = invoke(
        "-w",
        world.root,
        "eval",
        "gate",
        "--baseline",
        base,
        "--candidate",
        same,
        "--max-drop",
        "0.01",
        "--slice",
        "drone",
        "--json",
    )
    assert code == 0 and json.loads(out)["passed"] is True


def test_cli_run_show_compare_and_rerun(world: World, tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    slices = world.root.parent / "slices.yaml"
    out = tmp_path / "cli-run"
    code, text = invoke(
        "-w",
        world.root,
        "eval",
        "run",
        "--dataset",
        world.spec,
        "--model",
        "flood-clf",
        "--slices",
        slices,
        "--suite",
        "clean,corruptions",
        "--corruptions",
        "brightness",
        "--severities",
        "1,5",
        "--resamples",
        "100",
        "--out",
        out,
        "--json",
    )
    assert code == 0, text
    doc = json.loads(text)
    assert doc["summary"]["corruptions"]["rows"][1]["severity"] == 5
    assert (out / "report.html").is_file()
    code, text = invoke(
        "-w", world.root, "eval", "run", "--rerun", out, "--out", tmp_path / "cli-rerun", "--json"
    )
    assert code == 0 and json.loads(text)["reproduced"] is True
    html = tmp_path / "r.html"
    code, text = invoke("-w", world.root, "eval", "show", doc["record"]["run_id"], "--html", html)
    assert code == 0 and "drone" in text and html.read_text().startswith("<!DOCTYPE html>")
    code, text = invoke("-w", world.root, "eval", "compare", out, tmp_path / "cli-rerun", "--json")
    cmp = json.loads(text)
    assert cmp["slices"]["all"]["tests"]["accuracy"]["difference"] == 0.0
    assert cmp["corruptions"]["brightness"]["n"] == 48  # 24 items x 2 severities
    code, text = invoke(
        "-w",
        world.root,
        "eval",
        "run",
        "--dataset",
        world.spec,
        "--model",
        "ghost",
        "--out",
        tmp_path / "x",
    )
    assert code == 1 and "error: no model 'ghost'" in text
    assert np.isfinite(doc["summary"]["headline"]["accuracy"])


def _run(
    world: World, tmp_path: Path, name: str, wrong: set[str], slices: Path | None = None
) -> EvalRun:
    p = _preds(world, tmp_path / f"{name}.csv", wrong)
    return run_evaluation(
        world.ws, world.spec, tmp_path / name, predictions=p, slices=slices, settings=FAST,
        report=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("max_drop", "alpha", "message"),
    [
        (1.5, 0.05, "--max-drop: 1.5 is not in the range 0<=x<=1"),
        (-0.01, 0.05, "--max-drop: -0.01 is not in the range 0<=x<=1"),
        (float("nan"), 0.05, "--max-drop: nan is not in the range 0<=x<=1"),
        (0.01, 1.0, "--alpha: 1 is not in the range 0<x<1"),
        (0.01, 0.0, "--alpha: 0 is not in the range 0<x<1"),
    ],
)
def test_the_gate_api_bounds_max_drop_and_alpha_as_the_cli_does(
    world: World, tmp_path: Path, max_drop: float, alpha: float, message: str
) -> None:
    # The metrics gated lie in 0..1 and `eval gate --max-drop` takes 0..1, but gate() took
    # max_drop=1.5 (a gate nothing fails) from the Python API.
    ids = sorted(world.truth)
    base, worse = _run(world, tmp_path, "base", set()), _run(world, tmp_path, "worse", set(ids))
    with pytest.raises(InvalidInput) as err:
        gate(world.ws, base, worse, max_drop=max_drop, alpha=alpha)
    assert str(err.value) == message
    assert gate(world.ws, base, worse, max_drop=1.0).passed  # the bounds themselves are fine
    assert not gate(world.ws, base, worse, max_drop=0.0).passed


def test_compare_and_gate_give_both_runs_macro_f1(world: World, tmp_path: Path) -> None:
    # The gate on macro_f1 showed "-" for the baseline and the candidate.
    ids = sorted(world.truth)
    runs = [_run(world, tmp_path, "a", {ids[0]}), _run(world, tmp_path, "b", set(ids[:5]))]
    f1 = compare_runs(world.ws, *runs)["slices"]["all"]["tests"]["macro_f1"]
    assert f1["a"] == pytest.approx(runs[0].summary["headline"]["macro_f1"])
    assert f1["b"] == pytest.approx(runs[1].summary["headline"]["macro_f1"])
    assert f1["b"] - f1["a"] == pytest.approx(f1["difference"])
    row = gate(world.ws, *runs, max_drop=0.5, metric="macro_f1").rows[0]
    assert (row.baseline, row.candidate) == (f1["a"], f1["b"])


def test_gate_refuses_an_empty_slice_it_is_asked_for(world: World, tmp_path: Path) -> None:
    # A slice whose query matches nothing passed the gate however bad the candidate was.
    slices = tmp_path / "slices.yaml"
    slices.write_text("slices:\n  boats: {label: boat}\n  drone: {sensor: drone}\n")
    ids = sorted(world.truth)
    base = _run(world, tmp_path, "base", set(), slices)
    worse = _run(world, tmp_path, "worse", set(ids), slices)
    with pytest.raises(InvalidInput, match="--slice boats: no item both runs evaluated is in it"):
        gate(world.ws, base, worse, max_drop=0.01, slices=["boats"])
    assert gate(world.ws, base, worse, max_drop=0.01, slices=["drone"]).failing == ["drone"]
    everything = gate(world.ws, base, worse, max_drop=0.01)
    assert everything.failing == ["all", "drone"]  # the empty slice is shown, and gates nothing
    assert [r.n for r in everything.rows if r.slice == "boats"] == [0]


def _runs_with_an_empty_slice(world: World, tmp_path: Path) -> tuple[EvalRun, EvalRun]:
    """A baseline and a candidate (each wrong on one item) with slices drone and boats, the
    latter empty (no item has a boat)."""
    slices = tmp_path / "slices.yaml"
    slices.write_text("slices:\n  boats: {label: boat}\n  drone: {sensor: drone}\n")
    ids = sorted(world.truth)
    return (
        _run(world, tmp_path, "base", {ids[0]}, slices),
        _run(world, tmp_path, "cand", {ids[1]}, slices),
    )


def test_gate_and_compare_show_an_empty_vision_slice_as_empty(
    world: World,
    tmp_path: Path,
    invoke,  # type: ignore[no-untyped-def]
) -> None:
    # Gating every slice of a classification run, `--json` gave the empty slice
    # `"failed": false` and nothing else (read as a pass), and `compare` left it out of its
    # table without a word.
    base, cand = _runs_with_an_empty_slice(world, tmp_path)
    code, out = invoke("-w", world.root, "eval", "gate", "--baseline", base.path,
                       "--candidate", cand.path, "--max-drop", "0.5", "--json")  # fmt: skip
    assert code == 0, out
    doc = json.loads(out)
    assert {r["slice"]: r["result"] for r in doc["rows"]} == {
        "all": "ok", "boats": "empty", "drone": "ok",
    }  # fmt: skip
    assert doc["passed"] and doc["empty"] == ["boats"]
    code, out = invoke("-w", world.root, "eval", "gate", "--baseline", base.path,
                       "--candidate", cand.path, "--max-drop", "0.5")  # fmt: skip
    row = next(line for line in out.splitlines() if "boats" in line)
    assert "empty" in row and "ok" not in row
    err: list[str] = []
    code, out = invoke("-w", world.root, "eval", "compare", base.path, cand.path, stderr=err)
    assert code == 0, out
    row = next(line for line in out.splitlines() if "boats" in line)
    assert " 0 " in row and "empty" in row
    assert "note: slice boats is empty: no item both runs evaluated is in it" in err[0]


def test_compare_and_gate_tell_their_bootstrap_as_eval_run_does(
    world: World, tmp_path: Path
) -> None:
    # `eval compare` and `eval gate` with --resamples 20000 sat silent for minutes, while
    # `eval run --resamples` showed a bar of its resamples.
    base, cand = _runs_with_an_empty_slice(world, tmp_path)
    told: list[tuple[int, int]] = []
    compare_runs(world.ws, base, cand, n_resamples=70, progress=lambda d, t: told.append((d, t)))
    total = 2 * 70  # macro F1 of `all` and `drone`; the empty `boats` and McNemar resample none
    assert told[-1] == (total, total) and {t for _, t in told} == {total}
    done = [d for d, _ in told]
    assert done == sorted(done) and len(set(done)) > 2
    told.clear()
    gate(world.ws, base, cand, max_drop=0.5, n_resamples=70,
         progress=lambda d, t: told.append((d, t)))  # fmt: skip
    assert told[-1] == (total, total)


def test_compare_and_gate_show_a_bar_on_a_terminal_and_none_with_json(
    world: World, tmp_path: Path
) -> None:
    from cli_support import on_a_terminal

    ids = sorted(world.truth)
    base = _run(world, tmp_path, "base", {ids[0]})
    cand = _run(world, tmp_path, "cand", {ids[1]})
    ws = ["-w", str(world.root), "eval"]
    shown = on_a_terminal([*ws, "compare", str(base.path), str(cand.path), "--resamples", "300"],
                          tmp_path)  # fmt: skip
    assert "comparing" in shown and "300/300" in shown
    gate_args = [*ws, "gate", "--baseline", str(base.path), "--candidate", str(cand.path),
                 "--max-drop", "0.5", "--resamples", "300"]  # fmt: skip
    shown = on_a_terminal(gate_args, tmp_path)
    assert "gating" in shown and "300/300" in shown
    assert "gating" not in on_a_terminal([*gate_args, "--json"], tmp_path)


def test_run_warns_of_a_slice_that_matches_no_item(world: World, tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    # A mistyped value (nrth for north) gave the slice n 0 in the table, and nothing else.
    slices = tmp_path / "typo.yaml"
    slices.write_text("slices:\n  north: {metadata.district: nrth}\n  drone: {sensor: drone}\n")
    preds = _preds(world, tmp_path / "p.csv", set())
    args = ("-w", world.root, "eval", "run", "--dataset", world.spec, "--predictions", preds,
            "--slices", slices, "--resamples", "100", "--no-report")  # fmt: skip
    err: list[str] = []
    code, text = invoke(*args, "--out", tmp_path / "a", "--json", stderr=err)
    assert code == 0, text
    doc = json.loads(text)
    assert doc["empty_slices"] == ["north"]
    assert doc["summary"]["slices"]["north"]["n"] == 0
    assert "warning: slice north (metadata.district=nrth) matches no item of" in err[0]
    assert "drone" not in err[0]
    code, text = invoke(*args, "--out", tmp_path / "b", stderr=err)
    assert code == 0 and "warning: slice north (metadata.district=nrth)" in err[1]


def test_gate_refuses_runs_on_different_commits(
    tmp_path: Path, closing: Callable[[World], World]
) -> None:
    # Relabelled items made the same predictions score differently: the gate compared labels.
    w = closing(classification_world(tmp_path / "ws", n=4))
    ids = sorted(w.truth)

    def run(name: str) -> str:
        p = _preds(w, tmp_path / f"{name}.csv", set())
        return str(run_evaluation(w.ws, "floods", tmp_path / name, predictions=p).path)

    first = run("first")
    flipped = "dry" if w.truth[ids[0]] == "flooded" else "flooded"
    w.ws.set_labels(
        "floods", [LabelRecord(ids[0], [Region(kind="choice", control="flood", label=flipped)])]
    )
    second_commit = w.ws.commit("floods", "one relabelled").id
    second = run("second")
    with pytest.raises(
        InvalidInput,
        match=rf"evaluated floods@{w.commit[:12]} and run \w+ floods@{second_commit[:12]}: ",
    ):
        gate(w.ws, first, second, max_drop=0.01)
    assert compare_runs(w.ws, first, second)["n_shared"] == 4  # compare shows them as they are
    assert gate(w.ws, second, run("again"), max_drop=0.0).passed


def test_show_compare_and_gate_keep_slice_names_whole_at_80_columns(
    world: World,
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    # "metadata.district=north" and "...=south" were both cut to "metadata.distri…".
    slices = tmp_path / "slices.yaml"
    slices.write_text(
        "slices:\n  drone-over-the-north-at-night: {sensor: drone}\n"
        "  satellite-over-the-south-by-day: {sensor: satellite}\n"
    )
    ids = sorted(world.truth)
    base = _run(world, tmp_path, "base", {ids[0]}, slices)
    cand = _run(world, tmp_path, "cand", {ids[1]}, slices)
    for args in (
        ("show", base.path),
        ("compare", base.path, cand.path),
        ("gate", "--baseline", base.path, "--candidate", cand.path, "--max-drop", "0.1"),
    ):
        out = cli("-w", world.root, "eval", *args, env={"COLUMNS": "80"}).stdout
        table = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
        assert "…" not in out and max(len(line) for line in table) <= 80
        assert "drone-over-the-north-at-night" in out, args
        assert "satellite-over-the-south-by-day" in out, args


def test_list_says_which_model_version_ran_on_which_commit(
    world: World,
    tmp_path: Path,
    invoke,  # type: ignore[no-untyped-def]
    cli: Any,
) -> None:
    # Runs were kept in a table no command showed: which runs evaluated flood-clf@1, on what?
    model_run = run_evaluation(
        world.ws, world.spec, tmp_path / "m", model="flood-clf", settings=FAST, report=False
    )
    file_run = _run(world, tmp_path, "f", set())
    code, out = invoke("-w", world.root, "eval", "list", "--model", "flood-clf@1", "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert model_run.run_id in [r["run_id"] for r in rows]
    assert file_run.run_id not in [r["run_id"] for r in rows]
    mine = next(r for r in rows if r["run_id"] == model_run.run_id)
    assert (mine["model_ref"], mine["dataset"], mine["commit"]) == (
        "flood-clf@1",
        "floods",
        world.commit,
    )
    assert mine["headline"] == pytest.approx(model_run.summary["headline"])
    code, out = invoke("-w", world.root, "eval", "list", "--dataset", world.spec, "--json")
    assert {model_run.run_id, file_run.run_id} <= {r["run_id"] for r in json.loads(out)}
    code, out = invoke("-w", world.root, "eval", "list", "--dataset", "floods@0000", "--json")
    assert json.loads(out) == []
    out = cli("-w", world.root, "eval", "list", "--dataset", "floods@0000").stdout
    assert "no runs of dataset floods@0000 yet" in out
    # A name nothing is known by is an error naming it, not an empty table (exit 0).
    res = cli("-w", world.root, "eval", "list", "--model", "nope", code=1)
    assert "no model 'nope'" in res.stderr
    res = cli("-w", world.root, "eval", "list", "--dataset", "nope@1234", code=1)
    assert "no dataset named 'nope'" in res.stderr
    # A prediction file's run is known by its model's name, registered or not.
    assert file_run.run_id in [
        r["run_id"]
        for r in cli("-w", world.root, "eval", "list", "--model", file_run.record["model"]["name"],
                     "--json").json()
    ]  # fmt: skip
    code, out = invoke("-w", world.root, "eval", "list", "--model", "flood-clf")
    at = next(k for k, line in enumerate(out.splitlines()) if model_run.run_id[:12] in line)
    assert f"floods@{world.commit[:12]}" in out.splitlines()[at]
    assert "flood-clf@1" in out.splitlines()[at]


def test_compare_takes_a_slice_of_items_in_it_in_both_runs_and_says_so(
    tmp_path: Path,
    closing: Callable[[World], World],
    invoke,  # type: ignore[no-untyped-def]
) -> None:
    # Runs on two commits that label items differently: the slice `flooded` was taken from
    # run A alone, so B was scored on an item that is no longer flooded in its commit, unsaid.
    w = closing(classification_world(tmp_path / "ws", n=4))
    flooded = sorted(i for i, lab in w.truth.items() if lab == "flooded")
    dry = sorted(i for i, lab in w.truth.items() if lab == "dry")
    slices = tmp_path / "s.yaml"
    slices.write_text("slices:\n  flooded: {label: flooded}\n  drone: {sensor: drone}\n")

    def run(name: str) -> str:
        p = _preds(w, tmp_path / f"{name}.csv", set())
        return str(run_evaluation(w.ws, "floods", tmp_path / name, predictions=p,
                                  slices=slices, settings=FAST, report=False).path)  # fmt: skip

    a = run("a")
    relabel = [(flooded[0], "dry"), (dry[0], "flooded")]
    w.ws.set_labels(
        "floods",
        [LabelRecord(i, [Region(kind="choice", control="flood", label=lab)]) for i, lab in relabel],
    )
    w.truth.update(relabel)
    w.ws.commit("floods", "two relabelled")
    b = run("b")
    cmp = compare_runs(w.ws, a, b)
    entry = cmp["slices"]["flooded"]
    assert entry["n"] == 1  # flooded[1]: flooded in both commits
    assert entry["membership"] == {"rule": "both runs", "only_a": 1, "only_b": 1}
    assert cmp["slices"]["drone"]["membership"] == {"rule": "both runs", "only_a": 0, "only_b": 0}
    err: list[str] = []
    code, text = invoke("-w", w.root, "eval", "compare", a, b, stderr=err)
    assert code == 0, text
    notes = [line for line in err[0].splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "slice flooded" in notes[0]
    assert "1 item(s) in it in run A only and 1 in run B only" in notes[0]
    # One name, two queries: not compared (a paired test of two different slices means
    # nothing), said, and refused by the gate.
    slices.write_text("slices:\n  flooded: {label: flooded}\n  drone: {sensor: satellite}\n")
    c = run("c")
    cmp = compare_runs(w.ws, b, c)
    assert "drone" not in cmp["slices"] and cmp["slices"]["flooded"]["n"] == 2
    assert cmp["not_compared"] == {
        "drone": "slice drone is {'sensor': 'drone'} in run A and {'sensor': 'satellite'} in run B"
    }
    err = []
    invoke("-w", w.root, "eval", "compare", b, c, stderr=err)
    assert "note: slice drone not compared: slice drone is" in err[0]
    with pytest.raises(InvalidInput, match=r"--slice drone: slice drone is .* it gates nothing"):
        gate(w.ws, b, c, max_drop=0.01, slices=["drone"])


def test_gate_and_compare_show_a_slice_the_runs_define_differently_as_not_compared(
    tmp_path: Path,
    closing: Callable[[World], World],
    invoke,  # type: ignore[no-untyped-def]
) -> None:
    # One name, two queries: a gate over every slice left the slice out, neither shown nor
    # listed (only `--slice drone` said so), and `compare` left it out of its table.
    w = closing(classification_world(tmp_path / "ws", n=4))
    runs = []
    for name, sensor in (("a", "drone"), ("b", "satellite")):
        slices = tmp_path / f"{name}.yaml"
        slices.write_text(f"slices:\n  drone: {{sensor: {sensor}}}\n  flooded: {{label: flooded}}")
        p = _preds(w, tmp_path / f"{name}.csv", set())
        run = run_evaluation(w.ws, "floods", tmp_path / name, predictions=p, slices=slices,
                             settings=FAST, report=False)  # fmt: skip
        runs.append(str(run.path))
    args = ("-w", w.root, "eval", "gate", "--baseline", runs[0], "--candidate", runs[1],
            "--max-drop", "0.01")  # fmt: skip
    code, out = invoke(*args, "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert [(r["slice"], r["result"]) for r in doc["rows"]] == [
        ("all", "ok"), ("drone", "not compared"), ("flooded", "ok"),
    ]  # fmt: skip
    assert doc["passed"] and doc["not_compared"] == ["drone"] and doc["empty"] == []
    why = ("the runs define it with different queries ({'sensor': 'drone'} in the baseline and "
           "{'sensor': 'satellite'} in the candidate)")  # fmt: skip
    drone = doc["rows"][1]
    assert (drone["not_compared"], drone["why"]) == (why, f"not compared: {why}")
    assert [drone[k] for k in ("baseline", "candidate", "drop", "n")] == [None, None, None, 0]
    err: list[str] = []
    code, out = invoke(*args, stderr=err)
    assert code == 0, out
    row = next(line for line in out.splitlines() if "drone" in line)
    assert "not compared" in row and " ok" not in row
    assert f"note: slice drone: not compared: {why}, so it gates nothing" in err[0]
    err = []
    code, out = invoke("-w", w.root, "eval", "compare", runs[0], runs[1], stderr=err)
    assert code == 0, out
    row = next(line for line in out.splitlines() if "drone" in line)
    assert "not compared" in row
    assert "note: slice drone not compared: slice drone is {'sensor': 'drone'} in run A" in err[0]
