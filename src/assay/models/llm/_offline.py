"""Keep Hugging Face and friends off the network: every LLM entry point calls `go_offline`."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def go_offline() -> None:
    """Set the offline switches of the Hugging Face libraries (before they are imported: some
    read them once). Values set by the user are overwritten: no run may reach a hub."""
    os.environ.update(OFFLINE_ENV)
