"""Satellite and aerial scenes: stored as Cloud-Optimized GeoTIFF, cut into chips.

A scene (GeoTIFF, COG, NITF or JPEG 2000, read through rasterio's bundled GDAL) becomes one
item whose bytes are a COG: a scene that is not one is converted first (`COG_OPTIONS`: tiled
512 x 512, ZSTD level 1 with the horizontal predictor, overviews resampled NEAREST, built in
an uncompressed temporary file; GDAL works through it in bounded memory). Its chips become
derived items: windows of `size` pixels stepping by `size - overlap`, the last row and column
aligned to the scene's edge so every chip is whole; chips whose pixels are all nodata are
skipped. A chip's bytes are its display rendering, an 8-bit PNG of the chosen bands (the
first three, or the one band of a single-band scene; see `assay.ingest._png.encode_png`):
8-bit bands as they are, other types stretched between the 2nd and 98th percentiles of the
scene (through a lookup table). Every band stays in the scene, and a chip's metadata names
its window so any band can be read back. Each chip carries its pixel window, CRS, affine
transform, WGS84 footprint and ground sample distance. A tiled 8-bit scene is chipped from
the source while a child process converts it (GDAL's COG writer and the chip reads
deadlocked inside GDAL when they shared a process). Chips go to temporary files as they are
cut (the store moves them in), so memory does not grow with the scene: 2,025 chips of a
20,000 x 20,000 scene would be about 1 GB of PNG.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.errors import InvalidInput, require
from assay.ingest.sensors.options import ChipOptions, display_bands, display_percentiles

GDAL_CACHE_MB = 256
COG_BLOCK = 512
# Chips are cut from strips of up to `STRIP_CHIPS` chips side by side and `STRIP_BYTES` of
# pixels (32 chips of 512 px, 3 x 8-bit bands: 22 MB), at most `STRIP_AHEAD` strips read
# ahead of the encoding threads, so a wide or deep scene does not hold more.
STRIP_CHIPS = 32
STRIP_BYTES = 32 << 20
STRIP_AHEAD = 2
# The conversion's settings, measured on the sensors bench's 8,000 px scene (CPU seconds of
# the conversion): ZSTD level 1 costs half of DEFLATE for the same size; the predictor
# makes the COG 28 % smaller there (240 -> 173 MB) for 3 % more time, and more on real
# imagery; NEAREST overviews cost half of what GDAL's default CUBIC does.
COG_OPTIONS = {
    "COMPRESS": "ZSTD",
    "LEVEL": 1,
    "PREDICTOR": "YES",
    "BLOCKSIZE": COG_BLOCK,
    "RESAMPLING": "NEAREST",
    "NUM_THREADS": "ALL_CPUS",
    "BIGTIFF": "IF_SAFER",
}
# GDAL's COG writer computes the overviews into a temporary file before the copy, ZSTD at its
# default level 9 unless told otherwise: that compression (and reading it back) was more than
# half of the conversion (7.4 s of CPU at 8,000 px, 3.3 s without it). The file is deleted
# afterwards, so it is left uncompressed (a third of the scene's raw size, beside the output).
COG_ENV = {"GDAL_CACHEMAX": GDAL_CACHE_MB, "CPL_LOG": "/dev/null", "COG_TMP_COMPRESSION": "NONE"}

Progress = Callable[[int, int], None]  # (chips cut, chips of the scene)


@dataclass
class Chip:
    col: int
    row: int
    width: int
    height: int
    png_path: str  # a temporary file in the scene's `workdir`
    png_size: int
    png_sha: str
    transform: tuple[float, ...]
    footprint: dict[str, Any] | None
    center: tuple[float, float] | None  # (lon, lat)


@dataclass
class Scene:
    cog_path: str  # a COG: the input itself, or a temporary conversion in `workdir`
    workdir: str  # temporary folder of the conversion and the chips; the caller removes it
    converted: bool
    width: int
    height: int
    bands: int
    dtypes: tuple[str, ...]
    crs: str | None
    transform: tuple[float, ...]
    nodata: float | None
    gsd_m: float | None
    footprint: dict[str, Any] | None
    display: dict[str, Any]
    chips: list[Chip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    original_sha: str | None = None  # of the input, when converted (None: not hashed yet)
    captured_at: str | None = None  # when it was taken, as the file states it (ISO 8601)
    cog_sha: str | None = None  # of `cog_path` (None: not hashed yet)


def _rio() -> Any:
    rasterio: Any = require("rasterio", "sensors")
    # A scene without georeference is reported once, as a note on the ingest, not as a
    # Python warning per read.
    warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
    return rasterio


def is_georeferenced(path: str) -> bool:
    """True when GDAL reads `path` as a raster with a CRS (and not the identity transform)."""
    rasterio = _rio()
    try:
        with rasterio.Env(CPL_LOG="/dev/null"), rasterio.open(path) as src:
            return src.crs is not None and not src.transform.is_identity
    except rasterio.errors.RasterioError:
        return False


def _is_cog(src: Any) -> bool:
    if src.driver != "GTiff":
        return False
    tiled = src.profile.get("tiled", False) or src.block_shapes[0][0] < src.height
    small = max(src.width, src.height) <= COG_BLOCK
    return bool(tiled and (small or src.overviews(1)))


def open_scene(
    path: str, options: ChipOptions, sha: str | None = None, progress: Progress | None = None
) -> Scene:
    """Read a scene's georeference, convert it to a COG if needed, and cut its chips.

    `sha`, the input's sha256 when the caller has it already, is not computed again.
    `progress(done, total)` is told of the chips cut (windows read, all-nodata ones too)
    strip by strip.

    Raises:
        InvalidInput: not a raster GDAL reads, or chip options that do not fit.
    """
    _rio()  # the sensors extra, or one clear error
    if options.overlap >= options.size:
        raise InvalidInput(
            f"--overlap {options.overlap} must be smaller than --chip {options.size}"
        )
    workdir = tempfile.mkdtemp(prefix="assay-scene-")
    try:
        scene = _open_scene(path, options, workdir, sha, progress)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    if sha is not None:
        scene.original_sha = sha
        if not scene.converted:
            scene.cog_sha = sha
    return scene


def _open_scene(
    path: str, options: ChipOptions, workdir: str, sha: str | None, progress: Progress | None
) -> Scene:
    rasterio = _rio()
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB, CPL_LOG="/dev/null"):
        try:
            src = rasterio.open(path)
        except rasterio.errors.RasterioError as exc:
            raise InvalidInput(f"{path}: not a raster GDAL can read ({exc})") from None
        with src:
            converted = not _is_cog(src)
            # A tiled source shown as it is (8-bit, no stretch) is chipped while GDAL converts
            # it (compression runs outside the GIL); otherwise the COG comes first.
            overlap = (
                converted
                and bool(src.profile.get("tiled"))
                and _percentiles(src, _display_bands(src.count, options), options) is None
            )
            if not overlap:
                cog = _to_cog(src, path, workdir) if converted else path
        if overlap:
            return _chip_while_converting(path, options, workdir, sha, progress)
        with rasterio.open(cog) as scene_src:
            return _describe_and_chip(scene_src, cog, converted, options, workdir, progress)


# The conversion of `_chip_while_converting`, in a process of its own: GDAL's COG writer
# (its worker threads and dataset locks) and the chip threads' reads deadlocked inside GDAL
# 3.10 when they shared one process (all threads in futex waits, seen on a 20,000 px scene).
_CONVERT = (
    "import json, sys, rasterio, rasterio.shutil as rs\n"
    "src, out, env, options = sys.argv[1], sys.argv[2], *map(json.loads, sys.argv[3:5])\n"
    "with rasterio.Env(**env), rasterio.open(src) as s:\n"
    "    rs.copy(s, out, driver='COG', **options)\n"
)


def _chip_while_converting(
    path: str, options: ChipOptions, workdir: str, sha: str | None, progress: Progress | None
) -> Scene:
    import subprocess
    import sys

    rasterio = _rio()
    out = os.path.join(workdir, "scene.cog.tif")
    settings = [json.dumps(COG_ENV), json.dumps(COG_OPTIONS)]
    args = [sys.executable, "-c", _CONVERT, path, out, *settings]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with rasterio.open(path) as src:
            scene = _describe_and_chip(src, path, True, options, workdir, progress)
        # The conversion usually outlasts the chips: hash the input meanwhile (unless the
        # caller did, to find it among the scenes already ingested).
        scene.original_sha = sha or sha256_path(path)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    _, err = proc.communicate()
    if proc.returncode:
        last = (err.strip().splitlines() or ["exit status " + str(proc.returncode)])[-1]
        raise InvalidInput(f"{path}: cannot convert to a Cloud-Optimized GeoTIFF ({last})")
    scene.cog_path = out
    # The store will flush the COG to disk: start that while it is hashed.
    with ThreadPoolExecutor(max_workers=1) as flusher:
        flushing = flusher.submit(_flush, [out])
        scene.cog_sha = sha256_path(out)
        flushing.result()
    return scene


def _to_cog(src: Any, path: str, workdir: str) -> str:
    rasterio = _rio()
    rio_shutil: Any = require("rasterio.shutil", "sensors")
    out = os.path.join(workdir, "scene.cog.tif")
    try:
        with rasterio.Env(**COG_ENV):
            rio_shutil.copy(src, out, driver="COG", **COG_OPTIONS)
    except rasterio.errors.RasterioError as exc:
        raise InvalidInput(f"{path}: cannot convert to a Cloud-Optimized GeoTIFF ({exc})") from None
    return out


def _describe_and_chip(
    src: Any,
    chips_from: str,
    converted: bool,
    options: ChipOptions,
    workdir: str,
    progress: Progress | None = None,
) -> Scene:
    """Describe the scene open as `src` and cut its chips from the file `chips_from`."""
    from assay.domain import geo

    notes: list[str] = []
    to_wgs84 = None
    crs_text = src.crs.to_string() if src.crs else None
    if src.crs is None or src.transform.is_identity:
        notes.append("no georeference: chips have no CRS, footprint or ground sample distance")
    else:
        try:
            to_wgs84 = geo.to_wgs84(src.crs.to_wkt())
        except InvalidInput as exc:
            notes.append(f"{exc}: chips keep their CRS and transform but have no footprint")
    transform = tuple(src.transform)[:6]
    bands = _display_bands(src.count, options)
    lo, hi = _stretch(src, bands, options)
    scene = Scene(
        cog_path=chips_from,
        workdir=workdir,
        converted=converted,
        width=src.width,
        height=src.height,
        bands=src.count,
        dtypes=tuple(src.dtypes),
        crs=crs_text,
        transform=transform,
        nodata=src.nodata,
        gsd_m=geo.gsd(transform, src.crs, src.height / 2, src.width / 2) if to_wgs84 else None,
        footprint=geo.footprint(to_wgs84, transform, 0, 0, src.width, src.height)
        if to_wgs84
        else None,
        display={
            "bands": list(bands),
            "low": lo,
            "high": hi,
            "percentiles": _percentiles(src, bands, options),
        },
        notes=notes,
        captured_at=_captured_at(src),
    )
    windows = list(chip_windows(src.width, src.height, options))
    scene.chips = _cut(
        chips_from, windows, bands, lo, hi, to_wgs84, transform, workdir, progress=progress
    )
    return scene


def _captured_at(src: Any) -> str | None:
    """When the scene was taken: a TIFF's `TIFFTAG_DATETIME` ("YYYY:MM:DD HH:MM:SS", as EXIF
    writes it, no zone invented), else a NITF's image date and time `NITF_IDATIM`
    ("CCYYMMDDhhmmss", UTC); None when the file states neither or not in that form."""
    tags = src.tags()
    tiff = str(tags.get("TIFFTAG_DATETIME", "")).strip()
    if m := re.fullmatch(r"(\d{4}):(\d\d):(\d\d) (\d\d:\d\d:\d\d)", tiff):
        return f"{m[1]}-{m[2]}-{m[3]}T{m[4]}"
    nitf = str(tags.get("NITF_IDATIM", "")).strip()
    if m := re.fullmatch(r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)", nitf):
        return f"{m[1]}-{m[2]}-{m[3]}T{m[4]}:{m[5]}:{m[6]}Z"
    return None


def _display_bands(count: int, options: ChipOptions) -> tuple[int, ...]:
    return display_bands(count, options)


def _percentiles(src: Any, bands: tuple[int, ...], options: ChipOptions) -> list[float] | None:
    return display_percentiles(tuple(src.dtypes), bands, options)


def _stretch(
    src: Any, bands: tuple[int, ...], options: ChipOptions
) -> tuple[list[float], list[float]]:
    """Per-band low and high values of the display rendering: the scene's percentiles, read
    from a decimated view (GDAL serves it from an overview of the COG)."""
    pct = _percentiles(src, bands, options)
    if pct is None:
        return [0.0] * len(bands), [255.0] * len(bands)
    scale = max(1, max(src.width, src.height) // 1024)
    shape = (len(bands), max(1, src.height // scale), max(1, src.width // scale))
    data = src.read(list(bands), out_shape=shape)
    lo, hi = [], []
    for band in data:
        valid = band[~_no_data(band, src.nodata)]
        if valid.size == 0:
            lo.append(0.0)
            hi.append(1.0)
            continue
        p_lo, p_hi = (float(p) for p in np.percentile(valid, pct))
        if p_hi <= p_lo:
            # A flat band shows bright, apart from nodata (0): its low end the next float32
            # down, so the rendering's float32 span is not zero (it was, and every pixel NaN).
            p_lo = float(np.nextafter(np.float32(p_hi), np.float32(-np.inf)))
        lo.append(p_lo)
        hi.append(p_hi)
    return lo, hi


def _no_data(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Where `values` hold no data: the nodata value (NaN equals NaN here) or any NaN."""
    if values.dtype.kind != "f":
        same: np.ndarray = values == nodata if nodata is not None else np.zeros(values.shape, bool)
        return same
    missing: np.ndarray = ~np.isfinite(values)
    if nodata is not None and not math.isnan(nodata):
        missing |= values == nodata
    return missing


