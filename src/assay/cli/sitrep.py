"""`assay sitrep NAME`: a situation report of a fused picture."""

from __future__ import annotations

from pathlib import Path

import click

from assay.cli._common import Env, json_option, pass_env, path_arg


@click.command("sitrep")
@click.argument("name")
@click.option("--since", help="Compare with the newest version at this ISO 8601 time "
              "(default: the version of the last report).")  # fmt: skip
@click.option("--area", metavar="W,S,E,N", help="Only entities inside this box (degrees).")
@click.option("--clearance", help="Write for a reader at this clearance (default: all).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "json"]),
    default="md",
    show_default=True,
    help="Markdown, HTML, or JSON (the machine-readable report: only it on stdout).",
)
@click.option("--out", type=path_arg(dir_okay=False), help="Write here instead of stdout.")
@click.option(
    "--summary-model",
    metavar="URL_OR_NAME",
    help="Add a summary paragraph written by a local language model from the report's facts "
    "only: an OpenAI-compatible API base (URL[#MODEL]) or a model `assay serve-model` serves "
    "at its default address; the API key, if needed, from ASSAY_LLM_API_KEY. The facts and "
    "the prompt are stored with the report.",
)
@json_option
@pass_env
def sitrep(
    env: Env,
    name: str,
    since: str | None,
    area: str | None,
    clearance: str | None,
    fmt: str,
    out: Path | None,
    summary_model: str | None,
    as_json: bool,
) -> None:
    """Write a situation report of picture NAME[@REV]: overview, entities by type and MGRS
    square, changes since the last report, confidence and gaps, sources; marked throughout.

    With --out FILE, --json prints what was written: the file, its size, the report's
    marking, clearance and entity count, and the stored report's id."""
    from assay.fusion import sitrep as service
    from assay.fusion.sitrep_render import render

    if as_json and out is None:  # stdout is the report's: the document would follow it
        raise click.UsageError(
            "--json describes the report written to --out FILE: give --out "
            "(--format json prints the report itself as JSON)"
        )
    ws = env.workspace()
    report = service.build(
        ws,
        name,
        clearance=ws.scheme.parse(clearance) if clearance else None,
        area=service.parse_bbox(area) if area else None,
        since=since,
    )
    if summary_model:
        from assay.fusion.sitrep_summary import summarise

        report.summary = summarise(report, summary_model)
    text = render(report, fmt)
    blob = service.save(ws, report, fmt)
    if out is None:
        click.echo(text, nl=False)
        return
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    if as_json:
        env.emit_json(
            {
                "picture": report.picture,
                "version": report.version,
                "version_id": report.version_id,
                "format": fmt,
                "out": str(out),
                "bytes": out.stat().st_size,
                "marking": report.marking,
                "clearance": report.clearance,
                "entities": len(report.entities),
                "report": blob,
                "summary": report.summary is not None,
            }
        )
        return
    env.err.print(
        f"wrote {out} ({report.marking}): {len(report.entities)} entities, "
        f"report {blob[:12]} stored",
        markup=False,
    )


COMMANDS = [sitrep]
