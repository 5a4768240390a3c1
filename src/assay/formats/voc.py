"""Pascal VOC XML: one file per image, boxes with classes.

Reading: ``path`` is a folder with ``Annotations/`` (images default to ``JPEGImages/``), a flat
folder of XML files and images, or one XML file. ``<filename>`` is found under ``images`` by the
rule in `assay.formats._media` (a name without suffix also tries the image suffixes). The size
comes from the image file; a ``<size>`` that contradicts it is reported and not used.
``ImageSets/Main/{train,val,test}.txt`` give each image its ``split``. ``difficult``,
``truncated``, ``occluded`` (as integers) and ``pose`` (unless ``Unspecified``) become region
attributes.

Coordinates follow the VOC devkit: 1-based inclusive pixel indices. A box ``xmin..xmax`` is the
canonical ``x = xmin - 1``, ``w = xmax - xmin + 1``. Writing rounds to whole pixels
(``xmin = round(x) + 1``, ``xmax = round(x + w)``, clamped to the image), so each edge moves by at
most half a pixel; ``<depth>`` is the image's channel count (1 for grayscale); ``<marking>`` is
added to every file; an image renamed to a name every file system takes
(`assay.formats._portable`) keeps the item's name in ``<assay_name>``, which reading takes back;
and ``ImageSets/Main/<split>.txt`` lists the images by the ``split``
metadata (default ``train``), with ``trainval.txt`` when there are both.
"""

from __future__ import annotations

import io
import logging
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import _media
from assay.formats import _validate as v
from assay.formats._export import (
    check_unique,
    image_rows,
    media_contents,
    prepare_out,
    safe_relpath,
    warn_dropped,
    write_marking,
)
from assay.formats._media import SIZE_REPLACED
from assay.formats._model import (
    ExportBundle,
    ExportRow,
    ImportBundle,
    ImportedAnnotation,
    ImportedMedia,
    plural,
)
from assay.formats._portable import portable
from assay.formats._registry import Codec

logger = logging.getLogger(__name__)
# The item's name, in an annotation whose image has another (`assay.formats._portable`).
NAME_TAG = "assay_name"

