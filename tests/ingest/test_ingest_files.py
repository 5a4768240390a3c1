"""Ingest through the Python API: media types, EXIF, rows, recursion, failures, parallelism."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assay import Workspace
from assay.errors import InvalidInput
from assay.ingest import ingest_paths
from assay.ingest.files import PARALLEL_MIN_FILES
from blob_stacks import stacks
from item_rows import workspace_items

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()


def items_by_name(ws: Workspace) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in workspace_items(ws)}


def test_each_media_type_becomes_an_item(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    files = [
        samples.png("scenes/levee.png", seed=1, size=(40, 30)),
        samples.jpeg("scenes/roof.jpg", seed=2, taken="2026:05:03 14:22:05", gps=(29.76, -95.3625)),
        samples.tiff("scenes/bridge.tif", seed=3),
        samples.webp("scenes/shelter.webp", seed=4),
        samples.text("reports/r1.txt", seed=1),
    ]
    report = ws.ingest([samples.root])
    assert (len(report.new), len(report.duplicate), report.failed, report.files) == (5, 0, [], 5)
    got = items_by_name(ws)
    assert {n: r["media_type"] for n, r in got.items()} == {
        "levee.png": "image/png",
        "roof.jpg": "image/jpeg",
        "bridge.tif": "image/tiff",
        "shelter.webp": "image/webp",
        "r1.txt": "text/plain",
    }
    assert (got["levee.png"]["width"], got["levee.png"]["height"]) == (40, 30)
    assert (got["bridge.tif"]["width"], got["bridge.tif"]["height"]) == (48, 32)
    assert got["r1.txt"]["width"] is None
    roof = got["roof.jpg"]["metadata"]
    assert roof["captured_at"] == "2026-05-03T14:22:05"  # DateTimeOriginal wins over DateTime
    assert roof["geo"]["lat"] == pytest.approx(29.76, abs=1e-4)
    assert roof["geo"]["lon"] == pytest.approx(-95.3625, abs=1e-4)
    assert "captured_at" not in got["levee.png"]["metadata"]
    for f in files:
        data = f.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        row = got[f.name]
        assert row["id"] == sha and row["size"] == len(data)
        assert row["metadata"]["path"] == str(f)
        assert row["marking"] == "UNCLASSIFIED"
        assert ws.blobs.get_bytes(sha) == data


def test_southern_western_hemisphere_gps(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.jpeg("quake.jpg", gps=(-33.45, 151.2))
    ws.ingest([samples.root])
    geo = items_by_name(ws)["quake.jpg"]["metadata"]["geo"]
    assert geo["lat"] == pytest.approx(-33.45, abs=1e-4) and geo["lon"] == pytest.approx(
        151.2, abs=1e-4
    )


def test_jsonl_and_csv_rows(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.jsonl(
        "reports.jsonl",
        [
            {"body": "Water at the first floor of the clinic.", "district": "north"},
            {"body": "Road to the shelter is open.", "district": "south", "priority": 2},
        ],
    )
    samples.raw("calls.csv", b"id,body\n7,Caller reports a family on a roof.\n8,Bridge closed.\n")
    report = ws.ingest([samples.root], text_field="body", source="hotline")
    assert len(report.new) == 4 and report.failed == []
    got = items_by_name(ws)
    row = got["reports.jsonl:2"]
    assert row["media_type"] == "text/plain"
    assert row["metadata"]["line"] == 2 and row["metadata"]["source"] == "hotline"
    assert row["metadata"]["fields"] == {"district": "south", "priority": 2}
    assert row["source"] == "hotline"
    assert ws.blobs.get_bytes(row["id"]) == b"Road to the shelter is open."
    csv_row = got["calls.csv:3"]
    assert csv_row["metadata"]["fields"] == {"id": "8"}
    assert ws.blobs.get_bytes(csv_row["id"]) == b"Bridge closed."


def test_recursion_skips_hidden_and_dedups_same_bytes(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.png("a/b/c/deep.png", seed=9)
    samples.png("a/copy_of_deep.png", seed=9)  # same bytes, other name
    samples.text("a/.hidden.txt", "secret scratch")
    samples.text("a/.cache/x.txt", "cached")
    report = ws.ingest([samples.root / "a"])
    assert report.files == 2
    # Every file is accounted for: the copy is a duplicate of the item made from the first.
    assert len(report.new) == 1 and report.duplicate == report.new
    again = ws.ingest([samples.root / "a"])
    assert (again.new, again.duplicate, again.failed) == ([], report.new * 2, [])


def test_reingest_is_a_no_op(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.images("scenes", 4)
    first = ws.ingest([samples.root])
    second = ws.ingest([samples.root])
    assert len(first.new) == 4
    assert second.new == [] and sorted(second.duplicate) == sorted(first.new)
    assert len(items_by_name(ws)) == 4
    d = second.to_dict()
    assert (d["new"], d["duplicate"], d["failed"]) == (0, 4, 0)


def test_bad_files_are_named_skipped_and_counted(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    good = samples.png("ok.png", seed=1)
    png = good.read_bytes()
    samples.raw("broken.png", png[: len(png) // 2])  # truncated
    samples.raw("notes.docx", b"PK\x03\x04")
    samples.raw("latin1.txt", "Pegel über 4 m".encode("latin-1"))
    samples.raw("rows.jsonl", b'{"text": "fine"}\n{"text": broken\n')
    samples.raw("noext", b"??")
    report = ws.ingest([samples.root])
    assert len(report.new) == 1 and report.files == 6
    reasons = {Path(f.path).name: f.reason for f in report.failed}
    assert set(reasons) == {"broken.png", "notes.docx", "latin1.txt", "rows.jsonl", "noext"}
    assert "corrupt" in reasons["broken.png"] or "not a readable image" in reasons["broken.png"]
    assert reasons["notes.docx"] == "unsupported file type .docx"
    assert reasons["noext"] == "unsupported file type (no extension)"
    assert "not UTF-8" in reasons["latin1.txt"] and "line 1" in reasons["latin1.txt"]
    assert reasons["rows.jsonl"].startswith("line 2: invalid JSON")
    # A bad row fails its whole file: nothing from rows.jsonl went in.
    assert set(items_by_name(ws)) == {"ok.png"}
    assert report.to_dict()["failures"][0].keys() == {"path", "reason"}


def test_missing_text_field(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.raw("calls.csv", b"id,message\n1,hello\n")
    samples.jsonl("r.jsonl", [{"text": "ok"}, {"body": "no text"}])
    report = ws.ingest([samples.root])
    reasons = {Path(f.path).name: f.reason for f in report.failed}
    assert reasons["calls.csv"] == "line 1: no column 'text' (use --text-field)"
    assert reasons["r.jsonl"] == "line 2: field 'text' is missing or not a string"


def test_marking_and_missing_path(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.text("sar.txt", "Search sector 4 cleared.")
    ws.ingest([samples.root], marking="cui/sar")
    assert items_by_name(ws)["sar.txt"]["marking"] == "CUI/SAR"
    with pytest.raises(InvalidInput, match="no such file or folder"):
        ws.ingest([samples.root / "nope"])
    with pytest.raises(InvalidInput, match="levels are"):
        ws.ingest([samples.root], marking="ULTRA")


def test_progress_reports_to_the_total(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        samples.text(f"r{i}.txt", seed=i)
    calls: list[tuple[int, int]] = []
    ws.ingest([samples.root], progress=lambda d, t: calls.append((d, t)))
    size = sum(p.stat().st_size for p in samples.root.iterdir())  # in bytes of the files read
    assert calls and calls[-1] == (size, size)


def test_parallel_path_matches_serial(tmp_path: Path, samples, new_database) -> None:  # type: ignore[no-untyped-def]
    n = PARALLEL_MIN_FILES + 44
    for i in range(n):
        samples.text(f"batch/{i // 100}/report_{i:04d}.txt", seed=i)
    samples.text("batch/dup.txt", content=(samples.root / "batch/0/report_0000.txt").read_text())
    samples.raw("batch/bad.txt", b"\xff\xfe")
    samples.png("batch/scene.png", seed=3)
    results = {}
    for mode, workers in (("serial", 1), ("parallel", 2)):
        new_database()  # each run in a fresh workspace, on PostgreSQL too
        w = Workspace.init(tmp_path / mode)
        rep = ingest_paths(
            w.db, w.blobs, w.scheme, [samples.root / "batch"], actor="user:t", workers=workers
        )
        rows = {
            k: {c: v for c, v in r.items() if c != "created"} for k, r in items_by_name(w).items()
        }
        blobs = sorted(w.blobs.iter_shas())
        leftovers = list((w.root / "objects" / "tmp").iterdir())
        w.close()
        results[mode] = (rep.to_dict(), rows, blobs, leftovers)
    serial, parallel = results["serial"], results["parallel"]
    assert serial[0]["new"] == n + 1 and serial[0]["failed"] == 1
    assert parallel[0] == serial[0]
    assert parallel[1] == serial[1]
    assert parallel[2] == serial[2] and len(serial[2]) == n + 1
    assert parallel[3] == [] and serial[3] == []


def _ingest_waiting(w: Workspace, files: list[Path]) -> tuple[Any, dict[str, object]]:
    """Start `w.ingest(files)` in a thread; return once it has stored the blobs of all three
    files and gone on to its write transaction (with its report or error, once joined)."""
    import threading
    import time

    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["report"] = w.ingest(files)
        except Exception as exc:  # the test reports it
            result["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 30
    while len(list(w.blobs.iter_shas())) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return t, result


def test_concurrent_ingest_of_the_same_bytes(tmp_path: Path, samples, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two operators ingest the same drive at once: the later one finds the items present."""
    # The other operator holds SQLite's write lock through sqlite3: on the embedded store,
    # whatever database the run uses.
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)

    files = samples.images("drive", 3)
    # What the other operator's ingest writes, taken from a scratch workspace.
    with Workspace.init(tmp_path / "scratch") as scratch:
        scratch.ingest(files)
    src = sqlite3.connect(tmp_path / "scratch" / ".assay" / "assay.db")
    cur = src.execute("SELECT * FROM items")
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    src.close()

    w = Workspace.init(tmp_path / "ws")
    other = sqlite3.connect(w.root / "assay.db", isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")  # the other operator holds the write lock
    t, result = _ingest_waiting(w, files)  # now waiting for the write lock
    marks = ",".join("?" * len(cols))
    other.executemany(f"INSERT INTO items ({','.join(cols)}) VALUES ({marks})", rows)
    other.execute("COMMIT")
    other.close()
    t.join(60)
    w.close()
    assert "error" not in result, repr(result.get("error"))
    report = result["report"]
    assert len(report.new) + len(report.duplicate) == 3  # type: ignore[attr-defined]
    with Workspace.open(tmp_path / "ws") as again:
        assert len(items_by_name(again)) == 3


def test_concurrent_ingest_of_the_same_bytes_on_any_database(  # type: ignore[no-untyped-def]
    tmp_path: Path, samples, new_database
) -> None:
    """As above, through the workspace's own database: on PostgreSQL (read committed) the later
    ingest found nothing present, inserted, and failed on the other's rows when it committed."""
    from sqlalchemy import insert, select

    from assay import audit
    from assay.store.schema import items

    files = samples.images("drive", 3)
    w = Workspace.init(tmp_path / "ws")
    new_database()  # the other operator's rows, made in a scratch workspace of their own
    with Workspace.init(tmp_path / "scratch") as scratch:
        scratch.ingest(files)
        with scratch.db.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(items))]
    with w.db.begin() as other:  # the other operator's ingest, as every writer: the trail lock
        audit.lock_trail(other)
        other.execute(insert(items), rows)
        t, result = _ingest_waiting(w, files)  # at its write transaction now
    t.join(60)
    w.close()
    assert "error" not in result, repr(result.get("error"))
    report = result["report"]
    assert report.new == [] and len(report.duplicate) == 3  # type: ignore[attr-defined]


