"""The `assay` command. Commands parse, call a service, render; they hold no logic."""

from __future__ import annotations

import logging
import sys

import click

from assay import __version__
from assay.cli._common import Env
from assay.errors import AssayError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-w",
    "--workspace",
    "workspace",
    envvar="ASSAY_WORKSPACE",
    help="Workspace folder (default: found by walking up from here).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or chatter.")
@click.version_option(__version__, prog_name="assay")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, quiet: bool) -> None:
    """assay: ingest, label, version, export and evaluate datasets, air-gapped."""
    env = Env(workspace_path=workspace, quiet=quiet)
    ctx.obj = env
    ctx.call_on_close(env.close)


def _register() -> None:
    from assay.cli import audit, dataset, versions

    for mod in (dataset, versions, audit):
        for command in mod.COMMANDS:
            cli.add_command(command)
    for optional in ("quality", "evaluation", "labeling", "server"):
        try:
            mod = __import__(f"assay.cli.{optional}", fromlist=["COMMANDS"])
        except ModuleNotFoundError as exc:
            if exc.name != f"assay.cli.{optional}":
                raise
            continue
        for command in getattr(mod, "COMMANDS", []):
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: AssayError -> one line on stderr and exit 1; usage errors exit 2."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        cli.main(args=argv, prog_name="assay", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AssayError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)
