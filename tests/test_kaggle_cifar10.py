"""Kaggle CIFAR-10 (14_kaggle_cifar10): label files, the hard-link reorganisation, the submission writer and
validator. The reference is the d2l package's own reorganisation, run on a copy of the same tree."""

import csv
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from d2l import torch as d2l
from hypothesis import given, settings
from hypothesis import strategies as st

import d2lx
import d2lx.kaggle_cifar10 as kaggle

CLASSES = ["bird", "cat", "dog"]


def make_competition(root: Path, per_class: dict[str, int], tests: int = 5) -> Path:
    """A tiny Kaggle-layout folder: train/<id>.png (tiny distinct bytes), trainLabels.csv, test/, sample."""
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    labels = [label for label, n in per_class.items() for _ in range(n)]
    labels = labels[1::2] + labels[::2]  # interleave the classes a little
    rows = []
    for i, label in enumerate(labels, start=1):
        (root / "train" / f"{i}.png").write_bytes(f"train {i}".encode())
        rows.append(f"{i},{label}")
    (root / "trainLabels.csv").write_text("id,label\n" + "\n".join(rows) + "\n")
    for i in range(1, tests + 1):
        (root / "test" / f"{i}.png").write_bytes(f"test {i}".encode())
    (root / "sampleSubmission.csv").write_text("id,label\n" + "".join(f"{i},cat\n" for i in range(1, tests + 1)))
    return root


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> content)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------ read_csv_labels
label_names = st.sampled_from(CLASSES + ["airplane", "truck"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(1, 10**6).map(str), label_names, max_size=40))
def test_read_csv_labels_matches_d2l(tmp_path_factory, labels):
    path = tmp_path_factory.mktemp("labels") / "trainLabels.csv"
    path.write_text("id,label\n" + "".join(f"{k},{v}\n" for k, v in labels.items()))
    assert d2lx.read_csv_labels(path) == d2l.read_csv_labels(str(path)) == labels


@pytest.mark.parametrize("content, message", [
    ("id,label\n1,cat\n2\n", "line 3: expected two columns"),
    ("id,label\n1,cat,extra\n", "line 2: expected two columns"),
    ("id,label\n1,\n", "line 2: expected two columns"),
    ("id,label\n1,cat\n1,dog\n", "line 3: id '1' appears twice"),
    ("id,label\n1,../../etc\n", "cannot be a folder name"),
    ("id,label\n1,c\0t\n", "line 2: label .* cannot be a folder name"),
    ("id,label\n1," + "x" * 200 + "\n", "line 2: label .* cannot be a folder name"),
    ("", "is empty"),
])
def test_read_csv_labels_names_the_bad_line(tmp_path, content, message):
    path = tmp_path / "trainLabels.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        d2lx.read_csv_labels(path)
    assert str(path) in str(err.value)


def test_read_csv_labels_unknown_label_and_missing_file(tmp_path):
    path = tmp_path / "trainLabels.csv"
    path.write_text("id,label\n1,cat\n2,banana\n")
    with pytest.raises(ValueError, match="line 3: unknown label 'banana'"):
        d2lx.read_csv_labels(path, classes=CLASSES)
    with pytest.raises(FileNotFoundError, match="nope.csv does not exist"):
        d2lx.read_csv_labels(tmp_path / "nope.csv")


# ------------------------------------------------------------------------------------------------ copyfile
def test_copyfile_links_and_is_idempotent(tmp_path):
    source = tmp_path / "a.png"
    source.write_bytes(b"pixels")
    target = kaggle.copyfile(source, tmp_path / "out" / "cat")
    assert target == tmp_path / "out" / "cat" / "a.png" and os.path.samefile(source, target)
    assert kaggle.copyfile(source, tmp_path / "out" / "cat") == target  # again: nothing changes
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.png"]


def test_copyfile_falls_back_to_a_copy(tmp_path, monkeypatch):
    source = tmp_path / "a.png"
    source.write_bytes(b"pixels")

    def no_links(*args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    target = kaggle.copyfile(source, tmp_path / "other-disk")
    assert target.read_bytes() == b"pixels" and not os.path.samefile(source, target)
    assert kaggle.copyfile(source, tmp_path / "other-disk") == target  # an identical copy is left alone


def test_copyfile_replaces_a_stale_target_and_a_leftover_partial(tmp_path):
    source = tmp_path / "a.png"
    source.write_bytes(b"new pixels")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"half")  # an older, different file under the same name
    (folder / ".a.png.partial").write_bytes(b"half")  # left by an interrupted run
    kaggle.copyfile(source, folder)
    assert (folder / "a.png").read_bytes() == b"new pixels"
    assert sorted(p.name for p in folder.iterdir()) == ["a.png"]


