"""What signing every audit event costs: signed append and verify vs the unsigned chain.

The peer is assay's own chain before issue 11 (sha256 hash chain, no signature), run
side by side on the same database: the same SQL, minus the Ed25519 signature and checks.

Run: .venv/bin/python bench/audit_signing.py [--events 2000] [--runs 5]
Writes bench/results/audit.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from _common import WORK, median, table, timed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=2000, help="Events appended per run.")
    ap.add_argument("--runs", type=int, default=5, help="Runs per variant (median reported).")
    args = ap.parse_args()
    folder = WORK / "audit"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["ASSAY_AUDIT_KEY"] = str(folder / "key" / "audit.key")
    os.environ["ASSAY_ACTOR"] = "user:bench"

    from sqlalchemy import select

    from assay import Workspace, audit
    from assay.audit._chain import _HEAD, _INSERT, _LAST, GENESIS, _digest, _driver_sqlite
    from assay.audit._keys import signer, trusted_keys
    from assay.domain.canonical import canonical_json
    from assay.store.schema import audit as audit_table
    from assay.timeutil import now_iso

    ws = Workspace.init(folder / "ws")
    signed_ws = ws
    plain = Workspace.init(folder / "plain")
    with plain.db.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit")  # the unsigned peer keeps its own chain

    details = {"task": 12345, "project": "flood-survey", "client_id": "c" * 36}

    def append_signed() -> None:
        for i in range(args.events):
            with signed_ws.db.begin() as conn:
                audit.append(conn, "user:ana", "task.submit", f"task:{i}", details)

    def append_unsigned() -> None:
        # The chain as it was: the same prepared statements on the same raw connection,
        # hash and link only (no origin lookup, no signature).
        for i in range(args.events):
            with plain.db.begin() as conn:
                raw = _driver_sqlite(conn)
                assert raw is not None
                last = raw.execute(_LAST, {}).fetchone()
                seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
                t, body = now_iso(), canonical_json(details)
                h = _digest(seq, t, "user:ana", "task.submit", f"task:{i}", body, prev)
                row = {
                    "seq": seq,
                    "time": t,
                    "actor": "user:ana",
                    "action": "task.submit",
                    "target": f"task:{i}",
                    "details": body,
                    "prev": prev,
                    "hash": h,
                    "sig": None,
                }
                raw.execute(_INSERT, row)
                raw.execute(_HEAD, {"v": f"{seq}:{h}"})

    def verify_signed() -> None:
        with signed_ws.db.read() as conn:
            assert audit.verify(conn, trusted_keys(), state=False).ok

    def verify_every() -> None:
        with signed_ws.db.read() as conn:
            assert audit.verify(conn, trusted_keys(), state=False, all_signatures=True).ok

    def verify_unsigned() -> None:
        prev = GENESIS
        with plain.db.read() as conn:
            for r in conn.execute(select(audit_table).order_by(audit_table.c.seq)):
                h = _digest(r.seq, r.time, r.actor, r.action, r.target, r.details, r.prev_hash)
                assert h == r.hash and r.prev_hash == prev
                prev = r.hash

    signer()  # the key exists before timing
    runs: dict[str, list[float]] = {k: [] for k in ("au", "as", "vu", "vs", "ve")}
    for _ in range(args.runs):  # interleaved, so noise falls on both sides alike
        runs["au"].append(timed(append_unsigned))
        runs["as"].append(timed(append_signed))
        runs["vu"].append(timed(verify_unsigned))
        runs["vs"].append(timed(verify_signed))
        runs["ve"].append(timed(verify_every))
    # Verify walks the whole trail, which grows each run: report the last run's size.
    total = args.events * args.runs
    us = {k: median(v) / args.events * 1e6 for k, v in runs.items() if k[0] == "a"}
    vrate = {k: total / runs[k][-1] for k in ("vu", "vs", "ve")}
    rows = [
        [
            "append (one event per transaction)",
            f"{us['au']:.0f} µs",
            f"{us['as']:.0f} µs",
            f"{us['as'] / us['au']:.2f}x",
        ],
        [
            f"verify {total:,} events (default)",
            f"{vrate['vu']:,.0f} events/s",
            f"{vrate['vs']:,.0f} events/s",
            f"{vrate['vu'] / vrate['vs']:.2f}x the time",
        ],
        [
            f"verify {total:,} events, --all-signatures",
            f"{vrate['vu']:,.0f} events/s",
            f"{vrate['ve']:,.0f} events/s",
            f"{vrate['vu'] / vrate['ve']:.2f}x the time",
        ],
    ]
    text = (
        "### Audit events: signed (Ed25519) vs the unsigned hash chain\n\n"
        + table(["operation", "unsigned chain", "signed (assay)", "signed / unsigned"], rows)
        + f"\n\nMedians of {args.runs} interleaved runs of {args.events:,} events each, one "
        "SQLite (WAL) transaction per event, on this 2-core shared machine. Produced by "
        f"`.venv/bin/python bench/audit_signing.py --events {args.events} --runs {args.runs}`."
        " The extra append time is one Ed25519 signature (and the origin lookup) per event, "
        "as the CLI writes them; the server's group commits sign once per batch (`seal`). "
        "Default verify checks every hash and link but only the newest signature of each "
        "key's run, which binds everything before it.\n"
    )
    print(text)
    out = HERE / "results" / "audit.md"
    out.write_text(text)
    ws.close()
    plain.db.dispose()


if __name__ == "__main__":
    main()
