"""04_anchor_boxes against the d2l package and torchvision.ops, on random and edge-case inputs."""

from __future__ import annotations

import pytest
import torch
import torchvision
from d2l import torch as d2l
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import corner_boxes

import d2lx

seeds = st.integers(0, 2**31 - 1)


def _close(a, b, **kw):
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, **kw)


def _sorted_rows(rows: torch.Tensor) -> torch.Tensor:
    """Rows (N, K) in lexicographic order, to compare two sets of rows."""
    for column in reversed(range(rows.shape[1])):
        rows = rows[torch.sort(rows[:, column], stable=True).indices]
    return rows


def _anchors(generator, n: int, positive: bool = True) -> torch.Tensor:
    """n random anchors in [0, 1] (positive area, like multibox_prior's) with some duplicates."""
    corner = torch.rand(n, 2, generator=generator)
    size = torch.rand(n, 2, generator=generator) * 0.5 + (0.01 if positive else 0.0)
    boxes = torch.cat([corner, corner + size], dim=1)
    if n > 2:
        boxes[-1] = boxes[0]  # an identical pair: ties
    return boxes


# --- box_iou ---------------------------------------------------------------------------------------------------
@given(corner_boxes(), corner_boxes())
def test_box_iou_matches_torchvision_and_d2l(boxes1, boxes2):
    ours = d2lx.box_iou(boxes1, boxes2)
    assert ours.shape == (len(boxes1), len(boxes2))
    _close(ours, torchvision.ops.box_iou(boxes1, boxes2), equal_nan=True)
    if len(boxes1) and len(boxes2):
        _close(ours, d2l.box_iou(boxes1, boxes2), equal_nan=True)


def test_box_iou_edges_and_errors():
    assert d2lx.box_iou(torch.zeros(0, 4), torch.zeros(3, 4)).shape == (0, 3)
    assert d2lx.box_iou(torch.tensor([[0, 0, 2, 2]]), torch.tensor([[1, 1, 3, 3]])).item() == pytest.approx(1 / 7)
    with pytest.raises(ValueError, match=r"boxes2 must have shape \(N, 4\)"):
        d2lx.box_iou(torch.zeros(1, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="boxes1 has NaN"):
        d2lx.box_iou(torch.tensor([[0.0, float("nan"), 1, 1]]), torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"boxes1 has x2 < x1"):
        d2lx.box_iou(torch.tensor([[2.0, 0, 1, 1]]), torch.zeros(1, 4))


# --- multibox_prior --------------------------------------------------------------------------------------------
@given(st.integers(1, 24), st.integers(1, 24),
       st.lists(st.floats(0.0625, 1.0, width=32), min_size=1, max_size=4),
       st.lists(st.floats(0.25, 4.0, width=32), min_size=1, max_size=4))
def test_multibox_prior_matches_d2l(height, width, sizes, ratios):
    data = torch.zeros(1, 3, height, width)
    ours = d2lx.multibox_prior(data, sizes, ratios)
    assert ours.shape == (1, height * width * (len(sizes) + len(ratios) - 1), 4)
    _close(ours, d2l.multibox_prior(data, sizes, ratios))


def test_multibox_prior_rejects_bad_input():
    with pytest.raises(ValueError, match=r"data must have shape \(\.\.\., H, W\)"):
        d2lx.multibox_prior(torch.zeros(5), [0.5], [1])
    with pytest.raises(ValueError, match="sizes must be a non-empty list of positive numbers"):
        d2lx.multibox_prior(torch.zeros(2, 2), [], [1])
    with pytest.raises(ValueError, match="ratios must be"):
        d2lx.multibox_prior(torch.zeros(2, 2), [0.5], [1, -2])


# --- assignment, offsets, targets ------------------------------------------------------------------------------
@given(seeds, st.integers(1, 40), st.integers(1, 8), st.booleans())
def test_assign_anchor_to_bbox_matches_d2l(seed, num_anchors, num_gt, copy_anchors):
    g = torch.Generator().manual_seed(seed)
    anchors = _anchors(g, num_anchors)
    gt = _anchors(g, num_gt, positive=False)             # zero-area ground truths allowed
    if copy_anchors:                                     # ground truths equal to anchors: many exact ties
        gt = anchors[torch.randint(0, num_anchors, (num_gt,), generator=g)]
    ours = d2lx.assign_anchor_to_bbox(gt, anchors)
    assert torch.equal(ours, d2l.assign_anchor_to_bbox(gt, anchors, "cpu"))


def test_assignment_edges():
    anchors = torch.tensor([[0.0, 0.0, 0.5, 0.5]])
    assert d2lx.assign_anchor_to_bbox(torch.zeros(0, 4), anchors).tolist() == [-1]
    far = torch.tensor([[0.8, 0.8, 0.9, 0.9]])           # no overlap, still takes the anchor (d2l's quirk)
    assert d2lx.assign_anchor_to_bbox(far, anchors).tolist() == [0]
    empty = torch.tensor([[0.3, 0.3, 0.3, 0.3]])         # zero-area anchor and box: 0 / 0 is no overlap
    assert d2lx.assign_anchor_to_bbox(empty, empty).tolist() == [0]


def test_assignment_rejects_nan_iou():
    anchors = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    labels = torch.tensor([[[0.0, float("inf"), 0.0, float("inf"), 1.0]]])     # inf - inf: a NaN width
    with pytest.raises(ValueError, match="finite coordinates"):
        d2lx.multibox_target(anchors, labels)


@given(seeds, st.integers(1, 30))
def test_offset_boxes_and_inverse_match_d2l(seed, n):
    g = torch.Generator().manual_seed(seed)
    anchors, boxes = _anchors(g, n), _anchors(g, n, positive=False)
    _close(d2lx.offset_boxes(anchors, boxes), d2l.offset_boxes(anchors, boxes))
    preds = torch.randn(n, 4, generator=g)
    _close(d2lx.offset_inverse(anchors, preds), d2l.offset_inverse(anchors, preds))
    batched = torch.randn(3, n, 4, generator=g)
    _close(d2lx.offset_inverse(anchors, batched)[1], d2l.offset_inverse(anchors, batched[1]))


def test_offset_boxes_rejects_bad_input():
    anchors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]])
    with pytest.raises(ValueError, match=r"assigned_bb must have the shape of anchors, \(2, 4\)"):
        d2lx.offset_boxes(anchors, anchors[:1])
    with pytest.raises(ValueError, match=r"assigned_bb has x2 < x1"):
        d2lx.offset_boxes(anchors, anchors.flip(1))
    with pytest.raises(ValueError, match=r"anchors has NaN"):
        d2lx.offset_boxes(torch.full((2, 4), float("nan")), anchors)


