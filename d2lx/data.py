"""Data: a registry of downloads, a verified and atomic download cache, safe extraction,
offline stand-ins.

Hand-written (not exported from a notebook). The one call a notebook makes is
:func:`fetch` (or :func:`photo` for a single annotated image). It prints whether it got
the real data or the offline stand-in, and returns a path in the same on-disk layout
either way, so the notebook code that reads it is the same.

Where the cache lives: ``$D2LX_DATA_DIR`` if set, else ``data/cache`` in a source
checkout, else ``~/.cache/d2lx``. Offline mode: ``D2LX_OFFLINE=1``, or the network is
unreachable within a few seconds.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import http.client
import json
import math
import os
import shutil
import socket
import stat
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from d2lx import synthetic
from d2lx.runtime import is_offline_forced

__all__ = [
    "DATA_URL",
    "REGISTRY",
    "Entry",
    "ChecksumError",
    "DownloadError",
    "OfflineError",
    "UnknownDatasetError",
    "UnsafeArchiveError",
    "cache_dir",
    "first_per_class",
    "link_or_copy",
    "read_label_csv",
    "read_rgb",
    "write_text_atomically",
    "register",
    "standin",
    "is_online",
    "file_hashes",
    "download",
    "extract",
    "fetch",
    "photo",
    "read_image",
    "image_folder",
    "cifar10",
    "kaggle_cifar10",
    "MULTI_SPEC",
    "multi_detection",
    "package_photos",
    "random_patches",
    "save_image",
    "save_json",
]

#: d2l's bucket: the book's data sets live here.
DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
#: The book's own figures (catdog.jpg, rainier.jpg, autumn-oak.jpg) live in its
# repository.
D2L_IMG_URL = "https://raw.githubusercontent.com/d2l-ai/d2l-en/master/img/"
_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A download or cached file does not match its recorded hash."""


class OfflineError(RuntimeError):
    """The real data are needed but the network is off or unreachable."""


class DownloadError(OSError):
    """A download failed on the way: HTTP error, connection lost, cut short. Nothing
    was kept."""


