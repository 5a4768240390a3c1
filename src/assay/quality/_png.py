"""Confusion matrices drawn as PNG with Pillow (no plotting library, no external assets)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

_CELL = 44
_MARGIN = 96
_TEXT = (20, 20, 20)


def _short(text: str, limit: int = 12) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    lin = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two colours, 1 to 21."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def ink(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    """The text colour readable on `fill`: black or white, whichever contrasts more (at least
    4.5:1, WCAG AA, on every shade the matrices use).

    Example:
        >>> ink((255, 255, 255)), ink((55, 55, 255))
        ((0, 0, 0), (255, 255, 255))
    """
    white, black = (255, 255, 255), (0, 0, 0)
    return white if contrast(white, fill) > contrast(black, fill) else black


def confusion_png(matrix: pd.DataFrame, title: str = "") -> bytes:
    """A PNG of a square count matrix: rows = reference, columns = given, shaded by row share."""
    counts = matrix.to_numpy(dtype=np.float64)
    k = counts.shape[0]
    width = _MARGIN + max(k, 1) * _CELL + 12
    height = _MARGIN + max(k, 1) * _CELL + 12
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    if title:
        draw.text((6, 4), _short(title, 40), fill=_TEXT, font=font)
    draw.text((_MARGIN, 22), "given ->", fill=_TEXT, font=font)
    draw.text((6, _MARGIN - 16), "reference (rows)", fill=_TEXT, font=font)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    for i in range(k):
        draw.text(
            (6, _MARGIN + i * _CELL + 14), _short(str(matrix.index[i])), fill=_TEXT, font=font
        )
        x = _MARGIN + i * _CELL + 2
        draw.text((x, _MARGIN - 34 + (i % 2) * 12), _short(str(matrix.columns[i]), 7), fill=_TEXT)
        for j in range(k):
            shade = int(255 - 200 * shares[i, j])
            fill = (shade, shade, 255) if i == j else (255, shade, shade)
            x0, y0 = _MARGIN + j * _CELL, _MARGIN + i * _CELL
            draw.rectangle((x0, y0, x0 + _CELL - 2, y0 + _CELL - 2), fill=fill, outline=(180,) * 3)
            draw.text((x0 + 6, y0 + 14), str(int(counts[i, j])), fill=ink(fill), font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    """An inline ``data:`` URI for a PNG."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
