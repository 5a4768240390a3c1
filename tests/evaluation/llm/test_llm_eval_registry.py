"""`--model NAME@VERSION`: registered causal language models (a transformers directory, a
PEFT adapter on its registered base) evaluate like directories, with the registry's id,
hash, lineage and marking in the run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from llm_eval_world import World, write_task

from assay.errors import InvalidInput, NotFound
from assay.evaluation.llm import LlmRunSettings, run_llm_eval
from assay.models import add_model
from llm_world import build_tiny_llama

SETTINGS = LlmRunSettings(samples=4, n_resamples=50)


def _lora(base: Path, out: Path) -> Path:
    """A LoRA adapter on `base` as PEFT saves it; B starts at zero, so it answers as the base."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    cfg = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(model, cfg).save_pretrained(out)
    AutoTokenizer.from_pretrained(base, local_files_only=True).save_pretrained(out)
    return out


def test_registered_model_and_adapter(world: World) -> None:
    tiny = build_tiny_llama(world.root / "tiny", tokenizer="bytes")
    ws = world.ws
    base = add_model(ws, "flood-llm", tiny, marking="CUI")
    adapter = add_model(
        ws, "flood-lora", _lora(tiny, world.root / "lora"), lineage={"base": {"ref": base.ref}}
    )
    task = write_task(world.root, "qa", generation={"max_new_tokens": 5})
    a = run_llm_eval(ws, task, world.root / "a", model="flood-llm@1", settings=SETTINGS)
    m = a.record["model"]
    assert (m["kind"], m["ref"], m["model_id"], m["sha256"]) == (
        "transformers",
        "flood-llm@1",
        base.id,
        base.sha256,
    )
    # The model's marking reaches the run: its outputs derive from it.
    assert a.record["dataset"]["marking"] == "CUI"
    b = run_llm_eval(ws, task, world.root / "b", model="flood-lora", settings=SETTINGS)
    mb = b.record["model"]
    assert mb["kind"] == "peft-adapter" and mb["model_id"] == adapter.id
    assert mb["base"]["sha256"] is not None
    assert b.record["usage"]["cache_misses"] == 4  # another identity than the base's
    outs_a = pd.read_parquet(a.path / "samples.parquet")["output"].tolist()
    outs_b = pd.read_parquet(b.path / "samples.parquet")["output"].tolist()
    assert outs_b == outs_a


def test_unknown_or_unsuitable_registered_model(world: World) -> None:
    task = write_task(world.root, "qa")
    with pytest.raises(NotFound, match="no registered model of that name"):
        run_llm_eval(world.ws, task, world.root / "x", model="nope@3", settings=SETTINGS)
    preds = world.root / "p.csv"
    preds.write_text("item,flood,dry\na,0.9,0.1\n")
    add_model(world.ws, "flood-clf", preds)
    with pytest.raises(InvalidInput, match="text generation needs a causal language model"):
        run_llm_eval(world.ws, task, world.root / "y", model="flood-clf", settings=SETTINGS)
    assert not (world.root / "x").exists() and not (world.root / "y").exists()
