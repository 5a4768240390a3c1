"""Every `>>>` example in the package's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import assay

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(assay.__path__, "assay.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional extra the test machine lacks would be named here
        pytest.fail(f"{name} does not import: {exc}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} docstring example(s) failed"


def test_the_package_has_examples() -> None:
    finder = doctest.DocTestFinder()
    with_examples = [
        n for n in MODULES if any(t.examples for t in finder.find(importlib.import_module(n)))
    ]
    assert len(with_examples) >= 10, with_examples
