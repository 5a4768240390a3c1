"""Training data for language models: chat, SFT and DPO JSON Lines, with a lineage manifest.

What TRL, Axolotl and LLaMA-Factory read:

* ``chat`` (``chat.jsonl``): ``{"messages": [{"role": "system", ...}?, {"role": "user",
  "content": PROMPT}, {"role": "assistant", "content": ANSWER}]}``;
* ``sft`` (``sft.jsonl``): ``{"prompt": PROMPT, "completion": ANSWER}``;
* ``dpo`` (``dpo.jsonl``): ``{"prompt": PROMPT, "chosen": TEXT, "rejected": TEXT}``.

PROMPT is the text of a text item; ANSWER its free-text answer of record (a ``text``
region); a ``system`` metadata field becomes the system message. Preference pairs come from
``ranking`` answers over the candidates in the item's metadata (``responses``,
``candidates`` or ``completions``, also among the fields of the item's source row; a
ranking lists candidate indices best first). Every
annotator's latest ranking counts: for each pair of candidates the share of annotators who
put the majority's choice first is its agreement, and pairs below ``--min-agreement``
(default 0.75) are dropped and counted. Items without rankings give pairs from rated text
answers: each annotation holding a free-text answer and a ``rating`` is one rated answer;
of two different answers the one with the higher mean rating is chosen (ties are dropped
and counted).

Every export also writes ``lineage.json`` (dataset, commit id, sha256 of the rows file,
rows, filters, marking, what was dropped) and ``MARKING.txt``. Only a commit can be
exported: the working state has no id to trace a model back to.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

from assay._atomic import atomic_write_text
from assay.errors import InvalidInput
from assay.formats._export import prepare_out, write_marking
from assay.formats._model import ExportBundle, ExportRow
from assay.formats._records import inline_text
from assay.formats._registry import Codec

CANDIDATE_FIELDS = ("responses", "candidates", "completions")
MIN_AGREEMENT = 0.75
LINEAGE_FILE = "lineage.json"


def _answer(row: ExportRow) -> str | None:
    texts = [r.text for r in row.regions if r.kind == "text" and r.text]
    return texts[0] if texts else None


def _fields(row: ExportRow) -> dict[str, Any]:
    """The item's metadata, with the fields of its source row (JSONL/CSV ingest) on top."""
    nested = row.metadata.get("fields")
    return {**row.metadata, **(nested if isinstance(nested, dict) else {})}


def _candidates(row: ExportRow, n: int) -> list[str] | None:
    fields = _fields(row)
    for key in (*CANDIDATE_FIELDS, *fields):
        value = fields.get(key)
        if isinstance(value, list) and len(value) == n and all(isinstance(v, str) for v in value):
            return value
    return None


def _rankings(row: ExportRow) -> list[tuple[str, ...]]:
    """Each annotator's latest ranking (every stored answer), else the ranking of record."""
    latest: dict[str, tuple[str, tuple[str, ...]]] = {}
    for a in row.annotations:
        if a.kind not in ("human", "review"):
            continue
        for r in a.regions:
            if (
                r.kind == "ranking"
                and r.ranking
                and (a.author not in latest or latest[a.author][0] <= a.created)
            ):
                latest[a.author] = (a.created, tuple(r.ranking))
    if latest:
        return [rk for _, rk in latest.values()]
    return [tuple(r.ranking) for r in row.regions if r.kind == "ranking" and r.ranking]


def _rated_answers(row: ExportRow) -> dict[str, float]:
    """Each distinct free-text answer with the mean rating given with it (annotations that
    hold both a text answer and a rating; each author's latest)."""
    latest: dict[str, tuple[str, str, float]] = {}
    for a in row.annotations:
        if a.kind not in ("human", "review"):
            continue
        texts = [r.text for r in a.regions if r.kind == "text" and r.text]
        ratings = [r.value for r in a.regions if r.kind == "rating" and r.value is not None]
        if texts and ratings and (a.author not in latest or latest[a.author][0] <= a.created):
            latest[a.author] = (a.created, texts[0], float(ratings[0]))
    sums: dict[str, list[float]] = defaultdict(list)
    for _, text, value in latest.values():
        sums[text].append(value)
    return {t: sum(v) / len(v) for t, v in sums.items()}


def rated_pairs(rated: dict[str, float]) -> tuple[list[tuple[str, str]], int]:
    """(chosen, rejected) for every two answers of different mean rating, and the number of
    pairs dropped for an equal rating."""
    kept, ties = [], 0
    for a, b in combinations(sorted(rated), 2):
        if rated[a] == rated[b]:
            ties += 1
        else:
            kept.append((a, b) if rated[a] > rated[b] else (b, a))
    return kept, ties


