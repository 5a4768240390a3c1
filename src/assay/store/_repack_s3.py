"""Garbage collection of an S3 blob store: dead loose objects go, packs are rewritten.

A pack with dead blobs (or with second copies of blobs another pack holds) is rewritten: its
live blobs go to a new pack, whose index is uploaded before the old index and pack are
deleted, so every live blob stays readable throughout. A pack without an index is deleted
once it is older than `UNINDEXED_GRACE` (a writer died between staging and publishing; a
younger one may be a writer's that has not published yet). The caller holds the collector lock.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING

from assay.store.blobs import CollectReport

if TYPE_CHECKING:
    from assay.store.s3 import S3BlobStore

UNINDEXED_GRACE = 3600.0  # seconds


def collect_s3(store: S3BlobStore, live: set[str]) -> CollectReport:
    report = CollectReport()
    dead: list[str] = []
    packs: dict[str, dict[str, int]] = defaultdict(dict)  # name -> {ext: size}
    young: set[str] = set()
    now = time.time()
    for key, size, modified in store._list(store.prefix):
        rest = key[len(store.prefix) :]
        if len(rest) == 65 and rest[2] == "/":
            if rest[:2] + rest[3:] in live:
                report.kept += 1
            else:
                dead.append(key)
                report.removed += 1
                report.freed += size
        elif rest.startswith("pack/") and rest.count(".") == 1:
            name, ext = rest[5:].split(".")
            packs[name][ext] = size
            if now - modified < UNINDEXED_GRACE:
                young.add(name)
    held: set[str] = set()  # live blobs some pack already holds
    for name in sorted(packs):
        parts = packs[name]
        if "idx" not in parts:
            if name in young:
                continue  # perhaps a writer's, not published yet
            report.freed += parts.get("pack", 0)
            dead.append(store._pack_key(name, "pack"))
            continue
        if "pack" not in parts:
            dead.append(store._pack_key(name, "idx"))
            continue
        rows = store._read_idx(name)
        keep = [r for r in rows if r[0] in live and r[0] not in held]
        held.update(r[0] for r in keep)
        report.kept += len(keep)
        if len(keep) == len(rows):
            continue
        report.removed += len(rows) - len(keep)
        report.freed += parts["pack"] - sum(r[2] for r in keep)
        if keep:
            data = store._get(store._pack_key(name, "pack"))
            blobs = [data[off : off + n] for _, off, n in keep]
            store.publish_many(store.stage_many(blobs, [r[0] for r in keep]))
        # The index first: from then on no process indexes the old pack anew.
        store.s3.delete_object(Bucket=store.bucket, Key=store._pack_key(name, "idx"))
        store.s3.delete_object(Bucket=store.bucket, Key=store._pack_key(name, "pack"))
        report.repacked += 1
    for start in range(0, len(dead), 1000):
        batch = [{"Key": k} for k in dead[start : start + 1000]]
        store.s3.delete_objects(Bucket=store.bucket, Delete={"Objects": batch, "Quiet": True})
    store._refresh()
    return report
