"""A video file as items: the video itself, and each sampled frame as a derived item whose
metadata carries its telemetry, footprint and place on the ground."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assay.ingest.sensors import klv
from assay.ingest.sensors.options import COG_MEDIA_TYPE, VIDEO_TYPES, ChipOptions, VideoOptions

# A frame this far outside the telemetry's time span is noted: it carries the position and
# time of a packet taken seconds earlier or later (a drone at 15 m/s: 15 m a second).
STALE_S = 1.0

MAX_PROBLEMS_KEPT = 50  # per video, in its metadata; the count is always exact


@dataclass(frozen=True)
class FilePayload:
    """An item's bytes as a file (a scene, a chip): hashed and copied in chunks, never read
    whole. `owned` files are temporary (a conversion, a chip), moved into the store or removed;
    `tempdir`, the temporary folder holding them, is removed once the batch is staged."""

    path: str
    size: int
    sha: str
    owned: bool
    tempdir: str | None = None


@dataclass(frozen=True)
class FoundItem:
    media_type: str
    name: str
    width: int | None
    height: int | None
    metadata: dict[str, Any]
    parent: str | None = None
    derivation: str | None = None
    marking_floor: str | None = None


def _iso(us: object) -> str | None:
    if not isinstance(us, int):
        return None
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).isoformat().replace("+00:00", "Z")


def _rounded(values: dict[str, object]) -> dict[str, object]:
    return {k: round(v, 7) if isinstance(v, float) else v for k, v in values.items()}


Progress = Callable[[int, int], None]  # (done, total) within one file


def video_items(
    path: str,
    data: bytes,
    base: dict[str, Any],
    options: VideoOptions,
    progress: Progress | None = None,
) -> tuple[list[tuple[FoundItem, bytes]], tuple[str, ...]]:
    """The video item first, then its frames, and notes on what was degraded (raises
    InvalidInput for an unreadable video, or a bad KLV packet under ``klv="strict"``;
    `progress`: bytes of the file decoded, see `scan_video`)."""
    import hashlib
    import os

    from assay.ingest.sensors.video import scan_video

    scan = scan_video(path, options, progress)
    video_sha = hashlib.sha256(data).hexdigest()
    name = os.path.basename(path)
    suffix = os.path.splitext(name)[1].lower()
    first = scan.packets[0].packet.values if scan.packets else {}
    found = [p.packet.values.get("security_classification") for p in scan.packets]
    # The highest level any packet declares (ST 0102 order).
    ranked = [c for c in found if isinstance(c, str) and c in klv.SECURITY_CLASSIFICATION.values()]
    order = list(klv.SECURITY_CLASSIFICATION.values())
    classification = max(ranked, key=order.index) if ranked else None
    video_meta: dict[str, Any] = {
        **base,
        "video": {
            "duration_s": round(scan.duration_s, 3),
            "fps": round(scan.fps, 3),
            "codec": scan.codec,
            "frames_sampled": len(scan.frames),
            **({"damaged_packets_s": scan.damaged_s} if scan.damaged_s else {}),
            **({"cut_off": scan.cut_off} if scan.cut_off else {}),
            "sampling": {
                "every_s": options.every,
                "scene_change": options.scene_change,
                "max_frames": options.max_frames,
                "dedup": options.dedup,
            },
        },
        "klv": {
            "streams": scan.klv_streams,
            "packets": len(scan.packets),
            "problems": len(scan.klv_problems),
            "problem_list": scan.klv_problems[:MAX_PROBLEMS_KEPT],
            "mode": options.klv,
        },
    }
    for key in ("mission_id", "platform_designation", "platform_tail_number"):
        if isinstance(first.get(key), str):
            video_meta[key] = first[key]
    if captured := _iso(first.get("precision_time_stamp")):
        video_meta["captured_at"] = captured
    if classification:
        video_meta["klv_security_classification"] = classification
    out = [
        (
            FoundItem(
                VIDEO_TYPES[suffix],
                name,
                scan.width,
                scan.height,
                video_meta,
                marking_floor=classification,
            ),
            data,
        )
    ]
    for fr in scan.frames:
        meta: dict[str, Any] = {
            **base,
            "frame": {"index": fr.index, "pts": fr.pts, "time_s": round(fr.time_s, 6)},
        }
        if fr.telemetry is not None:
            meta["telemetry"] = _rounded(fr.telemetry.values)
            meta["klv_offset_s"] = round(fr.telemetry.offset_s, 6)
            meta["klv_interpolated"] = fr.telemetry.interpolated
            if captured := _iso(fr.telemetry.values.get("precision_time_stamp")):
                meta["captured_at"] = captured
            lat = fr.telemetry.values.get("frame_center_latitude")
            lon = fr.telemetry.values.get("frame_center_longitude")
            if isinstance(lat, float) and isinstance(lon, float):
                meta["geo"] = {"lat": round(lat, 7), "lon": round(lon, 7)}
        if fr.footprint is not None:
            meta["footprint"] = fr.footprint.geojson()
            meta["footprint_method"] = fr.footprint.method
        derivation = {"frame": fr.index, "pts": fr.pts, "time_s": round(fr.time_s, 6)}
        out.append(
            (
                FoundItem(
                    "image/jpeg",
                    f"{name}#t={fr.time_s:.3f}",
                    scan.width,
                    scan.height,
                    meta,
                    parent=video_sha,
                    derivation=json.dumps(derivation, sort_keys=True, separators=(",", ":")),
                    marking_floor=classification,
                ),
                fr.jpeg,
            )
        )
    notes: list[str] = []
    if not scan.packets:
        notes.append("no MISB ST 0601 telemetry: frames have no time, position or footprint")
    elif scan.klv_problems:
        notes.append(
            f"KLV: {len(scan.klv_problems)} problem(s) in {len(scan.packets)} packet(s), kept "
            "(lenient); each is listed under klv.problem_list in the video's metadata"
        )
    outside = [
        abs(fr.telemetry.offset_s)
        for fr in scan.frames
        if fr.telemetry is not None
        and not fr.telemetry.interpolated
        and abs(fr.telemetry.offset_s) > STALE_S
    ]
    if outside:
        notes.append(
            f"{len(outside)} frame(s) more than {STALE_S:g} s before the first KLV packet or "
            f"after the last (up to {max(outside):.1f} s): they carry that packet's time and "
            "position (klv_offset_s)"
        )
    if scan.damaged_s:
        notes.append(
            f"{len(scan.damaged_s)} damaged video packet(s) (first at {scan.damaged_s[0]:.3f} "
            "s), decoded past and kept: frames near them may show artefacts; their times are "
            "under video.damaged_packets_s in the video's metadata"
        )
    if scan.cut_off:
        notes.append(
            f"MPEG-TS cut off: {'; '.join(scan.cut_off)}; kept as far as it goes (a recording "
            "cut short?), said under video.cut_off in the video's metadata"
        )
    unplaced = sum(1 for fr in scan.frames if fr.footprint is None)
    if scan.packets and unplaced:
        notes.append(f"{unplaced} frame(s) without a footprint (telemetry too sparse)")
    return out, tuple(notes)


def scene_items(
    path: str,
    base: dict[str, Any],
    options: ChipOptions,
    sha: str | None = None,
    progress: Progress | None = None,
) -> tuple[list[tuple[FoundItem, bytes | FilePayload]], tuple[str, ...]]:
    """The scene (as a COG) first, then its chips as derived items (`sha`: the input's
    sha256, when the caller has it; `progress`: chips cut of all, see `open_scene`)."""
    import shutil

    from assay.ingest.sensors.raster import open_scene

    scene = open_scene(path, options, sha, progress)
    try:
        return _scene_items(path, base, options, scene)
    except BaseException:
        shutil.rmtree(scene.workdir, ignore_errors=True)
        raise


def _gdal_number(value: float | None) -> float | str | None:
    """`value` as JSON holds it: NaN and the infinities are not JSON, so they are spelled as
    GDAL spells them (`gdalinfo` prints "nan", "inf", "-inf"); other numbers as they are."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _scene_items(
    path: str, base: dict[str, Any], options: ChipOptions, scene: Any
) -> tuple[list[tuple[FoundItem, bytes | FilePayload]], tuple[str, ...]]:
    import os

    from assay.ingest.sensors.raster import sha256_path

    name = os.path.basename(path)
    cog = FilePayload(
        scene.cog_path,
        os.path.getsize(scene.cog_path),
        scene.cog_sha or sha256_path(scene.cog_path),
        scene.converted,
        scene.workdir,
    )
    meta: dict[str, Any] = {
        **base,
        "scene": {
            "bands": scene.bands,
            "dtypes": list(scene.dtypes),
            "nodata": _gdal_number(scene.nodata),
            "crs": scene.crs,
            "transform": [round(v, 10) for v in scene.transform],
            "gsd_m": scene.gsd_m,
            "cog": "converted" if scene.converted else "as given",
            "display": scene.display,
            "chip": {"size": options.size, "overlap": options.overlap},
            "chips": len(scene.chips),
        },
    }
    when = {"captured_at": scene.captured_at} if scene.captured_at else {}
    meta.update(when)
    if scene.converted:
        meta["scene"]["original_sha256"] = scene.original_sha or sha256_path(path)
    if scene.footprint:
        meta["footprint"] = scene.footprint
    out: list[tuple[FoundItem, bytes | FilePayload]] = [
        (FoundItem(COG_MEDIA_TYPE, name, scene.width, scene.height, meta), cog)
    ]
    for c in scene.chips:
        window = {"col": c.col, "row": c.row, "width": c.width, "height": c.height}
        chip_meta: dict[str, Any] = {
            **base,
            "window": window,
            "crs": scene.crs,
            "transform": [round(v, 10) for v in c.transform],
            "gsd_m": scene.gsd_m,
            "display": {"bands": scene.display["bands"]},
            **when,
        }
        if c.footprint:
            chip_meta["footprint"] = c.footprint
        if c.center:
            chip_meta["geo"] = {"lat": round(c.center[1], 7), "lon": round(c.center[0], 7)}
        derivation = json.dumps({"window": window}, sort_keys=True, separators=(",", ":"))
        out.append(
            (
                FoundItem(
                    "image/png",
                    f"{name}#col={c.col}&row={c.row}",
                    c.width,
                    c.height,
                    chip_meta,
                    parent=cog.sha,
                    derivation=derivation,
                ),
                FilePayload(c.png_path, c.png_size, c.png_sha, True, scene.workdir),
            )
        )
    return out, tuple(scene.notes)
