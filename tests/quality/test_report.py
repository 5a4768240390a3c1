"""The quality report built from a DataFrame, and its HTML rendering."""

from __future__ import annotations

import json
import re

import pandas as pd

from assay.quality import make_crowd, quality_report, render_html, simulate_labels


def test_report_from_frame_without_gold() -> None:
    df = simulate_labels(make_crowd(80, 6, accuracy=(0.4, 0.8), seed=12), overlap=3, seed=12)
    report = quality_report(df, method="mv", threshold=0.9, max_suspicious=10)
    assert report.confusion_reference == "aggregate"
    assert report.n_labels == 240
    assert report.n_workers == 6
    assert set(report.confusion) == set(df["worker"])
    assert len(report.suspicious) == 10
    conf = report.suspicious["confidence"]
    assert conf.is_monotonic_increasing
    assert (conf < 0.9).all()
    first = report.suspicious.iloc[0]
    votes = df[df["task"] == first["task"]]["label"].value_counts()
    assert first["votes"].split(", ")[0] == f"{votes.index[0]}×{votes.iloc[0]}" or (
        votes.iloc[0] == votes.iloc[1]
    )
    assert "seconds_per_task" not in report.annotators.columns
    doc = report.to_dict()
    json.dumps(doc)  # JSON-ready
    assert doc["agreement"]["fleiss_kappa"] == round(report.agreement["fleiss_kappa"], 6)


def test_html_is_self_contained_and_escaped() -> None:
    df = pd.DataFrame(
        {
            "task": ["a", "a", "b", "b"],
            "worker": ["<script>x</script>", "bo", "<script>x</script>", "bo"],
            "label": ["dry", "flooded", "dry", "dry"],
        }
    )
    page = render_html(quality_report(df, method="mv"), title="Flood & roads")
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;" in page
    assert "Flood &amp; roads" in page
    assert page.count("data:image/png;base64,") == 2
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
