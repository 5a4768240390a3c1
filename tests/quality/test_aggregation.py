"""Aggregators: parity with crowd-kit, tie rule, golden labels, prediction on new data."""

from __future__ import annotations

from typing import Any

import crowdkit.aggregation as ck
import numpy as np
import pandas as pd
import pytest

from assay.errors import InvalidInput
from assay.quality import (
    GLAD,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    Wawa,
    aggregate_frame,
    make_crowd,
    simulate_labels,
)

# Parity tolerances: posteriors agree to 1e-6 (observed: 1e-10, the M-step clip, for the
# Dawid-Skene family; 1e-12 for GLAD). Labels must agree wherever the top two posteriors
# differ by more than 1e-6; exact ties are settled by our documented rule instead.
PROBA_TOL = 1e-6

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module")
def crowd_frame() -> pd.DataFrame:
    crowd = make_crowd(120, 10, accuracy=(0.45, 0.9), seed=3)
    return simulate_labels(crowd, overlap=4, seed=3)


def _without_vote_ties(df: pd.DataFrame) -> pd.DataFrame:
    """Drop tasks whose majority vote is tied (crowd-kit breaks those by row order)."""
    counts = df.groupby(["task", "label"]).size().unstack(fill_value=0).to_numpy()
    top2 = np.sort(counts, axis=1)[:, -2:]
    tasks = df["task"].drop_duplicates().sort_values().to_numpy()[top2[:, 1] > top2[:, 0]]
    return df[df["task"].isin(tasks)]


def _compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    theirs = theirs.reindex(index=ours.index, columns=ours.columns)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(float), atol=PROBA_TOL)
    top2 = np.sort(ours.to_numpy(), axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > PROBA_TOL
    assert clear.mean() > 0.5  # the comparison below must cover most tasks
    ours_lab = ours.to_numpy().argmax(axis=1)[clear]
    theirs_lab = theirs.to_numpy(float).argmax(axis=1)[clear]
    np.testing.assert_array_equal(ours_lab, theirs_lab)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (MajorityVote, ck.MajorityVote),
        (DawidSkene, ck.DawidSkene),
        (OneCoinDawidSkene, ck.OneCoinDawidSkene),
    ],
)
def test_parity_with_crowdkit(crowd_frame: pd.DataFrame, ours: Any, theirs: Any) -> None:
    _compare(ours().fit_predict_proba(crowd_frame), theirs().fit_predict_proba(crowd_frame))


def test_dawid_skene_iterations_and_errors_match_crowdkit(crowd_frame: pd.DataFrame) -> None:
    ours, theirs = DawidSkene().fit(crowd_frame), ck.DawidSkene().fit(crowd_frame)
    assert ours.n_iter_ == len(theirs.loss_history_)
    np.testing.assert_allclose(ours.loss_history_, theirs.loss_history_, rtol=1e-6)
    observed = theirs.errors_.index
    mine = ours.errors_.loc[observed, theirs.errors_.columns]
    np.testing.assert_allclose(mine.to_numpy(), theirs.errors_.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.priors_, theirs.priors_.reindex(ours.priors_.index), atol=1e-9)


@pytest.mark.parametrize("model", [DawidSkene, OneCoinDawidSkene])
def test_dawid_skene_parity_with_sparse_workers(model: Any) -> None:
    # 150 annotators with about 6 labels each: many have seen no task of some class, where
    # crowd-kit normalises each confusion column over the labels the worker actually gave
    crowd = make_crowd(300, 150, seed=4)
    df = simulate_labels(crowd, overlap=3, seed=4)
    theirs = getattr(ck, model.__name__)().fit_predict_proba(df)
    _compare(model().fit_predict_proba(df), theirs)


def test_glad_matches_crowdkit() -> None:
    # crowd-kit's GLAD is slow (pandas per CG step), so it gets a smaller crowd.
    df = simulate_labels(make_crowd(30, 5, seed=8), overlap=3, seed=8)
    ours, theirs = GLAD().fit(df), ck.GLAD().fit(df)
    _compare(ours.probas_, theirs.probas_)
    assert len(ours.loss_history_) == len(theirs.loss_history_)
    np.testing.assert_allclose(ours.alphas_, theirs.alphas_.reindex(ours.alphas_.index), atol=1e-6)
    np.testing.assert_allclose(ours.betas_, theirs.betas_.reindex(ours.betas_.index), atol=1e-6)


