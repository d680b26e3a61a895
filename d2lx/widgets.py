"""Interactive widgets for the notebooks, each a thin shell over a pure function that
the tests call.

Hand-written (not exported from a notebook). ipywidgets swallows exceptions raised in
callbacks, so the logic lives in the pure functions (``iou_state``, ``draw_iou``), and
each widget keeps its latest result in ``.state`` for the tests to read after setting a
control's ``.value``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch
import torchvision
from IPython.display import display
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torchvision.transforms import v2

import d2lx
from d2lx.plotting import to_numpy_image

__all__ = [
    "FigureWidget",
    "iou_state",
    "draw_iou",
    "IouPlayground",
    "iou_playground",
    "parse_numbers",
    "anchors_at",
    "draw_anchors",
    "AnchorExplorer",
    "draw_assignment",
    "AssignmentView",
    "draw_nms",
    "NmsPlayground",
    "draw_multiscale",
    "MultiscaleView",
    "AUGMENTATIONS",
    "augmentation",
    "augment_grid",
    "draw_augmentations",
    "AugmentationExplorer",
    "draw_pair",
    "StyleWeights",
    "draw_detections",
    "DetectionThreshold",
    "draw_yolo_grid",
    "YoloGridView",
    "draw_roi_grid",
    "RoiGridView",
    "draw_class_overlay",
    "ClassOverlay",
    "trans_conv_layout",
    "draw_trans_conv",
    "TransposedConvView",
    "class_iou",
    "draw_segmentation",
    "SegmentationView",
]


def iou_state(box_a: Sequence[float], box_b: Sequence[float]) -> dict:
    """IoU of two corner-format boxes, with the intersection box and the areas.

    Returns ``{"iou", "intersection", "union", "overlap"}``; ``overlap`` is the
    intersection box ``[x1, y1, x2, y2]`` or ``None``. The IoU is torchvision's
    ``box_iou``.
    """
    a = torch.as_tensor([box_a], dtype=torch.float64)
    b = torch.as_tensor([box_b], dtype=torch.float64)
    for name, box in (("box_a", a), ("box_b", b)):
        if (
            box.shape != (1, 4)
            or bool(torch.isnan(box).any())
            or bool((box[0, 2:] < box[0, :2]).any())
        ):
            raise ValueError(
                f"{name} must be [x1, y1, x2, y2] with x1 <= x2, y1 <= y2 and no NaN, "
                f"got {box.tolist()}"
            )
    iou = float(torchvision.ops.box_iou(a, b)[0, 0].nan_to_num(0.0))
    lo, hi = torch.maximum(a[0, :2], b[0, :2]), torch.minimum(a[0, 2:], b[0, 2:])
    wh = (hi - lo).clamp(min=0)
    inter = float(wh[0] * wh[1])

    def area(box):
        return float((box[0, 2] - box[0, 0]) * (box[0, 3] - box[0, 1]))

    overlap = torch.cat([lo, hi]).tolist() if inter > 0 else None
    return {
        "iou": iou,
        "intersection": inter,
        "union": area(a) + area(b) - inter,
        "overlap": overlap,
    }


def _show_image(ax, image) -> tuple[int, int]:
    """Draw ``image`` on ``ax`` in a fixed frame, without axes; return its height and
    width. Float images may be in [0, 1] or, as d2l's banana batches, in [0, 255]."""
    img = to_numpy_image(image)
    if img.dtype != np.uint8:
        img = (img / 255 if img.max() > 1.5 else img).clip(0, 1)
    ax.imshow(img)
    ax.set_xlim(0, img.shape[1])
    # a fixed frame: anchors that stick out do not resize the figure
    ax.set_ylim(img.shape[0], 0)
    ax.axis("off")
    return img.shape[0], img.shape[1]


def _image_axes(image, figsize):
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    return fig, ax, *_show_image(ax, image)


def _outline(ax, box: Sequence[float], color, **style) -> None:
    """Draw one box (x1, y1, x2, y2, pixels) with d2lx.bbox_to_rect, restyled by
    ``style``."""
    rect = d2lx.bbox_to_rect(box, color)
    rect.set(**style)
    ax.add_patch(rect)


def draw_iou(
    image,
    box_a: Sequence[float],
    box_b: Sequence[float],
    labels: Sequence[str] = ("A", "B"),
    figsize: tuple[float, float] = (5.0, 4.0),
) -> tuple[Figure, dict]:
    """Draw two boxes and their intersection on ``image``; return the figure and
    :func:`iou_state`."""
    state = iou_state(box_a, box_b)
    fig, ax, _, _ = _image_axes(image, figsize)
    for box, label, color in (
        (box_a, labels[0], "tab:blue"),
        (box_b, labels[1], "tab:orange"),
    ):
        _outline(ax, box, color)
        ax.text(
            box[0],
            box[1],
            label,
            color="white",
            fontsize=9,
            va="bottom",
            bbox={"facecolor": color, "edgecolor": "none", "pad": 1},
        )
    if state["overlap"]:
        x1, y1, x2, y2 = state["overlap"]
        ax.add_patch(
            Rectangle(
                (x1, y1),
                x2 - x1,
                y2 - y1,
                facecolor="tab:green",
                alpha=0.35,
                edgecolor="none",
            )
        )
    ax.set_title(f"IoU = {state['iou']:.3f}")
    fig.tight_layout()
    return fig, state


class FigureWidget(widgets.VBox):
    """Controls, a caption and a figure. ``render(**values) -> (figure, state,
    caption_html)`` draws.

    Every change of a control calls ``render`` with all the controls' values. A
    ``ValueError`` raised by it (bad text input) is shown in red in the caption instead
    of vanishing into the browser console.
    """

    def __init__(
        self,
        controls: dict,
        render,
        rows: Sequence | None = None,
        min_height: str = "420px",
    ):
        self.controls = controls
        self._render = render
        self.caption = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(min_height=min_height))
        self.state: dict = {}
        for control in controls.values():
            control.observe(self._redraw, names="value")
        rows = rows if rows is not None else [widgets.HBox(list(controls.values()))]
        super().__init__([*rows, self.caption, self.output])
        self._redraw()

    def values(self) -> dict:
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def _redraw(self, change=None) -> None:
        try:
            fig, self.state, caption = self._render(**self.values())
        except ValueError as err:
            self.state = {"error": str(err)}
            self.caption.value = (
                f"<span style='color:#b00020'>{html.escape(str(err))}</span>"
            )
            return
        self.caption.value = caption
        with self.output:
            self.output.clear_output(wait=True)
            display(fig)


