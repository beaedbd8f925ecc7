"""The exercise checks of chapters 03 and 04 (milhelpers.exercises): unanswered, right and wrong
answers, with the right answer computed independently (the package's loss, by hand)."""
import numpy as np
import pandas as pd
import pytest
import torch

from milhelpers import exercises as ex
from milhelpers.losses import branch_diversity


def test_ch03_ex1_cosines_are_the_packages_diversity_loss(capsys):
    assert ex.check_ch03_ex1(None, 0.3) is None
    assert "Not answered yet" in capsys.readouterr().out
    want = [float(branch_diversity(torch.tensor([pair]))) for pair in ex.CH03_EX1_PAIRS.values()]
    assert want[0] == pytest.approx(0.0) and want[1] == pytest.approx(0.16 / 0.52)
    assert ex.check_ch03_ex1(*want) is True
    assert ex.check_ch03_ex1(0.0, 0.5) is False          # the overlap is 0.308, not 0.5
    assert "0.308" in capsys.readouterr().out


def composition(last_tumour):
    # two runs of two branches; the last-ranked branch's tumour share averages `last_tumour`
    return pd.DataFrame({"run": [0, 0, 1, 1], "head": [1, 2, 1, 2],
                         "tumour": [0.9, last_tumour - 0.05, last_tumour + 0.05, 0.8],
                         "rank": [1, 2, 2, 1]})


def test_ch03_ex2_answer_follows_the_learners_own_table():
    null = pd.DataFrame({"run": [0, 0], "rank": [1, 2], "tumour": [0.3, 0.2]})  # last rank: 0.2
    assert ex.check_ch03_ex2(True, composition(0.1), null) is True
    assert ex.check_ch03_ex2(False, composition(0.1), null) is False
    assert ex.check_ch03_ex2(False, composition(0.25), null) is True   # not below the ranked null
    assert ex.check_ch03_ex2(None, composition(0.25), null) is None


def test_ch03_ex3_finds_the_branch_with_most_normal_picks(capsys):
    kinds = np.array(["solid", "normal", "normal", "benign_glands", "glandular"])
    att = np.array([[0.5, 0.1, 0.1, 0.1, 0.2],     # top 2: solid, glandular -> 0 normal
                    [0.1, 0.4, 0.3, 0.1, 0.1],     # top 2: normal, normal -> 100 %
                    [0.1, 0.3, 0.1, 0.4, 0.1]])    # top 2: mimic, normal -> 50 %
    assert ex.check_ch03_ex3(2, att, kinds, k=2) is True
    assert ex.check_ch03_ex3(3, att, kinds, k=2) is False
    assert "most is 100% (branch 2)" in capsys.readouterr().out
    assert ex.check_ch03_ex3(4, att, kinds, k=2) is False
    assert "branches 1 … 3" in capsys.readouterr().out


def test_ch04_ex1_entropy_by_hand():
    a = np.array([0.7, 0.1, 0.1, 0.1])
    r = 0.7 * np.log(0.7) + 0.3 * np.log(0.1)
    assert r == pytest.approx(float((a * np.log(a)).sum()))
    assert ex.check_ch04_ex1(r, np.exp(-r)) is True
    assert ex.check_ch04_ex1(r / np.log(2), np.exp(-r)) is False   # bits, not nats
    assert ex.check_ch04_ex1(None, None) is None


def test_ch04_ex2_first_best_validation_epoch_of_the_method():
    rows = []
    for m, scores in (("aem", [1.2, 1.5, 1.5, 1.4]), ("abmil_gated", [1.6, 1.1, 1.0, 1.0])):
        for e, s in enumerate(scores, 1):
            rows += [{"method": m, "epoch": e, "part": "validation", "history_val_f1_auc": s},
                     {"method": m, "epoch": e, "part": "train", "history_val_f1_auc": np.nan}]
    curves = pd.DataFrame(rows)
    assert ex.check_ch04_ex2(2, curves) is True       # ties: the first best, as the trainer
    assert ex.check_ch04_ex2(3, curves) is False
    assert ex.check_ch04_ex2(1, curves, method="abmil_gated") is True
    with pytest.raises(KeyError, match="mhim"):
        ex.check_ch04_ex2(1, curves, method="mhim")


def test_ch04_ex3_reads_the_power_table():
    mdd = {1: 0.0894, 3: 0.0546, 5: 0.0431}
    assert ex.check_ch04_ex3(0.089, 0.055, mdd) is True
    assert ex.check_ch04_ex3(0.055, 0.089, mdd) is False
