"""Widget logic: the pure functions against torchvision, then the widget driven through its controls."""

from __future__ import annotations

import pytest
import torch
import torchvision
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import d2lx
from d2lx import widgets

box = st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(0, 200), st.integers(0, 200)).map(
    lambda t: [float(t[0]), float(t[1]), float(t[0] + t[2]), float(t[1] + t[3])])


@given(box, box)
def test_iou_state_matches_torchvision(a, b):
    state = widgets.iou_state(a, b)
    ref = torchvision.ops.box_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))
    assert state["iou"] == pytest.approx(float(ref.nan_to_num(0.0)), abs=1e-9)
    assert 0.0 <= state["iou"] <= 1.0
    if state["union"] > 0:
        assert state["iou"] == pytest.approx(state["intersection"] / state["union"], abs=1e-9)
    assert (state["overlap"] is None) == (state["intersection"] == 0)


def test_iou_state_edge_cases():
    assert widgets.iou_state([0, 0, 10, 10], [0, 0, 10, 10])["iou"] == 1.0
    assert widgets.iou_state([0, 0, 10, 10], [10, 0, 20, 10])["iou"] == 0.0  # touching edges share no area
    assert widgets.iou_state([0, 0, 10, 10], [5, 0, 15, 10])["iou"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="box_b must be"):
        widgets.iou_state([0, 0, 10, 10], [10, 0, 5, 10])
    with pytest.raises(ValueError, match="box_a must be"):
        widgets.iou_state([0, float("nan"), 10, 10], [0, 0, 5, 10])


def test_draw_iou_draws_both_boxes_and_the_overlap():
    fig, state = widgets.draw_iou(Image.new("RGB", (100, 80)), [0, 0, 50, 50], [25, 25, 75, 75])
    ax = fig.axes[0]
    assert len(ax.patches) == 3 and "IoU = 0.143" in ax.get_title()
    fig, state = widgets.draw_iou(Image.new("RGB", (100, 80)), [0, 0, 10, 10], [50, 50, 60, 60])
    assert len(fig.axes[0].patches) == 2 and state["overlap"] is None


def test_playground_follows_its_sliders():
    pg = widgets.iou_playground(Image.new("RGB", (200, 100)), [10, 10, 60, 60], [40, 10, 90, 60], labels=("p", "q"))
    assert pg.box("a") == [10, 10, 60, 60] and pg.box("b") == [40, 10, 90, 60]
    assert pg.state["iou"] == pytest.approx(20 * 50 / (2 * 2500 - 20 * 50))
    assert "IoU = 0.250" in pg.caption.value
    pg.controls["b_x"].value = 10  # B now on top of A
    assert pg.state["iou"] == 1.0 and "IoU = 1.000" in pg.caption.value
    pg.controls["a_w"].value = 25  # A half as wide
    assert pg.state["iou"] == pytest.approx(0.5)
    assert pg.controls["a_x"].max == 199 and pg.controls["a_h"].max == 100, "ranges follow the image size"


# --- 04 and 05 -------------------------------------------------------------------------------------------------
def test_anchors_at_is_a_slice_of_multibox_prior():
    sizes, ratios = [0.5, 0.25], [1, 2]
    anchors = widgets.anchors_at(40, 60, sizes, ratios, x=10, y=30)
    full = d2lx.multibox_prior(torch.zeros(40, 60), sizes, ratios).reshape(40, 60, 3, 4)
    torch.testing.assert_close(anchors, full[30, 10] * torch.tensor([60.0, 40.0, 60.0, 40.0]))
    centre = (anchors[:, :2] + anchors[:, 2:]) / 2
    torch.testing.assert_close(centre, torch.tensor([[10.5, 30.5]] * 3), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="outside"):
        widgets.anchors_at(40, 60, sizes, ratios, x=60, y=0)


@pytest.mark.parametrize("text", ["", "1, x", "0.5, -1", "0"])
def test_parse_numbers_rejects_with_the_field_name(text):
    with pytest.raises(ValueError, match="^ratios: write positive numbers"):
        widgets.parse_numbers(text, "ratios")


