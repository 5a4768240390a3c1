"""An entity in the shapes other systems read: a GeoJSON feature, and JSON shaped like the
public entity model of Anduril's Lattice (entityId, ontology, location, locationUncertainty,
provenance, dataClassification).

Every shape carries the entity's marking; the caller filters by clearance first
(`assay.feeds.visible`).

Example:
    >>> from assay.domain.entity import Entity
    >>> e = Entity(id="e1", label="person", cot_type="a-u-G-U-C", lon=-95.37, lat=29.76,
    ...            first_seen="2026-07-25T17:20:00Z", last_seen="2026-07-25T17:20:05Z",
    ...            confidence=0.8, marking="CUI")
    >>> entity_feature(e)["geometry"]
    {'type': 'Point', 'coordinates': [-95.37, 29.76]}
    >>> lattice_entity(e, picture="flood")["dataClassification"]["default"]["level"]
    'CLASSIFICATION_LEVELS_CUI'
"""

from __future__ import annotations

import math
from typing import Any

from assay.domain.entity import Entity

__all__ = ["entity_feature", "entity_payload", "lattice_entity", "uncertainty_ellipse"]


def entity_payload(e: Entity) -> dict[str, Any]:
    """The entity as plain JSON (what NATS and SSE carry), with ce and course added."""
    data = e.model_dump(mode="json")
    data["ce_m"] = round(e.ce_m, 3)
    data["course_deg"] = round(e.course_deg, 2)
    data["speed_mps"] = round(e.speed_mps, 3)
    data["ellipse"] = uncertainty_ellipse(e)
    return data


def uncertainty_ellipse(e: Entity, sigmas: float = 2.0) -> dict[str, float]:
    """The `sigmas` error ellipse of the position covariance: semi-axes in metres and the
    major axis' orientation in degrees clockwise from north."""
    ee, en, nn = e.covariance
    mean = (ee + nn) / 2
    spread = math.sqrt(((ee - nn) / 2) ** 2 + en**2)
    major, minor = mean + spread, max(mean - spread, 0.0)
    # The eigenvector angle from east, counter-clockwise; turned into a bearing.
    angle_east = 0.5 * math.atan2(2 * en, ee - nn)
    bearing = (90.0 - math.degrees(angle_east)) % 180.0
    return {
        "semi_major_m": round(sigmas * math.sqrt(max(major, 0.0)), 3),
        "semi_minor_m": round(sigmas * math.sqrt(minor), 3),
        "orientation_deg": round(bearing, 2),
    }


def entity_feature(e: Entity) -> dict[str, Any]:
    """A GeoJSON Point feature (RFC 7946) whose properties are the entity's fields."""
    props = entity_payload(e)
    props.pop("lon")
    props.pop("lat")
    props["track"] = [[p.lon, p.lat] for p in e.track]
    return {
        "type": "Feature",
        "id": e.id,
        "geometry": {"type": "Point", "coordinates": [e.lon, e.lat]},
        "properties": props,
    }


def lattice_entity(e: Entity, *, picture: str) -> dict[str, Any]:
    """JSON shaped like Lattice's public entity model: the marking's level maps to
    ``CLASSIFICATION_LEVELS_<LEVEL>`` and its compartments to caveats."""
    level, *caveats = (e.marking or "UNCLASSIFIED").split("/")
    ee, en, nn = e.covariance
    ellipse = uncertainty_ellipse(e, sigmas=1.0)
    return {
        "entityId": f"assay.{picture}.{e.id}",
        "description": f"{e.label} fused by assay (picture {picture})",
        "isLive": e.status != "lost",
        "createdTime": e.first_seen,
        "aliases": {"name": f"{e.label} {e.id[:8]}"},
        "ontology": {
            "template": "TEMPLATE_TRACK",
            "platformType": e.label,
            "specificType": e.cot_type,
        },
        "milView": {"disposition": "DISPOSITION_UNKNOWN", "environment": "ENVIRONMENT_SURFACE"},
        "location": {
            "position": {
                "latitudeDegrees": e.lat,
                "longitudeDegrees": e.lon,
                **({"altitudeHaeMeters": e.hae} if e.hae is not None else {}),
            },
            "velocityEnu": {"e": e.velocity[0], "n": e.velocity[1], "u": 0.0},
            "speedMps": e.speed_mps,
        },
        "locationUncertainty": {
            "positionEnuCov": {"mxx": ee, "mxy": en, "myy": nn},
            "positionErrorEllipse": {
                "probability": 0.3935,  # one sigma in two dimensions
                "semiMajorAxisM": ellipse["semi_major_m"],
                "semiMinorAxisM": ellipse["semi_minor_m"],
                "orientationD": ellipse["orientation_deg"],
            },
        },
        "provenance": {
            "integrationName": "assay",
            "dataType": "fused-entity",
            "sourceId": e.id,
            "sourceUpdateTime": e.last_seen,
            "sourceDescription": "; ".join(
                f"{k}: {', '.join(v)}" for k, v in e.provenance.model_dump().items() if v
            ),
        },
        "dataClassification": {
            "default": {
                "level": "CLASSIFICATION_LEVELS_" + level.upper().replace(" ", "_"),
                "caveats": caveats,
            },
            "fields": [],
        },
        "status": {"statusText": e.status},
        "indicators": {"confidence": e.confidence, "detections": e.detections},
    }
