"""`assay eval detection`: text and JSON output, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from coco_eval_fixtures import pycocotools_eval, random_coco


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Any]:
    gt, dt = random_coco(np.random.default_rng(21), n_images=12, gt_per_image=6)
    gt_path, dt_path = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps(dt))
    return gt_path, dt_path, pycocotools_eval(gt, dt).stats


def test_json_output_has_stats_in_pycocotools_order_and_per_class(cli: Any, files: Any) -> None:
    gt_path, dt_path, ref = files
    doc = cli("eval", "detection", "--gt", gt_path, "--predictions", dt_path, "--json").json()
    assert len(doc["stats"]) == 12
    np.testing.assert_allclose(doc["stats"], ref, rtol=0, atol=1e-12)
    assert doc["stat_names"][0] == "AP" and doc["mode"] == "pycocotools"
    assert set(doc["per_class"]["damage_0"]) == {"category_id", "AP", "AP50", "AP75", "recall"}
    assert doc["per_class"]["damage_2"]["AP"] is None


def test_text_output_prints_the_twelve_coco_lines(cli: Any, files: Any) -> None:
    gt_path, dt_path, ref = files
    out = cli("eval", "detection", "--gt", gt_path, "--predictions", dt_path, "--per-class").stdout
    lines = [ln for ln in out.splitlines() if ln.startswith(" Average")]
    assert len(lines) == 12
    assert lines[0].startswith(" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all |")
    assert lines[0].endswith(f"= {ref[0]:0.3f}")
    assert "damage_1" in out


def test_corrected_mode_and_custom_max_dets(cli: Any, files: Any) -> None:
    gt_path, dt_path, _ = files
    base = ["eval", "detection", "--gt", gt_path, "--predictions", dt_path, "--json"]
    compat = cli(*base, "--max-dets", "1,10,300").json()
    fixed = cli(*base, "--max-dets", "1,10,300", "--mode", "corrected").json()
    assert compat["stats"][0] == -1
    assert fixed["stats"][0] > 0 and fixed["mode"] == "corrected"


def test_bad_input_is_one_error_line_naming_the_file(
    run_cli: Any, files: Any, tmp_path: Path
) -> None:
    gt_path, _, _ = files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 1, "category_id": 10, "bbox": [0, 0, 1]}]))
    res = run_cli("eval", "detection", "--gt", gt_path, "--predictions", bad, code=1)
    assert "bad.json" in res.stderr and "detections[0]" in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_max_dets_is_a_clear_error(run_cli: Any, files: Any) -> None:
    gt_path, dt_path, _ = files
    base = ["eval", "detection", "--gt", gt_path, "--predictions", dt_path]
    res = run_cli(*base, "--max-dets", "1,ten,100", code=1)
    assert "--max-dets must be three integers" in res.stderr
    res = run_cli(*base, "--max-dets", "1,10", code=1)
    assert "max_dets must be exactly three" in res.stderr