def test_anchor_explorer_follows_its_controls():
    image = Image.new("RGB", (64, 48))
    ex = widgets.AnchorExplorer(image, {"thing": [10, 10, 40, 40]}, sizes="0.5, 0.25", ratios="1, 2, 0.5")
    assert len(ex.state["anchors"]) == 4 and "4 anchors" in ex.caption.value
    ex.controls["sizes"].value = "0.5"
    assert len(ex.state["anchors"]) == 3
    ex.controls["x"].value, ex.controls["y"].value = 25, 25  # centre of the object: the best IoU rises
    centred = float(ex.state["ious"].max())
    ex.controls["x"].value = 60
    assert float(ex.state["ious"].max()) < centred
    ex.controls["sizes"].value = "big"
    assert "sizes" in ex.state["error"] and "color:#b00020" in ex.caption.value


def test_assignment_counts_and_threshold():
    image = Image.new("RGB", (100, 100))
    objects = {"a": [10, 10, 40, 40], "b": [60, 55, 95, 95]}
    anchors = d2lx.multibox_prior(torch.zeros(4, 4), [0.3, 0.5], [1, 2, 0.5])[0]
    fig, state = widgets.draw_assignment(image, objects, anchors, 0.5)
    gt = torch.tensor(list(objects.values()), dtype=torch.float32) / 100
    assert torch.equal(state["assigned"], d2lx.assign_anchor_to_bbox(gt, anchors, iou_threshold=0.5))
    assert sum(state["counts"].values()) + state["background"] == len(anchors)
    view = widgets.AssignmentView(image, objects, anchors)
    view.controls["iou_threshold"].value = 0.2
    loose = dict(view.state["counts"])
    view.controls["iou_threshold"].value = 0.95
    assert all(1 <= view.state["counts"][k] <= loose[k] for k in loose)


