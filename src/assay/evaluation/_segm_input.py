"""Read COCO ``segmentation`` fields into run-length masks, as pycocotools' ``annToRLE`` does.

A segmentation is a list of polygons (one object may have several parts: the mask is their
union), an uncompressed RLE ``{"size": [h, w], "counts": [int, ...]}`` (what COCO uses for crowd
regions) or a compressed RLE ``{"size": [h, w], "counts": "..."}`` (what models write).
Polygons are rasterised at their image's ``height`` x ``width``. pycocotools takes an RLE's own
``size`` and silently scores a pair of different sizes as IoU -1; here an RLE whose size differs
from its image's, or whose counts do not add up to h * w, is an error naming the record.
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
from assay.evaluation import _rle
from assay.evaluation._coco_input import (
    Detections,
    GroundTruth,
    IdArray,
    _column,
    detection_records,
)
from assay.evaluation._det_match import PairIoU

I64 = NDArray[np.int64]


def _pycocotools_mask() -> Any:
    try:
        from pycocotools import mask
    except ImportError as exc:  # pragma: no cover - the eval extra installs it
        raise InvalidInput(
            "segmentation evaluation rasterises polygons with pycocotools; "
            "install it with: pip install 'assay[eval]'"
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


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _size(seg: Mapping[str, Any], bad: Any) -> tuple[int, int]:
    size = seg.get("size")
    if not (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise bad("size must be [height, width], two positive integers")
    return int(size[0]), int(size[1])


def read_masks(
    segs: list[Any], hw: I64, src: str, where: str, index: I64 | None = None
) -> _rle.Runs:
    """Masks of `segs` in order; `hw` is each record's image (height, width) or -1s.

    `index[i]` is the position of record i in the source list, for error messages.
    """
    n = len(segs)
    pos = np.arange(n) if index is None else index

    def bad_at(i: int) -> Any:
        def make(msg: str) -> InvalidInput:
            return InvalidInput(f"{src}: {where}[{int(pos[i])}].segmentation: {msg}")

        return make

    polys: dict[tuple[int, int], list[tuple[int, list[Any]]]] = defaultdict(list)
    plain: list[tuple[int, list[Any]]] = []
    packed: list[tuple[int, bytes]] = []
    height = np.zeros(n, dtype=np.int64)
    width = np.zeros(n, dtype=np.int64)
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
                if not all(map(_is_num, p)):
                    raise bad(f"polygon {k} holds a value that is not a finite number")
                polys[(h, w)].append((i, p))
        elif isinstance(seg, dict) and "counts" in seg:
            rh, rw = _size(seg, bad)
            if h >= 0 and (rh, rw) != (h, w):
                raise bad(f"size [{rh}, {rw}] differs from the image's [{h}, {w}]")
            h, w = rh, rw
            counts = seg["counts"]
            if isinstance(counts, list):
                if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
                    raise bad("counts must be integers")
                plain.append((i, counts))
            elif isinstance(counts, str | bytes):
                try:
                    packed.append(
                        (i, counts.encode("ascii") if isinstance(counts, str) else counts)
                    )
                except UnicodeEncodeError:
                    raise bad("counts is not a COCO RLE string") from None
            else:
                raise bad("counts must be a list of integers or an RLE string")
        else:
            raise bad("must be a list of polygons or an RLE object with size and counts")
        height[i], width[i] = h, w

    parts: list[_rle.Runs] = []
    owners: list[I64] = []
    if plain:
        lengths = np.fromiter((len(c) for _, c in plain), dtype=np.int64, count=len(plain))
        counts = np.fromiter(chain.from_iterable(c for _, c in plain), dtype=np.int64)
        owner = np.fromiter((i for i, _ in plain), dtype=np.int64, count=len(plain))
        _check_counts(counts, lengths, owner, height, width, bad_at)
        parts.append(_rle.from_counts(counts, lengths, height[owner], width[owner]))
        owners.append(owner)
    if packed:
        owner = np.fromiter((i for i, _ in packed), dtype=np.int64, count=len(packed))
        try:
            counts, lengths = _rle.decode_strings([s for _, s in packed])
        except _rle.RleError as exc:
            raise bad_at(int(owner[exc.index]))(f"counts {exc.reason}") from None
        _check_counts(counts, lengths, owner, height, width, bad_at)
        parts.append(_rle.from_counts(counts, lengths, height[owner], width[owner]))
        owners.append(owner)
    if polys:
        mask = _pycocotools_mask()
        for (h, w), group in polys.items():
            rles = mask.frPyObjects([p for _, p in group], h, w)
            counts, lengths = _rle.decode_strings([r["counts"] for r in rles])
            owner = np.fromiter((i for i, _ in group), dtype=np.int64, count=len(group))
            size = np.full(owner.size, h, dtype=np.int64)
            parts.append(_rle.from_counts(counts, lengths, size, np.full(owner.size, w)))
            owners.append(owner)
    if not parts:
        return _rle.Runs(
            *(np.zeros(0, dtype=np.int64),) * 2, np.zeros(n + 1, dtype=np.int64), height, width
        )
    # One union per record: joins the parts of multi-polygon objects, keeps the others.
    return _rle.union(_rle.concat(parts), np.concatenate(owners), n, height, width)


def _check_counts(
    counts: I64, lengths: I64, owner: I64, height: I64, width: I64, bad_at: Any
) -> None:
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    neg = counts < 0
    if neg.any():
        k = int(np.searchsorted(starts, np.argmax(neg), side="right") - 1)
        raise bad_at(int(owner[k]))("counts must not be negative")
    csum = np.concatenate([[0], np.cumsum(counts)])
    total = csum[starts + lengths] - csum[starts]
    want = height[owner] * width[owner]
    off = total != want
    if off.any():
        k = int(np.argmax(off))
        raise bad_at(int(owner[k]))(
            f"counts add up to {int(total[k])} pixels, not height * width = {int(want[k])}"
        )


def mask_pairs(gt_masks: _rle.Runs, dt_masks: _rle.Runs) -> PairIoU:
    """A `PairIoU` over masks: pairs of a group whose IoU could reach the lowest threshold.

    The intersection is at most I = min(both areas, the overlap of the masks' bounds), so the
    IoU is at most I / (area_d + area_g - I), or I / area_d against a crowd region; pairs
    below the lowest threshold by that bound are dropped before any run is compared. Rounding
    is monotone, so the bound in floating point still bounds the computed IoU.
    """
    from assay.evaluation._det_pairs import all_pairs

    runs = _rle.concat([dt_masks, gt_masks])
    n_dt = dt_masks.size
    area = runs.area()
    box = runs.bounds()

    def pairs(
        drow: I64, grow: I64, dkey: I64, gkey: I64, gcrowd: NDArray[np.bool_], cmin: float
    ) -> tuple[I64, I64, NDArray[np.float64]]:
        pair_d, pair_g = all_pairs(dkey, gkey)
        a, b = drow[pair_d], grow[pair_g] + n_dt
        crowd = gcrowd[pair_g]
        if cmin > 0:
            ov = np.minimum(box[a, 2:], box[b, 2:]) - np.maximum(box[a, :2], box[b, :2])
            most = np.minimum(np.minimum(area[a], area[b]), np.prod(np.maximum(ov, 0), axis=1))
            with np.errstate(divide="ignore", invalid="ignore"):
                bound = most / np.where(crowd, area[a], area[a] + area[b] - most)
            keep = np.flatnonzero((most > 0) & (bound >= cmin))
            pair_d, pair_g, a, b = pair_d[keep], pair_g[keep], a[keep], b[keep]
            crowd = crowd[keep]
        return pair_d, pair_g, _rle.pair_iou(runs, a, b, crowd)

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
    gt_masks = read_masks(gt_segs, sizes[gt.image], gt_src, "annotations")
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
    dt_masks = read_masks(dt_segs, sizes[dt.image], dt_src, "detections")
    _check_same_size(gt, dt, gt_masks, dt_masks, dt_src)
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
        area = dt_masks.area().astype(np.float64)
    return replace(dt, area=area), mask_pairs(gt_masks, dt_masks)


def _check_same_size(
    gt: GroundTruth, dt: Detections, gt_masks: _rle.Runs, dt_masks: _rle.Runs, dt_src: str
) -> None:
    """Every detection mask has the size of its image's ground-truth masks."""
    n = gt.image_ids.size
    ref = np.full((n, 2), -1, dtype=np.int64)
    ref[gt.image, 0], ref[gt.image, 1] = gt_masks.height, gt_masks.width
    gt_off = (np.stack([gt_masks.height, gt_masks.width], axis=1) != ref[gt.image]).any(axis=1)
    if gt_off.any():
        i = int(np.argmax(gt_off))
        raise InvalidInput(
            f"annotations[{i}].segmentation: its size differs from other masks of the same image"
        )
    mine = np.stack([dt_masks.height, dt_masks.width], axis=1)
    want = ref[dt.image]
    off = (want[:, 0] >= 0) & (mine != want).any(axis=1)
    if off.any():
        i = int(np.argmax(off))
        raise InvalidInput(
            f"{dt_src}: detections[{i}].segmentation: size [{mine[i, 0]}, {mine[i, 1]}] differs "
            f"from the ground-truth masks of its image [{want[i, 0]}, {want[i, 1]}]"
        )
