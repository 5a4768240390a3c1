"""A JSON endpoint of the labeling server given a body that is not sent as JSON."""

from __future__ import annotations

import uuid

from labeling_world import Client, World


def test_a_body_without_the_json_content_type_is_refused_saying_to_send_json(
    world: World, client: Client
) -> None:
    # FastAPI reads only an application/json body as JSON: the same answer sent as text/plain
    # was refused with "body: Input should be a valid dictionary or object to extract fields
    # from", which does not say what to change. The status stays the API's 422 for a body it
    # cannot take (documented on every route), as for a body that is not valid JSON.
    ana = client("ana")
    lease = ana.post(f"/api/v1/projects/{world.project}/next").json()
    body = f'{{"client_id": "{uuid.uuid4().hex}", "regions": []}}'
    url = f"/api/v1/tasks/{lease['task_id']}/submit"
    for headers, sent in (
        ({"Content-Type": "text/plain"}, "Content-Type 'text/plain'"),
        ({}, "no Content-Type"),
    ):
        r = ana.post(url, content=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.json() == {
            "error": "request body: must be JSON sent with Content-Type: application/json "
            f"(this request had {sent})"
        }
    ok = ana.post(url, content=body, headers={"Content-Type": "application/json"})
    assert ok.status_code == 200, ok.text
    # A JSON body that is not valid is named as such (it was "body.1: JSON decode error").
    bad = ana.post(url, content="{", headers={"Content-Type": "application/json"})
    assert (bad.status_code, bad.json()["error"]) == (422, "request body: not valid JSON")
