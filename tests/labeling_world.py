"""A small labeling world for tests: items at three markings, users of every role, a project.

Items: `public` (UNCLASSIFIED), `cui` (CUI/FLOOD), `secret` (SECRET/SAR). Users (password
PASSWORD): root admin TOP SECRET/FLOOD/SAR, man manager CUI/FLOOD, rev reviewer CUI/FLOOD,
ana annotator CUI/FLOOD, low annotator UNCLASSIFIED.

Projects: `survey` over dataset `flood` (the public and CUI items: marked CUI/FLOOD, so
`low` may not know of it) and, when there are secret items, `sar-ops` ("Casualty sweep")
over dataset `sar-sweep` (every item: marked SECRET/SAR, known to `root` only).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, add_user, create_project
from assay.labeling.users import User
from assay.versioning import LabelRecord
from assay.workspace import Workspace
from ports import free_port as free_port  # tests and benches take it from here
from ports import start_on_free_port

PASSWORD = "flood-watch-2026"

SCHEMA_YAML = """
title: Flood damage survey
controls:
  - name: label
    type: boxes
    labels:
      - {name: building, key: "b", color: "#e6194b"}
      - {name: vehicle, key: "v"}
  - name: damage
    type: choices
    labels: [none, minor, destroyed]
  - name: notes
    type: text
