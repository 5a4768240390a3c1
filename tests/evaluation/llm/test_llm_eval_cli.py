"""`assay eval llm | show | compare | gate | export-inspect` end to end: a tiny local Llama
and a loopback OpenAI-compatible server; planted regressions, noise and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from llm_eval_world import MISSING, N, World, answer_for, build_world, write_task
from sqlalchemy import func, select

from assay.store.schema import eval_runs
from assay.workspace import Workspace
from llm_world import FakeBehaviour, build_tiny_llama, openai_server

RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llm") / "tiny-llama", tokenizer="bytes")


def _runs(world: World) -> int:
    with world.ws.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(eval_runs)).scalar_one())


def test_local_model_run_rerun_show_and_inspect_log(cli: RunCli, world: World, tiny: Path) -> None:
    from inspect_ai.log import read_eval_log

    task = write_task(
        world.root,
        "qa",
        scorers=["exact", "token_f1"],
        generation={"max_new_tokens": 6},
        slice_by=["marking"],
    )
    wsdir = world.root / "ws"
    args = ["eval", "llm", task, "--model", tiny, "--batch-size", "4", "--resamples", "100"]
    first = cli(*args, "--out", world.root / "a", "--json", cwd=wsdir).json()
    rec = first["record"]
    assert rec["model"]["kind"] == "transformers" and len(rec["model"]["sha256"]) == 64
    assert rec["usage"]["cache_misses"] == N and rec["usage"]["completion_tokens"] > 0
    assert rec["dataset"]["commit"] == world.commit
    assert rec["seeds"]["generation"] == [0]
    again = cli(*args, "--out", world.root / "b", "--json", cwd=wsdir).json()
    assert again["record"]["usage"]["cache_hits"] == N
    assert again["summary"]["slices"] == first["summary"]["slices"]

    report = (world.root / "a" / "report.html").read_text()
    assert "UNCLASSIFIED" in report and "token_f1" in report and "<script" not in report
    shown = cli("eval", "show", world.root / "a", cwd=wsdir)
    assert "token_f1" in shown.stdout and "marking=UNCLASSIFIED" in shown.stdout
    cmp = cli("eval", "compare", world.root / "a", world.root / "b", "--json", cwd=wsdir).json()
    assert cmp["slices"]["all"]["tests"]["exact"]["difference"] == 0
    assert cmp["slices"]["all"]["tests"]["token_f1"]["test"] == "paired bootstrap"
    # compare (and gate) tell their bootstrap, as `eval llm --resamples` does: token_f1's
    # resamples per slice (exact's McNemar test resamples nothing)
    from assay.evaluation.runs import compare_runs

    told: list[tuple[int, int]] = []
    compare_runs(None, str(world.root / "a"), str(world.root / "b"), n_resamples=40,
                 progress=lambda d, t: told.append((d, t)))  # fmt: skip
    total = 40 * sum(1 for e in cmp["slices"].values() if e["n"])
    assert total >= 80 and told[-1] == (total, total) and {t for _, t in told} == {total}

    out = world.root / "a.json"
    said = cli("eval", "export-inspect", world.root / "a", "--out", out, "--json", cwd=wsdir)
    assert said.json() == {"run_id": rec["run_id"], "out": str(out)}
    log = read_eval_log(str(world.root / "a.json"))
    assert log.status == "success" and log.eval.task == "qa"
    assert log.samples is not None and len(log.samples) == N
    assert {s.name for s in log.results.scores} == {"exact", "token_f1"}  # type: ignore[union-attr]
    samples = json.loads((world.root / "a.json").read_text())["samples"]
    s0 = log.samples[0]
    assert s0.output.completion == samples[0]["output"]["completion"]
    assert s0.scores is not None and set(s0.scores) == {"exact", "token_f1"}


def test_gate_fires_on_a_planted_regression_and_not_on_noise(cli: RunCli, world: World) -> None:
    task = write_task(world.root, "qa", scorers=["match", "token_f1"])
    wsdir = world.root / "ws"
    runs = {
        "base": FakeBehaviour(answer=answer_for),
        # Every answer that was right is now wrong: 6 of 12 lost, none gained.
        "worse": FakeBehaviour(answer=lambda b: answer_for(b, regress=set(range(N)))),
        # One item lost, one gained: no evidence either way.
        "noise": FakeBehaviour(answer=lambda b: answer_for(b, regress={0}, fix={3})),
    }
    for name, behaviour in runs.items():
        with openai_server(behaviour) as url:
            cli(
                "eval", "llm", task, "--endpoint", url, "--endpoint-model", name,
                "--out", world.root / name, "--resamples", "200", cwd=wsdir,
            )  # fmt: skip
    base, worse, noise = (str(world.root / n) for n in runs)
    bad = cli("eval", "gate", "--baseline", base, "--candidate", worse, "--max-drop", "0.05",
              "--json", cwd=wsdir, code=1)  # fmt: skip
    out = json.loads(bad.stdout)
    row = next(r for r in out["rows"] if r["slice"] == "all")
    assert out["metric"] == "match" and row["failed"]
    assert row["drop"] == pytest.approx(0.5) and row["p_value"] == pytest.approx(2 / 2**6)
    assert "gate failed" in bad.stderr
    ok = cli("eval", "gate", "--baseline", base, "--candidate", noise, "--max-drop", "0.05",
             "--json", cwd=wsdir).json()  # fmt: skip
    assert ok["passed"] and ok["rows"][0]["p_value"] == 1.0
    # A continuous scorer gates through the paired bootstrap.
    f1 = cli("eval", "gate", "--baseline", base, "--candidate", worse, "--max-drop", "0.05",
             "--metric", "token_f1", "--json", cwd=wsdir, code=1)  # fmt: skip
    assert json.loads(f1.stdout)["rows"][0]["failed"]
    # The regression on its first 3 items only: too few to be significant, so the gate passed
    # on a subset while the baseline answered 12.
    with openai_server(runs["worse"]) as url:
        cli(
            "eval", "llm", task, "--endpoint", url, "--endpoint-model", "worse", "--samples", "3",
            "--out", world.root / "subset", "--resamples", "200", cwd=wsdir,
        )  # fmt: skip
    sub = cli("eval", "gate", "--baseline", base, "--candidate", world.root / "subset",
              "--max-drop", "0.05", cwd=wsdir, code=1)  # fmt: skip
    assert f"evaluated 3 of the {N} samples (item and epoch) baseline run" in sub.stderr


def test_bad_input_is_one_error_and_no_run(cli: RunCli, world: World) -> None:
    wsdir = world.root / "ws"
    good = FakeBehaviour(answer=answer_for)
    cases: list[tuple[Path, str, FakeBehaviour]] = [
        (write_task(world.root, "missing", dataset="reports@0123abcd"), "dataset: reports@", good),
        (
            write_task(world.root, "field", template={"prompt": "Report: {input} {place}"}),
            "template.prompt: unknown template field {place}",
            good,
        ),
        (
            write_task(world.root, "stall"),
            "no answer within 0.3 s (tried 2 times)",
            FakeBehaviour(mode="stall", stall_s=1.0),
        ),
        (
            write_task(world.root, "broken"),
            "answer is not valid JSON",
            FakeBehaviour(mode="malformed"),
        ),
        (write_task(world.root, "extra", solver_args={"k": 1}), "solver_args: unknown field", good),
    ]  # fmt: skip
    for task, message, behaviour in cases:
        with openai_server(behaviour) as url:
            res = cli(
                "eval", "llm", task, "--endpoint", url, "--timeout", "0.3", "--retries", "1",
                "--out", world.root / f"run-{task.stem}", cwd=wsdir, code=1,
            )  # fmt: skip
        assert message in res.stderr
        assert str(task) in res.stderr or f"endpoint {url}" in res.stderr  # names the culprit
        assert not (world.root / f"run-{task.stem}").exists()
        if behaviour is good:
            assert behaviour.requests == []  # checked before anything was sent
    assert _runs(world) == 0
    assert not [p for p in world.root.iterdir() if p.name.startswith(".run-")]


def _json_and_plain_runs(cli: RunCli, world: World, task: Path) -> tuple[Any, Any]:
    """`eval llm` of `task` against the fake endpoint, with --json (run a) and without (b)."""
    with openai_server(FakeBehaviour(answer=answer_for)) as url:
        args = ["eval", "llm", task, "--endpoint", url, "--resamples", "50"]
        res = cli(*args, "--out", world.root / "a", "--json", cwd=world.root / "ws")
        plain = cli(*args, "--out", world.root / "b", cwd=world.root / "ws")
    return res, plain


def test_a_slice_by_field_no_item_has_is_an_empty_slice_and_said(cli: RunCli, world: World) -> None:
    # `slice_by: [metadata.distrct]` (a typo) made no slice at all, and nothing was said.
    task = write_task(world.root, "qa", slice_by=["metadata.distrct", "metadata.district"])
    wsdir = world.root / "ws"
    res, plain = _json_and_plain_runs(cli, world, task)
    doc = res.json()
    assert doc["empty_slices"] == ["metadata.distrct"]
    slices = doc["summary"]["slices"]
    assert slices["metadata.distrct"]["n"] == 0
    assert slices["metadata.district=north"]["n"] == slices["metadata.district=south"]["n"] == 6
    for out in (res, plain):
        warning = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
        assert len(warning) == 1 and "slice metadata.distrct" in warning[0]
        assert "no item" in warning[0] and str(task) in warning[0]
    assert "metadata.distrct" in cli("eval", "show", world.root / "a", cwd=wsdir).stdout
    gated = cli("eval", "gate", "--baseline", world.root / "a", "--candidate", world.root / "b",
                "--max-drop", "0.05", "--slice", "metadata.distrct", cwd=wsdir, code=1)  # fmt: skip
    assert "--slice metadata.distrct: no item both runs evaluated is in it" in gated.stderr
    assert f"check slice_by in {task}" in gated.stderr  # not "the slices file": there is none
    # Gating every slice, the empty one is shown as such, not as a passed "ok".
    table = cli("eval", "gate", "--baseline", world.root / "a", "--candidate", world.root / "b",
                "--max-drop", "0.05", cwd=wsdir).stdout  # fmt: skip
    row = next(line for line in table.splitlines() if "metadata.distrct" in line)
    assert "empty" in row and "ok" not in row


def test_gate_refuses_runs_on_different_task_files(cli: RunCli, world: World) -> None:
    # Runs of two prompts on the same commit got a verdict: the gate compared the prompts.
    wsdir = world.root / "ws"
    terse = write_task(world.root, "qa")
    other = write_task(
        world.root, "qa-terse", template={"prompt": "{input}\nQ: {metadata.question}\nA:"}
    )
    # Another name and other slices: the same prompts and scorers, so the same evaluation.
    renamed = write_task(world.root, "qa-renamed", slice_by=["metadata.district"])
    with openai_server(FakeBehaviour(answer=answer_for)) as url:
        for task in (terse, other, renamed):
            cli("eval", "llm", task, "--endpoint", url, "--resamples", "50",
                "--out", world.root / task.stem, cwd=wsdir)  # fmt: skip
    base, cand = world.root / terse.stem, world.root / other.stem
    res = cli("eval", "gate", "--baseline", base, "--candidate", cand, "--max-drop", "0.05",
              cwd=wsdir, code=1)  # fmt: skip
    assert str(terse) in res.stderr and str(other) in res.stderr
    assert "template.prompt" in res.stderr
    ok = cli("eval", "gate", "--baseline", base, "--candidate", world.root / renamed.stem,
             "--max-drop", "0.05", "--json", cwd=wsdir).json()  # fmt: skip
    assert ok["passed"]
    cmp = cli("eval", "compare", base, cand, "--json", cwd=wsdir).json()  # compare still shows
    assert cmp["n_shared"] == N


def test_a_slice_two_task_files_define_apart_is_not_compared(cli: RunCli, world: World) -> None:
    # `slice_by: [metadata.district=north]` (a query where a field goes) names the empty slice of
    # a field no report has; a run sliced by metadata.district has a slice of that name holding
    # the northern reports. compare and gate paired them by name as one slice (shown `empty`).
    wsdir = world.root / "ws"
    by_field = write_task(world.root, "qa", slice_by=["metadata.district"])
    by_query = write_task(world.root, "qa-query", slice_by=["metadata.district=north"])
    with openai_server(FakeBehaviour(answer=answer_for)) as url:
        for task in (by_field, by_query):
            cli("eval", "llm", task, "--endpoint", url, "--resamples", "50",
                "--out", world.root / task.stem, cwd=wsdir)  # fmt: skip
    base, cand = world.root / by_field.stem, world.root / by_query.stem
    name = "metadata.district=north"
    field = "{'slice_by': 'metadata.district', 'value': 'north'}"
    query = "{'slice_by': 'metadata.district=north'}"
    apart = f"slice {name} is {field} in run A and {query} in run B"
    cmp = cli("eval", "compare", base, cand, "--json", cwd=wsdir).json()
    assert list(cmp["slices"]) == ["all"] and cmp["not_compared"] == {name: apart}
    table = cli("eval", "compare", base, cand, cwd=wsdir)
    row = next(line for line in table.stdout.splitlines() if name in line)
    assert "not compared" in row and "empty" not in row
    assert f"note: slice {name} not compared: {apart}" in table.stderr
    gated = cli("eval", "gate", "--baseline", base, "--candidate", cand, "--max-drop", "0.05",
                "--json", cwd=wsdir).json()  # fmt: skip
    assert gated["passed"] and gated["not_compared"] == [name] and gated["empty"] == []
    row = next(r for r in gated["rows"] if r["slice"] == name)
    assert row["result"] == "not compared" and row["n"] == 0 and row["baseline"] is None
    assert row["why"] == (
        f"not compared: the runs define it with different queries ({field} in the baseline and "
        f"{query} in the candidate)"
    )
    assert [r["result"] for r in gated["rows"]] == ["ok", "not compared"]  # all is gated
    plain = cli("eval", "gate", "--baseline", base, "--candidate", cand, "--max-drop", "0.05",
                cwd=wsdir)  # fmt: skip
    line = next(line for line in plain.stdout.splitlines() if name in line)
    assert "not compared" in line and "ok" not in line
    assert f"note: slice {name}: {row['why']}, so it gates nothing" in plain.stderr
    refused = cli("eval", "gate", "--baseline", base, "--candidate", cand, "--max-drop", "0.05",
                  "--slice", name, cwd=wsdir, code=1)  # fmt: skip
    assert f"--slice {name}: {apart}; it gates nothing" in refused.stderr


def test_items_without_a_target_are_said_on_stderr_and_in_json(cli: RunCli, world: World) -> None:
    # People graded reports 0-7 only: with `target: grade` the run scored 8 of 12 items and
    # showed n=8; that 4 were left out was only in run.json.
    task = write_task(world.root, "graded", target="grade")
    wsdir = world.root / "ws"
    res, plain = _json_and_plain_runs(cli, world, task)
    doc = res.json()
    assert doc["summary"]["slices"]["all"]["n"] == N - 4
    assert doc["items_without_target"] == 4
    first = doc["first_item_without_target"]
    assert first["name"] and len(first["item_id"]) > 12
    for out in (res, plain):
        warning = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
        assert len(warning) == 1, out.stderr
        assert "4 item(s) of reports" in warning[0] and "'grade'" in warning[0]
        assert first["name"] in warning[0] and first["item_id"][:12] in warning[0]
    full = write_task(world.root, "qa")  # every item has an answer: nothing to say
    with openai_server(FakeBehaviour(answer=answer_for)) as url:
        ok = cli("eval", "llm", full, "--endpoint", url, "--resamples", "50", "--json",
                 "--out", world.root / "c", cwd=wsdir)  # fmt: skip
    assert ok.json()["items_without_target"] == 0 and "warning:" not in ok.stderr


def test_items_without_a_slice_by_value_are_a_slice_of_their_own(
    cli: RunCli, ws: Workspace, tmp_path: Path
) -> None:
    # Reports whose district was missing, null or "" were in no district slice, unsaid (the
    # districts' n summed to less than all's); "" even made a slice `metadata.district=`.
    world = build_world(tmp_path, ws, districts={0: MISSING, 1: None, 2: "", 4: "  "})
    task = write_task(world.root, "qa", slice_by=["metadata.district"])
    res, _plain = _json_and_plain_runs(cli, world, task)
    doc = res.json()
    slices = doc["summary"]["slices"]
    assert set(slices) == {"all", "metadata.district=north", "metadata.district=south",
                           "metadata.district=(empty)"}  # fmt: skip
    assert slices["metadata.district=(empty)"]["n"] == 4
    assert slices["metadata.district=north"]["n"] == 3  # reports 6, 8, 10
    assert slices["metadata.district=south"]["n"] == 5  # 3, 5, 7, 9, 11
    assert doc["empty_slices"] == []
    wsdir = world.root / "ws"
    gated = cli("eval", "gate", "--baseline", world.root / "a", "--candidate", world.root / "b",
                "--max-drop", "0.05", "--slice", "metadata.district=(empty)", "--json",
                cwd=wsdir).json()  # fmt: skip
    assert gated["passed"] and gated["rows"][0]["n"] == 4