_INT_ATTRS = ("difficult", "truncated", "occluded")
_SPLITS = ("train", "val", "test")


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read VOC XML files into an `ImportBundle`, validating all of them first."""
    path = Path(path)
    if path.is_dir():
        ann_dir = path / "Annotations" if (path / "Annotations").is_dir() else path
        files = sorted(ann_dir.rglob("*.xml"))
        root = path
        default_images = path / "JPEGImages" if ann_dir != path else path
        if not files:
            raise InvalidInput(f"{path}: no VOC .xml files found")
    elif path.is_file():
        files, root = [path], path.parent
        jpeg = path.parent.parent / "JPEGImages"
        default_images = jpeg if path.parent.name == "Annotations" and jpeg.is_dir() else root
    else:
        raise InvalidInput(f"{path}: no such file or folder")
    image_dir = Path(images) if images is not None else default_images
    media: list[ImportedMedia] = []
    labels: dict[str, None] = {}
    stems: dict[str, ImportedMedia] = {}
    dropped: Counter[str] = Counter()
    for file in files:
        _media.contained(file, [root], v.display_name(file, root))  # no XML linked in from afar
        m = _read_file(file, v.display_name(file, root), image_dir, dropped)
        for ann in m.annotations:
            labels.update((r.label, None) for r in ann.regions if r.label is not None)
        media.append(m)
        stems[file.stem] = m
    sets = root / "ImageSets" / "Main"
    if path.is_dir() and sets.is_dir():
        _read_image_sets(sets, root, stems)
    bundle = ImportBundle(media=media, label_names=list(labels), source=path)
    bundle.dropped.update(dropped)
    return bundle


def _read_image_sets(sets: Path, root: Path, stems: dict[str, ImportedMedia]) -> None:
    """``ImageSets/Main/{train,val,test}.txt`` (one image id per line) become ``split``.

    ``trainval.txt`` is the union of train and val and per-class lists (``car_train.txt``)
    repeat the split lists with a flag per image; neither says anything more.
    """
    for split in _SPLITS:
        file = sets / f"{split}.txt"
        if not file.is_file():
            continue
        f = v.display_name(file, root)
        for lineno, line in enumerate(v.read_text(file, f).splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            m = stems.get(parts[0])
            if m is None:
                raise InvalidInput(f"{f} line {lineno}: no annotation {parts[0]}.xml for this id")
            other = m.metadata.get("split")
            if other is not None and other != split:
                raise InvalidInput(
                    f"{f} line {lineno}: {parts[0]} is listed in both {other}.txt and {split}.txt"
                )
            m.metadata["split"] = split


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write ``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/`` and ``MARKING.txt``."""
    rows = image_rows(bundle, "VOC")
    names = [safe_relpath(r.name) for r in rows]
    names = _media.file_names(names, [r.media_type for r in rows], bundle.copy_media)
    check_unique([str(PurePosixPath(n).with_suffix("")) for n in names], "annotation file")
    # Portable names, told apart without their suffix too, as their annotation files must be.
    names = portable(bundle, names, by_stem=True)
    stems = [str(PurePosixPath(n).with_suffix("")) for n in names]
    out_dir = prepare_out(Path(out))  # only now: every check above has passed
    written: list[Path] = []
    splits: dict[str, list[str]] = {}
    dropped: Counter[str] = Counter()
    contents = media_contents(bundle, rows)
    made: set[Path] = set()
    for row, name, stem, data in zip(rows, names, stems, contents, strict=True):
        root = _annotation(bundle, row, name, _depth(data), dropped)
        path = out_dir / "Annotations" / f"{stem}.xml"
        _mkdir(path.parent, made)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
        written.append(path)
        if bundle.copy_media:
            image = out_dir / "JPEGImages" / name
            _mkdir(image.parent, made)
            image.write_bytes(data)
            written.append(image)
        split = str(row.metadata.get("split", "train"))
        splits.setdefault(split if split in _SPLITS else "train", []).append(stem)
    warn_dropped("VOC", dropped, bundle)
    if "train" in splits and "val" in splits:
        splits["trainval"] = splits["train"] + splits["val"]  # as the VOC devkit ships it
    sets = out_dir / "ImageSets" / "Main"
    sets.mkdir(parents=True, exist_ok=True)
    for split, members in splits.items():
        (sets / f"{split}.txt").write_text("".join(s + "\n" for s in members), encoding="utf-8")
        written.append(sets / f"{split}.txt")
    written.insert(0, write_marking(bundle, out_dir))
    return written


def _mkdir(folder: Path, made: set[Path]) -> None:
    if folder not in made:
        folder.mkdir(parents=True, exist_ok=True)
        made.add(folder)


