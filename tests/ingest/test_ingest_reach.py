"""Ingest and import read only what they were given: links out, FIFOs, devices, bombs.

Every run goes through the real CLI in a subprocess (with its 120 s timeout), so a read that
hangs on a FIFO or never ends on /dev/zero fails the test instead of passing by luck.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml

RunCli = Any  # the `run_cli` and `cli` fixtures of tests/conftest.py
Samples = Any


def bomb_png(path: Path, width: int = 30_000, height: int = 30_000) -> Path:
    """A valid 1-bit greyscale PNG of 900 million pixels that is ~100 kB on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\0" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def workspace(tmp_path: Path, run_cli: RunCli) -> Path:
    run_cli("init", tmp_path / "ws")
    return tmp_path / "ws"


def ingest(run_cli: RunCli, ws: Path, *args: str | Path, code: int = 0) -> dict[str, object]:
    res = run_cli("-w", ws, "ingest", *args, "--json", code=code)
    return res.json()  # type: ignore[no-any-return]


def test_links_out_of_the_given_folder_are_skipped_with_a_reason(
    tmp_path: Path, samples: Samples, workspace: Path, run_cli: RunCli
) -> None:
    samples.png("given/scene_0.png", seed=1)
    samples.png("given/sub/scene_1.png", seed=2)
    secret = samples.png("elsewhere/private.png", seed=3)
    samples.png("elsewhere/more/private_2.png", seed=4)
    given = samples.root / "given"
    (given / "leak.png").symlink_to(secret)
    (given / "leakdir").symlink_to(samples.root / "elsewhere", target_is_directory=True)
    (given / "again.png").symlink_to(given / "scene_0.png")  # inside: read as usual

    got = ingest(run_cli, workspace, given)
    reasons = {Path(s["path"]).name: s["reason"] for s in got["skips"]}  # type: ignore[attr-defined]
    assert set(reasons) == {"leak.png", "leakdir"}
    assert "outside the given folders" in reasons["leak.png"] and str(secret) in reasons["leak.png"]
    assert "--follow-symlinks" in reasons["leakdir"]
    assert (got["new"], got["duplicate"], got["skipped"]) == (2, 1, 2)

    text = run_cli("-w", workspace, "ingest", given).stderr
    assert "leak.png" in text and "outside the given folders" in text

    followed = ingest(run_cli, workspace, given, "--follow-symlinks")
    assert (followed["new"], followed["skipped"]) == (2, 0)


def test_fifos_and_devices_are_always_skipped(
    tmp_path: Path, samples: Samples, workspace: Path, run_cli: RunCli
) -> None:
    samples.png("given/scene_0.png", seed=1)
    given = samples.root / "given"
    os.mkfifo(given / "pipe.png")
    (given / "zero.png").symlink_to("/dev/zero")
    (given / "zero.txt").symlink_to("/dev/zero")
    for extra in ([], ["--follow-symlinks"]):
        got = ingest(run_cli, workspace, given, *extra)
        reasons = {Path(s["path"]).name: s["reason"] for s in got["skips"]}  # type: ignore[attr-defined]
        assert reasons["pipe.png"] == "not a regular file (FIFO)"
        assert "character device" in reasons["zero.png"] or "outside" in reasons["zero.png"]
        assert set(reasons) == {"pipe.png", "zero.png", "zero.txt"}
    # named outright it is still not read
    got = ingest(run_cli, workspace, given / "pipe.png")
    assert got["skips"] == [
        {"path": str(given / "pipe.png"), "reason": "not a regular file (FIFO)"}
    ]


def test_a_decompression_bomb_is_refused(
    tmp_path: Path, samples: Samples, workspace: Path, run_cli: RunCli
) -> None:
    bomb_png(samples.root / "given" / "bomb.png")
    samples.png("given/scene_0.png", seed=1)
    got = ingest(run_cli, workspace, samples.root / "given")
    [failure] = got["failures"]  # type: ignore[misc]
    assert failure["path"].endswith("bomb.png")
    assert "30000x30000" in failure["reason"] and "decompression bomb" in failure["reason"]
    assert got["new"] == 1


