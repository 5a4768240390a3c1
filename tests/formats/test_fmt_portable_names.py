"""Exports write media under names FAT32, exFAT and Windows take (`assay.formats._portable`),
on a real file system, and every format reads its own export back to the same items and labels.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from fmt_helpers import bundle, image_row
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from assay.domain.labels import Region
from assay.formats import ImportBundle, ImportedAnnotation, ImportedMedia, cvat_video, mot
from assay.formats._portable import portable, portable_array, portable_paths
from assay.formats.io import export_bundle, import_bundle
from assay.workspace import Workspace

_FORBIDDEN = re.compile(r'[<>:"\\|?*\x00-\x1f]')
_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in "0123456789¹²³"
}


def _portable(part: str) -> bool:
    return (
        len(part.encode("utf-8", "surrogatepass")) <= 255
        and not _FORBIDDEN.search(part)
        and not part.endswith((".", " "))
        and part.split(".", 1)[0].rstrip(" ").upper() not in _DEVICES
    )


def _check_tree(root: Path) -> list[str]:
    """Every file and folder under `root` portable and no two told apart by case alone; the
    files, relative to `root`."""
    files = []
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        names = [p.name for p in folder.iterdir()]
        assert all(_portable(n) for n in names), names
        assert len({n.casefold() for n in names}) == len(names), names
        files += [p.relative_to(root).as_posix() for p in folder.iterdir() if p.is_file()]
    return sorted(files)


# --- the rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "want"),
    [
        (["rows.jsonl:1", 'a<b>c"d|e?f*g.png', "tab\there.png"],
         ["rows.jsonl_1", "a_b_c_d_e_f_g.png", "tab_here.png"]),
        (["scan.", "scan. .", "dot.png "], ["scan_", "scan___", "dot.png_"]),
        (["CON", "con.png", "Nul.tar.gz", "COM1.jpg", "lpt9", "console.png", "com10.png"],
         ["_CON", "_con.png", "_Nul.tar.gz", "_COM1.jpg", "_lpt9", "console.png", "com10.png"]),
        (["scene.png", "Scene.png", "SCENE.png"],
         ["scene.png", "Scene~01eaa9a0.png", "SCENE~2b0abf2d.png"]),
        # the change makes a name another item already has: the untouched one keeps it
        (["a:b.png", "a_b.png"], ["a_b~1cfd8b71.png", "a_b.png"]),
        # folders of one name in two spellings become one; a file named like a folder moves
        (["Flight/a.png", "flight/b.png", "FLIGHT"],
         ["Flight/a.png", "Flight/b.png", "FLIGHT~1ec41cc6"]),
    ],
)  # fmt: skip
def test_portable_names(names: list[str], want: list[str]) -> None:
    assert portable_paths(names) == want


def test_by_stem_tells_names_apart_without_their_suffix() -> None:
    # VOC writes Annotations/<stem>.xml, YOLO labels/<stem>.txt beside each image
    got = portable_paths(["train/pier.png", "train/Pier.jpg", "val/pier.png"], by_stem=True)
    assert got == ["train/pier.png", "train/Pier~63e60f52.jpg", "val/pier.png"]
    assert portable_paths(["pier.png", "Pier.jpg"]) == ["pier.png", "Pier.jpg"]


def test_names_over_255_bytes_are_cut_keeping_their_suffix_and_told_apart() -> None:
    # ext4 refuses a name over 255 bytes ("File name too long"); exports wrote them as they were
    long = "x" * 300
    names = [f"{long}.png", f"{long}.PNG", f"{long}1.jpg", "é" * 130 + ".tif",
             f"{long}/a.png", f"{long}/b.png", "x" * 251 + ".png", "y" * 253 + ".j"]  # fmt: skip
    got = portable_paths(names)
    assert got == portable_paths(names)  # the same names every time
    sizes = [len(part.encode()) for g in got for part in g.split("/")]
    assert max(sizes) == 255 and len({g.casefold() for g in got}) == len(got)
    assert got[0] == "x" * 242 + "~" + _sha8(f"{long}.png") + ".png"
    assert [PurePosixPath(g).suffix for g in got[:4]] == [".png", ".PNG", ".jpg", ".tif"]
    assert got[3] == "é" * 121 + "~" + _sha8(names[3]) + ".tif"  # cut at a letter, not a byte
    assert got[4].split("/")[0] == got[5].split("/")[0] != long  # one folder, cut
    assert got[6:] == names[6:]  # 255 bytes each: they fit
    # VOC and YOLO write <stem>.xml / <stem>.txt beside: the stem leaves room for it
    beside = portable_paths(names[6:], by_stem=True)
    assert beside[0] == names[6] and beside[1] == "y" * 242 + "~" + _sha8(names[7]) + ".j"
    # a cut name that another name already has is tagged again, still within 255 bytes
    twins = portable_paths([names[0], got[0]])
    assert twins[1] == got[0] and len(twins[0].encode()) == 255 and twins[0] != got[0]
    b = bundle([])
    portable(b, names)
    assert b.renamed.to_dict() == {"media files": 6}


def _sha8(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


names_st = st.lists(
    st.lists(
        st.sampled_from([*"aAbB.: _<?c\x01/é", "con", "CON", "Lpt1", "COM¹", "L" * 100, "ü" * 60]),
        min_size=1,
    )
    .map(lambda parts: "/".join(p or "x" for p in "".join(parts).split("/")))
    .filter(lambda s: ".." not in s.split("/") and "." not in s.split("/")),
    min_size=1,
    max_size=8,
    unique=True,
)


@example(["a.xxxxxxxxxxxxxxxxxxxxxxx", "a.yyyyyyyyyyyyyyyyyyyyyyyyy"], True)  # hung for ever
@settings(max_examples=200, deadline=None)
@given(names_st, st.booleans())
def test_portable_names_are_portable_distinct_and_stable(names: list[str], by_stem: bool) -> None:
    got = portable_paths(names, by_stem=by_stem)
    assert got == portable_paths(names, by_stem=by_stem)
    assert all(_portable(part) for name in got for part in name.split("/"))
    if by_stem:  # room for <stem>.xml beside
        assert all(len(PurePosixPath(g).stem.encode()) + 4 <= 255 for g in got)
    assert len({g.casefold() for g in got}) == len(got)
    folders = {g.casefold().rsplit("/", 1)[0] for g in got if "/" in g}
    assert not folders & {g.casefold() for g in got}  # no file where a folder is
    if not by_stem and not any("/" in n for n in names):
        firsts: dict[str, str] = {}  # a name that needs no change keeps it, the first of a case
        for n in names:
            if _portable(n):
                firsts.setdefault(n.casefold(), n)
        assert all(got[names.index(n)] == n for n in firsts.values())


@settings(max_examples=200, deadline=None)
@given(names_st)
def test_the_arrow_gate_lets_no_name_through_that_needs_a_change(names: list[str]) -> None:
    import pyarrow as pa

    b = bundle([])
    got, moved = portable_array(b, pa.array(names, pa.string()))
    want = portable_paths(names)
    assert got.to_pylist() == want
    renamed = [n != w for n, w in zip(names, want, strict=True)]
    assert (moved.to_pylist() if moved is not None else [False] * len(names)) == renamed
    assert b.renamed.to_dict() == ({"media files": sum(renamed)} if any(renamed) else {})


# --- every format, through a workspace ---------------------------------------------------------

NAMES = ["scan:01.png", "a_b.png", "a:b.png", "Scene.png", "scene.png", "CON.png", "Lpt1.png",
         "crue-" + "é" * 130 + ".png"]  # fmt: skip
TRAILING = "flood.png."  # not for YOLO: its reader lists files by image suffix
CARRY_NAMES = ["jsonl", "parquet", "coco", "labelstudio", "voc"]  # keep the item's name
FORMATS = [*CARRY_NAMES, "cvat-images", "yolo"]


def _dataset(ws: Workspace, tmp_path: Path, names: list[str]) -> dict[str, str]:
    """Items named `names` (each its own image), a box each; item id -> name."""
    (tmp_path / "img").mkdir()
    media = []
    for k, name in enumerate(names):
        path = tmp_path / "img" / f"{k}.png"
        Image.new("RGB", (64, 48), (20 * k, 90, 160)).save(path)
        box = Region(kind="box", label="vehicle", box=(2.0 + k, 3.0, 10.0, 8.0))
        m = ImportedMedia(name=name, path=path, width=64, height=48)
        m.annotations.append(ImportedAnnotation(regions=[box]))
        media.append(m)
    import_bundle(ws, ImportBundle(media=media, label_names=["vehicle"]), "flood")
    rows = export_bundle(ws, ws.resolve("flood", default_head=False)).rows
    return {r.item_id: r.name for r in rows}


def _labels(ws: Workspace, dataset: str) -> dict[str, tuple[str, list[Any]]]:
    rows = export_bundle(ws, ws.resolve(dataset, default_head=False)).rows

    def box(g: Region) -> Any:  # YOLO keeps 6 decimals of the image size
        return None if g.box is None else tuple(round(c, 3) for c in g.box)

    return {r.item_id: (r.name, [(g.kind, g.label, box(g)) for g in r.regions]) for r in rows}


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_write_portable_names_and_read_back(
    ws: Workspace,
    tmp_path: Path,
    fmt: str,
    new_database: Callable[[], None],
    closes: Callable[[Workspace], Workspace],
) -> None:
    names = NAMES + ([] if fmt == "yolo" else [TRAILING])
    items = _dataset(ws, tmp_path, names)
    before = _labels(ws, "flood")
    result = ws.export("flood", fmt, tmp_path / "out")
    files = _check_tree(tmp_path / "out")
    # scan:01, a:b, one of Scene/scene, CON, Lpt1, the long one (and flood.png.) renamed;
    # the exports give flood.png. its type's suffix first (flood.png..png), which is portable
    # as it is
    typed = TRAILING in names
    assert result["renamed"] == {"media files": len(names) - 2 - typed}
    assert result["dropped"] == {}
    images = [f for f in files if f.endswith((".png", ".png_"))]
    assert len(images) == len(names)  # each written once
    # the same version gives the same names
    ws.export("flood", fmt, tmp_path / "again")
    assert _check_tree(tmp_path / "again") == files

    ws.import_labels(tmp_path / "out", fmt, "copy")
    after = _labels(ws, "copy")
    assert {i: labels for i, (_, labels) in after.items()} == {
        i: labels for i, (_, labels) in before.items()
    }
    new_database()  # a fresh workspace knows the items only from the export
    other = closes(Workspace.init(tmp_path / "other"))
    other.import_labels(tmp_path / "out", fmt, "flood")
    fresh = _labels(other, "flood")
    assert {i: labels for i, (_, labels) in fresh.items()} == {
        i: labels for i, (_, labels) in before.items()
    }
    got = {i: name for i, (name, _) in fresh.items()}
    if fmt in CARRY_NAMES:
        assert got == items  # the format keeps the item's name beside the file's
    else:  # no place for it: the item is named after the file written
        assert set(got) == set(items)
        assert all(_portable(n) for n in got.values())
        assert sum(got[i] != items[i] for i in items) == len(names) - 2


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_rows_of_a_jsonl_file_are_written_as_portable_files(
    ws: Workspace,
    tmp_path: Path,
    samples: Any,
    fmt: str,
    new_database: Callable[[], None],
    closes: Callable[[Workspace], Workspace],
) -> None:
    rows = [{"text": "Levee seepage at km 12."}, {"text": "Bridge closed."}]
    ids = ws.ingest([samples.jsonl("rows.jsonl", rows)]).new
    ws.create_dataset("reports")
    ws.add_items("reports")
    result = ws.export("reports", fmt, tmp_path / "out")
    assert _check_tree(tmp_path / "out/media") == ["rows.jsonl_1", "rows.jsonl_2"]
    assert result["renamed"] == {"media files": 2}
    # without media the records name no file, so nothing is renamed
    assert ws.export("reports", fmt, tmp_path / "bare", media=False)["renamed"] == {}
    if fmt == "jsonl":
        recs = [json.loads(x) for x in (tmp_path / "out/items.jsonl").read_text().splitlines()]
        assert {(r["name"], r["file"]) for r in recs} == {
            ("rows.jsonl:1", "media/rows.jsonl_1"),
            ("rows.jsonl:2", "media/rows.jsonl_2"),
        }
    new_database()
    other = closes(Workspace.init(tmp_path / "other"))
    other.import_labels(tmp_path / "out", fmt, "reports")
    got = {i: name for i, (name, _) in _labels(other, "reports").items()}
    assert got == dict(zip(ids, ["rows.jsonl:1", "rows.jsonl:2"], strict=True)) or got == dict(
        zip(ids, ["rows.jsonl:2", "rows.jsonl:1"], strict=True)
    )
    assert sorted(got.values()) == ["rows.jsonl:1", "rows.jsonl:2"]


def test_the_cli_reports_renamed_files(cli: Any, tmp_path: Path, samples: Any) -> None:
    cli("init", tmp_path / "ws")
    cli("ingest", samples.jsonl("rows.jsonl", [{"text": "Gauge 4.2 m."}]), cwd=tmp_path / "ws")
    cli("dataset", "create", "reports", cwd=tmp_path / "ws")
    cli("dataset", "add", "reports", "--all", cwd=tmp_path / "ws")
    res = cli("export", "reports", "--format", "jsonl", "--out", tmp_path / "o", "--json",
              cwd=tmp_path / "ws")  # fmt: skip
    assert res.json()["renamed"] == {"media files": 1}
    assert "jsonl export renamed 1 media files to names FAT32, exFAT and Windows" in res.stderr
    assert (tmp_path / "o/media/rows.jsonl_1").is_file()


# --- sequence folders (MOT, CVAT for video) ----------------------------------------------------


def _frames() -> list[Any]:
    rows = []
    for seq, shade in (("pass:1", 0), ("PASS:1", 1), ("aux", 2), ("ü" * 200, 3)):
        for f in range(2):
            box = Region(
                kind="box",
                label="person",
                box=(4.0 + f + shade, 5.0, 10.0, 9.0),
                attributes={"track_id": shade, "keyframe": True},
            )
            name = f"{seq}-{f}.png:orig"  # a suffix no file system takes: the media type's
            rows.append(
                image_row(name, [box], (64, 48 + shade), metadata={"sequence": seq, "frame": f})
            )
    return rows


def _by_sequence(media: list[ImportedMedia]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for m in media:
        boxes = [r.box for a in m.annotations for r in a.regions if r.kind == "box"]
        out.setdefault(m.metadata["sequence"], []).append((m.metadata["frame"], m.height, boxes))
    return out


def test_mot_sequence_folders_are_portable(tmp_path: Path) -> None:
    b = bundle(_frames(), labels=["person"])
    mot.write(b, tmp_path / "out")
    files = _check_tree(tmp_path / "out")
    assert "pass_1/img1/000001.png" in files and "_aux/img1/000002.png" in files
    assert b.renamed.to_dict() == {"sequence folders": 4}
    back = _by_sequence(mot.read(tmp_path / "out").media)
    assert sorted(back) == ["PASS:1", "aux", "pass:1", "ü" * 200]  # seqinfo.ini keeps each
    assert [h for _, h, _ in back["PASS:1"]] == [49, 49]
    assert [boxes for _, _, boxes in back["pass:1"]] == [
        [(4.0, 5.0, 10.0, 9.0)],
        [(5.0, 5.0, 10.0, 9.0)],
    ]


def test_cvat_video_sequence_folders_are_portable(tmp_path: Path) -> None:
    b = bundle(_frames(), labels=["person"])
    cvat_video.write(b, tmp_path / "out")
    files = _check_tree(tmp_path / "out")
    assert "pass_1/images/frame_000000.png" in files
    assert b.renamed.to_dict() == {"sequence folders": 4}
    folders = sorted(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    back: dict[str, list[Any]] = {}
    for folder in folders:
        back.update(_by_sequence(cvat_video.read(folder).media))
    assert sorted(back) == ["PASS:1", "aux", "pass:1", "ü" * 200]  # the task name keeps each
    assert [h for _, h, _ in back["aux"]] == [50, 50]
    assert [boxes for _, _, boxes in back["PASS:1"]] == [
        [(5.0, 5.0, 10.0, 9.0)],
        [(6.0, 5.0, 10.0, 9.0)],
    ]
