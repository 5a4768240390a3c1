"""chat / sft / dpo exports: rows from answers and rankings of several annotators, agreement
threshold, lineage manifest, bad input, and what Hugging Face `datasets` reads back."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput
from assay.formats.llm import preference_pairs
from assay.labeling import Workflow, add_user, create_project, next_task, submit
from assay.labeling.pull import pull
from assay.workspace import Workspace

SCHEMA = """
title: Answer review
controls:
  - name: preference
    type: ranking
    candidates_field: responses
  - name: answer
    type: text
"""
REPORTS = [
    {
        "text": "Levee breach near Oak Bridge flooded Riverton overnight. What should we do?",
        "responses": ["Wait at home.", "Drive across Oak Bridge.", "Walk to the school shelter."],
        "system": "You advise flood survivors.",
    },
    {
        "text": "Shelter in Millbrook needs blankets. Reply to the shelter lead.",
        "responses": ["Blankets are on the way.", "Send nothing."],
    },
]
# Three annotators rank each report's answers (best first) and write a reply.
RANKINGS = {
    0: [("2", "0", "1"), ("2", "1", "0"), ("2", "0", "1")],
    1: [("0", "1"), ("0", "1"), ("1", "0")],
}


def _labelled(ws: Workspace, tmp_path: Path) -> dict[str, int]:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in REPORTS))
    ws.ingest([folder], marking="CUI")
    ws.create_dataset("reports")
    ws.add_items("reports", "media_type~text/*")
    schema = LabelSchema.from_yaml_text(SCHEMA, "s.yaml")
    create_project(ws, "review", schema, "reports", Workflow(overlap=3))
    order: dict[str, int] = {}
    for n in range(3):
        user = add_user(ws, f"a{n}", "annotator", "CUI", "flood-watch-2026")
        while (lease := next_task(ws, user, "review")) is not None:
            k = next(i for i, r in enumerate(REPORTS) if lease.item["text"] == r["text"])
            order[lease.item["id"]] = k
            regions = [
                Region(kind="ranking", control="preference", ranking=RANKINGS[k][n]),
                Region(kind="text", control="answer", text=f"reply {k} by a{n}"),
            ]
            submit(ws, user, lease.task_id, str(uuid.uuid4()), regions)
    pull(ws, "reports", "review", "latest")
    ws.commit("reports", "three annotators")
    return order


def test_preference_pairs_keep_what_annotators_agree_on() -> None:
    pairs, dropped = preference_pairs(RANKINGS[0], 0.75)
    assert pairs == [("2", "0", 1.0), ("2", "1", 1.0)] and dropped == 1  # 0 vs 1: 2 of 3
    pairs, dropped = preference_pairs(RANKINGS[0], 0.6)
    assert ("0", "1", pytest.approx(2 / 3)) in pairs and dropped == 0


def test_sft_chat_and_dpo_exports_with_lineage(ws: Workspace, tmp_path: Path) -> None:
    _labelled(ws, tmp_path)
    head = ws.resolve("reports").commit
    assert head is not None
    for fmt in ("sft", "chat", "dpo"):
        out = tmp_path / fmt
        result = ws.export("reports@HEAD", fmt, out)
        data = (out / f"{fmt}.jsonl").read_text()
        rows = [json.loads(line) for line in data.splitlines()]
        lineage = json.loads((out / "lineage.json").read_text())
        assert lineage["commit"] == head.id and lineage["dataset"] == "reports"
        assert lineage["sha256"] == hashlib.sha256(data.encode()).hexdigest()
        assert lineage["rows"] == len(rows) and lineage["marking"] == "CUI"
        assert (out / "MARKING.txt").read_text().startswith("CUI\n")
        if fmt == "sft":
            assert {r["prompt"] for r in rows} == {r["text"] for r in REPORTS}
            assert all(r["completion"].startswith("reply ") for r in rows)
        elif fmt == "chat":
            first = next(r for r in rows if r["messages"][0]["role"] == "system")
            assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
            assert first["messages"][0]["content"] == "You advise flood survivors."
        else:
            got = {(r["chosen"], r["rejected"]) for r in rows}
            assert got == {
                ("Walk to the school shelter.", "Wait at home."),
                ("Walk to the school shelter.", "Drive across Oak Bridge."),
            }  # report 0's pair (0, 1) and report 1's pair agree 2 of 3 < 0.75: dropped
            assert result["dropped"] == {"preference pairs below the agreement threshold": 2}
            assert lineage["filters"]["min_agreement"] == 0.75
    loose = ws.export("reports@HEAD", "dpo", tmp_path / "loose", options={"min_agreement": 0.6})
    assert loose["dropped"] == {}
    assert len((tmp_path / "loose" / "dpo.jsonl").read_text().splitlines()) == 4

    from datasets import load_dataset  # what TRL's trainers load

    dpo = load_dataset("json", data_files=str(tmp_path / "dpo" / "dpo.jsonl"), split="train")
    assert dpo.column_names == ["prompt", "chosen", "rejected"] and len(dpo) == 2
    chat = load_dataset("json", data_files=str(tmp_path / "chat" / "chat.jsonl"), split="train")
    assert chat.column_names == ["messages"] and len(chat) == 2


def test_dpo_without_rankings_is_one_error_and_writes_nothing(
    ws: Workspace, tmp_path: Path, cli: object
) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "r.jsonl").write_text(json.dumps({"text": "no rankings here"}) + "\n")
    ws.ingest([folder])
    ws.create_dataset("plain")
    ws.add_items("plain", "media_type~text/*")
    ws.commit("plain", "texts only")
    out = tmp_path / "out"
    with pytest.raises(InvalidInput, match="no ranking annotations"):
        ws.export("plain@HEAD", "dpo", out)
    assert not out.exists()
    with pytest.raises(InvalidInput, match="exports a commit"):
        ws.export("plain", "sft", out)
    res = cli("-w", ws.root, "export", "plain@HEAD", "--format", "dpo", "--out", out, code=1)  # type: ignore[operator]
    assert "no ranking annotations" in res.stderr and not out.exists()
