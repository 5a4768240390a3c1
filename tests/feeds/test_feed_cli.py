"""`assay feed NAME`: the real command against taky and nats-server, killed mid-stream and
started again."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import nats

from assay.fusion import pictures
from assay.workspace import Workspace
from feed_peers import CotClient, Nats, Taky, drain, make_entity
from ports import refused_port

RunCli = Callable[..., Any]


def _save(ws: Workspace, n: int, message: str = "fused") -> None:
    found = [make_entity(i, marking="SECRET" if i % 10 == 0 else "CUI") for i in range(n)]
    pictures.save(ws, "flood", found, message=message)


async def _consume(url: str, subject: str) -> list[dict]:
    nc = await nats.connect(url)
    out = await drain(nc.jetstream(), subject, "ops")
    await nc.close()
    return out


def test_feed_once_publishes_each_destination_at_its_clearance(
    ws: Workspace, run_cli: RunCli, taky: Taky, cot_client: CotClient, nats_server: Nats
) -> None:
    _save(ws, 20)
    res = run_cli(
        "-w", ws.root, "feed", "flood", "--once", "--json",
        "--to", f"tcp://127.0.0.1:{taky.port}?clearance=CUI",
        "--to", f"{nats_server.url}/assay.flood.secret?clearance=SECRET",
    )  # fmt: skip
    [row] = res.json()["published"]
    assert row["version"] == "flood@1"
    assert (row["sent"], row["withheld"]) == (18 + 20, 2)
    events = cot_client.wait_for(18)
    assert len(events) == 18 and all(b"SECRET" not in r for r in cot_client.raw)
    got = asyncio.run(_consume(nats_server.url, "assay.flood.secret"))
    assert len(got) == 20
    # Who fed what, at which clearance, is in the audit trail.
    log = run_cli("-w", ws.root, "audit", "log", "--json").stdout
    assert "feed.start" in log and "tcp://127.0.0.1" in log


def test_feed_killed_mid_stream_resumes_without_loss(
    ws: Workspace,
    taky: Taky,
    cot_client: CotClient,
    nats_server: Nats,
    subprocess_env: dict[str, str],
) -> None:
    n = 1000
    _save(ws, n)
    subject = "assay.flood.cui"
    args = [
        sys.executable, "-m", "assay", "-w", str(ws.root), "feed", "flood", "--interval", "0.2",
        "--to", f"{nats_server.url}/{subject}?clearance=CUI",
        "--to", f"tcp://127.0.0.1:{taky.port}?clearance=CUI",
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        # Kill it as soon as the TAK client has some but not all of the CoT events (NATS,
        # the first destination, has had its batch).
        deadline = time.monotonic() + 60
        while len(cot_client.events) < 50 and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = len(cot_client.events)
    assert 0 < before < n

    # A new version while the feed is down: 5 entities moved.
    now = pictures.entities(ws, pictures.load(ws, "flood"))
    moved = {e.id for e in now if e.marking == "CUI"}
    moved = set(sorted(moved)[:5])
    now = [e.model_copy(update={"lat": e.lat + 0.001}) if e.id in moved else e for e in now]
    pictures.save(ws, "flood", now, message="five moved")

    restarted = datetime.now(UTC).replace(tzinfo=None)
    again = subprocess.run(
        [*args, "--once"], env=subprocess_env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr

    visible = {e.id for e in now if e.marking == "CUI"}
    # CoT: the restarted feed refreshed the TAK client in full.
    refresh = cot_client.wait_since(restarted, len(visible))
    assert sorted(e.uid for e in refresh) == sorted(f"assay.flood.{i}" for i in visible)
    # JetStream: the durable consumer gets every entity, the moved ones in their new place.
    got = asyncio.run(_consume(nats_server.url, subject))
    latest = {m["entity"]["id"]: m["entity"] for m in got}
    assert set(latest) == visible
    by_id = {e.id: e for e in now}
    assert all(latest[i]["lat"] == by_id[i].lat for i in visible)
    # The restarted feed read the stream back: it sent only what changed while it was down.
    ids = [m["entity"]["id"] for m in got]
    assert {i: ids.count(i) for i in moved} == {i: 2 for i in moved}
    assert len(ids) == len(visible) + len(moved)


def test_feed_refuses_a_destination_without_clearance(ws: Workspace, run_cli: RunCli) -> None:
    _save(ws, 2)
    res = run_cli("-w", ws.root, "feed", "flood", "--once", "--to", "tcp://127.0.0.1:9", code=1)
    assert "clearance" in res.stderr
    res = run_cli(
        "-w", ws.root, "feed", "nowhere", "--once", "--to", "tcp://127.0.0.1:9?clearance=CUI",
        code=1,
    )  # fmt: skip
    assert "no picture named 'nowhere'" in res.stderr
    # An unknown picture is named first, not the destination's missing clearance.
    res = run_cli("-w", ws.root, "feed", "nowhere", "--once", "--to", "tcp://127.0.0.1:9", code=1)
    assert "no picture named 'nowhere'" in res.stderr
    res = run_cli(
        "-w", ws.root, "feed", "flood", "--once", "--to", "tcp://127.0.0.1:9?clearance=CUI",
        code=1,
    )  # fmt: skip
    assert "cannot reach the TAK server" in res.stderr


def test_feed_to_an_unreachable_nats_server_says_so_in_one_line(
    ws: Workspace, run_cli: RunCli
) -> None:
    # A first user's typo in the port (or NATS not started yet): one error line, not nats-py's
    # logged tracebacks of every connection attempt before it (run_cli checks both).
    _save(ws, 2)
    with refused_port() as port:  # no other test's server can take it meanwhile
        res = run_cli(
            "-w", ws.root, "feed", "flood", "--once",
            "--to", f"nats://127.0.0.1:{port}/assay.flood?clearance=CUI", code=1,
        )  # fmt: skip
    assert res.stderr.strip() == (
        f"error: cannot reach NATS at nats://127.0.0.1:{port}: "
        "nats: no servers available for connection"
    )


def test_a_destination_without_clearance_is_shown_with_one(ws: Workspace, run_cli: RunCli) -> None:
    # The hint names the user's own destination with a clearance added, ready to paste.
    _save(ws, 2)
    res = run_cli(
        "-w", ws.root, "feed", "flood", "--once", "--to", "nats://127.0.0.1:4222/assay.flood",
        code=1,
    )  # fmt: skip
    assert "e.g. 'nats://127.0.0.1:4222/assay.flood?clearance=CUI'" in res.stderr
