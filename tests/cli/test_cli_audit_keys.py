"""The audit key: where it lives, how it is made, checkpoints kept by users, rotation."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from assay.audit._keys import KEY_ENV


def test_key_is_made_on_first_use_outside_the_workspace(run_cli, tmp_path, new_database) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "keys" / "audit.key"
    env = {KEY_ENV: str(key)}
    first = run_cli("init", tmp_path / "ws", env=env)
    assert f"created the audit signing key {key}" in first.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "BEGIN PRIVATE KEY" in key.read_text()
    again = run_cli("-w", tmp_path / "ws", "audit", "verify", env=env)
    assert "created" not in again.stderr and "1 signed" in again.stdout
    # Without ASSAY_AUDIT_KEY: the user's config folder, never the workspace.
    config = tmp_path / "config"
    new_database()  # ws2 is a second workspace: its own schema under PostgreSQL
    plain = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    plain.update({"XDG_CONFIG_HOME": str(config)})
    res = run_cli("init", tmp_path / "ws2", env={**plain, KEY_ENV: ""})
    default = config / "assay" / "audit-ed25519.key"
    assert default.is_file() and f"created the audit signing key {default}" in res.stderr
    assert not list((tmp_path / "ws2" / ".assay").glob("*.key"))


def test_a_key_readable_by_others_or_inside_a_workspace_is_refused(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "audit.key"
    run_cli("init", tmp_path / "ws", env={KEY_ENV: str(key)})
    key.chmod(0o644)
    res = run_cli("-w", tmp_path / "ws", "dataset", "create", "x", env={KEY_ENV: str(key)}, code=1)
    assert "readable by others (mode 644)" in res.stderr and f"chmod 600 {key}" in res.stderr
    inside = tmp_path / "ws" / ".assay" / "audit.key"
    res = run_cli("init", tmp_path / "ws3", env={KEY_ENV: str(inside)}, code=1)
    assert "must not live inside a workspace" in res.stderr
    assert not inside.exists() and not (tmp_path / "ws3").exists()  # nothing half-made


def test_checkpoint_out_and_verify_with_it(cli, tmp_path: Path, samples) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    cli("init", ws)
    cli("-w", ws, "ingest", samples.text("a.txt"))
    out = tmp_path / "safe" / "cp.json"
    made = cli("-w", ws, "audit", "checkpoint", "--out", out, "--json").json()
    assert made["size"] == 2 and made["out"] == str(out)
    kept = json.loads(out.read_text())
    assert kept["format"] == "assay-audit-checkpoint/1" and kept["size"] == 2
    assert set(kept) == {"format", "origin", "size", "head", "time", "workspace", "signature"}
    assert "signed checkpoint: 2 event(s)" in cli("-w", ws, "audit", "checkpoint").stdout
    data = cli("-w", ws, "audit", "verify", "--checkpoint", out, "--json").json()
    assert data["ok"] and data["checkpoints"] >= 2  # the file and the witness's own
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    res = cli("-w", ws, "audit", "verify", "--checkpoint", bad, code=1)
    assert f"error: {bad}: not an assay audit checkpoint" in res.stderr


def test_rotate_key_keeps_old_events_verifiable(cli, tmp_path: Path, samples) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "keys" / "audit.key"
    env = {KEY_ENV: str(key)}
    ws = tmp_path / "ws"
    cli("init", ws, env=env)
    cli("-w", ws, "ingest", samples.text("a.txt"), env=env)
    old_cp = tmp_path / "old.json"
    cli("-w", ws, "audit", "checkpoint", "--out", old_cp, env=env)
    old_pem = key.read_text()
    report = cli("-w", ws, "audit", "rotate-key", "--json", env=env).json()
    assert report["old_key"] != report["new_key"] and key.read_text() != old_pem
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    retired = Path(report["retired_list"])
    assert retired.read_text().count(" retired ") == 1
    cli("-w", ws, "ingest", samples.text("b.txt", seed=2), env=env)
    events = cli("-w", ws, "audit", "log", "--json", env=env).json()
    rotation = next(e for e in events if e["action"] == "audit.rotate-key")
    assert rotation["details"] == {"old": report["old_key"], "new": report["new_key"]}
    keys = [e["sig"].split(":")[0] for e in events]
    cut = events.index(rotation)
    assert set(keys[:cut]) == {report["old_key"]} and set(keys[cut:]) == {report["new_key"]}
    ok = cli("-w", ws, "audit", "verify", "--checkpoint", old_cp, "--json", env=env).json()
    assert ok["ok"] and ok["signed"] == len(events)
    # Forget the retired key and the old signatures no longer count.
    retired.unlink()
    res = cli("-w", ws, "audit", "verify", "--json", env=env, code=1).json()
    assert res["first_bad"] == 1 and "neither the current nor a retired key" in res["reason"]
