"""Plotting helpers from the book's earlier chapters (``d2l.plt``, ``set_figsize``,
``show_images``).

Hand-written (not exported from a notebook). Exported notebook code draws through
``d2lx.plotting.plt``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["plt", "set_figsize", "show_images", "to_numpy_image", "annotate"]


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set the default matplotlib figure size (d2l's ``set_figsize``)."""
    plt.rcParams["figure.figsize"] = figsize


def to_numpy_image(img) -> np.ndarray:
    """A PIL image, an HWC array or a CHW/HWC tensor as an HWC array that ``imshow``
    accepts."""
    if isinstance(img, torch.Tensor):
        img = img.detach().cpu()
        if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
            img = img.permute(1, 2, 0)
        img = img.numpy()
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    return img


def show_images(
    imgs: Sequence,
    num_rows: int,
    num_cols: int,
    titles: Sequence[str] | None = None,
    scale: float = 1.5,
):
    """Plot a grid of images (d2l's ``show_images``); returns the array of axes."""
    if len(imgs) > num_rows * num_cols:
        raise ValueError(f"{len(imgs)} images do not fit a {num_rows}x{num_cols} grid")
    _, axes = plt.subplots(
        num_rows, num_cols, figsize=(num_cols * scale, num_rows * scale), squeeze=False
    )
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(to_numpy_image(img))
        if titles is not None and i < len(titles):
            ax.set_title(titles[i])
    for ax in axes:
        ax.axis("off")
    return axes


def annotate(
    image: torch.Tensor,
    boxes: torch.Tensor,
    names: Sequence[str],
    masks: torch.Tensor | None = None,
    width: int = 2,
    mask_alpha: float = 0.35,
) -> torch.Tensor:
    """An image (3, H, W), uint8 or float in [0, 1], as uint8 with its instance masks
    (K, H, W) bool filled and its boxes (K, 4) in pixels drawn in white, each named by
    ``names``; unchanged but for the type when K is 0."""
    from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

    image = (
        image if image.dtype == torch.uint8 else (image * 255).round().to(torch.uint8)
    )
    if not len(boxes):
        return image
    if masks is not None:
        image = draw_segmentation_masks(image, masks, alpha=mask_alpha)
    return draw_bounding_boxes(image, boxes, list(names), colors="white", width=width)
