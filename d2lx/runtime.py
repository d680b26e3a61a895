"""Profiles, seeds and devices: the few settings every notebook's parameters cell reads.

Hand-written (not exported from a notebook).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import sys

import numpy as np
import torch

__all__ = [
    "PROFILES",
    "profile",
    "set_seed",
    "try_gpu",
    "is_offline_forced",
    "keep_freed_memory",
]

#: The three sizes of every notebook: ``smoke`` (CI, seconds), ``cpu`` (a laptop,
# minutes), ``gpu`` (book scale).
PROFILES = ("smoke", "cpu", "gpu")


def profile() -> str:
    """Return the active profile: ``D2LX_PROFILE`` if set, else ``gpu`` with CUDA and
    ``cpu`` without."""
    name = os.environ.get("D2LX_PROFILE", "").strip().lower()
    if name:
        if name not in PROFILES:
            raise ValueError(
                f"D2LX_PROFILE={name!r} is not a profile; expected one of "
                f"{', '.join(PROFILES)}"
            )
        return name
    return "gpu" if torch.cuda.is_available() else "cpu"


def set_seed(seed: int = 0) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA) so that a run gives the same
    numbers twice."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def try_gpu(i: int = 0) -> torch.device:
    """Return ``cuda:i`` if that GPU exists, else the CPU (d2l's ``try_gpu``)."""
    if torch.cuda.device_count() > i:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def is_offline_forced() -> bool:
    """True when ``D2LX_OFFLINE`` is set to a true value (``make test`` sets it)."""
    return os.environ.get("D2LX_OFFLINE", "").strip().lower() in {
        "1",
        "true",
        "yes",
        "on",
    }


def keep_freed_memory(limit: int = 1 << 28) -> bool:
    """Ask glibc's malloc to keep freed blocks of up to `limit` bytes for reuse; True if
    it did.

    By default glibc hands every block above 128 KB back to the operating system when
    torch frees it, so the next tensor of that size starts on fresh pages, and each
    first write to a page faults. A batch of IoU matrices is several MB: in a virtual
    machine the faults cost more than the arithmetic: 3.4 ms against 22 ms for a
    box_iou of (320, 5444), 441 ms against 621 ms for a TinySSD training step, on this
    project's 2-core machine. jemalloc and tcmalloc keep freed memory too. ``import
    d2lx`` calls this on Linux; set ``D2LX_KEEP_FREED_MEMORY=0`` to leave malloc alone.
    """
    if os.environ.get(
        "D2LX_KEEP_FREED_MEMORY", "1"
    ).strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, limit)) and bool(
            libc.mallopt(m_trim_threshold, limit)
        )
    except (OSError, AttributeError):  # not glibc (musl, say): nothing to tune
        return False