def _yolo(root: Path, samples: Samples, doc: dict[str, object]) -> Path:
    samples.png(str((root / "images" / "train" / "a.png").relative_to(samples.root)), seed=5)
    (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"names": ["building"], **doc}))
    return root / "data.yaml"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"train": "../outside/images"}, "data.yaml: train:"),
        ({"path": "{outside}", "train": "images"}, "data.yaml: path:"),
        ({"train": "{outside}/images"}, "data.yaml: train:"),
        ({"train": "list.txt"}, "list.txt line 2"),
    ],
)
def test_yolo_lists_cannot_reach_outside_the_dataset(
    tmp_path: Path,
    samples: Samples,
    workspace: Path,
    run_cli: RunCli,
    doc: dict[str, str],
    message: str,
) -> None:
    outside = samples.root / "outside"
    samples.png("outside/images/private.png", seed=9)
    root = samples.root / "ds"
    data = _yolo(root, samples, {k: v.format(outside=outside) for k, v in doc.items()})
    (root / "list.txt").write_text(f"./images/train/a.png\n{outside}/images/private.png\n")
    res = run_cli("-w", workspace, "import", data, "--format", "yolo", "--dataset", "d", code=1)
    assert message in res.stderr and "outside" in res.stderr


def test_yolo_images_that_link_out_or_are_fifos_are_refused(
    tmp_path: Path, samples: Samples, workspace: Path, run_cli: RunCli
) -> None:
    secret = samples.png("outside/private.png", seed=9)
    root = samples.root / "ds"
    data = _yolo(root, samples, {"train": "images/train"})
    (root / "images" / "train" / "b.png").symlink_to(secret)
    res = run_cli("-w", workspace, "import", data, "--format", "yolo", "--dataset", "d", code=1)
    assert "images/train/b.png" in res.stderr and "outside" in res.stderr
    (root / "images" / "train" / "b.png").unlink()
    os.mkfifo(root / "images" / "train" / "b.png")
    res = run_cli("-w", workspace, "import", data, "--format", "yolo", "--dataset", "d", code=1)
    assert "images/train/b.png" in res.stderr and "not a regular file" in res.stderr
    # --images names another folder: that folder is then the one to stay in
    (root / "images" / "train" / "b.png").unlink()
    res = run_cli(
        "-w", workspace, "import", data, "--format", "yolo", "--dataset", "d",
        "--images", root, "--json",
    )  # fmt: skip
    assert res.json()["media"] == 1


def test_yolo_refuses_a_decompression_bomb(
    tmp_path: Path, samples: Samples, workspace: Path, run_cli: RunCli
) -> None:
    root = samples.root / "ds"
    data = _yolo(root, samples, {"train": "images/train"})
    bomb_png(root / "images" / "train" / "big.png")
    res = run_cli("-w", workspace, "import", data, "--format", "yolo", "--dataset", "d", code=1)
    assert "big.png" in res.stderr and "decompression bomb" in res.stderr


VOC_XML = (
    "<annotation><filename>{name}</filename><size><width>48</width><height>32</height></size>"
    "<object><name>roof</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>10</xmax><ymax>10</ymax>"
    "</bndbox></object></annotation>"
)


def test_voc_and_coco_media_cannot_link_out_of_the_images_folder(
    tmp_path: Path, samples: Samples, workspace: Path, run_cli: RunCli
) -> None:
    secret = samples.png("outside/private.png", seed=9)
    root = samples.root / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "JPEGImages" / "a.png").symlink_to(secret)
    (root / "Annotations" / "a.xml").write_text(VOC_XML.format(name="a.png"))
    res = run_cli("-w", workspace, "import", root, "--format", "voc", "--dataset", "d", code=1)
    assert "media 'a.png'" in res.stderr and "outside" in res.stderr

    coco = tmp_path / "coco.json"
    coco.write_text(
        '{"images": [{"id": 1, "file_name": "a.png", "width": 48, "height": 32}], '
        '"annotations": [], "categories": [{"id": 1, "name": "roof"}]}'
    )
    res = run_cli("-w", workspace, "import", coco, "--format", "coco", "--dataset", "d",
                  "--images", root / "JPEGImages", code=1)  # fmt: skip
    assert "media 'a.png'" in res.stderr and "outside" in res.stderr

    # an annotation file linked in from elsewhere is not read either
    (root / "JPEGImages" / "a.png").unlink()
    samples.png("voc/JPEGImages/a.png", seed=3)
    elsewhere = tmp_path / "elsewhere.xml"
    elsewhere.write_text(VOC_XML.format(name="a.png"))
    (root / "Annotations" / "b.xml").symlink_to(elsewhere)
    res = run_cli("-w", workspace, "import", root, "--format", "voc", "--dataset", "d", code=1)
    assert "Annotations/b.xml" in res.stderr and "outside" in res.stderr
