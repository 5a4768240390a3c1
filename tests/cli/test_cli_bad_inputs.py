"""Bad inputs found by trying them across the CLI: each is one clear error, never a traceback.

The `cli` fixture runs the real entry point in-process; any exception other than the exit it
asks for fails the test, and exit 1 must be exactly one ``error:`` line naming the input.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

RunCli = Any  # the `run_cli` and `cli` fixtures of tests/conftest.py
Samples = Any

DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_YAML = "[" * 100_000 + "]" * 100_000
NOT_UTF8 = b"\xff\xfe\x00 not text"


@pytest.fixture
def ws(tmp_path: Path, cli: RunCli, samples: Samples) -> Path:
    cli("init", tmp_path / "w")
    samples.png("imgs/a0.png", seed=1, size=(20, 10))
    return tmp_path / "w"


@pytest.mark.parametrize(
    ("fmt", "name", "content", "message"),
    [
        ("coco", "deep.json", DEEP_JSON, "deep.json: JSON nested too deep"),
        ("labelstudio", "deep.json", DEEP_JSON, "deep.json: JSON nested too deep"),
        ("jsonl", "deep.jsonl", DEEP_JSON, "deep.jsonl line 1: JSON nested too deep"),
        (
            "coco",
            "attrs.json",
            json.dumps(
                {
                    "images": [{"id": 1, "file_name": "a0.png", "width": 20, "height": 10}],
                    "annotations": [
                        {
                            "id": 1,
                            "image_id": 1,
                            "category_id": 1,
                            "bbox": [1, 1, 2, 2],
                            "attributes": json.loads('{"a": ' * 20 + "{}" + "}" * 20),
                        }
                    ],
                    "categories": [{"id": 1, "name": "roof"}],
                }
            ),
            "annotations[0].attributes: nested deeper than 16 levels",
        ),
    ],
)
def test_import_of_malformed_files(
    tmp_path: Path, ws: Path, cli: RunCli, samples: Samples, fmt: str, name: str, content: str,
    message: str,
) -> None:  # fmt: skip
    path = tmp_path / name
    path.write_text(content)
    images = samples.root / "imgs"
    res = cli("-w", ws, "import", path, "--format", fmt, "--dataset", "d", "--images", images,
              code=1)  # fmt: skip
    assert message in res.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [(NOT_UTF8, "not UTF-8 text"), (DEEP_YAML.encode(), "YAML nested too deep")],
)
def test_project_schema_that_cannot_be_read(
    tmp_path: Path, ws: Path, cli: RunCli, content: bytes, message: str
) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_bytes(content)
    res = cli("-w", ws, "project", "create", "p", "--schema", schema, "--dataset", "d", code=1)
    assert str(schema) in res.stderr and message in res.stderr


def test_csv_with_a_field_over_the_csv_limit_is_a_failure_naming_the_line(
    tmp_path: Path, ws: Path, cli: RunCli
) -> None:
    rows = tmp_path / "hotline.csv"
    rows.write_text('text\n"fine"\n"' + "x" * 200_000 + '"\n')
    # Nothing went in and something failed: exit 1 (the --json report still prints first).
    res = cli("-w", ws, "ingest", rows, "--json", code=1)
    [failure] = json.loads(res.stdout)["failures"]
    assert failure["reason"].startswith("line 3: not valid CSV")
    assert "line 3: not valid CSV" in res.stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        # The reader took everything after the stray quote as one text: four reports became
        # two items, the last two rows swallowed into the second's text, unsaid.
        (
            'text,district\nfirst,n\n"broken,s\nthird,n\nfourth,s\n',
            "line 3: not valid CSV (unexpected end of data)",
        ),
        # An unquoted comma in a report: a TypeError traceback while writing the row's fields.
        (
            "text,district\nfirst,n\nWater near Elm, bridge out,s\n",
            "line 3: 3 fields where the header has 2 (text, district); a field holding a comma "
            "needs double quotes",
        ),
    ],
)
def test_a_malformed_csv_row_is_a_failure_naming_its_line(
    tmp_path: Path, ws: Path, cli: RunCli, content: str, reason: str
) -> None:
    rows = tmp_path / "hotline.csv"
    rows.write_text(content)
    res = cli("-w", ws, "ingest", rows, "--json", code=1)
    doc = json.loads(res.stdout)
    assert doc["new"] == 0 and [f["reason"] for f in doc["failures"]] == [reason]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (NOT_UTF8, "not a readable run folder"),
        (DEEP_JSON.encode(), "JSON nested too deep"),
        (b"[]", "not an assay run record"),
        (b'{"run_id": "0123456789abcdef0123", "task": "detection"}', "does not hash to its run_id"),
    ],
)
@pytest.mark.parametrize("command", ["show", "compare", "rerun"])
def test_eval_commands_on_a_damaged_run_folder(
    tmp_path: Path, ws: Path, cli: RunCli, record: bytes, message: str, command: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_bytes(record)
    (run / "summary.json").write_bytes(b"{}")
    args = {
        "show": ["eval", "show", run],
        "compare": ["eval", "compare", run, run],
        "rerun": ["eval", "run", "--rerun", run, "--out", tmp_path / "again"],
    }[command]
    res = cli("-w", ws, *args, code=1)
    assert message in res.stderr


def test_slices_file_that_is_not_text(tmp_path: Path, ws: Path, cli: RunCli) -> None:
    slices = tmp_path / "slices.yaml"
    slices.write_bytes(NOT_UTF8)
    preds = tmp_path / "preds.json"
    preds.write_text("[]")
    res = cli("-w", ws, "eval", "run", "--dataset", "d", "--predictions", preds,
              "--slices", slices, "--out", tmp_path / "run", code=1)  # fmt: skip
    assert str(slices) in res.stderr


def test_serve_on_a_taken_port_or_an_unknown_host(ws: Path, run_cli: RunCli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run_cli("-w", ws, "serve", "--port", port, code=1)
        assert f"cannot serve on 127.0.0.1:{port}: it is in use" in res.stderr
    res = run_cli("-w", ws, "serve", "--host", "no-such-host.invalid", code=1)
    assert "--host no-such-host.invalid" in res.stderr
    run_cli("-w", ws, "serve", "--port", "99999", code=2)


def test_serve_with_several_workers_on_sqlite_is_refused(tmp_path: Path, run_cli: RunCli) -> None:
    # SQLite has one writer: its workspace is served by one process; several need PostgreSQL.
    run_cli("init", "sqlite-ws", env={"ASSAY_DATABASE_URL": ""})
    root = tmp_path / "sqlite-ws"
    res = run_cli("-w", root, "serve", "--workers", "2", env={"ASSAY_DATABASE_URL": ""}, code=1)
    assert "--workers 2: a SQLite workspace is served by one process" in res.stderr
    assert "ASSAY_DATABASE_URL" in res.stderr


def test_parquet_cell_nested_too_deep(tmp_path: Path, ws: Path, cli: RunCli) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from assay.formats import ExportBundle, ExportRow, parquet

    data = b"Field report: levee seepage at km 12."
    row = ExportRow(
        item_id="r1", name="r1.txt", media_type="text/plain", width=None, height=None,
        marking="UNCLASSIFIED", metadata={}, regions=[], read_bytes=lambda: data,
    )  # fmt: skip
    out = tmp_path / "out"
    parquet.write(
        ExportBundle(rows=[row], label_names=[], dataset="d", revision="c0ffee",
                     marking="UNCLASSIFIED", copy_media=True),
        out,
    )  # fmt: skip
    path = out / "items.parquet"
    table = pq.read_table(path)
    column = table.schema.get_field_index("metadata")
    table = table.set_column(column, "metadata", pa.array([DEEP_JSON], pa.string()))
    pq.write_table(table, path)
    res = cli("-w", ws, "import", path, "--format", "parquet", "--dataset", "d", code=1)
    assert "metadata: JSON nested too deep" in res.stderr