def test_wawa_parity_with_crowdkit_components(crowd_frame: pd.DataFrame) -> None:
    # crowd-kit's Wawa.predict_proba calls sklearn's check_is_fitted, which fails on
    # scikit-learn >= 1.6 (no __sklearn_tags__); Wawa is exactly these two MV steps.
    crowd_frame = _without_vote_ties(crowd_frame)
    skills = ck.MajorityVote().fit(crowd_frame).skills_
    theirs = ck.MajorityVote().fit_predict_proba(crowd_frame, skills=skills)
    model = Wawa().fit(crowd_frame)
    np.testing.assert_allclose(model.skills_, skills.reindex(model.skills_.index), atol=1e-12)
    _compare(model.probas_, theirs)


def test_majority_vote_tie_goes_to_label_that_sorts_first() -> None:
    df = pd.DataFrame(
        {
            "task": ["a", "a", "b", "b", "c", "c", "c"],
            "worker": ["w1", "w2", "w2", "w1", "w1", "w2", "w3"],
            "label": ["rubble", "intact", "intact", "rubble", "z", "y", "x"],
        }
    )
    labels = MajorityVote().fit_predict(df)
    assert labels.to_dict() == {"a": "intact", "b": "intact", "c": "x"}
    assert labels.index.name == "task"
    assert labels.name == "agg_label"
    reversed_rows = MajorityVote().fit_predict(df.iloc[::-1])
    pd.testing.assert_series_equal(labels, reversed_rows)


def test_weighted_majority_vote_uses_skills() -> None:
    df = pd.DataFrame(
        {"task": ["t"] * 3, "worker": ["a", "b", "c"], "label": ["flood", "flood", "dry"]}
    )
    skills = pd.Series({"a": 0.2, "b": 0.2, "c": 0.9})
    assert MajorityVote(skills=skills).fit_predict(df)["t"] == "dry"
    assert MajorityVote().fit_predict(df)["t"] == "flood"


def test_weighted_majority_vote_names_a_worker_without_skill() -> None:
    # crowd-kit: MajorityVote(on_missing_skill="error") by default; a silent weight of 0
    # would drop the worker's votes
    df = pd.DataFrame(
        {"task": ["t"] * 3, "worker": ["a", "b", "c"], "label": ["flood", "flood", "dry"]}
    )
    skills = pd.Series({"a": 0.2, "c": 0.9})
    with pytest.raises(InvalidInput, match="worker 'b' has no skill; pass default_skill="):
        MajorityVote(skills=skills).fit(df)
    assert MajorityVote(skills=skills, default_skill=0.0).fit_predict(df)["t"] == "dry"
    assert MajorityVote(skills=skills, default_skill=1.0).fit_predict(df)["t"] == "flood"


def test_golden_labels_clamp_dawid_skene() -> None:
    df = pd.DataFrame(
        {
            "task": ["t1", "t1", "t1", "t2", "t2"],
            "worker": ["a", "b", "c", "a", "b"],
            "label": ["no", "no", "yes", "yes", "yes"],
        }
    )
    gold = pd.Series({"t1": "yes"})
    model = DawidSkene().fit(df, true_labels=gold)
    assert model.labels_["t1"] == "yes"
    assert model.probas_.loc["t1", "yes"] == 1.0
    with pytest.raises(InvalidInput, match="golden label 'maybe'"):
        DawidSkene().fit(df, true_labels=pd.Series({"t1": "maybe"}))


def test_predict_proba_on_new_labels_uses_learned_confusions(crowd_frame: pd.DataFrame) -> None:
    model = DawidSkene().fit(crowd_frame)
    # One more E-step with the final confusions: close to, not equal to, probas_.
    fitted = model.predict_proba(crowd_frame)
    assert (fitted.idxmax(axis=1) == model.labels_).mean() > 0.97
    assert np.abs(fitted.to_numpy() - model.probas_.to_numpy()).mean() < 0.01
    new = pd.DataFrame(
        {
            "task": ["new", "new"],
            "worker": [crowd_frame["worker"].iloc[0], "stranger"],
            "label": ["major", "none"],
        }
    )
    post = model.predict_proba(new)
    assert post.loc["new"].idxmax() == "major"  # the stranger's vote carries no weight
    assert abs(post.loc["new"].sum() - 1.0) < 1e-12
    with pytest.raises(InvalidInput, match="not in the label set"):
        model.predict(new.assign(label="unknown"))


