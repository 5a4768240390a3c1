"""A LoRA adapter registered with `assay model add`: its base model is recorded with its
sha256, checked to fit the adapter, and checked again whenever the adapter is loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assay.errors import InvalidInput
from assay.models import add_model, get_model
from assay.models.lineage import verify_model
from assay.models.serving import resolve_target
from assay.workspace import Workspace
from llm_world import build_tiny_llama


def _adapter(base: Path, out: Path) -> Path:
    """A LoRA adapter (rank 4, on q_proj and v_proj) made on `base`, untrained."""
    import peft
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True)
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, task_type="CAUSAL_LM"))
    lora.save_pretrained(str(out), safe_serialization=True)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    base = build_tiny_llama(root / "base")
    wider = build_tiny_llama(root / "wider", hidden=48)  # another size of the same model
    return {"base": base, "wider": wider, "adapter": _adapter(base, root / "adapter")}


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_a_base_given_by_path_is_recorded_and_checked_when_the_adapter_loads(
    ws: Workspace, tmp_path: Path, models: dict[str, Path]
) -> None:
    # The base given by path was not checked at all: an adapter registered by `model add`
    # had no base recorded (it could not be served), and one trained on a folder was loaded
    # on whatever that folder held by then.
    base = _copy(models["base"], tmp_path / "base")
    info = add_model(ws, "hazard-lora", models["adapter"], base=str(base))
    recorded = info.details["base"]
    assert recorded["path"] == str(base.resolve()) and recorded["ref"] is None
    assert len(recorded["sha256"]) == 64 and recorded["model_type"] == "llama"
    target = resolve_target(ws, "hazard-lora")
    assert target.path == base.resolve() and target.adapter is not None
    # The base's files changed (a config edited in place): refused, naming both hashes.
    cfg = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**cfg, "rope_theta": 5.0}))
    with pytest.raises(InvalidInput, match=r"its base model .*base changed since the adapter") as e:
        resolve_target(ws, "hazard-lora")
    assert recorded["sha256"][:12] in str(e.value) and "--base" in str(e.value)
    problems = verify_model(ws, "hazard-lora").problems  # `assay model verify` says so too
    assert [p for p in problems if p.startswith(f"base model {base.resolve()}: hashes to")]
    # Gone: refused, naming the folder.
    import shutil

    shutil.rmtree(base)
    with pytest.raises(InvalidInput, match=r"its base model .*base is not there any more"):
        resolve_target(ws, "hazard-lora")


def test_a_trained_adapters_base_folder_is_checked_against_its_lineage(
    ws: Workspace, tmp_path: Path, models: dict[str, Path]
) -> None:
    # `assay train llm --base PATH` records the folder and its sha256 in the lineage; the
    # adapter was loaded on the folder as it was at load time, without comparing.
    base = _copy(models["base"], tmp_path / "base")
    lineage = {"base": {"ref": None, "path": str(base), "sha256": "0" * 64}}
    add_model(ws, "trained-lora", models["adapter"], lineage=lineage)
    with pytest.raises(InvalidInput, match="changed since the adapter was registered"):
        resolve_target(ws, "trained-lora")


def test_a_base_that_does_not_fit_the_adapter_is_refused_at_registration(
    ws: Workspace, models: dict[str, Path]
) -> None:
    with pytest.raises(InvalidInput, match=r"q_proj maps 32 -> 32 features, but in base model"):
        add_model(ws, "lora", models["adapter"], base=str(models["wider"]))
    head = models["adapter"].parent / "head"
    head.mkdir(exist_ok=True)
    (head / "classifier.json").write_text(json.dumps({"classes": ["a", "b"], "embedder": "e"}))
    with pytest.raises(InvalidInput, match="a embedding-head directory; an adapter's base"):
        add_model(ws, "lora", models["adapter"], base=str(head))
    with pytest.raises(InvalidInput, match="--base is for a PEFT adapter"):
        add_model(ws, "llm", models["base"], base=str(models["base"]))
    assert [e for e in ws.audit_log() if e.action == "model.add"] == []  # nothing registered


def test_a_registered_base_and_the_one_adapter_config_names(
    ws: Workspace, models: dict[str, Path]
) -> None:
    base = add_model(ws, "tiny-llm", models["base"])
    info = add_model(ws, "by-name", models["adapter"], base="tiny-llm")
    assert (info.details["base"]["ref"], info.details["base"]["sha256"]) == (base.ref, base.sha256)
    target = resolve_target(ws, "by-name")
    assert target.adapter is not None and (target.path / "config.json").is_file()
    # Without --base: adapter_config.json's base_model_name_or_path, a folder here.
    named = add_model(ws, "by-config", models["adapter"])
    assert named.details["base"]["path"] == str(models["base"].resolve())
    wider = add_model(ws, "wider-llm", models["wider"])
    with pytest.raises(InvalidInput, match="in base model wider-llm@1 that layer is 48 x 48"):
        add_model(ws, "lora2", models["adapter"], base=wider.ref)


def test_cli_model_add_base(ws: Workspace, models: dict[str, Path], cli: Any) -> None:
    out = cli(
        "-w", ws.root, "model", "add", "lora", models["adapter"], "--base", models["base"]
    ).stdout  # fmt: skip
    assert "base model " + str(models["base"].resolve()) in out and "checked whenever" in out
    bad = cli(
        "-w", ws.root, "model", "add", "lora2", models["adapter"], "--base", models["wider"],
        code=1,
    ).stderr  # fmt: skip
    assert "q_proj maps 32 -> 32 features" in bad and len(bad.strip().splitlines()) == 1
    assert get_model(ws, "lora").details["base"]["model_type"] == "llama"
