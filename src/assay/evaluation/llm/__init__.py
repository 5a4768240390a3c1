"""Language-model evaluation: tasks from dataset commits, solvers, scorers and paired runs.

A task file (YAML) names a dataset commit, a prompt template (system prompt, few-shot turns
from another commit), a solver (``generate``, ``multiple_choice``, ``chain_of_thought``) and
scorers (``exact``, ``match``, ``token_f1``, ``regex``, ``choice``, ``numeric``,
``span_f1``, ``embedding``, ``judge``). `run_llm_eval` keeps the run like a vision run, so
`assay eval show|compare|gate` work on it; `export_inspect` writes it as an Inspect AI log.
"""

from assay.evaluation.llm._inspect import export_inspect_log, inspect_log
from assay.evaluation.llm._run import LlmRunSettings, run_llm_eval
from assay.evaluation.llm._scorers import normalize, parse_choice, span_f1, token_f1
from assay.evaluation.llm._stats import compare_llm
from assay.evaluation.llm._task import BINARY, SCORERS, SOLVERS, TaskSpec, load_task

__all__ = [
    "BINARY",
    "SCORERS",
    "SOLVERS",
    "LlmRunSettings",
    "TaskSpec",
    "compare_llm",
    "export_inspect_log",
    "inspect_log",
    "load_task",
    "normalize",
    "parse_choice",
    "run_llm_eval",
    "span_f1",
    "token_f1",
]
