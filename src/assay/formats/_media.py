"""Finding the media files an annotation file refers to, and their pixel size.

The rule, for a reference ``ref`` and the images folder ``images``:

1. Label Studio local files, ``/data/local-files/?d=scenes/scene_001.png``: the path after
   ``d=`` (URL-decoded), tried relative to ``images``, then its base name directly in ``images``.
2. Label Studio uploads, ``/data/upload/3/1a2b3c4d-scene_001.png``, and ``http(s)://`` URLs: the
   base name in ``images``; for uploads also the base name without Label Studio's 8-hex prefix.
3. Anything else is a path relative to ``images``, then its base name in ``images``.

A candidate that would leave ``images`` (``..``, absolute paths) is never used, so an annotation
file cannot pull in arbitrary files from the machine.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from assay.errors import InvalidInput

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def media_name(ref: str) -> str:
    """The name a media file is known by: the relative path for local files, else the base name."""
    rel = _local_files_path(ref)
    if rel is not None:
        return rel
    if _is_url(ref):
        return posixpath.basename(unquote(urlsplit(ref).path)) or ref
    clean = ref.replace("\\", "/")
    if clean.startswith("/") or ".." in clean.split("/"):
        return posixpath.basename(clean)
    return posixpath.normpath(clean)


def candidates(ref: str) -> list[str]:
    """Relative paths to try, in order (see the module docstring)."""
    rel = _local_files_path(ref)
    if rel is not None:
        return _unique([rel, posixpath.basename(rel)])
    if _is_url(ref):
        base = posixpath.basename(unquote(urlsplit(ref).path))
        found = [base]
        m = _UPLOAD_PREFIX.match(base)
        if m:
            found.append(m.group(1))
        return _unique(found)
    clean = ref.replace("\\", "/")
    return _unique([clean, posixpath.basename(clean)])


def resolve(ref: str, images: Path, real_dirs: dict[str, str] | None = None) -> Path | None:
    """The first existing candidate file for `ref` under `images`, or None.

    `real_dirs` caches folders' real paths across the calls of one read (a big label file names
    tens of thousands of images in a few folders); a symlink never leads outside `images`.
    """
    cache = real_dirs if real_dirs is not None else {}
    root_text = _real_dir(str(images), cache)
    root = Path(root_text)
    for rel in candidates(ref):
        if not rel or rel.startswith("/"):
            continue
        folder, _, name = rel.rpartition("/")
        if name in ("", ".", ".."):
            continue
        real = _real_dir(os.path.join(root_text, folder), cache) if folder else root_text
        text = os.path.join(real, name)
        if os.path.islink(text):
            text = os.path.realpath(text)
        path = Path(text)
        if path.is_relative_to(root) and os.path.isfile(text):
            return path
    return None


def _real_dir(folder: str, cache: dict[str, str]) -> str:
    real = cache.get(folder)
    if real is None:
        real = cache[folder] = os.path.realpath(folder)
    return real


def image_size(path: Path, name: str) -> tuple[int, int]:
    """Width and height from the file header (Pillow reads no pixels for this)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput(f"{name}: cannot read image size of {path.name}: {exc}") from None


def _local_files_path(ref: str) -> str | None:
    if "?d=" not in ref and "&d=" not in ref:
        return None
    query = urlsplit(ref).query
    values = parse_qs(query).get("d")
    if not values:
        return None
    return posixpath.normpath(values[0].replace("\\", "/")).lstrip("/")


def _is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://", "s3://", "gs://", "/data/"))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
