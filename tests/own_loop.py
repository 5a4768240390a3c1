"""Coroutines run to the end on a thread of their own, for tests in the server suites.

Playwright's sync API (the browser tests) leaves an event loop running on the xdist worker's
main thread, and `asyncio.run` refuses to start there; a later test on the same worker that
drives a feed, a stream or the group commit runs its coroutine on a fresh thread instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(main())` on a thread of its own; its exception raised here."""
    out: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(asyncio.run(main()))
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join(timeout=120)
    if errors:
        raise errors[0]
    if t.is_alive():
        raise TimeoutError(f"{main.__name__} still running after 120 s")
    return out[0]