def _lookup(dtype: str, lo: list[float], hi: list[float]) -> np.ndarray | None:
    """Per-band tables from pixel value to display byte, for 8- and 16-bit bands (None:
    compute per pixel, for float and 32-bit data)."""
    if dtype not in ("uint8", "uint16", "int16"):
        return None
    info = np.iinfo(dtype)
    values = np.arange(info.min, info.max + 1, dtype=np.float32)
    tables = [
        np.clip((values - a) * (255.0 / (b - a)), 0, 255).astype(np.uint8)
        for a, b in zip(lo, hi, strict=True)
    ]
    return np.stack(tables)


def chip_windows(
    width: int, height: int, options: ChipOptions
) -> Iterator[tuple[int, int, int, int]]:
    """The windows (col, row, width, height) a scene is cut into with `options`."""
    size, step = options.size, options.size - options.overlap

    def starts(n: int) -> list[int]:
        if n <= size:
            return [0]
        out = list(range(0, n - size, step))
        out.append(n - size)  # the last chip ends at the edge
        return out

    for row in starts(height):
        for col in starts(width):
            yield col, row, min(size, width - col), min(size, height - row)


def _strips(
    windows: list[tuple[int, int, int, int]], chip_bytes: int
) -> Iterator[list[tuple[int, int, int, int]]]:
    """The windows in runs side by side in one row of chips, of at most `STRIP_CHIPS` chips
    and `STRIP_BYTES` (a chip holding at most `chip_bytes`)."""
    most = max(1, min(STRIP_CHIPS, STRIP_BYTES // max(1, chip_bytes)))
    run: list[tuple[int, int, int, int]] = []
    for win in windows:
        if run and (win[1] != run[0][1] or len(run) == most):
            yield run
            run = []
        run.append(win)
    if run:
        yield run


def _cut(
    path: str,
    windows: list[tuple[int, int, int, int]],
    bands: tuple[int, ...],
    lo: list[float],
    hi: list[float],
    to_wgs84: Any,
    transform: tuple[float, ...],
    workdir: str,
    *,
    progress: Progress | None = None,
) -> list[Chip]:
    """Read the windows a strip at a time (each of the source's blocks decoded about once)
    while two threads render, encode and write the chips of the strips read before it
    (`progress(done, total)`: windows whose chips are written, told strip by strip)."""
    from rasterio.enums import MaskFlags
    from rasterio.windows import Window

    rasterio = _rio()
    out: list[Chip] = []
    pending: deque[tuple[int, Future[list[Chip]]]] = deque()  # (windows, their chips)
    flushed: list[Future[None]] = []
    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB),
        rasterio.open(path) as src,
        ThreadPoolExecutor(max_workers=2) as pool,
        ThreadPoolExecutor(max_workers=1) as flusher,
    ):
        cut = 0  # windows whose chips are written (an all-nodata one has none)

        def done(windows_done: int, chips: list[Chip]) -> None:
            nonlocal cut
            # The store flushes every staged file before publishing it: flushed here as they
            # are cut, that disk work overlaps the encoding and the store finds them clean.
            out.extend(chips)
            flushed.append(flusher.submit(_flush, [c.png_path for c in chips]))
            cut += windows_done
            if progress is not None:
                progress(cut, len(windows))

        dtype = src.dtypes[bands[0] - 1]
        render = _Render(dtype, lo, hi, to_wgs84, transform, workdir)
        flags = [src.mask_flag_enums[b - 1] for b in bands]
        nodata = src.nodata if all(MaskFlags.nodata in f for f in flags) else None
        internal = nodata is None and not all(f == [MaskFlags.all_valid] for f in flags)
        itemsize = max(np.dtype(src.dtypes[b - 1]).itemsize for b in bands)
        chip_bytes = len(bands) * itemsize * max((w * h for _, _, w, h in windows), default=1)
        for strip in _strips(windows, chip_bytes):
            col, row, _, height = strip[0]
            last = strip[-1]
            win = Window(col, row, last[0] + last[2] - col, height)
            # rasterio's reads release the GIL: the next strip is read while chips encode.
            data = src.read(list(bands), window=win)
            mask = src.dataset_mask(window=win) if internal else None
            pending.append((len(strip), pool.submit(render.strip, data, mask, nodata, strip)))
            while len(pending) > STRIP_AHEAD:
                n, fut = pending.popleft()
                done(n, fut.result())
        for n, fut in pending:
            done(n, fut.result())
        for flush in flushed:
            flush.result()
    return out


