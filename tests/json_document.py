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

from ports import start_on_free_port


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
def running_server(args: list[str], env: dict[str, str]) -> Iterator[tuple[Running, int]]:
    """`python -m assay ARGS --port PORT` on a free port, with the port, once the process
    itself listens there (started again on another port if that one was taken meanwhile);
    killed on the way out if it still runs."""

    def launch(ports: list[int]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "assay", *args, "--port", str(ports[0])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def said(proc: subprocess.Popen[str]) -> str:
        return proc.communicate()[1]

    proc, [port] = start_on_free_port(launch, f"assay {' '.join(args)}", said)
    try:
        yield Running(proc), port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
