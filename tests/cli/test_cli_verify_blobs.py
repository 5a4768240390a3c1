"""`assay audit verify --blobs`: the stored bytes behind every name the workspace holds.

The threat model's database writer can write the workspace folder: an item's bytes swapped in
`objects/` (its name, marking and labels untouched) passed every check `verify` made. With
`--blobs` every blob the metadata names (as `assay gc` keeps them) is read back and hashed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from assay import Workspace
from assay.store import LocalBlobStore
from assay.store.schema import items


def test_verify_blobs_names_an_item_whose_bytes_changed_or_went_missing(
    run_cli, samples, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    run_cli("init", ws)
    samples.images("uav", 3)
    ids = run_cli("-w", ws, "ingest", samples.root, "--json").json()["item_ids"]
    run_cli("-w", ws, "dataset", "create", "flood")
    run_cli("-w", ws, "dataset", "add", "flood", "--all")
    run_cli("-w", ws, "commit", "flood", "-m", "first")
    good = run_cli("-w", ws, "audit", "verify", "--blobs", "--json").json()
    assert good["ok"] and good["blobs_bad"] == []
    assert good["blobs_checked"] >= 4  # three images and the commit's manifest
    assert "blob(s) hash to their names" in run_cli("-w", ws, "audit", "verify", "--blobs").stdout

    with Workspace.open(ws) as w:
        store = w.blobs
        assert isinstance(store, LocalBlobStore)
        with w.db.read() as conn:
            names = {str(r.id): str(r.name) for r in conn.execute(select(items.c.id, items.c.name))}
        changed = ids[0]
        # As the database writer can: other bytes under an item's name, another removed.
        loose = Path(store._loose(changed))
        if loose.exists():
            loose.write_bytes(loose.read_bytes()[:-1] + b"\x00")
        else:
            pack, offset, length = store._locate(changed) or ("", 0, 0)
            with (Path(store._packs) / pack).open("r+b") as fh:
                fh.seek(offset + length - 1)
                last = fh.read(1)
                fh.seek(offset + length - 1)
                fh.write(bytes([last[0] ^ 0xFF]))
    # Without --blobs nothing reads them: the trail still holds.
    run_cli("-w", ws, "audit", "verify")
    res = run_cli("-w", ws, "audit", "verify", "--blobs", code=1)
    assert f"1 of {good['blobs_checked']} blob(s) do not hold" in res.stderr
    assert f"blob {changed[:12]} (item {names[changed]}) does not hash to its name" in res.stderr
    # And bytes removed from the store: every item of the pack they were in.
    for pack in (Path(store.url) / "pack").glob("*.pack"):
        pack.unlink()
    bad = run_cli("-w", ws, "audit", "verify", "--blobs", "--json", code=1).json()
    assert not bad["ok"] and bad["state"] == []
    for sha in ids:
        assert (
            f"blob {sha[:12]} (item {names[sha]}) is missing from {store.url}" in bad["blobs_bad"]
        )
