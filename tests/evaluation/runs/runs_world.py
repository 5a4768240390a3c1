"""Builders for evaluation-run tests: flood-scene workspaces and tiny real ONNX models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from assay.domain.labels import Region
from assay.models import CallableClassifier
from assay.versioning import LabelRecord
from assay.workspace import Workspace

CLASSES = ["dry", "flooded"]
FIELD, WATER = (96, 124, 70), (120, 96, 60)
# Logit difference flooded - dry = K * (mean red - mean green): water is redder than fields.
K = 40.0
WEIGHTS = np.array([[-K / 2, K / 2], [K / 2, -K / 2], [0.0, 0.0]], dtype=np.float32)


def flood_image(seed: int, flooded: bool, size: tuple[int, int] = (48, 32)) -> np.ndarray:
    """A synthetic aerial scene; the water share decides the class, with some hard cases."""
    w, h = size
    rng = np.random.default_rng(seed)
    share = rng.uniform(0.55, 0.95) if flooded else rng.uniform(0.05, 0.45)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = FIELD
    img[int(h * (1 - share)) :] = WATER
    for _ in range(3):  # rooftops
        x, y = int(rng.integers(0, w - 6)), int(rng.integers(0, h - 6))
        img[y : y + 5, x : x + 6] = (170, 40, 40)
    noise = rng.normal(0, 12, img.shape)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    img[0, 0] = (seed % 256, seed // 256, 7)  # distinct bytes per seed
    return img


@dataclass
class World:
    ws: Workspace
    dataset: str
    commit: str
    names: dict[str, str] = field(default_factory=dict)  # item id -> file name
    truth: dict[str, str] = field(default_factory=dict)  # item id -> class (classification)
    root: Path = Path()

    @property
    def spec(self) -> str:
        return f"{self.dataset}@{self.commit[:12]}"


def _save(path: Path, img: np.ndarray, taken: str, gps: tuple[float, float]) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = taken
    g = exif.get_ifd(0x8825)
    lat, lon = gps
    g[1], g[3] = "N", "E"
    g[2] = tuple(float(v) for v in _dms(lat))
    g[4] = tuple(float(v) for v in _dms(lon))
    Image.fromarray(img).save(path, format="JPEG", quality=95, exif=exif)


def _dms(v: float) -> tuple[float, float, float]:
    d = int(v)
    m = int((v - d) * 60)
    return float(d), float(m), round((v - d - m / 60) * 3600, 4)


def classification_world(root: Path, n: int = 24, seed: int = 0) -> World:
    """n labelled scenes: half from a drone at night in the north, half satellite by day."""
    ws = Workspace.open(root) if (root / ".assay").exists() else Workspace.init(root)
    truth_by_name: dict[str, str] = {}
    for group, source in (("drone", "drone"), ("sat", "satellite")):
        folder = root / "data" / group
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n // 2):
            k = seed * 1000 + i + (0 if group == "drone" else 500)
            flooded = i % 2 == 0
            name = f"{group}_{i:03d}.jpg"
            taken = "2026:03:01 22:30:00" if group == "drone" else "2026:03:02 13:15:00"
            gps = (52.5, 13.4) if group == "drone" else (48.1, 11.6)
            _save(folder / name, flood_image(k, flooded), taken, gps)
            truth_by_name[name] = CLASSES[int(flooded)]
        ws.ingest([folder], source=source)
    ws.create_dataset("floods")
    ws.add_items("floods")
    from assay.formats.io import export_bundle

    bundle = export_bundle(ws, ws.resolve("floods", default_head=False))
    names = {r.item_id: r.name for r in bundle.rows}
    truth = {iid: truth_by_name[nm] for iid, nm in names.items()}
    ws.set_labels(
        "floods",
        [
            LabelRecord(iid, [Region(kind="choice", control="flood", label=lab)])
            for iid, lab in truth.items()
        ],
    )
    c = ws.commit("floods", "labels of record")
    return World(ws, "floods", c.id, names, truth, root)


def detection_world(root: Path, n: int = 8) -> World:
    """n scenes with boxes: rooftops (large) and boats (small)."""
    ws = Workspace.init(root)
    folder = root / "det"
    folder.mkdir(parents=True)
    for i in range(n):
        img = flood_image(700 + i, i % 2 == 0)
        _save(folder / f"scene_{i:02d}.jpg", img, "2026:03:01 10:00:00", (50.0, 10.0))
    ws.ingest([folder], source="drone")
    ws.create_dataset("boats")
    ws.add_items("boats")
    from assay.formats.io import export_bundle

    bundle = export_bundle(ws, ws.resolve("boats", default_head=False))
    records = []
    for k, r in enumerate(bundle.rows):
        regions = [Region(kind="box", control="objects", label="roof", box=(3.0, 3.0, 30.0, 20.0))]
        if k % 2 == 0:
            regions.append(
                Region(kind="box", control="objects", label="boat", box=(36.0, 24.0, 6.0, 4.0))
            )
        records.append(LabelRecord(r.item_id, regions))
    ws.set_labels("boats", records)
    c = ws.commit("boats", "boxes")
    return World(ws, "boats", c.id, {r.item_id: r.name for r in bundle.rows}, root=root)


# --- ONNX models built with onnx.helper -----------------------------------------------------


def onnx_classifier(
    path: Path, weights: np.ndarray = WEIGHTS, classes: list[str] | None = None, size: int = 32
) -> Path:
    """Global average pool + MatMul + Add + Softmax over a (N, 3, size, size) input."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "flood_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", weights.shape[1]])],
        initializer=[
            numpy_helper.from_array(weights.astype(np.float32), "W"),
            numpy_helper.from_array(np.zeros(weights.shape[1], np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"classes": ",".join(classes or CLASSES)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def onnx_detector(
    path: Path,
    boxes: list[tuple[float, float, float, float]],
    scores: list[float],
    labels: list[int],
    classes: list[str],
    size: int = 32,
) -> Path:
    """A "detector" that outputs the same boxes for every image (input pixels, x y w h)."""
    k = len(boxes)
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["m", "shape3"], ["m3"]),
        helper.make_node("Mul", ["m3", "zero"], ["z3"]),
        helper.make_node("Add", ["z3", "const_boxes"], ["boxes"]),
        helper.make_node("Reshape", ["m", "shape2"], ["m2"]),
        helper.make_node("Mul", ["m2", "zero"], ["z2"]),
        helper.make_node("Add", ["z2", "const_scores"], ["scores"]),
        helper.make_node("Add", ["z2", "const_labels"], ["labels_f"]),
        helper.make_node("Cast", ["labels_f"], ["labels"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", k, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", k]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["N", k]),
        ],
        initializer=[
            numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape3"),
            numpy_helper.from_array(np.array([-1, 1], np.int64), "shape2"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
            numpy_helper.from_array(np.array([boxes], np.float32), "const_boxes"),
            numpy_helper.from_array(np.array([scores], np.float32), "const_scores"),
            numpy_helper.from_array(np.array([labels], np.float32), "const_labels"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"classes": ",".join(classes)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def linear_classifier(weights: np.ndarray = WEIGHTS, name: str = "linear") -> CallableClassifier:
    """The ONNX classifier's maths in numpy, with the cross-entropy input gradient."""
    w = weights.astype(np.float64)

    def logits(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64).mean(axis=(2, 3)) @ w

    def proba(x: np.ndarray) -> np.ndarray:
        z = logits(x)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def loss_gradient(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = proba(x)
        rows = np.arange(len(x))
        loss = -np.log(p[rows, y] + 1e-12)
        d = p.copy()
        d[rows, y] -= 1.0
        per_channel = d @ w.T / (x.shape[2] * x.shape[3])  # (n, 3)
        return loss, np.broadcast_to(per_channel[:, :, None, None], x.shape).copy()

    return CallableClassifier(
        proba, CLASSES, loss_gradient=loss_gradient, input_size=(32, 32), name=name
    )


SLICES_YAML = """
slices:
  drone: {sensor: drone}
  night: {time_of_day: night}
  north: {geo_box: [13.0, 52.0, 14.0, 53.0]}
  flooded: {label: flooded}
"""
