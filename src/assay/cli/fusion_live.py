"""`assay fuse NAME --from SOURCE... --follow` (see `assay.fusion.live`)."""

from __future__ import annotations

import asyncio
import signal

from assay.cli._common import Env


def run_follow(
    env: Env,
    name: str,
    sources: tuple[str, ...],
    since: str | None,
    scan_s: float,
    gate_m: float,
    poll_s: float,
    every_s: float,
    exit_idle_s: float | None,
    as_json: bool,
    marking: str | None = None,
) -> None:
    from assay.domain.entity import Picture
    from assay.errors import AssayError
    from assay.fusion.live import LiveStats, check_follow, follow
    from assay.fusion.tracker import Params

    ws = env.workspace()
    check_follow(ws, sources, since=since, marking=marking)  # refused before "following ..."
    params = Params(scan_s=scan_s, gate_m=gate_m)
    versions: list[dict[str, object]] = []

    def report(pic: Picture, stats: LiveStats) -> None:
        versions.append({"version": f"{pic.name}@{pic.seq}", "id": pic.id, **stats.as_dict()})
        if not as_json:
            env.say(
                f"{pic.name}@{pic.seq}: {pic.stats.get('entities', 0)} entities from "
                f"{stats.observations} observations in {stats.scans} scans"
                + (f", {stats.late} late" if stats.late else "")
                + (f", {stats.cot_events} CoT events" if stats.cot_events else "")
            )

    async def run() -> LiveStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await follow(
                ws,
                name,
                sources,
                params=params,
                since=since,
                poll_s=poll_s,
                min_interval_s=every_s,
                exit_idle_s=exit_idle_s,
                stop=stop,
                on_version=report,
                on_warning=lambda text: env.err.print(f"warning: {text}", markup=False),
                settle_gc=True,
                marking=marking,
            )
        except OSError as exc:
            raise AssayError(f"cannot listen: {exc}") from exc

    if not as_json:
        env.say(f"following {len(sources)} source(s) into picture {name} (Ctrl-C stops)")
    stats = asyncio.run(run())
    if as_json:
        env.emit_json({"picture": name, "versions": versions, "stats": stats.as_dict()})
    else:
        env.say(f"stopped: {stats.versions} version(s) of {name} written")
