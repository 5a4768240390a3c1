"""JSON text built from Arrow columns in bulk: no Python object per row.

A million-row export spends most of its time making one Python object per value and encoding
it again; these helpers encode a whole column with Arrow's string kernels instead. Strings are
quoted as they are unless they hold a quote, a backslash or a control character (then
`json.dumps` encodes those few, as the rest of assay writes JSON: UTF-8, no ASCII escapes).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_NEEDS_ESCAPE = '["\\\\\\x00-\\x1f]'


def strings(arr: Any) -> Any:
    """Each string as a JSON string (null as ``null``)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.string())
    quoted = pc.binary_join_element_wise('"', arr, '"', "")
    bad = pc.fill_null(pc.match_substring_regex(arr, _NEEDS_ESCAPE), False)
    if pc.any(bad).as_py():
        fixed = [json.dumps(s, ensure_ascii=False) for s in arr.filter(bad).to_pylist()]
        quoted = pc.replace_with_mask(quoted, bad, pa.array(fixed, pa.string()))
    return pc.fill_null(quoted, "null")


def integers(arr: Any) -> Any:
    """Each integer as JSON (null as ``null``)."""
    return pc.fill_null(pc.cast(arr, pa.string()), "null")


def string_lists(arr: Any) -> Any:
    """Each list of strings as a JSON array (null as ``[]``)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    values = strings(arr.values)
    lists = pa.ListArray.from_arrays(arr.offsets, values, mask=arr.is_null())
    joined = pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")
    return pc.fill_null(joined, "[]")


def objects(parts: list[tuple[str, Any]], before: str = "", after: str = "") -> Any:
    """One JSON object per row: `parts` are (key, column of JSON texts), in order; each object
    has `before` put before it and `after` after it (a separator, a newline)."""
    pieces: list[Any] = []
    for k, (key, col) in enumerate(parts):
        pieces += [(before + "{" if k == 0 else ",") + json.dumps(key) + ":", col]
    pieces.append("}" + after)
    return pc.binary_join_element_wise(*pieces, "")


def text(texts: Any) -> Any:
    """The texts one after the other, as a UTF-8 buffer (no copy: the array's own data)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not len(texts):
        return pa.py_buffer(b"")
    texts = pc.fill_null(texts, "") if texts.null_count else texts
    import numpy as np

    _, offsets, data = texts.buffers()
    bounds = np.frombuffer(offsets, np.int32)
    start, end = int(bounds[texts.offset]), int(bounds[texts.offset + len(texts)])
    return data.slice(start, end - start)


# A stored region (`assay.domain.labels.Region`) as Arrow's JSON reader reads it. `attributes`
# must be empty (`{}` or absent): a region with attributes fails the read, and the caller takes
# its row path for those rows.
REGION = pa.struct(
    [
        ("id", pa.string()),
        ("kind", pa.string()),
        ("control", pa.string()),
        ("label", pa.string()),
        ("box", pa.list_(pa.float64())),
        ("points", pa.list_(pa.list_(pa.float64()))),
        ("span", pa.list_(pa.int64())),
        ("text", pa.string()),
        ("value", pa.float64()),
        ("ranking", pa.list_(pa.string())),
        ("attributes", pa.struct([])),
        ("score", pa.float64()),
        ("author", pa.string()),
    ]
)
_PAYLOADS = pa.schema([("r", pa.list_(REGION))])


def _read_payloads(labels: Any, schema: Any, unexpected: str) -> Any:
    """Label payloads (JSON texts) read as rows of `schema`'s one column ``r``; None when they
    do not read as such."""
    import pyarrow.json as pj

    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    labels = pc.fill_null(labels, "[]")
    longest = pc.max(pc.binary_length(labels)).as_py() or 0
    data = text(pc.binary_join_element_wise('{"r":', labels, "}\n", ""))
    try:
        table = pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(block_size=max(1 << 22, 2 * (longest + 8))),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior=unexpected
            ),
        )
    except pa.ArrowInvalid:
        return None
    if table.num_rows != len(labels):
        return None
    return table["r"].combine_chunks()


_KIND_LABEL = pa.schema(
    [("r", pa.list_(pa.struct([("kind", pa.string()), ("label", pa.string())])))]
)


def kinds_and_labels(labels: Any) -> tuple[Any, Any] | None:
    """The kind and label of every region of the payloads (JSON texts), in order; None when
    they do not read as regions."""
    if not len(labels):
        return pa.array([], pa.string()), pa.array([], pa.string())
    parsed = _read_payloads(labels, _KIND_LABEL, "ignore")
    if parsed is None:
        return None
    regions = parsed.flatten()
    return pc.struct_field(regions, "kind"), pc.struct_field(regions, "label")


def regions(labels: Any) -> Any:
    """Stored label payloads (JSON texts, one list of regions per row) as a list array of
    `REGION` structs, parsed by Arrow's JSON reader on every core; None when a region holds
    attributes or a field this schema does not know."""
    if not len(labels):
        return pa.array([], pa.list_(REGION))
    return _read_payloads(labels, _PAYLOADS, "error")


def floats(values: Any) -> Any:
    """Each float of a numpy array as JSON: the shortest text that reads back the same value,
    as Python's `repr` (``24.0``, ``0.30000000000000004``; a few very small or large values
    take another of the equal forms, ``0.00001`` for ``1e-05``)."""
    import numpy as np

    # Whole numbers (most coordinates) print as integers, three times faster than as floats;
    # Arrow writes every whole float below 1e9 so too, -0.0 apart.
    whole = (np.floor(values) == values) & (np.abs(values) < 1e9)
    whole &= ~((values == 0) & np.signbit(values))
    if whole.all():
        return pc.binary_join_element_wise(
            pc.cast(pa.array(values.astype(np.int64)), pa.string()), ".0", ""
        )
    text = pc.cast(pa.array(values), pa.string())
    return pc.replace_substring_regex(text, "^(-?[0-9]+)$", "\\1.0")
