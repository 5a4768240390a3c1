"""Reading one file into item fields: hash, media type, size, image header, EXIF.

Runs inside worker processes, so it only takes and returns plain values.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import stat
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

from assay._bulk import gc_paused
from assay.domain.canonical import metadata_record
from assay.errors import MissingExtra
from assay.ingest._png import SIGNATURE, PngError, png_info
from assay.ingest._walk import special_kind
from assay.ingest.sensors.items import FilePayload
from assay.ingest.sensors.options import SCENE_TYPES, VIDEO_TYPES, SensorOptions
from assay.store.blobs import Staged, open_blobs

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

# How far a worker is into one file: (the file's `rel`, done, total), in the decoder's own
# steps (a video's bytes demuxed, a scene's chips cut). Told at most `STEPS` times a file.
Tell = Callable[[str, int, int], None]
STEPS = 200


class Probed(NamedTuple):
    """One would-be item; `staged` is its blob written but not yet visible (None if present).

    Tuples, not dataclasses: tens of thousands travel back from the worker processes, and
    unpickling them is work the main process does while the workers still run.
    """

    sha: str
    media_type: str
    size: int
    name: str
    width: int | None
    height: int | None
    meta_text: str
    meta_hash: str
    staged: Staged | None = None
    parent: str | None = None  # a derived item's source item (a frame's video)
    derivation: str | None = None  # canonical JSON: how it was derived (frame index, time)
    marking_floor: str | None = None  # a level the file itself declares (KLV security set)


class ProbeResult(NamedTuple):
    path: str
    items: list[Probed]
    error: str | None = None
    notes: tuple[str, ...] = ()  # a degraded read worth saying (a video without telemetry)


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


def max_pixels() -> int:
    """The most pixels an image may declare: Pillow's decompression-bomb limit (about 179
    million), or less when ``ASSAY_MAX_IMAGE_PIXELS`` says so.

    A few kB of PNG can declare billions of pixels; whatever decodes it later would need
    gigabytes, so such a file is refused when it is read, not when someone first opens it.
    """
    from PIL import Image

    pillow = 2 * int(Image.MAX_IMAGE_PIXELS or 89_478_485)
    given = os.environ.get("ASSAY_MAX_IMAGE_PIXELS", "")
    return min(int(given), pillow) if given.isdigit() else pillow


def check_pixels(width: int, height: int) -> None:
    """Refuse an image that declares more pixels than `max_pixels` (ProbeError)."""
    limit = max_pixels()
    if width * height > limit:
        raise ProbeError(
            f"image is {width}x{height} = {width * height} pixels, over the limit of {limit}: "
            "refused as a possible decompression bomb"
        )


def probe_image(data: bytes) -> tuple[str, int, int, dict[str, Any]]:
    """Media type, size and EXIF of an image, with its structure checked (no full decode)."""
    if data.startswith(SIGNATURE):
        try:
            width, height, has_exif = png_info(data)
        except PngError as exc:
            raise ProbeError(f"corrupt PNG: {exc}") from None
        check_pixels(width, height)
        if not has_exif:
            return "image/png", width, height, {}
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # the limit is ours (check_pixels); Pillow's own would only print a warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        with img:
            fmt = img.format or ""
            if fmt not in PIL_FORMATS:
                raise ProbeError(f"unsupported image format {fmt or 'unknown'}")
            width, height = img.size
            check_pixels(width, height)
            # PNG keeps EXIF in a chunk Pillow only reaches by decoding; read it when the header
            # already has it. The other formats carry it in the header.
            meta = _exif(img) if fmt != "PNG" or "exif" in img.info else {}
            img.verify()  # chunk structure and checksums, without decoding every pixel
    except UnidentifiedImageError:
        raise ProbeError("not a readable image (corrupt or unknown format)") from None
    except Image.DecompressionBombError as exc:
        raise ProbeError(f"refused as a possible decompression bomb: {exc}") from None
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
            except RecursionError:
                raise ProbeError(f"line {n}: JSON nested too deep to read") from None
            if not isinstance(obj, dict):
                raise ProbeError(f"line {n}: expected a JSON object")
            rows.append((n, _text_of(obj, text_field, n), obj))
    else:
        # strict: an unclosed quote is an error, not a field running to the end of the file
        # (which swallowed every later row into one text)
        reader = csv.DictReader(io.StringIO(text), strict=True)
        read = 1  # lines read in full: the header's
        try:
            if reader.fieldnames is None or text_field not in reader.fieldnames:
                raise ProbeError(f"line 1: no column {text_field!r} (use --text-field)")
            for rec in reader:
                n = read = reader.line_num
                if None in rec:  # DictReader keeps a row's surplus fields under the key None
                    header = list(reader.fieldnames)
                    raise ProbeError(
                        f"line {n}: {len(header) + len(rec[None])} fields where the header has "
                        f"{len(header)} ({', '.join(header)}); a field holding a comma needs "
                        "double quotes"
                    )
                rows.append((n, _text_of(dict(rec), text_field, n), rec))
        except csv.Error as exc:
            # the bad record starts on the line after the last one read in full
            raise ProbeError(f"line {read + 1}: not valid CSV ({exc})") from None
    return rows


def _text_of(obj: dict[str, Any], text_field: str, line: int) -> str:
    value = obj.get(text_field)
    if not isinstance(value, str):
        raise ProbeError(f"line {line}: field {text_field!r} is missing or not a string")
    return value


Payload = bytes | FilePayload


def _within(tell: Tell | None, rel: str) -> Callable[[int, int], None] | None:
    """`tell` for the file `rel`, passed on when it moved a step of `STEPS` (a video has
    thousands of packets)."""
    if tell is None:
        return None
    last = -1

    def told(done: int, total: int) -> None:
        nonlocal last
        step = done * STEPS // total if total > 0 else STEPS
        if step > last:
            last = step
            tell(rel, done, total)

    return told


def probe_sensor(
    path: str,
    rel: str,
    base: dict[str, Any],
    kind: str,
    options: SensorOptions,
    sha: str | None = None,
    tell: Tell | None = None,
) -> tuple[ProbeResult, list[Payload]]:
    """A video and its sampled frames, or a scene and its chips, as items and derived items
    (see `assay.ingest.sensors`); `tell` hears how far the decoding is."""
    from assay.errors import AssayError
    from assay.ingest.sensors.items import scene_items, video_items

    found: list[tuple[Any, Payload]]
    progress = _within(tell, rel)
    try:
        if kind == "video":
            data = read_regular(path)
            found, notes = video_items(path, data, base, options.video, progress)  # type: ignore[assignment]
        else:
            found, notes = scene_items(path, base, options.chips, sha, progress)
    except AssayError as exc:  # unreadable file, strict KLV, or the sensors extra missing
        return ProbeResult(rel, [], str(exc).removeprefix(f"{path}: ")), []
    items = [
        Probed(
            payload.sha
            if isinstance(payload, FilePayload)
            else hashlib.sha256(payload).hexdigest(),
            f.media_type,
            payload.size if isinstance(payload, FilePayload) else len(payload),
            f.name,
            f.width,
            f.height,
            *metadata_record(f.metadata),
            parent=f.parent,
            derivation=f.derivation,
            marking_floor=f.marking_floor,
        )
        for f, payload in found
    ]
    return ProbeResult(rel, items, notes=notes), [payload for _, payload in found]


def read_regular(path: str) -> bytes:
    """The bytes of a regular file; anything else (FIFO, device, socket) is a ProbeError.

    Opened without blocking and checked on the open file, so a FIFO swapped in after the
    folder was listed cannot hang the read, nor a device feed it forever.
    """
    # os-level calls: a buffered file object costs more than reading a small chip.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        kind = special_kind(st.st_mode)
        if kind is not None or not stat.S_ISREG(st.st_mode):
            raise ProbeError(f"not a regular file ({kind or 'folder'})")
        size = st.st_size
        chunks = [os.read(fd, size + 1)]  # one more byte than stated: a file still growing
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 20))
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 2 else b"".join(chunks)


def probe_file(
    path_str: str,
    rel: str,
    text_field: str,
    source: str,
    sensors: SensorOptions | None = None,
    sha: str | None = None,
    tell: Tell | None = None,
) -> tuple[ProbeResult, list[Payload]]:
    """Hash and describe one file: the result, and the bytes of each of its items (`sha`:
    a scene's sha256, when the caller has it; `tell`: how far a video's or a scene's
    decoding is, the one long read of a single file)."""
    # Plain os.path strings: this runs once per file, and pathlib objects cost more than
    # hashing a small image.
    name = os.path.basename(path_str)
    suffix = os.path.splitext(name)[1].lower()
    # (media type, size, name, width, height, metadata) and the bytes of each item
    found: list[tuple[str, int, str, int | None, int | None, dict[str, Any]]] = []
    payloads: list[Payload] = []
    try:
        base: dict[str, Any] = {"path": rel}
        if source:
            base["source"] = source
        opts = sensors or SensorOptions()
        if suffix in VIDEO_TYPES:
            return probe_sensor(path_str, rel, base, "video", opts, tell=tell)
        if is_scene(path_str):
            return probe_sensor(path_str, rel, base, "scene", opts, sha, tell)
        data = read_regular(path_str)
        if suffix in IMAGE_TYPES:
            media_type, w, h, meta = probe_image(data)
            found.append((media_type, len(data), name, w, h, {**base, **meta}))
            payloads.append(data)
        elif suffix in TEXT_TYPES:
            text = decode_text(data)
            found.append((TEXT_TYPES[suffix], len(data), name, None, None, _placed(text, base)))
            payloads.append(data)
        elif suffix in ROW_TYPES:
            for line, text, fields in rows_of(suffix, data, text_field):
                raw = text.encode()
                extra = {k: v for k, v in fields.items() if k != text_field}
                meta = {**base, "line": line, **({"fields": extra} if extra else {})}
                meta = _placed(text, meta)
                found.append(("text/plain", len(raw), f"{name}:{line}", None, None, meta))
                payloads.append(raw)
        else:
            raise ProbeError(f"unsupported file type {suffix or '(no extension)'}")
    except ProbeError as exc:
        return ProbeResult(rel, [], str(exc)), []
    except OSError as exc:
        return ProbeResult(rel, [], f"cannot read: {exc.strerror or exc}"), []
    items = [
        Probed(hashlib.sha256(payload).hexdigest(), mt, size, nm, w, h, *metadata_record(meta))  # type: ignore[arg-type]
        for (mt, size, nm, w, h, meta), payload in zip(found, payloads, strict=True)
    ]
    return ProbeResult(rel, items), payloads


def _placed(text: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A report's metadata with the coordinates written in it: the first as `geo`, all of
    them under `places` (decimal degrees, DMS, MGRS; see `assay.ingest.sensors.coords`)."""
    if "geo" in meta or not any(ch.isdigit() for ch in text):
        return meta
    from assay.ingest.sensors.coords import find_points

    places = find_points(text)
    if not places:
        return meta
    first = places[0]
    return {
        **meta,
        "geo": {"lat": round(first.lat, 7), "lon": round(first.lon, 7)},
        "places": [p.to_dict() for p in places],
    }


