"""`assay user add|list|passwd|disable|enable|set-role|set-clearance` and `assay token ...`.

Each change is one audit event and counts from the user's next request to the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from assay.cli._common import (
    Env,
    ask_password,
    folding_table,
    json_option,
    pass_env,
    utc_minute,
)

if TYPE_CHECKING:
    from assay.labeling.scopes import Scope


@click.group("user")
def user() -> None:
    """Users of the labeling server."""


@user.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "manager", "reviewer", "annotator"]),
    required=True,
    help="admin: everything; manager: projects, dashboards, exports; reviewer: review "
    "queues; annotator: only the tasks served to them.",
)
@click.option("--clearance", default="UNCLASSIFIED", show_default=True, help="LEVEL[/COMP...]")
@click.option(
    "--password", envvar="ASSAY_PASSWORD", help="Or ASSAY_PASSWORD; else asked on the terminal."
)
@json_option
@pass_env
def user_add(
    env: Env, name: str, role: str, clearance: str, password: str | None, as_json: bool
) -> None:
    """Add user NAME with a role and a clearance; the password is stored as argon2id."""
    from assay.labeling import add_user

    if password is None:
        password = ask_password("password", confirm=True)
    u = add_user(env.workspace(), name, role, clearance, password)
    if as_json:
        env.emit_json(u.to_dict())
    else:
        env.say(f"added {u.role} [bold]{u.name}[/] cleared for {u.clearance_text}")


@user.command("list")
@json_option
@pass_env
def user_list(env: Env, as_json: bool) -> None:
    """List users with role, clearance and whether they are disabled."""
    from assay.labeling import list_users
    from assay.labeling.accounts import user_state

    ws = env.workspace()
    users = [user_state(ws, u.name) for u in list_users(ws)]
    if as_json:
        env.emit_json(users)
        return
    table = Table("user", "role", "clearance", "state")
    for u in users:
        state = "disabled" if u["disabled"] else "active"
        table.add_row(u["name"], u["role"], u["clearance"], state)
    env.console.print(table)


def _user_said(env: Env, as_json: bool, what: str, state: dict[str, object]) -> None:
    if as_json:
        env.emit_json(state)
    else:
        env.say(f"user [bold]{escape(str(state['name']))}[/]: {what}")


@user.command("passwd")
@click.argument("name")
@click.option(
    "--password", envvar="ASSAY_PASSWORD", help="Or ASSAY_PASSWORD; else asked on the terminal."
)
@json_option
@pass_env
def user_passwd(env: Env, name: str, password: str | None, as_json: bool) -> None:
    """Set a new password for NAME; their browser sessions end."""
    from assay.labeling import accounts

    if password is None:
        password = ask_password("new password", confirm=True)
    ws = env.workspace()
    accounts.set_password(ws, name, password)
    _user_said(env, as_json, "password changed, sessions ended", accounts.user_state(ws, name))


def _switch(disabled: bool, help_text: str) -> click.Command:
    @click.argument("name")
    @json_option
    @pass_env
    def run(env: Env, name: str, as_json: bool) -> None:
        from assay.labeling import accounts

        ws = env.workspace()
        accounts.set_disabled(ws, name, disabled)
        _user_said(
            env, as_json, "disabled" if disabled else "enabled", accounts.user_state(ws, name)
        )

    return click.command("disable" if disabled else "enable", help=help_text)(run)


user.add_command(
    _switch(True, "Disable NAME: no login, no API token, sessions ended, from the next request.")
)
user.add_command(
    _switch(False, "Enable NAME again (their tokens not revoked or expired work again).")
)


@user.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(["admin", "manager", "reviewer", "annotator"]))
@json_option
@pass_env
def user_set_role(env: Env, name: str, role: str, as_json: bool) -> None:
    """Give NAME another ROLE; it counts from their next request."""
    from assay.labeling import accounts

    ws = env.workspace()
    accounts.set_role(ws, name, role)
    _user_said(env, as_json, f"role {role}", accounts.user_state(ws, name))


@user.command("set-clearance")
@click.argument("name")
@click.argument("clearance")
@json_option
@pass_env
def user_set_clearance(env: Env, name: str, clearance: str, as_json: bool) -> None:
    """Set NAME's CLEARANCE (LEVEL[/COMP...]); it counts from their next request."""
    from assay.labeling import accounts

    ws = env.workspace()
    state = accounts.user_state(ws, accounts.set_clearance(ws, name, clearance).name)
    _user_said(env, as_json, f"cleared for {state['clearance']}", state)


