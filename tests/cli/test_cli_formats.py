"""`assay export|checkout|import` end to end through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from assay import Workspace
from assay.domain.labels import Region
from assay.store.schema import datasets, working
from assay.versioning import LabelRecord

EXPORT_FORMATS = ["coco", "yolo", "voc", "labelstudio", "jsonl", "parquet"]
ROUND_TRIP = ["coco", "yolo", "voc", "labelstudio"]


def _box(label: str, x: int, y: int, w: int, h: int) -> Region:
    return Region(
        kind="box", label=label, box=(float(x), float(y), float(w), float(h)), author="user:ana"
    )


@pytest.fixture
def flood(tmp_path: Path, samples, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """`flood`: 3 labelled scenes committed and tagged v1, then one relabel in the working state."""
    monkeypatch.setenv("ASSAY_ACTOR", "user:tester")
    with Workspace.init(tmp_path) as w:
        paths = samples.images("uav", 3)
        ids = [w.ingest([p], marking="CUI/FLOOD").new[0] for p in paths]
        w.create_dataset("flood")
        w.add_items("flood")
        labels = [
            [_box("boat", 2, 3, 10, 8), _box("person", 20, 10, 6, 12)],
            [_box("damaged_roof", 5, 5, 16, 9)],
            [],
        ]
        w.set_labels(
            "flood",
            [
                LabelRecord(i, r, [f"a{k}"], ["user:ana"])
                for k, (i, r) in enumerate(zip(ids, labels, strict=True))
            ],
        )
        v1 = w.commit("flood", "v1").id
        w.tag("flood", "HEAD", "v1")
        w.set_labels(
            "flood", [LabelRecord(ids[2], [_box("boat", 30, 4, 8, 8)], ["a9"], ["user:bo"])]
        )
    return {"v1": v1, "a": ids[0], "b": ids[1], "c": ids[2]}


def _hashes(root: Path, dataset: str) -> dict[str, str]:
    with Workspace.open(root) as w, w.db.read() as conn:
        rows = conn.execute(
            select(working.c.item_id, working.c.label_hash)
            .join(datasets, datasets.c.id == working.c.dataset_id)
            .where(datasets.c.name == dataset)
        )
        return {r.item_id: r.label_hash for r in rows}


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_export_commit_and_working_state(cli, flood, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / f"out-{fmt}"
    res = cli("export", "flood@v1", "--format", fmt, "--out", out, "--json").json()
    assert res["revision"] == flood["v1"] and res["items"] == 3 and res["marking"] == "CUI/FLOOD"
    files = [Path(f) for f in res["files"]]
    assert files and all(f.is_file() for f in files)
    assert "CUI/FLOOD" in (out / "MARKING.txt").read_text()
    media = [f for f in files if f.suffix == ".png"]
    assert len(media) == 3
    work = tmp_path / f"work-{fmt}"
    res_w = cli("export", "flood", "--format", fmt, "--out", work, "--json").json()
    assert res_w["revision"] is None and res_w["items"] == 3
    text = cli("export", "flood", "--format", fmt, "--out", tmp_path / f"text-{fmt}").stdout
    assert "wrote 3 item(s)" in text and "highest marking: CUI/FLOOD" in text


def test_export_labels_follow_the_revision(cli, flood, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("export", "flood@v1", "--format", "coco", "--out", tmp_path / "v1")
    cli("export", "flood", "--format", "coco", "--out", tmp_path / "wk")
    v1 = json.loads((tmp_path / "v1" / "annotations.json").read_text())
    wk = json.loads((tmp_path / "wk" / "annotations.json").read_text())
    assert len(v1["annotations"]) == 3 and len(wk["annotations"]) == 4
    assert sorted(a["bbox"] for a in v1["annotations"]) == [
        [2, 3, 10, 8],
        [5, 5, 16, 9],
        [20, 10, 6, 12],
    ]


def test_checkout_writes_media_and_labels(cli, flood, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "co"
    res = cli("checkout", "flood@v1", "--format", "yolo", "--out", out, "--json").json()
    assert res["revision"] == flood["v1"]
    pngs = sorted(p.name for p in out.rglob("*.png"))
    labels = {
        p.stem: [ln for ln in p.read_text().splitlines() if ln.strip()]
        for p in (out / "labels").rglob("*.txt")
    }
    assert pngs == ["scene_0000.png", "scene_0001.png", "scene_0002.png"]
    assert {k: len(v) for k, v in labels.items() if v} == {"scene_0000": 2, "scene_0001": 1}
    # A bare NAME checks out HEAD, not the working state.
    assert (
        cli("checkout", "flood", "--format", "jsonl", "--out", tmp_path / "head", "--json").json()[
            "revision"
        ]
        == flood["v1"]
    )
    actions = [e["action"] for e in cli("audit", "log", "--json").json()]
    assert actions[-2:] == ["checkout", "checkout"]
    assert (
        "no tag 'v9'"
        in cli("checkout", "flood@v9", "--format", "coco", "--out", tmp_path / "x", code=1).stderr
    )


@pytest.mark.parametrize("fmt", ROUND_TRIP)
def test_import_commit_export_import_keeps_label_hashes(
    cli, flood, tmp_path: Path, fmt: str
) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "first"
    cli("export", "flood@v1", "--format", fmt, "--out", first)
    src = {"coco": first / "annotations.json", "labelstudio": first / "tasks.json"}.get(fmt, first)
    rep = cli("import", src, "--format", fmt, "--dataset", f"rt-{fmt}", "--json").json()
    assert rep["media"] == 3 and rep["new_items"] == 0  # same bytes: same items
    assert rep["regions"] == 3
    cli("commit", f"rt-{fmt}", "-m", "imported")
    second = tmp_path / "second"
    cli("export", f"rt-{fmt}@HEAD", "--format", fmt, "--out", second)
    src2 = {"coco": second / "annotations.json", "labelstudio": second / "tasks.json"}.get(
        fmt, second
    )
    cli("import", src2, "--format", fmt, "--dataset", f"rt2-{fmt}")
    once, twice = _hashes(tmp_path, f"rt-{fmt}"), _hashes(tmp_path, f"rt2-{fmt}")
    assert set(once) == {flood["a"], flood["b"], flood["c"]}
    assert once == twice
    # Against the original: COCO and Label Studio keep whole-pixel boxes exactly; YOLO goes
    # through normalised coordinates and VOC adds its own attributes, so compare geometry.
    with Workspace.open(tmp_path) as w:
        rev = w.resolve(f"rt-{fmt}", default_head=False)
        orig = w.resolve("flood@v1")
        with w.db.read() as conn:
            from assay.versioning import labels_for

            got = labels_for(conn, w.blobs, rev, [flood["a"], flood["b"]])
            want = labels_for(conn, w.blobs, orig, [flood["a"], flood["b"]])
    for item in (flood["a"], flood["b"]):
        g = sorted((r.label, r.box) for r in got[item])
        e = sorted((r.label, r.box) for r in want[item])
        assert [x[0] for x in g] == [x[0] for x in e]
        for (_, gb), (_, eb) in zip(g, e, strict=True):
            assert gb == pytest.approx(eb, abs=1e-3)
    if fmt in ("coco", "labelstudio"):
        original = {k: v for k, v in _hashes(tmp_path, "flood").items() if k != flood["c"]}
        assert {k: once[k] for k in original} == original
    actions = [e["action"] for e in cli("audit", "log", "--json").json()]
    assert actions[-7:] == [
        "export",
        "dataset.create",
        "import",
        "commit",
        "export",
        "dataset.create",
        "import",
    ]


def test_an_import_that_creates_its_dataset_records_the_creation(  # type: ignore[no-untyped-def]
    cli, flood, tmp_path: Path
) -> None:
    # `assay dataset create` leaves `dataset.create` in the trail; an import that creates its
    # dataset left only `import`, so the trail never said where the dataset came from.
    out = tmp_path / "out"
    cli("export", "flood@v1", "--format", "jsonl", "--out", out)
    before = len(cli("audit", "log", "--json").json())
    rep = cli("import", out, "--format", "jsonl", "--dataset", "copy", "--json").json()
    assert rep["created"] is True
    events = cli("audit", "log", "--json").json()[before:]
    assert [(e["action"], e["target"]) for e in events] == [
        ("dataset.create", "dataset:copy"),
        ("import", "dataset:copy"),
    ]
    assert events[0]["details"] == {"via": "import", "marking": "CUI/FLOOD"}  # the file's banner
    assert "dataset.create" in cli("audit", "log", "-n", "2").stdout
    # Into the dataset it now is: no second creation.
    cli("import", out, "--format", "jsonl", "--dataset", "copy")
    assert [e["action"] for e in cli("audit", "log", "-n", "1", "--json").json()] == ["import"]
    # An import refused whole creates no dataset and records nothing.
    (out / "items.jsonl").write_text((out / "items.jsonl").read_text() + "{oops\n")
    count = len(cli("audit", "log", "--json").json())
    cli("import", out, "--format", "jsonl", "--dataset", "never", code=1)
    assert len(cli("audit", "log", "--json").json()) == count
    assert "never" not in [d["name"] for d in cli("dataset", "list", "--json").json()]
    assert cli("audit", "verify", "--json").json()["ok"] is True


def test_yolo_val_share_puts_the_same_items_in_val_in_every_version(  # type: ignore[no-untyped-def]
    run_cli, samples, tmp_path: Path
) -> None:
    # The demo's "Next, try" YOLO export warned that Ultralytics will not train without
    # validation images and told the user to "set media metadata split=val", which no command
    # does. --val-share chooses them, by item id: an item stays in its split as versions grow.
    ws = tmp_path / "ws"
    run_cli("init", ws)
    samples.images("uav", 40)
    run_cli("-w", ws, "ingest", samples.root)
    run_cli("-w", ws, "dataset", "create", "flood")
    run_cli("-w", ws, "dataset", "add", "flood", "--items", "name<scene_0030.png")
    run_cli("-w", ws, "commit", "flood", "-m", "30 scenes")
    plain = run_cli("-w", ws, "export", "flood", "--format", "yolo", "--out", tmp_path / "p")
    assert "--val-share" in plain.stderr  # the warning names the way out
    res = run_cli(
        "-w", ws, "export", "flood@HEAD", "--format", "yolo", "--out", tmp_path / "a",
        "--val-share", "0.25", "--json",
    )  # fmt: skip
    assert res.json()["warnings"] == [] and "split 'val'" not in res.stderr

    def split(out: Path) -> dict[str, set[str]]:
        return {s: {p.name for p in (out / "images" / s).iterdir()} for s in ("train", "val")}

    first = split(tmp_path / "a")
    assert 3 <= len(first["val"]) <= 15 and len(first["val"]) + len(first["train"]) == 30
    run_cli("-w", ws, "dataset", "add", "flood", "--all")
    run_cli(
        "-w", ws, "export", "flood", "--format", "yolo", "--out", tmp_path / "b",
        "--val-share", "0.25",
    )  # fmt: skip
    second = split(tmp_path / "b")
    assert first["val"] <= second["val"] and first["train"] <= second["train"]
    run_cli(
        "-w", ws, "checkout", "flood", "--format", "yolo", "--out", tmp_path / "k",
        "--val-share", "0.25",
    )  # fmt: skip
    assert split(tmp_path / "k") == first  # a checkout of that version splits it alike
    bad = run_cli(
        "-w", ws, "export", "flood", "--format", "coco", "--out", tmp_path / "c",
        "--val-share", "0.25", code=1,
    )  # fmt: skip
    assert bad.stderr == "error: --val-share applies to yolo and yolo-seg exports\n"
    assert not (tmp_path / "c").exists()
