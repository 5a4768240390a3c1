"""Fixtures of the versioning tests; the helpers live in `versioning_world` (tests/)."""

from versioning_world import flood

__all__ = ["flood"]
