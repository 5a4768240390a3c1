"""How many live streams (server-sent events) each user holds open on this server process.

A stream of a picture looks the picture up again every `interval` (down to 0.1 s) for up to an
hour, each look a database read of every entity on a worker thread: a holder opening streams
without end would keep the threads and the database busy for everyone. Each user gets
`per_user` at once; one more is refused with 429 naming the limit. A slot is given back when
its stream ends, however it ends (done, client gone, or never started).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncIterator, Callable

from assay.errors import RateLimited


class StreamSlots:
    """Counts of open streams per user, in one process."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()

    def held(self, user_id: int) -> int:
        with self._lock:
            return self._held.get(user_id, 0)

    def take(self, user_id: int) -> Callable[[], None]:
        """Take a slot for `user_id`; returns the release (calling it twice is harmless).

        Raises:
            RateLimited: the user holds `per_user` streams already.
        """
        with self._lock:
            if self._held.get(user_id, 0) >= self.per_user:
                raise RateLimited(
                    f"you hold {self.per_user} live streams on this server already (the limit "
                    "per user); close one (a map tab) before opening another"
                )
            self._held[user_id] = self._held.get(user_id, 0) + 1
        given_back = threading.Event()

        def release() -> None:
            with self._lock:
                if given_back.is_set():
                    return
                given_back.set()
                left = self._held.get(user_id, 1) - 1
                if left:
                    self._held[user_id] = left
                else:
                    self._held.pop(user_id, None)

        return release

    def hold(self, user_id: int, events: AsyncIterator[str]) -> AsyncIterator[str]:
        """`events` holding a slot of `user_id` until they end (RateLimited: none free)."""
        release = self.take(user_id)

        async def held() -> AsyncIterator[str]:
            try:
                async for event in events:
                    yield event
            finally:
                release()

        stream = held()
        # A response that fails before its body is read never starts the generator, so its
        # `finally` never runs: the slot then comes back when the generator is collected.
        weakref.finalize(stream, release)
        return stream
