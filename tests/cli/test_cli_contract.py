"""The command-line contract, command by command (DESIGN.md, Interfaces): `--json` puts one
JSON document and nothing else on stdout; a user error is exit 1 with one `error:` line; bad
usage is exit 2; `--help` documents every option."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from assay.fusion import pictures
from assay.workspace import Workspace
from cli_commands import command as command_at
from cli_commands import commands, leaves
from feed_peers import make_entity
from json_document import running_server
from pg import fresh_schema

RunCli = Any  # the `run_cli` and `cli` fixtures of tests/conftest.py
Samples = Any


LEAVES = leaves()


def test_every_command_is_walked() -> None:
    assert len(LEAVES) > 60 and ("redteam",) in LEAVES and ("redteam", "canary", "plant") in LEAVES


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_documents_its_options_and_refuses_unknown_ones(
    cli: RunCli, tmp_path: Path, path: tuple[str, ...]
) -> None:
    command = command_at(path)
    options = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
    assert "--json" in options, f"assay {' '.join(path)} reports but takes no --json"
    shown = cli(*path, "--help").stdout
    assert [o for o in options if o not in shown] == []
    res = cli("-w", tmp_path, *path, "--no-such-option", code=2)
    assert "No such option '--no-such-option'" in res.stderr and not res.stdout


def test_every_option_of_every_command_says_what_it_does() -> None:
    # `simulate scenario --seconds`, `train llm --lora-dropout`, `train classifier --seed`, ...
    # showed only their bounds and default in --help.
    bare = [
        " ".join(["assay", *path, "/".join(p.opts)])
        for path in commands()
        for p in command_at(path).params
        if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    assert bare == []


def test_import_json_stays_json_when_it_raises_markings(
    cli: RunCli, samples: Samples, tmp_path: Path
) -> None:
    """The note on raised markings went to stdout after the JSON document, so `--json` output
    did not parse; it is in the document (`raised`)."""
    ws = tmp_path / "ws"
    cli("init", ws)
    samples.images("uav", 2)
    cli("-w", ws, "ingest", samples.root)
    cli("-w", ws, "dataset", "create", "flood")
    cli("-w", ws, "dataset", "add", "flood", "--all")
    cli("-w", ws, "export", "flood", "--format", "coco", "--out", tmp_path / "x")
    res = cli(
        "-w", ws, "import", tmp_path / "x" / "annotations.json", "--format", "coco",
        "--dataset", "again", "--images", tmp_path / "x" / "images", "--marking", "CUI", "--json",
    )  # fmt: skip
    raised = res.json()["raised"]
    assert len(raised) == 2 and {(c["old"], c["new"]) for c in raised} == {("UNCLASSIFIED", "CUI")}
    # without --json the note is said, as before
    res = cli(
        "-w", ws, "import", tmp_path / "x" / "annotations.json", "--format", "coco",
        "--dataset", "again", "--images", tmp_path / "x" / "images", "--marking", "CUI/FLOOD",
    )  # fmt: skip
    assert "raised the marking of 2 existing item(s)" in res.stdout


def test_feed_json_prints_only_json_until_stopped(
    ws: Workspace, subprocess_env: dict[str, str]
) -> None:
    """A feed that runs until Ctrl-C said "feeding ..." on stdout before its JSON document."""
    pictures.save(ws, "flood", [make_entity(i, marking="CUI") for i in range(3)], message="m")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(60)
        port = peer.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "assay", "-w", str(ws.root), "feed", "flood", "--json",
             "--to", f"udp://127.0.0.1:{port}?clearance=CUI"],
            env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            peer.recv(65536)  # the feed is running: its first CoT event arrived
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["picture"] == "flood" and doc["published"][0]["sent"] == 3


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_json_says_where_it_listens_once_it_does(
    tmp_path: Path, subprocess_env: dict[str, str], workers: int
) -> None:
    """`assay serve` took no --json: a script tried the port in a loop until it answered.
    With --json the server prints one document once it listens (its URL and process id), and
    nothing more on stdout until it stops; with two worker processes (PostgreSQL) too."""
    with ExitStack() as stack:
        env = dict(subprocess_env)
        if workers > 1:  # a SQLite workspace is served by one process
            env["ASSAY_DATABASE_URL"] = stack.enter_context(fresh_schema())
        subprocess.run(
            [sys.executable, "-m", "assay", "init", str(tmp_path / "ws")],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        args = ["-w", str(tmp_path / "ws"), "serve", "--json", "--workers", str(workers)]
        with running_server(args, env) as (server, port):
            doc = server.document()
            assert doc["url"] == f"http://127.0.0.1:{port}/" and doc["pid"] == server.proc.pid
            assert doc["workers"] == workers and doc["workspace"] == str(tmp_path / "ws")
            # listening when said: the first request is answered (401: no credentials)
            assert httpx.get(f"{doc['url']}api/v1/projects", timeout=60).status_code == 401
            assert server.interrupt() == ""


@pytest.mark.parametrize("where", ["project schema", "task file", "slices"])
def test_a_yaml_syntax_error_is_one_line_naming_the_place(
    cli: RunCli, samples: Samples, tmp_path: Path, where: str
) -> None:
    """PyYAML's message spans six lines (a caret under the spot); the error is one line."""
    ws = tmp_path / "ws"
    cli("init", ws)
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: t\ncontrols: [unclosed\n")
    preds = tmp_path / "preds.json"
    preds.write_text("[]")
    args = {
        "project schema": ["project", "create", "p", "--schema", bad, "--dataset", "d"],
        "task file": ["eval", "llm", bad, "--endpoint", "http://127.0.0.1:9/v1",
                      "--out", tmp_path / "run"],
        "slices": ["eval", "run", "--dataset", "d", "--predictions", preds, "--slices", bad,
                   "--out", tmp_path / "run"],
    }[where]  # fmt: skip
    res = cli("-w", ws, *args, code=1)  # the fixture checks: one `error:` line
    assert str(bad) in res.stderr and "line 3 column 1: expected ',' or ']'" in res.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["user", "add", "ana", "--role", "annotator", "--json"],
        ["user", "passwd", "root", "--json"],
        ["item", "mark", "name~*", "--marking", "UNCLASSIFIED", "--downgrade", "--admin", "root",
         "--reason", "declassified", "--json"],
    ],
    ids=lambda a: " ".join(a[:2]),
)  # fmt: skip
def test_no_password_and_no_terminal_to_ask_on_is_one_error(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Without --password, ASSAY_PASSWORD or a terminal, the prompt met the end of the input:
    getpass warnings, `password: aborted` on stderr and a stray newline on stdout."""
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
    ws = tmp_path / "ws"
    cli("init", ws)
    cli("-w", ws, "user", "add", "root", "--role", "admin", "--password", "flood-watch-2026")
    res = cli("-w", ws, *args, env={"ASSAY_PASSWORD": None}, code=1)
    assert "--password" in res.stderr and "ASSAY_PASSWORD" in res.stderr
    assert res.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", "scenario", "sim", "--no-media", "--seed", "-1"],
        ["audit", "log", "--limit", "-1"],
        ["quality", "report", "--threshold", "-1", "--project", "p"],
        ["quality", "report", "--threshold", "1.5", "--project", "p"],
        ["prelabel", "p", "--model", "m", "--min-score", "1.5"],
        ["prelabel", "p", "--model", "m", "--batch-size", "0"],
        ["eval", "llm", "t.yaml", "--concurrency", "0", "--out", "run"],
        ["eval", "llm", "t.yaml", "--timeout", "0", "--out", "run"],
        ["eval", "llm", "t.yaml", "--timeout", "0.05", "--out", "run"],
        ["eval", "llm", "t.yaml", "--timeout", "1e12", "--out", "run"],
        ["redteam", "--model", "m", "--timeout", "0.05", "--out", "run"],
        ["redteam", "--model", "m", "--timeout", "1e12", "--out", "run"],
        ["eval", "run", "--dataset", "d", "--resamples", "0", "--out", "run"],
        ["eval", "run", "--dataset", "d", "--score-threshold", "2", "--out", "run"],
        ["eval", "gate", "--baseline", "a", "--candidate", "b", "--max-drop", "0", "--alpha", "1"],
        ["eval", "gate", "--baseline", "a", "--candidate", "b", "--max-drop", "-0.1", "--json"],
        ["eval", "gate", "--baseline", "a", "--candidate", "b", "--max-drop", "1.5", "--json"],
        ["model", "promote", "m", "--stage", "production", "--max-drop", "-1", "--json"],
        ["model", "promote", "m", "--stage", "production", "--max-drop", "2", "--json"],
        ["model", "promote", "m", "--stage", "production", "--alpha", "0"],
        ["train", "classifier", "--data", "d", "--out", "h", "--c", "0"],
        ["train", "llm", "--data", "d", "--base", "b", "--out", "a", "--lr", "-1"],
        ["export", "d", "--format", "coco", "--out", "x", "--min-agreement", "2"],
    ],
    ids=lambda a: " ".join(a[:2] + a[-2:-1]),
)
def test_out_of_range_numbers_are_bad_usage(cli: RunCli, tmp_path: Path, args: list[str]) -> None:
    """`simulate scenario --seed -1` was a ValueError traceback from numpy; `audit log -n -1`
    listed every event on SQLite and failed in the database on PostgreSQL. `quality report
    --threshold -1` and the other bounded numbers were taken as given; so were a --threshold
    above 1 (a posterior is at most 1), a --max-drop below 0 (exit 1 once the runs were
    read) or above 1 (every metric it gates lies in 0..1), and an `eval llm` or `redteam`
    --timeout each bounded its own way (0.05 s taken by one, refused by the other; 1e12 s a
    traceback from the socket layer)."""
    cli("init", tmp_path / "ws")
    res = cli("-w", tmp_path / "ws", *args, code=2)
    assert "Invalid value" in res.stderr and not (tmp_path / "sim").exists()


def test_the_end_of_the_input_at_a_prompt_is_an_error_line(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """Ctrl-D (or Ctrl-C) at the password prompt on a terminal printed a bare `aborted`."""
    import os
    import pty

    subprocess.run(
        [sys.executable, "-m", "assay", "init", str(tmp_path / "ws")],
        env=subprocess_env, check=True, capture_output=True,
    )  # fmt: skip
    env = {k: v for k, v in subprocess_env.items() if k != "ASSAY_PASSWORD"}
    leader, follower = pty.openpty()
    # A session of its own: no controlling terminal, so the prompt goes to stderr and the
    # answer comes from stdin, the terminal here.
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "-w", str(tmp_path / "ws"), "user", "add", "ana",
         "--role", "annotator", "--json"],
        env=env, stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        seen = b""
        while not seen.endswith(b"password: "):  # asked: now the end of the input
            chunk = proc.stderr.read(1)
            assert chunk, seen
            seen += chunk
        os.write(leader, b"\x04")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 1 and out == b""
    assert err.decode().splitlines()[-1] == "error: aborted" and b"Traceback" not in err


MISSING_FILE_ARGS = {
    "ingest": ["ingest", "{m}"],
    "import": ["import", "{m}", "--format", "coco", "--dataset", "d"],
    "import --images": ["import", "{f}", "--format", "coco", "--dataset", "d", "--images", "{m}"],
    "restore": ["restore", "{m}", "{t}/restored"],
    "audit verify --checkpoint": ["audit", "verify", "--checkpoint", "{m}"],
    "project create --schema": ["project", "create", "p", "--schema", "{m}", "--dataset", "d"],
    "project create --instructions": ["project", "create", "p", "--schema", "{f}",
                                      "--dataset", "d", "--instructions", "{m}"],
    "aggregate --csv": ["aggregate", "--csv", "{m}"],
    "quality report --csv": ["quality", "report", "--csv", "{m}"],
    "quality report --gold": ["quality", "report", "--csv", "{f}", "--gold", "{m}"],
    "eval detection --gt": ["eval", "detection", "--gt", "{m}", "--predictions", "{f}"],
    "eval run --predictions": ["eval", "run", "--dataset", "d", "--predictions", "{m}",
                               "--out", "{t}/run"],
    "eval llm": ["eval", "llm", "{m}", "--endpoint", "http://127.0.0.1:9/v1", "--out", "{t}/run"],
    "model add": ["model", "add", "m", "{m}"],
    "model add --file": ["model", "add", "m", "--file", "{m}"],
    "fuse --truth": ["fuse", "p", "--from", "reports:{f}", "--truth", "{m}"],
    "fuse --from predictions:": ["fuse", "p", "--from", "predictions:{m}"],
    "fuse --from reports:": ["fuse", "p", "--from", "reports:{m}"],
    "fuse --from tracks:": ["fuse", "p", "--from", "tracks:{m}"],
    "fuse --follow --from detections:": ["fuse", "p", "--follow", "--from", "detections:{m}"],
}  # fmt: skip


@pytest.mark.parametrize("what", MISSING_FILE_ARGS)
def test_a_missing_input_file_is_one_user_error_in_every_command(
    cli: RunCli, tmp_path: Path, what: str
) -> None:
    """Paths click checked were bad usage (exit 2, `Error: Invalid value ... does not
    exist.`); the others a user error, each in its own words. A file that is not there is the
    user's error: exit 1 and one line, the same from every command."""
    cli("init", tmp_path / "ws")
    there = tmp_path / "there.txt"
    there.write_text("x\n")
    missing = tmp_path / "missing"
    args = [a.format(m=missing, f=there, t=tmp_path) for a in MISSING_FILE_ARGS[what]]
    res = cli("-w", tmp_path / "ws", *args, code=1)
    assert res.stderr == f"error: {missing}: no such file or directory\n" and res.stdout == ""
