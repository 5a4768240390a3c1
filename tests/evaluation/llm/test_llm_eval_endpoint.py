"""`assay eval llm` against a real OpenAI-compatible server on loopback with deterministic
answers: every scorer and solver, scores checked exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from llm_eval_world import N, World, answer_for, write_task

from assay.evaluation.llm import LlmRunSettings, run_llm_eval
from assay.models.llm import BackendOptions
from llm_world import FakeBehaviour, openai_server

FAST = LlmRunSettings(n_resamples=200)


def _run(world: World, task: Path, url: str, out: str, **kw: object) -> object:
    return run_llm_eval(
        world.ws,
        task,
        world.root / out,
        endpoint=url,
        settings=FAST,
        **kw,
    )


def test_text_scorers_are_exact(world: World) -> None:
    task = write_task(
        world.root,
        "qa",
        scorers=[
            "exact",
            "match",
            "token_f1",
            {"name": "regex", "pattern": "(?i)\\b{target}\\b"},
            {"name": "numeric", "tolerance": 1},
            "embedding",
        ],
        slice_by=["metadata.district"],
    )
    b = FakeBehaviour(answer=answer_for)
    with openai_server(b) as url:
        run = _run(world, task, url, "run")
    s = run.summary
    wordy_f1 = 2 * (2 / 5) * 1 / (2 / 5 + 1)
    assert {k: v for k, v in s["headline"].items() if k != "embedding"} == pytest.approx(
        {
            "exact": 0.25,
            "match": 0.5,
            "token_f1": (3 + 3 + 3 * wordy_f1 + 3 * 0.5) / N,
            "regex": 0.75,
            "numeric": 0.75,
        }
    )
    assert s["scorers"]["token_f1"] == "continuous" and s["scorers"]["exact"] == "binary"
    # MiniLM: the exact answers are identical texts (cosine 1), the others close but below.
    frame = pd.read_parquet(run.path / "samples.parquet")
    same = frame["output"] == frame["target"]
    assert same.sum() == 3
    assert frame.loc[same, "score_embedding"].to_numpy() == pytest.approx(1.0, abs=1e-5)
    assert (frame.loc[~same, "score_embedding"].between(0.3, 0.9999)).all()
    assert set(s["slices"]) == {"all", "metadata.district=north", "metadata.district=south"}
    north = s["slices"]["metadata.district=north"]
    assert north["n"] == 6 and north["metrics"]["exact"]["value"] == pytest.approx(3 / 6)
    lo, hi = (
        s["slices"]["all"]["metrics"]["match"]["low"],
        s["slices"]["all"]["metrics"]["match"]["high"],
    )
    assert lo < 0.5 < hi
    rec = run.record
    assert rec["task"] == "llm" and rec["dataset"]["commit"] == world.commit
    assert rec["model"]["kind"] == "endpoint" and rec["model"]["url"] == url
    assert rec["usage"]["cache_misses"] == N and rec["usage"]["cache_hits"] == 0
    samples = pd.read_parquet(run.path / "samples.parquet")
    assert len(samples) == N
    assert {"input", "output", "latency_s", "prompt_tokens", "completion_tokens"} <= set(samples)
    assert samples["prompt_tokens"].notna().all()
    assert (samples["latency_s"] > 0).all()
    first = samples.iloc[0]
    assert "You read field reports" in first["input"] and "Question:" in first["input"]
    # A rerun answers from the cache with the server gone: every number is the same.
    again = _run(world, task, url, "run2")
    assert again.summary["headline"] == s["headline"]
    assert again.record["usage"]["cache_hits"] == N


def test_solvers_and_span_scorer(world: World) -> None:
    mc = write_task(
        world.root,
        "category",
        target="category",
        solver="multiple_choice",
        choices=["flood", "fire", "collapse"],
        template={"prompt": "Report: {input}\nWhat kind of incident is it?\n{choices}"},
        scorers=["choice"],
    )
    cot = write_task(
        world.root,
        "cot",
        solver="chain_of_thought",
        template={
            "prompt": "Report: {input}\nQuestion: {metadata.question}",
            "fewshot": {"dataset": "shots", "n": 2, "seed": 3},
        },
        scorers=["exact", "match"],
    )
    spans = write_task(
        world.root,
        "places",
        target="places",
        template={"prompt": "Report: {input}\nList the places, separated by ;"},
        scorers=["span_f1"],
    )
    b = FakeBehaviour(answer=answer_for)
    with openai_server(b) as url:
        r_mc = _run(world, mc, url, "mc")
        r_cot = _run(world, cot, url, "cot")
        r_sp = _run(world, spans, url, "sp")
    # Every third report gets the wrong letter; letters come as "B", "(B) fire" and "C.".
    assert r_mc.summary["headline"]["choice"] == pytest.approx(8 / 12)
    mc_first = next(r for r in b.requests if "Answer with the letter" in str(r))
    assert "A) flood\nB) fire\nC) collapse" in mc_first["messages"][-1]["content"]
    # Chain of thought: the answer after ANSWER: is scored, as in the plain task.
    assert r_cot.summary["headline"] == pytest.approx({"exact": 0.25, "match": 0.5})
    cot_req = next(r for r in b.requests if "ANSWER:" in str(r["messages"][-1]))
    roles = [m["role"] for m in cot_req["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert cot_req["messages"][1]["content"].startswith("ANSWER: ")
    assert "Report 10" in cot_req["messages"][0]["content"]
    assert r_cot.record["fewshot"]["commit"] == world.shots_commit
    # Spans: both right (F1 1), one of two (2/3), none predicted (0).
    assert r_sp.summary["headline"]["span_f1"] == pytest.approx((4 * 1 + 4 * 2 / 3) / 12)


def test_judge_scores_and_agreement_with_people(world: World) -> None:
    task = write_task(
        world.root,
        "judged",
        scorers=[
            {
                "name": "judge",
                "rubric": "Correct when the number of people matches the reference.",
                "human": "grade",
            }
        ],
    )
    judge = FakeBehaviour(answer=answer_for)
    model = FakeBehaviour(answer=answer_for)
    with openai_server(model) as url, openai_server(judge) as judge_url:
        text = task.read_text().replace(
            "human: grade", f"human: grade\n  judge_endpoint: {judge_url}"
        )
        task.write_text(text)
        run = _run(world, task, url, "judged")
    # The judge fails the wordy style only (reports 2, 6, 10): 9 of 12.
    grades = pd.read_parquet(run.path / "samples.parquet")
    assert len(judge.requests) == N
    assert grades["judge_prompt"].str.contains("[Rubric]\nCorrect when", regex=False).all()
    assert run.summary["headline"]["judge"] == pytest.approx(9 / 12)
    facts = run.record["judge"]
    assert facts["model"]["url"] == judge_url and facts["unparsed"] == 0
    # People graded reports 0-7, all correct but report 3: they agree with the judge on
    # 5 of 8; kappa = (5/8 - pe) / (1 - pe) with pe = 6/8 * 7/8 + 2/8 * 1/8.
    agree = facts["human_agreement"]
    pe = 6 / 8 * 7 / 8 + 2 / 8 * 1 / 8
    assert agree == pytest.approx(
        {"n": 8, "agreement": 5 / 8, "cohen_kappa": (5 / 8 - pe) / (1 - pe)}
    )


def test_backend_options_reach_the_endpoint(world: World) -> None:
    task = write_task(world.root, "opts", generation={"max_new_tokens": 7, "stop": ["\n"]})
    b = FakeBehaviour(answer=answer_for)
    with openai_server(b) as url:
        run_llm_eval(
            world.ws,
            task,
            world.root / "o",
            endpoint=url,
            options=BackendOptions(endpoint_model="flood-7b", concurrency=2, cache=False),
            settings=LlmRunSettings(samples=5, epochs=2, n_resamples=50),
        )
    assert len(b.requests) == 10
    assert {r["model"] for r in b.requests} == {"flood-7b"}
    assert {r["max_tokens"] for r in b.requests} == {7}
    assert sorted({r["seed"] for r in b.requests}) == [0, 1]
