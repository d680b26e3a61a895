"""Profiles, seeds and the progress board."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

import d2lx
from d2lx.progress import ProgressBoard


def test_profile_reads_the_environment(monkeypatch):
    for name in d2lx.PROFILES:
        monkeypatch.setenv("D2LX_PROFILE", name.upper())
        assert d2lx.profile() == name
    monkeypatch.setenv("D2LX_PROFILE", "huge")
    with pytest.raises(ValueError, match="D2LX_PROFILE='huge' is not a profile"):
        d2lx.profile()
    monkeypatch.delenv("D2LX_PROFILE")
    assert d2lx.profile() == ("gpu" if torch.cuda.is_available() else "cpu")


def test_set_seed_makes_runs_repeat():
    d2lx.set_seed(3)
    first = torch.rand(5)
    d2lx.set_seed(3)
    assert torch.equal(first, torch.rand(5))
    with pytest.raises(ValueError, match="seed"):
        d2lx.set_seed(-1)


def test_try_gpu_without_cuda():
    if not torch.cuda.is_available():
        assert d2lx.try_gpu() == torch.device("cpu")
    assert d2lx.try_gpu(99) == torch.device("cpu")


def test_progress_board_records_and_draws():
    board = ProgressBoard(total=4, xlabel="epoch", desc="test")
    assert board.live is False, "no live redraws outside a notebook"
    for step in range(4):
        board.update()
        board.add(step + 1, {"loss": 1 / (step + 1), "acc": None})
    board.add(4, {"test acc": 0.5, "nan": math.nan})
    board.close()
    assert board.history["loss"] == ([1.0, 2.0, 3.0, 4.0], [1.0, 0.5, 1 / 3, 0.25])
    assert "acc" not in board.history and board.bar.n == 4
    fig = board.figure()
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"loss", "test acc", "nan"} and len(lines["loss"].get_xdata()) == 4
    assert fig.axes[0].get_xlabel() == "epoch"
    with pytest.raises(ValueError, match="total"):
        ProgressBoard(total=-1)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is tuned on Linux only")


@linux_only
def test_import_keeps_freed_memory_unless_asked_not_to(monkeypatch):
    assert d2lx.MALLOC_TUNED, "import d2lx tunes glibc's malloc"
    monkeypatch.setenv("D2LX_KEEP_FREED_MEMORY", "0")
    assert d2lx.keep_freed_memory() is False
    monkeypatch.delenv("D2LX_KEEP_FREED_MEMORY")
    assert d2lx.keep_freed_memory() is True


@linux_only
def test_freed_memory_is_reused_after_import():
    """Blocks torch frees come back on the next allocations of their size: no fresh, faulting pages."""
    # like box_iou on a batch: several temporaries of 8 MB alive at once, freed, and made again
    code = ("import os, resource, torch, d2lx\n"
            "def faults():\n"
            "    [torch.ones(2**21) for _ in range(5)]\n"
            "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "    for _ in range(10):\n        [torch.ones(2**21) for _ in range(5)]\n"
            "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before\n"
            "untuned = faults()\n"
            "del os.environ['D2LX_KEEP_FREED_MEMORY']\n"
            "assert d2lx.keep_freed_memory()\n"
            "print(untuned, faults())\n")
    env = {**os.environ, "D2LX_KEEP_FREED_MEMORY": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    untuned, tuned = map(int, out.stdout.split())
    assert tuned * 5 < untuned, (tuned, untuned)  # up to 10 x 5 x 2048 pages without the tuning
