from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    # Still argon2id; a small memory cost keeps the many test users fast.
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
