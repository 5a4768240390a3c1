"""Bulk reads rebuild regions without validation; they must equal validated ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assay.domain.labels import (
    Region,
    payload_from_json,
    payload_from_json_trusted,
    payload_hash,
    payload_text_and_hash,
    payload_to_json,
)
from label_strategies import region

coords = st.floats(min_value=0, max_value=4000, allow_nan=False, width=32)
regions = st.one_of(
    st.builds(
        Region,
        kind=st.just("box"),
        label=st.sampled_from(["building", "vehicle", "person"]),
        box=st.tuples(coords, coords, coords, coords),
        author=st.one_of(st.none(), st.just("user:ana")),
        attributes=st.dictionaries(st.sampled_from(["occluded", "floor"]), st.integers(0, 5)),
    ),
    st.builds(
        Region,
        kind=st.just("polygon"),
        label=st.just("debris"),
        points=st.lists(st.tuples(coords, coords), min_size=3, max_size=6).map(tuple),
    ),
    st.builds(
        Region,
        kind=st.just("span"),
        control=st.just("ner"),
        label=st.just("HAZARD"),
        span=st.tuples(st.integers(0, 50), st.integers(51, 99)),
    ),
    st.builds(
        Region,
        kind=st.just("choice"),
        control=st.just("damage"),
        label=st.sampled_from(["none", "minor"]),
        score=st.one_of(st.none(), st.floats(0, 1)),
    ),
    st.builds(
        Region, kind=st.just("ranking"), control=st.just("pref"), ranking=st.just(("1", "0"))
    ),
)


@given(st.lists(regions, max_size=6))
def test_trusted_decoding_equals_validated_decoding(payload: list[Region]) -> None:
    text = payload_to_json(payload)
    trusted = payload_from_json_trusted(text)
    assert trusted == payload_from_json(text) == payload
    assert payload_hash(trusted) == payload_hash(payload)
    assert [r.model_dump() for r in trusted] == [r.model_dump() for r in payload]


@given(st.lists(region(), max_size=8))
def test_payload_text_and_hash_equal_the_two_canonical_forms(regions: list[Region]) -> None:
    regions = [
        r.model_copy(update={"id": f"r{k}", "author": "user:ana" if k % 2 else None})
        for k, r in enumerate(regions)
    ]
    assert payload_text_and_hash(regions) == (payload_to_json(regions), payload_hash(regions))
