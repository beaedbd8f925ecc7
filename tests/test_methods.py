import pytest
import torch

from milhelpers.methods import (BuildContext, Method, as_method, available_methods, get_method,
                                register)
from milhelpers.models import ABMIL, MaxPoolMIL, MeanPoolMIL
from milhelpers.train import LossTerm

from bags import planted_bags


def test_registry_holds_the_baselines_by_name():
    assert {"abmil_gated", "abmil_tanh", "mean_pool", "max_pool"} <= set(available_methods())
    ctx = BuildContext(in_dim=12, n_classes=3, fold=0, seed=0)
    gated, tanh = get_method("abmil_gated").build(ctx), get_method("abmil_tanh").build(ctx)
    assert isinstance(gated, ABMIL) and gated.attention.gate is not None
    assert isinstance(tanh, ABMIL) and tanh.attention.gate is None
    assert isinstance(get_method("mean_pool").build(ctx), MeanPoolMIL)
    assert isinstance(get_method("max_pool").build(ctx), MaxPoolMIL)
    assert gated.classifier.out_features == 3 and gated.project[0].in_features == 12
    with pytest.raises(KeyError, match="abmil_gated"):
        get_method("clam_mb")


def test_method_seed_fixes_initial_weights_per_fold_and_options_apply():
    m = get_method("abmil_gated").with_options(embed_dim=24)
    a = m.build_model(BuildContext(8, 2, fold=0, seed=3))
    torch.rand(100)
    b = m.build_model(BuildContext(8, 2, fold=1, seed=3))
    c = m.build_model(BuildContext(8, 2, fold=0, seed=4))
    assert a.project[0].out_features == 24 and a.init_seed == 3
    torch.testing.assert_close(a.project[0].weight, b.project[0].weight)
    assert not torch.equal(a.project[0].weight, c.project[0].weight)


def test_a_registered_method_brings_its_loss_terms_and_defaults():
    calls = []

    def terms(model):
        calls.append(type(model).__name__)
        return [LossTerm("zero", lambda out, batch, state: out.logits.sum() * 0, 1.0)]

    method = Method("test_recipe", lambda ctx, **kw: MeanPoolMIL(ctx.in_dim, ctx.n_classes, **kw),
                    loss_terms=terms, config={"monitor": "val_f1_auc", "epochs": 2},
                    model_kwargs={"embed_dim": 8})
    register(method)
    with pytest.raises(ValueError, match="already registered"):
        register(Method("test_recipe", method.build))
    cfg = method.train_config(progress=False)
    assert cfg.monitor == "val_f1_auc" and cfg.epochs == 2
    ds = planted_bags(20)
    res = get_method("test_recipe").fit(ds.subset(range(14)), ds.subset(range(14, 20)), cfg)
    assert calls == ["MeanPoolMIL"] and "zero" in res.history and res.monitor == "val_f1_auc"
    assert res.model.project[0].out_features == 8


def test_as_method_accepts_names_methods_and_fold_factories():
    assert as_method("mean_pool") is get_method("mean_pool")
    built = as_method(lambda fold: MeanPoolMIL(4)).build(BuildContext(4, 2, fold=2, seed=0))
    assert isinstance(built, MeanPoolMIL)
    with pytest.raises(TypeError):
        as_method(3)
