"""One self-contained HTML page per run: no scripts, fonts or images from anywhere else."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from assay.evaluation.runs._svg import heat_map, line_chart, reliability_chart

CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 16px;color:#222}
.marking{background:#2b5d2b;color:#fff;text-align:center;font-weight:bold;padding:4px;
letter-spacing:.05em}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:16px}.note{color:#555}code,pre{font-size:12px}
pre{background:#f7f7f7;padding:8px;overflow-x:auto}
"""


def _num(v: Any, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else escape(str(v))


def _interval(m: dict[str, Any]) -> str:
    if m.get("value") is None:
        return "–"
    return f"{m['value']:.3f} <span class=note>[{_num(m['low'])}, {_num(m['high'])}]</span>"


def _slice_table(summary: dict[str, Any], record: dict[str, Any]) -> str:
    slices = summary["slices"]
    metrics = list(next(iter(slices.values()))["metrics"])
    conf = record["settings"]["confidence"]
    where = {s["name"]: json.dumps(s["where"]) for s in record["slices"]}
    head = "".join(f"<th>{escape(m)}</th>" for m in metrics)
    rows = []
    for name, entry in slices.items():
        cells = "".join(f"<td>{_interval(entry['metrics'][m])}</td>" for m in metrics)
        rows.append(
            f"<tr><td>{escape(name)} <span class=note>{escape(where.get(name, ''))}</span></td>"
            f"<td>{entry['n']}</td>{cells}</tr>"
        )
    return (
        f"<h2>Slices</h2><p class=note>Point estimate and {conf:.0%} bootstrap interval "
        f"({record['settings']['n_resamples']} resamples, seed {record['settings']['seed']}).</p>"
        f"<table><tr><th>slice</th><th>n</th>{head}</tr>{''.join(rows)}</table>"
    )


def _curves(summary: dict[str, Any]) -> str:
    curves = summary.get("curves") or {}
    charts = []
    pr = curves.get("pr") or {}
    if pr:
        series = [(name, c["recall"], c["precision"]) for name, c in pr.items()]
        what = (
            "IoU 0.5, COCO 101-point interpolation"
            if summary["task"] == "detection"
            else ("one class against the rest")
        )
        charts.append(line_chart(series, f"Precision-recall ({what})", "recall", "precision"))
    rel = curves.get("reliability")
    if rel:
        charts.append(
            reliability_chart(
                rel["edges"], rel["accuracy"], rel["count"], f"Reliability (ECE {rel['ece']:.3f})"
            )
        )
    note = "" if rel else "<p class=note>Reliability diagrams are drawn for classifiers.</p>"
    return f"<h2>Curves</h2><div class=charts>{''.join(charts)}</div>{note}"


def _corruptions(summary: dict[str, Any]) -> str:
    c = summary.get("corruptions")
    if not c:
        return ""
    rows = [r["corruption"] for r in c["rows"]]
    names = list(dict.fromkeys(rows))
    sevs = sorted({r["severity"] for r in c["rows"]})
    values = {(r["corruption"], r["severity"]): r["value"] for r in c["rows"]}
    per = "".join(
        f"<tr><td>{escape(n)}</td><td>{_num(e.get('mean'))}</td><td>{_num(e.get('CE'))}</td>"
        f"<td>{_num(e.get('relative_CE'))}</td></tr>"
        for n, e in c["per_corruption"].items()
    )
    base = (
        f"against baseline run {escape(str(c['baseline']))}"
        if c["baseline"]
        else "no baseline run given, so no mCE"
    )
    return (
        f"<h2>Corruptions</h2><p>{escape(c['metric'])} per corruption and severity. "
        f"mPC {_num(c['mPC'])}, rPC {_num(c['rPC'])}, mCE {_num(c['mCE'])}, relative mCE "
        f"{_num(c['relative_mCE'])} ({base}).</p>"
        + heat_map(names, sevs, values, f"{c['metric']} under corruption")
        + "<table><tr><th>corruption</th><th>mean</th><th>CE</th><th>relative CE</th></tr>"
        + per
        + "</table><p class=note>CE = Σ_s E / Σ_s E_baseline; relative CE = Σ_s (E − "
        "E_clean) / Σ_s (E_baseline − E_baseline,clean); E = 1 − metric (Hendrycks &amp; "
        "Dietterich 2019). mPC = mean metric over corruptions and severities; rPC = mPC / "
        "clean metric.</p>"
    )


def _adversarial(summary: dict[str, Any]) -> str:
    a = summary.get("adversarial")
    if not a:
        return ""
    if a["status"] != "ok":
        return f"<h2>Adversarial</h2><p><strong>{escape(a['reason'])}</strong></p>"
    xs = [r["epsilon"] for r in a["rows"]]
    chart = line_chart(
        [("robust accuracy", xs, [r["accuracy"] for r in a["rows"]])],
        f"Robust accuracy ({a['attack']})",
        "epsilon",
        "accuracy",
        x_max=max(xs) or 1.0,
    )
    rows = "".join(
        f"<tr><td>{r['epsilon']:.4f}</td><td>{r['accuracy']:.3f}</td>"
        f"<td>{r['max_perturbation']:.4f}</td><td>{r['n']}</td></tr>"
        for r in a["rows"]
    )
    return (
        f"<h2>Adversarial ({escape(a['attack'])}, L∞)</h2>{chart}<table><tr><th>epsilon</th>"
        f"<th>accuracy</th><th>max |δ|</th><th>n</th></tr>{rows}</table>"
    )


def render_report(record: dict[str, Any], summary: dict[str, Any]) -> str:
    """The HTML report of one run."""
    ds, model = record["dataset"], record["model"]
    marking = escape(ds.get("marking") or "")
    head = "".join(f"<th>{escape(k)}</th>" for k in summary["headline"])
    vals = "".join(f"<td>{_num(v)}</td>" for v in summary["headline"].values())
    meta = {k: record[k] for k in ("settings", "seeds", "metric_versions", "libraries")}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>assay run {escape(record["run_id"])}</title>
<style>{CSS}</style></head><body>
<div class=marking>{marking}</div>
<h1>Evaluation run {escape(record["run_id"])}</h1>
<p>{escape(summary["task"])} · dataset <code>{escape(ds["name"])}@{escape(ds["commit"][:12])}</code>
· model <code>{escape(model.get("ref") or model["name"])}</code> ({escape(model["kind"])}{
        ", sha256 " + escape(model["sha256"][:12]) if model.get("sha256") else ""
    })
· {summary["n_evaluated"]} items · {escape(record["created"])} by {escape(record["actor"])}</p>
<table><tr>{head}</tr><tr>{vals}</tr></table>
{_slice_table(summary, record)}
{_curves(summary)}
{_corruptions(summary)}
{_adversarial(summary)}
<h2>Record</h2><pre>{escape(json.dumps(meta, indent=2))}</pre>
<div class=marking>{marking}</div>
</body></html>
"""
