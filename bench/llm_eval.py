"""Language-model evaluation throughput: `assay eval llm` (length-sorted batches, response
cache) against Inspect AI's Hugging Face provider on the same local model and task.

Both sides load the same Llama model directory (built here: a BPE tokenizer trained on the
reports, random weights, `--hidden`/`--layers`), answer the same N field-report questions
with greedy decoding and `--max-new-tokens`, and score exact match. Inspect batches through
its `max_connections` (set to the same batch size as assay's). Timed: the whole evaluation
call including model loading, in this process, sides alternating. assay runs twice per
repeat: cold (empty response cache) and warm (a rerun answered from the cache). Prints
medians, samples per second and ratios.

    .venv/bin/pip install accelerate   # Inspect's HF provider loads models with device_map
    .venv/bin/python bench/llm_eval.py [--items 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))

from assay.models.llm import go_offline  # noqa: E402

go_offline()

from _common import WORK, median, table, write_result  # noqa: E402
from assay.domain.labels import Region  # noqa: E402
from assay.evaluation.llm import LlmRunSettings, run_llm_eval  # noqa: E402
from assay.models.llm import BackendOptions  # noqa: E402
from assay.versioning.labels import LabelRecord  # noqa: E402
from assay.workspace import Workspace  # noqa: E402
from llm_world import build_tiny_llama  # noqa: E402

PLACES = ["Mill Road", "the school", "North Shelter", "the grain silo", "Old Bridge"]
SYSTEM = "You read field reports from a flooded town."


def reports(n: int) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        people = 2 + (i * 7) % 40
        text = (
            f"Report {i}: boats rescued {people} people near {PLACES[i % 5]}; water is "
            f"{1 + i % 3} metres deep; the clinic road is {'open' if i % 2 else 'closed'}."
        )
        out.append({"text": text, "answer": f"{people} people"})
    return out


def build_workspace(root: Path, rows: list[dict[str, str]]) -> Workspace:
    from assay.formats.io import export_bundle

    root.mkdir(parents=True, exist_ok=True)
    src = root / "reports.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ws = Workspace.init(root)
    ws.ingest([src])
    ws.create_dataset("reports")
    ws.add_items("reports")
    answers = {r["text"]: r["answer"] for r in rows}
    bundle = export_bundle(ws, ws.resolve("reports", default_head=False))
    ws.set_labels(
        "reports",
        [
            LabelRecord(
                r.item_id,
                [Region(kind="text", control="answer", text=answers[r.read_bytes().decode()])],
            )
            for r in bundle.rows
        ],
    )
    ws.commit("reports", "answers")
    return ws


def run_assay(ws: Workspace, task: Path, model: Path, out: Path, batch: int) -> float:
    t0 = time.perf_counter()
    run_llm_eval(
        ws,
        task,
        out,
        model=str(model),
        options=BackendOptions(batch_size=batch),
        settings=LlmRunSettings(n_resamples=100),
    )
    return time.perf_counter() - t0


def run_inspect(
    rows: list[dict[str, str]], model: Path, logs: Path, batch: int, tokens: int
) -> float:
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import exact
    from inspect_ai.solver import generate, system_message

    prompt = "Report: {r}\nQuestion: How many people were rescued?\nAnswer:"
    task = Task(
        dataset=[Sample(input=prompt.format(r=r["text"]), target=r["answer"]) for r in rows],
        solver=[system_message(SYSTEM), generate()],
        scorer=exact(),
    )
    t0 = time.perf_counter()
    (log,) = eval(
        task,
        model="hf/local",
        model_args={
            "model_path": str(model),
            "tokenizer_path": str(model),
            "device": "cpu",
            "do_sample": False,
        },
        max_connections=batch,
        max_tokens=tokens,
        log_dir=str(logs),
        display="none",
    )
    took = time.perf_counter() - t0
    if log.status != "success":
        raise RuntimeError(f"Inspect AI run failed: {log.error}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="llm-bench-", dir=WORK))
    try:
        rows = reports(args.items)
        model = build_tiny_llama(
            root / "model",
            tokenizer="bytes",
            texts=[r["text"] for r in rows],
            chat_template=True,
            hidden=args.hidden,
            layers=args.layers,
        )
        task = root / "task.yaml"
        task.write_text(
            json.dumps(
                {
                    "name": "rescued",
                    "dataset": "reports",
                    "template": {
                        "system": SYSTEM,
                        "prompt": "Report: {input}\nQuestion: How many people were rescued?\n"
                        "Answer:",
                    },
                    "generation": {"max_new_tokens": args.max_new_tokens},
                    "scorers": ["exact"],
                }
            )
        )
        times: dict[str, list[float]] = {"Inspect AI (hf)": [], "assay cold": [], "assay warm": []}
        for rep in range(args.repeats):
            ws = build_workspace(root / f"ws{rep}", rows)
            sides = ["inspect", "assay"] if rep % 2 == 0 else ["assay", "inspect"]
            for side in sides:
                if side == "inspect":
                    t = run_inspect(rows, model, root / "logs", args.batch, args.max_new_tokens)
                    times["Inspect AI (hf)"].append(t)
                else:
                    times["assay cold"].append(
                        run_assay(ws, task, model, root / f"c{rep}", args.batch)
                    )
                    times["assay warm"].append(
                        run_assay(ws, task, model, root / f"w{rep}", args.batch)
                    )
            ws.close()
            print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
        peer = median(times["Inspect AI (hf)"])
        out = []
        for name, ts in times.items():
            m = median(ts)
            out.append(
                [
                    name,
                    f"{m:.2f}",
                    ", ".join(f"{t:.2f}" for t in ts),
                    f"{args.items / m:.1f}",
                    f"{peer / m:.2f}x",
                ]
            )
        text = (
            f"### LLM evaluation: {args.items} questions, Llama {args.hidden}x{args.layers}, "
            f"{args.max_new_tokens} new tokens, batch {args.batch}, CPU\n\n"
            + table(["side", "median s", "runs s", "samples/s", "throughput vs Inspect"], out)
        )
        print(text)
        write_result("llm_eval", text)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
