"""From a labeling project to labels of record: `aggregate_project` vs the labeling pull.

One workspace: N text items (field reports), a project with a `damage` choices control and
overlap 3, five simulated annotators (accuracy 0.6-0.95) answering through the labeling
services (`next_task` + `submit`). Then, side by side in the same run, each into a fresh
dataset and repeated:

* `assay.labeling.pull(..., "consensus")`: the labeling service's strict-majority pull;
* `assay.quality.aggregate_project(..., "mv" | "ds", into=...)`: read the project's answers,
  aggregate, store the aggregate annotations and set the labels of record (one transaction).

Accuracy is against the simulated truth (items without a label of record count as wrong).

Run:  PYTHONPATH=src .venv/bin/python bench/quality_project.py [--items 3000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import uuid

import numpy as np

from _common import WORK, median, table, write_result

CLASSES = ["none", "minor", "major", "destroyed"]
ANNOTATORS = {"ana": 0.95, "bo": 0.9, "cy": 0.8, "dee": 0.7, "eli": 0.6}


def build(n_items: int) -> tuple[object, dict[str, str]]:
    os.environ.setdefault("ASSAY_ARGON2_MEMORY_KIB", "1024")
    from assay.domain.labels import Region
    from assay.domain.schema import LabelSchema
    from assay.labeling import Workflow, add_user, create_project, next_task, submit
    from assay.workspace import Workspace

    root = WORK / "quality_project"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rows = root / "reports.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"text": f"Field report {i}: water at the bridge."}) + "\n"
            for i in range(n_items)
        )
    )
    ws = Workspace.init(root / "ws")
    ws.ingest([rows])
    ws.create_dataset("reports")
    ws.add_items("reports")
    schema = LabelSchema.from_yaml_text(
        "controls:\n  - {name: damage, type: choices, labels: [none, minor, major, destroyed]}\n"
    )
    create_project(ws, "triage", schema, "reports", Workflow(overlap=3))
    users = {
        n: add_user(ws, n, "annotator", "UNCLASSIFIED", "bench-password-1") for n in ANNOTATORS
    }
    rng = np.random.default_rng(0)
    truth: dict[str, str] = {}
    t0 = time.perf_counter()
    active = list(ANNOTATORS)
    while active:
        for name in list(active):
            lease = next_task(ws, users[name], "triage")
            if lease is None:
                active.remove(name)
                continue
            item = lease.item["id"]
            true = truth.setdefault(item, CLASSES[int(rng.integers(len(CLASSES)))])
            said = true if rng.random() < ANNOTATORS[name] else str(rng.choice(CLASSES))
            region = Region(kind="choice", control="damage", label=said)
            submit(ws, users[name], lease.task_id, str(uuid.uuid4()), [region], lead_time=5.0)
    print(f"setup: {n_items} items, {3 * n_items} submissions in {time.perf_counter() - t0:.1f} s")
    return ws, truth


def accuracy(ws: object, dataset: str, truth: dict[str, str]) -> float:
    from sqlalchemy import select

    from assay.domain.labels import payload_from_json
    from assay.store.schema import datasets, working

    with ws.db.read() as conn:  # type: ignore[attr-defined]
        ds = conn.execute(select(datasets.c.id).where(datasets.c.name == dataset)).scalar_one()
        rows = conn.execute(
            select(working.c.item_id, working.c.labels).where(working.c.dataset_id == ds)
        ).all()
    got = {i: [r.label for r in payload_from_json(p) if r.control == "damage"] for i, p in rows}
    return float(np.mean([got.get(i) == [t] for i, t in truth.items()]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from assay.labeling.pull import pull
    from assay.quality import aggregate_project

    ws, truth = build(args.items)
    runs: dict[str, list[float]] = {"pull consensus": [], "aggregate mv": [], "aggregate ds": []}
    acc: dict[str, float] = {}
    for r in range(args.repeats):
        for tool in runs:
            name = f"{tool.replace(' ', '-')}-{r}"
            ws.create_dataset(name)  # type: ignore[attr-defined]
            if tool == "pull consensus":
                ws.add_items(name)  # type: ignore[attr-defined]
                t0 = time.perf_counter()
                pull(ws, name, "triage", "consensus")  # type: ignore[arg-type]
            else:
                t0 = time.perf_counter()
                aggregate_project(ws, "triage", tool.split()[1], into=name)  # type: ignore[arg-type]
            runs[tool].append(time.perf_counter() - t0)
            acc[tool] = accuracy(ws, name, truth)
    base = median(runs["pull consensus"])
    rows = [
        [
            tool,
            f"{median(times):.3f}",
            f"{base / median(times):.2f}x",
            f"{args.items * 3 / median(times):,.0f}",
            f"{acc[tool]:.3f}",
        ]
        for tool, times in runs.items()
    ]
    text = (
        f"## Project to labels of record ({args.items} items x 3 answers, 5 annotators, "
        f"{args.repeats} runs)\n\n"
        + table(["path", "median s", "speed vs pull", "answers/s", "accuracy"], rows)
        + "\n\nReproduce: `PYTHONPATH=src .venv/bin/python bench/quality_project.py "
        f"--items {args.items} --repeats {args.repeats}`\n"
    )
    write_result("quality_project", text)


if __name__ == "__main__":
    main()
