"""Datasets with a working state and an immutable, content-identified history."""

from assay.versioning._query import compile_query
from assay.versioning.commit import Revision, commit, history, resolve, split_spec, tag
from assay.versioning.datasets import (
    DatasetInfo,
    add_item_ids,
    add_items,
    count_matching,
    create,
    remove_items,
)
from assay.versioning.diff import Diff, diff, labels_for, status
from assay.versioning.labels import LabelRecord, set_labels
from assay.versioning.rows import item_attributes, revision_rows

__all__ = [
    "DatasetInfo",
    "Diff",
    "LabelRecord",
    "Revision",
    "add_item_ids",
    "add_items",
    "commit",
    "compile_query",
    "count_matching",
    "create",
    "diff",
    "history",
    "item_attributes",
    "labels_for",
    "remove_items",
    "resolve",
    "revision_rows",
    "set_labels",
    "split_spec",
    "status",
    "tag",
]
