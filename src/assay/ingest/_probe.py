"""Reading one file into item fields: hash, media type, size, image header, EXIF.

Runs inside worker processes, so it only takes and returns plain values.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.domain.labels import metadata_record
from assay.ingest._png import SIGNATURE, PngError, png_info
from assay.store.blobs import LocalBlobStore

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
}
TEXT_TYPES = {".txt": "text/plain", ".md": "text/markdown"}
ROW_TYPES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
PIL_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff", "WEBP": "image/webp"}


@dataclass
class Probed:
    """One would-be item; `tmp` is the blob's temporary file inside the store (None if present)."""

    sha: str
    media_type: str
    size: int
    name: str
    width: int | None = None
    height: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tmp: str | None = None
    meta_text: str = ""
    meta_hash: str = ""


@dataclass
class ProbeResult:
    path: str
    items: list[Probed] = field(default_factory=list)
    error: str | None = None


class ProbeError(Exception):
    pass


def _exif(img: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        exif = img.getexif()
    except Exception:  # a broken EXIF block is not a broken image
        return out
    if not exif:
        return out
    sub = exif.get_ifd(0x8769)
    taken = sub.get(0x9003) or exif.get(0x0132)  # DateTimeOriginal, else DateTime
    if isinstance(taken, str) and taken.strip():
        out["captured_at"] = _exif_time(taken.strip())
    gps = exif.get_ifd(0x8825)
    if gps and 2 in gps and 4 in gps:
        try:
            lat = _dms(gps[2]) * (-1 if gps.get(1) in ("S", b"S") else 1)
            lon = _dms(gps[4]) * (-1 if gps.get(3) in ("W", b"W") else 1)
            out["geo"] = {"lat": round(lat, 7), "lon": round(lon, 7)}
        except (TypeError, ValueError, ZeroDivisionError):
            pass
    return out


def _exif_time(text: str) -> str:
    # EXIF writes "YYYY:MM:DD HH:MM:SS"; store ISO-8601 without inventing a zone.
    date, _, time = text.partition(" ")
    return f"{date.replace(':', '-')}T{time}" if time else date.replace(":", "-")


def _dms(values: Any) -> float:
    d, m, s = (float(v) for v in values)
    return d + m / 60 + s / 3600


def probe_image(data: bytes) -> tuple[str, int, int, dict[str, Any]]:
    """Media type, size and EXIF of an image, with its structure checked (no full decode)."""
    if data.startswith(SIGNATURE):
        try:
            width, height, has_exif = png_info(data)
        except PngError as exc:
            raise ProbeError(f"corrupt PNG: {exc}") from None
        if not has_exif:
            return "image/png", width, height, {}
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            if fmt not in PIL_FORMATS:
                raise ProbeError(f"unsupported image format {fmt or 'unknown'}")
            width, height = img.size
            # PNG keeps EXIF in a chunk Pillow only reaches by decoding; read it when the header
            # already has it. The other formats carry it in the header.
            meta = _exif(img) if fmt != "PNG" or "exif" in img.info else {}
            img.verify()  # chunk structure and checksums, without decoding every pixel
    except UnidentifiedImageError:
        raise ProbeError("not a readable image (corrupt or unknown format)") from None
    except ProbeError:
        raise
    except Exception as exc:
        raise ProbeError(f"corrupt image: {exc}") from None
    return PIL_FORMATS[fmt], width, height, meta


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProbeError(f"not UTF-8 text (byte {exc.start}, line {line})") from None


def rows_of(suffix: str, data: bytes, text_field: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(line number, text, other fields) for each row of a JSONL or CSV file."""
    text = decode_text(data).removeprefix("\ufeff")  # a UTF-8 byte order mark is not data
    rows: list[tuple[int, str, dict[str, Any]]] = []
    if ROW_TYPES[suffix] == "jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ProbeError(f"line {n}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ProbeError(f"line {n}: expected a JSON object")
            rows.append((n, _text_of(obj, text_field, n), obj))
    else:
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or text_field not in reader.fieldnames:
            raise ProbeError(f"line 1: no column {text_field!r} (use --text-field)")
        for rec in reader:
            rows.append((reader.line_num, _text_of(dict(rec), text_field, reader.line_num), rec))
    return rows


def _text_of(obj: dict[str, Any], text_field: str, line: int) -> str:
    value = obj.get(text_field)
    if not isinstance(value, str):
        raise ProbeError(f"line {line}: field {text_field!r} is missing or not a string")
    return value


def probe_file(
    path_str: str, rel: str, store: LocalBlobStore, text_field: str, source: str
) -> ProbeResult:
    objects = str(store.root)
    """Hash and describe one file, staging new blobs as temporary files in the store."""
    # Plain os.path strings: this runs once per file, and pathlib objects cost more than
    # hashing a small image.
    name = os.path.basename(path_str)
    suffix = os.path.splitext(name)[1].lower()
    result = ProbeResult(rel)
    try:
        with open(path_str, "rb") as fh:
            data = fh.read()
        base: dict[str, Any] = {"path": rel}
        if source:
            base["source"] = source
        if suffix in IMAGE_TYPES:
            media_type, w, h, meta = probe_image(data)
            result.items.append(Probed("", media_type, len(data), name, w, h, {**base, **meta}))
            payloads = [data]
        elif suffix in TEXT_TYPES:
            decode_text(data)
            result.items.append(Probed("", TEXT_TYPES[suffix], len(data), name, None, None, base))
            payloads = [data]
        elif suffix in ROW_TYPES:
            payloads = []
            for line, text, fields in rows_of(suffix, data, text_field):
                raw = text.encode()
                extra = {k: v for k, v in fields.items() if k != text_field}
                meta = {**base, "line": line, **({"fields": extra} if extra else {})}
                result.items.append(
                    Probed("", "text/plain", len(raw), f"{name}:{line}", None, None, meta)
                )
                payloads.append(raw)
        else:
            raise ProbeError(f"unsupported file type {suffix or '(no extension)'}")
    except ProbeError as exc:
        return ProbeResult(rel, [], str(exc))
    except OSError as exc:
        return ProbeResult(rel, [], f"cannot read: {exc.strerror or exc}")
    for item, payload in zip(result.items, payloads, strict=True):
        item.sha = hashlib.sha256(payload).hexdigest()
        item.meta_text, item.meta_hash = metadata_record(item.metadata)
        if not os.path.exists(os.path.join(objects, item.sha[:2], item.sha[2:])):
            item.tmp = store.stage(payload, item.sha)
    return result


def probe_batch(
    batch: list[tuple[str, str]], objects: str, text_field: str, source: str
) -> list[ProbeResult]:
    store = LocalBlobStore(Path(objects))
    return [probe_file(p, rel, store, text_field, source) for p, rel in batch]
