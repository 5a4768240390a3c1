"""Models: a registry of model files with lineage, and adapters evaluation can run.

The registry also keeps directory models (transformers models, PEFT adapters, embedding
classifier heads) file by file; `model_dir` materialises one for loading.

Three kinds of model reach an evaluation run: prediction files (COCO results JSON, CSV or
Parquet class probabilities), ONNX image classifiers and detectors (run with onnxruntime,
the `eval` extra), and Python callables through the API (`CallableClassifier`,
`CallableDetector`), which may also provide gradients for adversarial attacks.
"""

from assay.models._callable import CallableClassifier, CallableDetector
from assay.models._onnx import OnnxClassifier, OnnxDetector, OnnxInfo, inspect_onnx
from assay.models._predictions import (
    CocoResult,
    ProbabilityTable,
    prediction_format,
    read_coco_results,
    read_probabilities,
)
from assay.models._remote import ModelRef, load_model
from assay.models._types import (
    Detection,
    ImageClassifier,
    ImageDetector,
    Task,
    gradient_of,
)
from assay.models.registry import (
    ModelInfo,
    add_model,
    export_model,
    get_model,
    list_models,
    model_dir,
    model_file,
    model_manifest,
    model_marking,
)

__all__ = [
    "CallableClassifier",
    "CallableDetector",
    "CocoResult",
    "Detection",
    "ImageClassifier",
    "ImageDetector",
    "ModelInfo",
    "ModelRef",
    "OnnxClassifier",
    "OnnxDetector",
    "OnnxInfo",
    "ProbabilityTable",
    "Task",
    "add_model",
    "export_model",
    "get_model",
    "gradient_of",
    "inspect_onnx",
    "list_models",
    "load_model",
    "model_dir",
    "model_file",
    "model_manifest",
    "model_marking",
    "prediction_format",
    "read_coco_results",
    "read_probabilities",
]