def _slider(kind, value, lo, hi, description: str, step=None, width: str = "260px"):
    """A labelled slider that only fires when released (redraws are not free)."""
    extra = {} if step is None else {"step": step}
    return kind(
        value=min(max(value, lo), hi),
        min=lo,
        max=hi,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
        layout=widgets.Layout(width=width),
        **extra,
    )


def _text(value: str, description: str, width: str = "320px"):
    """A labelled text box that fires on Enter or when it loses focus."""
    return widgets.Text(
        value=value,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
        layout=widgets.Layout(width=width),
    )


class IouPlayground(FigureWidget):
    """Two boxes on a photo, each moved and resized with sliders (pixels); shows and
    draws their IoU."""

    def __init__(
        self,
        image,
        box_a: Sequence[float],
        box_b: Sequence[float],
        labels: Sequence[str] = ("A", "B"),
    ):
        self.image, self.labels = image, tuple(labels)
        height, width = to_numpy_image(image).shape[:2]
        controls, rows = {}, []
        for key, box, label in (("a", box_a, labels[0]), ("b", box_b, labels[1])):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            row = {
                f"{key}_x": _slider(widgets.IntSlider, x1, 0, width - 1, "left x (px)"),
                f"{key}_y": _slider(widgets.IntSlider, y1, 0, height - 1, "top y (px)"),
                f"{key}_w": _slider(widgets.IntSlider, x2 - x1, 1, width, "width (px)"),
                f"{key}_h": _slider(
                    widgets.IntSlider, y2 - y1, 1, height, "height (px)"
                ),
            }
            controls.update(row)
            rows.append(
                widgets.HBox(
                    [
                        widgets.HTML(
                            f"<b>{html.escape(label)}</b>",
                            layout=widgets.Layout(width="90px"),
                        ),
                        *row.values(),
                    ]
                )
            )
        super().__init__(controls, self._draw, rows)

    def box(self, key: str) -> list[float]:
        """The current box ``key`` (``"a"`` or ``"b"``) in corner format, in pixels."""
        v = {n: self.controls[f"{key}_{n}"].value for n in "xywh"}
        return [v["x"], v["y"], v["x"] + v["w"], v["y"] + v["h"]]

    def _draw(self, **values):
        fig, state = draw_iou(self.image, self.box("a"), self.box("b"), self.labels)
        caption = (
            f"<b>IoU = {state['iou']:.3f}</b>: intersection "
            f"{state['intersection']:.0f} px² / union {state['union']:.0f} px²"
        )
        return fig, state, caption


def iou_playground(
    image,
    box_a: Sequence[float],
    box_b: Sequence[float],
    labels: Sequence[str] = ("A", "B"),
) -> IouPlayground:
    """Build the IoU playground widget (see :class:`IouPlayground`)."""
    return IouPlayground(image, box_a, box_b, labels)


# --- 04_anchor_boxes and 05_multiscale_detection -----------------------------------
def parse_numbers(text: str, name: str) -> list[float]:
    """``"0.75, 0.5"`` -> ``[0.75, 0.5]``; a ValueError that names the field for
    anything else or for <= 0."""
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        values = None
    if not values or any(not v > 0 for v in values):
        raise ValueError(
            f"{name}: write positive numbers separated by commas, like 0.75, 0.5 (got "
            f"{text!r})"
        )
    return values


def _pixel_scale(height: int, width: int) -> torch.Tensor:
    return torch.tensor([width, height, width, height], dtype=torch.float32)


def anchors_at(
    height: int,
    width: int,
    sizes: Sequence[float],
    ratios: Sequence[float],
    x: int,
    y: int,
) -> torch.Tensor:
    """The n + m - 1 anchors that ``multibox_prior`` centres on pixel (x, y): corners
    in pixels, (n + m - 1, 4)."""
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"pixel ({x}, {y}) is outside the {width}x{height} image")
    anchors = d2lx.multibox_prior(torch.empty(height, width), sizes, ratios)
    return anchors.reshape(height, width, -1, 4)[y, x] * _pixel_scale(height, width)


def draw_anchors(
    image,
    sizes: Sequence[float],
    ratios: Sequence[float],
    x: int,
    y: int,
    gt_box: Sequence[float] | None = None,
    gt_label: str = "object",
    figsize: tuple[float, float] = (5.0, 4.5),
) -> tuple[Figure, dict]:
    """The anchors centred on pixel (x, y), labelled with their size, ratio and IoU
    with ``gt_box`` (pixels)."""
    fig, ax, height, width = _image_axes(image, figsize)
    anchors = anchors_at(height, width, sizes, ratios, x, y)
    names = [f"s={s:g}, r={ratios[0]:g}" for s in sizes] + [
        f"s={sizes[0]:g}, r={r:g}" for r in ratios[1:]
    ]
    state = {"anchors": anchors, "names": names}
    if gt_box is not None:
        ious = d2lx.box_iou(anchors, torch.tensor([gt_box], dtype=torch.float32))[:, 0]
        state["ious"] = ious
        names = [f"{n}: IoU {float(iou):.2f}" for n, iou in zip(names, ious)]
        d2lx.show_bboxes(ax, [gt_box], [gt_label], "k")
    d2lx.show_bboxes(ax, anchors, names)
    ax.plot([x], [y], "o", color="yellow", markeredgecolor="k")
    fig.tight_layout()
    return fig, state


