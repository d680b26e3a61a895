"""Hypothesis strategies for boxes, shared by the property tests."""

from __future__ import annotations

import torch
from hypothesis import strategies as st


@st.composite
def corner_boxes(draw, max_n: int = 40, allow_empty: bool = True) -> torch.Tensor:
    """(N, 4) float32 corner boxes: random ones, duplicates, zero-area and one-pixel boxes, possibly none."""
    n = draw(st.integers(0 if allow_empty else 1, max_n))
    coord = st.floats(0, 1000, allow_nan=False, width=32)
    size = st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 500, width=32))
    rows = []
    for _ in range(n):
        if rows and draw(st.booleans()) and draw(st.booleans()):
            rows.append(rows[draw(st.integers(0, len(rows) - 1))])  # an identical box
            continue
        x, y, w, h = draw(coord), draw(coord), draw(size), draw(size)
        rows.append([x, y, x + w, y + h])
    return torch.tensor(rows, dtype=torch.float32).reshape(n, 4)
