import dataclasses
import math
import types

import numpy as np
import pytest
import torch

from milhelpers.methods import (BuildContext, Method, acmil_method, aem_method, as_method,
                                available_methods, get_method, n_classes_of, register)
from milhelpers.models import ABMIL, MaxPoolMIL, MeanPoolMIL
from milhelpers.train import Callback, LossTerm

from bags import planted_bags
from same_model import assert_same_model


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


# --- round 8: defaults and options --------------------------------------------------------------
def _r8_explicit(name):
    """Each registered method's model spelled out with its documented values: ABMIL (Ilse et al.,
    ICML 2018) in CLAM's small preset 512 → 256, dropout 0.25; ACMIL (Zhang et al., ECCV 2024)
    M = 5, K = 10, mask_drop 0.6, attention width 128 and its ablations; PackMIL (Tang, Fang et
    al., 2025) = gated ABMIL, ADS r = 4 for packmil_ads4."""
    from milhelpers.models import ACMIL, PackMIL
    return {"abmil_gated": lambda: ABMIL(8, 3, 512, 256, True, 0.25, 1),
            "abmil_tanh": lambda: ABMIL(8, 3, 512, 256, False, 0.25, 1),
            "mean_pool": lambda: MeanPoolMIL(8, 3, 512, 0.25),
            "max_pool": lambda: MaxPoolMIL(8, 3, 512, 0.25),
            "acmil": lambda: ACMIL(8, 3, 512, 128, 5, 10, 0.6, 0.25),
            "acmil_mba": lambda: ACMIL(8, 3, 512, 128, 5, 10, 0.0, 0.25),
            "acmil_base": lambda: ACMIL(8, 3, 512, 128, 1, 10, 0.0, 0.25),
            "acmil_stkim": lambda: ACMIL(8, 3, 512, 128, 1, 10, 0.6, 0.25),
            "aem": lambda: ABMIL(8, 3, 512, 256, True, 0.25, 1),
            "acmil_aem": lambda: ACMIL(8, 3, 512, 128, 5, 10, 0.6, 0.25),
            "packmil": lambda: PackMIL(8, 3, 512, 256, True, 0.25, None),
            "packmil_noresidual": lambda: PackMIL(8, 3, 512, 256, True, 0.25, None),
            "packmil_tokenmix": lambda: PackMIL(8, 3, 512, 256, True, 0.25, None),
            "packmil_ads4": lambda: PackMIL(8, 3, 512, 256, True, 0.25, 4)}[name]


#: (term name, weight at half of training) of each registered method's extra loss terms
_R8_TERMS = {"abmil_gated": [], "abmil_tanh": [], "mean_pool": [], "max_pool": [],
             "acmil": [("branch_ce", 1.0), ("branch_diversity", 1.0)],
             "acmil_mba": [("branch_ce", 1.0), ("branch_diversity", 1.0)],
             "acmil_base": [], "acmil_stkim": [], "aem": [("neg_entropy", 0.1)],
             "acmil_aem": [("branch_ce", 1.0), ("branch_diversity", 1.0), ("neg_entropy", 0.1)],
             "packmil": [("hyperslide", 0.2)], "packmil_noresidual": [],
             "packmil_tokenmix": [("hyperslide", 0.2)], "packmil_ads4": [("hyperslide", 0.2)]}


@pytest.mark.parametrize("name", sorted(_R8_TERMS))
def test_r8_registered_methods_build_their_documented_model_terms_and_config(name):
    """Built from seed 0, every registered method's model equals its spelled-out model parameter
    for parameter and in a training forward (dropout, STKIM); its loss terms and weights are the
    documented ones; PackMIL trains 16 slides per step at lr 5e-4 (the paper's BRCA config)
    with its collate's documented options, every other method with the trainer's defaults."""
    from milhelpers.packing import PackCollate
    from milhelpers.train import TrainConfig, TrainState
    m = get_method(name)
    got = m.build_model(BuildContext(8, 3, 0, 0))
    torch.manual_seed(0)
    ref = _r8_explicit(name)()
    assert type(got) is type(ref)
    assert_same_model(got, ref, torch.randn(2, 30, 8))
    half = TrainState(epoch=1, step=5, total_steps=10, steps_per_epoch=10)
    assert [(t.name, t.weight_at(half)) for t in m.loss_terms(got)] == _R8_TERMS[name]
    cfg = m.train_config()
    if name.startswith("packmil"):
        assert (cfg.batch_size, cfg.lr) == (16, 5e-4)
        assert m.collate_fn == PackCollate(0.5, 256, 16, 4 if name == "packmil_ads4" else 1,
                                           name != "packmil_noresidual")
    else:
        assert cfg == TrainConfig()


