"""Issue 13 over HTTP: required answers refused with the reason, HTML error pages for browser
pages (JSON for the API), Markdown instructions, and pre-annotations from labels of record."""

from __future__ import annotations

import json
import sys
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from assay.domain.schema import LabelSchema
from assay.errors import NotFound, require
from assay.labeling import Workflow, create_project
from assay.labeling.pull import pull
from assay.store.schema import ID_SEP, datasets, working
from assay.versioning import LabelRecord
from labeling_world import Client, World, box, choice

REQUIRED_YAML = """
title: Flood damage survey
controls:
  - {name: label, type: boxes, labels: [building, vehicle]}
  - {name: damage, type: choices, labels: [none, minor, destroyed], required: true}
  - {name: notes, type: text, required: true}
"""


def test_an_incomplete_answer_is_422_with_the_reason(world: World, client: Client) -> None:
    schema = LabelSchema.from_yaml_text(REQUIRED_YAML, "required.yaml")
    create_project(world.ws, "strict", schema, "flood", Workflow())
    ana = client("ana")
    lease = ana.post("/api/v1/projects/strict/next").json()
    url = f"/api/v1/tasks/{lease['task_id']}/submit"
    r = ana.post(url, json={"client_id": str(uuid.uuid4()), "regions": []})
    assert r.status_code == 422
    assert r.json() == {"error": "incomplete answer: damage, notes are required"}
    blank = {"kind": "text", "control": "notes", "text": "   "}
    minor = {"kind": "choice", "control": "damage", "label": "minor"}
    r = ana.post(url, json={"client_id": str(uuid.uuid4()), "regions": [minor, blank]})
    assert r.status_code == 422 and r.json()["error"].endswith("notes is required")
    note = {**blank, "text": "roof under water"}
    r = ana.post(url, json={"client_id": str(uuid.uuid4()), "regions": [minor, note]})
    assert r.status_code == 200, r.text


def test_browser_pages_get_html_errors_and_the_api_keeps_json(world: World, client: Client) -> None:
    ana = client("ana")
    page = ana.get(f"/dashboard/{world.project}")
    assert page.status_code == 403 and "text/html" in page.headers["content-type"]
    assert "<h1>Not allowed</h1>" in page.text and '{"error"' not in page.text
    assert 'href="/static/app.css"' in page.text  # the app's own style
    missing = client("man").get("/dashboard/nope")
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
    assert "No project named &#39;nope&#39;" in missing.text
    assert "assay project list" not in missing.text  # no command-line hint in a browser
    assert client("man").get("/no/such/page").status_code == 404
    assert "text/html" in client("man").get("/no/such/page").headers["content-type"]
    api = client("man").get("/api/v1/projects/nope")
    assert api.status_code == 404 and "application/json" in api.headers["content-type"]
    assert "no project named" in api.json()["error"]


def test_instructions_are_rendered_markdown_without_html_or_remote_images(
    world: World, client: Client
) -> None:
    text = (
        "# Flood survey\n\nBox **every** building.<script>alert(1)</script>\n\n"
        "![example](/api/v1/items/abc/blob) ![tracker](https://example.org/pixel.png)\n"
        "[guide](https://example.org/guide)\n"
    )
    schema = LabelSchema.from_yaml_text(REQUIRED_YAML, "required.yaml")
    create_project(world.ws, "md", schema, "flood", Workflow(), instructions=text)
    html = client("ana").get("/api/v1/projects/md").json()["instructions_html"]
    assert "<h1>Flood survey</h1>" in html and "<strong>every</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<img src="/api/v1/items/abc/blob" alt="example"' in html
    assert "example.org/pixel.png" not in html and "image not shown: tracker" in html
    assert 'rel="noopener noreferrer"' in html


