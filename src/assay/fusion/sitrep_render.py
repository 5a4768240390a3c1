"""A situation report as Markdown, HTML (one self-contained page, nothing fetched) or JSON.

The overall marking stands in a banner at the top and the bottom; every paragraph opens with
its own marking in parentheses; every count links to the list of the entities it counts, and
every entity to its provenance.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import quote

from assay.fusion.sitrep import Count, Report

__all__ = ["render"]


def render(report: Report, fmt: str) -> str:
    """`fmt` is ``md``, ``html`` or ``json``."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, sort_keys=False)
    if fmt == "md":
        return _markdown(report)
    return _html(report)


def _lists(report: Report) -> dict[str, tuple[list[str], str]]:
    """Each count's list of entities, with the marking of the paragraph it counts in (a list
    may name an entity no longer in the picture: one lost since the last report)."""
    out: dict[str, tuple[list[str], str]] = {}
    for s in report.sections:
        for p in s.paras:
            for x in p.parts:
                if isinstance(x, Count) and x.key:
                    out.setdefault(x.key, (x.entities, p.marking))
    return out


_MD_SPECIAL = re.compile(r"([\\`\[\]<>|])")


def _md(text: object) -> str:
    """`text` as literal Markdown text: no raw HTML (a label ``<img onerror=...>`` would run
    in a viewer that renders HTML), no link and no table cell break of its own."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def _url(link: str) -> str:
    """A link target as one Markdown link destination (no space, parenthesis or angle)."""
    return quote(link, safe="/?=&-_.~")


def _anchor(key: str) -> str:
    """A count's list anchor: letters, digits and hyphens, each other character as
    ``_HEX_`` (one key, one anchor; a label never writes markup into the ``id``)."""
    return "list-" + re.sub(r"[^A-Za-z0-9-]", lambda m: f"_{ord(m.group()):x}_", key)


def _markdown(r: Report) -> str:
    def part(x: Any) -> str:
        if isinstance(x, Count):
            return f"[{x.value}](#{_anchor(x.key)})"
        if isinstance(x, tuple):
            return f"[{_md(x[1])}]({_url(r.link(x[1]))})"
        return _md(x)

    title = f"# Situation report: {_md(r.picture)} version {r.version}"
    lines = [f"**{r.marking}**", "", title, ""]
    scope = [f"written {r.created}"]
    if r.clearance:
        scope.append(f"for clearance {r.clearance}")
    if r.area:
        scope.append("area W,S,E,N " + ",".join(f"{v:g}" for v in r.area))
    lines += [f"({r.marking}) Report {', '.join(scope)}.", ""]
    if r.summary:
        m = r.summary["marking"]
        lines += [
            f"## ({m}) Summary",
            "",
            f"({m}) {_md(r.summary['text'])}",
            "",
            f"({m}) _Written by the language model {_md(r.summary['model'])} from the "
            f"{len(r.summary['facts'])} facts of this report (stored with it)._",
            "",
        ]
    for s in r.sections:
        lines += [f"## ({s.marking}) {s.title}", ""]
        for p in s.paras:
            lines += [f"({p.marking}) " + "".join(part(x) for x in p.parts), ""]
        if s.table:
            lines += [
                "| entity | type | MGRS | status | confidence | ce (m) | last seen | marking |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for row in s.table:
                lines.append(
                    f"| [{_md(row['id'])}]({_url(row['link'])}) | {_md(row['label'])} | "
                    f"{row['mgrs']} | {row['status']} | {row['confidence']:.2f} | "
                    f"{row['ce_m']} | {_md(row['last_seen'])} | {row['marking']} |"
                )
            lines.append("")
    lines += ["## Lists", ""]
    for key, (ids, marking) in _lists(r).items():
        links = ", ".join(f"[{_md(i)}]({_url(r.link(i))})" for i in ids) or "none"
        lines += [f'<a id="{_anchor(key)}"></a>({marking}) {_md(key)}: {links}', ""]
    lines += [f"**{r.marking}**", ""]
    return "\n".join(lines)


def _html(r: Report) -> str:
    e = html.escape

    def part(x: Any) -> str:
        if isinstance(x, Count):
            return f'<a class="count" href="#{_anchor(x.key)}">{x.value}</a>'
        if isinstance(x, tuple):
            return f'<a class="entity" href="{e(r.link(x[1]))}">{e(x[1])}</a>'
        return e(str(x))

    body = [
        f'<div class="banner">{e(r.marking)}</div>',
        f"<h1>Situation report: {e(r.picture)} version {r.version}</h1>",
        f'<p><span class="portion">({e(r.marking)})</span> Written {e(r.created)}'
        + (f" for clearance {e(r.clearance)}" if r.clearance else "")
        + "</p>",
    ]
    if r.summary:
        m = e(r.summary["marking"])
        body.append(
            f'<section class="summary"><h2><span class="portion">({m})</span> Summary</h2>'
            f'<p data-marking="{m}"><span class="portion">({m})</span> '
            f"{e(r.summary['text'])}</p>"
            f'<p data-marking="{m}"><span class="portion">({m})</span> <em>Written by the '
            f"language model {e(r.summary['model'])} from the {len(r.summary['facts'])} facts "
            "of this report (stored with it).</em></p></section>"
        )
    for s in r.sections:
        body.append(f'<section><h2><span class="portion">({e(s.marking)})</span> {e(s.title)}</h2>')
        for p in s.paras:
            text = "".join(part(x) for x in p.parts)
            body.append(
                f'<p data-marking="{e(p.marking)}"><span class="portion">({e(p.marking)})</span> '
                f"{text}</p>"
            )
        if s.table:
            body.append(
                "<table><tr><th>entity</th><th>type</th><th>MGRS</th><th>status</th>"
                "<th>confidence</th><th>ce (m)</th><th>last seen</th><th>marking</th></tr>"
            )
            for row in s.table:
                body.append(
                    f'<tr><td><a class="entity" href="{e(row["link"])}">{e(row["id"])}</a></td>'
                    f"<td>{e(row['label'])}</td><td>{e(row['mgrs'])}</td><td>{e(row['status'])}</td>"
                    f"<td>{row['confidence']:.2f}</td><td>{row['ce_m']}</td>"
                    f"<td>{e(row['last_seen'])}</td><td>{e(row['marking'])}</td></tr>"
                )
            body.append("</table>")
        body.append("</section>")
    body.append("<section><h2>Lists</h2>")
    for key, (ids, marking) in _lists(r).items():
        links = ", ".join(f'<a class="entity" href="{e(r.link(i))}">{e(i)}</a>' for i in ids)
        body.append(
            f'<p id="{_anchor(key)}" data-marking="{e(marking)}"><span class="portion">'
            f"({e(marking)})</span> {e(key)}: {links or 'none'}</p>"
        )
    body += ["</section>", f'<div class="banner">{e(r.marking)}</div>']
    style = (
        "body{font:14px system-ui,sans-serif;margin:0 2em}"
        ".banner{text-align:center;font-weight:700;background:#fce94f;padding:4px}"
        ".portion{font-weight:700}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}"
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>({e(r.marking)}) Situation report {e(r.picture)}</title>"
        f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )
