"""YOLO text labels: the Ultralytics layout and Label Studio's YOLO export.

Ultralytics: ``data.yaml`` with ``names`` (list or ``{id: name}``), ``path`` (relative to the
YAML file; the YAML's folder when absent or missing) and ``train``/``val``/``test`` (an image
folder, a list of them, or a ``.txt`` list of images). Labels sit where Ultralytics looks: the
image path with the last ``images`` folder replaced by ``labels`` and the suffix by ``.txt``.
The split becomes media metadata ``split``. ``images``, when given, replaces ``path``.

Label Studio: ``classes.txt`` (one name per line), ``images/`` and ``labels/`` side by side
(``notes.json`` is ignored). ``images``, when given, replaces the ``images/`` folder.

Each line is ``class cx cy w h`` (normalised), optionally followed by a confidence (then the
region gets that score), or ``class x1 y1 x2 y2 ...`` for a polygon (Ultralytics segments).
Pixel sizes come from the image files. An image with no label file has no annotation; a label
file with no image is an error.

Writing produces the Ultralytics layout with ``marking:`` in ``data.yaml`` and no ``path:``
(Ultralytics then resolves the splits against the folder of ``data.yaml``). ``val:`` always
names ``images/val``, never the training images: empty when no item has split val, which the
export's `warnings` say. The option ``val_share`` (``--val-share``) puts that share of the items
without a split of their own in val, chosen by item id, so an item keeps its split as versions
grow. Two layouts, as
Ultralytics trains them: ``yolo`` (detect) writes every region as a box row, a polygon as its
bounding box; ``yolo-seg`` (segment) writes every region as a polygon row, a box as its four
corners. Coordinates have 6 decimals (error <= 5e-7 of the image size), clipped to the image.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from assay._atomic import atomic_write_text
from assay.domain.labelmap import LabelMap
from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import _media
from assay.formats import _validate as v
from assay.formats._export import (
    check_unique,
    copy_media,
    image_rows,
    prepare_out,
    safe_relpath,
    warn_dropped,
    write_marking,
)
from assay.formats._model import (
    ExportBundle,
    ImportBundle,
    ImportedAnnotation,
    ImportedMedia,
    plural,
)
from assay.formats._portable import portable
from assay.formats._registry import Codec
from assay.formats._yolo_layout import Layout, find_layout

Task = Literal["detect", "segment"]
_SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def _split(item_id: str, own: Any, val_share: float) -> str:
    """The item's own split; without one, ``val`` for a `val_share` of the items chosen by
    their id (so an item keeps its split in every version and export), else ``train``."""
    if own is not None:
        return _SPLITS.get(str(own).lower(), "train")
    if val_share > 0:
        digest = hashlib.sha256(f"assay-val:{item_id}".encode()).digest()
        if int.from_bytes(digest[:8], "big") < val_share * 2**64:
            return "val"
    return "train"


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read a YOLO dataset folder (or its ``data.yaml``) into an `ImportBundle`."""
    layout = find_layout(Path(path), None if images is None else Path(images))
    names = layout.names
    media: list[ImportedMedia] = []
    seen_labels: set[Path] = set()
    for pair in layout.pairs:
        image, label_file, split = pair.image, pair.label, pair.split
        w, h = _media.image_size(image, layout.display(image))
        meta: dict[str, Any] = {"split": split} if split else {}
        m = ImportedMedia(name=pair.name, path=image, width=w, height=h)
        m.metadata = meta
        m.marking = layout.marking
        if label_file.is_file():
            seen_labels.add(label_file.resolve())
            regions = _read_labels(label_file, layout.display(label_file), names, layout, w, h)
            m.annotations.append(ImportedAnnotation(regions=regions))
        media.append(m)
    for label_file in layout.label_files():
        if label_file.resolve() not in seen_labels:
            raise InvalidInput(
                f"{layout.display(label_file)}: no image named {label_file.stem}.* "
                f"found for this label file in {layout.display(layout.images_hint)}"
            )
    return ImportBundle(
        media=media,
        label_names=names,
        source=layout.source,
        label_map=LabelMap.from_pairs((n, i) for i, n in enumerate(names)),
    )


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """The detect layout: one ``class cx cy w h`` row per box (see `_write`)."""
    return _write(bundle, Path(out), "detect")


