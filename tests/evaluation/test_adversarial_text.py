"""Text perturbations: what each kind does, determinism, and accuracy under perturbation."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import InvalidInput
from assay.evaluation.adversarial import (
    TextPerturbation,
    keyboard_neighbours,
    perturb_text,
    text_robustness,
)

REPORT = "Water over the bridge on Route 9; two families need rescue near the school."
SYNONYMS = {"rescue": ["help", "evacuation"], "bridge": ["overpass"], "school": ["academy"]}
WORDS = re.compile(r"\w+(?:'\w+)?")


def letters(text: str) -> Counter[str]:
    return Counter(c for c in text if c.isalnum())


def test_keyboard_neighbours_are_symmetric_and_local() -> None:
    keys = keyboard_neighbours()
    assert set(keys["g"]) == set("tyfhvb")
    assert set(keys["q"]) == set("12wa")
    for key, near in keys.items():
        assert key not in near
        for other in near:
            assert key in keys[other]


@pytest.mark.parametrize("kind", ["char_swap", "char_delete", "char_insert", "char_substitute"])
def test_char_perturbations_change_about_rate_of_the_letters(kind: str) -> None:
    out = perturb_text(REPORT, TextPerturbation(kind, 0.2), seed=3)  # type: ignore[arg-type]
    assert out != REPORT
    before, after = letters(REPORT), letters(out)
    eligible = sum(before.values())
    if kind == "char_swap":
        assert after == before
        assert len(out) == len(REPORT)
    elif kind == "char_delete":
        assert len(out) == len(REPORT) - round(0.2 * eligible)
        assert not after - before
    elif kind == "char_insert":
        assert len(out) == len(REPORT) + round(0.2 * eligible)
        assert not before - after
    else:
        assert len(out) == len(REPORT)
        changed = [(a, b) for a, b in zip(REPORT, out, strict=True) if a != b]
        assert len(changed) == round(0.2 * eligible)
        keys = keyboard_neighbours()
        assert all(b.lower() in keys[a.lower()] for a, b in changed)
        assert all(a.isupper() == b.isupper() for a, b in changed)


def test_word_drop_removes_words_and_their_space() -> None:
    out = perturb_text(REPORT, TextPerturbation("word_drop", 0.25), seed=1)
    before, after = WORDS.findall(REPORT), WORDS.findall(out)
    assert len(after) == len(before) - round(0.25 * len(before))
    assert "  " not in out
    assert not Counter(after) - Counter(before)
    assert out.endswith(".")


def test_word_swap_swaps_neighbours_only() -> None:
    words = ["alpha", "bravo", "charlie", "delta", "echo"]
    out = perturb_text(" ".join(words), TextPerturbation("word_swap", 0.25), seed=2)
    assert sorted(out.split()) == sorted(words)
    assert out != "alpha bravo charlie delta echo"
    moved = [abs(i - words.index(w)) for i, w in enumerate(out.split())]
    assert max(moved) <= 1


def test_word_synonym_uses_the_map_and_keeps_case() -> None:
    perturbation = TextPerturbation(
        "word_synonym", 1.0, synonyms={"Flood": ["deluge"], "road": ["street"]}
    )
    out = perturb_text("Flood on the ROAD, flood again", perturbation, seed=0)
    assert out == "Deluge on the STREET, deluge again"
    unchanged = perturb_text("no known words", perturbation, seed=0)
    assert unchanged == "no known words"


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=60),
    kind=st.sampled_from(
        ["char_swap", "char_delete", "char_insert", "char_substitute", "word_drop", "word_swap"]
    ),
    rate=st.floats(0, 1),
    seed=st.integers(0, 2**31),
)
def test_any_text_is_deterministic_and_rate_zero_is_identity(
    text: str, kind: str, rate: float, seed: int
) -> None:
    perturbation = TextPerturbation(kind, rate)  # type: ignore[arg-type]
    out = perturb_text(text, perturbation, seed=seed)
    assert out == perturb_text(text, perturbation, seed=seed)
    assert isinstance(out, str)
    assert perturb_text(text, TextPerturbation(kind, 0.0), seed=seed) == text  # type: ignore[arg-type]


def test_different_seeds_and_indices_differ() -> None:
    perturbation = TextPerturbation("char_substitute", 0.3)
    outputs = {perturb_text(REPORT, perturbation, seed=s) for s in range(5)}
    outputs |= {perturb_text(REPORT, perturbation, seed=0, index=i) for i in range(5)}
    assert len(outputs) >= 9


def keyword_classifier(batch: list[str]) -> list[str]:
    return [
        "rescue" if ("rescue" in t.lower() or "trapped" in t.lower()) else "info" for t in batch
    ]


TEXTS = [
    "Family trapped on roof, rescue needed",
    "Two people need rescue at the bridge",
    "Road to the shelter is open",
    "Power restored in the north district",
    "Trapped hikers near the river, send rescue",
    "Water levels falling at the dam",
]
LABELS = ["rescue", "rescue", "info", "info", "rescue", "info"]


def test_text_robustness_table() -> None:
    perturbations = [
        TextPerturbation("char_swap", 0.3),
        TextPerturbation("word_synonym", 1.0, synonyms=SYNONYMS),
        TextPerturbation("word_swap", 0.3),
    ]
    table = text_robustness(keyword_classifier, TEXTS, LABELS, perturbations, seed=0)
    rows = {row.perturbation: row for row in table.rows}
    assert rows["clean"].accuracy == 1.0
    assert rows["char_swap@0.3"].accuracy < 1.0  # typos break keyword matching
    assert rows["char_swap@0.3"].flip_rate == pytest.approx(1.0 - rows["char_swap@0.3"].accuracy)
    # rescue -> help/evacuation; only the report without "trapped" loses its cue
    assert rows["word_synonym@1"].accuracy == pytest.approx(5 / 6)
    assert rows["word_synonym@1"].changed_texts == pytest.approx(3 / 6)
    assert rows["word_swap@0.3"].accuracy == 1.0  # bag-of-words is order-blind
    again = text_robustness(keyword_classifier, TEXTS, LABELS, perturbations, seed=0)
    assert again == table
    assert table.to_records()[1]["kind"] == "char_swap"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TextPerturbation("typo", 0.1), "kind"),  # type: ignore[arg-type]
        (lambda: TextPerturbation("char_swap", 1.5), "rate"),
        (lambda: TextPerturbation("word_synonym", 0.5), "synonyms"),
        (lambda: TextPerturbation("word_synonym", 0.5, synonyms={"a": "b"}), "synonyms.a"),
        (lambda: perturb_text(3, TextPerturbation("char_swap")), "text"),  # type: ignore[arg-type]
        (lambda: perturb_text("x", TextPerturbation("char_swap"), seed=-1), "seed"),
        (lambda: text_robustness(keyword_classifier, TEXTS, LABELS[:2], []), "labels"),
        (lambda: text_robustness(lambda b: ["x"], TEXTS, LABELS, []), "predict"),
    ],
)
def test_bad_arguments_are_reported(build: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build()  # type: ignore[operator]
