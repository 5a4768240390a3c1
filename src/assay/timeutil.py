"""Timestamps: UTC, ISO-8601, microsecond precision, one format everywhere."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
