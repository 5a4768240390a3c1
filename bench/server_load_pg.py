"""Labeling server load on PostgreSQL: 64 API clients over 2 server processes, side by side
with the same load on the SQLite single process and with Label Studio as its users deploy it.

Usage:
    PYTHONPATH=src .venv/bin/python bench/server_load_pg.py [--tasks 20000] [--clients 64]
        [--seconds 10] [--runs 3] [--label-studio .venv-ls] [--ls-processes 4]

Every client is an annotator with their own API token, looping `next` then `submit` on its own
keep-alive connection (the client of bench/labeling_load.py).

- assay, PostgreSQL, 2 processes: `uvicorn --factory assay.server.app:app_from_env --workers 2`
  (what `assay serve --workers 2` runs) with `ASSAY_DATABASE_URL` naming a fresh schema in the
  loopback server's database `test` (default settings, synchronous commit on).
- assay, SQLite, 1 process: the same server on the workspace's embedded SQLite.
- Label Studio 1.23.2 as its production image runs it: PostgreSQL (`DJANGO_DB=default`, a fresh
  database `ls_bench`), migrated with `manage.py migrate`, served by uWSGI (the `pyuwsgi` of
  Label Studio's `uwsgi` extra) with the settings of its `deploy/uwsgi.ini`: master,
  `processes` = 2 x cores (--ls-processes), 1 thread each, lazy-apps, thunder-lock,
  single-interpreter, post-buffering 4096, request logging off. No nginx in front (it serves
  static files; the API requests go to uWSGI either way). One user and legacy API token per
  client, all members of the project's organization.

Prints one markdown table of medians (submissions/s, submit and next p50/p99).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from labeling_load import (
    HERE,
    ROOT,
    SRC,
    free_port,
    ls_client_factory,
    median_of,
    ours_client,
    run_load,
    setup_ours,
    start_ours,
    stop,
    summarize,
    wait_port,
)
from labeling_load import setup_label_studio as ls_import

WORK = HERE / "_work" / "server_load_pg"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LS_DB = "ls_bench"


def _psql(sql: str, db: str = "test") -> None:
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_ours(
    args: argparse.Namespace, label: str, workers: int, url: str | None
) -> dict[str, float]:
    out = []
    for i in range(args.runs):
        root = WORK / "ws"
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        if url:
            _psql(f"CREATE SCHEMA {schema}")
            os.environ["ASSAY_DATABASE_URL"] = f"{url}?options=-csearch_path%3D{schema}"
        else:
            os.environ.pop("ASSAY_DATABASE_URL", None)
        try:
            tokens = setup_ours(root, args.tasks, args.clients)
            port = free_port()
            proc = start_ours(root, port, workers, SRC)
            try:
                run_load(ours_client, port, tokens, 1.0, None)  # warm-up
                load, elapsed, s_cpu, c_cpu = run_load(
                    ours_client, port, tokens, args.seconds, proc.pid
                )
            finally:
                stop(proc)
        finally:
            if url:
                _psql(f"DROP SCHEMA {schema} CASCADE")
        out.append(summarize(load, elapsed, s_cpu, c_cpu))
        print(f"{label} run {i + 1}: {json.dumps(out[-1])}", file=sys.stderr)
    return median_of(out)


# --- Label Studio ----------------------------------------------------------------------------

LS_ENV = {
    "DJANGO_DB": "default",
    "POSTGRE_NAME": LS_DB,
    "POSTGRE_USER": "postgres",
    "POSTGRE_PASSWORD": "",
    "POSTGRE_HOST": "127.0.0.1",
    "POSTGRE_PORT": "5432",
    "DJANGO_SETTINGS_MODULE": "core.settings.label_studio",
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
    "COLLECT_ANALYTICS": "false",
    "LATEST_VERSION_CHECK": "false",
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    # Nothing leaves the machine: outbound HTTP goes to a closed local port.
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}

# Users, their organization and one legacy token each, made through Label Studio's own models.
LS_USERS = """
import json
from organizations.models import Organization
from rest_framework.authtoken.models import Token
from users.models import User
owner = User.objects.create_user(email="owner@example.org", password="bench-password")
org = Organization.create_organization(created_by=owner, title="flood")
owner.active_organization = org
owner.save()
tokens = [Token.objects.get_or_create(user=owner)[0].key]
for i in range(N_CLIENTS):
    u = User.objects.create_user(email=f"annotator{i:02d}@example.org", password="bench-password")
    org.add_user(u)
    u.active_organization = org
    u.save()
    tokens.append(Token.objects.get_or_create(user=u)[0].key)
