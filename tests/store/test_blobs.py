"""The local content-addressed blob store."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from assay.errors import InvalidInput, NotFound
from assay.store import LocalBlobStore, sha256_file
from assay.store.blobs import PACK_MAX


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
    batch = [f"report {i}".encode() for i in range(70)] * 2 + [b"same bytes"]
    many = store.put_many(batch)
    assert many == [hashlib.sha256(b).hexdigest() for b in batch]
    assert store.path(a).stat().st_mtime_ns == mtime
    assert sorted(store.iter_shas()) == sorted(set(many))
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
    # The new small blobs went into one pack, each stored once.
    packs = list((tmp_path / "objects" / "pack").iterdir())
    assert len(packs) == 1
    assert packs[0].stat().st_size == sum(len(b) for b in set(batch) - {b"same bytes"})
    assert store.put_many(batch) == many
    assert len(list((tmp_path / "objects" / "pack").iterdir())) == 1  # nothing new to write


def test_packed_blobs_read_like_loose_ones(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    chips = [bytes([i]) * (100 + i) for i in range(10)]
    big = b"\x00" * (PACK_MAX + 1)
    shas = store.put_many([*chips, big])
    for sha, data in zip(shas, [*chips, big], strict=True):
        assert store.exists(sha) and store.get_bytes(sha) == data
    assert store.present([*shas, "f" * 64]) == set(shas)
    loose = tmp_path / "objects" / shas[-1][:2] / shas[-1][2:]
    assert loose.read_bytes() == big  # large blobs stay files of their own
    first = tmp_path / "objects" / shas[0][:2] / shas[0][2:]
    assert not first.exists()
    # A caller that needs a file gets the packed blob copied out, once.
    assert store.path(shas[0]) == first and first.read_bytes() == chips[0]
    assert store.get_bytes(shas[0]) == chips[0]
    # Another store object (another process) over the same folder sees the same blobs.
    again = LocalBlobStore(tmp_path / "objects")
    assert [again.get_bytes(s) for s in shas] == [*chips, big]


def test_staged_blobs_are_invisible_until_published(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    small, large = b"\x89PNG fake but bytes", b"L" * (PACK_MAX + 10)
    shas = [hashlib.sha256(d).hexdigest() for d in (small, large)]
    staged = store.stage_many([small, large], shas)
    assert staged[0].pack and not staged[0].tmp
    assert staged[1].tmp and not staged[1].pack
    # Written, but a crash here leaves nothing named: no index row, no file in place.
    for s in staged:
        assert not store.exists(s.sha)
        with pytest.raises(NotFound):
            store.get_bytes(s.sha)
    store.make_durable(staged)
    store.publish_many(staged)
    assert [store.get_bytes(s.sha) for s in staged] == [small, large]
    assert not Path(staged[1].tmp).exists()
    # Publishing a second copy of a present blob keeps the first.
    again = store.stage_many([small, large], shas)
    store.publish_many(again)
    assert not Path(again[1].tmp).exists()
    assert [store.get_bytes(s.sha) for s in again] == [small, large]
    index = sqlite3.connect(tmp_path / "objects" / "packs.db")
    assert index.execute("SELECT pack FROM packed").fetchall() == [(staged[0].pack,)]
    index.close()


def test_missing_blob_is_not_found(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    with pytest.raises(NotFound, match="blob 0123456789ab is missing"):
        store.get_bytes("0123456789ab" + "0" * 52)


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    p = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # > 1 chunk
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


def _put_from_worker(root: str, k: int, start: Any, errors: Any) -> None:
    start.wait()  # every process opens the fresh store at the same moment
    try:
        LocalBlobStore(Path(root)).put_many([f"chip {k}-{i}".encode() for i in range(20)])
    except Exception as exc:  # reported to the test below
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_store_at_once(tmp_path: Path) -> None:
    """Ingest workers open the same fresh store together; none may fail to set it up."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for attempt in range(4):
        root = tmp_path / f"objects{attempt}"
        root.mkdir()
        start, errors = ctx.Barrier(6), ctx.Queue()
        procs = [
            ctx.Process(target=_put_from_worker, args=(str(root), k, start, errors))
            for k in range(6)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert errors.empty(), errors.get()
        store = LocalBlobStore(root)
        assert len(list(store.iter_shas())) == 6 * 20
        assert store.get_bytes(hashlib.sha256(b"chip 3-5").hexdigest()) == b"chip 3-5"


def test_read_many_reads_packed_and_loose_blobs_in_order(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    chips = [f"chip {i}".encode() for i in range(700)]  # more than one index query's worth
    packed = store.put_many(chips)
    loose = store.put_bytes(b"a manifest")
    order = [loose, *reversed(packed), packed[3]]
    assert list(store.read_many(order)) == [b"a manifest", *reversed(chips), chips[3]]
    with pytest.raises(NotFound, match="blob 0123456789ab is missing"):
        list(store.read_many([packed[0], "0123456789ab" + "0" * 52]))


def test_a_pack_larger_than_the_write_back_step_reads_back(tmp_path: Path) -> None:
    from assay.store.blobs import WRITEBACK_STEP

    store = LocalBlobStore(tmp_path / "objects")
    chips = [bytes([i]) * (PACK_MAX - i) for i in range(WRITEBACK_STEP // PACK_MAX + 2)]
    shas = store.put_many(chips)
    [pack] = (tmp_path / "objects" / "pack").iterdir()
    assert pack.stat().st_size == sum(map(len, chips)) > WRITEBACK_STEP
    assert list(store.read_many(shas)) == chips


def test_bulk_writes_flush_only_their_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many blobs are made durable by flushing the files the store wrote, never by a
    system-wide sync (which would wait for every other process's unwritten data)."""

    def refuse() -> None:
        raise AssertionError("os.sync() flushes the whole system")

    monkeypatch.setattr("os.sync", refuse)
    store = LocalBlobStore(tmp_path / "objects")
    blobs = [f"chip {k}".encode() for k in range(300)] + [
        bytes([k]) * (PACK_MAX + 1) for k in range(70)
    ]
    shas = [hashlib.sha256(b).hexdigest() for b in blobs]
    staged = store.stage_many(blobs, shas)
    store.make_durable(staged)
    store.publish_many(staged)
    assert [store.get_bytes(s) for s in shas] == blobs


def test_a_name_that_is_not_a_sha256_never_becomes_a_path(tmp_path: Path) -> None:
    # A pack index row naming a path (an index file edited by hand) made reading that "blob"
    # stage a file at the path, anywhere the process can write.
    store = LocalBlobStore(tmp_path / "objects")
    sha = store.put_many([b"chip"])[0]
    target = tmp_path / "escaped.sh"
    index = sqlite3.connect(tmp_path / "objects" / "packs.db")
    with index:
        row = index.execute(
            "SELECT pack, offset, length FROM packed WHERE sha = ?", (sha,)
        ).fetchone()
        index.execute("INSERT INTO packed VALUES (?, ?, ?, ?)", (str(target), *row))
    index.close()
    for read in (store.path, store.get_bytes, store.open):
        with pytest.raises(InvalidInput, match="is not a blob name"):
            read(str(target))
    assert not store.exists(str(target)) and store.present([str(target), sha]) == {sha}
    assert not target.exists()
