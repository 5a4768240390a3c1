"""Small COCO fixtures and a pycocotools runner shared by the detection tests."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

Doc = dict[str, Any]


def pycocotools_eval(
    gt: Doc,
    dt: list[Doc],
    max_dets: tuple[int, ...] = (1, 10, 100),
    iou_thresholds: tuple[float, ...] | None = None,
    area_ranges: tuple[tuple[str, float, float], ...] | None = None,
    iou_type: str = "bbox",
) -> COCOeval:
    """Run pycocotools on deep copies (it mutates its inputs) and return the evaluator."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), iou_type)
        ev.params.maxDets = list(max_dets)
        if iou_thresholds is not None:
            ev.params.iouThrs = np.asarray(iou_thresholds)
        if area_ranges is not None:
            ev.params.areaRng = [[lo, hi] for _, lo, hi in area_ranges]
            ev.params.areaRngLbl = [label for label, _, _ in area_ranges]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def random_coco(
    rng: np.random.Generator,
    n_images: int = 6,
    n_cats: int = 3,
    gt_per_image: int = 5,
    dt_per_image: int = 8,
    grid: bool = True,
) -> tuple[Doc, list[Doc]]:
    """A fixture full of edge cases: crowd boxes, images with no GT or no detections,
    tied scores, a category without GT, duplicate and near-duplicate boxes, stored areas
    that disagree with the box, and detections outside every area range."""
    images = [{"id": int(i) * 3 + 1} for i in range(n_images)]
    cats = [{"id": 10 + c, "name": f"damage_{c}"} for c in range(n_cats)]
    anns: list[Doc] = []
    dets: list[Doc] = []

    def box() -> list[float]:
        if grid:  # coarse coordinates make exact ties in IoU common
            x, y = (float(v) for v in rng.integers(0, 8, 2) * 16)
            w, h = (float(v) for v in rng.integers(1, 8, 2) * 16)
        else:
            x, y = (float(v) for v in rng.uniform(0, 150, 2))
            w, h = (float(v) for v in np.exp(rng.uniform(np.log(2), np.log(160), 2)))
        return [x, y, w, h]

    for i, img in enumerate(images):
        # every fourth image has no ground truth
        ng = 0 if i % 4 == 1 else int(rng.integers(0, gt_per_image + 1))
        own: list[tuple[int, list[float]]] = []
        for _ in range(ng):
            cat = cats[int(rng.integers(0, n_cats - 1))]["id"]  # last category has no GT
            b = box()
            area = b[2] * b[3] * float(rng.choice([1.0, 0.5, 3.0]))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img["id"],
                    "category_id": cat,
                    "bbox": b,
                    "area": area,
                    "iscrowd": int(rng.random() < 0.15),
                }
            )
            own.append((cat, b))
        if i % 4 == 2:
            continue  # image without detections
        nd = int(rng.integers(0, dt_per_image + 1))
        for _ in range(nd):
            if own and rng.random() < 0.6:
                cat, b = own[int(rng.integers(0, len(own)))]
                jitter = rng.integers(-1, 2, 4) * 8.0 if grid else rng.normal(0, 4, 4)
                b = [
                    b[0] + jitter[0],
                    b[1] + jitter[1],
                    max(b[2] + jitter[2], 1.0),
                    max(b[3] + jitter[3], 1.0),
                ]
                if rng.random() < 0.2:
                    cat = cats[int(rng.integers(0, n_cats))]["id"]
            else:
                cat, b = cats[int(rng.integers(0, n_cats))]["id"], box()
            if rng.random() < 0.05:
                b = [b[0], b[1], 400.0, 400.0]  # area outside the small/medium ranges
            score = float(rng.choice([0.9, 0.5, 0.5, 0.3])) if grid else float(rng.random())
            dets.append({"image_id": img["id"], "category_id": cat, "bbox": b, "score": score})
    return {"images": images, "annotations": anns, "categories": cats}, dets


def _star(rng: np.random.Generator, cx: float, cy: float, r: float) -> list[float]:
    """A star-shaped polygon around (cx, cy), as a flat COCO coordinate list."""
    n = int(rng.integers(5, 13))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.5, 1.0, n)
    xy = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], axis=1)
    return [round(float(v), 2) for v in xy.ravel()]