@click.group("token")
def token() -> None:
    """API tokens for scripts (Authorization: Bearer TOKEN)."""


def _scopes(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[Scope, ...] | None:
    from assay.errors import InvalidInput
    from assay.labeling.scopes import parse_scopes

    try:
        return parse_scopes(value)
    except InvalidInput as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@token.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for.")
@click.option(
    "--expires",
    default="90d",
    show_default=True,
    help="Lifetime: a number with s, m, h or d (e.g. 12h, 30d), or 'never'.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    callback=_scopes,
    metavar="SCOPE[,SCOPE...]",
    help="What the token may do: read, label, review, manage, serve (README: Token "
    "scopes). Default: all of the user's role.",
)
@json_option
@pass_env
def token_create(
    env: Env,
    name: str,
    label: str,
    expires: str,
    scopes: tuple[Scope, ...] | None,
    as_json: bool,
) -> None:
    """Create an API token for user NAME; it is printed once and stored only as a hash.

    With --scope it may do only what its scopes name, and never more than NAME's role.
    """
    from assay.labeling import create_token
    from assay.labeling.scopes import scopes_text

    ws = env.workspace()
    value = create_token(ws, name, label, expires_in=_lifetime(expires), scopes=scopes)
    if as_json:
        env.emit_json({"user": name, "token": value, "scopes": scopes_text(scopes).split(",")})
    else:
        click.echo(value)


def _lifetime(text: str) -> float | None:
    from assay.errors import InvalidInput

    text = text.strip().lower()
    if text == "never":
        return None
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    try:
        value = float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        value = -1.0
    if value <= 0:
        raise InvalidInput(
            f"--expires {text!r}: give a positive number with s, m, h or d, or never"
        )
    return value


@token.command("list")
@click.option("--user", "user_name", help="Only this user's tokens.")
@json_option
@pass_env
def token_list(env: Env, user_name: str | None, as_json: bool) -> None:
    """List API tokens (never the tokens themselves): id, user, label, scopes, expiry, state."""
    import time

    from assay.labeling.accounts import list_tokens

    tokens = list_tokens(env.workspace(), user_name)
    if as_json:
        env.emit_json([t.to_dict() for t in tokens])
        return
    # Values fold rather than being cut to "…" when a long user or label widens the table.
    table = folding_table(
        "id", "user", "label", "scopes", "created", "expires", "state", whole=("id",)
    )
    for t in tokens:
        expires = (
            "never"
            if t.expires is None
            else time.strftime("%Y-%m-%d %H:%M", time.gmtime(t.expires))
        )
        state = "revoked" if t.revoked else "live" if t.live else "expired"
        table.add_row(
            t.id,
            escape(t.user),
            escape(t.label),
            t.scopes,
            utc_minute(t.created),
            expires,
            state,
        )
    env.console.print(table)
    if not tokens:
        owner = f" of user {escape(user_name)}" if user_name else ""
        env.say(f"no API tokens{owner}: `assay token create` makes one")


@token.command("revoke")
@click.argument("token_id")
@json_option
@pass_env
def token_revoke(env: Env, token_id: str, as_json: bool) -> None:
    """Revoke the token TOKEN_ID (from `assay token list`); it fails from the next request."""
    from assay.labeling.accounts import revoke_token

    info = revoke_token(env.workspace(), token_id)
    if as_json:
        env.emit_json(info.to_dict())
    else:
        env.say(f"revoked token {info.id} of {escape(info.user)}")


COMMANDS = [user, token]