def test_nms_playground_counts_what_nms_keeps():
    boxes = torch.tensor([[10.0, 10, 50, 50], [12, 12, 52, 52], [60, 60, 90, 90], [61, 60, 90, 91]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    fig, state = widgets.draw_nms(Image.new("RGB", (100, 100)), boxes, scores, 0.5)
    assert state["keep"].tolist() == [3, 0] and state["kept"] == 2 and state["total"] == 4
    pg = widgets.NmsPlayground(Image.new("RGB", (100, 100)), boxes, scores)
    pg.controls["iou_threshold"].value = 0.95
    assert pg.state["kept"] == 4 and "kept 4 of 4" in pg.caption.value


def test_detection_threshold_shows_what_scores_enough():
    images = torch.rand(3, 3, 40, 60) * 255  # d2l's banana batches are floats in 0..255
    rows = torch.tensor([[[0, 0.9, 0.1, 0.1, 0.5, 0.5], [0, 0.3, 0.2, 0.2, 0.6, 0.6], [-1, 0.99, 0, 0, 1, 1]],
                         [[1, 0.6, 0.0, 0.0, 1.0, 1.0], [-1, 0.8, 0, 0, 1, 1], [-1, 0.8, 0, 0, 1, 1]],
                         [[-1, 0.9, 0, 0, 1, 1], [-1, 0.9, 0, 0, 1, 1], [-1, 0.9, 0, 0, 1, 1]]])
    truth = torch.tensor([[[0, 0.1, 0.1, 0.5, 0.5]], [[1, 0, 0, 1, 1]], [[-1, -1, -1, -1, -1]]])
    fig, state = widgets.draw_detections(images, rows, ["banana", "cup"], 0.5, targets=truth)
    assert state == {"shown": [1, 1, 0], "total": 2} and len(fig.axes) == 3
    assert len(fig.axes[0].patches) == 2 and len(fig.axes[2].patches) == 0  # a detection + the dashed truth
    view = widgets.DetectionThreshold(images, rows, ["banana", "cup"], threshold=0.5)
    view.controls["threshold"].value = 0.25
    assert view.state["shown"] == [2, 1, 0] and "3 detections" in view.caption.value
    with pytest.raises(ValueError, match=r"detections must have shape \(B, N, 6\)"):
        widgets.draw_detections(images, rows[..., :5], ["banana"], 0.5)


def test_yolo_grid_marks_centre_cells_and_counts_nms():
    targets = torch.tensor([[0, 0.05, 0.05, 0.3, 0.3], [2, 0.5, 0.6, 0.9, 1.0], [-1, -1, -1, -1, -1]])
    rows = torch.tensor([[0, 0.9, 0.1, 0.1, 0.3, 0.3], [0, 0.8, 0.11, 0.1, 0.31, 0.3], [2, 0.4, 0.5, 0.6, 0.9, 1.0],
                         [1, 0.05, 0.0, 0.0, 0.1, 0.1]])

    def detect(nms_threshold):  # suppress the second row only when the threshold is below its IoU (~0.95)
        out = rows.clone()
        if nms_threshold < 0.9:
            out[1, 0] = -1
        return out

    fig, state = widgets.draw_yolo_grid(torch.rand(3, 64, 64), targets, detect, 4, ["banana", "cup", "cat"], 0.5, 0.2)
    assert state == {"cells": [(0, 0), (2, 3)], "before": 3, "after": 2} and len(fig.axes) == 2
    view = widgets.YoloGridView(torch.rand(3, 64, 64), targets, detect, 4, ["banana", "cup", "cat"])
    view.controls["nms_threshold"].value = 1.0
    assert view.state["after"] == view.state["before"] == 3 and "3 boxes before NMS, 3 after" in view.caption.value
    view.controls["score_threshold"].value = 0.95
    assert view.state["before"] == 0


def test_multiscale_panels():
    fig, state = widgets.draw_multiscale(Image.new("RGB", (80, 60)), fmap=6, size=0.2)
    assert state["panels"] == [{"fmap": 6, "size": 0.2, "anchors": 108}, {"fmap": 3, "size": 0.4, "anchors": 27},
                               {"fmap": 1, "size": 0.8, "anchors": 3}]
    assert len(fig.axes) == 3
    view = widgets.MultiscaleView(Image.new("RGB", (80, 60)))
    view.controls["size"].value = 0.6
    assert [p["size"] for p in view.state["panels"]] == [0.6, 1.0, 1.0], "sizes are capped at the whole image"


# --- augmentation explorer -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_photo():
    from skimage import data as skdata

    return Image.fromarray(skdata.chelsea()).resize((60, 40))


@pytest.mark.parametrize("name", list(widgets.AUGMENTATIONS))
def test_every_augmentation_is_the_identity_at_strength_zero(small_photo, name):
    original = torchvision.transforms.v2.functional.to_image(small_photo)
    for copy in widgets.augment_grid(small_photo, name, 0.0, seed=1, count=3):
        assert torch.equal(copy, original), name
    strong = widgets.augment_grid(small_photo, name, 1.0, seed=1, count=8)
    assert any(c.shape != original.shape or not torch.equal(c, original) for c in strong), name


def test_augment_grid_is_seeded_and_leaves_the_global_rng_alone(small_photo):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = widgets.augment_grid(small_photo, "resized crop (1 - min area)", 0.8, seed=5)
    assert torch.equal(torch.rand(1), expected_next), "the global random state must be untouched"
    b = widgets.augment_grid(small_photo, "resized crop (1 - min area)", 0.8, seed=5)
    c = widgets.augment_grid(small_photo, "resized crop (1 - min area)", 0.8, seed=6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_augmentation_rejects_bad_input(small_photo):
    with pytest.raises(ValueError, match="name must be one of"):
        widgets.augmentation("sharpen", 0.5, (10, 10))
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\], got 1.5"):
        widgets.augmentation("brightness", 1.5, (10, 10))
    with pytest.raises(ValueError, match="count must be >= 1"):
        widgets.augment_grid(small_photo, "brightness", 0.5, count=0)
    with pytest.raises(ValueError, match=r"RGB image, \(3, H, W\)"):
        widgets.augment_grid(torch.zeros(1, 8, 8, dtype=torch.uint8), "brightness", 0.5)


def test_augmentation_explorer_follows_its_controls(small_photo):
    explorer = widgets.AugmentationExplorer(small_photo, short_side=40)
    assert len(explorer.state["images"]) == 8
    explorer.controls["name"].value = "brightness"
    explorer.controls["strength"].value = 0.0
    assert max(explorer.state["change"]) == 0.0 and "0.00" in explorer.caption.value
    explorer.controls["strength"].value = 1.0
    assert max(explorer.state["change"]) > 5 and "1.00" in explorer.caption.value
    first = [c.clone() for c in explorer.state["images"]]
    explorer.controls["seed"].value = 7
    assert not all(torch.equal(a, b) for a, b in zip(first, explorer.state["images"]))
