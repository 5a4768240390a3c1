"""`assay dataset ...`: create, add, remove, list."""

from __future__ import annotations

import click
from rich.table import Table

from assay.cli._common import Env, LazyGroup, json_option, pass_env


@click.group("dataset", cls=LazyGroup, lazy={"pull": "assay.cli.labeling:pull"})
def dataset() -> None:
    """Create datasets and choose their items."""


@dataset.command("create")
@click.argument("name")
@click.option(
    "--marking",
    help="Declare the dataset at least this marking, LEVEL[/COMPARTMENT...] (default: the "
    "highest of its items); exports and projects over it carry it.",
)
@json_option
@pass_env
def create(env: Env, name: str, marking: str | None, as_json: bool) -> None:
    """Create an empty dataset NAME."""
    env.workspace().create_dataset(name, marking)
    if as_json:
        env.emit_json({"dataset": name, "created": True, "marking": marking or ""})
    else:
        env.say(f"created dataset [bold]{name}[/]; add items with `assay dataset add {name} --all`")


@dataset.command("add")
@click.argument("name")
@click.option("--all", "all_items", is_flag=True, help="Add every item in the workspace.")
@click.option("--items", "query", help="Add items matching a query, e.g. 'media_type~image/*'.")
@json_option
@pass_env
def add(env: Env, name: str, all_items: bool, query: str | None, as_json: bool) -> None:
    """Add items to the working state of dataset NAME."""
    if all_items == bool(query):
        raise click.UsageError("give exactly one of --all or --items QUERY")
    ws = env.workspace()
    n = ws.add_items(name, None if all_items else query)
    # "added 0" alone did not tell a query that matched nothing from one whose items were
    # all members already.
    matched = ws.count_items(None if all_items else query)
    if as_json:
        env.emit_json({"dataset": name, "added": n, "matched": matched})
    elif n == 0 and matched == 0:
        why = "the workspace holds no items yet" if all_items else f"no item matches {query!r}"
        env.say(f"added 0 item(s) to {name}: {why}")
    elif n < matched:
        env.say(f"added {n} item(s) to {name}; {matched - n} matching item(s) were in it already")
    else:
        env.say(f"added {n} item(s) to {name}")


@dataset.command("remove")
@click.argument("name")
@click.option("--items", "query", required=True, help="Remove items matching a query.")
@json_option
@pass_env
def remove(env: Env, name: str, query: str, as_json: bool) -> None:
    """Remove items matching QUERY from the working state of NAME."""
    n = env.workspace().remove_items(name, query)
    if as_json:
        env.emit_json({"dataset": name, "removed": n})
    else:
        env.say(f"removed {n} item(s) from {name}")


@dataset.command("list")
@json_option
@pass_env
def list_(env: Env, as_json: bool) -> None:
    """List datasets with their size and head commit."""
    infos = env.workspace().datasets()
    if as_json:
        env.emit_json([d.to_dict() for d in infos])
        return
    if not infos:
        env.say("no datasets yet; create one with `assay dataset create NAME`")
        return
    table = Table("dataset", "marking", "items", "commits", "head")
    for d in infos:
        table.add_row(d.name, d.marking, str(d.items), str(d.commits), (d.head or "-")[:12])
    env.console.print(table)


COMMANDS = [dataset]
