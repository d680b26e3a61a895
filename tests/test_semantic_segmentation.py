"""VOC2012 and 10_semantic_segmentation: d2lx.voc (palette, checked reading, the stand-in) and the book's
functions, each checked equal to d2l's on the same files and on random inputs (hypothesis), with bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from d2l import torch as d2l
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import d2lx
from d2lx import voc

VOID = (224, 224, 192)


@pytest.fixture(scope="module")
def standin() -> Path:
    """The VOC stand-in, built once into the shared cache (the notebooks use the same one)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("D2LX_OFFLINE", "1")
        return d2lx.data.fetch("voc2012", quiet=True)


@pytest.fixture(scope="module")
def mini_voc(standin, tmp_path_factory) -> Path:
    """A small copy of the stand-in in VOC's layout: 16 training and 8 validation images, small ones included."""
    root = tmp_path_factory.mktemp("voc") / "VOCdevkit" / "VOC2012"
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    for split, count in (("train", 16), ("val", 8)):
        names = (standin / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()[:count]
        (lists / f"{split}.txt").write_text("\n".join(names) + "\n")
        for folder, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png"), ("SegmentationObject", "png")):
            (root / folder).mkdir(exist_ok=True)
            for name in names:
                shutil.copy(standin / folder / f"{name}.{ext}", root / folder / f"{name}.{ext}")
    return root


# --------------------------------------------------------------------------------------------------------------
# d2lx.voc: the palette, reading a checked pair, the stand-in


def test_palette_is_vocs():
    assert len(voc.PALETTE) == 256 and len(set(voc.PALETTE)) == 256
    assert voc.CLASS_COLOURS == [tuple(c) for c in d2l.VOC_COLORMAP]
    assert voc.PALETTE[voc.VOID] == VOID == voc.VOID_COLOUR
    assert d2lx.VOC_COLORMAP == d2l.VOC_COLORMAP and d2lx.VOC_CLASSES == d2l.VOC_CLASSES


def test_standin_layout_and_labels(standin):
    lists = standin / "ImageSets" / "Segmentation"
    train, val = (lists / "train.txt").read_text().split(), (lists / "val.txt").read_text().split()
    assert (len(train), len(val)) == (voc.STANDIN["train"], voc.STANDIN["val"]) and not set(train) & set(val)
    assert (lists / "trainval.txt").read_text().split() == train + val
    shapes = set()
    for name in train[:24]:
        image, colours = voc.read_pair(standin / "JPEGImages" / f"{name}.jpg",
                                       standin / "SegmentationClass" / f"{name}.png")
        shapes.add(tuple(image.shape[1:]))
        with Image.open(standin / "SegmentationClass" / f"{name}.png") as png:
            assert png.mode == "P" and png.getpalette()[:768] == [v for c in voc.PALETTE for v in c]
        classes = d2lx.voc_label_indices(colours, d2lx.voc_colormap2label())
        objects = voc.read_indices(standin / "SegmentationObject" / f"{name}.png")
        assert set(classes.unique().tolist()) <= {0, 5, 8, 16, 255}
        assert torch.equal(classes == 255, objects == 255), "one void band in both maps"
        assert torch.equal(classes == 0, objects == 0)
        for k in objects.unique().tolist():
            if k not in (0, 255):
                assert len(classes[objects == k].unique()) == 1, "each object has one class"
                # the band surrounds every object: no object pixel touches the background directly
                inside = objects == k
                grown = torch.nn.functional.max_pool2d(inside[None, None].float(), 3, 1, 1)[0, 0] > 0
                assert not (grown & (objects == 0)).any()
    assert shapes == set(voc.STANDIN["shapes"])


def test_standin_colour_alone_does_not_tell_the_class(standin):
    """The issue's 'hard enough': a per-pixel nearest-mean-colour classifier finds almost none of the objects."""
    table = d2lx.voc_colormap2label()

    def pixels(is_train):
        features, labels = d2lx.read_voc_images(standin, is_train)
        rgb = torch.cat([f.flatten(1).T.float() for f in features[:60]])
        label = torch.cat([d2lx.voc_label_indices(lab, table).flatten() for lab in labels[:60]])
        return rgb[label != 255], label[label != 255]

    rgb, label = pixels(True)
    classes = label.unique()
    means = torch.stack([rgb[label == c].mean(0) for c in classes])
    val_rgb, val_label = pixels(False)
    pred = classes[torch.cdist(val_rgb, means).argmin(1)]
    iou = d2lx.widgets.class_iou(pred, val_label, 21)
    assert (iou[classes[1:]] < 0.2).all(), iou[classes]


def test_standin_labels_put_a_band_on_every_outline():
    objects = np.zeros((20, 30), dtype=np.uint8)
    objects[5:12, 4:10], objects[5:12, 10:16] = 1, 2  # two touching objects
    classes, instances = voc._standin_labels(objects, [2, 2])  # two cats
    assert set(np.unique(classes)) == {0, 8, 255} and set(np.unique(instances)) == {0, 1, 2, 255}
    assert (classes[:, 9:11] != 8).all(), "the band separates touching objects"
    assert classes[8, 6] == 8 and instances[8, 6] == 1 and instances[8, 13] == 2


def _write(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def test_read_pair_errors_name_the_files(tmp_path):
    image = np.zeros((6, 8, 3))
    _write(tmp_path / "a.jpg", image)
    label = np.zeros((6, 8, 3))
    label[1, 2] = VOID
    label[2, 3] = (128, 0, 0)
    _write(tmp_path / "ok.png", label)
    img, lab = voc.read_pair(tmp_path / "a.jpg", tmp_path / "ok.png")
    assert img.shape == lab.shape == (3, 6, 8) and img.dtype == lab.dtype == torch.uint8
    assert voc.label_colours(lab) == [(0, 0, 0), (128, 0, 0), VOID]
    label[4, 4], label[5, 5] = (1, 2, 3), (9, 9, 9)
    _write(tmp_path / "odd.png", label)
    with pytest.raises(ValueError, match=r"odd\.png has the colour \(1, 2, 3\) \(and 1 more\)"):
        voc.read_pair(tmp_path / "a.jpg", tmp_path / "odd.png")
    _write(tmp_path / "small.png", np.zeros((5, 8, 3)))
    with pytest.raises(ValueError, match=r"a\.jpg is 6x8 but its label .*small\.png is 5x8"):
        voc.read_pair(tmp_path / "a.jpg", tmp_path / "small.png")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        voc.read_pair(tmp_path / "a.jpg", tmp_path / "missing.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ValueError, match="broken.png"):
        voc.read_pair(tmp_path / "a.jpg", tmp_path / "broken.png")


def test_read_indices_wants_a_palette_png(tmp_path):
    indices = np.array([[0, 1], [255, 2]], dtype=np.uint8)
    png = Image.fromarray(indices, "P")
    png.putpalette([v for c in voc.PALETTE for v in c])
    png.save(tmp_path / "objects.png")
    assert torch.equal(voc.read_indices(tmp_path / "objects.png"), torch.from_numpy(indices))
    _write(tmp_path / "rgb.png", np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="rgb.png is a RGB image, not a palette PNG"):
        voc.read_indices(tmp_path / "rgb.png")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        voc.read_indices(tmp_path / "nope.png")


# --------------------------------------------------------------------------------------------------------------
# The book's functions against d2l's


def test_read_voc_images_equals_d2l(mini_voc):
    for is_train in (True, False):
        ours, theirs = d2lx.read_voc_images(mini_voc, is_train), d2l.read_voc_images(str(mini_voc), is_train)
        for a, b in zip(ours, theirs):
            assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def test_read_voc_images_rejects_a_foreign_colour(mini_voc, tmp_path):
    bad = tmp_path / "VOC2012"
    shutil.copytree(mini_voc, bad)
    name = (bad / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[2]
    label = Image.open(bad / "SegmentationClass" / f"{name}.png").convert("RGB")
    label.putpixel((3, 4), (10, 20, 30))
    label.save(bad / "SegmentationClass" / f"{name}.png")
    with pytest.raises(ValueError, match=rf"{name}\.png has the colour \(10, 20, 30\)"):
        d2lx.read_voc_images(bad, is_train=False)


def test_colormap2label_equals_d2l_but_for_void():
    ours, theirs = d2lx.voc_colormap2label(), d2l.voc_colormap2label()
    void = (VOID[0] * 256 + VOID[1]) * 256 + VOID[2]
    assert ours.dtype == theirs.dtype == torch.long and ours.shape == theirs.shape == (256 ** 3,)
    assert ours[void] == 255 and theirs[void] == 0
    ours[void] = 0
    assert torch.equal(ours, theirs)


colours = st.sampled_from([*map(tuple, d2l.VOC_COLORMAP), VOID, (1, 2, 3), (255, 255, 255)])


@settings(max_examples=60)
@given(st.integers(1, 9), st.integers(1, 9), st.data())
def test_voc_label_indices_equals_d2l(h, w, data):
    pixels = data.draw(st.lists(colours, min_size=h * w, max_size=h * w))
    colormap = torch.tensor(pixels, dtype=torch.uint8).reshape(h, w, 3).permute(2, 0, 1)
    for table in (d2l.voc_colormap2label(), d2lx.voc_colormap2label()):
        assert torch.equal(d2lx.voc_label_indices(colormap, table), d2l.voc_label_indices(colormap, table))
    indices = d2lx.voc_label_indices(colormap, d2lx.voc_colormap2label())
    assert ((indices == 255) == (colormap == torch.tensor(VOID)[:, None, None]).all(0)).all()


@settings(max_examples=60)
@given(st.integers(1, 12), st.integers(1, 12), st.data())
def test_voc_rand_crop_equals_d2l(h, w, data):
    height, width = data.draw(st.integers(1, h)), data.draw(st.integers(1, w))
    seed = data.draw(st.integers(0, 2 ** 31 - 1))
    feature = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    label = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    torch.manual_seed(seed)
    ours = d2lx.voc_rand_crop(feature, label, height, width)
    torch.manual_seed(seed)
    theirs = d2l.voc_rand_crop(feature, label, height, width)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert ours[0].shape == ours[1].shape == (3, height, width)


def test_dataset_equals_d2l_on_training_crops_and_counts_what_it_drops(mini_voc, capsys):
    crop = (192, 256)  # drops the small 160 x 240 images
    ours = d2lx.VOCSegDataset(True, crop, mini_voc)
    out = capsys.readouterr().out
    theirs = d2l.VOCSegDataset(True, crop, str(mini_voc))
    dropped = sum(1 for f in d2lx.read_voc_images(mini_voc)[0] if f.shape[1] < crop[0] or f.shape[2] < crop[1])
    assert dropped > 0 and f"read {len(ours)} examples ({dropped} smaller than 192x256 dropped)" in out
    assert len(ours) == len(theirs) == 16 - dropped
    for i in range(len(ours)):
        torch.manual_seed(i)
        x, y = ours[i]
        torch.manual_seed(i)
        x_ref, y_ref = theirs[i]
        torch.testing.assert_close(x, x_ref)
        assert torch.equal(y[y != 255], y_ref[y != 255]) and (y_ref[y == 255] == 0).all()
        assert x.shape == (3, *crop) and y.shape == crop and y.dtype == torch.long


def test_test_examples_are_the_centre_crop(mini_voc):
    dataset = d2lx.VOCSegDataset(False, (64, 96), mini_voc, mean=(0, 0, 0), std=(1, 1, 1))
    features, labels = d2lx.read_voc_images(mini_voc, False)
    x, y = dataset[0]
    top, left = (features[0].shape[1] - 64) // 2, (features[0].shape[2] - 96) // 2
    torch.testing.assert_close(x, features[0][:, top:top + 64, left:left + 96].float() / 255)
    table = d2lx.voc_colormap2label()
    assert torch.equal(y, d2lx.voc_label_indices(labels[0][:, top:top + 64, left:left + 96], table))
    assert torch.equal(dataset[0][1], y), "the same crop every time"


def test_a_crop_larger_than_every_image_or_not_a_size_is_a_clear_error(mini_voc):
    with pytest.raises(ValueError, match=r"the data set is empty: no image is as large as crop_size \(1000, 1000\)"):
        d2lx.VOCSegDataset(True, (1000, 1000), mini_voc)
    for bad in (64, (64,), (0, 64), (64.5, 96), (True, 64)):
        with pytest.raises(ValueError, match="crop_size must be"):
            d2lx.VOCSegDataset(True, bad, mini_voc)


def test_load_data_voc_batches(monkeypatch, mini_voc):
    monkeypatch.setattr(d2lx.data, "fetch", lambda name, quiet=False: mini_voc)
    train_iter, test_iter = d2lx.load_data_voc(4, (64, 96))
    X, Y = next(iter(train_iter))
    assert X.shape == (4, 3, 64, 96) and Y.shape == (4, 64, 96) and Y.dtype == torch.long
    assert len(train_iter) == 16 // 4 and sum(len(y) for _, y in test_iter) == 8, "test keeps every image"


def _object_maps():
    @st.composite
    def maps(draw):
        h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
        objects = torch.tensor(draw(st.lists(st.sampled_from([0, 1, 2, 3, 255]), min_size=h * w, max_size=h * w)),
                               dtype=torch.uint8).reshape(h, w)
        classes = torch.tensor(draw(st.lists(st.integers(0, 20), min_size=h * w, max_size=h * w))).reshape(h, w)
        return classes, objects
    return maps()


@settings(max_examples=100)
@given(_object_maps())
def test_voc_instances(case):
    classes, objects = case
    boxes, labels, masks = d2lx.voc_instances(classes, objects)
    ids = [k for k in objects.unique().tolist() if k not in (0, 255)]
    assert masks.shape == (len(ids), *objects.shape) and boxes.shape == (len(ids), 4) and labels.dtype == torch.long
    for k, mask, label, box in zip(ids, masks, labels, boxes):
        assert torch.equal(mask, objects == k)
        counts = torch.bincount(classes[mask], minlength=21)
        assert counts[label] == counts.max(), "the class most of the object's pixels have"
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


# --------------------------------------------------------------------------------------------------------------
# The class-overlay widget


def test_draw_class_overlay_tints_only_the_chosen_class():
    image = torch.full((3, 4, 6), 100, dtype=torch.uint8)
    label = torch.zeros(4, 6, dtype=torch.long)
    label[1:3, 1:3], label[0, 5], label[3, 0] = 8, 255, 16
    fig, state = d2lx.widgets.draw_class_overlay(image, label, 1.0, "cat", d2lx.VOC_CLASSES)
    shown = fig.axes[0].images[0].get_array()
    assert np.allclose(shown[1, 1], np.array(voc.PALETTE[8]) / 255) and np.allclose(shown[0, 0], 100 / 255)
    assert np.allclose(shown[3, 0], 100 / 255), "other classes stay as they are"
    assert state == {"pixels": {"background": 18, "cat": 4, "potted plant": 1}, "void": 1, "share": 4 / 24}
    _, state = d2lx.widgets.draw_class_overlay(image, label, 0.5, "all", d2lx.VOC_CLASSES)
    assert state["share"] == 6 / 24, "'all' is every class but background, void included"
    for bad, match in ((dict(alpha=1.5), "alpha"), (dict(shown="dog?"), "shown"),
                       (dict(label=label[:3]), "image is 4x6 but label is 3x6")):
        args = dict(image=image, label=label, alpha=0.5, shown="all", classes=d2lx.VOC_CLASSES) | bad
        with pytest.raises(ValueError, match=match):
            d2lx.widgets.draw_class_overlay(**args)


def test_class_overlay_widget_follows_its_controls():
    images = [torch.zeros(3, 4, 6, dtype=torch.uint8)] * 2
    labels = [torch.zeros(4, 6, dtype=torch.long), torch.full((4, 6), 5)]
    view = d2lx.widgets.ClassOverlay(images, labels, d2lx.VOC_CLASSES)
    assert view.controls["shown"].options == ("all", "background", "bottle")
    assert view.state["share"] == 0
    view.controls["index"].value = 1
    assert view.state["share"] == 1 and "100.0% of image 1" in view.caption.value
    view.controls["shown"].value = "background"
    assert view.state["share"] == 0
    with pytest.raises(ValueError, match="as many labels as images"):
        d2lx.widgets.ClassOverlay(images, labels[:1], d2lx.VOC_CLASSES)


def test_online_voc_is_streamed_verified_extracted_and_cached(mini_voc, http_server, data_dir, monkeypatch):
    """The real data's path, on a small tar in VOC's layout served from loopback under voc2012's file name."""
    import hashlib
    import tarfile

    base, routes = http_server
    archive = data_dir.parent / "VOCtrainval_11-May-2012.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(mini_voc.parent, arcname="VOCdevkit")
    body = archive.read_bytes()
    entry = d2lx.data.Entry("voc2012", base + archive.name, sha1=hashlib.sha1(body).hexdigest(),
                            folder="VOCdevkit/VOC2012")
    monkeypatch.setitem(d2lx.data.REGISTRY, "voc2012", entry)
    routes["/" + archive.name] = (200, body, None)
    path = d2lx.data.fetch("voc2012", quiet=True)
    assert path == data_dir / "extracted" / "voc2012" / "VOCdevkit" / "VOC2012"
    ours, theirs = d2lx.read_voc_images(path, False), d2lx.read_voc_images(mini_voc, False)
    assert all(torch.equal(a, b) for a, b in zip(ours[1], theirs[1]))
    routes.clear()  # from the cache now
    assert d2lx.data.fetch("voc2012", quiet=True) == path
    monkeypatch.setitem(d2lx.data.REGISTRY, "voc2012", d2lx.data.Entry(
        "voc2012", base + "other.tar", sha1="0" * 40, folder="VOCdevkit/VOC2012"))
    routes["/other.tar"] = (200, body, None)
    with pytest.raises(d2lx.data.ChecksumError, match="other.tar"):
        d2lx.data.download("voc2012")
