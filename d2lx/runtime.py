"""Profiles, seeds and devices: the few settings every notebook's parameters cell reads.

Hand-written (not exported from a notebook).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["PROFILES", "profile", "set_seed", "try_gpu", "is_offline_forced"]

#: The three sizes of every notebook: ``smoke`` (CI, seconds), ``cpu`` (a laptop, minutes), ``gpu`` (book scale).
PROFILES = ("smoke", "cpu", "gpu")


def profile() -> str:
    """Return the active profile: ``D2LX_PROFILE`` if set, else ``gpu`` with CUDA and ``cpu`` without."""
    name = os.environ.get("D2LX_PROFILE", "").strip().lower()
    if name:
        if name not in PROFILES:
            raise ValueError(f"D2LX_PROFILE={name!r} is not a profile; expected one of {', '.join(PROFILES)}")
        return name
    return "gpu" if torch.cuda.is_available() else "cpu"


def set_seed(seed: int = 0) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA) so that a run gives the same numbers twice."""
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
    return os.environ.get("D2LX_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