def test_from_labels_serves_the_record_and_keeps_original_authors(
    world: World, client: Client
) -> None:
    ws = world.ws
    item = world.items["public"][0]
    old_box = box(2, 2, 10, 10).model_copy(update={"author": "user:cy"})
    ws.set_labels("flood", [LabelRecord(item, [old_box, choice("none")], ["a-cy"], ["user:cy"])])
    schema = LabelSchema.from_yaml_text(REQUIRED_YAML.replace(", required: true", ""), "s.yaml")
    create_project(ws, "fix", schema, "flood", Workflow(from_labels=True))
    ana = client("ana")
    while True:  # the labelled item comes with its record; others without
        lease = ana.post("/api/v1/projects/fix/next").json()
        if lease["item"]["id"] == item:
            break
        skip = {"client_id": str(uuid.uuid4()), "reason": "later"}
        assert ana.post(f"/api/v1/tasks/{lease['task_id']}/skip", json=skip).status_code == 200
    assert lease["prelabel_source"] == "record"
    pre = {r["control"]: r for r in lease["prelabels"]}
    assert pre["label"]["author"] == "user:cy" and pre["label"]["box"] == [2, 2, 10, 10]
    # ana keeps the box and corrects the damage
    kept = pre["label"]
    fixed = {"kind": "choice", "control": "damage", "label": "minor", "id": pre["damage"]["id"]}
    r = ana.post(
        f"/api/v1/tasks/{lease['task_id']}/submit",
        json={"client_id": str(uuid.uuid4()), "regions": [kept, fixed]},
    )
    assert r.status_code == 200, r.text
    other = world.items["public"][1]
    ws.set_labels("flood", [LabelRecord(other, [box(1, 1, 5, 5)], ["a-x"], ["user:x"])])
    assert pull(ws, "flood", "fix", "latest") == 1  # only the item with a new answer changes
    with ws.db.read() as conn:
        flood = select(datasets.c.id).where(datasets.c.name == "flood").scalar_subquery()
        rows = {
            r.item_id: r for r in conn.execute(select(working).where(working.c.dataset_id == flood))
        }
    mine = {r["control"]: r for r in json.loads(rows[item].labels)}
    assert mine["label"]["author"] == "user:cy" and mine["damage"]["author"] == "user:ana"
    assert set(rows[item].authors.split(ID_SEP)) == {"user:ana", "user:cy"}
    assert json.loads(rows[other].labels)[0]["box"] == [1, 1, 5, 5]  # untouched


def test_the_history_lists_a_rejected_answer_with_the_comment(world: World, client: Client) -> None:
    # GET /projects/{p}/mine dropped an answer once a reviewer rejected it.
    ana, rev = client("ana"), client("rev")
    lease = ana.post(f"/api/v1/projects/{world.project}/next").json()
    answer = {"client_id": str(uuid.uuid4()), "regions": [choice("minor").model_dump()]}
    assert ana.post(f"/api/v1/tasks/{lease['task_id']}/submit", json=answer).status_code == 200
    task = rev.post(f"/api/v1/projects/{world.project}/review/next").json()
    assert task["task_id"] == lease["task_id"]
    body = {
        "client_id": str(uuid.uuid4()),
        "decision": "reject",
        "annotation_id": task["annotations"][0]["id"],
        "comment": "the roof is gone: destroyed",
    }
    assert rev.post(f"/api/v1/tasks/{task['task_id']}/review", json=body).status_code == 200
    mine = ana.get(f"/api/v1/projects/{world.project}/mine").json()
    [entry] = mine["history"]
    assert (mine["submitted"], mine["rejected"]) == (1, 1)
    assert (entry["task_id"], entry["rejected"], entry["reviewed"]) == (
        lease["task_id"],
        True,
        True,
    )
    assert entry["review_comment"] == "the roof is gone: destroyed"


def test_an_error_page_shows_names_as_spelt(
    world: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page made its message a sentence by capitalising its first letter, names too:
    "Pyproj is not installed", "Flood-clf@2: ...". A library, file or model is shown as the
    command line shows it; a message opening with a word still reads as a sentence."""
    man = client("man")
    app = man.app
    assert isinstance(app, FastAPI)

    def needs_pyproj() -> None:  # a page whose library is missing on this server
        require("pyproj", "sensors")

    def names_a_model() -> None:
        raise NotFound("flood-clf@2: no such model version")

    app.add_api_route("/pyproj-page", needs_pyproj)
    app.add_api_route("/model-page", names_a_model)
    monkeypatch.setitem(sys.modules, "pyproj", None)
    page = man.get("/pyproj-page")
    assert page.status_code == 501 and "text/html" in page.headers["content-type"]
    assert "pyproj is not installed; install it with" in page.text
    assert "Pyproj" not in page.text
    page = man.get("/model-page")
    assert page.status_code == 404 and "flood-clf@2: no such model version" in page.text
    assert "No page at /no/such/page" in man.get("/no/such/page").text  # a sentence still
