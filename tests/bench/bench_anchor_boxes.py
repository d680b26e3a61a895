"""04_anchor_boxes against the d2l package and torchvision, on TinySSD's 5,444 anchors (256x256 input)."""

import torch
import torchvision
from d2l import torch as d2l
from run import Case

import d2lx

def cases() -> list[Case]:
    g = torch.Generator().manual_seed(0)
    anchors = d2lx.tinyssd_anchors()
    num_anchors = anchors.shape[1]

    # box_iou, 2000 x 2000
    def boxes(n):
        corner = torch.rand(n, 2, generator=g)
        return torch.cat([corner, corner + torch.rand(n, 2, generator=g) * 0.3], dim=1)
    b1, b2 = boxes(2000), boxes(2000)

    # multibox_target: batch 32, 10 ground truths
    corner = torch.rand(32, 10, 2, generator=g) * 0.7
    labels = torch.cat([torch.randint(0, 2, (32, 10, 1), generator=g).float(), corner,
                        corner + torch.rand(32, 10, 2, generator=g) * 0.3 + 0.02], dim=2)

    # nms: the 5,444 boxes of one image, decoded from small random offsets
    offsets = torch.randn(8, num_anchors * 4, generator=g) * 0.1
    nms_boxes = d2lx.offset_inverse(anchors[0], offsets[0].reshape(-1, 4))
    nms_scores = torch.rand(num_anchors, generator=g)

    # multibox_detection: batch 8, 2 classes. "random": uniform probabilities. "ssd-like": what a trained
    # detector outputs, most anchors clearly background (here 92% under pos_threshold).
    random_probs = torch.rand(8, 3, num_anchors, generator=g).softmax(dim=1)
    logits = torch.randn(8, 3, num_anchors, generator=g)
    logits[:, 0] += 7
    logits[:, 1:, :60] += 12
    ssd_probs = logits.softmax(dim=1)

    return [
        Case("box_iou 2000x2000", lambda: d2lx.box_iou(b1, b2), lambda: torchvision.ops.box_iou(b1, b2),
             "torchvision.ops.box_iou", goal="within:2"),
        Case("box_iou 2000x2000", lambda: d2lx.box_iou(b1, b2), lambda: d2l.box_iou(b1, b2), "d2l.box_iou"),
        Case("multibox_prior 32x32, 2 sizes, 3 ratios",
             lambda: d2lx.multibox_prior(torch.zeros(32, 32), d2lx.TINYSSD_SIZES[0], [1, 2, 0.5]),
             lambda: d2l.multibox_prior(torch.zeros(32, 32), d2lx.TINYSSD_SIZES[0], [1, 2, 0.5]), "d2l.multibox_prior"),
        Case("multibox_target batch 32, 10 gt", lambda: d2lx.multibox_target(anchors, labels),
             lambda: d2l.multibox_target(anchors, labels), "d2l.multibox_target", goal="faster:5"),
        Case("nms from scratch, 5444 boxes", lambda: d2lx.nms(nms_boxes, nms_scores, 0.5),
             lambda: torchvision.ops.nms(nms_boxes, nms_scores, 0.5), "torchvision.ops.nms", goal="within:10"),
        Case("nms from scratch, 5444 boxes", lambda: d2lx.nms(nms_boxes, nms_scores, 0.5),
             lambda: d2l.nms(nms_boxes, nms_scores, 0.5), "d2l.nms", repeats=3),
        Case("multibox_detection b8, random probs",
             lambda: d2lx.multibox_detection(random_probs, offsets, anchors),
             lambda: d2l.multibox_detection(random_probs, offsets, anchors), "d2l.multibox_detection",
             repeats=3),
        Case("multibox_detection b8, ssd-like", lambda: d2lx.multibox_detection(ssd_probs, offsets, anchors),
             lambda: d2l.multibox_detection(ssd_probs, offsets, anchors), "d2l.multibox_detection",
             goal="faster:20", repeats=3),
    ]
