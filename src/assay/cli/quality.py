"""`assay aggregate` and `assay quality report`: thin wrappers over `assay.quality`.

Labels come from a long CSV (``--csv``), a labeling project's human answers (``--project``)
or, for the report, the human answers behind a dataset's working state (``--dataset``).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd
from rich.table import Column, Table

from assay.cli._common import Env, input_path, json_option, pass_env, path_arg
from assay.quality import (
    METHODS,
    MIN_SHARED_TASKS,
    CohenPairs,
    ProjectAggregation,
    QualityReport,
    aggregate_frame,
    aggregate_project,
    dataset_source,
    project_source,
    quality_report,
    read_gold_csv,
    read_labels_csv,
    render_html,
    source_report,
)

_PREVIEW_ROWS = 20


def _one_source(**given: object) -> None:
    if sum(value is not None for value in given.values()) != 1:
        options = " or ".join(f"--{n}" for n in given)
        raise click.UsageError(f"give exactly one of {options}")


@click.command()
@click.option(
    "--csv", "csv_path", type=input_path(dir_okay=False), help="Long CSV: task,worker,label."
)
@click.option("--project", help="Aggregate this labeling project's latest human answers.")
@click.option(
    "--control",
    "controls",
    multiple=True,
    help="Control to aggregate (repeatable; default: the first choices control).",
)
@click.option("--into", "into", help="Write labels of record into this dataset (--project).")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="ds",
    show_default=True,
    help="mv = majority vote, wawa, ds = Dawid-Skene, onecoin, glad.",
)
@click.option(
    "--out", "out", type=path_arg(dir_okay=False), help="Write task,label,confidence CSV (--csv)."
)
@json_option
@pass_env
def aggregate(
    env: Env,
    csv_path: Path | None,
    project: str | None,
    controls: tuple[str, ...],
    into: str | None,
    method: str,
    out: Path | None,
    as_json: bool,
) -> None:
    """Aggregate crowd labels into one label of record per task.

    With --project and --into, the consensus becomes the labels of record of the dataset
    (provenance aggregate:METHOD); record it with `assay commit DATASET`.
    """
    _one_source(csv=csv_path, project=project)
    if project is not None:
        if out is not None:
            raise click.UsageError("--out goes with --csv; with --project use --into DATASET")
        agg = aggregate_project(env.workspace(), project, method, into=into, controls=controls)
        _show_aggregation(env, agg, as_json)
        return
    if into is not None or controls or csv_path is None:
        raise click.UsageError("--into and --control go with --project")
    result = aggregate_frame(read_labels_csv(csv_path), method)
    _say_repeated(env, result.repeated)
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


def _show_aggregation(env: Env, agg: ProjectAggregation, as_json: bool) -> None:
    if as_json:
        env.emit_json(agg.to_dict())
        return
    for c in agg.controls:
        env.say(
            f"{c.control} ({c.type}): {c.n_labels} labels on {c.n_items} items "
            f"-> {c.n_regions} consensus regions"
        )
    table = Table("item", "labels of record", "annotators")
    by_name = sorted(agg.plans.items(), key=lambda kv: (agg.names.get(kv[0], ""), kv[0]))
    for item, plan in by_name[:_PREVIEW_ROWS]:
        shown = ", ".join(r.label or r.kind for r in plan.regions) or "(none)"
        table.add_row(agg.names.get(item, item[:12]), shown, str(len(plan.workers)))
    env.console.print(table)
    if len(agg.plans) > _PREVIEW_ROWS:
        env.say(f"… {len(agg.plans) - _PREVIEW_ROWS} more items; use --json")
    if agg.dataset is None:
        env.say("nothing written; add --into DATASET to set labels of record")
    else:
        env.say(
            f"set {agg.n_written} labels of record in {agg.dataset} "
            f"({agg.n_added} items added) as {agg.author}; "
            f"record them with `assay commit {agg.dataset} -m ...`"
        )


@click.group()
def quality() -> None:
    """Label quality: agreement, annotators, suspicious items."""


@quality.command("report")
@click.option(
    "--csv", "csv_path", type=input_path(dir_okay=False), help="Long CSV: task,worker,label."
)
@click.option("--project", help="Report on this labeling project's latest human answers.")
@click.option("--dataset", help="Report on the human answers behind this dataset's items.")
@click.option("--control", help="Choices control for annotators and confusion (default: first).")
@click.option("--gold", "gold_path", type=input_path(dir_okay=False), help="Gold CSV: task,label.")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="ds",
    show_default=True,
    help="Aggregation behind the posteriors: mv = majority vote, wawa, ds = Dawid-Skene, "
    "onecoin, glad.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),  # a posterior lies in 0..1
    default=0.7,
    show_default=True,
    help="A task is suspicious when its posterior is below this (1: every task).",
)
@click.option(
    "--min-shared",
    type=click.IntRange(min=1),
    default=MIN_SHARED_TASKS,
    show_default=True,
    help="Tasks two annotators must share for their Cohen's kappa to enter the mean; pairs "
    "sharing fewer are left out and listed.",
)
@click.option("--html", "html_out", type=path_arg(dir_okay=False), help="Write an HTML report.")
@json_option
@pass_env
def report(
    env: Env,
    csv_path: Path | None,
    project: str | None,
    dataset: str | None,
    control: str | None,
    gold_path: Path | None,
    method: str,
    threshold: float,
    min_shared: int,
    html_out: Path | None,
    as_json: bool,
) -> None:
    """Agreement, per-annotator scores, confusion matrices and suspicious tasks.

    --dataset reads the human annotations (any project) of the dataset's working-state
    items: per annotator and item the latest one not edited or rejected since.
    """
    _one_source(csv=csv_path, project=project, dataset=dataset)
    gold = read_gold_csv(gold_path) if gold_path is not None else None
    result: QualityReport
    if csv_path is not None:
        if control is not None:
            raise click.UsageError("--control goes with --project or --dataset")
        result = quality_report(
            read_labels_csv(csv_path),
            gold,
            method=method,
            threshold=threshold,
            min_shared=min_shared,
        )
        title = f"Label quality: {csv_path.name}"
    else:
        ws = env.workspace()
        source = (
            project_source(ws, project) if project is not None else dataset_source(ws, str(dataset))
        )
        result = source_report(
            source,
            control=control,
            gold=gold,
            method=method,
            threshold=threshold,
            min_shared=min_shared,
        )
        title = f"Label quality: {source.label}"
    if html_out is not None:
        html_out.write_text(render_html(result, title=title), encoding="utf-8")
    if result.repeated is not None:
        _say_repeated(env, result.repeated, report=True)
    if as_json:
        doc = result.to_dict()
        if html_out is not None:
            doc["html"] = str(html_out)
        env.emit_json(doc)
        return
    _show_report(env, result, html_out)


def _show_report(env: Env, result: QualityReport, html_out: Path | None) -> None:
    env.say(f"{result.n_labels} labels, {result.n_tasks} tasks, {result.n_workers} annotators")
    agreement = Table("agreement", "value")
    for name, value in result.agreement.items():
        agreement.add_row(name, _cell(value))
    env.console.print(agreement)
    alpha = result.agreement["krippendorff_alpha"]
    if alpha != alpha:
        env.say("– undefined: nothing to pair (agreement needs a task labelled by two annotators)")
    if result.cohen is not None:
        _say_cohen_pairs(env, result.cohen)
    if result.controls is not None:
        # A measure per row and a control per column: eleven measures side by side did not fit
        # a terminal, and every name and number was cut to "…".
        frame = result.controls.set_index("control")
        per_control = Table("measure", *map(str, frame.index))
        for measure in frame.columns:
            per_control.add_row(str(measure), *(_cell(v) for v in frame[measure]))
        env.console.print(per_control)
    # Headers wrap at their words: cut short, "accuracy_vs_aggregate" and "accuracy_vs_gold"
    # both read "accuracy_…" on a terminal's 80 columns.
    headers = ["worker", *(str(c).replace("_", " ") for c in result.annotators.columns)]
    people = Table(*(Column(h, overflow="fold") for h in headers))
    for row in result.annotators.itertuples():
        people.add_row(*(_cell(v) for v in row))
    env.console.print(people)
    env.say(f"{len(result.suspicious)} suspicious tasks ({result.criterion})")
    if html_out is not None:
        env.say(f"wrote {html_out}")


_SHOWN_PAIRS = 10


def _say_cohen_pairs(env: Env, cohen: CohenPairs) -> None:
    """Which annotator pairs the mean Cohen's kappa took, and which it left out and why."""
    left = cohen.left_out
    if left.empty:
        return
    shown = ", ".join(
        f"{a}–{b} ({n})"
        for a, b, n in zip(
            left["worker_a"][:_SHOWN_PAIRS],
            left["worker_b"][:_SHOWN_PAIRS],
            left["n_common"][:_SHOWN_PAIRS],
            strict=True,
        )
    )
    rest = len(left) - _SHOWN_PAIRS
    more = f", and {rest} more (--json lists them)" if rest > 0 else ""
    env.console.print(
        f"mean_pairwise_cohen_kappa: the mean of the {cohen.n_pairs} annotator pair(s) sharing "
        f"at least {cohen.min_shared} tasks (--min-shared); {len(left)} pair(s) sharing fewer "
        f"are left out, shared tasks in brackets: {shown}{more}",
        markup=False,
    )


def _say_repeated(env: Env, repeated: pd.DataFrame, *, report: bool = False) -> None:
    """A note on stderr when a worker labelled a task more than once, and what counts."""
    if repeated.empty:
        return
    t, w, n = next(repeated.itertuples(index=False))
    extra = int((repeated["n_labels"] - 1).sum())
    note = (
        f"note: {extra} label(s) repeat a (task, worker) pair already labelled ({len(repeated)} "
        f"pair(s), e.g. task {t} by {w}, {n} labels): each counts as a vote in the "
        "aggregation, as in crowd-kit"
    )
    if report:
        note += (
            "; a rating each for alpha and Fleiss' kappa; Cohen's kappa takes one label per "
            "annotator and task (the one that sorts first)"
        )
    env.err.print(note, markup=False)


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "–" if value != value else f"{value:.3f}"
    return str(value)


COMMANDS = [aggregate, quality]
