"""Markings only go up, everywhere at once (issue 11, finding 1).

Every path that meets an existing item with a higher marking raises it and says so; the
server, exports and `assay show` see the new marking on the very next request; lowering
is an admin's act with a reason, on the record.
"""

from __future__ import annotations

import copy
import io
import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from assay.domain.schema import LabelSchema
from assay.labeling import add_user, create_project, create_token
from assay.server import Settings, create_app
from assay.store.schema import items
from assay.workspace import Workspace
from labeling_world import (
    PASSWORD,
    SCHEMA_YAML,
    World,
    build_world,
    start_server,
)

LS_EXPORT = Path("/work/shared/fixtures/labelstudio/image_project.json")  # real Label Studio


def _scene(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (70, 110, 150)).save(buf, format="PNG")
    path = folder / "scene_000.png"
    path.write_bytes(buf.getvalue())
    return path


def _ls_export(tmp_path: Path, data_marking: str | None) -> Path:
    """Label Studio's own export of one task over scene_000.png, a SECRET class predicted."""
    task = copy.deepcopy(json.loads(LS_EXPORT.read_text())[0])
    task["data"]["image"] = "/data/local-files/?d=scene_000.png"
    result = copy.deepcopy(task["annotations"][0]["result"][:1])
    result[0]["value"]["rectanglelabels"] = ["alpha-convoy"]
    task["predictions"] = [{"model_version": "sweep@3", "score": 0.9, "result": result}]
    task["annotations"][0]["result"] = result
    task["annotations"] = task["annotations"][:1]
    if data_marking:
        task["data"]["marking"] = data_marking
    path = tmp_path / "ls_export.json"
    path.write_text(json.dumps([task]))
    return path


def _marking_of(ws: Workspace, item_id: str) -> str:
    with ws.db.read() as conn:
        return str(conn.execute(items.select().where(items.c.id == item_id)).one().marking)