def write_segment(bundle: ExportBundle, out: Path) -> list[Path]:
    """The segment layout: one ``class x1 y1 x2 y2 ...`` row per polygon (see `_write`)."""
    return _write(bundle, Path(out), "segment")


def _write(bundle: ExportBundle, out: Path, task: Task) -> list[Path]:
    """Write ``data.yaml``, ``images/<split>/``, ``labels/<split>/`` and ``MARKING.txt``.

    Every label file holds one kind of row, so Ultralytics uses all of it: it reads a file
    with any row of more than 6 values as segments, and a segment dataset in which some rows
    are boxes loses its segments. What the layout cannot hold is counted in the drop report.
    """
    rows = image_rows(bundle, "YOLO")
    share = float(bundle.options.get("val_share") or 0.0)
    splits = [_split(r.item_id, r.metadata.get("split"), share) for r in rows]
    names = [safe_relpath(r.name) for r in rows]
    names = _media.file_names(names, [r.media_type for r in rows], bundle.copy_media)
    media_rel = [f"{s}/{n}" for s, n in zip(splits, names, strict=True)]
    label_rel = [str(PurePosixPath(m).with_suffix(".txt")) for m in media_rel]
    check_unique(media_rel, "image")
    check_unique(label_rel, "label file")
    # Portable names, told apart without their suffix too, as their label files must be.
    media_rel = portable(bundle, media_rel, by_stem=True)
    label_rel = [str(PurePosixPath(m).with_suffix(".txt")) for m in media_rel]
    out_dir = prepare_out(out)  # only now: every check above has passed
    # YOLO classes are list positions: the label map's ids ranked (0..N-1 stay as they are).
    class_ids = bundle.classes(("box", "polygon")).dense()
    dropped: Counter[str] = Counter()
    written: list[Path] = []
    made: set[Path] = set()
    for row, rel in zip(rows, label_rel, strict=True):
        lines: dict[str, str] = {}  # (class, box) -> row
        w, h = float(row.width or 1), float(row.height or 1)
        for r in row.regions:
            line = _row_line(r, task, class_ids, w, h, dropped)
            if line is None:
                continue
            if line[0] in lines:
                # Ultralytics keeps one of the rows with the same class and box (segments too)
                dropped["duplicate region (same class and box)"] += 1
                continue
            lines[line[0]] = line[1]
        path = out_dir / "labels" / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_text("".join(line + "\n" for line in lines.values()), encoding="utf-8")
        written.append(path)
    warn_dropped("YOLO" if task == "detect" else "YOLO segment", dropped, bundle)
    used = set(splits)
    for split in ("train", "val", *sorted(used)):  # every folder data.yaml names exists
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
    if "val" not in used:
        # Ultralytics requires a `val:` key. Naming the training images there would validate
        # on what the model trained on and report inflated metrics; an empty folder makes
        # Ultralytics stop before training ("Error loading data from .../images/val") until
        # validation images exist.
        bundle.warnings.append(
            "no item has split 'val': data.yaml's val: names the empty images/val, so "
            "Ultralytics will not train until it holds validation images; run again with "
            "--val-share 0.2 to put a fifth of the items in val (the same items in every "
            "version), or set media metadata split=val on some items (or point val: at "
            "other images)"
        )
    # No `path:` key: Ultralytics' check_det_dataset then takes the folder of data.yaml as the
    # root, wherever training runs from and wherever the folder is copied to. (`path: .` would
    # resolve against the working directory, an absolute path breaks when the folder moves.)
    doc: dict[str, Any] = {"train": "images/train", "val": "images/val"}
    if "test" in used:
        doc["test"] = "images/test"
    doc["nc"] = len(class_ids)
    doc["names"] = {i: n for n, i in sorted(class_ids.items(), key=lambda kv: kv[1])}
    doc["marking"] = bundle.marking
    header = (
        f"# marking: {bundle.marking}\n# dataset: {bundle.dataset}\n"
        f"# Ultralytics {task} layout written by assay\n"
    )
    yaml_path = out_dir / "data.yaml"
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    atomic_write_text(yaml_path, header + body)
    written = [yaml_path, write_marking(bundle, out_dir), *written]
    if bundle.copy_media:
        written += copy_media(bundle, rows, out_dir / "images", media_rel)
    return written


