"""Run README.md's code blocks the way a reader would, in order, in one folder.

The convention (also written in README.md, "Examples in this README"):

- ```python blocks run, each in a fresh namespace, unless the line before the fence is
  `<!-- docs: continue -->`: then it continues the namespace of the python block before it.
  Comment lines (`# ...`) right after a `print(...)` line are the output it shows: each
  must appear in what the block prints.
- ```bash blocks run whole with `bash -e`; ```console blocks run their `$ ` lines. The
  lines shown after a command are its output and must appear in what it prints (spacing
  aside), except lines with `...`, which stand for output left out. A command whose output
  starts with `error:` must exit 1 with exactly that error.
- Shell blocks share the reader's terminal: a `cd` carries over to the blocks after it
  (python blocks run in that folder too).
- `<!-- docs: file NAME -->` before a block writes the block to NAME in the current folder.
- `<!-- docs: skip REASON -->` before a block: shown, not run (it starts a server, or needs
  your own model file); the reason is required.
- Every other fence (text, yaml, json, ...) is shown, never run.

A console line that is a plain `assay ...` command runs through `assay.cli.main` in this
interpreter (as the `cli` test fixture does), which keeps the test quick; everything else runs
in bash against the installed `assay` command.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```([\w-]*)\s*$")
DIRECTIVE = re.compile(r"^<!--\s*docs:\s*(\w+)\s*(.*?)\s*-->\s*$")
RUN = {"python", "bash", "console"}
HINT = (
    "Every README example runs in order in one folder (README.md, 'Examples in this README'): "
    "fix the example, or put <!-- docs: skip REASON --> on the line before its fence when it "
    "cannot run here (a server, your own model file), or use a ```text fence for a synopsis."
)


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    directive: str = ""
    argument: str = ""

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.lang})"


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with the docs directive right before each."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        d = DIRECTIVE.match(lines[start - 1]) if start else None
        block = Block(m.group(1), "\n".join(body) + "\n", start + 1)
        if d:
            block.directive, block.argument = d.group(1), d.group(2)
        out.append(block)
        i += 1
    return out


def expected_output(code: str) -> list[str]:
    """Comment lines right after a `print(...)` line: the output the example shows."""
    want: list[str] = []
    after_print = False
    for line in code.splitlines():
        s = line.strip()
        if after_print and s.startswith("# "):
            want.append(s[2:])
            continue
        after_print = s.startswith("print(")
    return want


@dataclass
class Command:
    cmd: str
    error: str | None  # the `error: ...` line shown after it
    output: list[str]  # the other lines shown after it (checked unless they elide with ...)


def console_commands(code: str) -> list[Command]:
    """Each `$` command (with its `\\` continuations) and the lines shown after it."""
    cmds: list[Command] = []
    lines = code.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        cmd = lines[i][2:]
        while cmd.endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd = cmd[:-1] + "\n" + lines[i]
        i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i])
            i += 1
        error = shown[0] if shown and shown[0].startswith("error:") else None
        output = [ln for ln in shown[1 if error else 0 :] if ln.strip()]
        cmds.append(Command(cmd, error, output))
    return cmds


def _squeeze(text: str) -> str:
    return "".join(text.split())


@dataclass
class Reader:
    """A reader's terminal: a current folder, an environment, the last python namespace."""

    cwd: Path
    env: dict[str, str]
    namespace: dict[str, Any] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def run(self, block: Block) -> None:
        if block.directive == "skip":
            assert block.argument, f"{block.where}: a skip needs a reason"
            self.skipped.append(f"{block.where}: {block.argument}")
            return
        if block.directive == "file":
            (self.cwd / block.argument).write_text(block.code, encoding="utf-8")
            self.ran.append(block.where)
            return
        if block.lang not in RUN:
            return
        self.ran.append(block.where)
        try:
            getattr(self, f"_{block.lang}")(block)
        except Exception as exc:
            raise AssertionError(
                f"{block.where} does not run as written: {exc}\n{HINT}"
            ).with_traceback(exc.__traceback__) from None

    def _python(self, block: Block) -> None:
        if block.directive != "continue":
            self.namespace = {"__name__": "__readme__"}
        out = io.StringIO()
        old = Path.cwd()
        os.chdir(self.cwd)
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(block.code, block.where, "exec"), self.namespace)
        finally:
            os.chdir(old)
        printed = out.getvalue()
        for line in expected_output(block.code):
            assert line in printed, f"{block.where}: shows {line!r}, but printed:\n{printed}"

    def _shell(self, where: str, script: str) -> subprocess.CompletedProcess[str]:
        state = self.cwd / ".readme-cwd"
        full = f"cd {self._q(self.cwd)}\n{script}\npwd > {self._q(state)}\n"
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", full],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode == 0 and state.exists():
            self.cwd = Path(state.read_text().strip())
            state.unlink()
        return proc

    @staticmethod
    def _q(p: Path) -> str:
        return "'" + str(p).replace("'", "'\\''") + "'"

    def _bash(self, block: Block) -> None:
        proc = self._shell(block.where, block.code)
        assert proc.returncode == 0, f"{block.where} exited {proc.returncode}:\n{proc.stderr}"

    def _assay(self, cmd: str) -> subprocess.CompletedProcess[str] | None:
        """A plain `assay ...` line runs in this interpreter, through the same entry point
        (`assay.cli.main`) as the installed command: one start-up for the whole README. Lines
        with shell syntax (pipes, redirections, variables, globs) go to bash."""
        if not cmd.startswith("assay ") or any(ch in cmd for ch in "|&;<>$`*?\n\\"):
            return None
        from click.testing import CliRunner

        from assay.cli import main

        argv = shlex.split(cmd, comments=True)[1:]
        old = Path.cwd()
        os.chdir(self.cwd)
        env = {k: v for k, v in self.env.items() if k.startswith(("ASSAY_", "COLUMNS", "NO_COLOR"))}
        env.update({k: None for k in os.environ if k.startswith("ASSAY_") and k not in env})
        try:
            with CliRunner().isolation(env=env) as (out, err, _):
                try:
                    main(argv)
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
        finally:
            os.chdir(old)
        return subprocess.CompletedProcess(argv, code, stdout, stderr)

    def _console(self, block: Block) -> None:
        for c in console_commands(block.code):
            proc = self._assay(c.cmd) or self._shell(block.where, c.cmd)
            if c.error is None:
                assert proc.returncode == 0, f"{block.where}: `{c.cmd}` failed:\n{proc.stderr}"
            else:
                assert proc.returncode == 1, f"{block.where}: `{c.cmd}` should fail: {c.error}"
                assert proc.stderr.strip() == c.error, f"{block.where}: {proc.stderr!r}"
            printed = _squeeze(proc.stdout + proc.stderr)
            for line in c.output:
                if "..." in line or "…" in line:
                    continue  # an abridged line
                assert _squeeze(line) in printed, (
                    f"{block.where}: `{c.cmd}` shows {line!r}, but printed:\n{proc.stdout}"
                )


def reader_env(src: Path) -> dict[str, str]:
    """The environment of a reader who activated the virtual environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    # The test session's audit signing key (made up front by conftest): a reader has theirs
    # already, and the first-use notice is not part of any example's output.
    if "ASSAY_AUDIT_KEY" in os.environ:
        env["ASSAY_AUDIT_KEY"] = os.environ["ASSAY_AUDIT_KEY"]
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(src)
    env["COLUMNS"] = "120"
    env["NO_COLOR"] = "1"
    env["ASSAY_ARGON2_MEMORY_KIB"] = "1024"  # still argon2id; cheap for the examples' users
    return env
