"""Widget logic: the pure functions against torchvision, then the widget driven through its controls."""

from __future__ import annotations

import pytest
import torch
import torchvision
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from d2lx import widgets

box = st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(0, 200), st.integers(0, 200)).map(
    lambda t: [float(t[0]), float(t[1]), float(t[0] + t[2]), float(t[1] + t[3])])


@given(box, box)
def test_iou_state_matches_torchvision(a, b):
    state = widgets.iou_state(a, b)
    ref = torchvision.ops.box_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))
    assert state["iou"] == pytest.approx(float(ref.nan_to_num(0.0)), abs=1e-9)
    assert 0.0 <= state["iou"] <= 1.0
    if state["union"] > 0:
        assert state["iou"] == pytest.approx(state["intersection"] / state["union"], abs=1e-9)
    assert (state["overlap"] is None) == (state["intersection"] == 0)


def test_iou_state_edge_cases():
    assert widgets.iou_state([0, 0, 10, 10], [0, 0, 10, 10])["iou"] == 1.0
    assert widgets.iou_state([0, 0, 10, 10], [10, 0, 20, 10])["iou"] == 0.0  # touching edges share no area
    assert widgets.iou_state([0, 0, 10, 10], [5, 0, 15, 10])["iou"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="box_b must be"):
        widgets.iou_state([0, 0, 10, 10], [10, 0, 5, 10])
    with pytest.raises(ValueError, match="box_a must be"):
        widgets.iou_state([0, float("nan"), 10, 10], [0, 0, 5, 10])


def test_draw_iou_draws_both_boxes_and_the_overlap():
    fig, state = widgets.draw_iou(Image.new("RGB", (100, 80)), [0, 0, 50, 50], [25, 25, 75, 75])
    ax = fig.axes[0]
    assert len(ax.patches) == 3 and "IoU = 0.143" in ax.get_title()
    fig, state = widgets.draw_iou(Image.new("RGB", (100, 80)), [0, 0, 10, 10], [50, 50, 60, 60])
    assert len(fig.axes[0].patches) == 2 and state["overlap"] is None


def test_playground_follows_its_sliders():
    pg = widgets.iou_playground(Image.new("RGB", (200, 100)), [10, 10, 60, 60], [40, 10, 90, 60], labels=("p", "q"))
    assert pg.box("a") == [10, 10, 60, 60] and pg.box("b") == [40, 10, 90, 60]
    assert pg.state["iou"] == pytest.approx(20 * 50 / (2 * 2500 - 20 * 50))
    assert "IoU = 0.250" in pg.caption.value
    pg.controls["b_x"].value = 10  # B now on top of A
    assert pg.state["iou"] == 1.0 and "IoU = 1.000" in pg.caption.value
    pg.controls["a_w"].value = 25  # A half as wide
    assert pg.state["iou"] == pytest.approx(0.5)
    assert pg.controls["a_x"].max == 199 and pg.controls["a_h"].max == 100, "ranges follow the image size"