def _flush(paths: list[str]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass
class _Render:
    """Chips of one strip: display pixels, PNG, hash, temporary file, place."""

    dtype: str
    lo: list[float]
    hi: list[float]
    to_wgs84: Any
    transform: tuple[float, ...]
    workdir: str
    identity: bool = field(init=False)
    table: np.ndarray | None = field(init=False)
    offset: int = field(init=False)
    lo_a: np.ndarray = field(init=False)
    span: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.lo)
        self.identity = self.dtype == "uint8" and self.lo == [0.0] * n and self.hi == [255.0] * n
        self.table = None if self.identity else _lookup(self.dtype, self.lo, self.hi)
        self.offset = 0 if self.table is None else int(np.iinfo(self.dtype).min)
        self.lo_a = np.array(self.lo, dtype=np.float32)[:, None, None]
        self.span = (np.array(self.hi, dtype=np.float32) - self.lo_a[:, 0, 0])[:, None, None]

    def strip(
        self,
        data: np.ndarray,
        mask: np.ndarray | None,
        nodata: float | None,
        windows: list[tuple[int, int, int, int]],
    ) -> list[Chip]:
        from assay.domain import geo
        from assay.ingest._png import encode_png

        x0 = windows[0][0]
        out: list[Chip] = []
        for col, row, w, h in windows:
            part = data[:, :, col - x0 : col - x0 + w]
            if (nodata is not None or part.dtype.kind == "f") and _no_data(part, nodata).all():
                continue  # all nodata
            if mask is not None and not mask[:, col - x0 : col - x0 + w].any():
                continue  # all masked (an alpha band or a mask)
            pixels = self._display(part)
            png = encode_png(pixels[0] if len(pixels) == 1 else np.moveaxis(pixels, 0, -1))
            png_path = os.path.join(self.workdir, f"chip-{col}-{row}.png")
            with open(png_path, "wb") as fh:
                fh.write(png)
            sha = hashlib.sha256(png).hexdigest()
            to_wgs84, transform = self.to_wgs84, self.transform
            fp = geo.footprint(to_wgs84, transform, col, row, w, h) if to_wgs84 else None
            center = (
                geo.pixel_to_wgs84(to_wgs84, transform, col + w / 2, row + h / 2)
                if to_wgs84
                else None
            )
            chip_transform = geo.window_transform(transform, col, row)
            out.append(Chip(col, row, w, h, png_path, len(png), sha, chip_transform, fp, center))
        return out

    def _display(self, data: np.ndarray) -> np.ndarray:
        if self.identity:
            return data
        if self.table is not None:
            table, offset = self.table, self.offset
            return np.stack(
                [table[k][band.astype(np.int64) - offset] for k, band in enumerate(data)]
            )
        scaled = (data.astype(np.float32) - self.lo_a) * (255.0 / self.span)
        # NaN (no data in a float scene) shows as 0, as nodata does in the other types.
        pixels: np.ndarray = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).astype(np.uint8)
        return pixels


def sha256_path(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