@pytest.mark.parametrize("how", ["--marking", "data.marking"])
def test_finding_1_a_secret_import_over_the_same_bytes_raises_the_item_everywhere(
    how: str, cli: Any, ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
    root = str(tmp_path / "ws")
    scene = _scene(tmp_path / "imgs")
    (item_id,) = cli("-w", root, "ingest", scene, "--json").json()["item_ids"]
    assert _marking_of(ws, item_id) == "UNCLASSIFIED"
    # An unrelated project over the same image, worked by an UNCLASSIFIED annotator.
    ws.create_dataset("roads")
    ws.add_items("roads")
    add_user(ws, "uma", "annotator", "UNCLASSIFIED", PASSWORD)
    create_project(ws, "roads", LabelSchema.from_yaml_text(SCHEMA_YAML, "s.yaml"), "roads")

    flag = ["--marking", "SECRET/ALPHA"] if how == "--marking" else []
    export = _ls_export(tmp_path, None if flag else "SECRET/ALPHA")
    args = ["import", export, "--format", "labelstudio", "--dataset", "intel"]
    res = cli("-w", root, *args, "--images", tmp_path / "imgs", *flag)
    assert "raised the marking of 1 existing item(s)" in res.stdout
    assert "UNCLASSIFIED -> SECRET/ALPHA" in res.stdout
    assert _marking_of(ws, item_id) == "SECRET/ALPHA"
    (event,) = [e for e in ws.audit_log() if e.action == "item.mark"]
    assert event.target == f"item:{item_id}"
    assert event.details == {"old": "UNCLASSIFIED", "new": "SECRET/ALPHA", "via": "import"}

    out = tmp_path / "coco"
    cli("-w", root, "export", "intel", "--format", "coco", "--out", out)
    coco = json.loads((out / "annotations.json").read_text())
    assert coco["info"]["marking"] == "SECRET/ALPHA"
    assert "alpha-convoy" in {c["name"] for c in coco["categories"]}
    assert (out / "MARKING.txt").read_text().splitlines()[0] == "SECRET/ALPHA"

    uma = TestClient(create_app(Settings(), ws))
    uma.headers["Authorization"] = f"Bearer {create_token(ws, 'uma')}"
    r = uma.post("/api/v1/projects/roads/next")
    assert r.status_code == 404 and "alpha-convoy" not in r.text
    assert uma.get("/api/v1/projects").json() == []
    assert uma.get(f"/api/v1/items/{item_id}").status_code == 404


def test_a_marking_raised_while_assay_serve_runs_counts_on_the_next_request(
    ws: Workspace, tmp_path: Path, run_cli: Any
) -> None:
    w = build_world(ws, tmp_path / "data", public=2, cui=1, secret=0)
    ana, man = create_token(ws, "ana"), create_token(ws, "man")
    item = w.items["public"][0]
    server = start_server(tmp_path / "ws")
    try:
        http = httpx.Client(base_url=server.url, timeout=10)
        auth = {"Authorization": f"Bearer {ana}"}
        lease = http.post(f"/api/v1/projects/{w.project}/next", headers=auth).json()
        assert lease["item"]["marking"] in ("UNCLASSIFIED", "CUI/FLOOD")
        assert http.get(f"/api/v1/items/{item}", headers=auth).status_code == 200
        assert [p["name"] for p in http.get("/api/v1/projects", headers=auth).json()] == [w.project]
        mark = run_cli("-w", tmp_path / "ws", "item", "mark", f"id={item}", "--marking", "SECRET")
        assert "UNCLASSIFIED -> SECRET" in mark.stdout
        # The very next requests: the item, the project and its tasks are gone for ana.
        assert http.get(f"/api/v1/items/{item}", headers=auth).status_code == 404
        assert http.get("/api/v1/projects", headers=auth).json() == []
        assert http.post(f"/api/v1/projects/{w.project}/next", headers=auth).status_code == 404
        body = {"client_id": "after-raise", "regions": []}
        sent = http.post(f"/api/v1/tasks/{lease['task_id']}/submit", headers=auth, json=body)
        assert sent.status_code == 404
        dash = http.get(
            f"/api/v1/projects/{w.project}/dashboard", headers={"Authorization": f"Bearer {man}"}
        )
        assert dash.status_code == 404
        # Someone cleared for it sees the new marking at once.
        root = {"Authorization": f"Bearer {create_token(ws, 'root')}"}
        assert http.get(f"/api/v1/items/{item}", headers=root).json()["marking"] == "SECRET"
        listed = http.get("/api/v1/projects", headers=root).json()
        assert [(p["name"], p["marking"]) for p in listed] == [(w.project, "SECRET/FLOOD")]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def test_an_old_commit_exports_with_the_items_marking_now(
    cli: Any, ws: Workspace, tmp_path: Path
) -> None:
    root = str(tmp_path / "ws")
    scene = _scene(tmp_path / "imgs")
    (item_id,) = cli("-w", root, "ingest", scene, "--marking", "CUI", "--json").json()["item_ids"]
    ws.create_dataset("roads")
    ws.add_items("roads")
    ws.commit("roads", "first cut")
    cli("-w", root, "item", "mark", "name=scene_000.png", "--marking", "SECRET/ALPHA")
    for fmt, read in (
        ("coco", lambda out: json.loads((out / "annotations.json").read_text())["info"]["marking"]),
        ("jsonl", lambda out: json.loads((out / "items.jsonl").read_text())["marking"]),
    ):
        out = tmp_path / fmt
        cli("-w", root, "export", "roads@HEAD", "--format", fmt, "--out", out)
        assert read(out) == "SECRET/ALPHA"
        assert (out / "MARKING.txt").read_text().splitlines()[0] == "SECRET/ALPHA"
    assert cli("-w", root, "show", "roads", "--json").json()["marking"] == "SECRET/ALPHA"
    assert _marking_of(ws, item_id) == "SECRET/ALPHA"


def test_lowering_is_an_admins_act_with_a_reason_on_the_record(
    cli: Any, run_cli: Any, world: World, tmp_path: Path
) -> None:
    ws, root = world.ws, str(tmp_path / "ws")
    item = world.items["secret"][0]
    query = f"id={item}"
    env = {"ASSAY_PASSWORD": PASSWORD, "ASSAY_ARGON2_MEMORY_KIB": "1024"}
    # Without --downgrade a lower marking changes nothing.
    assert cli("-w", root, "item", "mark", query, "--marking", "CUI", "--json").json() == {
        "changed": []
    }
    base = ["-w", root, "item", "mark", query, "--marking", "CUI/SAR", "--downgrade"]
    no_reason = run_cli(*base, "--admin", "root", env=env, code=1)
    assert "--reason" in no_reason.stderr
    not_admin = run_cli(*base, "--admin", "man", "--reason", "declassified", env=env, code=1)
    assert "admin" in not_admin.stderr
    wrong = {**env, "ASSAY_PASSWORD": "not-it"}
    assert "wrong user name or password" in (
        run_cli(*base, "--admin", "root", "--reason", "x", env=wrong, code=1).stderr
    )
    assert _marking_of(ws, item) == "SECRET/SAR"
    done = run_cli(*base, "--admin", "root", "--reason", "released by order 7", "--json", env=env)
    assert done.json()["changed"] == [{"item": item, "old": "SECRET/SAR", "new": "CUI/SAR"}]
    assert _marking_of(ws, item) == "CUI/SAR"
    (event,) = [e for e in ws.audit_log() if e.action == "item.downgrade"]
    assert (event.actor, event.target) == ("user:root", f"item:{item}")
    assert event.details == {"old": "SECRET/SAR", "new": "CUI/SAR", "reason": "released by order 7"}
