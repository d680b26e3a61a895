"""Input checks for the taught functions, one call each.

Hand-written infrastructure: every check raises a ``ValueError`` (a ``TypeError`` for a
wrong type) that names the argument and says what was expected, so that the notebooks'
functions can stay at the book's size and still fail clearly on careless input.
"""

from __future__ import annotations

import torch

__all__ = [
    "check_boxes",
    "float_boxes",
    "finite_boxes",
    "paired_boxes",
    "positive_values",
    "image_size",
    "image_grid",
    "rgb_image",
    "image_shape",
    "one_of",
    "finite_loss",
    "positive_int",
    "non_empty",
    "existing_file",
    "folder_name",
    "id_label_rows",
    "submission_rows",
    "iou_threshold",
    "anchors",
    "labels",
    "nms_inputs",
    "offsets",
    "detection_inputs",
]


def _tensor(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_boxes(
    boxes: torch.Tensor, name: str = "boxes", fmt: str = "xyxy"
) -> torch.Tensor:
    """Check that `boxes` is an (N, 4) tensor without NaN, in `fmt` ("xyxy" or
    "cxcywh").

    Corners need x1 <= x2 and y1 <= y2; the center format needs w, h >= 0. Returns
    `boxes`.
    """
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (N, 4), got {type(boxes).__name__}"
        )
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"{name} must have shape (N, 4) in {fmt} format, got {tuple(boxes.shape)}"
        )
    # One pass: NaN compares False, so it fails these tests too; the error path tells
    # the two apart.
    if fmt == "xyxy":
        valid, what = boxes[:, 2:] >= boxes[:, :2], "x2 < x1 or y2 < y1"
    elif fmt == "cxcywh":
        valid, what = (
            (boxes[:, 2:] >= 0) & (boxes[:, :2] == boxes[:, :2]),
            "a negative width or height",
        )
    else:
        raise ValueError(f"fmt must be 'xyxy' or 'cxcywh', got {fmt!r}")
    if not valid.all():
        row = int((~valid.all(dim=1)).nonzero()[0])
        what = "NaN coordinates" if boxes[row].isnan().any() else what
        raise ValueError(
            f"{name} has {what} in row {row}: {boxes[row].tolist()} ({fmt} format)"
        )
    return boxes


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """float16 areas overflow past 256 pixels and integers cannot be divided: compute
    in float32 or more."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def float_boxes(boxes: torch.Tensor, name: str) -> torch.Tensor:
    """`check_boxes`, then the boxes in float32 at least (float64 stays float64)."""
    return _at_least_float32(check_boxes(boxes, name))


def paired_boxes(
    boxes: torch.Tensor, like: torch.Tensor, name: str, like_name: str
) -> None:
    """Two sets of corner boxes of one shape (N, 4), one box of `boxes` for each of
    `like`."""
    check_boxes(like, like_name)
    if check_boxes(boxes, name).shape != like.shape:
        raise ValueError(
            f"{name} must have the shape of {like_name}, {tuple(like.shape)}, one box "
            f"per row; got {tuple(boxes.shape)}"
        )


def finite_boxes(boxes: torch.Tensor, name: str) -> torch.Tensor:
    """`float_boxes` with finite coordinates."""
    boxes = float_boxes(boxes, name)
    if not torch.isfinite(boxes).all():
        raise ValueError(f"{name} must have finite coordinates")
    return boxes


def positive_values(values, name: str, device=None) -> torch.Tensor:
    """A non-empty list or tensor of positive, finite numbers, as a 1-D float32
    tensor."""
    try:
        t = torch.as_tensor(values, dtype=torch.float32, device=device).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        t = torch.empty(0)
    if t.numel() == 0 or not torch.isfinite(t).all() or (t <= 0).any():
        raise ValueError(
            f"{name} must be a non-empty list of positive numbers, got {values!r}"
        )
    return t


def image_size(data: torch.Tensor, name: str = "data") -> tuple[int, int]:
    """(H, W) of a tensor shaped (..., H, W) with H, W > 0."""
    _tensor(data, name)
    if data.ndim < 2 or 0 in data.shape[-2:]:
        raise ValueError(
            f"{name} must have shape (..., H, W) with H, W > 0, got {tuple(data.shape)}"
        )
    return int(data.shape[-2]), int(data.shape[-1])


def image_grid(img, num_rows, num_cols, num_images) -> int:
    """An image (PIL, (H, W, C) array or (C, H, W) tensor with 1 or 3 channels) and a
    grid of at least one cell; returns num_images (default: the whole grid), which must
    fit in the grid."""
    from torchvision.transforms import v2

    try:
        shape = tuple(v2.functional.to_image(img).shape)
    except TypeError:
        raise TypeError(
            f"img must be a PIL image, an (H, W, C) array or a (C, H, W) tensor, "
            f"got {type(img).__name__}"
        ) from None
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape[1:]) < 1:
        raise ValueError(
            f"img must be an image with 1 or 3 channels, (C, H, W), got shape {shape}"
        )
    if not (
        isinstance(num_rows, int)
        and isinstance(num_cols, int)
        and num_rows >= 1
        and num_cols >= 1
    ):
        raise ValueError(
            f"num_rows and num_cols must be positive ints, got {num_rows!r} and "
            f"{num_cols!r}"
        )
    grid = num_rows * num_cols
    num_images = grid if num_images is None else num_images
    if not 1 <= num_images <= grid:
        raise ValueError(
            f"num_images must be between 1 and the {num_rows}x{num_cols} grid's "
            f"{grid}, got {num_images}"
        )
    return num_images


def rgb_image(img, name: str = "img", min_side: int = 16) -> torch.Tensor:
    """A photo as a (3, H, W) tensor: a PIL image of any mode, or a (C, H, W) tensor
    with 1, 3 or 4 channels (grey becomes RGB, alpha is dropped), at least min_side
    pixels on each side."""
    from torchvision.transforms import v2

    if hasattr(img, "convert"):  # PIL: grey, palette and RGBA all become RGB
        img = img.convert("RGB")
    x = v2.functional.to_image(img)
    if x.ndim != 3 or x.shape[0] not in (1, 3, 4):
        raise ValueError(
            f"{name} must be an image with 1, 3 or 4 channels, (C, H, W), got shape "
            f"{tuple(x.shape)}"
        )
    x = x.expand(3, -1, -1) if x.shape[0] == 1 else x[:3]
    if min(x.shape[1:]) < min_side:
        raise ValueError(
            f"{name} is {x.shape[2]}x{x.shape[1]} pixels: too small (at least "
            f"{min_side}x{min_side})"
        )
    return x


def image_shape(
    shape, name: str = "image_shape", min_side: int = 32
) -> tuple[int, int]:
    """(h, w), two whole numbers, both at least min_side."""
    if (
        not isinstance(shape, (tuple, list, torch.Size))
        or len(shape) != 2
        or any(isinstance(v, bool) or int(v) != v for v in shape)
        or min(shape) < min_side
    ):
        raise ValueError(
            f"{name} must be (h, w), whole numbers both at least {min_side}, got "
            f"{shape!r}"
        )
    return int(shape[0]), int(shape[1])


def positive_int(value, name: str) -> int:
    """A positive int (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def one_of(value, choices, name: str):
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    return value


def finite_loss(loss, advice: str) -> None:
    """A finite loss; else a FloatingPointError with ``advice``."""
    if not torch.isfinite(loss).all():
        raise FloatingPointError(
            f"the loss became {loss.detach().cpu().tolist()}: {advice}"
        )


def non_empty(
    count: int, name: str, hint: str = "it must yield at least one batch"
) -> None:
    """A loader that yields at least one batch, or a data set that holds at least one
    example (``count`` is its length)."""
    if count == 0:
        raise ValueError(f"{name} is empty: {hint}")


def existing_file(fname, what: str = "file"):
    """``fname`` as a Path, which must be an existing file."""
    from pathlib import Path

    fname = Path(fname)
    if not fname.is_file():
        raise FileNotFoundError(f"{what} {fname} does not exist")
    return fname


def folder_name(label: str, where: str) -> str:
    """A label that can name a folder: not empty, at most 100 characters, no path
    separator or NUL."""
    if (
        not label
        or label in {".", ".."}
        or len(label) > 100
        or any(c in label for c in "/\\\0")
        or not label.isprintable()
    ):
        shown = label if len(label) <= 40 else label[:40] + "..."
        raise ValueError(
            f"{where}: label {shown!r} cannot be a folder name (at most 100 printable "
            "characters, no / or \\)"
        )
    return label


def id_label_rows(lines: list[list[str]], fname, classes=None) -> None:
    """The rows of a Kaggle label file, header first: two columns, unique ids, labels
    that can name folders (and are in ``classes`` when given). Errors name the file and
    the line."""
    if not lines:
        raise ValueError(f"{fname} is empty; expected a header line such as 'id,label'")
    seen = set()
    for line, row in enumerate(lines[1:], start=2):
        where = f"{fname}, line {line}"
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ValueError(f"{where}: expected two columns 'id,label', got {row}")
        name, label = row[0].strip(), folder_name(row[1].strip(), where)
        if name in seen:
            raise ValueError(f"{where}: id {name!r} appears twice")
        if classes is not None and label not in classes:
            raise ValueError(
                f"{where}: unknown label {label!r}; expected one of {sorted(classes)}"
            )
        seen.add(name)


def submission_rows(ids, labels) -> tuple[list[str], list[str]]:
    """ids and labels as lists of strings (tensors and numbers by value), of one
    length, ids unique."""

    def plain(x):
        return str(x.item() if hasattr(x, "item") else x)

    ids, labels = [plain(i) for i in ids], [plain(label) for label in labels]
    if len(ids) != len(labels):
        raise ValueError(
            f"ids and labels must have the same length, got {len(ids)} and "
            f"{len(labels)}"
        )
    if len(set(ids)) != len(ids):
        seen, twice = set(), []
        for i in ids:
            if i in seen and i not in twice:
                twice.append(i)
            seen.add(i)
        raise ValueError(f"{len(twice)} ids appear more than once (first: {twice[:5]})")
    return ids, labels


def iou_threshold(value, name: str = "iou_threshold") -> float:
    """An IoU threshold in [0, 1]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= 1
    ):
        # NaN fails 0 <= value too
        raise ValueError(f"{name} must be an IoU in [0, 1], got {value!r}")
    return float(value)


def anchors(anchors: torch.Tensor, name: str = "anchors") -> torch.Tensor:
    """(1, A, 4) or (A, 4) corner anchors -> (A, 4), checked, in float32 at least."""
    _tensor(anchors, name)
    if (
        anchors.ndim not in (2, 3)
        or anchors.shape[-1] != 4
        or (anchors.ndim == 3 and anchors.shape[0] != 1)
    ):
        raise ValueError(
            f"{name} must have shape (1, A, 4) or (A, 4), got {tuple(anchors.shape)}"
        )
    return finite_boxes(anchors.reshape(-1, 4), name)


def labels(labels: torch.Tensor) -> torch.Tensor:
    """Padded labels (B, G, 5), rows (class, x1, y1, x2, y2), padding rows of class < 0.

    Returns the mask (B, G) of the real rows, whose classes must be whole numbers and
    whose boxes are checked; padding rows may hold anything.
    """
    if not isinstance(labels, torch.Tensor) or labels.ndim != 3 or labels.shape[2] != 5:
        shape = (
            tuple(labels.shape)
            if isinstance(labels, torch.Tensor)
            else type(labels).__name__
        )
        raise ValueError(
            "labels must have shape (B, G, 5), rows (class, x1, y1, x2, y2), got "
            f"{shape}"
        )
    classes = labels[:, :, 0]
    real = classes >= 0
    ok = (classes[real] == classes[real].round()) & (classes[real] < 2**31)
    if not ok.all():
        bad = classes[real][~ok][0].item()
        raise ValueError(
            f"labels[..., 0] must be whole class ids (or < 0 for padding), got {bad}"
        )
    if real.any():
        finite_boxes(labels[:, :, 1:][real], "labels[..., 1:] (rows with class >= 0)")
    return real


def nms_inputs(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold_: float):
    """Boxes (N, 4) with finite corners, in float32 at least; scores (N,); an IoU
    threshold."""
    boxes = finite_boxes(boxes, "boxes")
    _tensor(scores, "scores")
    if scores.shape != boxes.shape[:1]:
        raise ValueError(
            f"scores must have shape ({boxes.shape[0]},), one per box, got "
            f"{tuple(scores.shape)}"
        )
    if torch.isnan(scores).any():
        raise ValueError("scores has NaN")
    iou_threshold(iou_threshold_)
    return boxes, scores


def offsets(anchors: torch.Tensor, offset_preds: torch.Tensor) -> None:
    """anchors (A, 4) corners; offset_preds (A, 4) or (B, A, 4) without NaN."""
    check_boxes(anchors, "anchors")
    _tensor(offset_preds, "offset_preds")
    if offset_preds.shape[-2:] != anchors.shape or offset_preds.ndim > 3:
        raise ValueError(
            "offset_preds must have shape (A, 4) or (B, A, 4) with A = "
            f"{anchors.shape[0]} anchors, got {tuple(offset_preds.shape)}"
        )
    if torch.isnan(offset_preds).any():
        raise ValueError("offset_preds has NaN")


def detection_inputs(
    cls_probs: torch.Tensor,
    offset_preds: torch.Tensor,
    anchors_: torch.Tensor,
    nms_threshold: float,
):
    """multibox_detection's inputs: cls_probs (B, 1 + C, A), offset_preds (B, A * 4),
    anchors.

    Returns (cls_probs, offset_preds, anchors (A, 4)), in float32 at least.
    """
    _tensor(cls_probs, "cls_probs")
    if cls_probs.ndim != 3 or cls_probs.shape[1] < 2:
        raise ValueError(
            "cls_probs must have shape (B, 1 + C, A) with C >= 1, got "
            f"{tuple(cls_probs.shape)}"
        )
    batch, _, num_anchors = cls_probs.shape
    anchors_ = anchors(anchors_)
    _tensor(offset_preds, "offset_preds")
    if anchors_.shape[0] != num_anchors or offset_preds.shape != (
        batch,
        num_anchors * 4,
    ):
        raise ValueError(
            f"expected anchors (1, {num_anchors}, 4) and offset_preds ({batch}, "
            f"{num_anchors * 4}), "
            f"got {tuple(anchors_.shape)} and {tuple(offset_preds.shape)}"
        )
    if torch.isnan(cls_probs).any():
        raise ValueError("cls_probs contains NaN")
    if not (
        offset_preds.abs() < 400
    ).all():  # exp(400 / 5) is 5e34: larger ones decode to infinite boxes
        raise ValueError(
            "offset_preds must be finite, with |offset| < 400 (they decode to finite "
            "boxes)"
        )
    iou_threshold(nms_threshold, "nms_threshold")
    return _at_least_float32(cls_probs), _at_least_float32(offset_preds), anchors_
