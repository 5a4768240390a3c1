"""The examples in the evaluation docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module", ["detection", "classification", "calibration", "bootstrap", "comparison"]
)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(f"assay.evaluation.{module}")
    result = doctest.testmod(mod)
    assert result.attempted > 0
    assert result.failed == 0
