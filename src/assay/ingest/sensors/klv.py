"""MISB ST 0601 (UAS Datalink Local Set) KLV decoding and encoding.

A packet is a SMPTE ST 336 key-length-value triplet: the 16-byte UAS Datalink Local Set key,
a BER length, then local-set items, each a BER-OID tag, a BER length and a value. The last
item is the checksum (tag 1): the low 16 bits of a running sum over every byte from the
start of the key up to and including the checksum's own length byte, even-indexed bytes
as the high byte of a 16-bit word (ST 0601.19, section 6.5).

Values are decoded by the mappings of ST 0601.19 table 1: an unsigned integer maps
linearly onto ``[min, max]``; a signed one maps symmetrically onto ``[-r, r]`` with the
most negative integer reserved as the "out of range" indicator (decoded as None).

Real encoders get checksums and tag lengths wrong (Kitware/kwiver#1477,
paretech/klvdata#58), so decoding is lenient by default: a packet with a bad checksum or an
item of an unexpected length is kept, and each problem is recorded on the packet and its
tag. ``strict=True`` raises `KlvError` instead. Tags this module does not decode are kept as
raw bytes under `Packet.unknown`.

>>> pkt = encode({"precision_time_stamp": 1_700_000_000_000_000, "sensor_latitude": 29.75})
>>> decoded = decode_packet(pkt)
>>> decoded.checksum_ok, decoded.values["precision_time_stamp"]
(True, 1700000000000000)
>>> round(decoded.values["sensor_latitude"], 6)
29.75
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from assay.errors import InvalidInput

UAS_LS_KEY = bytes.fromhex("060E2B34020B01010E01030101000000")

Kind = Literal["uint", "int", "str", "time", "count", "set", "raw"]
Value = float | int | str | bytes | None

SECURITY_CLASSIFICATION = {
    1: "UNCLASSIFIED",
    2: "RESTRICTED",
    3: "CONFIDENTIAL",
    4: "SECRET",
    5: "TOP SECRET",
}


class KlvError(InvalidInput):
    """A packet that cannot be decoded (or, in strict mode, one with any problem)."""


@dataclass(frozen=True)
class Tag:
    """One ST 0601 local-set item: its name, encoding and (for mapped numbers) range."""

    number: int
    name: str
    kind: Kind
    size: int = 0  # bytes of a fixed-size value; 0 for variable length
    low: float = 0.0
    high: float = 0.0

    def decode(self, raw: bytes) -> Value:
        if self.kind in ("uint", "int"):
            return _unmap(raw, self)
        if self.kind in ("time", "count"):
            return int.from_bytes(raw, "big")
        if self.kind == "str":
            return raw.decode("utf-8", errors="replace")
        if self.kind == "set":
            return _security_classification(raw)
        return bytes(raw)

    def encode(self, value: Value) -> bytes:
        if self.kind in ("uint", "int"):
            assert isinstance(value, int | float)
            return _map(float(value), self)
        if self.kind in ("time", "count"):
            assert isinstance(value, int)
            return value.to_bytes(self.size, "big")
        if self.kind == "str":
            return str(value).encode()
        if self.kind == "set":
            level = {v: k for k, v in SECURITY_CLASSIFICATION.items()}[str(value)]
            # ST 0102.12 local set with its mandatory items: classification (1), country
            # coding method (2: ISO-3166 three-letter), classifying country (3), object
            # country coding method (12) and codes (13, UTF-16), and the version (22).
            country = "USA".encode("utf-16-be")
            return (
                bytes([1, 1, level, 2, 1, 2, 3, 5])
                + b"//USA"
                + bytes([12, 1, 2, 13, len(country)])
                + country
                + bytes([22, 2, 0, 12])
            )
        assert isinstance(value, bytes)
        return value


def _t(number: int, name: str, kind: Kind, size: int = 0, low: float = 0, high: float = 0) -> Tag:
    return Tag(number, name, kind, size, float(low), float(high))


# Every ST 0601.19 item that carries position, attitude, sensor geometry or time, plus the
# identifying strings and the security set. Sizes and ranges from ST 0601.19 table 1.
TAGS: dict[int, Tag] = {
    t.number: t
    for t in (
        _t(2, "precision_time_stamp", "time", 8),
        _t(3, "mission_id", "str"),
        _t(4, "platform_tail_number", "str"),
        _t(5, "platform_heading", "uint", 2, 0, 360),
        _t(6, "platform_pitch", "int", 2, -20, 20),
        _t(7, "platform_roll", "int", 2, -50, 50),
        _t(8, "platform_true_airspeed", "count", 1),
        _t(9, "platform_indicated_airspeed", "count", 1),
        _t(10, "platform_designation", "str"),
        _t(11, "image_source_sensor", "str"),
        _t(12, "image_coordinate_system", "str"),
        _t(13, "sensor_latitude", "int", 4, -90, 90),
        _t(14, "sensor_longitude", "int", 4, -180, 180),
        _t(15, "sensor_true_altitude", "uint", 2, -900, 19000),
        _t(16, "sensor_horizontal_fov", "uint", 2, 0, 180),
        _t(17, "sensor_vertical_fov", "uint", 2, 0, 180),
        _t(18, "sensor_relative_azimuth", "uint", 4, 0, 360),
        _t(19, "sensor_relative_elevation", "int", 4, -180, 180),
        _t(20, "sensor_relative_roll", "uint", 4, 0, 360),
        _t(21, "slant_range", "uint", 4, 0, 5_000_000),
        _t(22, "target_width", "uint", 2, 0, 10_000),
        _t(23, "frame_center_latitude", "int", 4, -90, 90),
        _t(24, "frame_center_longitude", "int", 4, -180, 180),
        _t(25, "frame_center_elevation", "uint", 2, -900, 19000),
        _t(26, "offset_corner_latitude_1", "int", 2, -0.075, 0.075),
        _t(27, "offset_corner_longitude_1", "int", 2, -0.075, 0.075),
        _t(28, "offset_corner_latitude_2", "int", 2, -0.075, 0.075),
        _t(29, "offset_corner_longitude_2", "int", 2, -0.075, 0.075),
        _t(30, "offset_corner_latitude_3", "int", 2, -0.075, 0.075),
        _t(31, "offset_corner_longitude_3", "int", 2, -0.075, 0.075),
        _t(32, "offset_corner_latitude_4", "int", 2, -0.075, 0.075),
        _t(33, "offset_corner_longitude_4", "int", 2, -0.075, 0.075),
        _t(48, "security_classification", "set"),
        _t(56, "platform_ground_speed", "count", 1),
        _t(57, "ground_range", "uint", 4, 0, 5_000_000),
        _t(65, "ls_version", "count", 1),
        _t(75, "sensor_ellipsoid_height", "uint", 2, -900, 19000),
        _t(82, "corner_latitude_1", "int", 4, -90, 90),
        _t(83, "corner_longitude_1", "int", 4, -180, 180),
        _t(84, "corner_latitude_2", "int", 4, -90, 90),
        _t(85, "corner_longitude_2", "int", 4, -180, 180),
        _t(86, "corner_latitude_3", "int", 4, -90, 90),
        _t(87, "corner_longitude_3", "int", 4, -180, 180),
        _t(88, "corner_latitude_4", "int", 4, -90, 90),
        _t(89, "corner_longitude_4", "int", 4, -180, 180),
        _t(90, "platform_pitch_full", "int", 4, -90, 90),
        _t(91, "platform_roll_full", "int", 4, -90, 90),
    )
}
BY_NAME: dict[str, Tag] = {t.name: t for t in TAGS.values()}


@dataclass
class Packet:
    """One decoded local set: values by name, undecoded tags as raw bytes, and problems."""

    values: dict[str, Value] = field(default_factory=dict)
    unknown: dict[int, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # "tag 13: ..." or packet-level
    checksum_ok: bool = False

    @property
    def time_us(self) -> int | None:
        t = self.values.get("precision_time_stamp")
        return t if isinstance(t, int) else None


def _unmap(raw: bytes, tag: Tag) -> float | None:
    n = len(raw)
    if tag.kind == "int":
        v = int.from_bytes(raw, "big", signed=True)
        if v == -(1 << (8 * n - 1)):
            return None  # the reserved "out of range" indicator
        return v * (tag.high - tag.low) / ((1 << (8 * n)) - 2)
    v = int.from_bytes(raw, "big")
    return tag.low + v * (tag.high - tag.low) / ((1 << (8 * n)) - 1)


def _map(value: float, tag: Tag) -> bytes:
    n = tag.size
    if tag.kind == "int":
        v = round(value * ((1 << (8 * n)) - 2) / (tag.high - tag.low))
        return v.to_bytes(n, "big", signed=True)
    v = round((value - tag.low) * ((1 << (8 * n)) - 1) / (tag.high - tag.low))
    return v.to_bytes(n, "big")


def _security_classification(raw: bytes) -> str | None:
    """The classification (ST 0102 tag 1) from a security local set; the rest stays raw."""
    pos = 0
    while pos < len(raw):
        tag, pos = _ber_oid(raw, pos)
        length, pos = _ber_length(raw, pos)
        if tag == 1 and length == 1 and pos < len(raw):
            return SECURITY_CLASSIFICATION.get(raw[pos], f"unknown ({raw[pos]})")
        pos += length
    return None


def checksum(data: bytes | memoryview) -> int:
    """The ST 0601 running 16-bit sum of `data` (key through the checksum's length byte)."""
    buf = bytes(data)
    even = sum(buf[0::2])
    odd = sum(buf[1::2])
    return ((even << 8) + odd) & 0xFFFF


def _ber_length(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise KlvError("truncated: a length is missing")
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or pos + 1 + size > len(buf):
        raise KlvError("truncated or indefinite BER length")
    return int.from_bytes(buf[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


def _ber_oid(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        if pos >= len(buf):
            raise KlvError("truncated: a tag is cut off")
        byte = buf[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos


def _ber_length_bytes(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _ber_oid_bytes(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def decode_packet(data: bytes | memoryview, *, strict: bool = False) -> Packet:
    """Decode one UAS Datalink Local Set packet (key, length, items).

    Raises:
        KlvError: the bytes are not a UAS LS packet or are cut short; in strict mode also
            a bad checksum or an item of the wrong length.
    """
    buf = memoryview(data)
    if bytes(buf[:16]) != UAS_LS_KEY:
        raise KlvError("not a MISB ST 0601 packet (unknown universal key)")
    length, start = _ber_length(buf, 16)
    end = start + length
    if end > len(buf):
        raise KlvError(f"truncated packet: {len(buf) - start} of {length} bytes")
    packet = Packet()
    pos = start
    while pos < end:
        tag_start = pos
        tag, pos = _ber_oid(buf, pos)
        size, pos = _ber_length(buf, pos)
        if pos + size > end:
            raise KlvError(f"tag {tag}: length {size} runs past the end of the packet")
        raw = bytes(buf[pos : pos + size])
        pos += size
        if tag == 1:
            if size != 2:
                packet.problems.append(f"tag 1: checksum of {size} bytes, expected 2")
                continue
            expected = checksum(buf[: tag_start + 2])
            packet.checksum_ok = int.from_bytes(raw, "big") == expected
            if not packet.checksum_ok:
                packet.problems.append(
                    f"checksum 0x{int.from_bytes(raw, 'big'):04x} != computed 0x{expected:04x}"
                )
            continue
        spec = TAGS.get(tag)
        if spec is None:
            packet.unknown[tag] = raw
            continue
        if spec.size and size != spec.size:
            # ST 0601 allows some items to be sent shorter (IMAPB items); the fixed-size
            # ones decoded here are not: keep the bytes, record the problem.
            packet.problems.append(f"tag {tag} ({spec.name}): {size} bytes, expected {spec.size}")
            packet.unknown[tag] = raw
            continue
        packet.values[spec.name] = spec.decode(raw)
    if "precision_time_stamp" not in packet.values:
        packet.problems.append("tag 2 (precision_time_stamp) is missing")
    if not packet.checksum_ok and not any("checksum" in p for p in packet.problems):
        packet.problems.append("tag 1 (checksum) is missing")
    if strict and packet.problems:
        raise KlvError("; ".join(packet.problems))
    return packet


def iter_packets(data: bytes | memoryview) -> Iterator[tuple[int, memoryview]]:
    """(offset, packet bytes) of every UAS LS packet in a byte run (a KLV data stream's
    payload may hold several packets, or data before the first key)."""
    buf = memoryview(data)
    raw = bytes(buf)
    pos = raw.find(UAS_LS_KEY)
    while pos >= 0:
        try:
            length, start = _ber_length(buf, pos + 16)
        except KlvError:
            return
        end = min(start + length, len(buf))
        yield pos, buf[pos:end]
        pos = raw.find(UAS_LS_KEY, end)


def encode(values: Mapping[str, Value], *, unknown: Mapping[int, bytes] | None = None) -> bytes:
    """A UAS LS packet with `values` (by name, as decoded) and a valid checksum; used to
    write test flights and the demo's drone video."""
    body = bytearray()
    for name, value in values.items():
        if value is None:
            continue
        tag = BY_NAME[name]
        raw = tag.encode(value)
        body += _ber_oid_bytes(tag.number) + _ber_length_bytes(len(raw)) + raw
    for number, raw in (unknown or {}).items():
        body += _ber_oid_bytes(number) + _ber_length_bytes(len(raw)) + raw
    body += b"\x01\x02"
    head = UAS_LS_KEY + _ber_length_bytes(len(body) + 2)
    packet = head + bytes(body)
    return packet + struct.pack(">H", checksum(packet))
