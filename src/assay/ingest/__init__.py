"""Sources to items: image and text files, JSONL and CSV rows."""

from assay.ingest._probe import IMAGE_TYPES, TEXT_TYPES, ProbeError, check_pixels, read_regular
from assay.ingest._walk import Failure, special_kind, walk
from assay.ingest.files import IngestReport, ingest_paths

__all__ = [
    "IMAGE_TYPES",
    "TEXT_TYPES",
    "Failure",
    "IngestReport",
    "ProbeError",
    "check_pixels",
    "ingest_paths",
    "read_regular",
    "special_kind",
    "walk",
]
