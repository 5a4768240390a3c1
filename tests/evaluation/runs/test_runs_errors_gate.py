"""Bad input writes nothing; compare and gate on constructed runs; the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from assay.errors import InvalidInput, NotFound
from assay.evaluation import mcnemar
from assay.evaluation.runs import RunSettings, compare_runs, gate, parse_slices, run_evaluation
from assay.evaluation.runs import time_of_day as tod
from assay.store.schema import eval_runs
from evaluation.runs.runs_world import World

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
    elif kind == "coco":
        p = tmp_path / "p.json"
        p.write_text(
            json.dumps([{"image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.0}])
        )
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
    if kind in ("csv", "partial", "coco", "slices"):
        assert str(tmp_path) in str(err.value)  # the message names the file
    assert not out.exists() and not list(tmp_path.glob(".run.*"))
    assert _count(world) == before


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
