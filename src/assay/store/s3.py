"""Blobs on S3-compatible object storage (``ASSAY_BLOB_URL=s3://bucket/prefix``).

The endpoint and credentials come from the usual AWS variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``), read by each process itself:
the store's `url` carries no secret.

Layout under the prefix, mirroring `LocalBlobStore`:

- loose objects ``ab/cdef...`` for single puts and blobs larger than `PACK_MAX`;
- packs ``pack/NAME.pack`` with their index ``pack/NAME.idx`` (lines ``sha offset length``):
  small blobs written in bulk, one PUT per pack instead of one per blob. A pack is uploaded
  when staged and its index when published, so a pack nobody indexed is never read; a crash
  in between leaves an unindexed pack that `assay gc` removes.

Each process keeps a cache of the pack indexes (a SQLite file) and of blobs fetched whole
for `path` (files that libraries want by name: manifests, models, scenes), under
``ASSAY_BLOB_CACHE`` (default: a folder in the system's temporary directory). Blobs are
immutable, so a cached copy is never stale; an index that names a pack gc has rewritten is
refreshed from the bucket on the first miss. Large media are read in ranges (`open`) and
cached files are downloaded in parts, never held whole in memory.

Every read for use is checked against the blob's name: whole reads as they are fetched; a
scene GDAL reads in ranges (`gdal_path`) is hashed whole first, once per process and object
version (`_verify_in_place`), and GDAL's ranged reads carry ``If-Match`` with the ETag of the
version hashed, so an object replaced after the check is refused, not read (`replaced` names
it). `open` streams unchecked ranges: its callers (backup, verify) hash what they read to the
end.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import logging
import os
import re
import secrets
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from assay.errors import Corrupt, InvalidInput, NotFound
from assay.store.blobs import (
    CHANGED,
    MISSING,
    PACK_MAX,
    CollectReport,
    Staged,
    blob_name,
    corrupt_blob,
    put_many,
    read_order,
    sha256_file,
    sha256_stream,
)

log = logging.getLogger(__name__)
# An ETag as S3 servers send it: a quoted run of printable characters without '"'.
_ETAG = re.compile(r'"[!#-~]*"')

PACK_BYTES = 64 << 20  # a pack object holds at most about this much
_SPAN_GAP = 1 << 20  # neighbouring packed blobs closer than this are fetched in one GET
_SPAN_MAX = 16 << 20
_READ_BYTES = 128 << 20  # read_many holds at most about this much of packed blobs at once
_READ_COUNT = 16384
_CHUNK = 500
_THREADS = 16


def _client() -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise InvalidInput(
            "ASSAY_BLOB_URL names S3 storage, which needs boto3: pip install 'assay[s3]'"
        ) from None
    config = Config(
        max_pool_connections=_THREADS * 2,
        retries={"max_attempts": 5, "mode": "standard"},
        s3={"addressing_style": "path"},
        # The endpoint directly, never through a proxy from the environment (HTTP_PROXY),
        # which would be handed every blob stored or read.
        proxies={},
    )
    # boto3 reads AWS_ENDPOINT_URL, the credentials and the region from the environment.
    return boto3.client("s3", config=config)


_REFUSED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "403",
}


def failure_message(exc: BaseException, url: str | None = None) -> str | None:
    """One line for an S3 store that cannot be used (no such bucket, refused credentials, no
    endpoint), naming ``ASSAY_BLOB_URL`` and what to check; None for anything else."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return None
    if not isinstance(exc, BotoCoreError | ClientError):
        return None
    url = url or os.environ.get("ASSAY_BLOB_URL") or "s3://?"
    bucket = url[len("s3://") :].partition("/")[0]
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS's default endpoint"
    where = f"ASSAY_BLOB_URL={url}"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        no_bucket = code in ("404", "NotFound") and exc.operation_name == "HeadBucket"
        if code == "NoSuchBucket" or no_bucket:
            return (
                f"{where}: the bucket {bucket!r} does not exist at {endpoint}; create it first "
                f"(e.g. `aws s3 mb s3://{bucket}`) or name one that does"
            )
        if code in _REFUSED:
            return (
                f"{where}: {endpoint} refused the credentials ({code}); check "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        return f"{where}: the S3 store at {endpoint} answered {code or 'an error'} ({exc})"
    return f"{where}: cannot use the S3 store at {endpoint} ({exc}); check AWS_ENDPOINT_URL"


class S3BlobStore:
    """Blobs in an S3 bucket under a prefix; see the module notes."""

    def __init__(self, url: str) -> None:
        if not url.startswith("s3://") or len(url) <= len("s3://"):
            raise InvalidInput(f"ASSAY_BLOB_URL={url!r}: expected s3://BUCKET[/PREFIX]")
        self._url = url.rstrip("/")
        bucket, _, prefix = self._url[len("s3://") :].partition("/")
        self.bucket, self.prefix = bucket, (prefix + "/" if prefix else "")
        self.s3 = _client()
        where = f"{os.environ.get('AWS_ENDPOINT_URL', '')} {self._url}"
        base = os.environ.get("ASSAY_BLOB_CACHE") or os.path.join(
            tempfile.gettempdir(), f"assay-blobs-{os.getuid()}"
        )
        self.cache = Path(base) / hashlib.sha256(where.encode()).hexdigest()[:16]
        _private(Path(base))
        _private(self.cache)
        self._local = threading.local()
        # Loose objects hashed whole in this process (sha -> the ETag then): `_verify_in_place`.
        self._verified: dict[str, str] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pid = os.getpid()

    @property
    def url(self) -> str:
        return self._url

    def check(self) -> None:
        """Raise `InvalidInput` (see `failure_message`) unless the bucket is there and the
        credentials are accepted: one request, before a workspace is made on it."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            message = failure_message(exc, self._url)
            if message is None:
                raise
            raise InvalidInput(message) from None

    # --- keys and plumbing ---------------------------------------------------------------------

    def _key(self, sha: str) -> str:
        return f"{self.prefix}{blob_name(sha, self._url)[:2]}/{sha[2:]}"

    def _pack_key(self, name: str, ext: str) -> str:
        return f"{self.prefix}pack/{name}.{ext}"

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pid != os.getpid():
            self._pool, self._pid = ThreadPoolExecutor(_THREADS), os.getpid()
        return self._pool

    def _get(self, key: str, first: int | None = None, last: int | None = None) -> bytes:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if first is not None:
            args["Range"] = f"bytes={first}-{last}"
        body = self.s3.get_object(**args)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def _checked(self, sha: str, data: bytes) -> bytes:
        """`data` if it hashes to `sha`: whoever else can write the bucket (or a damaged
        object, or an index naming other bytes) never gets other bytes served under a name."""
        if hashlib.sha256(data).hexdigest() != sha:
            raise corrupt_blob(sha, self._url)
        return data

    def _missing(self, exc: Exception) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("NoSuchKey", "404", "NotFound")

    def _head(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if self._missing(exc):
                return False
            raise
        return True

    def _list(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """(key, size, modified as a POSIX time) of every object under `prefix`."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                yield str(obj["Key"]), int(obj["Size"]), obj["LastModified"].timestamp()

    # --- the pack index cache ------------------------------------------------------------------

    def _index(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.cache / "index.db", timeout=60, isolation_level=None)
            with open(self.cache / "index.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS packed (sha TEXT NOT NULL, pack TEXT NOT NULL,"
                    " offset INTEGER NOT NULL, length INTEGER NOT NULL, PRIMARY KEY (sha, pack))"
                    " WITHOUT ROWID"
                )
                conn.execute("CREATE TABLE IF NOT EXISTS packs (name TEXT PRIMARY KEY)")
                conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _add_index(self, name: str, rows: Sequence[tuple[str, int, int]]) -> None:
        conn = self._index()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR IGNORE INTO packs VALUES (?)", (name,))
            conn.executemany(
                "INSERT OR IGNORE INTO packed VALUES (?, ?, ?, ?)",
                [(sha, name, off, n) for sha, off, n in rows],
            )

    def _read_idx(self, name: str) -> list[tuple[str, int, int]]:
        text = self._get(self._pack_key(name, "idx")).decode()
        rows = []
        for line in text.splitlines():
            sha, off, n = line.split()
            rows.append((sha, int(off), int(n)))
        return rows

    def _refresh(self) -> None:
        """Load the indexes of packs this process has not seen; forget packs that are gone."""
        listed = {
            k[len(self.prefix) + 5 : -4]
            for k, *_ in self._list(self.prefix + "pack/")
            if k.endswith(".idx")
        }
        conn = self._index()
        known = {r[0] for r in conn.execute("SELECT name FROM packs")}
        for name in sorted(known - listed):
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("DELETE FROM packed WHERE pack = ?", (name,))
                conn.execute("DELETE FROM packs WHERE name = ?", (name,))
        new = sorted(listed - known)
        for name, rows in zip(new, self._threads().map(self._read_idx, new), strict=True):
            self._add_index(name, rows)

    def _locations(self, shas: Sequence[str]) -> dict[str, tuple[str, int, int]]:
        conn = self._index()
        out: dict[str, tuple[str, int, int]] = {}
        for start in range(0, len(shas), _CHUNK):
            chunk = list(shas[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT sha, pack, offset, length FROM packed WHERE sha IN ({marks})"
            for r in conn.execute(sql, chunk):
                out.setdefault(r[0], (r[1], r[2], r[3]))
        return out

    def _locate_all(self, shas: Sequence[str]) -> dict[str, tuple[str, int, int]]:
        where = self._locations(shas)
        if len(where) < len(set(shas)):
            self._refresh()
            where = self._locations(shas)
        return where

    # --- reading -------------------------------------------------------------------------------

    def present(self, shas: Iterable[str]) -> set[str]:
        """Which of `shas` are packed (looked up in the index). A loose copy is not looked
        for: staging a blob again only writes a second copy, which `assay gc` drops."""
        return set(self._locate_all(list(dict.fromkeys(shas))))

    def exists(self, sha: str) -> bool:
        return bool(self._locate_all([sha])) or self._head(self._key(sha))

    def get_bytes(self, sha: str) -> bytes:
        return next(self.read_many([sha]))

    def in_read_order(self, shas: Sequence[str]) -> list[str]:
        """`shas` (without repeats) in the order they lie in the bucket. A batch job that reads
        its blobs in runs of this order fetches a run in one ranged GET of a pack, where blobs
        in the order of their hashes take one GET each (and that request's cost in the client
        and the server is most of reading a small image)."""
        return read_order(shas, self._locate_all(shas))

    def read_many(self, shas: Sequence[str]) -> Iterator[bytes]:
        """The bytes of each blob, in order. Blobs are fetched a chunk at a time (up to
        `_READ_BYTES` of packed blobs, as the index says), and within a chunk the packed
        blobs of one pack come in few ranged GETs, whatever order the caller asks in."""
        chunk: list[str] = []
        size = 0
        for start in range(0, len(shas), _CHUNK):
            part = list(shas[start : start + _CHUNK])
            where = self._locations(part)
            for sha in part:
                chunk.append(sha)
                size += where[sha][2] if sha in where else PACK_MAX
                if size >= _READ_BYTES or len(chunk) >= _READ_COUNT:
                    got = self._fetch(chunk)
                    yield from (got[s] for s in chunk)
                    chunk, size = [], 0
        if chunk:
            got = self._fetch(chunk)
            yield from (got[s] for s in chunk)

    def _fetch(self, shas: list[str], retry: bool = True) -> dict[str, bytes]:
        where = self._locate_all(shas)
        spans: list[tuple[str, int, int, list[tuple[str, int, int]]]] = []
        for sha, (pack, off, n) in sorted(where.items(), key=lambda kv: kv[1]):
            last = spans[-1] if spans else None
            if (
                last is not None
                and last[0] == pack
                and off - last[2] <= _SPAN_GAP
                and off + n - last[1] <= _SPAN_MAX
            ):
                spans[-1] = (pack, last[1], max(last[2], off + n), [*last[3], (sha, off, n)])
            else:
                spans.append((pack, off, off + n, [(sha, off, n)]))
        loose = [s for s in dict.fromkeys(shas) if s not in where]

        def span(s: tuple[str, int, int, list[tuple[str, int, int]]]) -> dict[str, bytes]:
            data = self._get(self._pack_key(s[0], "pack"), s[1], s[2] - 1)
            return {
                sha: self._checked(sha, data[off - s[1] : off - s[1] + n]) for sha, off, n in s[3]
            }

        def one(sha: str) -> dict[str, bytes]:
            try:
                return {sha: self._checked(sha, self._get(self._key(sha)))}
            except Exception as exc:
                if self._missing(exc):
                    raise NotFound(f"blob {sha[:12]} is missing from {self._url}") from None
                raise

        out: dict[str, bytes] = {}
        try:
            for part in self._threads().map(span, spans):
                out.update(part)
        except Exception as exc:
            if not (retry and self._missing(exc)):
                raise
            # A pack gc rewrote since this process indexed it: look again.
            self._refresh()
            return self._fetch(shas, retry=False)
        for part in self._threads().map(one, loose):
            out.update(part)
        return out

    def check_many(self, shas: Sequence[str]) -> Iterator[tuple[str, str | None]]:
        """Each of `shas` with what is wrong with it (see `LocalBlobStore.check_many`): packed
        blobs a chunk at a time as `read_many` fetches them (each on its own where a chunk
        holds a bad one), loose ones streamed in ranged GETs."""
        packed = self._locate_all(list(shas))
        for start in range(0, len(shas), _READ_COUNT):
            part = list(shas[start : start + _READ_COUNT])
            small = [s for s in part if s in packed]
            try:
                for _data in self.read_many(small):  # each hash-checked as it is fetched
                    pass
                fine = set(small)
            except (Corrupt, NotFound):
                fine = set()
            for sha in part:
                yield sha, None if sha in fine else self._check_one(sha, sha in packed)

    def _check_one(self, sha: str, packed: bool) -> str | None:
        try:
            if packed:
                self.get_bytes(sha)
                return None
            with self.open(sha) as fh:
                return None if sha256_stream(fh) == sha else CHANGED
        except Corrupt:
            return CHANGED
        except NotFound:
            return MISSING

    def open(self, sha: str) -> BinaryIO:
        """The blob as a seekable file: a packed (small) blob from memory, a loose one read in
        ranged GETs as the caller goes (a video is never fetched whole)."""
        if self._locate_all([sha]):
            return io.BytesIO(self.get_bytes(sha))
        try:
            size = int(self.s3.head_object(Bucket=self.bucket, Key=self._key(sha))["ContentLength"])
        except Exception as exc:
            if self._missing(exc):
                raise NotFound(f"blob {sha[:12]} is missing from {self._url}") from None
            raise
        raw = _RangeReader(self, self._key(sha), size)
        return io.BufferedReader(raw, buffer_size=1 << 20)

    def gdal_path(self, sha: str) -> tuple[str, dict[str, Any], str] | None:
        """GDAL's ``/vsis3/`` name of a loose blob, the `rasterio.Env` settings that reach
        this store (the endpoint and credentials boto3 uses, path-style addressing), and the
        ETag of the version hashed, so a raster is read in place, in ranges, instead of
        downloaded; None for a packed (small) blob, which `path` copies cheaply, and under a
        GDAL too old to send the settings' headers.

        Every request GDAL makes under these settings carries ``If-Match`` with that ETag:
        an object replaced after the hash was checked answers 412 instead of its new bytes
        (`replaced` then says so)."""
        if self._locate_all([sha]):
            return None
        import rasterio

        if tuple(int(p) for p in rasterio.__gdal_version__.split(".")[:2]) < (3, 6):
            return None  # no GDAL_HTTP_HEADERS: the ranges could not be tied to the version
        etag = self._verify_in_place(sha)
        import boto3
        from rasterio.session import AWSSession

        options: dict[str, Any] = {
            # Path-style addressing (SeaweedFS, MinIO); no directory listing on open.
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
            # The endpoint directly, like boto3: libcurl would otherwise send the scene's
            # bytes through a proxy from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY).
            # An empty proxy is libcurl's "no proxy at all", whatever the environment names
            # (GDAL's own GDAL_HTTP(S)_PROXY included).
            "GDAL_HTTP_PROXY": "",
            "GDAL_HTTPS_PROXY": "",
            # Only the version hashed is read (GDAL's list syntax: the header quoted whole,
            # the ETag's own quotes escaped).
            "GDAL_HTTP_HEADERS": '"If-Match: ' + etag.replace('"', '\\"') + '"',
        }
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            parts = urlsplit(endpoint)
            options["AWS_S3_ENDPOINT"] = parts.netloc
            options["AWS_HTTPS"] = "NO" if parts.scheme == "http" else "YES"
        # Credentials as boto3 finds them (rasterio takes them only through a session).
        session = boto3.session.Session(region_name=self.s3.meta.region_name)
        options["session"] = AWSSession(session)
        return f"/vsis3/{self.bucket}/{self._key(sha)}", options, etag

    def replaced(self, sha: str, etag: str) -> Corrupt | None:
        """The error for a read in place that failed because the object is no longer the
        version `etag` (`gdal_path`), or None when it still is (the failure is another's)."""
        try:
            now = str(self.s3.head_object(Bucket=self.bucket, Key=self._key(sha))["ETag"])
        except Exception as exc:
            if not self._missing(exc):
                return None
            now = ""
        if now == etag:
            return None
        self._verified.pop(sha, None)
        return Corrupt(
            f"blob {sha[:12]} in {self._url} was replaced while it was read in place (its "
            "ETag is no longer the one hashed); nothing read from it was used"
        )

    def _verify_in_place(self, sha: str) -> str:
        """Hash the loose object `sha` whole before anything reads it in ranges (GDAL's
        /vsis3/): once per process and object version (its ETag, asked with one HEAD on every
        call), so bytes put under the name after this process checked it are hashed again.
        A range alone cannot be checked against a name; this keeps other bytes from being
        rendered under it. Returns the ETag of the version hashed, which must be a quoted
        printable string (it goes into a header).

        Raises:
            NotFound: no such object. Corrupt: its bytes do not hash to `sha`, or its ETag is
            not a plain quoted string.
        """
        key = self._key(sha)
        try:
            etag = str(self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"])
        except Exception as exc:
            if self._missing(exc):
                raise NotFound(f"blob {sha[:12]} is missing from {self._url}") from None
            raise
        if self._verified.get(sha) == etag:
            return etag
        got = self.s3.get_object(Bucket=self.bucket, Key=key)
        digest, body = hashlib.sha256(), got["Body"]
        try:
            for chunk in body.iter_chunks(1 << 20):
                digest.update(chunk)
        finally:
            body.close()
        if digest.hexdigest() != sha:
            self._verified.pop(sha, None)
            raise corrupt_blob(sha, self._url)
        etag = str(got["ETag"])
        if not _ETAG.fullmatch(etag):
            raise Corrupt(f"blob {sha[:12]} in {self._url}: the store answered ETag {etag!r}")
        self._verified[sha] = etag
        return etag

    def path(self, sha: str) -> Path:
        """A local copy of the blob (downloaded once, in parts, into the cache)."""
        dest = self.cache / sha[:2] / sha[2:]
        if dest.exists():
            return dest
        dest.parent.mkdir(exist_ok=True)
        tmp = dest.with_name(f".{sha[2:]}.{secrets.token_hex(4)}")
        try:
            if self._locate_all([sha]):
                tmp.write_bytes(self.get_bytes(sha))
            else:
                try:
                    self.s3.download_file(self.bucket, self._key(sha), str(tmp))
                except Exception as exc:
                    if self._missing(exc):
                        raise NotFound(f"blob {sha[:12]} is missing from {self._url}") from None
                    raise
                if sha256_file(tmp) != sha:
                    raise corrupt_blob(sha, self._url)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def iter_shas(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, *_ in self._list(self.prefix):
            rest = key[len(self.prefix) :]
            if len(rest) == 65 and rest[2] == "/":
                seen.add(rest[:2] + rest[3:])
                yield rest[:2] + rest[3:]
        self._refresh()
        for (sha,) in self._index().execute("SELECT DISTINCT sha FROM packed ORDER BY sha"):
            if sha not in seen:
                yield sha

    # --- writing -------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            self.s3.put_object(Bucket=self.bucket, Key=self._key(sha), Body=data)
        return sha

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        return put_many(self, blobs)

    def stage_many(self, blobs: Sequence[bytes], shas: Sequence[str]) -> list[Staged]:
        """Upload small blobs as packs (one PUT each, indexed at `publish_many`) and large
        ones as objects of their own."""
        out: list[Staged] = []
        big = [(d, s) for d, s in zip(blobs, shas, strict=True) if len(d) > PACK_MAX]
        small = [(d, s) for d, s in zip(blobs, shas, strict=True) if len(d) <= PACK_MAX]
        groups: list[list[tuple[bytes, str]]] = [[]]
        size = 0
        for d, s in small:
            if size + len(d) > PACK_BYTES and groups[-1]:
                groups.append([])
                size = 0
            groups[-1].append((d, s))
            size += len(d)

        def upload(group: list[tuple[bytes, str]]) -> list[Staged]:
            name = f"{os.getpid()}-{secrets.token_hex(8)}"
            staged, off = [], 0
            for d, s in group:
                staged.append(Staged(s, pack=name, offset=off, length=len(d)))
                off += len(d)
            body = b"".join(d for d, _ in group)
            self.s3.put_object(Bucket=self.bucket, Key=self._pack_key(name, "pack"), Body=body)
            return staged

        def upload_big(item: tuple[bytes, str]) -> Staged:
            self.s3.put_object(Bucket=self.bucket, Key=self._key(item[1]), Body=item[0])
            return Staged(item[1])

        for part in self._threads().map(upload, [g for g in groups if g]):
            out += part
        out += list(self._threads().map(upload_big, big))
        return out

    def stage_file(self, src: str, sha: str, *, move: bool = False) -> Staged:
        """Upload a large blob from a file in parts (never whole in memory)."""
        key = self._key(sha)
        if not self._head(key):
            self.s3.upload_file(src, self.bucket, key)
        if move:
            os.unlink(src)
        return Staged(sha)

    def make_durable(self, staged: Sequence[Staged]) -> None:
        """Nothing to do: an S3 PUT answers once the object is stored."""

    def publish_many(self, staged: Sequence[Staged]) -> None:
        """Upload the index of each staged pack: from then on its blobs exist."""
        packs: dict[str, list[tuple[str, int, int]]] = {}
        for s in staged:
            if s.pack:
                packs.setdefault(s.pack, []).append((s.sha, s.offset, s.length))

        def index(item: tuple[str, list[tuple[str, int, int]]]) -> None:
            name, rows = item
            text = "".join(f"{sha} {off} {n}\n" for sha, off, n in rows)
            self.s3.put_object(
                Bucket=self.bucket, Key=self._pack_key(name, "idx"), Body=text.encode()
            )
            self._add_index(name, rows)

        list(self._threads().map(index, packs.items()))

    def collect(self, live: set[str]) -> CollectReport:
        from assay.store._repack_s3 import collect_s3

        return collect_s3(self, live)


def _private(folder: Path) -> None:
    """Make `folder` (mode 0700) or check that it is this user's alone. A cached file is used
    as it is found: in a cache folder someone else made first (the default one is in the
    shared temporary directory, under a name anyone can guess) or can write to, they could
    leave a model or a manifest of their own under a blob's name."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = folder.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        owner = "another user's" if st.st_uid != os.getuid() else "writable by others"
        raise InvalidInput(
            f"ASSAY_BLOB_CACHE: {folder} is {owner} (mode {st.st_mode & 0o777:o}); the blob "
            "cache must be yours alone: remove it, or set ASSAY_BLOB_CACHE to a folder of your own"
        )


class _RangeReader(io.RawIOBase):
    """A loose S3 object as a seekable raw file: each read is one ranged GET."""

    def __init__(self, store: S3BlobStore, key: str, size: int) -> None:
        self._store, self._key, self._size, self._pos = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos)
        if n <= 0:
            return 0
        data = self._store._get(self._key, self._pos, self._pos + n - 1)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)
