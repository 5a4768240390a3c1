"""Text labelers from transformers model directories, for pre-labeling text items.

Three kinds answer a batch of texts with labels: a sequence classifier (one label per
text, with its probability), a token classifier (labelled character spans, grouped from
B-/I- tags by transformers' own token-classification pipeline) and a causal language model
with a prompt template whose greedy answer is parsed to one of the project's labels.

Example:
    >>> # TextClassifierModel("models/report-clf").label(["water over the road"])
    >>> # [[TextAnswer(label='flooded', score=0.93, span=None)]]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from assay.errors import InvalidInput, require
from assay.models._llm import GenRequest, LanguageModel, check_model_dir
from assay.models.llm._offline import go_offline


@dataclass(frozen=True)
class TextAnswer:
    """A label for a whole text (`span` None) or for characters [start, end) of it."""

    label: str
    score: float | None
    span: tuple[int, int] | None = None


class TextLabeler(Protocol):
    """What text pre-labeling needs: the labels a model can give and answers per text."""

    classes: list[str]
    control_type: Literal["choices", "spans"]

    def label(self, texts: Sequence[str]) -> list[list[TextAnswer]]: ...


def _pipeline(task: Any, path: Path) -> Any:
    go_offline()
    require("torch", "serve")
    require("transformers", "serve")
    from transformers import pipeline

    try:
        return pipeline(task, model=str(check_model_dir(path)), device="cpu")
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"{path}: not a loadable {task} model ({exc})") from None


def _classes(pipe: Any) -> list[str]:
    return [str(v) for _, v in sorted(pipe.model.config.id2label.items())]


class TextClassifierModel:
    """A transformers sequence classifier: the most probable label of each text."""

    control_type: Literal["choices", "spans"] = "choices"

    def __init__(self, path: str | Path, batch_size: int = 32) -> None:
        self.pipe = _pipeline("text-classification", Path(path))
        self.classes = _classes(self.pipe)
        self.batch_size = batch_size

    def label(self, texts: Sequence[str]) -> list[list[TextAnswer]]:
        out = self.pipe(list(texts), batch_size=self.batch_size, truncation=True, top_k=1)
        return [[TextAnswer(str(r[0]["label"]), float(r[0]["score"]))] for r in out]


class TokenClassifierModel:
    """A transformers token classifier: labelled character spans (B-/I- tags grouped)."""

    control_type: Literal["choices", "spans"] = "spans"

    def __init__(self, path: str | Path, batch_size: int = 32) -> None:
        self.pipe = _pipeline("token-classification", Path(path))
        tags = _classes(self.pipe)
        self.classes = sorted({re.sub(r"^[BIES]-", "", t) for t in tags if t != "O"})
        self.batch_size = batch_size

    def label(self, texts: Sequence[str]) -> list[list[TextAnswer]]:
        out = self.pipe(list(texts), batch_size=self.batch_size, aggregation_strategy="simple")
        if texts and isinstance(out[0], dict):  # one text: the pipeline drops the outer list
            out = [out]
        return [
            [
                TextAnswer(
                    str(e["entity_group"]), float(e["score"]), (int(e["start"]), int(e["end"]))
                )
                for e in ents
                if e.get("start") is not None and int(e["end"]) > int(e["start"])
            ]
            for ents in out
        ]


class PromptLabeler:
    """A causal language model asked `template` (with ``{text}`` and ``{labels}``) per text;
    the first label named in its greedy answer is the label (no label named: no answer)."""

    control_type: Literal["choices", "spans"] = "choices"

    def __init__(
        self,
        path: str | Path,
        template: str,
        classes: Sequence[str],
        max_tokens: int = 8,
        *,
        adapter: str | Path | None = None,
    ) -> None:
        if "{text}" not in template:
            raise InvalidInput("--prompt: the template needs {text} where the item's text goes")
        try:
            template.format(text="", labels="")
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidInput(
                f"--prompt: only {{text}} and {{labels}} may appear in braces ({exc})"
            ) from None
        self.lm = LanguageModel(path, adapter=adapter)  # a LoRA adapter: merged onto `path`
        self.template = template
        self.classes = list(classes)
        self.max_tokens = max_tokens
        self.answers: list[str] = []  # raw answers of the last batch, for reports

    def use_labels(self, names: Sequence[str]) -> None:
        """Answer with these labels (a project's control; `{labels}` in the template)."""
        self.classes = list(names)

    def label(self, texts: Sequence[str]) -> list[list[TextAnswer]]:
        labels = ", ".join(self.classes)
        reqs = [
            GenRequest(self.lm.encode(self.template.format(text=t, labels=labels)), self.max_tokens)
            for t in texts
        ]
        for r in reqs:
            self.lm.check(r)
        gens = self.lm.generate(reqs)
        self.answers = [g.text for g in gens]
        return [self._parse(g.text) for g in gens]

    def _parse(self, answer: str) -> list[TextAnswer]:
        low = answer.lower()
        found = [
            (m.start(), c)
            for c in self.classes
            if (m := re.search(rf"(?<!\w){re.escape(c.lower())}(?!\w)", low)) is not None
        ]
        return [TextAnswer(min(found)[1], None)] if found else []
