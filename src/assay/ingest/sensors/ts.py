"""Whether an MPEG-TS file ends where a stream may end, or was cut off mid-way.

MPEG-TS declares no length (it is made to be cut into and out of, on a radio link), so a
recording cut short cannot be refused as an MP4 or Matroska file is; but where it ends tells:

- a file whose size is not a whole number of TS packets ends inside one (FFmpeg drops it);
- a PES packet (one frame of video, one KLV packet) starts a TS packet, so the one before it
  ends at a TS packet's end, filled up with adaptation-field stuffing (ISO/IEC 13818-1,
  2.4.3.5) unless it fits exactly. A PES that states its length (KLV, audio) and has fewer
  bytes is cut off; one that does not (video) is cut off when its last TS packet is a full
  one without stuffing, as the middle of a PES is (a frame whose PES exactly fills its last
  TS packet reads so too: about one in 184).
"""

from __future__ import annotations

from dataclasses import dataclass

SYNC = 0x47
# (packet size, offset of the sync byte): plain TS, M2TS/BDAV (a 4-byte time code first),
# TS with 16 bytes of Reed-Solomon parity.
LAYOUTS = ((188, 0), (192, 4), (204, 0))
TAIL_PACKETS = 1024  # the last packets read: a stream's last PES starts among them


@dataclass
class _Pes:
    stated: int | None = None  # the PES's length in bytes when its header states one
    have: int = 0
    padded: bool = False  # its last TS packet so far carries stuffing


def cut_off(path: str, size: int, names: dict[int, str]) -> list[str]:
    """How the MPEG-TS file at `path` (`size` bytes) is cut off: empty when it ends where a
    stream may end. `names`: what each PID carries (``video``, ``KLV``), for the messages."""
    with open(path, "rb") as f:
        head = f.read(4 * 204)
        layout = next(
            (
                (n, at)
                for n, at in LAYOUTS
                if len(head) >= 3 * n + at and all(head[at + k * n] == SYNC for k in range(3))
            ),
            None,
        )
        if layout is None:
            return []  # not a layout we know: FFmpeg read it, so say nothing rather than guess
        n, at = layout
        found: list[str] = []
        extra = size % n
        if extra:
            found.append(f"ends {extra} bytes into a {n}-byte TS packet")
        whole = size - extra
        start = max(0, whole - TAIL_PACKETS * n)
        f.seek(start)
        tail = f.read(whole - start)
    streams: dict[int, _Pes] = {}
    for off in range(at, len(tail) - 187, n):
        _packet(tail[off : off + 188], streams)
    for pid, pes in sorted(streams.items()):
        what = f"the {names[pid]} stream (PID {pid})" if pid in names else f"PID {pid}"
        if pes.stated is not None and pes.have < pes.stated:
            found.append(
                f"ends inside a PES packet of {what}: {pes.have} of its {pes.stated} bytes"
            )
        elif pes.stated is None and not pes.padded:
            found.append(
                f"ends inside a PES packet of {what} (its last TS packet is not a PES's end)"
            )
    return found


def _packet(p: bytes, streams: dict[int, _Pes]) -> None:
    if p[0] != SYNC or p[1] & 0x80:  # lost sync, or flagged with a transport error
        return
    pid = ((p[1] & 0x1F) << 8) | p[2]
    control = (p[3] >> 4) & 0x3
    payload, padded = 4, False
    if control & 0x2:  # an adaptation field first
        length = p[4]
        payload = 5 + length
        # One byte of stuffing is an empty field; more, a field with room left over.
        padded = length == 0 or _stuffed(p[5 : 5 + length])
    if not control & 0x1 or payload >= 188:
        if pid in streams:
            streams[pid].padded = streams[pid].padded or padded
        return
    data = p[payload:]
    if p[1] & 0x40:  # a payload unit starts here
        if data[:3] != b"\x00\x00\x01":
            streams.pop(pid, None)  # a table (PAT, PMT), not a PES
            return
        stated = int.from_bytes(data[4:6], "big") if len(data) >= 6 else 0
        streams[pid] = _Pes(stated + 6 if stated else None)
    pes = streams.get(pid)
    if pes is not None:
        pes.have += len(data)
        pes.padded = padded


def _stuffed(field: bytes) -> bool:
    """Whether an adaptation field (after its length byte) ends in stuffing bytes beyond the
    optional fields its flags announce (or announces none: it is there to fill)."""
    flags = field[0]
    if not flags & 0x1F:
        return True
    used = 1
    used += 6 if flags & 0x10 else 0  # PCR
    used += 6 if flags & 0x08 else 0  # OPCR
    used += 1 if flags & 0x04 else 0  # splice countdown
    if flags & 0x02 and used < len(field):  # private data
        used += 1 + field[used]
    if flags & 0x01 and used < len(field):  # extension
        used += 1 + field[used]
    return used < len(field)
