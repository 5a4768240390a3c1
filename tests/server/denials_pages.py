"""Need-to-know denials of the data manager's and the explorer's routes (see
test_need_to_know.py, which runs each): a viewer below a project's or dataset's marking
gets the answer a missing one gets, and nothing is written."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import func, select

from assay.labeling import next_task, submit
from assay.store.schema import projects, tasks
from assay.versioning import LabelRecord
from labeling_world import Client, World, box

PUBLIC_ONLY = "name~scene_0*"


def _answer_all(world: World) -> list[int]:
    root = world.users["root"]
    done = []
    while (lease := next_task(world.ws, root, world.project)) is not None:
        submit(world.ws, root, lease.task_id, str(uuid.uuid4()), [box(1, 1, 6, 6)])
        done.append(lease.task_id)
    return done


def _hidden_like_missing(c: object, real: str, missing: str) -> None:
    a = c.get(real)  # type: ignore[attr-defined]
    b = c.get(missing)  # type: ignore[attr-defined]
    assert a.status_code == b.status_code == 404
    assert a.json()["error"].replace(real.split("/")[4], "X") == b.json()["error"].replace(
        missing.split("/")[4], "X"
    )


def _labelled_flood(world: World) -> None:
    ids = world.all_items
    world.ws.set_labels("flood", [LabelRecord(i, [box(1, 1, 6, 6)]) for i in ids])
    world.ws.commit("flood", "boxes")
    world.ws.set_labels("flood", [LabelRecord(ids[0], [box(1, 1, 6, 6, "vehicle")])])


def deny_task_list(world: World, client: Client) -> None:
    _hidden_like_missing(
        client("man"), "/api/v1/projects/survey/tasks", "/api/v1/projects/nope/tasks"
    )
    assert client("ana").get("/api/v1/projects/survey/tasks").status_code == 403
    root = client("root").get("/api/v1/projects/survey/tasks").json()
    assert root["total"] == 9 and "SECRET/SAR" in root["facets"]["markings"]


def deny_task_view(world: World, client: Client) -> None:
    task = _answer_all(world)[0]
    _hidden_like_missing(
        client("man"),
        f"/api/v1/projects/survey/tasks/{task}",
        f"/api/v1/projects/nope/tasks/{task}",
    )
    r = client("root").get(f"/api/v1/projects/survey/tasks/{task}")
    assert r.status_code == 200 and r.json()["annotations"][0]["author"] == "user:root"
    assert client("root").get("/api/v1/projects/survey/tasks/999999").status_code == 404


def deny_bulk(world: World, client: Client) -> None:
    done = _answer_all(world)
    body = {"action": "review", "task_ids": done}
    r = client("man").post("/api/v1/projects/survey/tasks/bulk", json=body)
    assert r.status_code == 404
    with world.ws.db.read() as conn:
        pending = conn.execute(
            select(func.count()).select_from(tasks).where(tasks.c.review == "pending")
        ).scalar_one()
    assert pending == 9  # review="all" put them there; the refused request changed nothing
    r = client("root").post("/api/v1/projects/survey/tasks/bulk", json={**body, "action": "reset"})
    assert r.status_code == 200 and sorted(r.json()["applied"]) == sorted(done)


def deny_create_project(world: World, client: Client) -> None:
    world.ws.create_dataset("pub")
    world.ws.add_items("pub", PUBLIC_ONLY)
    yaml = "controls: [{name: label, type: boxes, labels: [building]}]"
    body = {"name": "p", "dataset": "flood", "schema_yaml": yaml}
    hidden = client("man").post("/api/v1/projects", json=body)
    missing = client("man").post("/api/v1/projects", json={**body, "dataset": "nope"})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"].replace("flood", "X") == missing.json()["error"].replace(
        "nope", "X"
    )
    with world.ws.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(projects)).scalar_one() == 1
    ok = client("man").post("/api/v1/projects", json={**body, "dataset": "pub"})
    assert ok.status_code == 200 and ok.json()["name"] == "p"
    assert client("ana").post("/api/v1/projects", json={**body, "name": "q"}).status_code == 403


def deny_datasets(world: World, client: Client) -> None:
    world.ws.create_dataset("pub")
    world.ws.add_items("pub", PUBLIC_ONLY)
    man = client("man").get("/api/v1/datasets")
    assert [d["name"] for d in man.json()] == ["pub"] and "SAR" not in man.text
    assert [d["name"] for d in client("root").get("/api/v1/datasets").json()] == ["flood", "pub"]


def deny_schema_preview(world: World, client: Client) -> None:
    body = {"yaml": "controls: [{name: label, type: boxes, labels: [building]}]"}
    assert client("ana").post("/api/v1/schema/preview", json=body).status_code == 403
    r = client("man").post("/api/v1/schema/preview", json=body)
    assert r.status_code == 200 and r.json()["controls"][0]["labels"][0]["name"] == "building"


def deny_users(world: World, client: Client) -> None:
    man = client("man").get("/api/v1/users")
    assert [u["name"] for u in man.json()] == ["ana", "low", "man", "rev"]
    assert "SAR" not in man.text and "root" not in man.text
    assert len(client("root").get("/api/v1/users").json()) == 5


def deny_add_user(world: World, client: Client) -> None:
    body = {"name": "sam", "role": "annotator", "clearance": "SECRET/SAR", "password": "x" * 12}
    r = client("man").post("/api/v1/users", json=body)
    assert r.status_code == 403 and "SAR" not in r.json()["error"]
    r = client("man").post("/api/v1/users", json={**body, "role": "manager", "clearance": "CUI"})
    assert r.status_code == 403
    ok = client("man").post("/api/v1/users", json={**body, "clearance": "CUI/FLOOD"})
    assert ok.status_code == 200 and ok.json()["clearance"] == "CUI/FLOOD"


def deny_explore(world: World, client: Client) -> None:
    _labelled_flood(world)
    _hidden_like_missing(client("man"), "/api/v1/explore/flood", "/api/v1/explore/nope")
    assert client("low").get("/api/v1/explore/flood").status_code == 403
    r = client("root").get("/api/v1/explore/flood", params={"rev": "HEAD"})
    assert r.json()["total"] == 9


def deny_explore_item(world: World, client: Client) -> None:
    _labelled_flood(world)
    item = world.items["public"][0]
    _hidden_like_missing(
        client("man"), f"/api/v1/explore/flood/items/{item}", f"/api/v1/explore/nope/items/{item}"
    )
    r = client("root").get(f"/api/v1/explore/flood/items/{item}")
    assert r.status_code == 200 and r.json()["item"]["id"] == item


def deny_explore_diff(world: World, client: Client) -> None:
    _labelled_flood(world)
    _hidden_like_missing(
        client("man"), "/api/v1/explore/flood/diff?a=HEAD", "/api/v1/explore/nope/diff?a=HEAD"
    )
    r = client("root").get("/api/v1/explore/flood/diff", params={"a": "HEAD"})
    assert r.json()["total"] == 1


def deny_explore_runs(world: World, client: Client) -> None:
    _hidden_like_missing(client("man"), "/api/v1/explore/flood/runs", "/api/v1/explore/nope/runs")
    assert client("root").get("/api/v1/explore/flood/runs").json() == []


def deny_thumb(world: World, client: Client) -> None:
    c = client("ana")
    secret = c.get(f"/api/v1/items/{world.items['secret'][0]}/thumb")
    missing = c.get(f"/api/v1/items/{'0' * 64}/thumb")
    assert secret.status_code == missing.status_code == 404
    ok = c.get(f"/api/v1/items/{world.items['public'][0]}/thumb")
    assert ok.status_code == 200 and ok.content[:2] == b"\xff\xd8"


PAGE_DENIALS: dict[tuple[str, str], Callable[[World, Client], None]] = {
    ("GET", "/api/v1/projects/{project}/tasks"): deny_task_list,
    ("GET", "/api/v1/projects/{project}/tasks/{task_id}"): deny_task_view,
    ("POST", "/api/v1/projects/{project}/tasks/bulk"): deny_bulk,
    ("POST", "/api/v1/projects"): deny_create_project,
    ("GET", "/api/v1/datasets"): deny_datasets,
    ("POST", "/api/v1/schema/preview"): deny_schema_preview,
    ("GET", "/api/v1/users"): deny_users,
    ("POST", "/api/v1/users"): deny_add_user,
    ("GET", "/api/v1/explore/{dataset}"): deny_explore,
    ("GET", "/api/v1/explore/{dataset}/items/{item_id}"): deny_explore_item,
    ("GET", "/api/v1/explore/{dataset}/diff"): deny_explore_diff,
    ("GET", "/api/v1/explore/{dataset}/runs"): deny_explore_runs,
    ("GET", "/api/v1/items/{item_id}/thumb"): deny_thumb,
}
