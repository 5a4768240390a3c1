from __future__ import annotations

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
