"""`assay dataset create|add|remove|list`."""

from __future__ import annotations

from pathlib import Path

from assay import Workspace


def _setup(tmp_path: Path, samples) -> None:  # type: ignore[no-untyped-def]
    with Workspace.init(tmp_path) as w:
        samples.images("uav", 3)
        samples.text("r/a.txt", seed=1)
        w.ingest([samples.root])


def test_dataset_commands(cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _setup(tmp_path, samples)
    assert cli("dataset", "list").stdout.startswith("no datasets yet")
    assert cli("dataset", "create", "quake", "--json").json() == {
        "dataset": "quake",
        "created": True,
        "marking": "",
    }
    assert "already exists" in cli("dataset", "create", "quake", code=1).stderr
    assert cli("dataset", "add", "quake", "--all", "--json").json() == {
        "dataset": "quake",
        "added": 4,
        "matched": 4,
    }
    cli("dataset", "create", "uav-only")
    res = cli(
        "dataset", "add", "uav-only", "--items", "media_type=image/png and name~scene_000?.png"
    )
    assert "added 3 item(s) to uav-only" in res.stdout
    again = cli("dataset", "add", "uav-only", "--items", "name~scene_*.png and width>=48", "--json")
    assert (again.json()["added"], again.json()["matched"]) == (0, 3)  # already members
    # "added 0" alone did not tell these two apart.
    res = cli("dataset", "add", "uav-only", "--items", "name~scene_*.png")
    assert "added 0 item(s) to uav-only; 3 matching item(s) were in it already" in res.stdout
    res = cli("dataset", "add", "uav-only", "--items", "name=scene_9.png")
    assert "added 0 item(s) to uav-only: no item matches 'name=scene_9.png'" in res.stdout
    assert cli("dataset", "remove", "quake", "--items", "media_type~text/*", "--json").json() == {
        "dataset": "quake",
        "removed": 1,
    }
    listing = cli("dataset", "list", "--json").json()
    assert [(d["name"], d["items"], d["commits"], d["head"]) for d in listing] == [
        ("quake", 3, 0, None),
        ("uav-only", 3, 0, None),
    ]
    assert set(listing[0]) == {"name", "created", "items", "commits", "head", "marking"}
    table = cli("dataset", "list").stdout
    assert "quake" in table and "uav-only" in table


def test_dataset_usage_and_query_errors(cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _setup(tmp_path, samples)
    cli("dataset", "create", "d")
    assert "exactly one of --all or --items" in cli("dataset", "add", "d", code=2).stderr
    cli("dataset", "add", "d", "--all", "--items", "width>1", code=2)
    cli("dataset", "remove", "d", code=2)
    assert "needs a number" in cli("dataset", "add", "d", "--items", "width>=big", code=1).stderr
    assert (
        "expected FIELD OP VALUE"
        in cli("dataset", "add", "d", "--items", "just words", code=1).stderr
    )
    assert "no dataset named 'nope'" in cli("dataset", "add", "nope", "--all", code=1).stderr
    assert "bad dataset name" in cli("dataset", "create", "a@b", code=1).stderr


def test_a_rows_other_fields_are_queried_under_metadata_fields(
    cli, samples, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """As the README says: a JSONL row's fields besides the text sit under `metadata.fields`."""
    rows = [{"text": "Power out in sector 4", "district": "north"}, {"text": "Clinic open"}]
    cli("init", tmp_path / "ws")
    cli("-w", tmp_path / "ws", "ingest", samples.jsonl("rows.jsonl", rows))
    cli("-w", tmp_path / "ws", "dataset", "create", "north")
    query = "metadata.fields.district=north"
    added = cli("-w", tmp_path / "ws", "dataset", "add", "north", "--items", query, "--json")
    assert added.json() == {"dataset": "north", "added": 1, "matched": 1}
    cli("-w", tmp_path / "ws", "dataset", "create", "north2")
    short = "metadata.district=north"  # the row's field where it has one
    added = cli("-w", tmp_path / "ws", "dataset", "add", "north2", "--items", short, "--json")
    assert added.json() == {"dataset": "north2", "added": 1, "matched": 1}
    assert "metadata.fields.KEY" in cli("ingest", "--help").stdout


def test_status_of_a_new_empty_dataset_says_what_to_do(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A dataset with no items and no commits has no HEAD for its working state to match."""
    cli("init")
    cli("dataset", "create", "quake")
    assert cli("status", "quake").stdout == (
        "quake: no items and no commits yet; add items with `assay dataset add quake --all`\n"
    )
    cli("commit", "quake", "-m", "nothing", code=1)
