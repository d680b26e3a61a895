"""The offline ImageNet backbone really is pretrained: it names the package photos correctly."""

from __future__ import annotations

import pytest
from skimage import data as skdata

from d2lx import pretrained

CATS = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def lite0():
    return pretrained.efficientnet_lite0()


def test_offline_backbone_knows_a_cat_and_an_espresso(lite0):
    top_cat = lite0.classify(skdata.chelsea(), topk=3)
    assert top_cat[0][0] in CATS, top_cat
    top_coffee = lite0.classify(skdata.coffee(), topk=1)
    assert top_coffee[0][0] == "espresso" and top_coffee[0][1] > 0.5, top_coffee


def test_preprocess_shape_and_normalisation(lite0):
    x = lite0.preprocess(skdata.astronaut())
    assert x.shape == (3, 224, 224) and lite0.mean == (0.5, 0.5, 0.5)
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert len(lite0.categories) == 1000


def test_backbone_falls_back_offline(monkeypatch, capsys):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    monkeypatch.setattr(pretrained, "_cached", lambda weights: False)
    result = pretrained.backbone("resnet18")
    assert "EfficientNet-Lite0" in result.name and "instead of torchvision resnet18" in capsys.readouterr().out


def test_backbone_rejects_unknown_architectures():
    with pytest.raises(ValueError, match="arch must be one of"):
        pretrained.backbone("resnet1000")


def test_feature_stages_of_a_resnet_are_strides_8_16_32_on_a_copy():
    import torch
    import torchvision

    resnet = torchvision.models.resnet18(weights=None)
    stages = pretrained.FeatureStages(resnet)
    assert stages.channels == [128, 256, 512]
    assert dict(stages.body.named_buffers())["bn1.num_batches_tracked"] == 0, "the probe ran in eval mode"
    maps = stages(torch.zeros(2, 3, 64, 96))
    assert [tuple(f.shape) for f in maps] == [(2, 128, 8, 12), (2, 256, 4, 6), (2, 512, 2, 3)]
    before = resnet.layer4[0].conv1.weight.clone()
    with torch.no_grad():
        dict(stages.body.named_parameters())["layer4.0.conv1.weight"].add_(1.0)
    assert torch.equal(resnet.layer4[0].conv1.weight, before), "training the stages leaves the classifier alone"
    assert stages.training


def test_feature_stages_of_lite0_keep_its_pretrained_weights(lite0):
    import torch

    stages = pretrained.feature_stages(lite0)
    assert stages.channels == [40, 112, 320]
    classifier = lite0.model.state_dict()
    body = stages.body.state_dict()
    shared = [k for k in body if k in classifier]
    assert len(shared) == len(body) and all(torch.equal(body[k], classifier[k]) for k in shared)
    with torch.no_grad():
        assert [f.shape[-1] for f in stages.eval()(torch.rand(1, 3, 64, 64))] == [8, 4, 2]
