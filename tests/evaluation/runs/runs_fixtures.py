"""Fixtures for evaluation-run and model tests: one flood workspace per module, a CLI root."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from assay.cli._common import Env
from assay.errors import AssayError
from evaluation.runs.runs_world import SLICES_YAML, World, classification_world, onnx_classifier


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_database: str | None) -> Iterator[World]:
    """24 labelled flood scenes committed, an ONNX classifier registered, slices.yaml written
    (on `--db postgresql`, in the module's schema)."""
    from assay.models import add_model

    root = tmp_path_factory.mktemp("floods")
    w = classification_world(root / "ws", n=24)
    onnx_classifier(root / "clf.onnx")
    add_model(w.ws, "flood-clf", root / "clf.onnx", trained_on="floods")
    (root / "slices.yaml").write_text(SLICES_YAML)
    yield w
    w.ws.close()


@pytest.fixture
def invoke() -> Callable[..., tuple[int, str]]:
    """Run the eval-run and model commands under a root like `assay`'s: AssayError -> exit 1."""
    from assay.cli.eval_runs import COMMANDS
    from assay.cli.models import model

    @click.group()
    @click.option("-w", "--workspace", "workspace")
    @click.pass_context
    def root(ctx: click.Context, workspace: str | None) -> None:
        ctx.obj = Env(workspace_path=workspace, quiet=True)
        ctx.call_on_close(ctx.obj.close)  # as `assay` does: the workspace is closed after

    @root.group(name="eval")
    def eval_group() -> None:
        pass

    for cmd in COMMANDS:
        eval_group.add_command(cmd)
    root.add_command(model)

    def run(*args: str | Path, stderr: list[str] | None = None) -> tuple[int, str]:
        """Exit code and output; with `stderr`, the output is stdout alone and stderr is
        appended to that list."""
        result = CliRunner().invoke(
            root,
            [str(a) for a in args],
            standalone_mode=False,
            env={"COLUMNS": "200", "NO_COLOR": "1"},
        )
        if isinstance(result.exception, AssayError):
            return 1, result.output + f"\nerror: {result.exception}"
        if result.exception is not None:
            raise result.exception
        if stderr is not None:
            stderr.append(result.stderr)
            return 0, result.stdout
        return 0, result.output

    return run


@pytest.fixture
def closing() -> Iterator[Callable[[World], World]]:
    """`closing(detection_world(...))`: the world's workspace is closed after the test."""
    opened: list[World] = []

    def keep(w: World) -> World:
        opened.append(w)
        return w

    yield keep
    for w in opened:
        w.ws.close()
