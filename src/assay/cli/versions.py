"""Workspace-level commands: init, ingest, import, status, commit, log, show, tag, diff,
checkout and export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
from rich.markup import escape
from rich.table import Table

from assay.cli._common import (
    Env,
    cluster_option,
    input_path,
    json_option,
    pass_env,
    path_arg,
    plain,
    say_raised,
)
from assay.errors import InvalidInput
from assay.ingest.sensors.options import ChipOptions, SensorOptions, VideoOptions

strict_option = click.option(
    "--strict",
    is_flag=True,
    help="Fail, writing nothing, if the format cannot carry everything (any `dropped` count).",
)

if TYPE_CHECKING:
    from assay.domain.diff import LabelChange
    from assay.versioning import Diff

IMPORT_FORMATS = [
    "coco",
    "labelstudio",
    "yolo",
    "yolo-seg",
    "voc",
    "cvat-images",
    "cvat-video",
    "mot",
    "jsonl",
    "parquet",
    "geojson",
    "stac",
]
EXPORT_FORMATS = [
    "coco",
    "yolo",
    "yolo-seg",
    "voc",
    "cvat-images",
    "cvat-video",
    "mot",
    "labelstudio",
    "jsonl",
    "parquet",
    "geojson",
    "stac",
    "chat",
    "sft",
    "dpo",
]
export_format = click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(EXPORT_FORMATS, case_sensitive=False),
    help="Format to write (any case).",
)


@click.command("init")
@click.argument("directory", default=".", type=path_arg(file_okay=False))
@click.option(
    "--attach",
    is_flag=True,
    help="Use the workspace ASSAY_DATABASE_URL already holds from DIRECTORY too (a second "
    "folder or machine); its blobs must be shared (ASSAY_BLOB_URL).",
)
@json_option
@pass_env
def init(env: Env, directory: Path, attach: bool, as_json: bool) -> None:
    """Create a workspace in DIRECTORY (default: here).

    On PostgreSQL (ASSAY_DATABASE_URL) the database must hold no workspace yet, unless
    --attach joins the one it holds."""
    from assay.workspace import Workspace

    ws = Workspace.init(directory, attach=attach)
    ws.close()
    done = "attached to the workspace in" if attach else "initialised assay workspace in"
    if as_json:
        env.emit_json({"workspace": str(ws.root.resolve()), "attached": attach})
    else:
        env.say(f"{done} {ws.root.resolve()}")


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=input_path())
@click.option("--marking", help="Classification marking, LEVEL[/COMPARTMENT...].")
@click.option("--source", default="", help="A name for where the data came from.")
@click.option(
    "--text-field",
    default="text",
    show_default=True,
    help="Text column of JSONL/CSV; the other columns go under metadata.fields "
    "(query them as metadata.KEY or metadata.fields.KEY).",
)
@click.option(
    "--follow-symlinks",
    is_flag=True,
    help="Also read symbolic links that point outside the given paths (FIFOs and devices "
    "are never read).",
)
@click.option(
    "--every",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Video: keep one frame every this many seconds (0 keeps every frame).",
)
@click.option(
    "--scene-change",
    type=click.FloatRange(0, 1),
    help="Video: also keep a frame whose mean pixel change from the last kept one exceeds "
    "this fraction (0-1).",
)
@click.option("--max-frames", type=click.IntRange(min=1), help="Video: keep at most N frames.")
@click.option(
    "--dedup",
    type=click.IntRange(0, 64),
    help="Video: drop a frame whose perceptual hash is within this many bits of a kept one.",
)
@click.option(
    "--klv",
    type=click.Choice(["lenient", "strict"]),
    default="lenient",
    show_default=True,
    help="Video KLV: strict rejects a file with any bad packet; lenient keeps bad packets and "
    "records each problem.",
)
@click.option(
    "--chip",
    type=click.IntRange(min=16),
    default=512,
    show_default=True,
    help="Scene: chip size in pixels (georeferenced GeoTIFF, COG, NITF, JPEG 2000).",
)
@click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=64,
    show_default=True,
    help="Scene: pixels shared by neighbouring chips.",
)
@click.option(
    "--bands",
    help="Scene: 1-based bands of the chips' display rendering, e.g. 4,3,2 (default 1,2,3).",
)
@cluster_option
@json_option
@pass_env
def ingest(
    env: Env,
    paths: tuple[Path, ...],
    marking: str | None,
    source: str,
    text_field: str,
    follow_symlinks: bool,
    every: float,
    scene_change: float | None,
    max_frames: int | None,
    dedup: int | None,
    klv: Literal["lenient", "strict"],
    chip: int,
    overlap: int,
    bands: str | None,
    cluster: str | None,
    as_json: bool,
) -> None:
    """Ingest image, text, video and scene files (recursively) as items.

    A drone video (.ts, .mpg, .mp4, .mkv, .mov) becomes an item, and its sampled frames derived
    items carrying their MISB ST 0601 KLV telemetry and ground footprint. A georeferenced
    scene (GeoTIFF, COG, NITF, JPEG 2000) is stored as a Cloud-Optimized GeoTIFF and cut into
    chips, derived items with their window, CRS, transform and footprint."""
    if overlap >= chip:  # bad usage, said once: not a failure per scene while the rest goes in
        raise click.BadParameter(
            f"{overlap} must be smaller than --chip {chip}", param_hint="'--overlap'"
        )
    ws = env.workspace()
    sensors = SensorOptions(
        video=VideoOptions(
            every=every, scene_change=scene_change, max_frames=max_frames, dedup=dedup, klv=klv
        ),
        chips=ChipOptions(size=chip, overlap=overlap, bands=_bands(bands)),
    )
    with env.progress("reading", shown=not as_json, in_bytes=True) as progress:
        report = ws.ingest(
            list(paths),
            marking=marking,
            source=source,
            text_field=text_field,
            progress=progress,
            follow_symlinks=follow_symlinks,
            sensors=sensors,
            cluster=cluster,
        )
    nothing = bool(report.failed) and not report.new and not report.duplicate
    if as_json:
        env.emit_json(report.to_dict())
    else:
        for f in report.skipped:
            env.err.print(f"[yellow]skipped[/] {escape(f.path)}: {escape(f.reason)}")
        if not nothing:  # when nothing went in, the one error line below names the failures
            for f in report.failed:
                env.err.print(f"[yellow]skipped[/] {escape(f.path)}: {escape(f.reason)}")
        for f in report.notes:
            env.err.print(f"[yellow]note[/] {escape(f.path)}: {escape(f.reason)}")
        if not report.new and report.duplicate and not report.failed and not report.skipped:
            env.say(f"nothing new: all {len(report.duplicate)} item(s) were already ingested")
        else:
            env.say(
                f"{len(report.new)} new, {len(report.duplicate)} duplicate, "
                f"{len(report.failed)} failed ({report.files} file(s))"
                + (
                    f", {len(report.skipped)} not read (links out, FIFOs, devices)"
                    if report.skipped
                    else ""
                )
            )
        say_raised(env, report.raised)
    if nothing:
        # the summary above is printed first; the exit code says nothing went in
        shown = "; ".join(f"{f.path}: {f.reason}" for f in report.failed[:3])
        more = len(report.failed) - 3
        rest = f"; and {more} more (--json lists all)" if more > 0 else ""
        raise InvalidInput(
            f"nothing ingested: all {len(report.failed)} file(s) failed: {shown}{rest}"
        )


def _bands(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected band numbers like 4,3,2") from None


@click.command("import")
@click.argument("path", type=input_path())
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(IMPORT_FORMATS, case_sensitive=False),
    help="Format of the file (any case).",
)
@click.option("--dataset", required=True, help="Dataset to import into (created if missing).")
@click.option("--images", type=input_path(file_okay=False), help="Folder of media.")
@click.option("--marking", help="Marking for the imported items, LEVEL[/COMPARTMENT...].")
@strict_option
@json_option
@pass_env
def import_(
    env: Env,
    path: Path,
    fmt: str,
    dataset: str,
    images: Path | None,
    marking: str | None,
    strict: bool,
    as_json: bool,
) -> None:
    """Import media and labels from a file in one of the formats of --format (see README,
    Formats): COCO, Label Studio, YOLO, VOC, CVAT, MOT, JSONL, Parquet, or assay's own GeoJSON
    and STAC exports."""
    with env.progress("storing media", shown=not as_json) as progress:
        report = env.workspace().import_labels(
            path, fmt, dataset, images=images, marking=marking, strict=strict, progress=progress
        )
    _warn_dropped(env, f"{fmt} import", report.dropped)
    if as_json:
        env.emit_json(report.to_dict())
    else:
        if report.created:
            env.say(f"created dataset [bold]{dataset}[/]")
        env.say(
            f"imported {report.media} media ({report.new_items} new item(s)), "
            f"{report.new_annotations} new annotation(s), {report.regions} region(s) of record "
            f"into {dataset}; see `assay status {dataset}`"
        )
        say_raised(env, report.raised)  # with --json: under `raised`


def _render_changes(env: Env, changes: list[LabelChange], limit: int = 50) -> None:
    names = env.workspace().item_names(c.item for c in changes[:limit])
    table = Table("item", "change", "label", "detail", "author")
    for c in changes[:limit]:
        before, after = c.before or {}, c.after or {}
        label = after.get("label") or before.get("label") or after.get("kind") or ""
        if c.change == "relabeled":
            label = f"{before.get('label')} -> {after.get('label')}"
        detail = f"IoU {c.iou:.3f}" if c.iou is not None else ""
        if c.change == "attribute_changed":
            detail = f"{before.get('attributes', {})} -> {after.get('attributes', {})}"
        item = f"{names[c.item]} {c.item[:8]}" if c.item in names else c.item[:12]
        table.add_row(item, c.change, str(label), detail, c.author or "")
    env.console.print(table)
    if len(changes) > limit:
        env.say(f"... and {len(changes) - limit} more (use --json for all)")


def _render_diff(env: Env, d: Diff) -> None:
    s = d.summary()
    env.say(
        f"{d.before} -> {d.after}: {s['items_added']} item(s) added, "
        f"{s['items_removed']} removed, {s['items_changed']} with label changes"
    )
    kinds = ", ".join(f"{k} {v}" for k, v in s.items() if not k.startswith("items_") and v)
    if kinds:
        env.say(f"label changes: {kinds}")
    for t in d.tracks:
        frames = sorted(t.frames)
        span = f"frame {frames[0]}" if len(frames) == 1 else f"frames {frames[0]}-{frames[-1]}"
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(t.changes.items()))
        keys = "".join(
            f"; keyframes {word} {', '.join(map(str, sorted(fs)))}"
            for word, fs in (("added", t.keyframes_added), ("removed", t.keyframes_removed))
            if fs
        )
        env.say(f"track {t.track_id} ({t.label}) in {t.sequence}: {span} ({kinds}){keys}")
    if d.changes:
        _render_changes(env, d.changes)


@click.command("status")
@click.argument("name")
@json_option
@pass_env
def status(env: Env, name: str, as_json: bool) -> None:
    """Uncommitted changes in dataset NAME, at label level."""
    d = env.workspace().status(name)
    if as_json:
        env.emit_json(d.to_dict())
    elif d.empty and not any(i.name == name and i.head for i in env.workspace().datasets()):
        # No HEAD to match: say what to do first rather than "matches HEAD".
        env.say(
            f"{name}: no items and no commits yet; add items with `assay dataset add {name} --all`"
        )
    elif d.empty:
        env.say(f"{name}: nothing to commit, working state matches HEAD")
    else:
        _render_diff(env, d)


@click.command("commit")
@click.argument("name")
@click.option("-m", "--message", required=True, help="What this commit records.")
@click.option("--author", help="Commit author (default: you).")
@json_option
@pass_env
def commit(env: Env, name: str, message: str, author: str | None, as_json: bool) -> None:
    """Record the working state of NAME as a new commit; prints its id."""
    c = env.workspace().commit(name, message, author)
    if as_json:
        env.emit_json(c.to_dict())
    else:
        click.echo(c.id)


@click.command("log")
@click.argument("name")
@json_option
@pass_env
def log(env: Env, name: str, as_json: bool) -> None:
    """History of NAME (a dataset or a picture), newest first."""
    ws = env.workspace()
    if _is_picture(env, name):
        from assay.cli.pictures import render_log

        render_log(env, name, as_json)
        return
    commits = ws.log(name)
    if as_json:
        env.emit_json([c.to_dict() for c in commits])
        return
    if not commits:
        env.say(f"{name} has no commits yet")
    for c in commits:
        env.console.print(f"[yellow]commit {c.id}[/]")
        env.console.print(f"Author: {c.author}\nDate:   {c.created}")
        env.console.print(f"Items:  {c.stats.get('items')}  regions: {c.stats.get('regions')}")
        env.console.print(f"\n    {c.message}\n")


@click.command("show")
@click.argument("spec")
@json_option
@pass_env
def show(env: Env, spec: str, as_json: bool) -> None:
    """Show a commit NAME@REV (or the HEAD of NAME): header, stats and marking."""
    info = env.workspace().show(spec)
    if as_json:
        env.emit_json(info)
        return
    env.console.print(f"[bold]{info['marking']}[/]")
    for key in ("dataset", "id", "parents", "author", "created", "message", "manifest", "tags"):
        env.console.print(f"{key:>9}: {plain(info[key])}", markup=False, highlight=False)
    env.console.print(f"{'stats':>9}: {plain(info['stats'])}", markup=False, highlight=False)
    env.console.print(f"[bold]{info['marking']}[/]")


@click.command("tag")
@click.argument("name")
@click.argument("rev")
@click.argument("tag_name", metavar="TAG")
@json_option
@pass_env
def tag(env: Env, name: str, rev: str, tag_name: str, as_json: bool) -> None:
    """Name revision REV of NAME as TAG."""
    c = env.workspace().tag(name, rev, tag_name)
    if as_json:
        env.emit_json({"dataset": name, "tag": tag_name, "commit": c.id})
    else:
        env.say(f"tagged {c.id[:12]} as {name}@{tag_name}")


@click.command("diff")
@click.argument("name")
@click.argument("rev_a")
@click.argument("rev_b", default="WORKING")
@json_option
@pass_env
def diff(env: Env, name: str, rev_a: str, rev_b: str, as_json: bool) -> None:
    """Label-level differences between two revisions of NAME (REV_B defaults to WORKING).

    For a picture: entities appeared, moved, lost and reclassified (WORKING is its newest)."""
    if _is_picture(env, name):
        from assay.cli.pictures import render_diff

        render_diff(env, name, rev_a, rev_b, as_json)
        return
    d = env.workspace().diff(name, rev_a, rev_b)
    if as_json:
        env.emit_json(d.to_dict())
    else:
        _render_diff(env, d)


def _is_picture(env: Env, name: str) -> bool:
    from assay.fusion.pictures import is_picture

    return is_picture(env.workspace(), name)


# The formats that carry every region kind and media type: where an export's drops can go.
_CARRY_ALL = ("jsonl", "parquet")


def _warn_dropped(env: Env, what: str, dropped: dict[str, int], *, hint: bool = False) -> None:
    """Drops go to stderr even with --json (where they are also under `dropped`); with `hint`
    (an export to another format) the warning says which formats carry them."""
    if dropped:
        kinds = ", ".join(f"{n} {k}" for k, n in dropped.items())
        where = "; an export as jsonl or parquet carries them" if hint else ""
        env.err.print(
            f"[yellow]warning:[/] {what} could not carry {kinds} (--strict refuses{where})"
        )


def _note_renamed(env: Env, what: str, renamed: dict[str, int]) -> None:
    """Renames go to stderr even with --json (where they are also under `renamed`)."""
    if renamed:
        kinds = ", ".join(f"{n} {k}" for k, n in renamed.items())
        env.err.print(
            f"note: {what} renamed {kinds} to names FAT32, exFAT and Windows accept; "
            "the label files name the new files"
        )


def _write(
    env: Env,
    spec: str,
    fmt: str,
    out: Path,
    as_json: bool,
    action: str,
    media: bool = True,
    strict: bool = False,
    all_annotations: bool = False,
    scene: bool = False,
    embed_media: bool = False,
    options: dict[str, Any] | None = None,
) -> None:
    with env.progress("writing media", shown=not as_json) as progress:
        result = env.workspace().export(
            spec,
            fmt,
            out,
            media=media,
            action=action,
            strict=strict,
            all_annotations=all_annotations,
            scene=scene,
            embed_media=embed_media,
            options=options,
            progress=progress,
        )
    _warn_dropped(env, f"{fmt} {action}", result["dropped"], hint=fmt.lower() not in _CARRY_ALL)
    _note_renamed(env, f"{fmt} {action}", result["renamed"])
    for text in result["warnings"]:  # on stderr even with --json, where `warnings` lists them
        env.err.print(f"[yellow]warning:[/] {fmt} {action}: {text}")
    if as_json:
        env.emit_json(result)
    else:
        rev = result["revision"][:12] if result["revision"] else "working state"
        env.say(
            f"wrote {result['items']} item(s) of {spec} ({rev}) as {fmt} to {out}; "
            f"highest marking: {result['marking']}"
        )


val_share_option = click.option(
    "--val-share",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="yolo, yolo-seg: put this share of the items without a split of their own in val "
    "(chosen by item id: the same items in every version), e.g. 0.2.",
)


def _val_share(fmt: str, val_share: float | None) -> dict[str, Any]:
    if val_share is not None and fmt.lower() not in ("yolo", "yolo-seg"):
        raise InvalidInput("--val-share applies to yolo and yolo-seg exports")
    return {"val_share": val_share}


@click.command("export")
@click.argument("spec", metavar="NAME[@REV]")
@export_format
@click.option(
    "--out",
    required=True,
    type=path_arg(file_okay=False),
    help="A new or empty folder (or one this same export wrote: its files are replaced).",
)
@click.option("--no-media", is_flag=True, help="Write label files only, not the media.")
@click.option(
    "--embed-media",
    is_flag=True,
    help="Put the image bytes inside the label file instead of a media/ folder (parquet: an "
    "`image` column Hugging Face datasets loads as an Image feature).",
)
@click.option(
    "--all-annotations",
    is_flag=True,
    help="Write every stored annotation of every author and every prediction, not only the "
    "labels of record (formats with a slot per annotation: labelstudio, jsonl, parquet).",
)
@click.option(
    "--scene",
    is_flag=True,
    help="Write chips' labels on their scenes (scene pixel coordinates), objects cut by chip "
    "borders merged.",
)
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1),
    default=0.75,
    show_default=True,
    help="dpo: keep a preference pair only when at least this share of annotators agree on it.",
)
@val_share_option
@strict_option
@json_option
@pass_env
def export(
    env: Env,
    spec: str,
    fmt: str,
    out: Path,
    no_media: bool,
    embed_media: bool,
    all_annotations: bool,
    scene: bool,
    min_agreement: float,
    val_share: float | None,
    strict: bool,
    as_json: bool,
) -> None:
    """Export a dataset version (NAME alone = working state) in a format.

    What the format cannot hold is counted per kind on stderr and under `dropped` in --json;
    media files renamed to portable names (FAT32, exFAT, Windows) under `renamed`; what else
    you must know about the files (yolo: no item of split val) under `warnings`.
    chat, sft and dpo write language-model training data with a lineage.json manifest.
    """
    options = {"min_agreement": min_agreement, **_val_share(fmt, val_share)}
    _write(
        env,
        spec,
        fmt,
        out,
        as_json,
        "export",
        media=not no_media,
        strict=strict,
        all_annotations=all_annotations,
        scene=scene,
        embed_media=embed_media,
        options=options,
    )


@click.command("checkout")
@click.argument("spec", metavar="NAME@REV")
@export_format
@click.option(
    "--out",
    required=True,
    type=path_arg(file_okay=False),
    help="A new or empty folder (or one this same export wrote: its files are replaced).",
)
@val_share_option
@strict_option
@json_option
@pass_env
def checkout(
    env: Env,
    spec: str,
    fmt: str,
    out: Path,
    val_share: float | None,
    strict: bool,
    as_json: bool,
) -> None:
    """Write the media and labels of a committed version into OUT."""
    if "@" not in spec:
        spec = f"{spec}@HEAD"
    options = _val_share(fmt, val_share)
    _write(env, spec, fmt, out, as_json, "checkout", strict=strict, options=options)


COMMANDS = [init, ingest, import_, status, commit, log, show, tag, diff, checkout, export]
