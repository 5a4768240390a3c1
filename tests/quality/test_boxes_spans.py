"""Box consensus and agreement; span voting."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import InvalidInput
from assay.quality import box_agreement, fuse_boxes, iou_matrix, tokenize, vote_spans


def _boxes(rows: list[tuple[str, str, str, float, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "label", "x", "y", "w", "h"])


@pytest.fixture
def rescue_boxes() -> pd.DataFrame:
    return _boxes(
        [
            ("img1", "ana", "person", 10, 10, 20, 40),
            ("img1", "bo", "person", 12, 11, 20, 40),
            ("img1", "cy", "person", 11, 9, 19, 42),
            ("img1", "ana", "vehicle", 100, 50, 60, 30),
            ("img1", "bo", "vehicle", 102, 52, 58, 30),
            ("img1", "cy", "person", 200, 200, 10, 10),  # only cy saw this one
            ("img2", "ana", "person", 0, 0, 10, 10),
        ]
    )


def test_iou_matrix_known_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 1, 1]], dtype=float)
    np.testing.assert_allclose(iou_matrix(a, b)[0], [1.0, 50 / 150, 0.0])


def test_fuse_boxes_clusters_weights_and_quorum(rescue_boxes: pd.DataFrame) -> None:
    fused = fuse_boxes(rescue_boxes, quorum=2)
    assert len(fused) == 2  # the lone boxes (cy's on img1, ana's on img2) miss the quorum
    person = fused[fused["label"] == "person"].iloc[0]
    assert person["support"] == 3
    assert person["workers"] == ["ana", "bo", "cy"]
    assert person["x"] == pytest.approx(11.0)
    assert person["score"] == pytest.approx(1.0)
    vehicle = fused[fused["label"] == "vehicle"].iloc[0]
    assert vehicle["support"] == 2
    assert vehicle["score"] == pytest.approx(2 / 3)
    weighted = fuse_boxes(rescue_boxes, quorum=2, skills=pd.Series({"ana": 3.0, "bo": 1.0}))
    v = weighted[weighted["label"] == "vehicle"].iloc[0]
    assert v["x"] == pytest.approx((3 * 100 + 102) / 4)
    assert len(fuse_boxes(rescue_boxes, quorum=1)) == 4


def test_one_box_per_annotator_per_cluster() -> None:
    boxes = _boxes(
        [
            ("img", "ana", "person", 0, 0, 10, 10),
            ("img", "ana", "person", 1, 0, 10, 10),
            ("img", "bo", "person", 0, 1, 10, 10),
        ]
    )
    fused = fuse_boxes(boxes, quorum=1)
    assert sorted(fused["support"]) == [1, 2]


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["img1", "img2"]),
            st.sampled_from(["ana", "bo", "cy"]),
            st.sampled_from(["person", "vehicle"]),
            st.integers(0, 40),
            st.integers(0, 40),
            st.integers(1, 30),
            st.integers(1, 30),
        ),
        min_size=1,
        max_size=15,
    ),
    st.randoms(),
)
def test_fusion_does_not_depend_on_row_order(rows: list, rnd: object) -> None:  # type: ignore[type-arg]
    df = _boxes(rows)
    shuffled = df.sample(frac=1.0, random_state=np.random.RandomState(len(rows)))
    a, b = fuse_boxes(df, quorum=1), fuse_boxes(shuffled, quorum=1)
    pd.testing.assert_frame_equal(a, b)


def test_box_agreement_iou_and_f1(rescue_boxes: pd.DataFrame) -> None:
    agreement = box_agreement(rescue_boxes)
    # img1: pairs ana-bo (2 matches), ana-cy (1), bo-cy (1); img2 has one annotator
    assert agreement.n_pairs == 3
    assert agreement.n_matches == 4
    assert agreement.f1 == pytest.approx(2 * 4 / (4 + 4 + 4))  # each annotator drew 2 boxes
    assert 0.7 < agreement.mean_iou < 1.0
    identical = box_agreement(_boxes([("i", "a", "p", 0, 0, 5, 5), ("i", "b", "p", 0, 0, 5, 5)]))
    assert (identical.mean_iou, identical.f1) == (1.0, 1.0)


def test_box_agreement_without_pairs_is_nan() -> None:
    agreement = box_agreement(_boxes([("i", "a", "p", 0, 0, 5, 5)]))
    assert agreement.n_pairs == 0
    assert math.isnan(agreement.f1)
    assert math.isnan(agreement.mean_iou)


def test_bad_box_input() -> None:
    with pytest.raises(InvalidInput, match="box row 0"):
        fuse_boxes(_boxes([("i", "a", "p", 0, 0, -5, 5)]))
    with pytest.raises(InvalidInput, match="lacks column"):
        fuse_boxes(pd.DataFrame({"task": ["i"], "worker": ["a"], "label": ["p"]}))
    with pytest.raises(InvalidInput, match="iou_threshold"):
        fuse_boxes(_boxes([("i", "a", "p", 0, 0, 5, 5)]), iou_threshold=0)


TEXT = "Water rising near Elm Street bridge; two people on a roof."


def _spans(rows: list[tuple[str, str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "label", "start", "end"])


def test_tokenize_offsets() -> None:
    assert tokenize("Elm St.") == [(0, 3), (4, 6), (6, 7)]


def test_vote_spans_majority_back_to_characters() -> None:
    place = TEXT.index("Elm Street bridge")
    people = TEXT.index("two people")
    spans = _spans(
        [
            ("r1", "ana", "LOC", place, place + len("Elm Street bridge")),
            ("r1", "bo", "LOC", place, place + len("Elm Street")),  # shorter
            ("r1", "cy", "LOC", place + 1, place + len("Elm Street bridge") - 2),  # sloppy
            ("r1", "ana", "COUNT", people, people + len("two people")),
            ("r1", "bo", "COUNT", people, people + 3),
        ]
    )
    voted = vote_spans(spans, {"r1": TEXT})
    # "people" was marked by ana only: one vote of three
    assert voted["text"].tolist() == ["Elm Street bridge", "two"]
    loc = voted.iloc[0]
    assert (loc["start"], loc["end"]) == (place, place + len("Elm Street bridge"))
    assert loc["support"] == 2  # "bridge" got two of three votes
    assert voted.iloc[1]["label"] == "COUNT"
    assert voted.iloc[1]["support"] == 2
    strict = vote_spans(spans, {"r1": TEXT}, quorum=3)
    assert strict["text"].tolist() == ["Elm Street"]
    diluted = vote_spans(spans, {"r1": TEXT}, annotators={"r1": 5})
    assert diluted["text"].tolist() == ["Elm Street"]  # only these reach 3 of 5 votes


def test_vote_spans_errors() -> None:
    with pytest.raises(InvalidInput, match="no text given for task 'r2'"):
        vote_spans(_spans([("r2", "a", "LOC", 0, 3)]), {"r1": TEXT})
    with pytest.raises(InvalidInput, match="ends past its text"):
        vote_spans(_spans([("r1", "a", "LOC", 0, 999)]), {"r1": TEXT})
    with pytest.raises(InvalidInput, match="span row 0"):
        vote_spans(_spans([("r1", "a", "LOC", 5, 5)]), {"r1": TEXT})
