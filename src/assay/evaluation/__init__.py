"""Evaluation: detection (COCO), classification, calibration, slices, comparison.

Detection numbers equal pycocotools' to the last bit in the default mode; see
`assay.evaluation.detection` for the opt-in ``"corrected"`` mode.
"""

from assay.evaluation.bootstrap import (
    NAMED_METRICS,
    Estimate,
    Metric,
    PairedComparison,
    bootstrap_metric,
    metric_by_slice,
    paired_bootstrap,
)
from assay.evaluation.calibration import (
    ReliabilityDiagram,
    expected_calibration_error,
    max_calibration_error,
    reliability_diagram,
)
from assay.evaluation.classification import (
    PRF,
    accuracy,
    brier_score,
    confusion_matrix,
    precision_recall_f1,
    top_k_accuracy,
)
from assay.evaluation.comparison import McNemarResult, mcnemar
from assay.evaluation.curves import BinaryPRCurve, precision_recall_curve
from assay.evaluation.detection import (
    STAT_NAMES,
    ClassMetrics,
    DetectionMode,
    DetectionParams,
    DetectionResult,
    PRCurve,
    evaluate_detection,
    evaluate_detection_files,
)

# --- robustness: corruptions / adversarial (owned by the robustness engineer) ---
# from assay.evaluation.corruptions import ...
# from assay.evaluation.adversarial import ...
# --- end robustness ---

__all__ = [
    "NAMED_METRICS",
    "PRF",
    "STAT_NAMES",
    "BinaryPRCurve",
    "ClassMetrics",
    "DetectionMode",
    "DetectionParams",
    "DetectionResult",
    "Estimate",
    "McNemarResult",
    "Metric",
    "PRCurve",
    "PairedComparison",
    "ReliabilityDiagram",
    "accuracy",
    "bootstrap_metric",
    "brier_score",
    "confusion_matrix",
    "evaluate_detection",
    "evaluate_detection_files",
    "expected_calibration_error",
    "max_calibration_error",
    "mcnemar",
    "metric_by_slice",
    "paired_bootstrap",
    "precision_recall_curve",
    "precision_recall_f1",
    "reliability_diagram",
    "top_k_accuracy",
    # --- robustness exports (corruptions / adversarial) go here ---
]
