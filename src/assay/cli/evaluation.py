"""`assay eval ...`: thin wrappers over `assay.evaluation`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from assay.cli._common import Env, LazyGroup, input_path, json_option, pass_env
from assay.errors import InvalidInput
from assay.evaluation import DetectionParams, evaluate_detection_files


def _max_dets(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise InvalidInput(
            f"--max-dets must be three integers like 1,10,100, got {text!r}"
        ) from exc
    return values


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@click.group(
    name="eval",
    cls=LazyGroup,
    lazy={
        "run": "assay.cli.eval_runs:run",
        "show": "assay.cli.eval_runs:show",
        "compare": "assay.cli.eval_runs:compare",
        "gate": "assay.cli.eval_runs:gate",
        "list": "assay.cli.eval_runs:list_cmd",
        "llm": "assay.cli.eval_llm:llm",
        "export-inspect": "assay.cli.eval_llm:export_inspect",
    },
)
def eval_group() -> None:
    """Evaluate models: COCO detection metrics, recorded runs, comparisons and gates."""


@eval_group.command()
@click.option(
    "--gt",
    "gt_path",
    type=input_path(dir_okay=False),
    required=True,
    help="COCO ground-truth JSON (images, annotations, categories).",
)
@click.option(
    "--predictions",
    "dt_path",
    type=input_path(dir_okay=False),
    required=True,
    help="COCO results JSON: a list of {image_id, category_id, bbox, score} "
    "(with --iou-type segm: segmentation as RLE or polygons instead of, or beside, bbox).",
)
@click.option(
    "--iou-type",
    type=click.Choice(["bbox", "segm"]),
    default="bbox",
    show_default=True,
    help="bbox: IoU of boxes; segm: IoU of masks (polygons, RLE, crowd regions), "
    "as pycocotools' iouType.",
)
@click.option(
    "--max-dets",
    default="1,10,100",
    show_default=True,
    help="Three caps on detections per image and category.",
)
@click.option(
    "--mode",
    type=click.Choice(["pycocotools", "corrected"]),
    default="pycocotools",
    show_default=True,
    help="corrected: headline AP at the largest --max-dets (pycocotools fixes 100) "
    "and matches to annotation id 0 count; with segm, detection areas come from the masks "
    "even when the results carry boxes.",
)
@click.option("--per-class", is_flag=True, help="Also print AP, AP50, AP75, recall per category.")
@json_option
@pass_env
def detection(
    env: Env,
    gt_path: Path,
    dt_path: Path,
    iou_type: str,
    max_dets: str,
    mode: str,
    per_class: bool,
    as_json: bool,
) -> None:
    """COCO bbox or segm evaluation, a drop-in for pycocotools' COCOeval (same 12 numbers)."""
    params = DetectionParams(
        max_dets=_max_dets(max_dets),
        mode=mode,  # type: ignore[arg-type]
        iou_type=iou_type,  # type: ignore[arg-type]
    )
    result = evaluate_detection_files(gt_path, dt_path, params)
    if as_json:
        env.emit_json(result.to_dict())
        return
    for line in result.summary_lines():
        env.console.print(line, markup=False)
    if per_class:
        table = Table("category", "AP", "AP50", "AP75", "recall")
        for c in result.per_class():
            table.add_row(c.name, _fmt(c.ap), _fmt(c.ap50), _fmt(c.ap75), _fmt(c.recall))
        env.console.print(table)


COMMANDS = [eval_group]
