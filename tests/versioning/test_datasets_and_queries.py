"""Datasets: create, list, add (all or by query), remove, and the query language."""

from __future__ import annotations

import json

import pytest

from assay import Workspace
from assay.errors import Conflict, InvalidInput, NotFound
from versioning_world import Flood, sql_rows


def test_create_list_and_duplicate(ws: Workspace) -> None:
    ws.create_dataset("quake-2026")
    ws.create_dataset("flood-2026")
    infos = ws.datasets()
    assert [d.name for d in infos] == ["flood-2026", "quake-2026"]
    assert infos[0].to_dict() == {
        "name": "flood-2026",
        "created": infos[0].created,
        "head": None,
        "items": 0,
        "commits": 0,
        "marking": "UNCLASSIFIED",
    }
    with pytest.raises(Conflict, match="'flood-2026' already exists"):
        ws.create_dataset("flood-2026")
    for bad in ("", "a@b", "a/b", " padded"):
        with pytest.raises(InvalidInput, match="bad dataset name"):
            ws.create_dataset(bad)
    # PostgreSQL's column holds 200 characters: a longer name is refused on every database.
    ws.create_dataset("d" * 200)
    with pytest.raises(InvalidInput, match=r"bad dataset name 'd{40}'\.\.\.: at most 200 char"):
        ws.create_dataset("d" * 201)
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        ws.add_items("nope")


def test_add_all_is_idempotent(flood: Flood) -> None:
    assert flood.ws.add_items("flood") == 0
    (info,) = flood.ws.datasets()
    assert info.items == 6


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("media_type~image/*", "images"),
        ("media_type=text/plain", "texts"),
        ("source=hotline", "texts"),
        ("source != hotline", "images"),
        ("width>=64", [2, 3]),
        ("width > 48 and width < 64", [1]),
        ("width<=48", [0]),
        ("name~scene_?.png and width>=56", [1, 2, 3]),
        ("name='scene_0.png'", [0]),
        ('name="report_1.txt"', [5]),
        ("metadata.source=uav-2 and width>50", [1, 2, 3]),
        ("meta.source=hotline", "texts"),
        ("marking=UNCLASSIFIED", "all"),
        ("size>0 AND media_type~text/*", "texts"),
        ("name~*_1.*", [1, 5]),
        ("metadata.path~*reports*", "texts"),
    ],
)
def test_add_by_query(flood: Flood, query: str, expected: object) -> None:
    named = {"images": flood.images, "texts": flood.texts, "all": flood.all}
    pick = isinstance(expected, str)
    ids = named[expected] if pick else [flood.all[i] for i in expected]  # type: ignore
    flood.ws.create_dataset("pick")
    assert flood.ws.add_items("pick", query) == len(ids)
    got = {
        r[0]
        for r in sql_rows(
            flood.ws,
            "SELECT item_id FROM working JOIN datasets d ON d.id = dataset_id WHERE d.name='pick'",
        )
    }
    assert got == set(ids)


