"""Time assay's 15 ImageNet-C corruptions against `imagecorruptions` on a 640x480 RGB image.

Runs both side by side, pinned to one core with single-threaded BLAS, for severities 1..5, and
prints a markdown table of median CPU seconds per image (median of --repeats runs), the
peer/assay ratio, and wall-clock seconds.

    PYTHONPATH=src .venv/bin/python bench/eval_corruptions.py [--repeats 3] [--only NAME ...]

imagecorruptions 1.1.2 predates scikit-image 0.19 and NumPy 2: its glass_blur passes the removed
`multichannel=` argument to `skimage.filters.gaussian`, and its fog uses the removed `np.float_`.
To time them anyway, this script installs a two-line shim (maps `multichannel=True` to
`channel_axis=-1`, aliases `np.float_` to `np.float64`); nothing else about the peer is touched.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from assay.evaluation.corruptions import CorruptionSpec, apply, corruption_names  # noqa: E402


def flood_scene(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A synthetic aerial-ish flood scene: sky, water with ripples, roofs, debris, noise."""
    rng = np.random.default_rng(seed)
    picture = Image.new("RGB", (width, height), (120, 165, 205))
    draw = ImageDraw.Draw(picture)
    draw.rectangle([0, height // 3, width, height], fill=(95, 90, 70))
    for _ in range(40):
        x, y = int(rng.integers(0, width)), int(rng.integers(height // 3, height))
        w, h = int(rng.integers(15, 70)), int(rng.integers(10, 50))
        colour = tuple(int(v) for v in rng.integers(30, 230, 3))
        draw.rectangle([x, y, x + w, y + h], fill=colour)
        draw.polygon([(x, y), (x + w // 2, y - h // 3), (x + w, y)], fill=(150, 60, 50))
    for row in range(height // 3, height, 6):
        draw.line([0, row, width, row + int(rng.integers(-3, 4))], fill=(80, 100, 110), width=1)
    image = np.asarray(picture).astype(np.float64)
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def peer_corrupt() -> Callable[[np.ndarray, str, int], np.ndarray] | None:
    """imagecorruptions.corrupt with the compatibility shim, or None if it cannot be imported."""
    try:
        import imagecorruptions
        import imagecorruptions.corruptions as peer_module
        from skimage.filters import gaussian
    except Exception as exc:  # any import failure means: bench ours alone
        print(f"imagecorruptions unavailable ({exc!r}); timing assay alone", file=sys.stderr)
        return None

    def gaussian_compat(
        *args: object, multichannel: bool | None = None, **kwargs: object
    ) -> object:
        if multichannel is not None:
            kwargs["channel_axis"] = -1 if multichannel else None
        return gaussian(*args, **kwargs)

    peer_module.gaussian = gaussian_compat
    if not hasattr(np, "float_"):
        np.float_ = np.float64  # type: ignore[attr-defined]

    def run(image: np.ndarray, name: str, severity: int) -> np.ndarray:
        return np.asarray(imagecorruptions.corrupt(image, corruption_name=name, severity=severity))

    return run


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median (CPU seconds, wall seconds) of `repeats` calls.

    CPU time of this process is the headline figure: the run is pinned to one core and
    single-threaded, so CPU time is the work done, unaffected by other load on a shared
    machine; wall time is reported alongside.
    """
    cpu, wall = [], []
    for _ in range(repeats):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="corruption names to time")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    image = flood_scene()
    peer = peer_corrupt()
    names = args.only or corruption_names()
    # warm up imports and caches on both sides
    apply(image[:64, :64], CorruptionSpec("defocus_blur"))
    if peer is not None:
        peer(image[:64, :64], "defocus_blur", 1)
    print(
        f"640x480 RGB, one core, median of {args.repeats}; CPU seconds per image per severity "
        "(wall seconds summed over severities in the last columns)"
    )
    head = "| corruption | " + " | ".join(f"assay s{s}" for s in range(1, 6))
    if peer is not None:
        head += " | " + " | ".join(f"peer s{s}" for s in range(1, 6)) + " | peer/assay"
    head += " | assay wall | " + ("peer wall |" if peer is not None else "")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    totals = [0.0, 0.0]
    for name in names:
        ours = [
            median_seconds(
                lambda s=s, n=name: apply(image, CorruptionSpec(n, s, seed=s)), args.repeats
            )
            for s in range(1, 6)
        ]
        ours_cpu = [cpu for cpu, _ in ours]
        row = f"| {name} | " + " | ".join(f"{t:.3f}" for t in ours_cpu)
        totals[0] += sum(ours_cpu)
        wall = f" | {sum(w for _, w in ours):.2f} |"
        if peer is not None:
            np.random.seed(0)
            theirs = [
                median_seconds(lambda s=s, n=name: peer(image, n, s), args.repeats)
                for s in range(1, 6)
            ]
            theirs_cpu = [cpu for cpu, _ in theirs]
            totals[1] += sum(theirs_cpu)
            ratios = [t / o for t, o in zip(theirs_cpu, ours_cpu, strict=True)]
            row += " | " + " | ".join(f"{t:.3f}" for t in theirs_cpu)
            row += f" | {statistics.median(ratios):.1f}x ({min(ratios):.1f}-{max(ratios):.1f})"
            wall += f" {sum(w for _, w in theirs):.2f} |"
        print(row + wall, flush=True)
    summary = f"total CPU over {len(names)} corruptions x 5 severities: assay {totals[0]:.2f} s"
    if peer is not None:
        summary += f", imagecorruptions {totals[1]:.2f} s ({totals[1] / totals[0]:.1f}x)"
    print(summary)


if __name__ == "__main__":
    main()
