"""Commits: content ids, Parquet manifests, the working state's state column, log and tags."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest

from assay.domain.labels import payload_hash
from assay.errors import Conflict, InvalidInput, NotFound
from assay.versioning import _manifest
from assay.versioning._manifest import COLUMNS
from blob_stacks import stacks
from versioning_world import Flood, box, manifest_path, sql_rows, sql_run

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _commit_rows(flood: Flood) -> list[tuple[str, int, str]]:
    return sql_rows(flood.ws, "SELECT id, seq, parents FROM commits ORDER BY seq")  # type: ignore[return-value]


def test_commit_id_manifest_and_head(flood: Flood) -> None:
    flood.label(flood.images[0], box("boat", 5), box("person", 30))
    c = flood.ws.commit("flood", "first labelled cut", author="user:lead")
    assert HEX64.match(c.id) and c.verify()
    assert (c.parents, c.author, c.seq) == ((), "user:lead", 1)
    assert c.stats == {
        "items": 6,
        "regions": 2,
        "added_items": 6,
        "changed_items": 0,
        "removed_items": 0,
    }
    assert [d.head for d in flood.ws.datasets()] == [c.id]
    table = pq.read_table(manifest_path(flood.ws, c.manifest))
    assert table.column_names == COLUMNS
    assert {
        "item_id",
        "blob",
        "media_type",
        "metadata_hash",
        "labels",
        "label_hash",
        "n_regions",
        "annotation_ids",
        "authors",
        "marking",
    } <= set(COLUMNS)
    assert table.num_rows == 6
    assert table["item_id"].to_pylist() == sorted(flood.all)
    (row,) = [r for r in table.to_pylist() if r["item_id"] == flood.images[0]]
    assert row["blob"] in (None, flood.images[0])  # null: the item id is the blob's sha256
    assert row["n_regions"] == 2 and row["authors"] == ["user:ana"]
    assert row["annotation_ids"] == [f"ann-{flood.images[0][:6]}"]
    assert row["label_hash"] == payload_hash([box("boat", 5), box("person", 30)])
    assert [r["label"] for r in json.loads(row["labels"])] == ["boat", "person"]
    assert row["marking"] == "UNCLASSIFIED" and row["media_type"] == "image/png"
    assert HEX64.match(row["metadata_hash"])
    assert len({r["metadata_hash"] for r in table.to_pylist()}) == 6


def test_change_log_follows_the_change(flood: Flood) -> None:
    """Commit and status read the change log, so their cost follows what changed."""
    ws = flood.ws
    # Before the first commit every member is new: no log is kept, status lists them all.
    assert flood.pending() == set()
    assert set(ws.status("flood").items_added) == set(flood.all)
    first = ws.commit("flood", "v1")
    assert flood.pending() == set()
    flood.label(flood.images[1], box("debris", 12))
    assert flood.pending() == {flood.images[1]}
    assert ws.status("flood").items_changed == [flood.images[1]]
    # Setting the labels back to what HEAD holds leaves nothing to commit.
    flood.label(flood.images[1])
    assert ws.status("flood").empty
    with pytest.raises(Conflict, match="nothing to commit in 'flood'"):
        ws.commit("flood", "empty")
    flood.label(flood.images[1], box("debris", 12))
    second = ws.commit("flood", "v2")
    assert second.parents == (first.id,) and second.seq == 2
    assert (second.stats["changed_items"], second.stats["added_items"], second.stats["items"]) == (
        1,
        0,
        6,
    )
    assert flood.pending() == set()
    assert second.delta is not None and HEX64.match(second.delta)
    delta = pq.read_table(manifest_path(ws, second.delta)).to_pylist()
    assert [(d["item_id"], d["change"]) for d in delta] == [(flood.images[1], "changed")]
    # The second manifest is a layer holding only the changed row over the first.
    layer = pq.read_table(manifest_path(ws, second.manifest))
    assert layer["item_id"].to_pylist() == [flood.images[1]]
    assert layer.schema.metadata[b"assay.base"] == first.manifest.encode()
    # Read through the layer, unchanged rows are the previous manifest's, untouched.
    old = _manifest.read(ws.blobs, first.manifest).to_pylist()
    new = {r["item_id"]: r for r in _manifest.read(ws.blobs, second.manifest).to_pylist()}
    assert set(new) == {r["item_id"] for r in old}
    for r in old:
        if r["item_id"] != flood.images[1]:
            assert new[r["item_id"]] == r
        else:
            assert new[r["item_id"]]["n_regions"] == 1


def test_commit_needs_a_message(flood: Flood) -> None:
    with pytest.raises(InvalidInput, match="needs a message"):
        flood.ws.commit("flood", "  ")


def test_empty_dataset_has_nothing_to_commit(ws) -> None:  # type: ignore[no-untyped-def]
    ws.create_dataset("empty")
    with pytest.raises(Conflict, match="nothing to commit in 'empty'"):
        ws.commit("empty", "start")
    assert ws.log("empty") == []


def test_log_order_and_show(flood: Flood) -> None:
    ws = flood.ws
    ids = [ws.commit("flood", "v1").id]
    for i in range(2):
        flood.label(flood.images[i], box("boat", 10 + 20 * i))
        ids.append(ws.commit("flood", f"v{i + 2}").id)
    log = ws.log("flood")
    assert [c.id for c in log] == ids[::-1]
    assert [c.message for c in log] == ["v3", "v2", "v1"]
    assert all(c.verify() for c in log)
    assert [c.seq for c in log] == [3, 2, 1]
    assert [(r[0], r[1], json.loads(r[2])) for r in _commit_rows(flood)] == [
        (ids[0], 1, []),
        (ids[1], 2, [ids[0]]),
        (ids[2], 3, [ids[1]]),
    ]
    info = ws.show("flood@HEAD~1")
    assert info["id"] == ids[1] and info["verified"] is True
    assert info["marking"] == "UNCLASSIFIED" and info["tags"] == []
    assert ws.show("flood")["id"] == ids[2]


def test_tags_and_revisions(flood: Flood) -> None:
    ws = flood.ws
    v1 = ws.commit("flood", "v1")
    flood.label(flood.images[0], box("boat", 1))
    v2 = ws.commit("flood", "v2")
    assert ws.tag("flood", "HEAD~1", "baseline").id == v1.id
    assert ws.tag("flood", v2.id[:8], "release-1").id == v2.id
    assert ws.resolve("flood@baseline").commit.id == v1.id  # type: ignore[union-attr]
    assert ws.resolve("flood@release-1").commit.id == v2.id  # type: ignore[union-attr]
    assert ws.resolve(f"flood@{v1.id[:4]}").commit.id == v1.id or v1.id[:4] == v2.id[:4]  # type: ignore[union-attr]
    assert ws.resolve(f"flood@{v1.id.upper()[:10]}").commit.id == v1.id  # type: ignore[union-attr]
    assert ws.resolve("flood@HEAD").commit.id == v2.id  # type: ignore[union-attr]
    assert ws.resolve("flood", default_head=False).commit is None  # bare name: working state
    assert ws.resolve("flood", default_head=True).commit.id == v2.id  # type: ignore[union-attr]
    assert ws.show("flood@baseline")["tags"] == ["baseline"]
    with pytest.raises(Conflict, match="tag 'baseline' already exists"):
        ws.tag("flood", "HEAD", "baseline")
    for bad in ("HEAD~2", "a@b", ""):
        with pytest.raises(InvalidInput, match="bad tag name"):
            ws.tag("flood", "HEAD", bad)
    with pytest.raises(NotFound, match="no tag 'nightly'"):
        ws.resolve("flood@nightly")
    with pytest.raises(NotFound, match="4\\+ hex digits"):
        ws.resolve(f"flood@{v1.id[:3]}")
    with pytest.raises(NotFound, match="no tag or commit matches"):
        ws.resolve(
            "flood@"
            + ("0000" if not v1.id.startswith("0000") and not v2.id.startswith("0000") else "ffff")
        )
    with pytest.raises(NotFound, match="only 2 commit"):
        ws.resolve("flood@HEAD~2")
    with pytest.raises(InvalidInput, match="nothing after '@'"):
        ws.resolve("flood@")
    with pytest.raises(NotFound, match="no dataset named 'river'"):
        ws.resolve("river@HEAD")


def test_ambiguous_prefix(flood: Flood) -> None:
    ws = flood.ws
    v1 = ws.commit("flood", "v1")
    # A second commit sharing the first 6 digits (prefix collisions are rare; craft one).
    twin = v1.id[:6] + ("0" if v1.id[6] != "0" else "1") * 58
    sql_run(
        ws,
        "INSERT INTO commits (id, dataset_id, parents, message, author, created, manifest,"
        " stats, seq) SELECT :twin, dataset_id, parents, 'twin', author, created, manifest,"
        " stats, 2 FROM commits WHERE id = :id",
        twin=twin,
        id=v1.id,
    )
    with pytest.raises(InvalidInput, match="ambiguous, matches 2 commits"):
        ws.resolve(f"flood@{v1.id[:6]}")
    assert ws.resolve(f"flood@{v1.id[:7]}").commit.id == v1.id  # type: ignore[union-attr]


def test_no_commits_yet(flood: Flood) -> None:
    with pytest.raises(NotFound, match="has no commits yet"):
        flood.ws.resolve("flood@HEAD")
    assert flood.ws.log("flood") == []


def test_work_after_a_commit_sees_every_earlier_write(flood: Flood) -> None:
    # Everything written after a commit, in the same process, stays visible to the next one.
    ws = flood.ws
    ws.commit("flood", "v1")
    ws.create_dataset("second")
    assert ws.add_items("second", "media_type~image/*") == 4
    c = ws.commit("second", "images only")
    assert c.stats["items"] == 4
    assert [(d.name, d.commits) for d in ws.datasets()] == [("flood", 1), ("second", 1)]


def test_a_commit_survives_a_crash_right_after_it(tmp_path, samples, subprocess_env) -> None:  # type: ignore[no-untyped-def]
    # The process dies (no clean close, no checkpoint) just after commit returned: nothing of
    # what was acknowledged may be lost.
    import subprocess
    import sys

    from assay import Workspace

    samples.images("uav", 3)
    script = f"""
import os
from assay import Workspace
w = Workspace.init({str(tmp_path / "ws")!r})
w.ingest([{str(samples.root)!r}])
w.create_dataset('flood')
w.add_items('flood')
print(w.commit('flood', 'v1').id, flush=True)
w.create_dataset('after-commit')
os._exit(0)
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    with Workspace.open(tmp_path / "ws") as w:
        infos = {d.name: d for d in w.datasets()}
        assert set(infos) == {"flood", "after-commit"}
        assert infos["flood"].head == out.stdout.strip() and infos["flood"].items == 3
        assert w.audit_verify().ok
