"""Need-to-know denials of the data manager's and the explorer's routes (see
test_need_to_know.py, which runs each): a viewer below a project's or dataset's marking
gets exactly the answer a missing one gets, and nothing is written.

The hidden project is the world's `sar-ops` over dataset `sar-sweep` (SECRET/SAR);
`man` (manager, CUI/FLOOD) may know `survey` over `flood` only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from assay.store.schema import projects, tasks
from assay.versioning import LabelRecord
from labeling_world import HIDDEN, Client, World, box

MISSING = "flood-relief-2031"  # neither a project nor a dataset
SAR, SWEEP = HIDDEN["name"], HIDDEN["dataset"]
YAML = "controls: [{name: label, type: boxes, labels: [building]}]"


def _clean(r: Any) -> Any:
    for s in HIDDEN.values():
        assert s not in r.text, f"{s!r} leaked in {r.request.url}"
    return r


def _like_missing(c: Any, path: str, hidden: str, method: str = "GET", **kw: Any) -> None:
    """`path` naming `hidden` answers as it does naming a missing project or dataset."""
    a = c.request(method, path.format(hidden), **kw)
    b = c.request(method, path.format(MISSING), **kw)
    assert a.status_code == b.status_code == 404
    assert a.json()["error"].replace(hidden, "X") == b.json()["error"].replace(MISSING, "X")


def _sar_refs(client: Client) -> list[str]:
    """root answers every task of the hidden project over the API; their references."""
    root, refs = client("root"), []
    while (r := root.post(f"/api/v1/projects/{SAR}/next")).status_code == 200:
        refs.append(r.json()["task_id"])
        body = {"client_id": str(uuid.uuid4()), "regions": [box(1, 1, 6, 6).model_dump()]}
        assert root.post(f"/api/v1/tasks/{refs[-1]}/submit", json=body).status_code == 200
    return refs


def _labelled(world: World, dataset: str, ids: list[str]) -> None:
    world.ws.set_labels(dataset, [LabelRecord(i, [box(1, 1, 6, 6)]) for i in ids])
    world.ws.commit(dataset, "boxes")
    world.ws.set_labels(dataset, [LabelRecord(ids[0], [box(1, 1, 6, 6, "vehicle")])])


def deny_task_list(world: World, client: Client) -> None:
    _like_missing(client("man"), "/api/v1/projects/{}/tasks", SAR)
    assert client("low").get("/api/v1/projects/survey/tasks").status_code == 403
    man = _clean(client("man").get("/api/v1/projects/survey/tasks")).json()
    assert man["total"] == 8 and man["marking"] == "CUI/FLOOD"
    assert client("root").get(f"/api/v1/projects/{SAR}/tasks").json()["total"] == 9


def deny_task_view(world: World, client: Client) -> None:
    ref = _sar_refs(client)[0]
    man = client("man")
    _like_missing(man, "/api/v1/projects/{}/tasks/" + ref, SAR)
    r = man.get(f"/api/v1/projects/survey/tasks/{ref}")  # a real task, of another project
    assert r.status_code == 404 and r.json() == {"error": f"no task {ref}"}
    r = client("root").get(f"/api/v1/projects/{SAR}/tasks/{ref}")
    assert r.status_code == 200 and r.json()["task_id"] == ref
    assert r.json()["annotations"][0]["author"] == "user:root"


def deny_bulk(world: World, client: Client) -> None:
    refs = _sar_refs(client)
    body = {"action": "reset", "task_ids": refs}
    _like_missing(client("man"), "/api/v1/projects/{}/tasks/bulk", SAR, "POST", json=body)
    mine = client("man").get("/api/v1/projects/survey/tasks").json()["tasks"][0]["id"]
    r = client("man").post(
        "/api/v1/projects/survey/tasks/bulk", json={"action": "review", "task_ids": [mine, refs[0]]}
    )
    assert r.status_code == 404 and r.json() == {"error": f"no task {refs[0]}"}
    with world.ws.db.read() as conn:
        done = conn.execute(select(func.sum(tasks.c.done))).scalar_one()
    assert done == 9  # the refused requests changed nothing
    r = client("root").post(f"/api/v1/projects/{SAR}/tasks/bulk", json=body)
    assert r.status_code == 200 and sorted(r.json()["applied"]) == sorted(refs)


def deny_create_project(world: World, client: Client) -> None:
    body = {"name": "p", "dataset": SWEEP, "schema_yaml": YAML}
    hidden = client("man").post("/api/v1/projects", json=body)
    missing = client("man").post("/api/v1/projects", json={**body, "dataset": MISSING})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"].replace(SWEEP, "X") == missing.json()["error"].replace(
        MISSING, "X"
    )
    with world.ws.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(projects)).scalar_one() == 2
    ok = client("man").post("/api/v1/projects", json={**body, "dataset": "flood"})
    assert ok.status_code == 200 and ok.json()["name"] == "p"
    assert client("ana").post("/api/v1/projects", json={**body, "name": "q"}).status_code == 403


def deny_datasets(world: World, client: Client) -> None:
    man = _clean(client("man").get("/api/v1/datasets"))
    assert [d["name"] for d in man.json()] == ["flood"] and "SAR" not in man.text
    assert [d["name"] for d in client("root").get("/api/v1/datasets").json()] == ["flood", SWEEP]


def deny_schema_preview(world: World, client: Client) -> None:
    body = {"yaml": YAML}
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
    _labelled(world, SWEEP, world.all_items)
    _like_missing(client("man"), "/api/v1/explore/{}", SWEEP)
    assert client("low").get("/api/v1/explore/flood").status_code == 403
    assert client("man").get("/api/v1/explore/flood").json()["total"] == 8
    r = client("root").get(f"/api/v1/explore/{SWEEP}", params={"rev": "HEAD"})
    assert r.json()["total"] == 9 and r.json()["marking"] == "SECRET/FLOOD/SAR"


def deny_explore_item(world: World, client: Client) -> None:
    _labelled(world, SWEEP, world.all_items)
    item = world.items["public"][0]
    _like_missing(client("man"), "/api/v1/explore/{}/items/" + item, SWEEP)
    r = client("root").get(f"/api/v1/explore/{SWEEP}/items/{item}")
    assert r.status_code == 200 and r.json()["item"]["id"] == item


def deny_explore_diff(world: World, client: Client) -> None:
    _labelled(world, SWEEP, world.all_items)
    _like_missing(client("man"), "/api/v1/explore/{}/diff?a=HEAD", SWEEP)
    r = client("root").get(f"/api/v1/explore/{SWEEP}/diff", params={"a": "HEAD"})
    assert r.json()["total"] == 1


def deny_explore_runs(world: World, client: Client) -> None:
    _like_missing(client("man"), "/api/v1/explore/{}/runs", SWEEP)
    assert client("root").get(f"/api/v1/explore/{SWEEP}/runs").json() == []


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