@given(seeds, st.integers(1, 4), st.integers(1, 6), st.integers(1, 40), st.integers(1, 5))
def test_multibox_target_matches_d2l(seed, batch, num_gt, num_anchors, num_classes):
    g = torch.Generator().manual_seed(seed)
    anchors = _anchors(g, num_anchors)[None]
    boxes = torch.stack([_anchors(g, num_gt) for _ in range(batch)])
    classes = torch.randint(0, num_classes, (batch, num_gt, 1), generator=g).float()
    labels = torch.cat([classes, boxes], dim=2)
    for ours, ref in zip(d2lx.multibox_target(anchors, labels), d2l.multibox_target(anchors, labels)):
        _close(ours, ref)


@given(seeds, st.integers(1, 4), st.integers(2, 6), st.integers(1, 40))
def test_multibox_target_ignores_padding(seed, batch, num_gt, num_anchors):
    """Each padded image gives what d2l gives for the same image without its padding rows."""
    g = torch.Generator().manual_seed(seed)
    anchors = _anchors(g, num_anchors)[None]
    labels = torch.cat([torch.randint(0, 3, (batch, num_gt, 1), generator=g).float(),
                        torch.stack([_anchors(g, num_gt) for _ in range(batch)])], dim=2)
    real = torch.rand(batch, num_gt, generator=g) < 0.6
    real[:, 0] = True
    # padding rows are ignored whatever they hold, even NaN
    padding = [-1.0, -1.0, -1.0, -1.0, -1.0] if seed % 2 else [-1.0, float("nan"), 2.0, -3.0, float("nan")]
    labels[~real] = torch.tensor(padding)
    offsets, mask, classes = d2lx.multibox_target(anchors, labels)
    for i in range(batch):
        ref = d2l.multibox_target(anchors, labels[i, real[i]][None])
        for ours, theirs in zip((offsets[i:i + 1], mask[i:i + 1], classes[i:i + 1]), ref):
            _close(ours, theirs)


