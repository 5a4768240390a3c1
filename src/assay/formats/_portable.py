"""File names every removable medium takes: what exports write media files under.

Data crosses an air gap on USB sticks and disks formatted FAT32 or exFAT, or on Windows (NTFS)
machines. Their rules, applied to each part of a media file's path:

- none of ``< > : " \\ | ? *`` nor a control character: each becomes ``_``
  (``rows.jsonl:1`` -> ``rows.jsonl_1``);
- no trailing dot or space: each becomes ``_`` (``scan.`` -> ``scan_``);
- no device name (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9``,
  with or without an extension): ``_`` goes in front (``aux.png`` -> ``_aux.png``);
- no name longer than 255 bytes of UTF-8 (ext4 and most Unix file systems count bytes, FAT32,
  exFAT and NTFS 255 UTF-16 units, never more than that): a longer one is cut, at a character,
  to fit with ``~`` and 8 hex digits of the sha256 of the name as it was, and keeps its suffix
  (one of at most 16 bytes; ``<300 x>.png`` -> ``<242 x>~<tag>.png``); with ``by_stem`` (a
  ``<stem>.xml`` or ``<stem>.txt`` written beside) the stem leaves room for that suffix too;
- no two names that differ only by case, since these file systems ignore it: of two folders
  the first spelling is kept for both; of two files, or a file and a folder, the first name
  is kept and the other gets ``~`` and 8 hex digits of the sha256 of its own name before its
  suffix (``scene.png``, then ``Scene.png`` -> ``Scene~01eaa9a0.png``); so does a name the
  rules above turned into one that is already taken (cut as above if it would not fit).

Names that need no change come first, in row order, so they keep their names; the others
follow in row order. The same rows give the same names every time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from assay.formats._model import ExportBundle

NAME_MAX = 255  # bytes of UTF-8 in one file or folder name
_FORBIDDEN = re.compile(r'[<>:"\\|?*\x00-\x1f]')
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{port}{n}" for port in ("COM", "LPT") for n in [*"0123456789", "¹", "²", "³"]]
)
# A name `portable_paths` has to look at (Arrow's RE2): a forbidden character, a folder, a
# non-ASCII letter (case folding; also a byte count over the letter count), a trailing dot or
# space, a device name, a name of more than NAME_MAX (ASCII) letters.
_NEEDS_LOOK = (
    r'[<>:"\\|?*\x00-\x1f/]|[^\x00-\x7f]|[. ]$|'
    r"^(?i:con|prn|aux|nul|com[0-9]|lpt[0-9]) *(\.|$)|"
    rf".{{{NAME_MAX + 1}}}"
)
RENAMED = "media files"  # what `ExportBundle.renamed` counts renamed media under
_SIDECAR = len(".xml")  # with `by_stem`: the suffix of the file written beside
_SUFFIX_MAX = 16  # bytes: a longer "suffix" is part of the name, cut with it


def portable_part(part: str, *, room: int = 0) -> str:
    """One file or folder name made portable (all but the case rule of the module docstring);
    `room`: bytes its stem leaves for a suffix of a file written beside it."""
    clean = _FORBIDDEN.sub("_", part)
    kept = clean.rstrip(". ")
    clean = kept + "_" * (len(clean) - len(kept))
    if clean.split(".", 1)[0].rstrip(" ").upper() in _DEVICES:
        clean = "_" + clean
    stem, suffix = _split(clean)
    if _size(stem) + max(_size(suffix), room) > NAME_MAX:
        return _with_tag(stem, _tag(part), suffix, room)
    return clean


def portable_paths(paths: Sequence[str], *, by_stem: bool = False) -> list[str]:
    """`paths` (relative POSIX paths, told apart already) as portable, case-insensitively
    distinct paths, by the rule of the module docstring. With `by_stem` names must differ
    without their suffix too (a format that writes ``<stem>.xml`` or ``<stem>.txt`` beside).
    """
    room = _SIDECAR if by_stem else 0
    fixed = [_portable_path(path, room) for path in paths]
    order = sorted(range(len(paths)), key=lambda k: fixed[k] != paths[k])  # stable
    spelling: dict[str, str] = {}  # folder, case-folded -> the spelling written
    for k in order:
        folder, _, leaf = fixed[k].rpartition("/")
        if folder:
            fixed[k] = _folder(folder, spelling) + "/" + leaf
    taken = set(spelling)  # files' and folders' paths, case-folded
    stems: set[str] = set()  # with `by_stem`: files' paths without suffix, case-folded
    out = [""] * len(paths)
    for k in order:
        name, n = fixed[k], 1
        while name.casefold() in taken or (by_stem and _stem(name) in stems):
            name = _tagged(fixed[k], paths[k] if n == 1 else f"{paths[k]}\n{n}", room)
            n += 1
        taken.add(name.casefold())
        stems.add(_stem(name))
        out[k] = name
    return out


def portable(bundle: ExportBundle, paths: Sequence[str], *, by_stem: bool = False) -> list[str]:
    """`portable_paths`, counting the renamed ones in `bundle.renamed` (as media files)."""
    out = portable_paths(paths, by_stem=by_stem)
    bundle.renamed.add(RENAMED, sum(a != b for a, b in zip(paths, out, strict=True)))
    return out


def portable_array(bundle: ExportBundle, paths: Any) -> tuple[Any, Any]:
    """`portable` of an Arrow string array, and which rows it renamed (None: none). Arrow tells
    the common case, names that need no look at all, without a Python string per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(paths) == 0 or (
        not pc.any(pc.match_substring_regex(paths, _NEEDS_LOOK)).as_py()
        and pc.count_distinct(pc.utf8_lower(paths)).as_py() == len(paths)
    ):
        return paths, None
    out = pa.array(portable(bundle, paths.to_pylist()), pa.string())
    renamed = pc.not_equal(paths, out)
    return out, renamed if pc.any(renamed).as_py() else None


