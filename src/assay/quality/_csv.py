"""Reading long-format label CSVs with errors that name the file and line."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from assay.errors import InvalidInput, NotFound

LABEL_COLUMNS = ("task", "worker", "label")
GOLD_COLUMNS = ("task", "label")


def read_labels_csv(path: str | Path, columns: Sequence[str] = LABEL_COLUMNS) -> pd.DataFrame:
    """Read a CSV with a header naming at least `columns`; values are kept as text.

    An optional ``lead_time`` column is read as seconds.

    Raises:
        NotFound: The file does not exist.
        InvalidInput: The file is empty, lacks a column, has a malformed line or an empty
            value; the message names the file and the line.
    """
    file = Path(path)
    if not file.is_file():
        raise NotFound(f"{file}: no such file")
    try:
        with warnings.catch_warnings():
            # A data line longer than the header would otherwise become an index column.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                file, dtype=str, keep_default_na=False, skipinitialspace=True, index_col=False
            )
    except pd.errors.ParserWarning as exc:
        raise InvalidInput(
            f"{file}: malformed CSV: a line has more fields than the header ({exc})"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(
            f"{file}: the file is empty; expected a header line {','.join(columns)}"
        ) from exc
    except pd.errors.ParserError as exc:
        raise InvalidInput(f"{file}: malformed CSV: {str(exc).strip()}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{file}: not UTF-8 text ({exc.reason})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{file}, line 1: header lacks column(s) {', '.join(missing)} "
            f"(found: {', '.join(frame.columns)}); expected {','.join(columns)}"
        )
    if frame.empty:
        raise InvalidInput(f"{file}: no rows after the header line")
    for column in columns:
        values = frame[column].str.strip()
        empty = (values == "").to_numpy()
        if empty.any():
            row = int(empty.argmax())
            raise InvalidInput(f"{file}, line {row + 2}: empty value in column {column!r}")
        frame[column] = values
    if "lead_time" in frame.columns:
        frame["lead_time"] = _seconds(file, frame["lead_time"])
    return frame


def _seconds(file: Path, values: pd.Series[Any]) -> pd.Series[Any]:
    numbers = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = numbers.isna() | (numbers < 0)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise InvalidInput(
            f"{file}, line {row + 2}: lead_time {values.iloc[row]!r} is not a number of seconds"
        )
    return numbers


def read_gold_csv(path: str | Path) -> pd.Series[Any]:
    """Read gold labels (columns task, label) as a Series indexed by task.

    Raises:
        InvalidInput: As `read_labels_csv`, or a task listed twice with different labels.
    """
    frame = read_labels_csv(path, GOLD_COLUMNS)
    first = frame.groupby("task")["label"].transform("first")
    dup = frame["label"] != first
    if dup.any():
        row = int(dup.to_numpy().argmax())
        raise InvalidInput(
            f"{path}, line {row + 2}: task {frame['task'].iloc[row]!r} has conflicting gold labels"
        )
    gold = frame.drop_duplicates("task").set_index("task")["label"]
    return gold.rename("gold")