def test_query_on_numeric_metadata(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.jsonl(
        "calls.jsonl",
        [
            {"text": "Family of four on a roof.", "priority": 3, "people": 4},
            {"text": "Road flooded, no one hurt.", "priority": 1, "people": 0},
            {"text": "Elderly man needs insulin.", "priority": 2, "people": 1},
        ],
    )
    samples.jpeg("uav/north.jpg", seed=1, gps=(29.9, -95.4))
    samples.jpeg("uav/south.jpg", seed=2, gps=(29.1, -95.4))
    ws.ingest([samples.root])
    ws.create_dataset("urgent")
    # JSON numbers compare as numbers, not as text.
    assert ws.add_items("urgent", "metadata.fields.priority>=2") == 2
    ws.create_dataset("exact")
    assert ws.add_items("exact", "metadata.fields.priority=3") == 1
    ws.create_dataset("north")
    assert ws.add_items("north", "metadata.geo.lat > 29.5") == 1
    ws.create_dataset("crowded")
    assert ws.add_items("crowded", "metadata.fields.people >= 10") == 0
    # A row's field is also `metadata.KEY`, as LLM-eval templates and slices read it.
    ws.create_dataset("urgent2")
    assert ws.add_items("urgent2", "metadata.priority>=2") == 2
    ws.create_dataset("exact2")
    assert ws.add_items("exact2", "meta.priority=3 and metadata.people=4") == 1


def _matches(ws: Workspace, query: str) -> int:
    name = f"q{len(ws.datasets())}"
    ws.create_dataset(name)
    return ws.add_items(name, query)


def test_metadata_queries_read_the_same_on_every_database(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.jsonl(
        "calls.jsonl",
        [
            {"text": "Roof, four people.", "priority": "5", "urgent": True, "sensor": "uav\u0000"},
            {"text": "Road closed.", "priority": 7, "urgent": False, "sensor": "uav-2"},
        ],
    )
    samples.raw("sheet.csv", b"text,priority\nBridge out,9\n")
    samples.jpeg("uav/north.jpg", seed=1, gps=(29.9, -95.4))
    ws.ingest([samples.root])
    # `<` and friends match JSON numbers only: not the text "5", nor a CSV cell's "9".
    assert _matches(ws, "metadata.priority>1") == 1
    assert _matches(ws, "metadata.priority=5") == 1  # `=` compares the text
    # A JSON true or false reads as its JSON text, as on PostgreSQL.
    assert _matches(ws, "metadata.urgent=true") == 1
    assert _matches(ws, "metadata.urgent!=false") == 1
    assert _matches(ws, "metadata.urgent=1") == 0
    # A NUL in one item's metadata (valid JSON, which PostgreSQL's JSONB refuses) fails no
    # query over the items.
    assert _matches(ws, "metadata.sensor=uav-2") == 1
    assert _matches(ws, "metadata.sensor~uav*") == 2
    assert _matches(ws, "near 29.9,-95.4,100") == 1


def test_a_glob_takes_ascii_letters_in_either_case(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.text("Flood_North.txt", seed=1)
    samples.text("flood_south.txt", seed=2)
    samples.text("Überflutung.txt", seed=3)
    ws.ingest([samples.root])
    assert _matches(ws, "name~flood*") == 2
    assert _matches(ws, "name~FLOOD_*.TXT") == 2
    assert _matches(ws, "name=flood_north.txt") == 0  # `=` stays exact
    assert _matches(ws, "name~Über*") == 1
    assert _matches(ws, "name~über*") == 0  # beyond ASCII the case counts, as in SQLite


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("width", "expected FIELD OP VALUE"),
        ("colour=red", "unknown query field 'colour'"),
        ("width>=wide", "query field width needs a number, got 'wide'"),
        ("width~6*", "query field width is a number: compare it with = != < <= > >=, not ~"),
        ("and width>3", "cannot read query condition 'and width>3'"),
        ("width>3 and height", "cannot read query condition 'height'"),
    ],
)
def test_bad_query_is_invalid_input(flood: Flood, query: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        flood.ws.add_items("flood", query)


def test_remove_before_and_after_commit(flood: Flood) -> None:
    ws = flood.ws
    assert ws.remove_items("flood", "media_type=text/plain") == 2
    assert flood.members() == set(flood.images)
    assert ws.status("flood").items_added == sorted(flood.images)
    assert ws.add_items("flood", "media_type=text/plain") == 2
    ws.commit("flood", "all six")
    assert ws.remove_items("flood", "width<56") == 1
    assert ws.remove_items("flood", "width<56") == 0  # already gone
    assert flood.images[0] not in flood.members()
    assert [d.items for d in ws.datasets()] == [5]
    assert ws.status("flood").items_removed == [flood.images[0]]
    # Adding it back (it had no labels) restores it unchanged: nothing to commit.
    assert ws.add_items("flood", "width<56") == 1
    assert ws.status("flood").empty
    ws.remove_items("flood", "width<56")
    c = ws.commit("flood", "drop the smallest scene")
    assert c.stats["items"] == 5 and c.stats["removed_items"] == 1
    assert ws.diff("flood", "HEAD~1", "HEAD").items_removed == [flood.images[0]]
    assert flood.pending() == set()


def test_labels_only_for_members(flood: Flood) -> None:
    from assay.versioning import LabelRecord

    flood.ws.remove_items("flood", "media_type=text/plain")
    with pytest.raises(InvalidInput, match="not members"):
        flood.ws.set_labels("flood", [LabelRecord(flood.texts[0], [])])
    assert flood.ws.set_labels("flood", []) == 0


def test_dataset_add_records_query_in_audit(flood: Flood) -> None:
    flood.ws.create_dataset("imgs")
    flood.ws.add_items("imgs", "media_type~image/*")
    last = flood.ws.audit_log()[-1]
    assert (last.action, last.target, last.details) == (
        "dataset.add",
        "dataset:imgs",
        {"query": "media_type~image/*", "added": 4},
    )
    assert json.dumps(last.details)


def test_quoted_values_may_hold_spaces_and_the_word_and(ws: Workspace, samples) -> None:  # type: ignore[no-untyped-def]
    samples.png("bridge and levee.png", seed=1)
    samples.png("100% flooded.png", seed=2)
    samples.png("road_1.png", seed=3)
    samples.png("roadX1.png", seed=4)
    ws.ingest([samples.root])
    ws.create_dataset("a")
    assert ws.add_items("a", "name='bridge and levee.png'") == 1
    ws.create_dataset("b")
    assert ws.add_items("b", 'name="bridge and levee.png" and width>=48') == 1
    ws.create_dataset("c")
    # % and _ are literal characters in a glob; only * and ? are wildcards.
    assert ws.add_items("c", "name~100%*") == 1
    ws.create_dataset("d")
    assert ws.add_items("d", "name~road_1*") == 1


def test_removing_and_adding_back_keeps_committed_labels(flood: Flood) -> None:
    from versioning_world import box

    ws = flood.ws
    flood.label(flood.images[0], box("boat", 5), box("person", 40))
    ws.commit("flood", "labelled")
    ws.remove_items("flood", "name=scene_0.png")
    assert ws.add_items("flood", "name=scene_0.png") == 1
    # An accidental removal undone leaves nothing to commit: the labels of record come back.
    st = ws.status("flood")
    assert st.empty, st.to_dict()
    assert [d.items for d in ws.datasets()] == [6]