class UnknownDatasetError(LookupError):
    """A name that is not in the registry."""

    def __str__(self) -> str:  # LookupError would repr() the message
        return str(self.args[0])


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, or is a link or a
    device."""


@dataclass
class Entry:
    """One registered download.

    ``folder`` is the top-level folder inside an archive (``None`` for a single file).
    ``sha1`` is d2l's recorded hash, ``md5`` torchvision's, ``sha256`` ours. An entry
    with none is verified by content only and prints a warning. ``boxes`` holds known
    object boxes (pixels, corner format) of a single photo, real and stand-in.
    """

    name: str
    url: str
    sha1: str | None = None
    sha256: str | None = None
    md5: str | None = None
    folder: str | None = None
    boxes: dict[str, list[float]] = field(default_factory=dict)
    standin_builder: Callable[[Path], dict | None] | None = None
    standin_note: str = ""
    standin_version: str = "1"

    @property
    def filename(self) -> str:
        return PurePosixPath(urllib.parse.urlparse(self.url).path).name

    @property
    def is_archive(self) -> bool:
        return self.filename.endswith((".zip", ".tar", ".tar.gz", ".tgz"))


REGISTRY: dict[str, Entry] = {}


def register(name: str, url: str, **kwargs) -> Entry:
    """Add a download to the registry (see :class:`Entry` for the fields) and return
    it."""
    if name in REGISTRY:
        raise ValueError(f"data set {name!r} is registered twice")
    REGISTRY[name] = entry = Entry(name=name, url=url, **kwargs)
    return entry


def standin(name: str, note: str, version: str = "1"):
    """Decorator: register ``builder(out: Path)`` as the offline stand-in of ``name``.

    For an archive, the builder fills the folder ``out`` exactly as the real archive's
    top folder looks. For a single file, it writes the file ``out``. It may return a
    dict of object boxes for a photo. ``version`` is part of the cache key: bump it when
    the builder's output changes.
    """

    def wrap(builder: Callable[[Path], dict | None]):
        entry = _entry(name)
        entry.standin_builder, entry.standin_note, entry.standin_version = (
            builder,
            note,
            version,
        )
        return builder

    return wrap


def _entry(name: str) -> Entry:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownDatasetError(
            f"unknown data set {name!r}; known: {known}"
        ) from None


def cache_dir() -> Path:
    """The cache folder: ``$D2LX_DATA_DIR``, else ``data/cache`` in a source checkout,
    else ``~/.cache/d2lx``."""
    if env := os.environ.get("D2LX_DATA_DIR"):
        root = Path(env).expanduser()
    else:
        checkout = Path(__file__).resolve().parent.parent / "data"
        root = (
            checkout / "cache"
            if (checkout / "PROVENANCE.md").exists()
            else Path.home() / ".cache" / "d2lx"
        )
    root.mkdir(parents=True, exist_ok=True)
    return root


@functools.cache
def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_online(url: str = DATA_URL, timeout: float = 3.0) -> bool:
    """False when ``D2LX_OFFLINE`` is set or ``url``'s host cannot be reached within
    ``timeout`` seconds.

    The answer is remembered per host for the session, so a notebook without network
    pays the wait once.
    """
    if is_offline_forced():
        return False
    parts = urllib.parse.urlparse(url)
    return _reachable(
        parts.hostname or "",
        parts.port or (443 if parts.scheme == "https" else 80),
        timeout,
    )


_ALGORITHMS = ("sha256", "sha1", "md5")


def _hashers() -> dict:
    return {algo: hashlib.new(algo, usedforsecurity=False) for algo in _ALGORITHMS}


def file_hashes(path: Path) -> dict[str, str]:
    """The sha256, sha1 and md5 hex digests of a file, read in chunks."""
    hashers = _hashers()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {algo: h.hexdigest() for algo, h in hashers.items()}


def _check_hash(path: Path, entry: Entry, actual: dict[str, str]) -> None:
    for algo in _ALGORITHMS:
        expected = getattr(entry, algo)
        if expected and actual[algo] != expected.lower():
            raise ChecksumError(
                f"{path.name} ({entry.name}) failed its {algo} check: expected "
                f"{expected}, got {actual[algo]}; "
                "the file was deleted, run again to re-download"
            )


def _verify_content(path: Path, entry: Entry) -> None:
    """For an entry without a recorded hash, at least check that the file is what it
    claims to be."""
    if Path(entry.filename).suffix.lower() in {".jpg", ".jpeg", ".png"}:
        read_image(path)
    elif entry.is_archive and not (
        zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
    ):
        raise ChecksumError(f"{path.name} ({entry.name}) is not a valid archive")


def _stream(url: str, tmp: Path, timeout: float) -> dict[str, str]:
    """Stream ``url`` into ``tmp`` with a progress bar; return its hashes."""
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "d2lx"})
    hashers = _hashers()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if getattr(response, "status", 200) != 200:
            raise OSError(f"GET {url} answered HTTP {response.status}")
        total = int(response.headers.get("Content-Length") or 0) or None
        with (
            open(tmp, "wb") as out,
            tqdm(total=total, unit="B", unit_scale=True, desc=tmp.name) as bar,
        ):
            received = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                for h in hashers.values():
                    h.update(chunk)
                bar.update(len(chunk))
                received += len(chunk)
    # read(amt) returns b"" when the connection drops early
    if total is not None and received != total:
        raise http.client.IncompleteRead(b"", total - received)
    return {algo: h.hexdigest() for algo, h in hashers.items()}


def download(name: str, *, timeout: float = 30.0) -> Path:
    """Download ``name`` into the cache unless a verified copy is there; return the
    file's path.

    The file is streamed to a temporary name beside its final one, verified against the
    recorded hash, then renamed, so an interrupted or failed download never leaves a
    file under the final name. A mismatch deletes the file and raises
    :class:`ChecksumError` naming the file and both hashes.
    """
    entry = _entry(name)
    target = cache_dir() / "downloads" / entry.filename
    if target.exists():
        try:
            _check_hash(target, entry, file_hashes(target))
            return target
        except ChecksumError:
            target.unlink()  # a corrupt cache entry: fetch it again
    if not is_online(entry.url):
        raise OfflineError(
            f"{name} is not cached and the network is off or unreachable ({entry.url})"
        )

    def fetch_verified(tmp: Path) -> None:
        try:
            actual = _stream(entry.url, tmp, timeout)
        except (OSError, http.client.HTTPException) as err:
            raise DownloadError(
                f"downloading {name} from {entry.url} failed: {err!r}; nothing was kept"
            ) from err
        _check_hash(target, entry, actual)
        if not (entry.sha1 or entry.sha256 or entry.md5):
            _verify_content(tmp, entry)
            print(
                f"warning: no recorded hash for {name}; checked its content only "
                f"(sha256 {actual['sha256']})"
            )

    return _write_atomically(target, fetch_verified)


def _write_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary file beside ``target``, then rename it to
    ``target``; return ``target``.

    If ``write`` raises, the temporary file is deleted and ``target`` is left as it was:
    never half a file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=f".partial{target.suffix}"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _build_folder(target: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp)`` on a new temporary folder beside ``target``, then rename it to
    ``target`` (replacing what was there); return ``target``. If ``build`` raises, the
    temporary folder is deleted: never half a folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
        )
    )
    try:
        build(tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _check_member(name: str, target: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if (
        path.is_absolute()
        or name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")
    ):
        raise UnsafeArchiveError(
            f"archive member {name!r} has an absolute path; refusing to extract"
        )
    if ".." in path.parts:
        raise UnsafeArchiveError(
            f"archive member {name!r} contains '..' and would escape {target}; refusing"
        )


def _safe_members_zip(archive: zipfile.ZipFile, target: Path) -> None:
    for info in archive.infolist():
        _check_member(info.filename, target)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(
                f"archive member {info.filename!r} is a symbolic link; refusing to "
                "extract"
            )
        # 0: no type recorded, a plain file
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(
                f"archive member {info.filename!r} is not a regular file; refusing"
            )


def _safe_members_tar(archive: tarfile.TarFile, target: Path) -> list[tarfile.TarInfo]:
    members = archive.getmembers()
    for member in members:
        _check_member(member.name, target)
        if member.issym() or member.islnk():
            raise UnsafeArchiveError(
                f"archive member {member.name!r} is a link; refusing to extract"
            )
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(
                f"archive member {member.name!r} is a device or fifo; refusing to "
                "extract"
            )
    return members


def extract(archive: Path, target: Path) -> Path:
    """Extract a zip or tar ``archive`` into the new folder ``target``, safely and
    atomically.

    Every member is checked first: absolute paths, ``..``, links and devices raise
    :class:`UnsafeArchiveError` and nothing is written. The archive is unpacked into a
    temporary sibling folder that is renamed to ``target`` at the end. An existing
    ``target`` is returned as it is.
    """
    archive, target = Path(archive), Path(target)
    if target.is_dir():
        return target
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist")

    def unpack(tmp: Path) -> None:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _safe_members_zip(z, target)
                z.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                members = _safe_members_tar(t, target)
                t.extractall(tmp, members=members, filter="data")
        else:
            raise ValueError(f"{archive.name} is neither a zip nor a tar archive")

    return _build_folder(target, unpack)


def _build_standin(entry: Entry) -> tuple[Path, dict | None]:
    """Build (once) and return the stand-in of ``entry``, in the real data's on-disk
    layout."""
    if entry.standin_builder is None:
        raise OfflineError(
            f"{entry.name} needs the network ({entry.url}) and has no offline stand-in "
            "yet; connect once to cache it, or unset D2LX_OFFLINE"
        )
    root = cache_dir() / "standins" / f"{entry.name}-v{entry.standin_version}"
    out = root / (entry.folder or entry.filename)
    meta = root / "boxes.json"
    if not out.exists():

        def build(tmp: Path) -> None:
            boxes = entry.standin_builder(tmp / out.relative_to(root))
            if boxes:
                (tmp / "boxes.json").write_text(json.dumps(boxes))

        _build_folder(root, build)
    return out, json.loads(meta.read_text()) if meta.exists() else None


def _fetch(name: str, quiet: bool = False) -> tuple[Path, dict, bool]:
    """Return (path, boxes, is_real); print which one is used unless ``quiet``."""
    entry = _entry(name)
    try:
        path = download(name)
        if entry.is_archive:
            path = extract(path, cache_dir() / "extracted" / name) / (
                entry.folder or ""
            )
        if not quiet:
            print(f"{name}: the real data ({entry.url})")
        return path, dict(entry.boxes), True
    except (OfflineError, DownloadError) as err:
        reason = "offline" if isinstance(err, OfflineError) else str(err)
        path, boxes = _build_standin(entry)
        if not quiet:
            print(f"{name}: {reason}, so using the stand-in: {entry.standin_note}")
        return path, boxes or {}, False


def fetch(name: str, quiet: bool = False) -> Path:
    """The path of data set ``name``: the real one when online or cached, else its
    offline stand-in.

    For an archive this is its top folder, for a single file the file. Prints one line
    saying which.
    """
    return _fetch(name, quiet)[0]


def read_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file as RGB. Missing, corrupt or unreadable files raise an error
    naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(
            f"image file {path} is corrupt or not an image: {err}"
        ) from err


def read_rgb(path: str | os.PathLike):
    """Read an image file as a (3, H, W) uint8 tensor; grey, palette and RGBA images
    become RGB. A missing or corrupt file raises an error naming it."""
    import numpy as np
    import torch

    return torch.from_numpy(np.array(read_image(path))).permute(2, 0, 1).contiguous()


LABEL_HEADER = ["img_name", "label", "xmin", "ymin", "xmax", "ymax"]


def read_label_csv(
    fname: str | os.PathLike, image_size: int = 256
) -> dict[str, list[list[float]]]:
    """Read a detection label file (header ``img_name,label,xmin,ymin,xmax,ymax``) into
    ``{img_name: [[label, xmin, ymin, xmax, ymax], ...]}`` in file order (pixels, corner
    format).

    Every row is checked, and a bad one raises a ValueError naming the file and the
    line: a missing column, an image name that is not a plain file name (no folders, no
    ``..``), a label that is not a whole number >= 0, a coordinate that is not a finite
    number, xmax <= xmin, ymax <= ymin, or a box outside [0, image_size].
    """
    fname = Path(fname)
    if not fname.is_file():
        raise FileNotFoundError(f"label file {fname} does not exist")
    with open(fname, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [h.strip() for h in rows[0]] != LABEL_HEADER:
        raise ValueError(
            f"{fname}: the header must be {','.join(LABEL_HEADER)}, got "
            f"{rows[0] if rows else 'nothing'}"
        )
    objects: dict[str, list[list[float]]] = {}
    for line, row in enumerate(rows[1:], start=2):
        where = f"{fname}, line {line}"
        if len(row) != 6 or not all(cell.strip() for cell in row):
            raise ValueError(
                f"{where}: expected 6 columns {','.join(LABEL_HEADER)}, got {row}"
            )
        name = row[0].strip()
        if (
            name != PurePosixPath(name).name
            or name in {".", ".."}
            or "\\" in name
            or "\0" in name
        ):
            raise ValueError(
                f"{where}: the image name must be a plain file name, got {name!r}"
            )
        try:
            label, x1, y1, x2, y2 = (float(cell) for cell in row[1:])
        except ValueError:
            raise ValueError(
                f"{where}: label and coordinates must be numbers, got {row}"
            ) from None
        if not (math.isfinite(label) and label >= 0 and label == int(label)):
            raise ValueError(
                f"{where}: the label must be a whole number >= 0, got {row[1]!r}"
            )
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            raise ValueError(
                f"{where}: coordinates must be finite numbers, got {row[2:]}"
            )
        if not (x1 < x2 and y1 < y2):
            raise ValueError(
                f"{where}: need xmin < xmax and ymin < ymax, got {row[2:]}"
            )
        if min(x1, y1) < 0 or max(x2, y2) > image_size:
            raise ValueError(
                f"{where}: box {row[2:]} lies outside the {image_size}x{image_size} "
                "image"
            )
        objects.setdefault(name, []).append([label, x1, y1, x2, y2])
    return objects


def link_or_copy(filename: str | os.PathLike, target_dir: str | os.PathLike) -> Path:
    """Put ``filename`` into ``target_dir`` (created if needed) as a hard link, or a
    copy where linking fails.

    Atomic: the link or copy is made under a temporary name and renamed. A target that
    already is the same file (or an identical copy, by size and time stamp) is left
    alone. Returns the target path.
    """
    filename, target_dir = Path(filename), Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / filename.name
    if target.exists():
        source, existing = filename.stat(), target.stat()
        if os.path.samestat(source, existing) or (
            (existing.st_size, existing.st_mtime_ns)
            == (source.st_size, source.st_mtime_ns)
        ):
            return target
    tmp = target_dir / f".{filename.name}.partial"
    tmp.unlink(missing_ok=True)  # left by an interrupted run
    try:
        os.link(filename, tmp)
    # another file system, or links not allowed: copy (with the time stamps)
    except OSError:
        shutil.copy2(filename, tmp)
    os.replace(tmp, target)
    return target


def write_text_atomically(fname: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``fname`` through a temporary file in the same folder and a
    rename; return the path.

    The folder must exist and be writable (else an error saying so); an interrupted
    write leaves no file.
    """
    fname = Path(fname)
    if not fname.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {fname}: the folder {fname.parent} does not exist"
        )
    try:
        fd, tmp = tempfile.mkstemp(
            dir=fname.parent, prefix=f".{fname.name}.", suffix=".partial"
        )
    except OSError as err:
        raise PermissionError(
            f"cannot write {fname}: the folder {fname.parent} is not writable "
            f"({err.strerror})"
        ) from err
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, fname)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return fname