def test_multibox_target_edges_and_errors():
    anchors = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]]])
    offsets, mask, classes = d2lx.multibox_target(anchors, torch.zeros(0, 3, 5))
    assert offsets.shape == (0, 8) and classes.shape == (0, 2)
    all_padding = torch.full((2, 3, 5), -1.0)
    offsets, mask, classes = d2lx.multibox_target(anchors, all_padding)
    assert not mask.any() and not classes.any() and not offsets.any()
    with pytest.raises(ValueError, match=r"labels must have shape \(B, G, 5\)"):
        d2lx.multibox_target(anchors, torch.zeros(3, 5))
    bad = torch.tensor([[[0.0, 0.6, 0.6, 0.5, 0.5]]])
    with pytest.raises(ValueError, match="x2 < x1"):
        d2lx.multibox_target(anchors, bad)
    with pytest.raises(ValueError, match=r"anchors must have shape \(1, A, 4\) or \(A, 4\), got \(1, 3, 5\)"):
        d2lx.multibox_target(torch.zeros(1, 3, 5), torch.zeros(1, 1, 5))


# --- NMS -------------------------------------------------------------------------------------------------------
@settings(max_examples=300)
@given(corner_boxes(max_n=60), seeds, st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]), st.booleans())
def test_nms_matches_torchvision_exactly(boxes, seed, threshold, tie):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 3, (len(boxes),), generator=g).float() if tie else torch.rand(len(boxes), generator=g)
    ours = d2lx.nms(boxes, scores, threshold)
    assert torch.equal(ours, torchvision.ops.nms(boxes, scores, threshold))


@given(seeds, st.integers(1, 60), st.sampled_from([0.3, 0.5, 0.7]))
def test_nms_matches_d2l_on_distinct_scores(seed, n, threshold):
    g = torch.Generator().manual_seed(seed)
    boxes, scores = _anchors(g, n), torch.rand(n, generator=g)
    scores[-1] = scores[-1] + 2.0  # distinct even for the duplicate pair
    assert torch.equal(d2lx.nms(boxes, scores, threshold), d2l.nms(boxes, scores, threshold))


def test_nms_edges_and_errors():
    assert d2lx.nms(torch.zeros(0, 4), torch.zeros(0), 0.5).dtype == torch.long
    assert d2lx.nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0
    assert d2lx.nms(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([0.3]), 0.5).tolist() == [0]
    with pytest.raises(ValueError, match=r"scores must have shape \(2,\)"):
        d2lx.nms(torch.zeros(2, 4), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="boxes must have finite coordinates"):
        d2lx.nms(torch.tensor([[0.0, 0, float("inf"), 1]]), torch.zeros(1), 0.5)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"iou_threshold must be an IoU in \[0, 1\]"):
            d2lx.nms(torch.zeros(2, 4), torch.zeros(2), bad)


# --- multibox_detection ----------------------------------------------------------------------------------------
@given(seeds, st.integers(1, 3), st.integers(1, 40), st.integers(1, 6), st.sampled_from([0.3, 0.5, 0.7]),
       st.sampled_from([0.009999999, 0.3]))
def test_multibox_detection_matches_d2l(seed, batch, num_anchors, num_classes, nms_threshold, pos_threshold):
    g = torch.Generator().manual_seed(seed)
    anchors = _anchors(g, num_anchors)[None]
    probs = torch.rand(batch, num_classes + 1, num_anchors, generator=g).softmax(dim=1)
    offsets = torch.randn(batch, num_anchors * 4, generator=g) * 0.2
    ours = d2lx.multibox_detection(probs, offsets, anchors, nms_threshold, pos_threshold)
    ref = d2l.multibox_detection(probs, offsets, anchors, nms_threshold, pos_threshold)
    kept = ref[..., 0] >= 0
    assert torch.equal(ours[..., 0] >= 0, kept), "the rows with a class come first, in d2l's order"
    _close(ours[kept], ref[kept])
    for image in range(batch):  # the class -1 rows are d2l's, in another order
        _close(_sorted_rows(ours[image][~kept[image]]), _sorted_rows(ref[image][~kept[image]]))


