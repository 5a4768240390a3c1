"""Label quality: aggregation, agreement, annotator scoring, label errors, adaptive overlap."""

from assay.quality._aggregate import (
    METHODS,
    AggregateResult,
    Method,
    aggregate_frame,
    make_aggregator,
    worker_skills,
)
from assay.quality._agreement import (
    Level,
    cohen_kappa,
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
from assay.quality._label_errors import rank_label_issues, rank_multiannotator_issues
from assay.quality._majority import MajorityVote, Wawa
from assay.quality._overlap import AdaptiveOverlap, one_coin_posterior
from assay.quality._report import QualityReport, quality_report
from assay.quality._scoring import confusion_matrices, score_annotators
from assay.quality._simulate import DAMAGE_CLASSES, Crowd, make_crowd, simulate_labels
from assay.quality._spans import tokenize, vote_spans

__all__ = [
    "DAMAGE_CLASSES",
    "GLAD",
    "METHODS",
    "AdaptiveOverlap",
    "AggregateResult",
    "Aggregator",
    "BoxAgreement",
    "Crowd",
    "DawidSkene",
    "Level",
    "MajorityVote",
    "Method",
    "OneCoinDawidSkene",
    "QualityReport",
    "Wawa",
    "aggregate_frame",
    "box_agreement",
    "cohen_kappa",
    "confusion_matrices",
    "fleiss_kappa",
    "fuse_boxes",
    "iou_matrix",
    "krippendorff_alpha",
    "make_aggregator",
    "make_crowd",
    "mean_pairwise_cohen_kappa",
    "one_coin_posterior",
    "pairwise_cohen_kappa",
    "quality_report",
    "rank_label_issues",
    "rank_multiannotator_issues",
    "read_gold_csv",
    "read_labels_csv",
    "render_html",
    "score_annotators",
    "simulate_labels",
    "tokenize",
    "vote_spans",
    "worker_skills",
]