class AnchorExplorer(FigureWidget):
    """Sizes, ratios and the centre pixel of the anchors; shows them and their IoU
    with a chosen object."""

    def __init__(
        self,
        image,
        objects: dict[str, Sequence[float]],
        sizes: str = "0.75, 0.5, 0.25",
        ratios: str = "1, 2, 0.5",
    ):
        self.image, self.objects = image, dict(objects)
        height, width = to_numpy_image(image).shape[:2]
        controls = {
            "sizes": _text(sizes, "sizes s (fraction of image)"),
            "ratios": _text(ratios, "ratios r (width / height)"),
            "x": _slider(widgets.IntSlider, width // 2, 0, width - 1, "centre x (px)"),
            "y": _slider(
                widgets.IntSlider, height // 2, 0, height - 1, "centre y (px)"
            ),
            "target": widgets.Dropdown(
                options=list(self.objects),
                description="IoU with",
                layout=widgets.Layout(width="220px"),
            ),
        }
        rows = [
            widgets.HBox([controls["sizes"], controls["ratios"], controls["target"]]),
            widgets.HBox([controls["x"], controls["y"]]),
        ]
        super().__init__(controls, self._draw, rows, min_height="480px")

    def _draw(self, sizes, ratios, x, y, target):
        sizes, ratios = parse_numbers(sizes, "sizes"), parse_numbers(ratios, "ratios")
        fig, state = draw_anchors(
            self.image, sizes, ratios, x, y, self.objects[target], target
        )
        best = int(state["ious"].argmax())
        caption = (
            f"{len(state['anchors'])} anchors (n + m - 1 = {len(sizes)} + "
            f"{len(ratios)} - 1) at pixel "
            f"({x}, {y}). <b>Best IoU with {html.escape(target)}: "
            f"{float(state['ious'][best]):.2f}</b> ({state['names'][best]})"
        )
        return fig, state, caption


def draw_assignment(
    image,
    objects: dict[str, Sequence[float]],
    anchors: torch.Tensor,
    iou_threshold: float,
    figsize: tuple[float, float] = (5.0, 4.5),
) -> tuple[Figure, dict]:
    """Anchors (A, 4, fractions of the image) coloured by the object
    ``assign_anchor_to_bbox`` gives them, or grey for background, with an arrow from
    each assigned anchor's centre to its object's centre (the offset).
    """
    fig, ax, height, width = _image_axes(image, figsize)
    scale = _pixel_scale(height, width)
    names = list(objects)
    gt = torch.tensor([objects[n] for n in names], dtype=torch.float32) / scale
    assigned = d2lx.assign_anchor_to_bbox(gt, anchors, iou_threshold=iou_threshold)
    pixels = anchors * scale
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for box in pixels[assigned < 0].tolist():
        _outline(ax, box, "0.8", linewidth=0.6, linestyle=":")
    gt_centres = d2lx.box_corner_to_center(gt * scale)[:, :2]
    for box, j in zip(pixels[assigned >= 0].tolist(), assigned[assigned >= 0].tolist()):
        color = colors[j % len(colors)]
        _outline(ax, box, color, linewidth=1.8)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        gx, gy = gt_centres[j].tolist()
        ax.annotate(
            "",
            xy=(gx, gy),
            xytext=(cx, cy),
            arrowprops={"arrowstyle": "->", "color": color, "lw": 1.2},
        )
    d2lx.show_bboxes(ax, [objects[n] for n in names], names, "k")
    counts = {name: int((assigned == j).sum()) for j, name in enumerate(names)}
    state = {
        "assigned": assigned,
        "counts": counts,
        "background": int((assigned < 0).sum()),
    }
    fig.tight_layout()
    return fig, state


class AssignmentView(FigureWidget):
    """An IoU-threshold slider over anchors coloured by the object they are assigned
    to."""

    def __init__(
        self, image, objects: dict[str, Sequence[float]], anchors: torch.Tensor
    ):
        self.image, self.objects, self.anchors = (
            image,
            dict(objects),
            anchors.reshape(-1, 4),
        )
        controls = {
            "iou_threshold": _slider(
                widgets.FloatSlider,
                0.5,
                0.05,
                0.95,
                "IoU threshold",
                step=0.05,
                width="360px",
            )
        }
        super().__init__(controls, self._draw, min_height="480px")

    def _draw(self, iou_threshold):
        fig, state = draw_assignment(
            self.image, self.objects, self.anchors, iou_threshold
        )
        parts = ", ".join(f"{n} → {html.escape(k)}" for k, n in state["counts"].items())
        caption = (
            f"IoU ≥ {iou_threshold:.2f}: <b>{parts}</b>, {state['background']} "
            "background (of "
            f"{len(self.anchors)}). Each object keeps at least its best anchor, "
            "whatever the threshold."
        )
        return fig, state, caption


def draw_nms(
    image,
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float,
    figsize: tuple[float, float] = (5.0, 4.5),
) -> tuple[Figure, dict]:
    """Boxes (N, 4, pixels) after ``d2lx.nms``: kept ones solid with their score,
    suppressed ones dashed."""
    fig, ax, _, _ = _image_axes(image, figsize)
    keep = d2lx.nms(boxes, scores, iou_threshold)
    kept = torch.zeros(len(boxes), dtype=torch.bool)
    kept[keep] = True
    for box in boxes[~kept].tolist():
        _outline(ax, box, "0.55", linewidth=1, linestyle="--")
    d2lx.show_bboxes(
        ax,
        boxes[keep],
        [f"{float(s):.2f}" for s in scores[keep]],
        ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"],
    )
    fig.tight_layout()
    return fig, {"keep": keep, "kept": int(kept.sum()), "total": len(boxes)}


class NmsPlayground(FigureWidget):
    """A threshold slider over scored boxes: which survive non-maximum suppression,
    and how many."""

    def __init__(self, image, boxes: torch.Tensor, scores: torch.Tensor):
        self.image, self.boxes, self.scores = image, boxes, scores
        controls = {
            "iou_threshold": _slider(
                widgets.FloatSlider,
                0.5,
                0.0,
                0.95,
                "suppress IoU >",
                step=0.05,
                width="360px",
            )
        }
        super().__init__(controls, self._draw, min_height="480px")

    def _draw(self, iou_threshold):
        fig, state = draw_nms(self.image, self.boxes, self.scores, iou_threshold)
        caption = (
            f"<b>kept {state['kept']} of {state['total']} boxes</b> (solid, with their "
            "scores); dashed: "
            f"suppressed by a higher-scoring box with IoU > {iou_threshold:.2f}"
        )
        return fig, state, caption


def draw_multiscale(
    image,
    fmap: int,
    size: float,
    levels: int = 3,
    ratios: Sequence[float] = (1, 2, 0.5),
    figsize_per_panel: float = 3.2,
) -> tuple[Figure, dict]:
    """d2l's ``display_anchors`` at ``levels`` scales side by side: each level halves
    the feature map and doubles the anchor size, as SSD's stages do."""
    img = to_numpy_image(image)
    height, width = img.shape[:2]
    fig = Figure(
        figsize=(figsize_per_panel * levels, figsize_per_panel * height / width + 0.4)
    )
    panels = []
    for level in range(levels):
        f, s = max(1, fmap // 2**level), min(size * 2**level, 1.0)
        anchors = d2lx.multibox_prior(
            torch.empty(f, f), sizes=[s], ratios=list(ratios)
        )[0]
        ax = fig.add_subplot(1, levels, level + 1)
        ax.imshow(img)
        d2lx.show_bboxes(ax, anchors * _pixel_scale(height, width))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_title(f"{f}×{f} map, s={s:.2f}\n{len(anchors)} anchors", fontsize=9)
        ax.axis("off")
        panels.append({"fmap": f, "size": s, "anchors": len(anchors)})
    fig.tight_layout()
    return fig, {"panels": panels}


class MultiscaleView(FigureWidget):
    """Feature-map size and anchor size; shows that map and two coarser ones with
    larger anchors."""

    def __init__(self, image, fmap: int = 4, size: float = 0.15):
        self.image = image
        controls = {
            "fmap": _slider(
                widgets.IntSlider, fmap, 1, 16, "feature map (cells per side)"
            ),
            "size": _slider(
                widgets.FloatSlider, size, 0.05, 1.0, "anchor size s", step=0.05
            ),
        }
        super().__init__(controls, self._draw, min_height="380px")

    def _draw(self, fmap, size):
        fig, state = draw_multiscale(self.image, fmap, size)
        counts = " + ".join(str(p["anchors"]) for p in state["panels"])
        caption = (
            f"<b>{counts} anchors</b>: small anchors on the fine map for small "
            f"objects, large anchors on coarse maps for large ones"
        )
        return fig, state, caption


#: What the augmentation explorer offers: name -> (strength in [0, 1] -> a transforms.v2
# transform of an image
#: tensor). Strength 0 leaves the image as it is; 1 is the strongest setting that still
# makes sense.
AUGMENTATIONS = {
    "horizontal flip (probability)": lambda s, size: v2.RandomHorizontalFlip(p=s),
    "resized crop (1 - min area)": lambda s, size: (
        v2.RandomResizedCrop(  # ratios around the image's own
            size,
            scale=(1.0 - 0.95 * s, 1.0),
            ratio=(size[1] / size[0] * (1 - s / 2), size[1] / size[0] * (1 + s)),
            antialias=True,
        )
    ),
    "rotation (x 180 degrees)": lambda s, size: v2.RandomRotation(180.0 * s),
    "brightness": lambda s, size: v2.ColorJitter(brightness=s),
    "contrast": lambda s, size: v2.ColorJitter(contrast=s),
    "saturation": lambda s, size: v2.ColorJitter(saturation=s),
    "hue (x 0.5)": lambda s, size: v2.ColorJitter(hue=0.5 * s),
    "gaussian blur (sigma / 6)": lambda s, size: v2.GaussianBlur(
        kernel_size=21, sigma=(0.1, 0.1 + 6.0 * s)
    ),
    "random erasing (max area)": lambda s, size: v2.RandomErasing(
        p=1.0 if s > 0 else 0.0, scale=(0.02, max(0.02, 0.5 * s)), value=0
    ),
    "RandAugment (magnitude / 30)": lambda s, size: (
        v2.RandAugment(  # some of its ops ignore the magnitude
            num_ops=2 if s > 0 else 0, magnitude=round(30 * s), num_magnitude_bins=31
        )
    ),
}


def augmentation(name: str, strength: float, size: tuple[int, int]):
    """The transform ``name`` of :data:`AUGMENTATIONS` at ``strength`` (0..1) for
    images of ``size`` (h, w)."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"name must be one of {list(AUGMENTATIONS)}, got {name!r}")
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return AUGMENTATIONS[name](float(strength), tuple(size))


def augment_grid(
    image, name: str, strength: float, seed: int = 0, count: int = 8
) -> list[torch.Tensor]:
    """``count`` augmented copies of ``image`` (PIL or (3, H, W) uint8 tensor) as (3, H,
    W) uint8 tensors.

    The same ``seed`` gives the same copies; the global random state is left as it was.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    x = v2.functional.to_image(image)
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(
            "image must be an RGB image, (3, H, W) as a tensor, got shape "
            f"{tuple(x.shape)}"
        )
    aug = augmentation(name, strength, x.shape[-2:])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [aug(x) for _ in range(count)]


def draw_augmentations(
    image,
    name: str,
    strength: float,
    seed: int = 0,
    num_rows: int = 2,
    num_cols: int = 4,
    scale: float = 1.6,
) -> tuple[Figure, dict]:
    """A grid of :func:`augment_grid` copies; the state holds them and their mean
    absolute pixel change."""
    copies = augment_grid(image, name, strength, seed, num_rows * num_cols)
    original = v2.functional.to_image(image).float()
    change = [
        float((c.float() - original).abs().mean())
        if c.shape == original.shape
        else float("nan")
        for c in copies
    ]
    fig = Figure(figsize=(num_cols * scale, num_rows * scale))
    for i, copy in enumerate(copies):
        ax = fig.add_subplot(num_rows, num_cols, i + 1)
        ax.imshow(to_numpy_image(copy))
        ax.axis("off")
    fig.tight_layout()
    return fig, {"images": copies, "change": change}


class AugmentationExplorer(FigureWidget):
    """Pick a transform and its strength; see a grid of freshly augmented copies (the
    seed reshuffles them)."""

    def __init__(
        self,
        image,
        name: str = "resized crop (1 - min area)",
        strength: float = 0.5,
        short_side: int = 224,
    ):
        self.image = v2.functional.resize(
            v2.functional.to_image(image), short_side, antialias=True
        )
        controls = {
            "strength": _slider(
                widgets.FloatSlider, strength, 0.0, 1.0, "strength", step=0.05
            ),
            "name": widgets.Dropdown(
                options=list(AUGMENTATIONS),
                value=name,
                description="transform",
                layout=widgets.Layout(width="330px"),
            ),
            "seed": _slider(widgets.IntSlider, 0, 0, 99, "seed", width="220px"),
        }
        rows = [
            widgets.HBox([controls["name"], controls["strength"], controls["seed"]])
        ]
        super().__init__(controls, self._draw, rows, min_height="380px")

    def _draw(self, strength, name, seed):
        fig, state = draw_augmentations(self.image, name, strength, seed)
        change = [c for c in state["change"] if c == c]
        mean = f"{sum(change) / len(change):.1f}" if change else "n/a"
        caption = (
            f"{html.escape(name)} at strength <b>{strength:.2f}</b>, seed {seed}: mean "
            f"absolute change <b>{mean}</b> of 255 per pixel"
        )
        return fig, state, caption


def draw_pair(previous, current, titles: Sequence[str], scale: float = 3.2) -> Figure:
    """Two images side by side (the previous one may be None), with titles."""
    fig = Figure(figsize=(2 * scale, scale * 0.8))
    for i, (image, title) in enumerate(zip((previous, current), titles)):
        ax = fig.add_subplot(1, 2, i + 1)
        if image is not None:
            ax.imshow(to_numpy_image(image))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


class StyleWeights(FigureWidget):
    """Content, style and TV weights (log sliders) and the image height; each change
    re-runs a short style transfer with ``run(content_weight, style_weight, tv_weight,
    height) -> PIL image`` and shows it beside the previous result."""

    def __init__(
        self,
        run,
        content_weight: float = 1.0,
        style_weight: float = 1e4,
        tv_weight: float = 10.0,
        height: int = 96,
    ):
        self._run, self._previous, self._previous_title = run, None, "previous"

        def log_slider(value, lo, hi, description):
            return widgets.FloatLogSlider(
                value=value,
                base=10,
                min=lo,
                max=hi,
                step=0.25,
                description=description,
                continuous_update=False,
                style={"description_width": "initial"},
                layout=widgets.Layout(width="300px"),
            )

        controls = {
            "style_weight": log_slider(style_weight, 1, 7, "style weight"),
            "content_weight": log_slider(content_weight, -2, 2, "content weight"),
            "tv_weight": log_slider(tv_weight, -1, 4, "TV weight"),
            "height": _slider(
                widgets.IntSlider, height, 32, 256, "height (px)", step=16
            ),
        }
        rows = [
            widgets.HBox([controls["style_weight"], controls["content_weight"]]),
            widgets.HBox([controls["tv_weight"], controls["height"]]),
        ]
        super().__init__(controls, self._draw, rows, min_height="300px")

    def _draw(self, style_weight, content_weight, tv_weight, height):
        title = (
            f"content {content_weight:.3g}, style {style_weight:.3g}, "
            f"TV {tv_weight:.3g}"
        )
        current = self._run(content_weight, style_weight, tv_weight, height)
        fig = draw_pair(
            self._previous,
            current,
            [f"before: {self._previous_title}", f"now: {title}"],
        )
        state = {"previous": self._previous, "current": current}
        self._previous, self._previous_title = current, title
        return fig, state, f"weights {html.escape(title)}, height {height} px"


_CLASS_COLOURS = [
    "tab:orange",
    "tab:blue",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:cyan",
]


def _scoring(rows: torch.Tensor, threshold: float) -> torch.Tensor:
    """The rows [class, score, x1, y1, x2, y2] that were kept (class >= 0) and score
    at least ``threshold``."""
    return rows[(rows[:, 0] >= 0) & (rows[:, 1] >= threshold)]


def _labelled_detection(
    ax, row: torch.Tensor, classes: Sequence[str], scale_px: torch.Tensor, **style
):
    """Draw one detection row [class, score, x1, y1, x2, y2] (coordinates in [0, 1]) in
    its class's colour, with its class name and score; ``style`` restyles the box."""
    label = int(row[0])
    colour = _CLASS_COLOURS[label % len(_CLASS_COLOURS)]
    rect = d2lx.bbox_to_rect((row[2:] * scale_px).tolist(), colour)
    rect.set(**style)
    ax.add_patch(rect)
    ax.text(
        rect.xy[0],
        rect.xy[1],
        f"{classes[label]} {float(row[1]):.2f}",
        fontsize=7,
        color="w",
        va="bottom",
        bbox=dict(facecolor=colour, lw=0, pad=1),
    )


def draw_detections(
    images,
    detections: torch.Tensor,
    classes: Sequence[str],
    threshold: float,
    targets: torch.Tensor | None = None,
    num_cols: int = 4,
    scale: float = 2.6,
) -> tuple[Figure, dict]:
    """A grid of images with the detections scoring at least ``threshold``.

    images: (B, 3, H, W) or a list of images; detections: (B, N, 6) rows [class, score,
    x1, y1, x2, y2] with coordinates in [0, 1] and class -1 for dropped rows (d2l's
    ``multibox_detection``); targets: optional (B, M, 5) padded ground truth [class, x1,
    y1, x2, y2] in [0, 1], drawn dashed white.
    """
    if (
        not isinstance(detections, torch.Tensor)
        or detections.ndim != 3
        or detections.shape[-1] != 6
    ):
        raise ValueError("detections must have shape (B, N, 6)")
    if len(images) != len(detections):
        raise ValueError(f"{len(images)} images but detections for {len(detections)}")
    rows = -(-len(images) // num_cols)
    fig = Figure(figsize=(scale * num_cols, scale * rows))
    shown = []
    for i, image in enumerate(images):
        ax = fig.add_subplot(rows, num_cols, i + 1)
        scale_px = _pixel_scale(*_show_image(ax, image))
        if targets is not None:
            for row in targets[i][targets[i][:, 0] >= 0]:
                _outline(
                    ax,
                    (row[1:] * scale_px).tolist(),
                    "white",
                    linewidth=1.2,
                    linestyle="--",
                )
        keep = _scoring(detections[i], threshold)
        for row in keep:
            _labelled_detection(ax, row, classes, scale_px)
        shown.append(len(keep))
    fig.suptitle(
        f"detections with a score ≥ {threshold:.2f}: {sum(shown)}", fontsize=10
    )
    fig.tight_layout()
    return fig, {"shown": shown, "total": sum(shown)}


class DetectionThreshold(FigureWidget):
    """A score-threshold slider over a detector's predictions on a few images (ground
    truth dashed)."""

    def __init__(
        self,
        images,
        detections: torch.Tensor,
        classes: Sequence[str],
        targets: torch.Tensor | None = None,
        threshold: float = 0.5,
    ):
        self.images, self.detections, self.classes, self.targets = (
            images,
            detections,
            classes,
            targets,
        )
        controls = {
            "threshold": _slider(
                widgets.FloatSlider,
                threshold,
                0.05,
                0.95,
                "score ≥",
                step=0.05,
                width="360px",
            )
        }
        super().__init__(controls, self._draw, min_height="480px")

    def _draw(self, threshold):
        fig, state = draw_detections(
            self.images, self.detections, self.classes, threshold, self.targets
        )
        caption = (
            f"<b>{state['total']} detections with a score ≥ {threshold:.2f}</b> in "
            f"{len(self.images)} images "
            f"(per image: {state['shown']}); dashed white: the ground truth"
        )
        return fig, state, caption


def draw_yolo_grid(
    image,
    targets: torch.Tensor,
    detect,
    grid: int,
    classes: Sequence[str],
    nms_threshold: float,
    score_threshold: float = 0.2,
    scale: float = 4.0,
) -> tuple[Figure, dict]:
    """Two panels over one image: the S x S grid with the cell responsible for each
    object (the one holding its centre) shaded, and the detections before (thin, dashed)
    and after NMS (solid).

    targets: (M, 5) padded rows [class, x1, y1, x2, y2] in [0, 1]; detect(nms_threshold)
    -> (K, 6) rows [class, score, x1, y1, x2, y2] in [0, 1] (class -1: dropped), where
    nms_threshold 1.0 means no suppression.
    """
    fig = Figure(figsize=(2 * scale, scale + 0.3))
    real = targets[targets[:, 0] >= 0]
    centres = torch.stack(
        ((real[:, 1] + real[:, 3]) / 2, (real[:, 2] + real[:, 4]) / 2), dim=1
    )
    cells = (centres * grid).floor().clamp(0, grid - 1).long()  # (column, row)
    before, after = (
        _scoring(detect(1.0), score_threshold),
        _scoring(detect(nms_threshold), score_threshold),
    )
    for panel in range(2):
        ax = fig.add_subplot(1, 2, panel + 1)
        h, w = _show_image(ax, image)
        px = _pixel_scale(h, w)
        if panel == 0:
            for k in range(1, grid):
                ax.axhline(k * h / grid, color="w", linewidth=0.6, alpha=0.7)
                ax.axvline(k * w / grid, color="w", linewidth=0.6, alpha=0.7)
            for row, (col, line) in zip(real, cells.tolist()):
                colour = _CLASS_COLOURS[int(row[0]) % len(_CLASS_COLOURS)]
                ax.add_patch(
                    Rectangle(
                        (col * w / grid, line * h / grid),
                        w / grid,
                        h / grid,
                        color=colour,
                        alpha=0.5,
                    )
                )
                _outline(ax, (row[1:] * px).tolist(), colour, linewidth=1.5)
            ax.set_title(
                f"{grid}×{grid} grid: the cell with each object's centre predicts it",
                fontsize=9,
            )
        else:
            for row in before:
                _outline(
                    ax, (row[2:] * px).tolist(), "0.8", linewidth=0.7, linestyle="--"
                )
            for row in after:
                _labelled_detection(ax, row, classes, px, linewidth=2)
            ax.set_title(
                f"score ≥ {score_threshold:.2f}, NMS IoU > {nms_threshold:.2f}: "
                f"{len(before)} boxes before, {len(after)} after",
                fontsize=9,
            )
    fig.tight_layout()
    return fig, {
        "cells": [tuple(c) for c in cells.tolist()],
        "before": len(before),
        "after": len(after),
    }


class YoloGridView(FigureWidget):
    """Score-threshold and NMS-threshold sliders over a YOLO prediction, with the
    responsible grid cells."""

    def __init__(
        self,
        image,
        targets: torch.Tensor,
        detect,
        grid: int,
        classes: Sequence[str],
        nms_threshold: float = 0.5,
        score_threshold: float = 0.1,
    ):
        self.image, self.targets, self.detect, self.grid, self.classes = (
            image,
            targets,
            detect,
            grid,
            classes,
        )
        controls = {
            "score_threshold": _slider(
                widgets.FloatSlider, score_threshold, 0.05, 0.95, "score ≥", step=0.05
            ),
            "nms_threshold": _slider(
                widgets.FloatSlider, nms_threshold, 0.05, 1.0, "NMS IoU >", step=0.05
            ),
        }
        super().__init__(controls, self._draw, min_height="460px")

    def _draw(self, score_threshold, nms_threshold):
        fig, state = draw_yolo_grid(
            self.image,
            self.targets,
            self.detect,
            self.grid,
            self.classes,
            nms_threshold,
            score_threshold,
        )
        caption = (
            f"<b>{state['before']} boxes before NMS, {state['after']} after</b> (IoU "
            f"threshold {nms_threshold:.2f}); shaded: the cells responsible for the "
            f"{len(state['cells'])} objects"
        )
        return fig, state, caption


def draw_roi_grid(
    fmap: int,
    box: Sequence[float],
    output_size: int = 2,
    sampling_ratio: int = 2,
    scale: float = 4.0,
) -> tuple[Figure, dict]:
    """An fmap x fmap feature map (cells of size 1) with one RoI ``box`` (x1, y1, x2, y2
    in cells): left, RoI pooling's bins (the box rounded to whole cells, bins with
    whole-cell edges); right, RoI align's bins (the exact box split evenly) with their
    bilinear sampling points (``sampling_ratio`` per bin side, torchvision's
    aligned=False arithmetic)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x1 < x2 and y1 < y2):
        raise ValueError(f"box must have x1 < x2 and y1 < y2, got {list(box)}")
    fig = Figure(figsize=(2 * scale, scale + 0.4))
    # RoI pooling (torchvision's roi_pool): round the corners (halves away from zero),
    # then bins with floor/ceil edges
    sx, sy, ex, ey = (np.sign(v) * np.floor(abs(v) + 0.5) for v in (x1, y1, x2, y2))
    width, height = max(ex - sx + 1, 1), max(ey - sy + 1, 1)
    xs = [sx + np.floor(k * width / output_size) for k in range(output_size)] + [
        sx + width
    ]
    ys = [sy + np.floor(k * height / output_size) for k in range(output_size)] + [
        sy + height
    ]
    pooled = [float(min(b, fmap) - max(a, 0)) for a, b in zip(xs[:-1], xs[1:])]
    # RoI align: the exact box, bins of equal size, sampling points at the centres of a
    # sub-grid
    bw, bh = max(x2 - x1, 1.0) / output_size, max(y2 - y1, 1.0) / output_size
    points = [
        (
            x1 + (i + (a + 0.5) / sampling_ratio) * bw,
            y1 + (j + (b + 0.5) / sampling_ratio) * bh,
        )
        for i in range(output_size)
        for j in range(output_size)
        for a in range(sampling_ratio)
        for b in range(sampling_ratio)
    ]
    for panel, title in enumerate(
        (
            "RoI pooling: the box snaps to whole cells",
            "RoI align: exact bins, bilinear samples",
        )
    ):
        ax = fig.add_subplot(1, 2, panel + 1)
        ax.set_xlim(0, fmap)
        ax.set_ylim(fmap, 0)
        ax.set_aspect("equal")
        ax.set_xticks(range(fmap + 1))
        ax.set_yticks(range(fmap + 1))
        ax.grid(True, color="0.8")
        ax.tick_params(labelsize=7)
        ax.add_patch(
            Rectangle(
                (x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="tab:red", linewidth=2
            )
        )
        if panel == 0:
            for a, b in zip(xs[:-1], xs[1:]):
                for c, d in zip(ys[:-1], ys[1:]):
                    ax.add_patch(
                        Rectangle((a, c), b - a, d - c, facecolor="tab:blue", alpha=0.2)
                    )
                    ax.add_patch(
                        Rectangle(
                            (a, c),
                            b - a,
                            d - c,
                            fill=False,
                            edgecolor="tab:blue",
                            linewidth=1.5,
                        )
                    )
        else:
            for k in range(output_size + 1):
                ax.plot(
                    [x1 + k * bw] * 2, [y1, y1 + output_size * bh], color="tab:green"
                )
                ax.plot(
                    [x1, x1 + output_size * bw], [y1 + k * bh] * 2, color="tab:green"
                )
            ax.scatter(
                [p[0] for p in points],
                [p[1] for p in points],
                s=12,
                color="tab:green",
                zorder=3,
            )
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    error = max(abs(sx - x1), abs(sy - y1), abs(ex + 1 - x2), abs(ey + 1 - y2))
    return fig, {
        "pool_x_edges": [float(v) for v in xs],
        "pool_widths": pooled,
        "samples": len(points),
        "snap_error": float(error),
    }


class RoiGridView(FigureWidget):
    """Slide an RoI across a feature map by fractions of a cell: pooling's bins jump,
    align's move smoothly."""

    def __init__(
        self,
        fmap: int = 8,
        box: Sequence[float] = (1.3, 1.6, 5.8, 6.1),
        output_size: int = 2,
    ):
        self.fmap, self.box = fmap, [float(v) for v in box]
        controls = {
            "shift": _slider(
                widgets.FloatSlider,
                0.0,
                0.0,
                2.0,
                "shift right (cells)",
                step=0.1,
                width="360px",
            ),
            "output_size": _slider(
                widgets.IntSlider, output_size, 1, 4, "bins per side"
            ),
        }
        super().__init__(controls, self._draw, min_height="420px")

    def _draw(self, shift, output_size):
        x1, y1, x2, y2 = self.box
        fig, state = draw_roi_grid(
            self.fmap, (x1 + shift, y1, x2 + shift, y2), output_size
        )
        caption = (
            f"<b>RoI pooling moves its box by up to {state['snap_error']:.2f} "
            "cells</b> (bin edges "
            f"{state['pool_x_edges']}); RoI align samples {state['samples']} points at "
            "exact positions"
        )
        return fig, state, caption


# --------------------------------------------------------------------------------------
# Semantic segmentation (notebooks 10-12).


def _rgb_float(image) -> np.ndarray:
    """An image (a (3, H, W) tensor or an HWC array, uint8 or float in [0, 1]) as an
    (H, W, 3) float array in [0, 1]."""
    img = to_numpy_image(image).astype(np.float32)
    return img / 255 if img.max() > 1 else img


def _colours(label: torch.Tensor) -> np.ndarray:
    """The VOC colour (floats) of every pixel of a class map (H, W), 255 = void."""
    palette = np.asarray(d2lx.voc.PALETTE, dtype=np.float32) / 255
    return palette[label.cpu().numpy()]


def draw_class_overlay(
    image, label: torch.Tensor, alpha: float, shown: str, classes: Sequence[str]
) -> tuple[Figure, dict]:
    """The photo with class masks laid over it in VOC's colours, at opacity ``alpha``:
    every class but background (``shown="all"``) or the class named ``shown``.

    ``label``: (H, W) class indices, 255 = void. The state has the pixel count of each
    class present (``pixels``), the void count and ``share``: the shown pixels' share of
    the image.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if shown != "all" and shown not in classes:
        raise ValueError(f"shown must be 'all' or one of the classes, got {shown!r}")
    img = _rgb_float(image)
    if img.shape[:2] != tuple(label.shape):
        raise ValueError(
            f"image is {img.shape[0]}x{img.shape[1]} but label is "
            f"{label.shape[0]}x{label.shape[1]}"
        )
    mask = (label != 0) if shown == "all" else (label == classes.index(shown))
    mask = mask.cpu().numpy()[..., None]
    fig = Figure(figsize=(5, 5 * img.shape[0] / img.shape[1] + 0.4))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(np.where(mask, (1 - alpha) * img + alpha * _colours(label), img))
    ax.set_title(f"{shown} at opacity {alpha:.2f}", fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    counts = torch.bincount(label.flatten().cpu(), minlength=256)
    state = {
        "pixels": {
            classes[c]: int(counts[c]) for c in range(len(classes)) if counts[c]
        },
        "void": int(counts[255]),
        "share": float(mask.mean()),
    }
    return fig, state


class ClassOverlay(FigureWidget):
    """Opacity, image and class: each class's mask over the photo, with its share."""

    def __init__(self, images, labels, classes: Sequence[str]):
        if len(images) != len(labels) or not len(images):
            raise ValueError("need as many labels as images, at least one")
        self.images, self.labels, self.classes = images, labels, list(classes)
        present = torch.unique(torch.cat([label.flatten() for label in labels]))
        options = ["all"] + [
            self.classes[c] for c in present.tolist() if c < len(classes)
        ]
        controls = {
            "alpha": _slider(widgets.FloatSlider, 0.5, 0.0, 1.0, "opacity", step=0.05),
            "index": _slider(widgets.IntSlider, 0, 0, len(images) - 1, "image"),
            "shown": widgets.Dropdown(
                options=options, value="all", description="class"
            ),
        }
        super().__init__(controls, self._draw, min_height="380px")

    def _draw(self, alpha, index, shown):
        fig, state = draw_class_overlay(
            self.images[index], self.labels[index], alpha, shown, self.classes
        )
        caption = (
            f"<b>{html.escape(shown)}: {state['share']:.1%} of image {index}</b> "
            f"(void {state['void'] / self.labels[index].numel():.1%}), opacity "
            f"{alpha:.2f}"
        )
        return fig, state, caption


def trans_conv_layout(n: int, kernel: int, stride: int, padding: int) -> dict:
    """What a transposed convolution of an n x n input does, for a kernel x kernel
    kernel: ``size``, the output side (n - 1) * stride - 2 * padding + kernel, and
    ``coverage`` (size, size), how many input pixels write each output pixel."""
    for name, value, low in (
        ("n", n, 1),
        ("kernel", kernel, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
    ):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {value}")
    size = (n - 1) * stride - 2 * padding + kernel
    if size < 1:
        raise ValueError(
            f"padding {padding} removes the whole output: (n - 1) * stride + kernel = "
            f"{size + 2 * padding} rows, less than 2 * padding + 1"
        )
    ones = torch.ones(1, 1, n, n)
    coverage = (
        torch.nn.functional.conv_transpose2d(
            ones, torch.ones(1, 1, kernel, kernel), stride=stride, padding=padding
        )[0, 0]
        .round()
        .long()
    )
    return {"size": size, "coverage": coverage}


def draw_trans_conv(
    n: int, kernel: int, stride: int, padding: int, pixel: int = 0
) -> tuple[Figure, dict]:
    """The input grid with one pixel picked (``pixel``: its index, row by row) and the
    output grid coloured by coverage, with the window that pixel writes outlined."""
    layout = trans_conv_layout(n, kernel, stride, padding)
    size, coverage = layout["size"], layout["coverage"]
    i, j = divmod(int(pixel) % (n * n), n)
    top, left = i * stride - padding, j * stride - padding  # the window, output pixels
    fig = Figure(figsize=(8, 4))
    ax_in, ax_out = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax_in.imshow(np.zeros((n, n)), cmap="Greys", vmin=0, vmax=1)
    ax_in.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color="tab:orange"))
    ax_in.set_title(f"input {n}×{n}, pixel ({i}, {j})", fontsize=9)
    ax_out.imshow(coverage.numpy(), cmap="Blues", vmin=0, vmax=max(1, coverage.max()))
    if size <= 16:
        for (r, c), v in np.ndenumerate(coverage.numpy()):
            dark = v > coverage.max() / 2
            ax_out.text(
                c,
                r,
                str(v),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    ax_out.add_patch(
        Rectangle(
            (left - 0.5, top - 0.5),
            kernel,
            kernel,
            fill=False,
            edgecolor="tab:orange",
            linewidth=2.5,
        )
    )
    ax_out.set_xlim(-0.5, size - 0.5)
    ax_out.set_ylim(size - 0.5, -0.5)
    ax_out.set_title(
        f"output {size}×{size}: how many inputs write each pixel", fontsize=9
    )
    for (r, c), v in np.ndenumerate(np.arange(n * n).reshape(n, n)):
        ax_in.text(c, r, str(v), ha="center", va="center", fontsize=8)
    for ax, side in ((ax_in, n), (ax_out, size)):
        for edge in np.arange(-0.5, side, 1):
            ax.axhline(edge, color="grey", linewidth=0.5)
            ax.axvline(edge, color="grey", linewidth=0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    state = {
        **layout,
        "pixel": (i, j),
        "window": (top, left, kernel),
        # a kernel that the stride divides covers every inner pixel equally often
        "even": kernel % stride == 0,
    }
    return fig, state


class TransposedConvView(FigureWidget):
    """Kernel size, stride, padding and input size of a transposed convolution: the
    output size and the pattern each input pixel writes."""

    def __init__(self, n: int = 3, kernel: int = 3, stride: int = 2, padding: int = 0):
        controls = {
            "kernel": _slider(widgets.IntSlider, kernel, 1, 6, "kernel"),
            "stride": _slider(widgets.IntSlider, stride, 1, 4, "stride"),
            "padding": _slider(widgets.IntSlider, padding, 0, 3, "padding"),
            "n": _slider(widgets.IntSlider, n, 2, 5, "input side"),
            "pixel": _slider(widgets.IntSlider, 0, 0, 24, "input pixel"),
        }
        rows = [
            widgets.HBox([controls["kernel"], controls["stride"], controls["padding"]]),
            widgets.HBox([controls["n"], controls["pixel"]]),
        ]
        super().__init__(controls, self._draw, rows, min_height="400px")

    def _draw(self, kernel, stride, padding, n, pixel):
        fig, state = draw_trans_conv(n, kernel, stride, padding, pixel)
        pattern = (
            "the stride divides the kernel: inner pixels get equally many writes"
            if state["even"]
            else "the stride does not divide the kernel: uneven writes, a checkerboard"
        )
        caption = (
            f"<b>output {state['size']}×{state['size']}</b> = ({n} − 1)·{stride} − "
            f"2·{padding} + {kernel}; {pattern}"
        )
        return fig, state, caption


def class_iou(
    pred: torch.Tensor, label: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Each class's IoU between a predicted and a true class map (H, W), void (255)
    pixels left out: (num_classes,), NaN for a class in neither."""
    valid = label != 255
    pred, label = pred[valid], label[valid]
    confusion = torch.bincount(label * num_classes + pred, minlength=num_classes**2)
    confusion = confusion.reshape(num_classes, num_classes).double()
    hits = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - hits
    return torch.where(union > 0, hits / union.clamp(min=1), torch.nan)


def draw_segmentation(
    image, pred: torch.Tensor, label: torch.Tensor, shown: str, classes: Sequence[str]
) -> tuple[Figure, dict]:
    """The photo, the predicted and the true class maps, and the errors for one class
    (``shown``): green where both say it, red where only the prediction does, blue where
    only the truth does. The state has each present class's IoU (``iou``)."""
    if shown not in classes:
        raise ValueError(f"shown must be one of the classes, got {shown!r}")
    if pred.shape != label.shape:
        raise ValueError(
            f"pred is {tuple(pred.shape)} but label is {tuple(label.shape)}"
        )
    pred, label = pred.cpu(), label.cpu()
    c = classes.index(shown)
    iou = class_iou(pred, label, len(classes))
    errors = np.ones((*label.shape, 3), dtype=np.float32)
    p, t = (pred == c).numpy(), (label == c).numpy()
    errors[p & t], errors[p & ~t], errors[~p & t] = (
        (0.2, 0.7, 0.2),
        (0.9, 0.2, 0.2),
        (0.2, 0.4, 0.9),
    )
    errors[(label == 255).numpy()] = 0.8
    panels = [
        (_rgb_float(image), "image"),
        (_colours(pred), "prediction"),
        (_colours(label), "truth"),
        (errors, f"{shown}: hit, extra, missed"),
    ]
    fig = Figure(figsize=(12, 3.2 * label.shape[0] / label.shape[1] + 0.5))
    for k, (img, title) in enumerate(panels):
        ax = fig.add_subplot(1, 4, k + 1)
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    present = {classes[k]: float(v) for k, v in enumerate(iou) if not torch.isnan(v)}
    return fig, {"iou": present, "shown": shown}


class SegmentationView(FigureWidget):
    """Pick an image and a class: prediction against truth, and that image's IoU per
    class."""

    def __init__(self, images, preds, labels, classes: Sequence[str]):
        if not len(images) == len(preds) == len(labels) or not len(images):
            raise ValueError(
                "need one prediction and one label per image, at least one"
            )
        self.images, self.preds, self.labels = images, preds, labels
        self.classes = list(classes)
        present = torch.unique(torch.cat([label.flatten() for label in labels]))
        options = [self.classes[c] for c in present.tolist() if 0 < c < len(classes)]
        controls = {
            "index": _slider(widgets.IntSlider, 0, 0, len(images) - 1, "image"),
            "shown": widgets.Dropdown(
                options=options or self.classes[:1], description="class"
            ),
        }
        super().__init__(controls, self._draw, min_height="300px")

    def _draw(self, index, shown):
        fig, state = draw_segmentation(
            self.images[index],
            self.preds[index],
            self.labels[index],
            shown,
            self.classes,
        )
        scores = ", ".join(f"{html.escape(k)} {v:.2f}" for k, v in state["iou"].items())
        caption = f"<b>image {index}, IoU per class:</b> {scores}"
        return fig, state, caption
