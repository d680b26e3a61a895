"""`make bench`: time each d2lx helper against its reference in the same run and print the ratio.

Absolute times on a shared 2-core machine are noisy; the ratio of two medians measured interleaved is not.
Each ``bench_*.py`` beside this file defines ``cases()``: a list of :class:`Case`. A case with a ``goal``
says whether the ratio meets it; ``--strict`` makes a missed goal exit 1. Other arguments select cases by name.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class Case:
    name: str
    ours: Callable[[], object]
    reference: Callable[[], object]
    reference_name: str
    goal: str = ""  # "faster:50" (at least 50x faster), "within:3" (at most 3x slower), "under:60" (ours takes
    # under 60 s, an absolute goal); empty: report only
    repeats: int = 7


def _median_time(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def measure(case: Case) -> tuple[float, float]:
    """Median seconds of ours and of the reference, measured interleaved after one warm-up each."""
    case.ours()
    case.reference()
    ours, ref = [], []
    for _ in range(case.repeats):
        ours += _median_time(case.ours, 1)
        ref += _median_time(case.reference, 1)
    return statistics.median(ours), statistics.median(ref)


def verdict(goal: str, speedup: float, seconds: float) -> str:
    if not goal:
        return ""
    kind, value = goal.split(":")
    if kind == "under":
        ok, text = seconds < float(value), f"goal under {value} s"
    elif kind == "faster":
        ok, text = speedup >= float(value), f"goal {value}x faster"
    else:
        ok, text = speedup >= 1 / float(value), f"goal within {value}x"
    return f"{text}: {'met' if ok else 'MISSED'}"


def main(argv: list[str]) -> int:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    strict = "--strict" in argv
    selected = [a for a in argv[1:] if a != "--strict"]
    missed = 0
    print(f"{'case':48s} {'d2lx':>10s} {'reference':>10s} {'speed-up':>9s}  reference / goal")
    for path in sorted(here.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for case in module.cases():
            if selected and not any(s in case.name for s in selected):
                continue
            ours, ref = measure(case)
            speedup = ref / ours
            result = verdict(case.goal, speedup, ours)
            missed += "MISSED" in result
            print(f"{case.name:48s} {ours * 1e3:8.2f}ms {ref * 1e3:8.2f}ms {speedup:8.2f}x  "
                  f"{case.reference_name}{'; ' + result if result else ''}", flush=True)
    print(f"goals missed: {missed}" if missed else "every goal met")
    return 1 if missed and strict else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
