"""A guard for the tests of the PostgreSQL pass: a test leaves no database connection open
(the root `conftest.py` makes `no_connection_left_open` autouse; it acts under ``--db
postgresql``), and `closes`, which closes what a test opened once it is over.

A workspace left unclosed is finalised by the garbage collector later, inside whichever test
runs then: a PostgreSQL connection warns there, and a test that turns warnings into errors
fails on another's leak. The guard collects before the test (what earlier tests left is not
this one's) and after it, and fails the test whose own connections were left open, by hand or
by a fixture that returned a workspace and never closed it.

A full collection walks every object the session holds (the imported libraries: 0.1 s a
pass in tests/explore, 0.7 s in tests/evaluation/runs here), and the guard needs two a test.
So what is alive when a test starts is frozen (`gc.freeze`), and the collection after the test
walks only what the test made, where its leaks are; the test file's survivors stay frozen to
its end (`thaw_between_files`), so the collection before a test walks only what the one
before it left. A connection that becomes garbage through a cycle with a frozen object is
found after the file, as an earlier test's leftover, not named.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import pytest

__all__ = ["closes", "no_connection_left_open", "thaw_between_files"]


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
def no_connection_left_open(
    request: pytest.FixtureRequest, database_url: str | None
) -> Iterator[None]:
    """Fail the test if a connection it opened is still open when it ends (PostgreSQL's
    connections say so when collected). Set up after `database_url`, so torn down before it
    drops the test's schema."""
    if database_url is None:  # SQLite: its connections never say so
        yield
        return
    _left_open()  # earlier tests' leftovers: theirs, not this test's
    gc.freeze()
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


def thaw_between_files(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a test's teardown (`pytest_runtest_teardown`): past a test file's last test, its
    module-scoped fixtures are gone, and what they held may be collected again."""
    if nextitem is None or nextitem.path != item.path:
        gc.unfreeze()
