"""Real peers for the feed tests: a taky CoT router (the TAK server), a nats-server with
JetStream, CoT clients that read events the way taky does, and a UDP CoT listener.

Both servers start on free loopback ports in a temporary folder and stop after the test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.js
import pytest
from lxml import etree

from assay.domain.entity import Entity, Provenance
from assay.feeds.sinks import stream_name
from ports import free_port as free_port  # the fusion tests take it from here
from ports import start_on_free_port

XSD = Path(__file__).parent / "feeds" / "cot_event.xsd"


def log_of(log: Path) -> Callable[[subprocess.Popen[bytes]], str]:
    return lambda proc: log.read_text(errors="replace")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Taky:
    port: int
    proc: subprocess.Popen[bytes]


@pytest.fixture
def taky(tmp_path: Path) -> Iterator[Taky]:
    """taky (PyPI), a TAK server routing CoT over TCP, on a free loopback port."""
    root = tmp_path / "taky"
    root.mkdir()
    conf = root / "taky.conf"
    exe = Path(sys.executable).with_name("taky")
    log = root / "taky.log"

    def launch(ports: list[int]) -> subprocess.Popen[bytes]:
        conf.write_text(
            "[taky]\nhostname = localhost\nnode_id = ASSAYTEST\nbind_ip = 127.0.0.1\n"
            f"root_dir = {root}\n[cot_server]\nport = {ports[0]}\n[ssl]\nenabled = false\n"
            f"[dp_server]\nupload_path = {root / 'dp'}\n"
        )
        with log.open("wb") as out:
            return subprocess.Popen([str(exe), "-c", str(conf)], cwd=root, stdout=out, stderr=out)

    proc, [port] = start_on_free_port(launch, "taky", log_of(log), timeout=30)
    try:
        yield Taky(port, proc)
    finally:
        stop(proc)


@dataclass
class Nats:
    port: int
    url: str
    proc: subprocess.Popen[bytes]


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Nats]:
    """nats-server with JetStream, its store in the test's folder, on a free loopback port."""
    exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
    store = tmp_path / "nats"
    log = tmp_path / "nats.log"

    def launch(ports: list[int]) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                [exe, "-a", "127.0.0.1", "-p", str(ports[0]), "-js", "-sd", str(store)],
                stdout=out,
                stderr=out,
            )

    proc, [port] = start_on_free_port(launch, "nats-server", log_of(log), timeout=30)
    try:
        yield Nats(port, f"nats://127.0.0.1:{port}", proc)
    finally:
        stop(proc)


@dataclass
class CotClient:
    """A TAK client on a socket: it reads the stream of events as taky itself does (an lxml
    pull parser over a stream of <event> documents) and parses each with taky's own model."""

    port: int
    raw: list[bytes] = field(default_factory=list)
    events: list[object] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> CotClient:
        self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from taky.cot import models

        assert self._sock is not None
        parser = etree.XMLPullParser(events=("end",), tag="event", resolve_entities=False)
        parser.feed(b"<root>")
        while True:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            parser.feed(data)
            for _, elm in parser.read_events():
                raw = etree.tostring(elm)
                evt = models.Event.from_elm(elm)
                with self._lock:
                    self.raw.append(raw)
                    self.events.append(evt)

    def wait_for(self, count: int, timeout: float = 20) -> list[object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.02)
        with self._lock:
            return list(self.events)

    def wait_since(self, since: object, count: int, timeout: float = 60) -> list[Any]:
        """Events stamped at or after `since` (naive UTC, as taky parses them), once `count`
        of them arrived or `timeout` passed."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                got = [e for e in self.events if e.time >= since]  # type: ignore[attr-defined]
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(5)


@pytest.fixture
def cot_client(taky: Taky) -> Iterator[CotClient]:
    client = CotClient(taky.port).start()
    try:
        routed_to(client, taky.port)
        yield client
    finally:
        client.close()


def _probe(n: int) -> bytes:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    t, stale = now.strftime(fmt), (now + timedelta(seconds=2)).strftime(fmt)
    return (
        f'<event version="2.0" uid="assay-test-probe-{n}" type="a-u-G" how="m-g" time="{t}" '
        f'start="{t}" stale="{stale}"><point lat="0" lon="0" hae="0" ce="1" le="1"/>'
        "<detail/></event>"
    ).encode()


def routed_to(client: CotClient, port: int, timeout: float = 30) -> None:
    """Wait until taky routes events to `client` (it accepts a socket in its loop before it
    routes to it; a loaded machine takes its time): probes sent from another connection until
    one arrives, then the client forgets them. taky keeps the order of what it routes, so no
    earlier probe arrives after the first one seen."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sender:
        n = 0
        while True:
            n += 1
            sender.sendall(_probe(n))
            wait = time.monotonic() + 0.2
            while time.monotonic() < wait:
                with client._lock:
                    if client.events:
                        client.events.clear()
                        client.raw.clear()
                        return
                time.sleep(0.01)
            if time.monotonic() > deadline:
                raise RuntimeError(f"taky routed none of {n} probes to the client")


@dataclass
class UdpListener:
    port: int
    sock: socket.socket

    def receive(self, count: int, timeout: float = 10) -> list[bytes]:
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while len(out) < count and time.monotonic() < deadline:
            try:
                out.append(self.sock.recv(65536))
            except TimeoutError:
                continue
        return out


@pytest.fixture
def udp_listener() -> Iterator[UdpListener]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield UdpListener(int(sock.getsockname()[1]), sock)
    finally:
        sock.close()


def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def make_entity(i: int, marking: str = "", **kw: object) -> Entity:
    """A fused entity in the flooded town (Houston's east side), `i` spreading them out."""
    data: dict[str, object] = dict(
        id=f"ent-{i:012x}",
        label="vehicle" if i % 2 else "person",
        cot_type="a-u-G-E-V-C" if i % 2 else "a-u-G-U-C",
        lon=-95.35 + i * 1e-4,
        lat=29.75 + i * 5e-5,
        covariance=(9.0, 1.0, 4.0),
        velocity=(1.5, -0.5),
        first_seen="2026-07-25T17:20:00Z",
        last_seen="2026-07-25T17:20:05Z",
        confidence=0.8,
        status="confirmed",
        marking=marking,
        detections=4,
        sensors=("drone-1", "drone-2"),
        provenance=Provenance(items=(f"item-{i}",), models=("model:boxes@1",)),
    )
    data.update(kw)
    return Entity.model_validate(data)


async def drain(js: nats.js.JetStreamContext, subject: str, durable: str) -> list[dict[str, Any]]:
    """Every message the durable consumer `durable` has not yet acknowledged on `subject`'s
    stream, acknowledged. Ends when a fetch comes back empty *and* the server says nothing is
    pending: on a loaded machine a fetch can time out before the server has delivered, and
    stopping there would read a partial stream as a loss (the publishers have finished)."""
    import json

    sub = await js.pull_subscribe(f"{subject}.>", durable=durable, stream=stream_name(subject))
    out: list[dict[str, Any]] = []
    while True:
        try:
            msgs = await sub.fetch(500, timeout=1)
        except TimeoutError:  # nats' own, or asyncio's when the deadline ran out first
            info = await sub.consumer_info()
            if info.num_pending == 0:  # delivered: what was in flight came in the fetches
                return out
            continue
        for m in msgs:
            out.append(json.loads(m.data))
            await m.ack()
