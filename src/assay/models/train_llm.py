"""LoRA fine-tuning of a local language model on a dataset commit, through TRL and PEFT.

`train_llm` takes a base model (a transformers directory, or a registered ``transformers``
causal-LM version), the ``sft`` or ``dpo`` rows of a commit (`assay.models.training_data`),
and trains a LoRA adapter on the CPU (or the GPU when torch sees one), offline: the Hugging
Face libraries run with ``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` and
``HF_DATASETS_OFFLINE`` set and load with ``local_files_only``, so any attempt to reach the
network raises instead of downloading. The adapter directory holds the adapter weights,
the tokenizer, a model card (``README.md``) whose ``datasets`` names ``DATASET@COMMIT``,
and ``lineage.json``; it is registered as a ``peft-adapter`` version with that lineage and
the highest marking of its data and base model. Nothing is registered when anything fails.

Needs the ``train`` extra (transformers, peft, trl, datasets, accelerate; torch first).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput, MissingExtra
from assay.models._directory import LINEAGE_FILE, describe_directory
from assay.models.lineage import CARD_FILE, directory_sha256, hardware, library_versions
from assay.models.llm._offline import go_offline
from assay.models.registry import ModelInfo, add_model, get_model, model_dir, model_marking
from assay.models.training_data import TrainingData, llm_data
from assay.timeutil import now_iso

if TYPE_CHECKING:
    from assay.domain.marking import Marking
    from assay.workspace import Workspace

METHODS = ("sft", "dpo")
LIBRARIES = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "assay")


@dataclass(frozen=True)
class LlmTrainConfig:
    """Hyperparameters of a LoRA run (what the lineage records)."""

    method: str = "sft"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str | None = None  # comma-separated; None: PEFT's default for the model
    epochs: float = 1.0
    max_steps: int | None = None
    learning_rate: float = 2e-4
    batch_size: int = 2
    max_length: int = 512
    beta: float = 0.1  # DPO
    min_agreement: float | None = None  # DPO pairs (the export's threshold)
    seed: int = 0

    def check(self) -> None:
        if self.method not in METHODS:
            raise InvalidInput(f"--method {self.method}: use one of {', '.join(METHODS)}")
        for name in ("lora_r", "lora_alpha", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise InvalidInput("--max-steps must be at least 1")
        if not self.learning_rate > 0 or not self.epochs > 0:
            raise InvalidInput("--lr and --epochs must be positive")


@dataclass
class TrainResult:
    """The registered adapter and what the run measured."""

    model: ModelInfo
    losses: list[float]
    steps: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "losses": self.losses,
            "steps": self.steps,
            "seconds": self.seconds,
        }


def _imports() -> Any:
    go_offline()
    try:
        import datasets
        import peft
        import torch
        import transformers
        import trl
    except ImportError as exc:
        raise MissingExtra(
            f"assay train llm needs the 'train' extra ({exc.name} is missing): install the CPU "
            "build of torch first (pip install torch==2.13.0), then pip install 'assay[train]'"
        ) from None
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    return datasets, peft, torch, transformers, trl


@dataclass
class _Base:
    path: Path
    record: dict[str, Any]
    marking: Marking | None


def _base(ws: Workspace, base: str, clearance: Marking | None) -> _Base:
    path = Path(base)
    if path.is_dir():
        desc = describe_directory(path, None)
        if desc["kind"] != "transformers" or desc["task"] != "causal-lm":
            raise InvalidInput(
                f"{path}: a {desc['kind']} {desc['task']} model; --base needs a transformers "
                "causal language model directory (config.json with a *ForCausalLM architecture)"
            )
        record = {"ref": None, "path": str(path.resolve()), "sha256": directory_sha256(path)}
        return _Base(path, record, None)
    if "@" not in base and ("/" in base or os.sep in base):
        raise InvalidInput(f"--base {base}: no such directory")
    info = get_model(ws, base, clearance)
    if info.kind != "transformers" or info.task != "causal-lm":
        raise InvalidInput(
            f"--base {info.ref}: a {info.kind} {info.task} model; LoRA training needs a "
            "registered transformers causal-lm model"
        )
    record = {"ref": info.ref, "path": None, "sha256": info.sha256}
    return _Base(model_dir(ws, info, clearance), record, ws.scheme.parse(model_marking(ws, info)))


def _card(name: str, data: TrainingData, base: dict[str, Any], lineage: dict[str, Any]) -> str:
    dataset = f"{data.dataset}@{data.commit}"
    base_name = base["ref"] or Path(str(base["path"])).name
    hp = lineage["hyperparameters"]
    return (
        "---\n"
        f"base_model: {base_name}\n"
        "library_name: peft\n"
        "datasets:\n"
        f"- {dataset}\n"
        "tags:\n- assay\n- lora\n"
        f"- {hp['method']}\n"
        f"marking: {lineage['marking']}\n"
        "---\n\n"
        f"# {name}\n\n"
        f"LoRA adapter ({hp['method']}) trained by assay on `{dataset}` "
        f"({data.format} rows: {len(data.rows)}, sha256 {data.sha256}).\n\n"
        f"Base model: `{base_name}` (sha256 {base['sha256']}).\n\n"
        f"Marking: **{lineage['marking']}**.\n\n"
        f"Rank {hp['lora_r']}, alpha {hp['lora_alpha']}, learning rate {hp['learning_rate']}, "
        f"seed {lineage['seed']}. The full record is in `{LINEAGE_FILE}`; check it with "
        "`assay model verify`.\n"
    )


def _seed(torch: Any, transformers: Any, seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    transformers.set_seed(seed)


def _trainer(libs: Any, cfg: LlmTrainConfig, base: Path, data: TrainingData, work: Path) -> Any:
    datasets, peft, torch, transformers, trl = libs
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True)
    targets: str | list[str] | None = None
    if cfg.target_modules == "all-linear":
        targets = "all-linear"
    elif cfg.target_modules:
        targets = [t.strip() for t in cfg.target_modules.split(",") if t.strip()]
    lora = peft.LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    common = {
        "output_dir": str(work),
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps or -1,
        "learning_rate": cfg.learning_rate,
        "per_device_train_batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": True,
        "use_cpu": not torch.cuda.is_available(),
        "dataloader_num_workers": 0,
    }
    rows = datasets.Dataset.from_list(data.rows)
    if cfg.method == "sft":
        config_cls, trainer_cls, extra = trl.SFTConfig, trl.SFTTrainer, {}
    else:
        config_cls, trainer_cls, extra = trl.DPOConfig, trl.DPOTrainer, {"beta": cfg.beta}
    return trainer_cls(
        model=model,
        args=config_cls(**common, **extra, max_length=cfg.max_length),
        train_dataset=rows,
        processing_class=tokenizer,
        peft_config=lora,
    )


def train_llm(
    ws: Workspace,
    base: str,
    data_spec: str,
    out: str,
    cfg: LlmTrainConfig,
    *,
    clearance: Marking | None = None,
    keep: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train a LoRA adapter on `base` with commit `data_spec`'s rows; register it as `out`.

    Args:
        ws: The workspace.
        base: A transformers model directory, or a registered causal-lm ``NAME[@VERSION]``.
        data_spec: ``DATASET@REV`` (a commit; a bare ``DATASET`` is its HEAD). The lineage
            names the commit by id.
        out: The registry name of the adapter.
        cfg: Method and hyperparameters.
        clearance: The acting user's; a base model above it is not found.
        keep: Also copy the adapter directory here (a new or empty folder).
        progress: Called with (step, total steps).

    Raises:
        InvalidInput: a base that is not a causal LM, a commit without the method's data.
        MissingExtra: the ``train`` extra is not installed.
    """
    cfg.check()
    from assay.models.registry import _NAME

    if not _NAME.match(out):
        raise InvalidInput(f"--out {out!r}: use letters, digits, '.', '_' and '-'")
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise InvalidInput(f"{keep}: exists and is not an empty folder; nothing trained")
    b = _base(ws, base, clearance)
    data = llm_data(ws, data_spec, cfg.method, min_agreement=cfg.min_agreement)
    marks = [ws.scheme.parse(data.marking)] + ([b.marking] if b.marking else [])
    marking = ws.scheme.render(ws.scheme.highest(marks))
    libs = _imports()
    torch, transformers = libs[2], libs[3]
    _seed(torch, transformers, cfg.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="assay-train-") as tmp:
        work = Path(tmp)
        trainer = _trainer(libs, cfg, b.path, data, work / "run")
        trainer.remove_callback(transformers.PrinterCallback)  # stdout is the command's
        if progress is not None:
            trainer.add_callback(_progress_callback(transformers, progress))
        trainer.train()
        losses = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
        steps = int(trainer.state.global_step)
        adapter = work / "adapter"
        trainer.model.save_pretrained(str(adapter), safe_serialization=True)
        trainer.processing_class.save_pretrained(str(adapter))
        lineage = {
            "model": {"kind": "peft-adapter", "method": cfg.method, "name": out},
            "base": b.record,
            "data": data.record(),
            "hyperparameters": asdict(cfg),
            "seed": cfg.seed,
            "libraries": library_versions(LIBRARIES),
            "hardware": hardware(),
            "metrics": {
                "steps": steps,
                "loss_first": losses[0] if losses else None,
                "loss_last": losses[-1] if losses else None,
            },
            "marking": marking,
            "created": now_iso(),
            "created_by": ws.actor,
        }
        _write_json(adapter / LINEAGE_FILE, lineage)
        (adapter / CARD_FILE).write_text(_card(out, data, b.record, lineage), encoding="utf-8")
        info = add_model(
            ws,
            out,
            adapter,
            trained_on=f"{data.dataset}@{data.commit}",
            marking=marking,
            lineage=lineage,
        )
        if keep is not None:
            shutil.copytree(adapter, keep, dirs_exist_ok=True)
    return TrainResult(info, losses, steps, time.perf_counter() - started)


def _write_json(path: Path, value: Any) -> None:
    import json

    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _progress_callback(transformers: Any, progress: Callable[[int, int], None]) -> Any:
    class Progress(transformers.TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress(int(state.global_step), int(state.max_steps))

    return Progress()
