"""Canonical JSON: the one text form that assay hashes (commit headers, audit events, item
metadata). Kept apart from the label models so paths that only hash (ingest, audit) do not
import pydantic."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# The encoders `json.dumps` makes on each call with these arguments, made once (an encoder
# keeps no state between calls): the same text, without an encoder built per item on imports
# of many.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_METADATA = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(obj: Any) -> str:
    return _CANONICAL.encode(obj)


def metadata_record(meta: dict[str, Any]) -> tuple[str, str]:
    """Item metadata as canonical JSON and its sha256 (the manifest's `metadata_hash`)."""
    text = _METADATA.encode(meta)
    return text, hashlib.sha256(text.encode()).hexdigest()


# Python's own spellings of the non-finite floats, which json.dumps wrote into metadata before
# scenes stored a NaN nodata as "nan": not JSON, so each is read as GDAL spells it.
_NON_FINITE = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}


def finite_metadata(text: str) -> str:
    """Stored metadata `text` as JSON (RFC 8259): a NaN or infinity that older ingests stored
    becomes the string "nan", "inf" or "-inf", as ingests store it now; other texts as they are."""
    if "NaN" not in text and "Infinity" not in text:
        return text
    return metadata_record(read_metadata(text))[0]


def read_metadata(text: str | None) -> dict[str, Any]:
    """Stored metadata `text` (None or empty: no metadata) as a dict, a NaN or infinity that
    older ingests stored read as `finite_metadata` reads it: never a float NaN or infinity."""
    meta: dict[str, Any] = json.loads(text or "{}", parse_constant=_NON_FINITE.__getitem__)
    return meta
