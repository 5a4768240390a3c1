"""Gold scoring and pausing, review decisions, dashboards and pulling labels of record."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from assay import versioning
from assay.domain.labels import Region
from assay.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from assay.labeling import (
    Workflow,
    amend,
    dashboard,
    decide,
    my_history,
    next_task,
    review_next,
    score,
    submit,
)
from assay.labeling.pull import pull
from assay.labeling.users import User
from assay.store.schema import ID_SEP, working
from assay.workspace import Workspace
from labeling_world import box, build_world, choice

RunCli = Any  # the `cli` fixture of tests/conftest.py


def _cid() -> str:
    return str(uuid.uuid4())


def test_gold_scores_choices_boxes_and_spans() -> None:
    gold = [choice("minor"), box(0, 0, 10, 10), box(20, 20, 10, 10, "vehicle")]
    assert score(None, gold, list(reversed(gold))) == 1.0
    shifted = [choice("minor"), box(1, 1, 10, 10), box(21, 20, 10, 10, "vehicle")]
    assert score(None, gold, shifted) == 1.0  # IoU >= 0.5 and same class
    wrong_class = [choice("minor"), box(0, 0, 10, 10), box(20, 20, 10, 10, "building")]
    assert score(None, gold, wrong_class) == pytest.approx((1 + 0.5) / 2)
    extra = [*gold, box(40, 0, 5, 5)]
    assert score(None, gold, extra) == pytest.approx((1 + 2 * 2 / 5) / 2)
    assert score(None, gold, [choice("none"), *gold[1:]]) == 0.5
    span = Region(kind="span", control="ner", label="LOC", span=(0, 5))
    near = Region(kind="span", control="ner", label="LOC", span=(3, 9))
    far = Region(kind="span", control="ner", label="LOC", span=(6, 9))
    assert score(None, [span], [near]) == 1.0 and score(None, [span], [far]) == 0.0


@given(st.lists(st.sampled_from(["none", "minor", "destroyed"]), max_size=3, unique=True))
def test_an_answer_always_matches_itself(labels: list[str]) -> None:
    regions = [choice(x) for x in labels]
    assert score(None, regions, regions) == 1.0


def test_low_gold_accuracy_pauses_the_annotator(ws: Workspace, tmp_path: Path) -> None:
    wf = Workflow(gold_share=1.0, gold_after=2, gold_min_accuracy=0.7)
    w = build_world(ws, tmp_path / "data", gold_items=3, workflow=wf)
    ana = w.users["ana"]
    for _ in range(2):
        lease = next_task(ws, ana, w.project)
        assert lease is not None and lease.item["id"] in w.items["gold"]
        submit(ws, ana, lease.task_id, _cid(), [choice("destroyed")])  # gold says minor + box
    with pytest.raises(PermissionDenied, match="paused"):
        next_task(ws, ana, w.project)
    d = dashboard(ws, w.users["man"], w.project)
    row = next(a for a in d["annotators"] if a["name"] == "ana")
    assert row["paused"] and row["gold_seen"] == 2 and row["gold_accuracy"] == 0.0
    assert d["paused"] == ["ana"]
    # A good annotator keeps going and gets ordinary tasks once gold runs out.
    man = w.users["man"]
    served = []
    while (lease := next_task(ws, man, w.project)) is not None:
        served.append(lease.item["id"])
        submit(ws, man, lease.task_id, _cid(), [choice("minor"), box(2, 2, 10, 10)])
    assert set(served[:3]) == set(w.items["gold"])
    assert len(served) == 3 + 8  # gold + public + cui (not the SECRET item)
    man_row = next(a for a in dashboard(ws, None, w.project)["annotators"] if a["name"] == "man")
    assert man_row["gold_accuracy"] == 1.0 and not man_row["paused"]


def test_gold_share_is_respected(ws: Workspace, tmp_path: Path) -> None:
    wf = Workflow(gold_share=0.25, gold_after=50)
    w = build_world(ws, tmp_path / "data", public=12, gold_items=3, workflow=wf)
    root = w.users["root"]
    kinds = []
    for _ in range(12):
        lease = next_task(ws, root, w.project)
        assert lease is not None
        kinds.append(lease.item["id"] in w.items["gold"])
        submit(ws, root, lease.task_id, _cid(), [])
    assert sum(kinds) == 3


def _answer_all(ws: Workspace, w: object, name: str, regions: list[Region]) -> None:
    user = w.users[name]  # type: ignore[attr-defined]
    while (lease := next_task(ws, user, w.project)) is not None:  # type: ignore[attr-defined]
        submit(ws, user, lease.task_id, _cid(), regions)


def test_review_accept_fix_reject(ws: Workspace, tmp_path: Path) -> None:
    w = build_world(
        ws, tmp_path / "data", public=3, cui=0, secret=0, workflow=Workflow(review="all")
    )
    _answer_all(ws, w, "ana", [choice("minor")])
    rev = w.users["rev"]
    with pytest.raises(PermissionDenied):
        review_next(ws, w.users["ana"], w.project)
    first = review_next(ws, rev, w.project)
    assert first is not None and len(first["annotations"]) == 1
    ann = first["annotations"][0]
    assert ann["author"] == "user:ana" and ann["regions"][0]["label"] == "minor"
    decide(ws, rev, first["task_id"], _cid(), "accept", annotation_id=ann["id"])
    with pytest.raises(Conflict):
        decide(ws, rev, first["task_id"], _cid(), "accept", annotation_id=ann["id"])
    second = review_next(ws, rev, w.project)
    assert second is not None
    decide(
        ws,
        rev,
        second["task_id"],
        _cid(),
        "fix",
        annotation_id=second["annotations"][0]["id"],
        regions=[choice("destroyed")],
    )
    third = review_next(ws, rev, w.project)
    assert third is not None
    with pytest.raises(InvalidInput, match="comment"):
        decide(ws, rev, third["task_id"], _cid(), "reject")
    decide(ws, rev, third["task_id"], "rj", "reject", comment="the roof is intact")
    assert review_next(ws, rev, w.project) is None
    # The rejected task goes back to the queue, to someone else.
    assert next_task(ws, w.users["ana"], w.project) is None
    again = next_task(ws, w.users["man"], w.project)
    assert again is not None and again.task_id == third["task_id"]
    submit(ws, w.users["man"], again.task_id, _cid(), [choice("none")])

    assert pull(ws, "flood", w.project, "reviewed") == 2
    labels = {i: [r.label for r in rs] for i, rs in _labels(ws, "flood").items()}
    assert sorted(lab for ls in labels.values() for lab in ls) == ["destroyed", "minor"]
    assert pull(ws, "flood", w.project, "latest") == 3
    assert sorted(lab for ls in _labels(ws, "flood").values() for lab in [r.label for r in ls]) == [
        "minor",
        "minor",
        "none",
    ]
    d = dashboard(ws, w.users["man"], w.project)
    assert d["review"] == {"accepted": 2, "pending": 1}


def test_the_history_shows_a_rejected_answer_with_the_reviewers_comment(
    ws: Workspace, tmp_path: Path
) -> None:
    # A rejected answer vanished from its annotator's history: they never learnt what was
    # turned down, nor why.
    w = build_world(
        ws, tmp_path / "data", public=3, cui=0, secret=0, workflow=Workflow(review="all")
    )
    _answer_all(ws, w, "ana", [choice("minor")])
    rev, ana, man = w.users["rev"], w.users["ana"], w.users["man"]

    def reviewed(comment: str, *, named: bool) -> int:
        task = review_next(ws, rev, w.project)
        assert task is not None
        target = task["annotations"][0]["id"]
        if comment:
            decide(ws, rev, task["task_id"], _cid(), "reject", comment=comment,
                   annotation_id=target if named else None)  # fmt: skip
        else:
            decide(ws, rev, task["task_id"], _cid(), "accept", annotation_id=target)
        return int(task["task_id"])

    named = reviewed("no roof in the box", named=True)
    unnamed = reviewed("all answers are wrong", named=False)  # a reject naming no answer
    accepted = reviewed("", named=False)
    # both go to man, whose answers are rejected later, naming none, with another comment
    _answer_all(ws, w, "man", [choice("none")])
    assert {reviewed("still wrong", named=False) for _ in range(2)} == {named, unnamed}

    def shown(user: User) -> dict[int, tuple[bool, bool, str | None]]:
        h = my_history(ws, user, w.project)["history"]
        return {t["task_id"]: (t["rejected"], t["reviewed"], t["review_comment"]) for t in h}

    assert shown(ana) == {
        named: (True, True, "no roof in the box"),
        unnamed: (True, True, "all answers are wrong"),
        accepted: (False, True, None),
    }
    assert shown(man) == {named: (True, True, "still wrong"), unnamed: (True, True, "still wrong")}
    # listed, yet not reopened for amending: the reviewer's decision stands
    with pytest.raises(NotFound):
        amend(ws, ana, named, _cid(), [choice("none")])


def test_a_rejection_does_not_take_back_a_submission(
    ws: Workspace, tmp_path: Path, cli: RunCli
) -> None:
    # "Submissions in the last hour" and the annotator's count dropped when a reviewer
    # rejected an answer: throughput moved backwards though the work was done.
    w = build_world(
        ws, tmp_path / "data", public=3, cui=0, secret=0, workflow=Workflow(review="all")
    )
    _answer_all(ws, w, "ana", [choice("minor")])
    rev = w.users["rev"]

    def counts() -> tuple[int, tuple[int, int, int]]:
        d = dashboard(ws, w.users["man"], w.project)
        ana = next(a for a in d["annotators"] if a["name"] == "ana")
        return d["throughput_per_hour"], (ana["submitted"], ana["last_hour"], ana["rejected"])

    assert counts() == (3, (3, 3, 0))
    task = review_next(ws, rev, w.project)
    assert task is not None
    target = task["annotations"][0]["id"]
    decide(ws, rev, task["task_id"], _cid(), "reject", annotation_id=target, comment="no roof")
    assert counts() == (3, (3, 3, 1))
    # Ana's own "task N of M" does not move back either; her history still lists the answer.
    mine = my_history(ws, w.users["ana"], w.project)
    assert (mine["submitted"], mine["rejected"], len(mine["history"])) == (3, 1, 3)
    # The task goes to someone else: their submission adds to the hour's count.
    again = next_task(ws, w.users["man"], w.project)
    assert again is not None and again.task_id == task["task_id"]
    submit(ws, w.users["man"], again.task_id, _cid(), [choice("none")])
    assert counts() == (4, (3, 3, 1))
    assert dashboard(ws, None, w.project)["done"] == 3  # the rejected answer is not of record
    out = cli("-w", ws.root, "project", "status", w.project).stdout
    assert "4 submissions in the last hour" in out
    header = next(line for line in out.splitlines() if "annotator" in line)
    row = next(line for line in out.splitlines() if "│ ana " in line)
    cells = dict(zip(header.split("┃")[1:-1], row.split("│")[1:-1], strict=True))
    assert {
        k.strip(): v.strip() for k, v in cells.items() if k.strip() in ("submitted", "rejected")
    } == {
        "submitted": "3",
        "rejected": "1",
    }


def _labels(ws: Workspace, dataset: str) -> dict[str, list[Region]]:

    with ws.db.read() as conn:
        rev = versioning.resolve(conn, dataset)
        from sqlalchemy import select

        from assay.store.schema import working

        ids = list(conn.execute(select(working.c.item_id)).scalars())
        return {k: v for k, v in versioning.labels_for(conn, ws.blobs, rev, ids).items() if v}


def test_consensus_pull_majority_and_box_clusters(ws: Workspace, tmp_path: Path) -> None:
    w = build_world(ws, tmp_path / "data", public=1, cui=0, secret=0, workflow=Workflow(overlap=3))
    answers = {
        "ana": [choice("minor"), box(0, 0, 10, 10), box(40, 24, 4, 4)],
        "man": [choice("minor"), box(1, 1, 10, 10)],
        "rev": [choice("destroyed"), box(2, 0, 10, 10), box(30, 0, 5, 5, "vehicle")],
    }
    for name, regions in answers.items():
        lease = next_task(ws, w.users[name], w.project)
        assert lease is not None
        submit(ws, w.users[name], lease.task_id, _cid(), regions)
    assert pull(ws, "flood", w.project, "consensus") == 1
    (regions,) = _labels(ws, "flood").values()
    kinds = sorted((r.kind, r.label) for r in regions)
    assert kinds == [("box", "building"), ("choice", "minor")]
    b = next(r for r in regions if r.kind == "box")
    assert b.box == pytest.approx((1.0, 1 / 3, 10.0, 10.0))
    with ws.db.read() as conn:
        authors = conn.execute(select(working.c.authors)).scalar_one()
    assert set(authors.split(ID_SEP)) == {"user:ana", "user:man", "user:rev"}
    d = dashboard(ws, None, w.project)
    assert d["agreement"] is not None and 0 < d["agreement"] < 1
    assert d["done"] == 1 and {a["name"] for a in d["annotators"]} == set(answers)


def test_an_amendment_that_now_disagrees_goes_to_review(ws: Workspace, tmp_path: Path) -> None:
    # Two agreeing answers skip a disagreements review; one amended to differ stayed unreviewed,
    # so `dataset pull --labels reviewed` never saw it and `latest` took it as it was.

    wf = Workflow(overlap=2, review="disagreements")
    w = build_world(ws, tmp_path / "data", public=1, cui=0, secret=0, workflow=wf)
    ana, man = w.users["ana"], w.users["man"]
    leases = {}
    for user in (ana, man):
        lease = next_task(ws, user, w.project)
        assert lease is not None
        leases[user.name] = lease.task_id
        submit(ws, user, lease.task_id, _cid(), [choice("minor")])
    assert review_next(ws, w.users["rev"], w.project) is None  # they agree
    amend(ws, ana, leases["ana"], _cid(), [choice("destroyed")])
    task = review_next(ws, w.users["rev"], w.project)
    assert task is not None
    answers = sorted(r["label"] for a in task["annotations"] for r in a["regions"])
    assert answers == ["destroyed", "minor"]
    # Amended back into agreement, it stays queued for the reviewer who may be looking at it.
    amend(ws, ana, leases["ana"], _cid(), [choice("minor")])
    assert review_next(ws, w.users["rev"], w.project) is not None


def test_gold_is_not_every_annotators_first_task(ws: Workspace, tmp_path: Path) -> None:
    # One gold task in ten was served first to everyone (0 gold served < 0.1 x 1), so the
    # first task of a campaign was always the known answer: gold announced by its place.
    from assay.labeling import add_user

    wf = Workflow(overlap=12, gold_share=0.1, gold_after=100)
    w = build_world(ws, tmp_path / "data", public=10, cui=0, secret=0, gold_items=2, workflow=wf)
    firsts = []
    for k in range(12):
        user = add_user(ws, f"an{k}", "annotator", "UNCLASSIFIED", "pw-annotator-1")
        kinds = []
        while (lease := next_task(ws, user, w.project)) is not None:
            kinds.append(lease.item["id"] in w.items["gold"])
            submit(ws, user, lease.task_id, _cid(), [])
        assert kinds.count(False) == 10 and kinds.count(True) in (1, 2)  # about one in ten
        firsts.append(kinds.index(True))
    assert len(set(firsts)) > 1 and firsts.count(0) < len(firsts)
