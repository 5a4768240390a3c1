"""Items of a commit -> prompts (system prompt, few-shot turns, solver instructions), and
outputs -> answers (the chosen option, the line after ``ANSWER:``)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput, NotFound
from assay.evaluation.llm._scorers import Reference, letter, parse_choice
from assay.evaluation.llm._task import TaskSpec, fill
from assay.models.llm import ChatMessage

if TYPE_CHECKING:
    from assay.evaluation.runs._data import EvalData, EvalItem
    from assay.workspace import Workspace

MC_INSTRUCTION = "Answer with the letter of one choice."
COT_INSTRUCTION = (
    "Think step by step, then give the final answer on its own line as: ANSWER: <answer>"
)
_ANSWER_LINE = re.compile(r"ANSWER\s*:\s*(.*)", re.IGNORECASE)


@dataclass(frozen=True)
class Sample:
    """One evaluated item: its text, metadata, reference and the prompt built for it."""

    item_id: str
    name: str
    marking: str
    text: str
    metadata: dict[str, Any]
    reference: Reference
    human: str | None
    prompt: tuple[ChatMessage, ...]


def item_text(it: EvalItem) -> str:
    data = it.read_bytes()
    try:
        return str(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"item {it.item_id[:12]} ({it.name}) is not UTF-8 text") from None


def fields_of(it: EvalItem) -> dict[str, Any]:
    """Metadata with the fields of the item's source row (JSONL/CSV ingest) on top."""
    nested = it.metadata.get("fields")
    return {**it.metadata, **(nested if isinstance(nested, dict) else {})}


def reference_of(it: EvalItem, text: str, control: str) -> Reference | None:
    """The item's labels of record under `control`: a text, a choice or a value, and spans."""
    regions = [r for r in it.regions if r.control == control]
    if not regions:
        return None
    answer: str | None = None
    spans: list[str] = []
    for r in regions:
        if r.kind == "span" and r.span is not None:
            spans.append(text[r.span[0] : r.span[1]])
        elif answer is None and r.kind == "text" and r.text is not None:
            answer = r.text
        elif answer is None and r.kind == "choice" and r.label is not None:
            answer = r.label
        elif answer is None and r.value is not None:
            answer = f"{r.value:g}"
    return Reference(answer, tuple(spans))


def _choices_block(choices: list[str]) -> str:
    return "\n".join(f"{letter(i)}) {c}" for i, c in enumerate(choices))


def _user_turn(spec: TaskSpec, it: EvalItem, text: str, where: str) -> str:
    choices = spec.choices or []
    body = fill(
        spec.template.prompt,
        {"input": text, "choices": _choices_block(choices)},
        fields_of(it),
        where,
    )
    if spec.solver == "multiple_choice":
        if "{choices}" not in spec.template.prompt:
            body += "\n\n" + _choices_block(choices)
        body += "\n" + MC_INSTRUCTION
    elif spec.solver == "chain_of_thought":
        body += "\n" + COT_INSTRUCTION
    return body


def _shot_answer(spec: TaskSpec, ref: Reference) -> str:
    target = ref.text if ref.text is not None else "; ".join(ref.spans)
    if spec.solver == "multiple_choice" and spec.choices and target in spec.choices:
        target = letter(spec.choices.index(target))
    answer = spec.template.answer.replace("{target}", target)
    if spec.solver == "chain_of_thought":
        answer = f"ANSWER: {answer}"
    return answer


def fewshot_turns(
    ws: Workspace, spec: TaskSpec, exclude: set[str], task_file: str
) -> tuple[list[ChatMessage], str | None, str | None]:
    """The few-shot turns, the commit they came from and its marking."""
    from assay.evaluation.runs._data import load_dataset

    fs = spec.template.fewshot
    if fs is None:
        return [], None, None
    try:
        data = load_dataset(ws, fs.dataset)
    except (NotFound, InvalidInput) as exc:
        raise type(exc)(f"{task_file}: template.fewshot.dataset: {exc}") from None
    pool = []
    for it in data.items:
        if it.item_id in exclude:
            continue
        text = item_text(it)
        ref = reference_of(it, text, spec.target)
        if ref is not None and (ref.text is not None or ref.spans):
            pool.append((it, text, ref))
    if len(pool) < fs.n:
        raise InvalidInput(
            f"{task_file}: template.fewshot: {fs.dataset} has {len(pool)} labelled items that "
            f"are not evaluated, fewer than n={fs.n}"
        )
    picked = random.Random(fs.seed).sample(pool, fs.n)
    turns: list[ChatMessage] = []
    for it, text, ref in picked:
        where = f"{task_file}: few-shot item {it.item_id[:12]} ({it.name})"
        turns.append(ChatMessage("user", _user_turn(spec, it, text, where)))
        turns.append(ChatMessage("assistant", _shot_answer(spec, ref)))
    return turns, data.commit_id, data.marking


def build_samples(
    spec: TaskSpec,
    data: EvalData,
    fewshot: list[ChatMessage],
    task_file: str,
    human_control: str | None,
) -> tuple[list[Sample], list[EvalItem]]:
    """Samples of the items with a reference, and the items that had none."""
    out = []
    missing: list[EvalItem] = []
    for it in data.items:
        text = item_text(it)
        ref = reference_of(it, text, spec.target)
        if ref is None:
            missing.append(it)
            continue
        where = f"{task_file}: item {it.item_id[:12]} ({it.name})"
        msgs: list[ChatMessage] = []
        meta = fields_of(it)
        if spec.template.system:
            system = fill(spec.template.system, {"input": text, "choices": ""}, meta, where)
            msgs.append(ChatMessage("system", system))
        msgs.extend(fewshot)
        msgs.append(ChatMessage("user", _user_turn(spec, it, text, where)))
        human = None
        if human_control is not None:
            h = reference_of(it, text, human_control)
            human = h.text if h is not None else None
        out.append(Sample(it.item_id, it.name, it.marking, text, meta, ref, human, tuple(msgs)))
    return out, missing


def extract_answer(spec: TaskSpec, output: str) -> str:
    """What the scorers see: the chosen option's text (multiple choice), the text after the
    last ``ANSWER:`` (chain of thought), else the output stripped."""
    text = output.strip()
    if spec.solver == "chain_of_thought":
        found = _ANSWER_LINE.findall(text)
        if found:
            text = found[-1].strip()
        else:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            text = lines[-1].strip() if lines else ""
    if spec.solver == "multiple_choice":
        chosen = parse_choice(text, spec.choices or [])
        return chosen if chosen is not None else ""
    return text
