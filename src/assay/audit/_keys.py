"""The audit signing key: Ed25519, kept in a file outside the workspace.

Whoever can write `assay.db` can recompute unkeyed hashes; they cannot make an Ed25519
signature without the private key. So the key lives apart from the database: in
`ASSAY_AUDIT_KEY` (a file path) or, by default, `$XDG_CONFIG_HOME/assay/audit-ed25519.key`
(`~/.config/...`), mode 0600, created on first use. Public keys retired by `rotate` stay
trusted for what they signed before: they are listed in `<key>.retired` next to it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

log = logging.getLogger(__name__)

KEY_ENV = "ASSAY_AUDIT_KEY"
KEY_NAME = "audit-ed25519.key"


def key_path() -> Path:
    """Where the signing key lives: `ASSAY_AUDIT_KEY`, else the user's config folder."""
    named = os.environ.get(KEY_ENV)
    if named:
        return Path(named).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "assay" / KEY_NAME


def witness_dir(path: Path | None = None) -> Path:
    """Checkpoints kept outside every workspace, beside the key that signs them."""
    p = path or key_path()
    return p.parent / (p.name + ".witness")


def key_id(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_hex(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@dataclass(frozen=True)
class Signer:
    """The loaded private key; `sign` answers "KEYID:BASE64"."""

    path: Path
    private: Ed25519PrivateKey
    id: str

    def sign(self, message: bytes) -> str:
        return f"{self.id}:{base64.b64encode(self.private.sign(message)).decode()}"

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


_cache: dict[tuple[str, int, int], Signer] = {}
_lock = threading.Lock()


def _check_place(path: Path) -> None:
    if any(part == ".assay" for part in path.resolve().parts):
        raise InvalidInput(
            f"{path}: the audit key must not live inside a workspace (.assay/); whoever can "
            f"write the database could then read it. Point {KEY_ENV} elsewhere."
        )


def signer(create: bool = True) -> Signer:
    """The current signing key, created (with a notice) when there is none yet."""
    path = key_path()
    try:
        st = path.stat()
    except FileNotFoundError:
        if not create:
            raise InvalidInput(
                f"no audit signing key at {path}; set {KEY_ENV} to the key file"
            ) from None
        _create(path)
        st = path.stat()
    cache_key = (str(path), st.st_ino, st.st_mtime_ns)
    with _lock:
        hit = _cache.get(cache_key)
    if hit is not None:
        return hit
    _check_place(path)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(
            f"{path}: the audit signing key is readable by others "
            f"(mode {stat.S_IMODE(st.st_mode):o}); run `chmod 600 {path}`"
        )
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        private = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{path}: not an Ed25519 private key in PEM ({exc})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise InvalidInput(f"{path}: not an Ed25519 private key")
    loaded = Signer(path, private, key_id(private.public_key()))
    with _lock:
        _cache[cache_key] = loaded
    return loaded


def _pem(private: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    return private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _write_private(path: Path, private: Ed25519PrivateKey, *, replace: bool) -> None:
    """Write the key 0600 via a temporary file: a reader never sees half a key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, _pem(private))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails when another process made the key first: use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _create(path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _check_place(path)
    _write_private(path, Ed25519PrivateKey.generate(), replace=False)
    log.warning(
        "created the audit signing key %s (Ed25519, mode 0600). It signs the audit trail; "
        "keep it out of the workspace and back it up (or set %s to another file).",
        path,
        KEY_ENV,
    )


def _retired_file(path: Path) -> Path:
    return path.with_name(path.name + ".retired")


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    """Key id -> public key for the current key and every retired one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = key_path()
    keys: dict[str, Ed25519PublicKey] = {}
    retired = _retired_file(path)
    if retired.is_file():
        for n, line in enumerate(retired.read_text().splitlines(), 1):
            hex_key = line.split(" ", 1)[0].strip()
            if not hex_key:
                continue
            try:
                public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))
            except ValueError:
                raise InvalidInput(f"{retired}:{n}: not an Ed25519 public key in hex") from None
            keys[key_id(public)] = public
    if path.exists():
        current = signer(create=False).public
        keys[key_id(current)] = current
    return keys


def rotate() -> tuple[Signer, str]:
    """Replace the signing key; the old public key stays trusted. Returns (new, old id)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    old = signer(create=False)
    retired = _retired_file(old.path)
    with retired.open("a") as fh:
        fh.write(f"{public_hex(old.public)} retired {time.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
        fh.flush()
        os.fsync(fh.fileno())
    _write_private(old.path, Ed25519PrivateKey.generate(), replace=True)
    return signer(create=False), old.id
