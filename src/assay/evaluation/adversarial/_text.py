"""Character- and word-level text perturbations (typos, dropped and swapped words, synonyms)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from assay.errors import InvalidInput

TextPerturbationKind = Literal[
    "char_swap",
    "char_delete",
    "char_insert",
    "char_substitute",
    "word_drop",
    "word_swap",
    "word_synonym",
]
KINDS: tuple[str, ...] = get_args(TextPerturbationKind)

# QWERTY rows and their horizontal offsets in key widths.
_ROWS = (("1234567890", 0.0), ("qwertyuiop", 0.5), ("asdfghjkl", 0.75), ("zxcvbnm", 1.25))
_WORD = re.compile(r"(\w+(?:'\w+)?)")


@functools.cache
def keyboard_neighbours() -> Mapping[str, str]:
    """For each lowercase letter and digit, the keys physically next to it on a QWERTY keyboard."""
    where = {
        key: (row, offset + col)
        for row, (keys, offset) in enumerate(_ROWS)
        for col, key in enumerate(keys)
    }
    return {
        key: "".join(
            other
            for other, (orow, ox) in where.items()
            if other != key and abs(orow - row) <= 1 and abs(ox - x) <= 1.0
        )
        for key, (row, x) in where.items()
    }


@dataclass(frozen=True)
class TextPerturbation:
    """One kind of perturbation at one rate.

    Attributes:
        kind: char_swap (swap two adjacent letters), char_delete, char_insert (a keyboard
            neighbour of a letter typed after it), char_substitute (a letter replaced by a keyboard
            neighbour), word_drop, word_swap (two adjacent words trade places), word_synonym
            (a word replaced by one of its synonyms from `synonyms`).
        rate: fraction of the eligible letters / words / adjacent pairs to perturb, in [0, 1].
            Any rate > 0 perturbs at least one place when the text has one.
        synonyms: lowercase word -> replacements, required for word_synonym.
    """

    kind: TextPerturbationKind
    rate: float = 0.1
    synonyms: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInput(f"kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        rate = self.rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise InvalidInput(f"rate: expected a number in [0, 1], got {rate!r}")
        if self.kind == "word_synonym" and not self.synonyms:
            raise InvalidInput("synonyms: word_synonym needs a non-empty word -> synonyms map")
        for word, options in self.synonyms.items():
            if isinstance(options, str) or not all(isinstance(o, str) for o in options):
                raise InvalidInput(f"synonyms.{word}: expected a list of strings")
        lowered = {str(k).lower(): tuple(v) for k, v in self.synonyms.items() if len(v)}
        object.__setattr__(self, "synonyms", lowered)

    def __hash__(self) -> int:
        return hash((self.kind, self.rate, tuple(sorted(self.synonyms.items()))))

    @property
    def label(self) -> str:
        """A short name for tables, e.g. "char_swap@0.1"."""
        return f"{self.kind}@{self.rate:g}"


def _pick(rng: np.random.Generator, eligible: int, rate: float) -> list[int]:
    """Which of `eligible` places to perturb, in decreasing order (edits go right to left)."""
    if eligible == 0 or rate == 0:
        return []
    count = min(eligible, max(1, round(rate * eligible)))
    return sorted(rng.choice(eligible, size=count, replace=False).tolist(), reverse=True)


def _match_case(template: str, char: str) -> str:
    return char.upper() if template.isupper() else char


def _typo_chars(text: str, perturbation: TextPerturbation, rng: np.random.Generator) -> str:
    keys = keyboard_neighbours()
    chars = list(text)
    if perturbation.kind == "char_swap":
        spots = [
            i
            for i in range(len(chars) - 1)
            if chars[i].isalpha() and chars[i + 1].isalpha() and chars[i] != chars[i + 1]
        ]
        for pick in _pick(rng, len(spots), perturbation.rate):
            i = spots[pick]
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        return "".join(chars)
    spots = [i for i, c in enumerate(chars) if c.lower() in keys]
    for pick in _pick(rng, len(spots), perturbation.rate):
        i = spots[pick]
        near = keys[chars[i].lower()]
        if perturbation.kind == "char_delete":
            del chars[i]
        elif perturbation.kind == "char_insert":
            chars.insert(i + 1, _match_case(chars[i], near[rng.integers(len(near))]))
        else:
            chars[i] = _match_case(chars[i], near[rng.integers(len(near))])
    return "".join(chars)


def _drop_word(tokens: list[str], j: int) -> None:
    """Remove word token j and one whitespace character next to it."""
    tokens[j] = ""
    after = tokens[j + 1] if j + 1 < len(tokens) else ""
    if after[:1].isspace():
        tokens[j + 1] = after[1:]
    elif j > 0 and tokens[j - 1][-1:].isspace():
        tokens[j - 1] = tokens[j - 1][:-1]


def _word_edit(text: str, perturbation: TextPerturbation, rng: np.random.Generator) -> str:
    tokens = _WORD.split(text)  # separators at even positions, words at odd positions
    words = list(range(1, len(tokens), 2))
    if perturbation.kind == "word_drop":
        for pick in _pick(rng, len(words), perturbation.rate):
            _drop_word(tokens, words[pick])
    elif perturbation.kind == "word_swap":
        for pick in _pick(rng, max(0, len(words) - 1), perturbation.rate):
            a, b = words[pick], words[pick + 1]
            tokens[a], tokens[b] = tokens[b], tokens[a]
    else:
        known = [j for j in words if tokens[j].lower() in perturbation.synonyms]
        for pick in _pick(rng, len(known), perturbation.rate):
            j = known[pick]
            options = perturbation.synonyms[tokens[j].lower()]
            choice = options[int(rng.integers(len(options)))]
            if tokens[j].isupper() and len(tokens[j]) > 1:
                choice = choice.upper()
            elif tokens[j][:1].isupper():
                choice = choice[:1].upper() + choice[1:]
            tokens[j] = choice
    return "".join(tokens)


def perturb_text(
    text: str, perturbation: TextPerturbation, *, seed: int = 0, index: int | None = None
) -> str:
    """Apply `perturbation` to `text`, deterministically given (seed, index).

    Args:
        text: the input.
        perturbation: what to do and how often.
        seed: random seed.
        index: optional stream number (e.g. the text's position in a dataset), so each text gets
            its own reproducible randomness independent of the others.

    Example:
        >>> perturb_text("Flood waters rising", TextPerturbation("char_swap", 0.2), seed=1)
        'Flood wartes rsiing'
    """
    if not isinstance(text, str):
        raise InvalidInput(f"text: expected a string, got {type(text).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed: expected a non-negative integer, got {seed!r}")
    sequence = np.random.SeedSequence(seed, spawn_key=() if index is None else (index,))
    rng = np.random.default_rng(sequence)
    if perturbation.kind.startswith("char_"):
        return _typo_chars(text, perturbation, rng)
    return _word_edit(text, perturbation, rng)
