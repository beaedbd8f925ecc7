"""The classic MIL tables with any registered method: same folds and seeds, paired differences."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from milhelpers.classic import (CLASSIC_MODEL, classic_paired, paper_table,
                                run_classic_benchmark, standardise)
from milhelpers.datasets import load_mil_table, stratified_folds
from milhelpers import stats
from milhelpers.methods import aem_method
from milhelpers.models import build_model
from milhelpers.train import TrainConfig, fit, predict

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(repeats=1, folds=3, epochs=3, seed=0, progress=False)


@pytest.fixture(scope="module")
def musk1():
    return run_classic_benchmark(["musk1"], ["abmil_gated", aem_method(0.0), aem_method(5.0)],
                                 **FAST)["musk1"]


def test_abmil_through_the_method_registry_matches_the_plain_trainer(musk1):
    """Chapter 02's committed numbers came from fit(factory); the registry path must draw the
    same weights and batches, fold for fold."""
    data = load_mil_table("musk1")
    expected = []
    for k, (tr, te) in enumerate(stratified_folds(data.labels, 3, 0)):
        train, test = standardise(data.subset(tr), data.subset(te))
        cfg = TrainConfig(epochs=3, lr=5e-4, weight_decay=1e-4, batch_size=8, seed=k,
                          progress=False)
        res = fit(lambda: build_model("abmil_gated", data.dim, **CLASSIC_MODEL), train, None, cfg)
        expected.append(predict(res.model, test).metrics()["accuracy"])
    assert musk1["abmil_gated"]["folds"] == expected


def test_loss_terms_are_applied_and_lambda_zero_is_the_baseline(musk1):
    base, zero, strong = musk1["abmil_gated"], musk1["aem_lam0"], musk1["aem_lam5"]
    assert zero["folds"] == base["folds"] and zero["auc_folds"] == base["auc_folds"]
    assert strong["auc_folds"] != base["auc_folds"]        # λ = 5 changes the models
    assert len(base["auc_folds"]) == 3 and all(0 <= a <= 1 for a in base["auc_folds"])
    assert base["mean"] == pytest.approx(np.mean(base["folds"]))


def test_every_bag_is_scored_once_per_repeat_by_the_model_that_did_not_train_on_it(musk1):
    """The out-of-fold row reproduces each fold's accuracy on its own test bags: a bag stored
    under the wrong index (or a fold's scores written over another's) breaks the match."""
    data = load_mil_table("musk1")
    r = musk1["abmil_gated"]
    oof, y = np.asarray(r["oof"]), np.asarray(r["labels"])
    assert oof.shape == (1, len(data.labels)) and np.isfinite(oof).all()
    assert np.array_equal(y, np.asarray(data.labels))
    for k, (_, te) in enumerate(stratified_folds(data.labels, 3, 0)):
        assert np.mean((oof[0, te] > 0.5) == y[te]) == pytest.approx(r["folds"][k])


def test_classic_paired_is_the_paired_bag_bootstrap_of_the_out_of_fold_scores(musk1):
    res = {"musk1": musk1}
    a, b = musk1["abmil_gated"], musk1["aem_lam5"]
    p = classic_paired(res, "musk1", "abmil_gated", "aem_lam5", "accuracy")
    # by hand: the accuracy of B's out-of-fold predictions minus A's
    y = np.asarray(a["labels"])
    hand = (np.mean((np.asarray(b["oof"][0]) > 0.5) == y)
            - np.mean((np.asarray(a["oof"][0]) > 0.5) == y))
    assert p["diff"] == pytest.approx(hand, abs=1e-12)
    assert p["n_slides"] == len(y) and p["n_repeats"] == 1 and p["unit"] == "bags"
    assert p == {**stats.paired_slide_comparison(y, a["oof"], b["oof"], metric="accuracy"),
                 "unit": "bags"}
    auc = classic_paired(res, "musk1", "abmil_gated", "aem_lam5", "auc")
    assert auc["diff"] == pytest.approx(roc_auc_score(y, b["oof"][0]) - roc_auc_score(y, a["oof"][0]))
    same = classic_paired(res, "musk1", "abmil_gated", "aem_lam0")   # λ = 0 is the baseline
    assert same["diff"] == 0.0 and same["ci95"] == [0.0, 0.0]
    with pytest.raises(KeyError, match="no method 'aem'.*abmil_gated"):
        classic_paired(res, "musk1", "abmil_gated", "aem")
    with pytest.raises(ValueError, match="metric='acc'"):
        classic_paired(res, "musk1", "abmil_gated", "aem_lam0", "acc")


def test_unknown_method_names_are_refused_with_the_choices():
    with pytest.raises(KeyError, match="unknown method 'abmil'.*abmil_gated"):
        run_classic_benchmark(["musk1"], ["abmil"], **FAST)
    with pytest.raises(ValueError, match="distinct"):
        run_classic_benchmark(["musk1"], ["aem", "aem"], **FAST)


def test_cli_refuses_an_unknown_method_without_a_traceback():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "classic_mil.py"), "--datasets",
                        "musk1", "--variants", "abmil_gated", "aemm"], capture_output=True,
                       text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                       "TQDM_DISABLE": "1"})
    assert r.returncode != 0 and "aemm" in r.stderr and "aem" in r.stderr
    assert "Traceback" not in r.stderr


def test_threads_are_set_while_training_and_restored(monkeypatch):
    import torch

    from milhelpers.methods import Method

    seen = []
    original = Method.fit

    def spy(self, *a, **kw):
        seen.append(torch.get_num_threads())
        return original(self, *a, **kw)

    monkeypatch.setattr(Method, "fit", spy)
    before = torch.get_num_threads()
    run_classic_benchmark(["musk1"], ["abmil_tanh"], repeats=1, folds=2, epochs=1, progress=False)
    assert seen == [1, 1] and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        run_classic_benchmark(["musk1"], ["abmil_tanh"], threads=0, **FAST)
    with pytest.raises(ValueError, match="mean_pool: its model does not take the classic sizes"):
        run_classic_benchmark(["musk1"], ["mean_pool"], **FAST)


def test_paper_table_puts_each_method_next_to_the_papers_number(musk1):
    t = paper_table({"musk1": musk1}, "3-fold × 1")
    assert list(t.method) == ["abmil_gated", "aem_lam0", "aem_lam5"]
    gated = t.iloc[0]
    assert gated["paper (10-fold × 5)"] == "0.900 ± 0.050" and gated.setting == "3-fold × 1"
    assert gated.difference == round(musk1["abmil_gated"]["mean"] - 0.900, 3)
    assert gated.ours == f"{musk1['abmil_gated']['mean']:.3f} ± {musk1['abmil_gated']['std']:.3f}"
    assert t.iloc[1]["paper (10-fold × 5)"] == "—" and np.isnan(t.iloc[1].difference)
