"""`assay aggregate --project` and `assay quality report --project/--dataset`, end to end.

A real workspace in tmp_path: users and a project made through the labeling services,
answers submitted through `next_task` and `submit`, then the real `assay` entry point.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assay.domain.labels import Region, payload_from_json
from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, add_user, create_project, decide, next_task, review_next
from assay.labeling import submit as submit_answer
from assay.labeling.users import User
from assay.store.schema import ID_SEP, working
from assay.store.schema import annotations_table as ann_t
from assay.versioning import _manifest
from assay.workspace import Workspace
from labeling_world import PASSWORD, box, build_world, choice

RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py
TRUTH = ["none", "minor", "destroyed"]
# Three careful annotators and one who always says "destroyed" and boxes the wrong corner.
CAREFUL = ("ana", "man", "rev")


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")


def _answer(name: str, index: int) -> list[Region]:
    if name == "low":
        return [choice("destroyed"), box(30, 20, 8, 8)]
    label = TRUTH[index % 3]
    if name == "ana" and index == 0:
        label = "minor"  # one honest mistake
    shift = CAREFUL.index(name)
    return [choice(label), box(2 + shift, 2, 10, 10)]


def _label_all(ws: Workspace, users: dict[str, User], order: list[str], names: list[str]) -> None:
    """Every user in `names` answers every task they are served; lead time 4 s + index."""
    for name in names:
        while (lease := next_task(ws, users[name], "survey")) is not None:
            index = order.index(lease.item["id"])
            submit_answer(
                ws,
                users[name],
                lease.task_id,
                str(uuid.uuid4()),
                _answer(name, index),
                lead_time=4.0 + CAREFUL.index(name) if name in CAREFUL else 2.0,
            )


@pytest.fixture
def world(ws: Workspace, tmp_path: Path) -> tuple[Workspace, list[str]]:
    w = build_world(ws, tmp_path / "data", public=6, cui=0, secret=0, workflow=Workflow(overlap=4))
    order = w.items["public"]
    _label_all(ws, w.users, order, ["ana", "man", "rev", "low"])
    return ws, order


def _working(ws: Workspace) -> dict[str, tuple[list[Region], set[str], set[str]]]:
    with ws.db.read() as conn:
        rows = conn.execute(
            select(working.c.item_id, working.c.labels, working.c.annotation_ids, working.c.authors)
        ).all()
    return {
        r[0]: (payload_from_json(r[1]), set(r[2].split(ID_SEP)), set(r[3].split(ID_SEP)))
        for r in rows
        if r[1] != "[]"
    }


def _annotation_kinds(ws: Workspace) -> dict[str, tuple[str, str]]:
    with ws.db.read() as conn:
        rows = conn.execute(select(ann_t.c.id, ann_t.c.kind, ann_t.c.author)).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_aggregate_into_dataset_then_commit_carries_provenance(
    world: tuple[Workspace, list[str]], cli: RunCli, tmp_path: Path
) -> None:
    ws, order = world
    ws.create_dataset("damage")
    root = tmp_path / "ws"
    doc = cli(
        "-w",
        root,
        "aggregate",
        "--project",
        "survey",
        "--method",
        "ds",
        "--into",
        "damage",
        "--json",
    ).json()
    assert doc["author"] == "aggregate:ds"
    assert (doc["dataset"], doc["written"], doc["added_to_dataset"]) == ("damage", 6, 6)
    assert doc["controls"] == [
        {"control": "damage", "type": "choices", "n_labels": 24, "n_items": 6, "n_regions": 6}
    ]

    state = _working(ws)
    kinds = _annotation_kinds(ws)
    assert set(state) == set(order)
    for index, item in enumerate(order):
        regions, ids, authors = state[item]
        assert [(r.kind, r.control, r.label) for r in regions] == [
            ("choice", "damage", TRUTH[index % 3])
        ]
        assert regions[0].author == "aggregate:ds" and 0.5 < (regions[0].score or 0) <= 1
        assert authors == {"user:ana", "user:man", "user:rev", "user:low", "aggregate:ds"}
        assert sorted(kinds[i][0] for i in ids) == ["aggregate", "human", "human", "human", "human"]
        (agg,) = [i for i in ids if kinds[i][0] == "aggregate"]
        assert kinds[agg][1] == "aggregate:ds"

    commit = cli("-w", root, "commit", "damage", "-m", "labels of record by ds", "--json").json()
    table = _manifest.read(ws.blobs, commit["manifest"]).to_pylist()
    assert len(table) == 6
    for row in table:
        assert "aggregate:ds" in row["authors"] and "user:low" in row["authors"]
        assert len(row["annotation_ids"]) == 5
        assert set(row["annotation_ids"]) == state[row["item_id"]][1]

    events = [e for e in ws.audit_log() if e.action == "dataset.aggregate"]
    assert len(events) == 1 and events[0].details["items"] == 6
    assert ws.audit_verify().ok


def test_rerun_is_idempotent_and_other_controls_are_kept(
    world: tuple[Workspace, list[str]], cli: RunCli, tmp_path: Path
) -> None:
    ws, order = world
    root = tmp_path / "ws"
    args = ["-w", root, "aggregate", "--project", "survey", "--method", "mv", "--into", "flood"]
    cli(*args)
    before = _working(ws)
    n_annotations = len(_annotation_kinds(ws))
    cli(*args)
    assert _working(ws) == before
    assert len(_annotation_kinds(ws)) == n_annotations  # the same aggregate annotations

    doc = cli(*args, "--control", "label", "--json").json()
    assert doc["controls"][0]["type"] == "boxes"
    for index, item in enumerate(order):
        regions, _ids, authors = _working(ws)[item]
        by_kind = {r.kind: r for r in regions}
        assert by_kind["choice"].label == TRUTH[index % 3]  # kept from the first run
        fused = by_kind["box"]
        # low's box lies elsewhere: three of four annotators agree, their boxes are fused.
        assert [r.kind for r in regions].count("box") == 1
        assert fused.box is not None and fused.box[0] == pytest.approx(3.0, abs=0.6)
        assert fused.box[1:] == pytest.approx((2.0, 10.0, 10.0))
        assert "aggregate:mv" in authors and "user:low" in authors


def test_boxes_are_weighted_by_reliability(
    world: tuple[Workspace, list[str]], cli: RunCli, tmp_path: Path
) -> None:
    ws, order = world
    doc = cli(
        "-w",
        tmp_path / "ws",
        "aggregate",
        "--project",
        "survey",
        "--control",
        "label",
        "--control",
        "damage",
        "--method",
        "ds",
        "--json",
    ).json()
    assert doc["dataset"] is None and doc["written"] == 0  # no --into: nothing written
    assert {c["type"] for c in doc["controls"]} == {"choices", "boxes"}
    first = next(x for x in doc["labels"] if x["item"] == order[0])
    (fused,) = [r for r in first["regions"] if r["kind"] == "box"]
    # ana erred on item 0, so DS trusts her less than man and rev: the fused x leans to 3.5.
    assert 3.0 < fused["box"][0] < 3.5
    assert _working(ws) == {}


def test_report_from_project_and_dataset(
    world: tuple[Workspace, list[str]], cli: RunCli, tmp_path: Path
) -> None:
    ws, order = world
    root = tmp_path / "ws"
    html = tmp_path / "report.html"
    gold = tmp_path / "gold.csv"
    names = _names(ws, order)
    gold.write_text("task,label\n" + "".join(f"{names[i]},{TRUTH[i % 3]}\n" for i in range(3)))
    doc = cli(
        "-w",
        root,
        "quality",
        "report",
        "--project",
        "survey",
        "--gold",
        gold,
        "--html",
        html,
        "--json",
    ).json()
    assert {
        "source",
        "control",
        "controls",
        "agreement",
        "annotators",
        "confusion",
        "suspicious",
        "method",
    } <= set(doc)
    assert (doc["source"], doc["control"], doc["n_labels"]) == ("project survey", "damage", 24)
    rows = {r["control"]: r for r in doc["controls"]}
    assert set(rows) == {"damage", "label"}
    assert rows["damage"]["type"] == "choices" and -1 < rows["damage"]["krippendorff_alpha"] < 1
    assert rows["damage"]["fleiss_kappa"] is not None and rows["damage"]["mean_iou"] is None
    assert rows["label"]["type"] == "boxes" and rows["label"]["n_labels"] == 24
    assert 0.5 < rows["label"]["mean_iou"] < 1 and 0 < rows["label"]["f1_at_50"] < 1
    people = {a["worker"]: a for a in doc["annotators"]}
    assert set(people) == {"user:ana", "user:man", "user:rev", "user:low"}
    assert people["user:rev"]["seconds_per_task"] == pytest.approx(6.0)
    assert people["user:low"]["accuracy_vs_gold"] == pytest.approx(1 / 3)
    assert people["user:man"]["n_gold"] == 3 and doc["confusion_reference"] == "gold"
    page = html.read_text()
    assert "Agreement per control" in page and "project survey" in page
    assert page.count('src="data:image/png;base64,') == 4
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page)
    assert "http" not in "".join(re.findall(r"(?:src|href)=\"([^\"]*)\"", page))

    low = cli(
        "-w", root, "quality", "report", "--project", "survey", "--threshold", "1", "--json"
    ).json()
    assert len(low["suspicious"]) == 6
    assert {s["name"] for s in low["suspicious"]} == set(names)
    assert all(s["task"] in order and "×" in s["votes"] for s in low["suspicious"])
    # At 1 the tasks listed are every task, certain ones too: said so, not "posterior < 1".
    said = cli("-w", root, "quality", "report", "--project", "survey", "--threshold", "1").stdout
    assert "6 suspicious tasks (every task)" in said

    ws.create_dataset("subset")
    ws.add_items("subset", f"name={names[0]}")
    ds = cli("-w", root, "quality", "report", "--dataset", "subset", "--json").json()
    assert ds["source"] == "dataset subset" and ds["n_tasks"] == 1 and ds["n_labels"] == 4
    assert {r["control"] for r in ds["controls"]} == {"damage", "label"}


def test_report_human_output_shows_per_control_table(
    world: tuple[Workspace, list[str]], cli: RunCli, tmp_path: Path
) -> None:
    # At a pipe's 80 columns the table of 11 measures per control cut every name and number
    # to "…" (`-0.…`): it lists one measure per row, a column per control.
    out = cli(
        "-w", tmp_path / "ws", "quality", "report", "--project", "survey", env={"COLUMNS": "80"}
    ).stdout
    assert "…" not in out and "damage" in out and "suspicious tasks" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") == 4}
    assert {"krippendorff_alpha", "mean_iou", "f1_at_50", "n_labels"} <= set(rows)
    assert re.search(r"│ -?\d\.\d{3} +│", rows["krippendorff_alpha"])
    # With gold, "accuracy_vs_aggregate" and "accuracy_vs_gold" both showed as "accuracy_…".
    ws, order = world
    names = _names(ws, order)
    gold = tmp_path / "gold.csv"
    gold.write_text("task,label\n" + "".join(f"{names[i]},{TRUTH[i % 3]}\n" for i in range(3)))
    args = ["-w", tmp_path / "ws", "quality", "report", "--project", "survey", "--gold", gold]
    out = cli(*args, env={"COLUMNS": "80"}).stdout
    assert "…" not in out and "gold" in out and "aggregate" in out


def test_missing_answers_do_not_crash(ws: Workspace, tmp_path: Path, cli: RunCli) -> None:
    w = build_world(ws, tmp_path / "data", public=4, cui=0, secret=0, workflow=Workflow(overlap=2))
    order = w.items["public"]
    # ana answers everything; man answers one task with a box but no damage choice.
    _label_all(ws, w.users, order, ["ana"])
    lease = next_task(ws, w.users["man"], "survey")
    assert lease is not None
    submit_answer(ws, w.users["man"], lease.task_id, "c-1", [box(2, 2, 10, 10)])
    root = tmp_path / "ws"
    doc = cli("-w", root, "aggregate", "--project", "survey", "--into", "flood", "--json").json()
    assert doc["written"] == 4 and doc["controls"][0]["n_labels"] == 4
    report = cli("-w", root, "quality", "report", "--project", "survey", "--json").json()
    assert report["n_labels"] == 4
    boxes = next(r for r in report["controls"] if r["control"] == "label")
    assert boxes["n_items_multi"] == 1 and boxes["mean_iou"] == pytest.approx(1.0)


def test_project_without_answers_is_one_clear_error(
    ws: Workspace, tmp_path: Path, cli: RunCli
) -> None:
    build_world(ws, tmp_path / "data", public=2, cui=0, secret=0)
    root = tmp_path / "ws"
    for args in (
        ["aggregate", "--project", "survey", "--into", "flood"],
        ["quality", "report", "--project", "survey"],
    ):
        res = cli("-w", root, *args, code=1)
        assert "project 'survey' has no human annotations yet" in res.stderr
    res = cli("-w", root, "quality", "report", "--project", "nope", code=1)
    assert "no project named 'nope'" in res.stderr
    # The dataset --into names is checked before the project's answers: its absence is
    # the error, not "no human annotations".
    res = cli("-w", root, "aggregate", "--project", "survey", "--into", "nope", code=1)
    assert "no dataset named 'nope'" in res.stderr
    res = cli("-w", root, "aggregate", "--project", "nope", "--into", "flood", code=1)
    assert "no project named 'nope'" in res.stderr


def test_bad_usage_exits_2(ws: Workspace, tmp_path: Path, cli: RunCli) -> None:
    root = tmp_path / "ws"
    csv = tmp_path / "l.csv"
    csv.write_text("task,worker,label\nt,w,x\n")
    assert cli("-w", root, "aggregate", "--csv", csv, "--project", "p", code=2).code == 2
    assert cli("-w", root, "aggregate", "--csv", csv, "--into", "d", code=2).code == 2
    assert cli("-w", root, "aggregate", code=2).code == 2
    assert cli("-w", root, "quality", "report", "--project", "p", "--dataset", "d", code=2)


def test_rejected_answers_are_left_out(ws: Workspace, tmp_path: Path, cli: RunCli) -> None:
    w = build_world(
        ws,
        tmp_path / "data",
        public=1,
        cui=0,
        secret=0,
        workflow=Workflow(overlap=2, review="all"),
    )
    (item,) = w.items["public"]
    _label_all(ws, w.users, [item], ["ana", "low"])
    held = review_next(ws, w.users["rev"], "survey")
    assert held is not None
    bad = next(a for a in held["annotations"] if a["author"] == "user:low")
    decide(
        ws,
        w.users["rev"],
        held["task_id"],
        "r-1",
        "reject",
        annotation_id=bad["id"],
        comment="the damage is minor, see the roof",
    )
    doc = cli(
        "-w",
        tmp_path / "ws",
        "aggregate",
        "--project",
        "survey",
        "--method",
        "mv",
        "--into",
        "flood",
        "--json",
    ).json()
    assert doc["labels"][0]["annotators"] == ["user:ana"]
    (_regions, ids, authors) = _working(ws)[item]
    assert bad["id"] not in ids and authors == {"user:ana", "aggregate:mv"}


SPAN_SCHEMA = """
title: Field reports
controls:
  - name: hazard
    type: spans
    labels: [water, debris]
  - name: urgency
    type: choices
    labels: [low, high]
  - name: needs
    type: choices
    multiple: true
    labels: [boat, medic, food]
