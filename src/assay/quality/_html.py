"""The quality report as one self-contained HTML page (inline CSS and PNGs, no external assets)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

import pandas as pd

from assay.quality._png import confusion_png, png_data_uri
from assay.quality._report import QualityReport

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d1d1f;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem}td,th{padding:.25rem .6rem;border:1px solid #ddd}
th{background:#f3f3f5;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:1rem}.grid figure{margin:0}.note{color:#666;font-size:.85rem}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return escape(str(value))


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="n">{_fmt(v)}</td>' if isinstance(v, int | float) else f"<td>{_fmt(v)}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(
    report: QualityReport, title: str = "Label quality report", max_matrices: int = 24
) -> str:
    """Render `report` as a standalone HTML document.

    Confusion matrices are shown for the `max_matrices` annotators with the most labels.
    """
    agreement = pd.DataFrame(
        {"coefficient": list(report.agreement), "value": list(report.agreement.values())}
    )
    annotators = report.annotators.reset_index()
    busiest = annotators.sort_values(["n_labels", "worker"], ascending=[False, True])
    figures = []
    for worker in busiest["worker"].iloc[:max_matrices]:
        uri = png_data_uri(confusion_png(report.confusion[worker], title=str(worker)))
        alt = escape(f"confusion matrix of {worker} against the {report.confusion_reference}")
        figures.append(f'<figure><img src="{uri}" alt="{alt}"></figure>')
    per_control = (
        f"<h2>Agreement per control</h2>{_table(report.controls)}"
        "<p class=\"note\">choices: Krippendorff's alpha (nominal), Fleiss' kappa, mean "
        "pairwise Cohen's kappa; boxes and spans: mean IoU of matched pairs and F1 at IoU "
        "0.5 over every pair of annotators of an item.</p>"
        if report.controls is not None
        else ""
    )
    about = (
        f"Labels from {escape(report.source)}"
        + (f", control <code>{escape(report.control)}</code>" if report.control else "")
        + ". "
        if report.source
        else ""
    )
    cohen = ""
    if report.cohen is not None:
        c = report.cohen
        cohen = (
            f'<p class="note">Mean pairwise Cohen\'s kappa: the mean of the {c.n_pairs} '
            f"annotator pair(s) sharing at least {c.min_shared} tasks, each weighing the same."
        )
        if not c.left_out.empty:
            left = c.left_out[["worker_a", "worker_b", "n_common"]].rename(
                columns={"n_common": "shared tasks"}
            )
            cohen += f" Left out for sharing fewer:</p>{_table(left)}"
        else:
            cohen += "</p>"
    suspicious = (
        _table(report.suspicious)
        if len(report.suspicious)
        else "<p>No task is below the threshold.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p>{about}{report.n_labels} labels on {report.n_tasks} tasks by {report.n_workers} annotators;
labels of record by <code>{escape(report.method)}</code>; label set:
{escape(", ".join(map(str, report.label_set)))}.</p>
<h2>Agreement</h2>{_table(agreement)}
<p class="note">1.0 when every rating is identical; – (undefined) when nothing can be paired.</p>
{cohen}
{per_control}
<h2>Annotators</h2>{_table(annotators)}
<h2>Confusion matrices (rows: {escape(report.confusion_reference)}, columns: annotator)</h2>
<div class="grid">{"".join(figures)}</div>
<h2>Suspicious tasks ({escape(report.criterion)})</h2>{suspicious}
</body></html>
"""
