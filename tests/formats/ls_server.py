"""A real Label Studio 1.23.2 server on loopback, for interoperability tests.

`make test` installs Label Studio into its own virtual environment (``.venv-ls``) and runs its
database migrations once into ``.venv-ls/template`` (see the Makefile). A test session copies
that data folder, starts ``label-studio start`` on a free loopback port with SQLite, creates the
user and API token, and serves the export folder a test names as local files. Telemetry, Sentry,
the version check and any other outbound request are switched off (analytics and Sentry by their
settings, the rest by an unroutable proxy for everything but loopback).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx

from ports import start_on_free_port

ROOT = Path(__file__).resolve().parents[2]
LS_VENV = ROOT / ".venv-ls"
LS_BIN = LS_VENV / "bin" / "label-studio"
TEMPLATE = LS_VENV / "template"
VERSION = "1.23.2"
USER = "assay-test@example.org"
PASSWORD = "assay-test-password"
TOKEN = "a55a7e57" * 5  # Label Studio's legacy tokens are 40 hex characters

OFFLINE_ENV = {
    "COLLECT_ANALYTICS": "false",
    "LATEST_VERSION_CHECK": "false",
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "FEATURE_FLAGS_OFFLINE": "true",
    "DJANGO_DB": "sqlite",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


class LabelStudio:
    """A running server and an API client authenticated as its one user."""

    def __init__(self, base: Path) -> None:
        if not (LS_BIN.is_file() and (TEMPLATE / "label_studio.sqlite3").is_file()):
            raise RuntimeError(
                f"Label Studio {VERSION} is not installed in {LS_VENV}; run `make test` (its "
                "labelstudio step installs it)"
            )
        self.data = base / "data"
        self.docs = base / "docs"  # the local-files document root
        shutil.copytree(TEMPLATE, self.data)
        self.docs.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO", "ASSAY"))}
        env.update(OFFLINE_ENV)
        env["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] = "true"
        env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] = str(self.docs)
        log = base / "server.log"
        auth = {"Authorization": f"Token {TOKEN}"}

        def launch(ports: list[int]) -> subprocess.Popen[bytes]:
            with log.open("wb") as out:
                return subprocess.Popen(
                    [
                        str(LS_BIN),
                        "start",
                        "--no-browser",
                        "--internal-host",
                        "127.0.0.1",
                        "--port",
                        str(ports[0]),
                        "--data-dir",
                        str(self.data),
                        "--username",
                        USER,
                        "--password",
                        PASSWORD,
                        "--user-token",
                        TOKEN,
                        "--enable-legacy-api-token",
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=base,
                )

        def ready(proc: subprocess.Popen[bytes], ports: list[int]) -> bool:
            if "is in use" in log.read_text(errors="replace"):
                # Label Studio moves to the next port when its own is taken: stop it, and
                # start it again on a port of ours
                proc.kill()
                return False
            try:
                url = f"http://127.0.0.1:{ports[0]}/api/projects"
                return httpx.get(url, headers=auth, timeout=30, trust_env=False).status_code == 200
            except httpx.TransportError:
                return False

        def said(proc: subprocess.Popen[bytes]) -> str:
            return log.read_text(errors="replace")

        self.proc, [self.port] = start_on_free_port(
            launch, f"Label Studio {VERSION}", said, timeout=300, ready=ready
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, headers=auth, timeout=120, trust_env=False)

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # --- API ----------------------------------------------------------------------------------

    def _ok(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            raise AssertionError(f"{resp.request.method} {resp.request.url}: {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def version(self) -> str:
        info = self._ok(self.http.get("/api/version"))
        return str(info.get("release") or info.get("label-studio-os-package", {}).get("version"))

    def create_project(self, title: str, label_config: str) -> int:
        """A project; Label Studio validates the config here (unique names and all)."""
        body = {"title": title, "label_config": label_config}
        return int(self._ok(self.http.post("/api/projects", json=body))["id"])

    def validate_config(self, label_config: str) -> httpx.Response:
        return self.http.post("/api/projects/validate", json={"label_config": label_config})

    def import_tasks(self, project: int, tasks: list[dict[str, Any]]) -> Any:
        """Import tasks with annotations and predictions, as a user does with assay's export."""
        return self._ok(
            self.http.post(
                f"/api/projects/{project}/import", json=tasks, params={"commit_to_project": True}
            )
        )

    def tasks(self, project: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            resp = self.http.get(
                "/api/tasks", params={"project": project, "page": page, "page_size": 100}
            )
            if resp.status_code == 404:
                return out
            got = self._ok(resp)["tasks"]
            out += got
            if len(got) < 100:
                return out
            page += 1

    def annotations(self, task: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self._ok(self.http.get(f"/api/tasks/{task}/annotations"))
        return got

    def predictions(self, task: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self._ok(
            self.http.get("/api/predictions", params={"task": task})
        )
        return got

    def export(self, project: int, export_type: str) -> bytes:
        """The project's quick export in `export_type` (JSON, JSON_MIN, COCO, YOLO)."""
        resp = self.http.get(
            f"/api/projects/{project}/export",
            params={"exportType": export_type, "download_all_tasks": "true"},
        )
        if resp.status_code >= 400:
            raise AssertionError(f"export {export_type}: {resp.text[:2000]}")
        return resp.content

    def export_full_json(self, project: int) -> list[dict[str, Any]]:
        """An export snapshot in JSON with predictions written out in full (not as ids)."""
        body = {
            "serialization_options": {
                "predictions": {"only_id": False},
                "annotations__completed_by": {"only_id": True},
                "drafts": {"only_id": True},
            },
        }
        snap = self._ok(self.http.post(f"/api/projects/{project}/exports", json=body))
        sid = snap["id"]
        deadline = time.monotonic() + 120
        while snap.get("status") != "completed":
            if snap.get("status") == "failed" or time.monotonic() > deadline:
                raise AssertionError(f"export snapshot {sid}: {snap}")
            time.sleep(0.3)
            snap = self._ok(self.http.get(f"/api/projects/{project}/exports/{sid}"))
        data = self._ok(
            self.http.get(
                f"/api/projects/{project}/exports/{sid}/download", params={"exportType": "JSON"}
            )
        )
        return list(data)


def unpack(content: bytes, dest: Path) -> Path:
    """An export as files: a zip is extracted, JSON written as ``export.json``."""
    dest.mkdir(parents=True, exist_ok=True)
    if content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            zf.extractall(dest)
    else:
        json.loads(content)  # it is JSON
        (dest / "export.json").write_bytes(content)
    return dest
