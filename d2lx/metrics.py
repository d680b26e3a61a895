"""Detection and segmentation metrics with torchmetrics: mean average precision fed
from d2l's tensor layouts, and the scores of a class map.

Hand-written (not exported from a notebook): the notebooks teach what mAP and IoU
measure; this module only builds torchmetrics' objects and converts d2l's layouts into
the lists of dicts that ``torchmetrics.detection.MeanAveragePrecision`` takes, so that
SSD, YOLO and the R-CNN family are scored by the same code.
"""

from __future__ import annotations

import torch

__all__ = [
    "MAX_DETECTIONS",
    "map_metric",
    "detections_to_preds",
    "padded_to_targets",
    "summarise",
    "segmentation_metrics",
]

#: COCO scores at most this many detections per image (the best by score).
MAX_DETECTIONS = 100


def map_metric(iou_type: str = "bbox"):
    """A fresh ``MeanAveragePrecision`` (COCO's definition: mAP@[.5:.95] and mAP@0.5,
    101-point interpolation)."""
    from torchmetrics.detection import MeanAveragePrecision

    return MeanAveragePrecision(
        box_format="xyxy", iou_type=iou_type, backend="pycocotools"
    )


def _check(tensor: torch.Tensor, name: str, width: int) -> None:
    if (
        not isinstance(tensor, torch.Tensor)
        or tensor.ndim != 3
        or tensor.shape[-1] != width
    ):
        shape = (
            tuple(tensor.shape)
            if isinstance(tensor, torch.Tensor)
            else type(tensor).__name__
        )
        raise ValueError(f"{name} must have shape (B, N, {width}), got {shape}")
    if torch.isnan(tensor).any():
        raise ValueError(f"{name} contains NaN")


def detections_to_preds(
    detections: torch.Tensor,
    size: tuple[int, int],
    max_detections: int = MAX_DETECTIONS,
) -> list[dict[str, torch.Tensor]]:
    """d2l's ``multibox_detection`` output, (B, N, 6) rows [class, score, x1, y1, x2,
    y2] with coordinates in [0, 1] and class -1 for dropped rows, as one dict per image:
    boxes in pixels of ``size`` (h, w), scores, labels; the ``max_detections`` best rows
    only."""
    _check(detections, "detections", 6)
    h, w = size
    scale = torch.tensor([w, h, w, h], dtype=detections.dtype, device=detections.device)
    preds = []
    for (
        rows
    ) in detections:  # one image at a time: each keeps a different number of rows
        rows = rows[rows[:, 0] >= 0]
        rows = rows[rows[:, 1].argsort(descending=True)[:max_detections]]
        preds.append(
            {
                "boxes": rows[:, 2:] * scale,
                "scores": rows[:, 1],
                "labels": rows[:, 0].long(),
            }
        )
    return preds


def padded_to_targets(
    padded: torch.Tensor, size: tuple[int, int]
) -> list[dict[str, torch.Tensor]]:
    """d2l's padded labels, (B, M, 5) rows [class, x1, y1, x2, y2] in [0, 1] with class
    -1 for padding, as one dict per image with boxes in pixels of ``size`` (h, w)."""
    _check(padded, "padded", 5)
    h, w = size
    scale = torch.tensor([w, h, w, h], dtype=padded.dtype, device=padded.device)
    return [
        {
            "boxes": rows[rows[:, 0] >= 0, 1:] * scale,
            "labels": rows[rows[:, 0] >= 0, 0].long(),
        }
        for rows in padded
    ]


def summarise(result: dict) -> dict[str, float]:
    """The two figures the notebooks compare, from
    ``MeanAveragePrecision.compute()``."""
    return {"mAP@0.5": float(result["map_50"]), "mAP@[.5:.95]": float(result["map"])}


def segmentation_metrics(num_classes: int, ignore_index: int = 255):
    """torchmetrics' scores of a class map, as one ``MetricCollection``: "pixel acc",
    "iou", the IoU of each class (num_classes,), and "confusion" [true, predicted].
    ``update(pred, target)`` with class maps (B, H, W); pixels labelled
    ``ignore_index`` (VOC's void) count in none."""
    from torchmetrics import MetricCollection
    from torchmetrics.classification import (
        MulticlassAccuracy,
        MulticlassConfusionMatrix,
        MulticlassJaccardIndex,
    )

    settings = dict(num_classes=num_classes, ignore_index=ignore_index)
    return MetricCollection(
        {
            "pixel acc": MulticlassAccuracy(average="micro", **settings),
            "iou": MulticlassJaccardIndex(average="none", **settings),
            "confusion": MulticlassConfusionMatrix(**settings),
        }
    )
