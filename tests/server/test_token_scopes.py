"""API token scopes: every route has one, a token reaches only its scopes' routes.

A new route of the labeling server (API or page) or of `assay serve-model` without an entry in
`assay.server.token_scopes` fails `test_every_route_has_a_token_scope`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from assay import Workspace
from assay.labeling import create_token
from assay.models._llm import Batcher, LanguageModel
from assay.server import Settings, create_app
from assay.server.openai_api import ServedModel, create_llm_app
from assay.server.pages import router as pages_router
from assay.server.sensor_pages import router as sensor_pages_router
from assay.server.token_scopes import API_SCOPES, MODEL_SCOPES, PAGE_SCOPES
from assay.store.schema import audit
from labeling_world import SCHEMA_YAML, World
from llm_world import build_tiny_llama

pytestmark = pytest.mark.xdist_group("token-scopes")


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanguageModel]:
    yield LanguageModel(build_tiny_llama(tmp_path_factory.mktemp("lm") / "tiny", context=64))


def _model_app(ws: Workspace, lm: LanguageModel) -> tuple[Any, Batcher]:
    batcher = Batcher(lm, max_batch=2)
    served = ServedModel("tiny@1", ("tiny",), ws.scheme.parse("UNCLASSIFIED"), batcher, 0)
    return create_llm_app(ws, served), batcher


def _routes(app: Any, prefix: str = "") -> list[tuple[str, str]]:
    return sorted(
        (method, path)
        for path, ops in app.openapi()["paths"].items()
        for method in (m.upper() for m in ops)
        if path.startswith(prefix)
    )


def test_every_route_has_a_token_scope(tmp_path: Path, tiny_llm: LanguageModel) -> None:
    ws = Workspace.init(tmp_path / "ws")
    app = create_app(Settings(), ws)
    api = _routes(app, "/api/v1")
    pages = sorted(
        (m, r.path)
        for r in (*pages_router.routes, *sensor_pages_router.routes)
        for m in (r.methods if isinstance(r, APIRoute) else ())
    )
    assert len(pages) >= 12
    model_app, batcher = _model_app(ws, tiny_llm)
    try:
        model = _routes(model_app)
    finally:
        batcher.close()
        ws.close()
    for routes, table in ((api, API_SCOPES), (pages, PAGE_SCOPES), (model, MODEL_SCOPES)):
        missing = [r for r in routes if r not in table]
        assert not missing, f"routes without a token scope: {missing}"
        stale = [r for r in table if r not in routes]
        assert not stale, f"token scopes of routes that do not exist: {stale}"
    # The app maps each route's endpoint to its scope: every one of them was found.
    assert len(app.state.token_scopes) == len(API_SCOPES) + len(PAGE_SCOPES)
    assert len(model_app.state.token_scopes) == len(MODEL_SCOPES)


def _scoped(world: World, name: str, *scopes: str, app: Any = None) -> TestClient:
    c = TestClient(app or create_app(Settings(), world.ws))
    c.headers["Authorization"] = f"Bearer {create_token(world.ws, name, scopes=scopes)}"
    return c


def _denials(ws: Workspace) -> list[tuple[str, str, dict[str, Any]]]:
    with ws.db.read() as conn:
        rows = conn.execute(
            select(audit.c.actor, audit.c.target, audit.c.details)
            .where(audit.c.action == "token.denied")
            .order_by(audit.c.seq)
        ).all()
    return [(r.actor, r.target, json.loads(r.details)) for r in rows]


def _answers(ws: Workspace) -> int:
    with ws.db.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM annotations")).scalar_one())


def test_a_read_token_reads_but_may_not_submit(world: World) -> None:
    app = create_app(Settings(), world.ws)
    full = TestClient(app)
    full.headers["Authorization"] = f"Bearer {create_token(world.ws, 'ana')}"
    task = full.post("/api/v1/projects/survey/next").json()["task_id"]
    reader = _scoped(world, "ana", "read", app=app)
    assert reader.get("/api/v1/projects").json()[0]["name"] == "survey"
    assert reader.get("/api/v1/me").json()["name"] == "ana"
    before = _answers(world.ws)
    r = reader.post(f"/api/v1/tasks/{task}/submit", json={"client_id": str(uuid.uuid4())})
    assert r.status_code == 403
    assert r.json()["error"] == (
        "this API token (scopes: read) may not call POST /api/v1/tasks/{task_id}/submit: it "
        "needs the 'label' scope; an admin makes one with `assay token create USER --scope "
        "SCOPE`"
    )
    assert _answers(world.ws) == before
    [(actor, target, details)] = _denials(world.ws)
    assert (actor, target) == ("user:ana", "route:POST /api/v1/tasks/{task_id}/submit")
    assert details["needs"] == "label" and details["scopes"] == "read"
    # The whole role (no scopes given) submits, as every token did before scopes.
    ok = full.post(f"/api/v1/tasks/{task}/submit", json={"client_id": str(uuid.uuid4())})
    assert ok.status_code == 200


def test_a_label_token_labels_but_may_not_create_a_project(world: World) -> None:
    labeler = _scoped(world, "man", "label", "read")
    task = labeler.post("/api/v1/projects/survey/next").json()["task_id"]
    body = {"client_id": str(uuid.uuid4()), "regions": []}
    assert labeler.post(f"/api/v1/tasks/{task}/submit", json=body).status_code == 200
    new = {"name": "levee-check", "dataset": "flood", "schema_yaml": SCHEMA_YAML}
    r = labeler.post("/api/v1/projects", json=new)
    assert r.status_code == 403 and "needs the 'manage' scope" in r.json()["error"]
    assert "levee-check" not in [p["name"] for p in labeler.get("/api/v1/projects").json()]
    # The same user's manage token creates it: the refusal was the scope's, not the role's.
    manager = _scoped(world, "man", "manage")
    assert manager.post("/api/v1/projects", json=new).status_code == 200


def test_a_scope_never_grants_more_than_the_role(world: World) -> None:
    ana = _scoped(world, "ana", "manage", "review")
    new = {"name": "levee-check", "dataset": "flood", "schema_yaml": SCHEMA_YAML}
    r = ana.post("/api/v1/projects", json=new)
    assert r.status_code == 403 and "annotator" in r.json()["error"]
    r = ana.post("/api/v1/projects/survey/review/next")
    assert r.status_code == 403 and "needs the reviewer role" in r.json()["error"]
    assert _denials(world.ws) == []  # role refusals, not scope refusals


def test_pages_need_read_and_sessions_are_not_scoped(world: World) -> None:
    from labeling_world import PASSWORD

    server = _scoped(world, "man", "serve")
    r = server.get("/dashboard/survey", headers={"Accept": "text/html"})
    assert r.status_code == 403 and "needs the &#39;read&#39; scope" in r.text
    assert len(_denials(world.ws)) == 1
    reader = _scoped(world, "man", "read")
    assert reader.get("/dashboard/survey", headers={"Accept": "text/html"}).status_code == 200
    browser = TestClient(create_app(Settings(), world.ws))
    csrf = browser.post("/api/v1/auth/login", json={"username": "man", "password": PASSWORD})
    new = {"name": "levee-check", "dataset": "flood", "schema_yaml": SCHEMA_YAML}
    headers = {"X-CSRF-Token": csrf.json()["csrf_token"]}
    assert browser.post("/api/v1/projects", json=new, headers=headers).status_code == 200


def test_any_token_may_log_itself_out(world: World) -> None:
    server = _scoped(world, "ana", "serve")
    assert server.post("/api/v1/auth/logout").json() == {"logged_out": True, "token_revoked": True}
    assert server.get("/api/v1/me").status_code == 401


def test_a_serve_token_calls_the_model_but_may_not_list_datasets(
    world: World, tiny_llm: LanguageModel
) -> None:
    model_app, batcher = _model_app(world.ws, tiny_llm)
    try:
        token = create_token(world.ws, "rev", scopes=["serve"])
        auth = {"Authorization": f"Bearer {token}"}
        with TestClient(model_app) as llm:
            assert [m["id"] for m in llm.get("/v1/models", headers=auth).json()["data"]] == [
                "tiny@1"
            ]
            body = {"model": "tiny", "prompt": "the river", "max_tokens": 3, "temperature": 0}
            r = llm.post("/v1/completions", json=body, headers=auth)
            assert r.status_code == 200 and r.json()["model"] == "tiny@1"
            reader = {"Authorization": f"Bearer {create_token(world.ws, 'rev', scopes=['read'])}"}
            r = llm.post("/v1/completions", json=body, headers=reader)
            assert r.status_code == 403
            assert r.json()["error"]["code"] == "insufficient_scope"
            assert "needs the 'serve' scope" in r.json()["error"]["message"]
    finally:
        batcher.close()
    labeling = TestClient(create_app(Settings(), world.ws))
    r = labeling.get("/api/v1/datasets", headers=auth)
    assert r.status_code == 403 and "needs the 'read' scope" in r.json()["error"]
    assert [(t, d["needs"]) for _, t, d in _denials(world.ws)] == [
        ("route:POST /v1/completions", "serve"),
        ("route:GET /api/v1/datasets", "read"),
    ]


def test_tokens_made_over_the_api_carry_scopes_and_unknown_ones_are_named(
    world: World,
) -> None:
    root = _scoped(world, "root", "manage", "read")
    r = root.post("/api/v1/users/ana/tokens", json={"label": "export", "scopes": ["read"]})
    assert r.status_code == 200 and r.json()["scopes"] == ["read"]
    r = root.post("/api/v1/users/ana/tokens", json={"label": "everything"})
    assert r.json()["scopes"] == ["all"]
    r = root.post("/api/v1/users/ana/tokens", json={"scopes": ["read", "write"]})
    assert r.status_code == 422
    assert r.json()["error"] == (
        "unknown token scope 'write'; the scopes are: read, label, review, manage, serve "
        "(or all, the default)"
    )
    listed = {t["label"]: t["scopes"] for t in root.get("/api/v1/tokens").json()}
    assert listed["export"] == ["read"] and listed["everything"] == ["all"]
    assert listed[""] == ["read", "manage"]  # root's own, in the scopes' order


def test_cli_scopes_list_and_usage_errors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    cli("init", ws)
    w = ["-w", ws]
    cli(*w, "user", "add", "ana", "--role", "annotator", "--password", "flood-watch-2026")
    made = cli(*w, "token", "create", "ana", "--scope", "label,read", "--json").json()
    assert made["scopes"] == ["read", "label"]
    cli(*w, "token", "create", "ana", "--scope", "serve", "--scope", "read", "--label", "llm")
    cli(*w, "token", "create", "ana", "--label", "old-style")
    listed = {t["label"]: t["scopes"] for t in cli(*w, "token", "list", "--json").json()}
    assert listed == {"": ["read", "label"], "llm": ["read", "serve"], "old-style": ["all"]}
    table = cli(*w, "token", "list").stdout
    assert "scopes" in table and "read,label" in table and "all" in table
    res = cli(*w, "token", "create", "ana", "--scope", "read,export", code=2)
    assert "unknown token scope 'export'" in res.stderr
    assert "read, label, review, manage, serve" in res.stderr
    res = cli(*w, "token", "create", "ana", "--scope", "all,read", code=2)
    assert "'all' stands alone" in res.stderr
    assert cli(*w, "audit", "verify", "--json").json()["ok"]


def test_old_tokens_migrate_to_all_and_a_widened_scope_is_caught(tmp_path: Path) -> None:
    from assay.labeling import add_user
    from assay.labeling.users import user_for_token

    w = Workspace.init(tmp_path / "ws")
    add_user(w, "ana", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    old = create_token(w, "ana", "before scopes")
    # A workspace of the release before scopes (on either database): no column at all.
    with w.db.begin() as conn:
        conn.execute(text("ALTER TABLE api_tokens DROP COLUMN scopes"))
        conn.execute(text("UPDATE meta SET value = '13' WHERE key = 'schema_version'"))
    w.close()
    w = Workspace.open(tmp_path / "ws")
    try:
        user = user_for_token(w, old)
        assert user is not None and user.scopes is None
        from assay.labeling.accounts import list_tokens

        assert [t.scopes for t in list_tokens(w, "ana")] == ["all"]
        narrow = create_token(w, "ana", "narrow", scopes=["read"])
        assert w.audit_verify().ok
        # Widened behind assay's back: the replayed trail says read.
        with w.db.begin() as conn:
            conn.execute(text("UPDATE api_tokens SET scopes = 'all' WHERE label = 'narrow'"))
        report = w.audit_verify()
        assert any("has scopes 'all'; the trail says 'read'" in s for s in report.state)
        assert user_for_token(w, narrow) is not None
    finally:
        w.close()


def test_the_openapi_document_states_each_operations_scope(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    try:
        doc = create_app(Settings(), ws).openapi()
    finally:
        ws.close()
    stated = {
        (m.upper(), p): op.get("x-token-scope")
        for p, ops in doc["paths"].items()
        for m, op in ops.items()
        if p.startswith("/api/v1")
    }
    assert stated == API_SCOPES
