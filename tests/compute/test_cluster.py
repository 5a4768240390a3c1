"""Batch work on a real Dask cluster (scheduler and two worker processes on loopback, blobs
on SeaweedFS S3) gives the same results as the local run: pre-labeling, evaluation with the
corruption suite, and ingest (hashing, chips). A bad address is one clear error."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from assay.compute import runner
from assay.errors import InvalidInput
from assay.evaluation.runs import RunSettings, run_evaluation
from assay.evaluation.runs._run import numbers
from assay.ingest.files import _probe_all
from assay.ingest.sensors.options import ChipOptions, SensorOptions
from assay.ingest.sensors.synth import write_scene
from assay.labeling.prelabel import prelabel
from assay.models import add_model
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import items
from assay.workspace import Workspace
from cli_support import flood_scene
from evaluation.runs.runs_world import classification_world, onnx_classifier
from labeling_world import build_world

pytestmark = pytest.mark.xdist_group("dask-cluster")  # one cluster per test process

DAMAGE = ["none", "minor", "destroyed"]
RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py


def _model_rows(ws: Workspace) -> dict[str, tuple[str, str]]:
    """Annotation id -> (item, payload) of every model annotation."""
    with ws.db.read() as conn:
        rows = conn.execute(
            select(ann_t.c.id, ann_t.c.item_id, ann_t.c.payload).where(ann_t.c.kind == "model")
        ).all()
    return {r.id: (r.item_id, r.payload) for r in rows}


def test_prelabel_on_a_cluster_matches_the_local_run(
    ws: Workspace, tmp_path: Path, cluster: str
) -> None:
    build_world(ws, tmp_path / "data", public=40, cui=8, secret=1)
    weights = np.random.default_rng(3).normal(0, 20, (3, 3)).astype(np.float32)
    add_model(ws, "damage", onnx_classifier(tmp_path / "damage.onnx", weights, DAMAGE))
    # Batches of 4 make units of 32 items: two units, run on the local process pool.
    local = prelabel(ws, "survey", "damage", batch_size=4, workers=2)
    first = _model_rows(ws)
    remote = prelabel(ws, "survey", "damage", batch_size=4, redo=True, cluster=cluster)
    second = {k: v for k, v in _model_rows(ws).items() if k not in first}
    assert local.labelled == remote.labelled == 48 and local.batches == remote.batches == 12
    assert (local.ran_on, remote.ran_on) == ("local", cluster)
    skip = {"seconds", "already", "ran_on"}
    assert {k: v for k, v in local.to_dict().items() if k not in skip} == {
        k: v for k, v in remote.to_dict().items() if k not in skip
    }
    assert sorted(first.values()) == sorted(second.values())
    scores = {json.loads(p)[0]["score"] for _, p in first.values()}
    assert len(scores) > 24  # a score of each scene's own: a real comparison


def test_an_evaluation_with_corruptions_on_a_cluster_matches_the_local_run(
    tmp_path: Path, cluster: str, blob_stack: str
) -> None:
    w = classification_world(tmp_path / "eval", n=300)
    model = onnx_classifier(tmp_path / "flood.onnx")
    add_model(w.ws, "flood", model)
    settings = RunSettings(
        suites=("clean", "corruptions"),
        corruptions=("gaussian_noise", "fog"),
        severities=(1, 3),
        n_resamples=50,
    )
    local = run_evaluation(w.ws, "floods", tmp_path / "local", model="flood", settings=settings)
    remote = run_evaluation(
        w.ws, "floods", tmp_path / "remote", model="flood", settings=settings, cluster=cluster
    )
    assert numbers(local.summary) == numbers(remote.summary)
    assert local.summary["n_evaluated"] == 300 and len(local.summary["corruptions"]["rows"]) == 4
    a, b = local.samples(), remote.samples()
    assert a.drop(columns=["probs"]).equals(b.drop(columns=["probs"]))
    assert np.array_equal(np.stack(a["probs"]), np.stack(b["probs"]))


def test_ingest_on_a_cluster_hashes_and_chips_as_the_local_pool_does(
    ws: Workspace, tmp_path: Path, cluster: str
) -> None:
    folder = tmp_path / "survey"
    folder.mkdir()
    for i in range(40):
        flood_scene(i).save(folder / f"roof_{i:03d}.png", format="PNG")
    write_scene(folder / "town.tif", size=512)
    (folder / "broken.png").write_bytes(b"not an image")
    sensors = SensorOptions(chips=ChipOptions(size=256, overlap=0))
    report = ws.ingest([folder], sensors=sensors, cluster=cluster)
    assert len(report.failed) == 1 and report.failed[0].path.endswith("broken.png")
    files = sorted(str(p) for p in folder.iterdir())
    # The same files through the local process pool: the same items, field for field.
    local = list(_probe_all(files, ws.blobs, "text", "", None, 2, sensors))
    expected = {
        p.sha: (p.media_type, p.size, p.name, p.width, p.height, p.meta_text, p.parent)
        for res in local
        for p in res.items
    }
    cols = ("id", "media_type", "size", "name", "width", "height", "metadata", "parent_id")
    with ws.db.read() as conn:
        rows = conn.execute(select(*(items.c[c] for c in cols))).all()
    got = {r[0]: tuple(r[1:]) for r in rows}
    assert got == expected and len(got) == 40 + 1 + 4  # images, the scene (a COG), its chips
    some = sorted(got)[:3]
    assert [len(b) for b in ws.blobs.read_many(some)] == [got[s][1] for s in some]
    # Again: the scene is found by its file's hash before any unit is sent, one duplicate.
    again = ws.ingest([folder], sensors=sensors, cluster=cluster)
    scene = next(s for s, v in got.items() if v[0].startswith("image/tiff"))
    assert not again.new and len(again.duplicate) == 40 + 1 and scene in again.duplicate


def test_a_bad_cluster_address_is_one_clear_error(ws: Workspace) -> None:
    # bound and never listening: refused, and no other test's server can take the port meanwhile
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with (
            pytest.raises(
                InvalidInput, match=rf"--cluster tcp://127.0.0.1:{port}: no Dask scheduler"
            ),
            runner(f"tcp://127.0.0.1:{port}", blob_url=ws.blobs.url),
        ):
            pass


def test_a_cluster_needs_blobs_the_workers_reach(tmp_path: Path, cluster: str) -> None:
    with (
        pytest.raises(InvalidInput, match="keeps them in a folder on this machine"),
        runner(cluster, blob_url=str(tmp_path / "objects")),
    ):
        pass


def test_the_cli_says_one_line_for_an_address_nothing_answers(cli: RunCli, tmp_path: Path) -> None:
    # bound and never listening: refused, and no other test's server can take the port meanwhile
    with socket.socket() as nobody:
        nobody.bind(("127.0.0.1", 0))
        port = nobody.getsockname()[1]
        folder = tmp_path / "pics"
        folder.mkdir()
        flood_scene(1).save(folder / "a.png", format="PNG")
        cli("init", tmp_path / "w")
        bad = f"tcp://127.0.0.1:{port}"
        res = cli("ingest", folder, "--cluster", bad, cwd=tmp_path / "w", code=1)
        assert f"--cluster {bad}: no Dask scheduler answers there" in res.stderr
        res = cli("ingest", folder, cwd=tmp_path / "w", env={"ASSAY_CLUSTER": bad}, code=1)
        assert "no Dask scheduler answers there" in res.stderr
        res = cli("ingest", folder, "--json", cwd=tmp_path / "w")
        assert json.loads(res.stdout)["new"] == 1  # nothing was written by the failed runs
