"""The task file: which commit, how to prompt, how to solve and how to score.

```yaml
name: flood-qa
dataset: reports@main            # NAME@REV; the items' text is the input
target: answer                   # the label control holding the reference answer
template:
  system: You read field reports from a flooded town.
  prompt: "Report: {input}\\nQuestion: {metadata.question}\\nAnswer:"
  fewshot: {dataset: reports-train@v1, n: 2, seed: 0}
solver: generate                 # generate | multiple_choice | chain_of_thought
generation: {max_new_tokens: 16, stop: ["\\n"]}
scorers: [exact, match, token_f1, {name: numeric, tolerance: 0.5}]
slice_by: [metadata.district]
```
"""

from __future__ import annotations

import hashlib
import re
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from assay._yaml_errors import yaml_problem
from assay.errors import InvalidInput, NotFound
from assay.models.llm import GenerationParams

SOLVERS = ("generate", "multiple_choice", "chain_of_thought")
SCORERS = (
    "exact",
    "match",
    "token_f1",
    "regex",
    "choice",
    "numeric",
    "span_f1",
    "embedding",
    "judge",
)
BINARY = {"exact", "match", "regex", "choice", "numeric", "judge"}
BASE_FIELDS = ("input", "choices")
FEWSHOT_FIELDS = ("input", "choices", "target")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FewShot(_Strict):
    dataset: str
    n: int = Field(default=2, ge=1, le=64)
    seed: int = 0


class Template(_Strict):
    system: str | None = None
    prompt: str = "{input}"
    fewshot: FewShot | None = None
    # How a few-shot example's answer is written (the assistant turn).
    answer: str = "{target}"


class Scorer(_Strict):
    name: Literal[
        "exact", "match", "token_f1", "regex", "choice", "numeric", "span_f1", "embedding", "judge"
    ]
    pattern: str | None = None  # regex: may hold {target}
    tolerance: float = Field(default=0.0, ge=0)  # numeric: absolute
    relative: float = Field(default=0.0, ge=0)  # numeric: relative to the target
    rubric: str | None = None  # judge
    judge_model: str | None = None  # judge: a model directory (default: the evaluated model)
    judge_endpoint: str | None = None  # judge: an OpenAI-compatible endpoint instead
    human: str | None = None  # judge: the control with people's correct/incorrect grades

    @model_validator(mode="after")
    def _needs(self) -> Scorer:
        if self.name == "regex" and not self.pattern:
            raise ValueError("the regex scorer needs a pattern")
        if self.name == "judge" and not self.rubric:
            raise ValueError("the judge scorer needs a rubric")
        if self.judge_model and self.judge_endpoint:
            raise ValueError("give the judge a judge_model or a judge_endpoint, not both")
        return self


class TaskSpec(_Strict):
    name: str
    dataset: str
    target: str = "answer"
    template: Template = Template()
    solver: Literal["generate", "multiple_choice", "chain_of_thought"] = "generate"
    choices: list[str] | None = None
    generation: dict[str, Any] = Field(default_factory=dict)
    scorers: list[Scorer]
    slice_by: list[str] = Field(default_factory=list)

    @field_validator("scorers", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if not self.scorers:
            raise ValueError("scorers: name at least one scorer")
        names = [s.name for s in self.scorers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"scorers: {dup[0]} appears twice")
        if "choice" in names and self.solver != "multiple_choice":
            raise ValueError("the choice scorer needs solver: multiple_choice")
        if self.solver == "multiple_choice" and not self.choices:
            raise ValueError("solver multiple_choice needs choices: [..]")
        for f in self.slice_by:
            if f != "marking" and not f.startswith("metadata."):
                raise ValueError(f"slice_by: {f!r}: use marking or metadata.FIELD")
        return self

    def params(self) -> GenerationParams:
        return GenerationParams.from_dict(self.generation)


def slice_definition(slice_by: list[str], name: str) -> dict[str, str]:
    """What slice `name` of a run whose task file has `slice_by` holds: ``{"slice_by": FIELD,
    "value": TEXT}``, the items whose FIELD reads TEXT (``(empty)``: no value), or ``{"slice_by":
    FIELD}``, the empty slice of a field no item had a value of. A name alone may stand for
    two: ``metadata.district=north`` is the value ``north`` of ``metadata.district`` or the
    field ``metadata.district=north`` (a query written where a field goes). Of two fields that
    make one name in a run, the later one's slice is the run's, as the run built its items."""
    found: dict[str, str] = {}
    for field in slice_by:
        if name == field:
            found = {"slice_by": field}
        elif name.startswith(f"{field}="):
            found = {"slice_by": field, "value": name[len(field) + 1 :]}
    return found


def template_fields(text: str, where: str, allowed: tuple[str, ...]) -> list[str]:
    """The fields a template uses; an unknown one is an `InvalidInput` naming it."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidInput(f"{where}: not a valid template ({exc})") from None
    out = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if spec or conv:
            raise InvalidInput(f"{where}: field {{{name}}} may not carry a format spec")
        if name not in allowed and not (name.startswith("metadata.") and len(name) > 9):
            known = ", ".join(f"{{{a}}}" for a in allowed)
            raise InvalidInput(
                f"{where}: unknown template field {{{name}}}; known fields: {known} "
                "and {metadata.FIELD}"
            )
        out.append(name)
    return out


def fill(text: str, values: dict[str, str], metadata: dict[str, Any], where: str) -> str:
    """The template with its fields filled; a missing metadata field names the item."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(text):
        out.append(literal)
        if name is None:
            continue
        if name.startswith("metadata."):
            key = name[9:]
            if key not in metadata:
                raise InvalidInput(f"{where}: has no metadata field {key!r} (template {{{name}}})")
            out.append(str(metadata[key]))
        else:
            out.append(values[name])
    return "".join(out)


def _where(err: Any) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(top level)"


def load_task(path: str | Path) -> tuple[TaskSpec, str]:
    """The task and the sha256 of its file; every problem is one `InvalidInput` naming the
    file and the field, raised before anything is generated."""
    p = Path(path)
    try:
        raw_bytes = p.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{p}: no such task file") from None
    except OSError as exc:
        raise InvalidInput(f"{p}: cannot read the task file ({exc})") from None
    try:
        raw = yaml.safe_load(raw_bytes)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{p}: not valid YAML ({yaml_problem(exc)})") from None
    except RecursionError:
        raise InvalidInput(f"{p}: YAML nested too deep to read") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{p}: a task file is a YAML mapping (name, dataset, scorers, ...)")
    try:
        spec = TaskSpec.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        raise InvalidInput(f"{p}: {_where(e)}: {msg}") from None
    try:
        spec.params()
    except InvalidInput as exc:
        raise InvalidInput(f"{p}: generation: {exc}") from None
    t = spec.template
    template_fields(t.prompt, f"{p}: template.prompt", BASE_FIELDS)
    if t.system:
        template_fields(t.system, f"{p}: template.system", BASE_FIELDS)
    template_fields(t.answer, f"{p}: template.answer", FEWSHOT_FIELDS)
    for s in spec.scorers:
        if s.name == "regex" and s.pattern:
            try:
                re.compile(s.pattern.replace("{target}", "x"))
            except re.error as exc:
                raise InvalidInput(f"{p}: scorers: regex pattern {s.pattern!r}: {exc}") from None
    return spec, hashlib.sha256(raw_bytes).hexdigest()
