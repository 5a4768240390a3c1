"""`CorruptionSpec`: which corruption, how strong, which random stream; a plain JSON round trip."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InvalidInput
from assay.evaluation.corruptions._registry import lookup

_FIELDS = ("name", "severity", "seed", "params")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class CorruptionSpec:
    """One corruption at one severity with one seed; hashable and serialisable.

    Args:
        name: a registered corruption, e.g. "fog" (see `corruption_names("all")`).
        severity: 1 (mild) .. 5 (severe), as in ImageNet-C.
        seed: seeds the `numpy.random.Generator` of random corruptions; ignored by
            deterministic ones (contrast, pixelate, ...).
        params: overrides for the tunable sensor effects, e.g. ``{"quality": 30}`` for "jpeg";
            parameters not given take their severity default.

    Raises:
        InvalidInput: unknown name or parameter, severity outside 1..5, negative seed, or a
            parameter outside its range.

    Example:
        >>> spec = CorruptionSpec("jpeg", severity=2, params={"quality": 30})
        >>> CorruptionSpec.from_dict(spec.to_dict()) == spec
        True
    """

    name: str
    severity: int = 1
    seed: int = 0
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        corruption = lookup(self.name)
        if not _is_int(self.severity) or not 1 <= self.severity <= 5:
            raise InvalidInput(f"severity: expected an integer 1..5, got {self.severity!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise InvalidInput(f"seed: expected a non-negative integer, got {self.seed!r}")
        if not isinstance(self.params, Mapping):
            raise InvalidInput(f"params: expected a mapping, got {type(self.params).__name__}")
        checked = {key: corruption.check_param(key, value) for key, value in self.params.items()}
        object.__setattr__(self, "params", dict(sorted(checked.items())))

    def __hash__(self) -> int:
        return hash((self.name, self.severity, self.seed, tuple(self.params.items())))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"name", "severity", "seed", "params"}``."""
        return {
            "name": self.name,
            "severity": self.severity,
            "seed": self.seed,
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CorruptionSpec:
        """Rebuild a spec from `to_dict` output, rejecting unknown or missing fields."""
        if not isinstance(data, Mapping):
            raise InvalidInput(f"corruption spec: expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise InvalidInput(
                f"corruption spec: unknown field(s) {', '.join(map(str, unknown))}; "
                f"expected {', '.join(_FIELDS)}"
            )
        if "name" not in data:
            raise InvalidInput("corruption spec: missing field 'name'")
        name = data["name"]
        if not isinstance(name, str):
            raise InvalidInput(f"name: expected a string, got {type(name).__name__}")
        return cls(
            name=name,
            severity=data.get("severity", 1),
            seed=data.get("seed", 0),
            params=data.get("params") or {},
        )
