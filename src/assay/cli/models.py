"""`assay model add|list|show`: the model registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from assay.cli._common import Env, json_option, pass_env, path_arg


@click.group(name="model")
def model() -> None:
    """Register model files (ONNX, prediction files) with their lineage."""


@model.command()
@click.argument("name")
@click.option(
    "--file",
    "file",
    type=path_arg(dir_okay=False),
    required=True,
    help="An .onnx model, a COCO results .json, or a .csv/.parquet of probabilities.",
)
@click.option("--trained-on", help="Dataset revision it was trained on, NAME@REV (lineage).")
@click.option(
    "--task",
    type=click.Choice(["classification", "detection"]),
    help="Check the file is of this task.",
)
@click.option("--classes", help="Class names in output order, comma-separated (ONNX).")
@click.option(
    "--marking",
    help="The model's marking (default: the highest of its --trained-on data, else the lowest).",
)
@json_option
@pass_env
def add(
    env: Env,
    name: str,
    file: Path,
    trained_on: str | None,
    task: str | None,
    classes: str | None,
    marking: str | None,
    as_json: bool,
) -> None:
    """Register FILE as model NAME (a new version if NAME exists with another file)."""
    from assay.models import add_model

    names = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    info = add_model(
        env.workspace(),
        name,
        file,
        trained_on=trained_on,
        task=task,  # type: ignore[arg-type]
        classes=names,
        marking=marking,
    )
    if as_json:
        env.emit_json(info.to_dict())
        return
    lineage = f", trained on {info.trained_on[:12]}" if info.trained_on else ""
    mark = info.details.get("marking", "")
    env.say(
        f"model {info.ref}: {info.kind} {info.task}, sha256 {info.sha256[:12]}{lineage}, "
        f"marked {mark}"
    )


@model.command(name="list")
@json_option
@pass_env
def list_(env: Env, as_json: bool) -> None:
    """Every registered model version."""
    from assay.models import list_models
    from assay.models.stages import stages

    ws = env.workspace()
    infos = list_models(ws)
    staged = stages(ws)
    if as_json:
        env.emit_json(
            [
                {
                    **i.to_dict(),
                    "stage": staged[i.id].stage,
                    "promotion": _promotion_dict(staged[i.id].promotion),
                }
                for i in infos
            ]
        )
        return
    table = Table("model", "kind", "task", "stage", "sha256", "trained on", "gate", "created")
    for i in infos:
        view = staged[i.id]
        lineage = i.trained_on_spec or (i.trained_on or "-")[:12]
        gate = view.promotion.summary() if view.promotion else "-"
        table.add_row(i.ref, i.kind, i.task, view.stage, i.sha256[:12], lineage, gate, i.created)
    env.console.print(table)


def _promotion_dict(p: Any) -> dict[str, Any] | None:
    return None if p is None else p.to_dict()


@model.command()
@click.argument("spec")
@json_option
@pass_env
def show(env: Env, spec: str, as_json: bool) -> None:
    """One model: NAME (latest version) or NAME@VERSION."""
    from assay.models import get_model

    info = get_model(env.workspace(), spec)
    if as_json:
        env.emit_json(info.to_dict())
        return
    for key, value in info.to_dict().items():
        env.console.print(f"{key}: {value}", markup=False)


@model.command()
@click.argument("spec")
@click.option(
    "--stage", type=click.Choice(["staging", "production"]), required=True, help="Target stage."
)
@click.option("--run", "run_id", help="The candidate's evaluation run id (default: latest paired).")
@click.option(
    "--max-drop",
    type=float,
    default=0.0,
    show_default=True,
    help="Largest drop of the gate metric against production the gate tolerates.",
)
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level.")
@click.option("--force", is_flag=True, help="Promote without a passing gate (needs --reason).")
@click.option("--reason", help="Why a forced promotion is right (kept in the audit trail).")
@json_option
@pass_env
def promote(
    env: Env,
    spec: str,
    stage: str,
    run_id: str | None,
    max_drop: float,
    alpha: float,
    force: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Move model SPEC (NAME@VERSION) to a stage on a passing paired gate against production."""
    from assay.models.stages import promote as run

    p = run(
        env.workspace(),
        spec,
        stage,
        run=run_id,
        max_drop=max_drop,
        alpha=alpha,
        force=force,
        reason=reason,
    )
    if as_json:
        env.emit_json(p.to_dict())
        return
    env.say(f"model {p.model}: {p.previous} -> {p.stage} ({p.summary()})")