def _folder(folder: str, spelling: dict[str, str]) -> str:
    canon = ""
    for part in folder.split("/"):
        path = f"{canon}/{part}" if canon else part
        canon = spelling.setdefault(path.casefold(), path)
    return canon


def _stem(name: str) -> str:
    folder, sep, leaf = name.casefold().rpartition("/")
    suffix = PurePosixPath(leaf).suffix
    return folder + sep + (leaf[: len(leaf) - len(suffix)] if suffix else leaf)


def _portable_path(path: str, room: int) -> str:
    *folders, leaf = path.split("/")
    return "/".join([*(portable_part(p) for p in folders), portable_part(leaf, room=room)])


def _tagged(name: str, original: str, room: int) -> str:
    folder, sep, leaf = name.rpartition("/")
    stem, suffix = _split(leaf)
    if room and not suffix:
        # A name whose last dotted part is no suffix of ours (too long) still has one for the
        # file written beside it (`<stem>.xml`): its dots go, so the tag is in that stem too
        # (or every tag would leave the stem as it was, and names tried again for ever).
        stem = stem.replace(".", "_")
    return folder + sep + _with_tag(stem, _tag(original), suffix, room)


def _split(leaf: str) -> tuple[str, str]:
    """A name as stem and suffix; a suffix over _SUFFIX_MAX bytes stays in the stem."""
    suffix = PurePosixPath(leaf).suffix
    if not suffix or _size(suffix) > _SUFFIX_MAX:
        return leaf, ""
    return leaf[: len(leaf) - len(suffix)], suffix


def _with_tag(stem: str, tag: str, suffix: str, room: int) -> str:
    """``<stem>~<tag><suffix>``, the stem cut at a character to fit in NAME_MAX bytes."""
    budget = NAME_MAX - len(tag) - 1 - max(_size(suffix), room)
    cut = 0
    for ch in stem:
        budget -= _size(ch)
        if budget < 0:
            break
        cut += 1
    return f"{stem[:cut]}~{tag}{suffix}"


def _tag(original: str) -> str:
    return hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