def is_scene(path: str) -> bool:
    """Read as a scene (see `assay.ingest.sensors.raster`): a NITF or JPEG 2000 file, or a
    TIFF with a georeference."""
    suffix = os.path.splitext(path)[1].lower()
    return suffix in SCENE_TYPES and (suffix not in IMAGE_TYPES or _georeferenced(path))


def _georeferenced(path: str) -> bool:
    """A TIFF with a CRS is a scene; a plain TIFF stays an image (and needs no rasterio)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return False
    try:
        from assay.ingest.sensors.raster import is_georeferenced

        return is_georeferenced(path)
    except (ImportError, MissingExtra):  # no rasterio (the sensors extra): the file's own tags
        return _geotiff_tags(path)


# GeoTIFF's tags: ModelPixelScale, ModelTiepoint, ModelTransformation, GeoKeyDirectory.
_GEOTIFF_TAGS = (33550, 33922, 34264, 34735)


def _geotiff_tags(path: str) -> bool:
    """Whether a TIFF carries GeoTIFF tags (read with Pillow, where rasterio is missing): such a
    file is a scene, which fails alone naming the extra to install, and the plain TIFFs and
    other files beside it are still ingested."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            tags = getattr(img, "tag_v2", None) or {}
            return any(t in tags for t in _GEOTIFF_TAGS)
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def probe_batch(
    batch: list[tuple[str, str]],
    blob_url: str,
    text_field: str,
    source: str,
    sensors: SensorOptions | None = None,
    shas: dict[str, str] | None = None,
    tell: Tell | None = None,
) -> list[ProbeResult]:
    """Probe a batch of files and stage the blobs the store does not hold yet (`shas`: the
    sha256 of files the caller hashed already, by `rel`; `tell`: see `probe_file`)."""
    store = open_blobs(blob_url)
    known = shas or {}
    with gc_paused():
        probed = [
            probe_file(p, rel, text_field, source, sensors, known.get(rel), tell)
            for p, rel in batch
        ]
    present = store.present(item.sha for res, _ in probed for item in res.items)
    new: dict[str, tuple[list[Probed], int, bytes]] = {}  # sha -> (items, index, bytes)
    files: list[tuple[list[Probed], int, FilePayload]] = []
    filed: set[str] = set()  # equal chips of one scene are staged once
    for res, payloads in probed:
        for k, (item, payload) in enumerate(zip(res.items, payloads, strict=True)):
            if isinstance(payload, FilePayload):
                if item.sha not in present and item.sha not in new and item.sha not in filed:
                    files.append((res.items, k, payload))
                    filed.add(item.sha)
                elif payload.owned:
                    os.unlink(payload.path)
            elif item.sha not in present and item.sha not in new:
                new[item.sha] = (res.items, k, payload)
    staged = store.stage_many([data for _, _, data in new.values()], list(new))
    for (items, k, _), blob in zip(new.values(), staged, strict=True):
        items[k] = items[k]._replace(staged=blob)
    for items, k, fp in files:
        items[k] = items[k]._replace(staged=store.stage_file(fp.path, fp.sha, move=fp.owned))
    for folder in {p.tempdir for _, ps in probed for p in ps if isinstance(p, FilePayload)}:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
    return [res for res, _ in probed]
