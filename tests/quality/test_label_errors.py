"""Label-error ranking from model probabilities and from multiple annotators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assay.errors import InvalidInput
from assay.quality import (
    make_crowd,
    rank_label_issues,
    rank_multiannotator_issues,
    simulate_labels,
)

CLASSES = ["none", "minor", "major", "destroyed"]


def _model_probs(truth: np.ndarray, seed: int, strength: float = 2.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(truth), len(CLASSES)))
    logits[np.arange(len(truth)), truth] += strength
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def test_confident_learning_puts_flipped_labels_first() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 400)
    given = truth.copy()
    flipped = rng.choice(400, 40, replace=False)
    given[flipped] = (truth[flipped] + rng.integers(1, 4, 40)) % 4
    items = pd.Index([f"img{i:04d}" for i in range(400)])
    labels = pd.Series(np.asarray(CLASSES, dtype=object)[given], index=items)
    probs = pd.DataFrame(_model_probs(truth, 1), index=items, columns=CLASSES)
    ranked = rank_label_issues(labels, probs)
    assert list(ranked.columns) == [
        "item",
        "given_label",
        "predicted_label",
        "score",
        "is_issue",
        "rank",
    ]
    assert ranked["rank"].tolist() == list(range(1, 401))
    assert ranked["score"].is_monotonic_increasing
    top = set(ranked["item"].head(40))
    assert len(top & set(items[flipped])) >= 30  # precision@40 >= 0.75
    flagged = set(ranked.loc[ranked["is_issue"], "item"])
    assert len(flagged & set(items[flipped])) >= 0.6 * len(flagged)


def test_confident_learning_scores_match_cleanlab() -> None:
    from cleanlab.rank import get_label_quality_scores

    truth = np.random.default_rng(3).integers(0, 4, 50)
    probs = _model_probs(truth, 3)
    ranked = rank_label_issues(list(truth), probs).sort_values("item")
    expected = get_label_quality_scores(truth, probs)
    np.testing.assert_allclose(ranked["score"].to_numpy(), expected)


def test_confident_learning_input_errors() -> None:
    probs = np.full((2, 2), 0.5)
    with pytest.raises(InvalidInput, match="3 labels for 2 pred_probs rows"):
        rank_label_issues([0, 1, 1], probs)
    with pytest.raises(InvalidInput, match="given label 'x' is not one of the classes"):
        rank_label_issues(["x", "y"], probs, classes=["y", "z"])


@pytest.fixture(scope="module")
def crowd_case() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    crowd = make_crowd(300, 10, accuracy=(0.45, 0.8), seed=21)
    df = simulate_labels(crowd, overlap=3, seed=21)
    gold = crowd.gold()
    probs = pd.DataFrame(
        _model_probs(crowd.truth, 22, strength=2.5), index=gold.index, columns=list(crowd.classes)
    )
    return df, gold, probs


@pytest.mark.parametrize(("with_model", "min_auc"), [(False, 0.65), (True, 0.8)])
def test_multiannotator_ranks_wrong_consensus_first(
    crowd_case: tuple[pd.DataFrame, pd.Series, pd.DataFrame], with_model: bool, min_auc: float
) -> None:
    df, gold, probs = crowd_case
    ranked = rank_multiannotator_issues(df, probs if with_model else None)
    assert len(ranked) == 300
    assert ranked["num_annotations"].eq(3).all()
    assert ranked["annotator_agreement"].between(0, 1).all()
    wrong = ranked["consensus_label"].to_numpy() != gold.reindex(ranked["task"]).to_numpy()
    assert wrong.any()
    # a wrong consensus label is queued before a right one far more often than not (AUC)
    rank = ranked["rank"].to_numpy()
    auc = (rank[wrong][:, None] < rank[~wrong][None, :]).mean()
    assert auc > min_auc


def test_crowdlab_needs_every_task(
    crowd_case: tuple[pd.DataFrame, pd.Series, pd.DataFrame],
) -> None:
    df, _, probs = crowd_case
    with pytest.raises(InvalidInput, match="pred_probs has no row for task"):
        rank_multiannotator_issues(df, probs.iloc[:10])


def test_crowdlab_consensus_uses_the_model(
    crowd_case: tuple[pd.DataFrame, pd.Series, pd.DataFrame],
) -> None:
    df, gold, probs = crowd_case
    errors = []
    for model in (None, probs):
        ranked = rank_multiannotator_issues(df, model)
        truth = gold.reindex(ranked["task"]).to_numpy()
        errors.append(int((ranked["consensus_label"].to_numpy() != truth).sum()))
    assert errors[1] < errors[0]


def test_confident_learning_aligns_model_rows_with_items_by_index() -> None:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    rng = np.random.default_rng(5)
    truth = rng.integers(0, 4, 80)
    given = truth.copy()
    given[:8] = (truth[:8] + 1) % 4
    items = pd.Index([f"img{i:03d}" for i in range(80)])
    labels = pd.Series(np.asarray(CLASSES, dtype=object)[given], index=items)
    matrix = _model_probs(truth, 6)
    # the model's rows come in another order than the labels (as from a separate export)
    probs = pd.DataFrame(matrix, index=items, columns=CLASSES).iloc[::-1]
    ranked = rank_label_issues(labels, probs).set_index("item").reindex(items)
    np.testing.assert_allclose(ranked["score"], get_label_quality_scores(given, matrix))
    assert ranked["is_issue"].tolist() == find_label_issues(given, matrix).tolist()
    assert ranked["predicted_label"].tolist() == [CLASSES[i] for i in matrix.argmax(axis=1)]


def test_confident_learning_names_an_item_the_model_lacks() -> None:
    items = pd.Index(["a", "b", "c"])
    labels = pd.Series(["none", "minor", "none"], index=items)
    probs = pd.DataFrame(np.full((3, 4), 0.25), index=["a", "b", "x"], columns=CLASSES)
    with pytest.raises(InvalidInput, match="pred_probs has no row for item 'c'"):
        rank_label_issues(labels, probs)
    doubled = pd.DataFrame(np.full((3, 4), 0.25), index=["a", "b", "b"], columns=CLASSES)
    with pytest.raises(InvalidInput, match="pred_probs has more than one row for item 'b'"):
        rank_label_issues(labels.iloc[:2], doubled)


def _wide(df: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    tasks = sorted(df["task"].unique())
    workers = sorted(df["worker"].unique())
    wide = pd.DataFrame(np.nan, index=tasks, columns=workers)
    for task, worker, label in df[["task", "worker", "label"]].itertuples(index=False):
        wide.loc[task, worker] = classes.index(label)
    return wide.reset_index(drop=True)


def test_crowdlab_keeps_model_classes_no_annotator_chose(
    crowd_case: tuple[pd.DataFrame, pd.Series, pd.DataFrame],
) -> None:
    from cleanlab.multiannotator import get_label_quality_multiannotator

    df, gold, probs = crowd_case
    # nobody answered "destroyed", but the model still gives it probability
    df = df.assign(label=df["label"].replace({"destroyed": "major"}))
    ranked = rank_multiannotator_issues(df, probs).set_index("task").reindex(gold.index)
    classes = list(probs.columns)
    expected = get_label_quality_multiannotator(
        _wide(df, classes),
        probs.reindex(gold.index).to_numpy(),
        return_detailed_quality=False,
        return_annotator_stats=False,
        verbose=False,
    )["label_quality"]
    np.testing.assert_allclose(ranked["score"], expected["consensus_quality_score"])
    assert ranked["consensus_label"].tolist() == [classes[i] for i in expected["consensus_label"]]


def test_crowdlab_says_why_it_cannot_run(
    crowd_case: tuple[pd.DataFrame, pd.Series, pd.DataFrame],
) -> None:
    df, _, probs = crowd_case
    first = df.sort_values(["task", "worker"]).groupby("task").head(1)
    with pytest.raises(InvalidInput, match="CROWDLAB needs a task labelled by two annotators"):
        rank_multiannotator_issues(first, probs)
    one = df.assign(worker="ana").drop_duplicates(["task"])
    with pytest.raises(InvalidInput, match="CROWDLAB needs a task labelled by two annotators"):
        rank_multiannotator_issues(one, probs)
    task, worker = df["task"].iloc[0], df["worker"].iloc[0]
    twice = pd.concat([df, df.iloc[[0]].assign(label="none")], ignore_index=True)
    with pytest.raises(
        InvalidInput, match=f"worker {worker!r} labelled task {task!r} more than once"
    ):
        rank_multiannotator_issues(twice, probs)
    unknown = df.assign(label=df["label"].replace({"none": "nothing"}))
    with pytest.raises(InvalidInput, match="label 'nothing' is not a column of pred_probs"):
        rank_multiannotator_issues(unknown, probs)


def test_nothing_to_rank_is_an_empty_queue() -> None:
    ranked = rank_label_issues(pd.Series([], dtype=object), pd.DataFrame(columns=CLASSES))
    assert ranked.empty
    assert list(ranked.columns) == [
        "item",
        "given_label",
        "predicted_label",
        "score",
        "is_issue",
        "rank",
    ]
    queue = rank_multiannotator_issues(pd.DataFrame(columns=["task", "worker", "label"]))
    assert queue.empty
    assert list(queue.columns) == [
        "task",
        "consensus_label",
        "score",
        "annotator_agreement",
        "num_annotations",
        "rank",
    ]


def test_model_probabilities_must_be_a_distribution_per_item() -> None:
    items = pd.Index(["a", "b"])
    labels = pd.Series(["none", "minor"], index=items)
    doubled = pd.DataFrame([[0.5, 0.5, 0, 0], [0.8, 0.8, 0.2, 0.2]], index=items, columns=CLASSES)
    with pytest.raises(InvalidInput, match="pred_probs row for item 'b' sums to 2, not 1"):
        rank_label_issues(labels, doubled)
    negative = pd.DataFrame([[0.5, 0.5, 0, 0], [1.2, -0.2, 0, 0]], index=items, columns=CLASSES)
    with pytest.raises(InvalidInput, match="pred_probs row for item 'b' has a value outside"):
        rank_label_issues(labels, negative)
