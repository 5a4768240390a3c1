"""Fusion on simulated scenarios against their ground truth: accuracy (fused better than the
plain tracker), provenance and marking of every entity, report mentions, external tracks, and
one clear error for bad input with nothing saved.

One world is simulated and its two drones' videos ingested once (drone b's frames marked
CUI/FLOOD); other seeds reuse those frames (the flights do not depend on the seed, only the
targets, detections and reports do).

Thresholds, with the scoring of `assay.fusion.metrics` (MOT match within 10 m; GOSPA cutoff
20 m, so 10 m a target is "nothing found"): the detector misses 10 % of targets, adds clutter,
and each drone carries a georegistration bias of about 5 m, so a correct picture still shows
3-5 m of error a target; GOSPA <= 6 m a target leaves room for that and the first scans
before a track is confirmed (3 measurements), and fails on one missed or doubled target
throughout (+10 m / 6 targets). IDF1 >= 0.9 and MOTA >= 0.8 allow a few scans of lag at start
but not one swapped identity over half the run. The plain tracker fed both drones' raw
detections doubles most targets (the trial in the issue: 7 tracks for 3 targets), so the fused
picture must beat it on GOSPA and IDF1 and have no more tracks than targets.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assay.errors import InvalidInput, NotFound
from assay.formats.parquet import FILE_MARKING_KEYS
from assay.fusion import pictures
from assay.fusion.fuse import fuse, run_tracker
from assay.fusion.metrics import read_truth, score
from assay.fusion.scenario import Scenario, simulate
from assay.fusion.tracker import Params
from assay.ingest.sensors.options import SensorOptions, VideoOptions
from assay.store.schema import items
from assay.workspace import Workspace

RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, module_database: str | None
) -> Iterator[tuple[Workspace, Path]]:
    root = tmp_path_factory.mktemp("fusion")
    sc = root / "sc"
    simulate(Scenario(seed=7), sc)
    ws = Workspace.init(root / "ws")
    opts = SensorOptions(video=VideoOptions(every=0.5))
    ws.ingest([sc / "flight-a.ts"], sensors=opts)
    ws.ingest([sc / "flight-b.ts"], sensors=opts, marking="CUI/FLOOD")
    yield ws, sc
    ws.close()


def sources(sc: Path) -> list[str]:
    return [f"predictions:{sc}/detections.jsonl", f"reports:{sc}/reports.jsonl"]


@pytest.mark.parametrize(
    "seed,clutter,p_detect", [(7, 0.3, 0.9), (21, 0.6, 0.85)], ids=["seed7", "seed21-harder"]
)
def test_fused_beats_unfused_on_truth(
    world: tuple[Workspace, Path], tmp_path: Path, seed: int, clutter: float, p_detect: float
) -> None:
    ws, sc = world
    if seed != 7:
        sc = tmp_path / "sc"
        simulate(Scenario(seed=seed, clutter=clutter, p_detect=p_detect, media=False), sc)
    result = fuse(ws, f"seed{seed}", sources(sc))
    truth = read_truth(sc / "truth.csv")
    fused = score(result.fuser, truth)
    raw = score(run_tracker(result.observations, replace(Params(), fuse_scans=False)), truth)
    assert fused.targets == 6
    assert fused.gospa_per_target <= 6.0, fused
    assert fused.idf1 >= 0.9 and fused.mota >= 0.8, fused
    assert fused.tracks <= fused.targets, fused
    assert raw.tracks > fused.targets, raw
    assert fused.gospa < raw.gospa and fused.idf1 > raw.idf1, (fused, raw)
    # every report of this world mentions a tracked target: each resolves onto a track
    assert result.stats["mentions_resolved"] == result.stats["mentions"] == 4


@pytest.mark.parametrize("associator", ["gnn", "jpda"])
def test_both_associators_meet_the_thresholds(
    world: tuple[Workspace, Path], associator: str
) -> None:
    """Stone Soup's GNN and JPDA, each on the fused scans of the seed-7 world, pass the same
    accuracy thresholds; the JPDA picture keeps its provenance (bench/fusion.py compares them)."""
    ws, sc = world
    result = fuse(ws, f"assoc-{associator}", sources(sc), params=Params(associator=associator))
    fused = score(result.fuser, read_truth(sc / "truth.csv"))
    assert fused.targets == 6
    assert fused.gospa_per_target <= 6.0, fused
    assert fused.idf1 >= 0.9 and fused.mota >= 0.8, fused
    assert fused.tracks <= fused.targets, fused
    assert result.stats["mentions_resolved"] == 4
    for e in result.entities:
        assert e.provenance.items and e.provenance.models == ("model:flood-detector@1",)
        assert e.detections == len(e.provenance.items)
    with pytest.raises(InvalidInput, match="associator 'mht'"):
        fuse(ws, "assoc-bad", sources(sc), params=Params(associator="mht"))


def item_markings(ws: Workspace) -> dict[str, tuple[str, str]]:
    with ws.db.read() as conn:
        rows = conn.execute(select(items.c.id, items.c.marking, items.c.name)).all()
    return {i: (m, n) for i, m, n in rows}


def test_provenance_and_marking_of_every_entity(world: tuple[Workspace, Path]) -> None:
    ws, sc = world
    result = fuse(ws, "prov", sources(sc))
    known = item_markings(ws)
    reports = {json.loads(line)["id"] for line in (sc / "reports.jsonl").read_text().splitlines()}
    seen_cui = False
    for e in result.entities:
        p = e.provenance
        assert p.items and set(p.items) <= known.keys(), e.id
        assert p.models == ("model:flood-detector@1",)
        assert "predictions:detections.jsonl" in p.sources
        assert all(r.split("#")[0] in reports for r in p.reports)
        # the entity's marking is the highest of the frames it rests on
        expected = ws.scheme.highest_text(known[i][0] for i in p.items)
        assert e.marking == expected, e.id
        drones = {known[i][1].split("#")[0] for i in p.items}
        seen_cui |= "flight-b.ts" in drones
        if "flight-b.ts" in drones:
            assert e.marking == "CUI/FLOOD"
        assert e.detections == len(p.items)  # one detection a frame
        assert 0 < e.confidence <= 1 and e.status in ("new", "confirmed", "lost")
        assert e.cot_type in ("a-u-G-E-V-C", "a-u-G-U-C")
    assert seen_cui
    assert sum(len(e.provenance.reports) for e in result.entities) == 4
    # The picture's marking is the highest of its entities'.
    assert result.picture.marking == "CUI/FLOOD"
    # Detections of drone a alone: nothing rests on b's marked frames.
    only_a = sc.parent / "only_a.jsonl"
    lines = (sc / "detections.jsonl").read_text().splitlines()
    only_a.write_text("\n".join(ln for ln in lines if "flight-a.ts" in ln) + "\n")
    alone = fuse(ws, "only-a", [f"predictions:{only_a}"])
    assert alone.entities and {e.marking for e in alone.entities} == {"UNCLASSIFIED"}
    # Corroboration: a target seen by both drones is more confident than by one.
    both = max(e.confidence for e in result.entities if len(e.sensors) >= 2)
    assert both > max(e.confidence for e in alone.entities)


def test_report_far_from_tracks_is_a_new_entity_and_tracks_file_fuses(
    world: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, _ = world
    report = tmp_path / "reports.jsonl"
    text = "Two people stranded on a roof east of the water tower."
    report.write_text(
        json.dumps(
            {
                "id": "r9",
                "time": "2026-07-25T17:20:05Z",
                "text": text,
                "lon": -95.3600,
                "lat": 29.7650,
                "cep_m": 20,
                "marking": "CUI",
                "spans": [{"start": 4, "end": 10, "label": "person"}],
            }
        )
        + "\n"
    )
    tracks = tmp_path / "tracks.csv"
    with tracks.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "track_id", "lon", "lat", "label", "sigma_m"])
        for k in range(10):
            w.writerow(
                [f"2026-07-25T17:20:{k:02d}Z", "boat-7", -95.3550 + k * 1e-5, 29.7700, "boat", 3]
            )
    result = fuse(ws, "mixed", [f"reports:{report}", f"tracks:{tracks}"], marking="UNCLASSIFIED")
    by_label = {e.label: e for e in result.entities}
    person = by_label["person"]
    assert person.detections == 0 and person.status == "new" and person.marking == "CUI"
    assert person.provenance.reports == ("r9#1",)
    assert round(person.cep_m) == round(0.5887 * 2 * 20 / 1.1774)
    boat = by_label["boat"]
    assert boat.cot_type == "a-u-S-X" and boat.detections == 10
    assert boat.sensors == ("tracks:tracks.csv#boat-7",)
    assert boat.velocity[0] > 0  # drifting east


def test_report_and_track_rows_without_a_marking_take_the_runs_or_are_refused(
    world: tuple[Workspace, Path], tmp_path: Path, cli: RunCli
) -> None:
    """A marking never goes down unseen: a row that states none is not taken in at the lowest
    level; it takes `--marking`, which also raises a row marked lower, and without it the run
    is refused naming the file and line, nothing saved."""
    ws, _ = world
    report = tmp_path / "reports.jsonl"
    text = "A boat adrift by the pumping station."
    rows = [
        {"id": "r1", "time": "2026-07-25T17:20:01Z", "text": text, "lon": -95.36, "lat": 29.765,
         "marking": "CUI", "spans": [{"start": 2, "end": 6, "label": "boat"}]},
        {"id": "r2", "time": "2026-07-25T17:20:02Z", "text": text, "lon": -95.30, "lat": 29.70,
         "spans": [{"start": 2, "end": 6, "label": "boat"}]},
    ]  # fmt: skip
    report.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tracks = tmp_path / "tracks.csv"
    points = [
        f"2026-07-25T17:20:0{k}Z,boat-7,{-95.355 + k * 1e-5},29.77,boat,{'' if k else 'CUI/FLOOD'}"
        for k in range(6)
    ]  # the first point marked, the others not
    tracks.write_text("time,track_id,lon,lat,label,marking\n" + "\n".join(points) + "\n")
    with pytest.raises(InvalidInput, match=r"reports.jsonl, line 2: no marking"):
        fuse(ws, "unmarked", [f"reports:{report}"])
    with pytest.raises(InvalidInput, match=r"tracks.csv, line 3: no marking"):
        fuse(ws, "unmarked", [f"tracks:{tracks}"])
    err = cli("fuse", "unmarked", "--from", f"tracks:{tracks}", cwd=ws.root.parent, code=1)
    assert "tracks.csv, line 3: no marking" in err.stderr and "--marking" in err.stderr
    with pytest.raises(NotFound):
        pictures.log(ws, "unmarked")

    result = fuse(ws, "marked", [f"reports:{report}", f"tracks:{tracks}"], marking="CUI/SAR")
    marks = {e.provenance.reports or e.sensors: e.marking for e in result.entities}
    assert marks == {
        ("r1#1",): "CUI/SAR",  # stated CUI, raised to the run's marking
        ("r2#1",): "CUI/SAR",  # stated none: the run's
        ("tracks:tracks.csv#boat-7",): "CUI/FLOOD/SAR",  # the highest of its points
    }
    doc = cli(
        "fuse", "marked", "--from", f"reports:{report}", "--marking", "SECRET", "--json",
        cwd=ws.root.parent,
    ).json()  # fmt: skip
    assert doc["picture"]["marking"] == "SECRET"
    err = cli("fuse", "marked", "--from", f"reports:{report}", "--marking", "SEKRET",
              cwd=ws.root.parent, code=1)  # fmt: skip
    assert "--marking: unknown marking level 'SEKRET'" in err.stderr


def test_since_and_picture_diff(world: tuple[Workspace, Path]) -> None:
    ws, sc = world
    fuse(ws, "timeline", sources(sc))
    later = fuse(ws, "timeline", sources(sc), since="2026-07-25T17:20:15Z")
    assert later.stats["scans"] == 10
    _, _, changes = pictures.diff_pictures(ws, "timeline@1", "timeline@2")
    # a new id for each track restarted at 17:20:15: the old ones are gone, new ones appeared
    kinds = {c.kind for c in changes}
    assert kinds == {"appeared", "lost"}


def test_bad_input_one_clear_error_nothing_saved(
    world: tuple[Workspace, Path], tmp_path: Path, cli: RunCli
) -> None:
    ws, sc = world
    bad = tmp_path / "bad.jsonl"
    good = (sc / "detections.jsonl").read_text().splitlines()[0]
    bad.write_text(good + "\n{not json\n")
    with pytest.raises(InvalidInput, match=r"bad.jsonl, line 2: not JSON"):
        fuse(ws, "broken", [f"predictions:{bad}"])
    bad.write_text(good.replace("flight-a.ts#t=0.000", "nowhere.ts#t=0.000") + "\n")
    with pytest.raises(InvalidInput, match=r"line 1: no item 'nowhere.ts#t=0.000'"):
        fuse(ws, "broken", [f"predictions:{bad}"])
    bad.write_text(good.replace('"box":[', '"box":[1,') + "\n")
    with pytest.raises(InvalidInput, match=r"line 1: field 'box' must be"):
        fuse(ws, "broken", [f"predictions:{bad}"])
    with pytest.raises(InvalidInput, match="bad source 'radar:x'"):
        fuse(ws, "broken", ["radar:x"])
    with pytest.raises(NotFound):
        pictures.log(ws, "broken")
    root = ws.root.parent
    err = cli("fuse", "broken", "--from", f"predictions:{tmp_path}/none.jsonl", cwd=root, code=1)
    assert "no such file" in err.stderr
    truth = tmp_path / "truth.csv"
    truth.write_text("time,id,label,lon,lat\n2026-07-25T17:20:00Z,a,person,x,1\n")
    err = cli(
        "fuse",
        "broken",
        "--from",
        f"predictions:{sc}/detections.jsonl",
        "--truth",
        truth,
        cwd=root,
        code=1,
    )
    assert "truth.csv, line 2" in err.stderr
    cli("log", "broken", cwd=root, code=1)


def test_simulate_says_the_readmes_next_steps(tmp_path: Path, cli: RunCli) -> None:
    # The hint ingested both flights in one command without a marking: followed, it gave a
    # picture marked UNCLASSIFIED where the README (which marks flight-b CUI/FLOOD) shows
    # CUI/FLOOD. With --no-media the fuse line lost its "next:".
    said = cli("simulate", "scenario", "sim", "--seed", "3", "--seconds", "2", cwd=tmp_path)
    assert said.stdout.splitlines()[1:] == [
        "next: assay ingest --every 0.5 sim/flight-a.ts",
        "      assay ingest --every 0.5 --marking CUI/FLOOD sim/flight-b.ts",
        "      assay fuse NAME --from predictions:sim/detections.jsonl "
        "--from reports:sim/reports.jsonl --truth sim/truth.csv",
    ]
    said = cli("simulate", "scenario", "bare", "--no-media", "--seed", "3", cwd=tmp_path)
    assert said.stdout.splitlines()[1] == (
        "next: assay fuse NAME --from predictions:bare/detections.jsonl "
        "--from reports:bare/reports.jsonl --truth bare/truth.csv"
    )


def test_simulate_refuses_a_folder_of_other_files(tmp_path: Path, cli: RunCli) -> None:
    """`simulate scenario OUT` wrote into any folder, replacing files of the same names and
    leaving the others beside the world's, where exports refuse such a folder."""
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "truth.csv").write_text("my own truth\n")
    res = cli("simulate", "scenario", mine, "--no-media", "--seconds", "2", code=1)
    assert str(mine) in res.stderr and "not a scenario's folder" in res.stderr
    assert [p.name for p in mine.iterdir()] == ["truth.csv"]
    assert (mine / "truth.csv").read_text() == "my own truth\n"
    # An earlier scenario's folder: its files are replaced.
    sim = tmp_path / "sim"
    cli("simulate", "scenario", sim, "--seconds", "2", "--seed", "1")
    cli("simulate", "scenario", sim, "--seconds", "2", "--seed", "2")
    assert json.loads((sim / "scenario.json").read_text())["seed"] == 2
    # ... unless this one leaves some of them (the videos and the scene) beside its own.
    res = cli("simulate", "scenario", sim, "--no-media", "--seconds", "2", code=1)
    assert "3 file(s) this scenario does not write (first: flight-a.ts)" in res.stderr
    assert json.loads((sim / "scenario.json").read_text())["seed"] == 2
    help_text = cli("simulate", "scenario", "--help").stdout
    assert "new or empty folder" in help_text


