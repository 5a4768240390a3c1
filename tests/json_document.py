"""The JSON document a running command prints (`--json` of a server), read as it comes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class Running:
    """An `assay` process with its stdout and stderr piped."""

    proc: subprocess.Popen[str]

    def document(self) -> dict[str, Any]:
        """The first JSON document on its stdout."""
        assert self.proc.stdout is not None
        text = ""
        while True:
            line = self.proc.stdout.readline()
            assert line, f"stdout ended before a JSON document: {text!r}"
            text += line
            if line == "}\n":  # emit_json's document ends with its closing brace alone
                return dict(json.loads(text))

    def interrupt(self) -> str:
        """Ctrl-C: what it printed on stdout after, once it exited 0."""
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        return out


@contextmanager
def running(args: list[str], env: dict[str, str]) -> Iterator[Running]:
    """`python -m assay ARGS` running; killed on the way out if it still is."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Running(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
