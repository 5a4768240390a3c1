"""Item markings after ingest: they only go up, everywhere at once, and always on the record.

Every path that meets an existing item with a marking of its own (ingest, import, pull,
aggregation, model predictions, `assay item mark`) calls `raise_markings` inside its write
transaction. The item, the items made from it (a scene's chips, a video's frames, and theirs),
every task made from them and the markings each project holds move together, and one audit
event per item records the old and the new marking. Lowering is a separate, deliberate act
(`downgrade`) that names an admin and a reason; it lowers only the items it names.
"""

from assay.markings._raise import (
    MarkChange,
    carry_project_marking,
    downgrade,
    moved_since,
    raise_markings,
)

__all__ = ["MarkChange", "carry_project_marking", "downgrade", "moved_since", "raise_markings"]
