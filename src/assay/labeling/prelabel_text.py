"""Pre-labeling with directory models: transformers classifiers, taggers, prompted LMs, and
classifier heads on embeddings (`assay train classifier`, for text or image items).

The same contract as image pre-labeling (`assay.labeling.prelabel`): one ``kind="model"``
annotation per item authored ``model:NAME@VERSION``, least confident first, every task not
labelled counted with its reason, one audit event. A classifier or a prompted language model
answers a ``choices`` control; a token classifier answers a ``spans`` control with character
offsets. Markings as for images: the user must be cleared for the model, and items marked
below the model are skipped and counted, so every pre-label carries the higher of the item's
and the model's marking (the item's).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from assay.domain.labels import Region
from assay.domain.schema import Control, LabelSchema
from assay.errors import InvalidInput, PermissionDenied
from assay.labeling._prelabel_units import Prelabelled
from assay.labeling.catalog import visible_project
from assay.labeling.prelabel import (
    PrelabelReport,
    author_of,
    prelabelled,
    select_todo,
    store_prelabels,
)
from assay.labeling.users import User
from assay.models._text import TextAnswer, TextLabeler
from assay.models.registry import ModelInfo
from assay.workspace import Workspace

TEXT_BATCH = 16


def _control(schema: LabelSchema, want: str, classes: list[str], name: str | None) -> Control:
    options = [
        c
        for c in schema.controls
        if c.type == want and (name is None or c.name == name) and not getattr(c, "multiple", False)
    ]
    if not options:
        found = [c.name for c in schema.controls if c.type == want]
        named = f" named {name!r}" if name else ""
        raise InvalidInput(
            f"the project's schema has no {want} control{named} for this model "
            f"({want} controls: {', '.join(found) or 'none'})"
        )
    best = max(options, key=lambda c: len({lab.name for lab in c.labels} & set(classes)))
    if classes and not {lab.name for lab in best.labels} & set(classes):
        raise InvalidInput(
            f"the model's labels ({', '.join(classes)}) share none with control {best.name!r} "
            f"({', '.join(lab.name for lab in best.labels)})"
        )
    return best


def _regions(answers: list[TextAnswer], ctl: Control, kind: str) -> list[Region]:
    out: list[Region] = []
    for a in answers:
        if kind == "spans":
            out.append(
                Region(
                    id=f"p{len(out) + 1}",
                    kind="span",
                    control=ctl.name,
                    label=a.label,
                    span=a.span,
                    score=a.score,
                )
            )
        else:
            out.append(
                Region(id="p1", kind="choice", control=ctl.name, label=a.label, score=a.score)
            )
    return out


def prelabel_text(
    ws: Workspace,
    project: str,
    labeler: TextLabeler,
    ref: str,
    marking: str,
    *,
    task: str,
    user: User | None = None,
    control: str | None = None,
    batch_size: int = TEXT_BATCH,
    redo: bool = False,
    labels_for: Callable[[list[str]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PrelabelReport:
    """Pre-label `project`'s open text tasks with `labeler` (model `ref`, marked `marking`).

    `labels_for`, when given, is called with the chosen control's label names before the run
    (a prompted language model learns the labels it may answer this way). `progress`, when
    given, is called with (done, total) items through the model, a batch at a time.
    """
    if batch_size < 1:
        raise InvalidInput(f"--batch-size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    if user is not None:
        user.require("manage")
    scheme = ws.scheme
    mark = scheme.parse(marking)
    if user is not None and not scheme.allows(user.clearance, mark):
        raise PermissionDenied(
            f"user {user.name!r} ({user.clearance_text}) is not cleared for model {ref} "
            f"(marked {marking})"
        )
    with ws.db.read() as conn:
        p = visible_project(conn, ws, user, project)
    ctl = _control(p.schema, labeler.control_type, list(labeler.classes), control)
    if labels_for is not None:
        labels_for([lab.name for lab in ctl.labels])
    labels = {lab.name for lab in ctl.labels}
    report = PrelabelReport(p.name, ref, marking, task, ctl.name)
    media = str(getattr(labeler, "media", "text/"))  # an image head reads images
    todo = select_todo(ws, p, user, mark, media, author_of(ref), redo, report)
    unmapped: Counter[str] = Counter()
    results: list[Prelabelled] = []
    if progress is not None:
        progress(0, len(todo))
    for s in range(0, len(todo), batch_size):
        chunk = todo[s : s + batch_size]
        blobs = [ws.blobs.get_bytes(i) for i in chunk]
        if media == "image/":
            batch = labeler.label_blobs(blobs, chunk)  # type: ignore[attr-defined]
        else:
            batch = labeler.label([b.decode("utf-8", errors="replace") for b in blobs])
        for item_id, answers in zip(chunk, batch, strict=True):
            kept = [a for a in answers if a.label in labels]
            unmapped.update(a.label for a in answers if a.label not in labels)
            if not answers:
                unmapped["(no label in the answer)"] += 1
            if kept:
                results.append(prelabelled(item_id, _regions(kept, ctl, labeler.control_type)))
        report.batches += 1
        if progress is not None:
            progress(s + len(chunk), len(todo))
    report.unmapped = dict(sorted(unmapped.items()))
    store_prelabels(ws, p, ref, results, report, user, started)
    return report


def text_labeler(ws: Workspace, info: ModelInfo, *, prompt: str | None) -> TextLabeler:
    """The labeler for a registered directory model, by its task."""
    from assay.models._text import PromptLabeler, TextClassifierModel, TokenClassifierModel
    from assay.models.registry import model_dir

    if info.task == "causal-lm":
        if not prompt:
            raise InvalidInput(
                f"model {info.ref} is a language model: give --prompt TEMPLATE with {{text}} "
                "(and {labels}), e.g. 'Report: {text}\\nOne of {labels}:'"
            )
        from assay.models.serving import resolve_target

        target = resolve_target(ws, info.ref)  # a LoRA adapter: on its recorded base
        return PromptLabeler(target.path, prompt, [], adapter=target.adapter)
    if prompt:
        raise InvalidInput(
            f"--prompt: model {info.ref} is a {info.task} model, not a language model"
        )
    if info.kind == "embedding-head":  # `assay train classifier`: text or image items
        from assay.models.train_classifier import EmbeddingHead, HeadLabeler

        return HeadLabeler(EmbeddingHead(model_dir(ws, info)))
    if info.task == "text-classification":
        return TextClassifierModel(model_dir(ws, info))
    if info.task == "token-classification":
        return TokenClassifierModel(model_dir(ws, info))
    raise InvalidInput(
        f"model {info.ref} ({info.kind}, {info.task}) cannot pre-label: pre-labeling runs ONNX "
        "image models, text or token classifiers, classifier heads (`assay train classifier`) "
        "and language models with --prompt"
    )


def prelabel_model(
    ws: Workspace,
    project: str,
    spec: str,
    *,
    user: User | None = None,
    control: str | None = None,
    min_score: float = 0.25,
    batch_size: int | None = None,
    redo: bool = False,
    prompt: str | None = None,
    cluster: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PrelabelReport:
    """Pre-label with registered model `spec`: ONNX image models or transformers text models.

    An image model's batches run on a local process pool, or on the Dask cluster at
    `cluster` (default ``ASSAY_CLUSTER``); see `assay.compute`.

    A user below the model's marking is told it does not exist, as for a missing model.
    `progress` is called with (done, total): items through the model.
    """
    from assay.labeling.prelabel import BATCH, prelabel
    from assay.models.registry import get_model, model_marking

    if user is not None:
        user.require("manage")
    with ws.db.read() as conn:
        visible_project(conn, ws, user, project)  # an unknown project first, not the model
    info = get_model(ws, spec, user.clearance if user is not None else None)
    if not info.is_directory:
        if prompt:
            raise InvalidInput(f"--prompt: model {info.ref} is not a language model")
        return prelabel(
            ws,
            project,
            info.ref,
            user=user,
            control=control,
            min_score=min_score,
            batch_size=batch_size or BATCH,
            redo=redo,
            cluster=cluster,
            progress=progress,
        )
    labeler = text_labeler(ws, info, prompt=prompt)
    return prelabel_text(
        ws,
        project,
        labeler,
        info.ref,
        model_marking(ws, info),
        task=info.task,
        user=user,
        control=control,
        batch_size=batch_size or TEXT_BATCH,
        redo=redo,
        labels_for=getattr(labeler, "use_labels", None),
        progress=progress,
    )
