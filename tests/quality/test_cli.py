"""`assay aggregate` and `assay quality report` through click, on CSV files in tmp_path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from assay.cli.quality import aggregate, quality
from assay.errors import InvalidInput, NotFound
from assay.quality import make_crowd, read_gold_csv, read_labels_csv, simulate_labels


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    crowd = make_crowd(60, 8, seed=11)
    df = simulate_labels(crowd, overlap=3, seed=11)
    df["lead_time"] = np.round(np.random.default_rng(1).uniform(2, 20, len(df)), 1)
    labels = tmp_path / "labels.csv"
    df.to_csv(labels, index=False)
    gold = tmp_path / "gold.csv"
    crowd.gold().iloc[:20].rename("label").reset_index().to_csv(gold, index=False)
    return labels, gold


@pytest.mark.parametrize("method", ["mv", "wawa", "ds", "onecoin", "glad"])
def test_aggregate_json(files: tuple[Path, Path], method: str) -> None:
    result = CliRunner().invoke(aggregate, ["--csv", str(files[0]), "--method", method, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["method"] == method
    assert doc["n_tasks"] == 60
    assert doc["n_labels"] == 180
    assert {"task", "label", "confidence"} <= set(doc["tasks"][0])


def test_aggregate_out_writes_csv(files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "agg.csv"
    result = CliRunner().invoke(aggregate, ["--csv", str(files[0]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    written = pd.read_csv(out)
    assert list(written.columns) == ["task", "label", "confidence"]
    assert len(written) == 60


def test_aggregate_table_preview(files: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(aggregate, ["--csv", str(files[0]), "--method", "mv"])
    assert result.exit_code == 0
    assert "img000000" in result.output
    assert "40 more tasks" in result.output


def test_bad_method_is_usage_error(files: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(aggregate, ["--csv", str(files[0]), "--method", "vote"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "{path}: the file is empty"),
        ("task,label\nt1,x\n", "{path}, line 1: header lacks column(s) worker"),
        ("task,worker,label\n", "{path}: no rows after the header line"),
        ("task,worker,label\nt1,w1,x\nt2,,y\n", "{path}, line 3: empty value in column 'worker'"),
        ("task,worker,label\nt1,w1,x,extra\n", "{path}: malformed CSV"),
        ("task,worker,label,lead_time\nt1,w1,x,fast\n", "{path}, line 2: lead_time 'fast'"),
    ],
)
def test_bad_csv_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = CliRunner().invoke(aggregate, ["--csv", str(path)])
    assert result.exit_code == 1
    assert isinstance(result.exception, InvalidInput)
    assert message.format(path=path) in str(result.exception)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=re.escape(f"{tmp_path / 'nope.csv'}: no such file")):
        read_labels_csv(tmp_path / "nope.csv")


def test_conflicting_gold_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "gold.csv"
    path.write_text("task,label\nt1,flood\nt1,dry\n")
    with pytest.raises(InvalidInput, match="line 3: task 't1' has conflicting gold labels"):
        read_gold_csv(path)


def test_report_json_and_html(files: tuple[Path, Path], tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    args = ["report", "--csv", str(files[0]), "--gold", str(files[1]), "--json"]
    result = CliRunner().invoke(quality, [*args, "--html", str(html)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert set(doc["agreement"]) == {
        "krippendorff_alpha",
        "fleiss_kappa",
        "mean_pairwise_cohen_kappa",
    }
    assert 0 < doc["agreement"]["krippendorff_alpha"] < 1
    first = doc["annotators"][0]
    assert {"worker", "n_labels", "accuracy_vs_aggregate", "accuracy_vs_gold"} <= set(first)
    assert "seconds_per_task" in first
    assert doc["confusion_reference"] == "gold"
    page = html.read_text()
    assert page.count('src="data:image/png;base64,') == 8
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # self-contained
    assert "Suspicious tasks" in page


def test_report_human_output(files: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(quality, ["report", "--csv", str(files[0])])
    assert result.exit_code == 0, result.output
    assert "krippendorff_alpha" in result.output
    assert "suspicious tasks" in result.output


def test_report_says_why_agreement_is_undefined(tmp_path: Path) -> None:
    single = tmp_path / "single.csv"
    single.write_text("task,worker,label\n1,ana,dry\n2,ana,flooded\n3,bo,dry\n", encoding="utf-8")
    result = CliRunner().invoke(quality, ["report", "--csv", str(single)])
    assert result.exit_code == 0, result.output
    assert re.search(r"krippendorff_alpha\s+│ –", result.output)
    assert (
        "– undefined: nothing to pair (agreement needs a task labelled by two annotators)"
        in result.output
    )
    doc = json.loads(CliRunner().invoke(quality, ["report", "--csv", str(single), "--json"]).output)
    assert doc["agreement"]["krippendorff_alpha"] is None
    # defined values come without the note
    both = tmp_path / "both.csv"
    both.write_text("task,worker,label\n1,ana,dry\n1,bo,dry\n2,ana,wet\n2,bo,wet\n", "utf-8")
    result = CliRunner().invoke(quality, ["report", "--csv", str(both), "--min-shared", "2"])
    assert result.exit_code == 0, result.output
    assert "undefined" not in result.output
    # Two shared tasks are fewer than the default 5: Cohen's kappa is left out, and said why.
    result = CliRunner().invoke(quality, ["report", "--csv", str(both)])
    assert re.search(r"mean_pairwise_cohen_kappa\s+│ –", result.output)
    assert "undefined" not in result.output
    assert "1 pair(s) sharing fewer are left out, shared tasks in brackets: ana–bo (2)" in (
        result.output
    )


def test_report_lists_the_pairs_and_repeated_labels_cohen_left_out(tmp_path: Path) -> None:
    # The mean pairwise Cohen's kappa weighed a pair sharing 2 tasks as much as one sharing
    # 60, and a label given twice by one annotator on one task was dropped unsaid.
    from sklearn.metrics import cohen_kappa_score

    df = simulate_labels(make_crowd(60, 2, seed=4), overlap=2, seed=4)
    sparse = pd.DataFrame({"task": df["task"].unique()[:2], "worker": "cy", "label": "minor"})
    again = df.iloc[:1].assign(label="zzz")
    path = tmp_path / "labels.csv"
    pd.concat([df, sparse, again]).to_csv(path, index=False)
    result = CliRunner().invoke(quality, ["report", "--csv", str(path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    pairs = doc["cohen_kappa_pairs"]
    assert pairs["min_shared_tasks"] == 5 and pairs["n_pairs"] == 1
    assert [(p["worker_a"], p["worker_b"], p["n_common"]) for p in pairs["left_out"]] == [
        ("cy", w, 2) for w in sorted(df["worker"].unique())
    ]
    assert pairs["repeated_ratings"] == 1
    wide = df.pivot(index="task", columns="worker", values="label")
    expected = cohen_kappa_score(wide.iloc[:, 0], wide.iloc[:, 1])
    assert doc["agreement"]["mean_pairwise_cohen_kappa"] == round(expected, 6)
    assert doc["repeated"]["n_labels"] == 1 and doc["repeated"]["examples"] == [
        {"task": df["task"].iloc[0], "worker": df["worker"].iloc[0], "n_labels": 2}
    ]
    note = "note: 1 label(s) repeat a (task, worker) pair already labelled (1 pair(s), e.g. task"
    assert note in result.stderr and "Cohen's kappa takes one label per annotator" in (
        result.stderr
    )
    page = tmp_path / "r.html"
    shown = CliRunner().invoke(quality, ["report", "--csv", str(path), "--html", str(page)]).stdout
    assert "Left out for sharing fewer:" in page.read_text() and "<td>cy</td>" in page.read_text()
    assert "the mean of the 1 annotator pair(s) sharing at least 5 tasks (--min-shared)" in shown
    assert "2 pair(s) sharing fewer are left out" in shown
    everyone = CliRunner().invoke(quality, ["report", "--csv", str(path), "--min-shared", "1",
                                            "--json"]).stdout  # fmt: skip
    assert json.loads(everyone)["cohen_kappa_pairs"]["left_out"] == []
    agg = CliRunner().invoke(aggregate, ["--csv", str(path), "--json"])
    assert json.loads(agg.stdout)["repeated"]["n_pairs"] == 1
    assert "each counts as a vote in the aggregation, as in crowd-kit" in agg.stderr
