"""`make demo`: build a demo workspace from generated flood-response data, end to end.

Runs the real `assay` CLI for every step and prints each command before it runs, so the
output doubles as a walk-through.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from samples import write_flood_town

from assay.ingest.sensors.synth import write_flight, write_scene

SCHEMA = """title: Flood damage survey
controls:
  - name: label
    type: boxes
    labels: [building, vehicle, person]
  - name: damage
    type: choices
    labels: [none, minor, destroyed]
"""

TRAFFIC = """title: Traffic on flooded roads
controls:
  - name: label
    type: boxes
    labels: [vehicle, boat, person]
"""


def run(*args: str, cwd: Path) -> str:
    """Run one `assay` command as typed in a shell (in this interpreter: one start-up for
    the whole walk-through), echo its output, and stop the demo if it fails."""
    from assay.cli import main as assay

    print(f"\n$ assay {shlex.join(args)}", flush=True)
    out = io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            try:
                assay(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(here)
    sys.stdout.write(out.getvalue())
    if code != 0:
        raise SystemExit(f"demo step failed with exit code {code}")
    return out.getvalue().strip()


def prelabel_demo(ws: Path) -> None:
    """Pre-label a project with a registered model, answer a few tasks, show the figure."""
    model = Path(__file__).resolve().parent / "flood-damage.onnx"
    run("model", "add", "flood-damage", "--file", str(model), "--trained-on", "flood-town@survey-1",
        cwd=ws)  # fmt: skip
    run("project", "create", "triage", "--schema", "schema.yaml", "--dataset", "flood-town",
        cwd=ws)  # fmt: skip
    run("prelabel", "triage", "--model", "flood-damage@1", cwd=ws)
    print("\n(an annotator answers six tasks: accepts, corrects or clears the model's answer)")
    answer_some_tasks(ws)
    run("project", "status", "triage", cwd=ws)


def answer_some_tasks(ws: Path) -> None:
    """What annotators do in the browser, through the same labeling service."""
    import uuid

    from assay.domain.labels import Region
    from assay.labeling import add_user, next_task, submit
    from assay.workspace import Workspace

    workspace = Workspace.open(ws)
    try:
        user = add_user(workspace, "demo-annotator", "annotator", "CUI", "demo-password-1")
        for i in range(6):
            lease = next_task(workspace, user, "triage")
            if lease is None:
                break
            shown = [
                Region.model_validate({k: v for k, v in r.items() if k not in ("author", "score")})
                for r in lease.prelabels
            ]
            if i % 3 == 1:  # corrected
                shown = [r.model_copy(update={"label": "minor"}) for r in shown]
            elif i % 3 == 2:  # cleared
                shown = []
            submit(workspace, user, lease.task_id, str(uuid.uuid4()), shown)
    finally:
        workspace.close()


def fusion_demo(ws: Path, data: Path) -> None:
    """A simulated scenario end to end: two drones' video with KLV and their detections,
    ingested, fused into a picture (scored against the truth), a situation report, and a short
    feed to a local CoT router (taky) and NATS JetStream when they are on this machine."""
    sim = data / "flood-sim"
    run("simulate", "scenario", str(sim), "--seed", "7", cwd=ws)
    run("ingest", "--every", "0.5", str(sim / "flight-a.ts"), "--source", "drone-a", cwd=ws)
    run("ingest", "--every", "0.5", "--marking", "CUI/FLOOD", str(sim / "flight-b.ts"),
        "--source", "drone-b", cwd=ws)  # fmt: skip
    run("fuse", "flood-sim", "--from", f"predictions:{sim}/detections.jsonl",
        "--from", f"reports:{sim}/reports.jsonl", "--truth", str(sim / "truth.csv"),
        cwd=ws)  # fmt: skip
    run("sitrep", "flood-sim", "--format", "md", "--out", "flood-sim-sitrep.md", cwd=ws)
    print(f"(the situation report is in {ws / 'flood-sim-sitrep.md'})")
    feed_demo(ws)


def feed_demo(ws: Path) -> None:
    """`assay feed --once` to taky and nats-server, each started for the run and stopped."""
    import shutil
    import subprocess

    from peers import start_nats, start_taky

    taky_exe = Path(sys.executable).with_name("taky")
    nats_exe = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    procs: list[subprocess.Popen[bytes]] = []
    dests = []
    try:
        if taky_exe.exists():
            taky, port = start_taky(taky_exe, ws.parent / "taky")
            procs.append(taky)
            dests += ["--to", f"tcp://127.0.0.1:{port}?clearance=CUI/FLOOD"]
            print(f"\n(started taky, a CoT router / TAK server, on 127.0.0.1:{port})")
        else:
            print("\n(taky is not installed in this environment: no CoT router for the feed)")
        if nats_exe:
            nats, port = start_nats(nats_exe, ws.parent / "nats")
            procs.append(nats)
            dests += ["--to", f"nats://127.0.0.1:{port}/assay.flood-sim?clearance=CUI/FLOOD"]
            print(f"(started nats-server with JetStream on 127.0.0.1:{port})")
        else:
            print(
                "(nats-server is not on this machine: the feed goes without NATS; install "
                "Debian's nats-server, or run `make natsserver`, to see it)"
            )
        if dests:
            run("feed", "flood-sim", "--once", *dests, cwd=ws)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        if procs:
            print("(stopped the CoT router and NATS again)")


def main(target: str = "demo") -> None:
    root = Path(target).resolve()
    ws = root / "workspace"
    if root.exists() and any(root.iterdir()):
        # Never delete what a user may have made since (exports, users, labels, projects).
        print(
            f"{root} already exists: the demo was built before and may hold your own work "
            "since (exports, users, labels, projects), so it is left exactly as it is.\n"
            f"To start over from scratch, delete it yourself: rm -rf {shlex.quote(str(root))} "
            "&& make demo"
        )
        print(next_steps(ws))
        return
    data = root / "data"
    print(f"generating flood-response sample data in {data} ...")
    write_flood_town(data)
    ws.mkdir(parents=True)
    run("init", ".", cwd=ws)
    run("ingest", str(data / "reports"), "--source", "field-teams", "--marking", "CUI", cwd=ws)
    run("ingest", str(data / "reports"), "--source", "field-teams", cwd=ws)
    run("dataset", "create", "field-reports", cwd=ws)
    run("dataset", "add", "field-reports", "--items", "media_type=text/plain", cwd=ws)
    run("commit", "field-reports", "-m", "reports from the first 24 hours", cwd=ws)
    run("show", "field-reports@HEAD", cwd=ws)
    # A drone flight over the town: MPEG-TS video with a MISB ST 0601 KLV telemetry stream.
    flight = data / "drone" / "flight-07.ts"
    flight.parent.mkdir(parents=True, exist_ok=True)
    write_flight(flight, seconds=20, width=640, height=360)
    run("ingest", str(flight), "--source", "survey-quad-2", "--every", "2", cwd=ws)
    # An aerial scene of the town (GeoTIFF), stored as a COG and cut into 512 px chips.
    scene = data / "scenes" / "town-ortho.tif"
    scene.parent.mkdir(parents=True, exist_ok=True)
    write_scene(scene)
    run("ingest", str(scene), "--source", "ortho-mosaic", cwd=ws)
    # The flight's frames as a dataset: a video labeling project tracks vehicles over them.
    run("dataset", "create", "flight-07", cwd=ws)
    run("dataset", "add", "flight-07", "--items", "media_type=image/jpeg", cwd=ws)
    run(
        "import", str(data / "labels_v1.json"), "--format", "labelstudio",
        "--dataset", "flood-town", "--images", str(data), cwd=ws,
    )  # fmt: skip
    run("status", "flood-town", cwd=ws)
    first = run("commit", "flood-town", "-m", "first survey pass", cwd=ws)
    run("tag", "flood-town", first[:12], "survey-1", cwd=ws)
    run(
        "import", str(data / "labels_v2.json"), "--format", "labelstudio",
        "--dataset", "flood-town", "--images", str(data), cwd=ws,
    )  # fmt: skip
    run("status", "flood-town", cwd=ws)
    run("commit", "flood-town", "-m", "review fixes: relabels, tighter boxes", cwd=ws)
    run("log", "flood-town", cwd=ws)
    run("diff", "flood-town", "survey-1", "HEAD", cwd=ws)
    run("export", "flood-town@HEAD", "--format", "coco", "--out", str(root / "export-coco"), cwd=ws)
    (ws / "schema.yaml").write_text(SCHEMA)
    (ws / "traffic.yaml").write_text(TRAFFIC)
    prelabel_demo(ws)
    fusion_demo(ws, data)
    run("audit", "verify", cwd=ws)
    print(f"\nDemo workspace ready in {ws}")
    print(next_steps(ws))


def next_steps(ws: Path) -> str:
    """What to try next: lines that can be pasted in this order into a fresh shell."""
    activate = Path(sys.prefix) / "bin" / "activate"
    q = shlex.quote
    return f"""Next, try (paste these lines in order):
  source {q(str(activate))}
  cd {q(str(ws))}
  assay show flood-town@survey-1
  assay diff flood-town HEAD~1 HEAD --json
  assay export flood-town --format yolo --out ../export-yolo --val-share 0.2
  assay checkout flood-town@survey-1 --format labelstudio --out ../survey-1
  assay audit log
Label it in the browser (schema.yaml and traffic.yaml are there); the first line adds a user once,
cleared for CUI/FLOOD, the marking of the second drone's frames and of the picture fused from them:
  ASSAY_PASSWORD=change-me assay user add ana --role admin --clearance CUI/FLOOD
  assay project create survey --schema schema.yaml --dataset flood-town --overlap 2 --from-labels
  assay project create traffic --schema traffic.yaml --dataset flight-07
  assay serve        # then open http://127.0.0.1:8000/login as ana (password change-me)
/label/survey labels the scenes, /video/traffic tracks vehicles on the drone flight with its
telemetry, /map shows footprints, the flight, labels and the scene.
The fused picture of the simulated scenario is on the map at
http://127.0.0.1:8000/map?picture=flood-sim (entities, tracks, uncertainty ellipses)."""


if __name__ == "__main__":
    main(*sys.argv[1:])
