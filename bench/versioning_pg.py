"""Versioning at scale on PostgreSQL beside SQLite: 1,000,000 items with 1-5 boxes each.

Times, each phase in a fresh process (bench/foundation_versioning.py's phases), on the same
rows in both databases: the first commit; relabel 1,000 items then `status` + `commit`.
Targets (issue 18): first commit on PostgreSQL <= 2x the SQLite figure; status + commit
after 1,000 relabels <= 3 s.

PostgreSQL: the loopback server (127.0.0.1:5432, database `test`, default settings), a fresh
schema per run, the rows loaded with COPY (setup is not timed).

Run: PYTHONPATH=src .venv/bin/python bench/versioning_pg.py [--items 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import uuid

from _common import WORK, median, table
from foundation_versioning import ITEM_COLUMNS, WORKING_COLUMNS, WS, bench_rows, run_phase, setup

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"},
    )


def setup_pg(n: int, schema: str, rows: tuple[list[tuple], list[tuple]]) -> None:  # type: ignore[type-arg]
    import psycopg

    from assay import Workspace

    shutil.rmtree(WS, ignore_errors=True)
    ws = Workspace.init(WS)
    ws.create_dataset("aerial")
    ws.close()
    item_rows, work_rows = rows
    with psycopg.connect(
        f"host=127.0.0.1 user=postgres dbname=test options=-csearch_path={schema}"
    ) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY items ({ITEM_COLUMNS}) FROM STDIN") as cp:
                for r in item_rows:
                    cp.write_row(r)
            with cur.copy(f"COPY working ({WORKING_COLUMNS}) FROM STDIN") as cp:
                for r in work_rows:
                    cp.write_row(r)
        conn.execute("ANALYZE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results: dict[str, dict[str, list[float]]] = {"sqlite": {}, "postgresql": {}}
    item_rows, work_rows, _ = bench_rows(args.items)
    snapshot = WORK / "versioning_pg_sqlite"
    os.environ.pop("ASSAY_DATABASE_URL", None)
    setup(args.items)
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(WS, snapshot)
    for run in range(args.runs):
        for db in ("sqlite", "postgresql"):
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            if db == "postgresql":
                _psql(f"CREATE SCHEMA {schema}")
            try:  # a failed set-up drops its schema too
                if db == "postgresql":
                    os.environ["ASSAY_DATABASE_URL"] = f"{PG}?options=-csearch_path%3D{schema}"
                    t = time.perf_counter()
                    setup_pg(args.items, schema, (item_rows, work_rows))
                    print(f"postgresql setup: {time.perf_counter() - t:.1f} s", file=sys.stderr)
                else:
                    os.environ.pop("ASSAY_DATABASE_URL", None)
                    shutil.rmtree(WS, ignore_errors=True)
                    shutil.copytree(snapshot, WS)
                for name in ("commit", "relabel"):
                    r = run_phase(name)
                    print(f"{db} run {run + 1} {name}: {r}", file=sys.stderr)
                    for k, v in r.items():
                        results[db].setdefault(f"{name}:{k}", []).append(v)
            finally:
                if db == "postgresql":
                    _psql(f"DROP SCHEMA {schema} CASCADE")
    rows = []
    for key, label in (
        ("commit:commit", "first commit"),
        ("relabel:status", "status after relabeling 1,000"),
        ("relabel:commit", "commit after relabeling 1,000"),
        ("relabel:status+commit", "status + commit"),
    ):
        lite, pg = median(results["sqlite"][key]), median(results["postgresql"][key])
        rows.append([label, f"{lite:.2f}", f"{pg:.2f}", f"{pg / lite:.2f}x"])
    # No peak-memory row: a phase's ru_maxrss keeps the figure of the parent it was forked
    # from (Linux carries it across exec), and this parent holds the million bench rows.
    print(
        f"\n{args.items:,} items with 1-5 boxes each, median of {args.runs} runs (seconds)\n\n"
        + table(["operation", "SQLite s", "PostgreSQL s", "PostgreSQL / SQLite"], rows)
    )


if __name__ == "__main__":
    main()
