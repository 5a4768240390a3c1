"""Canonical JSON: the one text form that assay hashes (commit headers, audit events, item
metadata). Kept apart from the label models so paths that only hash (ingest, audit) do not
import pydantic."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def metadata_record(meta: dict[str, Any]) -> tuple[str, str]:
    """Item metadata as canonical JSON and its sha256 (the manifest's `metadata_hash`)."""
    text = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return text, hashlib.sha256(text.encode()).hexdigest()
