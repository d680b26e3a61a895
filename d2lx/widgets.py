"""Interactive widgets for the notebooks, each a thin shell over a pure function that the tests call.

Hand-written (not exported from a notebook). ipywidgets swallows exceptions raised in callbacks, so the
logic lives in the pure functions (``iou_state``, ``draw_iou``), and each widget keeps its latest result in
``.state`` for the tests to read after setting a control's ``.value``.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import torch
import torchvision
from IPython.display import display
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from d2lx.plotting import to_numpy_image

__all__ = ["iou_state", "draw_iou", "IouPlayground", "iou_playground"]


def iou_state(box_a: Sequence[float], box_b: Sequence[float]) -> dict:
    """IoU of two corner-format boxes, with the intersection box and the areas.

    Returns ``{"iou", "intersection", "union", "overlap"}``; ``overlap`` is the intersection box
    ``[x1, y1, x2, y2]`` or ``None``. The IoU is torchvision's ``box_iou``.
    """
    a = torch.as_tensor([box_a], dtype=torch.float64)
    b = torch.as_tensor([box_b], dtype=torch.float64)
    for name, box in (("box_a", a), ("box_b", b)):
        if box.shape != (1, 4) or bool(torch.isnan(box).any()) or bool((box[0, 2:] < box[0, :2]).any()):
            raise ValueError(f"{name} must be [x1, y1, x2, y2] with x1 <= x2, y1 <= y2 and no NaN, "
                             f"got {box.tolist()}")
    iou = float(torchvision.ops.box_iou(a, b)[0, 0].nan_to_num(0.0))
    lo, hi = torch.maximum(a[0, :2], b[0, :2]), torch.minimum(a[0, 2:], b[0, 2:])
    wh = (hi - lo).clamp(min=0)
    inter = float(wh[0] * wh[1])
    area = lambda box: float((box[0, 2] - box[0, 0]) * (box[0, 3] - box[0, 1]))  # noqa: E731
    overlap = torch.cat([lo, hi]).tolist() if inter > 0 else None
    return {"iou": iou, "intersection": inter, "union": area(a) + area(b) - inter, "overlap": overlap}


def draw_iou(image, box_a: Sequence[float], box_b: Sequence[float], labels: Sequence[str] = ("A", "B"),
             figsize: tuple[float, float] = (5.0, 4.0)) -> tuple[Figure, dict]:
    """Draw two boxes and their intersection on ``image``; return the figure and :func:`iou_state`."""
    state = iou_state(box_a, box_b)
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    ax.imshow(to_numpy_image(image))
    for box, label, color in ((box_a, labels[0], "tab:blue"), (box_b, labels[1], "tab:orange")):
        ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, edgecolor=color,
                               linewidth=2))
        ax.text(box[0], box[1], label, color="white", fontsize=9, va="bottom",
                bbox={"facecolor": color, "edgecolor": "none", "pad": 1})
    if state["overlap"]:
        x1, y1, x2, y2 = state["overlap"]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, facecolor="tab:green", alpha=0.35, edgecolor="none"))
    ax.set_title(f"IoU = {state['iou']:.3f}")
    ax.axis("off")
    fig.tight_layout()
    return fig, state


class IouPlayground(widgets.VBox):
    """Two boxes on a photo, each moved and resized with sliders (pixels); shows and draws their IoU."""

    def __init__(self, image, box_a: Sequence[float], box_b: Sequence[float], labels: Sequence[str] = ("A", "B")):
        self.image, self.labels = image, tuple(labels)
        height, width = to_numpy_image(image).shape[:2]
        self.sliders: dict[str, widgets.IntSlider] = {}
        rows = []
        for key, box, label in (("a", box_a, labels[0]), ("b", box_b, labels[1])):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            specs = (("x", "left x (px)", x1, 0, width - 1), ("y", "top y (px)", y1, 0, height - 1),
                     ("w", "width (px)", x2 - x1, 1, width), ("h", "height (px)", y2 - y1, 1, height))
            row = []
            for name, desc, value, lo, hi in specs:
                slider = widgets.IntSlider(value=min(max(value, lo), hi), min=lo, max=hi, description=desc,
                                           continuous_update=False, style={"description_width": "80px"},
                                           layout=widgets.Layout(width="260px"))
                slider.observe(self._redraw, names="value")
                self.sliders[f"{key}_{name}"] = slider
                row.append(slider)
            rows.append(widgets.HBox([widgets.HTML(f"<b>{label}</b>", layout=widgets.Layout(width="90px")), *row]))
        self.caption = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(min_height="420px"))
        self.state: dict = {}
        super().__init__([*rows, self.caption, self.output])
        self._redraw()

    def box(self, key: str) -> list[float]:
        """The current box ``key`` (``"a"`` or ``"b"``) in corner format, in pixels."""
        s = {n: self.sliders[f"{key}_{n}"].value for n in "xywh"}
        return [s["x"], s["y"], s["x"] + s["w"], s["y"] + s["h"]]

    def _redraw(self, change=None) -> None:
        fig, self.state = draw_iou(self.image, self.box("a"), self.box("b"), self.labels)
        s = self.state
        self.caption.value = (f"<b>IoU = {s['iou']:.3f}</b>: intersection {s['intersection']:.0f} px² / "
                              f"union {s['union']:.0f} px²")
        with self.output:
            self.output.clear_output(wait=True)
            display(fig)


def iou_playground(image, box_a: Sequence[float], box_b: Sequence[float],
                   labels: Sequence[str] = ("A", "B")) -> IouPlayground:
    """Build the IoU playground widget (see :class:`IouPlayground`)."""
    return IouPlayground(image, box_a, box_b, labels)
