"""Need-to-know: one denial test per API route, parametrised over the app's route table.

A new /api/v1 route without an entry in DENIALS fails `test_every_route_has_a_denial_test`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from assay.labeling import next_task, submit
from assay.server import Settings, create_app
from labeling_world import PASSWORD, Client, World


def _cid() -> str:
    return str(uuid.uuid4())


def _secret_task(world: World) -> int:
    """Have root (cleared for everything) answer every task; return the SECRET item's task."""
    root = world.users["root"]
    secret = None
    while (lease := next_task(world.ws, root, world.project)) is not None:
        if lease.item["id"] in world.items["secret"]:
            secret = lease.task_id
        submit(world.ws, root, lease.task_id, _cid(), [])
    assert secret is not None
    return secret


def _no_secret_in(text: str, world: World) -> None:
    for item in world.items["secret"]:
        assert item not in text


def deny_item(world: World, client: Client) -> None:
    c = client("ana")
    secret = c.get(f"/api/v1/items/{world.items['secret'][0]}")
    missing = c.get(f"/api/v1/items/{'0' * 64}")
    assert secret.status_code == missing.status_code == 404
    assert c.get(f"/api/v1/items/{world.items['cui'][0]}").status_code == 200
    assert client("low").get(f"/api/v1/items/{world.items['cui'][0]}").status_code == 404


def deny_blob(world: World, client: Client) -> None:
    c = client("ana")
    r = c.get(f"/api/v1/items/{world.items['secret'][0]}/blob")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert c.get(f"/api/v1/items/{world.items['public'][0]}/blob").status_code == 200


def deny_projects(world: World, client: Client) -> None:
    counts = {
        name: client(name).get("/api/v1/projects").json()[0]["task_count"]
        for name in ("low", "ana", "root")
    }
    assert counts == {"low": 6, "ana": 8, "root": 9}


def deny_project(world: World, client: Client) -> None:
    r = client("low").get(f"/api/v1/projects/{world.project}")
    assert r.status_code == 200
    _no_secret_in(r.text, world)


def deny_next(world: World, client: Client) -> None:
    c = client("low")
    seen = []
    while (r := c.post(f"/api/v1/projects/{world.project}/next")).status_code == 200:
        seen.append(r.json()["item"]["id"])
        c.post(f"/api/v1/tasks/{r.json()['task_id']}/skip", json={"client_id": _cid()})
    assert r.status_code == 204
    assert sorted(seen) == sorted(world.items["public"])


def deny_submit(world: World, client: Client) -> None:
    task = _secret_task(world)
    r = client("ana").post(
        f"/api/v1/tasks/{task}/submit", json={"client_id": _cid(), "regions": []}
    )
    assert r.status_code == 404 and r.json()["error"] == f"no task {task}"


def deny_skip(world: World, client: Client) -> None:
    task = _secret_task(world)
    r = client("ana").post(f"/api/v1/tasks/{task}/skip", json={"client_id": _cid()})
    assert r.status_code == 404


def deny_review(world: World, client: Client) -> None:
    task = _secret_task(world)
    body = {"client_id": _cid(), "decision": "reject", "comment": "no"}
    assert client("rev").post(f"/api/v1/tasks/{task}/review", json=body).status_code == 404


def deny_review_next(world: World, client: Client) -> None:
    _secret_task(world)  # every task answered: all pending review
    c = client("rev")
    seen = []
    while (r := c.post(f"/api/v1/projects/{world.project}/review/next")).status_code == 200:
        data = r.json()
        seen.append(data["item"]["id"])
        ann = data["annotations"][0]["id"]
        body = {"client_id": _cid(), "decision": "accept", "annotation_id": ann}
        assert c.post(f"/api/v1/tasks/{data['task_id']}/review", json=body).status_code == 200
    assert r.status_code == 204 and seen
    assert not set(seen) & set(world.items["secret"])


def deny_dashboard(world: World, client: Client) -> None:
    _secret_task(world)
    man = client("man").get(f"/api/v1/projects/{world.project}/dashboard").json()
    root = client("root").get(f"/api/v1/projects/{world.project}/dashboard").json()
    assert (man["tasks"], root["tasks"]) == (8, 9)
    man_root = next(a for a in man["annotators"] if a["name"] == "root")
    root_root = next(a for a in root["annotators"] if a["name"] == "root")
    assert root_root["submitted"] == man_root["submitted"] + 1


def _session(world: World) -> tuple[object, dict[str, str]]:
    from fastapi.testclient import TestClient

    c = TestClient(create_app(Settings(), world.ws))
    r = c.post("/api/v1/auth/login", json={"username": "low", "password": PASSWORD})
    return c, {"X-CSRF-Token": r.json()["csrf_token"]}


