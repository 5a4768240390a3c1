"""Exit codes and messages as a new user meets them (issue 13, trap 9)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from assay import Workspace
from assay.domain.labels import Region
from assay.versioning import LabelRecord


def _dataset_with_two_commits(cli, samples, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    cli("init", ws)
    samples.images("uav", 2)
    ids = cli("-w", ws, "ingest", samples.root, "--json").json()["item_ids"]
    cli("-w", ws, "dataset", "create", "flood")
    cli("-w", ws, "dataset", "add", "flood", "--all")
    with Workspace.open(ws) as w:
        box = Region(kind="box", label="boat", box=(4.0, 4.0, 10.0, 8.0), author="user:ana")
        w.set_labels("flood", [LabelRecord(ids[0], [box], ["a1"], ["user:ana"])])
        w.commit("flood", "first")
        w.tag("flood", "HEAD", "v1")
        # a move by a float-noisy amount, as a client's scaled canvas produces
        moved = box.model_copy(update={"box": (5.99968000000001, 4.00049, 10.0, 8.0)})
        w.set_labels("flood", [LabelRecord(ids[0], [moved], ["a2"], ["user:bo"])])
        w.commit("flood", "second")
    return ws


def test_ingest_exits_1_when_every_file_failed_and_still_summarises(
    run_cli, samples, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    run_cli("init", ws)
    bad = samples.raw("broken.png", b"\x89PNG\r\n\x1a\nnot really")
    res = run_cli("-w", ws, "ingest", bad, code=1)
    assert "0 new, 0 duplicate, 1 failed (1 file(s))" in res.stdout
    assert res.stderr.startswith("error: nothing ingested: all 1 file(s) failed: ")
    assert "broken.png" in res.stderr
    # one good file among bad ones is a partial success: exit 0, the failure still reported
    samples.png("good.png")
    ok = run_cli("-w", ws, "ingest", samples.root, "--json")
    assert ok.json()["failed"] and ok.json()["new"]


def test_serve_on_a_busy_port_fails_before_saying_serving(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    run_cli("init", ws)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run_cli("-w", ws, "serve", "--port", str(port), code=1)
    assert "serving" not in res.stdout
    assert f"127.0.0.1:{port}: it is in use" in res.stderr and "--port" in res.stderr


def test_show_export_audit_diff_and_format_case(cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = _dataset_with_two_commits(cli, samples, tmp_path)
    show = cli("-w", ws, "show", "flood@v1").stdout
    assert "[" not in show and "{" not in show and "'" not in show  # no Python reprs
    assert "tags: v1" in show and "parents: -" in show and "items=2" in show

    out = cli("-w", ws, "export", "flood", "--format", "COCO", "--out", tmp_path / "x").stdout
    assert "(working state)" in out and "working stat)" not in out.replace("working state)", "")
    assert (
        cli("-w", ws, "export", "flood@v1", "--format", "Yolo", "--out", tmp_path / "y").code == 0
    )

    d = cli("-w", ws, "diff", "flood", "v1", "HEAD", "--json").json()
    [change] = d["changes"]
    assert change["change"] == "moved" and change["after"]["box"] == [6.0, 4.0, 10.0, 8.0]

    with Workspace.open(ws) as w:
        w.create_dataset("d" + "x" * 150)  # an audit event with long details
    log = cli("-w", ws, "audit", "log").stdout
    assert "…" in log and "--wide or --json shows every detail in full" in log
    wide = cli("-w", ws, "audit", "log", "--wide").stdout
    folded = sum(len(run) for run in re.findall(r"x{20,}", wide))
    assert "…" not in wide and folded == 150  # folded onto more lines, never cut
    full = json.loads(cli("-w", ws, "audit", "log", "--json").stdout)
    assert any("x" * 150 in e["target"] for e in full)


def test_help_texts_name_units_and_formats(cli) -> None:  # type: ignore[no-untyped-def]
    create = cli("project", "create", "--help").stdout
    assert "Seconds an annotator holds a task" in create
    share = create[create.index("--gold-share") :]
    assert "Share of an annotator's tasks that are gold" in share[:300]
    assert "default: 0.05 with --gold" in share[:300] and "[default: 0.0]" not in share[:300]
    assert "--from-labels" in create
    imp = cli("import", "--help").stdout
    assert all(f in imp for f in ("jsonl", "parquet", "geojson", "stac"))
    assert "JSONL, Parquet," in imp and "GeoJSON and STAC" in imp
    for command in ("export", "checkout"):  # an --out holding other files is refused
        assert "A new or empty folder" in cli(command, "--help").stdout

    # defaults the code takes are said where they are not a plain value
    def said(*command: str) -> str:
        return " ".join(cli(*command, "--help").stdout.split())

    assert "default: the baseline's primary metric" in said("eval", "gate")
    assert "runs/redteam-ID beside the workspace folder" in said("redteam")
    assert "reviewed: accepted or fixed in review only" in said("dataset", "pull")


def test_messages_stay_whole_lines_in_a_pipe(run_cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A pipe gets rich's 80 columns: a message longer than that is still one line on stdout
    and on stderr, so `grep` and log readers see it whole."""
    ws = tmp_path / "ws"
    run_cli("init", ws)
    samples.images("uav", 1)
    samples.raw("report.txt", b"Water rising near the bridge.")
    run_cli("-w", ws, "ingest", samples.root)
    name = "flood-response-damage-assessment-second-pass"
    pipe = {"COLUMNS": "80"}
    created = run_cli("-w", ws, "dataset", "create", name, env=pipe).stdout
    assert created == f"created dataset {name}; add items with `assay dataset add {name} --all`\n"
    run_cli("-w", ws, "dataset", "add", name, "--all")
    res = run_cli("-w", ws, "export", name, "--format", "coco", "--out", tmp_path / "o", env=pipe)
    assert res.stderr == (
        "warning: coco export could not carry 1 text items (--strict refuses; an export as "
        "jsonl or parquet carries them)\n"
    )
    (line,) = res.stdout.splitlines()
    assert line.startswith(f"wrote 1 item(s) of {name} (working state) as coco to ")
    assert line.endswith("; highest marking: UNCLASSIFIED")


def test_project_create_help_says_a_dataset_revision_is_taken(cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The README has a campaign start from a committed revision; `--help` said only "the
    # dataset's working state", so a user took a release's items to need a new dataset.
    said = " ".join(cli("project", "create", "--help").stdout.split())
    assert "NAME@REV" in said and "the items of that commit" in said
    ws = tmp_path / "ws"
    cli("init", ws)
    samples.images("uav", 3)
    cli("-w", ws, "ingest", samples.root)
    cli("-w", ws, "dataset", "create", "flood")
    cli("-w", ws, "dataset", "add", "flood", "--items", "name!=scene_0002.png")
    cli("-w", ws, "commit", "flood", "-m", "two")
    cli("-w", ws, "tag", "flood", "HEAD", "v1")
    cli("-w", ws, "dataset", "add", "flood", "--all")
    schema = tmp_path / "s.yaml"
    schema.write_text("controls:\n  - {name: damage, type: choices, labels: [none, minor]}\n")
    on_tag = cli("-w", ws, "project", "create", "p1", "--schema", schema, "--dataset", "flood@v1")
    assert on_tag.stdout.strip() == "created project p1 with 2 task(s)"
    working = cli("-w", ws, "project", "create", "p2", "--schema", schema, "--dataset", "flood")
    assert working.stdout.strip() == "created project p2 with 3 task(s)"
