"""MISB ST 0601 KLV decoding: golden values from the standard, parity with klvdata,
checksums, truncation, unknown tags and the faults real encoders make."""

from __future__ import annotations

import struct

import klvdata
import numpy as np
import pytest
from klvdata.common import packet_checksum

from assay.ingest.sensors import klv

# ST 0601 example items (tag, value bytes) and the values the standard prints for them.
GOLDEN = {
    5: ("71C2", 159.974365),
    6: ("FD3D", -0.4315251),
    7: ("08B8", 3.405814),
    13: ("5595B66D", 60.17682296),
    14: ("5B5360C4", 128.42675904),
    15: ("C221", 14190.72),
    16: ("CD9C", 144.5713),
    17: ("D917", 152.6436),
    18: ("724A0A20", 160.71921147),
    19: ("87F84B86", -168.79232483),
    20: ("7DC55ECE", 176.86543821),
    21: ("03830926", 68590.98),
    22: ("1281", 722.8199),
    23: ("F101A229", -10.54238863),
    24: ("14BC082B", 29.15789012),
    25: ("34F3", 3216.037),
}


def _assemble(items: list[tuple[int, bytes]]) -> bytes:
    """A packet assembled by hand, its checksum computed by klvdata (not by assay)."""
    body = b"".join(bytes([tag, len(v)]) + v for tag, v in items) + b"\x01\x02"
    packet = klv.UAS_LS_KEY + bytes([len(body) + 2]) + body + b"\x00\x00"
    return packet[:-2] + packet_checksum(packet)


def _lsb(tag: klv.Tag) -> float:
    return (tag.high - tag.low) / ((1 << (8 * tag.size)) - 2)


def test_golden_items_decode_to_the_standards_values() -> None:
    stamp = struct.pack(">Q", 1_224_807_209_913_000)  # Oct 24 2008 00:13:29.913 UTC
    items = [(2, stamp), *[(t, bytes.fromhex(h)) for t, (h, _) in GOLDEN.items()]]
    pkt = klv.decode_packet(_assemble(items), strict=True)
    assert pkt.checksum_ok and pkt.problems == []
    assert pkt.time_us == 1_224_807_209_913_000
    for tag, (_, expected) in GOLDEN.items():
        spec = klv.TAGS[tag]
        # The standard prints values rounded (to about seven significant digits, or one
        # step of the integer for the short items).
        tol = max(_lsb(spec), 1e-6 * abs(expected))
        assert pkt.values[spec.name] == pytest.approx(expected, abs=tol), spec.name


def test_decoding_matches_klvdata_on_random_packets() -> None:
    rng = np.random.default_rng(11)
    mapped = [t for t in klv.TAGS.values() if t.kind in ("uint", "int")]
    for _ in range(200):
        chosen = rng.choice(len(mapped), size=12, replace=False)
        values: dict[str, klv.Value] = {"precision_time_stamp": int(rng.integers(0, 4 * 10**15))}
        for k in chosen:
            t = mapped[int(k)]
            values[t.name] = float(rng.uniform(t.low, t.high))
        raw = klv.encode(values)
        ours = klv.decode_packet(raw, strict=True)
        (theirs,) = list(klvdata.StreamParser(raw))
        by_tag = {int(el.key[0]): el for el in theirs.items.values()}
        for name, value in ours.values.items():
            tag = klv.BY_NAME[name]
            if tag.kind == "time":
                assert by_tag[tag.number].value.value.timestamp() * 1e6 == pytest.approx(value)
                continue
            assert value == pytest.approx(float(by_tag[tag.number].value.value), abs=1e-9), name
        # And klvdata agrees the checksum we wrote is right.
        assert raw[-2:] == packet_checksum(raw)


def test_bad_checksum_is_kept_and_recorded_in_lenient_mode_and_refused_in_strict() -> None:
    raw = bytearray(klv.encode({"precision_time_stamp": 5, "sensor_latitude": 10.0}))
    raw[-1] ^= 0xFF
    pkt = klv.decode_packet(bytes(raw))
    assert not pkt.checksum_ok
    assert pkt.values["sensor_latitude"] == pytest.approx(10.0, abs=1e-7)
    assert any(p.startswith("checksum 0x") for p in pkt.problems)
    with pytest.raises(klv.KlvError, match="checksum"):
        klv.decode_packet(bytes(raw), strict=True)


