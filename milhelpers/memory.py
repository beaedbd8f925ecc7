"""How much memory a piece of work took: the peak resident set size above where it started.

``resource.getrusage(...).ru_maxrss`` is the high-water mark of the whole process — it never goes
down, so a second run in the same process (the runner trains many) would report the first run's
peak. :class:`PeakRSS` samples the process's current resident set size (``/proc/self/statm``,
which counts PyTorch's own allocations, unlike ``tracemalloc``) from a background thread while
the work runs and keeps the largest value above the starting one::

    with PeakRSS() as mem:
        fit(...)
    mem.peak_mb        # MB above the RSS at the start of the block

Sampling every ``interval`` seconds can miss a peak shorter than that; training a MIL model holds
its largest tensors for a whole step, far longer than the default 10 ms. Where ``/proc`` does not
exist (macOS, Windows) the value is NaN.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["PeakRSS", "current_rss_mb"]

_STATM = Path("/proc/self/statm")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else float("nan")


def current_rss_mb() -> float:
    """This process's resident set size now, in MB (NaN where ``/proc`` is missing)."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE_MB
    except (OSError, IndexError, ValueError):
        return float("nan")


class PeakRSS:
    """Context manager: ``peak_mb`` = max sampled RSS − RSS at entry (MB, ≥ 0; NaN without
    ``/proc``)."""

    def __init__(self, interval: float = 0.01):
        self.interval = float(interval)
        self.start_mb = float("nan")
        self.max_mb = float("nan")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.max_mb = max(self.max_mb, current_rss_mb())

    def __enter__(self) -> "PeakRSS":
        self.start_mb = self.max_mb = current_rss_mb()
        if self.start_mb == self.start_mb:          # not NaN: /proc is there
            self._thread = threading.Thread(target=self._sample, name="PeakRSS", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.max_mb = max(self.max_mb, current_rss_mb())

    @property
    def peak_mb(self) -> float:
        return max(0.0, self.max_mb - self.start_mb)
