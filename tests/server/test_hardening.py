"""Server hardening: bounded bodies and JSON depth, security headers, label colours."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select, update

from assay.domain.labels import MAX_ATTRIBUTE_DEPTH, Region
from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput
from assay.store.schema import annotations_table, items
from labeling_world import Client, World


def _nested(depth: int) -> str:
    """JSON text of an object nested `depth` levels (built as text: encoders recurse)."""
    return '{"a": ' * depth + "{}" + "}" * depth


def _submit(c: Any, task_id: object, attributes: str) -> Any:
    region = (
        f'{{"kind": "choice", "control": "damage", "label": "minor", "attributes": {attributes}}}'
    )
    body = f'{{"client_id": "{uuid.uuid4().hex}", "regions": [{region}]}}'
    return c.post(
        f"/api/v1/tasks/{task_id}/submit",
        content=body,
        headers={"Content-Type": "application/json"},
    )


def test_deeply_nested_attributes_are_refused_with_422(world: World, client: Client) -> None:
    ana = client("ana")
    lease = ana.post(f"/api/v1/projects/{world.project}/next").json()
    r = _submit(ana, lease["task_id"], _nested(950))
    assert r.status_code == 422, r.text
    assert "deep" in r.json()["error"]
    # a modest nesting is still an ordinary answer
    ok = _submit(ana, lease["task_id"], '{"damage": {"roof": {"kind": "partial"}}}')
    assert ok.status_code == 200, ok.text


def test_regions_refuse_deep_attributes_whatever_the_source() -> None:
    # imports build regions too: the limit sits on the region, not only on the HTTP body
    deep: dict[str, object] = {}
    for _ in range(MAX_ATTRIBUTE_DEPTH):
        deep = {"a": deep}
    with pytest.raises(ValidationError, match="attributes nested deeper than 16 levels"):
        Region(kind="choice", control="damage", label="minor", attributes=deep)
    assert Region(kind="choice", attributes=deep["a"]).attributes == deep["a"]  # type: ignore[arg-type]


def test_deep_json_anywhere_in_a_body_is_refused_before_parsing(
    world: World, client: Client
) -> None:
    ana = client("ana")
    body = '{"client_id": "x", "regions": [], "extra": ' + "[" * 5000 + "]" * 5000 + "}"
    r = ana.post(
        "/api/v1/tasks/1/submit", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert "nested" in r.json()["error"]


def test_a_stored_deep_answer_does_not_break_the_review_queue(world: World, client: Client) -> None:
    # An answer stored before the limit existed: the reviewer still gets the task, with the
    # over-deep part of the attributes cut and said so, instead of a 500 on every request.
    ana = client("ana")
    lease = ana.post(f"/api/v1/projects/{world.project}/next").json()
    r = _submit(ana, lease["task_id"], '{"ok": 1}')
    assert r.status_code == 200, r.text
    deep = (
        '[{"kind": "choice", "control": "damage", "label": "minor", "attributes": '
        + _nested(950)
        + "}]"
    )
    with world.ws.db.begin() as conn:
        [ann_id] = conn.execute(select(annotations_table.c.id)).scalars().all()
        conn.execute(
            annotations_table.update().where(annotations_table.c.id == ann_id).values(payload=deep)
        )
    rev = client("rev")
    for _ in range(2):
        got = rev.post(f"/api/v1/projects/{world.project}/review/next")
        assert got.status_code == 200, got.text
        [ann] = got.json()["annotations"]
        [region] = ann["regions"]
        assert region["label"] == "minor"
        assert "nested too deep" in json.dumps(region["attributes"])


def test_an_oversized_body_gets_413_with_a_json_error(world: World, client: Client) -> None:
    ana = client("ana")
    big = {"client_id": "x", "regions": [], "reason": "x" * (5 << 20)}
    r = ana.post("/api/v1/tasks/1/skip", json=big)
    assert r.status_code == 413, r.text
    assert "too large" in r.json()["error"]
    # also when the client streams it without a Content-Length
    chunks = (b"x" * 65536 for _ in range(80))
    r = ana.post(
        "/api/v1/tasks/1/skip", content=chunks, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text


@pytest.mark.parametrize("path", ["/api/v1/projects", "/login", "/static/app.css", "/nope"])
def test_security_headers_on_every_response(world: World, client: Client, path: str) -> None:
    r = client("ana").get(path)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"


def test_even_a_server_error_carries_the_security_headers(world: World) -> None:
    from fastapi.testclient import TestClient

    from assay.server import Settings, create_app

    app = create_app(Settings(), world.ws)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


@pytest.mark.parametrize("stored", ["text/html", "text/javascript", "image/svg+xml"])
def test_an_item_of_an_active_type_is_answered_as_a_download(
    world: World, client: Client, stored: str
) -> None:
    # An item stored with a type a browser runs (imported before imports checked the type)
    # would be a page or a script of this origin, which `script-src 'self'` admits.
    item = world.items["public"][0]
    with world.ws.db.begin() as conn:
        conn.execute(update(items).where(items.c.id == item).values(media_type=stored))
    r = client("ana").get(f"/api/v1/items/{item}/blob")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == "attachment"
    assert r.content == world.ws.blobs.get_bytes(item)


def test_an_image_item_is_answered_in_its_own_type(world: World, client: Client) -> None:
    r = client("ana").get(f"/api/v1/items/{world.items['public'][0]}/blob")
    assert r.headers["content-type"] == "image/png"
    assert "content-disposition" not in r.headers


@pytest.mark.parametrize(
    "color",
    ["url(http://evil.example/x.png)", "red;background:url(x)", "#12345", "expression(1)", ""],
)
def test_label_colours_must_be_hex_or_named(color: str) -> None:
    text = f"controls:\n  - name: l\n    type: boxes\n    labels: [{{name: a, color: '{color}'}}]\n"
    with pytest.raises(
        InvalidInput, match=r"s\.yaml: field controls\[0\] \(l\)\.labels\[0\] \(a\)\.color"
    ):
        LabelSchema.from_yaml_text(text, "s.yaml")


@pytest.mark.parametrize("color", ["#e6194b", "#FFF", "#11223344", "teal", "RebeccaPurple"])
def test_hex_and_named_colours_are_fine(color: str) -> None:
    text = f"controls:\n  - name: l\n    type: boxes\n    labels: [{{name: a, color: '{color}'}}]\n"
    assert LabelSchema.from_yaml_text(text).controls[0].labels[0].color == color


@pytest.mark.parametrize("module", ["assay.server._hardening", "assay.domain._colours"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
