"""Issue 11, finding 4: tokens and users can be revoked, disabled and changed, at once.

Every change is made while the app serves, and the very next request sees it.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from assay.labeling import accounts, create_token
from labeling_world import PASSWORD, Client, World


def _bearer(app: object, token: str) -> TestClient:
    c = TestClient(app)  # type: ignore[arg-type]
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def test_revoking_a_token_counts_on_the_next_request(world: World, client: Client) -> None:
    app = client(None).app
    token = create_token(world.ws, "ana", "script")
    ana = _bearer(app, token)
    assert ana.get("/api/v1/me").status_code == 200
    [info] = [t for t in accounts.list_tokens(world.ws, "ana") if t.label == "script"]
    # Revoked outside the server (the CLI's service call): no cache hides it.
    accounts.revoke_token(world.ws, info.id)
    r = ana.get("/api/v1/me")
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    # And by an admin over HTTP.
    token2 = create_token(world.ws, "ana", "second")
    ana2 = _bearer(app, token2)
    assert ana2.get("/api/v1/me").status_code == 200
    root = client("root")
    listed = root.get("/api/v1/tokens").json()
    [second] = [t for t in listed if t["label"] == "second"]
    assert set(second) == {"id", "user", "label", "created", "expires", "revoked", "live", "scopes"}
    assert token2 not in str(listed)
    r = root.post(f"/api/v1/tokens/{second['id']}/revoke")
    assert r.status_code == 200 and r.json()["revoked"] is True
    assert ana2.get("/api/v1/me").status_code == 401
    actions = [(e.action, e.actor) for e in world.ws.audit_log()]
    assert ("token.revoke", "user:root") in actions and ("token.revoke", "user:tester") in actions
    assert world.ws.audit_verify().ok


def test_a_user_sees_and_revokes_only_their_own_tokens(world: World, client: Client) -> None:
    ana, man = client("ana"), client("man")
    mine = ana.get("/api/v1/tokens").json()
    assert mine and {t["user"] for t in mine} == {"ana"}
    theirs = man.get("/api/v1/tokens").json()[0]["id"]
    assert ana.post(f"/api/v1/tokens/{theirs}/revoke").status_code == 404
    assert man.get("/api/v1/me").status_code == 200
    assert ana.post(f"/api/v1/tokens/{mine[0]['id']}/revoke").status_code == 200
    assert ana.get("/api/v1/me").status_code == 401


def test_bearer_logout_revokes_that_token(world: World, client: Client) -> None:
    ana = client("ana")
    r = ana.post("/api/v1/auth/logout")
    assert r.status_code == 200 and r.json() == {"logged_out": True, "token_revoked": True}
    assert ana.get("/api/v1/me").status_code == 401
    assert ana.post(f"/api/v1/projects/{world.project}/next").status_code == 401
    listed = client("root").get("/api/v1/tokens").json()
    assert [t["revoked"] for t in listed if t["user"] == "ana"] == [True]
    revokes = [e for e in world.ws.audit_log() if e.action == "token.revoke"]
    assert [(e.actor, e.target) for e in revokes] == [("user:ana", "user:ana")]


def test_disable_and_enable_count_on_the_next_request(world: World, client: Client) -> None:
    app = client(None).app
    ana = client("ana")
    browser = TestClient(app)
    assert browser.post(
        "/api/v1/auth/login", json={"username": "ana", "password": PASSWORD}
    ).is_success
    assert browser.get("/api/v1/me").status_code == 200
    root = client("root")
    r = root.post("/api/v1/users/ana/disable")
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert ana.get("/api/v1/me").status_code == 401
    assert browser.get("/api/v1/me").status_code == 401  # the session ended
    r = browser.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert r.status_code == 401
    assert root.post("/api/v1/users/ana/enable").json()["disabled"] is False
    assert ana.get("/api/v1/me").status_code == 200  # tokens were not revoked, only suspended
    assert world.ws.audit_verify().ok


def test_role_and_clearance_changes_count_on_the_next_request(world: World, client: Client) -> None:
    ana, root = client("ana"), client("root")
    dash = f"/api/v1/projects/{world.project}/dashboard"
    assert ana.get(dash).status_code == 403
    r = root.post("/api/v1/users/ana/role", json={"role": "manager"})
    assert r.status_code == 200 and r.json()["role"] == "manager"
    assert ana.get(dash).status_code == 200
    assert ana.get("/api/v1/me").json()["clearance"] == "CUI/FLOOD"
    r = root.post("/api/v1/users/ana/clearance", json={"clearance": "UNCLASSIFIED"})
    assert r.json()["clearance"] == "UNCLASSIFIED"
    assert ana.get("/api/v1/me").json()["clearance"] == "UNCLASSIFIED"
    secret = world.items["cui"][0]
    assert ana.get(f"/api/v1/items/{secret}").status_code == 404
    assert root.post("/api/v1/users/ana/role", json={"role": "king"}).status_code == 422
    assert root.post("/api/v1/users/nobody/role", json={"role": "admin"}).status_code == 404
    events = {e.action: e.details for e in world.ws.audit_log()}
    assert events["user.set-role"] == {"old": "annotator", "new": "manager"}
    assert events["user.set-clearance"] == {"old": "CUI/FLOOD", "new": "UNCLASSIFIED"}
    assert world.ws.audit_verify().ok


def test_password_change_over_the_api(world: World, client: Client) -> None:
    app = client(None).app
    root = client("root")
    browser = TestClient(app)
    login = {"username": "ana", "password": PASSWORD}
    assert browser.post("/api/v1/auth/login", json=login).is_success
    r = root.post("/api/v1/users/ana/password", json={"password": "short"})
    assert r.status_code == 422 and "at least 8" in r.json()["error"]
    assert root.post("/api/v1/users/ana/password", json={"password": "rebuilt-levee-7"}).is_success
    assert browser.get("/api/v1/me").status_code == 401  # sessions end with the old password
    fresh = TestClient(app)
    assert fresh.post("/api/v1/auth/login", json=login).status_code == 401
    login["password"] = "rebuilt-levee-7"
    assert fresh.post("/api/v1/auth/login", json=login).status_code == 200
    passwd = next(e for e in world.ws.audit_log() if e.action == "user.passwd")
    assert passwd.actor == "user:root" and passwd.details["sessions_ended"] is True
    assert "rebuilt" not in str(passwd.details)


def test_only_admins_change_accounts(world: World, client: Client) -> None:
    man = client("man")
    for method, path, body in [
        ("GET", "/api/v1/users/ana", None),
        ("POST", "/api/v1/users/ana/disable", None),
        ("POST", "/api/v1/users/ana/role", {"role": "admin"}),
        ("POST", "/api/v1/users/man/role", {"role": "admin"}),
        ("POST", "/api/v1/users/ana/clearance", {"clearance": "SECRET"}),
        ("POST", "/api/v1/users/ana/password", {"password": "taken-over-1"}),
        ("POST", "/api/v1/users/ana/tokens", {"label": "x"}),
    ]:
        r = man.request(method, path, json=body)
        assert r.status_code == 403 and "admin role" in r.json()["error"], (path, r.text)
    assert client(None).get("/api/v1/users/ana").status_code == 401


def test_tokens_expire(world: World, client: Client) -> None:
    app = client(None).app
    root = client("root")
    r = root.post("/api/v1/users/ana/tokens", json={"label": "ci", "expires_days": 1})
    made = r.json()["token"]
    assert _bearer(app, made).get("/api/v1/me").status_code == 200
    listed = {t["label"]: t for t in root.get("/api/v1/tokens").json()}
    assert 86000 < listed["ci"]["expires"] - time.time() <= 86400
    brief = create_token(world.ws, "ana", "brief", expires_in=0.001)
    time.sleep(0.01)
    r = _bearer(app, brief).get("/api/v1/me")
    assert r.status_code == 401 and "expired" in r.json()["error"]
    forever = root.post("/api/v1/users/ana/tokens", json={"label": "svc", "expires_days": None})
    assert _bearer(app, forever.json()["token"]).get("/api/v1/me").status_code == 200
    assert root.post("/api/v1/users/ana/tokens", json={"expires_days": 0}).status_code == 422
    assert world.ws.audit_verify().ok


def test_default_token_lifetime_is_ninety_days(world: World) -> None:
    create_token(world.ws, "ana", "default")
    [t] = [t for t in accounts.list_tokens(world.ws, "ana") if t.label == "default"]
    assert t.expires is not None and 89.9 * 86400 < t.expires - time.time() <= 90 * 86400


def test_the_last_active_admin_cannot_be_disabled_or_demoted(world: World, client: Client) -> None:
    root = client("root")
    for path, body in (("disable", None), ("role", {"role": "manager"})):
        r = root.post(f"/api/v1/users/root/{path}", json=body)
        assert r.status_code == 409 and "last active admin" in r.json()["error"]
    assert root.get("/api/v1/users/root").json() == {
        "name": "root",
        "role": "admin",
        "clearance": "TOP SECRET/FLOOD/SAR",
        "disabled": False,
    }
    assert root.post("/api/v1/users/man/role", json={"role": "admin"}).is_success
    assert root.post("/api/v1/users/root/role", json={"role": "manager"}).is_success
    assert root.get("/api/v1/users/root").status_code == 403  # counts from the next request
    assert world.ws.audit_verify().ok
