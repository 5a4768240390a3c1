"""The real `assay` process against a temporary workspace: one full flow, exit codes, audit."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from assay import Workspace
from assay.domain.labels import Region
from assay.store.schema import audit
from assay.versioning import LabelRecord


def _label(root: Path, dataset: str, item: str, *regions: Region) -> None:
    with Workspace.open(root) as w:
        w.set_labels(dataset, [LabelRecord(item, list(regions), [f"a-{item[:8]}"], ["user:ana"])])


def test_full_flow_leaves_a_verifiable_audit_trail(
    run_cli, samples, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ASSAY_ACTOR", "user:tester")  # for the labels set through the Python API
    ws = tmp_path / "ws"
    run_cli("init", ws)
    samples.images("uav", 3)
    samples.text("reports/r0.txt", seed=0)
    ing = run_cli("-w", ws, "ingest", samples.root, "--marking", "CUI/FLOOD", "--json").json()
    assert (ing["files"], ing["new"], ing["duplicate"], ing["failed"]) == (4, 4, 0, 0)
    run_cli("-w", ws, "dataset", "create", "flood-2026")
    run_cli("dataset", "add", "flood-2026", "--items", "media_type~image/*", cwd=ws)
    img = ing["item_ids"][1]  # walk order: reports/r0.txt, then uav/scene_0000.png
    _label(ws, "flood-2026", img, Region(kind="box", label="boat", box=(4, 4, 10, 8)))

    first = run_cli("commit", "flood-2026", "-m", "three scenes", cwd=ws).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    with Workspace.open(ws) as w:
        (c,) = w.log("flood-2026")
    header = {k: v for k, v in c.to_dict().items() if k != "id"}
    canon = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert c.id == first == hashlib.sha256(canon.encode()).hexdigest()

    _label(ws, "flood-2026", img, Region(kind="box", label="debris", box=(4, 4, 10, 8)))
    with Workspace.open(ws) as w:  # the CLI forms of these run in tests/cli/test_cli_versions.py
        w.tag("flood-2026", "HEAD", "v1")
        w.commit("flood-2026", "relabel")
    diff = run_cli("diff", "flood-2026", "v1", "HEAD", "--json", cwd=ws).json()
    assert diff["items_changed"] == [img]
    assert [(c["change"], c["before"]["label"], c["after"]["label"]) for c in diff["changes"]] == [
        ("relabeled", "boat", "debris")
    ]

    show = run_cli("show", "flood-2026@v1", cwd=ws).stdout.splitlines()
    assert show[0].strip() == "CUI/FLOOD" and show[-1].strip() == "CUI/FLOOD"
    assert any(first in line for line in show)

    out = tmp_path / "export"
    exp = run_cli(
        "export", "flood-2026@v1", "--format", "coco", "--out", out, "--json", cwd=ws
    ).json()
    assert exp["revision"] == first and exp["items"] == 3 and exp["marking"] == "CUI/FLOOD"

    events = run_cli("audit", "log", "--json", cwd=ws).json()
    assert [e["action"] for e in events] == [
        "workspace.init",
        "ingest",
        "dataset.create",
        "dataset.add",
        "labels.set",
        "commit",
        "labels.set",
        "tag",
        "commit",
        "export",
    ]
    assert all(e["actor"] == "user:tester" for e in events)
    ok = run_cli("audit", "verify", cwd=ws)
    assert "10 event(s) verified" in ok.stdout

    with Workspace.open(ws) as w, w.db.begin() as conn:  # SQLite or PostgreSQL, past assay
        conn.execute(audit.update().where(audit.c.seq == 4).values(details='{"added":999}'))
    bad = run_cli("audit", "verify", cwd=ws, code=1)
    assert "broken at event 4" in bad.stderr


def test_user_errors_are_one_line_without_traceback(run_cli, tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    # `run_cli` asserts: exit 1, one stderr line starting with "error: ", no traceback.
    assert "no dataset named 'ghost'" in run_cli("commit", "ghost", "-m", "x", code=1).stderr
    assert (
        "levels are: UNCLASSIFIED, CUI"
        in run_cli(
            "ingest", tmp_path / ".assay" / "config.json", "--marking", "RESTRICTED", code=1
        ).stderr
    )
    missing = tmp_path / "missing"
    res = run_cli("ingest", missing, code=1)
    assert res.stderr == f"error: {missing}: no such file or directory\n"
