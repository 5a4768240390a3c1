"""What a model learns from: the rows of a dataset commit, with their content hash.

Language models train on the ``chat``, ``sft`` or ``dpo`` export of a commit
(`assay.formats.llm`): the same rows, in the same order, hash to the same sha256 as that
export's ``lineage.json`` says. Classifier heads train on ``labels``: one row per item of
the commit with a single class answer of record (``{"item", "label"}``), hashed as JSON
Lines in the commit's item order. `assay model verify` rebuilds the rows from the commit
and compares the hash.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from assay.versioning import Revision
    from assay.workspace import Workspace

LLM_FORMATS = ("chat", "sft", "dpo")


@dataclass
class TrainingData:
    """Rows of a commit for training, and the record of where they came from."""

    dataset: str
    commit: str
    spec: str
    format: str  # chat | sft | dpo | labels
    rows: list[dict[str, Any]]
    sha256: str
    marking: str
    filters: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The lineage's ``data`` entry."""
        return {
            "dataset": self.dataset,
            "commit": self.commit,
            "spec": self.spec,
            "format": self.format,
            "rows": len(self.rows),
            "sha256": self.sha256,
            "marking": self.marking,
            "filters": self.filters,
            "dropped": self.dropped,
        }


def _rows_hash(rows: list[dict[str, Any]]) -> str:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _commit(ws: Workspace, spec: str) -> tuple[Revision, str]:
    """The commit `spec` names, a bare NAME being its HEAD as for `assay eval run`, and the
    commit's id: a model's lineage names the id, whatever was typed."""
    rev = ws.resolve(spec, default_head=False)
    if rev.commit is None:
        try:
            rev = ws.resolve(f"{rev.dataset}@HEAD")
        except NotFound:
            raise NotFound(
                f"{spec}: training reads a commit and {rev.dataset} has none yet; commit it "
                f"(`assay commit {rev.dataset}`)"
            ) from None
    assert rev.commit is not None  # a NAME@REV resolves to a commit or raises
    return rev, rev.commit.id


def llm_data(
    ws: Workspace,
    spec: str,
    fmt: str,
    *,
    min_agreement: float | None = None,
    action: str = "model.train-data",
) -> TrainingData:
    """The ``chat``/``sft``/``dpo`` rows of commit `spec`, through the export code (audited as
    `action`). A commit without what `fmt` needs is one InvalidInput."""
    if fmt not in LLM_FORMATS:
        raise InvalidInput(f"training data format {fmt!r}: use one of {', '.join(LLM_FORMATS)}")
    rev, commit_id = _commit(ws, spec)
    options = {} if min_agreement is None else {"min_agreement": min_agreement}
    with tempfile.TemporaryDirectory(prefix="assay-train-data-") as tmp:
        out = Path(tmp) / "data"
        # The commit by its id: a bare NAME would export the working state, and HEAD may move.
        pinned = f"{rev.dataset}@{commit_id}"
        ws.export(pinned, fmt, out, media=False, action=action, options=options)
        lineage = json.loads((out / "lineage.json").read_text(encoding="utf-8"))
        text = (out / f"{fmt}.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line]
    if not rows:
        raise InvalidInput(
            f"{spec}: no {fmt} rows to train on (dropped: "
            f"{lineage.get('dropped') or 'nothing'}); label text answers"
            + (" or rankings" if fmt == "dpo" else "")
            + " and commit them"
        )
    return TrainingData(
        dataset=str(lineage["dataset"]),
        commit=str(lineage["commit"]),
        spec=spec,
        format=fmt,
        rows=rows,
        sha256=str(lineage["sha256"]),
        marking=str(lineage["marking"]),
        filters=dict(lineage.get("filters") or {}),
        dropped=dict(lineage.get("dropped") or {}),
    )


def label_data(ws: Workspace, spec: str) -> TrainingData:
    """One row per item of commit `spec` with exactly one class answer of record."""
    from assay.formats.io import export_bundle

    rev, commit_id = _commit(ws, spec)
    bundle = export_bundle(ws, rev)
    rows: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    media: set[str] = set()
    for row in bundle.rows:
        labels = sorted({r.label for r in row.regions if r.kind == "choice" and r.label})
        kind = row.media_type.split("/")[0]
        why = None
        if kind not in ("text", "image"):
            why = "items that are neither text nor images"
        elif not labels:
            why = "items without a class answer"
        elif len(labels) > 1:
            why = "items with more than one class"
        if why:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        media.add(kind)
        rows.append({"item": row.item_id, "label": labels[0]})
    if len(media) > 1:
        raise InvalidInput(
            f"{spec}: mixes text and image items; a classifier head embeds one kind (make a "
            "dataset of one)"
        )
    classes = sorted({r["label"] for r in rows})
    if len(classes) < 2:
        raise InvalidInput(
            f"{spec}: {len(rows)} items with a single class answer in "
            f"{len(classes)} class(es); a classifier needs at least two classes"
        )
    return TrainingData(
        dataset=rev.dataset,
        commit=commit_id,
        spec=spec,
        format="labels",
        rows=rows,
        sha256=_rows_hash(rows),
        marking=bundle.marking,
        filters={"items": "items with one class answer of record", "media": sorted(media)[0]},
        dropped=dropped,
    )


def rebuild(ws: Workspace, record: dict[str, Any]) -> TrainingData:
    """The rows a lineage ``data`` entry names, rebuilt from its commit now."""
    spec = f"{record['dataset']}@{record['commit']}"
    fmt = str(record.get("format", ""))
    if fmt == "labels":
        return label_data(ws, spec)
    build: Callable[..., TrainingData] = llm_data
    filters = record.get("filters") or {}
    return build(ws, spec, fmt, min_agreement=filters.get("min_agreement"), action="model.verify")
