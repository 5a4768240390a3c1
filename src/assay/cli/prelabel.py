"""`assay prelabel PROJECT --model NAME[@VERSION]`: model answers for annotators to correct."""

from __future__ import annotations

import click

from assay.cli._common import Env, cluster_option, json_option, pass_env


@click.command("prelabel")
@click.argument("project")
@click.option(
    "--model",
    "spec",
    required=True,
    help="Registered model, NAME[@VERSION]: ONNX image model, text or token classifier, "
    "classifier head from `assay train classifier`, or language model (with --prompt).",
)
@click.option(
    "--as",
    "as_user",
    help="Run as this user: needs the manager role and clearance for the model's marking, "
    "and pre-labels only the tasks within that clearance.",
)
@click.option("--control", help="Schema control the answers go to (default: the matching one).")
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=0.25,
    show_default=True,
    help="Detections scoring below this are not stored (they are counted).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Items per model call (default 32 images, 16 texts).",
)
@click.option(
    "--prompt",
    help="A language model's prompt template: {text} is the item's text, {labels} the "
    "control's labels; the first label named in the answer is stored.",
)
@click.option("--redo", is_flag=True, help="Pre-label items this model version did before.")
@cluster_option
@json_option
@pass_env
def prelabel(
    env: Env,
    project: str,
    spec: str,
    as_user: str | None,
    control: str | None,
    min_score: float,
    batch_size: int | None,
    redo: bool,
    prompt: str | None,
    cluster: str | None,
    as_json: bool,
) -> None:
    """Run model SPEC over PROJECT's open tasks; annotators see least confident first."""
    from assay.compute import cluster_address
    from assay.labeling.prelabel_text import prelabel_model as run
    from assay.labeling.users import get_user

    ws = env.workspace()
    user = None
    if as_user:
        with ws.db.read() as conn:
            user = get_user(ws, conn, as_user)
    with env.progress("pre-labelling", shown=not as_json) as progress:
        report = run(
            ws,
            project,
            spec,
            user=user,
            control=control,
            min_score=min_score,
            batch_size=batch_size,
            redo=redo,
            prompt=prompt,
            cluster=cluster,
            progress=progress,
        )
    asked = cluster_address(cluster)
    if asked is not None and report.ran_on != asked:
        # Never silent: a cluster was asked for (--cluster or ASSAY_CLUSTER) and not used.
        env.err.print(
            f"[yellow]warning:[/] model:{report.model} ran in this process, not on the cluster "
            f"at {asked}: only registered ONNX image models run on a cluster"
        )
    if as_json:
        env.emit_json(report.to_dict())
        return
    r = report
    env.say(
        f"{r.project}: {r.labelled} of {r.open_tasks} open tasks pre-labelled by model:{r.model} "
        f"({r.regions} regions, control {r.control}) in {r.seconds:.2f} s"
    )
    skipped = {
        "pre-labelled by this version before (use --redo)": r.already,
        f"marked below the model ({r.model_marking})": r.below_model_marking,
        "above your clearance": r.not_visible,
        "not images": r.not_images,
        "not text": r.not_text,
        f"detections below --min-score {min_score}": r.below_min_score,
        "boxes without width or height": r.empty_boxes,
        **{f"answers of class {k!r}, not a label of {r.control}": v for k, v in r.unmapped.items()},
    }
    for why, n in skipped.items():
        if n:
            env.say(f"  not stored: {n} {why}")
