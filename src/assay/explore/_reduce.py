"""Per-row reductions over a flattened Arrow list column (values plus row offsets), in numpy."""

from __future__ import annotations

from typing import Any

import numpy as np


def reduce_rows(ufunc: Any, values: Any, offsets: Any, empty: Any) -> Any:
    """`ufunc` reduced over each row's slice of a flattened list column (`empty` if none).

    `empty` must leave a reduction unchanged (nan for fmax/fmin, 0 for bitwise_or): it is
    appended once, so every start is a valid index and the last row still ends at the end.
    """
    starts = offsets[:-1]
    dtype = values.dtype if len(values) else np.float64
    ext = np.append(np.asarray(values, dtype=dtype), np.array([empty], dtype=dtype))
    nonempty = offsets[1:] > starts
    if not len(starts):
        return np.zeros(0, dtype=dtype)
    reduced = ufunc.reduceat(ext, starts)
    return np.where(nonempty, reduced, np.array(empty, dtype=dtype))
