"""TinySSD (07_ssd) and the YOLOv1-style detector (09_yolo): shapes, the book's loss, the grid targets, the
decoder's class-aware NMS against torchvision's batched_nms, and mAP of perfect detectors. The d2l package does
not ship the SSD code, so the book's loss is restated here with the book's nn.CrossEntropyLoss and nn.L1Loss."""

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

import d2lx


def test_tinyssd_shapes_and_anchors():
    net = d2lx.TinySSD(num_classes=3)
    anchors, cls_preds, bbox_preds = net(torch.zeros(2, 3, 256, 256))
    assert anchors.shape == (1, 5444, 4) and cls_preds.shape == (2, 5444, 4) and bbox_preds.shape == (2, 5444 * 4)
    torch.testing.assert_close(anchors, d2lx.tinyssd_anchors())
    anchors, cls_preds, _ = net(torch.zeros(1, 3, 128, 128))
    assert anchors.shape == (1, (16**2 + 8**2 + 4**2 + 2**2 + 1) * 4, 4) and cls_preds.shape[1] == anchors.shape[1]


def test_calc_loss_and_figures_match_the_book():
    torch.manual_seed(0)
    cls_preds, bbox_preds = torch.randn(4, 50, 3), torch.randn(4, 200)
    cls_labels, bbox_labels = torch.randint(0, 3, (4, 50)), torch.randn(4, 200)
    bbox_masks = (torch.rand(4, 200) > 0.7).float()
    cls_loss, bbox_loss = nn.CrossEntropyLoss(reduction="none"), nn.L1Loss(reduction="none")  # the book's
    book = (cls_loss(cls_preds.reshape(-1, 3), cls_labels.reshape(-1)).reshape(4, -1).mean(dim=1)
            + bbox_loss(bbox_preds * bbox_masks, bbox_labels * bbox_masks).mean(dim=1))
    torch.testing.assert_close(d2lx.calc_loss(cls_preds, cls_labels, bbox_preds, bbox_labels, bbox_masks), book)
    assert d2lx.cls_eval(cls_preds, cls_labels) == float((cls_preds.argmax(-1) == cls_labels).sum())
    assert d2lx.bbox_eval(bbox_preds, bbox_labels, bbox_masks) == pytest.approx(
        float(((bbox_labels - bbox_preds).abs() * bbox_masks).sum()), rel=1e-5)


def test_make_trainer():
    net = nn.Linear(2, 2)
    assert d2lx.make_trainer(net, "sgd", 0.2, 5)[1] is None
    trainer, scheduler = d2lx.make_trainer(net, "adam", 1e-3, 5)
    assert isinstance(trainer, torch.optim.AdamW) and scheduler.T_max == 5
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adam'"):
        d2lx.make_trainer(net, "lbfgs", 1e-3, 5)


def test_a_few_ssd_steps_learn_and_evaluate():
    torch.manual_seed(0)
    X = torch.rand(4, 3, 64, 64)
    Y = torch.tensor([[[0, 0.1, 0.1, 0.6, 0.7], [-1, -1, -1, -1, -1]]] * 4)
    batches = [(X, Y)]
    net = d2lx.TinySSD(num_classes=1)
    trainer, _ = d2lx.make_trainer(net, "adam", 1e-2, 3)
    result = d2lx.train_ssd(net, batches, batches, 3, trainer, torch.device("cpu"))
    d2lx.plt.close("all")
    assert 0 <= result["mAP@0.5"] <= 1 and result["class err"] < 0.5 and result["train seconds"] > 0
    with pytest.raises(ValueError, match="train_iter is empty"):
        d2lx.train_ssd(net, [], batches, 1, trainer, torch.device("cpu"))


def test_evaluate_map_of_a_perfect_detector_is_one():
    Y = torch.tensor([[[0, 0.1, 0.1, 0.5, 0.5], [1, 0.5, 0.5, 0.9, 0.8]], [[1, 0.2, 0.3, 0.4, 0.9], [-1] * 5]])

    def perfect(X):
        rows = torch.full((len(Y), 3, 6), -1.0)
        rows[:, :2, 0], rows[:, :2, 1], rows[:, :2, 2:] = Y[..., 0], 1.0, Y[..., 1:]
        return rows

    scores = d2lx.evaluate_map(perfect, [(torch.zeros(2, 3, 32, 32), Y)], torch.device("cpu"))
    assert scores == {"mAP@0.5": 1.0, "mAP@[.5:.95]": 1.0}


