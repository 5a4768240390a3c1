"""Finding 4 against a real `assay serve` with two worker processes: the CLI revokes a token
or disables a user, and the very next request to either worker is refused."""

from __future__ import annotations

from pathlib import Path

import httpx

from assay.labeling import Workflow, create_token
from assay.labeling.accounts import list_tokens
from assay.workspace import Workspace
from labeling_world import build_world, free_port, start_server


def test_cli_revocation_counts_on_the_next_request_in_every_worker(
    ws: Workspace, tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    build_world(ws, tmp_path / "data", public=2, cui=0, secret=0, workflow=Workflow())
    ana, man = create_token(ws, "ana", "script"), create_token(ws, "man", "script")
    [ana_id] = [t.id for t in list_tokens(ws, "ana")]
    root = tmp_path / "ws"
    port = free_port()
    proc = start_server(root, port, "--workers", "2")
    try:
        url = f"http://127.0.0.1:{port}/api/v1/me"
        for token in (ana, man):  # warm both workers with each token
            for _ in range(4):
                assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).is_success
        cli("-w", root, "token", "revoke", ana_id)
        cli("-w", root, "user", "disable", "man")
        for _ in range(4):  # whichever worker answers
            assert httpx.get(url, headers={"Authorization": f"Bearer {ana}"}).status_code == 401
            assert httpx.get(url, headers={"Authorization": f"Bearer {man}"}).status_code == 401
        cli("-w", root, "user", "enable", "man")
        assert httpx.get(url, headers={"Authorization": f"Bearer {man}"}).is_success
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert cli("-w", root, "audit", "verify", "--json").json()["ok"]
