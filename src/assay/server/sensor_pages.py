"""Pages of sensor data: the video task view, the offline map, and the map's scene tiles."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.errors import NotFound
from assay.labeling.geomap import scene_tile
from assay.server.deps import current_user
from assay.server.pages import _page as page

router = APIRouter(include_in_schema=False)


@router.get("/video/{project}", response_class=HTMLResponse)
def video_page(request: Request, project: str) -> Response:
    return page(request, "video.html", project, "label", video=True)


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request) -> Response:
    return page(request, "map.html", None, "label")


@router.get("/tiles/{item_id}/{z}/{x}/{y}.png")
async def tile(request: Request, item_id: str, z: int, x: int, y: int) -> Response:
    """A 256 px Web Mercator tile of a scene (204 where the tile misses the scene)."""
    user = await current_user(request)
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound(f"no tile {z}/{x}/{y}")
    ws = request.app.state.workspace
    png = await run_in_threadpool(scene_tile, ws, user, item_id, z, x, y)
    if png is None:
        return Response(status_code=204)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
