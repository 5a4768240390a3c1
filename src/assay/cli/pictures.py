"""`assay picture show`, and the picture side of `assay log` and `assay diff`."""

from __future__ import annotations

import click

from assay.cli._common import Env, json_option, pass_env
from assay.fusion import pictures


def render_log(env: Env, name: str, as_json: bool) -> None:
    versions = pictures.log(env.workspace(), name)
    if as_json:
        env.emit_json([p.model_dump(mode="json") for p in versions])
        return
    for p in versions:
        env.console.print(f"[yellow]picture {p.name}@{p.seq} {p.id}[/]")
        env.console.print(f"Author:   {p.author}\nDate:     {p.created}", markup=False)
        env.console.print(f"Marking:  {p.marking or '(none)'}", markup=False)
        stats = ", ".join(f"{k} {v}" for k, v in p.stats.items())
        env.console.print(f"Entities: {stats}", markup=False, highlight=False)
        env.console.print(f"\n    {p.message}\n", markup=False)


def render_diff(env: Env, name: str, rev_a: str, rev_b: str, as_json: bool) -> None:
    spec_b = name if rev_b == "WORKING" else f"{name}@{rev_b}"
    a, b, changes = pictures.diff_pictures(env.workspace(), f"{name}@{rev_a}", spec_b)
    if as_json:
        env.emit_json(
            {
                "from": a.id,
                "to": b.id,
                "marking": env.workspace().scheme.highest_text([a.marking, b.marking]),
                "changes": [c.to_dict() for c in changes],
            }
        )
        return
    env.say(f"{name}@{a.seq} -> {name}@{b.seq}: {len(changes)} change(s)")
    for c in changes:
        e = c.after or c.before
        if e is None:  # every change has one side
            continue
        extra = f" {c.distance_m:.1f} m" if c.kind == "moved" else ""
        if c.kind == "reclassified" and c.before and c.after:
            extra = f" {c.before.label} -> {c.after.label}"
        env.console.print(
            f"{c.kind:>12}  {c.entity}  {e.label}{extra}", markup=False, highlight=False
        )


@click.group("picture")
def picture() -> None:
    """Pictures: versioned sets of fused entities (made by `assay fuse`)."""


@picture.command("show")
@click.argument("spec", metavar="NAME[@REV]")
@json_option
@pass_env
def show(env: Env, spec: str, as_json: bool) -> None:
    """The entities of a picture version (the newest by default)."""
    ws = env.workspace()
    pic = pictures.load(ws, spec)
    found = pictures.entities(ws, pic)
    pic = pictures.marked_now(ws, pic, found)
    if as_json:
        env.emit_json(
            {
                "picture": pic.model_dump(mode="json"),
                "entities": [e.model_dump(mode="json") for e in found],
            }
        )
        return
    env.console.print(f"[bold]{pic.marking or 'UNMARKED'}[/]")
    env.say(f"{pic.name}@{pic.seq} ({pic.id[:12]}): {len(found)} entities")
    for e in found:
        env.console.print(
            f"{e.id}  {e.label:<8} {e.cot_type:<12} {e.lat:.6f},{e.lon:.6f} "
            f"±{e.cep_m:.1f} m  {e.status:<9} conf {e.confidence:.2f}  {e.marking}",
            markup=False,
            highlight=False,
        )
