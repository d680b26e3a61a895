"""Synthetic detection scenes: objects pasted onto real photos, written in d2l's
banana-detection layout.

Hand-written (not exported from a notebook): this is the data that stands in for a
download when offline. Each scene is a crop of a real photo that the packages ship, with
objects pasted at random scale, position and rotation, under a soft shadow, with
per-object lighting, an occluder now and then, and a global light gradient and sensor
noise so that the result looks like a photo rather than a cartoon. The classes:

* ``banana``: drawn, not cut: a curved, tapering, cylindrically shaded yellow body with
  a stem, a dark tip and brown speckles (nothing the packages ship contains a banana);
* ``cup``: the espresso cup on its saucer from scikit-image's ``coffee``;
* ``cat``: the cat's face from scikit-image's ``chelsea``.

Pasting gives the boxes and the instance masks for free. A split is written as::

    <split>/images/<i>.png      256 x 256 RGB <split>/label.csv
    img_name,label,xmin,ymin,xmax,ymax   (one row per object; pixels, corners)
    <split>/masks/<i>.png       0 = background, k = the image's k-th row in label.csv
    (with ``masks=True``)

Every image is drawn from its own generator, seeded by (seed, index), so a set is the
same however it is built.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["CLASSES", "SceneSpec", "render_scene", "write_split", "spec_key"]

#: Every class the generator can draw, in label order.
CLASSES = ("banana", "cup", "cat")
#: Bump when the drawing code changes what it writes (it is part of every cache key).
GENERATOR_VERSION = "1"


@dataclass(frozen=True)
class SceneSpec:
    """What a set of scenes looks like. ``classes`` picks from :data:`CLASSES` (label
    = index in ``classes``)."""

    size: int = 256  # the image width, and its height unless ``height`` is set
    height: int | None = None
    classes: tuple[str, ...] = ("banana",)
    min_objects: int = 1
    max_objects: int = 1
    # the object's longer side, as a fraction of the image side
    scale: tuple[float, float] = (0.2, 0.5)
    occlusion: float = 0.3  # the chance that an occluder covers part of an object
    # every labelled object keeps at least this fraction of its pixels visible
    min_visible: float = 0.6
    # each object's hue turns by up to this fraction of the colour wheel (0.5: any
    # hue), so that colour alone does not tell the class
    hue_jitter: float = 0.0
    # up to this many decoys per image: an object's silhouette filled with a photo's
    # texture, pasted like an object but labelled background, so that shape alone does
    # not tell an object either
    decoys: int = 0
    seed: int = 0

    def __post_init__(self):
        unknown = set(self.classes) - set(CLASSES)
        if unknown or not self.classes:
            raise ValueError(
                f"classes must be a non-empty subset of {CLASSES}, got {self.classes}"
            )
        if not 0 <= self.min_objects <= self.max_objects:
            raise ValueError(
                f"need 0 <= min_objects <= max_objects, got {self.min_objects}, "
                f"{self.max_objects}"
            )
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(
                f"scale must be (low, high) with 0 < low <= high <= 1, got {self.scale}"
            )
        if min(self.shape) < 16:
            raise ValueError(
                f"images must be at least 16 pixels high and wide, got {self.shape}"
            )
        if not 0 <= self.hue_jitter <= 0.5:
            raise ValueError(f"hue_jitter must be in [0, 0.5], got {self.hue_jitter}")

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of every image."""
        return (self.size if self.height is None else self.height), self.size


