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
anything else, out of the image by the check below, or not of the common shape returns None
and takes the regions path, which decides (and names any error) as before.

Bounds are checked on each number's integer part: a number whose integer part puts it surely
inside ``[-tol, size + tol]`` passes; one near or past an edge returns None (the regions path
checks it exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_WHITESPACE = b" \t\n\r"
_ALLOWED = b"0123456789.-,[]"
_OPEN, _CLOSE, _COMMA, _POINT, _MINUS, _ZERO = b"[],.-0"
_CHUNK = 16_384  # rings checked at a time (a few MB of text)
_MAX_DIGITS = 15  # significant digits every float's shortest text holds, and more
_MAX_INT_DIGITS = 5  # integer parts longer than this take the regions path


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

    # (An empty text stands as "[]": every ring holds at least one byte.)
    texts = [bytes(r).translate(None, _WHITESPACE) or b"[]" for r in rings]
    n = len(texts)
    buf = b"".join(texts)
    size = len(buf)
    a = np.frombuffer(buf + b"\x00" * 8, np.uint8)  # padded: reads past a token stay inside
    body = a[:size]
    lens = np.fromiter(map(len, texts), np.int64, n)
    ends = np.cumsum(lens)
    starts = ends - lens
    ok = (lens >= 4) & (a[starts] == _OPEN) & (a[starts + 1] == _OPEN)
    ok &= (a[ends - 1] == _CLOSE) & (a[ends - 2] == _CLOSE)
    # Only digits, signs, points and commas inside the two pairs of brackets (byte tests on
    # the whole text, each ring's own only when one fails).
    if buf.translate(None, _ALLOWED):
        ok &= np.array([not t.translate(None, _ALLOWED) for t in texts], bool)
    if not ok.all() or buf.count(b"[") != 2 * n or buf.count(b"]") != 2 * n:
        ok &= np.array([t.count(b"[") == 2 and t.count(b"]") == 2 for t in texts], bool)
    inner_s = np.where(ok, starts + 2, starts)
    inner_e = np.where(ok, ends - 2, starts)

    # Tokens: the texts between the inner brackets, split at commas, ring after ring.
    commas = np.flatnonzero(body == _COMMA)
    counts = np.diff(np.searchsorted(commas, ends), prepend=0) + 1
    n_tok = len(commas) + n
    tok_ring = np.repeat(np.arange(n), counts)
    first = np.cumsum(counts) - counts
    last = first + counts - 1
    ts = np.empty(n_tok, np.int64)
    te = np.empty(n_tok, np.int64)
    inner = np.ones(n_tok, bool)
    inner[first] = False
    ts[first] = inner_s
    ts[inner] = commas + 1
    inner[first] = True
    inner[last] = False
    te[last] = inner_e
    te[inner] = commas
    ordinal = np.arange(n_tok) - first[tok_ring]

    # Each token: -?digits(.digits)? (JSON's numbers without exponents); the point, if any,
    # within the first _MAX_INT_DIGITS + 1 characters.
    neg = a[ts] == _MINUS
    d0 = ts + neg
    width = te - d0  # digits and point
    int_len = np.zeros(n_tok, np.int64)
    for k in range(_MAX_INT_DIGITS, 0, -1):
        int_len = np.where((a[d0 + k] == _POINT) & (k < width), k, int_len)
    has_dot = int_len > 0
    is_int = ~has_dot & (width >= 1) & (width <= _MAX_INT_DIGITS)
    int_len = np.where(is_int, width, int_len)
    good = (has_dot | is_int) & (width - has_dot <= _MAX_DIGITS)
    # With a point: no trailing zero but in "x.0", and not under 1e-4 ("0.0000...").
    good &= ~has_dot | (a[te - 1] != _ZERO) | (a[te - 2] == _POINT)
    tiny = has_dot & (int_len == 1) & (a[d0] == _ZERO)
    for k in range(2, 6):
        tiny &= a[d0 + k] == _ZERO
    good &= ~tiny
    # An integer: "-0" reads as the float 0.0 (written "0.0"), not -0.0.
    good &= ~(is_int & neg & (width == 1) & (a[d0] == _ZERO))

    # |value| < integer part + 1: sure inside when that is <= tol (negative) or <= hi.
    whole = np.zeros(n_tok, np.int64)
    for k in range(_MAX_INT_DIGITS):
        digit = a[d0 + k].astype(np.int64) - _ZERO
        whole = np.where(k < int_len, whole * 10 + digit, whole)
    hx = np.asarray(hi_x, np.float64)
    hy = np.asarray(hi_y, np.float64)
    odd = (ordinal & 1).astype(bool)
    hi = np.where(odd, hy[tok_ring], hx[tok_ring])
    good &= np.where(neg, whole + 1 <= tol, whole + 1 <= hi)

    ok[tok_ring[~good]] = False
    ok &= (counts >= 6) & (counts % 2 == 0)
    ok &= ~(np.asarray(no_quads, bool) & (counts == 8))

    # Text: "]" and "[" around each comma after a y (not the last), ".0" after each integer.
    tok_ok = ok[tok_ring]
    pair = tok_ok & odd & (ordinal < last[tok_ring] - first[tok_ring])
    integer = tok_ok & is_int
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
    order = np.argsort(where, kind="stable")
    text = np.insert(body, where[order], what[order]).tobytes()
    added = np.bincount(tok_ring, weights=2 * pair + 2 * integer, minlength=n).astype(np.int64)
    new_e = np.cumsum(lens + added)
    new_s = new_e - lens - added
    return [
        text[s:e] if good_ring else None
        for s, e, good_ring in zip(new_s.tolist(), new_e.tolist(), ok.tolist(), strict=True)
    ]
