"""Label schema YAML, the v1 -> v2 store migration, and the labeling CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput
from assay.store import Database
from assay.store.schema import EVAL_TABLES, LABELING_TABLES, SCHEMA_VERSION
from assay.versioning import LabelRecord
from assay.workspace import Workspace
from labeling_world import PASSWORD, SCHEMA_YAML, build_world


def test_schema_keys_and_region_checks() -> None:
    s = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    keys = {lab.name: lab.key for c in s.controls for lab in c.labels}
    assert keys == {"building": "b", "vehicle": "v", "none": "1", "minor": "2", "destroyed": "3"}
    s.check_regions([Region(kind="box", control="label", label="vehicle", box=(1, 1, 2, 2))])
    with pytest.raises(InvalidInput, match="unknown control 'damag'"):
        s.check_regions([Region(kind="choice", control="damag", label="none")])
    with pytest.raises(InvalidInput, match="w, h > 0"):
        s.check_regions([Region(kind="box", control="label", label="building", box=(1, 1, 0, 2))])
    with pytest.raises(InvalidInput, match="takes one answer"):
        s.check_regions(
            [Region(kind="choice", control="damage", label=x) for x in ("none", "minor")]
        )


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "title: x\ncontrols:\n  - {name: a, type: circles, labels: [p]}",
            r"controls\[0\] \(a\)\.type",
        ),
        ("title: x\ncontrols: []", "controls"),
        ("title: x\ncontrols:\n  - {name: a, type: choices}", "needs at least one label"),
        ("title: x\ncontrols:\n  - {name: a, type: ranking}", "candidates_field"),
        ("controls: [", "not valid YAML"),
        (
            "controls:\n  - {name: a, type: choices, "
            "labels: [{name: p, key: '1'}, {name: q, key: '1'}]}",
            "shortcut key '1' is used twice",
        ),
    ],
)
def test_bad_schema_is_one_clear_error(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(InvalidInput, match=message) as err:
        LabelSchema.load(path)
    assert str(err.value).startswith(str(path))


def test_version_1_database_migrates_forward(tmp_path: Path) -> None:
    db_path = tmp_path / "old.db"
    Database.sqlite(db_path).dispose()
    # Turn it back into a version-1 store: no labeling (or later evaluation) tables.
    db = Database.sqlite(db_path)
    with db.begin() as conn:
        for table in reversed([*LABELING_TABLES, *EVAL_TABLES]):
            conn.execute(text(f"DROP TABLE {table.name}"))
        conn.execute(text("UPDATE meta SET value = '1' WHERE key = 'schema_version'"))
    db.dispose()
    db = Database.sqlite(db_path)
    with db.read() as conn:
        names = set(inspect(conn).get_table_names())
        version = conn.execute(text("SELECT value FROM meta WHERE key='schema_version'")).scalar()
    db.dispose()
    assert {t.name for t in [*LABELING_TABLES, *EVAL_TABLES]} <= names
    assert version == str(SCHEMA_VERSION)


def test_cli_project_user_token_pull(
    ws: Workspace, tmp_path: Path, cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli  # type: ignore[assignment]
    build_world(ws, tmp_path / "data", users=False)
    root = str(tmp_path / "ws")
    schema = tmp_path / "schema.yaml"
    schema.write_text(SCHEMA_YAML)
    (tmp_path / "howto.md").write_text("# Boxes\nBox every roof.")
    r = run(  # type: ignore[operator]
        "-w",
        root,
        "project",
        "create",
        "second",
        "--schema",
        schema,
        "--dataset",
        "flood",
        "--overlap",
        "2",
        "--review",
        "sample:0.5",
        "--instructions",
        tmp_path / "howto.md",
        "--json",
    )
    out = r.json()
    assert out["tasks"] == 8 and out["workflow"]["overlap"] == 2
    assert out["instructions"].startswith("# Boxes")
    bad = tmp_path / "bad.yaml"
    bad.write_text("controls:\n  - {name: a, type: boxes}")
    r = run("-w", root, "project", "create", "x", "--schema", bad, "--dataset", "flood", code=1)  # type: ignore[operator]
    assert str(bad) in r.stderr and "controls[0]" in r.stderr
    # PostgreSQL's column holds 200 characters: a longer name is refused on every database.
    long = "p" * 201
    r = run("-w", root, "project", "create", long, "--schema", schema, "--dataset", "flood", code=1)  # type: ignore[operator]
    assert f"bad project name '{'p' * 40}'...: at most 200 characters" in r.stderr
    r = run(
        "-w",
        root,
        "project",
        "create",
        "y",
        "--schema",
        schema,
        "--dataset",
        "flood",  # type: ignore[operator]
        "--review",
        "maybe",
        code=1,
    )
    assert "--review" in r.stderr
    names = [p["name"] for p in run("-w", root, "project", "list", "--json").json()]  # type: ignore[operator]
    assert names == ["sar-ops", "second", "survey"]
    run(
        "-w",
        root,
        "user",
        "add",
        "eve",
        "--role",
        "annotator",
        "--clearance",
        "CUI/FLOOD",  # type: ignore[operator]
        env={"ASSAY_PASSWORD": PASSWORD, "ASSAY_ARGON2_MEMORY_KIB": "1024"},
    )
    r = run("-w", root, "user", "add", "eve", "--role", "annotator", "--password", PASSWORD, code=1)  # type: ignore[operator]
    assert "already exists" in r.stderr
    token = run("-w", root, "token", "create", "eve").stdout.strip()  # type: ignore[operator]
    assert token.startswith("assay_")
    with ws.db.read() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert token not in stored and len(stored) == 1

    from assay.labeling import next_task, submit
    from assay.labeling.users import user_for_token

    eve = user_for_token(ws, token)
    assert eve is not None and eve.clearance_text == "CUI/FLOOD"
    lease = next_task(ws, eve, "survey")
    assert lease is not None
    submit(ws, eve, lease.task_id, "c1", [Region(kind="choice", control="damage", label="minor")])
    r = run("-w", root, "dataset", "pull", "flood", "--project", "survey", "--json")  # type: ignore[operator]
    assert r.json()["items"] == 1
    status = run("-w", root, "project", "status", "survey", "--json").json()  # type: ignore[operator]
    assert status["annotators"][0]["name"] == "eve" and status["tasks"] == 8
    text_status = run("-w", root, "project", "status", "survey").stdout  # type: ignore[operator]
    assert "eve" in text_status
    assert json.loads(run("-w", root, "user", "list", "--json").stdout)[0]["name"] == "eve"  # type: ignore[operator]


def test_cli_gold_share_defaults_with_gold_and_refuses_zero(
    ws: Workspace, tmp_path: Path, cli: object
) -> None:
    # `--gold-share 0` with --gold was taken as 0.05 unsaid, while --help showed [default: 0.0].
    run = cli  # type: ignore[assignment]
    w = build_world(ws, tmp_path / "data", public=4, cui=0, secret=0, users=False)
    ws.create_dataset("flood-gold")
    ws.add_items("flood-gold", f"id={w.items['public'][0]}")
    ws.set_labels(
        "flood-gold",
        [
            LabelRecord(
                w.items["public"][0], [Region(kind="choice", control="damage", label="none")]
            )
        ],
    )
    ws.commit("flood-gold", "gold")
    schema = tmp_path / "schema.yaml"
    schema.write_text(SCHEMA_YAML)
    base = ["-w", str(tmp_path / "ws"), "project", "create"]
    args = ["--schema", schema, "--dataset", "flood", "--gold", "flood-gold", "--json"]
    out = run(*base, "g1", *args).json()  # type: ignore[operator]
    assert out["workflow"]["gold_share"] == 0.05
    r = run(*base, "g2", *args, "--gold-share", "0", code=1)  # type: ignore[operator]
    assert "--gold-share 0 would never serve the gold tasks" in r.stderr
    plain = run(*base, "g3", "--schema", schema, "--dataset", "flood", "--json").json()  # type: ignore[operator]
    assert plain["workflow"]["gold_share"] == 0.0