def test_cli_simulate_and_fuse_with_truth(
    world: tuple[Workspace, Path], tmp_path: Path, cli: RunCli
) -> None:
    ws, _ = world
    out = tmp_path / "sim"
    cli("simulate", "scenario", out, "--no-media", "--seed", "3")
    again = tmp_path / "again"
    cli("simulate", "scenario", again, "--no-media", "--seed", "3")
    assert (out / "detections.jsonl").read_bytes() == (again / "detections.jsonl").read_bytes()
    doc = cli(
        "fuse",
        "cli",
        "--from",
        f"predictions:{out}/detections.jsonl",
        "--truth",
        out / "truth.csv",
        "--json",
        cwd=ws.root.parent,
    ).json()
    acc = doc["accuracy"]
    assert acc["fused"]["idf1"] > acc["unfused"]["idf1"]
    assert doc["picture"]["seq"] == 1 and doc["entities"] == acc["fused"]["tracks"]
    shown = cli("picture", "show", "cli", "--json", cwd=ws.root.parent).json()
    assert len(shown["entities"]) == doc["entities"]


def test_model_source_reads_a_registered_models_prelabels(world: tuple[Workspace, Path]) -> None:
    from assay.domain.schema import LabelSchema
    from assay.labeling import create_project
    from assay.labeling.prelabel import prelabel
    from assay.models import add_model
    from evaluation.runs.runs_world import onnx_detector

    ws, sc = world
    ws.create_dataset("frames-a")
    assert ws.add_items("frames-a", "name~flight-a.ts#t=1?.*") == 20  # 10.0 s .. 19.5 s
    schema = LabelSchema.from_yaml_text(
        "title: Survey\ncontrols:\n  - name: label\n    type: boxes\n"
        "    labels: [vehicle, person]\n",
        "survey.yaml",
    )
    create_project(ws, "frames-a", schema, "frames-a")
    # The same box on every frame (model input 32x32, scaled to the 320x240 frames).
    add_model(
        ws,
        "det",
        onnx_detector(sc.parent / "det.onnx", [(14, 14, 2, 2)], [0.8], [0], ["vehicle", "person"]),
    )
    assert prelabel(ws, "frames-a", "det").regions == 20
    result = fuse(ws, "from-model", ["model:det"])
    (e,) = result.entities
    assert e.label == "vehicle" and e.detections == 20
    assert e.provenance.models == ("model:det@1",) and len(e.provenance.annotations) == 20
    assert e.provenance.sources == ("model:det",) and e.marking == "UNCLASSIFIED"
    # The frame's centre moves east with the drone at 2 m/s, and so does the fixed box.
    assert 1.0 < e.velocity[0] < 3.0 and abs(e.velocity[1]) < 1.0
    with pytest.raises(NotFound, match="made no detections"):
        fuse(ws, "from-model", ["model:other"])
    # People accept the boxes as labels of record and commit: the labels source reads them.
    from sqlalchemy import select

    from assay.domain.labels import Region
    from assay.store.schema import annotations_table as ann_t
    from assay.versioning import LabelRecord

    with ws.db.read() as conn:
        rows = conn.execute(select(ann_t.c.id, ann_t.c.item_id, ann_t.c.payload)).all()
    records = [
        LabelRecord(
            r.item_id,
            [
                Region(kind="box", label="vehicle", box=tuple(b["box"]))
                for b in json.loads(r.payload)
            ],
            annotation_ids=[r.id],
            authors=["user:ana"],
        )
        for r in rows
    ]
    ws.set_labels("frames-a", records)
    commit = ws.commit("frames-a", "reviewed boxes", author="user:ana")
    (h,) = fuse(ws, "from-labels", ["labels:frames-a"]).entities
    assert h.provenance.commits == (commit.id,) and len(h.provenance.annotations) == 20
    assert h.provenance.sources == ("labels:frames-a",) and h.detections == 20
    assert h.confidence > e.confidence  # people's labels are trusted more than the model's
    with pytest.raises(NotFound):
        fuse(ws, "from-labels", ["labels:nothing"])


