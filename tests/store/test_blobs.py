"""The local content-addressed blob store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from assay.errors import NotFound
from assay.store import LocalBlobStore, sha256_file
from assay.store.blobs import FSYNC_MAX


def test_blob_named_by_sha256_with_two_level_fanout(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    data = b"Field report: bridge at km 4 washed out."
    sha = store.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = tmp_path / "objects" / sha[:2] / sha[2:]
    assert store.path(sha) == path
    assert path.read_bytes() == data
    assert store.exists(sha) and store.get_bytes(sha) == data
    assert list(store.iter_shas()) == [sha]


def test_put_is_idempotent_and_leaves_no_temporaries(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    a = store.put_bytes(b"same bytes")
    mtime = store.path(a).stat().st_mtime_ns
    assert store.put_bytes(b"same bytes") == a
    assert store.path(a).stat().st_mtime_ns == mtime  # never rewritten
    # Enough new blobs to take the one-sync path, with repeats and an existing blob among them.
    batch = [f"report {i}".encode() for i in range(FSYNC_MAX + 6)] * 2 + [b"same bytes"]
    many = store.put_many(batch)
    assert many == [hashlib.sha256(b).hexdigest() for b in batch]
    assert store.path(a).stat().st_mtime_ns == mtime
    assert sorted(store.iter_shas()) == sorted(set(many))
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


def test_staged_write_then_publish(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    data = b"\x89PNG fake but bytes"
    sha = hashlib.sha256(data).hexdigest()
    tmp = Path(store.stage(data, sha))
    assert not store.exists(sha) and tmp.read_bytes() == data
    store.make_durable([str(tmp)])
    store.publish_many([(str(tmp), sha)])
    assert store.get_bytes(sha) == data and not tmp.exists()
    # Publishing a second copy of a present blob drops the temporary file.
    tmp2 = Path(store.stage(data, sha))
    store.publish_many([(str(tmp2), sha)])
    assert not tmp2.exists() and store.get_bytes(sha) == data


def test_missing_blob_is_not_found(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    with pytest.raises(NotFound, match="blob 0123456789ab is missing"):
        store.get_bytes("0123456789ab" + "0" * 52)


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    p = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # > 1 chunk
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()
