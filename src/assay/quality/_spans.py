"""Span consensus: token-level voting, mapped back to character offsets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import InvalidInput
from assay.quality._frame import check_long_frame

SPAN_COLUMNS = ("task", "worker", "label", "start", "end")
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[tuple[int, int]]:
    """Character offsets ``[start, end)`` of the words and punctuation marks in `text`."""
    return [m.span() for m in _TOKEN.finditer(text)]


def vote_spans(
    data: pd.DataFrame,
    texts: Mapping[Any, str],
    *,
    quorum: int | None = None,
    annotators: Mapping[Any, int] | None = None,
) -> pd.DataFrame:
    """Consensus spans by a per-token vote.

    Each annotator's span marks the tokens it overlaps with its label. A token takes the label
    with the most votes if those votes reach the quorum (default: a strict majority of the
    task's annotators); ties between labels go to the label that sorts first. Runs of
    adjacent tokens with the same winning label become one span from the first token's start
    to the last token's end.

    Args:
        data: Columns task, worker, label, start, end (character offsets, end exclusive).
        texts: The text of each task.
        quorum: Votes a token's label needs.
        annotators: Annotators per task, counting those who marked nothing (default: the
            distinct workers of the task in `data`).

    Returns:
        Columns task, label, start, end, text, support (fewest votes over the span's tokens),
        n_annotators.
    """
    frame = check_long_frame(data, SPAN_COLUMNS)
    starts = pd.to_numeric(frame["start"], errors="coerce")
    ends = pd.to_numeric(frame["end"], errors="coerce")
    bad = (starts.isna() | ends.isna() | (starts < 0) | (ends <= starts)).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInput(f"span row {row}: need integer offsets with 0 <= start < end")
    frame = frame.assign(start=starts.astype(np.int64), end=ends.astype(np.int64))
    out: list[dict[str, Any]] = []
    for task, group in frame.groupby("task", sort=True):
        if task not in texts:
            raise InvalidInput(f"no text given for task {task!r}")
        text = texts[task]
        if int(group["end"].max()) > len(text):
            raise InvalidInput(f"a span of task {task!r} ends past its text ({len(text)} chars)")
        out.extend(_vote_task(task, text, group, quorum, annotators))
    columns = ["task", "label", "start", "end", "text", "support", "n_annotators"]
    return pd.DataFrame(out, columns=columns)


def _vote_task(
    task: Any,
    text: str,
    group: pd.DataFrame,
    quorum: int | None,
    annotators: Mapping[Any, int] | None,
) -> list[dict[str, Any]]:
    tokens = np.asarray(tokenize(text), dtype=np.int64).reshape(-1, 2)
    n_ann = (
        int(annotators[task]) if annotators and task in annotators else group["worker"].nunique()
    )
    need = quorum if quorum is not None else n_ann // 2 + 1
    labels = sorted(group["label"].unique(), key=str)
    votes = np.zeros((len(tokens), len(labels)), dtype=np.int64)
    for li, label in enumerate(labels):
        spans = group[group["label"] == label]
        for _, per_worker in spans.groupby("worker"):
            marked = np.zeros(len(tokens), dtype=bool)
            for s, e in per_worker[["start", "end"]].to_numpy():
                marked |= (tokens[:, 0] < e) & (tokens[:, 1] > s)
            votes[:, li] += marked
    best = votes.argmax(axis=1) if len(labels) else np.zeros(len(tokens), np.int64)
    top = votes.max(axis=1) if len(labels) else np.zeros(len(tokens), np.int64)
    winner = np.where(top >= max(need, 1), best, -1)
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(tokens):
        if winner[i] < 0:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and winner[j + 1] == winner[i]:
            j += 1
        start, end = int(tokens[i, 0]), int(tokens[j, 1])
        out.append(
            {
                "task": task,
                "label": labels[winner[i]],
                "start": start,
                "end": end,
                "text": text[start:end],
                "support": int(top[i : j + 1].min()),
                "n_annotators": n_ann,
            }
        )
        i = j + 1
    return out
