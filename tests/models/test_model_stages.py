"""`assay model promote`: stages earned by a recorded run and a paired gate, or forced."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from assay.evaluation.runs import RunSettings, run_evaluation
from assay.models import add_model
from evaluation.runs.runs_world import WEIGHTS, World, onnx_classifier

Invoke = Callable[..., tuple[int, str]]
FAST = RunSettings(n_resamples=200)


def _register(world: World, tmp_path: Path, weights: object, tag: str) -> str:
    path = onnx_classifier(tmp_path / f"{tag}.onnx", weights=weights)  # type: ignore[arg-type]
    return add_model(world.ws, "promo-clf", path, trained_on=world.spec).ref


def _evaluate(world: World, tmp_path: Path, ref: str) -> str:
    out = tmp_path / f"run-{ref.replace('@', '-')}"
    return run_evaluation(world.ws, world.spec, out, model=ref, settings=FAST, report=False).run_id


def _stages(world: World, invoke: Invoke, name: str = "promo-clf") -> dict[str, dict[str, object]]:
    code, out = invoke("-w", world.root, "model", "list", "--json")
    assert code == 0, out
    return {m["ref"]: m for m in json.loads(out) if m["name"] == name}


def test_promotion_needs_a_run_then_a_passing_paired_gate_or_a_forced_reason(
    world: World, tmp_path: Path, invoke: Invoke
) -> None:
    good = _register(world, tmp_path, WEIGHTS, "good")
    code, out = invoke("-w", world.root, "model", "promote", good, "--stage", "production")
    assert code == 1 and f"model {good} has no recorded evaluation run" in out

    good_run = _evaluate(world, tmp_path, good)
    code, out = invoke(
        "-w", world.root, "model", "promote", good, "--stage", "production", "--json"
    )
    assert code == 0, out
    first = json.loads(out)
    assert (first["previous"], first["stage"], first["run"]) == (
        "candidate",
        "production",
        good_run,
    )
    assert first["gate"] is None and first["baseline"] is None
    code, out = invoke("-w", world.root, "model", "promote", good, "--stage", "production")
    assert code == 1 and "already in production" in out

    # A model that gets every scene wrong: its run exists, its paired gate fails.
    bad = _register(world, tmp_path, -WEIGHTS, "bad")
    code, out = invoke("-w", world.root, "model", "promote", bad, "--stage", "staging")
    assert code == 1 and "no recorded evaluation run" in out
    bad_run = _evaluate(world, tmp_path, bad)
    code, out = invoke("-w", world.root, "model", "promote", bad, "--stage", "staging")
    assert code == 1 and f"gate failed: {bad} is significantly worse than production {good}" in out
    assert _stages(world, invoke)[bad]["stage"] == "candidate"

    code, out = invoke("-w", world.root, "model", "promote", bad, "--stage", "staging", "--force")
    assert code == 1 and "--force needs --reason" in out
    why = "field team needs the night model now; re-evaluate after the storm"
    code, out = invoke(
        "-w",
        world.root,
        "model",
        "promote",
        bad,
        "--stage",
        "production",
        "--force",
        "--reason",
        why,
    )
    assert code == 0, out
    listed = _stages(world, invoke)
    assert listed[bad]["stage"] == "production" and listed[good]["stage"] == "archived"
    forced = listed[bad]["promotion"]
    assert isinstance(forced, dict) and forced["forced"] and forced["reason"] == why
    event = [e for e in world.ws.audit_log() if e.action == "model.promote"][-1]
    assert event.target == f"model:{bad}"
    assert event.details["reason"] == why and event.details["archived"] == good

    # A better version passes its paired gate against the (bad) production version.
    better = _register(world, tmp_path, WEIGHTS * 1.5, "better")
    better_run = _evaluate(world, tmp_path, better)
    code, out = invoke("-w", world.root, "model", "promote", better, "--stage", "staging", "--json")
    assert code == 0, out
    got = json.loads(out)
    assert (got["run"], got["baseline"], got["baseline_run"]) == (better_run, bad, bad_run)
    assert got["gate"]["passed"] and got["gate"]["metric"] == "accuracy"
    code, out = invoke("-w", world.root, "model", "list")
    lines = out.splitlines()
    at = next(k for k, line in enumerate(lines) if f" {better} " in line)
    assert "staging" in lines[at] and f"gate passed vs {bad}" in lines[at + 1]  # stage, gate
    assert good_run != bad_run


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--stage", "staging", "--reason", "why not"], "--reason goes with --force"),
        (["--stage", "staging", "--run", "0000dead"], "not a recorded evaluation run"),
    ],
)
def test_bad_promote_options_are_refused(
    world: World, tmp_path: Path, invoke: Invoke, args: list[str], words: str
) -> None:
    ref = add_model(
        world.ws, "odd-clf", onnx_classifier(tmp_path / "odd.onnx", weights=WEIGHTS * 7)
    ).ref
    _evaluate(world, tmp_path, ref)
    code, out = invoke("-w", world.root, "model", "promote", ref, *args)
    assert code == 1 and words in out


def test_eval_run_acts_as_a_user_cleared_for_the_model(
    world: World, tmp_path: Path, invoke: Invoke
) -> None:
    from assay.labeling import add_user

    path = onnx_classifier(tmp_path / "secret.onnx")
    secret = add_model(world.ws, "secret-clf", path, trained_on=world.spec, marking="SECRET").ref
    add_user(world.ws, "ulla", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    add_user(world.ws, "sami", "annotator", "SECRET", "flood-watch-2026")
    base = ["-w", world.root, "eval", "run", "--dataset", world.spec, "--model", secret]
    base += ["--resamples", "100", "--no-report"]

    refused = tmp_path / "refused"
    code, out = invoke(*base, "--out", refused, "--as", "ulla")
    assert code == 1 and f"'ulla' (UNCLASSIFIED) is not cleared to evaluate model {secret}" in out
    assert not refused.exists()
    denied = [e for e in world.ws.audit_log() if e.action == "eval.denied"]
    assert len(denied) == 1 and denied[0].actor == "user:ulla"
    assert denied[0].target == f"model:{secret}" and denied[0].details["marking"] == "SECRET"
    assert not [e for e in world.ws.audit_log() if e.action == "eval.run" and "ulla" in e.actor]

    code, out = invoke(*base, "--out", tmp_path / "allowed", "--as", "sami", "--json")
    assert code == 0, out
    record = json.loads(out)["record"]
    assert record["actor"] == "user:sami" and record["model"]["ref"] == secret
    ran = [e for e in world.ws.audit_log() if e.action == "eval.run"][-1]
    assert ran.actor == "user:sami" and ran.details["run"] == record["run_id"]
    # A rerun is checked the same way.
    code, out = invoke(
        "-w", world.root, "eval", "run", "--rerun", tmp_path / "allowed", "--out",
        tmp_path / "again", "--as", "ulla",
    )  # fmt: skip
    assert code == 1 and "not cleared" in out
    assert len([e for e in world.ws.audit_log() if e.action == "eval.denied"]) == 2


def test_moving_the_production_version_to_staging_needs_demote_and_is_said(
    world: World, tmp_path: Path, invoke: Invoke
) -> None:
    # `promote X --stage staging --force` on the production version demoted it and left the
    # name with no production version, without a word.
    ref = _register(world, tmp_path, WEIGHTS, "prod")
    _evaluate(world, tmp_path, ref)
    code, out = invoke("-w", world.root, "model", "promote", ref, "--stage", "production")
    assert code == 0, out
    forced = ["--force", "--reason", "pull it"]
    for extra in ([], forced):
        code, out = invoke("-w", world.root, "model", "promote", ref, "--stage", "staging", *extra)
        assert code == 1 and f"model {ref} is in production" in out
        assert "no version in production" in out and "--demote" in out
        assert _stages(world, invoke)[ref]["stage"] == "production"
    code, out = invoke(
        "-w", world.root, "model", "promote", ref, "--stage", "staging", *forced, "--demote"
    )
    assert code == 0, out
    assert "warning: promo-clf has no version in production now" in out
    assert _stages(world, invoke)[ref]["stage"] == "staging"


def test_promote_api_bounds_max_drop_before_anything_is_asked(world: World, tmp_path: Path) -> None:
    # With no production version there is no gate to run, and promote() took any max_drop.
    from assay.errors import InvalidInput
    from assay.models.stages import promote

    ref = add_model(
        world.ws, "bounds-clf", onnx_classifier(tmp_path / "bounds.onnx"), trained_on=world.spec
    ).ref
    _evaluate(world, tmp_path, ref)
    with pytest.raises(InvalidInput) as err:
        promote(world.ws, ref, "staging", max_drop=2.0)
    assert str(err.value) == "--max-drop: 2 is not in the range 0<=x<=1"
    assert promote(world.ws, ref, "staging", max_drop=1.0).stage == "staging"


def test_a_gated_promotion_shows_a_bar_on_a_terminal_and_none_with_json(
    world: World, tmp_path: Path
) -> None:
    # `model promote` against a production version sat silent through its paired gate's
    # bootstrap, which `eval gate` shows a bar of.
    from assay.models.stages import promote
    from cli_support import on_a_terminal

    refs = []
    for k in (1, 2, 3, 4):  # logits scaled: the same classes, a gate each passes
        path = onnx_classifier(tmp_path / f"bar{k}.onnx", weights=WEIGHTS * k)
        refs.append(add_model(world.ws, "bar-clf", path, trained_on=world.spec).ref)
        _evaluate(world, tmp_path, refs[-1])
    promote(world.ws, refs[0], "production")
    promote_ = ["-w", str(world.root), "model", "promote"]
    shown = on_a_terminal([*promote_, refs[1], "--stage", "staging"], tmp_path)
    assert "gating" in shown and "200/200" in shown  # macro F1 of `all`, the runs' resamples
    assert "gating" not in on_a_terminal([*promote_, refs[2], "--stage", "staging", "--json"],
                                         tmp_path)  # fmt: skip
    told: list[tuple[int, int]] = []
    p = promote(world.ws, refs[3], "staging", progress=lambda d, t: told.append((d, t)))
    assert p.gate is not None and p.gate["passed"] and told[-1] == (200, 200)


def test_a_promotion_that_passed_says_which_slices_its_gate_did_not_measure(
    world: World, tmp_path: Path, invoke: Invoke
) -> None:
    # The gate of a promotion passed with a slice empty (no boat in the scenes) and one the two
    # runs define with other queries (drone): only `--json` listed them; the line `model
    # promote` prints and `model list` said "gate passed" as if every slice were measured.
    from evaluation.runs.runs_world import onnx_classifier as onnx

    def registered(tag: str, weights: object, drone: str) -> str:
        ref = add_model(world.ws, "slice-clf", onnx(tmp_path / f"{tag}.onnx", weights=weights),
                        trained_on=world.spec).ref  # type: ignore[arg-type]  # fmt: skip
        slices = tmp_path / f"{tag}.yaml"
        slices.write_text(f"slices:\n  boats: {{label: boat}}\n  drone: {{sensor: {drone}}}\n")
        run_evaluation(world.ws, world.spec, tmp_path / f"run-{tag}", model=ref, slices=slices,
                       settings=FAST, report=False)  # fmt: skip
        return ref

    prod = registered("prod", WEIGHTS, "drone")
    code, out = invoke("-w", world.root, "model", "promote", prod, "--stage", "production")
    assert code == 0, out
    cand = registered("cand", WEIGHTS * 2, "satellite")
    err: list[str] = []
    code, out = invoke("-w", world.root, "model", "promote", cand, "--stage", "staging",
                       stderr=err)  # fmt: skip
    assert code == 0, out
    notes = [line for line in err[0].splitlines() if line.startswith("note:")]
    assert notes == [
        "note: slice boats: empty: no item both runs evaluated is in it, so it gates nothing",
        "note: slice drone: not compared: the runs define it with different queries "
        "({'sensor': 'drone'} in the baseline and {'sensor': 'satellite'} in the candidate), "
        "so it gates nothing",
    ]
    code, out = invoke("-w", world.root, "model", "list")
    assert code == 0, out
    listed = " ".join(out.split())  # the gate's cell folds over lines
    assert f"gate passed vs {prod} (accuracy; not measured: boats (empty), drone (not " in listed
    promotion = _stages(world, invoke, "slice-clf")[cand]["promotion"]
    assert isinstance(promotion, dict)
    assert (promotion["gate"]["empty"], promotion["gate"]["not_compared"]) == (["boats"], ["drone"])
