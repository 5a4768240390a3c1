"""Commit ids are the sha256 of the canonical header."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from assay.domain.commit import Commit


def _commit() -> Commit:
    fields = {
        "dataset": "flood-2026",
        "parents": ("a" * 64,),
        "message": "relabel rooftops",
        "author": "user:ana",
        "created": "2026-05-01T10:00:00.000000Z",
        "manifest": "b" * 64,
        "stats": {"items": 3, "regions": 5},
        "delta": "d" * 64,
    }
    return Commit(id=Commit.make_id(**fields), **fields)  # type: ignore[arg-type]


def test_id_is_sha256_of_canonical_header() -> None:
    c = _commit()
    header = {
        "author": c.author,
        "created": c.created,
        "dataset": c.dataset,
        "manifest": c.manifest,
        "message": c.message,
        "parents": list(c.parents),
        "delta": c.delta,
        "stats": c.stats,
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":"))
    assert c.id == hashlib.sha256(text.encode()).hexdigest()
    assert c.verify()


def test_any_altered_field_fails_verify() -> None:
    c = _commit()
    for change in (
        {"message": "relabel rooftops."},
        {"author": "user:bob"},
        {"parents": ()},
        {"manifest": "c" * 64},
        {"stats": {"items": 4, "regions": 5}},
        {"created": "2026-05-01T10:00:00.000001Z"},
        {"delta": None},
    ):
        assert not dataclasses.replace(c, **change).verify(), change


def test_to_dict_carries_the_header() -> None:
    d = _commit().to_dict()
    assert set(d) == {
        "id",
        "dataset",
        "parents",
        "message",
        "author",
        "created",
        "manifest",
        "delta",
        "stats",
    }
    assert d["parents"] == ["a" * 64]
