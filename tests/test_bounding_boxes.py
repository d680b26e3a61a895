"""The box conversions of 03_bounding_boxes against torchvision.ops.box_convert and the d2l package."""

from __future__ import annotations

import pytest
import torch
import torchvision
from d2l import torch as d2l
from hypothesis import given
from strategies import corner_boxes

import d2lx


@given(corner_boxes())
def test_corner_to_center_matches_torchvision_and_d2l(boxes):
    ours = d2lx.box_corner_to_center(boxes)
    assert ours.shape == boxes.shape
    torch.testing.assert_close(ours, torchvision.ops.box_convert(boxes, "xyxy", "cxcywh"), atol=1e-5, rtol=1e-6)
    if len(boxes):  # d2l indexes columns and cannot take an empty batch
        torch.testing.assert_close(ours, d2l.box_corner_to_center(boxes), atol=1e-5, rtol=1e-6)


@given(corner_boxes())
def test_center_to_corner_matches_torchvision_and_d2l_and_round_trips(boxes):
    centers = torchvision.ops.box_convert(boxes, "xyxy", "cxcywh")
    ours = d2lx.box_center_to_corner(centers)
    torch.testing.assert_close(ours, torchvision.ops.box_convert(centers, "cxcywh", "xyxy"), atol=1e-5, rtol=1e-6)
    if len(boxes):
        torch.testing.assert_close(ours, d2l.box_center_to_corner(centers), atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(d2lx.box_center_to_corner(d2lx.box_corner_to_center(boxes)), boxes,
                               atol=1e-3, rtol=1e-6)


def test_empty_batch_keeps_its_shape():
    for fn in (d2lx.box_corner_to_center, d2lx.box_center_to_corner):
        out = fn(torch.zeros(0, 4))
        assert out.shape == (0, 4) and out.dtype == torch.float32


def test_float64_stays_float64():
    boxes = torch.tensor([[0.0, 0.0, 2.0, 4.0]], dtype=torch.float64)
    assert d2lx.box_corner_to_center(boxes).dtype == torch.float64
    assert d2lx.box_corner_to_center(boxes).tolist() == [[1.0, 2.0, 2.0, 4.0]]


@pytest.mark.parametrize(("bad", "message"), [
    (torch.zeros(4), r"boxes must have shape \(N, 4\).*got \(4,\)"),
    (torch.zeros(3, 5), r"boxes must have shape \(N, 4\).*got \(3, 5\)"),
    (torch.zeros(2, 3, 4), r"boxes must have shape \(N, 4\).*got \(2, 3, 4\)"),
    (torch.tensor([[0.0, 0.0, 1.0, 1.0], [5.0, 0.0, 4.0, 1.0]]), r"x2 < x1 or y2 < y1 in row 1"),
    (torch.tensor([[0.0, 3.0, 1.0, 1.0]]), r"x2 < x1 or y2 < y1 in row 0"),
    (torch.tensor([[0.0, float("nan"), 1.0, 1.0]]), r"NaN coordinates in row 0"),
])
def test_corner_to_center_rejects_bad_boxes(bad, message):
    with pytest.raises(ValueError, match=message):
        d2lx.box_corner_to_center(bad)


def test_center_to_corner_rejects_negative_sizes_and_non_tensors():
    with pytest.raises(ValueError, match=r"negative width or height in row 0"):
        d2lx.box_center_to_corner(torch.tensor([[5.0, 5.0, -1.0, 2.0]]))
    with pytest.raises(TypeError, match=r"torch.Tensor of shape \(N, 4\), got list"):
        d2lx.box_center_to_corner([[5.0, 5.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="fmt must be"):
        d2lx.check_boxes(torch.zeros(1, 4), fmt="xywh")


def test_check_boxes_names_the_argument():
    with pytest.raises(ValueError, match=r"^anchors must have shape \(N, 4\)"):
        d2lx.check_boxes(torch.zeros(4), "anchors")


def test_bbox_to_rect_geometry():
    rect = d2lx.bbox_to_rect([10.0, 20.0, 110.0, 70.0], "red")
    assert rect.get_xy() == (10.0, 20.0) and rect.get_width() == 100.0 and rect.get_height() == 50.0
    assert not rect.get_fill()
    ref = d2l.bbox_to_rect([10.0, 20.0, 110.0, 70.0], "red")
    assert (ref.get_xy(), ref.get_width(), ref.get_height()) == (rect.get_xy(), rect.get_width(), rect.get_height())
