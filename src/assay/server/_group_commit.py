"""Group commit: the hot writes of one process share SQLite transactions.

Requests that need a write (next task, submit) hand an operation to the `GroupCommit`
of their process. Every operation queued while the event loop handles one round of
network events runs in the same `BEGIN IMMEDIATE` transaction, each inside its own
SAVEPOINT so a failing one is rolled back alone, and the whole batch commits once.
A request is answered only after the COMMIT that holds its change returned, so every
acknowledged submission is in the database (WAL) when the client hears of it.

Why on the event loop thread and not a writer thread: the sqlite3 module releases the
GIL around every statement, and a writer thread then waits for the loop thread to
give the GIL back on each of the dozens of statements in a batch. Run on the loop,
a batch is a few hundred microseconds of uninterrupted work. The loop never waits on
the database lock: `busy_timeout` is 0 on this connection, and a batch that finds the
lock taken (a CLI command, a non-hot write on the writer thread) is retried after a
short sleep on the loop, collecting the requests that arrive meanwhile.
The group committers of several worker processes take turns through a file lock
(`ProcessLock`) that a helper thread waits on, so a worker waiting for another costs no
CPU and starts the moment the other commits.
Checkpoints (copying the WAL back into the database, with fsyncs) run off the loop,
in a worker thread on a connection of their own.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from assay import audit
from assay.errors import AssayError, Conflict
from assay.labeling._tx import RawTx, Tx, write_tx
from assay.server._process_lock import ProcessLock
from assay.store import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
Op = Callable[[Tx], Any]

MAX_BATCH = 256  # operations in one transaction
BUSY_RETRY = 0.0005  # seconds before retrying a batch that found the write lock taken
BUSY_GIVE_UP = 30.0  # seconds, like the busy_timeout of the other connections
CHECKPOINT_EVERY = 0.5  # seconds between WAL checkpoints (PASSIVE, off the loop)


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA cache_size=-200000")
    conn.execute("PRAGMA temp_store=MEMORY")
    # With several worker processes each commit elsewhere empties this connection's page
    # cache; mapped pages are re-read without a system call each.
    conn.execute("PRAGMA mmap_size=1073741824")
    return conn


class GroupCommit:
    """Batches write operations of one process into shared transactions (SQLite only).

    Use from the event loop: `result = await gc.run(lambda tx: work(tx))`. `work` runs on
    the loop thread, so it must be short and must not block.
    """

    def __init__(self, db: Database) -> None:
        if not db.is_sqlite:
            raise AssayError("group commit needs the embedded SQLite store")
        self.db = db
        self.path = db.engine.url.database or ""
        self.key = db.url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._busy_since: float | None = None
        self._last_checkpoint = time.monotonic()
        self._checkpointing = False
        self._lock = ProcessLock(self.path + "-writers.lock")
        self.batches = 0  # committed transactions
        self.operations = 0  # operations run in them
        self.busy = 0  # times a batch found the write lock taken and waited

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = _open(self.path)
            conn.execute("PRAGMA busy_timeout=0")  # never block the loop on the lock
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the loop
            self._conn = conn
        return self._conn

    async def run(self, op: Callable[[Tx], T]) -> T:
        """Run `op` in the next batch; returns once that batch has committed."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._scheduled:  # another event loop has a batch open: not ours to join
                return await asyncio.to_thread(self._alone, op)
            self._loop = loop
        fut: asyncio.Future[T] = loop.create_future()
        self._pending.append((op, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await fut

    def _alone(self, op: Callable[[Tx], T]) -> T:
        with write_tx(self.db) as tx:
            return op(tx)

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        if not self._pending:
            self._scheduled = False
            return
        if not self._lock.held and not self._lock.try_acquire():
            # Another worker process is committing: sleep in the kernel until it is done
            # (a thread waits on the lock) while requests keep joining this batch.
            self.busy += 1
            self._lock.wait(loop, self._flush)
            return
        conn = self._connection()
        if conn.in_transaction:  # left open by an interrupted batch: it never committed
            conn.execute("ROLLBACK")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # a writer outside the group (CLI, threads)
            self._lock.release()
            self._busy(loop, exc)
            return
        self._busy_since = None
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        try:
            done = self._apply(conn, batch)
            audit.seal(conn)  # one signature over the batch's newest event binds them all
            conn.execute("COMMIT")
        except Exception as exc:  # nothing of the batch is stored: every request fails
            log.exception("group commit failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            done = [(fut, None, exc) for _op, fut in batch]
        finally:
            self._lock.release()
            self._scheduled = bool(self._pending)
            if self._scheduled:
                loop.call_soon(self._flush)
        self.batches += 1
        self.operations += len(batch)
        for fut, result, error in done:
            if fut.done():  # the request was cancelled; its change stands, like any other
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)
        self._maybe_checkpoint(loop)

    def _apply(
        self, conn: sqlite3.Connection, batch: list[tuple[Op, asyncio.Future[Any]]]
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        """Run each operation in its own savepoint; a SQLite error undoing more propagates."""
        tx = RawTx(conn, self.key, sign_each=False)
        out: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        for op, fut in batch:
            conn.execute("SAVEPOINT op")
            try:
                result = op(tx)
            except Exception as exc:  # this request fails alone; the batch goes on
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                out.append((fut, None, exc))
                continue
            conn.execute("RELEASE op")
            out.append((fut, result, None))
        return out

    def _busy(self, loop: asyncio.AbstractEventLoop, exc: sqlite3.OperationalError) -> None:
        now = time.monotonic()
        self.busy += 1
        self._busy_since = self._busy_since or now
        if "locked" in str(exc) and now - self._busy_since < BUSY_GIVE_UP:
            loop.call_later(BUSY_RETRY, self._flush)
            return
        batch, self._pending = self._pending, []
        self._scheduled = False
        self._busy_since = None
        error = Conflict(f"the database stayed busy: {exc}; retry the request")
        for _op, fut in batch:
            if not fut.done():
                fut.set_exception(error)

    def _maybe_checkpoint(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        if self._checkpointing or now - self._last_checkpoint < CHECKPOINT_EVERY:
            return
        self._last_checkpoint = now
        self._checkpointing = True
        loop.run_in_executor(None, self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            conn = _open(self.path)
            try:
                conn.execute("PRAGMA busy_timeout=1000")
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                conn.close()
        except sqlite3.Error:  # a busy checkpointer elsewhere does the work instead
            log.debug("checkpoint skipped", exc_info=True)
        finally:
            self._checkpointing = False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._lock.close()
