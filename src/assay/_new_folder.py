"""A new workspace folder, made so that a failed `assay init` leaves nothing of it behind.

`Workspace.init` makes the folder before it writes the workspace's first event, and the
database may still refuse then (on PostgreSQL another init can have made a workspace there
meanwhile, `assay._attach.claim`). Two inits of one folder at once must not both make a
workspace in it either. So the config file, whose presence makes a folder a workspace, appears
whole and at most once (linked into place, which fails when it is there), and when the init
fails after that, what it made is removed again; what was there before (a folder given to
init, the files of an init that got there first) is left alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from assay.errors import Conflict


@contextmanager
def claimed(folder: Path, config: Path, text: str) -> Iterator[None]:
    """Write `config` (`folder`'s workspace config, making the folders on its way) holding
    `text`, refused when it exists; if the body raises, remove all this made."""
    root = config.parent.absolute()
    made = _missing(root)
    before: set[str] | None = None  # what `root` held once `config` is this init's
    try:
        root.mkdir(parents=True, exist_ok=True)
        held = set(os.listdir(root))
        try:
            _link(text, config)
        except FileExistsError:
            raise Conflict(f"{folder.resolve()} already holds an assay workspace") from None
        before = held
        yield
    except BaseException:
        if before is not None:
            _remove(root, set(os.listdir(root)) - before)
        _rmdirs(made)
        raise


def undoer(root: Path) -> Callable[[], None]:
    """Called before a workspace is made in `root` (its `.assay` folder), for an operation
    that goes on after the init succeeded (`Workspace.restore`): a function that removes
    what was made since, if that operation fails. `root` goes whole if it was not there,
    else what it holds now and did not then; folders above it go only if they were not
    there and are empty. What was there before is left alone."""
    root = root.absolute()
    made = _missing(root)
    before = set(os.listdir(root)) if root.is_dir() else set()

    def undo() -> None:
        _remove(root, set(os.listdir(root)) - before if root.is_dir() else set())
        _rmdirs(made)

    return undo


def _missing(root: Path) -> list[Path]:
    """`root` and the folders above it that are not there, the deepest first."""
    return [d for d in (root, *root.parents) if not d.exists()]


def _rmdirs(made: list[Path]) -> None:
    for folder_made in made:
        with contextlib.suppress(OSError):  # not empty: another init's workspace is in it
            folder_made.rmdir()


def _link(text: str, config: Path) -> None:
    """`config` holding `text`, appearing whole; FileExistsError when it is there."""
    tmp = config.with_name(f".{config.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    try:
        os.link(tmp, config)
    finally:
        tmp.unlink()


def _remove(root: Path, names: set[str]) -> None:
    for name in names:
        path = root / name
        with contextlib.suppress(FileNotFoundError):  # a losing init's temporary file, gone
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
