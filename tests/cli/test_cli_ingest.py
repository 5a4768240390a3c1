"""`assay ingest`: summaries, skipped files by name and reason, --json, --marking, --text-field."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from assay import Workspace
from assay.store.schema import items

JSON_KEYS = {
    "files", "new", "duplicate", "failed", "failures", "skipped", "skips", "item_ids", "raised",
    "notes",
}  # fmt: skip


def _markings(root: Path) -> dict[str, str]:
    with Workspace.open(root) as w, w.db.read() as conn:
        return {r.name: r.marking for r in conn.execute(select(items.c.name, items.c.marking))}


def test_ingest_reports_and_skips_bad_files(cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    samples.images("uav", 2)
    samples.text("reports/levee.txt", seed=2)
    samples.raw("bad/broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    samples.raw("reports/latin1.txt", "Überflutung".encode("latin-1"))
    samples.raw("reports/calls.jsonl", b'{"text": "ok"}\nnot json\n')
    samples.raw("reports/scan.pdf", b"%PDF-1.4")
    res = cli("ingest", samples.root)
    err = res.stderr
    assert "skipped" in err
    for name, reason in [
        ("broken.png", "corrupt"),
        ("latin1.txt", "not UTF-8 text"),
        ("calls.jsonl", "line 2: invalid JSON"),
        ("scan.pdf", "unsupported file type .pdf"),
    ]:
        (line,) = [ln for ln in err.splitlines() if name in ln]
        assert reason in line, line
    assert "3 new, 0 duplicate, 4 failed (7 file(s))" in res.stdout
    again = cli("ingest", samples.root / "uav", samples.root / "reports" / "levee.txt")
    assert "nothing new: all 3 item(s) were already ingested" in again.stdout
    assert again.stderr == ""
    mixed = cli("ingest", samples.root / "uav", samples.root / "bad")
    assert "0 new, 2 duplicate, 1 failed (3 file(s))" in mixed.stdout
    assert mixed.stderr.count("skipped") == 1


def test_ingest_json_marking_and_text_field(cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    samples.raw(
        "hotline.csv", b"when,message\n08:10,Family on roof at Elm St.\n08:12,Car in water.\n"
    )
    samples.png("uav/s.png", seed=5)
    res = cli(
        "ingest",
        samples.root,
        "--marking",
        "cui/sar",
        "--text-field",
        "message",
        "--source",
        "hotline",
        "--json",
    )
    data = res.json()
    assert set(data) == JSON_KEYS
    assert (data["files"], data["new"], data["duplicate"], data["failed"], data["failures"]) == (
        2,
        3,
        0,
        0,
        [],
    )
    assert len(data["item_ids"]) == 3 and all(len(i) == 64 for i in data["item_ids"])
    assert _markings(tmp_path) == {
        "hotline.csv:2": "CUI/SAR",
        "hotline.csv:3": "CUI/SAR",
        "s.png": "CUI/SAR",
    }
    again = cli("ingest", samples.root, "--text-field", "message", "--json").json()
    assert (again["new"], again["duplicate"]) == (0, 3)
    assert sorted(again["item_ids"]) == sorted(data["item_ids"])
    # Without --text-field the CSV is skipped with a hint.
    plain = cli("ingest", samples.root / "hotline.csv", "--json", code=1).json()  # nothing in
    assert plain["failures"] == [
        {
            "path": str(samples.root / "hotline.csv"),
            "reason": "line 1: no column 'text' (use --text-field)",
        }
    ]


def test_bad_marking_names_the_levels(cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    res = cli("ingest", samples.text("r.txt"), "--marking", "EYES-ONLY", code=1)
    assert "unknown marking level 'EYES-ONLY'" in res.stderr
    assert "UNCLASSIFIED, CUI, CONFIDENTIAL, SECRET, TOP SECRET" in res.stderr
    assert _markings(tmp_path) == {}


def test_reingest_with_a_higher_marking_raises_it_and_says_so(cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    f = samples.text("casualties.txt", "Casualty list, sector 4.")
    cli("ingest", f)
    res = cli("ingest", f, "--marking", "SECRET/SAR")
    assert "nothing new: all 1 item(s) were already ingested" in res.stdout
    assert "raised the marking of 1 existing item(s)" in res.stdout
    assert "UNCLASSIFIED -> SECRET/SAR" in res.stdout
    assert _markings(tmp_path) == {"casualties.txt": "SECRET/SAR"}
    # A lower marking never lowers it.
    again = cli("ingest", f, "--marking", "CUI", "--json").json()
    assert again["raised"] == [] and _markings(tmp_path) == {"casualties.txt": "SECRET/SAR"}
