"""`assay user passwd|disable|enable|set-role|set-clearance` and `assay token list|revoke`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from assay import Workspace
from assay.labeling.sessions import login
from assay.labeling.users import user_for_token


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")


@pytest.fixture
def site(cli, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    cli("init", ws)
    for name, role in (("root", "admin"), ("ana", "annotator")):
        cli("-w", ws, "user", "add", name, "--role", role, "--password", "flood-watch-2026")
    return ws


def test_user_commands_change_the_account_and_audit_it(cli, site: Path) -> None:  # type: ignore[no-untyped-def]
    w = ["-w", site]
    state = cli(*w, "user", "set-role", "ana", "reviewer", "--json").json()
    assert state == {
        "name": "ana",
        "role": "reviewer",
        "clearance": "UNCLASSIFIED",
        "disabled": False,
    }
    state = cli(*w, "user", "set-clearance", "ana", "cui/flood", "--json").json()
    assert state["clearance"] == "CUI/FLOOD"
    assert "disabled" in cli(*w, "user", "disable", "ana").stdout
    listed = {u["name"]: u["disabled"] for u in cli(*w, "user", "list", "--json").json()}
    assert listed == {"ana": True, "root": False}
    assert "disabled" in cli(*w, "user", "list").stdout
    with (
        Workspace.open(site) as ws,
        pytest.raises(Exception, match="wrong user name or password"),
    ):
        login(ws, "ana", "flood-watch-2026", "127.0.0.1")
    assert cli(*w, "user", "enable", "ana", "--json").json()["disabled"] is False
    cli(*w, "user", "passwd", "ana", "--password", "new-levee-2027")
    with Workspace.open(site) as ws:
        assert login(ws, "ana", "new-levee-2027", "127.0.0.1").user.role == "reviewer"
    cli(*w, "user", "passwd", "ana", "--password", "short", code=1)
    cli(*w, "user", "set-role", "nobody", "admin", code=1)
    cli(*w, "user", "set-role", "ana", "emperor", code=2)
    cli(*w, "user", "set-clearance", "ana", "COSMIC", code=1)
    actions = [e["action"] for e in cli(*w, "audit", "log", "--json").json()]
    for action in (
        "user.set-role",
        "user.set-clearance",
        "user.disable",
        "user.enable",
        "user.passwd",
    ):
        assert action in actions
    assert cli(*w, "audit", "verify", "--json").json()["ok"]


def test_token_create_list_revoke(cli, site: Path) -> None:  # type: ignore[no-untyped-def]
    w = ["-w", site]
    short = cli(*w, "token", "create", "ana", "--label", "ci", "--expires", "12h").stdout.strip()
    forever = cli(*w, "token", "create", "ana", "--expires", "never", "--json").json()["token"]
    default = cli(*w, "token", "create", "root", "--label", "ops").stdout.strip()
    listed = cli(*w, "token", "list", "--json").json()
    assert [t["user"] for t in listed] == ["ana", "ana", "root"]
    by_label = {t["label"]: t for t in listed}
    assert 11.9 * 3600 < by_label["ci"]["expires"] - time.time() <= 12 * 3600
    assert listed[1]["expires"] is None
    assert 89.9 * 86400 < by_label["ops"]["expires"] - time.time() <= 90 * 86400
    assert all(t["live"] and not t["revoked"] for t in listed)
    assert all(tok not in str(listed) for tok in (short, forever, default))
    assert [t["label"] for t in cli(*w, "token", "list", "--user", "root", "--json").json()] == [
        "ops"
    ]
    table = cli(*w, "token", "list").stdout
    assert by_label["ci"]["id"] in table and "never" in table and "live" in table
    # A long label cut the created date to "2026-12-…" in a pipe's 80 columns: the label
    # wraps, the id and dates stay whole.
    cli(*w, "token", "create", "ana", "--label", "nightly sync from the field laptop number 3")
    table = cli(*w, "token", "list", env={"COLUMNS": "80"}).stdout
    assert "…" not in table and max(len(line) for line in table.splitlines()) <= 80
    created = by_label["ci"]["created"]
    assert created[:10] in table and created[11:16] in table  # date and time wrap apart
    assert all(t["id"] in table for t in listed)
    res = cli(*w, "token", "revoke", by_label["ci"]["id"])
    assert f"revoked token {by_label['ci']['id']} of ana" in res.stdout
    with Workspace.open(site) as ws:
        assert user_for_token(ws, short) is None
        assert user_for_token(ws, forever) is not None
    assert "revoked" in cli(*w, "token", "list").stdout
    # PostgreSQL's column holds 200 characters (as the API says): refused on every database.
    res = cli(*w, "token", "create", "ana", "--label", "x" * 201, code=1)
    assert "error: a token's label has 201 characters: at most 200" in res.stderr
    cli(*w, "token", "revoke", "feedfacefeed", code=1)
    for bad in ("0d", "-3h", "soon", "12y"):
        cli(*w, "token", "create", "ana", "--expires", bad, code=1)
    assert cli(*w, "audit", "verify", "--json").json()["ok"]


def test_token_list_of_an_unknown_user_is_an_error_naming_it(cli, site: Path) -> None:  # type: ignore[no-untyped-def]
    """`--user NOBODY` printed an empty table and exit 0, as for a user without tokens."""
    w = ["-w", site]
    res = cli(*w, "token", "list", "--user", "nobody", code=1)
    assert "no user named 'nobody'" in res.stderr and res.stdout == ""
    # A known user without tokens: an empty list, said as such.
    assert cli(*w, "token", "list", "--user", "ana", "--json").json() == []
    assert "no API tokens of user ana" in cli(*w, "token", "list", "--user", "ana").stdout
