"""The response cache: a rerun of the same model, prompt and parameters is free and exact."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.models.llm._types import Generation, GenerationParams, Generator, Prompt, request_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    text TEXT NOT NULL,
    latency_s REAL NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    finish_reason TEXT
)
"""


class ResponseCache:
    """Outputs by `request_key` (model identity, prompt, parameters) in one SQLite file.

    A workspace keeps its cache at ``.assay/cache/llm-responses.sqlite``; delete the file to
    forget every response.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        with self._conn:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)

    @classmethod
    def for_workspace(cls, root: Path) -> ResponseCache:
        """The cache of a workspace (its ``.assay`` folder)."""
        return cls(root / "cache" / "llm-responses.sqlite")

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        found: dict[str, Generation] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    "SELECT key, text, latency_s, prompt_tokens, completion_tokens, "
                    f"finish_reason FROM responses WHERE key IN ({marks})",
                    chunk,
                ).fetchall()
                for key, text, lat, pt, ct, fr in rows:
                    found[key] = Generation(text, lat, pt, ct, fr, cached=True)
        return found

    def put_many(self, identity: str, items: Sequence[tuple[str, Generation]]) -> None:
        rows = [
            (
                k,
                identity,
                g.text,
                g.latency_s,
                g.prompt_tokens,
                g.completion_tokens,
                g.finish_reason,
            )
            for k, g in items
        ]
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


class CachedGenerator:
    """A `Generator` that answers from a `ResponseCache` and sends only the misses on.

    Misses are generated together (so a local model still batches them) and stored only
    once the whole call succeeded, so a failed call leaves the cache as it was.
    """

    def __init__(self, inner: Generator, cache: ResponseCache) -> None:
        self.inner = inner
        self.cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def identity(self) -> str:
        return self.inner.identity

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        keys = [request_key(self.identity, p, params) for p in prompts]
        found = self.cache.get_many(keys)
        todo: dict[str, Prompt] = {}
        for k, p in zip(keys, prompts, strict=True):
            if k not in found:
                todo.setdefault(k, p)
        if todo:
            made = self.inner.generate(list(todo.values()), params)
            fresh = list(zip(todo, made, strict=True))
            self.cache.put_many(self.identity, fresh)
            found.update(fresh)
        self.hits += len(prompts) - len(todo)
        self.misses += len(todo)
        return [found[k] for k in keys]
