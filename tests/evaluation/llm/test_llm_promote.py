"""`assay model promote` for a language model: its `assay eval llm` runs are the evidence, and
the paired gate against production is taken on them (same commit, same task file)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llm_eval_world import World, write_task

from assay.evaluation.llm import LlmRunSettings, run_llm_eval
from assay.models import add_model
from llm_world import build_tiny_llama

RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py
SETTINGS = LlmRunSettings(n_resamples=200)


def _words(tiny: Path) -> tuple[int, str, int]:
    """Two token ids of plain words that start differently; the first one's text."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny, local_files_only=True)
    words = [
        (i, tok.decode([i])) for i in range(len(tok)) if re.fullmatch(r"[a-z]{3,}", tok.decode([i]))
    ]
    (a, wa) = words[0]
    b = next(i for i, w in words[1:] if not w.startswith(wa[0]))
    return a, wa, b


def _always(tiny: Path, out: Path, token: int, seed: int) -> Path:
    """A copy of the tiny Llama that answers `token` to every prompt, greedily.

    Attention and MLP outputs are zeroed, so the last hidden state is the (shared) token
    embedding after the final norm, whatever the prompt; the output head scores only
    `token` against it. `seed` varies weights that do not reach the output, so versions differ.
    """
    import torch
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(tiny, local_files_only=True)
    torch.manual_seed(seed)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
            layer.self_attn.q_proj.weight.normal_()
        model.model.embed_tokens.weight.fill_(1.0)
        model.model.norm.weight.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[token].fill_(1.0)
    shutil.copytree(tiny, out)
    model.save_pretrained(out, safe_serialization=True)
    return out


def test_language_model_promotion_gates_on_llm_runs(cli: RunCli, world: World) -> None:
    tiny = build_tiny_llama(world.root / "tiny", tokenizer="bytes")
    good_tok, good_word, bad_tok = _words(tiny)
    ws, wsdir = world.ws, world.root / "ws"
    # The scorer credits the word the production model says: a planted regression below.
    task = write_task(
        world.root,
        "says",
        scorers=[{"name": "regex", "pattern": "^\\s*" + re.escape(good_word)}],
        generation={"max_new_tokens": 2},
    )
    refs = {}
    for tag, token, seed in (("prod", good_tok, 1), ("same", good_tok, 2), ("worse", bad_tok, 3)):
        refs[tag] = add_model(ws, "says-llm", _always(tiny, world.root / tag, token, seed)).ref
    assert refs == {"prod": "says-llm@1", "same": "says-llm@2", "worse": "says-llm@3"}

    def promote(ref: str, stage: str, code: int = 0) -> Any:
        return cli("model", "promote", ref, "--stage", stage, "--json", cwd=wsdir, code=code)

    # No run yet: the refusal names the language-model evaluation to record.
    err = promote(refs["prod"], "production", code=1).stderr
    assert "no recorded language-model evaluation run" in err and "assay eval llm" in err
    runs = {
        tag: run_llm_eval(ws, task, world.root / f"run-{tag}", model=ref, settings=SETTINGS)
        for tag, ref in refs.items()
    }
    assert runs["prod"].summary["slices"]["all"]["metrics"]["regex"]["value"] == 1.0
    assert runs["worse"].summary["slices"]["all"]["metrics"]["regex"]["value"] == 0.0
    first = promote(refs["prod"], "production").json()
    assert first["run"] == runs["prod"].run_id and first["gate"] is None

    # Answers as production does: the paired gate on the LLM runs passes, no --force.
    same = promote(refs["same"], "staging").json()
    assert (same["run"], same["baseline"], same["baseline_run"]) == (
        runs["same"].run_id,
        refs["prod"],
        runs["prod"].run_id,
    )
    assert same["gate"]["passed"] and same["gate"]["metric"] == "regex" and not same["forced"]

    # Wrong on every item where production is right: the gate fails, nothing is promoted.
    err = promote(refs["worse"], "staging", code=1).stderr
    assert "gate failed" in err and f"worse than production {refs['prod']}" in err
    listed = {m["ref"]: m for m in cli("model", "list", "--json", cwd=wsdir).json()}
    assert listed[refs["worse"]]["stage"] == "candidate"
    assert listed[refs["same"]]["stage"] == "staging"

    # A run of another task file on the same commit is no pair for production's run.
    other = write_task(world.root, "other", scorers=["exact"], generation={"max_new_tokens": 2})
    extra = add_model(ws, "says-llm", _always(tiny, world.root / "extra", good_tok, 4)).ref
    run_llm_eval(ws, other, world.root / "run-extra", model=extra, settings=SETTINGS)
    err = promote(extra, "staging", code=1).stderr
    assert f"no run of production model {refs['prod']} with the same task file" in err
