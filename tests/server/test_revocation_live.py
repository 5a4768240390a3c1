"""Finding 4 against a real `assay serve` with two worker processes (on PostgreSQL: a SQLite
workspace is served by one process): the CLI revokes a token or disables a user, and the very
next request to either worker is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.labeling import Workflow, create_token
from assay.labeling.accounts import list_tokens
from assay.workspace import Workspace
from labeling_world import build_world, start_server
from pg import fresh_schema


def test_cli_revocation_counts_on_the_next_request_in_every_worker(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    with fresh_schema() as url:
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)  # the server inherits it
        _revoke_while_two_workers_serve(tmp_path, cli, url)


def _revoke_while_two_workers_serve(tmp_path: Path, cli: Any, url: str) -> None:
    root = tmp_path / "ws"
    ws = Workspace.init(root)
    build_world(ws, tmp_path / "data", public=2, cui=0, secret=0, workflow=Workflow())
    ana, man = create_token(ws, "ana", "script"), create_token(ws, "man", "script")
    [ana_id] = [t.id for t in list_tokens(ws, "ana")]
    ws.close()
    on_pg = {"ASSAY_DATABASE_URL": url}
    proc = start_server(root, "--workers", "2")
    try:
        me = f"{proc.url}/api/v1/me"
        for token in (ana, man):  # warm both workers with each token
            for _ in range(4):
                assert httpx.get(me, headers={"Authorization": f"Bearer {token}"}).is_success
        cli("-w", root, "token", "revoke", ana_id, env=on_pg)
        cli("-w", root, "user", "disable", "man", env=on_pg)
        for _ in range(4):  # whichever worker answers
            assert httpx.get(me, headers={"Authorization": f"Bearer {ana}"}).status_code == 401
            assert httpx.get(me, headers={"Authorization": f"Bearer {man}"}).status_code == 401
        cli("-w", root, "user", "enable", "man", env=on_pg)
        assert httpx.get(me, headers={"Authorization": f"Bearer {man}"}).is_success
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert cli("-w", root, "audit", "verify", "--json", env=on_pg).json()["ok"]
