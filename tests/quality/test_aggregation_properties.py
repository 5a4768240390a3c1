"""Invariants of every aggregator: row order does not matter; renaming labels permutes output."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.quality import GLAD, DawidSkene, MajorityVote, OneCoinDawidSkene, Wawa

MODELS = (MajorityVote, Wawa, DawidSkene, OneCoinDawidSkene, GLAD)

rows = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 4), st.sampled_from(["a", "b", "c"])),
    min_size=1,
    max_size=20,
)


def _frame(data: list[tuple[int, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(data, columns=["task", "worker", "label"])


@settings(max_examples=20, deadline=None)
@given(data=rows, seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_results(data: list[tuple[int, int, str]], seed: int) -> None:
    df = _frame(data)
    shuffled = df.sample(frac=1.0, random_state=np.random.RandomState(seed % 2**31))
    for model in MODELS:
        a, b = model().fit(df), model().fit(shuffled)
        pd.testing.assert_frame_equal(a.probas_, b.probas_, check_exact=True)
        pd.testing.assert_series_equal(a.labels_, b.labels_)


@settings(max_examples=20, deadline=None)
@given(data=rows, perm=st.permutations(["x", "y", "z"]))
def test_renaming_labels_permutes_output(data: list[tuple[int, int, str]], perm: list[str]) -> None:
    df = _frame(data)
    mapping = dict(zip(["a", "b", "c"], perm, strict=True))
    renamed = df.assign(label=df["label"].map(mapping))
    votes = df.groupby(["task", "label"]).size().unstack(fill_value=0).to_numpy()
    top2 = np.sort(votes, axis=1)[:, -2:]
    vote_ties = votes.shape[1] > 1 and bool((top2[:, 1] == top2[:, 0]).any())
    for model in MODELS:
        if model is Wawa and vote_ties:
            continue  # Wawa's skills come from tie-broken votes, and ties follow label order
        before, after = model().fit(df), model().fit(renamed)
        expected = before.probas_.rename(columns=mapping)
        got = after.probas_[expected.columns]
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=1e-9)
        top2 = np.sort(expected.to_numpy(), axis=1)[:, -2:] if expected.shape[1] > 1 else None
        clear = np.ones(len(expected), bool) if top2 is None else top2[:, 1] - top2[:, 0] > 1e-9
        mapped = before.labels_.map(mapping)[clear]
        pd.testing.assert_series_equal(after.labels_[clear], mapped, check_names=False)
