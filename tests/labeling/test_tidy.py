"""The error classes the server maps (401, 429) and the one audit append on every path."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest

from assay import audit, errors
from assay.labeling._tx import RawTx, write_tx
from assay.labeling.submit import check_submission
from assay.workspace import Workspace


def test_auth_errors_live_in_the_one_hierarchy() -> None:
    for cls, status in ((errors.Unauthenticated, 401), (errors.RateLimited, 429)):
        assert issubclass(cls, errors.AssayError)
        assert (cls.http_status, cls.exit_code) == (status, 1)
        assert cls.__name__ in errors.__all__
    assert importlib.util.find_spec("assay.labeling.errors") is None
    assert importlib.util.find_spec("assay.labeling._audit") is None


def test_append_on_a_raw_connection_and_through_sqlalchemy_make_one_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sqlite3 side of the chain, so on the embedded store whatever database the run uses.
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
    ws = Workspace.init(tmp_path / "sqlite-ws")
    start = len(ws.audit_log())  # creating the workspace is audited too
    with ws.db.begin() as conn:
        assert audit.append(conn, "user:a", "test.one", "x") == start + 1
    raw = sqlite3.connect(str(ws.db.engine.url.database), isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    assert audit.append(raw, "user:b", "test.two", "y", {"k": [1, 2]}) == start + 2
    raw.execute("COMMIT")
    raw.close()
    with write_tx(ws.db) as tx:
        assert isinstance(tx, RawTx)  # the hot paths run plain SQL on sqlite3 itself
        assert tx.audit("user:c", "test.three", "z", {}) == start + 3
    log = ws.audit_log()[start:]
    assert [e.action for e in log] == ["test.one", "test.two", "test.three"]
    assert log[1].details == {"k": [1, 2]}
    assert ws.audit_verify().ok
    ws.close()


def test_a_rolled_back_append_leaves_no_trace(ws: Workspace) -> None:
    before = [e.action for e in ws.audit_log()]
    try:
        with write_tx(ws.db) as tx:
            tx.audit("user:a", "test.gone", "x", {})
            raise RuntimeError("the change fails")
    except RuntimeError:
        pass
    with ws.db.begin() as conn:
        assert audit.append(conn, "user:a", "test.kept", "x") == len(before) + 1
    assert [e.action for e in ws.audit_log()] == [*before, "test.kept"]
    assert ws.audit_verify().ok


def test_check_submission_refuses_bad_input_before_any_transaction() -> None:
    from assay.domain.marking import MarkingScheme
    from assay.errors import InvalidInput
    from assay.labeling.users import User

    scheme = MarkingScheme.default()
    ana = User(1, "ana", "annotator", scheme.parse("CUI"), "CUI")
    for client_id, lead in (("", 1.0), ("x" * 101, 1.0), ("ok", -1.0), ("ok", 1e9)):
        try:
            check_submission(ana, client_id, lead)
        except InvalidInput:
            continue
        raise AssertionError(f"accepted client_id={client_id!r} lead_time={lead}")
    check_submission(ana, "ok", None)
