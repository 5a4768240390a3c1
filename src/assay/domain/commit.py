"""Commits: immutable, content-identified snapshots of a dataset."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from assay.domain.canonical import canonical_json


@dataclass(frozen=True)
class Commit:
    id: str
    dataset: str
    parents: tuple[str, ...]
    message: str
    author: str
    created: str
    manifest: str
    stats: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    delta: str | None = None

    @staticmethod
    def make_id(
        dataset: str,
        parents: tuple[str, ...],
        message: str,
        author: str,
        created: str,
        manifest: str,
        stats: dict[str, Any],
        delta: str | None = None,
    ) -> str:
        """The sha256 of the canonical header, so a commit cannot be altered unseen."""
        header = {
            "dataset": dataset,
            "parents": list(parents),
            "message": message,
            "author": author,
            "created": created,
            "manifest": manifest,
            "delta": delta,
            "stats": stats,
        }
        return hashlib.sha256(canonical_json(header).encode()).hexdigest()

    def verify(self) -> bool:
        return self.id == self.make_id(
            self.dataset,
            self.parents,
            self.message,
            self.author,
            self.created,
            self.manifest,
            self.stats,
            self.delta,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dataset": self.dataset,
            "parents": list(self.parents),
            "message": self.message,
            "author": self.author,
            "created": self.created,
            "manifest": self.manifest,
            "delta": self.delta,
            "stats": self.stats,
        }