print("TOKENS" + json.dumps(tokens))
"""


def _ls_app_dir(venv: Path) -> Path:
    found = list((venv / "lib").glob("python3*/site-packages/label_studio"))
    if not found:
        raise RuntimeError(f"no label_studio package in {venv}")
    return found[0]


def setup_label_studio(venv: Path, clients: int) -> list[str]:
    _psql(f"DROP DATABASE IF EXISTS {LS_DB}")
    _psql(f"CREATE DATABASE {LS_DB}")
    app = _ls_app_dir(venv)
    data = WORK / "ls-data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    env = {**os.environ, **LS_ENV, "LABEL_STUDIO_BASE_DATA_DIR": str(data)}
    env.pop("PYTHONPATH", None)
    py = str(venv / "bin" / "python")
    log = WORK / "ls-setup.log"
    with log.open("wb") as f:
        subprocess.run(
            [py, "manage.py", "migrate", "--no-input"], cwd=app, env=env, stdout=f, stderr=f,
            check=True,
        )  # fmt: skip
    made = subprocess.run(
        [py, "manage.py", "shell", "-c", LS_USERS.replace("N_CLIENTS", str(clients))],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(ln for ln in made.stdout.splitlines() if ln.startswith("TOKENS"))
    return list(json.loads(line[6:]))


def start_label_studio(venv: Path, port: int, processes: int) -> subprocess.Popen[bytes]:
    import httpx

    app = _ls_app_dir(venv)
    env = {**os.environ, **LS_ENV, "LABEL_STUDIO_BASE_DATA_DIR": str(WORK / "ls-data")}
    env.pop("PYTHONPATH", None)
    env["APP_WEBSERVER"] = "uwsgi"
    cmd = [
        str(venv / "bin" / "uwsgi"),
        "--http", f"127.0.0.1:{port}",
        "--chdir", str(app),
        "--module", "core.wsgi:application",
        "--master",
        "--processes", str(processes),
        "--threads", "1",
        "--single-interpreter",
        "--lazy-apps",
        "--enable-threads",
        "--thunder-lock",
        "--buffer-size", "65535",
        "--post-buffering", "4096",
        "--http-timeout", "300",
        "--harakiri", "120",
        "--die-on-term",
        "--need-app",
        "--disable-logging",
        "--http-keepalive",
    ]  # fmt: skip
    log = (WORK / "ls-server.log").open("wb")
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_port(port, timeout=300)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(1)
    return proc


def run_label_studio(args: argparse.Namespace) -> tuple[dict[str, float] | None, str]:
    if not (args.label_studio / "bin" / "uwsgi").exists():
        return None, f"Label Studio not run: no uwsgi in {args.label_studio} (pip install pyuwsgi)"
    tokens = setup_label_studio(args.label_studio, args.clients)
    port = free_port()
    proc = start_label_studio(args.label_studio, port, args.ls_processes)
    runs = []
    try:
        # the same project and tasks as labeling_load.py's Label Studio side
        pid = ls_import(f"http://127.0.0.1:{port}", tokens[0], args.ls_tasks)
        client = ls_client_factory(pid)
        run_load(client, port, tokens[1:], 1.0, None)  # warm-up: every process loads the app
        for i in range(args.runs):
            load, elapsed, s_cpu, c_cpu = run_load(client, port, tokens[1:], args.seconds, proc.pid)
            runs.append(summarize(load, elapsed, s_cpu, c_cpu))
            print(f"label studio run {i + 1}: {json.dumps(runs[-1])}", file=sys.stderr)
    finally:
        stop(proc)
    return median_of(runs), ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--label-studio", type=Path, default=ROOT / ".venv-ls")
    ap.add_argument("--ls-tasks", type=int, default=5_000)
    ap.add_argument("--ls-processes", type=int, default=2 * (os.cpu_count() or 1))
    ap.add_argument("--no-label-studio", action="store_true")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ["ASSAY_ARGON2_MEMORY_KIB"] = "1024"  # setup speed only; logins are not timed
    rows = [
        ("assay, PostgreSQL, 2 processes", run_ours(args, "assay pg x2", 2, PG)),
        ("assay, SQLite, 1 process", run_ours(args, "assay sqlite x1", 1, None)),
    ]
    note = "Label Studio not run"
    if not args.no_label_studio:
        ls, note = run_label_studio(args)
        if ls is not None:
            name = f"Label Studio 1.23.2, PostgreSQL, uWSGI x{args.ls_processes}"
            rows.append((f"{name} ({args.ls_tasks:,} tasks)", ls))
    print(
        f"\n{args.clients} concurrent API clients (one token each), each looping next + submit; "
        f"medians of {args.runs} runs x {args.seconds:.0f} s; assay on {args.tasks:,} tasks\n"
    )
    print(
        "| server | submissions/s | submit p50 ms | submit p99 ms | next p50 ms | next p99 ms "
        "| errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, m in rows:
        print(
            f"| {label} | {m['rate']:.1f} | {m['submit_p50']:.1f} | {m['submit_p99']:.1f} | "
            f"{m['next_p50']:.1f} | {m['next_p99']:.1f} | {m['errors']:.0f} |"
        )
    if len(rows) == 3:
        ls = rows[2][1]
        for label, m in rows[:2]:
            print(
                f"| ratio {label} / LS | {m['rate'] / ls['rate']:.1f}x | "
                f"{ls['submit_p50'] / m['submit_p50']:.1f}x faster | "
                f"{ls['submit_p99'] / m['submit_p99']:.1f}x faster | "
                f"{ls['next_p50'] / m['next_p50']:.1f}x faster | "
                f"{ls['next_p99'] / m['next_p99']:.1f}x faster | |"
            )
    if note:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