@pytest.mark.parametrize("target", ["multihot", "tokenmix"])
def test_r8_packmil_target_option_reaches_its_loss(target):
    """packmil (multi-hot target, binary cross-entropy: the authors' default) and
    packmil_tokenmix (token-weighted mixture, soft-target cross-entropy): each term is its own
    loss on its own target, computed here independently."""
    from types import SimpleNamespace

    import torch.nn.functional as F

    from milhelpers.packing import PackedBatch
    m = get_method("packmil" if target == "multihot" else "packmil_tokenmix")
    assert m.model_kwargs["target"] == target
    (term,) = m.loss_terms(None)
    labels, counts = torch.tensor([0, 1, 1]), torch.tensor([[30.0, 10.0, 5.0]])
    batch = PackedBatch(torch.zeros(1, 3, 2), torch.ones(1, 3, dtype=torch.bool),
                        torch.tensor([[0, 1, 2]]), labels, ["a", "b", "c"],
                        residual_features=torch.zeros(1, 3, 2),
                        residual_mask=torch.ones(1, 3, dtype=torch.bool),
                        residual_slide_index=torch.tensor([[0, 1, 2]]), residual_counts=counts)
    hl = torch.tensor([[0.4, -0.7]])
    out = SimpleNamespace(extras={"hyperslide_logits": hl}, logits=torch.zeros(3, 2))
    if target == "multihot":
        want = F.binary_cross_entropy_with_logits(hl, torch.tensor([[0.5, 1.0]]))
    else:
        want = -(torch.tensor([[2 / 3, 1 / 3]]) * torch.log_softmax(hl, -1)).sum()
    torch.testing.assert_close(term.fn(out, batch, None), want)


def _r8_mhim_ctx():
    torch.manual_seed(42)
    trained = ABMIL(8, 2)
    return BuildContext(8, 2, 0, 0, pretrained=lambda b: trained), trained


@pytest.mark.parametrize("name", ["mhim", "mhim_fresh", "mhim_v2", "mhim_v2_norecycle"])
def test_r8_registered_mhim_methods_build_their_documented_recipe(name):
    """mhim (Tang et al., ICCV 2023, the authors' CAMELYON16 command; m rescaled to 0.999):
    r_h 0.01 from the top 2 % (r_hr 0.5), r = 0.5, r_l = 0, decaying r_h, attention score,
    α = 0.1, projection copied from the teacher (mhim_fresh: not). mhim_v2 (IJCV 2025): r_hr 1,
    no random masking or decay, class-aware score, fresh student, ρ = 0.8 kept, one recycle query
    with EMA 0.999, α = 0.5, teacher m = 0.997; mhim_v2_norecycle: no recycle network."""
    from milhelpers.models import RecycleNetwork
    from milhelpers.train import TrainState
    ctx, trained = _r8_mhim_ctx()
    m = get_method(name)
    model = m.build_model(ctx)
    v2 = name.startswith("mhim_v2")
    want = ((0.01, 1.0, 0.0, 0.0, "class_aware", 0.8) if v2 else
            (0.01, 0.5, 0.5, 0.0, "attention", 1.0))
    assert (model.r_h, model.r_hr, model.r, model.r_l, model.score, model.merge_ratio) == want
    assert model.schedule == ({"decay": False, "momentum": 0.997, "momentum_cosine": False} if v2
                              else {"decay": True, "momentum": 0.999, "momentum_cosine": False})
    half = TrainState(epoch=1, step=5, total_steps=10, steps_per_epoch=10)
    assert [(t.name, t.weight_at(half)) for t in m.loss_terms(model)] == [
        ("consistency", 0.5 if v2 else 0.1)]
    copied = torch.equal(model.student.project[0].weight, trained.project[0].weight)
    assert copied == (name == "mhim")
    if name == "mhim_v2":
        assert isinstance(model.recycle, RecycleNetwork)
        assert model.recycle.queries.shape == (1, 512) and model.recycle.momentum == 0.999
    else:
        assert model.recycle is None


# --- round 9: every check of the method recipes reached with the bad value, its bound accepted


