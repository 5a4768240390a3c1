"""Signed checkpoints of the audit chain, after Certificate Transparency's signed tree heads.

A checkpoint says "the log ORIGIN held SIZE events and the newest one hashed HEAD", signed
with the audit key (RFC 6962 section 3.5; the signed-note checkpoints of Sigstore Rekor and
Go's sumdb). The origin is the hash of the log's first event, so a checkpoint fits exactly
one log. Because the chain links every event to the one before it, a checkpoint commits to
the whole prefix: any later rewrite, cut or insertion changes the hash at SIZE.

Checkpoints live where a database writer cannot reach them: the witness folder beside the
key (written automatically), and files users keep (`assay audit checkpoint --out FILE`).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._atomic import atomic_write_text
from assay.audit._keys import KEY_ENV
from assay.errors import InvalidInput
from assay.timeutil import now_iso

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from assay.audit._keys import Signer

FORMAT = "assay-audit-checkpoint/1"


def checkpoint_message(origin: str, size: int, head: str) -> bytes:
    """The signed bytes: a short text note, like a CT signed tree head."""
    return f"assay audit checkpoint v1\norigin {origin}\nsize {size}\nhead {head}\n".encode()


def signature_ok(keys: dict[str, Ed25519PublicKey], sig: str, message: bytes) -> str | None:
    """None when `sig` ("KEYID:BASE64") verifies with a trusted key, else why not."""
    from cryptography.exceptions import InvalidSignature

    kid, _, b64 = sig.partition(":")
    public = keys.get(kid)
    if public is None:
        return (
            f"it is signed by key {kid}, which is neither the current nor a retired key "
            f"(is {KEY_ENV} the key file this workspace was signed with?)"
        )
    try:
        public.verify(base64.b64decode(b64, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return "its signature does not verify"
    return None


@dataclass(frozen=True)
class Checkpoint:
    """One signed head of the audit chain."""

    origin: str
    size: int
    head: str
    time: str
    workspace: str
    signature: str
    format: str = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def message(self) -> bytes:
        return checkpoint_message(self.origin, self.size, self.head)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Checkpoint:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput(f"{where}: not an assay audit checkpoint (format {FORMAT})")
        try:
            return cls(
                origin=str(data["origin"]),
                size=int(data["size"]),
                head=str(data["head"]),
                time=str(data["time"]),
                workspace=str(data.get("workspace", "")),
                signature=str(data["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{where}: checkpoint field {exc} is missing or wrong") from None


def sign(signer: Signer, origin: str, size: int, head: str, workspace: Path) -> Checkpoint:
    sig = signer.sign(checkpoint_message(origin, size, head))
    return Checkpoint(origin, size, head, now_iso(), str(workspace), sig)


def read_file(path: Path) -> Checkpoint:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the checkpoint ({exc})") from None
    return Checkpoint.from_dict(data, str(path))


def write_file(cp: Checkpoint, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(cp.to_dict(), indent=2) + "\n", durable=True)


def _witness_file(folder: Path, origin: str, workspace: Path) -> Path:
    # One file per log and place: a copied workspace is a new log as far as witnesses go.
    name = hashlib.sha256(f"{origin}\0{workspace.resolve()}".encode()).hexdigest()[:32]
    return folder / f"{name}.jsonl"


KEEP_RECENT = 256


def witness_append(
    folder: Path, cp: Checkpoint, workspace: Path, *, keep: int = KEEP_RECENT
) -> None:
    """Append a checkpoint to the witness log of this workspace (locked, fsynced).

    The log stays bounded: past 2 x `keep` lines it keeps the newest `keep` and,
    of the older ones, the newest for each power of two of the trail's size. The newest
    checkpoint alone reveals any rewrite or cut before it; older ones only narrow down where.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = _witness_file(folder, cp.origin, workspace)
    line = json.dumps(cp.to_dict(), separators=(",", ":")) + "\n"
    lock = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with path.open("a", encoding="utf-8") as fh:
            os.chmod(path, 0o600)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 2 * keep:
            try:
                _compact(path, lines, keep)
            except (ValueError, KeyError, TypeError):  # a damaged line: verify will say so
                log.warning("witness log %s has a damaged line; not compacting it", path)
    finally:
        os.close(lock)  # releases the lock


def _compact(path: Path, lines: list[str], keep: int) -> None:
    older, recent = lines[:-keep], lines[-keep:]
    by_bucket: dict[int, str] = {}
    for ln in older:
        by_bucket[int(json.loads(ln)["size"]).bit_length()] = ln
    kept = [ln for ln in older if by_bucket.get(int(json.loads(ln)["size"]).bit_length()) == ln]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(ln + "\n" for ln in [*kept, *recent]), encoding="utf-8")
    tmp.chmod(0o600)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def witness_latest(folder: Path, origin: str, workspace: Path) -> Checkpoint | None:
    found = witness_read(folder, origin, workspace)
    return found[-1] if found else None


def witness_read(folder: Path, origin: str, workspace: Path) -> list[Checkpoint]:
    """Every checkpoint the witness holds for this log, oldest first."""
    path = _witness_file(folder, origin, workspace)
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                raise InvalidInput(f"{path}:{n}: not a JSON checkpoint") from None
            out.append(Checkpoint.from_dict(data, f"{path}:{n}"))
    return out
