"""The adaptive-overlap policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assay.errors import InvalidInput
from assay.quality import (
    AdaptiveOverlap,
    DawidSkene,
    make_crowd,
    one_coin_posterior,
    simulate_labels,
)

LABELS = ["dry", "flooded"]


def _task(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"task": "t", "worker": [w for w, _ in pairs], "label": [y for _, y in pairs]}
    )


def test_one_coin_posterior_formula() -> None:
    skills = pd.Series({"ana": 0.9, "bo": 0.6})
    single = one_coin_posterior(_task(("ana", "flooded")), LABELS, skills)
    assert single.loc["t", "flooded"] == pytest.approx(0.9)
    both = one_coin_posterior(_task(("ana", "flooded"), ("bo", "dry")), LABELS, skills)
    expected = 0.9 * 0.4 / (0.9 * 0.4 + 0.1 * 0.6)
    assert both.loc["t", "flooded"] == pytest.approx(expected)
    four = one_coin_posterior(_task(("ana", "flooded")), [*LABELS, "burnt", "collapsed"], skills)
    assert four.loc["t", "dry"] == pytest.approx(0.1 / 3)


def test_asks_below_target_and_stops_above() -> None:
    policy = AdaptiveOverlap(target=0.9, max_labels=3)
    skills = pd.Series({"ana": 0.8, "bo": 0.8, "cy": 0.55, "dee": 0.95})
    assert policy.needs_more(_task(("ana", "flooded")), labels=LABELS, skills=skills)
    agreed = _task(("ana", "flooded"), ("bo", "flooded"))  # 0.64 / (0.64 + 0.04) = 0.94
    assert not policy.needs_more(agreed, labels=LABELS, skills=skills)
    assert not policy.needs_more(_task(("dee", "dry")), labels=LABELS, skills=skills)
    capped = _task(("ana", "flooded"), ("bo", "dry"), ("cy", "dry"))
    assert not policy.needs_more(capped, labels=LABELS, skills=skills)  # max_labels reached
    assert policy.needs_more(_task(), labels=LABELS)  # nothing yet


def test_min_labels_forces_asking() -> None:
    policy = AdaptiveOverlap(target=0.5, min_labels=2, max_labels=4)
    skills = pd.Series({"dee": 0.99})
    assert policy.needs_more(_task(("dee", "dry")), labels=LABELS, skills=skills)


def test_decide_over_many_tasks_with_a_fitted_model() -> None:
    crowd = make_crowd(200, 10, seed=4)
    df = simulate_labels(crowd, overlap=3, seed=4)
    model = DawidSkene().fit(df)
    policy = AdaptiveOverlap(target=0.99, max_labels=4)
    first_two = df.groupby("task").head(2)
    decision = policy.decide(first_two, model=model, tasks=[*crowd.gold().index, "unlabelled"])
    assert list(decision.columns) == ["n_labels", "label", "confidence", "ask_more"]
    assert decision.loc["unlabelled", "ask_more"]
    assert decision.loc["unlabelled", "n_labels"] == 0
    labelled = decision.drop("unlabelled")
    expected = labelled["confidence"] < 0.99
    pd.testing.assert_series_equal(labelled["ask_more"], expected, check_names=False)
    assert 0 < labelled["ask_more"].mean() < 1


def test_higher_target_asks_more() -> None:
    crowd = make_crowd(300, 12, seed=6)
    df = simulate_labels(crowd, overlap=2, seed=6)
    skills = pd.Series(np.diagonal(crowd.confusion, axis1=1, axis2=2).mean(axis=1))
    skills.index = [f"w{w:04d}" for w in range(12)]
    asks = [
        AdaptiveOverlap(target=t)
        .decide(df, labels=list(crowd.classes), skills=skills)["ask_more"]
        .sum()
        for t in (0.6, 0.8, 0.95)
    ]
    assert asks[0] < asks[1] < asks[2]


def test_invalid_policy() -> None:
    with pytest.raises(InvalidInput, match="target"):
        AdaptiveOverlap(target=1.5)
    with pytest.raises(InvalidInput, match="min_labels"):
        AdaptiveOverlap(min_labels=4, max_labels=3)
    with pytest.raises(InvalidInput, match="label set"):
        AdaptiveOverlap().decide(_task(("a", "dry")))
    with pytest.raises(InvalidInput, match="one task"):
        AdaptiveOverlap().needs_more(
            pd.DataFrame({"task": [1, 2], "worker": ["a", "b"], "label": ["dry", "dry"]}),
            labels=LABELS,
        )


def test_required_labels_is_count_plus_one_while_unsure() -> None:
    policy = AdaptiveOverlap(target=0.9, max_labels=3, min_labels=2)
    skills = pd.Series({"ana": 0.95, "bo": 0.95, "cy": 0.8})
    data = pd.concat(
        [
            _task(("ana", "flooded"), ("bo", "flooded")).assign(task="sure"),
            _task(("ana", "flooded"), ("cy", "dry")).assign(task="torn"),
            _task(("ana", "flooded")).assign(task="one"),
            _task(("ana", "dry"), ("bo", "flooded"), ("cy", "dry")).assign(task="capped"),
        ]
    )
    need = policy.required_labels(
        data, labels=LABELS, skills=skills, tasks=["sure", "torn", "one", "capped", "new"]
    )
    assert need.to_dict() == {"sure": 2, "torn": 3, "one": 2, "capped": 3, "new": 2}
