"""Both blob stores, local folder and S3 (a real SeaweedFS), through the one `BlobStore` seam."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.errors import Corrupt, InvalidInput, NotFound
from assay.store import BlobStore, LocalBlobStore, open_blobs
from assay.store.blobs import PACK_MAX
from assay.store.s3 import S3BlobStore
from blob_stacks import use_stack
from proxy_trap import proxy_trap
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


@pytest.fixture
def s3(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> S3BlobStore:
    use_stack("s3", request, monkeypatch, tmp_path)
    store = open_blobs(os.environ["ASSAY_BLOB_URL"])
    assert isinstance(store, S3BlobStore)
    return store


def _overwrite(store: S3BlobStore, key: str, data: bytes) -> None:
    """What anyone who can write the bucket (not assay) can do to an object."""
    store.s3.put_object(Bucket=store.bucket, Key=key, Body=data)


def test_a_loose_object_changed_in_the_bucket_is_never_served(s3: S3BlobStore) -> None:
    sha = s3.put_bytes(b'{"model": "damage-clf", "weights": "a1"}')
    _overwrite(s3, s3._key(sha), b'{"model": "damage-clf", "weights": "XX"}')
    fresh = S3BlobStore(s3.url)  # another process, nothing cached
    for read in (fresh.get_bytes, lambda s: list(fresh.read_many([s])), fresh.path):
        with pytest.raises(Corrupt) as err:
            read(sha)
        assert str(err.value) == (
            f"blob {sha[:12]} in {s3.url} does not hash to its name: the stored bytes were "
            "changed or damaged; nothing read from it was used"
        )
    assert not (fresh.cache / sha[:2] / sha[2:]).exists()  # never cached as if it were good


def _geotiff(tmp_path: Path, value: int) -> bytes:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / f"scene-{value}.tif"
    profile = dict(driver="GTiff", width=64, height=64, count=1, dtype="uint8",
                   crs="EPSG:4326", transform=from_origin(-95.4, 29.8, 1e-4, 1e-4))  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, 64, 64), value, dtype="uint8"))
    return path.read_bytes()


def test_a_scene_changed_in_the_bucket_is_never_read_in_ranges(
    s3: S3BlobStore, tmp_path: Path
) -> None:
    """Map tiles read a scene in place through GDAL's /vsis3/, in ranges: those reads are
    checked too (the whole object hashed once per process before its first range, and again
    when the object changes under it), so other bytes are never rendered under its name."""
    import rasterio

    from assay.store.blobs import raster_path

    good, other = _geotiff(tmp_path, 7), _geotiff(tmp_path, 200)
    sha = s3.put_bytes(good)
    fresh = S3BlobStore(s3.url)  # another process, nothing verified yet
    with raster_path(fresh, sha) as name, rasterio.open(name) as src:
        assert int(src.read(1)[0, 0]) == 7
    _overwrite(s3, s3._key(sha), other)  # after this process verified it once
    for store in (fresh, S3BlobStore(s3.url)):
        with (
            pytest.raises(Corrupt, match=f"blob {sha[:12]} in .* does not hash to its name"),
            raster_path(store, sha) as name,
            rasterio.open(name) as src,
        ):
            src.read(1)
    _overwrite(s3, s3._key(sha), good)  # put back: read again
    with raster_path(fresh, sha) as name, rasterio.open(name) as src:
        assert int(src.read(1)[0, 0]) == 7


def test_a_scene_replaced_between_its_check_and_its_reads_is_never_drawn(
    s3: S3BlobStore, tmp_path: Path
) -> None:
    """The whole-object hash is checked before GDAL's first range, but the object can be
    replaced after that check: GDAL's ranged reads are conditional on the version that was
    hashed (If-Match its ETag), so the other bytes are refused, and the error says the blob
    changed, never drawing what it now holds."""
    import rasterio

    from assay.store.blobs import raster_path

    good, other = _geotiff(tmp_path, 31), _geotiff(tmp_path, 230)
    sha = s3.put_bytes(good)
    fresh = S3BlobStore(s3.url)  # another process, nothing verified or cached yet
    drawn: list[int] = []
    with (
        pytest.raises(Corrupt, match=f"blob {sha[:12]} in .* was replaced while it was read"),
        raster_path(fresh, sha) as name,
    ):
        _overwrite(s3, s3._key(sha), other)  # checked, not yet read: GDAL reads next
        with rasterio.open(name) as src:
            drawn.append(int(src.read(1)[0, 0]))
    assert drawn == []


def test_a_scene_is_read_in_place_directly_never_through_a_proxy(
    s3: S3BlobStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GDAL's /vsis3/ reads (map tiles) go through libcurl, which honours HTTP_PROXY and its
    kin: a proxy left in the environment would be handed the scene's bytes. GDAL is told to
    reach the endpoint directly, like boto3."""
    import rasterio

    from assay.store.blobs import raster_path

    sha = s3.put_bytes(_geotiff(tmp_path, 42))
    # The trap never answers: without a bound, GDAL waiting on it would hang the test.
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("GDAL_HTTP_MAX_RETRY", "0")
    with proxy_trap(monkeypatch) as heard:
        # GDAL's own names for a proxy, read from the environment too.
        monkeypatch.setenv("GDAL_HTTP_PROXY", os.environ["HTTP_PROXY"])
        monkeypatch.setenv("GDAL_HTTPS_PROXY", os.environ["HTTPS_PROXY"])
        fresh = S3BlobStore(s3.url)  # a process started with the proxy set
        with raster_path(fresh, sha) as name, rasterio.open(name) as src:
            assert name.startswith("/vsis3/")
            assert int(src.read(1)[0, 0]) == 42
    assert heard == []


