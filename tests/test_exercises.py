"""milhelpers.exercises: each check accepts the right answer, refuses wrong ones with a hint, and
says "not answered yet" for None."""
import pandas as pd
import pytest

from bags import planted_bags
from milhelpers import comparison as cmp
from milhelpers import exercises as exr
from milhelpers import experiments as ex
from milhelpers.methods import get_method


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
