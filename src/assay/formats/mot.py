"""MOT Challenge ground truth: ``<seq>/gt/gt.txt`` beside the frames ``<seq>/img1/000001.jpg``.

Each line of ``gt.txt`` is ``frame, id, bb_left, bb_top, bb_width, bb_height, conf, class,
visibility`` (MOT16/17/20; motchallenge.net "Data format"). Frames count from 1 and
``bb_left``/``bb_top`` are 1-based pixels (the devkit's Matlab convention, which motmetrics'
reader undoes): the canonical box is ``(bb_left - 1, bb_top - 1, w, h)``. Target ids count from
1 too ("all frame numbers, target IDs and bounding boxes are 1-based", motchallenge.net
instructions): the track id is ``id - 1``, so MOT id 1 is CVAT's track 0. ``conf`` 0 marks a box
the evaluation ignores (attribute ``ignored: true``); ``visibility`` (0..1) becomes the attribute
``visibility``. ``id`` is the track id (see `assay.domain.tracks`); ``-1`` is a detection of no
track, whose ``conf`` is its score. Class names come from ``gt/labels.txt`` (one per line, class
``k`` on line ``k``, as CVAT exports MOT) or else the MOT17 classes. Boxes may extend past the
image (people entering the view), so their bounds are not checked.

Reading: ``path`` is a sequence folder, a folder of sequence folders, or a ``gt.txt``.
``seqinfo.ini`` gives the name and the image folder (``imDir``, default ``img1``); an assay
export's ``MARKING.txt`` gives the marking. Each frame becomes an item with metadata
``sequence`` and ``frame`` (0-based).

Writing: one folder per sequence (grouped as `assay.formats._sequences` says) with
``seqinfo.ini``, ``img1/``, ``gt/gt.txt`` and ``gt/labels.txt``. Only boxes of a track fit;
other regions, boxes of no track, attributes other than ``visibility``/``ignored`` and the
keyframe flags are counted as dropped. Coordinates and visibility are written as the shortest
decimal that reads back to the stored value exactly; a visibility that is no number is
written as 1 and counted.
"""

from __future__ import annotations

import configparser
import decimal
from collections import Counter
from itertools import pairwise
from pathlib import Path

