"""`assay model add|list|show|export|verify`: the model registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assay.cli._common import (
    Env,
    alpha_option,
    folding_table,
    input_path,
    json_option,
    max_drop_option,
    pass_env,
    path_arg,
    utc_minute,
)

if TYPE_CHECKING:
    from assay.domain.marking import Marking

TASKS = [
    "classification",
    "detection",
    "causal-lm",
    "text-classification",
    "token-classification",
]

as_option = click.option(
    "--as",
    "as_user",
    help="Act as this user: models marked above their clearance are not there for them.",
)


def clearance_of(env: Env, as_user: str | None) -> Marking | None:
    """The clearance of `--as USER` (None: the workspace owner, who sees everything)."""
    if not as_user:
        return None
    from assay.labeling.users import get_user

    ws = env.workspace()
    with ws.db.read() as conn:
        return get_user(ws, conn, as_user).clearance


@click.group(name="model")
def model() -> None:
    """Register models (ONNX, prediction files, transformers/PEFT directories) with lineage."""


@model.command()
@click.argument("name")
@click.argument("path", required=False, type=input_path())
@click.option(
    "--file",
    "file",
    type=input_path(dir_okay=False),
    help="An .onnx model, a COCO results .json, or a .csv/.parquet of probabilities.",
)
@click.option("--trained-on", help="Dataset revision it was trained on, NAME@REV (lineage).")
@click.option(
    "--task",
    type=click.Choice(TASKS),
    help="Check the model is of this task (a directory whose config does not say: its task).",
)
@click.option("--classes", help="Class names in output order, comma-separated (ONNX).")
@click.option(
    "--marking",
    help="The model's marking (default: the highest of its --trained-on data, else the lowest).",
)
@click.option(
    "--base",
    help="A PEFT adapter's base model: a transformers directory or a registered NAME[@VERSION] "
    "(default: what adapter_config.json names, when it is either). Checked to fit the "
    "adapter; its sha256 is recorded and checked whenever the adapter is loaded.",
)
@json_option
@pass_env
def add(
    env: Env,
    name: str,
    path: Path | None,
    file: Path | None,
    trained_on: str | None,
    task: str | None,
    classes: str | None,
    marking: str | None,
    base: str | None,
    as_json: bool,
) -> None:
    """Register PATH as model NAME (a new version if NAME exists with other contents).

    PATH is a model file (.onnx, COCO results .json, .csv/.parquet probabilities; also
    --file) or a directory: a transformers model (config.json), a PEFT adapter
    (adapter_config.json; --base names its base model) or a classifier head from `assay
    train classifier`, with safetensors weights. Every file is kept in the workspace with
    its sha256.
    """
    from assay.errors import InvalidInput
    from assay.models import add_model

    if (path is None) == (file is None):
        raise InvalidInput("give the model as PATH (a file or directory) or --file FILE")
    names = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    info = add_model(
        env.workspace(),
        name,
        path or file or "",
        trained_on=trained_on,
        task=task,
        classes=names,
        marking=marking,
        base=base,
    )
    if as_json:
        env.emit_json(info.to_dict())
        return
    lineage = f", trained on {info.trained_on[:12]}" if info.trained_on else ""
    mark = info.details.get("marking", "")
    files = f", {info.details['files']} files" if info.is_directory else ""
    env.say(
        f"model {info.ref}: {info.kind} {info.task}{files}, sha256 {info.sha256[:12]}{lineage}, "
        f"marked {mark}"
    )
    recorded = info.details.get("base")
    if isinstance(recorded, dict):
        env.say(
            f"base model {recorded.get('ref') or recorded.get('path')} "
            f"(sha256 {str(recorded.get('sha256'))[:12]}), checked whenever the adapter loads"
        )
    elif info.kind == "peft-adapter" and not (info.lineage or {}).get("base"):
        env.err.print(
            f"warning: model {info.ref}: adapter_config.json names no base model found here; "
            f"it cannot be loaded until registered with --base (a directory or a registered "
            "model)",
            markup=False,
        )


@model.command(name="list")
@as_option
@json_option
@pass_env
def list_(env: Env, as_user: str | None, as_json: bool) -> None:
    """Every registered model version (with --as: those the user is cleared for)."""
    from assay.models import list_models
    from assay.models.stages import stages

    ws = env.workspace()
    infos = list_models(ws, clearance_of(env, as_user))
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
    # Related values share a cell, a line each, and every value folds rather than being cut:
    # nine columns side by side cut the ref, task, marking, stage, sha256 and date to "…" at
    # a pipe's 80 columns.
    model = "model\nsha256"
    table = folding_table(
        model, "task\nmarking", "stage\ngate", "trained on\ncreated", whole=(model,)
    )
    for i in infos:
        view = staged[i.id]
        gate = view.promotion.summary() if view.promotion else "-"
        table.add_row(
            f"{i.ref}\n{i.sha256[:12]}",
            f"{i.kind} {i.task}\n{i.marking or '-'}",
            f"{view.stage}\n{gate}",
            f"{i.trained_on_ref(12) or '-'}\n{utc_minute(i.created)}",
        )
    env.console.print(table)


def _promotion_dict(p: Any) -> dict[str, Any] | None:
    return None if p is None else p.to_dict()


@model.command()
@click.argument("spec")
@as_option
@json_option
@pass_env
def show(env: Env, spec: str, as_user: str | None, as_json: bool) -> None:
    """One model: NAME (latest version) or NAME@VERSION."""
    from assay.models import get_model

    info = get_model(env.workspace(), spec, clearance_of(env, as_user))
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
@max_drop_option(default=0.0, show_default=True)
@alpha_option
@click.option("--force", is_flag=True, help="Promote without a passing gate (needs --reason).")
@click.option("--reason", help="Why a forced promotion is right (kept in the audit trail).")
@click.option(
    "--demote", is_flag=True, help="Allow moving the production version to staging (none left)."
)
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
    demote: bool,
    as_json: bool,
) -> None:
    """Move model SPEC (NAME@VERSION) to a stage on a passing paired gate against production."""
    from assay.models.stages import promote as run

    ws = env.workspace()
    # The paired gate against production bootstraps as `eval gate` does: the same bar.
    with env.progress("gating", shown=not as_json) as progress:
        p = run(
            ws,
            spec,
            stage,
            run=run_id,
            max_drop=max_drop,
            alpha=alpha,
            force=force,
            reason=reason,
            demote=demote,
            progress=progress,
        )
    if p.previous == "production":
        name = p.model.rpartition("@")[0]
        env.err.print(
            f"warning: {name} has no version in production now ({p.model} moved to {p.stage})",
            markup=False,
        )
    if as_json:
        env.emit_json(p.to_dict())
        return
    env.say(f"model {p.model}: {p.previous} -> {p.stage} ({p.summary()})")
    if p.gate is not None:  # a passing gate that measured some slices not: which and why
        from assay.evaluation.runs._gate import unmeasured_notes

        for note in unmeasured_notes(p.gate):
            env.err.print(f"note: {note}", markup=False)


@model.command()
@click.argument("spec")
@click.argument("out", type=click.Path(path_type=Path))
@as_option
@json_option
@pass_env
def export(env: Env, spec: str, out: Path, as_user: str | None, as_json: bool) -> None:
    """Copy model SPEC's files (checked against their sha256) to the new folder OUT, with
    MARKING.txt. With --as, a model above the user's clearance is not found."""
    from assay.models import export_model

    ws = env.workspace()
    actor = f"user:{as_user}" if as_user else None
    files = export_model(ws, spec, out, clearance=clearance_of(env, as_user), actor=actor)
    if as_json:
        env.emit_json({"model": spec, "out": str(out), "files": [str(f) for f in files]})
        return
    env.say(f"model {spec}: {len(files)} files written to {out}")


@model.command()
@click.argument("spec")
@click.option(
    "--dir",
    "directory",
    type=path_arg(file_okay=False),
    help="Check this local copy (an export) instead of the workspace's stored files.",
)
@as_option
@json_option
@pass_env
def verify(env: Env, spec: str, directory: Path | None, as_user: str | None, as_json: bool) -> None:
    """Recompute model SPEC's lineage: every file against the manifest, lineage.json against
    the registry, the base model's hash and the training rows' hash from the data commit.
    Exits 1 naming each mismatch."""
    from assay.errors import InvalidInput
    from assay.models.lineage import verify_model

    v = verify_model(
        env.workspace(), spec, directory=directory, clearance=clearance_of(env, as_user)
    )
    if as_json:
        env.emit_json(v.to_dict())
    else:
        for line in v.checked:
            env.say(f"checked: {line}")
    if not v.ok:
        raise InvalidInput(f"model {v.model} does not verify:\n  " + "\n  ".join(v.problems))
    if not as_json:
        env.say(f"model {v.model}: verified")
