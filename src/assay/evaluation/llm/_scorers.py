"""Scorers: each turns (answer, target) into a number in [0, 1]; binary ones give 0 or 1.

``match`` and ``token_f1`` normalise as SQuAD's official script does (lower case, no
punctuation, no articles a/an/the, single spaces). ``span_f1`` reads the answer as spans
separated by ``;`` or new lines and scores the set of normalised spans against the
labelled spans' texts. ``numeric`` compares the first number in the answer.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Reference:
    """What an item's answer is scored against: a text (or class) and labelled span texts."""

    text: str | None
    spans: tuple[str, ...] = field(default_factory=tuple)


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, strip punctuation and articles, collapse spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact(answer: str, target: str) -> float:
    return float(answer.strip() == target.strip())


def match(answer: str, target: str) -> float:
    return float(normalize(answer) == normalize(target))


def token_f1(answer: str, target: str) -> float:
    """Token-overlap F1 of the normalised texts (1.0 when both are empty)."""
    a, t = normalize(answer).split(), normalize(target).split()
    if not a or not t:
        return float(a == t)
    common = sum((Counter(a) & Counter(t)).values())
    if common == 0:
        return 0.0
    p, r = common / len(a), common / len(t)
    return 2 * p * r / (p + r)


def regex(answer: str, target: str | None, pattern: str) -> float:
    """1 when the pattern (``{target}`` replaced by the escaped target) occurs in the answer."""
    pat = pattern.replace("{target}", re.escape(target or ""))
    return float(re.search(pat, answer) is not None)


def first_number(text: str) -> float | None:
    m = _NUMBER.search(text)
    return float(m.group(0).replace(",", "")) if m else None


def numeric(answer: str, target: str, tolerance: float, relative: float) -> float:
    """1 when the answer's first number is within ``tolerance + relative * |target|``."""
    got, want = first_number(answer), first_number(target)
    if got is None or want is None:
        return 0.0
    return float(abs(got - want) <= tolerance + relative * abs(want) + 1e-12)


def split_spans(answer: str) -> list[str]:
    parts = re.split(r"[;\n]", answer)
    return [p for p in (normalize(x) for x in parts) if p and p != "none"]


def span_f1(answer: str, spans: Sequence[str]) -> float:
    """F1 of the predicted span set against the labelled spans (1.0 when both are empty)."""
    pred = set(split_spans(answer))
    gold = {g for g in (normalize(s) for s in spans) if g}
    if not pred and not gold:
        return 1.0
    hit = len(pred & gold)
    if hit == 0:
        return 0.0
    p, r = hit / len(pred), hit / len(gold)
    return 2 * p * r / (p + r)


def letter(i: int) -> str:
    return string.ascii_uppercase[i]


def parse_choice(answer: str, choices: Sequence[str]) -> str | None:
    """The chosen option: a leading letter (``B``, ``(B)``, ``B)``, ``B.``), else the one
    choice whose text the answer names; None when it is unclear."""
    text = answer.strip()
    m = re.match(r"^\(?([A-Za-z])(?:[).:\s]|$)", text)
    if m:
        i = string.ascii_uppercase.find(m.group(1).upper())
        if 0 <= i < len(choices):
            return choices[i]
    named = [c for c in choices if normalize(c) and normalize(c) in normalize(text)]
    return named[0] if len(named) == 1 else None


def cosine_scores(answers: Sequence[str], targets: Sequence[str]) -> list[float]:
    """MiniLM cosine similarity of each answer to its target (the packaged model, offline)."""
    import numpy as np

    from assay.labeling.active import embed_texts

    if not answers:
        return []
    emb = embed_texts([*answers, *targets])
    a, t = emb[: len(answers)], emb[len(answers) :]
    return [float(x) for x in np.clip(np.sum(a * t, axis=1), -1.0, 1.0)]
