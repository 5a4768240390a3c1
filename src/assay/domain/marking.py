"""Classification markings and need-to-know checks.

A marking is a level from an ordered scheme plus a set of compartments. A user
sees an item only if their clearance level is at least the item's level and
they hold every compartment of the item.

Example:
    >>> scheme = MarkingScheme.default()
    >>> m = scheme.parse("CUI/FLOOD")
    >>> scheme.render(m)
    'CUI/FLOOD'
    >>> scheme.allows(scheme.parse("SECRET/FLOOD/SAR"), m)
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from assay.errors import InvalidInput

DEFAULT_LEVELS: tuple[str, ...] = ("UNCLASSIFIED", "CUI", "CONFIDENTIAL", "SECRET", "TOP SECRET")


@dataclass(frozen=True, order=True)
class Marking:
    """A level index into the scheme and a sorted tuple of compartments."""

    level: int = 0
    compartments: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class MarkingScheme:
    """The ordered list of levels configured for a workspace."""

    levels: tuple[str, ...] = DEFAULT_LEVELS

    @classmethod
    def default(cls) -> MarkingScheme:
        return cls()

    def parse(self, text: str | None) -> Marking:
        """Parse `LEVEL[/COMPARTMENT...]`; an empty value is the lowest level."""
        # A pure function of the scheme and the text, so its results are kept (bad input
        # raises, and an exception is never cached).
        return _parse(self, text)

    def _parse(self, text: str | None) -> Marking:
        if text is None or not text.strip():
            return Marking(0, ())
        parts = [p.strip() for p in text.split("/")]
        level_name = parts[0].upper()
        try:
            level = self.levels.index(level_name)
        except ValueError:
            raise InvalidInput(
                f"unknown marking level {parts[0]!r}; levels are: {', '.join(self.levels)}"
            ) from None
        comps = sorted({p.upper() for p in parts[1:] if p})
        for c in comps:
            if not c.replace("-", "").replace("_", "").isalnum():
                raise InvalidInput(f"bad compartment name {c!r} in marking {text!r}")
        return Marking(level, tuple(comps))

    def render(self, marking: Marking) -> str:
        name = self.levels[marking.level]
        return "/".join((name, *marking.compartments))

    def allows(self, clearance: Marking, marking: Marking) -> bool:
        """True when a holder of `clearance` may see something marked `marking`."""
        return clearance.level >= marking.level and set(marking.compartments) <= set(
            clearance.compartments
        )

    def highest(self, markings: Iterable[Marking]) -> Marking:
        """The marking of a collection: the highest level and the union of compartments."""
        level = 0
        comps: set[str] = set()
        for m in markings:
            level = max(level, m.level)
            comps.update(m.compartments)
        return Marking(level, tuple(sorted(comps)))

    def highest_text(self, texts: Iterable[str]) -> str:
        return self.render(self.highest(self.parse(t) for t in set(texts)))


@lru_cache(maxsize=4096)
def _parse(scheme: MarkingScheme, text: str | None) -> Marking:
    return scheme._parse(text)
