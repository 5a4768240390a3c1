"""Sinks: CoT over TCP (a TAK server) or UDP, and NATS JetStream subjects.

`open_sink(url)` reads one destination:

- ``tcp://HOST:PORT`` CoT events, one XML document after another, to a TAK server;
- ``udp://HOST:PORT`` CoT events, one per datagram;
- ``nats://HOST:PORT/SUBJECT`` JSON entity updates on ``SUBJECT.<entity id>`` in a
  JetStream stream (made if missing) that keeps the last message of every entity. The id is
  escaped into one subject token (`subject_token`), one to one, and each subject has a stream
  of its own (`stream_name`): no two entities or subjects share one.

CoT peers cannot say what they hold, so each (re)connection gets a full refresh. The NATS
sink publishes with ``Nats-Msg-Id`` = the entity's token and content fingerprint (the server
drops a repeat), and on open reads the newest message of every entity back from the stream
(the entity named by its subject), so a restarted feed sends only what the stream lacks and
durable consumers resume without loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from assay.errors import InvalidInput, MissingExtra
from assay.feeds.cot import delete_event, entity_event
from assay.feeds.publish import Sink, Update
from assay.feeds.shapes import entity_payload

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.js import JetStreamContext

__all__ = ["CotTcpSink", "CotUdpSink", "NatsSink", "open_sink", "stream_name", "subject_token"]

_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
FINGERPRINT_HEADER = "Assay-Fingerprint"

log = logging.getLogger(__name__)


def open_sink(url: str, *, stale_s: float = 300.0) -> Sink:
    """The sink a destination URL names (see the module docstring).

    Raises:
        InvalidInput: an unknown scheme, a missing port or a bad subject.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("tcp", "udp", "nats"):
        raise InvalidInput(f"feed destination {url!r}: use tcp://, udp:// or nats://")
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname
    if not host or port is None:
        raise InvalidInput(f"feed destination {url!r}: name a host and a port")
    if parts.scheme == "tcp":
        return CotTcpSink(host, port, stale_s=stale_s)
    if parts.scheme == "udp":
        return CotUdpSink(host, port, stale_s=stale_s)
    subject = parts.path.strip("/")
    if not _SUBJECT.match(subject):
        raise InvalidInput(
            f"feed destination {url!r}: name a NATS subject after the port, "
            "e.g. nats://127.0.0.1:4222/assay.flood.cui"
        )
    return NatsSink(f"nats://{host}:{port}", subject)


def _cot_bytes(picture: str, u: Update, stale_s: float) -> bytes:
    if u.kind == "upsert" and u.entity is not None:
        return entity_event(u.entity, picture=picture, stale_s=stale_s)
    return delete_event(picture, u.entity_id, u.cot_type)