@pytest.mark.parametrize("model", [MajorityVote(), Wawa(), DawidSkene(), GLAD()])
def test_unfitted_model_raises(model: Any) -> None:
    with pytest.raises(InvalidInput, match="not fitted"):
        model.predict_proba(pd.DataFrame({"task": [1], "worker": [1], "label": [1]}))


def test_missing_column_and_empty_value_are_reported() -> None:
    with pytest.raises(InvalidInput, match=r"lacks column.*worker"):
        DawidSkene().fit(pd.DataFrame({"task": [1], "label": ["x"]}))
    with pytest.raises(InvalidInput, match="row 1 has an empty value"):
        MajorityVote().fit(pd.DataFrame({"task": [1, 2], "worker": ["a", None], "label": [1, 2]}))


def test_single_label_set_is_certain() -> None:
    df = pd.DataFrame({"task": [1, 1, 2], "worker": ["a", "b", "a"], "label": ["ok"] * 3})
    for model in (DawidSkene(), OneCoinDawidSkene(), GLAD(), Wawa()):
        probas = model.fit_predict_proba(df)
        assert probas.shape == (2, 1)
        assert (probas.to_numpy() == 1.0).all()


@pytest.mark.parametrize("method", ["mv", "wawa", "ds", "onecoin", "glad"])
def test_aggregate_frame_recovers_truth(method: str) -> None:
    crowd = make_crowd(300, 12, accuracy=(0.6, 0.9), seed=5)
    df = simulate_labels(crowd, overlap=5, seed=5)
    result = aggregate_frame(df, method)
    accuracy = (result.labels.reindex(crowd.gold().index) == crowd.gold()).mean()
    assert accuracy > 0.85
    assert result.n_labels == len(df)
    assert result.n_tasks == 300
    assert result.skills.between(0, 1).all()
    frame = result.to_frame()
    assert list(frame.columns) == ["task", "label", "confidence"]
    assert frame["confidence"].between(0, 1).all()


def test_aggregate_frame_rejects_unknown_method() -> None:
    df = pd.DataFrame({"task": [1], "worker": [1], "label": [1]})
    with pytest.raises(InvalidInput, match="unknown aggregation method 'bogus'"):
        aggregate_frame(df, "bogus")


def test_mixed_type_labels_are_ordered_deterministically() -> None:
    df = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": [2, "two"]})
    probas = MajorityVote().fit_predict_proba(df)
    assert list(probas.columns) == [2, "two"]
    assert MajorityVote().fit_predict(df.iloc[::-1])[1] == 2


@pytest.mark.parametrize("method", ["mv", "wawa", "ds", "onecoin", "glad"])
def test_empty_frame_gives_empty_result(method: str) -> None:
    empty = pd.DataFrame({"task": [], "worker": [], "label": []})
    result = aggregate_frame(empty, method)
    assert result.n_tasks == 0
    assert result.probas.shape == (0, 0)
    assert result.to_dict()["tasks"] == []


@pytest.mark.parametrize(
    ("ours", "theirs"), [(DawidSkene, ck.DawidSkene), (OneCoinDawidSkene, ck.OneCoinDawidSkene)]
)
def test_a_repeated_answer_is_a_vote_as_in_crowdkit_and_is_listed(
    crowd_frame: pd.DataFrame, ours: Any, theirs: Any
) -> None:
    # A worker who labelled a task twice (the same label, or another) was counted twice,
    # unsaid. It stays two votes, as crowd-kit counts it, and aggregate_frame lists the pair.
    first = crowd_frame.iloc[:6]
    other = first.assign(label=[crowd_frame["label"].min()] * 6)
    df = pd.concat([crowd_frame, first.iloc[:3], other.iloc[3:]], ignore_index=True)
    _compare(ours(n_iter=100).fit(df).probas_, theirs(n_iter=100).fit(df).probas_)
    result = aggregate_frame(df, "ds")
    assert result.n_repeated == 6 and len(result.repeated) == 6
    expected = first[["task", "worker"]].sort_values(["task", "worker"]).to_numpy().tolist()
    assert result.repeated[["task", "worker"]].to_numpy().tolist() == expected
    assert set(result.repeated["n_labels"]) == {2}
    doc = result.to_dict()["repeated"]
    assert (doc["n_labels"], doc["n_pairs"], len(doc["examples"])) == (6, 6, 5)
    assert aggregate_frame(crowd_frame, "ds").repeated.empty