def deny_login(world: World, client: Client) -> None:
    c = client(None)
    r = c.post("/api/v1/auth/login", json={"username": "low", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["clearance"] == "UNCLASSIFIED"
    _no_secret_in(r.text, world)


def deny_logout(world: World, client: Client) -> None:
    c, headers = _session(world)
    r = c.post("/api/v1/auth/logout", headers=headers)  # type: ignore[attr-defined]
    assert r.status_code == 200
    assert c.get("/api/v1/me").status_code == 401  # type: ignore[attr-defined]


def deny_me(world: World, client: Client) -> None:
    r = client("low").get("/api/v1/me")
    assert r.json()["clearance"] == "UNCLASSIFIED"
    _no_secret_in(r.text, world)


def _admin_only(method: str, path: str, body: dict[str, object] | None = None) -> Deny:
    """Below admin: 403 naming the role, nothing about the account, and nothing changed."""

    def deny(world: World, client: Client) -> None:
        before = client("root").get("/api/v1/users/root").json()
        for name in ("low", "ana", "rev", "man"):
            r = client(name).request(method, path.format(name="root"), json=body)
            assert r.status_code == 403 and "needs the admin role" in r.json()["error"], r.text
            assert "TOP SECRET" not in r.text and "SAR" not in r.text
        assert client("root").get("/api/v1/users/root").json() == before

    return deny


def deny_tokens(world: World, client: Client) -> None:
    client("man")
    mine = client("low").get("/api/v1/tokens").json()
    assert mine and {t["user"] for t in mine} == {"low"}


def deny_token_revoke(world: World, client: Client) -> None:
    man = client("man")
    theirs = man.get("/api/v1/tokens").json()[0]["id"]
    r = client("low").post(f"/api/v1/tokens/{theirs}/revoke")
    missing = client("low").post("/api/v1/tokens/feedfacefeed/revoke")
    assert r.status_code == missing.status_code == 404 and r.json().keys() == {"error"}
    assert man.get("/api/v1/me").status_code == 200


Deny = Callable[[World, Client], None]

DENIALS: dict[tuple[str, str], Deny] = {
    ("GET", "/api/v1/users"): _admin_only("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{name}"): _admin_only("GET", "/api/v1/users/{name}"),
    ("POST", "/api/v1/users/{name}/password"): _admin_only(
        "POST", "/api/v1/users/{name}/password", {"password": "taken-over-1"}
    ),
    ("POST", "/api/v1/users/{name}/disable"): _admin_only("POST", "/api/v1/users/{name}/disable"),
    ("POST", "/api/v1/users/{name}/enable"): _admin_only("POST", "/api/v1/users/{name}/enable"),
    ("POST", "/api/v1/users/{name}/role"): _admin_only(
        "POST", "/api/v1/users/{name}/role", {"role": "annotator"}
    ),
    ("POST", "/api/v1/users/{name}/clearance"): _admin_only(
        "POST", "/api/v1/users/{name}/clearance", {"clearance": "UNCLASSIFIED"}
    ),
    ("POST", "/api/v1/users/{name}/tokens"): _admin_only(
        "POST", "/api/v1/users/{name}/tokens", {"label": "x"}
    ),
    ("GET", "/api/v1/tokens"): deny_tokens,
    ("POST", "/api/v1/tokens/{token_id}/revoke"): deny_token_revoke,
    ("POST", "/api/v1/auth/login"): deny_login,
    ("POST", "/api/v1/auth/logout"): deny_logout,
    ("GET", "/api/v1/me"): deny_me,
    ("GET", "/api/v1/projects"): deny_projects,
    ("GET", "/api/v1/projects/{project}"): deny_project,
    ("POST", "/api/v1/projects/{project}/next"): deny_next,
    ("POST", "/api/v1/projects/{project}/review/next"): deny_review_next,
    ("GET", "/api/v1/projects/{project}/dashboard"): deny_dashboard,
    ("POST", "/api/v1/tasks/{task_id}/submit"): deny_submit,
    ("POST", "/api/v1/tasks/{task_id}/skip"): deny_skip,
    ("POST", "/api/v1/tasks/{task_id}/review"): deny_review,
    ("GET", "/api/v1/items/{item_id}"): deny_item,
    ("GET", "/api/v1/items/{item_id}/blob"): deny_blob,
}


def api_routes() -> list[tuple[str, str]]:
    from assay.workspace import Workspace

    # The OpenAPI document lists every API route, however routers are nested.
    app = create_app(Settings(), Workspace.__new__(Workspace))
    return sorted(
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if path.startswith("/api/v1")
    )


def test_every_route_has_a_denial_test() -> None:
    routes = api_routes()
    assert len(routes) >= len(DENIALS)
    missing = [r for r in routes if r not in DENIALS]
    assert not missing, f"routes without a need-to-know test: {missing}"


@pytest.mark.parametrize("route", sorted(DENIALS), ids=lambda r: f"{r[0]} {r[1]}")
def test_need_to_know(route: tuple[str, str], world: World, client: Client) -> None:
    assert route in api_routes()
    DENIALS[route](world, client)
