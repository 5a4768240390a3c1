"""`assay train llm`: LoRA SFT and DPO through TRL and PEFT on a tiny Llama, offline; the
adapter registered with lineage and marking, loaded back, verified, tampered with."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.errors import InvalidInput, NotFound
from assay.labeling import add_user
from assay.models import export_model, get_model, list_models, model_dir, model_manifest
from assay.models.lineage import verify_model
from assay.models.train_llm import LlmTrainConfig, TrainResult, train_llm
from models.train_world import PASSWORD, REPORTS, SFT, LlmWorld, build

RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, module_database: str | None
) -> Iterator[LlmWorld]:
    w = build(tmp_path_factory.mktemp("llm"))
    yield w
    w.ws.close()


@pytest.fixture(scope="module")
def sft(world: LlmWorld) -> TrainResult:
    return train_llm(world.ws, str(world.base), world.spec, "hazard-lora", SFT)


def _logits(base: Path, adapter: Path | None) -> object:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter), local_files_only=True)
    model.eval()
    ids = tok(str(REPORTS[0]["text"]), return_tensors="pt")
    with torch.no_grad():
        return model(**ids).logits[0, -1]


def test_sft_learns_and_registers_the_adapter_with_lineage(
    world: LlmWorld, sft: TrainResult
) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert sft.steps == 10 and len(sft.losses) == 10
    assert sft.losses[-1] < sft.losses[0] / 4  # the toy task is learnt
    info = sft.model
    assert (info.ref, info.kind, info.task, info.format) == (
        "hazard-lora@1",
        "peft-adapter",
        "causal-lm",
        "directory",
    )
    assert info.trained_on == world.commit and info.marking == "CUI"
    files = {f["path"] for f in model_manifest(world.ws, info)}
    assert {"adapter_config.json", "adapter_model.safetensors", "lineage.json"} <= files
    assert {"README.md", "tokenizer.json"} <= files
    lineage = info.lineage
    assert lineage is not None
    assert lineage["data"]["commit"] == world.commit and lineage["data"]["format"] == "sft"
    assert lineage["data"]["rows"] == len(REPORTS) and len(lineage["data"]["sha256"]) == 64
    assert lineage["base"]["path"] == str(world.base.resolve())
    assert len(lineage["base"]["sha256"]) == 64
    assert lineage["hyperparameters"]["lora_r"] == 8 and lineage["seed"] == 7
    assert {"python", "torch", "transformers", "peft", "trl"} <= set(lineage["libraries"])
    assert lineage["hardware"]["device"] == "cpu" and lineage["hardware"]["cpus"]
    assert lineage["metrics"]["loss_last"] == sft.losses[-1]
    folder = model_dir(world.ws, info)
    assert json.loads((folder / "lineage.json").read_text()) == lineage
    card = (folder / "README.md").read_text()
    assert f"datasets:\n- reports@{world.commit}\n" in card and "marking: CUI" in card
    events = [e for e in world.ws.audit_log() if e.target == "model:hazard-lora@1"]
    assert [e.action for e in events] == ["model.add"]


def test_adapter_loads_back_and_changes_outputs(world: LlmWorld, sft: TrainResult) -> None:
    import torch

    before = _logits(world.base, None)
    after = _logits(world.base, model_dir(world.ws, sft.model))
    assert isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor)
    assert not torch.allclose(before, after, atol=1e-4)


def test_dpo_trains_on_ranked_pairs(world: LlmWorld, sft: TrainResult, cli: RunCli) -> None:
    res = cli(
        "-w", world.ws.root, "train", "llm", "--base", world.base, "--data", world.spec,
        "--method", "dpo", "--out", "hazard-dpo", "--max-steps", "4", "--lora-r", "4",
        "--lr", "1e-2", "--batch-size", "9", "--max-length", "32", "--json",
    )  # fmt: skip
    out = json.loads(res.stdout)
    assert out["steps"] == 4 and len(out["losses"]) == 4
    assert out["model"]["kind"] == "peft-adapter" and out["model"]["trained_on"] == world.commit
    lineage = out["model"]["details"]["lineage"]
    assert lineage["data"]["format"] == "dpo" and lineage["hyperparameters"]["beta"] == 0.1
    assert lineage["data"]["rows"] == len(REPORTS)  # one (answer, "unknown") pair per report
    assert verify_model(world.ws, "hazard-dpo").ok
    table = cli("-w", world.ws.root, "model", "list").stdout
    assert "hazard-dpo@1" in table and "CUI" in table


def test_verify_passes_then_names_each_tampering(
    world: LlmWorld, sft: TrainResult, cli: RunCli, tmp_path: Path
) -> None:
    ref = sft.model.ref
    ok = cli("-w", world.ws.root, "model", "verify", ref)
    assert f"model {ref}: verified" in ok.stdout and "rows of commit" in ok.stdout
    manifest = {f["path"]: f for f in model_manifest(world.ws, sft.model)}
    # A copy (an export) whose lineage.json is edited by hand.
    out = tmp_path / "exports" / "lora"  # parent folders are made
    export_model(world.ws, ref, out)
    assert (out / "MARKING.txt").read_text().startswith("CUI\n")
    cli("-w", world.ws.root, "model", "verify", ref, "--dir", out)
    edited = json.loads((out / "lineage.json").read_text())
    edited["seed"] = 8
    (out / "lineage.json").write_text(json.dumps(edited))
    bad = cli("-w", world.ws.root, "model", "verify", ref, "--dir", out, code=1)
    assert "lineage.json: hashes to" in bad.stderr
    assert "differs from the registered lineage in seed" in bad.stderr
    # A stored blob changed: the adapter weights, and the stored lineage file.
    for name, change in (("adapter_model.safetensors", b"\0"), ("lineage.json", b" ")):
        blob = world.ws.blobs.path(manifest[name]["sha256"])
        saved = blob.read_bytes()
        os.chmod(blob, 0o644)
        blob.write_bytes(saved + change)
        try:
            bad = cli("-w", world.ws.root, "model", "verify", ref, code=1)
            assert f"{name}: stored bytes hash to" in bad.stderr and "does not verify" in bad.stderr
        finally:
            blob.write_bytes(saved)
    cli("-w", world.ws.root, "model", "verify", ref)


def test_marking_hides_the_model_from_a_user_below_it(
    world: LlmWorld, sft: TrainResult, cli: RunCli, tmp_path: Path
) -> None:
    add_user(world.ws, "uma", "manager", "UNCLASSIFIED", PASSWORD)
    low = world.ws.scheme.parse("UNCLASSIFIED")
    with pytest.raises(NotFound) as hidden:
        export_model(world.ws, "hazard-lora@1", tmp_path / "x", clearance=low)
    with pytest.raises(NotFound) as missing:
        export_model(world.ws, "no-such-model@1", tmp_path / "x", clearance=low)
    assert str(hidden.value) == str(missing.value).replace("no-such-model", "hazard-lora")
    assert not (tmp_path / "x").exists()
    with pytest.raises(NotFound):
        model_dir(world.ws, "hazard-lora@1", clearance=low)
    assert all(i.name != "hazard-lora" for i in list_models(world.ws, low))
    res = cli(
        "-w", world.ws.root, "model", "export", "hazard-lora@1", tmp_path / "y", "--as", "uma",
        code=1,
    )  # fmt: skip
    assert "no model 'hazard-lora@1'" in res.stderr and not (tmp_path / "y").exists()
    cli("-w", world.ws.root, "model", "show", "hazard-lora", "--as", "uma", code=1)
    assert get_model(world.ws, "hazard-lora", world.ws.scheme.parse("CUI")).ref == "hazard-lora@1"


def test_bad_input_is_one_error_and_registers_nothing(
    world: LlmWorld, cli: RunCli, tmp_path: Path
) -> None:
    before = len(list_models(world.ws))
    not_model = tmp_path / "not-a-model"
    not_model.mkdir()
    (not_model / "notes.txt").write_text("minutes of the flood meeting")
    res = cli(
        "-w", world.ws.root, "train", "llm", "--base", not_model, "--data", world.spec,
        "--out", "x", code=1,
    )  # fmt: skip
    assert "not a model directory" in res.stderr and str(not_model) in res.stderr
    res = cli("-w", world.ws.root, "model", "add", "x", not_model, code=1)
    assert "not a model directory" in res.stderr
    # A hub name is never downloaded: it is a directory that is not there.
    with pytest.raises(InvalidInput, match="no such directory"):
        train_llm(world.ws, "meta-llama/Llama-3.2-1B", world.spec, "x", SFT)
    pickled = tmp_path / "pickled"
    shutil.copytree(world.base, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(InvalidInput, match="pickled"):
        train_llm(world.ws, str(pickled), world.spec, "x", SFT)
    # A commit with text but no ranking: dpo has nothing to learn from.
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "r.jsonl").write_text(json.dumps({"text": "report : quiet night . hazard :"}) + "\n")
    world.ws.ingest([plain], source="plain")
    world.ws.create_dataset("plain")
    world.ws.add_items("plain", "source=plain")
    commit = world.ws.commit("plain", "no answers").id
    res = cli(
        "-w", world.ws.root, "train", "llm", "--base", world.base, "--data",
        f"plain@{commit[:12]}", "--method", "dpo", "--out", "x", code=1,
    )  # fmt: skip
    assert "no ranking annotations" in res.stderr
    with pytest.raises(InvalidInput, match="no sft rows"):
        train_llm(world.ws, str(world.base), f"plain@{commit[:12]}", "x", SFT)
    # No commit yet: said as training, not as an export option the user never typed.
    world.ws.create_dataset("drafts")
    no_commit = r"^drafts: training reads a commit and drafts has none"
    with pytest.raises(NotFound, match=no_commit) as e:
        train_llm(world.ws, str(world.base), "drafts", "x", SFT)
    assert "--format" not in str(e.value) and "`assay commit drafts`" in str(e.value)
    with pytest.raises(NotFound):
        train_llm(world.ws, "no-such-base@1", world.spec, "x", SFT)
    assert len(list_models(world.ws)) == before


def test_a_registered_base_directory_and_its_marking(
    world: LlmWorld, sft: TrainResult, cli: RunCli
) -> None:
    res = cli(
        "-w", world.ws.root, "model", "add", "tiny-llama", world.base, "--marking", "SECRET",
        "--json",
    )  # fmt: skip
    base = json.loads(res.stdout)
    assert (base["kind"], base["task"], base["format"]) == (
        "transformers",
        "causal-lm",
        "directory",
    )
    assert base["details"]["marking"] == "SECRET"
    again = cli("-w", world.ws.root, "model", "add", "tiny-llama", world.base, "--json")
    assert json.loads(again.stdout)["ref"] == "tiny-llama@1"  # same files: same version
    cfg = LlmTrainConfig(method="sft", max_steps=1, batch_size=9, max_length=32)
    info = train_llm(world.ws, "tiny-llama@1", world.spec, "from-registered", cfg).model
    assert info.marking == "SECRET"  # the base's marking is above the data's CUI
    assert info.lineage is not None and info.lineage["base"]["ref"] == "tiny-llama@1"
    assert verify_model(world.ws, info.ref).ok
    with pytest.raises(NotFound):
        train_llm(
            world.ws, "tiny-llama@1", world.spec, "y", cfg, clearance=world.ws.scheme.parse("CUI")
        )


def test_a_bare_dataset_name_trains_on_its_head_and_names_the_commit(
    world: LlmWorld, cli: RunCli
) -> None:
    # `--data reports` was refused while `eval run` and `model add --trained-on` take it as
    # HEAD. Its working state (one answer changed, not committed) is not what is trained on.
    from assay.domain.labels import Region
    from assay.formats.io import export_bundle
    from assay.models.training_data import llm_data
    from assay.versioning import LabelRecord

    row = export_bundle(world.ws, world.ws.resolve("reports", default_head=False)).rows[0]
    changed = [r if r.kind != "text" else Region(kind="text", control="answer", text="hail")
               for r in row.regions]  # fmt: skip
    world.ws.set_labels("reports", [LabelRecord(row.item_id, changed)])
    try:
        head = llm_data(world.ws, "reports", "sft")
        assert (head.commit, head.spec) == (world.commit, "reports")
        assert head.rows == llm_data(world.ws, world.spec, "sft").rows
        assert "hail" not in json.dumps(head.rows)
        res = cli(
            "-w", world.ws.root, "train", "llm", "--base", world.base, "--data", "reports",
            "--out", "head-lora", "--max-steps", "1", "--lora-r", "4", "--batch-size", "9",
            "--max-length", "32", "--json",
        )  # fmt: skip
    finally:
        world.ws.set_labels("reports", [LabelRecord(row.item_id, list(row.regions))])
    model = json.loads(res.stdout)["model"]
    assert model["trained_on"] == world.commit
    lineage = model["details"]["lineage"]
    assert (lineage["data"]["commit"], lineage["data"]["spec"]) == (world.commit, "reports")
    assert lineage["data"]["sha256"] == head.sha256
    card = (model_dir(world.ws, "head-lora") / "README.md").read_text()
    assert f"datasets:\n- reports@{world.commit}\n" in card
    assert verify_model(world.ws, "head-lora").ok
