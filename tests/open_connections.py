"""A guard for test folders whose tests open workspaces: a test leaves no database connection
open (`conftest.py` imports `no_connection_left_open`), and `closes`, which closes what a test
opened once it is over.

A workspace left unclosed is finalised by the garbage collector later, inside whichever test
runs then: a PostgreSQL connection warns there, and a test that turns warnings into errors
fails on another's leak. The guard collects before the test (what earlier tests left is not
this one's) and after it, and fails the test whose own connections were left open, by hand or
by a fixture that returned a workspace and never closed it.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import pytest

__all__ = ["closes", "no_connection_left_open"]


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


@pytest.fixture
def closes() -> Iterator[Callable[[C], C]]:
    """`closes(Workspace.init(...))`: what it is given is closed after the test, in reverse
    order, whether the test passed or not."""
    opened: list[_Closable] = []

    def keep(thing: C) -> C:
        opened.append(thing)
        return thing

    yield keep
    while opened:
        opened.pop().close()


def _left_open() -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [str(w.message) for w in caught if "deleted while still open" in str(w.message)]


@pytest.fixture(autouse=True)
def no_connection_left_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if a connection it opened is still open when it ends (PostgreSQL's
    connections say so when collected; run with ``--db postgresql``)."""
    _left_open()  # earlier tests' leftovers: theirs, not this test's
    yield
    # The test's own fixtures were set up after this guard and are torn down by now, but
    # pytest holds what they returned until the test is over: let those values go, so a
    # workspace a fixture returned and never closed is collected here, in its test.
    item = request.node
    defs = item._fixtureinfo.name2fixturedefs
    for name in list(getattr(item, "funcargs", None) or {}):
        if name in defs and defs[name][-1].cached_result is None:
            del item.funcargs[name]
    left = _left_open()
    assert not left, f"connections left open: {left}"
