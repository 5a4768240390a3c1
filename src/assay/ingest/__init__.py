"""Sources to items: image and text files, JSONL and CSV rows."""

from assay.ingest.files import Failure, IngestReport, ingest_paths, walk

__all__ = ["Failure", "IngestReport", "ingest_paths", "walk"]