def _mhim(**kw):
    from milhelpers.methods import mhim_method
    return mhim_method(**kw)


def _packmil(**kw):
    from milhelpers.methods import packmil_method
    return packmil_method(**kw)


def _schedule(m):
    from milhelpers.methods import MHIMSchedule
    return MHIMSchedule(momentum=m)


@pytest.mark.parametrize("call, ok, match", [
    (lambda: _schedule(0.0), True, None),
    (lambda: _schedule(1.0), True, None),                      # 1: the teacher never moves
    (lambda: _schedule(-1e-6), False, "momentum must be in"),
    (lambda: _schedule(1 + 1e-6), False, "momentum must be in"),
    (lambda: _mhim(alpha=0.0), True, None),                    # 0: no consistency term
    (lambda: _mhim(alpha=-1e-9), False, "alpha must be >= 0"),
    (lambda: _mhim(student_init="fresh"), True, None),
    (lambda: _mhim(student_init="Projection"), False, "student_init='Projection'"),
    (lambda: _mhim(score="class_aware"), True, None),
    (lambda: _mhim(score="attention_"), False, "score='attention_'"),
    (lambda: _mhim(momentum=1.5), False, "momentum must be in"),
    (lambda: _mhim(r_l=1.0), True, None),
    (lambda: _mhim(r_l=1.5), False, "r_l must be"),
    (lambda: _packmil(alpha=0), True, None),                   # 0: no residual branch
    (lambda: _packmil(alpha=-1e-9), False, "hyperslide loss weight"),
    (lambda: _packmil(alpha=True), False, "alpha=True"),
    (lambda: _packmil(alpha="0.2"), False, "alpha='0.2'"),
    (lambda: _packmil(target="tokenmix", hyperslide_loss="ce"), True, None),
    (lambda: _packmil(target="multihot", hyperslide_loss="ce"), False, "needs targets that sum"),
    (lambda: _packmil(target="multi-hot"), False, "target='multi-hot'"),
    (lambda: _packmil(ads_ratio=2), True, None),
    (lambda: _packmil(ads_ratio=1.5), False, "ads_ratio=1.5"),
    (lambda: as_method(42), False, "expected a Method"),
], ids=["m0", "m1", "m<0", "m>1", "a0", "a<0", "init_fresh", "init_case", "score_ca",
        "score_typo", "mhim_m>1", "rl1", "rl>1", "pa0", "pa<0", "pa_bool", "pa_str", "tokenmix_ce",
        "multihot_ce", "target_typo", "ads2", "ads1.5", "as_method_int"])
def test_r9_method_checks_accept_their_bound_and_refuse_just_past_it(call, ok, match):
    """Each recipe check fails at creation with a message naming the bad value, and the legal
    value at its bound passes (a dropped or widened check lets a meaningless recipe through; an
    off-by-one refuses a legal one)."""
    if ok:
        call()
    else:
        with pytest.raises((ValueError, TypeError), match=match):
            call()


def test_r9_alpha_zero_recipes_drop_their_loss_terms_and_the_registry_guards_names():
    """MHIM's α = 0 means no consistency term, any α > 0 one term; a second method under a
    taken name is refused unless ``overwrite``; an unknown name is a KeyError naming it."""
    assert _mhim(alpha=0.0).loss_terms(None) == ()
    terms = _mhim(alpha=0.25).loss_terms(types.SimpleNamespace(alpha=0.25))
    assert [t.name for t in terms] == ["consistency"]
    name = "r9_method_registry_probe"
    first = Method(name, lambda ctx: ABMIL(ctx.in_dim, ctx.n_classes))
    register(first)
    try:
        with pytest.raises(ValueError, match=f"a method named '{name}' is already registered"):
            register(Method(name, lambda ctx: ABMIL(ctx.in_dim, ctx.n_classes)))
        second = Method(name, lambda ctx: ABMIL(ctx.in_dim, ctx.n_classes))
        assert register(second, overwrite=True) is second and get_method(name) is second
    finally:
        from milhelpers.methods import METHODS
        METHODS.pop(name, None)
    with pytest.raises(KeyError, match="unknown method 'no_such_method_r9'"):
        get_method("no_such_method_r9")


# --- round 11: every acmil_method option reaches both the name and the built model ------------
@pytest.mark.parametrize("args, name", [((3, 5, 0.4), "acmil_M3_K5_drop0.4"),
                                        ((2, 7, 0.0), "acmil_M2_K7_drop0"),
                                        ((5, 4, 0.6), "acmil_M5_K4_drop0.6")])
