"""Rebuild bench/README.md from the latest tables in bench/results/.

Run: .venv/bin/python bench/collect.py

Some sections of bench/README.md were written by hand (the large COCO import, live markings,
campaign pages); running this drops them until their tables move to results/ files too.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    (
        "Foundation (issue 2)",
        ["foundation_ingest", "foundation_versioning", "foundation_export", "formats"],
    ),
    ("Labeling server (issue 3)", ["labeling"]),
    ("Label quality (issue 4)", ["quality", "quality_overlap", "quality_project"]),
    ("Evaluation (issue 5)", ["evaluation", "corruptions"]),
    ("Sensors (issue 14)", ["sensors_fmv", "sensors_chips"]),
    ("Formats and segmentation evaluation (issue 12)", ["segm"]),
    ("Trust (issue 11)", ["trust_marks", "hardening"]),
    ("Campaign pages (issue 13)", ["manage_tasks", "explore_grid"]),
    ("Models in the loop (issue 16)", ["prelabel", "active_learning"]),
    ("Trust (issue 11)", ["audit"]),
    ("Store: lookups by an unindexed column (schema 15)", ["store_known_scene"]),
]
HEADER = """# Benchmarks

Each script runs the peer tool side by side in the same run and prints medians and ratios;
this machine class is noisy (2 cores, shared), so compare ratios rather than absolute
seconds. Regenerate this page with `.venv/bin/python bench/collect.py` after running the
scripts; every section says how it was produced.

| script | what it measures |
|---|---|
| `foundation_ingest.py` | ingest of 20,000 PNG files vs `cp -r` and `dvc add` |
| `foundation_versioning.py` | first commit, status + commit, diff on 1,000,000 items |
| `foundation_export.py` | COCO export of 100,000 items vs a plain `json.dump` writer |
| `formats_export.py` | the COCO writer alone vs a plain-JSON baseline |
| `labeling_load.py` | 16 concurrent API clients vs Label Studio 1.23.2 |
| `quality_ds.py`, `quality_overlap.py` | Dawid-Skene vs crowd-kit; adaptive vs fixed overlap |
| `eval_detection.py` | COCO eval vs pycocotools and faster-coco-eval |
| `eval_segm.py` | COCO segm (mask) eval vs pycocotools and faster-coco-eval |
| `eval_corruptions.py` | ImageNet-C corruptions vs imagecorruptions |
| `sensors_fmv.py` | drone video ingest (frames + KLV) vs klvdata + PyAV and stanag4609 |
| `sensors_chips.py` | scene chipping (COG + chips) vs a rasterio windowed-read loop |
| `manage_tasks.py` | data manager pages of 100,000 tasks vs Label Studio 1.23.2's API |
| `explore_grid.py` | explorer grid pages of a 1,000,000-item commit |
| `prelabel_throughput.py` | `assay prelabel` vs one-item-at-a-time loops over the same ONNX model |
| `active_learning.py` | labels to a target accuracy per active-learning strategy vs random |
| `audit_signing.py` | signed audit events (append, verify) vs the unsigned hash chain |
"""


def main() -> None:
    parts = [HEADER]
    for title, names in ORDER:
        found = [HERE / "results" / f"{n}.md" for n in names]
        found = [p for p in found if p.exists()]
        if not found:
            continue
        parts.append(f"\n## {title}\n")
        for p in found:
            parts.append(p.read_text().strip() + "\n")
    (HERE / "README.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
