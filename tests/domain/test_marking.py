"""Markings: parsing, rendering, ordering, need-to-know and the highest of a collection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.domain.marking import DEFAULT_LEVELS, Marking, MarkingScheme
from assay.errors import InvalidInput

SCHEME = MarkingScheme.default()


def test_parse_and_render_round_trip() -> None:
    m = SCHEME.parse("cui/sar/flood")
    assert m == Marking(1, ("FLOOD", "SAR"))
    assert SCHEME.render(m) == "CUI/FLOOD/SAR"
    assert SCHEME.parse("TOP SECRET") == Marking(4, ())
    assert SCHEME.parse(None) == SCHEME.parse("  ") == Marking(0, ())


def test_unknown_level_names_the_levels() -> None:
    with pytest.raises(InvalidInput) as exc:
        SCHEME.parse("RESTRICTED")
    msg = str(exc.value)
    assert "'RESTRICTED'" in msg
    for level in DEFAULT_LEVELS:
        assert level in msg


def test_bad_compartment_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="bad compartment"):
        SCHEME.parse("CUI/FLO OD!")


def test_allows_needs_level_and_every_compartment() -> None:
    item = SCHEME.parse("CONFIDENTIAL/SAR")
    assert SCHEME.allows(SCHEME.parse("SECRET/SAR/FLOOD"), item)
    assert not SCHEME.allows(SCHEME.parse("SECRET/FLOOD"), item)
    assert not SCHEME.allows(SCHEME.parse("CUI/SAR"), item)


def test_highest_is_max_level_and_union_of_compartments() -> None:
    texts = ["UNCLASSIFIED", "CUI/FLOOD", "CONFIDENTIAL/SAR", "CUI/FLOOD"]
    assert SCHEME.highest_text(texts) == "CONFIDENTIAL/FLOOD/SAR"
    assert SCHEME.highest_text([]) == "UNCLASSIFIED"


def test_custom_levels() -> None:
    scheme = MarkingScheme(("PUBLIC", "INTERNAL", "RESTRICTED"))
    assert scheme.render(scheme.parse("restricted")) == "RESTRICTED"
    with pytest.raises(InvalidInput, match="PUBLIC, INTERNAL, RESTRICTED"):
        scheme.parse("SECRET")


markings = st.builds(
    Marking,
    st.integers(0, len(DEFAULT_LEVELS) - 1),
    st.lists(st.sampled_from(["SAR", "FLOOD", "QUAKE", "EU"]), unique=True).map(
        lambda c: tuple(sorted(c))
    ),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(markings, min_size=1, max_size=6))
def test_highest_dominates_each_and_is_order_free(ms: list[Marking]) -> None:
    top = SCHEME.highest(ms)
    assert all(SCHEME.allows(top, m) for m in ms)
    assert SCHEME.highest(reversed(ms)) == top
    assert SCHEME.parse(SCHEME.render(top)) == top
