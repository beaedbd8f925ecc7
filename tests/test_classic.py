"""The classic MIL tables with any registered method: same folds and seeds, paired differences."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from milhelpers.classic import CLASSIC_MODEL, classic_paired, run_classic_benchmark, standardise
from milhelpers.datasets import load_mil_table, stratified_folds
from milhelpers.experiments import paired_stats
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


def test_classic_paired_pairs_the_same_splits(musk1):
    res = {"musk1": musk1}
    p = classic_paired(res, "musk1", "abmil_gated", "aem_lam5", "auc")
    assert p == paired_stats(musk1["abmil_gated"]["auc_folds"], musk1["aem_lam5"]["auc_folds"])
    assert classic_paired(res, "musk1", "abmil_gated", "aem_lam0")["diff"] == 0.0
    with pytest.raises(KeyError, match="no method 'aem'.*abmil_gated"):
        classic_paired(res, "musk1", "abmil_gated", "aem")
    with pytest.raises(ValueError, match="metric='f1'"):
        classic_paired(res, "musk1", "abmil_gated", "aem_lam0", "f1")


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
