"""`assay gc`, `assay backup`, `assay restore`: the workspace's storage as a whole."""

from __future__ import annotations

from pathlib import Path

import click

from assay.cli._common import Env, input_path, json_option, pass_env, path_arg


@click.command("gc")
@json_option
@pass_env
def gc(env: Env, as_json: bool) -> None:
    """Remove blobs nothing references and rewrite packs without them.

    Safe while other commands run: an ingest or commit in progress finishes first (or waits
    until gc is done), so nothing it stores is lost."""
    from assay.versioning.gc import gc as collect

    report = collect(env.workspace())
    if as_json:
        env.emit_json(report)
    else:
        env.say(
            f"removed {report['removed']} blob(s), {report['freed']:,} bytes; "
            f"{report['repacked']} pack(s) rewritten, {report['kept']} blob(s) kept"
        )


@click.command("backup")
@click.argument("directory", type=path_arg(file_okay=False))
@json_option
@pass_env
def backup(env: Env, directory: Path, as_json: bool) -> None:
    """Copy the workspace (config, metadata, blobs) into the new folder DIRECTORY.

    Consistent while the server runs: the metadata is one snapshot and every blob it names
    is copied."""
    from assay.store.backup import backup as run
    from assay.workspace import CONFIG

    ws = env.workspace()
    with env.progress("copying blobs", shown=not as_json) as progress:
        report = run(ws.db, ws.blobs, ws.root / CONFIG, directory, progress)
    if as_json:
        env.emit_json(report)
    else:
        env.say(f"backed up to {directory} ({report['blobs']} blob(s))")


@click.command("restore")
@click.argument("backup_dir", type=input_path(file_okay=False))
@click.argument("directory", default=".", type=path_arg(file_okay=False))
@json_option
@pass_env
def restore(env: Env, backup_dir: Path, directory: Path, as_json: bool) -> None:
    """Create a workspace in DIRECTORY (default: here) from the backup in BACKUP_DIR.

    The blobs go where ASSAY_BLOB_URL says (default: the new workspace) and the metadata
    into ASSAY_DATABASE_URL (default: the new workspace's SQLite file), which must be empty."""
    from assay.workspace import Workspace

    with env.progress("copying blobs", shown=not as_json) as progress:
        report = Workspace.restore(backup_dir, directory, progress)
    if as_json:
        env.emit_json(report)
    else:
        env.say(f"restored {backup_dir} into {directory} ({report['blobs']} blob(s))")
