"""The offline map's layers as GeoJSON, behind need-to-know."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from assay.labeling.geomap import map_layers
from assay.server.api_models import MapLayers, statuses
from assay.server.deps import CurrentUser, WorkspaceDep

router = APIRouter(tags=["map"])


@router.get("/map/layers", response_model=MapLayers, responses=statuses(404))
def layers(
    ws: WorkspaceDep,
    user: CurrentUser,
    dataset: str | None = Query(None, description="only this dataset's labels"),
) -> Any:
    """Footprints of georeferenced items, labels as features, flight tracks, scene bounds.

    Only items the caller is cleared for appear, and only their labels.
    """
    return map_layers(ws, user, dataset)
