"""README.md's examples run as written (the datasette `test_docs.py` habit).

The rules for which blocks run are in `readme_runner` and in the README itself.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import pytest
from readme_runner import RUN, Reader, blocks, console_commands, expected_output, reader_env

from cli_commands import command, leaves

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHOWN_ONLY = {"text", "yaml", "json", "markdown", "csv", "toml", "html"}


def test_every_fence_names_a_language_with_a_known_rule() -> None:
    for b in blocks(README.read_text(encoding="utf-8")):
        assert b.lang in RUN | SHOWN_ONLY, f"{b.where}: unknown fence {b.lang!r}"
        assert b.directive in ("", "continue", "file", "skip"), f"{b.where}: {b.directive}"
        if b.directive == "continue":
            assert b.lang == "python", f"{b.where}: only python blocks continue"


def test_the_convention_is_written_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    assert "## Examples in this README" in text
    for rule in ("<!-- docs: continue -->", "<!-- docs: file NAME -->", "<!-- docs: skip"):
        assert rule in text


def test_runner_reads_outputs_and_errors() -> None:
    code = "x = 1\nprint(x)\n# 1\n# 2\ny = 2  # not output\n"
    assert expected_output(code) == ["1", "2"]
    console = "$ a \\\n  b\nerror: nope\n$ c\nok\n\n$ d\n"
    got = [(c.cmd, c.error, c.output) for c in console_commands(console)]
    assert got == [("a \n  b", "error: nope", []), ("c", None, ["ok"]), ("d", None, [])]


def test_every_readme_example_runs_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from samples import write_flood_town
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    write_flood_town(tmp_path / "data")
    env = reader_env(ROOT / "src")
    for key in [k for k in list(__import__("os").environ) if k.startswith("ASSAY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", env["ASSAY_ARGON2_MEMORY_KIB"])
    if "ASSAY_AUDIT_KEY" in env:  # python blocks sign with the same key as the commands
        monkeypatch.setenv("ASSAY_AUDIT_KEY", env["ASSAY_AUDIT_KEY"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reader = Reader(tmp_path, env)
    for block in blocks(README.read_text(encoding="utf-8")):
        reader.run(block)
    assert len(reader.ran) >= 20, reader.ran
    # Each skipped block says why and which tests run the same commands: a server that waits,
    # a user's own model, PostgreSQL or S3 of the user's own, a cluster's machines. A new one
    # has to earn its place.
    assert len(reader.skipped) <= 8, reader.skipped


def test_every_command_option_is_in_the_readme() -> None:
    """About 20 options (`audit log --limit`, `quality report --threshold`, `eval run
    --resamples`, `simulate scenario --vehicles`, ...) were documented only in `--help`: every
    option of every command is named in the README, where its command's options are listed."""
    text = README.read_text(encoding="utf-8")
    missing = []
    for path in leaves():
        for p in command(path).params:
            if isinstance(p, click.Option) and not any(
                re.search(re.escape(o) + r"(?![\w-])", text) for o in p.opts
            ):
                missing.append(f"assay {' '.join(path)} {p.opts[-1]}")
    assert missing == []
