"""Label Studio JSON tasks (the ``JSON`` export), both ways.

Reading: ``path`` is the exported JSON (a list of tasks, or one task), or a folder holding
``tasks.json``, ``result.json`` or a single ``*.json``. A task's media is ``data.image`` (or
another URL-like data field), found under ``images`` (default: the JSON file's folder) by the rule
in `assay.formats._media`: ``/data/local-files/?d=scenes/scene_001.png`` by the path after ``d=``,
then by base name; ``/data/upload/...`` and URLs by base name. A task with ``data.text`` and no
image is inline text (named ``task_<id>.txt``). A ``meta.assay_name`` (written by assay's export)
names the media. Other ``data`` fields (``sensor``...) become media metadata;
``data.marking`` becomes the media marking. Each annotation keeps its author
(``completed_by`` → ``user:<id>``, or ``user:<email>`` when Label Studio expanded the user;
an ``assay_author`` key, written by assay's export, wins);
cancelled (skipped) annotations are left out. Predictions become ``kind="model"`` annotations by
``model:<model_version>``. The ``JSON_MIN`` export is refused: it cannot tell data fields from
labels.

Writing: ``tasks.json`` that Label Studio imports (percent coordinates, ``original_width`` and
``original_height``, ``from_name``/``to_name``/``type``/``value``), ``label_config.xml`` for a
matching project, images under ``images/`` referenced as ``/data/local-files/?d=images/<name>``
(serve the output folder as Label Studio's local-files document root), ``data.marking`` per task.
Regions are grouped by author: ``model:`` authors become predictions, others annotations with
``completed_by`` (numeric user ids only; Label Studio assigns others to the importing user) and
the exact author in ``assay_author``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay._atomic import atomic_write_text
from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import _ls_min, _ls_results, _media
from assay.formats import _validate as v
from assay.formats._export import (
    check_unique,
    copy_media,
    prepare_out,
    safe_relpath,
    warn_dropped,
    write_marking,
)
from assay.formats._ls_config import ControlNames, control_names, label_config
from assay.formats._model import (
    Drops,
    ExportBundle,
    ExportRow,
    ImportBundle,
    ImportedAnnotation,
    ImportedMedia,
)
from assay.formats._portable import portable
from assay.formats._registry import Codec

TASKS_FILE = "tasks.json"
_MEDIA_KEYS = ("image", "img", "url", "photo")


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read a Label Studio JSON export into an `ImportBundle`, validating all of it first."""
    path = _find_json(Path(path))
    f = path.name
    root = Path(images) if images is not None else path.parent
    doc = v.load_json(path)
    tasks = [doc] if isinstance(doc, dict) else v.need_list(doc, f, "top level")
    if tasks and _ls_min.is_min_row(tasks[0]):
        tasks = _ls_min.to_tasks(tasks, path, f)
    media: list[ImportedMedia] = []
    labels: dict[str, None] = {}
    drops = Drops()
    for i, task in enumerate(tasks):
        m = _read_task(v.need_obj(task, f, f"[{i}]"), root, f, f"[{i}]", drops)
        for ann in m.annotations:
            labels.update((r.label, None) for r in ann.regions if r.label is not None)
        media.append(m)
    return ImportBundle(media=media, label_names=list(labels), source=path, dropped=drops)


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write ``tasks.json``, ``label_config.xml``, ``images/`` and ``MARKING.txt``."""
    c = bundle.rows.columns
    at = [k for k, t in enumerate(c.media_types) if t.startswith("image/")]
    for k in at:
        if c.widths[k] is None or c.heights[k] is None:
            raise InvalidInput(f"item {c.item_ids[k]} ({c.names[k]}): image width/height unknown")
    names = [safe_relpath(c.names[k]) for k in at]
    names = _media.file_names(names, [c.media_types[k] for k in at], bundle.copy_media)
    check_unique(names, "image")
    names = portable(bundle, names)  # the task's meta.assay_name keeps the item's name
    url_at = {k: f"/data/local-files/?d=images/{n}" for k, n in zip(at, names, strict=True)}
    controls = control_names(bundle)
    tasks: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    for k, row in enumerate(bundle.rows):
        tasks.append(_task(row, url_at.get(k), controls, bundle.all_annotations, dropped))
    warn_dropped("Label Studio", dropped, bundle)
    out_dir = prepare_out(Path(out))  # only now: every check above has passed
    tasks_path = out_dir / TASKS_FILE
    atomic_write_text(tasks_path, json.dumps(tasks, ensure_ascii=False, separators=(",", ":")))
    config_path = out_dir / "label_config.xml"
    atomic_write_text(config_path, label_config(bundle, controls))
    written = [tasks_path, config_path, write_marking(bundle, out_dir)]
    if bundle.copy_media:
        written += copy_media(bundle, bundle.rows.select(at), out_dir / "images", names)
    return written


def _read_task(task: dict[str, Any], root: Path, f: str, place: str, drops: Drops) -> ImportedMedia:
    data = dict(v.need_obj(v.need_key(task, "data", f, place), f, place + ".data"))
    marking = data.pop("marking", None)
    raw_meta = task.get("meta")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    key = _media_key(data)
    if key is not None:
        ref = data.pop(key)
        file = _media.resolve(ref, root)
        if file is None:
            v.fail(f, f"{place}.data.{key}", f"image {ref!r} not found in {root}")
        w, h = _media.image_size(file, f"{f}: {place}.data.{key}")
        name = meta.get("assay_name") or _media.media_name(ref)
        m = ImportedMedia(name=str(name), path=file, width=w, height=h)
    elif isinstance(data.get("text"), str):
        text = data.pop("text")
        name = meta.get("assay_name") or f"task_{task.get('id', place)}.txt"
        m = ImportedMedia(name=str(name), text=text)
    else:
        v.fail(f, place + ".data", "no image URL and no 'text' field: nothing to label")
    m.metadata = data
    m.marking = marking if isinstance(marking, str) else None
    ctx = _Context((m.width, m.height), m.text, _renames(meta), drops, f)
    anns = v.need_list(task.get("annotations", []), f, place + ".annotations")
    for j, a in enumerate(anns):
        ap = f"{place}.annotations[{j}]"
        a = v.need_obj(a, f, ap)
        if a.get("was_cancelled"):
            drops.add("cancelled annotations")
            continue
        author = _assay_author(a) or _author(a.get("completed_by"), f, ap + ".completed_by")
        kind = "aggregate" if author.startswith("aggregate:") else "human"
        m.annotations.append(_annotation(a, author, kind, ctx, ap))
    preds = v.need_list(task.get("predictions", []), f, place + ".predictions")
    for j, p in enumerate(preds):
        pp = f"{place}.predictions[{j}]"
        if isinstance(p, int) and not isinstance(p, bool):
            # Label Studio's quick JSON export lists prediction ids only; their results are in
            # an export snapshot with full predictions (or the API), not in this file.
            drops.add("predictions given by id only")
            continue
        p = v.need_obj(p, f, pp)
        version = p.get("model_version") or "unknown"
        m.annotations.append(_annotation(p, f"model:{version}", "model", ctx, pp))
    drafts = task.get("drafts")
    if isinstance(drafts, list) and drafts:
        drops.add("drafts", len(drafts))
    return m


@dataclass
class _Context:
    size: tuple[int | None, int | None]
    text: str | None
    renames: dict[str, str]  # Label Studio control name -> canonical control
    drops: Drops
    f: str


def _renames(meta: dict[str, Any]) -> dict[str, str]:
    raw = meta.get("assay_controls")
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(val) for k, val in raw.items() if isinstance(val, str)}


def _assay_author(a: dict[str, Any]) -> str | None:
    """The author assay's export recorded: on the annotation, else on its results (Label Studio
    keeps result items as given but rebuilds annotations on import)."""
    author = a.get("assay_author")
    if isinstance(author, str) and author:
        return author
    results = a.get("result")
    found = (
        {r.get("assay_author") for r in results if isinstance(r, dict)}
        if isinstance(results, list)
        else set()
    )
    found.discard(None)
    if len(found) == 1:
        only = found.pop()
        return only if isinstance(only, str) and only else None
    return None


def _annotation(
    a: dict[str, Any], author: str, kind: str, ctx: _Context, place: str
) -> ImportedAnnotation:
    f = ctx.f
    results = v.need_list(v.need_key(a, "result", f, place), f, place + ".result")
    regions = []
    for k, res in enumerate(results):
        rp = f"{place}.result[{k}]"
        res = v.need_obj(res, f, rp)
        typ = res.get("type")
        if isinstance(typ, str) and typ not in _ls_results.SUPPORTED:
            ctx.drops.add(f"{typ} results")
            continue
        found = _ls_results.to_regions(res, ctx.size, ctx.text, f, rp)
        control = ctx.renames.get(found[0].control) if found else None
        if control is not None:
            found = [r.model_copy(update={"control": control}) for r in found]
        regions += found
    default_score = a.get("score")
    if kind == "model" and v.is_number(default_score):
        regions = [
            r if r.score is not None else r.model_copy(update={"score": float(default_score)})
            for r in regions
        ]
    lead = a.get("lead_time")
    created = a.get("created_at")
    return ImportedAnnotation(
        regions=regions,
        author=author,
        kind=kind,
        created=created if isinstance(created, str) else None,
        lead_time=float(lead) if v.is_number(lead) else None,
        source_id=_source_id(a),
    )


def _source_id(a: dict[str, Any]) -> str | None:
    own = a.get("assay_annotation_id")
    if isinstance(own, str) and own:
        return own
    return str(a["id"]) if "id" in a else None


def _author(value: Any, f: str, place: str) -> str:
    if value is None:
        return "user:import"
    if isinstance(value, dict):
        value = value.get("email") or value.get("id")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        v.fail(f, place, f"expected a user id or email, got {v.type_name(value)}")
    text = str(value)
    return text if text.startswith(("user:", "aggregate:", "review:")) else f"user:{text}"


def _media_key(data: dict[str, Any]) -> str | None:
    """The data field holding the image URL; None for a text task (``text`` and no ``image``)."""
    if isinstance(data.get("image"), str):
        return "image"
    if isinstance(data.get("text"), str):
        return None
    for key in _MEDIA_KEYS:
        if isinstance(data.get(key), str):
            return key
    for key, val in data.items():
        if isinstance(val, str) and (
            val.startswith(("/data/", "http://", "https://", "s3://", "gs://"))
            or val.lower().endswith(_media.IMAGE_SUFFIXES)
        ):
            return key
    return None


def _task(
    row: ExportRow,
    url: str | None,
    controls: ControlNames,
    all_annotations: bool,
    dropped: Counter[str],
) -> dict[str, Any]:
    data: dict[str, Any] = dict(row.metadata)
    text: str | None = None
    if url is not None:
        data["image"] = url
        to_name = "image"
    else:
        try:
            text = row.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"item {row.item_id} ({row.name}): text is not UTF-8") from None
        data["text"] = text
        to_name = "text"
    data["marking"] = row.marking
    meta: dict[str, Any] = {"assay_item_id": row.item_id, "assay_name": row.name}
    renamed = controls.renamed()
    if renamed:
        meta["assay_controls"] = renamed
    task: dict[str, Any] = {"data": data, "meta": meta, "annotations": [], "predictions": []}
    size = (row.width, row.height)

    def results(regions: list[Region]) -> list[dict[str, Any]]:
        result, lost = _ls_results.from_regions(regions, size, text, to_name, controls.name)
        dropped.update(lost)
        return result

    if all_annotations and row.annotations:
        for a in row.annotations:
            if a.kind == "model":
                task["predictions"].append(_prediction(a.author, results(a.regions), a.regions))
            else:
                ann = _human(a.author, results(a.regions))
                ann["created_at"] = a.created
                if a.lead_time is not None:
                    ann["lead_time"] = a.lead_time
                ann["assay_annotation_id"] = a.source_id or a.id
                task["annotations"].append(ann)
        return task
    groups: dict[str | None, list[Region]] = {}
    for r in row.regions:
        groups.setdefault(r.author, []).append(r)
    for author, regions in groups.items():
        who = author or (row.authors[0] if len(row.authors) == 1 else None)
        if who is not None and who.startswith("model:"):
            task["predictions"].append(_prediction(who, results(regions), regions))
        else:
            task["annotations"].append(_human(who, results(regions)))
    return task


def _prediction(author: str, result: list[dict[str, Any]], regions: list[Region]) -> dict[str, Any]:
    pred: dict[str, Any] = {"model_version": author.removeprefix("model:"), "result": result}
    scores = [r.score for r in regions if r.score is not None]
    if scores:
        pred["score"] = min(scores)  # Label Studio's prediction score; each result keeps its own
    return pred


def _human(who: str | None, result: list[dict[str, Any]]) -> dict[str, Any]:
    ann: dict[str, Any] = {"result": result, "was_cancelled": False, "ground_truth": False}
    if who is not None:
        # Label Studio maps an integer completed_by to a user id and falls back to the
        # importing user otherwise; the exact author travels in `assay_author`, on the
        # annotation and on each result (Label Studio keeps result items as they are).
        name = who.removeprefix("user:")
        if name.isdigit():
            ann["completed_by"] = int(name)
        ann["assay_author"] = who
        for item in result:
            item["assay_author"] = who
    return ann


def _find_json(path: Path) -> Path:
    if not path.is_dir():
        return path
    for name in (TASKS_FILE, "result.json"):
        if (path / name).is_file():
            return path / name
    found = sorted(path.glob("*.json"))
    if len(found) == 1:
        return found[0]
    raise InvalidInput(
        f"{path}: expected one Label Studio JSON file in the folder, found {len(found)}"
    )


CODEC = Codec(
    name="labelstudio",
    read=read,
    write=write,
    description="Label Studio JSON tasks (all region kinds, authors, predictions)",
    title="Label Studio",
    media=("image/", "text/"),
)
