"""The exercise checks say yes to a right answer and no to a wrong one."""
from pathlib import Path

import pandas as pd
import pytest

from conftest import REAL_SVS
from milhelpers import exercises, tiling
from milhelpers.experiments import ExperimentResult

STRAND_BOX = (0, 950, 700, 350)   # chapter 01: where the thin strand lies on the real slide


def test_ch01_patch_counts_accepts_close_predictions_and_shows_the_upsampling(tmp_path, capsys):
    with pytest.warns(tiling.UpsamplingWarning):
        true = {t: tiling.tile_slide(REAL_SVS, tmp_path / str(t), target_mpp=t,
                                     qc=False).n_patches for t in (1.0, 0.25)}
    assert exercises.check_ch01_patch_counts({1.0: true[1.0], 0.25: round(true[0.25] * 1.2)},
                                             REAL_SVS)
    out = capsys.readouterr().out
    assert "UpsamplingWarning" in out and "enlarged 2.00×" in out and "your answer holds" in out
    assert not exercises.check_ch01_patch_counts({1.0: true[1.0], 0.25: true[1.0]}, REAL_SVS)
    assert not exercises.check_ch01_patch_counts({1.0: None}, REAL_SVS)   # no answer yet


def test_ch01_strand_needs_a_segmentation_that_keeps_it():
    biopsy = tiling.PRESETS["biopsy"]
    assert not exercises.check_ch01_strand(biopsy, 0.05, REAL_SVS, STRAND_BOX)   # a_t drops it
    assert exercises.check_ch01_strand(biopsy.replace(a_t=0.25), 0.05, REAL_SVS, STRAND_BOX)
    assert not exercises.check_ch01_strand(biopsy.replace(a_t=0.25), 0.9, REAL_SVS, STRAND_BOX)


def test_ch02_power_check_compares_with_the_simulated_curve(capsys):
    assert exercises.check_ch02_power(0.066, repeats=2)
    assert "80 % power at ΔAUC ≈ 0.06" in capsys.readouterr().out
    assert not exercises.check_ch02_power(0.089, repeats=2)    # the one-repeat value


def _result(folds_by_seed):
    rows = [{"method": "m", "seed": s, "fold": f, "slide_id": f"s{i}", "label": i % 2,
             "score": 0.5} for s, folds in folds_by_seed.items() for i, f in enumerate(folds)]
    return ExperimentResult(pd.DataFrame(), Path("."), ["m"],
                            slides=pd.DataFrame(rows))


def test_ch02_repeats_wants_a_partition_per_repeat():
    own = _result({0: [0, 1, 0, 1, 2, 2], 1: [1, 0, 2, 2, 0, 1]})
    fixed = _result({0: [0, 1, 0, 1, 2, 2], 1: [0, 1, 0, 1, 2, 2]})
    assert exercises.check_ch02_repeats(own, 2)
    assert not exercises.check_ch02_repeats(fixed, 2)
    assert not exercises.check_ch02_repeats(own, 3)          # a repeat is missing
    with pytest.raises(KeyError):
        exercises.check_ch02_repeats(ExperimentResult(pd.DataFrame(), None, ["m"]), 1)
