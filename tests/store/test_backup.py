"""`assay backup` / `assay restore`: a consistent copy taken while `assay serve` takes work."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from assay.labeling import Workflow, create_token
from assay.store.schema import items, submissions
from assay.workspace import Workspace
from blob_stacks import stacks
from cli_support import TEST_DB
from labeling_world import build_world, start_server
from pg import fresh_schema

RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()


def test_backup_while_serving_restores_a_consistent_workspace(
    ws: Workspace,
    tmp_path: Path,
    cli: RunCli,
    blob_stack: str,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str | None,
) -> None:
    w = build_world(ws, tmp_path / "data", public=60, cui=0, secret=0, workflow=Workflow())
    tokens = [create_token(ws, name) for name in ("root", "man", "rev", "ana")]
    root = tmp_path / "ws"
    acked: list[str] = []
    sent: list[str] = []  # acknowledged or not: one whose answer was lost may be stored too
    stop = threading.Event()

    def client(token: str) -> None:
        url = server.url
        # generous: a loaded machine copying the workspace may keep an answer waiting
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        while not stop.is_set():
            r = http.post(f"/api/v1/projects/{w.project}/next")
            if r.status_code != 200:
                return
            cid = str(uuid.uuid4())
            body = {"client_id": cid, "regions": [], "lead_time": 0.5}
            sent.append(cid)
            http.post(f"/api/v1/tasks/{r.json()['task_id']}/submit", json=body).raise_for_status()
            acked.append(cid)

    server = start_server(root)
    threads = [threading.Thread(target=client, args=(t,)) for t in tokens]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        before = set(acked)
        cli("-w", root, "backup", tmp_path / "backup")
        during = set(acked)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert len(before) >= 8

    # Into a new workspace (and, on the S3 stack, a new blob prefix; on PostgreSQL, a new
    # schema: the backup names no schema, so it restores into one of any name).
    if blob_stack == "s3":
        monkeypatch.setenv("ASSAY_BLOB_URL", os.environ["ASSAY_BLOB_URL"] + "-restored")
    with ExitStack() as stack:
        if database_url is not None:
            target = stack.enter_context(fresh_schema())
            monkeypatch.setenv("ASSAY_DATABASE_URL", target)
            monkeypatch.setitem(TEST_DB, "url", target)
        _restore_and_check(ws, tmp_path, cli, blob_stack, tokens, before, during, sent)


def _restore_and_check(
    ws: Workspace,
    tmp_path: Path,
    cli: RunCli,
    blob_stack: str,
    tokens: list[str],
    before: set[str],
    during: set[str],
    sent: list[str],
) -> None:
    assert (tmp_path / "backup" / "backup.json").is_file()
    restored = tmp_path / "restored"
    out = cli("restore", tmp_path / "backup", restored, "--json").json()
    assert out["blobs"] >= 60
    check = Workspace.open(restored)
    with check.db.read() as conn:
        got = {r[0] for r in conn.execute(select(submissions.c.client_id))}
        ids = [r[0] for r in conn.execute(select(items.c.id))]
    # A snapshot: everything acknowledged before the backup, nothing that was never sent.
    assert before <= got <= set(sent) and len(got) <= len(during) + len(tokens)
    assert len(ids) >= 60
    for sha, data in zip(ids, check.blobs.read_many(ids), strict=True):
        assert hashlib.sha256(data).hexdigest() == sha
    assert check.blobs.url != ws.blobs.url or blob_stack == "local"
    check.close()
    cli("-w", restored, "audit", "verify")
    cli("-w", restored, "commit", "flood", "-m", "after the restore")


def test_backup_refuses_a_folder_that_is_not_empty(cli: RunCli, tmp_path: Path) -> None:
    cli("init", "proj")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("field notes")
    res = cli("-w", tmp_path / "proj", "backup", tmp_path / "full", code=1)
    assert "not empty" in res.stderr
    assert (tmp_path / "full" / "keep.txt").read_text() == "field notes"


def test_a_postgresql_backup_naming_a_column_this_schema_lacks_is_refused(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_schema() as url:
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)
        monkeypatch.setitem(TEST_DB, "url", url)
        cli("init", "proj")
        cli("-w", tmp_path / "proj", "backup", tmp_path / "backup")
    listing = tmp_path / "backup" / "postgresql" / "tables.json"
    tables = json.loads(listing.read_text())
    tables["items"].append("flood_depth")  # as a later assay's schema might have it
    listing.write_text(json.dumps(tables))
    with fresh_schema() as url:
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)
        monkeypatch.setitem(TEST_DB, "url", url)
        res = cli("restore", tmp_path / "backup", tmp_path / "restored", code=1)
        assert "items.flood_depth is not in this assay's schema" in res.stderr
        assert str(tmp_path / "backup" / "postgresql") in res.stderr


def _noise_png(path: Path, side: int, seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path.read_bytes()


@pytest.mark.parametrize("where", ["loose", "packed"])
def test_a_blob_edited_in_the_backup_is_not_restored(
    cli: RunCli,
    tmp_path: Path,
    where: str,
    blob_stack: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    new_database: Callable[[], None],
) -> None:
    (tmp_path / "imagery").mkdir()
    big = _noise_png(tmp_path / "imagery" / "scene.png", 700, 1)  # over a pack's limit
    small = _noise_png(tmp_path / "imagery" / "chip.png", 16, 2)
    cli("init", "proj")
    cli("-w", tmp_path / "proj", "ingest", tmp_path / "imagery")
    cli("-w", tmp_path / "proj", "backup", tmp_path / "backup")
    objects = tmp_path / "backup" / "objects"
    if where == "loose":
        sha = hashlib.sha256(big).hexdigest()
        target, old = objects / sha[:2] / sha[2:], big
    else:
        sha = hashlib.sha256(small).hexdigest()
        (target,) = (objects / "pack").glob("*.pack")
        old = small
    data = target.read_bytes()
    at = data.index(old) + len(old) // 2
    target.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :])
    if blob_stack == "s3":  # restored to a new place, which holds none of the blobs yet
        monkeypatch.setenv("ASSAY_BLOB_URL", request.getfixturevalue("seaweed").url())
    new_database()
    res = cli("restore", tmp_path / "backup", tmp_path / "restored", code=1)
    assert f"blob {sha[:12]} in {objects} does not hash to its name" in res.stderr


def test_a_backup_index_naming_a_path_writes_nothing_there(
    cli: RunCli, tmp_path: Path, new_database: Callable[[], None]
) -> None:
    # The backup's pack index is a file like any other: a row whose "sha256" is a path made
    # restore stage that span of a pack as a file at that path, anywhere.
    (tmp_path / "imagery").mkdir()
    for i in range(6):
        _noise_png(tmp_path / "imagery" / f"chip{i}.png", 300, i)  # one pack over 1 MiB
    cli("init", "proj")
    cli("-w", tmp_path / "proj", "ingest", tmp_path / "imagery")
    cli("-w", tmp_path / "proj", "backup", tmp_path / "backup")
    objects = tmp_path / "backup" / "objects"
    (pack,) = (objects / "pack").glob("*.pack")
    target = tmp_path / "escaped.sh"
    index = sqlite3.connect(objects / "packs.db")
    with index:
        index.execute(
            "INSERT INTO packed VALUES (?, ?, 0, ?)", (str(target), pack.name, pack.stat().st_size)
        )
    index.close()
    new_database()
    res = cli("restore", tmp_path / "backup", tmp_path / "restored", code=1)
    assert f"{objects}: {str(target)!r} is not a blob name" in res.stderr
    assert not target.exists()


@pytest.mark.parametrize("folder", ["new", "there"])
def test_a_failed_restore_leaves_no_folder_it_made(
    cli: RunCli, tmp_path: Path, folder: str, new_database: Callable[[], None]
) -> None:
    (tmp_path / "imagery").mkdir()
    for i in range(3):
        _noise_png(tmp_path / "imagery" / f"scene{i}.png", 700, i)  # loose blobs, over a pack
    cli("init", "proj")
    cli("-w", tmp_path / "proj", "ingest", tmp_path / "imagery")
    cli("-w", tmp_path / "proj", "backup", tmp_path / "backup")
    # One blob edited: the restore fails partway, once it has made the workspace and copied
    # blobs into it.
    sha = hashlib.sha256((tmp_path / "imagery" / "scene2.png").read_bytes()).hexdigest()
    blob = tmp_path / "backup" / "objects" / sha[:2] / sha[2:]
    data = blob.read_bytes()
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    target = tmp_path / "field" / "restored"  # its parent is made too when it is new
    if folder == "there":
        target.mkdir(parents=True)
        (target / "keep.txt").write_text("field notes")
    new_database()
    res = cli("restore", tmp_path / "backup", target, code=1)
    assert "does not hash to its name" in res.stderr
    if folder == "new":
        assert not (tmp_path / "field").exists()
    else:
        assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
        assert (target / "keep.txt").read_text() == "field notes"
