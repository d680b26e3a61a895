"""The #@save functions of 01_image_augmentation and 02_fine_tuning, against d2l and torchvision."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torchvision
from d2l import torch as d2l
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn
from torchvision import tv_tensors
from torchvision.transforms import v2

import d2lx
from d2lx import image_augmentation as augmentation


def _batches(n_batches: int, batch: int = 4, size: int = 8, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, 3, size, size, generator=g), torch.randint(0, classes, (batch,), generator=g))
            for _ in range(n_batches)]


def _tiny_net(classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, classes))


# --- apply -----------------------------------------------------------------------------------------------------
def test_apply_fills_the_grid_and_checks_its_arguments():
    img = Image.new("RGB", (20, 10), "red")
    flip = v2.RandomHorizontalFlip(p=1.0)
    out = augmentation.apply(img, flip, 2, 3)
    assert len(out) == 6 and all(np.array_equal(np.asarray(o), np.asarray(img)[:, ::-1]) for o in out)
    assert len(augmentation.apply(torch.zeros(3, 5, 5), flip, 2, 2, num_images=3)) == 3
    with pytest.raises(ValueError, match="num_images.*2x4.*8.*got 9"):
        augmentation.apply(img, flip, num_images=9)
    with pytest.raises(ValueError, match="num_images"):
        augmentation.apply(img, flip, num_images=0)
    with pytest.raises(TypeError, match="img must be a PIL image.*got str"):
        augmentation.apply("cat.jpg", flip)
    with pytest.raises(ValueError, match=r"img must be an image.*\(C, H, W\), got shape \(5, 4, 4\)"):
        augmentation.apply(torch.zeros(5, 4, 4), flip)
    with pytest.raises(ValueError, match="num_rows and num_cols"):
        augmentation.apply(img, flip, 0, 4)
    d2lx.plt.close("all")


# --- boxes follow the image ------------------------------------------------------------------------------------
@settings(max_examples=100)  # each example runs the whole photometric + crop pipeline
@given(st.lists(st.tuples(st.integers(0, 90), st.integers(0, 60), st.integers(8, 60), st.integers(8, 40)),
                min_size=1, max_size=4), st.integers(0, 2**16))
def test_detection_transform_moves_boxes_with_the_pixels(raw, seed):
    height, width = 100, 150
    boxes = torch.tensor([[x, y, min(x + w, width), min(y + h, height)] for x, y, w, h in raw], dtype=torch.float32)
    masks = torch.zeros(len(boxes), height, width, dtype=torch.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
        masks[i, y1:y2, x1:x2] = 1
    target = {"boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(height, width)),
              "labels": torch.arange(len(boxes)), "masks": tv_tensors.Mask(masks)}
    torch.manual_seed(seed)
    image, out = d2lx.detection_transform((64, 96))(torch.randint(0, 256, (3, height, width), dtype=torch.uint8),
                                                    target)
    assert image.shape == (3, 64, 96) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    kept = out["masks"]  # SanitizeBoundingBoxes drops the masks of the boxes it drops
    assert len(out["boxes"]) == len(out["labels"]) == len(kept) <= len(boxes)
    b = out["boxes"]
    assert (b[:, 2:] > b[:, :2]).all() and (b[:, [0, 2]] <= 96).all() and (b[:, [1, 3]] <= 64).all()
    has_pixels = kept.flatten(1).any(dim=1).bool()
    if has_pixels.any():
        from_masks = torchvision.ops.masks_to_boxes(kept[has_pixels]) + torch.tensor([0, 0, 1, 1])
        assert (from_masks - b[has_pixels]).abs().max() <= 2.0


def test_detection_transform_eval_only_resizes():
    boxes = tv_tensors.BoundingBoxes([[10, 20, 50, 60]], format="XYXY", canvas_size=(100, 200))
    image, out = d2lx.detection_transform((50, 100), train=False)(torch.zeros(3, 100, 200, dtype=torch.uint8),
                                                                  {"boxes": boxes, "labels": torch.tensor([1])})
    assert image.shape == (3, 50, 100)
    assert out["boxes"].tolist() == [[5.0, 10.0, 25.0, 30.0]]


# --- the CIFAR loader ------------------------------------------------------------------------------------------
def test_load_cifar10_keeps_the_first_per_class(monkeypatch, data_dir):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    loader = d2lx.load_cifar10(True, None, 16, per_class=7)
    subset = loader.dataset
    targets = np.array(subset.dataset.targets)
    expected = sorted(i for c in range(10) for i in np.flatnonzero(targets == c)[:7])  # the obvious loop
    assert subset.indices == expected
    assert len(d2lx.load_cifar10(False, None, 16).dataset) == 1000


# --- ResNet-18 -------------------------------------------------------------------------------------------------
def test_resnet18_is_d2ls_resnet18():
    torch.manual_seed(0)
    theirs = d2l.resnet18(10, 3)
    theirs(torch.zeros(2, 3, 32, 32))  # materialise the lazy layers
    ours = d2lx.resnet18(10, 3)
    ours.load_state_dict(theirs.state_dict(), strict=True)  # same layers, same names, same shapes
    x = torch.randn(4, 3, 32, 32)
    theirs.eval(), ours.eval()
    torch.testing.assert_close(ours(x), theirs(x))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert d2lx.resnet18(5)(torch.zeros(1, 1, 16, 16)).shape == (1, 5)


# --- training --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_train_batch_matches_d2l(reduction):
    X, y = _batches(1)[0]
    ours_net, theirs_net = _tiny_net(), _tiny_net()
    loss = nn.CrossEntropyLoss(reduction=reduction)
    ours_opt = torch.optim.SGD(ours_net.parameters(), lr=0.1)
    theirs_opt = torch.optim.SGD(theirs_net.parameters(), lr=0.1)
    ours = d2lx.train_batch_ch13(ours_net, X, y, loss, ours_opt, [torch.device("cpu")])
    theirs = d2l.train_batch_ch13(theirs_net, X, y, loss, theirs_opt, [torch.device("cpu")])
    for a, b in zip(ours_net.parameters(), theirs_net.parameters()):
        torch.testing.assert_close(a, b)  # the same step
    assert ours[1] == int(theirs[1])
    per_example = nn.functional.cross_entropy(_tiny_net()(X), y, reduction="sum").detach()
    assert ours[0] == pytest.approx(float(per_example), rel=1e-5), "the summed per-example loss either way"


def test_evaluate_accuracy_matches_d2l():
    net, batches = _tiny_net(), _batches(5, classes=3, seed=1)
    assert d2lx.evaluate_accuracy_gpu(net, batches) == pytest.approx(d2l.evaluate_accuracy_gpu(net, batches))
    with pytest.raises(ValueError, match="data_iter is empty"):
        d2lx.evaluate_accuracy_gpu(net, [])


def test_train_ch13_on_cpu_with_few_batches():
    """d2l's version fails here: IndexError without a GPU, ZeroDivisionError under five batches."""
    batches = _batches(3)
    with pytest.raises((IndexError, ZeroDivisionError)):
        d2l.train_ch13(_tiny_net(), batches, batches, nn.CrossEntropyLoss(reduction="none"),
                       torch.optim.SGD(_tiny_net().parameters(), lr=0.1), 1)
    d2lx.plt.close("all")
    net = _tiny_net()
    trainer = torch.optim.SGD(net.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(trainer, 1, 0.5)
    result = d2lx.train_ch13(net, batches, batches, nn.CrossEntropyLoss(reduction="none"), trainer, 2,
                             scheduler=scheduler)
    assert result["test acc"] == pytest.approx(d2lx.evaluate_accuracy_gpu(net, batches))
    assert result["history"]["test acc"][0] == [1.0, 2.0]
    assert trainer.param_groups[0]["lr"] == pytest.approx(0.025)
    assert 0 <= result["train acc"] <= 1 and result["train loss"] > 0 and result["examples/sec"] > 0
    with pytest.raises(ValueError, match="train_iter is empty"):
        d2lx.train_ch13(net, [], batches, nn.CrossEntropyLoss(), trainer, 1)


def test_train_ch13_without_a_test_set(capsys):
    """The final run on all the training data (14_kaggle_cifar10) has nothing to evaluate on."""
    net = _tiny_net()
    result = d2lx.train_ch13(net, _batches(3), None, nn.CrossEntropyLoss(), torch.optim.SGD(net.parameters(), 0.1), 2)
    assert result["test acc"] is None and "test acc" not in result["history"]
    assert len(result["history"]["train loss"][0]) > 0 and "test acc" not in capsys.readouterr().out


def test_train_ch13_is_deterministic():
    def run():
        d2lx.set_seed(3)
        net = _tiny_net()
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*map(torch.cat, zip(*_batches(4)))),
                                             batch_size=4, shuffle=True)
        return d2lx.train_ch13(net, loader, loader, nn.CrossEntropyLoss(), torch.optim.Adam(net.parameters()), 2)

    a, b = run(), run()
    assert a["history"] == b["history"]