def preference_pairs(
    rankings: list[tuple[str, ...]], min_agreement: float
) -> tuple[list[tuple[str, str, float]], int]:
    """(winner, loser, agreement) for every pair of ranked candidates that enough annotators
    agree on, and the number of pairs dropped below `min_agreement`."""
    wins: dict[tuple[str, str], int] = defaultdict(int)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for rk in rankings:
        pos = {c: i for i, c in enumerate(rk)}
        for a, b in combinations(sorted(pos), 2):
            seen[(a, b)] += 1
            if pos[a] < pos[b]:
                wins[(a, b)] += 1
    kept, dropped = [], 0
    for (a, b), n in sorted(seen.items()):
        w = wins[(a, b)]
        agreement = max(w, n - w) / n
        if agreement < min_agreement or w * 2 == n:
            dropped += 1
            continue
        kept.append((a, b, agreement) if w * 2 > n else (b, a, agreement))
    return kept, dropped


def _records(bundle: ExportBundle, fmt: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    min_agreement = float(bundle.options.get("min_agreement", MIN_AGREEMENT))
    if not 0.5 <= min_agreement <= 1.0:
        raise InvalidInput(f"--min-agreement must be between 0.5 and 1, got {min_agreement}")
    out: list[dict[str, Any]] = []
    ranked_rows = 0
    for row in bundle.rows:
        prompt = inline_text(row)
        if prompt is None:
            bundle.dropped.add("items that are not text")
            continue
        if fmt in ("chat", "sft"):
            answer = _answer(row)
            if answer is None:
                bundle.dropped.add("text items without a text answer")
                continue
            if fmt == "sft":
                out.append({"prompt": prompt, "completion": answer})
            else:
                system = _fields(row).get("system")
                messages = (
                    [{"role": "system", "content": system}] if isinstance(system, str) else []
                )
                messages += [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": answer},
                ]
                out.append({"messages": messages})
            continue
        rankings = _rankings(row)
        if not rankings:
            rated = _rated_answers(row)
            if len(rated) < 2:
                bundle.dropped.add("text items without a ranking or two rated answers")
                continue
            ranked_rows += 1
            answer_pairs, ties = rated_pairs(rated)
            bundle.dropped.add("answer pairs rated the same", ties)
            out += [{"prompt": prompt, "chosen": c, "rejected": r} for c, r in answer_pairs]
            continue
        ranked_rows += 1
        n = max(len(r) for r in rankings)
        cands = _candidates(row, n)
        if cands is None:
            bundle.dropped.add("rankings without candidates in the metadata")
            continue
        pairs, low = preference_pairs(rankings, min_agreement)
        bundle.dropped.add("preference pairs below the agreement threshold", low)
        for win, lose, _ in pairs:
            try:
                chosen, rejected = cands[int(win)], cands[int(lose)]
            except (ValueError, IndexError):
                bundle.dropped.add("rankings naming no candidate")
                continue
            out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    if fmt == "dpo" and ranked_rows == 0:
        raise InvalidInput(
            f"{bundle.dataset}@{(bundle.revision or '')[:12]}: no ranking annotations or rated "
            "text answers to build preference pairs from (--format dpo needs a ranking "
            "control's answers, or text answers each given with a rating)"
        )
    filters: dict[str, Any] = {
        "items": "text items with "
        + ("a ranking or rated text answers" if fmt == "dpo" else "a text answer of record")
    }
    if fmt == "dpo":
        filters["min_agreement"] = min_agreement
        filters["annotators"] = "each author's latest ranking"
    return out, filters


def _writer(fmt: str) -> Any:
    def write(bundle: ExportBundle, out: Path) -> list[Path]:
        if bundle.revision is None:
            raise InvalidInput(
                f"--format {fmt} exports a commit (NAME@REV): the working state of "
                f"{bundle.dataset} has no id for a model's lineage to name"
            )
        records, filters = _records(bundle, fmt)
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        out_dir = prepare_out(Path(out))
        data_path = out_dir / f"{fmt}.jsonl"
        atomic_write_text(data_path, text)
        lineage = {
            "format": fmt,
            "file": data_path.name,
            "dataset": bundle.dataset,
            "commit": bundle.revision,
            "rows": len(records),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "filters": filters,
            "marking": bundle.marking,
            "dropped": bundle.dropped.to_dict(),
        }
        lineage_path = out_dir / LINEAGE_FILE
        atomic_write_text(lineage_path, json.dumps(lineage, indent=2) + "\n")
        return [data_path, lineage_path, write_marking(bundle, out_dir)]

    return write


def _codec(fmt: str, description: str) -> Codec:
    return Codec(
        name=fmt,
        read=None,
        write=_writer(fmt),
        description=description,
        media=("text/",),
        needs_annotations=fmt == "dpo",
    )


CHAT_CODEC = _codec("chat", "conversational messages JSONL for chat fine-tuning")
SFT_CODEC = _codec("sft", "prompt/completion JSONL for supervised fine-tuning")
DPO_CODEC = _codec(
    "dpo", "prompt/chosen/rejected preference pairs from rankings or rated text answers"
)
