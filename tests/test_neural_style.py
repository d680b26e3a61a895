"""The #@save functions of 13_neural_style against their formulas, bad input, and the style-weights widget."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

import d2lx
from d2lx import neural_style as nst
from d2lx import widgets

shapes = st.tuples(st.integers(1, 6), st.integers(2, 9), st.integers(2, 9))


@given(shapes, st.integers(0, 2**16))
def test_gram_and_losses_match_their_formulas(shape, seed):
    c, h, w = shape
    g = torch.Generator().manual_seed(seed)
    X, Y = torch.randn(1, c, h, w, generator=g, dtype=torch.float64), torch.randn(1, c, h, w, generator=g,
                                                                                    dtype=torch.float64)
    flat = X.reshape(c, h * w)
    expected = torch.stack([torch.stack([(flat[i] * flat[j]).sum() for j in range(c)]) for i in range(c)])
    torch.testing.assert_close(nst.gram(X), expected / (c * h * w))
    torch.testing.assert_close(nst.content_loss(X, Y), ((X - Y) ** 2).sum() / X.numel())
    torch.testing.assert_close(nst.style_loss(X, nst.gram(Y)), ((nst.gram(X) - nst.gram(Y)) ** 2).mean())
    vertical = sum(abs(float(X[0, k, i + 1, j] - X[0, k, i, j])) for k in range(c) for i in range(h - 1)
                   for j in range(w))
    horizontal = sum(abs(float(X[0, k, i, j + 1] - X[0, k, i, j])) for k in range(c) for i in range(h)
                     for j in range(w - 1))
    tv = 0.5 * (vertical / (c * (h - 1) * w) + horizontal / (c * h * (w - 1)))
    assert float(nst.tv_loss(X)) == pytest.approx(tv, rel=1e-9)
    contents_l, styles_l, tv_l, total = nst.compute_loss(X, [X], [X], [Y], [nst.gram(Y)], weights=(2.0, 3.0, 5.0))
    assert float(total) == pytest.approx(float(2 * nst.content_loss(X, Y) + 3 * nst.style_loss(X, nst.gram(Y))
                                               + 5 * nst.tv_loss(X)))


def test_preprocess_converts_and_refuses():
    rgb = Image.new("RGB", (40, 30), (200, 100, 50))
    for mode in ("L", "RGBA", "P"):
        assert nst.preprocess(rgb.convert(mode), (32, 48)).shape == (1, 3, 32, 48), mode
    assert nst.preprocess(torch.zeros(1, 20, 20, dtype=torch.uint8), (32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="too small"):
        nst.preprocess(Image.new("RGB", (10, 40)), (32, 32))
    with pytest.raises(ValueError, match="image_shape must be"):
        nst.preprocess(rgb, (8, 8))
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        nst.preprocess(torch.zeros(2, 20, 20), (32, 32))
    x = nst.preprocess(rgb, (32, 40))
    assert nst.postprocess(x).getpixel((5, 5)) == pytest.approx((200, 100, 50), abs=1)


def test_missing_photo_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        d2lx.data.read_image(tmp_path / "nope.jpg")


def test_feature_layers_and_extract_features():
    import torchvision

    vgg = torchvision.models.vgg11(weights=None)
    assert nst.feature_layers(vgg) is vgg.features
    import timm

    lite = nst.feature_layers(timm.create_model("tf_efficientnet_lite0", pretrained=False))
    assert len(lite) == 9
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.ReLU())
    contents, styles = nst.extract_features(torch.randn(1, 3, 10, 10), [2], [0, 3], net)
    assert [c.shape[1] for c in contents] == [5] and [s.shape[1] for s in styles] == [4, 5]
    with pytest.raises(TypeError, match="feature layers of a Linear"):
        nst.feature_layers(nn.Linear(2, 2))


@settings(max_examples=5)
@given(st.sampled_from(["adam", "lbfgs"]))
def test_train_lowers_the_style_loss(optimizer):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)).requires_grad_(False)
    content, style = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16) * 2
    contents_Y, _ = nst.extract_features(content, [2], [0, 2], net)
    _, styles_Y = nst.extract_features(style, [2], [0, 2], net)
    out, history = nst.train(content, contents_Y, styles_Y, "cpu", 0.05 if optimizer == "adam" else 1.0, 30,
                              net=net, content_layers=[2], style_layers=[0, 2], optimizer=optimizer)
    assert out.shape == content.shape and len(history["style"]) >= 30 and len(history["seconds"]) >= 30
    assert history["style"][-1] < 0.5 * history["style"][0]
    assert history["content"][0] == 0.0, "it starts from the content image"


def test_train_rejects_a_bad_optimizer_and_diverging_runs():
    net = nn.Sequential(nn.Conv2d(3, 2, 1))
    X = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="optimizer must be"):
        nst.train(X, [X], [X], "cpu", 0.1, 1, net=net, content_layers=[0], style_layers=[0], optimizer="sgd")
    Y = net(X)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        nst.train(X * float("nan"), [Y], [Y], "cpu", 0.1, 1, net=net, content_layers=[0], style_layers=[0])


def test_save_image_is_atomic(data_dir):
    path = d2lx.data.save_image(Image.new("RGB", (4, 4), "red"), "results/x.png")
    assert path.is_file() and Image.open(path).size == (4, 4)
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.png"], "no temporary file left behind"


def test_style_weights_widget_shows_previous_and_current():
    calls = []

    def run(content_weight, style_weight, tv_weight, height):
        calls.append((content_weight, style_weight, tv_weight, height))
        return Image.new("RGB", (height * 3 // 2, height), (int(style_weight) % 256, 0, 0))

    view = widgets.StyleWeights(run, 1.0, 100.0, 10.0, 64)
    assert view.state["previous"] is None and view.state["current"].size == (96, 64)
    view.controls["style_weight"].value = 1000.0
    assert calls[-1] == (1.0, 1000.0, 10.0, 64)
    assert view.state["previous"].getpixel((0, 0))[0] == 100 and "1e+03" in view.caption.value
    view.controls["height"].value = 48
    assert view.state["current"].size == (72, 48)


def test_offline_photos_for_style_transfer(monkeypatch, data_dir):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    content, _ = d2lx.data.photo("rainier.jpg", quiet=True)
    style, _ = d2lx.data.photo("autumn-oak.jpg", quiet=True)
    assert content.size == (640, 427) and style.size == (512, 512)
