"""`Workspace.init` in several real processes that race: each is held, once it has passed
the check that a workspace may be made, until all have, and only then goes on to make it.

The hold is a barrier right after a function of `assay._attach` that init calls (the real
one runs, then the process waits): without it the processes, started together, would still
pass through a window of a few system calls one after the other most of the time."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

from assay import Workspace, _attach


def _init_after_all_checked(k: int, folder: Path, after: str, checked: Any, out: Any) -> None:
    check = getattr(_attach, after)

    def then_wait(*args: Any, **kwargs: Any) -> Any:
        result = check(*args, **kwargs)
        checked.wait(timeout=60)
        return result

    setattr(_attach, after, then_wait)  # in this forked process only
    try:
        Workspace.init(folder).close()
    except Exception as exc:  # reported, whatever it is: the test says what it should have been
        checked.abort()  # one that fails before the barrier must not hold the others a minute
        out.put((k, type(exc).__name__, str(exc)))
    else:
        out.put((k, "made", ""))


def race_inits(folders: list[Path], after: str) -> list[tuple[str, str]]:
    """Init each folder (a folder twice: two inits of it), each in its own process, all held
    after `assay._attach.<after>` until every one got there; per folder ("made", "") or the
    error's type and message."""
    ctx = mp.get_context("fork")
    checked, out = ctx.Barrier(len(folders)), ctx.Queue()
    procs = [
        ctx.Process(target=_init_after_all_checked, args=(k, f, after, checked, out))
        for k, f in enumerate(folders)
    ]
    for p in procs:
        p.start()
    got = {k: (kind, message) for k, kind, message in (out.get(timeout=120) for _ in procs)}
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return [got[k] for k in range(len(folders))]
