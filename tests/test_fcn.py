"""12_fcn: bilinear_kernel against F.interpolate, the FCN's shapes and skips, the segmentation scores against an
independent count, train_fcn, VOCInstances, and the prediction-vs-truth widget."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.classification import multiclass_jaccard_index

import d2lx
from d2lx import fcn, voc


@settings(max_examples=60)
@given(st.sampled_from([2, 3, 4, 8, 16, 32]), st.integers(2, 7), st.integers(2, 7), st.integers(1, 3), st.data())
def test_bilinear_kernel_upsampling_is_bilinear_interpolation_inside(factor, h, w, c, data):
    X = torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(data.draw(st.integers(0, 2 ** 31))))
    up = fcn.upsample(c, factor) if factor % 2 == 0 else None
    if up is None:  # odd factors: the kernel is still the tent function, centred on a pixel
        kernel = fcn.bilinear_kernel(1, 1, 2 * factor - 1)[0, 0]
        assert kernel.argmax() == (factor - 1) * (2 * factor) and torch.allclose(kernel, kernel.flip(0, 1))
        return
    Y = up(X).detach()
    assert Y.shape == (1, c, h * factor, w * factor)
    ref = F.interpolate(X, scale_factor=factor, mode="bilinear", align_corners=False)
    b = factor // 2
    torch.testing.assert_close(Y[..., b:-b, b:-b], ref[..., b:-b, b:-b])
    assert not torch.allclose(Y[..., :b, :], ref[..., :b, :]), "the border differs: zeros beyond the edge"


def test_bilinear_kernel_does_not_mix_channels():
    weight = fcn.bilinear_kernel(3, 3, 4)
    assert weight.shape == (3, 3, 4, 4)
    assert (weight[0, 1] == 0).all() and torch.equal(weight[0, 0], weight[2, 2])
    assert torch.allclose(weight[0, 0][1:3, 1:3], torch.full((2, 2), 0.5625))


class _Stages(nn.Module):
    """A stand-in backbone: stride-8, 16 and 32 maps by average pooling and a 1 x 1 convolution."""

    channels = [4, 5, 6]

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3, c, 1) for c in self.channels)

    def forward(self, x):
        return [conv(F.avg_pool2d(x, s)) for conv, s in zip(self.convs, (8, 16, 32))]


def test_fcn_shapes_skips_and_bad_stride():
    X = torch.rand(2, 3, 64, 96)
    net = fcn.FCN(_Stages(), 21)
    assert net(X).shape == (2, 21, 64, 96) and net.final_conv.in_channels == 6
    assert net.transpose_conv.stride == (32, 32) and net.transpose_conv.kernel_size == (64, 64)
    for stride, skips in ((16, 1), (8, 2)):
        net = fcn.FCNSkips(_Stages(), 21, stride)
        assert net(X).shape == (2, 21, 64, 96)
        assert len(net.scores) == skips + 1 and len(net.up2) == skips
        assert all((s.weight == 0).all() and (s.bias == 0).all() for s in net.scores[1:])
        assert net.up_last.stride == (stride, stride) and net.up_last.kernel_size == (2 * stride,) * 2
    for bad in (32, 4):
        with pytest.raises(ValueError, match="stride"):
            fcn.FCNSkips(_Stages(), 21, bad)


def test_skips_start_at_zero_so_fcn_8s_starts_from_its_coarse_scores():
    net = fcn.FCNSkips(_Stages(), 3, 8)
    X = torch.rand(1, 3, 128, 160)
    coarse = net.scores[0](net.stages(X)[2])
    for up in net.up2:
        coarse = up(coarse)
    torch.testing.assert_close(net(X), net.up_last(coarse))


def test_fcn_32s_at_initialisation_is_bilinear_upsampling_of_the_scores():
    net = fcn.FCN(_Stages(), 5)
    X = torch.rand(1, 3, 128, 160)
    scores = net.final_conv(net.stages(X)[2])
    ref = F.interpolate(scores, scale_factor=32, mode="bilinear", align_corners=False)
    torch.testing.assert_close(net(X)[..., 16:-16, 16:-16], ref[..., 16:-16, 16:-16])


class _Fixed(nn.Module):
    """A 'network' whose prediction is a given class map."""

    def __init__(self, preds, num_classes):
        super().__init__()
        self.preds, self.num_classes, self.anchor = preds, num_classes, nn.Parameter(torch.zeros(1))
        self.i = 0

    def forward(self, X):
        pred = self.preds[self.i]
        self.i += 1
        return F.one_hot(pred, self.num_classes).permute(0, 3, 1, 2).float()


@settings(max_examples=60)
@given(st.integers(2, 6), st.integers(1, 3), st.data())
def test_segmentation_scores_count_pixels(num_classes, batches, data):
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2 ** 31)))
    labels = [torch.randint(0, num_classes, (2, 5, 7), generator=g) for _ in range(batches)]
    for y in labels:
        y[torch.rand(y.shape, generator=g) < 0.2] = 255  # void
    preds = [torch.randint(0, num_classes, (2, 5, 7), generator=g) for _ in range(batches)]
    scores = fcn.segmentation_scores(_Fixed(preds, num_classes), [(torch.zeros(2, 3, 5, 7), y) for y in labels],
                                     num_classes)
    pred, label = torch.cat(preds).flatten(), torch.cat(labels).flatten()
    valid = label != 255
    pred, label = pred[valid].numpy(), label[valid].numpy()
    assert float(scores["pixel acc"]) == pytest.approx((pred == label).mean(), abs=1e-6)
    ious = []
    for c in range(num_classes):
        union = np.sum((pred == c) | (label == c))
        iou = np.sum((pred == c) & (label == c)) / union if union else 0.0
        assert float(scores["iou"][c]) == pytest.approx(iou, abs=1e-6)
        if np.any(label == c):
            ious.append(iou)
    assert float(scores["mIoU"]) == pytest.approx(np.mean(ious), abs=1e-6), "the mean over the labels' classes"
    conf = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(conf, (label, pred), 1)
    assert np.array_equal(scores["confusion"].numpy(), conf)


def test_train_fcn_lowers_the_loss_and_reports():
    torch.manual_seed(0)
    # the class follows the red channel of 8 x 8 blocks, which the stride-8 map can see
    X = torch.rand(8, 3, 4, 4).repeat_interleave(8, 2).repeat_interleave(8, 3)
    Y = (X[:, 0] > 0.5).long()
    Y[:, 0, 0] = 255
    batches = [(X[i:i + 4], Y[i:i + 4]) for i in (0, 4)]
    net = fcn.FCNSkips(_Stages(), 2, 8)
    trainer = torch.optim.Adam(net.parameters(), lr=0.05)
    result = fcn.train_fcn(net, batches, batches, 30, trainer, "cpu")
    assert {"loss", "pixel acc", "mIoU", "train seconds", "history"} <= set(result)
    _, ratios = result["history"]["loss / first loss"]  # ([epoch, ...], [value, ...])
    _, accuracies = result["history"]["val pixel acc"]
    assert ratios[-1] < 1 and accuracies[0] < 0.9 < accuracies[-1] == result["pixel acc"] <= 1


def test_voc_instances_dataset_gives_detection_targets(tmp_path):
    root = tmp_path / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    (root / "ImageSets/Segmentation/val.txt").write_text("a\n")
    Image.fromarray(np.zeros((8, 10, 3), dtype=np.uint8)).save(root / "JPEGImages/a.jpg")
    classes = np.zeros((8, 10, 3), dtype=np.uint8)
    classes[1:4, 1:4] = voc.PALETTE[8]
    classes[5:7, 2:9] = voc.PALETTE[16]
    Image.fromarray(classes).save(root / "SegmentationClass/a.png")
    objects = np.zeros((8, 10), dtype=np.uint8)
    objects[1:4, 1:4], objects[5:7, 2:9] = 1, 2
    png = Image.fromarray(objects, "P")
    png.putpalette([v for c in voc.PALETTE for v in c])
    png.save(root / "SegmentationObject/a.png")
    image, target = fcn.VOCInstances(root, False, lambda image, target: (image, target))[0]
    assert image.shape == (3, 8, 10)
    assert target["labels"].tolist() == [7, 15], "VOC class - 1: cat, potted plant"
    assert target["boxes"].tolist() == [[1, 1, 4, 4], [2, 5, 9, 7]]
    assert target["masks"].shape == (2, 8, 10) and target["masks"].sum().item() == 9 + 14


def test_class_iou_matches_torchmetrics():
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        pred, label = torch.randint(0, 4, (6, 9), generator=g), torch.randint(0, 4, (6, 9), generator=g)
        label[0] = 255
        ours = d2lx.widgets.class_iou(pred, label, 6)
        theirs = multiclass_jaccard_index(pred, label, 6, average="none", ignore_index=255)
        seen = ~torch.isnan(ours)
        torch.testing.assert_close(ours[seen].float(), theirs[seen])
        assert not seen[4:].any(), "classes in neither map are NaN"


def test_segmentation_widget_follows_its_controls():
    label = torch.zeros(4, 6, dtype=torch.long)
    label[1:3, 1:4] = 8
    label[0, 0] = 255
    pred = torch.zeros(4, 6, dtype=torch.long)
    pred[1:3, 2:5] = 8
    fig, state = d2lx.widgets.draw_segmentation(torch.zeros(3, 4, 6), pred, label, "cat", d2lx.VOC_CLASSES)
    assert state["iou"]["cat"] == pytest.approx(4 / 8)
    errors = fig.axes[3].images[0].get_array()
    assert np.allclose(errors[1, 2], (0.2, 0.7, 0.2)) and np.allclose(errors[1, 4], (0.9, 0.2, 0.2))
    assert np.allclose(errors[1, 1], (0.2, 0.4, 0.9)) and np.allclose(errors[0, 0], 0.8)
    view = d2lx.widgets.SegmentationView([torch.zeros(3, 4, 6)] * 2, [pred, label], [label, label], d2lx.VOC_CLASSES)
    assert view.controls["shown"].options == ("cat",) and view.state["iou"]["cat"] == pytest.approx(0.5)
    view.controls["index"].value = 1
    assert view.state["iou"] == {"background": 1.0, "cat": 1.0} and "image 1" in view.caption.value
    with pytest.raises(ValueError, match="pred is"):
        d2lx.widgets.draw_segmentation(torch.zeros(3, 4, 6), pred[:3], label, "cat", d2lx.VOC_CLASSES)
