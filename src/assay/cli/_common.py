"""What every command shares: the workspace opener, the console, JSON output, progress."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from assay.cli._safe import SafeConsole

if TYPE_CHECKING:
    from assay.workspace import Workspace


@dataclass
class Env:
    """Per-invocation state, created by the root group and passed to commands."""

    workspace_path: str | None = None
    quiet: bool = False
    # soft_wrap: a message is one line however long, as the terminal wraps it; in a pipe rich
    # would otherwise break it at 80 columns, splitting what scripts grep for. Tables keep
    # their layout either way.
    console: SafeConsole = field(
        default_factory=lambda: SafeConsole(highlight=False, soft_wrap=True)
    )
    err: SafeConsole = field(
        default_factory=lambda: SafeConsole(stderr=True, highlight=False, soft_wrap=True)
    )
    _ws: Workspace | None = None

    def workspace(self, *, any_database: bool = False) -> Workspace:
        if self._ws is None:
            from assay.workspace import Workspace

            self._ws = Workspace.open(self.workspace_path, any_database=any_database)
        return self._ws

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()

    @property
    def interactive(self) -> bool:
        return not self.quiet and sys.stderr.isatty()

    def emit_json(self, obj: Any) -> None:
        click.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))

    def say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    @contextmanager
    def progress(
        self, label: str, *, shown: bool, in_bytes: bool = False
    ) -> Iterator[Callable[[int, int], None] | None]:
        """A progress callback: a bar on stderr on a terminal; None in pipes, with --quiet or
        when not `shown` (every caller says so: not under its --json, which keeps the
        terminal for the JSON document), so the service does none of the counting a bar
        needs (an ingest's file sizes, its workers' queue). Counts show as `done/total`, or
        as sizes (`1.2/3.4 MB`) when they are bytes (`in_bytes`)."""
        if not (shown and self.interactive):
            yield None
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TimeRemainingColumn,
        )

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn() if in_bytes else MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update


def folding_table(*headers: str, whole: tuple[str, ...] = ()) -> Any:
    """A table whose values wrap at spaces, and fold where they have none, when it is wider
    than the terminal (a pipe's 80 columns) instead of being cut to "…". The columns named in
    `whole` (ids and hashes a user copies) keep each value on its line: the others narrow."""
    from rich.table import Column, Table

    return Table(*(Column(h, overflow="fold", no_wrap=h in whole) for h in headers))


def utc_minute(iso: str) -> str:
    """`2026-12-06T10:41:06.5Z` (UTC) as `2026-12-06 10:41`: date and time fold apart at the
    space when a table is narrow."""
    return f"{iso[:10]} {iso[11:16]}" if len(iso) >= 16 else iso


pass_env = click.make_pass_decorator(Env, ensure=True)

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")

cluster_option = click.option(
    "--cluster",
    metavar="ADDRESS",
    envvar="ASSAY_CLUSTER",
    help="Run the batch work on the Dask cluster whose scheduler is at ADDRESS "
    "(tcp://HOST:8786; default $ASSAY_CLUSTER); its workers read blobs from the blob store "
    "(S3). Without it the work runs on a local process pool.",
)


_F = TypeVar("_F", bound=Callable[..., Any])

# Options more than one command takes, declared once: the same name, bounds and help in
# every `--help`.

# A language model to run: `eval llm` and `redteam`.
llm_model_option = click.option(
    "--model", help="A transformers model directory, or a registered NAME[@VERSION]."
)
endpoint_option = click.option(
    "--endpoint", help="An OpenAI-compatible API base, e.g. http://127.0.0.1:8000/v1."
)
endpoint_model_option = click.option(
    "--endpoint-model",
    default="default",
    show_default=True,
    help="Model name sent to the endpoint.",
)
llm_batch_size_option = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Local model batch.",
)
# At least 0.1 s (no model answers sooner), at most a day (beyond about 300 years the
# socket layer raises OverflowError).
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(0.1, 86400),
    default=60.0,
    show_default=True,
    help="Seconds an endpoint request may take.",
)
no_cache_option = click.option(
    "--no-cache", is_flag=True, help="Ask the model again instead of reusing cached answers."
)

# The paired gate: `eval gate` and `model promote`.
alpha_option = click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level.",
)


def max_drop_option(**kw: Any) -> Callable[[_F], _F]:
    """`--max-drop`: the metrics a gate compares (accuracy, macro F1, AP, F1) lie in 0..1."""
    return click.option(
        "--max-drop",
        type=click.FloatRange(0, 1),
        help="Largest tolerated drop of the gate metric, e.g. 0.01.",
        **kw,
    )


resamples_option = click.option(
    "--resamples",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Bootstrap resamples per interval.",
)

# Servers: `serve` and `serve-model`.
host_option = click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind."
)


def port_option(default: int) -> Callable[[_F], _F]:
    return click.option(
        "--port",
        default=default,
        show_default=True,
        type=click.IntRange(0, 65535),
        help="TCP port (0: any free one, the port taken is the one reported).",
    )


def ask_password(label: str, *, confirm: bool = False) -> str:
    """A password typed on the terminal (the prompt on stderr: stdout stays the output's).

    Without a terminal (a script, a pipe, cron) nobody can answer: one error naming the two
    ways to give it, instead of the prompt meeting the end of the input."""
    from assay.errors import InvalidInput

    if not sys.stdin.isatty():
        raise InvalidInput(
            f"no {label} given and no terminal to ask on: pass --password or set ASSAY_PASSWORD"
        )
    return str(click.prompt(label, hide_input=True, confirmation_prompt=confirm, err=True))


def path_arg(**kw: Any) -> Any:
    return click.Path(path_type=Path, **kw)


class _InputPath(click.Path):
    """A path the command reads: one that does not exist is the user's error (exit 1, one
    `error: PATH: no such file or directory` line), the same from every command, not click's
    usage error (exit 2) nor each service's own wording."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from assay.errors import InvalidInput

        if isinstance(value, str | Path) and not os.path.exists(value):
            raise InvalidInput(f"{value}: no such file or directory")
        return super().convert(value, param, ctx)


def input_path(**kw: Any) -> Any:
    """The type of an argument or option naming a file or folder the command reads."""
    return _InputPath(path_type=Path, exists=True, **kw)


def load(ref: str) -> click.Command | None:
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None  # that command group is not part of this installation
        raise
    command = getattr(module, attr, None)
    return command if isinstance(command, click.Command) else None


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(n for n, ref in self.lazy.items() if load(ref) is not None)
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            return load(self.lazy[cmd_name])
        return super().get_command(ctx, cmd_name)


def plain(value: Any) -> str:
    """A value as a person reads it, never a Python repr: lists comma-separated (`-` when
    empty), mappings as `key=value`, None as `-`.

    Example:
        >>> plain(["v1", "survey-1"]), plain([]), plain({"items": 3, "regions": 9}), plain(None)
        ('v1, survey-1', '-', 'items=3, regions=9', '-')
    """
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple | set):
        return ", ".join(plain(v) for v in value) or "-"
    return str(value)


def say_raised(env: Env, changes: Any, limit: int = 20) -> None:
    """Tell the user which existing items now carry a higher marking (never silently)."""
    if not changes:
        return
    env.console.print(f"raised the marking of {len(changes)} existing item(s):", markup=False)
    for c in changes[:limit]:
        env.console.print(f"  {c.item_id[:16]}  {c.old} -> {c.new}", markup=False)
    if len(changes) > limit:
        env.console.print(f"  ... and {len(changes) - limit} more (see --json)", markup=False)