class CotTcpSink:
    """CoT to a TAK server over TCP; reconnects, and then refreshes in full.

    A TAK server also routes other clients' events to this socket; they are read and dropped,
    and `close` half-closes and waits for the server's end: a socket closed with unread data
    is reset, and the server would lose what it had not yet read from us.
    """

    tracks = False

    def __init__(self, host: str, port: int, *, stale_s: float = 300.0) -> None:
        self.label = f"tcp://{host}:{port}"
        self.host, self.port, self.stale_s = host, port, stale_s
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self._connect()

    async def _connect(self) -> asyncio.StreamWriter:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout=5
            )
        except (TimeoutError, OSError) as exc:
            raise OSError(f"cannot reach the TAK server at {self.label}: {exc}") from exc
        self._writer = writer
        self._reading = asyncio.create_task(_discard(reader))
        return writer

    async def held(self) -> dict[str, str] | None:
        return None

    async def send(self, picture: str, updates: Sequence[Update]) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            writer = await self._connect()
        try:
            writer.write(b"".join(_cot_bytes(picture, u, self.stale_s) for u in updates))
            await asyncio.wait_for(writer.drain(), timeout=10)
        except (TimeoutError, OSError):
            await self.close()
            raise

    async def close(self) -> None:
        writer, reading = self._writer, self._reading
        self._writer = self._reading = None
        if writer is None:
            return
        try:
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()
            if reading is not None:
                await asyncio.wait_for(asyncio.shield(reading), timeout=10)
        except (TimeoutError, OSError):
            pass
        finally:
            if reading is not None:
                reading.cancel()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _discard(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(65536):
            pass
    except OSError:
        return


class CotUdpSink:
    """CoT over UDP, one event per datagram (TAK clients' and servers' UDP inputs)."""

    tracks = False

    def __init__(self, host: str, port: int, *, stale_s: float = 300.0) -> None:
        self.label = f"udp://{host}:{port}"
        self.addr = (host, port)
        self.stale_s = stale_s
        self._sock: socket.socket | None = None

    async def open(self) -> None:
        family = socket.AF_INET6 if ":" in self.addr[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)

    async def held(self) -> dict[str, str] | None:
        return None

    async def send(self, picture: str, updates: Sequence[Update]) -> None:
        if self._sock is None:
            await self.open()
        assert self._sock is not None
        for u in updates:
            self._sock.sendto(_cot_bytes(picture, u, self.stale_s), self.addr)

    async def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


_KEEP = re.compile(r"[A-Za-z0-9-]")
_TOKEN_PART = re.compile(r"[A-Za-z0-9-]|_[0-9A-F]{2}")
_TOKEN = re.compile(r"(?:[A-Za-z0-9-]|_[0-9A-F]{2})+")
_PLAIN_SUBJECT = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")


def subject_token(name: str) -> str:
    """`name` as one NATS subject token, one to one: letters, digits and '-' stay, every other
    character (``_`` itself, '.', '*', '>', spaces, non-ASCII) becomes ``_XX`` per UTF-8 byte
    in upper-case hex, and the empty name is ``_``. Two names never share a token (a
    sanitiser replacing characters would make ``a.b`` and ``a_b`` alike, and a consumer of
    one entity's subject would get the other's messages)."""
    if not name:
        return "_"
    return "".join(
        c if _KEEP.fullmatch(c) else "".join(f"_{b:02X}" for b in c.encode()) for c in name
    )


def _name_of(token: str) -> str | None:
    """The name `subject_token` made `token` of; None for a token it makes of no name."""
    if token == "_":
        return ""
    if not _TOKEN.fullmatch(token):
        return None
    out = bytearray()
    for part in _TOKEN_PART.findall(token):
        out += bytes([int(part[1:], 16)]) if part[0] == "_" else part.encode()
    try:
        name = out.decode()
    except UnicodeDecodeError:
        return None
    return name if subject_token(name) == token else None


def stream_name(subject: str) -> str:
    """The JetStream stream holding `subject`'s entity messages, one per subject: a plain
    subject (lower-case letters, digits, '-', dots) is ``ASSAY_`` and the subject in upper
    case with '_' for '.'; any other is ``ASSAY__`` and its `subject_token` (a plain name
    never has '_' after the prefix, so the two kinds never meet)."""
    if _PLAIN_SUBJECT.fullmatch(subject):
        return "ASSAY_" + subject.replace(".", "_").upper()
    return "ASSAY__" + subject_token(subject)


class NatsSink:
    """JSON entity updates on JetStream: ``SUBJECT.<entity id>``, last message per entity."""

    tracks = True

    def __init__(self, server: str, subject: str) -> None:
        self.label = f"{server}/{subject}"
        self.server, self.subject = server, subject
        self.stream = stream_name(subject)
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None

    async def open(self) -> None:
        try:
            import nats
            from nats.js.api import StreamConfig
            from nats.js.errors import NotFoundError
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingExtra(
                "NATS feeds need the feeds extra: pip install 'assay[feeds]'"
            ) from exc
        server = self.server

        async def quietly(exc: Exception) -> None:
            # nats-py's default logs a traceback for every failed attempt; what a failure
            # means for the feed is said once, as one line, where it stops the feed.
            log.debug("NATS %s: %s", server, exc)

        try:
            self._nc = await nats.connect(
                self.server,
                connect_timeout=5,
                max_reconnect_attempts=3,
                allow_reconnect=True,
                error_cb=quietly,
            )
        except (TimeoutError, OSError, nats.errors.NoServersError) as exc:
            raise OSError(f"cannot reach NATS at {self.server}: {exc}") from exc
        self._js = self._nc.jetstream()
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.subject}.>"],
            max_msgs_per_subject=1_000_000,
            duplicate_window=600.0,
        )
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(config)

    async def held(self) -> dict[str, str] | None:
        """The fingerprint of every entity's newest message in the stream."""
        js = self._jsm()
        info = await js.stream_info(self.stream, subjects_filter=f"{self.subject}.>")
        out: dict[str, str] = {}
        prefix = len(self.subject) + 1
        for subj in sorted((info.state.subjects or {}).keys()):
            msg = await js.get_last_msg(self.stream, subj)
            headers = msg.headers or {}
            fp = headers.get(FINGERPRINT_HEADER, "")
            if fp and not fp.startswith("removed"):
                name = _name_of(subj[prefix:])
                if name is not None:  # else a subject this feed does not make: sent anew
                    out[name] = fp
        return out

    async def send(self, picture: str, updates: Sequence[Update]) -> None:
        js = self._jsm()
        acks = []
        for u in updates:
            body: dict[str, Any]
            if u.kind == "upsert" and u.entity is not None:
                body = {"picture": picture, "op": "upsert", "entity": entity_payload(u.entity)}
                fp = u.fingerprint
            else:
                body = {"picture": picture, "op": "remove", "id": u.entity_id}
                fp = f"removed:{u.fingerprint}"
            token = subject_token(u.entity_id)
            headers = {
                # The token, not the id: it has no ':', so the id never runs into the print.
                "Nats-Msg-Id": f"{token}:{fp}",
                FINGERPRINT_HEADER: fp,
            }
            acks.append(
                js.publish(
                    f"{self.subject}.{token}",
                    json.dumps(body, separators=(",", ":")).encode(),
                    headers=headers,
                    stream=self.stream,
                )
            )
        await asyncio.gather(*acks)

    def _jsm(self) -> JetStreamContext:
        if self._js is None:
            raise OSError(f"{self.label}: not connected")
        return self._js

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.drain()
            self._nc = None
            self._js = None