def _depth(data: bytes) -> int:
    """Channels of the image (``<depth>``): 1 for grayscale, 3 for colour, 4 with alpha."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            bands = len(im.getbands())
    except (UnidentifiedImageError, OSError):
        return 3
    return 3 if im.mode == "P" else bands


def _annotation(
    bundle: ExportBundle, row: ExportRow, name: str, depth: int, dropped: Counter[str]
) -> ET.Element:
    root = ET.Element("annotation")
    _sub(root, "folder", "JPEGImages")
    _sub(root, "filename", name)
    _sub(_sub(root, "source"), "database", bundle.dataset)
    size = _sub(root, "size")
    w, h = int(row.width or 0), int(row.height or 0)
    for tag, val in (("width", w), ("height", h), ("depth", depth)):
        _sub(size, tag, str(val))
    _sub(root, "segmented", "0")
    _sub(root, "marking", row.marking)
    if name != safe_relpath(row.name):  # renamed (portable, typed): keep the item's
        _sub(root, NAME_TAG, row.name)
    for r in row.regions:
        if r.kind != "box" or r.box is None or r.label is None:
            dropped[r.kind if r.label is not None else f"unlabelled {plural(r.kind)}"] += 1
            continue
        _object(root, r, r.box, w, h)
    ET.indent(root)
    return root


def _read_file(file: Path, f: str, image_dir: Path, dropped: Counter[str]) -> ImportedMedia:
    text = v.read_text(file, f)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise InvalidInput(f"{f} line {line} column {col + 1}: invalid XML: {exc.msg}") from None
    if root.tag != "annotation":
        v.fail(f, root.tag, "expected an <annotation> root element")
    filename = _text(root, "filename", f, "annotation")
    image = _media.resolve(filename, image_dir)
    if image is None and not PurePosixPath(filename).suffix:
        image = next(
            (p for s in _media.IMAGE_SUFFIXES if (p := _media.resolve(filename + s, image_dir))),
            None,
        )
    if image is None:
        v.fail(f, "annotation/filename", f"image {filename!r} not found in {image_dir}")
    # The image decides its size: a <size> that contradicts it (a resized copy, a hand edit)
    # would skew every box normalised against it, in YOLO exports for one.
    w, h = _media.image_size(image, f)
    size = root.find("size")
    if size is not None and size.find("width") is not None:
        sw = _int(size, "width", f, "annotation/size")
        sh = _int(size, "height", f, "annotation/size")
        if (sw, sh) != (w, h):
            logger.warning("%s: <size> says %dx%d but the image is %dx%d", f, sw, sh, w, h)
            dropped[SIZE_REPLACED] += 1
    regions = [_region(obj, i, f, w, h) for i, obj in enumerate(root.findall("object"))]
    given = (root.findtext(NAME_TAG) or "").strip()
    m = ImportedMedia(name=given or _media.media_name(filename), path=image, width=w, height=h)
    m.annotations.append(ImportedAnnotation(regions=regions))
    marking = root.findtext("marking")
    m.marking = marking.strip() if marking and marking.strip() else None
    return m


def _region(obj: ET.Element, i: int, f: str, width: int, height: int) -> Region:
    place = f"object[{i}]"
    label = _text(obj, "name", f, place)
    bb = obj.find("bndbox")
    if bb is None:
        v.fail(f, place, "missing <bndbox>")
    bp = place + "/bndbox"
    xmin, ymin, xmax, ymax = (_num(bb, k, f, bp) for k in ("xmin", "ymin", "xmax", "ymax"))
    if xmax < xmin or ymax < ymin:
        v.fail(f, bp, f"xmax/ymax ({xmax:g}, {ymax:g}) below xmin/ymin ({xmin:g}, {ymin:g})")
    box = (xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1)
    v.check_box(box, width, height, f, bp)
    attrs: dict[str, Any] = {}
    for key in _INT_ATTRS:
        if obj.find(key) is not None:
            attrs[key] = _int(obj, key, f, place)
    pose = (obj.findtext("pose") or "").strip()
    if pose and pose != "Unspecified":
        attrs["pose"] = pose
    return Region(kind="box", label=label, box=box, attributes=attrs)


def _object(
    root: ET.Element, r: Region, box: tuple[float, float, float, float], width: int, height: int
) -> None:
    x, y, w, h = box
    xmin = min(max(round(x) + 1, 1), width)
    ymin = min(max(round(y) + 1, 1), height)
    xmax = min(max(round(x + w), xmin), width)
    ymax = min(max(round(y + h), ymin), height)
    obj = _sub(root, "object")
    _sub(obj, "name", r.label or "")
    _sub(obj, "pose", str(r.attributes.get("pose", "Unspecified")))
    for key in _INT_ATTRS:
        if key in r.attributes or key != "occluded":
            _sub(obj, key, str(int(r.attributes.get(key, 0))))
    bb = _sub(obj, "bndbox")
    for tag, val in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
        _sub(bb, tag, str(val))


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _text(el: ET.Element, tag: str, f: str, place: str) -> str:
    found = el.findtext(tag)
    if found is None or not found.strip():
        v.fail(f, place, f"missing <{tag}>")
    return found.strip()


def _num(el: ET.Element, tag: str, f: str, place: str) -> float:
    raw = _text(el, tag, f, place)
    try:
        val = float(raw)
    except ValueError:
        v.fail(f, f"{place}/{tag}", f"expected a number, got {raw!r}")
    if not v.is_number(val):
        v.fail(f, f"{place}/{tag}", f"expected a finite number, got {raw!r}")
    return val


def _int(el: ET.Element, tag: str, f: str, place: str) -> int:
    raw = _text(el, tag, f, place)
    try:
        return int(float(raw)) if float(raw).is_integer() else int(raw)
    except (ValueError, OverflowError):
        v.fail(f, f"{place}/{tag}", f"expected an integer, got {raw!r}")


CODEC = Codec(
    name="voc",
    read=read,
    write=write,
    description="Pascal VOC XML (boxes, classes, difficult/truncated)",
    title="VOC",
)
