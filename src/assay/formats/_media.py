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
import stat
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from assay.errors import InvalidInput

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")
# What an import counts when a file states an image size its bytes contradict (the image wins).
SIZE_REPLACED = "stated image sizes contradicting the image (replaced)"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
# The suffixes a file of each image media type takes, its own first (what exports add). A table
# of ours, not the `mimetypes` of the machine: the same rows give the same names everywhere.
_TYPE_SUFFIXES = {
    "image/jpeg": (".jpg", ".jpeg", ".jpe"),
    "image/png": (".png",),
    "image/tiff": (".tif", ".tiff"),
    "image/webp": (".webp",),
    "image/gif": (".gif",),
    "image/bmp": (".bmp",),
}


def media_suffix(media_type: str) -> str | None:
    """The file suffix of `media_type` (its parameters aside: a COG is ``.tif``), or None."""
    suffixes = _TYPE_SUFFIXES.get(media_type.partition(";")[0].strip().lower())
    return suffixes[0] if suffixes else None


def _suffixes(media_type: str) -> tuple[str, ...]:
    return _TYPE_SUFFIXES.get(media_type.partition(";")[0].strip().lower(), ())


def typed_name(name: str, media_type: str) -> str:
    """`name` as a file of `media_type`: as it is when it ends in a suffix of the type (any
    case), else with the type's own added (``f.ts#t=4.500``, a JPEG: ``f.ts#t=4.500.jpg``;
    ``images/0001``, a PNG: ``images/0001.png``)."""
    suffixes = _suffixes(media_type)
    if not suffixes or name.lower().endswith(suffixes):
        return name
    return name + suffixes[0]


def file_names(names: list[str], media_types: list[str], copied: bool) -> list[str]:
    """The files an export writes the media of items `names` to: `typed_name` of each when the
    media is `copied`, else the names as they are (the label file then names the user's own
    files, which carry the items' names)."""
    if not copied:
        return names
    return [typed_name(n, t) for n, t in zip(names, media_types, strict=True)]