"""


def test_spans_aggregate_by_token_vote(ws: Workspace, tmp_path: Path, cli: RunCli) -> None:
    text = "Water over the road near the school, debris on the bridge."
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "r1.txt").write_text(text)
    (item,) = ws.ingest([folder]).new
    ws.create_dataset("reports")
    ws.add_items("reports")
    users = {n: add_user(ws, n, "annotator", "UNCLASSIFIED", PASSWORD) for n in ("a", "b", "c")}
    schema = LabelSchema.from_yaml_text(SPAN_SCHEMA, "reports.yaml")
    create_project(ws, "triage", schema, "reports", Workflow(overlap=3))
    water = (0, len("Water over the road"))
    debris = (text.index("debris"), text.index("debris") + len("debris"))
    answers = {
        "a": [water, debris],
        "b": [(0, len("Water")), debris],  # marks only the first word of the water span
        "c": [water],
    }
    for name, spans in answers.items():
        lease = next_task(ws, users[name], "triage")
        assert lease is not None
        regions = [
            Region(kind="span", control="hazard", label="water" if s[0] == 0 else "debris", span=s)
            for s in spans
        ] + [Region(kind="choice", control="urgency", label="high")]
        needs = ["boat"] if name == "c" else ["medic", "boat"]
        regions += [Region(kind="choice", control="needs", label=n) for n in needs]
        submit_answer(ws, users[name], lease.task_id, f"s-{name}", regions)
    root = tmp_path / "ws"
    doc = cli(
        "-w",
        root,
        "aggregate",
        "--project",
        "triage",
        "--control",
        "hazard",
        "--into",
        "reports",
        "--json",
    ).json()
    assert doc["controls"][0] == {
        "control": "hazard",
        "type": "spans",
        "n_labels": 5,
        "n_items": 1,
        "n_regions": 2,
    }
    regions, _, authors = _working(ws)[item]
    spans = sorted((r.label, r.span) for r in regions)
    assert spans == [("debris", debris), ("water", water)]
    assert authors == {"user:a", "user:b", "user:c", "aggregate:ds"}
    again = cli(
        "-w",
        root,
        "aggregate",
        "--project",
        "triage",
        "--control",
        "needs",
        "--method",
        "mv",
        "--into",
        "reports",
        "--json",
    ).json()
    assert again["controls"][0]["n_regions"] == 2  # boat and medic, by 2 of 3
    regions, _, _ = _working(ws)[item]
    assert sorted((r.control, r.label) for r in regions) == [
        ("hazard", "debris"),
        ("hazard", "water"),
        ("needs", "boat"),
        ("needs", "medic"),
    ]  # the spans of the first run stay
    report = cli("-w", root, "quality", "report", "--project", "triage", "--json").json()
    rows = {r["control"]: r for r in report["controls"]}
    assert set(rows) == {"hazard", "urgency", "needs"}
    assert rows["needs"]["n_labels"] == 3 and rows["urgency"]["krippendorff_alpha"] == 1.0
    hazard = rows["hazard"]
    assert hazard["type"] == "spans" and 0 < hazard["mean_iou"] <= 1


def _names(ws: Workspace, ids: list[str]) -> list[str]:
    from assay.store.schema import items

    with ws.db.read() as conn:
        found = dict(
            conn.execute(select(items.c.id, items.c.name).where(items.c.id.in_(ids))).all()
        )
    return [found[i] for i in ids]


def test_json_document_is_plain_json(
    world: tuple[Workspace, list[str]], cli: RunCli, tmp_path: Path
) -> None:
    out = cli("-w", tmp_path / "ws", "aggregate", "--project", "survey", "--json").stdout
    doc = json.loads(out)
    assert doc["labels"][0]["name"].startswith("scene_")
