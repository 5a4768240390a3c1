"""Agreement coefficients: published vectors, parity with nltk and scikit-learn, edge cases."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.metrics.agreement import AnnotationTask
from sklearn.metrics import cohen_kappa_score

from assay.errors import InvalidInput
from assay.quality import (
    MIN_SHARED_TASKS,
    cohen_kappa,
    cohen_kappa_pairs,
    fleiss_kappa,
    krippendorff_alpha,
    make_crowd,
    mean_pairwise_cohen_kappa,
    pairwise_cohen_kappa,
    simulate_labels,
)

NAN = float("nan")


def _long(reliability: list[list[Any]]) -> pd.DataFrame:
    """Coders × units reliability data (None/nan = missing) to the long format."""
    rows = [
        (unit, coder, value)
        for coder, row in enumerate(reliability)
        for unit, value in enumerate(row)
        if value is not None and not (isinstance(value, float) and math.isnan(value))
    ]
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


# Test vector from the docstring of krippendorff.alpha (fast-krippendorff).
DOCSTRING = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 coders, 12 units.
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.mark.parametrize(
    ("data", "level", "expected"),
    [
        (DOCSTRING, "nominal", 0.691358),
        (DOCSTRING, "interval", 0.810845),
        (K2011, "nominal", 0.743),
        (K2011, "ordinal", 0.815),
        (K2011, "interval", 0.849),
        (K2011, "ratio", 0.797),
    ],
)
def test_krippendorff_reference_values(data: list[list[Any]], level: Any, expected: float) -> None:
    places = 6 if expected != round(expected, 3) else 3
    assert round(krippendorff_alpha(_long(data), level), places) == expected


def test_krippendorff_nominal_on_strings_and_ordinal_order() -> None:
    df = _long(K2011)
    names = {1: "none", 2: "minor", 3: "major", 4: "severe", 5: "destroyed"}
    text = df.assign(label=df["label"].map(names))
    assert round(krippendorff_alpha(text), 3) == 0.743
    ordinal = krippendorff_alpha(text, "ordinal", value_order=list(names.values()))
    assert round(ordinal, 3) == 0.815
    with pytest.raises(InvalidInput, match="interval alpha needs numeric labels"):
        krippendorff_alpha(text, "interval")


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 3), st.sampled_from(["a", "b", "c"])),
        min_size=2,
        max_size=40,
        unique_by=lambda r: (r[0], r[1]),
    )
)
def test_krippendorff_matches_nltk(rows: list[tuple[int, int, str]]) -> None:
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    per_unit = df.groupby("task").size()
    pairable = df[df["task"].isin(per_unit[per_unit >= 2].index)]
    ours = krippendorff_alpha(df)
    if pairable.empty:
        assert math.isnan(ours)
        return
    theirs = AnnotationTask(
        data=[(str(w), str(t), lab) for t, w, lab in pairable.itertuples(index=False)]
    ).alpha()
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_nltk_parity_on_a_simulated_crowd() -> None:
    df = simulate_labels(make_crowd(80, 6, seed=2), overlap=3, seed=2)
    theirs = AnnotationTask(data=[(w, t, lab) for t, w, lab in df.itertuples(index=False)])
    assert krippendorff_alpha(df) == pytest.approx(theirs.alpha(), abs=1e-9)


def test_fleiss_reference_values() -> None:
    ratings = [[1, 1, 1, 2], [2, 2, 2, 2], [1, 2, 3, 3], [3, 3, 3, 3]]
    df = pd.DataFrame(
        [(i, j, v) for i, row in enumerate(ratings) for j, v in enumerate(row)],
        columns=["task", "worker", "label"],
    )
    assert fleiss_kappa(df) == pytest.approx(0.492063, abs=1e-6)
    assert fleiss_kappa(df, "randolph") == pytest.approx(0.5, abs=1e-12)


def test_fleiss_matches_statsmodels_formula_on_equal_counts() -> None:
    df = simulate_labels(make_crowd(60, 8, seed=4), overlap=4, seed=4)
    table = df.groupby(["task", "label"]).size().unstack(fill_value=0).to_numpy(float)
    n = 4
    p_bar = ((table**2).sum(axis=1) - n).mean() / (n * (n - 1))
    p_j = table.sum(axis=0) / table.sum()
    expected = (p_bar - (p_j**2).sum()) / (1 - (p_j**2).sum())
    assert fleiss_kappa(df) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_matches_sklearn(weights: Any) -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 4, 200)
    b = np.where(rng.random(200) < 0.7, a, rng.integers(0, 4, 200))
    ours = cohen_kappa(list(a), list(b), weights)
    assert ours == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)


def test_pairwise_cohen_matches_sklearn_per_pair() -> None:
    df = simulate_labels(make_crowd(40, 4, seed=9), overlap=4, seed=9)
    wide = df.pivot(index="task", columns="worker", values="label")
    pairs = pairwise_cohen_kappa(df)
    assert len(pairs) == 6
    for row in pairs.itertuples(index=False):
        expected = cohen_kappa_score(wide[row.worker_a], wide[row.worker_b])
        assert row.kappa == pytest.approx(expected, abs=1e-12)
        assert row.n_common == 40
    assert mean_pairwise_cohen_kappa(df) == pytest.approx(pairs["kappa"].mean())


def test_edge_case_all_labels_equal_is_one() -> None:
    df = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "label": ["x"] * 4})
    assert krippendorff_alpha(df) == 1.0
    assert fleiss_kappa(df) == 1.0
    assert cohen_kappa(["x", "x"], ["x", "x"]) == 1.0
    assert mean_pairwise_cohen_kappa(df) == 1.0
    theirs = AnnotationTask(data=[(w, str(t), lab) for t, w, lab in df.itertuples(index=False)])
    assert theirs.alpha() == 1.0  # the convention we follow


def test_edge_case_single_rater_is_nan() -> None:
    df = pd.DataFrame({"task": [1, 2, 3], "worker": ["a"] * 3, "label": ["x", "y", "x"]})
    assert math.isnan(krippendorff_alpha(df))
    assert math.isnan(fleiss_kappa(df))
    assert pairwise_cohen_kappa(df).empty
    assert math.isnan(mean_pairwise_cohen_kappa(df))


def test_edge_case_no_pairable_units_is_nan() -> None:
    df = pd.DataFrame({"task": [1, 2, 3], "worker": ["a", "b", "c"], "label": ["x", "y", "x"]})
    assert math.isnan(krippendorff_alpha(df))
    assert math.isnan(fleiss_kappa(df))
    assert math.isnan(cohen_kappa([], []))


def test_perfect_disagreement_structure_is_negative() -> None:
    df = pd.DataFrame(
        {"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "label": ["x", "y", "y", "x"]}
    )
    assert krippendorff_alpha(df) < 0
    assert cohen_kappa(["x", "y"], ["y", "x"]) == -1.0


def test_invalid_arguments() -> None:
    df = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": [1, 2]})
    with pytest.raises(InvalidInput, match="unknown level"):
        krippendorff_alpha(df, "cardinal")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="unknown Fleiss method"):
        fleiss_kappa(df, "cohen")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="differ in length"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(InvalidInput, match="unknown kappa weights"):
        cohen_kappa([1], [1], "cubic")  # type: ignore[arg-type]


def test_ordinal_alpha_on_words_needs_their_order() -> None:
    df = _long(K2011)
    names = {1: "none", 2: "minor", 3: "major", 4: "severe", 5: "destroyed"}
    text = df.assign(label=df["label"].map(names))
    # sorted as words, "destroyed" < "major" < "minor" < "none" < "severe" is no scale at all
    with pytest.raises(InvalidInput, match="ordinal alpha on non-numeric labels needs value_order"):
        krippendorff_alpha(text, "ordinal")
    with pytest.raises(InvalidInput, match="lists 'minor' more than once"):
        krippendorff_alpha(text, "ordinal", value_order=[*names.values(), "minor"])
    # numbers are their own order
    assert round(krippendorff_alpha(df, "ordinal"), 3) == 0.815


def test_ratio_alpha_needs_values_from_an_absolute_zero() -> None:
    df = pd.DataFrame(
        {"task": [1, 1, 2, 2, 3, 3], "worker": ["a", "b"] * 3, "label": [-1, 1, 2, 2, 3, 4]}
    )
    with pytest.raises(InvalidInput, match="ratio alpha needs labels >= 0, got -1"):
        krippendorff_alpha(df, "ratio")


def test_randolph_kappa_counts_classes_nobody_used() -> None:
    ratings = [[1, 1, 1, 2], [2, 2, 2, 2], [1, 2, 3, 3], [3, 3, 3, 3]]
    df = pd.DataFrame(
        [(i, j, v) for i, row in enumerate(ratings) for j, v in enumerate(row)],
        columns=["task", "worker", "label"],
    )
    # statsmodels: fleiss_kappa(aggregate_raters(ratings, n_cat=4)[0] ...) with a 4th column
    # of zeros; P-bar = 2/3, so Randolph = (2/3 - 1/4) / (3/4) and Fleiss is unchanged
    assert fleiss_kappa(df, "randolph", labels=[1, 2, 3, 4]) == pytest.approx(5 / 9, abs=1e-12)
    assert fleiss_kappa(df, labels=[1, 2, 3, 4]) == pytest.approx(0.492063, abs=1e-6)
    with pytest.raises(InvalidInput, match=r"label 3 \(row \d+\) is not in the label set"):
        fleiss_kappa(df, labels=[1, 2])


@pytest.mark.parametrize("weights", ["linear", "quadratic"])
def test_weighted_cohen_counts_scale_points_nobody_used(weights: Any) -> None:
    # severity 1..5, nobody chose 3: 2 and 4 are two steps apart, not one
    first = [1, 2, 2, 4, 5, 5, 1, 4]
    second = [1, 4, 2, 4, 5, 4, 2, 2]
    scale = [1, 2, 3, 4, 5]
    expected = cohen_kappa_score(first, second, labels=scale, weights=weights)
    assert expected != pytest.approx(cohen_kappa_score(first, second, weights=weights))
    assert cohen_kappa(first, second, weights, labels=scale) == pytest.approx(expected, abs=1e-12)
    df = pd.DataFrame(
        [(t, "a", v) for t, v in enumerate(first)] + [(t, "b", v) for t, v in enumerate(second)],
        columns=["task", "worker", "label"],
    )
    pairs = pairwise_cohen_kappa(df, weights, labels=scale)
    assert pairs["kappa"].tolist() == [pytest.approx(expected, abs=1e-12)]
    with pytest.raises(InvalidInput, match=r"label 5 \(row \d+\) is not in the label set"):
        cohen_kappa(first, second, labels=[1, 2, 3, 4])


def _sparse_pair_frame() -> pd.DataFrame:
    """ana and bo share 40 tasks; cy shares 2 with ana, who also labelled task 0 twice."""
    df = simulate_labels(make_crowd(40, 2, seed=5), overlap=2, seed=5)
    names = dict(zip(sorted(df["worker"].unique()), ["ana", "bo"], strict=True))
    df["worker"] = df["worker"].map(names)
    cy = pd.DataFrame({"task": df["task"].unique()[:2], "worker": "cy", "label": "destroyed"})
    again = df[(df["worker"] == "ana")].iloc[:1].assign(label="zzz-last")
    return pd.concat([df, cy, again], ignore_index=True)


def test_cohen_pairs_leave_out_pairs_sharing_few_tasks_and_say_which() -> None:
    # ana-cy, on 2 shared tasks, weighed as much as ana-bo on 40 in the report's mean.
    df = _sparse_pair_frame()
    pairs = cohen_kappa_pairs(df)
    assert pairs.min_shared == MIN_SHARED_TASKS == 5 and pairs.n_pairs == 1
    left = pairs.left_out[["worker_a", "worker_b", "n_common"]].to_numpy().tolist()
    assert left == [["ana", "cy", 2], ["bo", "cy", 2]]
    # The mean is scikit-learn's kappa of ana and bo, on ana's label that sorts first.
    once = df.sort_values("label").drop_duplicates(["task", "worker"])
    wide = once.pivot(index="task", columns="worker", values="label").dropna(subset=["ana", "bo"])
    assert pairs.mean == pytest.approx(cohen_kappa_score(wide["ana"], wide["bo"]), abs=1e-12)
    assert mean_pairwise_cohen_kappa(df, min_common=5) == pairs.mean
    assert mean_pairwise_cohen_kappa(df) != pytest.approx(pairs.mean)  # the sparse pairs count
    # The repeated rating is counted, not dropped unsaid.
    assert pairs.repeated_ratings == 1
    doc = pairs.to_dict()
    assert doc["left_out"][0] == {
        "worker_a": "ana", "worker_b": "cy", "n_common": 2,
        "reason": "shares 2 task(s), fewer than 5",
    }  # fmt: skip
    assert cohen_kappa_pairs(df, min_shared=1).n_pairs == 3
    with pytest.raises(InvalidInput, match="min_shared must be >= 1, got 0"):
        cohen_kappa_pairs(df, min_shared=0)
