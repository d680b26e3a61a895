"""The R-CNN family (08_rcnn): RoI pooling and RoI align against torchvision.ops on random and border cases, and
selective search's proposals."""

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import d2lx
from d2lx import proposals


@st.composite
def feature_maps_and_rois(draw):
    """A (N, C, H, W) float64 map and (K, 5) RoIs in image coordinates, often reaching past the border."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    scale = draw(st.sampled_from([1.0, 0.5, 0.25, 1 / 16]))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    k = draw(st.integers(0, 6))
    span = torch.tensor([w, h], dtype=torch.float64) / scale
    start = torch.rand(k, 2, generator=g, dtype=torch.float64) * span * 1.3 - 0.15 * span
    if draw(st.booleans()):
        start = start.round()  # corners on whole pixels, where rounding ties happen
    size = torch.rand(k, 2, generator=g, dtype=torch.float64) * span * draw(st.sampled_from([0.05, 0.5, 1.2]))
    rois = torch.cat([torch.randint(0, n, (k, 1), generator=g).double(), start, start + size], dim=1)
    output = draw(st.sampled_from([1, 2, (2, 3), (3, 1), 7]))
    return features, rois, output, scale


@settings(max_examples=250, deadline=None)
@given(feature_maps_and_rois())
def test_roi_pool_matches_torchvision(case):
    features, rois, output, scale = case
    torch.testing.assert_close(d2lx.roi_pool(features, rois, output, scale),
                               torchvision.ops.roi_pool(features, rois, output, scale))


@settings(max_examples=250, deadline=None)
@given(feature_maps_and_rois(), st.sampled_from([-1, 0, 1, 2, 3]), st.booleans())
def test_roi_align_matches_torchvision(case, sampling_ratio, aligned):
    features, rois, output, scale = case
    torch.testing.assert_close(d2lx.roi_align(features, rois, output, scale, sampling_ratio, aligned),
                               torchvision.ops.roi_align(features, rois, output, scale, sampling_ratio, aligned),
                               atol=1e-10, rtol=1e-7)


def test_roi_ops_take_a_list_of_boxes_per_image_and_check_shapes():
    features = torch.randn(2, 4, 8, 8)
    per_image = [torch.tensor([[0.0, 0, 4, 4]]), torch.tensor([[1.0, 1, 7, 6], [2, 2, 3, 3]])]
    for ours, theirs in ((d2lx.roi_pool, torchvision.ops.roi_pool), (d2lx.roi_align, torchvision.ops.roi_align)):
        out = ours(features, per_image, 2)
        assert out.shape == (3, 4, 2, 2)
        torch.testing.assert_close(out, theirs(features, per_image, 2))
        assert ours(features, torch.zeros(0, 5), 3).shape == (0, 4, 3, 3)
        with pytest.raises(ValueError, match=r"boxes must have shape \(K, 5\)"):
            ours(features, torch.zeros(3, 4), 2)


def test_selective_search_proposes_the_objects():
    photo = Image.fromarray(np.asarray(d2lx.data.package_photos()["coffee"])).resize((256, 170))
    image = np.asarray(photo)
    boxes, labels = proposals.selective_search(image)
    again, _ = proposals.selective_search(image)
    assert np.array_equal(boxes, again), "deterministic"
    assert labels.shape == image.shape[:2] and len(boxes) >= labels.max() / 2
    assert (boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all()
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 256).all() and (boxes[:, 3] <= 170).all()
    assert (boxes == [0, 0, 256, 170]).all(axis=1).any(), "the last merge covers the whole image"
    assert len(np.unique(boxes, axis=0)) == len(boxes)
    cup = torch.tensor([[72.0, 8, 175, 128]])  # the cup (without its saucer) in the coffee photo, roughly
    assert float(d2lx.box_iou(cup, torch.as_tensor(boxes, dtype=torch.float32)).max()) > 0.6
    with pytest.raises(ValueError, match=r"image must be \(H, W, 3\) RGB"):
        proposals.selective_search(image[..., 0])


def test_roi_grid_snaps_pooling_but_not_align():
    from d2lx import widgets

    _, state = widgets.draw_roi_grid(8, (1.3, 1.6, 5.8, 6.1), 2)
    assert state["pool_x_edges"] == [1.0, 4.0, 7.0] and state["samples"] == 16
    assert state["snap_error"] == pytest.approx(1.2)
    view = widgets.RoiGridView()
    view.controls["shift"].value = 0.5
    assert view.state["pool_x_edges"] == [2.0, 4.0, 7.0] and "moves its box" in view.caption.value
    with pytest.raises(ValueError, match="x1 < x2"):
        widgets.draw_roi_grid(8, (3, 1, 2, 4))


# --- Faster and Mask R-CNN ----------------------------------------------------------------------------------
def test_fpn_backbone_and_a_training_step_of_mask_rcnn():
    fpn, pretrained = d2lx.pretrained.fpn_backbone(out_channels=16, quiet=True)
    features = fpn(torch.rand(1, 3, 64, 64))
    assert list(features) == ["0", "1", "2", "pool"] and fpn.out_channels == 16
    assert [tuple(f.shape[-2:]) for f in features.values()] == [(8, 8), (4, 4), (2, 2), (1, 1)]
    model = d2lx.rcnn_model(3, fpn, pretrained.mean, pretrained.std, 64, masks=True)
    masks = torch.zeros(1, 64, 64, dtype=torch.bool)
    masks[0, 10:40, 5:30] = True
    targets = [{"boxes": torchvision.tv_tensors.BoundingBoxes([[5.0, 10, 30, 40]], format="XYXY", canvas_size=(64, 64)),
                "labels": torch.tensor([2]), "masks": torchvision.tv_tensors.Mask(masks)},
               {"boxes": torchvision.tv_tensors.BoundingBoxes(torch.zeros(0, 4), format="XYXY", canvas_size=(64, 64)),
                "labels": torch.zeros(0, dtype=torch.long), "masks": torchvision.tv_tensors.Mask(masks[:0])}]
    converted = d2lx.rcnn_targets(targets, masks=True)
    assert converted[0]["labels"].tolist() == [3] and converted[0]["masks"].dtype == torch.uint8
    assert type(converted[0]["boxes"]) is torch.Tensor and converted[1]["boxes"].shape == (0, 4)
    model.train()
    losses = model(list(torch.rand(2, 3, 64, 64)), converted)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())
    batches = [(torch.rand(2, 3, 64, 64), None, targets)]
    scores = d2lx.evaluate_rcnn(model, batches, torch.device("cpu"), masks=True)
    assert set(scores) == {"mAP@0.5", "mAP@[.5:.95]", "mask mAP@0.5", "mask mAP@[.5:.95]"}
    assert all(0 <= v <= 1 for v in scores.values())


def test_save_json_is_atomic_and_readable(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("D2LX_DATA_DIR", str(tmp_path))
    path = d2lx.data.save_json({"mAP@0.5": 0.5}, "results/x.json")
    assert json.loads(path.read_text()) == {"mAP@0.5": 0.5}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]
    with pytest.raises(TypeError):
        d2lx.data.save_json({"bad": object()}, "results/x.json")
    assert json.loads(path.read_text()) == {"mAP@0.5": 0.5}, "a failed write leaves the old file"
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_train_loop_steps_evaluates_and_reports():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    batches = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(3)]
    trainer = torch.optim.SGD(net.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(trainer, 1, 0.5)
    calls = []

    def evaluate():
        calls.append(net.training)
        return {"mAP@0.5": 0.25}

    result = d2lx.train_loop(net, batches, 2, trainer, lambda b: ((net(b[0]) - b[1]) ** 2).mean(), evaluate,
                                 scheduler)
    d2lx.plt.close("all")
    assert calls == [True, True] and trainer.param_groups[0]["lr"] == pytest.approx(0.025)
    assert result["mAP@0.5"] == 0.25 and result["loss"] > 0 and result["train seconds"] > 0
    assert result["history"]["val mAP@0.5"][1] == [0.25, 0.25]
    with pytest.raises(ValueError, match="train_iter is empty"):
        d2lx.train_loop(net, [], 1, trainer, None, evaluate)
