"""Canonical label payloads and their order-, id- and author-free hash."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from assay.domain.canonical import metadata_record
from assay.domain.labels import (
    Region,
    box_iou,
    canonical_json,
    payload_from_json,
    payload_hash,
    payload_to_json,
)
from label_strategies import regions


def test_payload_json_round_trip_and_canonical_form() -> None:
    rs = [
        Region(id="a", kind="box", label="boat", box=(10, 20, 30, 40), author="user:ana"),
        Region(kind="span", control="entities", label="place", span=(5, 12)),
    ]
    text = payload_to_json(rs)
    assert text == canonical_json([r.model_dump(exclude_none=True) for r in rs])
    assert " " not in text  # compact separators
    assert payload_from_json(text) == rs
    assert payload_from_json("") == []


def test_region_is_strict() -> None:
    with pytest.raises(ValidationError):
        Region(kind="box", label="boat", box=(1, 2, 3, 4), colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Region(kind="ellipse")  # type: ignore[arg-type]


def test_hash_ignores_id_author_score_but_not_content() -> None:
    a = Region(id="1", kind="box", label="boat", box=(1, 2, 3, 4), author="user:a", score=0.3)
    b = Region(id="2", kind="box", label="boat", box=(1, 2, 3, 4), author="model:m@1", score=0.9)
    assert payload_hash([a]) == payload_hash([b])
    assert payload_hash([a]) != payload_hash([a.model_copy(update={"label": "person"})])
    assert payload_hash([a]) != payload_hash([a.model_copy(update={"attributes": {"occluded": 1}})])
    assert payload_hash([]) != payload_hash([a])
    # A payload is a multiset: duplicating a region changes what it says.
    assert payload_hash([a, a]) != payload_hash([a])


def test_box_iou() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


@settings(max_examples=40, deadline=None)
@given(regions, st.randoms(use_true_random=False), st.data())
def test_payload_hash_invariant_under_order_ids_and_authors(rs, rnd, data) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(rs)
    rnd.shuffle(shuffled)
    relabelled = [
        r.model_copy(
            update={
                "id": data.draw(st.text("abc123", max_size=4)),
                "author": data.draw(st.sampled_from([None, "user:x", "model:m@2"])),
            }
        )
        for r in shuffled
    ]
    assert payload_hash(relabelled) == payload_hash(rs)


@settings(max_examples=30, deadline=None)
@given(regions)
def test_json_round_trip_preserves_hash(rs) -> None:  # type: ignore[no-untyped-def]
    back = payload_from_json(payload_to_json(rs))
    assert back == rs
    assert payload_hash(back) == payload_hash(rs)


def test_stored_metadata_with_non_finite_numbers_reads_as_json() -> None:
    import json

    from assay.domain.canonical import finite_metadata

    # As json.dumps wrote them into older rows; strings that only mention them stay as they are.
    old = '{"a":NaN,"b":[Infinity,-Infinity,1.5],"note":"NaN or Infinity"}'
    fixed = json.loads(finite_metadata(old), parse_constant=pytest.fail)
    assert fixed == {"a": "nan", "b": ["inf", "-inf", 1.5], "note": "NaN or Infinity"}
    plain = '{"note":"NaN","x":1}'
    assert finite_metadata(plain) == plain


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: json.dumps writes them, so must canonical_json
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_JSON_VALUES)
def test_canonical_json_and_metadata_record_are_json_dumps_texts(value: object) -> None:
    """The encoders made once write what `json.dumps` with the same arguments writes (ids,
    hashes and item metadata are derived from these texts)."""
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    meta = {"value": value, "when": date(2026, 1, 2)}  # written by default=str
    text = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert metadata_record(meta) == (text, hashlib.sha256(text.encode()).hexdigest())
