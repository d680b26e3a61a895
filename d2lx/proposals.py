"""Region proposals by selective search (Uijlings et al., 2013), on scikit-image's
Felzenszwalb segmentation.

Hand-written (not exported from a notebook, because exported code may import only torch
and torchvision): 08_rcnn explains each step and calls :func:`selective_search`. The
steps:

1. Over-segment the image with ``skimage.segmentation.felzenszwalb``: a few hundred
   small regions.
2. Describe each region by a colour histogram (25 bins per channel), a texture histogram
   (local binary patterns, 10 bins per channel), its size and its bounding box.
3. Greedily merge the most similar pair of *neighbouring* regions, where similarity is
   the sum of the colour and texture histogram intersections, a size term (merge small
   regions first) and a fill term (merge regions whose union box they fill). Repeat
   until one region is left.
4. Every region ever formed, from the first small ones to the whole image, is a
   proposal: its bounding box.
"""

from __future__ import annotations

import numpy as np

__all__ = ["selective_search", "initial_regions"]

_COLOUR_BINS, _TEXTURE_BINS = 25, 10


def _histograms(
    values: np.ndarray, labels: np.ndarray, count: int, bins: int, lo: float, hi: float
) -> np.ndarray:
    """Per-region histograms of each channel of ``values`` (H, W, C), L1-normalised:
    (count, C * bins)."""
    # (H, W, C)
    index = np.clip(((values - lo) / (hi - lo) * bins).astype(int), 0, bins - 1)
    channels = values.shape[2]
    flat = (
        labels[..., None] * channels * bins + np.arange(channels) * bins + index
    ).ravel()
    hist = (
        np.bincount(flat, minlength=count * channels * bins)
        .reshape(count, channels * bins)
        .astype(float)
    )
    return hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)


def initial_regions(
    image: np.ndarray, scale: float = 200, sigma: float = 0.8, min_size: int = 50
) -> np.ndarray:
    """Felzenszwalb's over-segmentation of an (H, W, 3) uint8 image: an (H, W) label
    image, labels 0 … R-1."""
    from skimage.segmentation import felzenszwalb

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    return felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size)


def selective_search(
    image: np.ndarray,
    scale: float = 200,
    sigma: float = 0.8,
    min_size: int = 50,
    min_box: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Selective search on an (H, W, 3) uint8 image.

    Returns (boxes (P, 4) float, corner format in pixels, without duplicates and without
    boxes under ``min_box`` pixels wide or high, in the order the regions were formed;
    labels (H, W), the initial segmentation).
    """
    from skimage.feature import local_binary_pattern

    labels = initial_regions(image, scale, sigma, min_size)
    count = int(labels.max()) + 1
    height, width = labels.shape
    rgb = image.astype(float)
    colour = _histograms(rgb, labels, count, _COLOUR_BINS, 0, 256)
    lbp = np.stack(
        [local_binary_pattern(image[..., c], 8, 1.0, "uniform") for c in range(3)],
        axis=-1,
    )
    texture = _histograms(lbp, labels, count, _TEXTURE_BINS, 0, 10)
    size = np.bincount(labels.ravel(), minlength=count).astype(float)
    ys, xs = np.mgrid[:height, :width]
    box = np.stack(
        [
            np.full(count, np.inf),
            np.full(count, np.inf),
            np.zeros(count),
            np.zeros(count),
        ],
        axis=1,
    )
    np.minimum.at(box[:, 0], labels.ravel(), xs.ravel())
    np.minimum.at(box[:, 1], labels.ravel(), ys.ravel())
    np.maximum.at(box[:, 2], labels.ravel(), xs.ravel() + 1)
    np.maximum.at(box[:, 3], labels.ravel(), ys.ravel() + 1)
    # neighbours: label pairs that touch horizontally or vertically
    pairs = np.concatenate(
        [
            np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
            np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1),
        ]
    )
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1), axis=0)
    neighbours: dict[int, set[int]] = {r: set() for r in range(count)}
    for a, b in pairs.tolist():
        neighbours[a].add(b)
        neighbours[b].add(a)
    regions = {r: (colour[r], texture[r], size[r], box[r]) for r in range(count)}
    image_size = float(height * width)

    def similarity(a: int, b: int) -> float:
        ca, ta, sa, ba = regions[a]
        cb, tb, sb, bb = regions[b]
        union = (max(ba[2], bb[2]) - min(ba[0], bb[0])) * (
            max(ba[3], bb[3]) - min(ba[1], bb[1])
        )
        return (
            np.minimum(ca, cb).sum()
            + np.minimum(ta, tb).sum()
            + 1
            - (sa + sb) / image_size
            + 1
            - (union - sa - sb) / image_size
        )

    similarities = {(a, b): similarity(a, b) for a, b in pairs.tolist()}
    proposals = [box[r] for r in range(count)]
    next_id = count
    while similarities:  # one merge per step: at most count - 1 steps
        a, b = max(similarities, key=similarities.get)
        ca, ta, sa, ba = regions.pop(a)
        cb, tb, sb, bb = regions.pop(b)
        merged = next_id
        next_id += 1
        regions[merged] = (
            (sa * ca + sb * cb) / (sa + sb),
            (sa * ta + sb * tb) / (sa + sb),
            sa + sb,
            np.array(
                [
                    min(ba[0], bb[0]),
                    min(ba[1], bb[1]),
                    max(ba[2], bb[2]),
                    max(ba[3], bb[3]),
                ]
            ),
        )
        proposals.append(regions[merged][3])
        around = (neighbours.pop(a) | neighbours.pop(b)) - {a, b}
        similarities = {
            pair: s
            for pair, s in similarities.items()
            if a not in pair and b not in pair
        }
        neighbours[merged] = around
        for n in around:
            neighbours[n] -= {a, b}
            neighbours[n].add(merged)
            similarities[(n, merged)] = similarity(n, merged)
    boxes = np.array(proposals, dtype=float)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_box) & (
        (boxes[:, 3] - boxes[:, 1]) >= min_box
    )
    boxes = boxes[keep]
    _, first = np.unique(boxes, axis=0, return_index=True)
    return boxes[np.sort(first)], labels
