"""`assay import --format geojson|stac` reads assay's own geo exports back, as the README says;
the CLI offers every format the registry can read or write, so the two lists cannot drift."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from assay import Workspace
from assay.cli.versions import export, import_
from assay.domain import Region
from assay.formats import REGISTRY
from assay.versioning import LabelRecord
from cli_support import geo_workspace, item_ids


def _choices(command: click.Command) -> list[str]:
    fmt = next(p for p in command.params if p.name == "fmt")
    assert isinstance(fmt.type, click.Choice)
    return sorted(str(c) for c in fmt.type.choices)


def test_the_cli_offers_every_format_the_registry_reads_and_writes() -> None:
    assert _choices(import_) == REGISTRY.readers()
    assert _choices(export) == REGISTRY.writers()


@pytest.mark.parametrize("fmt", ["geojson", "stac"])
def test_a_geo_export_imports_back_through_the_cli(cli, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    ws = geo_workspace(tmp_path)
    assert isinstance(ws, Workspace)
    chip = item_ids(ws)["town.tif#col=188&row=88"]
    box = Region(kind="box", label="building", box=(10, 20, 100, 50), author="user:ana")
    ws.set_labels("geo", [LabelRecord(chip, [box], authors=["user:ana"])])
    ws.close()
    cwd = tmp_path / "ws"
    cli("export", "geo", "--format", fmt, "--out", tmp_path / fmt, cwd=cwd)
    res = cli(
        "import", tmp_path / fmt, "--format", fmt.upper(), "--dataset", "back", "--json", cwd=cwd
    )
    assert res.json()["regions"] == 1 and res.json()["dropped"] == {}
    cli("export", "back", "--format", "jsonl", "--no-media", "--out", tmp_path / "back", cwd=cwd)
    rows = (tmp_path / "back" / "items.jsonl").read_text().splitlines()
    ((item, got),) = [(r["id"], r["labels"]) for r in map(json.loads, rows) if r["labels"]]
    assert item == chip and len(got) == 1
    assert (got[0]["kind"], got[0]["label"], got[0]["author"]) == ("box", "building", "user:ana")
    assert got[0]["box"] == pytest.approx(box.box, abs=0.05)


@pytest.mark.parametrize("fmt", ["stac", "geojson", "coco", "jsonl"])
def test_an_import_says_when_it_created_the_dataset(cli, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    # Every format creates a missing dataset (as `--dataset`'s help and the README's campaign
    # rely on), and said nothing of it: a typo in the name made a new dataset unseen.
    geo_workspace(tmp_path).close()  # type: ignore[attr-defined]
    cwd = tmp_path / "ws"
    cli("export", "geo", "--format", fmt, "--out", tmp_path / fmt, cwd=cwd)
    first = cli("import", tmp_path / fmt, "--format", fmt, "--dataset", "back", cwd=cwd).stdout
    assert first.splitlines()[0] == "created dataset back"
    again = cli("import", tmp_path / fmt, "--format", fmt, "--dataset", "back", cwd=cwd).stdout
    assert "created" not in again and again.startswith("imported ")
    res = cli("import", tmp_path / fmt, "--format", fmt, "--dataset", "new", "--json", cwd=cwd)
    assert res.json()["created"] is True