from assay._atomic import atomic_write_text
from assay.domain.labels import Region
from assay.domain.tracks import KEYFRAME, TRACK_ID
from assay.errors import InvalidInput
from assay.formats import _media
from assay.formats import _validate as v
from assay.formats._export import (
    MARKING_FILE,
    copy_media,
    image_rows,
    prepare_out,
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
from assay.formats._registry import Codec
from assay.formats._sequences import folder_names, frame_file, sequences

MOT17_CLASSES = [
    "pedestrian",
    "person on vehicle",
    "car",
    "bicycle",
    "motorbike",
    "non motorized vehicle",
    "static person",
    "distractor",
    "occluder",
    "occluder on the ground",
    "occluder full",
    "reflection",
    "crowd",
]
_KEPT = (TRACK_ID, KEYFRAME, "visibility", "ignored")
#: seqinfo.ini's frameRate when the items do not say (metadata ``frame_rate``, or video frames
#: sampled at a steady step, ``frame.time_s``): MOT17's usual rate.
DEFAULT_FRAME_RATE = 30


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read one or more MOT sequences into an `ImportBundle`."""
    path = Path(path)
    if path.is_file():
        if path.name != "gt.txt" and path.suffix != ".txt":
            raise InvalidInput(f"{path.name}: expected a MOT gt.txt or sequence folder")
        seqs = [path.parent.parent]
    elif (path / "gt" / "gt.txt").is_file():
        seqs = [path]
    elif path.is_dir():
        seqs = sorted(p for p in path.iterdir() if (p / "gt" / "gt.txt").is_file())
        if not seqs:
            raise InvalidInput(f"{path}: no MOT sequence (a folder with gt/gt.txt) found")
    else:
        raise InvalidInput(f"{path}: no such file or folder")
    media: list[ImportedMedia] = []
    labels: dict[str, None] = {}
    root = path.parent if path.is_file() else path
    for seq in seqs:
        media += _read_sequence(seq, root, images if len(seqs) == 1 else None, labels)
    return ImportBundle(media=media, label_names=list(labels), source=path)


def _read_sequence(
    seq: Path, root: Path, images: Path | None, labels: dict[str, None]
) -> list[ImportedMedia]:
    info = _seqinfo(seq, root)
    name = info.get("name") or seq.name
    image_dir = images if images is not None else seq / info.get("imdir", "img1")
    if images is None and not image_dir.resolve().is_relative_to(seq.resolve()):
        raise InvalidInput(f"{seq.name}/seqinfo.ini: imDir {image_dir} is outside the sequence")
    frames: dict[int, Path] = {}
    for p in sorted(image_dir.iterdir()) if image_dir.is_dir() else []:
        if p.stem.isdigit() and p.suffix.lower() in _media.IMAGE_SUFFIXES:
            frames.setdefault(int(p.stem), p)
    names = _label_names(seq, root)
    if (seq / "gt" / "labels.txt").is_file():
        labels.update(dict.fromkeys(names))  # declared classes stay, used or not
    gt = seq / "gt" / "gt.txt"
    f = v.display_name(gt, root)
    per_frame: dict[int, list[Region]] = {}
    seen: set[tuple[int, int]] = set()
    for lineno, line in enumerate(v.read_text(gt, f).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{f} line {lineno}"
        region, frame = _row(line, where, names, seen)
        if frame not in frames:
            raise InvalidInput(f"{where}: no image for frame {frame} in {image_dir}")
        labels.setdefault(region.label or "", None)
        per_frame.setdefault(frame, []).append(region)
    marking = _marking(seq)
    raw_rate = info.get("framerate", "")
    rate = float(raw_rate) if raw_rate.replace(".", "", 1).isdigit() else None
    out = []
    for frame, image in sorted(frames.items()):
        w, h = _media.image_size(image, image.name)
        m = ImportedMedia(name=f"{name}/{image.name}", path=image, width=w, height=h)
        m.metadata = {"sequence": name, "frame": frame - 1}
        if rate is not None:
            m.metadata["frame_rate"] = rate
        m.marking = marking
        if frame in per_frame:
            m.annotations.append(ImportedAnnotation(regions=per_frame[frame]))
        out.append(m)
    return out


def _row(line: str, where: str, names: list[str], seen: set[tuple[int, int]]) -> tuple[Region, int]:
    parts = [p.strip() for p in line.split(",")]
    if len(parts) < 6:
        raise InvalidInput(f"{where}: expected 'frame,id,left,top,width,height,...', got {line!r}")
    try:
        frame, tid = int(float(parts[0])), int(float(parts[1]))
        # The left and top taken exactly: "16.001" is 15.001, not 16.001 - 1 in floats.
        x, y = (_coordinate(p, 1) for p in parts[2:4])
        w, h = (float(p) for p in parts[4:6])
        conf = float(parts[6]) if len(parts) > 6 else 1.0
        cls = int(float(parts[7])) if len(parts) > 7 else 1
        vis = float(parts[8]) if len(parts) > 8 else None
    except (ValueError, decimal.DecimalException):
        raise InvalidInput(f"{where}: expected numbers, got {line!r}") from None
    if not all(v.is_number(c) for c in (x, y, w, h, conf)) or w < 0 or h < 0:
        raise InvalidInput(f"{where}: box must be finite with width and height >= 0")
    if cls == -1:  # MOT15: world coordinates instead of class and visibility
        cls, vis = 1, None
    if not 1 <= cls <= len(names):
        raise InvalidInput(f"{where}: class {cls} not in 1..{len(names)} (gt/labels.txt)")
    attrs: dict[str, object] = {}
    if tid >= 1:  # 0 and -1 are no track (detections), as datumaro and so CVAT read them
        if (frame, tid) in seen:
            raise InvalidInput(f"{where}: track {tid} has a second box on frame {frame}")
        seen.add((frame, tid))
        attrs = {TRACK_ID: tid - 1, KEYFRAME: True}
        if conf == 0:
            attrs["ignored"] = True
    if vis is not None:
        attrs["visibility"] = vis
    score = conf if tid < 1 else None
    box = (x, y, w, h)
    return Region(kind="box", label=names[cls - 1], box=box, attributes=attrs, score=score), frame


def _seqinfo(seq: Path, root: Path) -> dict[str, str]:
    file = seq / "seqinfo.ini"
    if not file.is_file():
        return {}
    f = v.display_name(file, root)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(v.read_text(file, f))
    except configparser.Error as exc:
        raise InvalidInput(f"{f}: invalid seqinfo.ini: {exc.message}") from None
    return dict(parser["Sequence"]) if parser.has_section("Sequence") else {}


def _marking(seq: Path) -> str | None:
    """The first line of the export's ``MARKING.txt`` (in the sequence folder or above it)."""
    for folder in (seq, seq.parent):
        file = folder / MARKING_FILE
        if file.is_file():
            first = v.read_text(file, MARKING_FILE).partition("\n")[0].strip()
            return first or None
    return None


def _label_names(seq: Path, root: Path) -> list[str]:
    file = seq / "gt" / "labels.txt"
    if not file.is_file():
        return MOT17_CLASSES
    text = v.read_text(file, v.display_name(file, root))
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write one MOT sequence folder per sequence, and ``MARKING.txt``."""
    rows = image_rows(bundle, "MOT")
    groups = sequences(bundle, rows)
    folders = dict(zip(groups, folder_names(bundle, list(groups)), strict=True))
    class_ids = bundle.classes(("box",)).dense()
    labels = [n for n, _i in sorted(class_ids.items(), key=lambda kv: kv[1])]
    dropped: Counter[str] = Counter()
    texts = {seq: _gt(members, class_ids, dropped) for seq, members in groups.items()}
    out_dir = prepare_out(Path(out))
    written = [write_marking(bundle, out_dir)]
    for seq, members in groups.items():
        folder = out_dir / folders[seq]
        (folder / "gt").mkdir(parents=True, exist_ok=True)
        names = [frame_file(i + 1, r) for i, r in enumerate(members)]
        files = {
            folder / "gt" / "gt.txt": texts[seq],
            folder / "gt" / "labels.txt": "".join(n + "\n" for n in labels),
            folder / "seqinfo.ini": _seqinfo_text(seq, members, names),
        }
        for file, text in files.items():
            atomic_write_text(file, text)
            written.append(file)
        if bundle.copy_media:
            written += copy_media(bundle, members, folder / "img1", names)
    warn_dropped("MOT", dropped, bundle)
    return written


def _gt(members: list[ExportRow], class_ids: dict[str, int], dropped: Counter[str]) -> str:
    lines: list[tuple[int, int, str]] = []
    for i, row in enumerate(members):
        seen: set[int] = set()
        for r in row.regions:
            tid = r.attributes.get(TRACK_ID)
            if r.kind != "box" or r.box is None or r.label is None:
                dropped[r.kind if r.label is not None else f"unlabelled {plural(r.kind)}"] += 1
                continue
            if not isinstance(tid, int) or isinstance(tid, bool) or tid < 0:
                dropped["boxes of no track"] += 1
                continue
            if tid in seen:
                raise InvalidInput(f"item {row.name}: track {tid} has two boxes on this frame")
            seen.add(tid)
            extra = [k for k in r.attributes if k not in _KEPT]
            if extra:
                dropped["box attributes"] += len(extra)
            if r.attributes.get(KEYFRAME) is False:
                dropped["interpolated-shape flags (keyframe=false)"] += 1
            x, y, w, h = r.box
            conf = 0 if r.attributes.get("ignored") else 1
            vis = r.attributes.get("visibility", 1)
            if not v.is_number(vis):
                dropped["visibility values that are not numbers (written as 1)"] += 1
                vis = 1
            vis_text = _shortest(vis)
            cls = class_ids[r.label] + 1
            text = (
                f"{i + 1},{tid + 1},{_n(x, 1)},{_n(y, 1)},{_n(w)},{_n(h)},{conf},{cls},{vis_text}"
            )
            lines.append((i, tid, text))
    lines.sort()
    return "".join(t + "\n" for _i, _t, t in lines)


def _seqinfo_text(seq: str, members: list[ExportRow], names: list[str]) -> str:
    """Exactly the seven keys of MOT17's seqinfo.ini (datumaro, and so CVAT, refuses others)."""
    first = members[0]
    rate = first.metadata.get("frame_rate")
    if not isinstance(rate, int | float):
        rate = _sampled_rate(members)
    lines = [
        "[Sequence]",
        f"name={seq}",
        "imDir=img1",
        f"frameRate={round(rate) if isinstance(rate, (int, float)) else DEFAULT_FRAME_RATE}",
        f"seqLength={len(members)}",
        f"imWidth={first.width}",
        f"imHeight={first.height}",
        f"imExt={Path(names[0]).suffix}",
    ]
    return "\n".join(lines) + "\n"


def _sampled_rate(members: list[ExportRow]) -> float | None:
    """Frames sampled from an ingested video at a steady step (`ingest --every`): one over
    the step, as the sequence holds them; None when their times are missing or uneven."""
    times = []
    for m in members:
        frame = m.metadata.get("frame")
        t = frame.get("time_s") if isinstance(frame, dict) else None
        if not isinstance(t, int | float):
            return None
        times.append(float(t))
    steps = [b - a for a, b in pairwise(times)]
    if not steps or min(steps) <= 0:
        return None
    mean = (times[-1] - times[0]) / len(steps)
    # A step rounds to whole decoded frames (every 0.25 s of a 30 fps video: 7 or 8 frames).
    if max(steps) - min(steps) > 0.25 * mean:
        return None
    return max(1.0, 1 / mean)


# Enough digits for any double plus one exactly (1e-308 + 1 has 309), so no sum is rounded.
_EXACT = decimal.Context(prec=800)


def _n(x: float, one: int = 0) -> str:
    """`x` + `one` (1: MOT's 1-based left and top) as the shortest text that `_coordinate`
    reads back to `x`: the sum taken on the shortest decimal of `x` (its repr), so float noise
    (15.001 + 1 is 16.000999999999998 in floats) is never written; two decimals at least."""
    exact = _EXACT.add(decimal.Decimal(repr(float(x))), one)
    cents = exact.quantize(decimal.Decimal("0.01"), context=_EXACT)
    return f"{cents if cents == exact else exact:f}"


def _shortest(x: float) -> str:
    """`x` as the shortest decimal that reads back to it exactly, without an exponent or a
    trailing ``.0`` (a visibility: ``1``, ``0.25``, ``0.0000001``)."""
    text = f"{decimal.Decimal(repr(float(x))):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _coordinate(text: str, one: int = 0) -> float:
    """A number of gt.txt less `one`, taken exactly on its decimal (as `_n` wrote it)."""
    return float(_EXACT.subtract(decimal.Decimal(text), one))


CODEC = Codec(
    name="mot",
    read=read,
    write=write,
    description="MOT Challenge gt.txt tracks (boxes with track ids, visibility)",
    title="MOT",
)
