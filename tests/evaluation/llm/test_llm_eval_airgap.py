"""Air-gapped by construction: the whole evaluation (a local model, the packaged MiniLM for
embedding similarity, a local judge) runs in a process whose every non-loopback connection
and name lookup is refused and logged; the log must stay empty."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from llm_eval_world import World, write_task

from llm_world import build_tiny_llama

GUARD = Path(__file__).resolve().parents[2] / "netguard"
SRC = Path(__file__).resolve().parents[3] / "src"
RunCli = Callable[..., Any]  # the `run_cli` fixture of tests/conftest.py


def _guard_module() -> Any:
    spec = importlib.util.spec_from_file_location("netguard_probe", GUARD / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_guard_refuses_off_host_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setenv("ASSAY_NETGUARD_LOG", str(tmp_path / "net.log"))
    guard = _guard_module()
    for host in ("127.0.0.1", "::1", "localhost"):
        guard.check_address(socket.AF_INET, (host, 80))
    with pytest.raises(OSError, match="network guard: refused connect"):
        guard.check_address(socket.AF_INET, ("192.0.2.1", 443))
    assert "192.0.2.1" in (tmp_path / "net.log").read_text()


def test_whole_eval_runs_with_the_network_refused(run_cli: RunCli, world: World) -> None:
    model = build_tiny_llama(world.root / "tiny", tokenizer="bytes", chat_template=True)
    task = write_task(
        world.root,
        "sealed",
        template={
            "system": "You read field reports.",
            "prompt": "Report: {input}\nQuestion: {metadata.question}",
            "fewshot": {"dataset": "shots", "n": 1},
        },
        solver="chain_of_thought",
        generation={"max_new_tokens": 4},
        scorers=[
            "exact",
            "token_f1",
            "embedding",
            {"name": "judge", "rubric": "Same number of people.", "human": "grade"},
        ],
    )
    log = world.root / "net.log"
    log.touch()
    env = {
        "PYTHONPATH": os.pathsep.join([str(GUARD), str(SRC)]),
        "ASSAY_NETGUARD_LOG": str(log),
        # Whatever the user's shell says, the run must not go online.
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
    }
    res = run_cli(
        "eval", "llm", task, "--model", model, "--out", world.root / "sealed-run",
        "--samples", "6", "--json", cwd=world.root / "ws", env=env,
    )  # fmt: skip
    assert log.read_text() == ""
    out = res.json()
    assert set(out["summary"]["headline"]) == {"exact", "token_f1", "embedding", "judge"}
    assert out["record"]["judge"]["human_agreement"]["n"] <= 6
    assert out["record"]["usage"]["cache_misses"] == 2 * 6  # answers, then the judge's grades
    assert -1 <= out["summary"]["headline"]["embedding"] <= 1
