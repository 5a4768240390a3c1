"""Pre-labeling throughput: `assay prelabel` (one ONNX session, batched, one transaction)
against a naive loop over the same ONNX model and the same tasks, one item at a time (read,
decode, run a batch of one, store the annotation in its own transaction), the way a
per-task model backend works.

Both sides use the same onnxruntime session options (one thread) and the same images:
N synthetic 64x64 flood scenes in a labeling project. Each run starts from a fresh copy of
the same workspace. Prints medians and the naive / assay ratio for a classifier and a detector.

    .venv/bin/python bench/prelabel_throughput.py [--items 400] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import WORK, median, table, write_result
from assay.domain.labels import Region, payload_to_json
from assay.domain.schema import LabelSchema
from assay.labeling import create_project
from assay.labeling._db import write
from assay.labeling.prelabel import prelabel
from assay.models import OnnxClassifier, OnnxDetector, add_model, get_model, model_file
from assay.store.schema import annotations_table, tasks
from assay.timeutil import now_iso
from assay.workspace import Workspace

SIZE = 64
SESSION_PER_ITEM = "naive loop, model loaded per item"
SHARED_SESSION = "naive loop, one shared session"
ASSAY = "assay prelabel"
SCHEMA = """
title: Flood survey
controls:
  - name: label
    type: boxes
    labels: [building, vehicle]
  - name: damage
    type: choices
    labels: [none, minor, destroyed]