def _dms(value: float, pos: str, neg: str) -> str:
    hemi = pos if value >= 0 else neg
    value = abs(value)
    deg, rest = int(value), (value - int(value)) * 60
    minutes = int(rest)
    return f"{deg}°{minutes:02d}'{(rest - minutes) * 60:05.2f}\"{hemi}"


def _label_spans(ws: Workspace, monkeypatch: pytest.MonkeyPatch, spans: dict[str, Any]) -> None:
    """A person labels the entity spans of the report items (`spans`: item name -> regions)
    through the labeling services."""
    from assay.domain.schema import LabelSchema
    from assay.labeling import add_user, create_project, next_task
    from assay.labeling import submit as submit_answer

    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
    ws.create_dataset("field-reports", marking="CUI/FLOOD")
    ws.add_items("field-reports", "name~report-*")
    schema = LabelSchema.from_yaml_text(
        "title: Reports\ncontrols:\n  - name: entity\n    type: spans\n"
        "    labels: [vehicle, person]\n",
        "reports.yaml",
    )
    create_project(ws, "reports", schema, "field-reports")
    user = add_user(ws, "ana", "annotator", "CUI/FLOOD", "flood-watch-2026")
    while (lease := next_task(ws, user, "reports")) is not None:
        regions = spans[lease.item["name"]]
        submit_answer(ws, user, lease.task_id, f"c-{lease.task_id}", regions, lead_time=3.0)


