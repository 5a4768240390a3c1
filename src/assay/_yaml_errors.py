"""PyYAML's syntax errors in one line, as the CLI prints every error."""

from __future__ import annotations


def yaml_problem(exc: Exception) -> str:
    """Where and what, from a `yaml.YAMLError`, without PyYAML's caret drawing.

    Its message spans six lines (the context, the line with a caret under the spot, the
    problem, the line again); this is `line 3 column 1: expected ',' or ']', but got
    '<stream end>'`, the place counted from 1 as editors count.

    Example:
        >>> import yaml
        >>> try:
        ...     yaml.safe_load("title: t\\ncontrols: [unclosed\\n")
        ... except yaml.YAMLError as exc:
        ...     print(yaml_problem(exc))
        line 3 column 1: expected ',' or ']', but got '<stream end>'
    """
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    if not problem:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"
