"""Label quality: aggregation, agreement, annotator scoring, label errors, adaptive overlap.

Estimators take the long format (task, worker, label). `project_source` and
`dataset_source` read that format from a labeling project or a dataset; `aggregate_project`
writes the consensus back as labels of record.
"""

from assay.quality._aggregate import (
    METHODS,
    AggregateResult,
    Method,
    aggregate_frame,
    make_aggregator,
    worker_skills,
)
from assay.quality._agreement import (
    MIN_SHARED_TASKS,
    CohenPairs,
    Level,
    cohen_kappa,
    cohen_kappa_pairs,
    fleiss_kappa,
    krippendorff_alpha,
    mean_pairwise_cohen_kappa,
    pairwise_cohen_kappa,
)
from assay.quality._base import Aggregator
from assay.quality._boxes import BoxAgreement, box_agreement, fuse_boxes, iou_matrix
from assay.quality._csv import read_gold_csv, read_labels_csv
from assay.quality._dawid_skene import DawidSkene, OneCoinDawidSkene
from assay.quality._glad import GLAD
from assay.quality._html import render_html
from assay.quality._into import ControlOutcome, ProjectAggregation, aggregate_project
from assay.quality._label_errors import rank_label_issues, rank_multiannotator_issues
from assay.quality._majority import MajorityVote, Wawa
from assay.quality._overlap import AdaptiveOverlap, one_coin_posterior
from assay.quality._report import QualityReport, quality_report
from assay.quality._scoring import confusion_matrices, score_annotators
from assay.quality._simulate import DAMAGE_CLASSES, Crowd, make_crowd, simulate_labels
from assay.quality._source_report import control_agreement, source_report
from assay.quality._sources import ControlInfo, LabelSource, dataset_source, project_source
from assay.quality._spans import tokenize, vote_spans

__all__ = [
    "DAMAGE_CLASSES",
    "GLAD",
    "METHODS",
    "MIN_SHARED_TASKS",
    "AdaptiveOverlap",
    "AggregateResult",
    "Aggregator",
    "BoxAgreement",
    "CohenPairs",
    "ControlInfo",
    "ControlOutcome",
    "Crowd",
    "DawidSkene",
    "LabelSource",
    "Level",
    "MajorityVote",
    "Method",
    "OneCoinDawidSkene",
    "ProjectAggregation",
    "QualityReport",
    "Wawa",
    "aggregate_frame",
    "aggregate_project",
    "box_agreement",
    "cohen_kappa",
    "cohen_kappa_pairs",
    "confusion_matrices",
    "control_agreement",
    "dataset_source",
    "fleiss_kappa",
    "fuse_boxes",
    "iou_matrix",
    "krippendorff_alpha",
    "make_aggregator",
    "make_crowd",
    "mean_pairwise_cohen_kappa",
    "one_coin_posterior",
    "pairwise_cohen_kappa",
    "project_source",
    "quality_report",
    "rank_label_issues",
    "rank_multiannotator_issues",
    "read_gold_csv",
    "read_labels_csv",
    "render_html",
    "score_annotators",
    "simulate_labels",
    "source_report",
    "tokenize",
    "vote_spans",
    "worker_skills",
]
