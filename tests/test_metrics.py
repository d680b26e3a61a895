"""mAP (d2lx.metrics): torchmetrics agrees with pycocotools itself on a small fixed example, and the layout
converters keep exactly the rows they should."""

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from d2lx import metrics

# Two images, two classes. Image 0: two cats, found well and badly, plus a false alarm; image 1: a cup found
# twice (one duplicate) and a missed cat.
TARGETS = [
    {"boxes": torch.tensor([[10.0, 10, 60, 60], [100, 100, 180, 150]]), "labels": torch.tensor([0, 0])},
    {"boxes": torch.tensor([[20.0, 30, 90, 120], [150, 20, 200, 70]]), "labels": torch.tensor([1, 0])},
]
PREDS = [
    {"boxes": torch.tensor([[12.0, 8, 62, 58], [110, 95, 200, 160], [200, 200, 240, 250]]),
     "scores": torch.tensor([0.9, 0.6, 0.7]), "labels": torch.tensor([0, 0, 0])},
    {"boxes": torch.tensor([[22.0, 28, 88, 118], [40, 60, 100, 130]]),
     "scores": torch.tensor([0.8, 0.75]), "labels": torch.tensor([1, 1])},
]


def coco_reference(preds, targets) -> tuple[float, float]:
    """mAP@[.5:.95] and mAP@0.5 computed by pycocotools directly."""
    def xywh(box):
        x1, y1, x2, y2 = box.tolist()
        return [x1, y1, x2 - x1, y2 - y1]

    gt = COCO()
    annotations, detections = [], []
    for i, t in enumerate(targets):
        for box, label in zip(t["boxes"], t["labels"]):
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(label),
                                "bbox": xywh(box), "area": float((box[2] - box[0]) * (box[3] - box[1])),
                                "iscrowd": 0})
    for i, p in enumerate(preds):
        for box, score, label in zip(p["boxes"], p["scores"], p["labels"]):
            detections.append({"image_id": i, "category_id": int(label), "bbox": xywh(box), "score": float(score)})
    gt.dataset = {"images": [{"id": i} for i in range(len(targets))], "annotations": annotations,
                  "categories": [{"id": c} for c in (0, 1)]}
    gt.createIndex()
    evaluation = COCOeval(gt, gt.loadRes(detections), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return float(evaluation.stats[0]), float(evaluation.stats[1])


def test_torchmetrics_agrees_with_pycocotools():
    metric = metrics.map_metric()
    metric.update(PREDS, TARGETS)
    ours = metrics.summarise(metric.compute())
    reference = coco_reference(PREDS, TARGETS)
    assert ours["mAP@[.5:.95]"] == pytest.approx(reference[0], abs=1e-6)
    assert ours["mAP@0.5"] == pytest.approx(reference[1], abs=1e-6)
    assert 0.3 < ours["mAP@0.5"] < 1  # the example is neither perfect nor hopeless


def test_a_perfect_detector_scores_one():
    metric = metrics.map_metric()
    perfect = [{"boxes": t["boxes"], "scores": torch.ones(len(t["labels"])), "labels": t["labels"]} for t in TARGETS]
    metric.update(perfect, TARGETS)
    assert metrics.summarise(metric.compute()) == {"mAP@0.5": 1.0, "mAP@[.5:.95]": 1.0}


def test_detections_to_preds_keeps_the_best_real_rows():
    rows = torch.tensor([[[0, 0.2, 0.1, 0.1, 0.5, 0.5], [-1, 0.9, 0, 0, 1, 1], [1, 0.8, 0.2, 0.2, 0.4, 0.6],
                          [0, 0.5, 0.0, 0.0, 0.25, 0.5]]])
    (pred,) = metrics.detections_to_preds(rows, (100, 200), max_detections=2)
    assert pred["labels"].tolist() == [1, 0] and pred["scores"].tolist() == pytest.approx([0.8, 0.5])
    torch.testing.assert_close(pred["boxes"], torch.tensor([[40.0, 20, 80, 60], [0, 0, 50, 50]]))
    empty = metrics.detections_to_preds(torch.full((2, 3, 6), -1.0), (10, 10))
    assert [p["boxes"].shape for p in empty] == [(0, 4), (0, 4)]


def test_padded_to_targets_drops_padding():
    padded = torch.tensor([[[2, 0.1, 0.2, 0.3, 0.4], [-1, -1, -1, -1, -1]], [[-1] * 5, [-1] * 5]], dtype=torch.float)
    first, second = metrics.padded_to_targets(padded, (10, 20))
    assert first["labels"].tolist() == [2] and second["labels"].numel() == 0
    torch.testing.assert_close(first["boxes"], torch.tensor([[2.0, 2, 6, 4]]))


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(3, 6), r"detections must have shape \(B, N, 6\), got \(3, 6\)"),
    (torch.zeros(1, 3, 5), r"detections must have shape \(B, N, 6\), got \(1, 3, 5\)"),
    (torch.full((1, 1, 6), np.nan), "detections contains NaN"),
])
def test_converters_reject_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        metrics.detections_to_preds(bad, (10, 10))
    with pytest.raises(ValueError, match=r"padded must have shape \(B, N, 5\)"):
        metrics.padded_to_targets(torch.zeros(2, 5), (10, 10))
