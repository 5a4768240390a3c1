"""`assay eval run|show|compare|gate`: evaluation runs as records.

The lead attaches these commands to the `eval` group, e.g. ``eval_group.add_command(run)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assay.cli._common import (
    Env,
    alpha_option,
    cluster_option,
    folding_table,
    input_path,
    json_option,
    max_drop_option,
    pass_env,
    path_arg,
    resamples_option,
    utc_minute,
)
from assay.errors import InvalidInput

if TYPE_CHECKING:
    from assay.evaluation.runs import EvalRun


def _csv(text: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in text.split(",") if v.strip()) if text else None


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidInput(f"{option}: expected comma-separated integers, got {text!r}") from None


def _floats(text: str, option: str) -> tuple[float, ...]:
    def one(v: str) -> float:
        num, _, den = v.partition("/")
        return float(num) / float(den) if den else float(num)

    try:
        return tuple(one(v.strip()) for v in text.split(",") if v.strip())
    except (ValueError, ZeroDivisionError):
        raise InvalidInput(f"{option}: expected numbers like 0,1/255,0.01, got {text!r}") from None


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _render_summary(env: Env, summary: dict[str, Any], path: Path) -> None:
    env.console.print(f"run {summary['run_id']} ({summary['task']}) in {path}", markup=False)
    metrics = list(summary["headline"])
    # Slice names ("metadata.district=north") stay whole: cut to "…", two slices read alike.
    table = folding_table("slice", "n", *metrics, whole=("slice",))
    for name, entry in summary["slices"].items():
        cells = [
            f"{_f(m['value'])} [{_f(m['low'])}, {_f(m['high'])}]"
            for m in (entry["metrics"][k] for k in metrics)
        ]
        table.add_row(name, str(entry["n"]), *cells)
    env.console.print(table)
    c = summary.get("corruptions")
    if c:
        env.console.print(
            f"corruptions ({c['metric']}): mPC {_f(c['mPC'])}, rPC {_f(c['rPC'])}, "
            f"mCE {_f(c['mCE'])}, relative mCE {_f(c['relative_mCE'])}",
            markup=False,
        )
    a = summary.get("adversarial")
    if a:
        if a["status"] != "ok":
            env.console.print(f"adversarial: {a['reason']}", markup=False)
        else:
            rows = ", ".join(f"eps {r['epsilon']:.4f}: {r['accuracy']:.3f}" for r in a["rows"])
            env.console.print(f"adversarial ({a['attack']}): {rows}", markup=False)


@click.command()
@click.option("--dataset", help="NAME@REV to evaluate on (a bare NAME is its HEAD).")
@click.option(
    "--predictions",
    type=input_path(dir_okay=False),
    help="COCO results JSON, or CSV/Parquet of class probabilities.",
)
@click.option("--model", "model_spec", help="A registered model, NAME or NAME@VERSION.")
@click.option("--slices", type=input_path(dir_okay=False), help="slices.yaml.")
@click.option(
    "--suite",
    default="clean",
    show_default=True,
    help="Comma-separated: clean, corruptions, adversarial.",
)
@click.option("--corruptions", help="Limit the corruptions suite, e.g. fog,gaussian_noise.")
@click.option(
    "--severities", default="1,2,3,4,5", show_default=True, help="Corruption severities (1-5)."
)
@click.option(
    "--epsilons",
    default="0,1/255,2/255,4/255,8/255",
    show_default=True,
    help="Adversarial L-inf budgets (inputs in [0, 1]).",
)
@click.option(
    "--attack",
    type=click.Choice(["pgd", "fgsm"]),
    default="pgd",
    show_default=True,
    help="Adversarial attack.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of corruptions, bootstrap, attack.",
)
@resamples_option
@click.option(
    "--score-threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Detection: score at which a box counts for F1.",
)
@click.option("--baseline", help="A run (folder or id) for mean corruption error.")
@click.option("--rerun", "rerun_dir", help="Repeat this recorded run (folder or id).")
@click.option("--out", type=path_arg(file_okay=False), required=True, help="New run folder.")
@click.option("--no-report", is_flag=True, help="Skip report.html.")
@cluster_option
@click.option(
    "--as",
    "as_user",
    help="Run as this user (the run's actor): they must be cleared for the model's marking "
    "and the commit's; a refusal is audited. Default: the workspace owner.",
)
@json_option
@pass_env
def run(
    env: Env,
    dataset: str | None,
    predictions: Path | None,
    model_spec: str | None,
    slices: Path | None,
    suite: str,
    corruptions: str | None,
    severities: str,
    epsilons: str,
    attack: str,
    seed: int,
    resamples: int,
    score_threshold: float,
    baseline: str | None,
    rerun_dir: str | None,
    out: Path,
    no_report: bool,
    cluster: str | None,
    as_user: str | None,
    as_json: bool,
) -> None:
    """Evaluate a model or prediction file on a dataset commit; keep the run as a record."""
    from assay.evaluation.runs import RunSettings, rerun, run_evaluation
    from assay.labeling.users import get_user

    ws = env.workspace()
    user = None
    if as_user:
        with ws.db.read() as conn:
            user = get_user(ws, conn, as_user)
    reproduced = None
    with env.progress("evaluating", shown=not as_json) as progress:
        if rerun_dir:
            result, reproduced = rerun(
                ws, rerun_dir, out, cluster=cluster, user=user, progress=progress
            )
        else:
            if not dataset:
                raise InvalidInput("--dataset NAME@REV is required (or --rerun RUN)")
            settings = RunSettings(
                suites=_csv(suite) or ("clean",),
                corruptions=_csv(corruptions),
                severities=_ints(severities, "--severities"),
                seed=seed,
                epsilons=_floats(epsilons, "--epsilons"),
                attack=attack,
                n_resamples=resamples,
                score_threshold=score_threshold,
            )
            result = run_evaluation(
                ws,
                dataset,
                out,
                predictions=predictions,
                model=model_spec,
                slices=slices,
                settings=settings,
                baseline=baseline,
                report=not no_report,
                cluster=cluster,
                user=user,
                progress=progress,
            )
    warn_empty_slices(env, result)
    if as_json:
        env.emit_json(
            {
                "path": str(result.path),
                "record": result.record,
                "summary": result.summary,
                "reproduced": reproduced,
                "empty_slices": result.empty_slices,
            }
        )
        return
    _render_summary(env, result.summary, result.path)
    if reproduced is not None:
        env.say(
            "reproduced: every number matches the original run"
            if reproduced
            else "NOT reproduced: numbers differ from the original run"
        )


def warn_empty_slices(env: Env, run: EvalRun) -> None:
    """A warning on stderr per slice of `run` that holds no item. Not an error: a slice may
    hold no item of one commit and items of the next."""
    spec = run.record["dataset"]["spec"]
    for name in run.empty_slices:
        if run.task == "llm":
            field = name.removeprefix("metadata.")
            has = "metadata field" if name.startswith("metadata.") else "field"
            env.err.print(
                f"warning: slice {name} matches no item of {spec}: no item evaluated has a "
                f"value for the {has} {field!r}, so its n is 0; check slice_by in "
                f"{run.record['llm_task']['file']}",
                markup=False,
            )
            continue
        where: dict[str, Any] = next(
            (s["where"] for s in run.record["slices"] if s["name"] == name), {}
        )
        query = ", ".join(f"{k}={v}" for k, v in where.items())
        why = "check its query in the slices file"
        if run.task == "detection" and "object_size" in where:
            # COCO scores nothing else of a size: no box of it is nothing to score, not a typo.
            why = f"none has a {where['object_size']} box, in its ground truth or the detections"
        env.err.print(
            f"warning: slice {name} ({query}) matches no item of {spec}, so its n is 0; {why}",
            markup=False,
        )


@click.command()
@click.argument("run_ref")
@click.option("--html", "html_out", type=path_arg(dir_okay=False), help="Write the report here.")
@json_option
@pass_env
def show(env: Env, run_ref: str, html_out: Path | None, as_json: bool) -> None:
    """Show a run (folder or id); --html writes its self-contained report."""
    from assay.evaluation.runs import load_run, render_report

    ws = None if Path(run_ref, "run.json").is_file() else env.workspace()
    result = load_run(ws, run_ref)
    if html_out is not None:
        html_out.write_text(render_report(result.record, result.summary), encoding="utf-8")
    if as_json:
        env.emit_json(
            {"path": str(result.path), "record": result.record, "summary": result.summary}
        )
        return
    _render_summary(env, result.summary, result.path)
    if html_out is not None:
        env.say(f"report written to {html_out}")


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option(
    "--resamples", type=click.IntRange(min=1), help="Bootstrap resamples (default: run A's)."
)
@json_option
@pass_env
def compare(env: Env, run_a: str, run_b: str, resamples: int | None, as_json: bool) -> None:
    """Paired tests of RUN_B against RUN_A on shared items, per slice and corruption."""
    from assay.evaluation.runs import compare_runs

    ws = env.workspace()
    with env.progress("comparing", shown=not as_json) as progress:
        res = compare_runs(ws, run_a, run_b, n_resamples=resamples, progress=progress)
    if as_json:
        env.emit_json(res)
        return
    # Related values share a cell, so that slice names and numbers stay whole at 80 columns.
    table = folding_table(
        "group", "n", "metric\ntest", "A", "B", "B - A\ninterval", "p",
        whole=("group", "n", "A", "B", "p"),
    )  # fmt: skip
    for kind in ("slices", "corruptions"):
        for name, entry in res[kind].items():
            if entry["n"] == 0:  # shown, not left out of the table: it compares nothing
                shown = name if kind == "slices" else f"corruption:{name}"
                table.add_row(shown, "0", "empty", "-", "-", "-", "-")
            for metric, t in entry["tests"].items():
                interval = f"\n[{_f(t.get('low'))}, {_f(t.get('high'))}]" if "low" in t else ""
                table.add_row(
                    name if kind == "slices" else f"corruption:{name}",
                    str(entry["n"]),
                    f"{metric}\n{t['test']}",
                    _f(t.get("a")),
                    _f(t.get("b")),
                    _f(t["difference"]) + interval,
                    _f(t["p_value"]),
                )
        if kind == "slices":  # one name, two queries: shown, not left out; the note says why
            for name in res.get("not_compared") or {}:
                table.add_row(name, "-", "not compared", "-", "-", "-", "-")
    env.console.print(table)
    say_membership(env, res)


def say_membership(env: Env, res: dict[str, Any]) -> None:
    """A note on stderr when the runs were scored under other versions of the metric
    definitions, per empty slice (it compares nothing), per slice compared on fewer items than
    either run put in it, and per slice the runs define with different queries (not
    compared)."""
    from assay.evaluation.runs._compare import versions_text

    versions = res.get("metric_versions") or {"same": True}
    if not versions["same"]:
        env.err.print(
            f"note: {versions_text(versions, 'run A', 'run B')}: their slices and metrics are "
            "defined differently, so the numbers differ by the definitions as well as by the "
            "models (`assay eval run --rerun RUN` scores a run again under the current ones)",
            markup=False,
        )
    # Items in a slice in one run alone: their commits label them differently, or the rules
    # of their metric versions slice them differently.
    why = "their commits label or slice them differently"
    if not versions["same"]:
        why = "their commits, or their metric versions' slice rules, put them there"
    for name, entry in res["slices"].items():
        if entry["n"] == 0:
            env.err.print(
                f"note: slice {name} is empty: no item both runs evaluated is in it, so it "
                "compares nothing",
                markup=False,
            )
        m = entry.get("membership") or {}
        if m.get("rule") == "both runs" and (m["only_a"] or m["only_b"]):
            env.err.print(
                f"note: slice {name}: {m['only_a']} item(s) in it in run A only and "
                f"{m['only_b']} in run B only ({why}) "
                f"are left out; compared on the {entry['n']} in it in both runs",
                markup=False,
            )
    for name, why in (res.get("not_compared") or {}).items():
        env.err.print(f"note: slice {name} not compared: {why}", markup=False)


@click.command()
@click.option("--baseline", required=True, help="The reference run (folder or id).")
@click.option("--candidate", required=True, help="The run to check (folder or id).")
@max_drop_option(required=True)
@click.option("--slice", "slices", multiple=True, help="Gate only these slices (repeatable).")
@click.option(
    "--metric",
    help="accuracy / macro_f1 (classification), AP / F1 (detection); default: the "
    "baseline's primary metric.",
)
@alpha_option
@click.option(
    "--resamples", type=click.IntRange(min=1), help="Bootstrap resamples (default: the baseline's)."
)
@json_option
@pass_env
def gate(
    env: Env,
    baseline: str,
    candidate: str,
    max_drop: float,
    slices: tuple[str, ...],
    metric: str | None,
    alpha: float,
    resamples: int | None,
    as_json: bool,
) -> None:
    """Exit 1 when the candidate drops more than --max-drop, significantly, on any slice.

    Both runs must have evaluated the same dataset commit.
    """
    from assay.evaluation.runs import GateFailed
    from assay.evaluation.runs import gate as run_gate

    ws = env.workspace()
    with env.progress("gating", shown=not as_json) as progress:
        res = run_gate(
            ws,
            baseline,
            candidate,
            max_drop=max_drop,
            slices=list(slices) or None,
            metric=metric,
            alpha=alpha,
            n_resamples=resamples,
            progress=progress,
        )
    if as_json:
        env.emit_json(res.to_dict())
    else:
        table = folding_table(
            "slice",
            "n",
            res.metric + " baseline",
            "candidate",
            "drop",
            "p",
            "result",
            whole=("slice", "n", "drop", "p"),
        )
        for r in res.rows:
            table.add_row(
                r.slice,
                str(r.n),
                _f(r.baseline),
                _f(r.candidate),
                _f(r.drop),
                _f(r.p_value),
                r.result,
            )
        env.console.print(table)
        for r in res.rows:
            if r.note:  # the table says `empty`, `undefined` or `not compared`; the note why
                env.err.print(f"note: {r.note}", markup=False)
    if not res.passed:
        raise GateFailed(
            f"gate failed: {res.metric} dropped by more than {max_drop:g} (p < {alpha:g}) on "
            f"slice(s) {', '.join(res.failing)}"
        )


@click.command(name="list")
@click.option("--model", "model", help="Only runs of this model: NAME (any version) or NAME@V.")
@click.option("--dataset", help="Only runs on this dataset: NAME, or NAME@COMMIT (a prefix).")
@json_option
@pass_env
def list_cmd(env: Env, model: str | None, dataset: str | None, as_json: bool) -> None:
    """Recorded runs, newest first: which model was evaluated on which dataset commit."""
    from rich.markup import escape

    from assay.evaluation.runs import list_runs

    rows = list_runs(env.workspace(), model=model, dataset=dataset)
    if as_json:
        env.emit_json(rows)
        return
    # Related values share a cell (as in `model list`): ids and commits stay whole at 80 columns.
    run_col, data_col = "run\ncreated", "dataset@commit\nmarking"
    table = folding_table(run_col, "model\ntask", data_col, "headline", whole=(run_col, data_col))
    for r in rows:
        table.add_row(
            f"{r['run_id'][:12]}\n{utc_minute(r['created'])}",
            f"{r['model_ref']}\n{r['task']}",
            f"{r['dataset']}@{r['commit'][:12]}\n{r['marking'] or '-'}",
            "\n".join(f"{k} {_f(v)}" for k, v in r["headline"].items()),
        )
    env.console.print(table)
    if not rows:
        wanted = " and ".join(
            f"{what} {value}" for what, value in (("model", model), ("dataset", dataset)) if value
        )
        of = f" of {escape(wanted)}" if wanted else ""
        env.say(f"no runs{of} yet: `assay eval run` makes one")


COMMANDS = [run, show, compare, gate, list_cmd]
