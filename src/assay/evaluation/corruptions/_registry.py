"""The table of corruptions: name -> function, family, parameters. One place, duplicates fail."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput
from assay.evaluation.corruptions import _blur, _digital, _noise, _sensor, _weather

Family = Literal["noise", "blur", "weather", "digital", "sensor"]
Group = Literal["common", "noise", "blur", "weather", "digital", "sensor", "all"]
CorruptFn = Callable[
    [npt.NDArray[Any], int, np.random.Generator, Mapping[str, float]], npt.NDArray[Any]
]


@dataclass(frozen=True)
class ParamRange:
    """Allowed values of one tunable parameter (inclusive bounds)."""

    low: float
    high: float
    integer: bool = False


@dataclass(frozen=True)
class Corruption:
    """A registered corruption.

    Attributes:
        name: registry key.
        family: noise, blur, weather, digital (the 15 ImageNet-C ones) or sensor.
        fn: the implementation; gets (H, W, C) float64 in [0, 1] when `domain` is "float",
            (H, W, C) uint8 when it is "uint8"; C is 1 or 3.
        domain: what `fn` takes and returns.
        random: whether the output depends on the seed.
        params: tunable parameters and their ranges (sensor effects only).
    """

    name: str
    family: Family
    fn: CorruptFn
    domain: Literal["float", "uint8"]
    random: bool
    params: Mapping[str, ParamRange] = field(default_factory=dict)

    def check_param(self, key: str, value: object) -> float:
        """Validate one parameter override and return it as a number."""
        if key not in self.params:
            allowed = ", ".join(sorted(self.params)) or "none"
            raise InvalidInput(
                f"params.{key}: {self.name!r} has no parameter {key!r} (allowed: {allowed})"
            )
        bounds = self.params[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"params.{key}: expected a number, got {value!r}")
        if not math.isfinite(value) or not bounds.low <= value <= bounds.high:
            raise InvalidInput(
                f"params.{key}: {value!r} is outside {bounds.low:g}..{bounds.high:g}"
            )
        if bounds.integer and value != int(value):
            raise InvalidInput(f"params.{key}: expected an integer, got {value!r}")
        return int(value) if bounds.integer else float(value)


def _table(entries: Iterable[Corruption]) -> Mapping[str, Corruption]:
    table: dict[str, Corruption] = {}
    for entry in entries:
        if entry.name in table:
            raise RuntimeError(f"corruption {entry.name!r} registered twice")
        table[entry.name] = entry
    return MappingProxyType(table)


_PIXEL = ParamRange(0, 255, integer=True)

REGISTRY: Mapping[str, Corruption] = _table(
    [
        Corruption("gaussian_noise", "noise", _noise.gaussian_noise, "float", True),
        Corruption("shot_noise", "noise", _noise.shot_noise, "float", True),
        Corruption("impulse_noise", "noise", _noise.impulse_noise, "float", True),
        Corruption("defocus_blur", "blur", _blur.defocus_blur, "float", False),
        Corruption("glass_blur", "blur", _blur.glass_blur, "float", True),
        Corruption("motion_blur", "blur", _blur.motion_blur, "float", True),
        Corruption("zoom_blur", "blur", _blur.zoom_blur, "float", False),
        Corruption("snow", "weather", _weather.snow, "float", True),
        Corruption("frost", "weather", _weather.frost, "float", True),
        Corruption("fog", "weather", _weather.fog, "float", True),
        Corruption("brightness", "weather", _weather.brightness, "float", False),
        Corruption("contrast", "digital", _digital.contrast, "float", False),
        Corruption("elastic_transform", "digital", _digital.elastic_transform, "float", True),
        Corruption("pixelate", "digital", _digital.pixelate, "uint8", False),
        Corruption("jpeg_compression", "digital", _digital.jpeg_compression, "uint8", False),
        Corruption(
            "jpeg", "sensor", _sensor.jpeg, "uint8", False, {"quality": ParamRange(1, 100, True)}
        ),
        Corruption(
            "downscale", "sensor", _sensor.downscale, "uint8", False, {"factor": ParamRange(0, 1)}
        ),
        Corruption(
            "pixel_dropout",
            "sensor",
            _sensor.pixel_dropout,
            "uint8",
            True,
            {"rate": ParamRange(0, 1), "value": _PIXEL},
        ),
        Corruption(
            "occlusion",
            "sensor",
            _sensor.occlusion,
            "uint8",
            True,
            {"count": ParamRange(0, 1000, True), "size": ParamRange(0, 1), "value": _PIXEL},
        ),
    ]
)


def lookup(name: object) -> Corruption:
    """The registered corruption called `name`, or InvalidInput listing the names."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise InvalidInput(
            f"name: unknown corruption {name!r}; expected one of {', '.join(REGISTRY)}"
        )
    return REGISTRY[name]


def corruption_names(group: Group = "common") -> list[str]:
    """Names of the corruptions in `group`, in ImageNet-C order.

    Args:
        group: "common" for the 15 ImageNet-C corruptions, a family ("noise", "blur",
            "weather", "digital", "sensor"), or "all".
    """
    if group == "all":
        return list(REGISTRY)
    if group == "common":
        return [c.name for c in REGISTRY.values() if c.family != "sensor"]
    families = ("noise", "blur", "weather", "digital", "sensor")
    if group not in families:
        raise InvalidInput(f"group: expected common, all or one of {', '.join(families)}")
    return [c.name for c in REGISTRY.values() if c.family == group]
