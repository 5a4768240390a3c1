"""Need-to-know: one denial test per API route, parametrised over the app's route table.

A new /api/v1 route without an entry in DENIALS fails `test_every_route_has_a_denial_test`.
Every response a denial test receives is scanned whole (`Scan`): no name, title, dataset,
instruction, item id or task reference of something above the caller may appear in any field.
A hidden project answers exactly as a missing one does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from denials_pages import PAGE_DENIALS
from picture_denials import (
    deny_picture_cot,
    deny_picture_entities,
    deny_picture_entity,
    deny_picture_lattice,
    deny_picture_stream,
)
from sensor_denials import deny_map_layers, deny_save_tracks, deny_video, deny_videos

from assay.server import Settings, create_app
from labeling_world import HIDDEN, PASSWORD, Client, World

MISSING = "flood-relief-2031"  # a project that does not exist


def _cid() -> str:
    return str(uuid.uuid4())


class Scan:
    """Every response of a test, checked for anything of the hidden project."""

    def __init__(self, world: World, refs: list[str] | None = None) -> None:
        self.secrets = [*HIDDEN.values(), *world.items["secret"], *(refs or [])]

    def __call__(self, r: Any) -> Any:
        body = r.text + " ".join(f"{k}: {v}" for k, v in r.headers.items())
        for s in self.secrets:
            assert s not in body, f"{s!r} leaked in {r.request.method} {r.request.url}"
        return r


def _same_as_missing(hidden: Any, missing: Any, name: str = HIDDEN["name"]) -> None:
    """A hidden project's answer is a missing project's, up to the name the caller sent
    (the API's JSON error, or a browser page's HTML error page)."""
    assert hidden.status_code == missing.status_code == 404
    if "text/html" in missing.headers["content-type"]:
        assert hidden.text.replace(name, "P") == missing.text.replace(MISSING, "P")
    else:
        assert hidden.json()["error"].replace(name, "P") == missing.json()["error"].replace(
            MISSING, "P"
        )
    drop = {"content-length", "date"}
    assert {k: v for k, v in hidden.headers.items() if k not in drop} == {
        k: v for k, v in missing.headers.items() if k not in drop
    }


def _hidden_refs(world: World, client: Client) -> list[str]:
    """root answers every task of the hidden project over the API; their references."""
    root, refs = client("root"), []
    while (r := root.post(f"/api/v1/projects/{HIDDEN['name']}/next")).status_code == 200:
        refs.append(r.json()["task_id"])
        body = {"client_id": _cid(), "regions": []}
        assert root.post(f"/api/v1/tasks/{refs[-1]}/submit", json=body).status_code == 200
    assert r.status_code == 204 and len(refs) == len(world.all_items)
    return refs


def _both(c: Any, method: str, path: str) -> None:
    hidden = c.request(method, path.format(p=HIDDEN["name"]))
    missing = c.request(method, path.format(p=MISSING))
    _same_as_missing(hidden, missing)


def deny_item(world: World, client: Client) -> None:
    scan, c = Scan(world), client("ana")
    secret = c.get(f"/api/v1/items/{world.items['secret'][0]}")
    missing = scan(c.get(f"/api/v1/items/{'0' * 64}"))
    assert secret.status_code == missing.status_code == 404
    assert scan(c.get(f"/api/v1/items/{world.items['cui'][0]}")).status_code == 200
    assert scan(client("low").get(f"/api/v1/items/{world.items['cui'][0]}")).status_code == 404


def deny_blob(world: World, client: Client) -> None:
    scan, c = Scan(world), client("ana")
    r = c.get(f"/api/v1/items/{world.items['secret'][0]}/blob")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert scan(c.get(f"/api/v1/items/{world.items['public'][0]}/blob")).status_code == 200


def deny_projects(world: World, client: Client) -> None:
    scan = Scan(world)
    seen = {
        name: [p["name"] for p in scan(client(name).get("/api/v1/projects")).json()]
        for name in ("low", "ana", "man")
    }
    assert seen == {"low": [], "ana": ["survey"], "man": ["survey"]}
    root = client("root").get("/api/v1/projects").json()
    assert [(p["name"], p["marking"], p["task_count"]) for p in root] == [
        (HIDDEN["name"], "SECRET/FLOOD/SAR", len(world.all_items)),
        ("survey", "CUI/FLOOD", 8),
    ]


def deny_project(world: World, client: Client) -> None:
    for name in ("ana", "man", "low"):
        _both(client(name), "GET", "/api/v1/projects/{p}")
    low = client("low")
    _same_as_missing(
        low.get("/api/v1/projects/survey"), low.get(f"/api/v1/projects/{MISSING}"), "survey"
    )
    ok = Scan(world)(client("ana").get("/api/v1/projects/survey")).json()
    assert ok["title"] == "Flood damage survey" and ok["marking"] == "CUI/FLOOD"


def deny_next(world: World, client: Client) -> None:
    refs = _hidden_refs(world, client)
    scan = Scan(world, refs)
    c = client("ana")
    _both(c, "POST", "/api/v1/projects/{p}/next")
    seen, got = [], []
    while (r := scan(c.post("/api/v1/projects/survey/next"))).status_code == 200:
        seen.append(r.json()["item"]["id"])
        got.append(r.json()["task_id"])
        c.post(f"/api/v1/tasks/{r.json()['task_id']}/skip", json={"client_id": _cid()})
    assert r.status_code == 204
    assert sorted(seen) == sorted(world.items["public"] + world.items["cui"])
    # Task references are opaque: 32 hex digits, no visible order, never a row number.
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in got + refs)
    assert got != sorted(got) or refs != sorted(refs)
    assert scan(client("low").post("/api/v1/projects/survey/next")).status_code == 404


def deny_submit(world: World, client: Client) -> None:
    refs = _hidden_refs(world, client)
    made_up = "0123456789abcdef" * 2
    c = client("ana")
    for action, body in (
        ("submit", {"client_id": _cid(), "regions": []}),
        ("skip", {"client_id": _cid()}),
    ):
        hidden = c.post(f"/api/v1/tasks/{refs[0]}/{action}", json=body)
        missing = c.post(f"/api/v1/tasks/{made_up}/{action}", json=body)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == {"error": f"no task {refs[0]}"}
        assert missing.json() == {"error": f"no task {made_up}"}
        assert c.post(f"/api/v1/tasks/17/{action}", json=body).json() == {"error": "no task 17"}


def deny_skip(world: World, client: Client) -> None:
    refs = _hidden_refs(world, client)
    r = client("ana").post(f"/api/v1/tasks/{refs[-1]}/skip", json={"client_id": _cid()})
    assert r.status_code == 404 and r.json() == {"error": f"no task {refs[-1]}"}


def deny_review(world: World, client: Client) -> None:
    refs = _hidden_refs(world, client)
    body = {"client_id": _cid(), "decision": "reject", "comment": "no"}
    r = client("rev").post(f"/api/v1/tasks/{refs[0]}/review", json=body)
    assert r.status_code == 404 and r.json() == {"error": f"no task {refs[0]}"}


def deny_review_next(world: World, client: Client) -> None:
    refs = _hidden_refs(world, client)
    scan = Scan(world, refs)
    ana = client("ana")
    while (r := ana.post("/api/v1/projects/survey/next")).status_code == 200:
        body = {"client_id": _cid(), "regions": []}
        ana.post(f"/api/v1/tasks/{r.json()['task_id']}/submit", json=body)
    c = client("rev")
    _both(c, "POST", "/api/v1/projects/{p}/review/next")
    seen = []
    while (r := scan(c.post("/api/v1/projects/survey/review/next"))).status_code == 200:
        data = r.json()
        seen.append(data["item"]["id"])
        ann = data["annotations"][0]["id"]
        body = {"client_id": _cid(), "decision": "accept", "annotation_id": ann}
        assert scan(c.post(f"/api/v1/tasks/{data['task_id']}/review", json=body)).status_code == 200
    assert r.status_code == 204
    assert sorted(seen) == sorted(world.items["public"] + world.items["cui"])


def deny_dashboard(world: World, client: Client) -> None:
    refs = _hidden_refs(world, client)
    scan = Scan(world, refs)
    _both(client("man"), "GET", "/api/v1/projects/{p}/dashboard")
    man = scan(client("man").get("/api/v1/projects/survey/dashboard")).json()
    assert man["tasks"] == 8
    root = client("root").get(f"/api/v1/projects/{HIDDEN['name']}/dashboard").json()
    assert root["tasks"] == len(world.all_items)


def _session(world: World) -> tuple[object, dict[str, str]]:
    from fastapi.testclient import TestClient

    c = TestClient(create_app(Settings(), world.ws))
    r = c.post("/api/v1/auth/login", json={"username": "low", "password": PASSWORD})
    return c, {"X-CSRF-Token": r.json()["csrf_token"]}


def deny_login(world: World, client: Client) -> None:
    c = client(None)
    r = Scan(world)(c.post("/api/v1/auth/login", json={"username": "low", "password": PASSWORD}))
    assert r.status_code == 200 and r.json()["clearance"] == "UNCLASSIFIED"


def deny_logout(world: World, client: Client) -> None:
    c, headers = _session(world)
    r = Scan(world)(c.post("/api/v1/auth/logout", headers=headers))  # type: ignore[attr-defined]
    assert r.status_code == 200
    assert c.get("/api/v1/me").status_code == 401  # type: ignore[attr-defined]


def deny_me(world: World, client: Client) -> None:
    r = Scan(world)(client("low").get("/api/v1/me"))
    assert r.json()["clearance"] == "UNCLASSIFIED"


def deny_history(world: World, client: Client) -> None:
    refs = _hidden_refs(world, client)
    scan = Scan(world, refs)
    root = client("root").get(f"/api/v1/projects/{HIDDEN['name']}/mine").json()
    assert sorted(t["task_id"] for t in root["history"]) == sorted(refs)
    assert root["submitted"] == root["tasks"] == len(world.all_items)
    _both(client("ana"), "GET", "/api/v1/projects/{p}/mine")
    ana = scan(client("ana").get("/api/v1/projects/survey/mine")).json()
    assert (ana["tasks"], ana["submitted"], ana["history"]) == (8, 0, [])


def deny_my_answer(world: World, client: Client) -> None:
    refs = _hidden_refs(world, client)
    mine = client("root").get(f"/api/v1/tasks/{refs[0]}/mine")
    assert mine.status_code == 200 and mine.json()["task_id"] == refs[0]
    # nobody reads another annotator's answer: the same 404 as for a task that never was
    made_up = "0123456789abcdef" * 2
    for name in ("ana", "man"):
        r = client(name).get(f"/api/v1/tasks/{refs[0]}/mine")
        assert r.status_code == 404 and r.json() == {"error": f"no task {refs[0]}"}
    r = client("ana").get(f"/api/v1/tasks/{made_up}/mine")
    assert r.status_code == 404 and r.json() == {"error": f"no task {made_up}"}


def deny_amend(world: World, client: Client) -> None:
    refs = _hidden_refs(world, client)
    body = {"client_id": _cid(), "regions": []}
    r = client("ana").post(f"/api/v1/tasks/{refs[0]}/amend", json=body)
    assert r.status_code == 404 and r.json() == {"error": f"no task {refs[0]}"}
    ok = client("root").post(f"/api/v1/tasks/{refs[0]}/amend", json=body)
    assert ok.status_code == 200 and ok.json()["task_id"] == refs[0]


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
    ("GET", "/api/v1/projects/{project}/mine"): deny_history,
    ("GET", "/api/v1/tasks/{task_id}/mine"): deny_my_answer,
    ("POST", "/api/v1/tasks/{task_id}/amend"): deny_amend,
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
    ("GET", "/api/v1/projects/{project}/videos"): deny_videos,
    ("GET", "/api/v1/projects/{project}/videos/{video_id}"): deny_video,
    ("POST", "/api/v1/projects/{project}/videos/{video_id}/tracks"): deny_save_tracks,
    ("GET", "/api/v1/map/layers"): deny_map_layers,
    ("GET", "/api/v1/pictures/{name}/entities"): deny_picture_entities,
    ("GET", "/api/v1/pictures/{name}/entities/{entity_id}"): deny_picture_entity,
    ("GET", "/api/v1/pictures/{name}/lattice"): deny_picture_lattice,
    ("GET", "/api/v1/pictures/{name}/cot"): deny_picture_cot,
    ("GET", "/api/v1/pictures/{name}/stream"): deny_picture_stream,
    **PAGE_DENIALS,  # the data manager and the explorer
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


@pytest.mark.parametrize("page", ["label", "review", "dashboard"])
def test_pages_of_a_hidden_project_answer_as_missing(
    page: str, world: World, client: Client
) -> None:
    """The page shells, `<title>` included, give nothing of a project above the caller."""
    from fastapi.testclient import TestClient

    c = TestClient(create_app(Settings(), world.ws))
    c.post("/api/v1/auth/login", json={"username": "man", "password": PASSWORD})
    hidden = c.get(f"/{page}/{HIDDEN['name']}")
    missing = c.get(f"/{page}/{MISSING}")
    _same_as_missing(hidden, missing)
    shown = c.get(f"/{page}/survey")
    assert shown.status_code == 200 and "<title>" in shown.text