def test_r11_acmil_method_passes_each_option_to_name_and_model(args, name):
    """An unregistered ACMIL variant: M, K and the drop rate each appear in the name (the
    runner's cache key) and in the model it builds. Catches one option pinned to its default
    in the name or in the model (two settings sharing one cache entry, or the default trained)."""
    m = acmil_method(*args)
    assert m.name == name
    model = m.build_model(BuildContext(in_dim=8, n_classes=2, fold=0, seed=0))
    assert (model.n_branches, model.top_k, model.mask_drop) == args
    with pytest.raises(ValueError, match="mask_drop must be in"):
        acmil_method(args[0], args[1], 1.0)


# --- round 12: the baselines' registered factories hand every model option on


@pytest.mark.parametrize("name", ["abmil_gated", "abmil_tanh", "mean_pool", "max_pool",
                                  "packmil", "acmil"])
def test_r12_registered_factories_pass_model_options_and_the_contexts_sizes(name):
    m = get_method(name).with_options(f"{name}_e6", embed_dim=6, dropout=0.5)
    model = m.build_model(BuildContext(in_dim=5, n_classes=4, fold=0, seed=0))
    assert model.project[0].in_features == 5 and model.project[0].out_features == 6
    assert model.project[2].p == 0.5 and model.n_classes == 4
    assert model(torch.randn(3, 5)).logits.shape == (1, 4)


def test_r12_unnamed_variant_keeps_the_name_and_building_leaves_the_global_stream():
    base = get_method("abmil_gated")
    assert base.with_options(embed_dim=24).name == "abmil_gated"
    assert base.with_options(None, embed_dim=24).model_kwargs == {"embed_dim": 24}
    torch.manual_seed(5)
    want = torch.rand(3)
    torch.manual_seed(5)
    base.build_model(BuildContext(8, 2, fold=0, seed=0))
    assert torch.equal(torch.rand(3), want)


def test_r12_fit_hands_its_batching_transform_pretrained_and_run_dir_on(tmp_path):
    """A recipe's collate, batch sampler (4 slides per step: batches 4 + 2 of 6 bags) and
    train transform (each training bag once in 1 epoch) reach the trainer; the context carries
    the validation bags, the config and the pretrained lookup; run_dir gets the run."""
    from milhelpers.datasets import collate_bags
    from milhelpers.packing import slide_batch_sampler
    seen, collated, transformed = [], [], []

    def build(ctx, **kw):
        seen.append(ctx)
        return MeanPoolMIL(ctx.in_dim, ctx.n_classes, embed_dim=4)

    def collate(bags):
        collated.append(len(bags))
        return collate_bags(bags)

    def transform(bag, rng):
        transformed.append(bag.slide_id)
        return bag

    method = Method("r12_fit_plumbing", build, collate_fn=collate,
                    batch_sampler=slide_batch_sampler(4), train_transform=transform)
    ds = planted_bags(8)
    tr, va = ds.subset(range(6)), ds.subset(range(6, 8))
    cfg = method.train_config(epochs=1, seed=0, progress=False)

    def lookup(m):
        return None

    method.fit(tr, va, cfg, pretrained=lookup, run_dir=tmp_path / "run")
    (ctx,) = seen
    assert ctx.val_ds is va and ctx.config is cfg and ctx.pretrained is lookup
    assert sorted(collated[:2]) == [2, 4]
    assert sorted(transformed) == sorted(tr[i].slide_id for i in range(6))
    assert (tmp_path / "run" / "run.json").exists()


def test_r12_code_fingerprint_follows_the_recipes_config_and_train_transform():
    """One name, one model: another training default (lr) or another train transform is another
    recipe, so another fingerprint; the same recipe rebuilt keeps it."""
    from milhelpers.methods import packmil_method
    base = packmil_method()
    other_lr = dataclasses.replace(base, config={"batch_size": 16, "lr": 1e-3})
    assert other_lr.name == base.name
    assert other_lr.code_fingerprint() != base.code_fingerprint()
    assert dataclasses.replace(base, config={"batch_size": 16, "lr": 5e-4}).code_fingerprint() \
        == base.code_fingerprint()
    from milhelpers.train import SubsampleInstances
    with_transform = dataclasses.replace(get_method("abmil_gated"),
                                         train_transform=SubsampleInstances(8))
    assert with_transform.code_fingerprint() != get_method("abmil_gated").code_fingerprint()


