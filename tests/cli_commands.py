"""Every command of `assay`, walked: for tests that hold each one to the contract."""

from __future__ import annotations

import click

from assay.cli import cli


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path, groups and the root `()` included (their options show in --help)."""
    ctx = click.Context(group)
    found = [path]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += commands(command, (*path, name))
        elif command is not None:
            found.append((*path, name))
    return found


def leaves() -> list[tuple[str, ...]]:
    """The command paths, `("eval", "run")`; a group that runs on its own is one too."""
    return [
        path
        for path in commands()
        if path
        and (
            not isinstance(found := command(path), click.Group)
            or getattr(found, "invoke_without_command", False)
        )
    ]


def command(path: tuple[str, ...]) -> click.Command:
    found: click.Command | None = cli
    for name in path:
        assert isinstance(found, click.Group)
        found = found.get_command(click.Context(found), name)
    assert found is not None
    return found
