"""COCO polygon rings turned into stored points text straight from the file's own number text.

A COCO file of train2017's shape is mostly polygon coordinates, ~10 M numbers per 100 MB;
making a Python float of each and encoding it again costs more than all else of an import. Here
each ring's JSON text (``[[x0,y0,x1,y1,...]]``, as the decoder left it, `msgspec.Raw`) becomes
the stored form of its points (``[[x0,y0],[x1,y1],...]``) by inserting brackets, checked with
numpy over the bytes of many rings at once, no Python object per number.

The text is kept only where it is already what ``json.dumps`` writes for the float the number
reads as (so the stored payload and its hash are byte-equal to those of the regions path): a
number with a decimal point, at most 15 significant digits (then it is the shortest text of its
float), no trailing zero (``1.50``), no exponent, not under 1e-4 (``json.dumps`` writes those
with an exponent). An integer (``12``) gets ``.0``, as its float is written. A ring with
anything else, reaching out of ``[-tol, width + tol]`` x ``[-tol, height + tol]`` (the bounds
`_coco_fast.regions` checks), or not of the common shape returns None and takes the regions
path, which decides (and names any error) as before.

The numbers' values (for the bounds and the range checks) are read by Arrow's string-to-double
cast from the numbers' bytes, in C; the values themselves are never kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_WHITESPACE = b" \t\n\r"
_ALLOWED = b"0123456789.-,[]"
_OPEN, _CLOSE, _COMMA, _POINT, _MINUS, _ZERO = b"[],.-0"
_CHUNK = 4096  # rings checked at a time (~1 MB of text: faster than larger chunks)
_MAX_DIGITS = 15  # digits a decimal text may have and be its float's shortest text


def polygon_points(
    rings: Sequence[Any],
    hi_x: Sequence[float],
    hi_y: Sequence[float],
    no_quads: Sequence[bool],
    tol: float,
) -> list[bytes | None]:
    """For each ring's JSON text, the JSON of its points (``[[x,y],...]``), or None when the
    ring is not one flat list of >= 6 numbers, an even count, inside ``[-tol, hi]`` (x, y), all
    written in canonical form (see the module), or is a 4-point ring where `no_quads` says so."""
    if len(rings) > _CHUNK:
        out: list[bytes | None] = []
        for k in range(0, len(rings), _CHUNK):
            part = slice(k, k + _CHUNK)
            out += polygon_points(rings[part], hi_x[part], hi_y[part], no_quads[part], tol)
        return out
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    # The rings' texts end to end, whitespace taken out of the whole (json.dump writes ", "):
    # each ring's length less the whitespace bytes among its own.
    n = len(rings)
    joined = b"".join(rings)
    buf = joined.translate(None, _WHITESPACE)
    lens = np.fromiter(map(len, rings), np.int64, n)
    if len(buf) < len(joined):
        # (Valid JSON has no byte under 33 outside strings but whitespace.)
        blanks = np.flatnonzero(np.frombuffer(joined, np.uint8) <= 32)
        lens -= np.diff(np.searchsorted(blanks, np.cumsum(lens)), prepend=0)
        del blanks
    del joined
    a = np.frombuffer(buf, np.uint8)
    ends = np.cumsum(lens)
    starts = ends - lens

    def texts() -> list[bytes]:  # each ring's own, where a test on the whole text fails
        return [buf[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]

    # "[[" numbers "]]" (byte tests on the whole text, each ring's own only when one fails).
    ok = lens > 4
    ok[ok] &= (a[starts[ok]] == _OPEN) & (a[starts[ok] + 1] == _OPEN)
    ok[ok] &= (a[ends[ok] - 1] == _CLOSE) & (a[ends[ok] - 2] == _CLOSE)
    if buf.translate(None, _ALLOWED):
        ok &= np.array([not t.translate(None, _ALLOWED) for t in texts()], bool)
    if not ok.all() or buf.count(b"[") != 2 * n or buf.count(b"]") != 2 * n:
        ok &= np.array([t.count(b"[") == 2 and t.count(b"]") == 2 for t in texts()], bool)
    if not ok.all():  # the rest, on their own
        some: list[bytes | None] = [None] * n
        keep = np.flatnonzero(ok).tolist()
        if keep:
            own = texts()
            got = polygon_points(
                [own[k] for k in keep],
                [hi_x[k] for k in keep],
                [hi_y[k] for k in keep],
                [no_quads[k] for k in keep],
                tol,
            )
            for k, text in zip(keep, got, strict=True):
                some[k] = text
        return some

    # Tokens: the texts between the inner brackets, split at commas, ring after ring.
    commas = np.flatnonzero(a == _COMMA)
    counts = np.diff(np.searchsorted(commas, ends), prepend=0) + 1
    n_tok = len(commas) + n
    tok_ring = np.repeat(np.arange(n), counts)
    first = np.cumsum(counts) - counts
    last = first + counts - 1
    ts = np.empty(n_tok, np.int64)
    te = np.empty(n_tok, np.int64)
    inner = np.ones(n_tok, bool)
    inner[first] = False
    ts[first] = starts + 2
    ts[inner] = commas + 1
    inner[first] = True
    inner[last] = False
    te[last] = ends - 2
    te[inner] = commas
    ordinal = np.arange(n_tok) - first[tok_ring]

    # Their values, read by Arrow (correctly rounded, as msgspec reads them) from the numbers'
    # bytes alone.
    digits = a[(a != _COMMA) & (a != _OPEN) & (a != _CLOSE)]
    off = np.zeros(n_tok + 1, np.int32)
    np.cumsum(te - ts, out=off[1:])
    numbers = pa.Array.from_buffers(
        pa.string(), n_tok, [None, pa.py_buffer(off), pa.py_buffer(digits)]
    )
    try:
        cast = pc.cast(numbers, pa.float64())
    except pa.ArrowInvalid:  # not a number Arrow reads: the regions path decides
        return [None] * n
    # The doubles' own buffer (no nulls: every token has its text), read in place:
    # `Array.to_numpy` would import pandas, a quarter second an import does not otherwise need.
    values = np.frombuffer(cast.buffers()[1], np.float64, n_tok, cast.offset * 8)

    # The text is json.dumps's: a point but for integers, <= 15 digits, no trailing zero but
    # in "x.0", not under 1e-4 nor from 1e15 (exponents), not "-0" (read as 0.0).
    points = np.zeros(len(digits) + 1, np.int32)
    np.cumsum(digits == _POINT, out=points[1:])
    has_dot = points[off[1:]] > points[off[:-1]]
    neg = digits[off[:-1]] == _MINUS
    size = np.abs(values)
    good = (np.diff(off) - neg - has_dot <= _MAX_DIGITS) & (size < 1e15)
    good &= (size >= 1e-4) | (size == 0)
    good &= ~has_dot | (digits[off[1:] - 1] != _ZERO) | (digits[off[1:] - 2] == _POINT)
    good &= has_dot | ~neg | (values != 0)
    # Inside the image, as `_coco_fast.regions` checks it.
    odd = (ordinal & 1).astype(bool)
    hi = np.where(odd, np.asarray(hi_y, np.float64)[tok_ring], np.asarray(hi_x)[tok_ring])
    good &= (values >= -tol) & (values <= hi)

    ok[tok_ring[~good]] = False
    ok &= (counts >= 6) & (counts % 2 == 0)
    ok &= ~(np.asarray(no_quads, bool) & (counts == 8))

    # Text: "]" and "[" around each comma after a y (not the last), ".0" after each integer.
    tok_ok = ok[tok_ring]
    pair = tok_ok & odd & (ordinal < last[tok_ring] - first[tok_ring])
    integer = tok_ok & ~has_dot
    at_int = te[integer]
    at_pair = te[pair]
    where = np.concatenate([at_int, at_int, at_pair, at_pair + 1])
    what = np.concatenate(
        [
            np.full(len(at_int), _POINT, np.uint8),
            np.full(len(at_int), _ZERO, np.uint8),
            np.full(len(at_pair), _CLOSE, np.uint8),
            np.full(len(at_pair), _OPEN, np.uint8),
        ]
    )
    text = np.insert(a, where, what).tobytes()  # equal places: in the order given
    added = np.bincount(tok_ring, weights=2 * pair + 2 * integer, minlength=n).astype(np.int64)
    new_e = np.cumsum(lens + added)
    new_s = new_e - lens - added
    return [
        text[s:e] if good_ring else None
        for s, e, good_ring in zip(new_s.tolist(), new_e.tolist(), ok.tolist(), strict=True)
    ]