"""

# What the SECRET/SAR project is called: none of it may reach a user below SECRET/SAR.
HIDDEN = {
    "name": "sar-ops",
    "title": "Casualty sweep",
    "dataset": "sar-sweep",
    "instructions": "Mark every casualty in sector nine.",
}

Client = Callable[[str | None], Any]  # name -> an authenticated TestClient

USERS = {
    "root": ("admin", "TOP SECRET/FLOOD/SAR"),
    "man": ("manager", "CUI/FLOOD"),
    "rev": ("reviewer", "CUI/FLOOD"),
    "ana": ("annotator", "CUI/FLOOD"),
    "low": ("annotator", "UNCLASSIFIED"),
}


@dataclass
class World:
    ws: Workspace
    project: str
    items: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    @property
    def all_items(self) -> list[str]:
        return [i for ids in self.items.values() for i in ids]


def choice(label: str) -> Region:
    return Region(kind="choice", control="damage", label=label)


def box(x: float, y: float, w: float, h: float, label: str = "building") -> Region:
    return Region(kind="box", control="label", label=label, box=(x, y, w, h))


def ingest(ws: Workspace, folder: Path, n: int, start: int, marking: str) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        # A small flood scene: fields over muddy water, a pixel that makes each image unique.
        img = Image.new("RGB", (48, 32), (96, 124, 70))
        img.paste((120, 96, 60), (0, 16, 48, 32))
        img.putpixel((0, 0), (i % 256, i // 256, 7))
        img.save(folder / f"scene_{i:04d}.png", format="PNG")
    report = ws.ingest([folder], marking=marking)
    return sorted(report.new)


def gold_set(ws: Workspace, root: Path, n: int) -> list[str]:
    """`n` UNCLASSIFIED items outside dataset `flood`, in dataset `goldset` (committed) with
    gold answers: a "minor" damage choice and a building box."""
    gold_ids = ingest(ws, root / "gold", n, 3000, "UNCLASSIFIED")
    ws.create_dataset("goldset")
    ws.add_items("goldset", "name~scene_3*")
    answers = [LabelRecord(i, [choice("minor"), box(2, 2, 10, 10)]) for i in gold_ids]
    ws.set_labels("goldset", answers)
    ws.commit("goldset", "gold labels")
    return gold_ids


def build_world(
    ws: Workspace,
    root: Path,
    *,
    public: int = 6,
    cui: int = 2,
    secret: int = 1,
    workflow: Workflow | None = None,
    gold_items: int = 0,
    users: bool = True,
) -> World:
    """Ingest items, make dataset `flood`, users, and project `survey` over the dataset."""
    w = World(ws, "survey")
    w.items["public"] = ingest(ws, root / "public", public, 0, "UNCLASSIFIED")
    w.items["cui"] = ingest(ws, root / "cui", cui, 1000, "CUI/FLOOD")
    ws.create_dataset("flood")
    ws.add_items("flood")
    w.items["secret"] = ingest(ws, root / "secret", secret, 2000, "SECRET/SAR")
    if secret:
        ws.create_dataset(HIDDEN["dataset"])
        ws.add_items(HIDDEN["dataset"])
    wf = workflow or Workflow()
    if gold_items:
        w.items["gold"] = gold_set(ws, root, gold_items)
        wf = wf.model_copy(update={"gold": "goldset"})
    if users:
        for name, (role, clearance) in USERS.items():
            w.users[name] = add_user(ws, name, role, clearance, PASSWORD)
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    create_project(ws, "survey", schema, "flood", wf, instructions="Box every building.")
    if secret:
        text = SCHEMA_YAML.replace("Flood damage survey", HIDDEN["title"])
        hidden = LabelSchema.from_yaml_text(text, "sweep.yaml")
        create_project(
            ws, HIDDEN["name"], hidden, HIDDEN["dataset"], wf, instructions=HIDDEN["instructions"]
        )
    return w


class LiveServer:
    """A real uvicorn server on a free port in a background thread (for browser tests).

    Example:
        with LiveServer(create_app(Settings(), ws)) as url:
            page.goto(url + "/login")
    """

    def __init__(self, app: object) -> None:
        import socket

        import uvicorn

        # The server gets the socket bound here: a port picked here and bound later by the
        # server could be taken meanwhile by another test's server or an outgoing connection.
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> str:
        import threading
        import time

        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self.thread.start()
        # generous: a loaded 2-core machine can take seconds to start the app
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


SRC = Path(__file__).resolve().parents[1] / "src"


class ServerProcess(subprocess.Popen[bytes]):
    """A running `assay` server process and where it listens."""

    port: int
    url: str


def start_server(root: Path, *extra: str) -> ServerProcess:
    """A real `assay serve` process on a free port for the workspace at `root`, returned once
    it listens (`.port`, `.url`); `extra` are more `assay serve` options (e.g. "--workers",
    "2")."""
    return start_assay_server(root, "serve", *extra)


def start_assay_server(root: Path, command: str, *args: str) -> ServerProcess:
    """`assay -w ROOT COMMAND ARGS --port PORT` on a free port, returned once the process
    itself listens there (uvicorn listens once the app has started); one that exits is
    reported at once, with its stderr. A port taken meanwhile by another process is never
    mistaken for the server's: the server is started again on another."""

    def launch(ports: list[int]) -> ServerProcess:
        return ServerProcess(
            [sys.executable, "-m", "assay", "-w", str(root), command, *args,
             "--port", str(ports[0])],
            env={**os.environ, "PYTHONPATH": str(SRC)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip

    def said(proc: ServerProcess) -> str:
        return proc.stderr.read().decode(errors="replace") if proc.stderr else ""

    # generous: a loaded machine starts a PostgreSQL-backed server with two workers slowly
    proc, [port] = start_on_free_port(launch, f"assay {command}", said, timeout=120)
    proc.port, proc.url = port, f"http://127.0.0.1:{port}"
    return proc


def assert_each_stored_once(ws: Workspace, acked: dict[str, str]) -> None:
    """Every acknowledged submission (client id -> annotation id) is stored, once, as that
    annotation; nothing else was stored; the audit trail verifies."""
    from sqlalchemy import func, select

    from assay.store.schema import annotations_table, submissions

    with ws.db.read() as conn:
        stored = dict(
            conn.execute(
                select(annotations_table.c.source_id, annotations_table.c.id).where(
                    annotations_table.c.kind == "human"
                )
            ).all()
        )
        per_client = conn.execute(
            select(submissions.c.client_id, func.count()).group_by(submissions.c.client_id)
        ).all()
    for cid, ann in acked.items():
        assert stored[f"client:{cid}"] == ann
    assert len(stored) == len(acked)
    assert all(n == 1 for _, n in per_client)
    chain = ws.audit_verify()
    assert chain.ok, chain.reason