def _counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a (h, w) 0/1 mask, column-major, zeros first."""
    flat = np.asarray(mask, dtype=np.uint8).ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return runs if flat[0] == 0 else [0, *runs]


def random_coco_segm(
    rng: np.random.Generator,
    n_images: int = 6,
    n_cats: int = 3,
    gt_per_image: int = 5,
    dt_per_image: int = 8,
    det_boxes: bool = False,
) -> tuple[Doc, list[Doc]]:
    """Segmentation edge cases: polygons, multi-polygon objects, crowd regions as uncompressed
    RLE, non-crowd compressed RLE, images with no GT or no detections, a category without GT,
    tied scores, empty detection masks, stored areas that disagree with the mask. Detections
    are compressed RLE as pycocotools' results format wants; with `det_boxes` they also carry a
    bbox (then pycocotools takes each detection's area from that box)."""
    from pycocotools import mask as mask_utils

    images = [
        {
            "id": int(i) * 2 + 5,
            "height": int(rng.integers(60, 220)),
            "width": int(rng.integers(60, 260)),
        }
        for i in range(n_images)
    ]
    cats = [
        {"id": 3 + 2 * c, "name": f"flooded_{c}", "supercategory": "water"} for c in range(n_cats)
    ]
    anns: list[Doc] = []
    dets: list[Doc] = []

    def rle_of(polys: list[list[float]], h: int, w: int) -> Doc:
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
        return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}

    for i, img in enumerate(images):
        h, w = img["height"], img["width"]
        ng = 0 if i % 4 == 1 else int(rng.integers(0, gt_per_image + 1))
        own: list[tuple[int, list[list[float]], float]] = []
        for _ in range(ng):
            cat = cats[int(rng.integers(0, n_cats - 1))]["id"]  # last category has no GT
            r = float(np.exp(rng.uniform(np.log(3), np.log(min(h, w) / 2))))
            cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
            polys = [_star(rng, cx, cy, r)]
            if rng.random() < 0.25:  # one object in two parts
                polys.append(_star(rng, float(rng.uniform(0, w)), float(rng.uniform(0, h)), r / 2))
            kind = rng.random()
            crowd = int(kind < 0.15)
            if crowd:
                m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))
                seg: Any = {"size": [h, w], "counts": _counts(m)}
            elif kind < 0.3:
                seg = rle_of(polys, h, w)
            else:
                seg = polys
            area = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(polys, h, w))))
            area *= float(rng.choice([1.0, 1.0, 0.5, 3.0]))
            xs, ys = (
                np.concatenate([p[0::2] for p in polys]),
                np.concatenate([p[1::2] for p in polys]),
            )
            bbox = [float(xs.min()), float(ys.min()), float(np.ptp(xs)), float(np.ptp(ys))]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img["id"],
                    "category_id": cat,
                    "segmentation": seg,
                    "bbox": bbox,
                    "area": area,
                    "iscrowd": crowd,
                }
            )
            own.append((cat, polys, r))
        if i % 4 == 2:
            continue  # image without detections
        nd = int(rng.integers(0, dt_per_image + 1))
        for _ in range(nd):
            if own and rng.random() < 0.6:
                cat, polys, r = own[int(rng.integers(0, len(own)))]
                shift = rng.normal(0, 0.1 * r, 2)
                polys = [
                    [
                        round(v + float(shift[k % 2] + rng.normal(0, 0.05 * r)), 2)
                        for k, v in enumerate(p)
                    ]
                    for p in polys
                ]
                if rng.random() < 0.2:
                    cat = cats[int(rng.integers(0, n_cats))]["id"]
            else:
                cat = cats[int(rng.integers(0, n_cats))]["id"]
                r = float(np.exp(rng.uniform(np.log(3), np.log(min(h, w) / 2))))
                polys = [_star(rng, float(rng.uniform(0, w)), float(rng.uniform(0, h)), r)]
            if rng.random() < 0.05:
                polys = [[-10.0, -10.0, -5.0, -10.0, -5.0, -5.0]]  # outside the image: empty mask
            seg = rle_of(polys, h, w)
            score = float(rng.choice([0.9, 0.5, 0.5, 0.3]))
            det: Doc = {
                "image_id": img["id"],
                "category_id": cat,
                "segmentation": seg,
                "score": score,
            }
            if det_boxes:
                det["bbox"] = [float(v) for v in mask_utils.toBbox(seg)]
            dets.append(det)
    return {"images": images, "annotations": anns, "categories": cats}, dets
