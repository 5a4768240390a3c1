"""The OpenAPI document is complete: every route states what it answers and with what."""

from __future__ import annotations

from assay.server import Settings, create_app
from assay.workspace import Workspace


def test_every_route_declares_its_response_model_errors_and_auth(ws: Workspace) -> None:
    doc = create_app(Settings(), ws).openapi()
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "session"}
    ops = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]
    assert len(ops) >= 13
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        ok = responses.get("200")
        assert ok is not None, where
        for media in ok["content"].values():
            assert media["schema"] not in ({}, None), f"{where}: 200 has no response model"
        # the body checks answer before any route, so every route documents them
        assert {"413", "422"} <= set(responses), where
        for code, resp in responses.items():
            if code not in ("200", "204"):
                # every error is one object with an `error` message
                ref = resp["content"]["application/json"]["schema"]["$ref"]
                error = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
                assert error["properties"]["error"]["type"] == "string", f"{where} {code}"
        if path == "/api/v1/auth/login":
            assert op["security"] == [] and "429" in responses
        else:
            assert op["security"] == [{"bearer": []}, {"session": []}] and "401" in responses, where


def test_answers_link_to_where_their_ids_lead(ws: Workspace) -> None:
    doc = create_app(Settings(), ws).openapi()
    links = doc["paths"]["/api/v1/projects/{project}/next"]["post"]["responses"]["200"]["links"]
    submit = doc["paths"]["/api/v1/tasks/{task_id}/submit"]["post"]["operationId"]
    assert links["Submit"] == {
        "operationId": submit,
        "parameters": {"task_id": "$response.body#/task_id"},
    }
