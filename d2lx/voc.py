"""Pascal VOC2012 on disk: its colour palette, reading a checked image and label pair,
and the offline stand-in.

Hand-written (not exported from a notebook). ``read_voc_images`` (notebook 10) reads
each pair with :func:`read_pair`, which checks what the book's version takes on trust:
that the label is as large as the image and holds only VOC's colours.

VOC's label PNGs are palette images. Index k in 0 … 20 is class k, drawn in colour
``PALETTE[k]`` (the book's ``VOC_COLORMAP``); index 255 is *void*, drawn in
(224, 224, 192): a band about 5 pixels wide along every object's outline, and objects
too hard to label. ``SegmentationClass/`` holds the class of each pixel,
``SegmentationObject/`` the object (1, 2, … in each image) it belongs to.

The stand-in (``d2lx.data.fetch("voc2012")`` offline) has the same layout, drawn by
:mod:`d2lx.synthetic`. VOC has no banana and no cup, so the stand-in labels its cats
*cat*, its cups *bottle* and its bananas *potted plant*, the nearest of VOC's 20
classes. To make colour useless as a cue, every object's hue is turned at random.
Decoys, objects' silhouettes filled with another photo's texture, are labelled
background, so that shape alone is not enough either. Image sizes are VOC's kind: most
are 320 x 480, a quarter portrait (480 x 320), and one in eight small (160 x 240), so
that the book's filter for images smaller than the crop has something to drop.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from d2lx import synthetic
from d2lx.data import standin

__all__ = [
    "PALETTE",
    "VOID",
    "VOID_COLOUR",
    "CLASS_COLOURS",
    "label_colours",
    "read_pair",
    "read_indices",
    "STANDIN",
]


def _palette() -> list[tuple[int, int, int]]:
    """VOC's 256 colours: index k's bits, three at a time, spread over r, g and b from
    the highest bit down (the devkit's ``labelcolormap``)."""
    colours = []
    for index in range(256):
        r = g = b = 0
        for bit in range(8):
            r |= ((index >> (3 * bit)) & 1) << (7 - bit)
            g |= ((index >> (3 * bit + 1)) & 1) << (7 - bit)
            b |= ((index >> (3 * bit + 2)) & 1) << (7 - bit)
        colours.append((r, g, b))
    return colours


PALETTE = _palette()
#: The label of void pixels, which losses and metrics ignore (``ignore_index``).
VOID = 255
VOID_COLOUR = PALETTE[VOID]  # (224, 224, 192)
#: The 21 class colours, background first: the book's VOC_COLORMAP.
CLASS_COLOURS = PALETTE[:21]
_KNOWN = {(r << 16) | (g << 8) | b for r, g, b in [*CLASS_COLOURS, VOID_COLOUR]}


def label_colours(label: torch.Tensor) -> list[tuple[int, int, int]]:
    """The distinct colours of a (3, H, W) uint8 label image, as (r, g, b) tuples."""
    packed = (label[0].int() << 16) | (label[1].int() << 8) | label[2].int()
    return [(v >> 16, (v >> 8) & 255, v & 255) for v in packed.unique().tolist()]


def _decode(path: Path) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_image

    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 deprecates its decoders for TorchCodec's; d2l reads VOC
            # with them, and so do we, so that the images equal d2l's
            warnings.filterwarnings("ignore", "The image decoding", DeprecationWarning)
            return decode_image(str(path), mode=ImageReadMode.RGB)
    except RuntimeError as err:
        raise ValueError(f"cannot decode {path}: {err}") from err


def read_pair(
    image_file: str | os.PathLike, label_file: str | os.PathLike
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read an image and its label PNG as (3, H, W) uint8 RGB tensors, checked.

    Raises ``ValueError`` naming both files when their sizes differ, and naming the
    label file and the colour when a label pixel has a colour that is neither a class
    colour nor the void colour.
    """
    image_file, label_file = Path(image_file), Path(label_file)
    image, label = _decode(image_file), _decode(label_file)
    if image.shape[1:] != label.shape[1:]:
        raise ValueError(
            f"{image_file} is {image.shape[1]}x{image.shape[2]} but its label "
            f"{label_file} is {label.shape[1]}x{label.shape[2]}: they must be the same "
            "size"
        )
    colours = label_colours(label)
    unknown = [c for c in colours if (c[0] << 16) | (c[1] << 8) | c[2] not in _KNOWN]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ValueError(
            f"{label_file} has the colour {unknown[0]}{more}, which is neither a "
            f"class colour of VOC_COLORMAP nor the void colour {VOID_COLOUR}"
        )
    return image, label


def read_indices(png_file: str | os.PathLike) -> torch.Tensor:
    """The palette indices (H, W) uint8 of a palette PNG, as VOC's labels store them
    (in ``SegmentationObject/``: 0 background, 1, 2, … the objects, 255 void)."""
    path = Path(png_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    with Image.open(path) as image:
        if image.mode != "P":
            raise ValueError(f"{path} is a {image.mode} image, not a palette PNG")
        return torch.from_numpy(np.array(image))


# --------------------------------------------------------------------------------------
# The offline stand-in.

#: What the stand-in holds: image counts, the (height, width) cycle of image sizes, the
# class each generated object is labelled with, and the void band's width.
STANDIN = {
    "train": 300,
    "val": 100,
    "shapes": [(320, 480)] * 5 + [(480, 320)] * 2 + [(160, 240)],
    "classes": {"banana": 16, "cup": 5, "cat": 8},  # potted plant, bottle, cat
    "void_width": 5,
    "seed": 12,
}
_SPEC = synthetic.SceneSpec(
    classes=synthetic.CLASSES,
    min_objects=2,
    max_objects=5,
    scale=(0.2, 0.5),
    hue_jitter=0.5,
    decoys=3,
    seed=STANDIN["seed"],
)


def _save_palette_png(array: np.ndarray, path: Path) -> None:
    image = Image.fromarray(array, "P")
    image.putpalette([v for colour in PALETTE for v in colour])
    image.save(path)


def _standin_labels(objects: np.ndarray, labels: list[int]) -> tuple[np.ndarray, ...]:
    """VOC's two label maps from a scene's object map (H, W) (0: background, k: the
    k-th object, of generator class ``labels[k - 1]``): (class map, object map), each
    with the void band along every outline."""
    from scipy import ndimage

    to_voc = [STANDIN["classes"][synthetic.CLASSES[label]] for label in labels]
    classes = np.array([0, *to_voc], dtype=np.uint8)[objects]
    width = STANDIN["void_width"]
    # pixels within width // 2 of a change of object: both sides of every outline
    band = ndimage.maximum_filter(objects, width) != ndimage.minimum_filter(
        objects, width
    )
    classes[band] = VOID
    objects = objects.copy()
    objects[band] = VOID
    return classes, objects


@standin(
    "voc2012",
    f"{STANDIN['train']} + {STANDIN['val']} generated photos in VOC's layout, 2-5 "
    "objects each with pixel-exact labels and a void band: cats as 'cat', cups as "
    "'bottle', bananas as 'potted plant'; random hues and textured decoys",
    version=synthetic.spec_key(_SPEC, **{k: str(v) for k, v in STANDIN.items()}),
)
def _write_standin(out: Path) -> None:
    from dataclasses import replace

    for folder in ("JPEGImages", "SegmentationClass", "SegmentationObject"):
        (out / folder).mkdir(parents=True)
    names = []
    total = STANDIN["train"] + STANDIN["val"]
    for i in range(total):
        height, width = STANDIN["shapes"][i % len(STANDIN["shapes"])]
        spec = replace(_SPEC, size=width, height=height)
        image, objects, ids = synthetic.render_scene(spec, i)
        classes, instances = _standin_labels(ids, [label for label, _ in objects])
        name = f"d2lx_{i:06d}"
        Image.fromarray(image).save(out / "JPEGImages" / f"{name}.jpg", quality=92)
        _save_palette_png(classes, out / "SegmentationClass" / f"{name}.png")
        _save_palette_png(instances, out / "SegmentationObject" / f"{name}.png")
        names.append(name)
    lists = out / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    for split, chosen in (
        ("train", names[: STANDIN["train"]]),
        ("val", names[STANDIN["train"] :]),
        ("trainval", names),
    ):
        (lists / f"{split}.txt").write_text("".join(f"{n}\n" for n in chosen))
