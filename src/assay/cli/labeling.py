"""`assay project ...` and `assay dataset pull`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from assay.cli._common import Env, input_path, json_option, pass_env
from assay.cli.dataset import dataset


@click.group("project")
def project() -> None:
    """Labeling projects: a schema, a dataset's items as tasks, a workflow."""


@project.command("create")
@click.argument("name")
@click.option(
    "--schema",
    "schema_path",
    type=input_path(dir_okay=False),
    required=True,
    help="Label schema YAML.",
)
@click.option(
    "--dataset",
    "dataset_name",
    required=True,
    metavar="NAME[@REV]",
    help="Dataset whose items become tasks: NAME (its working state) or NAME@REV (the items "
    "of that commit: a tag, a commit id prefix, HEAD, HEAD~N).",
)
@click.option("--overlap", type=int, default=1, show_default=True, help="Annotators per task.")
@click.option(
    "--adaptive",
    type=float,
    help="Adaptive overlap: ask for more labels (up to --overlap) only while the leading "
    "answer's posterior is below this target, e.g. 0.95.",
)
@click.option(
    "--adaptive-min", type=int, default=1, show_default=True, help="Labels every task gets."
)
@click.option("--gold", help="Gold labels from DATASET@REV (served unannounced).")
@click.option(
    "--gold-share",
    type=float,
    default=None,
    help="Share of an annotator's tasks that are gold, 0..1 (default: 0.05 with --gold).",
)
@click.option(
    "--gold-min-accuracy",
    type=float,
    default=0.7,
    show_default=True,
    help="Pause an annotator whose mean gold score falls below this (0..1).",
)
@click.option(
    "--gold-after", type=int, default=5, show_default=True, help="Gold tasks before pausing."
)
@click.option("--review", default="none", show_default=True, help="none|all|disagreements|sample:F")
@click.option(
    "--lease",
    "lease_seconds",
    type=float,
    default=900.0,
    show_default=True,
    help="Seconds an annotator holds a task before it returns to the queue (900 = 15 min).",
)
@click.option("--instructions", type=input_path(dir_okay=False), help="Markdown file.")
@click.option("--title", help="Display title (default: the schema's title).")
@click.option(
    "--from-labels",
    is_flag=True,
    help="Start every task from the dataset's labels of record, shown for correction "
    "(kept regions keep their author; `assay dataset pull` then changes only items with a "
    "new answer).",
)
@click.option(
    "--marking",
    help="Declare the project at least this marking, LEVEL[/COMPARTMENT...] (default: the "
    "highest of its items); users below it cannot learn that it exists.",
)
@click.option(
    "--self-review",
    is_flag=True,
    help="Let a reviewer decide on tasks they answered themselves (off: another reviewer must).",
)
@click.option(
    "--sample",
    type=click.Choice(["uncertainty", "margin", "entropy", "diversity", "random"]),
    help="Active learning: order the queue by this strategy (see README).",
)
@click.option(
    "--embedder",
    type=click.Choice(["auto", "pixels", "minilm"]),
    default="auto",
    show_default=True,
    help="Item embeddings for --sample: image thumbnails, or MiniLM for text (extra 'active').",
)
@click.option(
    "--retrain-every",
    type=int,
    help="Refit the logistic regression and re-order the queue every N answered tasks.",
)
@click.option("--sample-seed", type=int, default=0, show_default=True, help="Seed for --sample.")
@json_option
@pass_env
def create(
    env: Env,
    name: str,
    schema_path: Path,
    dataset_name: str,
    overlap: int,
    adaptive: float | None,
    adaptive_min: int,
    gold: str | None,
    gold_share: float | None,
    gold_min_accuracy: float,
    gold_after: int,
    review: str,
    lease_seconds: float,
    instructions: Path | None,
    title: str | None,
    from_labels: bool,
    sample: str | None,
    embedder: str,
    retrain_every: int | None,
    sample_seed: int,
    marking: str | None,
    self_review: bool,
    as_json: bool,
) -> None:
    """Create project NAME with one task per item of the dataset (its working state, or the
    commit --dataset NAME@REV names)."""
    from pydantic import ValidationError

    from assay.domain.schema import LabelSchema
    from assay.errors import InvalidInput
    from assay.labeling import Workflow, create_project

    schema = LabelSchema.load(schema_path)
    if gold and gold_share == 0.0:  # it was taken as 0.05, unsaid
        raise InvalidInput(
            "--gold-share 0 would never serve the gold tasks (and gold items of the dataset "
            "leave its work pool): give a share such as 0.05, or leave out --gold"
        )
    if gold_share is None:
        gold_share = 0.05 if gold else 0.0
    try:
        wf = Workflow(
            overlap=overlap,
            adaptive=adaptive,
            adaptive_min=adaptive_min,
            gold=gold,
            gold_share=gold_share,
            gold_min_accuracy=gold_min_accuracy,
            gold_after=gold_after,
            review=review,
            lease_seconds=lease_seconds,
            from_labels=from_labels,
            sample=sample or "none",
            embedder=embedder,
            retrain_every=retrain_every,
            sample_seed=sample_seed,
            self_review=self_review,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInput(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
    text = instructions.read_text(encoding="utf-8") if instructions else ""
    ws = env.workspace()
    p = create_project(
        ws, name, schema, dataset_name, wf, instructions=text, title=title, marking=marking
    )
    from assay.labeling import list_projects

    info = next(x for x in list_projects(ws, None) if x["name"] == p.name)
    if as_json:
        env.emit_json(
            {
                **p.to_dict(),
                "tasks": info["task_count"],
                "gold": info["gold_count"],
                "marking": info["marking"],
            }
        )
    else:
        gold_note = f" and {info['gold_count']} gold task(s)" if info["gold_count"] else ""
        env.say(f"created project [bold]{name}[/] with {info['task_count']} task(s){gold_note}")


@project.command("resample")
@click.argument("name")
@json_option
@pass_env
def resample(env: Env, name: str, as_json: bool) -> None:
    """Refit the active-learning model of project NAME and re-order its open tasks now."""
    from assay.labeling.active import resample as run

    r = run(env.workspace(), name)
    if as_json:
        env.emit_json(r.to_dict())
        return
    how = "a logistic regression on embeddings" if r.model_fitted else "k-center diversity"
    if r.strategy == "random":
        how = "a seeded shuffle"
    env.say(
        f"{r.project}: {r.open} open task(s) ordered by {r.strategy} ({how}); "
        f"{r.labelled} answered, {r.classes} class(es) seen"
    )


@project.command("list")
@json_option
@pass_env
def list_(env: Env, as_json: bool) -> None:
    """List projects with their progress."""
    from assay.labeling import list_projects

    rows = list_projects(env.workspace(), None)
    if as_json:
        env.emit_json(rows)
        return
    if not rows:
        env.say("no projects yet; create one with `assay project create`")
        return
    table = Table("project", "dataset", "marking", "tasks", "done", "in progress")
    for r in rows:
        table.add_row(
            r["name"],
            r["dataset"],
            r["marking"],
            str(r["task_count"]),
            str(r["done_count"]),
            str(r["in_progress"]),
        )
    env.console.print(table)


@project.command("status")
@click.argument("name")
@json_option
@pass_env
def status(env: Env, name: str, as_json: bool) -> None:
    """Progress, throughput, annotators, gold accuracy and agreement of project NAME."""
    from assay.labeling import dashboard

    d = dashboard(env.workspace(), None, name)
    if as_json:
        env.emit_json(d)
        return
    gold = f"{d['gold_tasks']} gold task(s), " if d["gold_tasks"] else ""  # counted apart
    env.say(
        f"[bold]{name}[/]: {d['done']}/{d['tasks']} done, {d['in_progress']} in progress, {gold}"
        f"{d['throughput_per_hour']} submissions in the last hour, agreement "
        f"{'-' if d['agreement'] is None else format(d['agreement'], '.1%')}"
    )
    table = Table("annotator", "submitted", "rejected", "mean s", "gold", "gold accuracy", "paused")
    for a in d["annotators"]:
        acc = "-" if a["gold_accuracy"] is None else f"{a['gold_accuracy']:.0%}"
        secs = "-" if a["mean_seconds"] is None else f"{a['mean_seconds']:.1f}"
        paused = "PAUSED" if a["paused"] else ""
        table.add_row(
            a["name"], str(a["submitted"]), str(a["rejected"]), secs, str(a["gold_seen"]), acc,
            paused,
        )  # fmt: skip
    env.console.print(table)
    if d.get("prelabels"):
        pre = Table(
            "model", "pre-labelled", "answered", "pre-labels", "accepted", "edited", "deleted",
            "added",
        )  # fmt: skip
        for m in d["prelabels"]:
            counts = ("prelabelled", "tasks", "regions", "accepted", "edited", "deleted", "added")
            pre.add_row(m["model"], *(str(m[k]) for k in counts))
        env.console.print(pre)


@click.command("pull")
@click.argument("name")
@click.option("--project", "project_name", required=True, help="Project to take labels from.")
@click.option(
    "--labels",
    "mode",
    type=click.Choice(["latest", "reviewed", "consensus"]),
    default="latest",
    show_default=True,
    help="latest: the newest human answer; reviewed: accepted or fixed in review only; "
    "consensus: majority of the answers (boxes clustered by IoU).",
)
@json_option
@pass_env
def pull(env: Env, name: str, project_name: str, mode: str, as_json: bool) -> None:
    """Set dataset NAME's labels of record from a project; then `assay commit`."""
    from assay.labeling.pull import pull as run_pull

    n = run_pull(env.workspace(), name, project_name, mode)
    if as_json:
        env.emit_json({"dataset": name, "project": project_name, "labels": mode, "items": n})
    else:
        env.say(f"set labels of {n} item(s) in {name} from {project_name} ({mode})")


dataset.add_command(pull)

COMMANDS = [project]
