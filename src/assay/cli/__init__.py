"""The `assay` command. Commands parse, call a service, render; they hold no logic."""

from __future__ import annotations

import logging
import sys

import click

from assay import __version__
from assay._extras import as_missing_extra
from assay.cli._common import Env, LazyGroup
from assay.cli._safe import printable
from assay.errors import AssayError

# Every command by name -> "module:attribute". Modules load only when their command runs,
# so `assay init` never pays for pandas, pyarrow or FastAPI. A module that is not installed
# (a missing extra) simply leaves its commands out of the list.
COMMANDS: dict[str, str] = {
    "init": "assay.cli.versions:init",
    "ingest": "assay.cli.versions:ingest",
    "import": "assay.cli.versions:import_",
    "status": "assay.cli.versions:status",
    "commit": "assay.cli.versions:commit",
    "log": "assay.cli.versions:log",
    "show": "assay.cli.versions:show",
    "tag": "assay.cli.versions:tag",
    "diff": "assay.cli.versions:diff",
    "checkout": "assay.cli.versions:checkout",
    "export": "assay.cli.versions:export",
    "gc": "assay.cli.storage:gc",
    "backup": "assay.cli.storage:backup",
    "restore": "assay.cli.storage:restore",
    "dataset": "assay.cli.dataset:dataset",
    "item": "assay.cli.items:item",
    "audit": "assay.cli.audit:audit",
    "aggregate": "assay.cli.quality:aggregate",
    "quality": "assay.cli.quality:quality",
    "eval": "assay.cli.evaluation:eval_group",
    "model": "assay.cli.models:model",
    "prelabel": "assay.cli.prelabel:prelabel",
    "train": "assay.cli.train:train",
    "project": "assay.cli.labeling:project",
    "user": "assay.cli.accounts:user",
    "token": "assay.cli.accounts:token",
    "serve": "assay.cli.server:serve",
    "serve-model": "assay.cli.serve_model:serve_model",
    "redteam": "assay.cli.redteam:redteam",
    "picture": "assay.cli.pictures:picture",
    "fuse": "assay.cli.fusion:fuse",
    "simulate": "assay.cli.fusion:simulate",
    "feed": "assay.cli.feeds:feed",
    "sitrep": "assay.cli.sitrep:sitrep",
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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


def main(argv: list[str] | None = None) -> None:
    """Entry point: AssayError -> one line on stderr and exit 1; usage errors exit 2."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    # Notices from the audit trail (a signing key made on first use) and the model registry
    # (a cached model folder changed, copied again) reach the user as such.
    for name in ("assay.audit", "assay.models.registry"):
        notices = logging.getLogger(name)
        if not notices.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("assay: %(message)s"))
            notices.addHandler(handler)
            notices.setLevel(logging.WARNING)
            notices.propagate = False
    try:
        cli.main(args=argv, prog_name="assay", standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C, or the end of the input at a prompt
        click.echo("error: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AssayError as exc:
        click.echo(f"error: {printable(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        # A library of an extra the command needs, imported where nothing named the extra.
        missing = as_missing_extra(exc)
        if missing is None:
            raise
        click.echo(f"error: {printable(str(missing))}", err=True)
        sys.exit(missing.exit_code)
    except Exception as exc:
        from assay.store.s3 import failure_message

        message = failure_message(exc)  # a bucket or credentials the blob store cannot use
        if message is None:
            raise
        click.echo(f"error: {printable(message)}", err=True)
        sys.exit(1)
    sys.exit(0)
