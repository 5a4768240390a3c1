"""`assay train llm|classifier`: models trained on a dataset commit, registered with lineage."""

from __future__ import annotations

from pathlib import Path

import click

from assay.cli._common import Env, json_option, pass_env
from assay.cli.models import as_option, clearance_of


@click.group(name="train")
def train() -> None:
    """Train models on a dataset commit; the result is registered with its lineage."""


data_option = click.option(
    "--data",
    required=True,
    help="Dataset commit, NAME@REV (a bare NAME is its HEAD; the lineage names the commit).",
)


@train.command()
@click.option(
    "--base",
    required=True,
    help="Base model: a transformers causal-LM directory, or a registered NAME[@VERSION].",
)
@data_option
@click.option(
    "--method",
    type=click.Choice(["sft", "dpo"]),
    default="sft",
    show_default=True,
    help="sft: prompt/completion rows (text answers); dpo: preference pairs.",
)
@click.option("--out", "out", required=True, help="Registry name of the adapter.")
@click.option(
    "--lora-r", type=click.IntRange(min=1), default=16, show_default=True, help="LoRA rank."
)
@click.option(
    "--lora-alpha", type=click.IntRange(min=1), default=32, show_default=True, help="LoRA alpha."
)
@click.option(
    "--lora-dropout",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Dropout on the LoRA layers' input while training.",
)
@click.option(
    "--target-modules",
    help="Modules to adapt, comma-separated (default: PEFT's for the architecture; "
    "'all-linear' for every linear layer).",
)
@click.option(
    "--epochs",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Passes over the training rows (a fraction stops part-way).",
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    help="Stop after this many steps (overrides --epochs).",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=2e-4,
    show_default=True,
    help="Learning rate.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Training rows per step.",
)
@click.option(
    "--max-length",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Tokens per row.",
)
@click.option(
    "--beta",
    type=click.FloatRange(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="DPO's beta.",
)
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1),
    help="DPO: drop preference pairs annotators agree on less (the export's default 0.75).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random seed of the adapter's initialisation and the row order.",
)
@click.option(
    "--save",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write the adapter directory here (a new or empty folder).",
)
@as_option
@json_option
@pass_env
def llm(
    env: Env,
    base: str,
    data: str,
    method: str,
    out: str,
    lora_r: int,
    lora_alpha: int,
    lora_dropout: float,
    target_modules: str | None,
    epochs: float,
    max_steps: int | None,
    lr: float,
    batch_size: int,
    max_length: int,
    beta: float,
    min_agreement: float | None,
    seed: int,
    save: Path | None,
    as_user: str | None,
    as_json: bool,
) -> None:
    """Fine-tune a language model with LoRA (TRL + PEFT) on a dataset commit, offline.

    Writes the adapter, a model card naming the commit and lineage.json, and registers
    the adapter as model OUT, marked with the highest marking of its data and base.
    """
    from assay.models.train_llm import LlmTrainConfig, train_llm

    cfg = LlmTrainConfig(
        method=method,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=target_modules,
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=lr,
        batch_size=batch_size,
        max_length=max_length,
        beta=beta,
        min_agreement=min_agreement,
        seed=seed,
    )
    ws = env.workspace()
    with env.progress(f"training {out}", shown=not as_json) as progress:
        result = train_llm(
            ws,
            base,
            data,
            out,
            cfg,
            clearance=clearance_of(env, as_user),
            keep=save,
            progress=progress,
        )
    if as_json:
        env.emit_json(result.to_dict())
        return
    info = result.model
    first = f"{result.losses[0]:.3f}" if result.losses else "-"
    last = f"{result.losses[-1]:.3f}" if result.losses else "-"
    env.say(
        f"model {info.ref}: LoRA {method} adapter, {result.steps} steps in "
        f"{result.seconds:.1f} s, loss {first} -> {last}, trained on {info.trained_on_spec}, "
        f"marked {info.marking}"
    )


@train.command()
@data_option
@click.option("--out", "out", required=True, help="Registry name of the classifier.")
@click.option(
    "--embedder",
    type=click.Choice(["auto", "minilm", "pixels"]),
    default="auto",
    show_default=True,
    help="minilm: MiniLM sentence embeddings (text); pixels: grey thumbnails (images); "
    "auto: by the items' media.",
)
@click.option(
    "--c",
    "c",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Inverse L2 strength.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random seed of the regression's solver.",
)
@json_option
@pass_env
def classifier(
    env: Env, data: str, out: str, embedder: str, c: float, seed: int, as_json: bool
) -> None:
    """Fit a logistic-regression head on embeddings of a commit's labelled items.

    Each item with one class answer of record is a row; the head is registered as model
    OUT (an embedding-head directory) with the lineage of the commit.
    """
    from assay.models.train_classifier import train_classifier

    result = train_classifier(env.workspace(), data, out, embedder=embedder, c=c, seed=seed)
    if as_json:
        env.emit_json(result.to_dict())
        return
    info = result.model
    cv = f", cross-validated {result.cv_accuracy:.3f}" if result.cv_accuracy is not None else ""
    env.say(
        f"model {info.ref}: {info.details.get('embedder')} embeddings + logistic regression on "
        f"{result.rows} items of {info.trained_on_spec}, training accuracy "
        f"{result.train_accuracy:.3f}{cv}, marked {info.marking}"
    )
