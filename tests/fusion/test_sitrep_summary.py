"""`assay sitrep --summary-model`: a real `assay serve-model` of a tiny Llama writes the
summary paragraph from the report's facts only; the facts and the exact prompt are stored with
the report, so the summary can be checked against them. Without a model the report is the
same, complete, report with no summary; an unreachable model is one clear error, and nothing
is stored."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from sqlalchemy import select

from assay.domain.entity import Entity, Provenance
from assay.fusion import pictures
from assay.labeling import add_user, create_token
from assay.models import add_model
from assay.store.schema import audit as audit_table
from assay.workspace import Workspace
from llm_world import build_tiny_llama
from models.tiny_llm import start_model_server
from ports import refused_port

RunCli = Callable[..., Any]
pytestmark = pytest.mark.xdist_group("serve-model")


@dataclass
class Served:
    url: str
    token: str


def _entity(eid: str, label: str, lon: float, marking: str) -> Entity:
    return Entity.model_validate(
        {
            "id": eid,
            "label": label,
            "lon": lon,
            "lat": 29.7604,
            "first_seen": "2026-07-25T17:20:00Z",
            "last_seen": "2026-07-25T17:30:00Z",
            "confidence": 0.8,
            "status": "confirmed",
            "detections": 4,
            "sensors": ("drone-1", "drone-2"),
            "marking": marking,
            "provenance": Provenance(sources=("predictions:dets.jsonl",), items=(f"i-{eid}",)),
        }
    )


@pytest.fixture
def served(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
    pictures.save(
        ws,
        "town",
        [
            _entity("ent-a1b2c3", "vehicle", -95.3698, ""),
            _entity("ent-d4e5f6", "person", -95.3650, "CUI/FLOOD"),
        ],
        message="first",
    )
    add_user(ws, "ana", "annotator", "CUI/FLOOD", "correct horse battery")
    token = create_token(ws, "ana")
    model = build_tiny_llama(ws.root.parent / "tiny-flood", context=1024, chat_template=True)
    add_model(ws, "tiny-flood", model)
    proc = start_model_server(ws.root, "tiny-flood@1")
    try:
        yield Served(f"{proc.url}/v1", token)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _stored_reports(ws: Workspace) -> list[dict[str, Any]]:
    with ws.db.read() as conn:
        rows = conn.execute(
            select(audit_table.c.details).where(audit_table.c.action == "sitrep.write")
        ).all()
    blobs = [json.loads(r.details)["report"] for r in rows]
    return [json.loads(ws.blobs.get_bytes(b)) for b in blobs]


def test_summary_from_the_facts_only_stored_with_its_prompt(
    ws: Workspace, served: Served, run_cli: RunCli
) -> None:
    env = {"ASSAY_LLM_API_KEY": served.token}
    plain = json.loads(run_cli("-w", ws.root, "sitrep", "town", "--format", "json").stdout)
    assert "summary" not in plain and len(plain["sections"]) == 5  # complete without a model
    res = run_cli(
        "-w", ws.root, "sitrep", "town", "--format", "json", "--summary-model", served.url, env=env
    )
    report = json.loads(res.stdout)
    s = report["summary"]
    assert s["model"] == "tiny-flood@1" and s["endpoint"] == served.url
    assert s["marking"] == report["marking"] == "CUI/FLOOD"
    # The facts are the report's: every entity and every section paragraph, nothing else.
    assert all(any(eid in f for f in s["facts"]) for eid in report["entities"])
    paras = sum(len(sec["paragraphs"]) for sec in report["sections"])
    assert len(s["facts"]) == 1 + paras + len(report["entities"])
    assert s["prompt"][0]["role"] == "system"
    assert all(f in s["prompt"][1]["content"] for f in s["facts"])
    # The stored prompt is exactly what the model was given: sent again, the same text.
    client = openai.OpenAI(base_url=served.url, api_key=served.token, max_retries=0)
    again = client.chat.completions.create(
        model=s["model"],
        messages=s["prompt"],
        temperature=0,
        max_tokens=s["parameters"]["max_tokens"],
    )
    assert s["text"] and again.choices[0].message.content.strip() == s["text"]
    # The rest of the report does not change with a summary.
    assert report["sections"] == plain["sections"] and report["entities"] == plain["entities"]
    # Stored with the report: the blob the audit event names holds facts, prompt and text.
    stored = _stored_reports(ws)
    assert [r.get("summary") for r in stored] == [None, s]
    md = run_cli("-w", ws.root, "sitrep", "town", "--summary-model", served.url, env=env).stdout
    assert "## (CUI/FLOOD) Summary" in md and s["text"] in md
    assert md.index("Summary") < md.index("Situation overview")


def test_unreachable_summary_model_is_one_error_and_nothing_stored(
    ws: Workspace, run_cli: RunCli
) -> None:
    pictures.save(ws, "town", [_entity("ent-a1b2c3", "vehicle", -95.3698, "")], message="one")
    with refused_port() as port:  # no other test's server can take it meanwhile
        url = f"http://127.0.0.1:{port}/v1#tiny-flood"
        res = run_cli("-w", ws.root, "sitrep", "town", "--summary-model", url, code=1)
    assert "summary model at" in res.stderr and "cannot reach" in res.stderr
    assert _stored_reports(ws) == []