def test_report_items_in_the_workspace_resolve_onto_tracks(
    world: tuple[Workspace, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The world's field reports as ingested .txt items, each writing its place in another
    notation (decimal, DMS, MGRS) and its time, their entity spans labelled by a person: every
    mention resolves onto a track as the JSON Lines reports do, the report's marking reaches
    its entity and the provenance names the item and the annotation."""
    import mgrs

    from assay.domain.labels import Region

    ws, sc = world
    folder = tmp_path / "reports"
    folder.mkdir()
    rows = [json.loads(line) for line in (sc / "reports.jsonl").read_text().splitlines()]
    spans: dict[str, list[Region]] = {}
    for k, row in enumerate(rows):
        lat, lon = row["lat"], row["lon"]
        place = [
            f"{lat:.5f}, {lon:.5f}",
            f"{_dms(lat, 'N', 'S')} {_dms(lon, 'E', 'W')}",
            mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=5),
            f"{lat:.6f} N {abs(lon):.6f} {'W' if lon < 0 else 'E'}",
        ][k % 4]
        text = f"{row['time']} {row['text']} Position {place}."
        start = text.index(row["text"]) + row["spans"][0]["start"]
        label = row["spans"][0]["label"]
        name = f"{row['id']}.txt"
        (folder / name).write_text(text)
        spans[name] = [
            Region(kind="span", control="entity", label=label, span=(start, start + len(label)))
        ]
    (folder / "report-9.txt").write_text("Field report: a vehicle near the school, no grid.")
    spans["report-9.txt"] = [Region(kind="span", control="entity", label="vehicle", span=(16, 25))]
    ws.ingest(sorted(folder.glob("report-[1-9].txt"))[:1], marking="CUI/FLOOD")
    ws.ingest(sorted(folder.glob("report-[1-9].txt"))[1:])
    _label_spans(ws, monkeypatch, spans)
    preds = f"predictions:{sc}/detections.jsonl"
    result = fuse(ws, "report-items", [preds, "items:name~report-*"])
    assert result.stats["mentions"] == 4 and result.stats["mentions_resolved"] == 4
    assert result.stats["report_items_unplaced"] == 1  # report-9 has no coordinate
    from_json = fuse(ws, "report-json", sources(sc))
    assert {m.label for m in result.mentions} == {m.label for m in from_json.mentions}
    # Same tracks as the JSON Lines reports resolve onto (the same detections, the same places).
    json_hits = sorted(from_json.resolved.values())
    assert sorted(result.resolved.values()) == json_hits
    known = item_markings(ws)
    first = next(i for i, (_, n) in known.items() if n == "report-1.txt")
    for e in result.entities:
        reports = [r for r in e.provenance.reports if r.split("#")[0] in known]
        for r in reports:
            item = r.split("#")[0]
            assert item in e.provenance.items and e.provenance.sources
            assert "items:name~report-*" in e.provenance.sources
        if any(r.startswith(first) for r in reports):
            assert e.marking == "CUI/FLOOD", e  # the marked report raises its entity
    annotations = {a for e in result.entities for a in e.provenance.annotations}
    assert len(annotations) == 4
    # A query matching no text item is one clear error; nothing is saved.
    before = len(pictures.log(ws, "report-items"))
    with pytest.raises(NotFound, match="no text item matches"):
        fuse(ws, "report-items", [preds, "items:name~nothing-*"])
    assert len(pictures.log(ws, "report-items")) == before


FRAMES = "name~flight-a.ts#t=1?.*"  # drone a's frames from 10.0 s to 19.5 s
# The fixed detector's box (model input 32x32) on the 320x240 frames, and one far from it.
RIGHT, WRONG = (140.0, 105.0, 20.0, 15.0), (20.0, 15.0, 20.0, 15.0)


def test_model_reliability_is_the_newest_eval_runs_precision(
    world: tuple[Workspace, Path], tmp_path: Path
) -> None:
    """Two registered models evaluated on the same labelled frames: one boxes only the target
    (precision 1), the other adds a false box each frame (precision 0.5). Their detections
    fused alone: the same target's confidence is its score times that precision, and the
    eval run is in the provenance."""
    from assay.domain.labels import Region
    from assay.domain.schema import LabelSchema
    from assay.evaluation.runs import RunSettings, run_evaluation
    from assay.labeling import create_project
    from assay.labeling.prelabel import prelabel
    from assay.models import add_model
    from assay.versioning import LabelRecord
    from evaluation.runs.runs_world import onnx_detector

    ws, _ = world
    ws.create_dataset("frames-m")
    assert ws.add_items("frames-m", FRAMES) == 20
    frames = [i for i, (_, n) in item_markings(ws).items() if fnmatch(n, FRAMES[5:])]
    assert len(frames) == 20
    ws.set_labels(
        "frames-m",
        [LabelRecord(i, [Region(kind="box", label="vehicle", box=RIGHT)]) for i in frames],
    )
    ws.commit("frames-m", "the target on every frame")
    schema = LabelSchema.from_yaml_text(
        "title: M\ncontrols:\n  - name: label\n    type: boxes\n    labels: [vehicle, person]\n",
        "m.yaml",
    )
    create_project(ws, "frames-m", schema, "frames-m")
    names = ["vehicle", "person"]
    add_model(ws, "sure", onnx_detector(tmp_path / "a.onnx", [(14, 14, 2, 2)], [0.8], [0], names))
    add_model(
        ws,
        "half",
        onnx_detector(
            tmp_path / "b.onnx", [(14, 14, 2, 2), (2, 2, 2, 2)], [0.8, 0.8], [0, 0], names
        ),
    )
    runs = {}
    for m in ("sure", "half"):
        run = run_evaluation(
            ws,
            "frames-m",
            tmp_path / f"run-{m}",
            model=m,
            settings=RunSettings(n_resamples=20),
            report=False,
        )
        runs[m] = run
        prelabel(ws, "frames-m", m)
    assert runs["sure"].summary["headline"]["precision"] == 1.0
    assert runs["half"].summary["headline"]["precision"] == 0.5
    found = {}
    for m in ("sure", "half"):
        ents = fuse(ws, f"rel-{m}", [f"model:{m}"]).entities
        # the target's entity: the one whose detections are the right box
        found[m] = max(ents, key=lambda e: e.confidence)
        assert found[m].provenance.eval_runs == (runs[m].run_id,)
    assert found["sure"].confidence == pytest.approx(0.8)
    assert found["half"].confidence == pytest.approx(0.4)


def test_human_label_reliability_is_the_annotators_quality_score(
    world: tuple[Workspace, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three people box the same frames through the labeling services: two agree on the
    target every frame, the third boxes it on half the frames and a wrong place on the
    others. The quality module scores them (share of boxes another annotator corroborates:
    1, 1, 0.5), and the labels of record each of them is the author of, fused, carry that
    score into their entity's confidence."""
    from assay.domain.labels import Region
    from assay.domain.schema import LabelSchema
    from assay.fusion.reliability import annotator_scores
    from assay.labeling import Workflow, add_user, create_project, next_task
    from assay.labeling import submit as submit_answer
    from assay.versioning import LabelRecord

    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
    ws, _ = world
    ws.create_dataset("frames-h")
    assert ws.add_items("frames-h", FRAMES) == 20
    schema = LabelSchema.from_yaml_text(
        "title: H\ncontrols:\n  - name: label\n    type: boxes\n    labels: [vehicle, person]\n",
        "h.yaml",
    )
    create_project(ws, "frames-h", schema, "frames-h", Workflow(overlap=3))
    answers: dict[str, dict[str, tuple[float, ...]]] = defaultdict(dict)
    for name in ("careful", "second", "sloppy"):
        user = add_user(ws, name, "annotator", "CUI/FLOOD", "flood-watch-2026")
        k = 0
        while (lease := next_task(ws, user, "frames-h")) is not None:
            box = WRONG if name == "sloppy" and k % 2 else RIGHT
            k += 1
            answers[name][lease.item["id"]] = box
            region = Region(kind="box", control="label", label="vehicle", box=box)
            submit_answer(ws, user, lease.task_id, f"{name}-{k}", [region], lead_time=2.0)
    assert {n: len(a) for n, a in answers.items()} == {"careful": 20, "second": 20, "sloppy": 20}
    scores = annotator_scores(ws, "frames-h")
    assert scores == {"user:careful": 1.0, "user:second": 1.0, "user:sloppy": 0.5}
    conf = {}
    for name in ("careful", "sloppy"):
        ds = f"by-{name}"
        ws.create_dataset(ds)
        ws.add_items(ds, FRAMES)
        ws.set_labels(
            ds,
            [
                LabelRecord(
                    i, [Region(kind="box", label="vehicle", box=b)], authors=[f"user:{name}"]
                )
                for i, b in answers[name].items()
            ],
        )
        ws.commit(ds, f"{name}'s boxes")
        # the annotators' scores are measured on the human answers to the dataset's items
        assert annotator_scores(ws, ds) == scores
        ents = fuse(ws, f"pic-{ds}", [f"labels:{ds}"]).entities
        conf[name] = max(e.confidence for e in ents)
    assert conf == {"careful": 1.0, "sloppy": 0.5}


def test_follow_fuses_predictions_on_frames_as_the_file_grows(
    world: tuple[Workspace, Path], tmp_path: Path
) -> None:
    """`fuse --follow` on the drones' frames: half the detections, then the rest appended;
    the live picture ends with the entities (and provenance) of one `assay fuse` of it all."""
    import asyncio

    from assay.fusion.live import follow

    ws, sc = world
    # In the order the frames were taken (the file lists drone a's, then drone b's).
    dets = sorted(
        (sc / "detections.jsonl").read_text().splitlines(),
        key=lambda line: float(json.loads(line)["item"].rpartition("#t=")[2]),
    )
    half = len(dets) // 2
    growing = tmp_path / "dets.jsonl"
    growing.write_text("\n".join(dets[:half]) + "\n")

    async def run() -> Any:
        async def append() -> None:
            await asyncio.sleep(0.2)
            with growing.open("a") as f:
                f.write("\n".join(dets[half:]) + "\n")

        later = asyncio.create_task(append())
        stats = await follow(
            ws, "live-frames", [f"predictions:{growing}"], params=Params(), exit_idle_s=2
        )
        await later
        return stats

    stats = asyncio.run(run())
    assert stats.observations + stats.late == len(dets) and stats.versions >= 2
    live = pictures.entities(ws, pictures.load(ws, "live-frames"))
    batch = fuse(ws, "batch-frames", [f"predictions:{sc}/detections.jsonl"]).entities
    if stats.late == 0:  # a loaded machine can stall the writer past a scan: then it differs
        assert sorted(e.label for e in live) == sorted(e.label for e in batch)
    assert all(e.provenance.items for e in live if e.detections)


def test_a_tracks_parquet_files_own_marking_raises_its_rows(
    world: tuple[Workspace, Path], tmp_path: Path
) -> None:
    # The file's schema metadata (assay.marking, as assay's Parquet export writes it) was not
    # read: only --marking applied, so a CUI file's unmarked rows were refused or went in lower.
    import pyarrow as pa
    import pyarrow.parquet as pq

    ws, _ = world
    stated = {"boat-1": None, "boat-2": "UNCLASSIFIED", "boat-3": "SECRET"}
    rows = [
        {"time": f"2026-07-25T17:20:0{k}Z", "track_id": track, "lon": -95.355 + k * 1e-5,
         "lat": 29.70 + 0.03 * n, "label": "boat", "marking": mark}
        for n, (track, mark) in enumerate(stated.items())
        for k in range(6)
    ]  # fmt: skip

    def tracks(name: str, meta: dict[str, str]) -> str:
        path = tmp_path / name
        pq.write_table(pa.Table.from_pylist(rows).replace_schema_metadata(meta), path)
        return f"tracks:{path}"

    def marks(source: str, marking: str | None) -> dict[str, str]:
        result = fuse(ws, "boats", [source], marking=marking)
        return {e.sensors[0].rsplit("#", 1)[1]: e.marking for e in result.entities}

    cui = tracks("cui.parquet", {"assay.marking": "CUI"})
    want = {"boat-1": "CUI", "boat-2": "CUI", "boat-3": "SECRET"}  # never lowered
    assert marks(cui, None) == want
    assert marks(cui, "UNCLASSIFIED") == want  # the higher of the file's and --marking
    sar = marks(cui, "CUI/SAR")
    assert sar == {"boat-1": "CUI/SAR", "boat-2": "CUI/SAR", "boat-3": "SECRET/SAR"}
    # the geojson export's telemetry.parquet states it under `marking`
    flood = tracks("flood.parquet", {"marking": "CUI/FLOOD"})
    got = marks(flood, None)
    assert got == {"boat-1": "CUI/FLOOD", "boat-2": "CUI/FLOOD", "boat-3": "SECRET/FLOOD"}
    bad = tracks("bad.parquet", {"assay.marking": "SEKRET"})
    with pytest.raises(InvalidInput, match=r"bad.parquet: schema metadata 'assay.marking'"):
        fuse(ws, "bad", [bad])


def _boat_tracks(path: Path, meta: dict[str, str]) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"time": f"2026-07-25T17:20:0{k}Z", "track_id": "boat-1", "lon": -95.355 + k * 1e-5,
         "lat": 29.70, "label": "boat", "marking": None}
        for k in range(6)
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows).replace_schema_metadata(meta), path)
    return f"tracks:{path}"


@pytest.mark.parametrize("key", [k.decode() for k in FILE_MARKING_KEYS])
def test_a_tracks_parquet_marking_under_each_key_the_import_reads_is_read(
    world: tuple[Workspace, Path], tmp_path: Path, key: str
) -> None:
    ws, _ = world
    source = _boat_tracks(tmp_path / "t.parquet", {key: "CUI/FLOOD"})
    result = fuse(ws, f"keyed-{key}", [source])
    assert {e.marking for e in result.entities} == {"CUI/FLOOD"}


def test_fusion_reads_the_parquet_imports_marking_keys_not_a_copy(
    world: tuple[Workspace, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fusion kept its own copy of the keys: one added to `assay.formats.parquet` (here, as a
    # later version might add one) was read by the import but not by fusion.
    from assay.formats import parquet

    monkeypatch.setattr(parquet, "FILE_MARKING_KEYS", (*FILE_MARKING_KEYS, b"assay.banner"))
    ws, _ = world
    source = _boat_tracks(tmp_path / "t.parquet", {"assay.banner": "CUI/SAR"})
    assert {e.marking for e in fuse(ws, "drift", [source]).entities} == {"CUI/SAR"}
