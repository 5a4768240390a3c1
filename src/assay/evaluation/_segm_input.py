"""Read COCO ``segmentation`` fields into RLE masks, as pycocotools' ``annToRLE`` does.

A segmentation is a list of polygons (one object may have several parts: the mask is their
union), an uncompressed RLE ``{"size": [h, w], "counts": [int, ...]}`` (what COCO uses for crowd
regions) or a compressed RLE ``{"size": [h, w], "counts": "..."}`` (what models write).
Polygons are rasterised at their image's ``height`` x ``width``.

The masks themselves are pycocotools' (``pycocotools.mask``: ``frPyObjects``, ``merge``,
``area``, ``toBbox``, ``iou``), so pixels, areas and IoU are exactly pycocotools' (``rleIou``
counts intersection and union in integers; against a crowd region the union is the
detection's area). What changes is how often they are called: polygons of all images of one
size are rasterised in one call, and IoU is computed once per (image, category) only where a
bound from the masks' areas and bounds says a pair could reach the lowest threshold.

Input is checked more strictly than pycocotools, which takes an RLE's own ``size`` and scores a
pair of different sizes as IoU -1: an RLE whose size differs from its image's, uncompressed
counts that do not add up to h * w, or a string that is not pycocotools' RLE encoding is an
error naming the record.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidInput
from assay.evaluation._coco_input import (
    Detections,
    GroundTruth,
    IdArray,
    _column,
    detection_records,
)
from assay.evaluation._det_match import PairIoU
from assay.evaluation._det_pairs import all_pairs

I64 = NDArray[np.int64]
Rle = dict[str, Any]  # pycocotools' {"size": [h, w], "counts": bytes}

_AREA_CHUNK = 255  # pycocotools 2.0.11's area() fails on longer lists under numpy 2


def _pycocotools_mask() -> Any:
    try:
        from pycocotools import mask
    except ImportError as exc:  # pragma: no cover - the eval extra installs it
        raise InvalidInput(
            "segmentation evaluation uses pycocotools' mask routines; "
            "install them with: pip install 'assay[eval]'"
        ) from exc
    return mask


def image_sizes(doc: Mapping[str, Any], image_ids: IdArray, src: str) -> I64:
    """(n_images, 2) height and width per sorted image id; -1 where the image does not say."""
    out = np.full((image_ids.size, 2), -1, dtype=np.int64)
    for i, img in enumerate(doc["images"]):
        h, w = img.get("height"), img.get("width")
        if h is None and w is None:
            continue
        for field, v in (("height", h), ("width", w)):
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise InvalidInput(f"{src}: images[{i}].{field} must be a positive integer")
        pos = int(np.searchsorted(image_ids, img["id"]))
        out[pos] = (h, w)
    return out


def _size(seg: Mapping[str, Any], bad: Any) -> tuple[int, int]:
    size: Any = seg.get("size")
    if type(size) in (list, tuple) and len(size) == 2:
        h, w = size
        if type(h) is int and type(w) is int and h > 0 and w > 0:
            return h, w
    raise bad("size must be [height, width], two positive integers")


def _numbers_ok(values: list[Any]) -> bool:
    if set(map(type, values)) <= {int, float}:
        return bool(np.isfinite(np.fromiter(values, dtype=np.float64, count=len(values))).all())
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def read_masks(
    segs: list[Any], hw: I64, src: str, where: str
) -> tuple[list[Rle], NDArray[np.int64]]:
    """pycocotools RLEs of `segs` in order, and each mask's (height, width).

    `hw` is each record's image (height, width), or -1s where the image does not say.
    """
    fast = _packed_fast(segs, hw)
    if fast is not None:
        return fast
    n = len(segs)

    def bad_at(i: int) -> Any:
        def make(msg: str) -> InvalidInput:
            return InvalidInput(f"{src}: {where}[{i}].segmentation: {msg}")

        return make

    mask = _pycocotools_mask()
    out: list[Rle | None] = [None] * n
    size = np.zeros((n, 2), dtype=np.int64)
    polys: dict[tuple[int, int], list[tuple[int, list[Any]]]] = defaultdict(list)
    plain: list[tuple[int, Rle]] = []
    packed: list[int] = []
    for i, seg in enumerate(segs):
        bad = bad_at(i)
        h, w = int(hw[i, 0]), int(hw[i, 1])
        if isinstance(seg, list):
            if not seg:
                raise bad(
                    "empty; segmentation evaluation needs a polygon or RLE mask for every "
                    "annotation (this one only has a box)"
                )
            if h < 0:
                raise bad("a polygon needs its image's height and width in 'images'")
            for k, p in enumerate(seg):
                if not (isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0):
                    raise bad(f"polygon {k} must be a list of x, y pairs with at least 3 points")
            polys[(h, w)].append((i, seg))
            size[i] = h, w
            continue
        if not (isinstance(seg, dict) and "counts" in seg):
            raise bad("must be a list of polygons or an RLE object with size and counts")
        rh, rw = _size(seg, bad)
        if h >= 0 and (rh, rw) != (h, w):
            raise bad(f"size [{rh}, {rw}] differs from the image's [{h}, {w}]")
        size[i] = rh, rw
        counts = seg["counts"]
        if isinstance(counts, list):
            if counts and (set(map(type, counts)) != {int} or min(counts) < 0):
                raise bad("counts must be non-negative integers")
            if sum(counts) != rh * rw:
                raise bad(f"counts add up to {sum(counts)} pixels, not height * width = {rh * rw}")
            plain.append((i, {"size": [rh, rw], "counts": counts}))
        elif isinstance(counts, str | bytes):
            raw = counts.encode("ascii", "replace") if isinstance(counts, str) else counts
            packed.append(i)
            out[i] = {"size": [rh, rw], "counts": raw}
        else:
            raise bad("counts must be a list of integers or an RLE string")
    if packed:
        wrong = _first_bad_string([out[i]["counts"] for i in packed])  # type: ignore[index]
        if wrong is not None:
            raise bad_at(packed[wrong])(
                "counts is not a COCO RLE string (pycocotools' compressed encoding)"
            )
    if plain:
        for (i, _), rle in zip(plain, mask.frPyObjects([r for _, r in plain], 0, 0), strict=True):
            out[i] = rle
    for (h, w), group in polys.items():
        flat = [p for _, seg in group for p in seg]
        if not _numbers_ok(list(chain.from_iterable(flat))):
            for i, seg in group:
                for k, p in enumerate(seg):
                    if not _numbers_ok(p):
                        raise bad_at(i)(f"polygon {k} holds a value that is not a finite number")
        parts = mask.frPyObjects(flat, h, w)
        at = 0
        for i, seg in group:
            k = len(seg)
            out[i] = parts[at] if k == 1 else mask.merge(parts[at : at + k])
            at += k
    return [r for r in out if r is not None], size


def _packed_fast(segs: list[Any], hw: I64) -> tuple[list[Rle], I64] | None:
    """All records compressed RLE (what models write), checked with whole-column operations;
    None when anything is off, and the record-by-record path names the first bad one."""
    try:
        counts = [s["counts"] for s in segs]
        sizes = [s["size"] for s in segs]
    except (TypeError, KeyError, IndexError):
        return None
    if not segs or set(map(type, counts)) != {str} or set(map(type, sizes)) != {list}:
        return None
    size = np.asarray(sizes)
    if size.shape != (len(segs), 2) or size.dtype.kind != "i" or (size <= 0).any():
        return None
    known = hw[:, 0] >= 0
    if (size[known] != hw[known]).any():
        return None
    try:
        joined = "".join(counts).encode("ascii")
    except UnicodeEncodeError:
        return None
    lens = np.fromiter(map(len, counts), dtype=np.int64, count=len(counts))
    if _first_bad_packed(joined, lens) is not None:
        return None
    # pycocotools reads only `size` and `counts` (a str is encoded as it reads it).
    return list(segs), size.astype(np.int64)


def _first_bad_string(strings: list[bytes]) -> int | None:
    """Index of the first string that is not in ``rleToString``'s alphabet and shape, or None.

    Each count is 5-bit groups: bytes 80..111 continue a number, 48..79 end it; a 32-bit
    count with its sign takes at most 7 groups, and a string ends at the end of a number.
    """
    lens = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    return _first_bad_packed(b"".join(strings), lens)


def _first_bad_packed(joined: bytes, lens: I64) -> int | None:
    """`_first_bad_string` over the strings concatenated, with their lengths."""
    buf = np.frombuffer(joined, dtype=np.uint8)
    alphabet = (buf - np.uint8(48)) <= 63  # wraps below 48
    ends = buf < 80
    cut = np.cumsum(lens)[lens > 0] - 1
    ok_end = np.ones(lens.size, dtype=np.bool_)
    ok_end[lens > 0] = ends[cut]
    # the end of each number, or of the buffer; a gap of more than 7 bytes is too long
    stops = np.flatnonzero(ends)
    gaps = np.diff(np.concatenate([[-1], stops]))
    bad = ~ok_end
    if not alphabet.all() or (gaps > 7).any():
        at = np.cumsum(lens) - lens
        if not alphabet.all():
            bad |= np.add.reduceat(~alphabet, np.minimum(at, buf.size - 1)) * (lens > 0) > 0
        long_at = stops[gaps > 7]
        bad[np.searchsorted(at, long_at, side="right") - 1] = True
    hit = np.flatnonzero(bad)
    return int(hit[0]) if hit.size else None


def areas(rles: list[Rle]) -> NDArray[np.int64]:
    """Pixel count of each mask."""
    if not rles:
        return np.zeros(0, dtype=np.int64)
    mask = _pycocotools_mask()
    parts = [mask.area(rles[i : i + _AREA_CHUNK]) for i in range(0, len(rles), _AREA_CHUNK)]
    return np.concatenate(parts).astype(np.int64)


def mask_pairs(gt_rles: list[Rle], dt_rles: list[Rle]) -> PairIoU:
    """A `PairIoU` over masks, computed by pycocotools' ``iou`` one (image, category) at a time.

    Only pairs that could reach the lowest threshold c are kept: the intersection is at most
    I = min(both areas, the overlap of the masks' bounds), so the IoU is at most
    I / (area_d + area_g - I), or I / area_d against a crowd region. Rounding is monotone, so
    the bound in floating point still bounds the computed IoU.
    """
    mask = _pycocotools_mask()
    d_area, g_area = areas(dt_rles), areas(gt_rles)
    d_box = mask.toBbox(dt_rles) if dt_rles else np.zeros((0, 4))
    g_box = mask.toBbox(gt_rles) if gt_rles else np.zeros((0, 4))

    def pairs(
        drow: I64, grow: I64, dkey: I64, gkey: I64, gcrowd: NDArray[np.bool_], cmin: float
    ) -> tuple[I64, I64, NDArray[np.float64]]:
        pair_d, pair_g = all_pairs(dkey, gkey)
        if cmin > 0:
            a, b = drow[pair_d], grow[pair_g]
            db, gb = d_box[a], g_box[b]
            ow = np.minimum(db[:, 0] + db[:, 2], gb[:, 0] + gb[:, 2]) - np.maximum(
                db[:, 0], gb[:, 0]
            )
            oh = np.minimum(db[:, 1] + db[:, 3], gb[:, 1] + gb[:, 3]) - np.maximum(
                db[:, 1], gb[:, 1]
            )
            da, ga = d_area[a], g_area[b]
            most = np.minimum(np.minimum(da, ga), np.maximum(ow, 0) * np.maximum(oh, 0))
            with np.errstate(divide="ignore", invalid="ignore"):
                bound = most / np.where(gcrowd[pair_g], da, da + ga - most)
            keep = np.flatnonzero((most > 0) & (bound >= cmin))
            pair_d, pair_g = pair_d[keep], pair_g[keep]
        iou = np.zeros(pair_d.size)
        if pair_d.size == 0:
            return pair_d, pair_g, iou
        # Pairs come detection-major, grouped by (image, category), and a group's detections
        # and boxes are consecutive rows: one IoU matrix per group over the rows its pairs span.
        key = dkey[pair_d]
        start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        group = np.repeat(np.arange(start.size), np.diff(np.r_[start, key.size]))
        d_lo, d_hi = pair_d[start], pair_d[np.r_[start[1:], key.size] - 1] + 1
        g_lo = np.minimum.reduceat(pair_g, start)
        g_hi = np.maximum.reduceat(pair_g, start) + 1
        row, col = pair_d - d_lo[group], pair_g - g_lo[group]
        d_ids, g_ids = drow.tolist(), grow.tolist()
        crowd = gcrowd.astype(np.uint8).tolist()
        spans = zip(d_lo.tolist(), d_hi.tolist(), g_lo.tolist(), g_hi.tolist(), strict=True)
        cuts = np.r_[start, key.size].tolist()
        for k, (dl, dh, gl, gh) in enumerate(spans):
            mat = mask.iou(
                [dt_rles[j] for j in d_ids[dl:dh]],
                [gt_rles[j] for j in g_ids[gl:gh]],
                crowd[gl:gh],
            )
            s, e = cuts[k], cuts[k + 1]
            iou[s:e] = mat[row[s:e], col[s:e]]
        return pair_d, pair_g, iou

    return pairs


def read_segm(
    gt_doc: Mapping[str, Any],
    dt_doc: object,
    gt: GroundTruth,
    dt: Detections,
    box_area: bool,
    gt_src: str,
    dt_src: str,
) -> tuple[Detections, PairIoU]:
    """Masks of both sides, the detections' areas and the `PairIoU` for segmentation.

    With `box_area` (pycocotools' rule: its ``loadRes`` looks at the first result) a
    detection's area is its box's w * h whenever the first detection carries a box; otherwise
    it is the mask's pixel count. A detection with a box and no segmentation is its box as a
    polygon, as pycocotools' ``loadRes`` makes it.
    """
    sizes = image_sizes(gt_doc, gt.image_ids, gt_src)
    anns = gt_doc["annotations"]
    gt_segs = _column(anns, "segmentation", gt_src, "annotations")
    gt_rles, gt_size = read_masks(gt_segs, sizes[gt.image], gt_src, "annotations")
    recs = detection_records(dt_doc, dt_src)
    has_box = [isinstance(r, dict) and r.get("bbox") not in (None, []) for r in recs]
    dt_segs: list[Any] = []
    for i, r in enumerate(recs):
        if "segmentation" in r:
            dt_segs.append(r["segmentation"])
        elif has_box[i]:
            x, y, w, h = (float(v) for v in dt.bbox[i])
            dt_segs.append([[x, y, x, y + h, x + w, y + h, x + w, y]])
        else:
            raise InvalidInput(f"{dt_src}: detections[{i}] is missing the field 'segmentation'")
    dt_rles, dt_size = read_masks(dt_segs, sizes[dt.image], dt_src, "detections")
    _check_same_size(gt, dt, gt_size, dt_size, gt_src, dt_src)
    if box_area and recs and has_box[0]:
        if not all(has_box):
            i = has_box.index(False)
            raise InvalidInput(
                f"{dt_src}: detections[{i}] has no bbox; pycocotools takes every detection's "
                "area from its bbox when the first one has a bbox (give all or none a bbox, "
                "or use the corrected mode, which uses mask areas)"
            )
        area = dt.bbox[:, 2] * dt.bbox[:, 3]
    else:
        area = areas(dt_rles).astype(np.float64)
    return replace(dt, area=area), mask_pairs(gt_rles, dt_rles)


def _check_same_size(
    gt: GroundTruth, dt: Detections, gt_size: I64, dt_size: I64, gt_src: str, dt_src: str
) -> None:
    """Every detection mask has the size of its image's ground-truth masks."""
    n = gt.image_ids.size
    ref = np.full((n, 2), -1, dtype=np.int64)
    ref[gt.image] = gt_size
    gt_off = (gt_size != ref[gt.image]).any(axis=1)
    if gt_off.any():
        i = int(np.argmax(gt_off))
        raise InvalidInput(
            f"{gt_src}: annotations[{i}].segmentation: its size differs from other masks "
            "of the same image"
        )
    mine = dt_size
    want = ref[dt.image]
    off = (want[:, 0] >= 0) & (mine != want).any(axis=1)
    if off.any():
        i = int(np.argmax(off))
        raise InvalidInput(
            f"{dt_src}: detections[{i}].segmentation: size [{mine[i, 0]}, {mine[i, 1]}] differs "
            f"from the ground-truth masks of its image [{want[i, 0]}, {want[i, 1]}]"
        )