def save_image(image: Image.Image, relative: str) -> Path:
    """Save a PIL image under the cache folder (``relative``, e.g. ``results/x.png``),
    atomically; return the path.

    It is written to a temporary file beside the target, then renamed, so a crash never
    leaves half a file.
    """
    return _write_atomically(cache_dir() / relative, image.save)


def save_json(obj, relative: str) -> Path:
    """Save ``obj`` as JSON under the cache folder (``relative``, e.g.
    ``results/x.json``), atomically; return the path."""
    return _write_atomically(
        cache_dir() / relative, lambda tmp: tmp.write_text(json.dumps(obj, indent=1))
    )


def photo(name: str, quiet: bool = False) -> tuple[Image.Image, dict[str, list[float]]]:
    """A registered photo as an RGB PIL image, with its known object boxes: ``{label:
    [x1, y1, x2, y2]}``.

    The boxes are the book's for the real photo and the stand-in's own for the offline
    one.
    """
    path, boxes, _ = _fetch(name, quiet)
    return read_image(path), boxes


# --------------------------------------------------------------------------------------
# The registry. sha1 values are d2l's own (d2l.DATA_HUB); the book's figures have no
# recorded hash yet.
register(
    "banana-detection",
    DATA_URL + "banana-detection.zip",
    sha1="5de26c8fce5ccdea9f91267273464dc968d20d72",
    folder="banana-detection",
)
register(
    "hotdog",
    DATA_URL + "hotdog.zip",
    sha1="fba480ffa8aa7e0febbb511d181409f899b9baa5",
    folder="hotdog",
)
register(
    "cifar10_tiny",
    DATA_URL + "kaggle_cifar10_tiny.zip",
    sha1="2068874e4b9a9f0fb07ebe0ad2b29754449ccacd",
    folder="kaggle_cifar10_tiny",
)
register(
    "voc2012",
    DATA_URL + "VOCtrainval_11-May-2012.tar",
    sha1="4e443f8a2eca6b1dac8a6c57641b67dd40621a49",
    folder="VOCdevkit/VOC2012",
)
register(
    "catdog.jpg",
    D2L_IMG_URL + "catdog.jpg",
    boxes={"dog": [60.0, 45.0, 378.0, 516.0], "cat": [400.0, 112.0, 655.0, 493.0]},
)
register("rainier.jpg", D2L_IMG_URL + "rainier.jpg")
register("autumn-oak.jpg", D2L_IMG_URL + "autumn-oak.jpg")
register(
    "cifar10",
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    folder="cifar-10-batches-py",
)