def test_wrong_tag_length_is_recorded_per_tag_and_kept_raw() -> None:
    raw = klv.encode({"precision_time_stamp": 1}, unknown={5: b"\x01\x02\x03"})
    pkt = klv.decode_packet(raw)
    assert pkt.checksum_ok
    assert pkt.problems == ["tag 5 (platform_heading): 3 bytes, expected 2"]
    assert pkt.unknown[5] == b"\x01\x02\x03" and "platform_heading" not in pkt.values
    with pytest.raises(klv.KlvError, match="tag 5"):
        klv.decode_packet(raw, strict=True)


def test_truncated_packets_are_refused_with_the_reason() -> None:
    raw = klv.encode({"precision_time_stamp": 1, "mission_id": "FLOOD-7"})
    for cut in (10, 17, len(raw) - 1):
        with pytest.raises(klv.KlvError, match=r"truncated|runs past|universal key"):
            klv.decode_packet(raw[:cut])
    with pytest.raises(klv.KlvError, match="not a MISB ST 0601 packet"):
        klv.decode_packet(b"\x00" * 40)


def test_unknown_tags_long_lengths_and_multibyte_tags_survive() -> None:
    long_text = "Survey flight over the flooded river district " * 4  # > 127 bytes: BER long form
    raw = klv.encode(
        {"precision_time_stamp": 7, "mission_id": long_text},
        unknown={94: b"\xaa\xbb", 200: b"\x01"},  # tag 200 takes two BER-OID bytes
    )
    assert raw[16] & 0x80  # the packet's own length is long form too
    pkt = klv.decode_packet(raw, strict=True)
    assert pkt.values["mission_id"] == long_text
    assert pkt.unknown == {94: b"\xaa\xbb", 200: b"\x01"}


def test_out_of_range_indicator_decodes_as_none_and_security_set_as_level() -> None:
    raw = _assemble([(2, struct.pack(">Q", 3)), (13, b"\x80\x00\x00\x00"), (48, b"\x01\x01\x04")])
    pkt = klv.decode_packet(raw, strict=True)
    assert pkt.values["sensor_latitude"] is None
    assert pkt.values["security_classification"] == "SECRET"


def test_iter_packets_finds_every_packet_in_a_payload() -> None:
    a = klv.encode({"precision_time_stamp": 1})
    b = klv.encode({"precision_time_stamp": 2})
    found = list(klv.iter_packets(b"junk" + a + b))
    assert [off for off, _ in found] == [4, 4 + len(a)]
    assert [klv.decode_packet(p).time_us for _, p in found] == [1, 2]


def _random_values(rng: np.random.Generator) -> dict[str, klv.Value]:
    mapped = [t for t in klv.TAGS.values() if t.kind in ("uint", "int")]
    chosen = rng.choice(len(mapped), size=12, replace=False)
    values: dict[str, klv.Value] = {
        "precision_time_stamp": int(rng.integers(10**15, 4 * 10**15)),
        "ls_version": 19,
    }
    for k in chosen:
        t = mapped[int(k)]
        values[t.name] = float(rng.uniform(t.low, t.high))
    return values


def test_packets_round_trip_with_stanag4609_both_ways() -> None:
    """stanag4609 (a spec-led ST 0601.19 codec) decodes what assay writes without an issue,
    and assay decodes what stanag4609 writes to the same values."""
    from datetime import UTC, datetime

    import stanag4609.st0601 as st

    rng = np.random.default_rng(5)
    for _ in range(100):
        values = _random_values(rng)
        values["security_classification"] = "CONFIDENTIAL"
        raw = klv.encode(values)
        theirs = st.decode_uas_local_set(raw)  # strict: checksum, version, field lengths
        assert theirs.issues == ()
        by_tag = {f.definition.tag: f.value for f in theirs.fields}
        ours = klv.decode_packet(raw, strict=True)
        for name, value in ours.values.items():
            tag = klv.BY_NAME[name]
            if tag.kind in ("uint", "int"):
                assert float(by_tag[tag.number]) == pytest.approx(value, abs=1e-9), name
        # ... and the other way: stanag4609 encodes, assay decodes.
        stamp = datetime.fromtimestamp(values["precision_time_stamp"] / 1e6, tz=UTC)  # type: ignore[operator]
        numeric = {
            klv.BY_NAME[n].number: v
            for n, v in values.items()
            if klv.BY_NAME[n].kind in ("uint", "int")
        }
        back = klv.decode_packet(
            st.encode_uas_local_set({2: stamp, 65: 19, **numeric}), strict=True
        )
        for number in numeric:
            name = klv.TAGS[number].name
            assert back.values[name] == pytest.approx(ours.values[name], abs=1e-9), name
