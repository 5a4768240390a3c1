"""Build a flood workspace, evaluate a tiny ONNX classifier, write docs/example-report.html.

Run from the repository root: ``PYTHONPATH=src:tests python scripts/example_report.py``.
Everything is generated locally (images, labels, the ONNX model); nothing is downloaded.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from assay.evaluation.runs import RunSettings, run_evaluation  # noqa: E402
from assay.models import add_model  # noqa: E402
from evaluation.runs.runs_world import (  # noqa: E402
    SLICES_YAML,
    classification_world,
    linear_classifier,
    onnx_classifier,
)


def main(out: Path = ROOT / "docs" / "example-report.html") -> None:
    work = Path(tempfile.mkdtemp(prefix="assay-example-"))
    try:
        world = classification_world(work / "ws", n=40)
        onnx_classifier(work / "flood-clf.onnx")
        add_model(world.ws, "flood-clf", work / "flood-clf.onnx", trained_on="floods")
        (work / "slices.yaml").write_text(SLICES_YAML)
        settings = RunSettings(
            suites=("clean", "corruptions", "adversarial"),
            corruptions=("gaussian_noise", "motion_blur", "fog", "contrast", "jpeg_compression"),
            severities=(1, 3, 5),
            n_resamples=500,
        )
        base = run_evaluation(
            world.ws,
            world.spec,
            work / "onnx-run",
            model="flood-clf",
            slices=work / "slices.yaml",
            settings=settings,
        )
        run = run_evaluation(
            world.ws,
            world.spec,
            work / "python-run",
            model=linear_classifier(name="flood-clf-numpy"),
            slices=work / "slices.yaml",
            settings=settings,
            baseline=str(base.path),
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run.path / "report.html", out)
        world.ws.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
