"""`assay audit log|verify|checkpoint|rotate-key`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from assay.cli._common import Env, input_path, json_option, pass_env, path_arg, plain
from assay.cli._safe import printable


@click.group("audit")
def audit() -> None:
    """Read, verify and checkpoint the signed, hash-chained audit trail."""


DETAILS_WIDTH = 80


@audit.command("log")
@click.option("-n", "--limit", type=click.IntRange(min=0), help="Only the newest N events.")
@click.option(
    "--wide",
    is_flag=True,
    help=f"Show every event's details in full (the table shortens them to {DETAILS_WIDTH} "
    "characters and says so with '…').",
)
@json_option
@pass_env
def log(env: Env, limit: int | None, wide: bool, as_json: bool) -> None:
    """Show audit events, oldest first (--json or --wide: every detail in full)."""
    events = env.workspace().audit_log(limit)
    if as_json:
        env.emit_json([e.to_dict() for e in events])
        return
    table = Table("seq", "time", "actor", "action", "target", "details")
    cut = 0
    for e in events:
        details = plain(e.details)
        if not wide and len(details) > DETAILS_WIDTH:
            details = details[: DETAILS_WIDTH - 1] + "…"
            cut += 1
        table.add_row(str(e.seq), e.time[:19], e.actor, e.action, e.target, details)
    if wide:  # fold long values onto more lines; never cut them
        for column in table.columns:
            column.overflow = "fold"
    env.console.print(table)
    if cut:
        env.say(f"{cut} event(s) shortened (…): --wide or --json shows every detail in full")


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=input_path(dir_okay=False),
    help="A checkpoint file written by `assay audit checkpoint --out`; repeatable.",
)
@click.option(
    "--all-signatures",
    is_flag=True,
    help="Check every event's signature, not only the newest of each key's run "
    "(which binds all before it); one Ed25519 check per event.",
)
@click.option(
    "--blobs",
    is_flag=True,
    help="Also read back every blob the workspace names (items' bytes, manifests, model "
    "files) and check each hashes to its name: reads the whole store.",
)
@json_option
@pass_env
def verify(
    env: Env, checkpoints: tuple[Path, ...], all_signatures: bool, blobs: bool, as_json: bool
) -> None:
    """Check every event's hash, link and signature, every known checkpoint, and the
    account tables against the trail (with --blobs, the stored bytes too); exit 1 naming
    the first thing that does not hold."""
    # Any database: a trail rewritten from its first event is reported here, not refused.
    ws = env.workspace(any_database=True)
    with env.progress("checking blobs", shown=blobs and not as_json) as progress:
        result = ws.audit_verify(
            list(checkpoints), all_signatures=all_signatures, blobs=blobs, progress=progress
        )
    if as_json:
        env.emit_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "first_bad": result.first_bad,
                "reason": result.reason,
                "signed": result.signed,
                "checkpoints": result.checkpoints,
                "state": list(result.state),
                **(
                    {"blobs_checked": result.blobs_checked, "blobs_bad": list(result.blobs_bad)}
                    if blobs
                    else {}
                ),
            }
        )
    elif result.ok:
        held = f"; {result.blobs_checked} blob(s) hash to their names" if blobs else ""
        env.say(
            f"audit trail intact: {result.checked} event(s) verified, {result.signed} signed, "
            f"{result.checkpoints} checkpoint(s) matched; account state matches the trail{held}"
        )
    elif not result.state and result.first_bad is None and result.blobs_bad:
        # The trail and the tables hold; stored bytes do not.
        lines = [
            f"audit trail intact, but {len(result.blobs_bad)} of {result.blobs_checked} "
            "blob(s) do not hold:",
            *(f"  {p}" for p in result.blobs_bad),
        ]
        click.echo(printable("\n".join(lines)), err=True)
    else:
        where = f" at event {result.first_bad}" if result.first_bad else ""
        lines = [
            f"audit trail broken{where}: {result.reason} "
            f"({result.checked} event(s) before it verified)",
            *(f"  {p}" for p in result.state[1:]),
            *(f"  {p}" for p in result.blobs_bad),
        ]
        click.echo(printable("\n".join(lines)), err=True)
    if not result.ok:
        sys.exit(1)


@audit.command("checkpoint")
@click.option(
    "--out",
    type=path_arg(dir_okay=False),
    help="Also write the signed checkpoint to this file; keep it away from the workspace.",
)
@json_option
@pass_env
def checkpoint(env: Env, out: Path | None, as_json: bool) -> None:
    """Verify the trail, then sign its head (kept by the witness beside the key)."""
    cp = env.workspace().audit_checkpoint(out)
    if as_json:
        env.emit_json({**cp.to_dict(), "out": str(out) if out else None})
    else:
        dest = f", written to {out}" if out else ""
        env.say(f"signed checkpoint: {cp.size} event(s), head {cp.head[:16]}{dest}")


@audit.command("rotate-key")
@json_option
@pass_env
def rotate_key(env: Env, as_json: bool) -> None:
    """Replace the signing key; the old public key stays trusted for what it signed."""
    report = env.workspace().audit_rotate_key()
    if as_json:
        env.emit_json(report)
    else:
        env.say(
            f"new audit key {report['new_key']} in {report['key_file']}; "
            f"key {report['old_key']} retired (still trusted for older events, listed in "
            f"{report['retired_list']})"
        )


COMMANDS = [audit]
