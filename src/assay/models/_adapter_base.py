"""The base model of a PEFT (LoRA) adapter: recorded when the adapter is registered, checked
when it is loaded.

An adapter holds only the low-rank updates of some of its base's layers; loaded on another
base (another size, another model, or the same folder changed since) it fails inside PEFT
with a shape error, or, worse, loads and answers wrongly. So:

* at ``model add`` the base (``--base PATH`` or a registered ``NAME[@VERSION]``, else what
  ``adapter_config.json``'s ``base_model_name_or_path`` names when it is a local folder or a
  registered model) must be a transformers model whose weights have every layer the adapter
  updates, in the shapes its LoRA matrices fit (read from the safetensors headers, no weights
  loaded); its manifest sha256 is recorded in the version's details (``base``);
* at use (`base_dir`) a base given by path must still be there and hash to that sha256, and a
  registered base must be the version recorded.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, InvalidInput

if TYPE_CHECKING:
    from assay.domain.marking import Marking
    from assay.models.registry import ModelInfo
    from assay.workspace import Workspace

_PREFIX = "base_model.model."
_LORA = (".lora_A.weight", ".lora_B.weight", ".lora_embedding_A", ".lora_embedding_B")
_HEADER_MAX = 100 << 20  # a safetensors header is JSON; past this it is not one


def _tensor_shapes(folder: Path) -> dict[str, list[int]]:
    """Name -> shape of every tensor in the folder's ``*.safetensors`` files (headers only)."""
    out: dict[str, list[int]] = {}
    for f in sorted(folder.rglob("*.safetensors")):
        try:
            with f.open("rb") as fh:
                (size,) = struct.unpack("<Q", fh.read(8))
                if size > _HEADER_MAX:
                    raise ValueError(f"a header of {size} bytes")
                header = json.loads(fh.read(size))
        except (OSError, ValueError, struct.error) as exc:
            raise InvalidInput(f"{f}: not a readable safetensors file ({exc})") from None
        for name, meta in header.items():
            if name != "__metadata__" and isinstance(meta, dict):
                out[name] = [int(d) for d in meta.get("shape", [])]
    return out


def _lora_layers(adapter: Path) -> dict[str, dict[str, list[int]]]:
    """Layer (as the base names it) -> {"A": shape, "B": shape} of the adapter's LoRA pairs."""
    layers: dict[str, dict[str, list[int]]] = {}
    for name, shape in _tensor_shapes(adapter).items():
        for suffix in _LORA:
            if name.endswith(suffix):
                layer = name.removeprefix(_PREFIX)[: -len(suffix)]
                layers.setdefault(layer, {})["A" if "_A" in suffix else "B"] = shape
    return layers


def check_fits(adapter: Path, base: Path, base_name: str) -> None:
    """Every layer the adapter updates is in `base`'s weights, in a shape its LoRA matrices
    fit (A: rank x inputs, B: outputs x rank); else one error naming the first that is not."""
    weights = _tensor_shapes(base)
    tied = bool(_config(base).get("tie_word_embeddings"))
    for layer, pair in sorted(_lora_layers(adapter).items()):
        shape = weights.get(f"{layer}.weight")
        if shape is None:
            if tied and layer.endswith("lm_head"):
                continue  # the output layer is the input embedding's weights
            raise InvalidInput(
                f"{adapter}: its LoRA layer {layer} is not in base model {base_name} (no "
                f"{layer}.weight); the adapter was trained on another model"
            )
        a, b = pair.get("A"), pair.get("B")
        if a is None or b is None or len(a) != 2 or len(b) != 2 or len(shape) != 2:
            continue  # not a linear or embedding layer's pair: nothing to compare
        if sorted((a[1], b[0])) != sorted(shape):
            raise InvalidInput(
                f"{adapter}: its LoRA layer {layer} maps {a[1]} -> {b[0]} features, but in "
                f"base model {base_name} that layer is {shape[0]} x {shape[1]}; the adapter "
                "was trained on another model (another size or architecture)"
            )


