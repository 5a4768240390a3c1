"""Gold tasks are counted one way everywhere (README: "N task(s) and G gold task(s): the gold
scenes are not work"): the dashboard, `assay project status`, the project list and the data
manager count the work tasks, and the gold tasks apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from ui_site import Site

from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project, dashboard, next_task, submit
from labeling_world import SCHEMA_YAML, box, choice, gold_set

RunCli = Any  # the `cli` fixture of tests/conftest.py


def test_the_pages_and_the_cli_count_gold_tasks_alike(
    site: Site, tmp_path: Path, cli: RunCli
) -> None:
    ws, users = site.ws, site.world.users
    gold_set(ws, tmp_path / "gold-data", 2)
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    create_project(ws, "goldrun", schema, "flood", Workflow(gold="goldset", gold_share=0.5))
    for n in range(4):
        lease = next_task(ws, users["ana"], "goldrun")
        assert lease is not None
        submit(ws, users["ana"], lease.task_id, f"gold-{n}", [choice("minor"), box(2, 2, 9, 9)])
    d = dashboard(ws, users["man"], "goldrun")
    [ana] = d["annotators"]
    assert ana["gold_seen"] >= 1 and ana["submitted"] == 4  # gold was served among the work
    work, done, gold = 8, 4 - ana["gold_seen"], 2  # ana (CUI/FLOOD) sees all 8 flood items
    assert (d["tasks"], d["done"]) == (work, done)

    page = site.page()
    site.login(page, "man", "/")
    page.goto(site.url + "/manage/goldrun")
    expect(page.locator("#count")).to_contain_text(f"{work} task(s) and {gold} gold task(s) match")
    page.goto(site.url + "/manage/goldrun?status=done")
    expect(page.locator("#count")).to_contain_text(f"{done} task(s) and ")
    page.goto(site.url + "/")
    card = page.locator("[data-project=goldrun]")
    expect(card).to_contain_text(f"{done} of {work} tasks done")
    expect(card).to_contain_text(f"{gold} gold task(s)")
    page.goto(site.url + "/dashboard/goldrun")
    expect(page.locator(".kpi[data-kpi=tasks] .kpi-value")).to_have_text(str(work))
    expect(page.locator(".kpi[data-kpi=done] .kpi-value")).to_contain_text(f"{done} (")
    expect(page.locator(".kpi[data-kpi=gold] .kpi-value")).to_have_text(str(gold))

    assert d["gold_tasks"] == gold
    out = cli("-w", ws.root, "project", "status", "goldrun").stdout
    assert f"goldrun: {done}/{work} done" in out and f"{gold} gold task(s)" in out
