"""Text items of a dataset commit: the documents indirect injections hide in, and where
planted canaries are found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from assay.workspace import Workspace


@dataclass(frozen=True)
class TextDoc:
    """One text item of a commit."""

    item_id: str
    name: str
    text: str
    marking: str
    metadata: dict[str, Any]
    answer: str | None  # its free-text answer of record, if any


@dataclass(frozen=True)
class Texts:
    """The text items of one commit."""

    dataset: str
    commit_id: str
    marking: str
    docs: list[TextDoc]


def load_texts(ws: Workspace, spec: str) -> Texts:
    """The text items of ``NAME@REV`` (a bare NAME is its HEAD commit)."""
    from assay.formats.io import export_bundle

    rev = ws.resolve(spec, default_head=True)
    if rev.commit is None:
        raise NotFound(f"{spec}: the red team reads a commit; run `assay commit` first")
    bundle = export_bundle(ws, rev)
    docs: list[TextDoc] = []
    for row in bundle.rows:
        if not row.media_type.startswith("text/"):
            continue
        try:
            text = row.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"item {row.item_id} ({row.name}): text is not UTF-8") from None
        answers = [r.text for r in row.regions if r.kind == "text" and r.text]
        answer = answers[0] if answers else None
        docs.append(TextDoc(row.item_id, row.name, text, row.marking, row.metadata, answer))
    if not docs:
        raise InvalidInput(f"{spec}: commit {rev.commit.id[:12]} holds no text items")
    return Texts(rev.commit.dataset, rev.commit.id, bundle.marking, docs)