def typed_names(names: Any, media_types: Any) -> Any:
    """`typed_name` of each of two Arrow string arrays, as one array: `names` itself when
    every name has its type's suffix already (the common case, told without a Python string
    per row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lower = None
    for media_type in pc.unique(media_types).drop_null().to_pylist():
        suffixes = _suffixes(media_type)
        if not suffixes:
            continue
        lower = pc.utf8_lower(names) if lower is None else lower
        has = pc.ends_with(lower, suffixes[0])
        for other in suffixes[1:]:
            has = pc.or_(has, pc.ends_with(lower, other))
        missing = pc.and_(pc.equal(media_types, media_type), pc.invert(has))
        if pc.any(missing).as_py():
            added = pc.binary_join_element_wise(names.filter(missing), suffixes[0], "")
            names = pc.replace_with_mask(names, missing, added.cast(pa.string()))
    return names


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


class Folders:
    """What one read learns of the folders its media lie in: their real paths, and, for a
    folder asked about often, its listing (one directory read instead of a stat per name: a big
    label file names tens of thousands of images in a few folders, most tried in the wrong
    folder first)."""

    LIST_AFTER = 32  # names asked in a folder before it is listed

    def __init__(self) -> None:
        self._real: dict[str, str] = {}
        self._roots: dict[Path, tuple[str, str]] = {}
        self._asked: dict[str, int] = {}
        self._listed: dict[str, tuple[dict[str, bool], set[str]]] = {}

    def root(self, images: Path) -> tuple[str, str]:
        """The real path of the images folder `images`, and that with a trailing separator
        (what a file inside it starts with)."""
        got = self._roots.get(images)
        if got is None:
            text = self.real(str(images))
            got = self._roots[images] = (text, text.rstrip(os.sep) + os.sep)
        return got

    def real(self, folder: str) -> str:
        got = self._real.get(folder)
        if got is None:
            got = self._real[folder] = os.path.realpath(folder)
        return got

    def knows(self, folder: str, name: str) -> bool | None:
        """True: `name` is a regular file in `folder` (the real path); False: nothing has that
        name there; None: ask the file system (a link, a folder, a special file, a name the
        listing cannot settle, or a folder not listed)."""
        listed = self._listed.get(folder)
        if listed is None:
            asked = self._asked[folder] = self._asked.get(folder, 0) + 1
            if asked < self.LIST_AFTER:
                return None
            listed = self._listed[folder] = _listing(folder)
        names, folded = listed
        if name in names:
            return True if names[name] else None
        # A file system that folds case (or normalises Unicode) finds names a listing lacks.
        return False if name.isascii() and name.casefold() not in folded else None


def _listing(folder: str) -> tuple[dict[str, bool], set[str]]:
    """Each name in `folder` -> whether it is a regular file (links not followed), and the
    names case-folded."""
    names: dict[str, bool] = {}
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                names[e.name] = e.is_file(follow_symlinks=False)
    except OSError:
        pass  # not a folder (or not readable): every name is missing, as stat would say
    return names, {n.casefold() for n in names}


def resolve(ref: str, images: Path, folders: Folders | None = None) -> Path | None:
    """The first existing candidate file for `ref` under `images`, or None.

    `folders` caches what is learnt of folders across the calls of one read. A candidate that
    is a symbolic link out of `images`, or a FIFO or device, is an error naming `ref` (not a
    silent miss: the file is there, it may just not be read).
    """
    cache = folders if folders is not None else Folders()
    root_text, inside = cache.root(images)
    if "/" not in ref and "\\" not in ref and "d=" not in ref:
        # A bare file name (no folder, no URL, no local-files query): its one candidate is
        # itself, directly in `images` (what `candidates` gives, without its string work).
        if ref in ("", ".", ".."):
            return None
        return _candidate(ref, root_text, ref, inside, cache, root_text)
    for rel in candidates(ref):
        if not rel or rel.startswith("/"):
            continue
        folder, _, name = rel.rpartition("/")
        if name in ("", ".", ".."):
            continue
        if not (os.path.normpath(os.path.join(root_text, rel)) + os.sep).startswith(inside):
            continue  # ".." out of `images`: never used (the next candidate is the base name)
        real = cache.real(os.path.join(root_text, folder)) if folder else root_text
        found = _candidate(ref, real, name, inside, cache, root_text)
        if found is not None:
            return found
    return None


def _candidate(
    ref: str, real: str, name: str, inside: str, cache: Folders, root_text: str
) -> Path | None:
    """The file `name` in the folder `real` (a real path inside the images folder
    `root_text`, `inside` that with a trailing separator) if it is one to read, None to try
    the next candidate; a link out of the folder, or a FIFO or device, is an error naming `ref`."""
    known = cache.knows(real, name)
    if known is False:
        return None
    text = os.path.join(real, name)
    if known and (text + os.sep).startswith(inside):
        return Path(text)
    try:
        mode = os.lstat(text).st_mode
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        text = os.path.realpath(text)
    if not (text + os.sep).startswith(inside):
        raise InvalidInput(f"media {ref!r}: links to {text}, outside the images folder {root_text}")
    if stat.S_ISLNK(mode):
        if os.path.isdir(text):
            return None
        return regular_file(Path(text), f"media {ref!r}")
    if stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        return regular_file(Path(text), f"media {ref!r}")  # names the kind of file
    return Path(text)


def image_size(path: Path, name: str) -> tuple[int, int]:
    """Width and height from the file header (Pillow reads no pixels for this).

    A FIFO or device is refused before it is opened, and an image declaring more pixels
    than `assay.ingest.check_pixels` allows (a decompression bomb) is refused by name.
    """
    from PIL import Image, UnidentifiedImageError

    from assay.ingest import ProbeError, check_pixels

    regular_file(path, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            check_pixels(int(im.width), int(im.height))
            return int(im.width), int(im.height)
    except Image.DecompressionBombError as exc:
        raise InvalidInput(f"{name}: refused as a possible decompression bomb: {exc}") from None
    except ProbeError as exc:
        raise InvalidInput(f"{name}: {exc}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput(f"{name}: cannot read image size of {path.name}: {exc}") from None


def regular_file(path: Path, name: str) -> Path:
    """`path` if it is a regular file (links followed); a FIFO or device is `InvalidInput`."""
    from assay.ingest import special_kind

    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot read {path} ({exc.strerror})") from None
    kind = special_kind(mode)
    if kind is not None:
        raise InvalidInput(f"{name}: not a regular file ({kind})")
    return path


def contained(path: Path, roots: list[Path], name: str) -> Path:
    """`path` if, with links resolved, it lies in one of `roots`; else `InvalidInput` naming it.

    Lists inside a dataset (YOLO ``data.yaml`` and ``train.txt``) and links in its folders must
    not pull files from elsewhere on the machine into a workspace.
    """
    real = path.resolve()
    if any(real.is_relative_to(r.resolve()) for r in roots):
        return path
    where = " or ".join(str(r) for r in roots)
    link = f" (a link to {real})" if real != path.absolute() else ""
    raise InvalidInput(f"{name}: {path}{link} is outside the dataset folder {where}")


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
