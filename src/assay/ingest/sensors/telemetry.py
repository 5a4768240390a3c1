"""Frame telemetry: the KLV packet nearest a frame, and values interpolated between packets.

Encoders send ST 0601 packets at their own rate (often 1-30 Hz, sometimes far sparser), in
a synchronous KLV stream (each packet with a presentation time on the video's clock) or an
asynchronous one (packets interleaved without a time of their own; they take the time of the
video around them). A frame gets the packet nearest its presentation time, the offset
between the two, and numeric values interpolated linearly between the packets either side
of it (angles that wrap at 360 degrees the short way round).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from assay.ingest.sensors.klv import Packet

# Values interpolated on a circle rather than a line.
_CIRCULAR = {"platform_heading", "sensor_relative_azimuth", "sensor_relative_roll"}
# Values that are not measurements: never interpolated, taken from the nearest packet.
_DISCRETE = {"precision_time_stamp", "ls_version"}


@dataclass(frozen=True)
class TimedPacket:
    time_s: float  # on the video's clock
    packet: Packet


@dataclass(frozen=True)
class FrameTelemetry:
    values: dict[str, object]
    packet_index: int  # index of the nearest packet
    offset_s: float  # frame time minus the nearest packet's time
    interpolated: bool


def for_frame(packets: Sequence[TimedPacket], times: Sequence[float], t: float) -> FrameTelemetry:
    """Telemetry for a frame at time `t`; `times` is the packets' times (sorted)."""
    i = bisect.bisect_left(times, t)
    before = i - 1 if i > 0 else None
    after = i if i < len(times) else None
    if before is None or (after is not None and times[after] - t < t - times[before]):
        nearest = after
    else:
        nearest = before
    assert nearest is not None
    values: dict[str, object] = dict(packets[nearest].packet.values)
    interpolated = False
    if before is not None and after is not None and times[after] > times[before]:
        a, b = packets[before].packet.values, packets[after].packet.values
        w = (t - times[before]) / (times[after] - times[before])
        for name, va in a.items():
            vb = b.get(name)
            if name in _DISCRETE or not _is_num(va) or not _is_num(vb):
                continue
            values[name] = _lerp(float(va), float(vb), w, name in _CIRCULAR)  # type: ignore[arg-type]
            interpolated = True
        t_a, t_b = a.get("precision_time_stamp"), b.get("precision_time_stamp")
        if isinstance(t_a, int) and isinstance(t_b, int):
            values["precision_time_stamp"] = round(t_a + (t_b - t_a) * w)
    return FrameTelemetry(values, nearest, t - times[nearest], interpolated)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _lerp(a: float, b: float, w: float, circular: bool) -> float:
    if not circular:
        return a + (b - a) * w
    delta = (b - a + 180) % 360 - 180
    return (a + delta * w) % 360
