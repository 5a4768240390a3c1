"""The chips' PNG encoder: any 8-bit grey, grey + alpha, RGB or RGBA array round-trips through
Pillow's decoder and passes the ingest's own structural check."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from assay.ingest._png import encode_png, png_info

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


@st.composite
def images(draw: st.DrawFn) -> np.ndarray:
    channels = draw(st.sampled_from([0, 1, 2, 3, 4]))  # 0: a 2-D grey array
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    shape = (height, width) if channels == 0 else (height, width, channels)
    return draw(arrays(np.uint8, shape))


@settings(max_examples=150, deadline=None)
@given(images())
def test_encoded_pixels_decode_to_the_same_array(pixels: np.ndarray) -> None:
    data = encode_png(pixels)
    assert png_info(data)[:2] == (pixels.shape[1], pixels.shape[0])
    img = Image.open(io.BytesIO(data))
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    assert img.mode == MODES[channels]
    assert np.array_equal(np.asarray(img), pixels.reshape(np.asarray(img).shape))


def test_a_strided_view_is_encoded_as_its_pixels() -> None:
    # Chips arrive as (bands, rows, cols) moved to (rows, cols, bands): not contiguous.
    bands = np.arange(3 * 30 * 20, dtype=np.uint32).reshape(3, 30, 20).astype(np.uint8)
    view = np.moveaxis(bands, 0, -1)
    back = np.asarray(Image.open(io.BytesIO(encode_png(view))))
    assert np.array_equal(back, view)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4), np.uint16), "8-bit"),
        (np.zeros((4, 4, 5), np.uint8), "1 to 4 channels"),
        (np.zeros(4, np.uint8), "2 or 3 dimensions"),
    ],
)
def test_what_a_png_cannot_hold_is_refused(pixels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_png(pixels)