def test_csv_and_jsonl_with_a_byte_order_mark(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    # Spreadsheet tools write UTF-8 with a BOM; the first column is still called "text".
    samples.raw(
        "sheet.csv", "text,district\nRoof collapse at the depot.,east\n".encode("utf-8-sig")
    )
    samples.raw("calls.jsonl", '{"text": "Water rising at the ford."}\n'.encode("utf-8-sig"))
    report = ws.ingest([samples.root])
    assert report.failed == []
    got = items_by_name(ws)
    assert ws.blobs.get_bytes(got["sheet.csv:2"]["id"]) == b"Roof collapse at the depot."
    assert got["sheet.csv:2"]["metadata"]["fields"] == {"district": "east"}
    assert ws.blobs.get_bytes(got["calls.jsonl:1"]["id"]) == b"Water rising at the ford."


def test_reingest_raises_a_marking_and_never_lowers_it(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    report_file = samples.text("casualties.txt", "Casualty list, sector 4.")
    scene = samples.png("scene.png", seed=8)
    first = ws.ingest([report_file, scene], marking="CUI/SAR")
    assert len(first.new) == 2
    # A higher marking met on the same bytes raises the item, on the record.
    up = ws.ingest([report_file], marking="SECRET/FLOOD")
    assert (up.new, len(up.duplicate), up.failed) == ([], 1, [])
    item = items_by_name(ws)["casualties.txt"]
    assert [c.to_dict() for c in up.raised] == [
        {"item": item["id"], "old": "CUI/SAR", "new": "SECRET/FLOOD/SAR"}
    ]
    assert item["marking"] == "SECRET/FLOOD/SAR"
    (event,) = [e for e in ws.audit_log() if e.action == "item.mark"]
    assert event.target == f"item:{item['id']}"
    assert event.details == {"old": "CUI/SAR", "new": "SECRET/FLOOD/SAR", "via": "ingest"}
    # The same marking, a lower one or none at all is a plain duplicate.
    for files, marking in (([report_file], "secret/sar/flood"), ([report_file, scene], "CUI")):
        same = ws.ingest(files, marking=marking)
        assert (same.new, len(same.duplicate), same.failed, same.raised) == ([], len(files), [], [])
    plain = ws.ingest([report_file, scene])
    assert (plain.new, len(plain.duplicate), plain.failed, plain.raised) == ([], 2, [], [])
    assert items_by_name(ws)["scene.png"]["marking"] == "CUI/SAR"
    assert items_by_name(ws)["casualties.txt"]["marking"] == "SECRET/FLOOD/SAR"


def test_small_blobs_are_packed_and_large_ones_stay_files(
    tmp_path: Path, samples: Any, new_database: Callable[[], None]
) -> None:
    from assay.store.blobs import PACK_MAX

    big = "Damage survey, sector 7. " * (PACK_MAX // 25 + 10)
    samples.text("drive/survey.txt", content=big)
    samples.text("drive/copy/survey.txt", content=big)  # the same bytes twice in one run
    for i in range(PARALLEL_MIN_FILES + 4):
        samples.text(f"drive/calls/call_{i:04d}.txt", seed=i)
    for workers in (1, 2):
        new_database()  # each run in a fresh workspace, on PostgreSQL too
        w = Workspace.init(tmp_path / f"ws{workers}")
        rep = ingest_paths(
            w.db, w.blobs, w.scheme, [samples.root / "drive"], actor="user:t", workers=workers
        )
        assert len(rep.new) == PARALLEL_MIN_FILES + 5 and len(rep.duplicate) == 1
        objects = w.root / "objects"
        sha = hashlib.sha256(big.encode()).hexdigest()
        assert (objects / sha[:2] / sha[2:]).read_text() == big  # a file of its own
        small = [s for s in rep.new if s != sha]
        assert not any((objects / s[:2] / s[2:]).exists() for s in small)
        packs = list((objects / "pack").iterdir())
        assert 1 <= len(packs) <= workers
        assert (
            w.blobs.get_bytes(small[0]) == (samples.root / "drive/calls/call_0000.txt").read_bytes()
        )
        assert list((objects / "tmp").iterdir()) == []
        w.close()


def test_reingest_under_another_source_keeps_the_metadata_and_says_so(  # type: ignore[no-untyped-def]
    ws: Workspace, samples
) -> None:
    # Images and text met again under another --source keep their first metadata, and a note
    # per file says so; the same source (or the path alone) is no difference.
    samples.images("scenes", 2)
    first = ws.ingest([samples.root], source="drone-a")
    before = items_by_name(ws)
    assert ws.ingest([samples.root], source="drone-a").notes == []
    again = ws.ingest([samples.root], source="drone-b")
    assert (
        sorted(n.reason for n in again.notes)
        == [
            "1 item(s) of this file were ingested before with other metadata (differing in "
            "source): an item is its bytes, so each keeps the metadata it was made with and this "
            "run's is not stored"
        ]
        * 2
    )
    assert sorted(again.duplicate) == sorted(first.new) and items_by_name(ws) == before
