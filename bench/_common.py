"""Shared bench helpers: timing, medians, tables. Benchmarks never run in the test suite."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

WORK = Path(__file__).resolve().parent / "_work"
ROOT = Path(__file__).resolve().parent.parent


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_timed(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def percentile(xs: list[float], p: float) -> float:
    """The nearest-rank percentile (p in [0, 1]) of a list of timings."""
    s = sorted(xs)
    return s[min(len(s) - 1, round(p * (len(s) - 1)))]


def table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def write_result(name: str, text: str) -> None:
    path = Path(__file__).resolve().parent / "results" / f"{name}.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    print(text)
