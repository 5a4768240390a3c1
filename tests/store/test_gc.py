"""`assay gc`: unreferenced blobs go, referenced ones stay, even with an ingest running."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from assay.store.schema import items
from assay.workspace import Workspace
from blob_stacks import stacks
from cli_support import cli_env, flood_scene

RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()


def _pngs(folder: Path, start: int, n: int) -> list[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        flood_scene(i, (24, 16)).save(folder / f"flood-{i:04d}.png")
        out.append((folder / f"flood-{i:04d}.png").read_bytes())
    return out


def _item_ids(ws: Workspace) -> list[str]:
    with ws.db.read() as conn:
        return [r[0] for r in conn.execute(select(items.c.id))]


def test_gc_removes_only_what_nothing_references(
    cli: RunCli, tmp_path: Path, blob_stack: str
) -> None:
    cli("init", "proj")
    root = tmp_path / "proj"
    _pngs(tmp_path / "imgs", 0, 12)
    cli("-w", root, "ingest", tmp_path / "imgs")
    cli("-w", root, "dataset", "create", "flood")
    cli("-w", root, "dataset", "add", "flood", "--all")
    cli("-w", root, "commit", "flood", "-m", "first")
    ws = Workspace.open(root)
    garbage = ws.blobs.put_many([b"orphan %d" % i for i in range(30)])  # e.g. a failed import
    garbage.append(ws.blobs.put_bytes(b"a replaced derived blob"))
    ws.close()

    report = cli("-w", root, "gc", "--json").json()
    assert report["removed"] == 31 and report["repacked"] >= 1

    ws = Workspace.open(root)
    assert not any(ws.blobs.exists(sha) for sha in garbage)
    for sha in _item_ids(ws):
        assert hashlib.sha256(ws.blobs.get_bytes(sha)).hexdigest() == sha
    ws.close()
    cli("-w", root, "export", "flood@HEAD", "--format", "coco", "--out", tmp_path / "out")
    assert len(list((tmp_path / "out").rglob("*.png"))) == 12
    assert cli("-w", root, "gc", "--json").json()["removed"] == 0
    cli("-w", root, "audit", "verify")


_INGEST = """
import sys, time
from pathlib import Path
from assay.workspace import Workspace
while not Path(sys.argv[1], "gc.started").exists():  # gc is running from here on
    time.sleep(0.05)
for folder in sys.argv[2:]:
    ws = Workspace.open(sys.argv[1])
    # The batch's bytes are already stored but unreferenced (a failed earlier try): the
    # ingest finds them present and stores nothing, so only the lock keeps a concurrent gc
    # from collecting them between that check and the commit of the items.
    ws.blobs.put_many([p.read_bytes() for p in sorted(Path(folder).iterdir())])
    ws.ingest([folder])
    ws.close()
Path(sys.argv[1], "ingest.done").touch()
"""

_GC = """
import json, sys
from pathlib import Path
from assay.versioning.gc import gc
from assay.workspace import Workspace
removed = runs = 0
while not Path(sys.argv[1], "ingest.done").exists():
    ws = Workspace.open(sys.argv[1])
    removed += gc(ws)["removed"]
    runs += 1
    ws.close()
    Path(sys.argv[1], "gc.started").touch()
print(json.dumps([removed, runs]))
"""


def test_gc_running_with_an_ingest_loses_nothing_referenced(
    tmp_path: Path, blob_stack: str
) -> None:
    ws = Workspace.init(tmp_path / "proj")
    folders = [tmp_path / f"batch{k}" for k in range(8)]
    files = [_pngs(f, 25 * k, 25) for k, f in enumerate(folders)]
    pure_garbage = ws.blobs.put_many([b"never ingested %d" % i for i in range(25)])
    ws.close()

    env = cli_env()
    ingest = subprocess.Popen(
        [sys.executable, "-c", _INGEST, str(tmp_path / "proj" / ".assay"), *map(str, folders)],
        env=env,
    )
    collect = subprocess.Popen(
        [sys.executable, "-c", _GC, str(tmp_path / "proj" / ".assay")],
        env=env,
        stdout=subprocess.PIPE,
    )
    assert ingest.wait(timeout=300) == 0
    out, _ = collect.communicate(timeout=300)
    assert collect.returncode == 0

    ws = Workspace.open(tmp_path / "proj")
    ids = set(_item_ids(ws))
    wanted = {hashlib.sha256(b).hexdigest() for batch in files for b in batch}
    assert ids == wanted
    got = dict(zip(sorted(ids), ws.blobs.read_many(sorted(ids)), strict=True))
    assert all(hashlib.sha256(data).hexdigest() == sha for sha, data in got.items())
    from assay.versioning.gc import gc

    # Whatever gc had not collected by now goes now; the items all stay.
    removed, runs = json.loads(out)
    assert runs >= 2  # gc ran while the ingest did
    removed += gc(ws)["removed"]
    assert removed >= len(pure_garbage)
    assert not any(ws.blobs.exists(sha) for sha in pure_garbage)
    assert set(ws.blobs.iter_shas()) == ids
    ws.close()


def test_gc_keeps_every_file_of_a_directory_model(
    cli: RunCli, tmp_path: Path, blob_stack: str
) -> None:
    """A directory model (transformers, PEFT adapter, classifier head) is stored as a manifest
    blob naming one blob per file: gc keeps the files too, not only the manifest."""
    from llm_world import build_tiny_llama

    cli("init", "proj")
    root = tmp_path / "proj"
    build_tiny_llama(tmp_path / "tiny-llama")
    cli("-w", root, "model", "add", "tiny", tmp_path / "tiny-llama")

    assert cli("-w", root, "gc", "--json").json()["removed"] == 0
    verified = cli("-w", root, "model", "verify", "tiny@1")
    assert "model tiny@1: verified" in verified.stdout
    cli("-w", root, "model", "export", "tiny@1", tmp_path / "copy")
    weights = (tmp_path / "tiny-llama" / "model.safetensors").read_bytes()
    assert (tmp_path / "copy" / "model.safetensors").read_bytes() == weights
