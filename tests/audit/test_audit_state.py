"""Issue 11, finding 2: direct edits of security state are found by `verify`.

`verify` replays the signed trail's account events (users, roles, clearances, passwords,
disabled flags, tokens, sessions) and compares the result with the tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assay import Workspace
from assay.labeling import accounts, add_user, create_token, login, logout
from audit_tamper import sql, verify_as_found

PASSWORD = "flood-watch-2026"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")


@pytest.fixture
def people(ws: Workspace) -> Path:
    """Users with every kind of account change behind them, all through assay."""
    add_user(ws, "root", "admin", "SECRET", PASSWORD)
    add_user(ws, "ana", "annotator", "UNCLASSIFIED", PASSWORD)
    add_user(ws, "old", "annotator", "UNCLASSIFIED", PASSWORD)
    create_token(ws, "ana", "script")
    create_token(ws, "root", "never", expires_in=None)
    gone = create_token(ws, "ana", "to revoke")
    accounts.revoke_bearer(ws, gone)
    accounts.set_password(ws, "ana", "a-new-passphrase")
    accounts.set_role(ws, "ana", "reviewer")
    accounts.set_clearance(ws, "ana", "CUI")
    accounts.set_disabled(ws, "old", True)
    session = login(ws, "ana", "a-new-passphrase", "127.0.0.1")
    logout(ws, session.cookie)
    login(ws, "root", PASSWORD, "127.0.0.1")
    ws.close()
    return ws.root.parent


def _verify(folder: Path):  # type: ignore[no-untyped-def]
    return verify_as_found(folder)


def test_account_changes_made_through_assay_verify(people: Path) -> None:
    result = _verify(people)
    assert result.ok, result.reason
    assert result.state == ()


@pytest.mark.parametrize(
    ("tamper", "finding"),
    [
        ("UPDATE users SET role='admin' WHERE name='ana'", "user 'ana' has role 'admin'"),
        (
            "UPDATE users SET clearance='SECRET' WHERE name='ana'",
            "user 'ana' has clearance 'SECRET'",
        ),
        ("UPDATE users SET disabled=0 WHERE name='old'", "user 'old' has disabled False"),
        (
            "UPDATE users SET password_hash=(SELECT password_hash FROM users WHERE name='root') "
            "WHERE name='ana'",
            "user 'ana' has a password hash no user.add or user.passwd event set",
        ),
        (
            "INSERT INTO users (name, role, clearance, password_hash, created, disabled) "
            "VALUES ('mallory', 'admin', 'SECRET', 'x', '2026', 0)",
            "user 'mallory' exists, but no user.add event created it",
        ),
        ("DELETE FROM users WHERE name='old'", "user 'old' was created in the trail"),
        (
            "INSERT INTO api_tokens (user_id, token_hash, label, created, revoked) "
            "VALUES (1, 'ab12', 'backdoor', '2026', 0)",
            "of user 'root' was not created through assay",
        ),
        ("UPDATE api_tokens SET revoked=0", "was revoked, yet is live again"),
        ("UPDATE api_tokens SET expires=NULL WHERE label='script'", "expires at None"),
        ("UPDATE api_tokens SET user_id=1 WHERE label='script'", "belongs to 'root'"),
        (
            "INSERT INTO sessions (id, user_id, csrf_token, created, expires) "
            "VALUES ('cd34', 1, 'x', '2026', 99999999999)",
            "session",
        ),
    ],
)
def test_direct_edits_of_account_state_are_found(people: Path, tamper: str, finding: str) -> None:
    sql(people, tamper)
    result = _verify(people)
    assert not result.ok
    assert result.checked > 0 and result.first_bad is None  # the trail itself holds
    assert any(finding in p for p in result.state), result.state
    assert result.reason.startswith("the state tables disagree with the trail")


def test_cli_names_every_state_problem(people: Path, cli) -> None:  # type: ignore[no-untyped-def]
    sql(people, "UPDATE users SET role='admin' WHERE name='ana'")
    sql(people, "UPDATE users SET clearance='SECRET' WHERE name='old'")
    res = cli("-w", people, "audit", "verify", code=1)
    assert "user 'ana' has role 'admin'; the trail says 'reviewer'" in res.stderr
    assert "user 'old' has clearance 'SECRET'" in res.stderr
    data = cli("-w", people, "audit", "verify", "--json", code=1).json()
    assert data["ok"] is False and len(data["state"]) == 2
