"""milhelpers.exercises: each check accepts the right answer, refuses wrong ones with a hint, and
says "not answered yet" for None."""
import pandas as pd
import pytest

from bags import planted_bags
from milhelpers import comparison as cmp
from milhelpers import exercises as exr
from milhelpers import experiments as ex
from milhelpers.methods import get_method


def _rep():
    """A replication table of two draws: a kept, b lost (not clear on d1), c lost (reversed),
    d never claimed (clear on d1 only)."""
    rows = {"a": (0.05, True, 0.04, True), "b": (-0.05, True, -0.01, False),
            "c": (0.05, True, -0.06, True), "d": (0.0, False, 0.07, True)}
    return pd.DataFrame({"diff d0": {m: v[0] for m, v in rows.items()},
                         "clear d0": {m: v[1] for m, v in rows.items()},
                         "diff d1": {m: v[2] for m, v in rows.items()},
                         "clear d1": {m: v[3] for m, v in rows.items()}})


def test_ch07_ex1_kept_means_clear_on_both_draws_in_the_same_direction():
    rep = _rep()
    assert exr.check_ch07_ex1(None, rep).startswith("not answered yet")
    msg = exr.check_ch07_ex1({"kept": ["a"], "lost": ["b", "c"]}, rep)
    assert msg.startswith("correct") and "kept on d1: a" in msg and "lost: b, c" in msg
    with pytest.raises(AssertionError, match="not quite"):        # reversal counted as kept
        exr.check_ch07_ex1({"kept": ["a", "c"], "lost": ["b"]}, rep)
    with pytest.raises(AssertionError, match=r"\['d'\] is not clear on d0"):
        exr.check_ch07_ex1({"kept": ["a", "d"], "lost": ["b", "c"]}, rep)
    with pytest.raises(AssertionError, match="keys 'kept' and 'lost'"):
        exr.check_ch07_ex1({"kept": ["a"]}, rep)
    with pytest.raises(AssertionError, match="list of method names"):
        exr.check_ch07_ex1({"kept": "a", "lost": ["b", "c"]}, rep)


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
