"""Need-to-know of the picture routes: picture `town` has an UNCLASSIFIED, a CUI/FLOOD and a
SECRET/SAR entity (the last seen by a sensor whose name is itself sensitive), picture `sar`
only SECRET/SAR ones. ana (CUI/FLOOD) sees two entities of `town` and no `sar`: that answers
as a missing picture; low (UNCLASSIFIED) sees one entity."""

from __future__ import annotations

import re
from typing import Any

from assay.domain.entity import Entity, Provenance
from assay.fusion import pictures
from labeling_world import Client, World

SECRET_SENSOR = "RAVEN-7"
SECRET_ID = "ent-5ec2e7000001"


def entity(eid: str, marking: str, sensor: str = "drone-1", items: tuple[str, ...] = ()) -> Entity:
    """A vehicle seen by `sensor` (in the frames `items`, when given)."""
    return Entity(
        id=eid,
        label="vehicle",
        cot_type="a-u-G-E-V-C",
        lon=-95.36,
        lat=29.75,
        first_seen="2026-07-25T17:20:00Z",
        last_seen="2026-07-25T17:20:05Z",
        confidence=0.8,
        status="confirmed",
        marking=marking,
        sensors=(sensor,),
        provenance=Provenance(items=items, sources=(f"predictions:{sensor}.jsonl",)),
    )


def saved(world: World) -> None:
    if not pictures.is_picture(world.ws, "town"):
        pictures.save(
            world.ws,
            "town",
            [
                entity("ent-000000000001", ""),
                entity("ent-000000000002", "CUI/FLOOD"),
                entity(SECRET_ID, "SECRET/SAR", SECRET_SENSOR),
            ],
            message="town",
        )
        pictures.save(world.ws, "sar", [entity("ent-5ec2e7000002", "SECRET/SAR")], message="s")


def _clean(r: Any) -> Any:
    for secret in (SECRET_SENSOR, SECRET_ID, "SECRET", "ent-5ec2e7000002"):
        assert secret not in r.text, f"{secret} leaked in {r.request.url}"
    return r


def _as_missing(c: Any, path: str) -> None:
    hidden = c.get(path.format(p="sar"))
    missing = c.get(path.format(p="nowhere"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace("sar", "P") == missing.text.replace("nowhere", "P")


def deny_picture_entities(world: World, client: Client) -> None:
    saved(world)
    ana = _clean(client("ana").get("/api/v1/pictures/town/entities")).json()
    assert [f["id"] for f in ana["features"]] == ["ent-000000000001", "ent-000000000002"]
    assert ana["marking"] == "CUI/FLOOD"
    low = _clean(client("low").get("/api/v1/pictures/town/entities")).json()
    assert [f["id"] for f in low["features"]] == ["ent-000000000001"]
    assert low["marking"] == "UNCLASSIFIED"
    root = client("root").get("/api/v1/pictures/town/entities").json()
    assert len(root["features"]) == 3 and root["marking"] == "SECRET/FLOOD/SAR"
    _as_missing(client("ana"), "/api/v1/pictures/{p}/entities")


def deny_picture_entity(world: World, client: Client) -> None:
    saved(world)
    c = client("ana")
    ok = _clean(c.get("/api/v1/pictures/town/entities/ent-000000000002"))
    assert ok.json()["lattice"]["dataClassification"]["default"]["caveats"] == ["FLOOD"]
    hidden = c.get(f"/api/v1/pictures/town/entities/{SECRET_ID}")
    missing = c.get("/api/v1/pictures/town/entities/ent-000000000099")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"].replace(SECRET_ID, "E") == missing.json()["error"].replace(
        "ent-000000000099", "E"
    )
    assert client("root").get(f"/api/v1/pictures/town/entities/{SECRET_ID}").status_code == 200
    _as_missing(c, "/api/v1/pictures/{p}/entities/ent-5ec2e7000002")


def deny_picture_lattice(world: World, client: Client) -> None:
    saved(world)
    low = _clean(client("low").get("/api/v1/pictures/town/lattice")).json()
    assert [e["entityId"] for e in low["entities"]] == ["assay.town.ent-000000000001"]
    _as_missing(client("ana"), "/api/v1/pictures/{p}/lattice")


def deny_picture_cot(world: World, client: Client) -> None:
    saved(world)
    ana = _clean(client("ana").get("/api/v1/pictures/town/cot"))
    assert ana.headers["content-type"].startswith("application/xml")
    assert ana.text.count("<event ") == 2
    _as_missing(client("ana"), "/api/v1/pictures/{p}/cot")


def deny_picture_stream(world: World, client: Client) -> None:
    saved(world)
    with client("ana").stream("GET", "/api/v1/pictures/town/stream?seconds=0.1") as r:
        body = "".join(r.iter_text())
    assert body.count("event: upsert") == 2 and "event: version" in body
    # The version event names the scheme's levels (public: the map colours banners by them).
    data = re.sub(r'"levels": \[[^\]]*\]', "", body)
    for secret in (SECRET_SENSOR, SECRET_ID, "SECRET"):
        assert secret not in data, (secret, body)
    _as_missing(client("ana"), "/api/v1/pictures/{p}/stream?seconds=0.1")
