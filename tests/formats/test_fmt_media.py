from __future__ import annotations

import os
from pathlib import Path

import pytest
from fmt_helpers import save_images

from assay.formats import _media
from blob_stacks import stacks

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("/data/local-files/?d=scenes/scene_001.png", "scenes/scene_001.png"),
        ("/data/local-files/?d=scenes%2Fscene%20two.png", "scenes/scene two.png"),
        ("/data/upload/3/1a2b3c4d-scene_001.png", "1a2b3c4d-scene_001.png"),
        ("https://cams.example/a/scene_001.png?x=1", "scene_001.png"),
        ("sub/dir/scene_001.png", "sub/dir/scene_001.png"),
        ("../../etc/scene_001.png", "scene_001.png"),
    ],
)
def test_media_name(ref: str, name: str) -> None:
    assert _media.media_name(ref) == name


def test_resolve_prefers_relative_path_then_base_name(tmp_path: Path) -> None:
    save_images(tmp_path, ["scenes/s.png", "s.png", "t.png"], (8, 8))
    assert (
        _media.resolve("/data/local-files/?d=scenes/s.png", tmp_path)
        == (tmp_path / "scenes/s.png").resolve()
    )
    assert (
        _media.resolve("/data/local-files/?d=other/t.png", tmp_path)
        == (tmp_path / "t.png").resolve()
    )
    assert (
        _media.resolve("/data/upload/1/0badf00d-t.png", tmp_path) == (tmp_path / "t.png").resolve()
    )
    assert _media.resolve("/abs/elsewhere/s.png", tmp_path) == (tmp_path / "s.png").resolve()
    assert _media.resolve("../t.png", tmp_path / "scenes") is None  # never leaves the folder
    assert _media.resolve("nothing.png", tmp_path) is None


def _answer(ref: str, root: Path, folders: _media.Folders) -> object:
    try:
        return _media.resolve(ref, root, folders)
    except Exception as exc:  # the error is part of the answer
        return (type(exc).__name__, str(exc))


def test_a_listed_folder_answers_as_the_file_system(tmp_path: Path) -> None:
    """After `Folders.LIST_AFTER` names, a folder is listed once instead of a stat a name: every
    kind of entry must resolve (or fail) exactly as it did name by name."""
    root = tmp_path / "images"
    names = [f"img_{k:03d}.png" for k in range(2 * _media.Folders.LIST_AFTER)]
    save_images(root, names, (4, 4))
    save_images(tmp_path / "outside", ["secret.png"], (4, 4))
    (root / "folder.png").mkdir()
    os.mkfifo(root / "fifo.png")
    (root / "inner.png").symlink_to(root / "img_000.png")
    (root / "escape.png").symlink_to(tmp_path / "outside" / "secret.png")
    (root / "Upper.png").write_bytes((root / "img_001.png").read_bytes())
    refs = [*names, "folder.png", "fifo.png", "inner.png", "escape.png", "Upper.png", "upper.png"]
    refs += ["missing.png", "sub/img_002.png", "/data/local-files/?d=images/img_003.png"]
    cold = [_answer(r, root, _media.Folders()) for r in refs]  # a new cache: stat each name
    warm = _media.Folders()
    for n in names:  # enough names asked that the folder is listed
        _media.resolve(n, root, warm)
    assert [_answer(r, root, warm) for r in refs] == cold
    assert cold[0] == root.resolve() / "img_000.png" and cold[-3] is None
    assert "outside the images folder" in str(cold[refs.index("escape.png")])
    assert "not a regular file" in str(cold[refs.index("fifo.png")])


def test_a_bare_name_resolves_as_the_general_rule_does(tmp_path: Path) -> None:
    """A bare file name (no folder, URL or query) skips the candidate list: its answer, cold
    and listed, is that of the same name given as ``./name``, which goes through it."""
    root = tmp_path / "images"
    names = [f"img_{k:03d}.png" for k in range(2 * _media.Folders.LIST_AFTER)]
    save_images(root, [*names, "space name.png", "ünï.png"], (4, 4))
    save_images(tmp_path / "outside", ["secret.png"], (4, 4))
    (root / "folder.png").mkdir()
    os.mkfifo(root / "fifo.png")
    (root / "inner.png").symlink_to(root / "img_000.png")
    (root / "escape.png").symlink_to(tmp_path / "outside" / "secret.png")
    bare = ["img_000.png", "space name.png", "ünï.png", "folder.png", "fifo.png", "inner.png"]
    bare += ["escape.png", "IMG_000.png", "missing.png", "", ".", "..", "..."]

    def general(ref: str, folders: _media.Folders) -> object:
        got = _answer("./" + ref, root, folders)
        if isinstance(got, tuple):  # the error names the ref as given
            return (got[0], got[1].replace(repr("./" + ref), repr(ref)))
        return got

    cold = [_answer(r, root, _media.Folders()) for r in bare]
    assert cold == [general(r, _media.Folders()) for r in bare]
    warm, warm_general = _media.Folders(), _media.Folders()
    for n in names:  # enough names asked that the folder is listed
        _media.resolve(n, root, warm)
        _media.resolve("./" + n, root, warm_general)
    assert [_answer(r, root, warm) for r in bare] == cold
    assert [general(r, warm_general) for r in bare] == cold
    assert cold[:3] == [root.resolve() / n for n in bare[:3]]
    assert cold[bare.index("inner.png")] == root.resolve() / "img_000.png"
    assert cold[-4:] == [None, None, None, None] and cold[bare.index("folder.png")] is None
    assert "outside the images folder" in str(cold[bare.index("escape.png")])
