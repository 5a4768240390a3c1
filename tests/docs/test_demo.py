"""`make demo`: its "Next, try" lines paste in order, and a second run deletes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from readme_runner import reader_env

ROOT = Path(__file__).resolve().parents[2]


def _demo(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), str(target)],
        env=reader_env(ROOT / "src"),
        capture_output=True,
        text=True,
        timeout=1200,  # the whole demo, fusion and feeds included, on a loaded machine
    )


def _next_try(stdout: str) -> list[str]:
    block = stdout[stdout.index("Next, try") :].splitlines()[1:]
    return [line[2:] for line in block if line.startswith("  ")]


def test_next_try_pastes_in_order_and_a_second_run_keeps_the_users_work(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    first = _demo(demo)
    assert first.returncode == 0, first.stderr
    lines = _next_try(first.stdout)
    assert "http://127.0.0.1:8000/map?picture=flood-sim" in first.stdout  # where the map is
    assert lines[0].startswith("source ") and lines[0].endswith("/bin/activate")
    assert lines[1].startswith("cd ")  # activate first, then go to the workspace
    assert lines[-1].startswith("assay serve")  # the one line that keeps running
    script = "\n".join(lines[:-1])
    # pasted into a fresh shell that knows nothing of assay: no PATH to the environment (the
    # first line activates it). PYTHONPATH names this checkout's code only as `make`'s editable
    # install does: the environment may have been installed from another checkout (a git
    # worktree shares one), and the lines must run against the code under test.
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "120", "NO_COLOR": "1"}
    env["ASSAY_ARGON2_MEMORY_KIB"] = "1024"
    env["PYTHONPATH"] = str(ROOT / "src")
    pasted = subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert pasted.returncode == 0, pasted.stdout + pasted.stderr
    assert "created project survey with 24 task(s)" in pasted.stdout
    assert (demo / "export-yolo" / "data.yaml").is_file()  # the user's own export
    # ... one Ultralytics trains on: validation images in images/val, and no warning
    assert any((demo / "export-yolo" / "images" / "val").iterdir())
    assert "split 'val'" not in pasted.stderr

    (demo / "workspace" / "my-notes.txt").write_text("mine")
    again = _demo(demo)
    assert again.returncode == 0, again.stderr
    assert "left exactly as it is" in again.stdout and f"rm -rf {demo}" in again.stdout
    assert (demo / "export-yolo" / "data.yaml").is_file()
    assert (demo / "workspace" / "my-notes.txt").read_text() == "mine"
    users = subprocess.run(
        ["bash", "-c", "\n".join([*lines[:2], "assay user list --json"])],
        env=env,
        capture_output=True,
        text=True,
    )
    assert '"name": "ana"' in users.stdout, users.stderr
    # The fused picture the block points at on the map is there for ana: every entity of it
    # (all CUI/FLOOD, from drone-b's frames) is within the clearance the block gives her.
    [ana] = [u for u in json.loads(users.stdout) if u["name"] == "ana"]
    seen = subprocess.run(
        [
            "bash",
            "-c",
            "\n".join(
                [*lines[:2], f"assay sitrep flood-sim --format json --clearance {ana['clearance']}"]
            ),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert seen.returncode == 0, seen.stderr
    assert len(json.loads(seen.stdout)["entities"]) == 6


def test_fusion_part_runs_a_scenario_to_taky_and_nats(tmp_path: Path) -> None:
    """The demo's fusion steps alone, in a fresh workspace: simulate, ingest, fuse (scored
    against the truth), sitrep, and a feed to the taky and nats-server it starts and stops."""
    ws = tmp_path / "workspace"
    ws.mkdir()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import demo; from pathlib import Path; "
        "demo.run('init', '.', cwd=Path(sys.argv[2])); "
        "demo.fusion_demo(Path(sys.argv[2]), Path(sys.argv[3]))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "scripts"), str(ws), str(tmp_path / "data")],
        env=reader_env(ROOT / "src"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout
    assert "flood-sim@1" in out and "fused " in out and "unfused " in out
    sitrep = (ws / "flood-sim-sitrep.md").read_text()
    assert "CUI" in sitrep
    assert "started taky" in out and "started nats-server" in out
    # The feed sent the picture's entities to both (6 targets, each destination).
    sent = next(line for line in out.splitlines() if line.startswith("flood-sim@1: sent"))
    assert int(sent.split("sent ")[1].split(",")[0]) >= 10, sent
    assert "stopped the CoT router and NATS again" in out
