"""Red-teaming language models: attack suites, detectors, rates with intervals, a gate.

Suites (`SUITES`): ``injection`` (direct, and indirect: hidden in the workspace's own text
items), ``jailbreak`` (templates around harmful requests, plus benign controls counted as
``over-refusal``), ``encoding`` (base64, ROT13, leetspeak, look-alike letters),
``extraction`` (a system prompt's secret) and ``leakage`` (canaries planted in marked
training data, probed from a lower clearance). A model is any `Generate` callable.
"""

from assay.evaluation.llm.redteam._canary import (
    Canary,
    find_canaries,
    leakage_probes,
    plant_canaries,
)
from assay.evaluation.llm.redteam._detectors import DETECTORS, detect, is_refusal
from assay.evaluation.llm.redteam._documents import TextDoc, Texts, load_texts
from assay.evaluation.llm.redteam._model import ModelRef, as_generate, resolve_model
from assay.evaluation.llm.redteam._record import record_run
from assay.evaluation.llm.redteam._report import summarise
from assay.evaluation.llm.redteam._run import RedTeamResult, red_team
from assay.evaluation.llm.redteam._stats import clopper_pearson, wilson
from assay.evaluation.llm.redteam._suite import build_probes, parse_suites, run_probes
from assay.evaluation.llm.redteam._types import (
    SUITES,
    Attempt,
    Generate,
    Message,
    Probe,
    Verdict,
)

__all__ = [
    "DETECTORS",
    "SUITES",
    "Attempt",
    "Canary",
    "Generate",
    "Message",
    "ModelRef",
    "Probe",
    "RedTeamResult",
    "TextDoc",
    "Texts",
    "Verdict",
    "as_generate",
    "build_probes",
    "clopper_pearson",
    "detect",
    "find_canaries",
    "is_refusal",
    "leakage_probes",
    "load_texts",
    "parse_suites",
    "plant_canaries",
    "record_run",
    "red_team",
    "resolve_model",
    "run_probes",
    "summarise",
    "wilson",
]
