"""Which files an ingest reads: only what it was given.

Folders are walked recursively (hidden names skipped) in a stable order: a folder's files,
then its sub-folders, each sorted by name. A symbolic link is read only when it points inside
one of the given paths, unless ``follow_symlinks``; a link to a folder inside them is not
walked twice. FIFOs, devices and sockets are never read (a FIFO blocks, ``/dev/zero`` never
ends), not even when named outright. Everything left out is reported with its reason.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assay.errors import InvalidInput

_KINDS = {
    stat.S_IFIFO: "FIFO",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket",
}


@dataclass
class Failure:
    """A file left out, and why."""

    path: str
    reason: str


def special_kind(mode: int) -> str | None:
    """What a non-regular, non-folder file is ("FIFO", "character device", ...), else None."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return _KINDS.get(stat.S_IFMT(mode), "special file")


def walk(
    paths: Iterable[Path],
    *,
    follow_symlinks: bool = False,
    skipped: list[Failure] | None = None,
) -> Iterator[str]:
    """Files under each path to read, in a stable order; what is left out goes to `skipped`."""
    out = skipped if skipped is not None else []
    roots = list(paths)
    real_roots = [os.path.realpath(r) for r in roots]
    seen: set[str] = set(real_roots)  # folders walked (or to be walked): no loops, no twice
    for root in roots:
        if not os.path.lexists(root):
            raise InvalidInput(f"{root}: no such file or folder")
        try:
            st = os.stat(root)
        except OSError as exc:
            raise InvalidInput(f"{root}: cannot read ({exc.strerror})") from None
        if stat.S_ISDIR(st.st_mode):
            # As pathlib would print it: "data//x" and "./x" become "data/x" and "x".
            yield from _folder(os.path.normpath(root), real_roots, follow_symlinks, seen, out)
        elif stat.S_ISREG(st.st_mode):
            yield str(root)
        else:
            out.append(Failure(str(root), f"not a regular file ({special_kind(st.st_mode)})"))


def _inside(real: str, roots: list[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _folder(
    folder: str, roots: list[str], follow: bool, seen: set[str], out: list[Failure]
) -> Iterator[str]:
    prefix = "" if folder == "." else folder + os.sep
    try:
        entries = sorted((e for e in os.scandir(folder) if not e.name.startswith(".")), key=_name)
    except OSError as exc:
        out.append(Failure(folder, f"cannot list the folder ({exc.strerror})"))
        return
    subfolders: list[str] = []
    for e in entries:
        path = prefix + e.name
        if e.is_symlink():
            kind = _link(path, roots, follow, seen, out)
            if kind == "file":
                yield path
            elif kind == "folder":
                subfolders.append(path)
        elif e.is_dir(follow_symlinks=False):
            subfolders.append(path)
        elif e.is_file(follow_symlinks=False):
            yield path
        else:
            mode = e.stat(follow_symlinks=False).st_mode
            out.append(Failure(path, f"not a regular file ({special_kind(mode)})"))
    for sub in subfolders:
        yield from _folder(sub, roots, follow, seen, out)


def _name(e: os.DirEntry[str]) -> str:
    return e.name


def _link(path: str, roots: list[str], follow: bool, seen: set[str], out: list[Failure]) -> str:
    """ "file" or "folder" when the link at `path` is to be read, else "" (and why in `out`)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError:
        out.append(Failure(path, f"broken symbolic link (to {real})"))
        return ""
    kind = special_kind(st.st_mode)
    if kind is not None:
        out.append(Failure(path, f"symbolic link to {real}, not a regular file ({kind})"))
        return ""
    if not follow and not _inside(real, roots):
        out.append(
            Failure(
                path,
                f"symbolic link to {real}, outside the given folders (--follow-symlinks reads it)",
            )
        )
        return ""
    if stat.S_ISREG(st.st_mode):
        return "file"
    if real in seen or _inside(real, roots):
        return ""  # its files are read where the link points (or already were): not twice
    seen.add(real)
    return "folder"
