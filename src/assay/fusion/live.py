"""`assay fuse NAME --from SOURCE... --follow`: fuse as detections arrive, a picture version
each time scans close.

What it reads, and how it learns of something new:
    predictions:FILE, detections:FILE   JSON Lines followed as they are appended (``-`` for
                       standard input); each complete line is one detection
    detections:FILE    ground detections, already georeferenced: ``time`` (ISO 8601 with a
                       zone), ``label``, ``lon``, ``lat``, ``sigma_m`` (1-sigma, metres,
                       default 5), ``sensor`` (what saw it, default the file), ``marking``
    reports:FILE, tracks:FILE   read again whenever the file grows (new report mentions and
                       track points are the ones not read before)
    model:NAME, labels:DATASET  the workspace asked again every ``poll_s`` seconds (new model
                       annotations from `assay prelabel`, new label commits)
    cot://HOST:PORT    Cursor-on-Target events received on a TCP and a UDP listener on that
                       port (a TAK client or server connecting, or UDP senders): each event's
                       point with its ``ce`` (circular 1-sigma error, metres) is a track point
                       of an external track (its uid); ``le`` has no place in the ground plane
                       and is reported, not used. Events with assay's own uids (``assay.``, a
                       feed's echo), TAK delete events and events that do not parse are counted
                       and skipped, each with a warning naming the sender.

Markings, as in `assay fuse`: a detection, report or track row is marked as it states, raised to
``marking`` (`assay fuse --marking`) when one is given; a row stating none takes ``marking``,
and without it stops the run (a bad line, named). A CoT event is marked by its
``detail/marking`` or ``access``, raised to ``marking``; one stating none takes ``marking``.
A feed cannot be stopped for one event, so a run that listens for CoT is refused before it
starts without ``marking``: the operator states the network's marking once. Nothing is taken
in at the lowest level unseen.

Scans close on the scan grid of `assay fuse` (``scan_s`` wide from the first detection). A
scan closes when every sensor heard so far has delivered into it or past it and the input has
paused for ``flush_s`` (a frame's detections arrive together; not in the first scan's worth of
time after the first input, while sensors are still being heard of), when a detection two scans
newer arrives (a sensor fell silent), or when nothing arrived for a whole scan. Each time scans
close the tracker (the same `Fuser` as `assay fuse`; with the ``gnn`` associator its numpy
engine, `assay.fusion.kalman`, Stone Soup's tracker without its per-object cost) steps through
them and the picture gets a new version, its entities kept track by track
(`assay.fusion.live_picture`), which `assay fuse` writes with word to `assay feed` (see
`assay.fusion.notify`). A detection arriving for a scan already closed is counted as late and
not used (the tracker cannot go back in time); late counts go in each version's stats.

A bad line in a followed file or on standard input is an error naming the file, line and
field, and stops the run: the versions written before it stand, each complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import stat
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from assay.domain.entity import COT_TYPES, Picture, Provenance
from assay.errors import InvalidInput
from assay.fusion import pictures
from assay.fusion.live_picture import LivePicture
from assay.fusion.sources import (
    DEFAULT_RELIABILITY,
    Mention,
    Observation,
    Source,
    _detection,
    _Frames,
    _row_marking,
    _time,
    json_row,
    parse_source,
    read_source,
    source_marking,
)
from assay.fusion.tracker import Fuser, Params

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = [
    "FollowPlan",
    "LiveFusion",
    "LiveSource",
    "check_follow",
    "cot_observation",
    "follow",
    "parse_live_source",
]

log = logging.getLogger(__name__)

STDIN = "-"
UNKNOWN_CE = 9_999_999.0
CE_IF_UNKNOWN_M = 50.0  # an event without a circular error: placed, but loosely


@dataclass(frozen=True)
class LiveSource:
    kind: str  # predictions, detections, reports, tracks, model, labels, cot
    what: str  # a path, "-", a name, or HOST:PORT

    @property
    def name(self) -> str:
        if self.kind == "cot":
            return f"cot:{self.what}"
        if self.what == STDIN:
            return f"{self.kind}:stdin"
        return Source(self.kind, self.what).name


def parse_live_source(spec: str) -> LiveSource:
    """A `--from` of `assay fuse --follow` (the module docstring lists them).

    Raises:
        InvalidInput: a bad source, or a file that is not there.
    """
    if spec.startswith("cot://"):
        parts = urlsplit(spec)
        if not parts.hostname or parts.port is None or parts.path not in ("", "/"):
            raise InvalidInput(f"bad source {spec!r}: expected cot://HOST:PORT")
        return LiveSource("cot", f"{parts.hostname}:{parts.port}")
    kind, _, what = spec.partition(":")
    if kind in ("predictions", "detections") and what == STDIN:
        return LiveSource(kind, STDIN)
    if kind == "detections":
        if not what:
            raise InvalidInput(f"bad source {spec!r}: expected detections:FILE or detections:-")
        if not Path(what).is_file():
            raise InvalidInput(f"source {spec!r}: no such file {what}")
        return LiveSource(kind, what)
    src = parse_source(spec)
    return LiveSource(src.kind, src.what)


@dataclass
class LiveStats:
    observations: int = 0
    mentions: int = 0
    scans: int = 0
    versions: int = 0
    late: int = 0
    cot_events: int = 0
    cot_skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class LiveFusion:
    """The tracker's state between scans: pending detections by scan, closed scans stepped."""

    ws: Workspace
    name: str
    params: Params
    sources: Sequence[str]
    flush_s: float = 0.005
    min_interval_s: float = 0.0
    fuser: Fuser = field(init=False)
    picture: LivePicture = field(init=False)
    stats: LiveStats = field(default_factory=LiveStats)
    mentions: list[Mention] = field(default_factory=list)
    pending: dict[int, list[Observation]] = field(default_factory=lambda: defaultdict(list))
    newest: dict[str, int] = field(default_factory=dict)  # sensor -> newest scan it fed
    t0: float | None = None
    closed: int = -1  # scans up to this one were stepped
    end: float = 0.0
    last_input: float = 0.0
    first_input: float = 0.0
    last_save: float = 0.0
    dirty: bool = False

    def __post_init__(self) -> None:
        # Stone Soup's GNN tracker in numpy (`assay.fusion.kalman`); JPDA is Stone Soup's own.
        engine = "numpy" if self.params.associator == "gnn" else "stonesoup"
        self.fuser = Fuser(self.params, engine=engine)
        self.picture = LivePicture(self.fuser)

    def add(self, obs: Sequence[Observation], mentions: Sequence[Mention] = ()) -> None:
        self.last_input = time.monotonic()
        if not self.first_input:
            self.first_input = self.last_input
        for o in obs:
            if self.t0 is None:
                self.t0 = o.time
            k = round((o.time - self.t0) / self.params.scan_s)
            self.newest[o.sensor] = max(self.newest.get(o.sensor, k), k)
            if k <= self.closed:
                self.stats.late += 1
                continue
            self.pending[k].append(o)
            self.stats.observations += 1
            self.end = max(self.end, o.time)
        if mentions:
            self.mentions.extend(mentions)
            self.stats.mentions += len(mentions)
            self.end = max(self.end, *(m.time for m in mentions))
            self.dirty = True

    def due(self, idle: float) -> list[int]:
        """The pending scans that may close now (see the module docstring)."""
        if not self.pending:
            return []
        ready = []
        top = max(self.pending)
        every_sensor = min(self.newest.values())
        # Until a scan's worth of input has come, a sensor not heard yet may still come.
        settled = time.monotonic() - self.first_input >= self.params.scan_s
        for k in sorted(self.pending):
            if (
                idle >= self.params.scan_s
                or top >= k + 2
                or (settled and every_sensor >= k and idle >= self.flush_s)
            ):
                ready.append(k)
            else:
                break
        return ready

    def step(self, idle: float) -> bool:
        """Step the tracker through the scans due; True when there is something to save."""
        assert self.t0 is not None or not self.pending
        for k in self.due(idle):
            obs = sorted(self.pending.pop(k), key=lambda o: o.key)
            self.fuser.update(self.t0 + k * self.params.scan_s, obs)  # type: ignore[operator]
            self.closed = k
            self.stats.scans += 1
            self.dirty = True
        self.picture.absorb()
        return self.dirty

    def save(self) -> Picture | None:
        """The picture as it stands, as a new version (None when nothing changed)."""
        if not self.dirty or (self.fuser.plane is None and not self.mentions):
            self.dirty = False
            return None
        found, texts = self.picture.entities(self.ws, self.mentions, self.params, self.end)
        st = self.stats
        pic = pictures.save(
            self.ws,
            self.name,
            found,
            message=f"live: {st.observations} observations, {st.mentions} report mentions, "
            f"{st.scans} scans" + (f", {st.late} late detections not used" if st.late else ""),
            sources=list(self.sources),
            stats={k: v for k, v in st.as_dict().items() if k != "versions"},
            texts=texts,
        )
        self.dirty = False
        self.last_save = time.monotonic()
        st.versions += 1
        return pic


