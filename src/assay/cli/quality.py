"""`assay aggregate` and `assay quality report`: thin wrappers over `assay.quality`."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from rich.table import Table

from assay.cli._common import Env, json_option, pass_env, path_arg
from assay.quality import (
    METHODS,
    aggregate_frame,
    quality_report,
    read_gold_csv,
    read_labels_csv,
    render_html,
)

_PREVIEW_ROWS = 20


@click.command()
@click.option(
    "--csv", "csv_path", type=path_arg(), required=True, help="Long CSV: task,worker,label."
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="ds",
    show_default=True,
    help="mv = majority vote, wawa, ds = Dawid-Skene, onecoin, glad.",
)
@click.option(
    "--out", "out", type=path_arg(dir_okay=False), help="Write task,label,confidence CSV."
)
@json_option
@pass_env
def aggregate(env: Env, csv_path: Path, method: str, out: Path | None, as_json: bool) -> None:
    """Aggregate crowd labels into one label of record per task."""
    result = aggregate_frame(read_labels_csv(csv_path), method)
    if out is not None:
        result.to_frame().to_csv(out, index=False)
    if as_json:
        doc = result.to_dict()
        if out is not None:
            doc["out"] = str(out)
        env.emit_json(doc)
        return
    env.say(
        f"{result.n_labels} labels, {result.n_tasks} tasks, {result.n_workers} workers "
        f"aggregated with {method}" + (f"; wrote {out}" if out is not None else "")
    )
    if out is None:
        frame = result.to_frame()
        table = Table("task", "label", "confidence")
        for row in frame.head(_PREVIEW_ROWS).itertuples(index=False):
            table.add_row(str(row.task), str(row.label), f"{row.confidence:.3f}")
        env.console.print(table)
        if len(frame) > _PREVIEW_ROWS:
            env.say(f"… {len(frame) - _PREVIEW_ROWS} more tasks; use --out FILE or --json")


@click.group()
def quality() -> None:
    """Label quality: agreement, annotators, suspicious items."""


@quality.command("report")
@click.option(
    "--csv", "csv_path", type=path_arg(), required=True, help="Long CSV: task,worker,label."
)
@click.option("--gold", "gold_path", type=path_arg(), help="Gold CSV: task,label.")
@click.option("--method", type=click.Choice(METHODS), default="ds", show_default=True)
@click.option(
    "--threshold", type=float, default=0.7, show_default=True, help="Suspicious below this."
)
@click.option("--html", "html_out", type=path_arg(dir_okay=False), help="Write an HTML report.")
@json_option
@pass_env
def report(
    env: Env,
    csv_path: Path,
    gold_path: Path | None,
    method: str,
    threshold: float,
    html_out: Path | None,
    as_json: bool,
) -> None:
    """Agreement, per-annotator scores, confusion matrices and suspicious tasks."""
    data = read_labels_csv(csv_path)
    gold = read_gold_csv(gold_path) if gold_path is not None else None
    result = quality_report(data, gold, method=method, threshold=threshold)
    if html_out is not None:
        html_out.write_text(render_html(result, title=f"Label quality: {csv_path.name}"))
    if as_json:
        doc = result.to_dict()
        if html_out is not None:
            doc["html"] = str(html_out)
        env.emit_json(doc)
        return
    env.say(f"{result.n_labels} labels, {result.n_tasks} tasks, {result.n_workers} annotators")
    agreement = Table("agreement", "value")
    for name, value in result.agreement.items():
        agreement.add_row(name, f"{value:.3f}")
    env.console.print(agreement)
    people = Table(*["worker", *map(str, result.annotators.columns)])
    for row in result.annotators.itertuples():
        people.add_row(*(_cell(v) for v in row))
    env.console.print(people)
    env.say(f"{len(result.suspicious)} suspicious tasks (posterior < {threshold:g})")
    if html_out is not None:
        env.say(f"wrote {html_out}")


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "–" if value != value else f"{value:.3f}"
    return str(value)


COMMANDS = [aggregate, quality]
