"""`assay fuse` and `assay simulate scenario`."""

from __future__ import annotations

from pathlib import Path

import click

from assay.cli._common import Env, input_path, json_option, pass_env
from assay.errors import require

# The sources that name a file (`--follow` adds detections:, and `-` for standard input).
FILE_KINDS = ("predictions", "detections", "reports", "tracks")


def _check_files(
    ctx: click.Context, param: click.Parameter, specs: tuple[str, ...]
) -> tuple[str, ...]:
    """A file source's FILE is an input path: one that is not there is the same one error
    as in every command, before anything is read."""
    checked = input_path(dir_okay=False)
    for spec in specs:
        kind, _, what = spec.partition(":")
        if kind in FILE_KINDS and what not in ("", "-"):
            checked.convert(what, param, ctx)
    return specs


@click.command("fuse")
@click.argument("name")
@click.option(
    "--from",
    "sources",
    multiple=True,
    callback=_check_files,
    metavar="KIND:WHAT",
    help="A source: predictions:FILE, model:NAME[@VERSION], labels:DATASET[@REV], "
    "reports:FILE, tracks:FILE "
    "(CSV or Parquet), items:QUERY (text report items of the workspace with labelled spans; "
    "QUERY as in `dataset add --items`, or all). Repeat for several.",
)
@click.option(
    "--marking",
    help="The marking of the reports:, tracks: and (with --follow) detections: and cot:// "
    "sources, LEVEL[/COMPARTMENT...]: rows and events that state none take it, those marked "
    "lower are raised to it. Without it a row with no marking is refused, and --follow does "
    "not listen for CoT.",
)
@click.option("--since", help="Only what was seen at or after this time (ISO 8601).")
@click.option(
    "--truth",
    type=input_path(dir_okay=False),
    help="Ground truth CSV (time, id, label, lon, lat): report GOSPA, OSPA, MOTA and IDF1, "
    "for the fused tracks and for a plain tracker fed the raw detections.",
)
@click.option(
    "--scan",
    "scan_s",
    type=click.FloatRange(min=0.01),
    default=0.5,
    show_default=True,
    help="Seconds a scan spans: detections this close in time are one scan.",
)
@click.option(
    "--gate",
    "gate_m",
    type=click.FloatRange(min=0.1),
    default=15.0,
    show_default=True,
    help="Metres within which two sensors' detections in a scan are one target.",
)
@click.option(
    "--associator",
    type=click.Choice(["gnn", "jpda"]),
    default="gnn",
    show_default=True,
    help="Stone Soup's data associator: global nearest neighbour or joint probabilistic "
    "(bench/README.md compares them).",
)
@click.option("-m", "--message", help="What this version of the picture is.")
@click.option(
    "--follow",
    is_flag=True,
    help="Keep running: fuse detections as they arrive (files followed as they grow, '-' for "
    "standard input, cot://HOST:PORT listens for CoT over TCP and UDP, the workspace asked "
    "again every --poll seconds) and save a version whenever scans close. Ctrl-C stops.",
)
@click.option(
    "--poll",
    "poll_s",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="With --follow: seconds between looks at model: and labels: sources.",
)
@click.option(
    "--every",
    "every_s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="With --follow: at most one version this often (seconds; 0 = each time scans close).",
)
@click.option(
    "--exit-idle",
    "exit_idle_s",
    type=click.FloatRange(min=0.1),
    help="With --follow: stop after this many seconds without input.",
)
@json_option
@pass_env
def fuse(
    env: Env,
    name: str,
    sources: tuple[str, ...],
    marking: str | None,
    since: str | None,
    truth: Path | None,
    scan_s: float,
    gate_m: float,
    associator: str,
    message: str | None,
    follow: bool,
    poll_s: float,
    every_s: float,
    exit_idle_s: float | None,
    as_json: bool,
) -> None:
    """Fuse detections, field reports and tracks into entities: the next version of picture
    NAME (see it with `assay picture show NAME`, `assay log NAME`, `assay diff NAME 1 2`)."""
    require("stonesoup", "fusion")
    if follow:
        from assay.cli.fusion_live import run_follow

        if truth is not None or message is not None:
            raise click.UsageError("--truth and --message do not go with --follow")
        run_follow(
            env,
            name,
            sources,
            since,
            scan_s,
            gate_m,
            poll_s,
            every_s,
            exit_idle_s,
            as_json,
            marking,
        )
        return
    from assay.fusion.fuse import fuse as run
    from assay.fusion.fuse import run_tracker
    from assay.fusion.tracker import Params

    params = Params(scan_s=scan_s, gate_m=gate_m, associator=associator)
    truth_rows = None
    if truth is not None:
        from assay.fusion.metrics import read_truth

        truth_rows = read_truth(truth)  # a bad truth file fails before anything is saved
    ws = env.workspace()
    with env.progress("fusing scans", shown=not as_json) as progress:
        result = run(
            ws,
            name,
            sources,
            since=since,
            params=params,
            message=message,
            progress=progress,
            marking=marking,
        )
    out: dict[str, object] = {
        "picture": result.picture.model_dump(mode="json"),
        "entities": len(result.entities),
        "stats": result.stats,
    }
    if truth_rows is not None:
        from dataclasses import replace

        from assay.fusion.metrics import score

        raw = run_tracker(result.observations, replace(params, fuse_scans=False))
        out["accuracy"] = {
            "fused": score(result.fuser, truth_rows).to_dict(),
            "unfused": score(raw, truth_rows).to_dict(),
        }
    if as_json:
        env.emit_json(out)
        return
    pic = result.picture
    env.say(
        f"{pic.name}@{pic.seq} ({pic.id[:12]}): {len(result.entities)} entities, "
        f"marking {pic.marking or '(none)'}"
    )
    st = result.stats
    env.say(
        f"  {st['observations']} observations in {st['scans']} scans, "
        f"{st['mentions_resolved']} of {st['mentions']} report mentions on tracks"
    )
    if st.get("report_items_unplaced"):
        env.say(
            f"  {st['report_items_unplaced']} report item(s) with labelled spans but no "
            "coordinate in their text: left out"
        )
    acc = out.get("accuracy")
    if isinstance(acc, dict):
        env.console.print("  accuracy    GOSPA/target  OSPA   MOTA   IDF1   tracks/targets")
        for k, v in acc.items():
            env.console.print(
                f"  {k:<10} {v['gospa_per_target']:>8.2f} m {v['ospa']:>6.2f} {v['mota']:>6.3f} "
                f"{v['idf1']:>6.3f}   {v['tracks']}/{v['targets']}",
                markup=False,
                highlight=False,
            )