@given(seeds, st.integers(1, 3), st.integers(1, 40), st.integers(2, 5))
def test_class_aware_detection_is_batched_nms(seed, batch, num_anchors, num_classes):
    g = torch.Generator().manual_seed(seed)
    anchors = _anchors(g, num_anchors)
    probs = torch.rand(batch, num_classes + 1, num_anchors, generator=g).softmax(dim=1)
    offsets = torch.randn(batch, num_anchors * 4, generator=g) * 0.2
    out = d2lx.multibox_detection(probs, offsets, anchors[None], 0.5, 0.0, class_aware=True)
    for i in range(batch):
        conf, cls = probs[i, 1:].max(dim=0)
        boxes = d2lx.offset_inverse(anchors, offsets[i].reshape(-1, 4))
        keep = torchvision.ops.batched_nms(boxes, conf, cls, 0.5)
        assert torch.equal(out[i, :len(keep), 0].long(), cls[keep])
        _close(out[i, :len(keep), 2:], boxes[keep])
        assert (out[i, len(keep):, 0] == -1).all()


def test_multibox_detection_edges_and_errors():
    anchors = torch.tensor([[[0.1, 0.1, 0.5, 0.5]]])
    assert d2lx.multibox_detection(torch.zeros(0, 2, 1), torch.zeros(0, 4), anchors).shape == (0, 1, 6)
    assert d2lx.multibox_detection(torch.zeros(2, 2, 0), torch.zeros(2, 0), torch.zeros(1, 0, 4)).shape == (2, 0, 6)
    with pytest.raises(ValueError, match=r"cls_probs must have shape \(B, 1 \+ C, A\)"):
        d2lx.multibox_detection(torch.zeros(2, 1), torch.zeros(1, 4), anchors)
    with pytest.raises(ValueError, match=r"C >= 1"):
        d2lx.multibox_detection(torch.zeros(1, 1, 1), torch.zeros(1, 4), anchors)
    with pytest.raises(ValueError, match=r"offset_preds \(1, 4\)"):
        d2lx.multibox_detection(torch.zeros(1, 2, 1), torch.zeros(1, 8), anchors)
    with pytest.raises(ValueError, match="NaN"):
        d2lx.multibox_detection(torch.full((1, 2, 1), float("nan")), torch.zeros(1, 4), anchors)
    with pytest.raises(ValueError, match=r"nms_threshold must be an IoU in \[0, 1\]"):
        d2lx.multibox_detection(torch.zeros(1, 2, 1), torch.zeros(1, 4), anchors, nms_threshold=-1)
    with pytest.raises(ValueError, match="offset_preds must be finite"):
        d2lx.multibox_detection(torch.zeros(1, 2, 1), torch.tensor([[0.0, 0, 500, 0]]), anchors)


def test_offset_inverse_rejects_bad_input():
    with pytest.raises(ValueError, match=r"offset_preds must have shape \(A, 4\) or \(B, A, 4\) with A = 2"):
        d2lx.offset_inverse(torch.zeros(2, 4), torch.zeros(3, 4))
    anchors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]])
    with pytest.raises(ValueError, match="offset_preds has NaN"):
        d2lx.offset_inverse(anchors, torch.tensor([[0.0, 0, 0, 0], [0, float("nan"), 0, 0]]))
    with pytest.raises(ValueError, match="anchors has x2 < x1"):
        d2lx.offset_inverse(anchors.flip(1), torch.zeros(2, 4))


def test_tinyssd_anchors_match_d2l():
    ref = torch.cat([d2l.multibox_prior(torch.zeros(1, 1, f, f), s, r)
                     for f, s, r in zip(d2lx.TINYSSD_FMAPS, d2lx.TINYSSD_SIZES, d2lx.TINYSSD_RATIOS)], dim=1)
    ours = d2lx.tinyssd_anchors()
    assert ours.shape == (1, 5444, 4)
    _close(ours, ref)


