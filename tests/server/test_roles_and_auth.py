"""Roles, sessions, CSRF, tokens and login rate limiting over HTTP."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from assay import Workspace
from assay.server import Settings, create_app
from labeling_world import PASSWORD, Client, World

ROLE_OF = {"ana": "annotator", "rev": "reviewer", "man": "manager", "root": "admin"}

# (method, path, role -> expected status); {p} is the project.
MATRIX = [
    ("GET", "/api/v1/projects", {"annotator": 200, "reviewer": 200, "manager": 200, "admin": 200}),
    (
        "POST",
        "/api/v1/projects/{p}/next",
        {"annotator": 200, "reviewer": 200, "manager": 200, "admin": 200},
    ),
    (
        "POST",
        "/api/v1/projects/{p}/review/next",
        {"annotator": 403, "reviewer": 204, "manager": 204, "admin": 204},
    ),
    (
        "GET",
        "/api/v1/projects/{p}/dashboard",
        {"annotator": 403, "reviewer": 403, "manager": 200, "admin": 200},
    ),
    ("GET", "/label/{p}", {"annotator": 200, "reviewer": 200, "manager": 200, "admin": 200}),
    ("GET", "/review/{p}", {"annotator": 403, "reviewer": 200, "manager": 200, "admin": 200}),
    ("GET", "/dashboard/{p}", {"annotator": 403, "reviewer": 403, "manager": 200, "admin": 200}),
]


@pytest.mark.parametrize("user", sorted(ROLE_OF))
def test_role_matrix(user: str, world: World, client: Client) -> None:
    c = client(user)
    for method, path, expected in MATRIX:
        r = c.request(method, path.format(p=world.project))
        assert r.status_code == expected[ROLE_OF[user]], (method, path, r.text)
        if r.status_code == 403:
            assert ROLE_OF[user] in r.json()["error"]


def test_anonymous_gets_401_on_the_api_and_a_login_redirect_on_pages(
    world: World, client: Client
) -> None:
    c = client(None)
    for method, path, _ in MATRIX:
        r = c.request(method, path.format(p=world.project), follow_redirects=False)
        if path.startswith("/api/"):
            assert r.status_code == 401 and "log in" in r.json()["error"]
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert c.get("/login").status_code == 200
    assert c.get("/api/v1/openapi.json").json()["info"]["title"] == "assay labeling API"


def test_a_bad_token_is_401(world: World, client: Client) -> None:
    c = client(None)
    r = c.get("/api/v1/projects", headers={"Authorization": "Bearer assay_nope"})
    assert r.status_code == 401


def test_session_cookie_needs_csrf_on_writes(world: World) -> None:
    c = TestClient(create_app(Settings(), world.ws))
    r = c.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    csrf = r.json()["csrf_token"]
    assert c.get("/api/v1/me").json()["csrf_token"] == csrf
    url = f"/api/v1/projects/{world.project}/next"
    assert c.post(url).status_code == 403
    assert c.post(url, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    ok = c.post(url, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    assert c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert c.get("/api/v1/me").status_code == 401


def test_login_rate_limit_per_user_and_address(world: World) -> None:
    c = TestClient(create_app(Settings(), world.ws))
    for _ in range(5):
        r = c.post("/api/v1/auth/login", json={"username": "ana", "password": "wrong-password"})
        assert r.status_code == 401
    r = c.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert r.status_code == 429 and "too many" in r.json()["error"]
    # Another user from the same address is not locked out.
    r = c.post("/api/v1/auth/login", json={"username": "man", "password": PASSWORD})
    assert r.status_code == 200
    failed = [e for e in world.ws.audit_log() if e.action == "login.failed"]
    assert len(failed) == 5


def test_validation_errors_are_json_422(world: World, client: Client) -> None:
    c = client("ana")
    r = c.post("/api/v1/tasks/1/submit", json={"regions": []})
    assert r.status_code == 422 and "client_id" in r.json()["error"]
    lease = c.post(f"/api/v1/projects/{world.project}/next").json()
    bad = {"kind": "choice", "control": "damage", "label": "flattened"}
    r = c.post(
        f"/api/v1/tasks/{lease['task_id']}/submit",
        json={"client_id": str(uuid.uuid4()), "regions": [bad]},
    )
    assert r.status_code == 422 and "flattened" in r.json()["error"]


def test_only_the_leaseholder_may_submit(world: World, client: Client) -> None:
    lease = client("ana").post(f"/api/v1/projects/{world.project}/next").json()
    r = client("man").post(
        f"/api/v1/tasks/{lease['task_id']}/submit",
        json={"client_id": str(uuid.uuid4()), "regions": []},
    )
    assert r.status_code == 404 and "not leased to man" in r.json()["error"]


def test_every_state_change_is_audited(world: World, client: Client) -> None:
    c = client("ana")
    lease = c.post(f"/api/v1/projects/{world.project}/next").json()
    c.post(f"/api/v1/tasks/{lease['task_id']}/submit", json={"client_id": "a1", "regions": []})
    nxt = c.post(f"/api/v1/projects/{world.project}/next").json()
    c.post(f"/api/v1/tasks/{nxt['task_id']}/skip", json={"client_id": "s1", "reason": "blurry"})
    actions = [e.action for e in world.ws.audit_log()]
    for action in (
        "user.add",
        "token.create",
        "project.create",
        "task.lease",
        "task.submit",
        "task.skip",
    ):
        assert action in actions
    assert world.ws.audit_verify().ok


def test_pages_render_with_the_user_in_context(ws: Workspace, world: World, client: Client) -> None:
    r = client("ana").get(f"/label/{world.project}")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert client("ana").get("/label/nope").status_code == 404


def test_a_reviewer_cannot_accept_their_own_answer_over_http(world: World, client: Client) -> None:
    c = client("rev")
    lease = c.post(f"/api/v1/projects/{world.project}/next").json()
    answer = {"client_id": "own-1", "regions": []}
    ann = c.post(f"/api/v1/tasks/{lease['task_id']}/submit", json=answer).json()["annotation_id"]
    assert c.post(f"/api/v1/projects/{world.project}/review/next").status_code == 204
    body = {"client_id": "own-2", "decision": "accept", "annotation_id": ann}
    r = c.post(f"/api/v1/tasks/{lease['task_id']}/review", json=body)
    assert r.status_code == 403 and "your own answer" in r.json()["error"]
    assert lease["task_id"] in r.json()["error"]  # named by its reference, not a row id
    other = client("man").post(f"/api/v1/projects/{world.project}/review/next").json()
    assert other["task_id"] == lease["task_id"]