# --- inputs --------------------------------------------------------------------------------


class _Lines:
    """Complete lines of a file as it grows (or of standard input), numbered from 1."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.n = 0
        self.buf = b""
        self.f = sys.stdin.buffer if path == STDIN else open(path, "rb")  # noqa: SIM115
        self.done = False

    def take(self, data: bytes) -> list[tuple[int, str]]:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        out = []
        for raw in lines:
            self.n += 1
            text = raw.decode("utf-8", errors="replace").strip()
            if text:
                out.append((self.n, text))
        return out

    def close(self) -> None:
        if self.path != STDIN:
            self.f.close()


def _row(path: str, n: int, text: str) -> dict[str, Any]:
    return json_row(f"{'stdin' if path == STDIN else path}, line {n}", text)


def _number(row: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    if key not in row:
        if default is None:
            raise InvalidInput(f"{where}: missing field {key!r}")
        return default
    v = row[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise InvalidInput(f"{where}: field {key!r} must be a finite number ({v!r})")
    return float(v)


def ground_detection(
    ws: Workspace,
    src: LiveSource,
    row: dict[str, Any],
    where: str,
    key: str,
    marking: str | None = None,
) -> Observation:
    """One line of a `detections:` source (see the module docstring); `marking` is the run's
    (`assay fuse --marking`), without which a line stating none is refused."""
    label = row.get("label")
    if not isinstance(label, str) or not label:
        raise InvalidInput(f"{where}: missing field 'label' (text)")
    lon, lat = _number(row, "lon", where), _number(row, "lat", where)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"{where}: lon/lat out of range")
    sigma = _number(row, "sigma_m", where, 5.0)
    if sigma <= 0:
        raise InvalidInput(f"{where}: field 'sigma_m' must be positive")
    score = _number(row, "score", where, 1.0)
    if not 0 <= score <= 1:
        raise InvalidInput(f"{where}: field 'score' must be between 0 and 1")
    if "time" not in row:
        raise InvalidInput(f"{where}: missing field 'time'")
    sensor = row.get("sensor", src.name)
    if not isinstance(sensor, str):
        raise InvalidInput(f"{where}: field 'sensor' must be text")
    rendered = _row_marking(ws, row.get("marking"), where, marking, src.name)
    return Observation(
        _time(row["time"], where),
        label,
        lon,
        lat,
        (sigma**2, 0.0, sigma**2),
        score,
        sensor,
        src.name,
        DEFAULT_RELIABILITY["tracks"],
        rendered,
        Provenance(sources=(src.name,)),
        key,
    )


_LABEL_OF_TYPE = {t: label for label, t in reversed(COT_TYPES.items())}


def cot_observation(
    ws: Workspace, data: bytes, source: str, n: int, marking: str | None = None
) -> Observation | str:
    """A CoT event as a track point of its uid's external track, or why it was skipped.

    `marking` (rendered) is the source's: the event's own is raised to it, an event stating
    none takes it, and without it such an event is skipped, never taken at the lowest level.
    """
    try:
        ev = ET.fromstring(data)
    except ET.ParseError as exc:
        return f"not XML ({exc})"
    if ev.tag != "event":
        return f"root element <{ev.tag}>, not <event>"
    uid, ctype = ev.get("uid") or "", ev.get("type") or ""
    if not uid or not ctype:
        return "an event without uid or type"
    if ctype.startswith("t-x-d") or uid.startswith("assay."):
        return "skip"  # a delete, or a feed's own entity coming back
    point = ev.find("point")
    if point is None:
        return f"event {uid}: no <point>"
    try:
        lat, lon = float(point.get("lat", "")), float(point.get("lon", ""))
        ce = float(point.get("ce", UNKNOWN_CE))
    except ValueError:
        return f"event {uid}: point lat/lon/ce are not numbers"
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not math.isfinite(ce) or ce <= 0:
        return f"event {uid}: point out of range"
    sigma = CE_IF_UNKNOWN_M if ce >= UNKNOWN_CE else ce
    try:
        t = _time((ev.get("time") or "").replace("Z", "+00:00"), f"event {uid}")
    except InvalidInput as exc:
        return str(exc)
    mark = ev.find("detail/marking")
    text = (mark.get("text") if mark is not None else None) or ev.get("access")
    try:  # as a file's row is marked; a refusal skips this event alone
        own = _row_marking(ws, text, f"event {uid}", marking, source)
    except InvalidInput as exc:
        return str(exc)
    # The label: assay's own CoT types back to their labels, whatever the affiliation.
    neutral = ctype[:2] + "u" + ctype[3:] if ctype.startswith("a-") and len(ctype) > 3 else ctype
    label = _LABEL_OF_TYPE.get(neutral, ctype)
    return Observation(
        t,
        label,
        lon,
        lat,
        (sigma**2, 0.0, sigma**2),
        1.0,
        f"{source}#{uid}",
        source,
        DEFAULT_RELIABILITY["tracks"],
        own,
        Provenance(sources=(source,)),
        f"{source}:{uid}:{n}",
    )


class _CotInput:
    """TCP and UDP listeners on one port; each event becomes an observation (or a warning)."""

    def __init__(
        self,
        ws: Workspace,
        src: LiveSource,
        put: Callable[[Observation], None],
        warn: Callable[[str], None],
        marking: str | None,
    ):
        self.ws, self.src, self.put, self.warn = ws, src, put, warn
        self.marking = marking
        self.n = 0
        self.skipped = 0
        self.server: asyncio.Server | None = None
        self.udp: asyncio.DatagramTransport | None = None

    def event(self, data: bytes, peer: str) -> None:
        self.n += 1
        got = cot_observation(self.ws, data, self.src.name, self.n, self.marking)
        if isinstance(got, Observation):
            self.put(got)
            return
        self.skipped += 1
        if got != "skip":
            self.warn(f"{self.src.name}, from {peer}: {got}; event skipped")

    async def open(self) -> None:
        host, _, port = self.src.what.rpartition(":")
        loop = asyncio.get_running_loop()
        self.server = await asyncio.start_server(self._client, host, int(port))
        outer = self

        class _Udp(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
                outer.event(data, f"udp {addr[0]}:{addr[1]}")

        self.udp, _ = await loop.create_datagram_endpoint(_Udp, local_addr=(host, int(port)))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "tcp {}:{}".format(*writer.get_extra_info("peername")[:2])
        parser: ET.XMLPullParser[Any] = ET.XMLPullParser(events=("start", "end"))
        parser.feed(b"<stream>")
        depth = 0
        try:
            while data := await reader.read(1 << 16):
                try:
                    parser.feed(data)
                    for kind, elm in parser.read_events():  # type: ignore[misc]
                        depth += 1 if kind == "start" else -1
                        if kind == "end" and depth == 1:  # an <event> in the <stream>
                            assert isinstance(elm, ET.Element)
                            self.event(ET.tostring(elm), peer)
                            elm.clear()
                except ET.ParseError as exc:
                    self.warn(f"{self.src.name}, from {peer}: not XML ({exc}); connection closed")
                    self.skipped += 1
                    return
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.udp is not None:
            self.udp.close()


def _settle() -> None:
    """Collect the young objects' garbage and freeze what survives out of the collector.

    A live run keeps what it fuses (the tracks' states, their entities' points and texts), so
    the heap grows scan by scan, and now and then Python's collector walked all of it, with
    the libraries' objects, in one pause (0.2-0.6 s at a few hundred scans of 25 targets) that
    every detection in flight waited for. Frozen objects are never walked again; what is not
    frozen yet is a version's worth, collected here (about a millisecond). Frozen objects
    are still freed when nothing refers to them; only a reference cycle among them stays.
    """
    gc.collect(1)
    gc.freeze()


@dataclass(frozen=True)
class FollowPlan:
    """What `follow` reads, checked: the sources, their marking (`--marking`), the start."""

    sources: list[LiveSource]
    marking: str | None
    since: float | None


def check_follow(
    ws: Workspace, sources: Sequence[str], *, since: str | None, marking: str | None
) -> FollowPlan:
    """The sources, `--since` and `--marking` of a `follow`, checked before anything starts
    (and before the command says it follows anything).

    Raises:
        InvalidInput: no source, a bad one, two reading standard input, a CoT source without
            `marking`, a bad `marking` or `since`.
    """
    if not sources:
        raise InvalidInput("name at least one source with --from KIND:WHAT")
    fallback = source_marking(ws, marking)
    parsed = [parse_live_source(s) for s in sources]
    if sum(1 for s in parsed if s.what == STDIN) > 1:
        raise InvalidInput("only one source can read standard input")
    for src in parsed:
        if src.kind == "cot" and fallback is None:
            raise InvalidInput(
                f"{src.name}: a network source needs --marking M, the marking of what it "
                "sends: an event stating none takes it (a feed is not stopped for one event, "
                "nor is the event taken at the lowest level)"
            )
    from assay.fusion.fuse import parse_since

    return FollowPlan(parsed, fallback, parse_since(since))


async def follow(
    ws: Workspace,
    name: str,
    sources: Sequence[str],
    *,
    params: Params,
    since: str | None = None,
    poll_s: float = 1.0,
    flush_s: float = 0.005,
    min_interval_s: float = 0.0,
    exit_idle_s: float | None = None,
    stop: asyncio.Event | None = None,
    on_version: Callable[[Picture, LiveStats], None] | None = None,
    on_warning: Callable[[str], None] = log.warning,
    settle_gc: bool = False,
    marking: str | None = None,
) -> LiveStats:
    """Follow `sources`, saving a version of picture `name` whenever scans close; returns when
    `stop` is set, when standard input ends and nothing else is followed, or after
    `exit_idle_s` seconds without input. `settle_gc`: the process is the run's (`assay fuse
    --follow`): after each version, its young garbage collected and the rest frozen (`_settle`).
    `marking`: what rows and CoT events take at least (see the module docstring).

    Raises:
        InvalidInput: a bad source, a CoT source without `marking`, or a bad line in a
            followed file (named).
        OSError: a CoT port cannot be listened on.
    """
    plan = check_follow(ws, sources, since=since, marking=marking)
    parsed, fallback, t_since = plan.sources, plan.marking, plan.since
    live = LiveFusion(
        ws,
        name,
        params,
        [s.name for s in parsed],
        flush_s=flush_s,
        min_interval_s=min_interval_s,
    )
    stop = stop or asyncio.Event()
    wake = asyncio.Event()
    inbox: list[Observation] = []
    mentions: list[Mention] = []

    def put(o: Observation) -> None:
        if t_since is None or o.time >= t_since:
            inbox.append(o)
        wake.set()

    frames, models = _Frames(ws), {}  # type: ignore[var-annotated]
    streams: list[tuple[LiveSource, _Lines]] = []
    rereads: dict[LiveSource, tuple[float, set[str]]] = {}  # size or time, keys seen
    cot: list[_CotInput] = []
    loop = asyncio.get_running_loop()
    stdin_done = asyncio.Event()
    for src in parsed:
        if src.kind in ("predictions", "detections"):
            streams.append((src, _Lines(src.what)))
        elif src.kind == "cot":
            c = _CotInput(ws, src, put, on_warning, fallback)
            await c.open()
            cot.append(c)
        else:
            rereads[src] = (-1.0, set())

    def parse_lines(src: LiveSource, lines: _Lines, got: list[tuple[int, str]]) -> None:
        where_of = "stdin" if src.what == STDIN else src.what
        for n, text in got:
            row = _row(src.what, n, text)
            where = f"{where_of}, line {n}"
            key = f"{src.name}:{n}"
            if src.kind == "detections":
                put(ground_detection(ws, src, row, where, key, fallback))
            else:
                s = Source("predictions", src.what)
                put(_detection(ws, s, frames, row, where, key, None, models))

    failure: list[BaseException] = []
    # Standard input from a file (`< dets.jsonl`) is read to its end like a file; a pipe is
    # read as data arrives.
    stdin_file = stat.S_ISREG(os.fstat(0).st_mode) if any(s.what == STDIN for s in parsed) else 0
    for src, lines in streams:
        if src.what == STDIN and not stdin_file:

            def readable(src: LiveSource = src, lines: _Lines = lines) -> None:
                try:
                    data = os.read(lines.f.fileno(), 1 << 16)
                    if not data:
                        lines.done = True
                        loop.remove_reader(lines.f.fileno())
                        stdin_done.set()
                        wake.set()
                        return
                    parse_lines(src, lines, lines.take(data))
                except InvalidInput as exc:
                    failure.append(exc)
                    loop.remove_reader(lines.f.fileno())
                    wake.set()

            loop.add_reader(lines.f.fileno(), readable)

    def read_files() -> None:
        for src, lines in streams:
            if src.what != STDIN:
                while data := lines.f.read(1 << 20):
                    parse_lines(src, lines, lines.take(data))
            elif stdin_file and not lines.done:
                while data := os.read(lines.f.fileno(), 1 << 20):
                    parse_lines(src, lines, lines.take(data))
                lines.done = True
                stdin_done.set()

    def reread(now: float) -> None:
        for src, (mark, seen) in list(rereads.items()):
            if src.kind in ("reports", "tracks"):
                size = float(Path(src.what).stat().st_size)
                if size == mark:
                    continue
                mark = size
            else:
                if now - mark < poll_s:
                    continue
                mark = now
            obs, ms = read_source(ws, Source(src.kind, src.what, fallback), t_since)
            fresh_obs = [o for o in obs if o.key not in seen]
            fresh_ms = [m for m in ms if m.id not in seen]
            seen.update(o.key for o in fresh_obs)
            seen.update(m.id for m in fresh_ms)
            rereads[src] = (mark, seen)
            inbox.extend(fresh_obs)
            mentions.extend(fresh_ms)

    only_stdin = all(s.what == STDIN for s in parsed)
    if settle_gc:
        _settle()
    started = time.monotonic()
    try:
        while not stop.is_set():
            now = time.monotonic()
            read_files()
            reread(now)
            if failure:
                raise failure[0]
            took = bool(inbox or mentions)
            if took:
                live.add(inbox, mentions)
                inbox.clear()
                mentions.clear()
            idle = now - (live.last_input or started)
            ended = only_stdin and stdin_done.is_set()
            idled_out = exit_idle_s is not None and idle >= exit_idle_s
            live.step(float("inf") if ended or idled_out else idle)
            if live.dirty and (ended or idled_out or now - live.last_save >= min_interval_s):
                pic = live.save()
                if pic is not None and on_version is not None:
                    live.stats.cot_events = sum(c.n for c in cot)
                    live.stats.cot_skipped = sum(c.skipped for c in cot)
                    on_version(pic, live.stats)
                if settle_gc:
                    _settle()
            if ended or idled_out:
                break
            if took:  # the time spent fusing what came is not time without input
                live.last_input = time.monotonic()
            # Sleep until input, a scan falls due, or the next look at files and the workspace.
            wait = 0.01 if streams and not only_stdin else poll_s
            if live.pending:
                wait = min(wait, live.flush_s, live.params.scan_s)
            if live.dirty:
                wait = min(wait, max(0.0, live.last_save + min_interval_s - now))
            wake.clear()
            with contextlib.suppress(TimeoutError):
                halt = asyncio.ensure_future(stop.wait())
                woke = asyncio.ensure_future(wake.wait())
                await asyncio.wait({halt, woke}, timeout=wait, return_when="FIRST_COMPLETED")
                halt.cancel()
                woke.cancel()
    finally:
        for src, lines in streams:
            if src.what == STDIN and not lines.done and not stdin_file:
                loop.remove_reader(lines.f.fileno())
            lines.close()
        for c in cot:
            await c.close()
    live.stats.cot_events = sum(c.n for c in cot)
    live.stats.cot_skipped = sum(c.skipped for c in cot)
    return live.stats
