"""Label Studio's ``JSON_MIN`` export, turned back into ``JSON`` tasks.

A JSON_MIN row is one annotation: the task's data fields, then one key per control (its
``name`` in the labeling config) and ``id``, ``annotator``, ``annotation_id``, ``created_at``,
``updated_at``, ``lead_time``. Data fields and controls cannot be told apart without the config,
so the project's ``label_config.xml`` must sit beside the file (assay's Label Studio export
writes one). Rows of one task become one task with one annotation per row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from assay.errors import InvalidInput
from assay.formats import _validate as v

CONFIG_FILE = "label_config.xml"
_ROW_KEYS = ("id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time")
_GEOMETRY = (
    "rectanglelabels",
    "polygonlabels",
    "keypointlabels",
    "labels",
    "rectangle",
    "polygon",
    "keypoint",
    "brushlabels",
    "ellipselabels",
)


def is_min_row(task: Any) -> bool:
    return (
        isinstance(task, dict)
        and "data" not in task
        and ("annotation_id" in task or "annotator" in task)
    )


def controls(config: Path) -> dict[str, tuple[str, str]]:
    """Control name -> (result type, to_name) from a labeling config."""
    try:
        root = ET.parse(config).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InvalidInput(f"{config}: cannot read the labeling config: {exc}") from None
    out: dict[str, tuple[str, str]] = {}
    for el in root.iter():
        name, to_name = el.get("name"), el.get("toName")
        if name and to_name:
            out[name] = (el.tag.lower(), to_name.split(",")[0])
    return out


def to_tasks(rows: list[Any], path: Path, f: str) -> list[dict[str, Any]]:
    """JSON tasks equivalent to JSON_MIN `rows` (read with the config beside `path`)."""
    config = path.parent / CONFIG_FILE
    if not config.is_file():
        raise InvalidInput(
            f"{f}: this is Label Studio's JSON_MIN export, whose labels cannot be told from data "
            f"fields without the project's labeling config; save it as {config} and import again"
        )
    ctl = controls(config)
    tasks: dict[Any, dict[str, Any]] = {}
    for i, raw in enumerate(rows):
        place = f"[{i}]"
        row = v.need_obj(raw, f, place)
        key = row.get("id", f"row{i}")
        data = {k: val for k, val in row.items() if k not in ctl and k not in _ROW_KEYS}
        task = tasks.setdefault(key, {"id": key, "data": data, "annotations": []})
        result: list[dict[str, Any]] = []
        for name, (typ, to_name) in ctl.items():
            if name in row:
                result += _results(name, typ, to_name, row[name], f, f"{place}.{name}")
        ann: dict[str, Any] = {"result": result, "completed_by": row.get("annotator")}
        for src, dst in (("annotation_id", "id"), ("created_at", "created_at")):
            if src in row:
                ann[dst] = row[src]
        if row.get("lead_time") is not None:
            ann["lead_time"] = row["lead_time"]
        task["annotations"].append(ann)
    return list(tasks.values())


def _results(
    name: str, typ: str, to_name: str, value: Any, f: str, place: str
) -> list[dict[str, Any]]:
    base: dict[str, Any] = {"from_name": name, "to_name": to_name, "type": typ}
    if typ in _GEOMETRY:
        out = []
        for j, region in enumerate(v.need_list(value, f, place)):
            val = dict(v.need_obj(region, f, f"{place}[{j}]"))
            item = {**base, "id": f"{name}{j}"}
            for k in ("original_width", "original_height"):
                if k in val:
                    item[k] = val.pop(k)
            item["value"] = val
            out.append(item)
        return out
    if typ == "choices":
        choices = value.get("choices") if isinstance(value, dict) else value
        listed = choices if isinstance(choices, list) else [choices]
        return [{**base, "value": {"choices": listed}}]
    if typ == "textarea":
        texts = value.get("text") if isinstance(value, dict) else value
        return [{**base, "value": {"text": texts if isinstance(texts, list) else [texts]}}]
    if typ == "rating":
        rating = value.get("rating") if isinstance(value, dict) else value
        return [{**base, "value": {"rating": rating}}]
    return [{**base, "value": value if isinstance(value, dict) else {"value": value}}]
