"""`assay status|commit|log|show|tag|diff` and revision errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assay import Workspace
from assay.domain.labels import Region
from assay.versioning import LabelRecord


def _boat(x: float) -> Region:
    return Region(kind="box", label="boat", box=(x, 4.0, 10.0, 10.0), author="user:ana")


@pytest.fixture
def ds(tmp_path: Path, samples, monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Workspace at tmp_path with dataset `flood` of 3 scenes (2 CUI, 1 CONFIDENTIAL/SAR)."""
    monkeypatch.setenv("ASSAY_ACTOR", "user:tester")
    with Workspace.init(tmp_path) as w:
        samples.images("uav", 2)
        w.ingest([samples.root / "uav"], marking="CUI")
        w.ingest([samples.png("sar/s.png", seed=99)], marking="CONFIDENTIAL/SAR")
        w.create_dataset("flood")
        w.add_items("flood")
        with w.db.read() as conn:
            return sorted(conn.exec_driver_sql("SELECT id FROM items").scalars())


def _label(tmp_path: Path, item: str, *regions: Region) -> None:
    with Workspace.open(tmp_path) as w:
        w.set_labels("flood", [LabelRecord(item, list(regions), ["a1"], ["user:ana"])])


def test_status_commit_log_show(cli, ds: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    st = cli("status", "flood", "--json").json()
    assert sorted(st["items_added"]) == ds and st["changes"] == []
    assert "3 item(s) added" in cli("status", "flood").stdout
    first = cli("commit", "flood", "-m", "initial").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert "nothing to commit" in cli("status", "flood").stdout
    assert "nothing to commit in 'flood'" in cli("commit", "flood", "-m", "again", code=1).stderr
    cli("commit", "flood", code=2)  # -m is required

    _label(tmp_path, ds[0], _boat(0), _boat(40))
    st = cli("status", "flood", "--json").json()
    assert st["items_changed"] == [ds[0]]
    assert [c["change"] for c in st["changes"]] == ["added", "added"]
    text = cli("status", "flood").stdout
    assert "1 with label changes" in text and "added 2" in text

    second = cli("commit", "flood", "-m", "two boats", "--author", "user:lead", "--json").json()
    assert second["parents"] == [first] and second["author"] == "user:lead"
    assert second["stats"]["regions"] == 2
    log = cli("log", "flood", "--json").json()
    assert [c["id"] for c in log] == [second["id"], first]
    assert [c["message"] for c in log] == ["two boats", "initial"]
    assert f"commit {first}" in cli("log", "flood").stdout

    show = cli("show", f"flood@{first[:10]}", "--json").json()
    assert show["id"] == first and show["marking"] == "CONFIDENTIAL/SAR" and show["verified"]
    lines = cli("show", "flood").stdout.splitlines()
    assert lines[0] == "CONFIDENTIAL/SAR" == lines[-1]
    assert any(second["id"] in ln for ln in lines)


def test_tags_and_revision_errors(cli, ds: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "has no commits yet" in cli("show", "flood", code=1).stderr
    first = cli("commit", "flood", "-m", "v1").stdout.strip()
    _label(tmp_path, ds[1], _boat(3))
    second = cli("commit", "flood", "-m", "v2").stdout.strip()
    assert cli("tag", "flood", "HEAD~1", "baseline", "--json").json() == {
        "dataset": "flood",
        "tag": "baseline",
        "commit": first,
    }
    assert "tagged" in cli("tag", "flood", second[:12], "release").stdout
    assert cli("show", "flood@baseline", "--json").json()["tags"] == ["baseline"]
    assert cli("show", "flood@HEAD~1", "--json").json()["id"] == first
    assert cli("show", "flood@HEAD~0", "--json").json()["id"] == second
    assert (
        cli("show", f"flood@{second[:5]}", "--json").json()["id"] == second
        or first[:5] == second[:5]
    )
    assert "already exists" in cli("tag", "flood", "HEAD", "baseline", code=1).stderr
    assert "no tag 'nightly'" in cli("show", "flood@nightly", code=1).stderr
    assert "4+ hex digits" in cli("show", f"flood@{first[:3]}", code=1).stderr
    assert "only 2 commit(s)" in cli("show", "flood@HEAD~5", code=1).stderr
    assert "only 2 commit(s)" in cli("diff", "flood", "HEAD~2", "HEAD", code=1).stderr
    assert "nothing after '@'" in cli("show", "flood@", code=1).stderr
    assert "bad tag name" in cli("tag", "flood", "HEAD", "HEAD~1", code=1).stderr


def test_diff_json_shape(cli, ds: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _label(tmp_path, ds[0], _boat(0))
    cli("commit", "flood", "-m", "v1")
    _label(tmp_path, ds[0], _boat(5).model_copy(update={"label": "debris"}))
    with Workspace.open(tmp_path) as w:
        w.remove_items("flood", f"id={ds[2]}")
    d = cli("diff", "flood", "HEAD", "--json").json()  # REV_B defaults to WORKING
    assert set(d) == {
        "before",
        "after",
        "items_added",
        "items_removed",
        "items_changed",
        "changes",
        "summary",
    }
    assert d["items_removed"] == [ds[2]] and d["items_changed"] == [ds[0]]
    kinds = sorted(c["change"] for c in d["changes"])
    assert kinds == ["moved", "relabeled"]
    for c in d["changes"]:
        assert {"item", "change", "before", "after", "author"} <= set(c)
        assert c["item"] == ds[0] and c["author"] == "user:ana"
    moved = next(c for c in d["changes"] if c["change"] == "moved")
    assert moved["iou"] == pytest.approx(50 / 150, abs=1e-6)
    assert d["summary"]["relabeled"] == 1 and d["summary"]["items_removed"] == 1
    text = cli("diff", "flood", "HEAD", "WORKING").stdout
    assert "boat -> debris" in text and "IoU 0.333" in text
    # The table named items by a 12-digit hash only: which scene changed took a query per row.
    with Workspace.open(tmp_path) as w, w.db.read() as conn:
        name = conn.exec_driver_sql(f"SELECT name FROM items WHERE id = '{ds[0]}'").scalar()
    rows = [line for line in text.splitlines() if "│" in line and "relabeled" in line]
    assert len(rows) == 1 and f"{name} {ds[0][:8]}" in rows[0]
