"""`assay model add|list|show`: the model registry."""

from __future__ import annotations

from pathlib import Path

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

    infos = list_models(env.workspace())
    if as_json:
        env.emit_json([i.to_dict() for i in infos])
        return
    table = Table("model", "kind", "task", "sha256", "trained on", "created")
    for i in infos:
        table.add_row(i.ref, i.kind, i.task, i.sha256[:12], (i.trained_on or "-")[:12], i.created)
    env.console.print(table)


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
