"""`assay serve-model NAME[@VERSION]`: a language model behind OpenAI-compatible routes."""

from __future__ import annotations

import time

import click

from assay.cli._common import Env, host_option, json_option, pass_env, port_option


@click.command("serve-model")
@click.argument("spec")
@host_option
@port_option(8001)
@click.option(
    "--max-batch",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most concurrent requests answered in one batch.",
)
@click.option(
    "--marking",
    help="Marking of a model directory given by path (registered models carry their own).",
)
@json_option
@pass_env
def serve_model(
    env: Env,
    spec: str,
    host: str,
    port: int,
    max_batch: int,
    marking: str | None,
    as_json: bool,
) -> None:
    """Serve language model SPEC (NAME[@VERSION] or a model directory) on /v1.

    Clients send an assay API token (`assay token create USER`) as the bearer token; a
    holder below the model's marking is told it does not exist. With --json, one JSON
    document once the model is loaded and the server listens (url, model, marking, pid) and
    nothing more on stdout.
    """
    from assay.errors import require

    require("uvicorn", "server")
    require("fastapi", "server")
    import uvicorn

    from assay.cli._listening import url
    from assay.models._llm import Batcher, LanguageModel
    from assay.models.serving import resolve_target
    from assay.server._port import bind_port, bound_port, serve_on
    from assay.server.openai_api import ServedModel, create_llm_app

    ws = env.workspace()
    target = resolve_target(ws, spec, marking=marking)
    sock = bind_port(host, port)  # held from here: the port reported is this server's
    port = bound_port(sock)
    if not as_json:
        env.say(f"loading {target.id} from {target.path}")
    batcher = Batcher(LanguageModel(target.path, adapter=target.adapter), max_batch=max_batch)
    served = ServedModel(target.id, target.aliases, target.marking, batcher, int(time.time()))
    app = create_llm_app(ws, served)
    mark = ws.scheme.render(target.marking)
    if as_json:
        from assay.cli._listening import announce_when_listening

        doc = {"url": url(host, port, "/v1"), "model": target.id, "marking": mark}
        announce_when_listening(env, sock, doc)
    else:
        env.say(f"serving {target.id} ({mark}) on {url(host, port, '/v1')} (Ctrl-C to stop)")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    try:
        serve_on(sock, config, host)
    finally:
        batcher.close()
