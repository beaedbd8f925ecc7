"""Exercise checks of chapters 05 and 06: right answers hold, wrong ones do not, None waits."""
import math

import pandas as pd
import pytest

from milhelpers import exercises as ex


def test_ch05_ex1_random_half_and_the_top_patch():
    right = (math.comb(17, 7) / math.comb(20, 10), math.comb(18, 8) / math.comb(20, 10))
    assert ex.check_ch05_ex1(right) is True
    assert ex.check_ch05_ex1((right[1], right[0])) is False        # swapped
    assert ex.check_ch05_ex1((0.5 ** 3, 0.5 ** 2)) is False         # independent coin flips: wrong
    assert ex.check_ch05_ex1(None) is None
    # n = 10, 2 tumour, m = 5: C(8, 3)/C(10, 5) = 56/252; with the top hidden: 5 of 10 = 1/2
    assert ex.check_ch05_ex1((56 / 252, 0.5), n=10, n_tumour=2) is True


def test_ch05_ex2_follows_the_holm_rule():
    clear = {"diff": 0.05, "lo": 0.01, "hi": 0.09, "p_holm": 0.01}
    held = {"diff": 0.05, "lo": 0.01, "hi": 0.09, "p_holm": 0.2}    # interval clear, Holm not
    assert ex.check_ch05_ex2("better", clear) is True
    assert ex.check_ch05_ex2("no evidence", clear) is False
    assert ex.check_ch05_ex2("no evidence", held) is True
    assert ex.check_ch05_ex2("better", held) is False
    assert ex.check_ch05_ex2("worse", {**clear, "diff": -0.05}) is True
    assert ex.check_ch05_ex2(None, clear) is None


def test_ch06_ex1_both_targets():
    assert ex.check_ch06_ex1(([1 / 3, 1.0], [0.5, 0.5])) is True
    assert ex.check_ch06_ex1(([0.5, 0.5], [1 / 3, 1.0])) is False    # swapped
    assert ex.check_ch06_ex1(([0.25, 0.75], [0.5, 0.5])) is False    # member share, not max-norm
    assert ex.check_ch06_ex1(([1.0, 0.5], [30 / 45, 15 / 45]), labels=(0, 1, 1),
                             tokens=(30, 10, 5)) is False            # the docstring's example
    assert ex.check_ch06_ex1(([0.5, 1.0], [30 / 45, 15 / 45]), labels=(0, 1, 1),
                             tokens=(30, 10, 5)) is True
    assert ex.check_ch06_ex1(None) is None


def test_ch06_ex2_crossing_by_hand():
    # batch 1: 0.01 s + 1e-5 s/token; packed: 0.02 s + 1e-5 s/token; B = 16, no caps biting:
    # ratio(n) = (0.00125 + 1e-5 n) / (0.01 + 1e-5 n) = 0.25 at n = (0.0025 − 0.00125) / 0.75e-5
    costs = pd.DataFrame({"c0": [0.01, 0.02], "c1": [1e-5, 1e-5]}, index=["batch1", "packed"])
    n = (0.0025 - 0.00125) / 0.75e-5                                 # ≈ 167
    assert ex.check_ch06_ex2(n, costs, max_len=10**6, min_len=0) is True
    assert ex.check_ch06_ex2(2 * n, costs, max_len=10**6, min_len=0) is False
    assert ex.check_ch06_ex2("none", costs, max_len=10**6, min_len=0) is False
    slow = pd.DataFrame({"c0": [0.01, 0.5], "c1": [1e-5, 1e-5]}, index=["batch1", "packed"])
    assert ex.check_ch06_ex2("none", slow) is True
    assert ex.check_ch06_ex2(None, costs) is None