# --- YOLO -------------------------------------------------------------------------------------------------------
@st.composite
def padded_labels(draw, n_images=3, max_objects=5, classes=3):
    rows = []
    for _ in range(n_images):
        k = draw(st.integers(0, max_objects))
        image = []
        for _ in range(k):
            x1, y1 = draw(st.floats(0, 0.9)), draw(st.floats(0, 0.9))
            w, h = draw(st.floats(0.02, 1 - x1)), draw(st.floats(0.02, 1 - y1))
            image.append([draw(st.integers(0, classes - 1)), x1, y1, min(x1 + w, 1.0), min(y1 + h, 1.0)])
        rows.append(image + [[-1.0] * 5] * (max_objects - k))
    return torch.tensor(rows, dtype=torch.float32)


@settings(max_examples=200, deadline=None)
@given(padded_labels(), st.sampled_from([1, 4, 7]))
def test_yolo_targets_put_each_object_in_its_centre_cell(labels, S):
    has_object, box, corners, cls = d2lx.yolo_targets(labels, S)
    real = labels[..., 0] >= 0
    centre = torch.stack(((labels[..., 1] + labels[..., 3]) / 2, (labels[..., 2] + labels[..., 4]) / 2), -1)
    cells = (centre * S).floor().clamp(0, S - 1).long()
    for n in range(labels.shape[0]):  # a reference written plainly, one object at a time
        expected = {}
        for m in range(labels.shape[1]):
            if real[n, m]:
                key = (int(cells[n, m, 1]), int(cells[n, m, 0]))
                area = float((labels[n, m, 3] - labels[n, m, 1]) * (labels[n, m, 4] - labels[n, m, 2]))
                if key not in expected or area >= expected[key][0]:
                    expected[key] = (area, m)
        assert {tuple(c) for c in has_object[n].nonzero().tolist()} == set(expected)
        for (i, j), (_, m) in expected.items():
            assert int(cls[n, i, j]) == int(labels[n, m, 0])
            torch.testing.assert_close(corners[n, i, j], labels[n, m, 1:])
    decoded = d2lx.cell_boxes(box[..., None, :])[..., 0, :]
    torch.testing.assert_close(decoded[has_object], corners[has_object], atol=1e-5, rtol=0)


def test_yolo_loss_is_zero_for_perfect_predictions_and_has_gradients():
    labels = torch.tensor([[[0, 0.1, 0.1, 0.3, 0.4], [2, 0.5, 0.5, 0.9, 0.8], [-1, -1, -1, -1, -1]]] * 2)
    has_object, box, _, cls = d2lx.yolo_targets(labels, 8)
    boxes = torch.zeros(2, 8, 8, 2, 5)
    boxes[..., 1, :4], boxes[..., 1, 4] = box, has_object.float()  # the second of the two boxes is responsible
    probs = F.one_hot(cls, 3).float()
    loss, responsible = d2lx.yolo_loss(boxes, probs, labels)
    assert float(loss) < 1e-9 and responsible == 4
    net = d2lx.YoloV1(num_classes=3)
    out = net(torch.rand(2, 3, 128, 128))
    assert out[0].shape == (2, 8, 8, 2, 5) and out[1].shape == (2, 8, 8, 3)
    loss, _ = d2lx.yolo_loss(*out, labels)
    loss.backward()
    assert float(loss.detach()) > 0 and all(p.grad is not None for p in net.parameters())


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.1, 0.9))
def test_yolo_detect_is_batched_nms_per_image_and_class(seed, threshold):
    generator = torch.Generator().manual_seed(seed)
    boxes = torch.rand(3, 4, 4, 2, 5, generator=generator)
    probs = torch.softmax(torch.randn(3, 4, 4, 3, generator=generator) * 3, dim=-1)
    out = d2lx.yolo_detect(boxes, probs, nms_threshold=threshold, score_threshold=0.05)
    corners = d2lx.cell_boxes(boxes).reshape(3, -1, 4).clamp(0, 1)
    scores, labels = (boxes[..., 4:5] * probs[..., None, :]).max(-1)
    scores, labels = scores.reshape(3, -1), labels.reshape(3, -1)
    for n in range(3):
        candidates = (scores[n] >= 0.05).nonzero().flatten()
        keep = candidates[torchvision.ops.batched_nms(corners[n, candidates], scores[n, candidates],
                                                      labels[n, candidates], threshold)]
        assert set((out[n, :, 0] >= 0).nonzero().flatten().tolist()) == set(keep.tolist())
        assert torch.equal(out[n, keep, 0].long(), labels[n, keep])
    torch.testing.assert_close(out[..., 2:], corners)
