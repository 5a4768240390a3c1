"""Need-to-know of pre-labels: a task shows the pre-labels made for its own project (and a
dataset's imported model answers, which belong to no project), never another project's: its
class names and model come from a schema the annotator may not know (attacker pass,
December 2026)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from assay.domain.labels import Region, payload_to_json
from assay.labeling.prelabel import PrelabelReport, prelabelled, store_prelabels
from assay.labeling.projects import get_project
from assay.store.schema import annotations_table
from assay.timeutil import now_iso
from labeling_world import HIDDEN, Client, World

SECRET_CLASS = "casualty"  # a class of the SECRET/SAR project's schema
SECRET_MODEL = "sweep-det@1"


def _prelabel(world: World, project: str, model: str, item: str, label: str) -> None:
    """`model` pre-labels `item` for `project`, as `assay prelabel` stores it."""
    ws = world.ws
    with ws.db.read() as conn:
        p = get_project(conn, project)
    region = Region(kind="box", control="label", label=label, box=(1, 1, 6, 6), score=0.4)
    report = PrelabelReport(p.name, model, "UNCLASSIFIED", "detection", "label")
    store_prelabels(ws, p, model, [prelabelled(item, [region])], report, None, time.perf_counter())


def _imported(world: World, item: str, label: str) -> None:
    """A model answer imported with the dataset (a Label Studio prediction): no project."""
    region = Region(kind="box", control="label", label=label, box=(2, 2, 5, 5), score=0.7)
    with world.ws.db.begin() as conn:
        conn.execute(
            annotations_table.insert().values(
                id="imported-prediction",
                item_id=item,
                project=None,
                author="model:flood-det@1",
                kind="model",
                payload=payload_to_json([region]),
                created=now_iso(),
                source_id="import",
            )
        )


def _work_every_task(client: Client, name: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """`name` works the survey: each task's lease by item, and every response's text."""
    c, leases, texts = client(name), {}, []
    while (r := c.post("/api/v1/projects/survey/next")).status_code == 200:
        lease = r.json()
        leases[lease["item"]["id"]] = lease
        texts.append(r.text)
        body = {"client_id": str(uuid.uuid4()), "regions": []}
        assert c.post(f"/api/v1/tasks/{lease['task_id']}/submit", json=body).status_code == 200
    assert r.status_code == 204
    return leases, texts


def test_a_task_shows_only_the_pre_labels_made_for_its_project(
    world: World, client: Client
) -> None:
    hidden_item, own_item, imported_item = world.items["public"][:3]
    _prelabel(world, "survey", "flood-det@2", own_item, "vehicle")
    _prelabel(world, HIDDEN["name"], SECRET_MODEL, hidden_item, SECRET_CLASS)
    _prelabel(world, HIDDEN["name"], SECRET_MODEL, own_item, SECRET_CLASS)  # the newest there
    _imported(world, imported_item, "building")
    leases, texts = _work_every_task(client, "ana")

    assert (leases[hidden_item]["prelabels"], leases[hidden_item]["prelabel_source"]) == ([], None)
    assert [r["label"] for r in leases[own_item]["prelabels"]] == ["vehicle"]
    assert leases[own_item]["prelabel_source"] == "model"
    assert [r["label"] for r in leases[imported_item]["prelabels"]] == ["building"]
    for text in texts:
        assert SECRET_CLASS not in text and SECRET_MODEL not in text

    # The data manager's task view and list, and the dashboard, as the survey's manager.
    man = client("man")
    listed = man.get("/api/v1/projects/survey/tasks", params={"limit": 100})
    assert listed.status_code == 200
    confidence = {t["item_id"]: t["confidence"] for t in listed.json()["tasks"]}
    assert confidence[hidden_item] is None and confidence[own_item] == 0.4
    for task in listed.json()["tasks"]:
        if task["item_id"] in (hidden_item, own_item):
            view = man.get(f"/api/v1/projects/survey/tasks/{task['id']}")
            assert view.status_code == 200 and SECRET_CLASS not in view.text
            assert SECRET_MODEL not in view.text
            models = [a["author"] for a in view.json()["annotations"] if a["kind"] == "model"]
            assert models == ([] if task["item_id"] == hidden_item else ["model:flood-det@2"])
    dashboard = man.get("/api/v1/projects/survey/dashboard")
    assert dashboard.status_code == 200 and SECRET_MODEL not in dashboard.text
    assert {row["model"] for row in dashboard.json()["prelabels"]} == {"flood-det@2", "flood-det@1"}