# --- fine-tuning helpers ---------------------------------------------------------------------------------------
def test_replace_head_on_torchvision_timm_and_vgg_like():
    resnet = torchvision.models.resnet18(weights=None)
    net, head = d2lx.replace_head(resnet, 2)
    assert net.fc is head and head.out_features == 2 and head.in_features == 512
    assert torch.count_nonzero(head.bias) == 0
    import timm

    lite = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    net, head = d2lx.replace_head(lite, 3)
    assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 3) and head is net.get_classifier()
    vgg_like = nn.Module()
    vgg_like.classifier = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1000))
    _, head = d2lx.replace_head(vgg_like, 4)
    assert vgg_like.classifier[-1] is head and head.in_features == 8
    with pytest.raises(TypeError, match="output layer of a Conv2d"):
        d2lx.replace_head(nn.Conv2d(1, 1, 1), 2)
    with pytest.raises(ValueError, match="num_classes"):
        d2lx.replace_head(resnet, 0)


def test_reinitialise_forgets_weights_and_statistics():
    net = _tiny_net()
    net[1].running_mean.fill_(5.0)
    before = copy.deepcopy(net.state_dict())
    d2lx.reinitialise(net)
    after = net.state_dict()
    assert not torch.equal(before["0.weight"], after["0.weight"])
    assert torch.equal(after["1.running_mean"], torch.zeros(4))
    assert all(before[k].shape == after[k].shape for k in before)
