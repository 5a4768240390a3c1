"""Which workspace a folder belongs to, so that it never opens another workspace's database.

A workspace's identity is its audit trail's origin, the hash of its first event: the
``workspace.init`` that `assay init` writes, naming the folder it was made in and the host,
at a time the hash covers. Checkpoints already name a trail by it (`assay.audit`). The folder
records it in its config (``workspace``: the id, and when and where the workspace was made)
at `assay init`, at `assay init --attach` (the joined workspace's) and at `assay restore` (the
backed-up workspace's: a restore carries its trail on, so it is that workspace still).

Opening a folder (`check`, before the database's schema is migrated) refuses a database whose
first event is another, or that holds no workspace, before anything is written there. A
folder made before its identity was recorded is bound on its first open when the database is
unambiguously its own: its SQLite file in the folder, or a database whose trail says this
folder made or attached to it (a ``workspace.init`` or ``workspace.attach`` event naming the
folder, from this host). Any other database is refused, saying how to bind the folder by hand.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection, make_url

from assay._atomic import atomic_write_text
from assay.errors import Conflict
from assay.store.schema import audit

KEY = "workspace"
JOINED = ("workspace.init", "workspace.attach")


@dataclass(frozen=True)
class Identity:
    """A workspace: the hash of its first event, and when, where and on which host it was
    made ("" where not known)."""

    id: str
    made: str = ""
    folder: str = ""
    host: str = ""

    def described(self) -> str:
        made = ", made" if self.made or self.folder else ""
        made += f" {self.made}" if self.made else ""
        made += f" in {self.folder}" if self.folder else ""
        made += f" on host {self.host}" if self.host and self.folder else ""
        return f"workspace {self.id[:16]}{made}"

    def to_config(self) -> dict[str, str]:
        return {"id": self.id, "made": self.made, "folder": self.folder, "host": self.host}


def recorded(config: dict[str, Any]) -> Identity | None:
    """The identity a folder's config records, None for a folder made before it did."""
    entry = config.get(KEY)
    if isinstance(entry, str):  # the short form the refusal tells users to write by hand
        return Identity(entry)
    if not isinstance(entry, dict) or not entry.get("id"):
        return None
    return Identity(
        str(entry["id"]),
        str(entry.get("made", "")),
        str(entry.get("folder", "")),
        str(entry.get("host", "")),
    )


def genesis(conn: Connection) -> Identity | None:
    """The workspace the database holds (its first event), None if it holds none."""
    if not inspect(conn).has_table(audit.name):
        return None
    first = conn.execute(
        select(audit.c.hash, audit.c.time, audit.c.target, audit.c.details).where(audit.c.seq == 1)
    ).first()
    if first is None:
        return None
    details = json.loads(first.details or "{}")
    return Identity(first.hash, first.time, first.target, str(details.get("host", "")))


def record(conn: Connection, config: Path) -> Identity:
    """Record in the folder's `config` the workspace the database holds (in the transaction
    that wrote its first event, or attached to or restored it: if writing fails, that rolls
    back)."""
    found = genesis(conn)
    if found is None:  # init and attach write an event before this, restore copies them
        raise Conflict(f"{config}: the database holds no workspace to record")
    _write(config, {**json.loads(config.read_text()), KEY: found.to_config()})
    return found


def is_own(url: str, root: Path) -> bool:
    """Whether `url` is the folder's own SQLite file."""
    if not url.startswith("sqlite"):
        return False
    name = make_url(url).database
    return bool(name) and Path(str(name)).resolve() == (root / "assay.db").resolve()


def absent(url: str) -> bool:
    """A SQLite URL whose file is not there (opening it would make an empty one)."""
    if not url.startswith("sqlite"):
        return False
    name = make_url(url).database
    return bool(name) and name != ":memory:" and not Path(str(name)).exists()


def check(
    root: Path, config: dict[str, Any], url: str, conn: Connection | None, *, examine: bool = False
) -> None:
    """Refuse a database (`conn`, None for a SQLite file that is not there) holding another
    workspace than the folder `root`'s, or none; bind a folder made before identities were
    recorded to a database that is unambiguously its own. To `examine` (`assay audit
    verify`), refuse only a database without assay's tables: its trail, whatever it holds,
    is for the verifier to judge."""
    root = root.resolve()
    mine, own = recorded(config), is_own(url, root)
    theirs = genesis(conn) if conn is not None else None
    shown = make_url(url).render_as_string(hide_password=True)
    if examine and conn is not None and inspect(conn).has_table(audit.name):
        return
    if mine is not None and theirs is not None and mine.id == theirs.id:
        return
    if mine is None and theirs is None and own:
        return  # nothing to tell apart; the first event written here will be this folder's
    if mine is None and theirs is not None and (own or _named(conn, root.parent)):
        _write(root / "config.json", {**config, KEY: theirs.to_config()})
        return
    raise Conflict(_refusal(root, mine, theirs, shown, own))


def disagreement(root: Path, conn: Connection) -> str | None:
    """Why the trail in `conn` is not the one the folder `root` recorded at init (for `assay
    audit verify`, which opens any database, to report); None when it is or none is recorded."""
    mine = recorded(json.loads((root / "config.json").read_text()))
    theirs = genesis(conn)
    if mine is None or (theirs is not None and theirs.id == mine.id):
        return None
    found = f"its first event is {theirs.described()}" if theirs else "it has no first event"
    return (
        f"the trail is not this folder's workspace's: {found}, and {root.resolve()} belongs to "
        f"{mine.described()} (another workspace's database, or the first event was rewritten)"
    )


def _named(conn: Connection | None, folder: Path) -> bool:
    """Whether the trail says this folder made or attached to its workspace, from this host."""
    if conn is None:
        return False
    rows = conn.execute(
        select(audit.c.details).where(
            audit.c.action.in_(JOINED), audit.c.target == str(folder.resolve())
        )
    )
    here = socket.gethostname()
    return any(json.loads(d or "{}").get("host", here) == here for (d,) in rows)


def _refusal(
    root: Path, mine: Identity | None, theirs: Identity | None, shown: str, own: bool
) -> str:
    where = f"the folder's database {root / 'assay.db'}" if own else f"ASSAY_DATABASE_URL={shown}"
    holds = f"holds {theirs.described()}" if theirs else "holds no assay workspace"
    if mine is None:
        belongs = (
            f"the folder {root} was made before assay recorded which workspace a folder "
            f"belongs to, and that workspace's trail does not name {root.parent}"
        )
    else:
        belongs = f"the folder {root} belongs to {mine.described()}"
    if own:
        remedy = (
            "`assay audit verify` tells whether the trail was rewritten; put this workspace's "
            "database file back, or restore the workspace from a backup (`assay restore`) into "
            "a new folder"
        )
    elif (root / "assay.db").exists():
        remedy = "unset ASSAY_DATABASE_URL: this folder's database is its assay.db"
    else:
        remedy = "point ASSAY_DATABASE_URL at this folder's workspace's database"
    if theirs is not None and theirs.folder and not own:
        remedy += f", or open {theirs.folder}, the folder of the database's workspace"
    if mine is None and theirs is not None:
        remedy += (
            f"; if this folder is that workspace's, add "
            f'"{KEY}": "{theirs.id}" to {root / "config.json"}'
        )
    return f"{where} {holds}, but {belongs}; nothing was opened: {remedy}"


def _write(config: Path, data: dict[str, Any]) -> None:
    """Replace the config whole, on disk before it is renamed over the old one."""
    atomic_write_text(config, json.dumps(data, indent=2) + "\n", durable=True)
