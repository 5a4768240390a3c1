"""The attacker's tools in audit tests: plain SQL on the database file, verify as found."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from assay import Workspace
from assay.audit import VerifyResult


def sql(folder: Path, statement: str, *params: object) -> None:
    """Run one statement on the workspace database, as a writer outside assay would."""
    con = sqlite3.connect(folder / ".assay" / "assay.db")
    with con:
        con.execute(statement, params)
    con.close()


def verify_as_found(folder: Path, *files: Path) -> VerifyResult:
    """Verify without closing the workspace: close() would sign a checkpoint of the head."""
    w = Workspace.open(folder)
    try:
        return w.audit_verify(list(files))
    finally:
        w.db.dispose()
