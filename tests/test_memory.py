"""PeakRSS: the peak resident memory of a block, above where the block started."""
import math

import numpy as np
import pytest

from milhelpers.memory import PeakRSS, current_rss_mb

pytestmark = pytest.mark.skipif(math.isnan(current_rss_mb()), reason="needs /proc/self/statm")


def test_a_block_that_holds_200_mb_reports_about_200_mb_and_one_that_holds_nothing_little():
    with PeakRSS() as big:
        a = np.ones(200 * 2**20 // 8)         # 200 MB, touched (ones writes every page)
        a.sum()
        del a
    with PeakRSS() as small:
        sum(range(1000))
    assert 180 < big.peak_mb < 260           # the pages were resident while the block ran
    assert small.peak_mb < 20
    # the high-water mark of the process would still say 200 MB for the second block


def test_a_peak_freed_before_the_block_ends_is_still_seen():
    with PeakRSS(interval=0.005) as mem:
        a = np.ones(100 * 2**20 // 8)
        import time
        time.sleep(0.05)                      # held for ten sampling intervals
        del a
    assert mem.peak_mb > 80
