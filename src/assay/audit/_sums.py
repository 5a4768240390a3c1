"""A running sum over (item, marking) pairs, so signed events bind every item's marking.

Each event that creates items records the sum of their pairs (`items_sum`); each event that
changes a marking records old and new. Replaying the trail therefore gives the sum the
`items` table must have now, whatever the order of changes (addition commutes): one
comparison tells whether any marking changed, or any item appeared or vanished, outside
assay. The sum is taken modulo 2**256 over sha256 digests, a multiset hash in the manner
of Clarke et al., "Incremental Multiset Hash Functions" (ASIACRYPT 2003; MSet-Add-Hash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

MOD = 1 << 256


def pair_hash(item: str, marking: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{item}\0{marking}".encode()).digest(), "big")


def marking_sum(pairs: Iterable[tuple[str, str]]) -> str:
    """The sum of the pairs' hashes, as 64 hex digits (what events record)."""
    return f"{sum(pair_hash(i, m) for i, m in pairs) % MOD:064x}"
