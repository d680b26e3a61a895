"""d2lx.plotting.annotate against torchvision's drawing functions, which it wraps."""

import torch
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

import d2lx


def test_annotate_draws_masks_then_named_boxes():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, 40, 50, generator=g)
    boxes = torch.tensor([[2.0, 3.0, 20.0, 30.0], [10.0, 5.0, 45.0, 35.0]])
    masks = torch.zeros(2, 40, 50, dtype=torch.bool)
    masks[0, 5:20, 4:15] = True
    masks[1, 10:30, 20:40] = True
    as_bytes = (image * 255).round().to(torch.uint8)
    expected = draw_bounding_boxes(draw_segmentation_masks(as_bytes, masks, alpha=0.4), boxes, ["a", "b"],
                                   colors="white", width=1)
    out = d2lx.annotate(image, boxes, ("a", "b"), masks, width=1, mask_alpha=0.4)
    assert out.dtype == torch.uint8 and torch.equal(out, expected)
    assert torch.equal(d2lx.annotate(as_bytes, boxes, ["a", "b"]),
                       draw_bounding_boxes(as_bytes, boxes, ["a", "b"], colors="white", width=2))


def test_annotate_without_boxes_only_converts():
    image = torch.rand(3, 8, 8)
    out = d2lx.annotate(image, torch.zeros(0, 4), [], torch.zeros(0, 8, 8, dtype=torch.bool))
    assert torch.equal(out, (image * 255).round().to(torch.uint8))
