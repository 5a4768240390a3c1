"""CoT events: valid against the CoT 2.0 event schema and read by taky's own event model."""

from __future__ import annotations

from lxml import etree
from taky.cot import models

from assay.feeds.cot import delete_event, entity_event
from feed_peers import make_entity, schema


def test_entity_event_is_valid_cot_and_taky_reads_every_field() -> None:
    e = make_entity(3, marking="CUI/FLOOD", hae=12.5, sensors=("drone-1",))
    xml = entity_event(e, picture="flood", now="2026-07-25T17:21:00Z", stale_s=120)
    doc = etree.fromstring(xml)
    schema().assertValid(doc)

    evt = models.Event.from_elm(etree.fromstring(xml))
    assert evt.uid == f"assay.flood.{e.id}"
    assert evt.etype == "a-u-G-E-V-C"
    assert evt.how == "m-i"  # one sensor: mensurated from imagery
    assert (evt.stale - evt.time).total_seconds() == 120
    assert abs(evt.point.lat - e.lat) < 1e-6 and abs(evt.point.lon - e.lon) < 1e-6
    assert evt.point.ce == round(e.ce_m, 1) and evt.point.hae == 12.5
    detail = evt.detail.as_element
    assert detail.find("track").get("course") == f"{e.course_deg:.1f}"
    assert float(detail.find("track").get("speed")) == round(e.speed_mps, 2)
    assert detail.find("marking").get("text") == "CUI/FLOOD"
    assert detail.find("remarks").text.startswith("(CUI/FLOOD) vehicle, confirmed")
    assert doc.get("access") == "CUI/FLOOD"


def test_lost_entity_is_stale_at_once_and_unknown_height_is_cot_unknown() -> None:
    e = make_entity(4, status="lost")
    doc = etree.fromstring(entity_event(e, picture="flood", now="2026-07-25T17:21:00Z"))
    schema().assertValid(doc)
    assert doc.get("stale") == doc.get("time")
    assert doc.find("point").get("hae") == "9999999.0"
    assert doc.get("access") == "UNCLASSIFIED"
    assert doc.get("how") == "m-f"  # two sensors: fused


def test_delete_event_names_the_entity() -> None:
    doc = etree.fromstring(delete_event("flood", "ent-1", "a-u-G-U-C", now="2026-07-25T17:21:00Z"))
    schema().assertValid(doc)
    evt = models.Event.from_elm(doc)
    assert evt.etype == "t-x-d-d"
    link = evt.detail.as_element.find("link")
    assert link.get("uid") == "assay.flood.ent-1" and link.get("type") == "a-u-G-U-C"
    assert evt.detail.as_element.find("__forcedelete") is not None


def test_a_label_or_id_with_control_characters_still_makes_well_formed_cot() -> None:
    """A label comes from a predictions file (any JSON string): markup in it is escaped, and a
    character XML 1.0 cannot hold (a control character) is replaced, so the event stays one
    well-formed document a TAK server reads (one bad event on a TCP stream would break the
    events after it)."""
    e = make_entity(5, marking="CUI").model_copy(
        update={"label": 'boat\x01</remarks><x a="1">&\x1b[2J', "id": "ent\x00-5"}
    )
    xml = entity_event(e, picture="flood", now="2026-07-25T17:21:00Z")
    doc = etree.fromstring(xml)
    schema().assertValid(doc)
    remarks = doc.find("detail/remarks").text
    assert remarks.startswith('(CUI) boat\ufffd</remarks><x a="1">&\ufffd[2J, ')
    assert doc.find("detail/x") is None and doc.get("uid") == "assay.flood.ent\ufffd-5"
    gone = etree.fromstring(delete_event("flood", "ent\x00-5", now="2026-07-25T17:21:00Z"))
    assert gone.find("detail/link").get("uid") == "assay.flood.ent\ufffd-5"