# --- what torchvision and d2l accept: tensors that require grad, float16, float64, integers ----------------------
def test_taught_functions_accept_tensors_that_require_grad():
    g = torch.Generator().manual_seed(0)
    anchors = _anchors(g, 30)
    boxes = anchors.clone().requires_grad_()
    scores = torch.rand(30, generator=g).requires_grad_()
    assert d2lx.box_iou(boxes, anchors).requires_grad
    assert torch.equal(d2lx.nms(boxes, scores, 0.5), torchvision.ops.nms(boxes, scores, 0.5))
    assigned = d2lx.assign_anchor_to_bbox(boxes[:3], anchors)
    assert torch.equal(assigned, d2l.assign_anchor_to_bbox(boxes[:3], anchors, "cpu"))
    preds = torch.randn(30, 4, generator=g).requires_grad_()
    assert d2lx.offset_inverse(anchors, preds).requires_grad
    labels = torch.cat([torch.zeros(2, 3, 1), boxes[:6].reshape(2, 3, 4)], dim=2)
    for ours, ref in zip(d2lx.multibox_target(anchors.requires_grad_(), labels), d2l.multibox_target(anchors, labels)):
        _close(ours.detach(), ref.detach())
    # the book's SSD predict() calls multibox_detection on network outputs, outside no_grad
    probs = torch.rand(2, 3, 30, generator=g).softmax(dim=1).requires_grad_()
    offsets = (torch.randn(2, 120, generator=g) * 0.1).requires_grad_()
    out = d2lx.multibox_detection(probs, offsets, anchors.detach()[None])
    assert out.shape == (2, 30, 6) and out.requires_grad


@settings(max_examples=200)
@given(seeds, st.integers(0, 80), st.sampled_from([0.3, 0.5, 0.7]))
def test_nms_decides_the_same_in_float16_float32_float64_and_integers(seed, n, threshold):
    """Boxes of a few hundred pixels, exactly representable in float16: their areas overflow float16."""
    g = torch.Generator().manual_seed(seed)
    corner = torch.randint(0, 400, (n, 2), generator=g)
    boxes = torch.cat([corner, corner + torch.randint(0, 300, (n, 2), generator=g)], dim=1)
    scores = torch.rand(n, generator=g)
    expected = torchvision.ops.nms(boxes.float(), scores, threshold)
    for dtype in (torch.float16, torch.float64, torch.int64, torch.int32):
        assert torch.equal(d2lx.nms(boxes.to(dtype), scores, threshold), expected), dtype
    torch.testing.assert_close(d2lx.box_iou(boxes.half(), boxes.half()), d2lx.box_iou(boxes.float(), boxes.float()),
                               rtol=0, atol=0, equal_nan=True)


def test_multibox_detection_takes_float16_and_float64():
    g = torch.Generator().manual_seed(0)
    anchors = _anchors(g, 40)[None]
    probs = torch.rand(2, 3, 40, generator=g).softmax(dim=1)
    offsets = torch.randn(2, 160, generator=g) * 0.2
    ref = d2lx.multibox_detection(probs, offsets, anchors)
    _close(d2lx.multibox_detection(probs.double(), offsets.double(), anchors.double()), ref.double())
    half = d2lx.multibox_detection(probs.half(), offsets.half(), anchors.half())
    assert half.shape == ref.shape and half.dtype == torch.float32


def test_named_errors_for_careless_input():
    with pytest.raises(TypeError, match="scores must be a torch.Tensor"):
        d2lx.nms(torch.zeros(2, 4), [0.5, 0.4], 0.5)
    with pytest.raises(TypeError, match="data must be a torch.Tensor"):
        d2lx.multibox_prior([[0.0] * 4] * 4, [0.5], [1])
    for bad in (float("inf"), 1e20, 1.5):
        labels = torch.tensor([[[bad, 0.1, 0.1, 0.5, 0.5]]])
        with pytest.raises(ValueError, match=r"labels\[\.\.\., 0\] must be whole class ids"):
            d2lx.multibox_target(torch.tensor([[0.0, 0.0, 0.5, 0.5]]), labels)


@settings(max_examples=400)
@given(seeds, st.integers(1, 12), st.integers(1, 7), st.integers(1, 3))
def test_multibox_target_matches_d2l_with_many_tied_ious(seed, num_anchors, num_gt, batch):
    """Boxes on a coarse grid: many exactly equal IoUs, so the greedy steps meet ties everywhere."""
    g = torch.Generator().manual_seed(seed)

    def grid_boxes(*shape):
        corner = torch.randint(0, 3, (*shape, 2), generator=g).float() / 4
        return torch.cat([corner, corner + torch.randint(1, 3, (*shape, 2), generator=g).float() / 4], dim=-1)

    anchors = grid_boxes(1, num_anchors)
    labels = torch.cat([torch.randint(0, 3, (batch, num_gt, 1), generator=g).float(), grid_boxes(batch, num_gt)], 2)
    for ours, ref in zip(d2lx.multibox_target(anchors, labels), d2l.multibox_target(anchors, labels)):
        _close(ours, ref)
