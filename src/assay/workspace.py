"""The Workspace: one store opened and the services wired to it.

Example:
    >>> import tempfile
    >>> from assay import Workspace
    >>> ws = Workspace.init(tempfile.mkdtemp())
    >>> ws.create_dataset("flood-2026")
    >>> [d.name for d in ws.datasets()]
    ['flood-2026']
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import logging
import os
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay import _attach, _binding, audit
from assay._bulk import gc_paused
from assay._new_folder import claimed, undoer
from assay.domain.commit import Commit
from assay.domain.marking import DEFAULT_LEVELS, Marking, MarkingScheme
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ingest import IngestReport, ingest_paths
from assay.ingest.sensors.options import SensorOptions
from assay.store import BlobStore, Database, LocalBlobStore, locks, open_blobs
from assay.store._sql import select_in
from assay.store.schema import NAME_MAX, items

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from assay import versioning
    from assay.formats import Codec, ExportBundle

DIRNAME = ".assay"
CONFIG = "config.json"


def find_root(start: Path) -> Path | None:
    """Walk up from `start` to the first folder holding `.assay/`, like git."""
    cur = start.resolve()
    for folder in (cur, *cur.parents):
        if (folder / DIRNAME / CONFIG).is_file():
            return folder / DIRNAME
    return None


def default_actor() -> str:
    env = os.environ.get("ASSAY_ACTOR")
    if env and len(env) > NAME_MAX:  # PostgreSQL's columns hold no more (SQLite's had no limit)
        raise InvalidInput(f"ASSAY_ACTOR is {len(env)} characters long: at most {NAME_MAX}")
    if env:
        return env
    try:
        return f"user:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "user:unknown"


class Workspace:
    """An opened workspace: metadata database, blob store and marking scheme."""

    def __init__(self, root: Path, db: Database, blobs: BlobStore, scheme: MarkingScheme):
        self.root = root
        self.db = db
        self.blobs = blobs
        self.scheme = scheme
        self.actor = default_actor()

    # --- opening -----------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | Path = ".",
        levels: tuple[str, ...] | None = None,
        *,
        attach: bool = False,
    ) -> Workspace:
        """Create `.assay/` in `path` (an existing workspace there is an error).

        On PostgreSQL (``ASSAY_DATABASE_URL``) the database must hold no workspace yet; with
        `attach`, it must hold one, and this folder then uses it, with its blobs where that
        workspace keeps them (``ASSAY_BLOB_URL``) and its marking levels: a second folder or
        machine on the same workspace (`assay._attach`). Either is refused before `.assay/`
        is made when it does not hold. Of two inits at once on one database, or in one
        folder, one makes the workspace and the other is refused; a refused or failed init
        leaves no folder it made behind (`assay._new_folder`). The folder's config records
        the workspace it belongs to (made here, or attached to), which every later open
        holds the database to (`assay._binding`).
        """
        audit.signing_key()  # a missing key is made (and announced), a bad one refused, first
        folder = Path(path)
        root = folder / DIRNAME
        if (root / CONFIG).exists():
            raise Conflict(f"{folder.resolve()} already holds an assay workspace")
        url = os.environ.get("ASSAY_DATABASE_URL")
        blobs = _attach.blob_location(os.environ.get("ASSAY_BLOB_URL") or str(root / "objects"))
        if blobs.startswith("s3://"):  # a bucket that is not there: refused before the folder
            from assay.store.s3 import S3BlobStore

            S3BlobStore(blobs).check()
        if url and not attach:
            _attach.refuse_taken(url)
        elif url:
            recorded = _attach.check_attach(url, blobs)
            if recorded and levels and list(levels) != recorded:
                raise InvalidInput(
                    f"marking levels {', '.join(levels)}: the workspace attached to has "
                    f"{', '.join(recorded)}; leave them out to take the workspace's"
                )
            levels = tuple(recorded) if recorded else levels
        elif attach:
            raise InvalidInput(
                "--attach joins a workspace whose database is on PostgreSQL, and "
                "ASSAY_DATABASE_URL is not set: this folder would get its own SQLite database"
            )
        marking_levels = list(levels or DEFAULT_LEVELS)
        config = {"marking_levels": marking_levels, "format": 1}
        with claimed(folder, root / CONFIG, json.dumps(config, indent=2) + "\n"):
            (root / "objects").mkdir(exist_ok=True)
            ws = cls._open_root(root, bound=False)
            action = "workspace.attach" if attach else "workspace.init"
            try:
                with ws.db.begin() as conn:
                    if not attach:
                        if url:  # another init may have made one since refuse_taken
                            _attach.claim(conn)
                        _attach.record(conn, blobs, marking_levels)
                    details = {"host": _attach.host(), "blobs": blobs}
                    audit.append(conn, ws.actor, action, str(folder.resolve()), details)
                    _binding.record(conn, root / CONFIG)
            except BaseException:
                ws.db.dispose()
                raise
        return ws

    @classmethod
    def open(
        cls, path_or_url: str | Path | None = None, *, any_database: bool = False
    ) -> Workspace:
        """Open by path (a folder at or under a workspace), or discover from the environment.

        Resolution order: the argument, `ASSAY_WORKSPACE`, then walking up from the current
        directory. `ASSAY_DATABASE_URL` puts the metadata on PostgreSQL; a database holding
        another workspace than the folder's, or none, is refused (`assay._binding`); with
        `any_database` only one without assay's tables is, for `audit_verify` to examine
        the trail as found and report what it holds.
        """
        target = path_or_url or os.environ.get("ASSAY_WORKSPACE")
        if target is None:
            root = find_root(Path.cwd())
            if root is None:
                raise NotFound(
                    "no assay workspace here or in any parent folder; run `assay init` "
                    "or pass -w/--workspace"
                )
            return cls._open_root(root, examine=any_database)
        p = Path(target)
        if p.name == DIRNAME and (p / CONFIG).is_file():
            return cls._open_root(p, examine=any_database)
        if (p / DIRNAME / CONFIG).is_file():
            return cls._open_root(p / DIRNAME, examine=any_database)
        raise NotFound(f"{p}: not an assay workspace (no {DIRNAME}/ there); run `assay init {p}`")

    @classmethod
    def _open_root(cls, root: Path, *, bound: bool = True, examine: bool = False) -> Workspace:
        """Open the folder `root` on its database, refusing one holding another workspace
        than the folder's, or (to `examine` it) none of assay's tables (`assay._binding`);
        an init, before the workspace is there, opens it not `bound`."""
        try:
            config = json.loads((root / CONFIG).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{root / CONFIG}: unreadable workspace config ({exc})") from None
        scheme = MarkingScheme(tuple(config.get("marking_levels", DEFAULT_LEVELS)))
        url = os.environ.get("ASSAY_DATABASE_URL") or f"sqlite:///{root / 'assay.db'}"
        check: Callable[[Connection], None] | None = None
        blob_url = os.environ.get("ASSAY_BLOB_URL")
        if bound:
            binding = partial(_binding.check, root, config, url, examine=examine)
            if _binding.absent(url):  # refused before sqlite makes an empty file there
                binding(None)
            where = _attach.blob_location(blob_url or str(root / "objects"))

            def bound_check(conn: Connection) -> None:
                binding(conn)
                if not examine:  # `audit verify` reads the trail only
                    _attach.check_blobs(conn, root, where)

            check = bound_check

        blobs = open_blobs(blob_url) if blob_url else LocalBlobStore(root / "objects")
        return cls(root, Database(url, check), blobs, scheme)

    @classmethod
    def restore(
        cls,
        backup: str | Path,
        path: str | Path,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Create a workspace in `path` from an `assay backup` folder (`assay.store.backup`).

        The metadata goes to ``ASSAY_DATABASE_URL`` when set (it must hold no workspace yet),
        else to the new workspace's SQLite file; the blobs where ``ASSAY_BLOB_URL`` says. The
        new folder belongs to the backed-up workspace, whose trail the database carries on.
        """
        from assay.store.backup import restore

        url = os.environ.get("ASSAY_DATABASE_URL")
        if url:
            _attach.refuse_taken(url, "restore into an empty database or schema")
        undo = undoer(Path(path) / DIRNAME)  # a failed restore leaves no folder it made
        ws = cls.init(path)
        ws.db.dispose()
        try:
            report = restore(Path(backup), ws.db, ws.blobs, ws.root / CONFIG, progress)
            # The backup's record of the blob store is the old workspace's: this one's is here.
            levels = json.loads((ws.root / CONFIG).read_text()).get("marking_levels")
            with ws.db.begin() as conn:
                _attach.record(conn, _attach.blob_location(ws.blobs.url), levels)
                # The backup's trail, so the backed-up workspace (older backups record none).
                _binding.record(conn, ws.root / CONFIG)
        except BaseException:
            ws.db.dispose()
            undo()
            raise
        ws.close()
        return report

    def close(self) -> None:
        """Sign a checkpoint of the audit head if it moved (kept outside the database)."""
        try:
            audit.checkpoint_if_new(self.db, self.root)
        except Exception as exc:  # closing must not fail; verify reports what is unsigned
            logging.getLogger(__name__).warning("no audit checkpoint written: %s", exc)
        self.db.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def blob_writes(self) -> AbstractContextManager[None]:
        """Hold while storing blobs and committing the metadata that names them: `assay gc`
        waits meanwhile (`assay.store.locks`)."""
        return locks.blob_writes(self.db)

    def marking(self, text: str | None) -> Marking:
        return self.scheme.parse(text)

    # --- ingest ------------------------------------------------------------------------------

    def ingest(
        self,
        paths: list[str | Path],
        *,
        marking: str | None = None,
        source: str = "",
        text_field: str = "text",
        progress: Callable[[int, int], None] | None = None,
        follow_symlinks: bool = False,
        sensors: SensorOptions | None = None,
        cluster: str | None = None,
    ) -> IngestReport:
        """Ingest files and folders (recursively); the same bytes give the same item.

        Videos (.ts, .mpg, .mp4, .mkv) become an item and their sampled frames derived items
        with MISB ST 0601 telemetry and footprints; georeferenced scenes (GeoTIFF, COG, NITF,
        JPEG 2000) an item stored as a COG and their chips derived items; `sensors` sets how.
        Symbolic links out of `paths` are skipped (with the reason in the report) unless
        `follow_symlinks`; FIFOs and devices always are. Hashing, frames and chips run on
        a local process pool, or on the Dask cluster at `cluster` (default ``ASSAY_CLUSTER``).
        """
        with self.blob_writes():
            return ingest_paths(
                self.db,
                self.blobs,
                self.scheme,
                [Path(p) for p in paths],
                actor=self.actor,
                marking=self.scheme.parse(marking) if marking else None,
                source=source,
                text_field=text_field,
                progress=progress,
                follow_symlinks=follow_symlinks,
                sensors=sensors,
                cluster=cluster,
            )

    # --- datasets ----------------------------------------------------------------------------

    def create_dataset(self, name: str, marking: str | None = None) -> None:
        """An empty dataset; `marking` declares it (and its exports) at least that marking."""
        from assay import versioning

        declared = self.scheme.render(self.scheme.parse(marking)) if marking else ""
        with self.db.begin() as conn:
            versioning.create(conn, name, declared)
            details = {"marking": declared} if declared else None
            audit.append(conn, self.actor, "dataset.create", f"dataset:{name}", details)

    def datasets(self) -> list[versioning.DatasetInfo]:
        from assay.versioning.datasets import list_all

        with self.db.read() as conn:
            return list_all(conn, self.scheme)

    def add_items(self, name: str, query: str | None = None) -> int:
        """Add all items, or those matching `query`, to the dataset's working state."""
        from assay import versioning
        from assay.versioning.datasets import dataset_id, restore_committed

        with self.db.begin() as conn:
            ds = dataset_id(conn, name)
            n = versioning.add_items(conn, ds, query=query)
            restore_committed(conn, self.blobs, ds)
            audit.append(
                conn, self.actor, "dataset.add", f"dataset:{name}", {"query": query, "added": n}
            )
        return n

    def count_items(self, query: str | None = None) -> int:
        """How many items of the workspace match `query` (as for `add_items`), in any dataset."""
        from assay import versioning

        with self.db.read() as conn:
            return versioning.count_matching(conn, query)

    def item_names(self, ids: Iterable[str]) -> dict[str, str]:
        """Item id -> its file name (as ingested or imported), for the ids that have one."""
        from sqlalchemy import select

        from assay.store.schema import items

        wanted = sorted(set(ids))
        with self.db.read() as conn:
            rows = conn.execute(select(items.c.id, items.c.name).where(items.c.id.in_(wanted)))
            return {i: name for i, name in rows if name}

    def remove_items(self, name: str, query: str | None = None) -> int:
        from assay import versioning
        from assay.versioning.datasets import dataset_id

        with self.db.begin() as conn:
            n = versioning.remove_items(conn, dataset_id(conn, name), query=query)
            audit.append(
                conn,
                self.actor,
                "dataset.remove",
                f"dataset:{name}",
                {"query": query, "removed": n},
            )
        return n

    def set_labels(self, name: str, records: list[versioning.LabelRecord]) -> int:
        from assay import versioning
        from assay.versioning.datasets import dataset_id

        with self.db.begin() as conn:
            n = versioning.set_labels(conn, dataset_id(conn, name), records)
            audit.append(conn, self.actor, "labels.set", f"dataset:{name}", {"items": n})
        return n

    # --- versions ----------------------------------------------------------------------------

    def status(self, name: str) -> versioning.Diff:
        from assay import versioning

        with self.db.read() as conn, gc_paused():
            return versioning.status(conn, self.blobs, name)

    def commit(self, name: str, message: str, author: str | None = None) -> Commit:
        from assay import versioning

        with self.blob_writes(), self.db.begin() as conn, gc_paused():
            c = versioning.commit(conn, self.blobs, name, message, author or self.actor)
            audit.append(conn, self.actor, "commit", f"dataset:{name}", {"commit": c.id, **c.stats})
        return c

    def log(self, name: str) -> list[Commit]:
        from assay import versioning

        with self.db.read() as conn:
            return versioning.history(conn, name)

    def resolve(self, spec: str, *, default_head: bool = True) -> versioning.Revision:
        from assay import versioning

        with self.db.read() as conn:
            return versioning.resolve(conn, spec, default_head=default_head)

    def show(self, spec: str) -> dict[str, Any]:
        """A commit's header, stats, tags and the highest marking of its items."""
        from assay import versioning
        from assay.versioning import _manifest
        from assay.versioning.commit import tags_by_commit

        with self.db.read() as conn:
            rev = versioning.resolve(conn, spec, default_head=True)
            tags = tags_by_commit(conn, rev.dataset_id)
        assert rev.commit is not None  # default_head resolves to a commit or raises
        c = rev.commit
        t = _manifest.read(self.blobs, c.manifest, ["item_id", "marking"])
        with self.db.read() as conn:
            # The items' markings now count too: a marking raised after the commit holds.
            now = select_in(conn, [items.c.marking], items.c.id, t["item_id"].to_pylist())
        markings = set(t["marking"].unique().to_pylist()) | {r[0] for r in now}
        return {
            **c.to_dict(),
            "tags": tags.get(c.id, []),
            "marking": self.scheme.highest_text(markings),
            "verified": c.verify(),
        }

    def tag(self, name: str, rev: str, tag_name: str) -> Commit:
        from assay import versioning

        with self.db.begin() as conn:
            c = versioning.tag(conn, name, rev, tag_name)
            audit.append(
                conn, self.actor, "tag", f"dataset:{name}", {"tag": tag_name, "commit": c.id}
            )
        return c

    def diff(self, name: str, rev_a: str, rev_b: str) -> versioning.Diff:
        from assay import versioning

        with self.db.read() as conn, gc_paused():
            return versioning.diff(conn, self.blobs, name, rev_a, rev_b)

    # --- import / export ---------------------------------------------------------------------

    def import_labels(
        self,
        path: str | Path,
        fmt: str,
        dataset: str,
        *,
        images: str | Path | None = None,
        marking: str | None = None,
        strict: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """Read a label file (COCO, Label Studio, YOLO, VOC...) into a dataset's working state.

        The report's `dropped` counts what the file held and assay could not carry; with
        `strict`, any such drop is an `InvalidInput` and nothing is imported.
        `progress(done, total)` follows the media files as they are stored.
        """
        from assay.formats import get_codec
        from assay.formats.io import import_bundle

        codec = get_codec(fmt)
        if codec.read is None:
            raise InvalidInput(f"format {fmt!r} can be written but not read")
        with self.blob_writes(), gc_paused():
            read = codec.read_encoded or codec.read
            bundle = read(Path(path), Path(images) if images else None)
            if strict and bundle.dropped:
                raise InvalidInput(
                    f"{path}: {codec.display} import cannot carry {bundle.dropped.describe()}; "
                    "nothing imported (--strict)"
                )
            report = import_bundle(
                self, bundle, dataset, self.scheme.parse(marking), progress, strict=strict
            )
            del bundle  # freed before the collector resumes, so it never walks the labels
        return report

    def export(
        self,
        spec: str,
        fmt: str,
        out: str | Path,
        *,
        media: bool = True,
        action: str = "export",
        strict: bool = False,
        all_annotations: bool = False,
        scene: bool = False,
        embed_media: bool = False,
        options: dict[str, Any] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """Write a dataset version (`NAME` = working state, `NAME@REV`) in a format.

        With `media=False` only the label files are written; they still name each media file.
        The result's `dropped` counts, per kind, what the format could not hold; with `strict`
        any drop is an `InvalidInput` and nothing is written. `renamed` counts the media files
        (and sequence folders) written under a portable name instead of the item's
        (`assay.formats._portable`): not a loss, the label files name them.
        `all_annotations` writes every stored annotation of every author (and predictions)
        where the format has a slot per annotation, instead of the labels of record only.
        `scene` writes chips' labels on their scenes, objects cut by chip borders merged
        (`assay.formats._scene`). `embed_media` writes the media bytes into the label file
        itself (Parquet: an ``image`` column Hugging Face `datasets` reads as an `Image`
        feature) instead of a ``media/`` folder. `progress(done, total)` is told of the media
        files written (or embedded) so far, as `import_labels` is of those stored. `warnings`
        says what the user must know about the files written (YOLO: no validation split).
        """
        from assay.formats import get_codec
        from assay.formats._export import staged_output
        from assay.formats.io import export_bundle

        codec = get_codec(fmt)
        if codec.write is None:
            raise InvalidInput(f"format {fmt!r} can be read but not written")
        if embed_media and not codec.embeds_media:
            raise InvalidInput(
                f"--embed-media: {codec.display} has no place for media bytes in its files; "
                "formats that embed media: parquet"
            )
        rev = self.resolve(spec, default_head=False)
        with gc_paused():
            every = all_annotations or codec.needs_annotations
            bundle = export_bundle(self, rev, all_annotations=every)
            bundle.options = dict(options or {})
            if scene:
                from assay.formats._scene import to_scenes

                to_scenes(self, bundle)
            bundle.copy_media = media and not embed_media
            bundle.embed_media = embed_media
            bundle.progress = progress
            _keep_held_media(codec, bundle, spec)
            with staged_output(Path(out)) as staging:
                codec.write(bundle, staging.folder)
                if strict and bundle.dropped:
                    raise InvalidInput(
                        f"{codec.display} cannot hold {bundle.dropped.describe()} of {spec}; "
                        "nothing written (--strict)"
                    )
                files = staging.commit()
            dropped = bundle.dropped.to_dict()
            renamed = bundle.renamed.to_dict()
            warnings = list(bundle.warnings)
            summary = {"items": len(bundle.rows), "marking": bundle.marking}
            revision = bundle.revision
            del bundle  # freed before the collector resumes, so it never walks the rows
        with self.db.begin() as conn:
            audit.append(
                conn,
                self.actor,
                action,
                f"dataset:{rev.dataset}",
                {
                    "revision": revision,
                    "format": fmt,
                    "out": str(out),
                    **summary,
                    "dropped": dropped,
                    "renamed": renamed,
                },
            )
        return {
            "files": [str(f) for f in files],
            **summary,
            "revision": revision,
            "dropped": dropped,
            "renamed": renamed,
            "warnings": warnings,
        }

    # --- audit -------------------------------------------------------------------------------

    def audit_log(self, limit: int | None = None) -> list[audit.AuditEvent]:
        with self.db.read() as conn:
            return audit.events(conn, limit)

    def audit_verify(
        self,
        checkpoints: list[str | Path] | None = None,
        *,
        all_signatures: bool = False,
        blobs: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> audit.VerifyResult:
        """Verify the trail, its signatures, every known checkpoint and the account state;
        with `blobs`, also read back every blob the metadata names and check it hashes to its
        name (`progress(done, total)`: blobs checked)."""
        from assay.versioning.audit_markings import marking_problems
        from assay.versioning.gc import blob_problems

        with self.db.read() as conn:
            files = [Path(p) for p in checkpoints or []]
            result = audit.verify_with_witness(
                conn, self.root, files, all_signatures=all_signatures
            )
            if result.first_bad is not None or (not result.ok and not result.state):
                return result  # the trail itself does not hold: nothing to check state against
            alien = _binding.disagreement(self.root, conn)
            if alien is not None:
                return dataclasses.replace(result, ok=False, checked=0, first_bad=1, reason=alien)
            found = (*result.state, *marking_problems(conn, self.blobs, self.scheme))
            if blobs:
                checked, damaged = blob_problems(conn, self.blobs, progress)
                result = dataclasses.replace(
                    result, blobs_checked=checked, blobs_bad=tuple(damaged), ok=not damaged
                )
                if damaged and not found:
                    return dataclasses.replace(result, reason=f"stored bytes: {damaged[0]}")
        if not found:
            return result
        return dataclasses.replace(
            result,
            ok=False,
            reason=f"the state tables disagree with the trail: {found[0]}",
            state=found,
        )

    def audit_checkpoint(self, out: str | Path | None = None) -> audit.Checkpoint:
        """Sign the current head (after verifying it); also write it to `out` if given."""
        return audit.checkpoint(self.db, self.root, Path(out) if out else None)

    def audit_rotate_key(self) -> dict[str, Any]:
        """Replace the audit signing key; the old public key stays trusted for old events."""
        return audit.rotate_key(self.db, self.root, self.actor)


def _keep_held_media(codec: Codec, bundle: ExportBundle, spec: str) -> None:
    """Leave out (and count) items of a media type the format cannot hold; refuse a dataset
    that has items but none the format can hold, rather than write an empty file."""
    if all(codec.holds(t) for t in bundle.rows.columns.distinct("media_types")):
        return
    types = bundle.rows.columns.media_types
    held = [k for k, t in enumerate(types) if codec.holds(t)]
    if len(held) == len(types):
        return
    if not held:
        raise InvalidInput(
            f"{codec.display} cannot hold the media of {spec} ({len(types)} item(s) of "
            f"type {', '.join(sorted(set(types)))}); it holds "
            f"{', '.join(m or 'any' for m in codec.media)} only - export as jsonl or parquet"
        )
    from collections import Counter

    lost = Counter(f"{t.split('/')[0]} items" for t in types if not codec.holds(t))
    bundle.dropped.update(lost)
    bundle.rows = bundle.rows.select(held)
