"""`assay serve`: the labeling server (REST API under /api/v1 and the web UI)."""

from __future__ import annotations

import os

import click

from assay.cli._common import Env, host_option, json_option, pass_env, port_option


@click.command("serve")
@host_option
@port_option(8000)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (more than one needs PostgreSQL: ASSAY_DATABASE_URL).",
)
@click.option("--secure-cookies", is_flag=True, help="Mark session cookies Secure (HTTPS).")
@json_option
@pass_env
def serve(
    env: Env, host: str, port: int, workers: int, secure_cookies: bool, as_json: bool
) -> None:
    """Serve the labeling API and web UI from this workspace.

    With --json, one JSON document once the server listens (url, workspace, workers, pid)
    and nothing more on stdout."""
    from assay.errors import InvalidInput, require

    require("uvicorn", "server")
    require("fastapi", "server")
    import uvicorn

    from assay.cli._listening import url
    from assay.server._port import bind_port, bound_port, serve_on

    ws = env.workspace()  # fail here, with a clear message, if there is no workspace
    if workers > 1 and ws.db.is_sqlite:
        raise InvalidInput(
            f"--workers {workers}: a SQLite workspace is served by one process (SQLite has one "
            "writer); set ASSAY_DATABASE_URL to a PostgreSQL database to serve with several"
        )
    # Bound here and handed to uvicorn: one clear error and exit 1 before saying "serving",
    # and the port reported (the system's choice for --port 0) is the one this server holds.
    sock = bind_port(host, port)
    port = bound_port(sock)
    os.environ["ASSAY_WORKSPACE"] = str(ws.root)
    if secure_cookies:
        os.environ["ASSAY_SECURE_COOKIES"] = "1"
    if as_json:
        from assay.cli._listening import announce_when_listening

        doc = {"url": url(host, port), "workspace": str(ws.root.parent), "workers": workers}
        announce_when_listening(env, sock, doc)
    else:
        env.say(f"serving {ws.root.parent} on {url(host, port)} (Ctrl-C to stop)")
    config = uvicorn.Config(
        "assay.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    serve_on(sock, config, host)


COMMANDS = [serve]