def _row_line(
    r: Region,
    task: Task,
    class_ids: dict[str, int],
    w: float,
    h: float,
    dropped: Counter[str],
) -> tuple[str, str] | None:
    """The box row and the row in the layout of `task` for `r`, or None (counted in `dropped`)."""
    if r.label is None or r.kind not in ("box", "polygon"):
        dropped[r.kind if r.label is not None else f"unlabelled {plural(r.kind)}"] += 1
        return None
    if r.kind == "polygon" and len(r.points or ()) < 3:
        dropped["polygon with fewer than 3 points"] += 1
        return None
    cid = class_ids.setdefault(r.label, len(class_ids))
    if r.kind == "box" and r.box is not None:
        x, y, bw, bh = r.box
        pts = [(x, y), (x + bw, y), (x + bw, y + bh), (x, y + bh)]
    else:
        pts = list(r.points or ())
    # Normalised and clipped to the image: Ultralytics refuses coordinates past 1 % outside it.
    norm = [(min(max(px / w, 0.0), 1.0), min(max(py / h, 0.0), 1.0)) for px, py in pts]
    if task == "segment":
        if r.kind == "box":
            dropped["box (written as a 4-corner polygon)"] += 1
        norm = [(round(px, 6), round(py, 6)) for px, py in norm]  # as written
        xs, ys = [p[0] for p in norm], [p[1] for p in norm]
        key = f"{cid} {min(xs)} {max(xs)} {min(ys)} {max(ys)}"
        return key, f"{cid} " + " ".join(f"{px:.6f} {py:.6f}" for px, py in norm)
    xs, ys = [p[0] for p in norm], [p[1] for p in norm]
    x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
    box = f"{cid} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"
    if r.kind == "polygon":
        dropped["polygon outline (written as its bounding box)"] += 1
    return box, box


def _read_labels(
    file: Path, f: str, names: list[str], layout: Layout, width: int, height: int
) -> list[Region]:
    text = v.read_text(file, f)
    regions: list[Region] = []
    top = len(names) - 1
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{f} line {lineno}"
        try:
            cid = int(parts[0])
            nums = [float(p) for p in parts[1:]]
        except ValueError:
            raise InvalidInput(
                f"{where}: expected 'class cx cy w h' with numbers, got {line.strip()!r}"
            ) from None
        if not 0 <= cid <= top:
            raise InvalidInput(
                f"{where}: class id {cid} not in {layout.names_source} names (0..{top})"
            )
        if not all(v.is_number(n) for n in nums):
            raise InvalidInput(f"{where}: coordinates must be finite numbers")
        label = names[cid]
        if len(nums) in (4, 5):
            cx, cy, bw, bh = (nums[0] * width, nums[1] * height, nums[2] * width, nums[3] * height)
            box = (cx - bw / 2, cy - bh / 2, bw, bh)
            v.check_box(box, width, height, where, "")
            score = nums[4] if len(nums) == 5 else None
            regions.append(Region(kind="box", label=label, box=box, score=score))
        elif len(nums) >= 6 and len(nums) % 2 == 0:
            pts = [(x * width, y * height) for x, y in zip(nums[0::2], nums[1::2], strict=True)]
            v.check_points(pts, width, height, where, "")
            regions.append(Region(kind="polygon", label=label, points=tuple(pts)))
        else:
            raise InvalidInput(
                f"{where}: expected 5 values (class cx cy w h) or a polygon "
                f"(class x1 y1 x2 y2 x3 y3 ...), got {len(parts)}"
            )
    return regions


CODEC = Codec(
    name="yolo",
    read=read,
    write=write,
    description="YOLO detect: txt box rows (Ultralytics data.yaml layout; Label Studio export)",
    title="YOLO",
)
SEGMENT_CODEC = Codec(
    name="yolo-seg",
    read=read,
    write=write_segment,
    description="YOLO segment: txt polygon rows (Ultralytics data.yaml layout)",
    title="YOLO segment",
)
