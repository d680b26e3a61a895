"""d2lx.data: verified atomic downloads, safe extraction, the registry and the offline stand-ins."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from d2lx import data


@pytest.fixture
def registry(monkeypatch):
    """A scratch registry, so tests can register throwaway entries."""
    scratch = dict(data.REGISTRY)
    monkeypatch.setattr(data, "REGISTRY", scratch)
    return scratch


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, body in members.items():
            z.writestr(name, body)
    return buf.getvalue()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# --- downloads -------------------------------------------------------------------------------------------------
def test_download_verifies_and_caches(http_server, data_dir, registry):
    base, routes = http_server
    body = b"hello d2lx" * 1000
    routes["/ok.bin"] = (200, body, None)
    data.register("ok", base + "ok.bin", sha256=hashlib.sha256(body).hexdigest())
    path = data.download("ok")
    assert path.read_bytes() == body and path.parent == data_dir / "downloads"
    routes.clear()  # a second call must come from the cache, not the network
    assert data.download("ok") == path
    assert _leftovers(path.parent) == ["ok.bin"], "no temporary file may remain"


def test_d2l_sha1_is_checked(http_server, data_dir, registry):
    base, routes = http_server
    routes["/d2l.zip"] = (200, b"payload", None)
    data.register("d2l-style", base + "d2l.zip", sha1=hashlib.sha1(b"payload").hexdigest())
    assert data.download("d2l-style").read_bytes() == b"payload"


def test_checksum_mismatch_deletes_and_names_both_hashes(http_server, data_dir, registry):
    base, routes = http_server
    routes["/bad.zip"] = (200, b"tampered", None)
    expected = "0" * 40
    data.register("bad", base + "bad.zip", sha1=expected)
    with pytest.raises(data.ChecksumError) as err:
        data.download("bad")
    message = str(err.value)
    assert "bad.zip" in message and expected in message and hashlib.sha1(b"tampered").hexdigest() in message
    assert _leftovers(data_dir / "downloads") == [], "a failed download must leave nothing behind"


def test_interrupted_download_leaves_no_file(http_server, data_dir, registry):
    base, routes = http_server
    routes["/cut.zip"] = (200, b"only part of it", 10_000)  # the server claims more than it sends
    data.register("cut", base + "cut.zip", sha1="1" * 40)
    with pytest.raises(data.DownloadError, match="cut"):
        data.download("cut")
    assert _leftovers(data_dir / "downloads") == []


def test_http_error_is_a_download_error(http_server, data_dir, registry):
    base, _ = http_server
    data.register("missing", base + "missing.zip", sha1="1" * 40)
    with pytest.raises(data.DownloadError, match="404"):
        data.download("missing")


def test_corrupt_cache_is_replaced(http_server, data_dir, registry):
    base, routes = http_server
    routes["/f.bin"] = (200, b"right", None)
    data.register("f", base + "f.bin", sha256=hashlib.sha256(b"right").hexdigest())
    (data_dir / "downloads").mkdir(parents=True)
    (data_dir / "downloads" / "f.bin").write_bytes(b"wrong")
    assert data.download("f").read_bytes() == b"right"


def test_unhashed_image_is_checked_by_content(http_server, data_dir, registry):
    base, routes = http_server
    routes["/fake.jpg"] = (200, b"<html>not an image</html>", None)
    data.register("fake.jpg", base + "fake.jpg")
    with pytest.raises(ValueError, match="not an image"):
        data.download("fake.jpg")
    assert _leftovers(data_dir / "downloads") == []


def test_offline_download_raises(monkeypatch, data_dir, registry):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    data.register("far", "http://example.invalid/far.zip", sha1="1" * 40)
    with pytest.raises(data.OfflineError, match="far"):
        data.download("far")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(data.UnknownDatasetError) as err:
        data.fetch("bananas-typo")
    assert "bananas-typo" in str(err.value) and "banana-detection" in str(err.value) and "hotdog" in str(err.value)


def test_registry_has_what_the_notebooks_need():
    for name in ("banana-detection", "hotdog", "cifar10", "cifar10_tiny", "voc2012", "catdog.jpg", "rainier.jpg",
                 "autumn-oak.jpg"):
        assert name in data.REGISTRY
    assert data.REGISTRY["banana-detection"].sha1 == "5de26c8fce5ccdea9f91267273464dc968d20d72"
    from torchvision.datasets import CIFAR10

    assert (data.REGISTRY["cifar10"].url, data.REGISTRY["cifar10"].md5) == (CIFAR10.url, CIFAR10.tgz_md5)


# --- extraction ------------------------------------------------------------------------------------------------
def test_extract_zip_and_tar(tmp_path):
    members = {"top/a.txt": b"a", "top/sub/b.txt": b"b"}
    (tmp_path / "x.zip").write_bytes(_zip_bytes(members))
    out = data.extract(tmp_path / "x.zip", tmp_path / "zip-out")
    assert (out / "top/sub/b.txt").read_bytes() == b"b"
    with tarfile.open(tmp_path / "x.tar.gz", "w:gz") as t:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
    out = data.extract(tmp_path / "x.tar.gz", tmp_path / "tar-out")
    assert (out / "top/a.txt").read_bytes() == b"a"


@pytest.mark.parametrize("name", ["../evil.txt", "top/../../evil.txt", "/etc/evil.txt", "C:/evil.txt"])
def test_zip_refuses_escaping_members(tmp_path, name):
    (tmp_path / "x.zip").write_bytes(_zip_bytes({"ok.txt": b"ok", name: b"evil"}))
    with pytest.raises(data.UnsafeArchiveError, match="refus"):
        data.extract(tmp_path / "x.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["x.zip"], "no partial folder may remain"


def test_zip_refuses_symlinks(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "/etc/passwd")
    (tmp_path / "x.zip").write_bytes(buf.getvalue())
    with pytest.raises(data.UnsafeArchiveError, match="link"):
        data.extract(tmp_path / "x.zip", tmp_path / "out")


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "device", "dotdot", "absolute"])
def test_tar_refuses_links_devices_and_escapes(tmp_path, kind):
    info = tarfile.TarInfo({"dotdot": "../x", "absolute": "/x"}.get(kind, "member"))
    if kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    elif kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, "/etc/passwd"
    elif kind == "device":
        info.type = tarfile.CHRTYPE
    with tarfile.open(tmp_path / "x.tar", "w") as t:
        t.addfile(info, io.BytesIO(b""))
    with pytest.raises(data.UnsafeArchiveError):
        data.extract(tmp_path / "x.tar", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extract_rejects_a_non_archive(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        data.extract(tmp_path / "x.zip", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.extract(tmp_path / "nope.zip", tmp_path / "out")


def test_fetch_extracts_an_archive_when_online(http_server, data_dir, registry, capsys):
    base, routes = http_server
    body = _zip_bytes({"thing/label.csv": b"img_name,label\n"})
    routes["/thing.zip"] = (200, body, None)
    data.register("thing", base + "thing.zip", sha256=hashlib.sha256(body).hexdigest(), folder="thing")
    path = data.fetch("thing")
    assert (path / "label.csv").exists() and "the real data" in capsys.readouterr().out


# --- stand-ins and images --------------------------------------------------------------------------------------
def test_photo_standin_offline(monkeypatch, data_dir, capsys):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    img, boxes = data.photo("catdog.jpg")
    assert "stand-in" in capsys.readouterr().out
    assert img.mode == "RGB" and img.size == (512, 512)
    assert set(boxes) == {"astronaut", "helmet"}
    for x1, y1, x2, y2 in boxes.values():
        assert 0 <= x1 < x2 <= img.size[0] and 0 <= y1 < y2 <= img.size[1]
    path = data.fetch("catdog.jpg", quiet=True)
    assert path.name == "catdog.jpg" and Image.open(path).format == "JPEG", "same on-disk format as the real one"
    assert data.photo("catdog.jpg", quiet=True)[0].tobytes() == img.tobytes(), "deterministic"


def test_standin_is_built_atomically(monkeypatch, data_dir, registry):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    data.register("fragile", "http://example.invalid/fragile.zip", folder="fragile")

    @data.standin("fragile", "a builder that dies half-way")
    def _build(out):
        out.mkdir(parents=True)
        (out / "half.txt").write_text("half")
        raise RuntimeError("builder died")

    with pytest.raises(RuntimeError, match="builder died"):
        data.fetch("fragile")
    assert _leftovers(data_dir / "standins") == [], "a failed build must leave nothing behind"


def test_no_standin_yet_is_a_clear_error(monkeypatch, data_dir):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    monkeypatch.setitem(data.REGISTRY, "plain", data.Entry("plain", "http://127.0.0.1:9/plain.zip", folder="plain"))
    with pytest.raises(data.OfflineError, match="plain.*no offline stand-in"):
        data.fetch("plain")


def test_a_standin_under_a_nested_folder_lands_there(monkeypatch, data_dir):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    def build(out):
        out.mkdir(parents=True)
        (out / "x.txt").write_text("x")

    entry = data.Entry("nested", "http://127.0.0.1:9/nested.tar", folder="Top/Inner", standin_builder=build)
    monkeypatch.setitem(data.REGISTRY, "nested", entry)
    path = data.fetch("nested", quiet=True)
    assert path.parts[-2:] == ("Top", "Inner") and (path / "x.txt").read_text() == "x"


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        data.read_image(tmp_path / "nope.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match="broken.png"):
        data.read_image(tmp_path / "broken.png")
    Image.new("L", (4, 3)).save(tmp_path / "gray.png")
    assert data.read_image(tmp_path / "gray.png").mode == "RGB"


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("D2LX_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data.cache_dir() == tmp_path / "elsewhere" and (tmp_path / "elsewhere").is_dir()
    monkeypatch.delenv("D2LX_DATA_DIR")
    assert data.cache_dir().name == "cache" and os.access(data.cache_dir(), os.W_OK)


# --- image-classification stand-ins ----------------------------------------------------------------------------
def test_cifar10_standin_reads_like_cifar(monkeypatch, data_dir, capsys):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    train = data.cifar10(train=True)
    assert "stand-in" in capsys.readouterr().out
    test = data.cifar10(train=False, quiet=True)
    assert (len(train), len(test)) == (2000, 1000)
    assert len(train.classes) == 10 and train.classes == test.classes
    assert sorted(set(train.targets)) == list(range(10))
    assert [train.targets.count(c) for c in range(10)] == [200] * 10, "balanced classes"
    image, label = train[0]
    assert image.size == (32, 32) and image.mode == "RGB" and 0 <= label < 10
    assert train.data.shape == (2000, 32, 32, 3), "torchvision parsed CIFAR's pickled batch layout"
    folder = data.fetch("cifar10", quiet=True)
    names = sorted(p.name for p in folder.iterdir())
    assert {"data_batch_1", "data_batch_5", "test_batch", "batches.meta"} <= set(names)


def test_cifar10_standin_is_deterministic(monkeypatch, tmp_path):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    digests = []
    for run in ("a", "b"):
        monkeypatch.setenv("D2LX_DATA_DIR", str(tmp_path / run))
        folder = data.fetch("cifar10", quiet=True)
        digests.append({p.name: data.file_hashes(p)["sha256"] for p in folder.iterdir()})
    assert digests[0] == digests[1]


def test_cifar10_corrupt_batch_names_the_file(monkeypatch, data_dir):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    folder = data.fetch("cifar10", quiet=True)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(data.ChecksumError, match="data_batch_3"):
        data.cifar10(quiet=True)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        data.cifar10(quiet=True)


def test_hotdog_standin_layout_and_classes(monkeypatch, data_dir):
    monkeypatch.setenv("D2LX_OFFLINE", "1")
    root = data.fetch("hotdog", quiet=True)
    assert root.name == "hotdog"
    for split, per_class in (("train", 60), ("test", 40)):
        folder = data.image_folder(root / split)
        assert folder.classes == ["face", "not-face"]
        assert [folder.targets.count(c) for c in range(2)] == [per_class, per_class]
        image, _ = folder[0]
        assert image.mode == "RGB" and image.size == (25, 25)
    train_files = {p.name for p in (root / "train" / "face").iterdir()}
    test_files = {p.name for p in (root / "test" / "face").iterdir()}
    assert not train_files & test_files, "no image is in both splits"


def test_image_folder_names_a_corrupt_file(monkeypatch, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "ok.png")
    (tmp_path / "b" / "bad.png").write_bytes(b"\x89PNG broken")
    folder = data.image_folder(tmp_path)
    with pytest.raises(ValueError, match="bad.png"):
        [folder[i] for i in range(len(folder))]
    with pytest.raises(FileNotFoundError, match="missing"):
        data.image_folder(tmp_path / "missing")


def test_md5_is_a_recorded_hash(http_server, data_dir, registry):
    base, routes = http_server
    body = b"cifar-ish bytes"
    routes["/c.bin"] = (200, body, None)
    data.register("c", base + "c.bin", md5=hashlib.md5(body).hexdigest())
    assert data.download("c").read_bytes() == body
    data.register("c-bad", base + "c.bin", md5="0" * 32)
    with pytest.raises(data.ChecksumError, match="md5"):
        data.download("c-bad")


def test_first_per_class_keeps_file_order_and_checks_its_argument():
    class Toy:
        targets = [2, 0, 2, 1, 0, 2, 0]

    assert data.first_per_class(Toy(), 2).indices == [0, 1, 2, 3, 4]
    assert data.first_per_class(Toy(), 1).indices == [0, 1, 3]
    for bad in (0, -1, 1.5, None):
        with pytest.raises(ValueError, match="per_class must be a positive int"):
            data.first_per_class(Toy(), bad)
