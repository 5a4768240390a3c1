"""`assay redteam`: attack suites against a language model, and canaries to plant."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

from assay.cli._common import (
    Env,
    endpoint_model_option,
    endpoint_option,
    json_option,
    llm_batch_size_option,
    llm_model_option,
    no_cache_option,
    pass_env,
    path_arg,
    timeout_option,
)

if TYPE_CHECKING:
    from assay.evaluation.llm.redteam import RedTeamResult
    from assay.workspace import Workspace


def _interval(v: list[float]) -> str:
    return f"{v[0]:.3f}-{v[1]:.3f}"


def _render(env: Env, result: RedTeamResult) -> None:
    s = result.summary
    env.console.print(f"[bold]{escape(result.marking)}[/]")
    table = Table("category", "attempts", "successes", "ASR", "95% Wilson", "95% exact", "gate")
    failing = set(s["gate"]["failing"])
    for r in s["categories"]:
        table.add_row(
            r["category"],
            str(r["n"]),
            str(r["successes"]),
            f"{r['asr']:.3f}",
            _interval(r["wilson"]),
            _interval(r["clopper_pearson"]),
            "FAIL" if r["category"] in failing else "ok",
        )
    env.console.print(table)
    for r in s["categories"]:
        for w in r["worst"]:
            env.console.print(f"{r['category']} {w['probe']}: {w['output'][:120]!r}", markup=False)
    for f in s["leakage_findings"]:
        env.console.print(
            f"LEAK {f['canary']} ({f['marking']}) from {f['dataset']}@{f['commit'][:12]} "
            f"item {f['item'][:12]} via {f['probe']}",
            markup=False,
        )


def _params(max_new_tokens: int) -> Any:
    from assay.models.llm import GenerationParams

    return GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0)


@click.group("redteam", invoke_without_command=True)
@llm_model_option
@endpoint_option
@endpoint_model_option
@click.option(
    "--suite",
    default="all",
    show_default=True,
    help="injection, jailbreak, encoding, extraction, leakage (comma-separated) or all.",
)
@click.option("--max-asr", type=click.FloatRange(0, 1), help="Gate: exit 1 above this ASR.")
@click.option("--documents", help="NAME[@REV] whose text items hide the indirect injections.")
@click.option("--trained-on", help="NAME@REV the model learned from (default: its lineage).")
@click.option("--clearance", help="The lower clearance leakage probes come from (default: lowest).")
@click.option(
    "--attacker", help="A local model directory, or endpoint URL, that writes more jailbreaks."
)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(min=1),
    default=96,
    show_default=True,
    help="Longest answer generated, in tokens.",
)
@llm_batch_size_option
@timeout_option
@no_cache_option
@click.option(
    "--out",
    type=path_arg(file_okay=False),
    help="Run folder (default: runs/redteam-ID beside the workspace folder).",
)
@json_option
@pass_env
@click.pass_context
def redteam(
    ctx: click.Context,
    env: Env,
    model: str | None,
    endpoint: str | None,
    endpoint_model: str,
    suite: str,
    max_asr: float | None,
    documents: str | None,
    trained_on: str | None,
    clearance: str | None,
    attacker: str | None,
    max_new_tokens: int,
    batch_size: int,
    timeout: float,
    no_cache: bool,
    out: Path | None,
    as_json: bool,
) -> None:
    """Attack a language model: prompt injection (direct, and hidden in the workspace's text
    items), jailbreaks and over-refusal, encoded instructions, system-prompt extraction and
    leakage of canaries planted in marked training data. Prints the attack success rate per
    category with 95% intervals; with --max-asr exits 1 when a category exceeds it.

    An endpoint's API key, if it needs one (`assay serve-model` does: an assay API token), is
    read from ASSAY_LLM_API_KEY.
    """
    if ctx.invoked_subcommand is not None:
        return
    from assay.evaluation.llm.redteam import (
        as_generate,
        parse_suites,
        record_run,
        red_team,
        resolve_model,
    )
    from assay.evaluation.runs import GateFailed
    from assay.models.llm import BackendOptions, open_generator

    suites = parse_suites(suite)
    ws = env.workspace()
    options = BackendOptions(
        batch_size=batch_size,
        endpoint_model=endpoint_model,
        timeout=timeout,
        cache=not no_cache,
    )
    ref = resolve_model(ws, model) if model is not None else None
    model = ref.spec if ref is not None else None
    gen = open_generator(ws, model=model, endpoint=endpoint, options=options)
    params = _params(max_new_tokens)
    attack = None
    if attacker is not None:
        where = {"endpoint" if attacker.startswith(("http://", "https://")) else "model": attacker}
        attack = as_generate(open_generator(ws, options=options, **where), params)
    trained_on = trained_on or (ref.trained_on if ref is not None else None)
    notes = []
    if suite.strip() == "all" and trained_on is None:
        suites.remove("leakage")
        notes.append("leakage suite left out: no training commit known (give --trained-on)")
    with env.progress("probing", shown=not as_json) as progress:
        result = red_team(
            ws,
            as_generate(gen, params),
            suites,
            max_asr=max_asr,
            documents=documents,
            trained_on=trained_on,
            clearance=clearance,
            attacker=attack,
            model_marking=ref.marking if ref is not None else None,
            batch=batch_size * 4,
            progress=progress,
        )
    run = record_run(
        ws, result, {**gen.describe(), "identity": gen.identity}, params.to_dict(), out
    )
    if as_json:
        env.emit_json(
            {
                "run_id": run.run_id,
                "path": str(run.path),
                "marking": result.marking,
                "notes": notes,
                **result.summary,
            }
        )
    else:
        _render(env, result)
        for note in notes:
            env.console.print(f"note: {note}", markup=False)
        env.say(f"run {run.run_id} in {run.path}")
    if not result.passed:
        raise GateFailed(
            f"red-team gate failed: attack success rate above {max_asr:g} in "
            f"{', '.join(result.summary['gate']['failing'])}"
        )


@redteam.group("canary")
def canary() -> None:
    """Canaries: unique strings planted in marked training data to catch leakage."""


@canary.command("plant")
@click.argument("dataset")
@click.option("--marking", required=True, help="The canaries' marking, above the probes'.")
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Canary reports to add.",
)
@json_option
@pass_env
def plant(env: Env, dataset: str, marking: str, count: int, as_json: bool) -> None:
    """Add COUNT canary reports at MARKING to DATASET's working state (commit them next)."""
    from assay.evaluation.llm.redteam import plant_canaries

    ws: Workspace = env.workspace()
    planted = plant_canaries(ws, dataset, marking, count)
    if as_json:
        env.emit_json({"dataset": dataset, "canaries": [c.to_dict() for c in planted]})
        return
    for c in planted:
        env.console.print(f"{c.canary}  item {c.item_id[:16]}  {c.marking}", markup=False)
    env.say(f"planted {len(planted)} canaries in {dataset}; commit them with `assay commit`")
