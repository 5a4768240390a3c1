"""Pieces every writer shares: the MARKING.txt banner, media copies, atomic file writes."""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assay._atomic import atomic_write_text
from assay.errors import InvalidInput
from assay.formats._model import ExportBundle, ExportRow, plural
from assay.formats._stream import RowColumns, RowStream

logger = logging.getLogger(__name__)

MARKING_FILE = "MARKING.txt"


def prepare_out(out_dir: Path) -> Path:
    """Create the output folder; refuse a path that is a file."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInput(f"{out_dir}: output path exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def write_marking(bundle: ExportBundle, out_dir: Path) -> Path:
    """MARKING.txt: the highest marking of the export on the first line, then provenance."""
    lines = [
        bundle.marking,
        "",
        f"This export contains data marked up to {bundle.marking}. "
        "Handle every file in this folder at that level.",
        f"dataset: {bundle.dataset}",
        f"revision: {bundle.revision or 'working state'}",
        f"items: {len(bundle.rows)}",
    ]
    path = out_dir / MARKING_FILE
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def marking_description(bundle: ExportBundle) -> str:
    rev = bundle.revision or "working state"
    return f"{bundle.dataset} ({rev}) - marking: {bundle.marking}"


def safe_relpath(name: str) -> str:
    """A media name as a relative POSIX path inside the output folder, or `InvalidInput`."""
    if (
        name
        and name[0] != "/"
        and "\\" not in name
        and "//" not in name
        and "." not in name.replace(".", "", 1)
    ):
        return name  # the common case: nothing to clean, at most one dot
    clean = posixpath.normpath(name.replace("\\", "/"))
    if not name or clean.startswith("/") or clean == ".." or clean.startswith("../"):
        raise InvalidInput(f"media name {name!r} would be written outside the output folder")
    return clean


# A name `safe_relpath` has to look at: empty, absolute, with a backslash, a double slash or
# more than one dot.
_NEEDS_CLEANING = r"(?s)^$|^/|\\|//|\..*\."


def safe_relpaths(names: Any) -> Any:
    """`safe_relpath` of each name of an Arrow string array, as one: one regex finds the few
    names that need it, the rest are kept as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    bad = pc.match_substring_regex(names, _NEEDS_CLEANING)
    if not pc.any(bad).as_py():
        return names
    fixed = [safe_relpath(n) for n in names.filter(bad).to_pylist()]
    return pc.replace_with_mask(names, bad, pa.array(fixed, pa.string()))


def unique_relpaths(columns: RowColumns, what: str) -> Any:
    """`safe_relpaths` of the rows' names, refused as `check_unique` refuses a clash; not
    counted again when the names are known to be unique and none needed cleaning."""
    names = columns.array("names")
    paths = safe_relpaths(names)
    if paths is not names or not columns.unique_names:
        check_unique(paths, what)
    return paths


def check_unique(names: Iterable[str], what: str) -> None:
    """Fail when two rows would be written to the same file (`names` may be an Arrow array)."""
    if hasattr(names, "to_pylist"):
        import pyarrow.compute as pc

        if pc.count_distinct(names).as_py() == len(names):  # type: ignore[arg-type]
            return
        names = names.to_pylist()
    dupes = [n for n, c in Counter(names).items() if c > 1]
    if dupes:
        raise InvalidInput(
            f"two items would both be written as {what} {dupes[0]!r}; give them distinct names"
        )


def media_contents(bundle: ExportBundle, rows: Sequence[ExportRow]) -> Iterator[bytes]:
    """The media bytes of `rows`, in order, read in bulk where the source can; each counted
    towards the bundle's `progress` (of all its rows, over however many calls)."""
    data = (
        bundle.read_media(rows)
        if bundle.read_media is not None
        else (row.read_bytes() for row in rows)
    )
    if bundle.progress is None:
        return data
    return _counted(bundle, data, bundle.progress)


_TELL_EVERY = 64  # files between two progress calls: a bar needs no more


