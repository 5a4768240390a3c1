"""Annotator scoring and confusion matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assay.errors import InvalidInput
from assay.quality import confusion_matrices, score_annotators


@pytest.fixture
def labels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task": ["t1", "t1", "t2", "t2", "t3", "t3", "t3"],
            "worker": ["ana", "bo", "ana", "bo", "ana", "bo", "cy"],
            "label": ["flood", "flood", "dry", "flood", "dry", "dry", "flood"],
            "lead_time": [10.0, 20.0, 5.0, 40.0, 15.0, 30.0, 8.0],
        }
    )


def test_accuracy_against_aggregate_and_gold(labels: pd.DataFrame) -> None:
    aggregate = pd.Series({"t1": "flood", "t2": "dry", "t3": "dry"})
    gold = pd.Series({"t1": "flood", "t2": "flood"})
    scores = score_annotators(labels, aggregate=aggregate, gold=gold)
    assert list(scores.index) == ["ana", "bo", "cy"]
    assert scores.loc["ana", "accuracy_vs_aggregate"] == 1.0
    assert scores.loc["bo", "accuracy_vs_aggregate"] == pytest.approx(2 / 3)
    assert scores.loc["cy", "accuracy_vs_aggregate"] == 0.0
    assert scores.loc["ana", "accuracy_vs_gold"] == 0.5
    assert scores.loc["bo", "accuracy_vs_gold"] == 1.0
    assert np.isnan(scores.loc["cy", "accuracy_vs_gold"])
    assert scores.loc["cy", "n_gold"] == 0
    assert scores["n_labels"].tolist() == [3, 3, 1]
    assert scores.loc["bo", "seconds_per_task"] == pytest.approx(30.0)


def test_without_references_only_volume_and_time(labels: pd.DataFrame) -> None:
    scores = score_annotators(labels.drop(columns="lead_time"))
    assert list(scores.columns) == ["n_labels", "n_tasks"]


def test_bad_lead_time_is_reported(labels: pd.DataFrame) -> None:
    labels.loc[4, "lead_time"] = -3.0
    with pytest.raises(InvalidInput, match="lead_time in row 4"):
        score_annotators(labels)


def test_confusion_matrices_count_reference_by_given(labels: pd.DataFrame) -> None:
    reference = pd.Series({"t1": "flood", "t2": "dry", "t3": "dry"})
    matrices = confusion_matrices(labels, reference)
    bo = matrices["bo"]
    assert list(bo.index) == ["dry", "flood"]
    assert bo.index.name == "reference"
    assert bo.columns.name == "given"
    assert bo.loc["dry", "flood"] == 1
    assert bo.loc["dry", "dry"] == 1
    assert bo.loc["flood", "flood"] == 1
    assert int(sum(m.to_numpy().sum() for m in matrices.values())) == len(labels)
