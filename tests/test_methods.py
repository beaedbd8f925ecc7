import numpy as np
import pytest
import torch

from milhelpers.methods import (BuildContext, Method, acmil_method, aem_method, as_method,
                                available_methods, get_method, n_classes_of, register)
from milhelpers.models import ABMIL, MaxPoolMIL, MeanPoolMIL
from milhelpers.train import Callback, LossTerm

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


# --- round 6 (acmil self-audit): options reaching the model, overrides, class counts, names


def test_with_options_overrides_the_methods_own_options_and_reaches_the_model():
    """``acmil_mba`` fixes mask_drop = 0; a variant's mask_drop = 0.3 replaces it (and the
    registered entry keeps its own)."""
    variant = get_method("acmil_mba").with_options("acmil_mba_03", mask_drop=0.3, top_k=4)
    assert dict(variant.model_kwargs) == {"mask_drop": 0.3, "top_k": 4}
    model = variant.build_model(BuildContext(8, 2, fold=0, seed=0))
    assert (model.mask_drop, model.top_k, model.n_branches) == (0.3, 4, 5)
    assert get_method("acmil_mba").model_kwargs == {"mask_drop": 0.0}


def test_train_config_overrides_beat_the_methods_defaults():
    method = Method("r6_cfg", get_method("mean_pool").build, config={"epochs": 7, "lr": 1e-3})
    cfg = method.train_config(epochs=2)
    assert (cfg.epochs, cfg.lr) == (2, 1e-3)
    assert method.train_config().epochs == 7


class _Labels:
    def __init__(self, labels, class_names=None):
        self.labels, self.class_names = np.asarray(labels), class_names

    def __len__(self):
        return len(self.labels)


def test_n_classes_counts_every_split_and_prefers_class_names():
    """Labels 0..2 -> 3 classes; the validation split's label 3 counts too (4); one class seen
    (label 0) still gives 2; class names win over labels; an empty split or None is skipped."""
    assert n_classes_of(_Labels([0, 2, 1])) == 3
    assert n_classes_of(_Labels([0, 1]), _Labels([3, 0])) == 4
    assert n_classes_of(_Labels([0, 0])) == 2
    assert n_classes_of(_Labels([0, 1], ["a", "b", "c", "d", "e"])) == 5
    assert n_classes_of(_Labels([1]), None, _Labels([])) == 2


def test_registering_the_same_method_object_again_is_allowed():
    m = get_method("abmil_gated")
    assert register(m) is m and get_method("abmil_gated") is m
    with pytest.raises(ValueError, match="already registered"):
        register(Method("abmil_gated", m.build))


def test_acmil_method_returns_the_stkim_entry_and_names_long_numbers_exactly():
    assert acmil_method(1, 10, 0.6) is get_method("acmil_stkim")
    assert acmil_method(5, 10, 0.0) is get_method("acmil_mba")
    assert acmil_method(1, 3, 0.0) is get_method("acmil_base")
    # 'g' formatting would round 0.123456789 to 0.123457 and two settings would share a name
    assert acmil_method(3, 10, 0.123456789).name == "acmil_M3_K10_drop0.123456789"
    assert acmil_method(3, 10, 0.25).name == "acmil_M3_K10_drop0.25"
    assert aem_method(lam=0.123456789).name == "aem_lam0.123456789"


def test_model_options_change_the_code_fingerprint():
    """Two recipes under one name that build different models must not share a cache key."""
    base = get_method("mean_pool")
    small, large = base.with_options(embed_dim=8), base.with_options(embed_dim=16)
    assert small.code_fingerprint() != large.code_fingerprint()
    assert small.code_fingerprint() == base.with_options(embed_dim=8).code_fingerprint()


def test_a_fold_factory_is_called_with_the_fold_not_the_seed():
    built = as_method(lambda fold: MeanPoolMIL(4, embed_dim=4 * (fold + 1))).build(
        BuildContext(4, 2, fold=2, seed=0))
    assert built.project[0].out_features == 12


def test_fit_builds_with_the_folds_context_and_runs_the_extra_callbacks():
    """``Method.fit(..., fold=3)`` with seed 7: the factory sees fold 3, seed 7, the data's width
    and classes and the training bags; the method's own callback and an extra one both run once
    per step (1 epoch of 6 bags = 6 steps), the method's first."""
    seen, calls = [], []

    class Count(Callback):
        def __init__(self, tag):
            self.tag = tag

        def on_step_end(self, model, state):
            calls.append(self.tag)

    def build(ctx, **kw):
        seen.append(ctx)
        return MeanPoolMIL(ctx.in_dim, ctx.n_classes, embed_dim=4)

    method = Method("r6_fit_ctx", build, callbacks=lambda model: [Count("own")])
    ds = planted_bags(8)
    tr = ds.subset(range(6))
    res = method.fit(tr, ds.subset(range(6, 8)), method.train_config(epochs=1, seed=7,
                                                                      progress=False),
                     fold=3, extra_callbacks=[Count("extra")])
    (ctx,) = seen
    assert (ctx.fold, ctx.seed, ctx.in_dim, ctx.n_classes) == (3, 7, ds.dim, 2)
    assert ctx.train_ds is tr and res.model.init_seed == 7
    assert calls == ["own", "extra"] * 6
