"""A GDAL ``CreateCopy`` that tells how far it is: the COG conversion of a large scene.

rasterio's `rasterio.shutil.copy` passes GDAL no progress callback, so a scene's conversion to
a Cloud-Optimized GeoTIFF (seconds to minutes) held an ingest's bar still. This calls the
same ``GDALCreateCopy`` of the libgdal rasterio has loaded (found in the process's memory
map, so it is that very library, with the configuration rasterio set) with a callback.
Where that library cannot be found (a platform without ``/proc/self/maps``), `gdal_library`
is None and the caller copies through rasterio without progress.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache
from typing import Any

STEPS = 1000  # the fraction GDAL reports, told in thousandths

_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p)


@cache
def gdal_library() -> Any | None:
    """The libgdal loaded in this process (by rasterio), with the functions used here typed;
    None when it cannot be found."""
    import rasterio  # noqa: F401  (loads libgdal)

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "libgdal" in line and "/" in line}
    except OSError:
        return None
    if len(paths) != 1:
        return None
    lib = ctypes.CDLL(paths.pop())  # the loaded library again: dlopen shares it
    lib.GDALOpen.restype = ctypes.c_void_p
    lib.GDALOpen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.GDALGetDriverByName.restype = ctypes.c_void_p
    lib.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
    lib.GDALCreateCopy.restype = ctypes.c_void_p
    lib.GDALCreateCopy.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_char_p),
        _PROGRESS,
        ctypes.c_void_p,
    ]
    lib.GDALClose.restype = ctypes.c_int  # CPLErr (GDAL 3.7 on)
    lib.GDALClose.argtypes = [ctypes.c_void_p]
    lib.CPLGetLastErrorMsg.restype = ctypes.c_char_p
    lib.CPLErrorReset.restype = None
    return lib


class CopyError(Exception):
    """GDAL could not make the copy (its last error message)."""


def create_copy(
    lib: Any,
    src: str,
    dst: str,
    driver: str,
    options: dict[str, Any],
    progress: Callable[[int, int], None],
) -> None:
    """``GDALCreateCopy(driver, dst, src, options)`` telling `progress(done, STEPS)` as GDAL
    moves (call it inside the `rasterio.Env` whose settings the copy should use)."""
    last = -1

    def tell(fraction: float, _message: bytes | None, _data: Any) -> int:
        nonlocal last
        step = min(STEPS, max(0, int(fraction * STEPS)))
        if step > last:
            last = step
            progress(step, STEPS)
        return 1  # go on

    callback = _PROGRESS(tell)  # kept alive until GDAL is done with it
    texts = [f"{k}={v}".encode() for k, v in options.items()]
    argv = (ctypes.c_char_p * (len(texts) + 1))(*texts, None)
    lib.CPLErrorReset()
    source = lib.GDALOpen(src.encode(), 0)  # GA_ReadOnly
    if not source:
        raise CopyError(_last_error(lib) or f"GDAL cannot open {src}")
    try:
        drv = lib.GDALGetDriverByName(driver.encode())
        if not drv:
            raise CopyError(f"GDAL has no {driver} driver")
        out = lib.GDALCreateCopy(drv, dst.encode(), source, 0, argv, callback, None)
        if not out:
            raise CopyError(_last_error(lib) or f"GDAL could not write {dst}")
        if lib.GDALClose(out) != 0:  # CE_None: the last blocks and IFDs written
            raise CopyError(_last_error(lib) or f"GDAL could not finish {dst}")
    finally:
        lib.GDALClose(source)


def _last_error(lib: Any) -> str | None:
    msg = lib.CPLGetLastErrorMsg()
    return msg.decode("utf-8", "replace") if msg else None
