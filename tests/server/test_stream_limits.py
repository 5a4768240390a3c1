"""A user holds a bounded number of live picture streams (server-sent events) at once: each
polls the picture for up to an hour, so an unbounded number from one user would keep the
server's threads and database busy for everyone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
from picture_denials import saved

from assay.labeling import create_token
from assay.server import Settings, create_app
from labeling_world import LiveServer, World


def _open(stack: ExitStack, c: httpx.Client, path: str, readers: list[Iterator[str]]) -> int:
    """A stream left open, its first event read so that the server holds it; its reader is
    kept in `readers` (a reader dropped closes its connection)."""
    r = stack.enter_context(c.stream("GET", path))
    if r.status_code == 200:
        chunks = r.iter_text()
        readers.append(chunks)
        assert "retry:" in next(chunks)
    else:
        r.read()
    return r.status_code


def test_a_user_holds_at_most_the_servers_number_of_streams(world: World) -> None:
    saved(world)
    app = create_app(Settings(max_streams_per_user=2), world.ws)
    path = "/api/v1/pictures/town/stream?seconds=600"
    with LiveServer(app) as url:
        # httpx's 5 s read timeout is shorter than a first picture takes on a loaded machine
        ana = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {create_token(world.ws, 'ana')}"},
            timeout=60,
        )
        low = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {create_token(world.ws, 'low')}"},
            timeout=60,
        )
        # A stream that ends on its own gives its slot back.
        with ana.stream("GET", "/api/v1/pictures/town/stream?seconds=0.1") as r:
            assert "event: version" in "".join(r.iter_text())
        first, rest = ExitStack(), ExitStack()
        with first, rest:
            readers: list[Iterator[str]] = []
            assert _open(first, ana, path, readers) == 200
            assert _open(rest, ana, path, readers) == 200
            refused = ana.get(path)  # refused before any stream starts
            assert refused.status_code == 429, refused.text
            assert "you hold 2 live streams on this server already" in refused.json()["error"]
            # The limit is per user: another user still gets theirs.
            assert _open(rest, low, path, readers) == 200
            # A stream the client closes gives its slot back (once the server sees it gone).
            first.close()
            for _ in range(200):
                status = _open(rest, ana, path, readers)
                if status != 429:
                    break
                time.sleep(0.05)
            assert status == 200
        ana.close()
        low.close()
