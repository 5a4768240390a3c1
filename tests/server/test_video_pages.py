"""The labeling view of a video project sends the browser to the video view, and the video
view of a project without video says where to label it."""

from __future__ import annotations

from pathlib import Path

from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project
from assay.workspace import Workspace
from cli_support import FLOOD_TRAFFIC_SCHEMA
from labeling_world import Client, World
from video_world import flight_dataset


def _flight_project(ws: Workspace, tmp_path: Path) -> None:
    flight_dataset(ws, tmp_path, seconds=3)
    schema = LabelSchema.from_yaml_text(FLOOD_TRAFFIC_SCHEMA, "s.yaml")
    create_project(ws, "traffic", schema, "flight", Workflow(overlap=1, review="none"))


def test_label_page_of_a_video_project_redirects_to_the_video_view(
    ws: Workspace, world: World, client: Client, tmp_path: Path
) -> None:
    _flight_project(ws, tmp_path)
    ana = client("ana")
    r = ana.get("/label/traffic?from=list", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/video/traffic?from=list"
    shown = ana.get("/label/traffic")  # followed: the video view itself
    assert shown.status_code == 200 and str(shown.url).endswith("/video/traffic")
    assert "page-video" in shown.text
    # A project of still images keeps its labeling view.
    assert ana.get(f"/label/{world.project}", follow_redirects=False).status_code == 200
    # Nothing is said about a project before the user is known: log in first.
    anonymous = client(None).get("/label/traffic", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert ana.get("/label/nope", follow_redirects=False).status_code == 404


def test_video_page_of_a_project_without_video_says_where_to_label_it(
    world: World, client: Client
) -> None:
    r = client("ana").get(f"/video/{world.project}", follow_redirects=False)
    assert r.status_code == 404 and "Not a video project" in r.text
    assert f"/label/{world.project}" in r.text and "has no video" in r.text
    assert client("ana").get("/video/nope").status_code == 404
