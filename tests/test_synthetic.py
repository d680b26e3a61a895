"""The synthetic detection scenes (d2lx.synthetic) and the data sets built from them (d2lx.data)."""

import csv
import dataclasses
import hashlib

import numpy as np
import pytest
from PIL import Image

import d2lx
from d2lx import synthetic
from d2lx.synthetic import SceneSpec, render_scene

MULTI = SceneSpec(classes=synthetic.CLASSES, min_objects=0, max_objects=6, seed=5)


# rectangular images, hues turned at random and decoys, as the VOC stand-in draws them
VOC_LIKE = SceneSpec(size=120, height=80, classes=synthetic.CLASSES, min_objects=1, max_objects=5, hue_jitter=0.5,
                     decoys=3, seed=7)


@pytest.mark.parametrize("spec", [SceneSpec(), MULTI, VOC_LIKE], ids=["banana", "multi", "voc-like"])
def test_scenes_are_deterministic_and_boxes_are_the_masks(spec):
    counts = []
    height, width = spec.shape
    for index in range(12):
        image, objects, masks = render_scene(spec, index)
        again = render_scene(spec, index)
        assert np.array_equal(image, again[0]) and objects == again[1] and np.array_equal(masks, again[2])
        assert image.shape == (height, width, 3) and image.dtype == np.uint8 and masks.shape == (height, width)
        assert len(objects) <= spec.max_objects  # (a placement that would hide others too much is skipped)
        assert set(np.unique(masks)) <= set(range(len(objects) + 1))
        for k, (label, box) in enumerate(objects, start=1):
            assert 0 <= label < len(spec.classes)
            ys, xs = np.nonzero(masks == k)
            assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]  # pixel edges of the visible mask
            assert 0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height
        counts.append(len(objects))
    assert not np.array_equal(render_scene(spec, 0)[0], render_scene(spec, 1)[0])
    if spec.max_objects == 1:
        assert counts == [1] * 12  # the banana set: exactly one object in every image
    else:
        assert max(counts) >= 3 and len(set(counts)) >= 3


def test_objects_stay_mostly_visible():
    spec = dataclasses.replace(MULTI, min_objects=6, occlusion=1.0, min_visible=0.6)
    for index in range(8):
        _, objects, masks = render_scene(spec, index)
        for k in range(1, len(objects) + 1):
            assert (masks == k).sum() >= 30  # nothing labelled is a sliver


@pytest.mark.parametrize("kwargs, message", [
    (dict(classes=("banana", "dog")), "classes must be a non-empty subset"),
    (dict(classes=()), "classes must be a non-empty subset"),
    (dict(min_objects=3, max_objects=2), "min_objects <= max_objects"),
    (dict(scale=(0.5, 0.2)), "scale must be"),
    (dict(height=8), "at least 16 pixels"),
    (dict(hue_jitter=0.7), "hue_jitter must be in"),
])
def test_spec_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SceneSpec(**kwargs)


def test_the_new_options_leave_the_old_scenes_as_they_were():
    """height, hue_jitter and decoys draw nothing when unset: the detection sets (07-09) keep their images."""
    digest = hashlib.sha256()
    for spec in (MULTI, SceneSpec()):
        for index in range(4):
            image, objects, masks = render_scene(spec, index)
            digest.update(image.tobytes() + masks.tobytes() + repr(objects).encode())
    assert digest.hexdigest() == "d487108c2e24ce1f953cc864b6e81588ad752f7eaf4b7505a32149b1d862b444"


def test_turning_the_hue_keeps_grey_and_brightness():
    rgb = np.random.default_rng(0).uniform(0.3, 0.7, size=(50, 3)).astype(np.float32)
    assert np.allclose(synthetic._turn_hue(rgb, 0.0), rgb, atol=1e-6)
    assert np.allclose(synthetic._turn_hue(rgb, 1 / 3), rgb[:, [2, 0, 1]], atol=1e-5), "a third of a turn: B, R, G"
    turned = synthetic._turn_hue(rgb, 0.17)
    assert np.allclose(turned.sum(1), rgb.sum(1), atol=1e-5) and not np.allclose(turned, rgb)
    grey = np.full((4, 3), 0.4, dtype=np.float32)
    assert np.allclose(synthetic._turn_hue(grey, 0.3), grey, atol=1e-6)


def test_cache_key_follows_every_parameter():
    base = synthetic.spec_key(MULTI, train=10)
    assert synthetic.spec_key(MULTI, train=10) == base
    assert synthetic.spec_key(MULTI, train=11) != base
    assert synthetic.spec_key(dataclasses.replace(MULTI, seed=6), train=10) != base
    assert synthetic.spec_key(dataclasses.replace(MULTI, scale=(0.2, 0.45)), train=10) != base


def test_write_split_layout(tmp_path):
    out = synthetic.write_split(tmp_path / "s", MULTI, 4, masks=True, first=10)
    names = sorted(p.name for p in (out / "images").iterdir())
    assert names == ["10.png", "11.png", "12.png", "13.png"] == sorted(p.name for p in (out / "masks").iterdir())
    rows = list(csv.reader((out / "label.csv").open()))
    assert rows[0] == ["img_name", "label", "xmin", "ymin", "xmax", "ymax"]
    expected = [[f"{i}.png", str(label), *map(str, box)]
                for i in range(10, 14) for label, box in render_scene(MULTI, i)[1]]
    assert rows[1:] == expected
    assert np.array_equal(np.asarray(Image.open(out / "images" / "12.png")), render_scene(MULTI, 12)[0])
    assert np.array_equal(np.asarray(Image.open(out / "masks" / "12.png")), render_scene(MULTI, 12)[2])


def test_multi_detection_is_cached_by_its_parameters(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("D2LX_DATA_DIR", str(tmp_path))
    root = d2lx.data.multi_detection(train=3, val=2)
    assert "generated 3 + 2" in capsys.readouterr().out
    assert sorted(p.name for p in (root / "multi_val" / "images").iterdir()) == ["3.png", "4.png"]
    assert d2lx.data.multi_detection(train=3, val=2) == root and "generated 3" not in capsys.readouterr().out
    other = d2lx.data.multi_detection(train=3, val=2, spec=dataclasses.replace(MULTI, seed=9), quiet=True)
    assert other != root and other.parent == root.parent
    with pytest.raises(ValueError, match="at least 1"):
        d2lx.data.multi_detection(train=0)


def test_an_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("D2LX_DATA_DIR", str(tmp_path))
    real = synthetic.write_split

    def dies_on_val(out, *args, **kwargs):
        if out.name == "multi_val":
            raise KeyboardInterrupt
        return real(out, *args, **kwargs)

    monkeypatch.setattr(synthetic, "write_split", dies_on_val)
    with pytest.raises(KeyboardInterrupt):
        d2lx.data.multi_detection(train=2, val=2, quiet=True)
    assert list((tmp_path / "generated").iterdir()) == []
    monkeypatch.setattr(synthetic, "write_split", real)
    root = d2lx.data.multi_detection(train=2, val=2, quiet=True)
    assert len(list((root / "multi_train" / "images").iterdir())) == 2


def test_banana_standin_layout():
    root = d2lx.data.fetch("banana-detection", quiet=True)
    for split, count in (("bananas_train", 1000), ("bananas_val", 100)):
        rows = list(csv.reader((root / split / "label.csv").open()))[1:]
        assert len(rows) == count == len(list((root / split / "images").iterdir()))
        assert {r[1] for r in rows} == {"0"}  # one class, one banana per image, as in d2l's set
