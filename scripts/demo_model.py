"""Write scripts/flood-damage.onnx, the small damage classifier `make demo` pre-labels with.

A global average pool and a linear layer over the colour channels (no training: the demo
shows the loop, not the model). Needs the `onnx` package (the dev extra):

    .venv/bin/python scripts/demo_model.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent / "flood-damage.onnx"
CLASSES = ["none", "minor", "destroyed"]


def main() -> None:
    weights = np.array([[-6.0, 2.0, 5.0], [4.0, 1.0, -6.0], [2.0, -2.0, 0.5]], np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "flood_damage",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 64, 64])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3])],
        initializer=[numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"classes": ",".join(CLASSES)})
    onnx.checker.check_model(model)
    onnx.save(model, str(OUT))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
