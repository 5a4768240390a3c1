"""Task references: what API clients see instead of task row ids.

Row ids are sequential across every project, so a client that saw ids 7 and 9 would
know a task 8 exists that it may not see. A reference is the row id and a keyed tag
enciphered together under a key kept in the workspace (four Feistel rounds of keyed
BLAKE2b over 16 bytes: a keyed pseudorandom permutation, Luby and Rackoff 1988),
written as 32 hex digits. References of neighbouring rows look unrelated, and a made-up
reference fails its tag and names no task at all.

Example:
    >>> refs = TaskRefs(bytes(32))
    >>> ref = refs.encode(42)
    >>> len(ref), refs.decode(ref)
    (32, 42)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from assay.errors import NotFound
from assay.store import Database
from assay.store._sql import insert_ignore
from assay.store.schema import meta

KEY_NAME = "task_ref_key"
_ROUNDS = 4
_STEPS = [bytes([i]) for i in range(_ROUNDS)]


class TaskRefs:
    """Encode and decode task references under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _f(self, step: bytes, half: bytes) -> bytes:
        return hashlib.blake2b(step + half, key=self._key, digest_size=8).digest()

    def encode(self, task_id: int) -> str:
        left = task_id.to_bytes(8, "big")
        right = self._f(b"tag", left)
        for i in range(_ROUNDS):
            left, right = right, _xor(left, self._f(_STEPS[i], right))
        return (left + right).hex()

    def decode(self, ref: str) -> int:
        """The row id of `ref`; `NotFound` naming `ref` for anything that is not one."""
        try:
            raw = bytes.fromhex(ref) if len(ref) == 32 else b""
        except ValueError:
            raw = b""
        if len(raw) != 16:
            raise NotFound(f"no task {ref[:40]}")
        left, right = raw[:8], raw[8:]
        for i in reversed(range(_ROUNDS)):
            left, right = _xor(right, self._f(_STEPS[i], left)), left
        if not hmac.compare_digest(right, self._f(b"tag", left)):
            raise NotFound(f"no task {ref[:40]}")
        return int.from_bytes(left, "big")


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(8, "big")


def task_refs(db: Database) -> TaskRefs:
    """The workspace's references, making its key on first use."""
    with db.begin() as conn:
        row = conn.execute(select(meta.c.value).where(meta.c.key == KEY_NAME)).first()
        if row is None:
            insert_ignore(conn, meta, [{"key": KEY_NAME, "value": secrets.token_hex(32)}])
            row = conn.execute(select(meta.c.value).where(meta.c.key == KEY_NAME)).one()
    return TaskRefs(bytes.fromhex(str(row[0])))
