"""Timestamps: UTC, ISO-8601, microsecond precision, one format everywhere."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return _iso(datetime.now(UTC))


def iso_at(t: float) -> str:
    """A Unix time in the same format as `now_iso`."""
    return _iso(datetime.fromtimestamp(t, tz=UTC))


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")
