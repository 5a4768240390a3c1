"""Active learning: strategies, k-center diversity, queue order, refits as labels arrive,
MiniLM text embeddings from the packaged model, and bad input."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput
from assay.labeling import Workflow, create_project, next_task, submit
from assay.labeling.active import (
    diversity_order,
    embed_texts,
    informativeness,
    k_center,
    rank,
    resample,
)
from assay.store.schema import projects, tasks
from assay.workspace import Workspace
from labeling_world import SCHEMA_YAML, World, build_world, choice

TOPIC_SCHEMA = """
title: Report triage
controls:
  - name: topic
    type: choices
    labels: [flood, fire]
"""
# Two tight topics: reports of one kind differ only in the street.
FLOOD = [
    f"Flood water is rising in the houses on {s} Street." for s in ("Mill", "Oak", "Elm", "Lake")
]
FIRE = [f"A wildfire is burning the forest north of {s} Street." for s in ("Mill", "Oak", "Elm")]


def test_strategies_score_uncertain_rows_first() -> None:
    proba = np.array([[0.98, 0.01, 0.01], [0.5, 0.45, 0.05], [0.34, 0.33, 0.33], [0.6, 0.2, 0.2]])
    assert list(np.argsort(-informativeness("uncertainty", proba))) == [2, 1, 3, 0]
    assert list(np.argsort(-informativeness("margin", proba))[:2]) == [2, 1]
    assert int(np.argmax(informativeness("entropy", proba))) == 2
    with pytest.raises(InvalidInput, match="unknown strategy"):
        informativeness("loudest", proba)


def test_k_center_picks_the_farthest_point_each_time() -> None:
    pts = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [0.0, 5.0], [10.0, 0.2]])
    chosen = np.array([True, False, False, False, False])
    # farthest from (0,0) is (10,0.2); then (0,5) (distance 5 from all chosen); then the rest
    assert k_center(pts, chosen) == [4, 3, 2, 1]
    assert k_center(pts, chosen, 2) == [4, 3]


def test_rank_without_two_classes_falls_back_to_diversity() -> None:
    emb = np.array([[0.0], [1.0], [5.0], [9.0]])
    labelled = np.array([True, False, False, False])
    keys = ["a", "b", "c", "d"]
    order, fitted = rank("uncertainty", emb, labelled, ["x", None, None, None], keys)
    assert not fitted and order == [3, 2, 1]
    order, fitted = rank("uncertainty", emb, np.array([True, False, False, True]),
                         ["x", None, None, "y"], keys)  # fmt: skip
    assert fitted and set(order) == {1, 2}
    assert (
        rank("random", emb, labelled, [None] * 4, keys, seed=1)[0]
        == rank("random", emb, labelled, [None] * 4, keys, seed=1)[0]
    )


def _priorities(ws: Workspace, project: str) -> dict[str, float]:
    with ws.db.read() as conn:
        pid = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar_one()
        return dict(
            conn.execute(
                select(tasks.c.item_id, tasks.c.priority).where(tasks.c.project_id == pid)
            ).all()
        )


def test_an_uncertainty_project_refits_every_n_labels(ws: Workspace, tmp_path: Path) -> None:
    w: World = build_world(ws, tmp_path / "data", public=8, cui=0, secret=0)
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "s.yaml")
    wf = Workflow(sample="uncertainty", retrain_every=2, embedder="pixels")
    create_project(ws, "al", schema, "flood", wf)
    first = _priorities(ws, "al")
    assert len(set(first.values())) == len(first) == 8  # a full order, by k-center at first
    ana = w.users["ana"]
    for label in ("none", "destroyed"):
        lease = next_task(ws, ana, "al")
        assert lease is not None
        submit(ws, ana, lease.task_id, str(uuid.uuid4()), [choice(label)])
    events = [e for e in ws.audit_log() if e.action == "project.resample"]
    assert [e.details["model_fitted"] for e in events] == [False, True]
    assert events[-1].details == {
        "project": "al",
        "strategy": "uncertainty",
        "labelled": 2,
        "open": 6,
        "model_fitted": True,
        "classes": 2,
    }
    cli_report = resample(ws, "al")
    assert cli_report.model_fitted and cli_report.open == 6


def test_bad_active_learning_options_are_one_error_and_create_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    build_world(ws, tmp_path / "data", public=2, cui=0, secret=0, users=False)
    boxes_only = LabelSchema.from_yaml_text(
        "controls:\n  - name: label\n    type: boxes\n    labels: [building]\n", "b.yaml"
    )
    with pytest.raises(InvalidInput, match="--sample margin learns from a single-answer choices"):
        create_project(ws, "bad", boxes_only, "flood", Workflow(sample="margin"))
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "s.yaml")
    with pytest.raises(InvalidInput, match="--retrain-every needs --sample"):
        create_project(ws, "bad", schema, "flood", Workflow(retrain_every=3))
    with pytest.raises(InvalidInput, match="pixels embedder reads images"):
        (tmp_path / "t").mkdir()
        (tmp_path / "t" / "r.jsonl").write_text(json.dumps({"text": "hello"}) + "\n")
        ws.ingest([tmp_path / "t"])
        ws.create_dataset("texts")
        ws.add_items("texts", "media_type~text/*")
        create_project(ws, "bad", schema, "texts", Workflow(sample="diversity", embedder="pixels"))
    with ws.db.read() as conn:
        assert conn.execute(select(projects.c.name)).scalars().all() == ["survey"]


def test_minilm_diversity_serves_both_topics_first(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    rows = [{"text": t} for t in FLOOD + FIRE]
    (folder / "reports.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ws.ingest([folder])
    ws.create_dataset("reports")
    ws.add_items("reports", "media_type~text/*")
    emb = embed_texts(FLOOD[:2] + FIRE[:1])
    assert emb.shape == (3, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]  # two flood reports are nearer each other
    schema = LabelSchema.from_yaml_text(TOPIC_SCHEMA, "t.yaml")
    create_project(ws, "triage", schema, "reports", Workflow(sample="diversity"))
    pri = _priorities(ws, "triage")
    texts = {i: ws.blobs.get_bytes(i).decode() for i in pri}
    first_two = [texts[i] for i in sorted(pri, key=lambda i: pri[i])[:2]]
    topics = {"flood" if any(t in x for t in FLOOD) else "fire" for x in first_two}
    assert topics == {"flood", "fire"}, (first_two, pri)


def test_cli_creates_an_active_project_and_resamples(
    ws: Workspace, tmp_path: Path, cli: object
) -> None:
    build_world(ws, tmp_path / "data", public=4, cui=0, secret=0, users=False)
    (tmp_path / "s.yaml").write_text(SCHEMA_YAML)
    run = cli
    args = ["-w", ws.root, "project", "create", "al", "--schema", tmp_path / "s.yaml"]
    made = run(*args, "--dataset", "flood", "--sample", "entropy", "--retrain-every", "5", "--json")  # type: ignore[operator]
    wf = json.loads(made.stdout)["workflow"]
    assert (wf["sample"], wf["retrain_every"], wf["embedder"]) == ("entropy", 5, "auto")
    out = run("-w", ws.root, "project", "resample", "al")  # type: ignore[operator]
    assert "4 open task(s) ordered by entropy (k-center diversity); 0 answered" in out.stdout
    bad = run("-w", ws.root, "project", "resample", "survey", code=1)  # type: ignore[operator]
    assert "created without --sample" in bad.stderr
    no = run(*args[:4], "x", *args[5:], "--dataset", "flood", "--retrain-every", "0", code=1)  # type: ignore[operator]
    assert "--retrain-every" in no.stderr


def test_diversity_order_covers_every_row_past_the_greedy_picks() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3))
    chosen = np.zeros(50, dtype=bool)
    chosen[:5] = True
    full = diversity_order(pts, chosen, greedy=100)
    part = diversity_order(pts, chosen, greedy=10)
    assert sorted(full) == sorted(part) == list(range(5, 50))
    assert part[:10] == full[:10] == k_center(pts, chosen, 10)


def test_a_batch_of_uncertain_rows_is_spread_over_their_clusters() -> None:
    # Labelled: two classes far apart on the x axis. Unlabelled: 30 near-copies of one
    # doubtful point on the boundary (x = 0, y = 0) and 30 of another (x = 0, y = 10), both
    # equally uncertain, plus confident rows near the labelled ones.
    rng = np.random.default_rng(0)
    left = rng.normal((-5, 0), 0.3, (10, 2))
    right = rng.normal((5, 0), 0.3, (10, 2))
    doubt_a = rng.normal((0, 0), 0.05, (30, 2))
    doubt_b = rng.normal((0, 10), 0.05, (30, 2))
    sure = np.vstack([rng.normal((-6, 0), 0.3, (20, 2)), rng.normal((6, 0), 0.3, (20, 2))])
    emb = np.vstack([left, right, doubt_a, doubt_b, sure])
    labelled = np.zeros(len(emb), dtype=bool)
    labelled[:20] = True
    labels: list[str | None] = ["wet"] * 10 + ["dry"] * 10 + [None] * (len(emb) - 20)
    keys = [f"r{i:03d}" for i in range(len(emb))]
    group = {i: "a" if 20 <= i < 50 else "b" if 50 <= i < 80 else "sure" for i in range(len(emb))}

    top, fitted = rank("uncertainty", emb, labelled, labels, keys, seed=0)
    assert fitted
    diverse, _ = rank("uncertainty", emb, labelled, labels, keys, seed=0, batch=4)
    # Both orders hold every unlabelled row once; only the first batch differs.
    assert sorted(top) == sorted(diverse) == list(range(20, len(emb)))
    assert {group[i] for i in diverse[:4]} == {"a", "b"}
    assert all(group[i] != "sure" for i in diverse[:4])
    # Scores alone take the batch from whichever cluster is a hair more doubtful.
    assert len({group[i] for i in top[:4]}) == 1
    # The same seed gives the same batch.
    assert rank("uncertainty", emb, labelled, labels, keys, seed=0, batch=4)[0] == diverse
