"""Ingest on a cluster: the files are on this machine, the workers elsewhere.

The caller reads each file and sends its bytes in a unit (a bounded number of units at a
time, see `assay.compute`); a worker writes them into a private temporary folder under
their own names, hashes and probes them there (frames, chips), stages the new blobs in the
shared blob store (S3) and sends the results back. The caller publishes the blobs and
records the items, as for a local ingest. A worker never opens a path on this machine.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from assay.ingest._probe import ProbeError, ProbeResult, probe_batch, read_regular
from assay.ingest.sensors.options import SensorOptions

UNIT_FILES = 128
UNIT_BYTES = 32 << 20  # a unit holds about this much of file bytes (one larger file: alone)


@dataclass(frozen=True)
class SentFiles:
    """Files sent to a worker: (the path on the sender, as items record it; the bytes)."""

    files: tuple[tuple[str, bytes], ...]
    failed: tuple[ProbeResult, ...]  # unreadable here: passed through, in order
    blob_url: str
    text_field: str
    source: str
    sensors: SensorOptions | None
    shas: dict[str, str] = field(default_factory=dict)  # files hashed by the sender, by path


def sent_units(
    files: list[str],
    blob_url: str,
    text_field: str,
    source: str,
    sensors: SensorOptions | None,
    shas: dict[str, str] | None = None,
) -> Iterator[SentFiles]:
    """Units of at most `UNIT_FILES` files and about `UNIT_BYTES`, read as they are needed
    (`shas`: the sha256 of files hashed already, sent along so workers do not hash again)."""
    known = shas or {}
    batch: list[tuple[str, bytes]] = []
    failed: list[ProbeResult] = []
    size = 0

    def unit() -> SentFiles:
        hashed = {p: known[p] for p, _ in batch if p in known}
        return SentFiles(tuple(batch), tuple(failed), blob_url, text_field, source, sensors, hashed)

    for path in files:
        try:
            data = read_regular(path)
        except ProbeError as exc:
            failed.append(ProbeResult(path, [], str(exc)))
            continue
        except OSError as exc:
            failed.append(ProbeResult(path, [], f"cannot read: {exc.strerror or exc}"))
            continue
        if batch and (len(batch) >= UNIT_FILES or size + len(data) > UNIT_BYTES):
            yield unit()
            batch, failed, size = [], [], 0
        batch.append((path, data))
        size += len(data)
    if batch or failed:
        yield unit()


def probe_sent(unit: SentFiles) -> list[ProbeResult]:
    """Probe the unit's files from a private temporary copy (the function workers run)."""
    with tempfile.TemporaryDirectory(prefix="assay-ingest-") as tmp:
        batch = []
        for k, (rel, data) in enumerate(unit.files):
            folder = os.path.join(tmp, str(k))
            os.mkdir(folder)
            path = os.path.join(folder, os.path.basename(rel))
            with open(path, "wb") as fh:
                fh.write(data)
            batch.append((path, rel))
        results = probe_batch(
            batch, unit.blob_url, unit.text_field, unit.source, unit.sensors, unit.shas
        )
    return [*unit.failed, *results]
