"""CVAT for images 1.1: one ``annotations.xml`` with an ``<image>`` per file and its shapes.

Reading: ``path`` is the XML file or the folder of a CVAT export (``annotations.xml`` and
``images/``). Each ``<image name>`` is found under ``images`` (default: the export's
``images/`` folder, else the XML's folder) by the rule in `assay.formats._media`; its
``width``/``height`` must match the image file. ``subset`` becomes the ``split`` metadata. An
image without shapes has no annotation. A project export (``<meta><project>``) is read whole, every
subset included. Shapes map to regions as `assay.formats._cvat_xml`
describes; kinds assay cannot hold (polylines, masks, ...) are counted as dropped.

Writing: ``annotations.xml`` (meta with every label and its attributes' input types; a project
export with one subset per split when the items have ``split`` metadata, as CVAT writes) and
``images/`` with the media, ``MARKING.txt`` and the marking comment. Boxes, polygons, points and
choices (as ``<tag>``) are written; other regions are counted as dropped.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from assay._atomic import atomic_write_bytes
from assay.errors import InvalidInput
from assay.formats import _cvat_xml as cx
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
    ExportRow,
    ImportBundle,
    ImportedAnnotation,
    ImportedMedia,
    plural,
)
from assay.formats._portable import portable
from assay.formats._registry import Codec

logger = logging.getLogger(__name__)

ANNOTATIONS = "annotations.xml"
#: The subset CVAT gives images of no subset in a project export.
DEFAULT_SUBSET = "default"
#: Counted when a file states an image size the image file contradicts (the file's is not used).


def locate(path: Path, images: Path | None) -> tuple[Path, Path]:
    """The XML file and the images folder of a CVAT export given as a file or a folder."""
    path = Path(path)
    if path.is_dir():
        file = path / ANNOTATIONS
        if not file.is_file():
            raise InvalidInput(f"{path}: no {ANNOTATIONS} found (CVAT export folder expected)")
    elif path.is_file():
        file = path
    else:
        raise InvalidInput(f"{path}: no such file or folder")
    default = file.parent / "images"
    return file, Path(images) if images is not None else (
        default if default.is_dir() else file.parent
    )


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read a CVAT for images 1.1 XML file into an `ImportBundle`."""
    file, image_dir = locate(path, images)
    f = file.name
    root, marking = cx.parse(file, f)
    if root.find("track") is not None and root.find("image") is None:
        v.fail(f, "annotations", "holds <track> elements: read it with --format cvat-video")
    types = cx.attribute_types(root)
    ds_meta = cx.dataset_meta(root, f)
    labels = dict.fromkeys(cx.label_names(root))
    media: list[ImportedMedia] = []
    dropped: Counter[str] = Counter()
    for i, el in enumerate(root.iterfind("image")):
        place = f"image[{i}]"
        name = el.get("name") or v.fail(f, place, "missing attribute 'name'")
        image = _media.resolve(name, image_dir)
        if image is None:
            v.fail(f, f"{place}.name", f"image {name!r} not found in {image_dir}")
        w, h = _media.image_size(image, f)
        if el.get("width") is not None:
            sw, sh = (int(cx.number(el, k, f, place)) for k in ("width", "height"))
            if (sw, sh) != (w, h):  # the image decides, as for VOC's <size>
                logger.warning("%s: %s says %dx%d but the image is %dx%d", f, place, sw, sh, w, h)
                dropped[_media.SIZE_REPLACED] += 1
        m = ImportedMedia(name=_media.media_name(name), path=image, width=w, height=h)
        subset = (el.get("subset") or "").lower()
        if subset and subset != DEFAULT_SUBSET:
            m.metadata["split"] = subset
        m.marking = marking
        regions = []
        for j, shape in enumerate(el):
            where = f"{place}.{shape.tag}[{j}]"
            if shape.tag in cx.SHAPES or shape.tag == "tag":
                label = shape.get("label") or v.fail(f, where, "missing attribute 'label'")
                labels.setdefault(label, None)
            if shape.tag in cx.SHAPES:
                r = cx.region(shape, label, types, f, where)
                if r.box is not None:
                    v.check_box(r.box, w, h, f, where)
                elif r.points is not None:
                    v.check_points(list(r.points), w, h, f, where)
                regions.append(r)
            elif shape.tag == "tag":
                regions.append(cx.tag_region(shape, label, types, f, where))
        cx.count_unsupported(el, dropped)
        if regions:
            m.annotations.append(ImportedAnnotation(regions=regions))
        media.append(m)
    bundle = ImportBundle(media=media, label_names=list(labels), source=file, dataset_meta=ds_meta)
    bundle.dropped.update(dropped)
    return bundle


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write ``annotations.xml``, ``images/`` and ``MARKING.txt``."""
    rows = image_rows(bundle, "CVAT")
    names = [safe_relpath(r.name) for r in rows]
    names = _media.file_names(names, [r.media_type for r in rows], bundle.copy_media)
    check_unique(names, "image")
    names = portable(bundle, names)
    out_dir = prepare_out(Path(out))
    root = ET.Element("annotations")
    specs = cx.label_specs(
        bundle.label_names,
        [r for row in rows for r in row.regions],
        cx.declared_attributes(bundle.dataset_meta),
        bundle.dropped,
    )
    splits = [_split(row) for row in rows]
    subsets = list(dict.fromkeys(s or DEFAULT_SUBSET for s in splits)) if any(splits) else None
    cx.meta(root, bundle.dataset, len(rows), "annotation", specs, subsets)
    dropped: Counter[str] = Counter()
    for i, (row, name, split) in enumerate(zip(rows, names, splits, strict=True)):
        attrs = {"id": str(i), "name": name, "width": str(row.width), "height": str(row.height)}
        if subsets:
            attrs["subset"] = split or DEFAULT_SUBSET
        el = ET.SubElement(root, "image", attrs)
        for r in row.regions:
            if r.kind == "choice" and r.label is not None:
                tag = ET.SubElement(el, "tag", {"label": r.label, "source": "manual"})
                cx.user_attributes(tag, r)
            elif r.label is None or cx.shape(el, r, {"source": "manual"}) is None:
                dropped[r.kind if r.label is not None else f"unlabelled {plural(r.kind)}"] += 1
    warn_dropped("CVAT", dropped, bundle)
    xml_path = out_dir / ANNOTATIONS
    atomic_write_bytes(xml_path, cx.to_bytes(root, bundle.marking))
    written = [xml_path, write_marking(bundle, out_dir)]
    if bundle.copy_media:
        written += copy_media(bundle, rows, out_dir / "images", names)
    return written


def _split(row: ExportRow) -> str | None:
    split = row.metadata.get("split")
    return split if isinstance(split, str) and split else None


CODEC = Codec(
    name="cvat-images",
    read=read,
    write=write,
    description="CVAT for images 1.1 XML (boxes, polygons, points, tags, attributes)",
    title="CVAT for images",
)