# ------------------------------------------------------------------------------------------------ reorganisation
def test_reorg_matches_d2l(tmp_path):
    ours = make_competition(tmp_path / "ours", {"bird": 7, "cat": 10, "dog": 12})
    theirs = shutil.copytree(ours, tmp_path / "d2l")
    out = d2lx.reorg_cifar10_data(ours, 0.3)
    # the book's reorg_cifar10_data (defined in its notebook, not in the d2l package) is these three calls
    assert d2l.reorg_train_valid(str(theirs), d2l.read_csv_labels(str(theirs / "trainLabels.csv")), 0.3) == 2
    d2l.reorg_test(str(theirs))
    ours_tree, d2l_tree = tree(out), tree(theirs / "train_valid_test")
    assert ours_tree.pop(".complete.json")  # the marker of a finished run; d2l has none

    def per_class(files: dict[str, bytes], split: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name in files:
            if name.startswith(split + "/"):
                label = name.split("/")[1]
                counts[label] = counts.get(label, 0) + 1
        return counts

    for split in ("train_valid", "train", "valid", "test"):
        assert per_class(ours_tree, split) == per_class(d2l_tree, split), split
    # the same images in train_valid and test; valid differs only in *which* images (d2l: listdir order)
    for split in ("train_valid", "test"):
        assert {k: v for k, v in ours_tree.items() if k.startswith(split)} == \
            {k: v for k, v in d2l_tree.items() if k.startswith(split)}
    assert per_class(ours_tree, "valid") == {"bird": 2, "cat": 2, "dog": 2}  # floor(7 * 0.3) per class
    # ours takes the first ids of each class, and hard-links them
    labels = d2lx.read_csv_labels(ours / "trainLabels.csv")
    for label in CLASSES:
        first = sorted((int(i) for i, lab in labels.items() if lab == label))[:2]
        assert sorted(int(p.stem) for p in (out / "valid" / label).iterdir()) == first
    assert all(os.path.samefile(p, ours / "train" / p.name) for p in (out / "train_valid").rglob("*.png"))


def test_reorg_is_idempotent_and_redoes_another_ratio(tmp_path):
    data = make_competition(tmp_path / "c", {"bird": 5, "cat": 5, "dog": 5})
    out = d2lx.reorg_cifar10_data(data, 0.2)
    before = tree(out)
    marker_time = (out / ".complete.json").stat().st_mtime_ns
    assert d2lx.reorg_cifar10_data(data, 0.2) == out
    assert tree(out) == before and (out / ".complete.json").stat().st_mtime_ns == marker_time  # not redone
    d2lx.reorg_cifar10_data(data, 0.4)
    assert sum(1 for _ in (out / "valid").rglob("*.png")) == 6  # 2 per class, none left from the 0.2 run


def test_an_interrupted_reorg_finishes_correctly_when_run_again(tmp_path, monkeypatch):
    clean = make_competition(tmp_path / "clean", {"bird": 6, "cat": 8, "dog": 9})
    broken = shutil.copytree(clean, tmp_path / "broken")
    expected = tree(d2lx.reorg_cifar10_data(clean, 0.25))

    real_copyfile, calls = kaggle.copyfile, []

    def dies_halfway(filename, target_dir):
        if len(calls) == 17:
            Path(target_dir).mkdir(parents=True, exist_ok=True)
            (Path(target_dir) / f".{Path(filename).name}.partial").write_bytes(b"half")  # killed mid-link
            raise KeyboardInterrupt
        calls.append(filename)
        return real_copyfile(filename, target_dir)

    monkeypatch.setattr(kaggle, "copyfile", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        d2lx.reorg_cifar10_data(broken, 0.25)
    assert not (broken / "train_valid_test" / ".complete.json").exists()
    monkeypatch.setattr(kaggle, "copyfile", real_copyfile)
    assert tree(d2lx.reorg_cifar10_data(broken, 0.25)) == expected


def test_reorg_rejects_ids_that_do_not_match(tmp_path):
    data = make_competition(tmp_path / "c", {"bird": 4, "cat": 4, "dog": 4})
    (data / "train" / "99.png").write_bytes(b"stray")
    (data / "train" / "3.png").unlink()
    with pytest.raises(ValueError, match=r"1 images have no label \(first: \['99'\]\), 1 labels have no image "
                                         r"\(first: \['3'\]\)"):
        d2lx.reorg_cifar10_data(data, 0.25)
    with pytest.raises(ValueError, match="valid_ratio must be in"):
        d2lx.reorg_train_valid(data, {}, 1.5)


def test_reorg_into_an_unwritable_folder(tmp_path, monkeypatch):
    data = make_competition(tmp_path / "c", {"bird": 2, "cat": 2, "dog": 2})

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(PermissionError, match="cannot reorganise .*train_valid_test.*Permission denied"):
        d2lx.reorg_cifar10_data(data, 0.5)


# ------------------------------------------------------------------------------------------------ submission
def write_sample(path: Path, ids) -> Path:
    path.write_text("id,label\n" + "".join(f"{i},cat\n" for i in ids))
    return path


def test_write_submission_sorts_ids_and_validates(tmp_path):
    sample = write_sample(tmp_path / "sample.csv", range(1, 13))
    ids = [str(i) for i in range(12, 0, -1)]
    out = d2lx.write_submission(ids, ["dog"] * 12, tmp_path / "submission.csv")
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["id", "label"] and [r[0] for r in rows[1:]] == [str(i) for i in range(1, 13)]
    assert d2lx.check_submission(out, sample, CLASSES) == 12
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


@pytest.mark.parametrize("rows, message", [
    (["1,cat", "2,cat"], r"1 ids of sample.csv are missing \(first: \['3'\]\), 0 ids"),
    (["1,cat", "2,cat", "3,cat", "4,cat"], r"0 ids of sample.csv are missing .*1 ids are not in it \(first: \['4'\]"),
    (["1,cat", "2,cat", "2,dog", "3,cat"], "line 4: id '2' appears twice"),
    (["1,cat", "2,banana", "3,cat"], "line 3: unknown label 'banana'"),
    (["1,cat", "2", "3,cat"], "line 3: expected two columns"),
])
def test_check_submission_catches(tmp_path, rows, message):
    sample = write_sample(tmp_path / "sample.csv", [1, 2, 3])
    bad = tmp_path / "submission.csv"
    bad.write_text("id,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=message):
        d2lx.check_submission(bad, sample, CLASSES)


def test_check_submission_header_and_missing_files(tmp_path):
    sample = write_sample(tmp_path / "sample.csv", [1])
    bad = tmp_path / "submission.csv"
    bad.write_text("ID,Label\n1,cat\n")
    with pytest.raises(ValueError, match=r"the header is \['ID', 'Label'\], but sample.csv has \['id', 'label'\]"):
        d2lx.check_submission(bad, sample, CLASSES)
    with pytest.raises(FileNotFoundError, match="nope.csv does not exist"):
        d2lx.check_submission(tmp_path / "nope.csv", sample, CLASSES)


def test_write_submission_bad_input(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        d2lx.write_submission(["1", "2"], ["cat"], tmp_path / "s.csv")
    with pytest.raises(ValueError, match=r"1 ids appear more than once \(first: \['1'\]\)"):
        d2lx.write_submission(["1", "1"], ["cat", "dog"], tmp_path / "s.csv")
    with pytest.raises(FileNotFoundError, match="the folder .*missing does not exist"):
        d2lx.write_submission(["1"], ["cat"], tmp_path / "missing" / "s.csv")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError, match="folder .* is not writable"):
        d2lx.write_submission(["1"], ["cat"], tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()


def test_write_submission_takes_tensors_by_value(tmp_path):
    import torch

    out = d2lx.write_submission(torch.tensor([2, 1]), ["dog", "cat"], tmp_path / "s.csv")
    assert out.read_text() == "id,label\n1,cat\n2,dog\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_write_submission_into_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="is not writable"):
            d2lx.write_submission(["1"], ["cat"], folder / "s.csv")
    finally:
        folder.chmod(0o755)


# ------------------------------------------------------------------------------------------------ the stand-in
def test_kaggle_standin_layout_and_full_data_override(tmp_path, monkeypatch):
    data = d2lx.data.kaggle_cifar10(quiet=True)
    labels = d2lx.read_csv_labels(data / "trainLabels.csv")
    assert len(labels) == len(list((data / "train").glob("*.png"))) == 1000
    assert sorted(set(labels.values())) == sorted(d2lx.data.package_photos())
    sample = d2lx.read_csv_labels(data / "sampleSubmission.csv")
    assert sorted(sample, key=int) == sorted((p.stem for p in (data / "test").glob("*.png")), key=int)
    assert d2lx.data.read_image(data / "train" / "1.png").size == (32, 32)

    full = make_competition(tmp_path / "full", {"bird": 1, "cat": 1, "dog": 1})
    monkeypatch.setenv("D2LX_KAGGLE_CIFAR10", str(full))
    assert d2lx.data.kaggle_cifar10(quiet=True) == full
    monkeypatch.setenv("D2LX_KAGGLE_CIFAR10", str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="no trainLabels.csv and train/ folder"):
        d2lx.data.kaggle_cifar10(quiet=True)
