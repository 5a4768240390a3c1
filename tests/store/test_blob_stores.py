"""Both blob stores, local folder and S3 (a real SeaweedFS), through the one `BlobStore` seam."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.errors import NotFound
from assay.store import BlobStore, LocalBlobStore, open_blobs
from assay.store.blobs import PACK_MAX
from blob_stacks import use_stack
from seaweed import Seaweed


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[BlobStore]:
    use_stack(request.param, request, monkeypatch, tmp_path)
    url = os.environ.get("ASSAY_BLOB_URL") or str(tmp_path / "objects")
    yield open_blobs(url)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_url_reopens_the_same_store(store: BlobStore) -> None:
    sha = store.put_bytes(b"river gauge 4.2 m")
    again = open_blobs(store.url)
    assert again.get_bytes(sha) == b"river gauge 4.2 m"
    assert type(again) is type(store)


def test_small_blobs_are_packed_and_read_back_in_order(store: BlobStore) -> None:
    blobs = [f"chip {i} of the flooded town".encode() * (i + 1) for i in range(300)]
    shas = store.put_many(blobs + blobs[:5])  # repeats stored once
    assert shas[:300] == [_sha(b) for b in blobs]
    assert list(store.read_many(list(reversed(shas)))) == list(reversed(blobs + blobs[:5]))
    assert store.present([*shas, "0" * 64]) == set(shas)
    assert set(store.iter_shas()) == set(shas)
    assert store.path(shas[7]).read_bytes() == blobs[7]
    with store.open(shas[3]) as fh:
        assert fh.read() == blobs[3]


def test_blobs_in_read_order_lie_as_they_were_packed(store: BlobStore) -> None:
    blobs = [f"scene {i}, a roof under water".encode() for i in range(200)]
    packed = store.put_many(blobs)
    loose = store.put_bytes(b"a single upload, stored on its own")
    asked = [*sorted(packed), loose, packed[0]]  # hash order, with one repeat
    # Packed blobs in the order of their pack (one put_many: one pack), the others after.
    assert store.in_read_order(asked) == [*packed, loose]


def test_a_large_blob_streams_in_ranges(store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "scene.bin"
    block = os.urandom(1 << 16)
    with src.open("wb") as fh:
        for _ in range(3 * PACK_MAX // len(block) + 1):
            fh.write(block)
    data = src.read_bytes()
    sha = _sha(data)
    staged = store.stage_file(str(src), sha)
    store.make_durable([staged])
    store.publish_many([staged])
    assert store.exists(sha)
    with store.open(sha) as fh:
        fh.seek(PACK_MAX + 5)
        assert fh.read(100) == data[PACK_MAX + 5 : PACK_MAX + 105]
        fh.seek(-10, os.SEEK_END)
        assert fh.read() == data[-10:]
    assert store.path(sha).read_bytes() == data


def test_a_missing_blob_is_not_found(store: BlobStore) -> None:
    missing = "ab" * 32
    assert not store.exists(missing)
    with pytest.raises(NotFound, match="missing"):
        store.get_bytes(missing)


def test_collect_keeps_the_live_blobs_and_rewrites_packs(store: BlobStore) -> None:
    blobs = [f"report {i}: levee seepage at km {i}".encode() for i in range(200)]
    shas = store.put_many(blobs)
    loose = store.put_bytes(b"a manifest, stored on its own")
    dead_loose = store.put_bytes(b"a replaced thumbnail")
    live = set(shas[::2]) | {loose}
    report = store.collect(live)
    assert report.removed == 101 and report.kept == 101 and report.repacked >= 1
    assert set(store.iter_shas()) == live
    assert not store.exists(dead_loose) and not store.exists(shas[1])
    again = open_blobs(store.url)  # another process's view: its index refreshes
    assert list(again.read_many(shas[::2])) == blobs[::2]
    assert store.collect(live).removed == 0  # nothing left to collect


def test_a_local_reader_survives_a_repack_under_it(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    reader = LocalBlobStore(tmp_path / "objects")
    shas = store.put_many([b"a", b"b", b"c"])
    assert reader.get_bytes(shas[0]) == b"a"  # the reader has the index open
    store.collect({shas[0], shas[2]})
    assert list(reader.read_many([shas[2], shas[0]])) == [b"c", b"a"]


def test_a_missing_bucket_or_refused_credentials_is_one_error_naming_the_blob_url(
    run_cli: Any, seaweed: Seaweed, tmp_path: Path
) -> None:
    """An S3 store that cannot be used (no such bucket, wrong secret) stops with one error
    naming ASSAY_BLOB_URL and what to check, never a traceback; `init` refuses before it makes
    the folder."""
    s3 = dict(seaweed.env)
    missing = {**s3, "ASSAY_BLOB_URL": "s3://no-such-bucket/flood"}
    res = run_cli("init", "flood", env=missing, code=1)
    assert "ASSAY_BLOB_URL=s3://no-such-bucket/flood" in res.stderr
    assert "bucket 'no-such-bucket' does not exist" in res.stderr
    assert not (tmp_path / "flood").exists()

    good = {**s3, "ASSAY_BLOB_URL": seaweed.url()}
    run_cli("init", "flood", env=good)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "r.txt").write_text("water over the road at the mill")
    # The same folder later opened with a wrong secret.
    wrong = {**good, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    res = run_cli("-w", "flood", "ingest", "notes", env=wrong, code=1)
    assert "AWS_SECRET_ACCESS_KEY" in res.stderr
    assert "1 new" in run_cli("-w", "flood", "ingest", "notes", env=good).stdout


def test_a_folder_opened_with_another_blob_store_than_its_workspaces_is_refused(
    run_cli: Any, seaweed: Seaweed, tmp_path: Path, new_database: Any
) -> None:
    """A workspace on S3 opened in a shell without ASSAY_BLOB_URL (or a local one with it set)
    is refused before anything is read or written: it silently used the other store, so an
    ingest stored its bytes where the servers never look and exports ended in a traceback."""
    s3 = {**seaweed.env, "ASSAY_BLOB_URL": seaweed.url()}
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "r.txt").write_text("the levee at the mill is seeping")
    run_cli("init", "on-s3", env=s3)
    run_cli("-w", "on-s3", "ingest", "notes", env=s3)
    unset = {"ASSAY_BLOB_URL": ""}
    res = run_cli("-w", "on-s3", "ingest", "notes", env=unset, code=1)
    assert f"keeps its blobs in {s3['ASSAY_BLOB_URL']}" in res.stderr
    assert f"set ASSAY_BLOB_URL={s3['ASSAY_BLOB_URL']}" in res.stderr
    assert not list((tmp_path / "on-s3" / ".assay" / "objects").rglob("*.pack"))
    other = {**s3, "ASSAY_BLOB_URL": seaweed.url()}
    run_cli("-w", "on-s3", "status", "--help", env=other)  # --help opens nothing
    res = run_cli("-w", "on-s3", "dataset", "create", "x", env=other, code=1)
    assert f"keeps its blobs in {s3['ASSAY_BLOB_URL']}" in res.stderr

    new_database()  # a second workspace: its own metadata (its own schema on PostgreSQL)
    run_cli("init", "local", env=unset)
    run_cli("-w", "local", "ingest", "notes", env=unset)
    res = run_cli("-w", "local", "dataset", "create", "x", env=s3, code=1)
    assert "keeps its blobs in" in res.stderr and "unset ASSAY_BLOB_URL" in res.stderr
    # A local workspace moved with its folder keeps working: its objects/ moved with it.
    (tmp_path / "local").rename(tmp_path / "moved")
    run_cli("-w", "moved", "dataset", "create", "x", env=unset)