def test_r12_n_classes_of_an_empty_class_name_list_counts_labels():
    """class_names [] names no class: the labels decide (0 and 2: 3 classes)."""
    assert n_classes_of(_Labels([0, 2], [])) == 3
    assert n_classes_of(_Labels([0, 2], []), _Labels([1], ["a", "b", "c", "d"])) == 4


def test_r12_fit_adds_the_recipes_loss_terms_every_step():
    """A recipe's loss term is evaluated on every training step (6 bags, batch 1: 6 steps) and
    logged in the history under its name."""
    calls = []

    def probe(out, batch, state):
        calls.append(state.step)
        return out.logits.sum() * 0.0

    method = Method("r12_fit_terms", lambda ctx, **kw: MeanPoolMIL(ctx.in_dim, ctx.n_classes,
                                                                     embed_dim=4),
                    loss_terms=lambda model: [LossTerm("probe", probe, 0.5)])
    ds = planted_bags(8)
    res = method.fit(ds.subset(range(6)), ds.subset(range(6, 8)),
                     method.train_config(epochs=1, seed=0, progress=False))
    assert len(calls) == 6
    assert "probe" in res.history.columns


def test_r12_registry_is_sorted_and_takes_a_replaceable_name_again():
    from milhelpers import methods as M
    names = available_methods()
    assert names == sorted(names) and len(names) == len(M.METHODS)
    first = Method("r12_replaceable", lambda ctx, **kw: MeanPoolMIL(ctx.in_dim, ctx.n_classes))
    second = Method("r12_replaceable", lambda ctx, **kw: MaxPoolMIL(ctx.in_dim, ctx.n_classes))
    M._REPLACEABLE.add("r12_replaceable")
    try:
        assert register(first) is first
        assert register(second) is second and get_method("r12_replaceable") is second
    finally:
        M._REPLACEABLE.discard("r12_replaceable")
        M.METHODS.pop("r12_replaceable", None)


def test_r12_get_method_loads_the_entry_points_for_a_name_it_does_not_know(monkeypatch):
    from milhelpers import methods as M
    from milhelpers import plugins
    loaded = []
    entry = Method("r12_from_entry_point", lambda ctx, **kw: MeanPoolMIL(ctx.in_dim, ctx.n_classes))

    def fake_load():
        loaded.append(1)
        M.METHODS[entry.name] = entry
        return [entry.name]

    monkeypatch.setattr(plugins, "load_entry_points", fake_load)
    try:
        assert get_method("abmil_gated").name == "abmil_gated" and loaded == []
        assert get_method("r12_from_entry_point") is entry and loaded == [1]
    finally:
        M.METHODS.pop(entry.name, None)


def test_r12_as_method_hands_back_the_method_object_it_was_given():
    """An unregistered recipe under a registered name stays itself (not the registry's entry);
    anything else than a method, a name or a factory is refused by type."""
    own = Method("mean_pool", lambda ctx, **kw: MaxPoolMIL(ctx.in_dim, ctx.n_classes))
    assert as_method(own) is own and as_method(own) is not get_method("mean_pool")
    with pytest.raises(TypeError, match="a method name or a factory fold -> model; got 3"):
        as_method(3)


@pytest.mark.parametrize("name, m, hidden, k", [("acmil", 5, 6, 10), ("acmil_stkim", 1, 6, 10)])
def test_r12_acmil_summaries_state_the_registered_models_numbers(name, m, hidden, k):
    """The summaries say what the built model does: M branches, ⌊K·mask_drop⌋ of each branch's
    top K hidden while training."""
    method = get_method(name)
    model = method.build_model(BuildContext(8, 2, fold=0, seed=0))
    assert (model.n_branches, model.top_k, math.floor(model.top_k * model.mask_drop)) == \
        (m, k, hidden)
    s = method.summary
    if m > 1:
        assert f"M = {m} gated attention branches" in s
        assert f"STKIM hides {hidden} of each branch's top {k} instances" in s
    else:
        assert f"one branch, {hidden} of the top {k} hidden while training" in s
    assert "(M = 5, no STKIM)" in get_method("acmil_mba").summary
    assert get_method("acmil_mba").build_model(BuildContext(8, 2, 0, 0)).n_branches == 5
