"""CVAT for video 1.1: ``<track>`` elements whose shapes carry ``frame``, ``keyframe`` and
``outside``, over the frames ``images/frame_000000.*`` of one video.

Reading: ``path`` is the XML file or the export folder. Every frame ``0..size-1`` (``size`` from
``meta/task/size``) must have its image ``frame_NNNNNN.<ext>`` under ``images``. Each frame
becomes an item with metadata ``sequence`` (the task name) and ``frame`` (0-based); each track
becomes per-frame regions tagged with ``track_id`` and ``keyframe`` (see `assay.domain.tracks`):
frames between two shapes are interpolated as CVAT does, ``outside`` shapes end the object's
presence. Shapes assay cannot hold (polylines, masks, skeletons, ...) are counted as dropped.

Writing: items are grouped by their ``sequence`` metadata (default: the dataset) and ordered by
``frame``; one sequence is written as ``annotations.xml`` + ``images/``, several as one such
folder per sequence. Frames are renumbered 0..n-1 in that order. Regions of a track are written
as its shapes, with an outside shape after each run of frames; regions of no track become
single-frame tracks (as CVAT exports lone shapes). Choices and text are counted as dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from assay._atomic import atomic_write_bytes
from assay.domain.labels import Region
from assay.domain.tracks import Track, TrackShape, frame_regions, tracks_from_frames
from assay.errors import InvalidInput
from assay.formats import _cvat_xml as cx
from assay.formats import _media
from assay.formats import _validate as v
from assay.formats._export import copy_media, image_rows, prepare_out, warn_dropped, write_marking
from assay.formats._model import (
    ExportBundle,
    ExportRow,
    ImportBundle,
    ImportedAnnotation,
    ImportedMedia,
    plural,
)
from assay.formats._registry import Codec
from assay.formats._sequences import folder_names, frame_file, sequences
from assay.formats.cvat import ANNOTATIONS, locate

_FRAME = re.compile(r"^frame_(\d+)$")


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read a CVAT for video 1.1 XML file (and its frame images) into an `ImportBundle`."""
    file, image_dir = locate(path, images)
    f = file.name
    root, marking = cx.parse(file, f)
    if root.find("image") is not None:
        v.fail(f, "annotations", "holds <image> elements: read it with --format cvat-images")
    ds_meta = cx.dataset_meta(root, f)
    frames = _frame_files(image_dir)
    size_text = root.findtext("meta/task/size") or root.findtext("meta/job/size")
    size = int(size_text) if size_text and size_text.strip().isdigit() else len(frames)
    sequence = (root.findtext("meta/task/name") or "").strip() or file.parent.name
    media: list[ImportedMedia] = []
    for i in range(size):
        image = frames.get(i)
        if image is None:
            v.fail(
                f, "meta/task/size", f"{size} frames, but no image frame_{i:06d}.* in {image_dir}"
            )
        w, h = _media.image_size(image, f)
        m = ImportedMedia(name=image.name, path=image, width=w, height=h, marking=marking)
        m.metadata = {"sequence": sequence, "frame": i}
        media.append(m)
    types = cx.attribute_types(root)
    labels = dict.fromkeys(cx.label_names(root))
    dropped: Counter[str] = Counter()
    tracks = []
    for i, el in enumerate(root.iterfind("track")):
        track = _track(el, i, types, f, size, media, dropped)
        if track is not None:
            labels.setdefault(track.label, None)
            tracks.append(track)
    per_frame = frame_regions(tracks, size)
    for i, el in enumerate(root.iterfind("tag")):
        place = f"tag[{i}]"
        label = el.get("label") or v.fail(f, place, "missing attribute 'label'")
        frame = int(cx.number(el, "frame", f, place))
        if not 0 <= frame < size:
            v.fail(f, f"{place}.frame", f"frame {frame} outside 0..{size - 1}")
        per_frame.setdefault(frame, []).append(cx.tag_region(el, label, types, f, place))
    for frame, regions in per_frame.items():
        media[frame].annotations.append(ImportedAnnotation(regions=regions))
    bundle = ImportBundle(media=media, label_names=list(labels), source=file, dataset_meta=ds_meta)
    bundle.dropped.update(dropped)
    return bundle


