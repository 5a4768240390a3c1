"""`assay item`: what is known about items, and their markings."""

from __future__ import annotations

import click

from assay.cli._common import Env, ask_password, json_option, pass_env


@click.group("item")
def item() -> None:
    """Items: raise (or, as an admin, lower) their markings."""


@item.command("mark")
@click.argument("query")
@click.option("--marking", required=True, help="The marking, LEVEL[/COMPARTMENT...].")
@click.option(
    "--downgrade",
    is_flag=True,
    help="Set the marking exactly, even lower (an admin, with --admin and --reason).",
)
@click.option("--reason", help="Why the marking may go down (required with --downgrade).")
@click.option("--admin", "admin_name", help="The admin lowering the marking (with --downgrade).")
@click.option(
    "--password",
    envvar="ASSAY_PASSWORD",
    help="The admin's password, or ASSAY_PASSWORD; else asked on the terminal.",
)
@json_option
@pass_env
def mark(
    env: Env,
    query: str,
    marking: str,
    downgrade: bool,
    reason: str | None,
    admin_name: str | None,
    password: str | None,
    as_json: bool,
) -> None:
    """Raise the marking of the items matching QUERY (e.g. `name=scene.png`) to MARKING.

    A marking only goes up; the higher level and every compartment of both are kept. With
    --downgrade an admin sets it exactly, lower too; the audit records who, why, old and new.
    """
    from assay.errors import InvalidInput
    from assay.labeling.marks import downgrade_items, raise_items

    ws = env.workspace()
    if not downgrade:
        if admin_name or reason:
            raise InvalidInput("--admin and --reason go with --downgrade; raising needs neither")
        changes = raise_items(ws, query, marking)
    else:
        if not admin_name or not reason:
            raise InvalidInput("--downgrade needs --admin NAME (an admin) and --reason TEXT")
        if password is None:
            password = ask_password(f"password for {admin_name}")
        changes = downgrade_items(
            ws, query, marking, admin=admin_name, password=password, reason=reason
        )
    if as_json:
        env.emit_json({"changed": [c.to_dict() for c in changes]})
        return
    if not changes:
        env.say(f"no marking changed: every matching item is already at least {marking}")
    for c in changes:
        env.console.print(f"{c.item_id[:16]}  {c.old} -> {c.new}", markup=False)
