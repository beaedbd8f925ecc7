"""The exercise checks accept a right answer and refuse a wrong one (chapter 07's with a hint, and
"not answered yet" for None)."""
from pathlib import Path

import pandas as pd
import pytest

from bags import planted_bags
from conftest import REAL_SVS
from milhelpers import comparison as cmp
from milhelpers import exercises, tiling
from milhelpers import exercises as exr
from milhelpers import experiments as ex
from milhelpers.experiments import ExperimentResult
from milhelpers.methods import get_method

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


def _family():
    """A compare() table: a clear after Holm, b's interval excludes 0 but not after Holm, c's
    holds 0; d is another metric."""
    return pd.DataFrame({"metric": ["auc", "auc", "auc", "loc_auc"],
                         "method": ["a", "b", "c", "d"],
                         "lo": [0.02, -0.09, -0.03, 0.01], "hi": [0.08, -0.01, 0.04, 0.05],
                         "clear": [True, False, False, True]})


def test_ch07_ex1_kept_means_clear_after_holm_among_the_unadjusted_claims():
    fam = _family()
    assert exr.check_ch07_ex1(None, fam).startswith("not answered yet")
    msg = exr.check_ch07_ex1({"kept": ["a"], "lost": ["b"]}, fam)
    assert msg.startswith("correct") and "after Holm: a;" in msg and "adjustment: b" in msg
    with pytest.raises(AssertionError, match="not quite"):        # b is not clear after Holm
        exr.check_ch07_ex1({"kept": ["a", "b"], "lost": []}, fam)
    with pytest.raises(AssertionError, match=r"\['c'\] has an interval that holds 0"):
        exr.check_ch07_ex1({"kept": ["a"], "lost": ["b", "c"]}, fam)
    assert exr.check_ch07_ex1({"kept": ["d"], "lost": []}, fam, "loc_auc").startswith("correct")
    with pytest.raises(AssertionError, match="keys 'kept' and 'lost'"):
        exr.check_ch07_ex1({"kept": ["a"]}, fam)
    with pytest.raises(AssertionError, match="list of method names"):
        exr.check_ch07_ex1({"kept": "a", "lost": ["b"]}, fam)


def test_ch07_ex2_recomputes_the_subgroup_comparison(tmp_path):
    ds = planted_bags(24, 8, 2, lengths=(8, 16), id_width=2)
    methods = [get_method("abmil_gated").with_options(name="gated", embed_dim=16, attn_dim=8),
               get_method("max_pool").with_options(name="max", embed_dim=16)]
    res = ex.run_experiments(ds, methods, [0], 3, epochs=1, cache_dir=tmp_path, progress=False)
    pos = [s for s, y in zip(ds.slide_ids, ds.labels) if y == 1]
    groups = {"d0": {"small": pos[:8]}, "d1": {"small": pos[4:]}}
    draws = {"d0": res, "d1": res}
    tables = {d: cmp.subgroup_result(res, groups[d]["small"]).compare("gated", ["auc"])
              for d in draws}
    rep = cmp.replication(tables)
    truth = sorted(rep.index[rep.verdict == "clearly better on every draw"])
    assert exr.check_ch07_ex2(None, draws, groups, "gated").startswith("not answered yet")
    assert exr.check_ch07_ex2(truth, draws, groups, "gated").startswith("correct")
    wrong = [] if truth else ["max"]
    with pytest.raises(AssertionError, match="subgroup_result"):
        exr.check_ch07_ex2(wrong, draws, groups, "gated")
