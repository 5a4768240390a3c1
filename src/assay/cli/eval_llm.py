"""`assay eval llm` and `assay eval export-inspect`: language-model runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from assay.cli._common import (
    Env,
    endpoint_model_option,
    endpoint_option,
    input_path,
    json_option,
    llm_batch_size_option,
    llm_model_option,
    no_cache_option,
    pass_env,
    path_arg,
    resamples_option,
    timeout_option,
)


@click.command()
@click.argument("task_file", type=input_path(dir_okay=False))
@llm_model_option
@endpoint_option
@endpoint_model_option
@click.option("--samples", type=click.IntRange(min=1), help="Evaluate the first N items only.")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Passes over the items.",
)
@llm_batch_size_option
@click.option("--device", default="cpu", show_default=True, help="Local model device.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Endpoint requests.",
)
@timeout_option
@click.option(
    "--retries", type=click.IntRange(min=0), default=2, show_default=True, help="Endpoint retries."
)
@no_cache_option
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Bootstrap seed."
)
@resamples_option
@click.option("--out", type=path_arg(file_okay=False), required=True, help="New run folder.")
@json_option
@pass_env
def llm(
    env: Env,
    task_file: Path,
    model: str | None,
    endpoint: str | None,
    endpoint_model: str,
    samples: int | None,
    epochs: int,
    batch_size: int,
    device: str,
    concurrency: int,
    timeout: float,
    retries: int,
    no_cache: bool,
    seed: int,
    resamples: int,
    out: Path,
    as_json: bool,
) -> None:
    """Evaluate a language model on TASK_FILE (YAML); keep the run as a record.

    The endpoint's API key, if it needs one, is read from ASSAY_LLM_API_KEY.
    """
    from assay.models.llm import BackendOptions, go_offline

    go_offline()  # before anything imports a Hugging Face library: they read these once
    from assay.cli.eval_runs import _render_summary, warn_empty_slices
    from assay.evaluation.llm import LlmRunSettings, run_llm_eval

    options = BackendOptions(
        batch_size=batch_size,
        device=device,
        endpoint_model=endpoint_model,
        concurrency=concurrency,
        timeout=timeout,
        retries=retries,
        cache=not no_cache,
    )
    settings = LlmRunSettings(samples=samples, epochs=epochs, seed=seed, n_resamples=resamples)
    with env.progress("generating", shown=not as_json) as progress:
        result = run_llm_eval(
            env.workspace(),
            task_file,
            out,
            model=model,
            endpoint=endpoint,
            options=options,
            settings=settings,
            progress=progress,
        )
    warn_empty_slices(env, result)
    unscored = _warn_items_without_target(env, result.record)
    if as_json:
        env.emit_json(
            {
                "path": str(result.path),
                "record": result.record,
                "summary": result.summary,
                "empty_slices": result.empty_slices,
                **unscored,
            }
        )
        return
    _render_summary(env, result.summary, result.path)
    usage = result.record["usage"]
    hits = usage["cache_hits"]
    env.say(
        f"{usage['prompt_tokens']} prompt and {usage['completion_tokens']} completion tokens in "
        f"{usage['seconds']:.1f} s" + (f"; {hits} answers from the cache" if hits else "")
    )


def _warn_items_without_target(env: Env, record: dict[str, Any]) -> dict[str, Any]:
    """A warning on stderr when items of the dataset were left out for want of a target;
    returns the facts for --json."""
    missing = int(record.get("items_without_target") or 0)
    first = record.get("first_item_without_target")
    if missing and first:
        spec = record["llm_task"]["spec"]
        env.err.print(
            f"warning: {missing} item(s) of {record['dataset']['spec']} have no label under "
            f"control {spec['target']!r} and were not scored (first: {first['name']}, item "
            f"{first['item_id'][:12]}); the n shown counts labelled items only",
            markup=False,
        )
    return {"items_without_target": missing, "first_item_without_target": first}


@click.command(name="export-inspect")
@click.argument("run_ref")
@click.option("--out", type=path_arg(dir_okay=False), required=True, help="The .json log file.")
@json_option
@pass_env
def export_inspect(env: Env, run_ref: str, out: Path, as_json: bool) -> None:
    """Write a language-model run as an Inspect AI log (JSON) that Inspect's viewer opens."""
    from assay.evaluation.llm import export_inspect_log
    from assay.evaluation.runs import load_run

    ws = None if Path(run_ref, "run.json").is_file() else env.workspace()
    run = load_run(ws, run_ref)
    export_inspect_log(run, out)
    if as_json:
        env.emit_json({"run_id": run.run_id, "out": str(out)})
    else:
        env.say(f"Inspect AI log written to {out}")