def _counted(
    bundle: ExportBundle, data: Iterator[bytes], progress: Callable[[int, int], None]
) -> Iterator[bytes]:
    total = len(bundle.rows)
    for chunk in data:
        yield chunk
        bundle.media_done += 1
        if bundle.media_done % _TELL_EVERY == 0 or bundle.media_done >= total:
            progress(min(bundle.media_done, total), total)


def copy_media(
    bundle: ExportBundle, rows: Sequence[ExportRow], folder: Path, rel_names: list[str]
) -> list[Path]:
    """Write each row's bytes to ``folder/rel_name``; returns the written paths."""
    written: list[Path] = []
    made: set[Path] = set()
    for data, rel in zip(media_contents(bundle, rows), rel_names, strict=True):
        path = folder / rel
        parent = path.parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        path.write_bytes(data)
        written.append(path)
    return written


def is_image(row: ExportRow) -> bool:
    return row.media_type.startswith("image/")


def image_rows(bundle: ExportBundle, fmt: str) -> RowStream:
    """The rows an image-only format can hold; others are counted as dropped."""
    c = bundle.rows.columns
    if all(t.startswith("image/") for t in c.distinct("media_types")):
        keep: Sequence[int] = range(len(c))
        if None not in c.distinct("widths") and None not in c.distinct("heights"):
            return bundle.rows  # the common case, told from the distinct values alone
    else:
        keep = [k for k, t in enumerate(c.media_types) if t.startswith("image/")]
    skipped = len(c) - len(keep)
    if skipped:
        bundle.dropped.add("non-image items", skipped)
        logger.warning("%s export: skipped %d non-image items", fmt, skipped)
    for k in keep:
        if c.widths[k] is None or c.heights[k] is None:
            raise InvalidInput(f"item {c.item_ids[k]} ({c.names[k]}): image width/height unknown")
    return bundle.rows.select(keep) if skipped else bundle.rows


def warn_dropped(fmt: str, dropped: Counter[str], bundle: ExportBundle) -> None:
    """Count the region kinds a format cannot hold (they are not written) into the bundle's
    `dropped`, and log them. Keys of `dropped` are region kinds or already plural phrases."""
    if dropped:
        kinds = ", ".join(f"{n} {plural(k)}" for k, n in sorted(dropped.items()))
        logger.warning("%s export cannot hold these regions and skipped them: %s", fmt, kinds)
        bundle.dropped.update({plural(k): n for k, n in dropped.items()})


class StagedOutput:
    """An export written into a hidden sibling folder first, moved into place by `commit`.

    A failed or refused export (`--strict`) leaves the destination as it was.
    """

    def __init__(self, out: Path) -> None:
        if out.exists() and not out.is_dir():
            raise InvalidInput(f"{out}: output path exists and is not a folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.folder = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))

    def commit(self) -> list[Path]:
        """Move everything written into `out` (replacing files of the same name).

        A folder holding files this export does not write (an earlier export of more items,
        another format's files) is refused, and left as it was: the new files beside the old
        would read as one export, and a trainer reads every image it finds there.
        """
        stale = sorted(rel for rel in _files_under(self.out) if not (self.folder / rel).exists())
        if stale:
            raise InvalidInput(
                f"{self.out}: holds {len(stale)} file(s) this export does not write (first: "
                f"{stale[0]}), which would be read as part of it; export into a new or empty "
                "folder, or remove that one first"
            )
        moved: list[Path] = []
        self.out.mkdir(parents=True, exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(self.folder):
            rel = Path(dirpath).relative_to(self.folder)
            target = self.out / rel
            for d in dirnames:
                (target / d).mkdir(exist_ok=True)
            for fn in filenames:
                os.replace(Path(dirpath) / fn, target / fn)
                moved.append(target / fn)
        return moved

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _files_under(folder: Path) -> list[Path]:
    """Every file below `folder` (none when it does not exist), relative to it."""
    return [
        Path(dirpath, fn).relative_to(folder)
        for dirpath, _dirnames, filenames in os.walk(folder)
        for fn in filenames
    ]


@contextmanager
def staged_output(out: Path) -> Iterator[StagedOutput]:
    """A `StagedOutput` whose staging folder is removed however the block ends."""
    staging = StagedOutput(out)
    try:
        yield staging
    finally:
        staging.discard()