@click.group("simulate")
def simulate() -> None:
    """Simulated worlds to measure fusion against."""


@simulate.command("scenario")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="Random seed: the same seed writes the same world.",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=1, max=600),
    default=20.0,
    show_default=True,
    help="Length of the scenario (the drones' flights), in seconds.",
)
@click.option(
    "--vehicles",
    type=click.IntRange(0, 50),
    default=3,
    show_default=True,
    help="Vehicle targets on the ground (with --people, at least one target).",
)
@click.option(
    "--people",
    type=click.IntRange(0, 50),
    default=3,
    show_default=True,
    help="Person targets on the ground.",
)
@click.option(
    "--p-detect",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Chance a drone's detector sees a target in view.",
)
@click.option(
    "--clutter",
    type=click.FloatRange(min=0),
    default=0.3,
    show_default=True,
    help="Mean false detections a frame.",
)
@click.option("--no-media", is_flag=True, help="Only the tables: no video, no scene.")
@json_option
@pass_env
def scenario(
    env: Env,
    out: Path,
    seed: int,
    seconds: float,
    vehicles: int,
    people: int,
    p_detect: float,
    clutter: float,
    no_media: bool,
    as_json: bool,
) -> None:
    """Write a ground-truth world to OUT: two drones' video with KLV, a scene, their
    detections with clutter and misses, field reports, and the truth.

    OUT is a new or empty folder, or one an earlier scenario wrote (its files are replaced);
    a folder holding any other file is refused, and left as it was."""
    from assay.fusion.scenario import Scenario, simulate

    cfg = Scenario(
        seed=seed,
        seconds=seconds,
        vehicles=vehicles,
        people=people,
        p_detect=p_detect,
        clutter=clutter,
        media=not no_media,
    )
    done = simulate(cfg, out)
    if as_json:
        env.emit_json({"out": str(out), **done.counts})
        return
    c = done.counts
    env.say(
        f"wrote {out}: {c['targets']} targets over {c['scans']} scans, "
        f"{c['detections']} detections, {c['reports']} field reports"
    )
    # The README's steps: flight-b marked CUI/FLOOD, so the picture shows a marking rising.
    steps = [] if no_media else [
        f"assay ingest --every {cfg.scan_s} {out}/flight-a.ts",
        f"assay ingest --every {cfg.scan_s} --marking CUI/FLOOD {out}/flight-b.ts",
    ]  # fmt: skip
    steps.append(
        f"assay fuse NAME --from predictions:{out}/detections.jsonl "
        f"--from reports:{out}/reports.jsonl --truth {out}/truth.csv"
    )
    for i, step in enumerate(steps):
        env.say(("next: " if i == 0 else "      ") + step)