def _save_photo(out: Path, array) -> None:
    """Write a stand-in photo (an HWC uint8 array) as the JPEG ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(out, quality=95)


@standin(
    "catdog.jpg",
    "scikit-image's 'astronaut' photo (NASA, public domain): an astronaut and a helmet",
)
def _catdog_standin(out: Path) -> dict:
    from skimage import data as skdata

    _save_photo(out, skdata.astronaut())
    return {
        "astronaut": [28.0, 14.0, 350.0, 511.0],
        "helmet": [280.0, 330.0, 508.0, 511.0],
    }


# --------------------------------------------------------------------------------------
# Image classification: loaders that work the same on the real data and on the
# stand-ins.


def image_folder(root: str | os.PathLike, transform: Callable | None = None):
    """``torchvision.datasets.ImageFolder`` over ``root/<class>/*``, reading each file
    with :func:`read_image`, so a corrupt or unreadable image raises an error naming
    that file."""
    from torchvision.datasets import ImageFolder

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    return ImageFolder(root, transform=transform, loader=read_image)


def cifar10(
    train: bool = True,
    transform: Callable | None = None,
    quiet: bool = False,
    per_class: int | None = None,
):
    """CIFAR-10 as ``torchvision.datasets.CIFAR10``: the real one (downloaded once,
    md5-checked) when online or cached, else the offline stand-in in the same
    pickled-batch format. ``train`` picks the split.

    per_class: keep only the first ``per_class`` images of each class, in file order (a
    ``Subset``).
    """
    from torchvision.datasets import CIFAR10

    path, _, real = _fetch("cifar10", quiet)
    cls = CIFAR10 if real else _cifar10_standin_class()
    try:
        dataset = cls(
            root=str(path.parent), train=train, transform=transform, download=False
        )
    except (
        RuntimeError
    ) as err:  # torchvision's md5 check of the extracted batches failed
        raise ChecksumError(
            f"{path}: a CIFAR-10 batch file is missing or corrupt ({err}); delete "
            f"{path} and run again to extract it afresh"
        ) from err
    return dataset if per_class is None else first_per_class(dataset, per_class)


def first_per_class(dataset, per_class: int):
    """A ``torch.utils.data.Subset`` of the first ``per_class`` items of each class of
    ``dataset`` (which has ``targets``), in their order."""
    import torch

    if not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive int, got {per_class!r}")
    seen: dict[int, int] = {}
    keep = []
    for index, target in enumerate(int(t) for t in dataset.targets):
        seen[target] = seen.get(target, 0) + 1
        if seen[target] <= per_class:
            keep.append(index)
    return torch.utils.data.Subset(dataset, keep)


def _check_standin_files(folder: Path) -> dict:
    """Check that every file the stand-in's manifest lists is there with its md5 (else
    an error naming the file); return the manifest."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{manifest_path} is missing: the CIFAR-10 stand-in is incomplete; delete "
            f"{folder.parent} and run again"
        )
    manifest = json.loads(manifest_path.read_text())
    for name, md5 in manifest["md5"].items():
        file = folder / name
        if not file.is_file():
            raise FileNotFoundError(
                f"{file} is missing; delete {folder.parent} and run again to rebuild it"
            )
        if file_hashes(file)["md5"] != md5:
            raise ChecksumError(
                f"{file} is corrupt (its md5 is not the one the stand-in recorded); "
                f"delete {folder.parent} and run again to rebuild it"
            )
    return manifest


@functools.cache  # the class needs torchvision: build it on first use only
def _cifar10_standin_class():
    from torchvision.datasets import CIFAR10

    class StandinCIFAR10(CIFAR10):
        """torchvision's CIFAR10 reader with the stand-in's own file list and md5s (from
        its manifest), so torchvision's integrity check runs on the stand-in too."""

        def __init__(self, root: str, *args, **kwargs):
            manifest = _check_standin_files(Path(root) / self.base_folder)
            md5 = manifest["md5"]
            self.train_list = [[name, md5[name]] for name in manifest["train"]]
            self.test_list = [[name, md5[name]] for name in manifest["test"]]
            self.meta = {
                "filename": "batches.meta",
                "key": "label_names",
                "md5": md5["batches.meta"],
            }
            super().__init__(root, *args, **kwargs)

    return StandinCIFAR10


def package_photos() -> dict[str, Image.Image]:
    """Ten real colour photos that scikit-image, scikit-learn and matplotlib ship, by a
    short honest name."""
    import matplotlib.cbook
    from skimage import data as sk
    from sklearn.datasets import load_sample_image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = Image.open(f).convert("RGB")
    arrays = {
        "astronaut": sk.astronaut(),
        "cat": sk.chelsea(),
        "coffee": sk.coffee(),
        "rocket": sk.rocket(),
        "motorcycle": sk.stereo_motorcycle()[0],
        "palace": load_sample_image("china.jpg"),
        "flower": load_sample_image("flower.jpg"),
        "galaxies": sk.hubble_deep_field(),
        "cells": sk.immunohistochemistry(),
    }
    photos = {
        name: Image.fromarray(array).convert("RGB") for name, array in arrays.items()
    }
    photos["grace-hopper"] = hopper
    return photos


def random_patches(
    photo: Image.Image, count: int, size: int, rng, scale: tuple[float, float]
) -> list[Image.Image]:
    """``count`` square crops of ``photo`` with a side of ``scale`` × its short side
    (uniform), at uniform positions, each resized to ``size`` × ``size``. ``rng``: a
    ``numpy.random.Generator``."""
    width, height = photo.size
    sides = rng.uniform(*scale, size=count) * min(width, height)
    xs, ys = (
        rng.uniform(size=count) * (width - sides),
        rng.uniform(size=count) * (height - sides),
    )
    return [
        photo.resize((size, size), Image.Resampling.LANCZOS, box=(x, y, x + s, y + s))
        for x, y, s in zip(xs, ys, sides)
    ]


def _labelled_patches(
    photos: dict[str, Image.Image], names: list[str], total: int, rng
):
    """``total`` 32x32 patches of the photos ``names``, as many of each (in a random
    order): (labels (total,), images (total, 32, 32, 3) uint8), where the label is the
    index of the photo in ``names``."""
    import numpy as np

    labels = rng.permutation(np.arange(total) % len(names))
    images = np.empty((total, 32, 32, 3), dtype=np.uint8)
    for c in range(len(names)):  # each class's patches, in the order its images appear
        images[labels == c] = [
            np.asarray(p)
            for p in random_patches(
                photos[names[c]], int((labels == c).sum()), 32, rng, (0.12, 0.5)
            )
        ]
    return labels, images


_CIFAR_STANDIN = {"train": 2000, "test": 1000, "batches": 5, "seed": 10}


@standin(
    "cifar10",
    f"{_CIFAR_STANDIN['train']} + {_CIFAR_STANDIN['test']} 32x32 patches cut at random "
    "scales from ten photos the packages ship; the class is the photo (astronaut, cat, "
    "coffee, ...)",
)
def _cifar10_standin(out: Path) -> None:
    import pickle

    import numpy as np

    photos = package_photos()
    names = sorted(photos)
    rng = np.random.default_rng(_CIFAR_STANDIN["seed"])
    out.mkdir(parents=True)
    manifest: dict = {"train": [], "test": [], "md5": {}}

    def write(name: str, payload: dict) -> None:
        (out / name).write_bytes(pickle.dumps(payload, protocol=2))
        manifest["md5"][name] = file_hashes(out / name)["md5"]

    for split in ("train", "test"):
        total = _CIFAR_STANDIN[split]
        labels, images = _labelled_patches(photos, names, total, rng)
        # CIFAR's row layout: R plane, G plane, B plane
        data = images.transpose(0, 3, 1, 2).reshape(total, -1)
        batches = _CIFAR_STANDIN["batches"] if split == "train" else 1
        for b, idx in enumerate(np.array_split(np.arange(total), batches)):
            name = f"data_batch_{b + 1}" if split == "train" else "test_batch"
            write(
                name,
                {
                    "batch_label": f"d2lx stand-in {split} batch {b + 1}",
                    "labels": labels[idx].tolist(),
                    "data": data[idx],
                    "filenames": [f"{names[labels[i]]}_{i:05d}.png" for i in idx],
                },
            )
            manifest[split].append(name)
    write(
        "batches.meta",
        {"label_names": names, "num_cases_per_batch": len(idx), "num_vis": 3072},
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out / "readme.html").write_text(
        "<p>d2lx offline stand-in for CIFAR-10: 32x32 patches of ten package photos; "
        "the label is the photo a patch was cut from.</p>\n"
    )


@standin(
    "hotdog",
    "scikit-image's lfw_subset: 25x25 grey faces vs non-faces (classes 'face' and "
    "'not-face'), 60 + 40 per class",
)
def _hotdog_standin(out: Path) -> None:
    import numpy as np
    from skimage import data as sk

    # (200, 25, 25): 100 faces, then 100 non-faces
    images = (sk.lfw_subset() * 255).round().astype(np.uint8)
    rng = np.random.default_rng(0)
    for name, block in (("face", images[:100]), ("not-face", images[100:])):
        order = rng.permutation(len(block))
        for split, idx in (("train", order[:60]), ("test", order[60:])):
            folder = out / split / name
            folder.mkdir(parents=True)
            for i in idx:
                Image.fromarray(block[i]).save(folder / f"{i:03d}.png")


@standin(
    "rainier.jpg",
    "scikit-learn's china.jpg (a temple among trees; Flickr, CC BY 2.0) as the content "
    "photo",
)
def _rainier_standin(out: Path) -> None:
    from sklearn.datasets import load_sample_image

    _save_photo(out, load_sample_image("china.jpg"))


@standin(
    "autumn-oak.jpg",
    "scikit-image's immunohistochemistry (stained tissue, strongly textured) as the "
    "style",
)
def _autumn_oak_standin(out: Path) -> None:
    from skimage import data as sk

    _save_photo(out, sk.immunohistochemistry())


_KAGGLE_STANDIN = {"train": 1000, "test": 300, "seed": 11}


@standin(
    "cifar10_tiny",
    "Kaggle's CIFAR-10 layout (train/*.png, trainLabels.csv, test/*.png, "
    "sampleSubmission.csv) "
    f"with {_KAGGLE_STANDIN['train']} + {_KAGGLE_STANDIN['test']} 32x32 patches of ten "
    "package photos; the label is the photo",
)
def _cifar10_tiny_standin(out: Path) -> None:
    import numpy as np

    photos = package_photos()
    names = sorted(photos)
    rng = np.random.default_rng(_KAGGLE_STANDIN["seed"])
    rows = {}
    for split in ("train", "test"):
        labels, images = _labelled_patches(photos, names, _KAGGLE_STANDIN[split], rng)
        (out / split).mkdir(parents=True)
        for i, image in enumerate(images, start=1):  # Kaggle's ids start at 1
            Image.fromarray(image).save(out / split / f"{i}.png")
        rows[split] = [(i + 1, names[c]) for i, c in enumerate(labels)]
    (out / "trainLabels.csv").write_text(
        "id,label\n" + "".join(f"{i},{label}\n" for i, label in rows["train"])
    )
    # Kaggle's sample submission labels every test image 'cat'; the stand-in has a class
    # of that name too
    (out / "sampleSubmission.csv").write_text(
        "id,label\n" + "".join(f"{i},cat\n" for i, _ in rows["test"])
    )


def kaggle_cifar10(quiet: bool = False) -> Path:
    """The folder of Kaggle's CIFAR-10 competition files (``train/``,
    ``trainLabels.csv``, ``test/``, ``sampleSubmission.csv``).

    The full competition data when you have placed it (README: ``$D2LX_KAGGLE_CIFAR10``,
    else ``<cache>/kaggle-cifar-10``); otherwise d2l's tiny sample when online, else its
    offline stand-in.
    """
    full = Path(
        os.environ.get("D2LX_KAGGLE_CIFAR10") or cache_dir() / "kaggle-cifar-10"
    ).expanduser()
    if (full / "trainLabels.csv").is_file() and (full / "train").is_dir():
        if not quiet:
            print(f"kaggle cifar-10: the full competition data in {full}")
        return full
    if os.environ.get("D2LX_KAGGLE_CIFAR10"):
        raise FileNotFoundError(
            f"D2LX_KAGGLE_CIFAR10={full} has no trainLabels.csv and train/ folder; see "
            "the README for how to download and unpack the competition files"
        )
    return fetch("cifar10_tiny", quiet)


# --------------------------------------------------------------------------------------
# Detection: the banana set's stand-in, and a multi-object, multi-class set with
# instance masks (d2lx.synthetic).

_BANANA_SPEC = synthetic.SceneSpec(
    classes=("banana",), min_objects=1, max_objects=1, seed=0
)
_BANANA_COUNTS = {"bananas_train": 1000, "bananas_val": 100}


@standin(
    "banana-detection",
    "1,000 + 100 photos of the packages (256x256) with one drawn banana each, pasted "
    "at a random scale, place and angle, with shadow, lighting change and occasional "
    "occlusion",
    version=synthetic.spec_key(_BANANA_SPEC, **_BANANA_COUNTS),
)
def _banana_standin(out: Path) -> None:
    first = 0
    for split, count in _BANANA_COUNTS.items():
        synthetic.write_split(out / split, _BANANA_SPEC, count, first=first)
        first += count


#: The multi-object set: 0-6 objects per image from three classes (banana, cup, cat),
# with instance masks.
MULTI_SPEC = synthetic.SceneSpec(
    classes=synthetic.CLASSES, min_objects=0, max_objects=6, scale=(0.15, 0.45), seed=1
)


def multi_detection(
    train: int = 1000,
    val: int = 200,
    spec: synthetic.SceneSpec = MULTI_SPEC,
    quiet: bool = False,
) -> Path:
    """The folder of the generated multi-object detection set: ``multi_train`` and
    ``multi_val``, each with ``images/``, ``masks/`` and ``label.csv`` (see
    :mod:`d2lx.synthetic`).

    Generated once and cached under a key made of ``spec``, the counts and the
    generator's version, so changing any of them builds a new set. Built in a temporary
    folder and renamed, so an interrupted build leaves nothing.
    """
    import time

    if train < 1 or val < 1:
        raise ValueError(f"train and val must be at least 1, got {train} and {val}")
    root = (
        cache_dir()
        / "generated"
        / f"multi-{synthetic.spec_key(spec, train=train, val=val)}"
    )
    if not root.is_dir():

        def build(tmp: Path) -> None:
            synthetic.write_split(tmp / "multi_train", spec, train, masks=True)
            synthetic.write_split(tmp / "multi_val", spec, val, masks=True, first=train)
            (tmp / "spec.json").write_text(
                json.dumps({"classes": list(spec.classes), "train": train, "val": val})
            )

        start = time.perf_counter()
        _build_folder(root, build)
        if not quiet:
            print(
                f"generated {train} + {val} multi-object scenes in "
                f"{time.perf_counter() - start:.1f} s"
            )
    if not quiet:
        print(
            f"multi-object detection set ({', '.join(spec.classes)}; "
            f"{spec.min_objects}-{spec.max_objects} objects "
            f"per image, with instance masks): {root}"
        )
    return root
