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
    payload_to_json_trusted,
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


# Every float json.dumps may write (exponents, tiny and huge values, NaN, infinities, -0.0) and
# any text (control characters, quotes, astral characters, U+2028): the C encoder's fast path
# must give the canonical texts byte for byte, or step aside.
any_float = st.floats(allow_nan=True, allow_infinity=True)
any_text = st.text(max_size=12)
attr_values = st.one_of(
    any_float,
    st.integers(-(2**70), 2**70),
    st.booleans(),
    any_text,
    st.none(),
    st.lists(any_float, max_size=3),
    st.dictionaries(any_text, st.integers(), max_size=2),
)
wide = st.builds(
    Region,
    id=any_text,
    kind=st.sampled_from(["box", "polygon", "choice"]),
    label=st.one_of(st.none(), any_text),
    box=st.one_of(st.none(), st.tuples(any_float, any_float, any_float, any_float)),
    points=st.one_of(st.none(), st.lists(st.tuples(any_float, any_float), max_size=4).map(tuple)),
    value=st.one_of(st.none(), any_float),
    attributes=st.dictionaries(any_text, attr_values, max_size=3),
    score=st.one_of(st.none(), any_float),
    author=st.one_of(st.none(), any_text),
)


@given(st.lists(wide, max_size=5))
def test_payload_text_and_hash_are_canonical_for_any_float_and_text(regions: list[Region]) -> None:
    assert payload_text_and_hash(regions) == (payload_to_json(regions), payload_hash(regions))


@given(st.lists(st.one_of(wide, regions), max_size=5))
def test_a_payload_from_stored_fields_is_the_canonical_text(regions: list[Region]) -> None:
    fields = [{k: v for k, v in r.__dict__.items() if v is not None} for r in regions]
    assert payload_to_json_trusted(fields) == payload_to_json(regions)
