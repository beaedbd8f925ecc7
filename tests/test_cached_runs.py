"""Runs reopened from the runner's cache: the split is the runner's own, the model its weights."""
import numpy as np
import pytest
import torch

from bags import planted_bags
from milhelpers import experiments as ex
from milhelpers.cached_runs import run_split, trained_model
from milhelpers.methods import get_method, mhim_method, mhim_v2_method
from milhelpers.train import predict, run_seed

SMALL = dict(embed_dim=16, attn_dim=8)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    ds = planted_bags(40, d=6, lengths=(6, 14))
    base = get_method("abmil_gated").with_options(name="abmil_small", **SMALL)
    methods = [base, mhim_method(base, name="mhim_small"), mhim_v2_method(base, name="v2_small")]
    res = ex.run_experiments(ds, methods, seeds=[1], folds=3, epochs=2,
                             cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    return ds, base, res


def test_run_split_is_the_runners_split(cached):
    ds, base, res = cached
    for fold in range(3):
        tr, va, te = run_split(ds, 1, fold, 3)
        held_out = set(res.out_of_fold("abmil_small").query("fold == @fold").slide_id)
        assert {ds.slide_ids[i] for i in te} == held_out
        assert not set(tr) & set(va) and not (set(tr) | set(va)) & set(te)
        # retraining on (tr, va) with the run's seed gives the cached weights exactly: the
        # validation share is the runner's too (it decides which bags train)
        cfg = base.train_config(seed=run_seed(1, fold), epochs=2, progress=False)
        fit = base.fit(ds.subset(tr), ds.subset(va), cfg, fold=fold)
        cached_state = trained_model(res, ds, base, 1, fold).state_dict()
        for k, v in fit.model.state_dict().items():
            assert torch.equal(v, cached_state[k]), k
    with pytest.raises(ValueError, match="folds 0 … 2"):
        run_split(ds, 1, 3, 3)


@pytest.mark.parametrize("name", ["abmil_small", "mhim_small", "v2_small"])
def test_trained_model_predicts_as_the_cached_run(cached, name):
    ds, base, res = cached
    method = {"abmil_small": base, "mhim_small": mhim_method(base, name="mhim_small"),
              "v2_small": mhim_v2_method(base, name="v2_small")}[name]
    for fold in (0, 2):
        model = trained_model(res, ds, method, 1, fold)
        assert not model.training
        _, _, te = run_split(ds, 1, fold, 3)
        now = predict(model, ds.subset(te))
        then = res.predictions(name, 1, fold)
        assert now.slide_ids == then.slide_ids
        np.testing.assert_allclose(now.probs, then.probs, atol=1e-6)


def test_missing_weights_say_what_to_do(cached, tmp_path):
    ds, base, res = cached
    json_path, _ = res._files("abmil_small", 1, 0)
    pt = json_path.with_suffix(".pt")
    moved = tmp_path / "w.pt"
    pt.rename(moved)
    try:
        with pytest.raises(FileNotFoundError, match="no cached weights"):
            trained_model(res, ds, base, 1, 0)
    finally:
        moved.rename(pt)


def test_r12_run_split_draws_one_fifth_for_validation_by_default():
    ds = planted_bags(40, d=6, lengths=(6, 14))
    tr, va, te = run_split(ds, 1, 0, 4)
    assert len(te) == 10 and len(tr) + len(va) == 30
    assert not set(tr) & set(va) and not (set(tr) | set(va)) & set(te)
    tr2, va2, _ = run_split(ds, 1, 0, 4, val_fraction=0.2)
    assert tr.tolist() == tr2.tolist() and va.tolist() == va2.tolist()
    _, va4, _ = run_split(ds, 1, 0, 4, val_fraction=0.4)
    assert len(va4) > len(va)
