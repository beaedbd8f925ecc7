"""stats.settings_side_by_side: one comparison in several settings, each by the one rule."""
import numpy as np
import pandas as pd
import pytest

from milhelpers import experiments as ex
from milhelpers import stats


def result(scores: dict[str, np.ndarray], y: np.ndarray) -> ex.ExperimentResult:
    """An experiment of one repeat whose out-of-fold scores are given (no cache needed)."""
    slides, runs = [], []
    for m, s in scores.items():
        for i, (label, score) in enumerate(zip(y, s)):
            slides.append({"method": m, "seed": 0, "fold": i % 2, "slide_id": f"s{i:02d}",
                           "case_id": f"c{i:02d}", "label": int(label), "score": float(score),
                           "loc_auc": np.nan, "entropy": 0.5, "top5_mass": 0.3})
        runs += [{"method": m, "seed": 0, "fold": f, **{k: np.nan for k in ex.METRICS},
                  "key": ""} for f in (0, 1)]
    return ex.ExperimentResult(pd.DataFrame(runs), ex.Path("."), list(scores), 0,
                               {"n_slides": len(y)}, pd.DataFrame(slides))


def test_settings_side_by_side_with_each_settings_verdict():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    noise = rng.normal(size=60)
    good = y * 3.0 + rng.normal(size=60) * 0.5           # separates the classes
    quick = result({"base": noise, "new": good}, y)
    full = result({"base": noise, "new": noise + rng.normal(size=60) * 0.01,
                   "other": good}, y)
    t = stats.settings_side_by_side({"quick": quick, "full": full}, "base", ["new", "other"],
                               metrics=["auc"], n_boot=300)
    assert list(t.columns) == ["comparison (B − A)", "metric", "quick", "quick: verdict", "full",
                               "full: verdict"]
    row = t.set_index("comparison (B − A)")
    direct = quick.compare("base", ["auc"], ["new"], n_boot=300).iloc[0]
    assert row.loc["new − base", "quick"] == (f"{direct['diff']:+.3f} [{direct['lo']:+.3f}, "
                                             f"{direct['hi']:+.3f}]")
    assert row.loc["new − base", "quick: verdict"] == "clear"
    assert row.loc["new − base", "full: verdict"] == "no evidence either way"
    assert row.loc["other − base", "quick"] == "not run"
    assert row.loc["other − base", "full: verdict"] == "clear"
    # the full setting's verdicts are those of its own family (Holm over new and other)
    fam = full.compare("base", ["auc"], ["new", "other"], n_boot=300).set_index("method")
    assert row.loc["other − base", "full: verdict"] == ("clear" if fam.loc["other", "clear"]
                                                        else "no evidence either way")
