"""`assay audit log|verify`."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from assay.cli._common import Env, json_option, pass_env, plain


@click.group("audit")
def audit() -> None:
    """Read and verify the hash-chained audit trail."""


DETAILS_WIDTH = 80


@audit.command("log")
@click.option("-n", "--limit", type=int, help="Only the newest N events.")
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
@json_option
@pass_env
def verify(env: Env, as_json: bool) -> None:
    """Check every event's hash and link; exit 1 naming the first broken event."""
    result = env.workspace().audit_verify()
    if as_json:
        env.emit_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "first_bad": result.first_bad,
                "reason": result.reason,
            }
        )
    elif result.ok:
        env.say(f"audit trail intact: {result.checked} event(s) verified")
    else:
        click.echo(
            f"audit trail broken at event {result.first_bad}: {result.reason} "
            f"({result.checked} event(s) before it verified)",
            err=True,
        )
    if not result.ok:
        sys.exit(1)


COMMANDS = [audit]
