"""`assay feed NAME`: publish a picture's entities as they change, to TAK (CoT over TCP or
UDP) and NATS JetStream, each destination at its own clearance."""

from __future__ import annotations

import asyncio
import gc
import signal

import click

from assay.cli._common import Env, json_option, pass_env


@click.command("feed")
@click.argument("name")
@click.option(
    "--to",
    "destinations",
    multiple=True,
    required=True,
    metavar="URL?clearance=LEVEL",
    help="tcp://HOST:PORT (TAK server), udp://HOST:PORT or nats://HOST:PORT/SUBJECT, each "
    "with ?clearance=LEVEL[/COMPARTMENT...]; repeat for more.",
)
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Seconds between looks at the picture's head.",
)
@click.option(
    "--stale",
    "stale_s",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds a CoT event stays valid.",
)
@click.option("--once", is_flag=True, help="Publish the current version and exit.")
@json_option
@pass_env
def feed(
    env: Env,
    name: str,
    destinations: tuple[str, ...],
    interval: float,
    stale_s: float,
    once: bool,
    as_json: bool,
) -> None:
    """Publish picture NAME's entity updates as they change (Ctrl-C stops).

    Every destination gets only the entities its clearance allows, and a removal when one
    rises above it. CoT destinations get a full refresh on every (re)connection; NATS
    subjects resume where the stream stands.
    """
    from assay.errors import AssayError
    from assay.feeds.follow import follow, parse_destination, start_feed
    from assay.feeds.publish import PublishStats
    from assay.fusion import pictures

    ws = env.workspace()
    pictures.head(ws, name)  # an unknown picture is named before any destination's faults
    parsed = [parse_destination(d) for d in destinations]
    published: list[dict[str, object]] = []

    def report(version: str, stats: PublishStats) -> None:
        row = {"version": version, **stats.__dict__}
        published.append(row)
        if not as_json:
            env.say(
                f"{version}: sent {stats.sent}, removed {stats.removed}, "
                f"unchanged {stats.unchanged}, withheld by clearance {stats.withheld}"
            )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            fd = await start_feed(ws, name, parsed, stale_s=stale_s)
        except OSError as exc:
            raise AssayError(str(exc)) from exc
        if not once:
            if not as_json:  # stdout is the JSON document's alone
                env.say(f"feeding {name} to {len(parsed)} destination(s) (Ctrl-C stops)")
            # What is loaded by now lives as long as the feed: out of the collector's full
            # passes, which would otherwise walk it all in the middle of a version now and then.
            gc.freeze()
        try:
            await follow(ws, name, fd, interval=interval, once=once, stop=stop, on_publish=report)
        finally:
            await fd.close()

    asyncio.run(run())
    if as_json:
        env.emit_json({"picture": name, "published": published})


COMMANDS = [feed]
