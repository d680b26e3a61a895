"""Box conversions (03_bounding_boxes) against torchvision and d2l."""

import torch
import torchvision
from d2l import torch as d2l
from run import Case

import d2lx


def cases() -> list[Case]:
    top_left = torch.rand(200_000, 2) * 500
    boxes = torch.cat([top_left, top_left + torch.rand(200_000, 2) * 200], dim=1)
    centers = torchvision.ops.box_convert(boxes, "xyxy", "cxcywh")
    return [
        Case("box_corner_to_center, 200k boxes", lambda: d2lx.box_corner_to_center(boxes),
             lambda: torchvision.ops.box_convert(boxes, "xyxy", "cxcywh"), "torchvision.ops.box_convert"),
        Case("box_corner_to_center, 200k boxes", lambda: d2lx.box_corner_to_center(boxes),
             lambda: d2l.box_corner_to_center(boxes), "d2l.box_corner_to_center"),
        Case("box_center_to_corner, 200k boxes", lambda: d2lx.box_center_to_corner(centers),
             lambda: torchvision.ops.box_convert(centers, "cxcywh", "xyxy"), "torchvision.ops.box_convert"),
    ]
