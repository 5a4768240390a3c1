"""The server signs checkpoints of the audit head outside the database while it serves."""

from __future__ import annotations

import httpx

from assay.audit._checkpoint import witness_latest
from assay.audit._keys import witness_dir
from assay.audit._ops import head
from assay.server import Settings, create_app
from labeling_world import PASSWORD, LiveServer, World


def test_server_checkpoints_the_head_when_it_stops(world: World) -> None:
    ws = world.ws
    with ws.db.read() as conn:
        origin, size_before, _ = head(conn) or ("", 0, "")
    app = create_app(Settings(checkpoint_seconds=3600.0), ws)
    with LiveServer(app) as url:
        r = httpx.post(f"{url}/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
        assert r.status_code == 200
    with ws.db.read() as conn:
        found = head(conn)
    assert found is not None and found[1] == size_before + 1  # the login event
    latest = witness_latest(witness_dir(), origin, ws.root)
    assert latest is not None and (latest.size, latest.head) == found[1:]
    assert ws.audit_verify().ok
