"""The detection data set readers (06_detection_dataset), against the d2l package's on the same files."""

import shutil

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from d2l import torch as d2l
from PIL import Image
from torchvision.ops import masks_to_boxes

import d2lx

HEADER = "img_name,label,xmin,ymin,xmax,ymax\n"


def test_read_data_bananas_matches_d2l(monkeypatch):
    root = d2lx.data.fetch("banana-detection", quiet=True)
    monkeypatch.setattr(d2l, "download_extract", lambda name, folder=None: str(root))
    for is_train in (True, False):
        ours_images, ours_targets = d2lx.read_data_bananas(is_train)
        theirs_images, theirs_targets = d2l.read_data_bananas(is_train)
        assert len(ours_images) == len(theirs_images) == (1000 if is_train else 100)
        assert all(torch.equal(a, b) for a, b in zip(ours_images, theirs_images))
        torch.testing.assert_close(ours_targets, theirs_targets.float())
    train_iter, _ = d2lx.load_data_bananas(8)
    X, Y = next(iter(train_iter))
    assert X.shape == (8, 3, 256, 256) and X.dtype == torch.float32 and Y.shape == (8, 1, 5)


@pytest.mark.parametrize("row, message", [
    ("0.png,0,1,2,3\n", "line 2: expected 6 columns"),
    ("0.png,0,1,2,3,\n", "line 2: expected 6 columns"),
    ("0.png,0,a,2,30,40\n", "line 2: label and coordinates must be numbers"),
    ("0.png,0,30,2,10,40\n", "line 2: need xmin < xmax and ymin < ymax"),
    ("0.png,0,1,40,30,40\n", "line 2: need xmin < xmax and ymin < ymax"),
    ("0.png,0,-1,2,30,40\n", "line 2: box .* lies outside the 256x256 image"),
    ("0.png,0,1,2,30,257\n", "line 2: box .* lies outside the 256x256 image"),
    ("../../../../outside.png,0,1,2,30,40\n", "line 2: the image name must be a plain file name"),
    ("images/0.png,0,1,2,30,40\n", "line 2: the image name must be a plain file name"),
    ("..,0,1,2,30,40\n", "line 2: the image name must be a plain file name"),
    ("0.png,nan,1,2,30,40\n", "line 2: the label must be a whole number >= 0"),
    ("0.png,inf,1,2,30,40\n", "line 2: the label must be a whole number >= 0"),
    ("0.png,1.5,1,2,30,40\n", "line 2: the label must be a whole number >= 0"),
    ("0.png,-1,1,2,30,40\n", "line 2: the label must be a whole number >= 0"),
    ("0.png,0,1,2,nan,40\n", "line 2: coordinates must be finite numbers"),
])
def test_read_label_csv_names_file_and_line(tmp_path, row, message):
    path = tmp_path / "label.csv"
    path.write_text(HEADER + row)
    with pytest.raises(ValueError, match=message) as err:
        d2lx.read_label_csv(path)
    assert str(path) in str(err.value)


def test_read_label_csv_header_and_missing_file(tmp_path):
    path = tmp_path / "label.csv"
    path.write_text("name,label,x1,y1,x2,y2\n0.png,0,1,2,3,4\n")
    with pytest.raises(ValueError, match="the header must be img_name,label,xmin,ymin,xmax,ymax"):
        d2lx.read_label_csv(path)
    with pytest.raises(FileNotFoundError, match="nope.csv does not exist"):
        d2lx.read_label_csv(tmp_path / "nope.csv")
    path.write_text(HEADER + "0.png,0,1,2,30,40\n0.png,1,5,5,9,9\n1.png,2,0,0,256,256\n")
    assert d2lx.read_label_csv(path) == {"0.png": [[0, 1, 2, 30, 40], [1, 5, 5, 9, 9]], "1.png": [[2, 0, 0, 256, 256]]}


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P"])
def test_read_rgb_converts_to_three_channels(tmp_path, mode):
    path = tmp_path / f"{mode}.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (9, 7, 3), dtype=np.uint8)).convert(mode).save(path)
    image = d2lx.read_rgb(path)
    assert image.shape == (3, 9, 7) and image.dtype == torch.uint8


def test_read_rgb_names_a_corrupt_or_missing_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png is corrupt or not an image"):
        d2lx.read_rgb(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match="gone.png does not exist"):
        d2lx.read_rgb(tmp_path / "gone.png")


@pytest.fixture(scope="module")
def multi_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    from d2lx import synthetic

    for split, first in (("multi_train", 0), ("multi_val", 20)):
        synthetic.write_split(root / split, d2lx.data.MULTI_SPEC, 20, masks=True, first=first)
    return root


def test_detection_folder_boxes_are_the_masks(multi_root):
    folder = d2lx.DetectionFolder(multi_root / "multi_train")
    assert len(folder) == 20
    total = 0
    for image, target in folder:
        assert image.shape == (3, 256, 256) and target["masks"].shape == (len(target["labels"]), 256, 256)
        if len(target["labels"]):
            from_masks = masks_to_boxes(target["masks"].as_subclass(torch.Tensor)) + torch.tensor([0, 0, 1, 1])
            torch.testing.assert_close(from_masks, target["boxes"].as_subclass(torch.Tensor))
        total += len(target["labels"])
    assert total > 20


def test_detection_folder_rejects_labels_without_images(multi_root, tmp_path):
    copy = shutil.copytree(multi_root / "multi_val", tmp_path / "split")
    (copy / "images" / "21.png").unlink()
    if "21.png" not in d2lx.DetectionFolder(multi_root / "multi_val").objects:
        pytest.skip("scene 21 happens to be empty")
    with pytest.raises(ValueError, match=r"names 1 images that are not in images/ \(first: \['21.png'\]\)"):
        d2lx.DetectionFolder(copy)
    with pytest.raises(FileNotFoundError, match="expected a split in the banana layout"):
        d2lx.DetectionFolder(tmp_path / "nothing")


def test_pad_targets_and_collate(multi_root):
    folder = d2lx.DetectionFolder(multi_root / "multi_train")
    batch = [folder[i] for i in range(8)]
    images, padded, targets = d2lx.collate_detection(batch, max_objects=6)
    assert images.shape == (8, 3, 256, 256) and padded.shape == (8, 6, 5) and len(targets) == 8
    for row, (_, target) in zip(padded, batch):
        k = len(target["labels"])
        assert (row[k:] == -1).all() and torch.equal(row[:k, 0], target["labels"].float())
        torch.testing.assert_close(row[:k, 1:] * 256, target["boxes"].as_subclass(torch.Tensor))
    crowded = max(batch, key=lambda b: len(b[1]["labels"]))[1]
    with pytest.raises(ValueError, match="objects; max_objects is 1"):
        d2lx.pad_targets([crowded], 1, (256, 256))


def test_show_bboxes_takes_a_list_of_rows_as_d2l_passes_it():
    _, ax = plt.subplots()
    d2lx.show_bboxes(ax, [torch.tensor([1.0, 2, 30, 40]), torch.tensor([5.0, 5, 9, 9])], colors=["w"])
    d2lx.show_bboxes(ax, torch.tensor([[1.0, 2, 30, 40]]), labels=["a"])
    assert len(ax.patches) == 3 and [p.get_width() for p in ax.patches] == [29, 4, 29]
    plt.close("all")
