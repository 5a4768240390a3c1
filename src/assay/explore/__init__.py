"""The dataset explorer: a filtered grid of a revision's items with label overlays, item
views with provenance, revision diffs, thumbnails made once, evaluation outcomes per item.

Services here take a `Workspace` and a `User` and filter by the user's need-to-know.
"""

from assay.explore.grid import ExploreQuery, explore_page
from assay.explore.outcomes import outcomes, runs_of
from assay.explore.suspects import suspects
from assay.explore.thumbnails import render_thumbnail, thumbnail
from assay.explore.views import diff_page, item_detail

__all__ = [
    "ExploreQuery",
    "diff_page",
    "explore_page",
    "item_detail",
    "outcomes",
    "render_thumbnail",
    "runs_of",
    "suspects",
    "thumbnail",
]
