"""What the API answers: one pydantic model per response shape, and the error statuses.

These only describe (and, on the routes that are not hot, check) what the services return;
the OpenAPI document is generated from them, so it states every field and every status a
route can answer. Objects allow fields beyond those listed (``additionalProperties``), so a
field a service adds is documented here next but never dropped from an answer meanwhile.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assay.domain.schema import LabelSchema

TaskId = int | str  # opaque to clients: a number today, maybe a token tomorrow


class Open(BaseModel):
    """A response object: the fields listed, and possibly more."""

    model_config = ConfigDict(extra="allow")


class Error(BaseModel):
    """Every error answer: one message naming the thing and, where there is one, the remedy."""

    error: str


class UserView(Open):
    name: str
    role: str
    clearance: str


class Me(UserView):
    csrf_token: str | None = Field(
        description="Send as X-CSRF-Token on writes when authenticated by the session cookie."
    )


class LoginResult(Me):
    user: str


class LoggedOut(Open):
    logged_out: bool


class ItemView(Open):
    id: str
    media_type: str
    width: int | None
    height: int | None
    marking: str
    name: str
    size: int
    metadata: dict[str, Any]
    text: str | None = Field(description="The text of a text item (images: null).")


class ProjectSummary(Open):
    name: str
    title: str
    dataset: str
    task_count: int  # the work tasks; gold tasks are counted apart
    gold_count: int
    done_count: int
    in_progress: int


class WorkflowView(Open):
    overlap: int
    gold_share: float
    review: str


class ProjectDetail(Open):
    name: str
    marking: str  # the highest of everything in the project: its list entry's banner
    # What the project itself says (title, instructions, schema): its declared marking and its
    # dataset's. A page showing a task is marked at least this, however low the task's item.
    declared_marking: str
    title: str
    dataset: str
    schema_: LabelSchema = Field(alias="schema")
    instructions: str
    workflow: WorkflowView


class Lease(Open):
    task_id: TaskId
    item: ItemView
    media_url: str
    prelabels: list[dict[str, Any]] = Field(description="Model regions in canonical form.")
    lease_expires: str


class AnnotationView(Open):
    id: str
    author: str
    regions: list[dict[str, Any]] = Field(description="Regions in canonical form.")
    created: str
    lead_time: float | None


class ReviewTask(Open):
    task_id: TaskId
    item: ItemView
    media_url: str
    annotations: list[AnnotationView]


class Dashboard(Open):
    project: str
    marking: str  # the project's, for the page's banner
    tasks: int  # the work tasks; gold tasks are counted apart
    gold_tasks: int
    done: int
    in_progress: int
    skipped: int
    throughput_per_hour: float
    annotators: list[dict[str, Any]]
    paused: list[Any]
    agreement: float | None
    agreement_tasks: int
    review: dict[str, Any] | None  # None: the project has no review step
    gold_min_accuracy: float


class Submitted(Open):
    annotation_id: str
    duplicate: bool


class Skipped(Open):
    skipped: bool
    duplicate: bool = False


class Reviewed(Open):
    annotation_id: str
    decision: Literal["accept", "fix", "reject"]
    duplicate: bool


_MEANING = {
    204: "Nothing left to do.",
    401: "Not logged in, or the token is unknown or revoked.",
    403: "The role may not do this, or a cookie-authenticated write lacks X-CSRF-Token.",
    404: "No such thing, or one the caller is not cleared to see (the two look the same).",
    409: "The state does not allow it (e.g. the task is not leased to the caller).",
    413: "The request body is larger than the server accepts.",
    422: "The request is malformed: bad JSON, nested too deep, or a field fails validation.",
    429: "Too many failed attempts, or too many live streams open; wait and retry.",
}


def statuses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry for these statuses (errors carry `Error`; 204 has no body)."""
    return {
        code: {"description": _MEANING[code]}
        if code == 204
        else {"description": _MEANING[code], "model": Error}
        for code in codes
    }


#: Every route under /api/v1 can answer these: authentication and the body checks run before
#: any route, need-to-know makes what the caller may not see a 404, roles give 403.
ANY_ROUTE = statuses(401, 403, 404, 413, 422)


class VideoSummary(Open):
    video: str
    frames: int
    name: str | None


class VideoTask(Open):
    project: str
    video: str
    frames: list[dict[str, Any]] = Field(description="Frame tasks in playback order.")
    tracks: list[dict[str, Any]]
    loose: dict[str, list[dict[str, Any]]]
    submitted: int


class TracksSaved(Open):
    frames: int
    submitted: int
    edited: int
    tracks: int
    duplicate: bool


class MapLayers(Open):
    marking: str | None
    items: dict[str, Any] = Field(description="GeoJSON FeatureCollection")
    labels: dict[str, Any] = Field(description="GeoJSON FeatureCollection")
    tracks: dict[str, Any] = Field(description="GeoJSON FeatureCollection")
    scenes: list[Any]
    dropped: dict[str, int]


class EntityFeatures(Open):
    type: Literal["FeatureCollection"]
    picture: str
    version: int
    marking: str
    features: list[dict[str, Any]] = Field(description="GeoJSON Point features, one per entity")


class EntityDetail(Open):
    picture: str
    version: int
    marking: str
    feature: dict[str, Any]
    lattice: dict[str, Any]
    provenance: dict[str, Any]
    frames: list[dict[str, Any]] = Field(description="the frames seen, with the boxes behind it")


class LatticeEntities(Open):
    picture: str
    version: int
    marking: str
    entities: list[dict[str, Any]]
