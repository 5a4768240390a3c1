"""The local runner: results in order or as units finish, a failing unit one error, and
batch work cut so that the tail is small."""

from __future__ import annotations

import pytest

from assay.compute import runner, tapered
from assay.errors import InvalidInput


def _square_or_fail(x: int) -> int:
    if x == 13:
        raise InvalidInput("unit 13: unreadable")
    return x * x


def test_results_come_in_order_or_as_units_finish() -> None:
    units = list(range(12))
    with runner(None, workers=2) as run:
        ordered = list(run.map(_square_or_fail, units))
        unordered = list(run.map(_square_or_fail, units, unordered=True))
    assert ordered == [x * x for x in units]
    assert sorted(unordered) == ordered


@pytest.mark.parametrize("unordered", [False, True])
def test_a_failing_unit_is_one_error(unordered: bool) -> None:
    with (
        runner(None, workers=2) as run,
        pytest.raises(InvalidInput, match="unit 13: unreadable"),
    ):
        list(run.map(_square_or_fail, range(20), unordered=unordered))


def test_the_last_units_are_small_and_cut_where_small_runs_would_cut() -> None:
    values = list(range(1000))
    runs = tapered(values, 64, 8, workers=2)
    assert [x for run in runs for x in run] == values
    sizes = [len(r) for r in runs]
    # 13 runs of 64, then the last 2 runs' worth and the rest (168) in runs of 8.
    assert sizes == [64] * 13 + [8] * 21
    few = values[:100]  # less than a big run per worker: all small
    assert tapered(few, 64, 8, workers=2) == [few[s : s + 8] for s in range(0, 100, 8)]
