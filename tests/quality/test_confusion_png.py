"""Confusion-matrix numbers stay readable on every cell shade of the quality report."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from assay.quality._png import confusion_png, contrast, ink


def test_every_cell_shade_has_readable_numbers() -> None:
    for share in np.linspace(0, 1, 101):
        shade = int(255 - 200 * share)
        for fill in ((shade, shade, 255), (255, shade, shade)):
            assert contrast(ink(fill), fill) >= 4.5, fill  # WCAG AA for normal text


def test_the_darkest_cell_is_written_in_white() -> None:
    m = pd.DataFrame([[12, 0], [0, 9]], index=["none", "minor"], columns=["none", "minor"])
    img = Image.open(io.BytesIO(confusion_png(m))).convert("RGB")
    # the first diagonal cell: full row share, the darkest blue, at the 96 px margin
    cell = np.asarray(img.crop((96 + 4, 96 + 4, 96 + 40, 96 + 40))).reshape(-1, 3)
    assert (cell == (55, 55, 255)).all(axis=1).any()  # the cell's fill
    assert (cell.min(axis=1) > 230).any()  # white digits
    assert not (cell.max(axis=1) < 60).any()  # no dark digits on the dark cell