def test_a_packed_blob_changed_in_the_bucket_is_never_served(s3: S3BlobStore) -> None:
    blobs = [f"chip {i}: roof intact".encode() for i in range(20)]
    shas = s3.put_many(blobs)
    (pack,) = {k for k, *_ in s3._list(s3.prefix + "pack/") if k.endswith(".pack")}
    body = s3._get(pack).replace(b"chip 7: roof intact", b"chip 7: roof GONE!!")
    _overwrite(s3, pack, body)
    fresh = S3BlobStore(s3.url)
    assert list(fresh.read_many(shas[:7])) == blobs[:7]  # the untouched ones still read
    with pytest.raises(Corrupt, match=f"blob {shas[7][:12]} in .* does not hash to its name"):
        list(fresh.read_many(shas))
    with pytest.raises(Corrupt):
        fresh.open(shas[7])


def test_a_pack_index_pointing_a_name_at_other_bytes_is_caught(
    s3: S3BlobStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shas = s3.put_many([b"public chip", b"secret chip"])
    (idx,) = {k for k, *_ in s3._list(s3.prefix + "pack/") if k.endswith(".idx")}
    rows = [line.split() for line in s3._get(idx).decode().splitlines()]
    where = {sha: (off, n) for sha, off, n in rows}
    swapped = "".join(
        f"{sha} {where[other][0]} {where[other][1]}\n"
        for sha, other in zip(shas, reversed(shas), strict=True)
    )
    _overwrite(s3, idx, swapped.encode())
    monkeypatch.setenv("ASSAY_BLOB_CACHE", str(tmp_path / "other-machine"))
    fresh = S3BlobStore(s3.url)  # another machine: it reads the index from the bucket
    with pytest.raises(Corrupt):
        fresh.get_bytes(shas[0])


def test_the_bucket_is_reached_directly_never_through_a_proxy(
    s3: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy named in the environment (HTTP_PROXY, left from a machine that once had a
    network) would be handed every blob stored or read: the endpoint is asked directly."""
    with proxy_trap(monkeypatch) as heard:
        fresh = S3BlobStore(s3.url)  # a process started with the proxy set
        sha = fresh.put_bytes(b"casualty list, sector 4")
        assert fresh.get_bytes(sha) == b"casualty list, sector 4"
    assert heard == []


def test_a_blob_cache_others_can_write_is_refused(
    s3: S3BlobStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Cached files are used as found: in a cache folder another user made first (the default
    # is /tmp/assay-blobs-UID, a name anyone can guess) they could plant a model of their own.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("ASSAY_BLOB_CACHE", str(shared))
    with pytest.raises(InvalidInput) as err:
        S3BlobStore(s3.url)
    assert str(err.value) == (
        f"ASSAY_BLOB_CACHE: {shared} is writable by others (mode 777); the blob cache must be "
        "yours alone: remove it, or set ASSAY_BLOB_CACHE to a folder of your own"
    )
    fresh = tmp_path / "fresh" / "cache"
    monkeypatch.setenv("ASSAY_BLOB_CACHE", str(fresh))
    store = S3BlobStore(s3.url)
    assert (fresh.stat().st_mode & 0o777, store.cache.stat().st_mode & 0o777) == (0o700, 0o700)


def test_check_many_finds_missing_and_changed_blobs_on_both_stores(store: BlobStore) -> None:
    """`check_many` (what `assay audit verify --blobs` reads the store with) tells a held blob
    from a missing one and from one whose stored bytes were changed, packed or loose, on
    either store, without writing anything."""
    small = [f"chip {i}: roof intact".encode() for i in range(6)]
    big = bytes(range(256)) * ((PACK_MAX + 4096) // 256)  # larger blobs stay loose
    shas = store.put_many([*small, big])
    absent = _sha(b"never stored")
    if isinstance(store, S3BlobStore):
        (pack,) = {k for k, *_ in store._list(store.prefix + "pack/") if k.endswith(".pack")}
        _overwrite(
            store, pack, store._get(pack).replace(b"chip 3: roof intact", b"chip 3: roof GONE!!")
        )
        _overwrite(store, store._key(shas[-1]), big[:-1] + b"\x00")
        store = S3BlobStore(store.url)  # another process: nothing cached
    else:
        assert isinstance(store, LocalBlobStore)
        pack, offset, _length = store._locate(shas[3]) or ("", 0, 0)
        with open(os.path.join(store._packs, pack), "r+b") as fh:
            fh.seek(offset + 8)
            fh.write(b"GONE")
        Path(store._loose(shas[-1])).write_bytes(big[:-1] + b"\x00")
    before = (
        sorted(p.name for p in Path(store.url).rglob("*"))
        if not isinstance(store, S3BlobStore)
        else []
    )
    got = dict(store.check_many([*shas, absent]))
    assert got == {
        **{s: None for s in shas[:3] + shas[4:6]},
        shas[3]: "changed",
        shas[-1]: "changed",
        absent: "missing",
    }
    if not isinstance(store, S3BlobStore):  # nothing copied out or written
        assert sorted(p.name for p in Path(store.url).rglob("*")) == before