def _config(folder: Path) -> dict[str, Any]:
    try:
        value = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _named_base(ws: Workspace, adapter: Path) -> str | None:
    """What ``adapter_config.json`` names as the base, when it is a folder here or a
    registered model (a Hugging Face hub id is neither: nothing to record)."""
    from assay.models.registry import get_model

    try:
        cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    named = cfg.get("base_model_name_or_path") if isinstance(cfg, dict) else None
    if not isinstance(named, str) or not named:
        return None
    if Path(named).is_dir():
        return named
    try:
        get_model(ws, named)
    except AssayError:
        return None
    return named


def base_record(
    ws: Workspace, adapter: Path, base: str | None, clearance: Marking | None = None
) -> dict[str, Any] | None:
    """The base of the adapter folder `adapter`, checked to fit it: ``{"ref", "path",
    "sha256", "model_type"}``. `base` None: the one ``adapter_config.json`` names, when it is
    a local folder or a registered model; else None (the adapter cannot be loaded until it is
    registered again with ``--base``)."""
    from assay.models._directory import describe_directory
    from assay.models.lineage import directory_sha256
    from assay.models.registry import get_model, model_dir

    spec = base if base is not None else _named_base(ws, adapter)
    if spec is None:
        return None
    where = "--base" if base is not None else f"{adapter / 'adapter_config.json'}: base model"
    path = Path(spec)
    if path.is_dir():
        desc = describe_directory(path, None)
        if desc["kind"] != "transformers":
            raise InvalidInput(
                f"{where} {spec}: a {desc['kind']} directory; an adapter's base is a "
                "transformers model (config.json and safetensors weights)"
            )
        check_fits(adapter, path, str(path))
        return {
            "ref": None,
            "path": str(path.resolve()),
            "sha256": directory_sha256(path),
            "model_type": desc["details"].get("model_type"),
        }
    if "@" not in spec and "/" in spec:
        raise InvalidInput(f"{where} {spec}: no such directory")
    info = get_model(ws, spec, clearance)
    if info.kind != "transformers":
        raise InvalidInput(
            f"{where} {info.ref}: a {info.kind} {info.task} model; an adapter's base is a "
            "registered transformers model"
        )
    check_fits(adapter, model_dir(ws, info, clearance), info.ref)
    return {
        "ref": info.ref,
        "path": None,
        "sha256": info.sha256,
        "model_type": info.details.get("model_type"),
    }


def recorded_base(info: ModelInfo) -> dict[str, Any]:
    """The base recorded for adapter `info`: at ``model add``, else in its training lineage."""
    base = info.details.get("base") or (info.lineage or {}).get("base") or {}
    return base if isinstance(base, dict) else {}


def base_dir(ws: Workspace, info: ModelInfo) -> tuple[Path, Marking | None]:
    """The folder of adapter `info`'s base, checked to be the one it was registered with,
    and the base's marking (None: a folder, which carries none)."""
    from assay.models.lineage import directory_sha256
    from assay.models.registry import get_model, model_dir, model_marking

    base = recorded_base(info)
    want = str(base.get("sha256") or "")
    again = f"register the adapter again: assay model add {info.name} DIR --base BASE"
    if base.get("ref"):
        base_info = get_model(ws, str(base["ref"]))
        if want and base_info.sha256 != want:
            raise InvalidInput(
                f"model {info.ref}: its base {base_info.ref} is sha256 {base_info.sha256[:12]}, "
                f"not the {want[:12]} it was registered with"
            )
        return model_dir(ws, base_info), ws.scheme.parse(model_marking(ws, base_info))
    if not base.get("path"):
        raise InvalidInput(f"model {info.ref}: a LoRA adapter with no base model recorded; {again}")
    path = Path(str(base["path"]))
    if not path.is_dir():
        raise InvalidInput(
            f"model {info.ref}: its base model {path} is not there any more (a LoRA adapter "
            f"loads on the base it was registered with, sha256 {want[:12]})"
        )
    got = directory_sha256(path)
    if want and got != want:
        raise InvalidInput(
            f"model {info.ref}: its base model {path} changed since the adapter was registered "
            f"(its files hash to {got[:12]}, registered as {want[:12]}); restore it, or {again}"
        )
    return path, None
