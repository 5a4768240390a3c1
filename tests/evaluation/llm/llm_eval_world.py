"""A workspace of field reports (text items) with answers, places (spans), categories and
people's grades, committed; a few-shot dataset; task files; and the deterministic answers a
loopback OpenAI-compatible server gives for them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from assay.domain.labels import Region
from assay.versioning.labels import LabelRecord
from assay.workspace import Workspace

PLACES = ["Mill Road", "the school", "North Shelter", "the grain silo", "Old Bridge", "the clinic"]
CATEGORIES = ["flood", "fire", "collapse"]
N = 12


def report(i: int) -> dict[str, Any]:
    place = PLACES[i % len(PLACES)]
    district = "north" if i % 2 == 0 else "south"
    people = 3 + i
    text = f"Report {i}: boats rescued {people} people near {place} in the {district} district."
    return {
        "text": text,
        "question": "How many people were rescued?",
        "district": district,
        "people": people,
        "place": place,
        "category": CATEGORIES[i % 3],
    }


@dataclass
class World:
    ws: Workspace
    root: Path
    commit: str
    shots_commit: str
    texts: dict[str, int]  # item text -> report number


def _label(ws: Workspace, dataset: str, rows: list[dict[str, Any]], grades: bool) -> None:
    from assay.formats.io import export_bundle

    bundle = export_bundle(ws, ws.resolve(dataset, default_head=False))
    by_text = {r["text"]: r for r in rows}
    records = []
    for row in bundle.rows:
        text = row.read_bytes().decode()
        r = by_text[text]
        regions = [
            Region(kind="text", control="answer", text=f"{r['people']} people"),
            Region(kind="choice", control="category", label=r["category"]),
        ]
        for name in (r["place"], f"{r['district']} district"):
            start = text.index(name)
            regions.append(
                Region(
                    kind="span", control="places", label="place", span=(start, start + len(name))
                )
            )
        i = int(re.match(r"Report (\d+)", text).group(1))  # type: ignore[union-attr]
        if grades and i < 8:
            # People graded the judge's items: they call every answer correct but report 3.
            regions.append(
                Region(kind="choice", control="grade", label="incorrect" if i == 3 else "correct")
            )
        records.append(LabelRecord(row.item_id, regions))
    ws.set_labels(dataset, records)


MISSING = object()


def build_world(root: Path, ws: Workspace, districts: dict[int, Any] | None = None) -> World:
    """`districts` overrides the metadata field ``district`` of some reports (the text keeps
    its district): a value, None (JSON null), or `MISSING` to leave the field out."""
    rows = [report(i) for i in range(N)]
    ingested = []
    for i, r in enumerate(rows):
        meta = dict(r)
        if districts and i in districts:
            if districts[i] is MISSING:
                del meta["district"]
            else:
                meta["district"] = districts[i]
        ingested.append(meta)
    src = root / "reports.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ingested))
    shot_rows = [report(i) for i in range(100, 104)]
    shots = root / "shots.jsonl"
    shots.write_text("".join(json.dumps(r) + "\n" for r in shot_rows))
    ws.ingest([src], source="field-reports")
    ws.ingest([shots], source="training-reports")
    ws.create_dataset("reports")
    ws.add_items("reports", "source=field-reports")
    _label(ws, "reports", rows, grades=True)
    c = ws.commit("reports", "answers of record")
    ws.create_dataset("shots")
    ws.add_items("shots", "source=training-reports")
    _label(ws, "shots", shot_rows, grades=False)
    s = ws.commit("shots", "worked examples")
    return World(ws, root, c.id, s.id, {r["text"]: i for i, r in enumerate(rows)})


def write_task(root: Path, name: str, **fields: Any) -> Path:
    spec = {
        "name": name,
        "dataset": "reports",
        "template": {
            "system": "You read field reports from a flooded town.",
            "prompt": "Report: {input}\nQuestion: {metadata.question}\nAnswer:",
        },
        "scorers": ["exact"],
        **fields,
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def qa_answer(i: int, regress: set[int] | None = None, fix: set[int] | None = None) -> str:
    """Four styles in turn: exact, differently cased, wordy, wrong by five; items in
    `regress` answer wrong and items in `fix` right."""
    n = 3 + i
    if regress is not None and i in regress:
        return f"{n + 5} people"
    if fix is not None and i in fix:
        return f"{n} people"
    return [f"{n} people", f"{n} People.", f"about {n} people were rescued", f"{n + 5} people"][
        i % 4
    ]


def answer_for(
    body: dict[str, Any], regress: set[int] | None = None, fix: set[int] | None = None
) -> str:
    """The server's deterministic answer to a request of these tasks."""
    msgs = body.get("messages") or [{"role": "user", "content": body.get("prompt", "")}]
    user = [m["content"] for m in msgs if m["role"] == "user"][-1]
    if user.startswith("You are grading an answer."):
        # A judge that takes the wordy style for wrong, and passes everything else.
        submitted = user.split("[Submitted answer]\n", 1)[1].split("\n", 1)[0]
        return "GRADE: I" if submitted.startswith("about") else "GRADE: C"
    m = re.search(r"Report (\d+):", user)
    i = int(m.group(1)) if m else -1
    r = report(i)
    if "Answer with the letter" in user:
        right = CATEGORIES.index(r["category"])
        pick = right if i % 3 != 2 else (right + 1) % 3
        return ["A", "(B) fire", "C."][pick] if i % 2 else "ABC"[pick]
    if "ANSWER:" in user:
        return f"The report says {3 + i} people.\nANSWER: {qa_answer(i, regress, fix)}"
    if "List the places" in user:
        if i % 3 == 0:
            return f"{r['place']}; {r['district']} district"
        if i % 3 == 1:
            return r["place"]
        return "none"
    return qa_answer(i, regress, fix)
