"""Cursor-on-Target (CoT 2.0) events for fused entities.

One entity becomes one ``<event>``: the MITRE CoT base schema's attributes (uid, type, how,
time, start, stale, and ``access``, the schema's field for who may see the event), a
``<point>`` with ``ce`` (circular 1-sigma error, metres) and ``le``, and a ``<detail>`` with
``<contact>``, ``<track>`` (course in degrees from true north, speed in m/s), ``<remarks>``
opened by the marking in parentheses, and ``<marking>``, which carries the marking in detail
because TAK routers rebuild the event element and drop attributes they do not model (taky
keeps ``detail`` as it came, but not ``access``). A subscriber removed from an entity (its
marking rose above the subscription's clearance) gets TAK's delete event, ``t-x-d-d``.

Example:
    >>> from assay.domain.entity import Entity
    >>> e = Entity(id="e1", label="vehicle", cot_type="a-u-G-E-V-C", lon=-95.37, lat=29.76,
    ...            first_seen="2026-07-25T17:20:00Z", last_seen="2026-07-25T17:20:05Z",
    ...            confidence=0.9, status="confirmed", marking="CUI/FLOOD")
    >>> xml = entity_event(e, picture="flood", now="2026-07-25T17:20:06Z").decode()
    >>> 'uid="assay.flood.e1"' in xml and 'access="CUI/FLOOD"' in xml
    True
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

from assay.domain.entity import Entity

__all__ = ["UNKNOWN_ERROR", "delete_event", "entity_event", "event_uid"]

# What XML 1.0 cannot hold, escaped or not: control characters (but tab, newline and
# carriage return), lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# CoT's "unknown" for hae, ce and le.
UNKNOWN_ERROR = 9999999.0
DEFAULT_STALE_S = 300.0


def event_uid(picture: str, entity_id: str) -> str:
    """The CoT uid of an entity: stable across versions of its picture."""
    return f"assay.{picture}.{entity_id}"


def entity_event(
    entity: Entity,
    *,
    picture: str,
    now: str | None = None,
    stale_s: float = DEFAULT_STALE_S,
) -> bytes:
    """The CoT event of `entity`, UTF-8 XML without a declaration.

    A lost entity's event is stale at once, so TAK clients grey it out.
    """
    t = _parse_time(now) if now else datetime.now(UTC)
    stale = t if entity.status == "lost" else t + timedelta(seconds=stale_s)
    how = "m-f" if len(entity.sensors) > 1 else "m-i"
    ev = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": event_uid(picture, entity.id),
            "type": entity.cot_type,
            "how": how,
            "time": _fmt(t),
            "start": _fmt(t),
            "stale": _fmt(stale),
            "access": entity.marking or "UNCLASSIFIED",
        },
    )
    ET.SubElement(
        ev,
        "point",
        {
            "lat": f"{entity.lat:.7f}",
            "lon": f"{entity.lon:.7f}",
            "hae": f"{entity.hae:.1f}" if entity.hae is not None else f"{UNKNOWN_ERROR:.1f}",
            "ce": f"{entity.ce_m:.1f}",
            "le": f"{UNKNOWN_ERROR:.1f}",
        },
    )
    detail = ET.SubElement(ev, "detail")
    ET.SubElement(detail, "contact", {"callsign": f"{entity.label} {entity.id[:8]}"})
    ET.SubElement(
        detail,
        "track",
        {"course": f"{entity.course_deg:.1f}", "speed": f"{entity.speed_mps:.2f}"},
    )
    remarks = ET.SubElement(detail, "remarks")
    remarks.text = _remarks(entity)
    ET.SubElement(detail, "marking", {"text": entity.marking or "UNCLASSIFIED"})
    return _well_formed(ev)


def delete_event(
    picture: str, entity_id: str, cot_type: str = "a-u-G", *, now: str | None = None
) -> bytes:
    """TAK's delete event (``t-x-d-d`` linking the uid, with ``__forcedelete``)."""
    t = _parse_time(now) if now else datetime.now(UTC)
    uid = event_uid(picture, entity_id)
    ev = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": f"{uid}.delete",
            "type": "t-x-d-d",
            "how": "m-g",
            "time": _fmt(t),
            "start": _fmt(t),
            "stale": _fmt(t + timedelta(seconds=20)),
        },
    )
    ET.SubElement(
        ev,
        "point",
        {"lat": "0.0", "lon": "0.0", "hae": "0.0", "ce": "9999999.0", "le": "9999999.0"},
    )
    detail = ET.SubElement(ev, "detail")
    ET.SubElement(detail, "link", {"uid": uid, "relation": "none", "type": cot_type})
    ET.SubElement(detail, "__forcedelete")
    return _well_formed(ev)


def _well_formed(ev: ET.Element) -> bytes:
    """The event as UTF-8 XML, every character XML cannot hold replaced by U+FFFD: a label
    or id from a predictions file may hold any, and one event a TAK server cannot parse would
    break the stream of events after it. (Markup in values is escaped by ElementTree.)"""
    for el in ev.iter():
        el.attrib.update({k: _NOT_XML.sub("\ufffd", v) for k, v in el.attrib.items()})
        if el.text:
            el.text = _NOT_XML.sub("\ufffd", el.text)
    return bytes(ET.tostring(ev, encoding="utf-8", xml_declaration=False))


def _remarks(e: Entity) -> str:
    marking = e.marking or "UNCLASSIFIED"
    sensors = ", ".join(e.sensors) if e.sensors else "none named"
    models = ", ".join(e.provenance.models) or "none"
    commits = ", ".join(c[:12] for c in e.provenance.commits) or "none"
    return (
        f"({marking}) {e.label}, {e.status}, confidence {e.confidence:.2f}; "
        f"{e.detections} detection(s) from sensors: {sensors}; "
        f"first seen {e.first_seen}, last seen {e.last_seen}; "
        f"models: {models}; dataset commits: {commits}; "
        f"{len(e.provenance.items)} item(s) behind it."
    )


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
