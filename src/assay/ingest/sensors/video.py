"""Full-motion video: frames sampled as derived items, each with its KLV telemetry.

One pass over the container decodes the video stream and collects every MISB ST 0601
packet from its data streams (synchronous, with presentation times, or asynchronous, timed
by the video around them). Frames are kept by the sampling rules (every N seconds, on a
scene change, up to a maximum, without near-duplicates by perceptual hash), encoded as JPEG,
and matched to their telemetry once the whole flight's packets are known.

Decoding uses PyAV, which bundles FFmpeg: no system FFmpeg is needed.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from assay.errors import InvalidInput, require
from assay.ingest.sensors import klv
from assay.ingest.sensors.footprint import Footprint, footprint
from assay.ingest.sensors.options import VideoOptions
from assay.ingest.sensors.telemetry import FrameTelemetry, TimedPacket, for_frame

JPEG_QUALITY = 92


@dataclass
class SampledFrame:
    index: int  # position among all decoded frames
    pts: int
    time_s: float  # from the start of the video
    jpeg: bytes
    telemetry: FrameTelemetry | None = None
    footprint: Footprint | None = None


@dataclass
class VideoScan:
    width: int
    height: int
    duration_s: float
    fps: float
    codec: str
    frames: list[SampledFrame] = field(default_factory=list)
    packets: list[TimedPacket] = field(default_factory=list)
    klv_problems: list[str] = field(default_factory=list)
    klv_streams: int = 0
    # Times (s from the start) of video packets the demuxer flagged corrupt (an MPEG-TS
    # continuity error, a burst of noise): decoded past, their frames may show artefacts.
    damaged_s: list[float] = field(default_factory=list)
    # How an MPEG-TS file is cut off (`assay.ingest.sensors.ts`): it goes in as far as it goes.
    cut_off: list[str] = field(default_factory=list)


def _open(path: str) -> Any:
    av: Any = require("av", "sensors")

    try:
        return av.open(path)
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"{path}: not a readable video ({exc.strerror or exc})") from None


def scan_video(
    path: str,
    options: VideoOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VideoScan:
    """Decode `path` once: sampled frames with telemetry and footprints, and all packets.

    `progress(done, total)` is told how far the demuxer is into the file, in bytes, as the
    frames are decoded (a long video is most of an ingest's time).

    Raises:
        InvalidInput: not a video, no video stream, or (strict KLV) a bad packet.
    """
    av: Any = require("av", "sensors")
    opts = options or VideoOptions()
    with _open(path) as container:
        if not container.streams.video:
            raise InvalidInput(f"{path}: no video stream")
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        data_streams = [s for s in container.streams if s.type == "data"]
        start = _seconds(video.start_time, video.time_base) or 0.0
        scan = VideoScan(
            width=video.codec_context.width,
            height=video.codec_context.height,
            duration_s=float(container.duration or 0) / 1_000_000,
            fps=float(video.average_rate or 0),
            codec=video.codec_context.name,
            klv_streams=len(data_streams),
        )
        sampler = _Sampler(opts)
        last_video_time = start
        index = -1
        packets, read_end, stopped = 0, start, False
        size = os.path.getsize(path) if progress is not None else 0
        try:
            for packet in container.demux(video, *data_streams):
                if progress is not None and packet.pos is not None and packet.pos > 0:
                    progress(min(packet.pos, size), size)
                if packet.stream.type == "data":
                    if packet.size:
                        t = _seconds(packet.pts, packet.time_base)
                        _collect_klv(scan, bytes(packet), last_video_time if t is None else t, opts)
                    continue
                if packet.size:
                    packets += 1
                    pts = _seconds(packet.pts, packet.time_base)
                    if packet.is_corrupt:
                        scan.damaged_s.append(
                            round((last_video_time if pts is None else pts) - start, 3)
                        )
                    if pts is not None:
                        length = _seconds(packet.duration, packet.time_base) or 0.0
                        read_end = max(read_end, pts + length)
                for frame in packet.decode():
                    index += 1
                    t = float(frame.time) if frame.time is not None else last_video_time
                    last_video_time = t
                    if sampler.keep(frame, t - start):
                        scan.frames.append(
                            SampledFrame(index, int(frame.pts or 0), t - start, _jpeg(frame))
                        )
                if opts.max_frames is not None and len(scan.frames) >= opts.max_frames:
                    stopped = True
                    break
        except av.error.FFmpegError as exc:
            raise InvalidInput(f"{path}: corrupt video data ({exc.strerror or exc})") from None
        if not stopped:
            _check_whole(path, video, packets, read_end - start)
            if container.format.name == "mpegts":
                from assay.ingest.sensors.ts import cut_off

                names = {s.id: "video" if s is video else "KLV" for s in (video, *data_streams)}
                scan.cut_off = cut_off(path, os.path.getsize(path), names)
    if not scan.frames and index < 0:
        raise InvalidInput(f"{path}: no decodable video frames")
    _attach_telemetry(scan, start)
    return scan


def _declared_seconds(video: Any) -> float | None:
    """The video stream's length as its container's header states it: MP4's track duration,
    Matroska's DURATION tag (MPEG-TS states none: FFmpeg estimates one from the file)."""
    if video.container.format.name == "mpegts":
        return None
    tag = video.metadata.get("DURATION") or video.metadata.get("duration")
    if tag:
        hours, minutes, seconds = [*tag.split(":"), "", ""][:3]
        try:
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            return None
    return _seconds(video.duration, video.time_base)


def _check_whole(path: str, video: Any, packets: int, read_s: float) -> None:
    """Refuse a file that ends before its header says it does (a copy cut short): the part
    that is there decodes without an error, so only the header tells. A frame count (MP4's
    sample table) is compared when the header has one, else its duration (Matroska's), with
    a frame and a half of slack for a last frame whose length is not stored."""
    frames = int(video.frames or 0)
    declared_s = None if frames else _declared_seconds(video)
    if frames and packets < frames:
        have, want = f"{packets}", f"{frames} frames"
    elif declared_s is not None and read_s < declared_s - 1.5 / float(video.average_rate or 30):
        have, want = f"{read_s:.3f} s", f"{declared_s:.3f} s"
    else:
        return
    raise InvalidInput(
        f"{path}: video ends early: {have} of the {want} its header declares are there "
        "(a truncated copy?)"
    )


def _seconds(value: int | None, base: Fraction | None) -> float | None:
    if value is None or base is None:
        return None
    return float(value * base)


def _collect_klv(scan: VideoScan, payload: bytes, t: float, opts: VideoOptions) -> None:
    for _offset, raw in klv.iter_packets(payload):
        n = len(scan.packets) + len(scan.klv_problems)
        try:
            pkt = klv.decode_packet(raw, strict=opts.klv == "strict")
        except klv.KlvError as exc:
            if opts.klv == "strict":
                raise InvalidInput(f"KLV packet {n} at {t:.3f} s: {exc}") from None
            scan.klv_problems.append(f"packet {n} at {t:.3f} s: {exc} (skipped)")
            continue
        scan.klv_problems.extend(f"packet {n} at {t:.3f} s: {p}" for p in pkt.problems)
        scan.packets.append(TimedPacket(t, pkt))


def _attach_telemetry(scan: VideoScan, start: float) -> None:
    if not scan.packets:
        return
    scan.packets.sort(key=lambda p: p.time_s)
    times = [p.time_s - start for p in scan.packets]
    for fr in scan.frames:
        fr.telemetry = for_frame(scan.packets, times, fr.time_s)
        fr.footprint = footprint(fr.telemetry.values, scan.width, scan.height)


def _jpeg(frame: Any) -> bytes:
    buf = io.BytesIO()
    frame.to_image().save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


class _Sampler:
    """Decides which decoded frames become items."""

    def __init__(self, opts: VideoOptions) -> None:
        self.opts = opts
        self.next_time = 0.0
        self.last_thumb: np.ndarray | None = None
        self.hashes: list[int] = []

    def keep(self, frame: Any, t: float) -> bool:
        o = self.opts
        if o.max_frames is not None and len(self.hashes) >= o.max_frames:
            return False
        due = t + 1e-6 >= self.next_time
        thumb = None
        if o.scene_change is not None or o.dedup is not None:
            thumb = frame.reformat(width=9, height=8, format="gray").to_ndarray().astype(np.int16)
        changed = False
        if o.scene_change is not None and thumb is not None:
            if self.last_thumb is None:
                changed = True
            else:
                diff = np.abs(thumb - self.last_thumb).mean() / 255.0
                changed = bool(diff > o.scene_change)
        if not (due or changed):
            return False
        h = _dhash(thumb) if thumb is not None else 0
        if o.dedup is not None and any(bin(h ^ k).count("1") <= o.dedup for k in self.hashes):
            return False
        self.hashes.append(h)
        self.last_thumb = thumb
        if due:
            self.next_time = (t // o.every + 1) * o.every if o.every > 0 else t
        return True


def _dhash(thumb: np.ndarray) -> int:
    """64-bit difference hash of a 9x8 grayscale thumbnail."""
    bits = (thumb[:, 1:] > thumb[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)
