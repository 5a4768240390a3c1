"""An optional summary paragraph of a situation report, written by a local language model.

The model is given only the report's facts: one line a paragraph of the report (its counts
as numbers, its entities by id) and one line an entity (type, MGRS, status, confidence,
marking), numbered, after a fixed instruction. The facts, the prompt, the model, its answer
and a first faithfulness check (numbers and entity ids in the answer that no fact holds)
are stored with the report (`Report.summary`, in the saved JSON), so the summary can be
evaluated against exactly what the model saw. The paragraph is marked with the report's
overall marking (the highest of the facts it was given). Without a model the report is
complete; a summary never replaces a section.

The model is reached over the OpenAI chat-completions API (`assay serve-model`, or any
compatible local server): ``--summary-model URL`` (an API base such as
``http://127.0.0.1:8001/v1``; the model sent is the first the server lists, or the one after
a ``#``: ``URL#NAME``) or ``--summary-model NAME`` (a model `assay serve-model` serves at its
default address, http://127.0.0.1:8001/v1). The API key, when the server needs one (serve-model
does: a user's API token), is read from ASSAY_LLM_API_KEY, as `assay eval llm` does.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput

if TYPE_CHECKING:
    from assay.fusion.sitrep import Report

__all__ = ["DEFAULT_BASE", "INSTRUCTION", "facts_of", "prompt_of", "summarise"]

DEFAULT_BASE = "http://127.0.0.1:8001/v1"  # `assay serve-model`'s default port
INSTRUCTION = (
    "You write the summary paragraph of a situation report for a flood response. Use only "
    "the numbered facts below; do not add numbers, places or entities that are not in them. "
    "Three sentences at most."
)
MAX_TOKENS = 160
_TOKEN = re.compile(r"ent-[0-9a-f]{6,}|\d+(?:\.\d+)?")


def facts_of(report: Report) -> list[str]:
    """The report's facts, one line each, in the order the report gives them."""
    from assay.fusion.sitrep import Count

    out = [f"Picture {report.picture} version {report.version}; marking {report.marking}."]
    for s in report.sections:
        for p in s.paras:
            text = "".join(
                str(x.value) if isinstance(x, Count) else x[1] if isinstance(x, tuple) else str(x)
                for x in p.parts
            )
            out.append(f"{s.title}: {text}")
    for eid, e in sorted(report.entities.items()):
        out.append(
            f"Entity {eid}: {e['label']} at MGRS {e['mgrs']}, {e['status']}, "
            f"confidence {e['confidence']}, marking {e['marking']}."
        )
    return out


def prompt_of(facts: list[str]) -> list[dict[str, str]]:
    """The chat messages sent: the instruction, then the numbered facts."""
    lines = "\n".join(f"{i}. {f}" for i, f in enumerate(facts, 1))
    return [
        {"role": "system", "content": INSTRUCTION},
        {"role": "user", "content": f"Facts:\n{lines}\n\nSummary:"},
    ]


def _target(spec: str) -> tuple[str, str | None]:
    """(API base, model name or None to ask the server)."""
    if spec.startswith(("http://", "https://")):
        base, _, name = spec.partition("#")
        base = base.rstrip("/")
        return (base if base.endswith("/v1") else base + "/v1"), name or None
    return DEFAULT_BASE, spec


def _call(url: str, body: dict[str, Any] | None, key: str | None, timeout: float) -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers)
    # Directly to the server the user named: a proxy from the environment (HTTP_PROXY) would
    # be handed the report's facts, whatever their marking.
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise InvalidInput(f"summary model at {url}: HTTP {exc.code} ({detail})") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise InvalidInput(f"summary model at {url}: cannot reach it ({exc})") from None
    except json.JSONDecodeError:
        raise InvalidInput(f"summary model at {url}: the answer is not JSON") from None


def summarise(report: Report, spec: str, *, timeout: float = 120.0) -> dict[str, Any]:
    """Ask the model `spec` for the summary; returns what `Report.summary` stores.

    Raises:
        InvalidInput: the server cannot be reached, refuses, or answers with no text.
    """
    base, name = _target(spec)
    key = os.environ.get("ASSAY_LLM_API_KEY") or None
    if name is None:
        listed = _call(f"{base}/models", None, key, timeout)
        ids = [m.get("id") for m in listed.get("data", []) if isinstance(m, dict)]
        if not ids or not isinstance(ids[0], str):
            raise InvalidInput(f"summary model at {base}: the server lists no model")
        name = ids[0]
    facts = facts_of(report)
    messages = prompt_of(facts)
    body = {"model": name, "messages": messages, "temperature": 0, "max_tokens": MAX_TOKENS}
    answer = _call(f"{base}/chat/completions", body, key, timeout)
    try:
        text = str(answer["choices"][0]["message"]["content"] or "").strip()
    except (KeyError, IndexError, TypeError):
        raise InvalidInput(f"summary model at {base}: no message in the answer") from None
    if not text:
        raise InvalidInput(f"summary model {name} at {base} wrote nothing")
    known = set(_TOKEN.findall("\n".join(facts)))
    return {
        "model": str(answer.get("model") or name),
        "endpoint": base,
        "marking": report.marking,
        "text": text,
        "facts": facts,
        "prompt": messages,
        "parameters": {"temperature": 0, "max_tokens": MAX_TOKENS},
        "unsupported": sorted(set(_TOKEN.findall(text)) - known),
    }