"""


def _conv_trunk(rng: np.random.Generator) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Two 3x3 convolutions with ReLU, then global average pooling: (N, 16)."""
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["feat"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (16, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(16, np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.1, (16, 16, 3, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(16, np.float32), "b2"),
    ]
    return nodes, inits


def _save(graph: onnx.GraphProto, classes: list[str], path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"classes": ",".join(classes)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_classifier(path: Path) -> Path:
    rng = np.random.default_rng(1)
    nodes, inits = _conv_trunk(rng)
    nodes += [
        helper.make_node("MatMul", ["feat", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    inits.append(numpy_helper.from_array(rng.normal(0, 1, (16, 3)).astype(np.float32), "W"))
    graph = helper.make_graph(
        nodes,
        "bench_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3])],
        initializer=inits,
    )
    return _save(graph, ["none", "minor", "destroyed"], path)


def build_detector(path: Path, k: int = 8) -> Path:
    """K boxes per image whose positions and scores come from the conv features."""
    rng = np.random.default_rng(2)
    nodes, inits = _conv_trunk(rng)
    nodes += [
        helper.make_node("MatMul", ["feat", "Wb"], ["raw_boxes"]),
        helper.make_node("Sigmoid", ["raw_boxes"], ["unit_boxes"]),
        helper.make_node("Mul", ["unit_boxes", "scale"], ["flat_boxes"]),
        helper.make_node("Add", ["flat_boxes", "min_wh"], ["boxes_pos"]),
        helper.make_node("Reshape", ["boxes_pos", "shape3"], ["boxes"]),
        helper.make_node("MatMul", ["feat", "Ws"], ["raw_scores"]),
        helper.make_node("Sigmoid", ["raw_scores"], ["scores"]),
        helper.make_node("MatMul", ["feat", "Wl"], ["raw_labels"]),
        helper.make_node("Greater", ["raw_labels", "zero"], ["is_vehicle"]),
        helper.make_node("Cast", ["is_vehicle"], ["labels"], to=TensorProto.INT64),
    ]
    half = SIZE / 2
    inits += [
        numpy_helper.from_array(rng.normal(0, 1, (16, 4 * k)).astype(np.float32), "Wb"),
        numpy_helper.from_array(np.tile([half, half, half, half], k).astype(np.float32), "scale"),
        numpy_helper.from_array(np.tile([0, 0, 2, 2], k).astype(np.float32), "min_wh"),
        numpy_helper.from_array(np.array([-1, k, 4], np.int64), "shape3"),
        numpy_helper.from_array(rng.normal(0, 1, (16, k)).astype(np.float32), "Ws"),
        numpy_helper.from_array(rng.normal(0, 1, (16, k)).astype(np.float32), "Wl"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
    ]
    graph = helper.make_graph(
        nodes,
        "bench_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", k, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", k]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["N", k]),
        ],
        initializer=inits,
    )
    return _save(graph, ["building", "vehicle"], path)


def build_workspace(root: Path, n: int) -> Path:
    if root.exists():
        shutil.rmtree(root)
    images = root / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        arr = np.empty((SIZE, SIZE, 3), np.uint8)
        arr[:] = (96, 124, 70)
        arr[int(rng.integers(10, 54)) :] = (120, 96, 60)
        arr = np.clip(arr + rng.normal(0, 10, arr.shape), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(images / f"scene_{i:05d}.png")
    ws = Workspace.init(root / "ws")
    ws.ingest([images])
    ws.create_dataset("scenes")
    ws.add_items("scenes")
    create_project(ws, "survey", LabelSchema.from_yaml_text(SCHEMA), "scenes")
    add_model(ws, "clf", build_classifier(root / "clf.onnx"))
    add_model(ws, "det", build_detector(root / "det.onnx"))
    ws.close()
    return root / "ws"


def naive(ws: Workspace, spec: str, per_item_session: bool, min_score: float = 0.25) -> int:
    """One item at a time: read, decode, run a batch of one, one transaction per annotation;
    with `per_item_session` the model is also loaded for every item (a per-request backend)."""
    from assay.evaluation.runs._data import to_batch
    from assay.labeling.prelabel import decode_image

    info = get_model(ws, spec)
    path = model_file(ws, info)
    cls = OnnxDetector if info.task == "detection" else OnnxClassifier
    model = cls(path, [], info.ref)
    with ws.db.read() as conn:
        rows = conn.execute(select_open()).all()
    for task_id, item_id in rows:
        if per_item_session:
            model = cls(path, [], info.ref)
        image = decode_image(ws.blobs.get_bytes(item_id), item_id)
        x = to_batch([image], model.input_size, info.ref)
        if info.task == "detection":
            (dets,) = model.detect(x)  # type: ignore[union-attr]
            regions = [
                Region(
                    id=f"p{i + 1}",
                    kind="box",
                    control="label",
                    label=d.label,
                    box=d.box,
                    score=d.score,
                )
                for i, d in enumerate(d for d in dets if d.score >= min_score)
            ]
        else:
            (p,) = model.predict_proba(x)  # type: ignore[union-attr]
            k = int(np.argmax(p))
            regions = [
                Region(
                    id="p1",
                    kind="choice",
                    control="damage",
                    label=model.classes[k],
                    score=float(p[k]),
                )
            ]
        created = now_iso()
        with write(ws.db) as conn:
            conn.execute(
                annotations_table.insert().values(
                    id=hashlib.sha256(f"{spec}{item_id}{created}".encode()).hexdigest()[:32],
                    item_id=item_id,
                    project="survey",
                    author=f"model:{info.ref}",
                    kind="model",
                    payload=payload_to_json(regions),
                    created=created,
                    source_id=f"prelabel:{info.ref}",
                )
            )
            scores = [r.score for r in regions if r.score is not None]
            if scores:
                conn.execute(
                    tasks.update().where(tasks.c.id == task_id).values(priority=min(scores))
                )
    return len(rows)


def select_open():  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    return select(tasks.c.id, tasks.c.item_id).where(tasks.c.is_gold == 0).order_by(tasks.c.id)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=400, help="Tasks in the project.")
    ap.add_argument("--repeats", type=int, default=3, help="Runs per side (median reported).")
    args = ap.parse_args()
    base = WORK / "prelabel"
    template = build_workspace(base / "template", args.items)
    rows = []
    for spec in ("clf", "det"):
        sides = [SESSION_PER_ITEM, SHARED_SESSION, ASSAY]
        times: dict[str, list[float]] = {side: [] for side in sides}
        for rep in range(args.repeats + 1):  # the first round warms caches and is not kept
            order = sides[rep % 3 :] + sides[: rep % 3]
            for side in order:
                target = base / "run"
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(template, target)
                ws = Workspace.open(target)
                t0 = time.perf_counter()
                if side == ASSAY:
                    n = prelabel(ws, "survey", spec).labelled
                else:
                    n = naive(ws, spec, per_item_session=side == SESSION_PER_ITEM)
                if rep:
                    times[side].append(time.perf_counter() - t0)
                ws.close()
                assert n == args.items, (side, n)
        assay_s = median(times[ASSAY])
        for side, xs in times.items():
            m = median(xs)
            rows.append(
                [
                    spec,
                    side,
                    f"{m:.2f}",
                    ", ".join(f"{x:.2f}" for x in xs),
                    f"{args.items / m:.0f}",
                    f"{m / assay_s:.2f}x",
                ]
            )
            print(f"{spec}: {side} / assay = {m / assay_s:.2f}x", flush=True)
    text = (
        f"### Pre-labeling throughput, {args.items} 64x64 images, median of {args.repeats}\n\n"
        + table(["model", "side", "median s", "runs s", "items/s", "time / assay"], rows)
        + "\n\nThe naive loops read, decode and run one item at a time (batch of one, "
        "onnxruntime on one thread, as assay) and store each annotation in its own "
        "transaction; the first also loads the model for every item, as a per-request model "
        "backend does (the issue's baseline: assay batches and keeps one session per "
        "process), the second shares one session (a stricter baseline: the same model, "
        "session options and preprocessing, one item at a time). `assay prelabel` "
        "reads, decodes, resizes and scales the next batch of 32 in two threads, straight "
        "into the model's input array, while the model runs on this one, and stores "
        "everything in one transaction. Goal: >= 3x. A first round of every side warms "
        "caches and is not counted; the order of the sides rotates.\n\nReproduce: "
        "`.venv/bin/python bench/prelabel_throughput.py "
        f"--items {args.items} --repeats {args.repeats}`\n"
    )
    write_result("prelabel", text)


if __name__ == "__main__":
    main()