def spec_key(spec: SceneSpec, **extra) -> str:
    """A short hash of the spec, the generator version and ``extra`` (e.g. image
    counts): the cache key."""
    payload = json.dumps(
        {"spec": asdict(spec), "version": GENERATOR_VERSION, **extra}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------
# Sources: backgrounds and the two cut-out objects, loaded once per process.


@functools.cache
def _backgrounds() -> tuple[np.ndarray, ...]:
    from d2lx.data import package_photos

    photos = package_photos()
    return tuple(
        np.asarray(photos[name])
        for name in sorted(photos)
        if name not in {"cat", "coffee"}
    )


def _ellipse(
    shape: tuple[int, int], cx: float, cy: float, rx: float, ry: float
) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


def _soft(mask: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return np.clip(gaussian_filter(mask.astype(np.float32), sigma), 0, 1)


@functools.cache
def _cutouts() -> dict[str, np.ndarray]:
    """RGBA float arrays (alpha in [0, 1]) of the cup (with saucer) and the cat's face,
    cropped to their masks."""
    from skimage import data as sk

    coffee, cat = sk.coffee(), sk.chelsea()
    cup = _ellipse(coffee.shape[:2], 278, 228, 202, 158) | _ellipse(
        coffee.shape[:2], 291, 112, 119, 96
    )
    face = _ellipse(cat.shape[:2], 222, 158, 178, 142)
    out = {}
    for name, image, mask in (("cup", coffee, cup), ("cat", cat, face)):
        ys, xs = np.nonzero(mask)
        crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        rgba = np.dstack([image[crop], (_soft(mask[crop], 1.5) * 255).astype(np.uint8)])
        small = Image.fromarray(rgba, "RGBA")
        # objects are at most half of 256: resize once
        small.thumbnail((160, 160), Image.Resampling.LANCZOS)
        out[name] = np.asarray(small, dtype=np.float32) / 255
    return out


def _banana(rng: np.random.Generator, length: int) -> np.ndarray:
    """An RGBA float array of a drawn banana about ``length`` pixels long (before
    rotation)."""
    from scipy.ndimage import gaussian_filter

    height = max(8, int(length * 0.55))
    v, u = np.mgrid[0:height, 0:length].astype(np.float32)
    u = u / (length - 1) * 2 - 1  # -1 (tip) ... 1 (stem), along the banana
    bend = rng.uniform(0.18, 0.32) * length
    centre = height * 0.78 - bend * (1 - u**2)  # the spine: a parabola, ends up
    thickness = (
        length * rng.uniform(0.085, 0.11) * (1 - np.abs(u) ** 2.2).clip(0) ** 0.55 + 0.5
    )
    across = (v - centre) / thickness  # -1 ... 1 across the body
    body = np.abs(across) <= 1
    stem = (u > 0.86) & (np.abs(v - centre) <= length * 0.025 + 0.5)
    mask = body | stem
    # cylindrical shading lit from above-left, faint ridges along the body, and ripeness
    light = 0.45 + 0.55 * np.sqrt(np.clip(1 - across**2, 0, 1)) * (1 - 0.25 * across)
    light *= 1 - 0.06 * np.cos(across * np.pi * 1.5) ** 2
    hue = rng.uniform(-1, 1)
    yellow = np.array([0.96, 0.80 + 0.06 * hue, 0.22 + 0.08 * hue], dtype=np.float32)
    green = np.array([0.55, 0.62, 0.22], dtype=np.float32)
    brown = np.array([0.30, 0.20, 0.08], dtype=np.float32)
    colour = np.broadcast_to(yellow, (*u.shape, 3)).copy()
    ends = np.clip((np.abs(u) - 0.72) / 0.2, 0, 1)[..., None]
    colour = (
        colour * (1 - ends)
        + green * ends * (u[..., None] > 0)
        + yellow * ends * (u[..., None] <= 0)
    )
    colour[u < -0.9] = brown
    colour[stem & ~body] = green * 0.8
    spots = gaussian_filter(
        rng.normal(size=u.shape).astype(np.float32), length / 60 + 0.6
    )
    spots = np.clip(
        (spots - spots.std() * rng.uniform(1.2, 2.2)) / (spots.std() + 1e-6), 0, 1
    )[..., None]
    colour = colour * (1 - spots) + brown * spots
    rgb = np.clip(colour * light[..., None], 0, 1)
    return np.dstack([rgb, _soft(mask, 0.7)])


def _sprite(name: str, rng: np.random.Generator, side: int) -> np.ndarray:
    """The object ``name`` as RGBA float, randomly flipped and rotated, its longer side
    about ``side`` pixels."""
    if name == "banana":
        sprite, angle = _banana(rng, max(12, int(side * 1.1))), rng.uniform(0, 360)
    else:
        source = _cutouts()[name]
        h, w = source.shape[:2]
        k = side / max(h, w)
        image = Image.fromarray((source * 255).astype(np.uint8), "RGBA")
        sprite = (
            np.asarray(
                image.resize(
                    (max(4, round(w * k)), max(4, round(h * k))),
                    Image.Resampling.LANCZOS,
                ),
                dtype=np.float32,
            )
            / 255
        )
        angle = rng.uniform(-25, 25)
    if rng.random() < 0.5:
        sprite = sprite[:, ::-1]
    image = Image.fromarray((sprite * 255).astype(np.uint8), "RGBA")
    sprite = (
        np.asarray(
            image.rotate(angle, Image.Resampling.BILINEAR, expand=True),
            dtype=np.float32,
        )
        / 255
    )
    ys, xs = np.nonzero(sprite[..., 3] > 0.5)
    if len(ys) == 0:
        return sprite
    return sprite[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random crop of a random photo, resized to (height, width, 3) floats."""
    photos = _backgrounds()
    photo = photos[rng.integers(len(photos))]
    h, w = photo.shape[:2]
    side = rng.uniform(0.4, 1.0) * min(h, w)  # the crop's longer side
    box_w, box_h = (
        (side, side * height / width)
        if height <= width
        else (side * width / height, side)
    )
    x, y = rng.uniform(0, w - box_w), rng.uniform(0, h - box_h)
    crop = Image.fromarray(photo).resize(
        (width, height), Image.Resampling.BILINEAR, box=(x, y, x + box_w, y + box_h)
    )
    return np.asarray(crop, dtype=np.float32) / 255


def _turn_hue(rgb: np.ndarray, turn: float) -> np.ndarray:
    """Rotate the colours (..., 3) about the grey axis by ``turn`` of a full circle:
    greys stay grey, every other colour changes hue."""
    angle = 2 * np.pi * turn
    axis = np.full(3, 1 / np.sqrt(3))
    cross = np.array(
        [[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]
    )
    rotation = (
        np.cos(angle) * np.eye(3)
        + np.sin(angle) * cross
        + (1 - np.cos(angle)) * np.outer(axis, axis)
    )
    return np.clip(rgb @ rotation.T.astype(np.float32), 0, 1)


def render_scene(
    spec: SceneSpec, index: int
) -> tuple[np.ndarray, list[tuple[int, list[int]]], np.ndarray]:
    """Draw scene ``index`` of ``spec``.

    Returns (image: (H, W, 3) uint8, objects: [(label, [xmin, ymin, xmax, ymax])] in
    paste order, with pixel edges so that xmax - xmin is the width, masks: (H, W) uint8,
    0 = background, k = the k-th object), where (H, W) is ``spec.shape``.
    """
    rng = np.random.default_rng([spec.seed, index])
    height, width = spec.shape
    canvas = _background(rng, height, width)
    ids = np.zeros((height, width), dtype=np.uint8)
    labels: list[int] = []
    areas: list[int] = []  # each object's pixel count when it was pasted
    for _ in range(int(rng.integers(0, spec.decoys + 1)) if spec.decoys else 0):
        _paste_decoy(canvas, spec, rng)
    for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
        label = int(rng.integers(len(spec.classes)))
        side = int(rng.uniform(*spec.scale) * min(height, width))
        sprite = _sprite(spec.classes[label], rng, side)
        h, w = sprite.shape[:2]
        if h >= height or w >= width:
            continue
        for _attempt in range(10):  # a place that hides no earlier object too much
            y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
            covered = ids[y : y + h, x : x + w][sprite[..., 3] > 0.5]
            if _all_visible(ids, areas, covered, spec.min_visible):
                break
        else:
            continue
        alpha = sprite[..., 3:]
        region = (slice(y, y + h), slice(x, x + w))
        shadow = np.roll(alpha, (max(1, h // 25), max(1, w // 25)), axis=(0, 1)) * 0.35
        canvas[region] *= 1 - shadow
        lit = np.clip(
            sprite[..., :3] * rng.uniform(0.75, 1.2) * rng.uniform(0.92, 1.08, size=3),
            0,
            1,
        )
        if spec.hue_jitter:
            lit = _turn_hue(lit, rng.uniform(-spec.hue_jitter, spec.hue_jitter))
        canvas[region] = canvas[region] * (1 - alpha) + lit * alpha
        opaque = alpha[..., 0] > 0.5
        ids[region][opaque] = len(labels) + 1
        labels.append(label)
        # the pixels just painted: all of the new object's
        areas.append(int(opaque.sum()))
        if rng.random() < spec.occlusion:
            _occlude(canvas, ids, areas, region, rng, spec.min_visible)
    # the whole photo: a light gradient, a little blur and sensor noise, so the objects
    # sit in it
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    gy, gx = gy / height, gx / width
    canvas *= (
        rng.uniform(0.8, 1.15)
        + rng.uniform(-0.2, 0.2) * gx
        + rng.uniform(-0.2, 0.2) * gy
    )[..., None]
    canvas = canvas + rng.normal(0, 0.012, canvas.shape).astype(np.float32)
    image = Image.fromarray((np.clip(canvas, 0, 1) * 255).round().astype(np.uint8))
    objects = []
    masks = np.zeros_like(ids)
    # renumber the objects that stayed visible enough
    for k, label in enumerate(labels, start=1):
        ys, xs = np.nonzero(ids == k)
        if len(ys) == 0:
            continue
        objects.append(
            (
                label,
                [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
            )
        )
        masks[ids == k] = len(objects)
    return np.asarray(image), objects, masks


def _paste_decoy(canvas: np.ndarray, spec: SceneSpec, rng: np.random.Generator) -> None:
    """Paste a decoy: a random class's silhouette, filled with a random photo crop."""
    height, width = canvas.shape[:2]
    name = spec.classes[int(rng.integers(len(spec.classes)))]
    sprite = _sprite(name, rng, int(rng.uniform(*spec.scale) * min(height, width)))
    h, w = sprite.shape[:2]
    if h >= height or w >= width:
        return
    y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
    alpha, region = sprite[..., 3:], (slice(y, y + h), slice(x, x + w))
    canvas[region] *= (
        1 - np.roll(alpha, (max(1, h // 25), max(1, w // 25)), (0, 1)) * 0.35
    )
    canvas[region] = canvas[region] * (1 - alpha) + _background(rng, h, w) * alpha


def _all_visible(
    ids: np.ndarray, areas: list[int], covered: np.ndarray, min_visible: float
) -> bool:
    """Whether every object keeps ``min_visible`` of its pasted pixels if the pixels
    ``covered`` are hidden."""
    hidden = np.bincount(covered.ravel(), minlength=len(areas) + 1)
    shown = np.bincount(ids.ravel(), minlength=len(areas) + 1)
    return all(
        shown[k] - hidden[k] >= min_visible * area
        for k, area in enumerate(areas, start=1)
    )


def _occlude(canvas, ids, areas, region, rng, min_visible) -> None:
    """Cover part of the last object's box with a strip of another photo, if every
    object stays visible enough."""
    ys, xs = region
    h, w = ys.stop - ys.start, xs.stop - xs.start
    depth = rng.uniform(0.15, 0.4)
    # cover the top, bottom, left or right part of the object's box
    side = int(rng.integers(4))
    if side < 2:
        oh, ow = int(h * depth), w
        oy, ox = (ys.start if side == 0 else ys.stop - oh), xs.start
    else:
        oh, ow = h, int(w * depth)
        oy, ox = ys.start, (xs.start if side == 2 else xs.stop - ow)
    patch = _background(rng, max(h, w), max(h, w))
    if oh < 2 or ow < 2:
        return
    cover = np.zeros(ids.shape, dtype=bool)
    cover[oy : oy + oh, ox : ox + ow] = True
    if not _all_visible(ids, areas, ids[cover], min_visible):
        return
    canvas[oy : oy + oh, ox : ox + ow] = patch[:oh, :ow]
    ids[cover] = 0


def write_split(
    out: Path, spec: SceneSpec, count: int, masks: bool = False, first: int = 0
) -> Path:
    """Write scenes ``first`` … ``first + count - 1`` of ``spec`` into the folder
    ``out`` (see the module doc)."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    if masks:
        (out / "masks").mkdir(exist_ok=True)
    rows = []
    for i in range(first, first + count):
        image, objects, instance = render_scene(spec, i)
        name = f"{i}.png"
        Image.fromarray(image).save(out / "images" / name, compress_level=1)
        if masks:
            Image.fromarray(instance).save(out / "masks" / name, compress_level=1)
        rows += [[name, label, *box] for label, box in objects]
    with open(out / "label.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["img_name", "label", "xmin", "ymin", "xmax", "ymax"])
        writer.writerows(rows)
    return out