def _frame_files(image_dir: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    if image_dir.is_dir():
        for p in sorted(image_dir.iterdir()):
            m = _FRAME.match(p.stem)
            if m and p.suffix.lower() in _media.IMAGE_SUFFIXES:
                found.setdefault(int(m.group(1)), p)
    return found


def _track(
    el: ET.Element,
    i: int,
    types: dict[tuple[str, str], str],
    f: str,
    size: int,
    media: list[ImportedMedia],
    dropped: Counter[str],
) -> Track | None:
    place = f"track[{i}]"
    label = el.get("label") or v.fail(f, place, "missing attribute 'label'")
    tid = int(cx.number(el, "id", f, place)) if el.get("id") is not None else i
    shapes: dict[int, TrackShape] = {}
    for j, s in enumerate(el):
        where = f"{place}.{s.tag}[{j}]"
        if s.tag in cx.UNSUPPORTED:
            dropped[f"{s.tag} track shapes"] += 1
            continue
        if s.tag not in cx.SHAPES:
            continue
        frame = int(cx.number(s, "frame", f, where))
        if not 0 <= frame < size:
            v.fail(f, f"{where}.frame", f"frame {frame} outside 0..{size - 1}")
        if frame in shapes:
            v.fail(f, f"{where}.frame", f"track {tid} has two shapes on frame {frame}")
        outside = cx.flag(s, "outside", f, where)
        r = cx.region(s, label, types, f, where)
        if not outside:
            w, h = media[frame].width or 0, media[frame].height or 0
            if r.box is not None:
                v.check_box(r.box, w, h, f, where)
            elif r.points is not None:
                v.check_points(list(r.points), w, h, f, where)
        keyframe = cx.flag(s, "keyframe", f, where) if s.get("keyframe") is not None else True
        shapes[frame] = TrackShape(frame, r, keyframe=keyframe, outside=outside)
    if not shapes:
        return None
    return Track(tid, label, tuple(shapes[k] for k in sorted(shapes)))


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write ``annotations.xml`` + ``images/`` per sequence, and ``MARKING.txt``."""
    rows = image_rows(bundle, "CVAT video")
    groups = sequences(bundle, rows)
    # One sequence is written in the export folder itself, more each in a folder of its own.
    many = folder_names(bundle, list(groups)) if len(groups) > 1 else [""] * len(groups)
    folders = dict(zip(groups, many, strict=True))
    docs = []
    dropped: Counter[str] = Counter()
    for seq, members in groups.items():
        docs.append((seq, members, _document(bundle, seq, members, dropped)))
    out_dir = prepare_out(Path(out))  # only now: every sequence has been built
    written = [write_marking(bundle, out_dir)]
    for seq, members, doc in docs:
        folder = out_dir / folders[seq]
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / ANNOTATIONS, doc)
        written.append(folder / ANNOTATIONS)
        if bundle.copy_media:
            names = ["frame_" + frame_file(i, r) for i, r in enumerate(members)]
            written += copy_media(bundle, members, folder / "images", names)
    warn_dropped("CVAT video", dropped, bundle)
    return written


def _document(
    bundle: ExportBundle, seq: str, members: list[ExportRow], dropped: Counter[str]
) -> bytes:
    n = len(members)
    frames: dict[int, list[Region]] = {}
    for i, row in enumerate(members):
        keep = []
        for r in row.regions:
            if r.label is None or r.kind not in ("box", "polygon", "point"):
                dropped[r.kind if r.label is not None else f"unlabelled {plural(r.kind)}"] += 1
            else:
                keep.append(r)
        frames[i] = keep
    try:
        tracks, loose = tracks_from_frames(frames, n)
    except ValueError as exc:
        raise InvalidInput(f"sequence {seq!r}: {exc}") from None
    next_id = max((t.id for t in tracks), default=-1) + 1
    for frame, regions in sorted(loose.items()):
        for r in regions:  # a lone shape: a track of one frame, as CVAT exports them
            shapes = [TrackShape(frame, r)]
            if frame + 1 < n:
                shapes.append(TrackShape(frame + 1, r, outside=True))
            tracks.append(Track(next_id, r.label or "", tuple(shapes)))
            next_id += 1
    root = ET.Element("annotations")
    specs = cx.label_specs(
        bundle.label_names,
        [r for rs in frames.values() for r in rs],
        cx.declared_attributes(bundle.dataset_meta),
        bundle.dropped,
    )
    task = cx.meta(root, seq, n, "interpolation", specs)
    if members:
        size = ET.SubElement(task, "original_size")
        ET.SubElement(size, "width").text = str(members[0].width)
        ET.SubElement(size, "height").text = str(members[0].height)
    for t in tracks:
        el = ET.SubElement(root, "track", {"id": str(t.id), "label": t.label, "source": "manual"})
        for s in t.shapes:
            extra = {
                "frame": str(s.frame),
                "keyframe": "1" if s.keyframe else "0",
                "outside": "1" if s.outside else "0",
            }
            shape = cx.shape(el, s.region, extra)
            if shape is not None:
                del shape.attrib["label"]  # a track's shapes take the track's label
    return cx.to_bytes(root, bundle.marking)


CODEC = Codec(
    name="cvat-video",
    read=read,
    write=write,
    description="CVAT for video 1.1 XML (tracks with keyframes and outside, attributes)",
    title="CVAT for video",
)
