"""MHIM-MIL: the mask, the teacher, the EMA, the schedule, and the runner's two stages."""
import json
import math
import types

import numpy as np
import pytest
import torch

from bags import planted_bags
from milhelpers import experiments as ex
from milhelpers.methods import (MHIMSchedule, MaskRecorder, Method, get_method, mhim_method)
from milhelpers.models import ABMIL, MHIM, ema_update, mhim_mask
from milhelpers.models.mhim import instance_scores, mask_count
from milhelpers.train import TrainConfig, TrainState

SMALL = dict(embed_dim=16, attn_dim=8)


def small_base():
    return get_method("abmil_gated").with_options(name="abmil_gated_small", **SMALL)


def tiny_mhim(**kw):
    torch.manual_seed(0)
    student, teacher = ABMIL(6, 2, embed_dim=8, attn_dim=4), ABMIL(6, 2, embed_dim=8, attn_dim=4)
    return MHIM(student, teacher, **kw)


# ------------------------------------------------------------------------------------- the mask
def test_mask_count_rounds_up_and_zero_masks_nothing():
    assert mask_count(50, 0.01) == 1          # 0.5 -> 1: small bags still hide one instance
    assert mask_count(50, 0.02) == 1          # 1.0000000000000002 must not become 2
    assert mask_count(10, 0.25) == 3
    assert mask_count(7, 0.0) == 0
    assert mask_count(4, 1.0) == 4


def test_high_masking_with_rhr_1_hides_exactly_the_top_scored():
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.05, 0.7, 0.2, 0.6, 0.4, 0.5]])
    m = mhim_mask(scores, None, r_h=0.3, r_hr=1.0)
    assert m[0].nonzero().flatten().tolist() == [1, 3, 5]      # the three highest, nothing else


def test_low_masking_hides_the_lowest_and_union_with_high():
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.05, 0.7, 0.2, 0.6, 0.4, 0.5]])
    m = mhim_mask(scores, None, r_h=0.1, r_hr=1.0, r_l=0.2)
    assert sorted(m[0].nonzero().flatten().tolist()) == [0, 1, 4]


def test_randomised_high_masking_draws_from_the_top_fraction_only():
    g = torch.Generator().manual_seed(0)
    scores = torch.arange(40, dtype=torch.float32)[None]        # instance i has score i
    top = set(range(30, 40))                                    # top r_h / r_hr = 25 % = 10
    seen = set()
    for _ in range(50):
        m = mhim_mask(scores, None, r_h=0.1, r_hr=0.4, generator=g)[0]
        idx = set(m.nonzero().flatten().tolist())
        assert len(idx) == 4 and idx <= top                     # ⌈10 · 0.4⌉ = 4 of the top 10
        seen |= idx
    assert seen == top                                          # randomised, not always the same 4


def test_padding_is_never_masked_nor_counted():
    g = torch.Generator().manual_seed(1)
    scores = torch.tensor([[5.0, 1.0, 2.0, 3.0, 99.0, 98.0, 97.0, 96.0]])   # padding scores high
    pad = torch.tensor([[True, True, True, True, False, False, False, False]])
    m = mhim_mask(scores, pad, r_h=0.25, r_hr=1.0, r=0.5, generator=g)
    assert not m[~pad].any()
    # n = 4 real: high ⌈4·0.25⌉ = 1 (instance 0), random ⌈4·0.5⌉ = 2: between 2 and 3 masked
    assert m[0, 0] and 2 <= int(m.sum()) <= 3


def test_random_masking_count_and_batch_of_different_lengths():
    g = torch.Generator().manual_seed(2)
    scores = torch.rand(2, 30, generator=g)
    pad = torch.ones(2, 30, dtype=torch.bool)
    pad[1, 20:] = False
    m = mhim_mask(scores, pad, r_h=0.0, r=0.3, generator=g)
    assert m[0].sum() == 9 and m[1].sum() == 6 and not m[1, 20:].any()


def test_at_least_one_real_instance_stays_visible():
    scores = torch.tensor([[0.5, 0.2, 0.9, 0.0]])
    pad = torch.tensor([[True, True, True, False]])
    m = mhim_mask(scores, pad, r_h=1.0, r_hr=1.0, r=1.0, r_l=1.0)
    assert m[0].tolist() == [True, False, True, False]        # the lowest real (0.2) shown again
    one = mhim_mask(torch.tensor([[3.0]]), None, r_h=0.5, r=0.5)
    assert not one.any()


def test_same_generator_seed_same_masks_and_bad_ratios_fail():
    s = torch.rand(3, 25, generator=torch.Generator().manual_seed(0))
    a = mhim_mask(s, None, 0.1, 0.5, 0.4, 0.1, torch.Generator().manual_seed(7))
    b = mhim_mask(s, None, 0.1, 0.5, 0.4, 0.1, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    for kw, word in [({"r_h": -0.1}, "r_h"), ({"r_h": 0.1, "r_hr": 0}, "r_hr"),
                     ({"r_h": 0.1, "r": 1.5}, "r ")]:
        with pytest.raises(ValueError, match=word):
            mhim_mask(s, None, **kw)


# ---------------------------------------------------------------------------- model and scores
def test_class_aware_score_by_hand_batched_padded_and_bias_invariant():
    model = tiny_mhim().teacher.eval()
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([0.7, -0.4]))       # a bias that favours class 0
    x = torch.randn(2, 6, 6, generator=torch.Generator().manual_seed(3))
    pad = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    out = model(x, pad)
    W, b = model.classifier.weight, model.classifier.bias
    got = instance_scores(out, model, "class_aware")
    for bag, n in ((0, 6), (1, 4)):                 # each bag alone, as the authors' batch of one
        alone = model(x[bag, :n])
        h, a = alone.extras["instance_embeddings"][0], alone.slide_attention[0]
        # the authors' score: W (a_i h_i) plus the class-0 bias added to every class
        hand = torch.stack([torch.softmax(W @ (a[i] * h[i]) + b[0], 0).max() for i in range(n)])
        assert torch.allclose(got[bag, :n], hand, atol=1e-6)
        whole_bias = torch.stack([torch.softmax(W @ (a[i] * h[i]) + b, 0).max() for i in range(n)])
        assert not torch.allclose(got[bag, :n], whole_bias, atol=1e-3)   # not the whole vector
    for shift in (torch.tensor([5.0, -3.0]), torch.tensor([-2.0, 0.5])):
        with torch.no_grad():
            model.classifier.bias.add_(shift)
        assert torch.allclose(instance_scores(model(x, pad), model, "class_aware")[pad],
                              got[pad], atol=1e-6)
    assert torch.allclose(instance_scores(out, model, "attention"), out.slide_attention)


def test_student_sees_the_bag_without_the_masked_instances():
    model = tiny_mhim(r_h=0.2, r_hr=1.0, r=0.0).train()
    x = torch.randn(1, 10, 6)
    out = model(x)
    masked = out.extras["mhim_masked"]
    assert int(masked.sum()) == 2
    assert torch.equal(out.mask, ~masked)
    assert (out.attention[masked[:, None, :]] == 0).all()
    # the student's output equals the student run on the visible instances alone (dropout off)
    model.student.eval()
    out = model(x)
    keep = ~out.extras["mhim_masked"][0]
    alone = model.student(x[:, keep])
    assert torch.allclose(out.logits, alone.logits, atol=1e-5)
    assert out.extras["teacher_embedding"].shape == out.embedding.shape


def test_eval_mode_is_the_student_alone_on_the_full_bag():
    model = tiny_mhim(r_h=0.5, r=0.5).eval()
    x = torch.randn(1, 12, 6)
    out = model(x)
    assert torch.equal(out.mask, torch.ones(1, 12, dtype=torch.bool))
    assert "mhim_masked" not in out.extras
    assert torch.allclose(out.logits, model.student(x).logits)


def test_teacher_gets_no_gradient_and_is_not_trained():
    model = tiny_mhim(r_h=0.1).train()
    trainable = {id(p) for p in model.parameters() if p.requires_grad}   # what fit optimises
    assert not trainable & {id(p) for p in model.teacher.parameters()}
    assert trainable == {id(p) for p in model.student.parameters()}
    out = model(torch.randn(1, 10, 6))
    from milhelpers.losses import consistency_loss
    (torch.nn.functional.cross_entropy(out.logits, torch.tensor([1]))
     + consistency_loss(out.embedding, out.extras["teacher_embedding"])).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(p.grad is not None for p in model.student.parameters())


def test_teacher_scores_in_train_mode_and_keeps_its_own_mode():
    model = tiny_mhim(r_h=0.1).train()
    seen = []
    model.teacher.register_forward_pre_hook(lambda m, args: seen.append(m.training))
    model.teacher.eval()
    model(torch.randn(1, 10, 6))
    assert seen == [True]                  # dropout on while scoring, as the authors' teacher
    assert not model.teacher.training      # and its mode is given back


def test_consistency_term_sharpens_the_teacher_not_the_student():
    from milhelpers.losses import consistency_loss
    from milhelpers.methods import mhim_loss_terms

    model = tiny_mhim(r_h=0.1).train()
    model.alpha = 0.3
    out = model(torch.randn(1, 10, 6))
    (term,) = mhim_loss_terms(model)
    s, t = out.embedding, out.extras["teacher_embedding"]
    value = term.fn(out, None, None)
    assert term.weight == 0.3
    assert torch.allclose(value, consistency_loss(s, t))          # student τ_s = 1, teacher τ_t
    assert not torch.allclose(value, consistency_loss(t, s))      # (the loss is not symmetric)


def test_ema_update_arithmetic_on_a_tiny_model():
    t, s = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        t.weight.copy_(torch.tensor([[1.0, 2.0]])), t.bias.fill_(0.0)
        s.weight.copy_(torch.tensor([[3.0, -2.0]])), s.bias.fill_(10.0)
    ema_update(t, s, 0.9)
    assert torch.allclose(t.weight, torch.tensor([[1.2, 1.6]]))     # 0.9·1 + 0.1·3, 0.9·2 − 0.2
    assert torch.allclose(t.bias, torch.tensor([1.0]))
    assert torch.allclose(s.weight, torch.tensor([[3.0, -2.0]]))    # the student is untouched


def test_schedule_decays_r_h_by_half_cosine_and_updates_the_teacher():
    model = tiny_mhim(r_h=0.08)
    cb = MHIMSchedule(decay=True, momentum=0.5, momentum_cosine=False)
    # t = 0.2 tells the half cosine (0.0724) from a straight line (0.064)
    for step, want in [(0, 0.08), (2, 0.04 * (1 + math.cos(0.2 * math.pi))), (5, 0.04),
                       (10, 0.0)]:
        cb.on_step_start(model, TrainState(1, step, 10, 10))
        assert model.r_h == pytest.approx(want, abs=1e-12)
    before = [p.clone() for p in model.teacher.parameters()]
    cb.on_step_end(model, TrainState(1, 0, 10, 10))
    for b, t, s in zip(before, model.teacher.parameters(), model.student.parameters()):
        assert torch.allclose(t, 0.5 * b + 0.5 * s)
    mc = MHIMSchedule(decay=False, momentum=0.9, momentum_cosine=True)
    mc.on_step_start(model, TrainState(1, 5, 10, 10))
    assert mc.momentum == pytest.approx(0.95) and model.r_h == 0.0   # r_h left as it was


def test_method_names_encode_options_and_bad_options_fail():
    assert get_method("mhim").name == "mhim"
    assert mhim_method(r_h=0.05, decay=False, r=0.0).name == "mhim_rh0.05_r0_nodecay"
    with pytest.raises(ValueError, match="r_hr"):
        mhim_method(r_hr=0.0)
    with pytest.raises(ValueError, match="unknown MHIM option"):
        mhim_method(rh=0.1)
    with pytest.raises(ValueError, match="score"):
        mhim_method(score="entropy")


# --------------------------------------------------------------------------- two-stage training
def planted(n_bags=24):
    return planted_bags(n_bags, 8, 0, lengths=(10, 30), permute=False, id_width=2)


@pytest.fixture
def fit_calls(monkeypatch) -> list[str]:
    """The names of the methods whose ``Method.fit`` runs, in order (the real fit still runs)."""
    calls: list[str] = []
    original = Method.fit

    def counting(self, *a, **kw):
        calls.append(self.name)
        return original(self, *a, **kw)

    monkeypatch.setattr(Method, "fit", counting)
    return calls


def test_fit_without_runner_trains_the_baseline_as_teacher(fit_calls):
    ds = planted()
    base = small_base()
    method = mhim_method(base, name="mhim_small")
    calls = fit_calls
    tr, va = ds.subset(np.arange(16)), ds.subset(np.arange(16, 24))
    cfg = method.train_config(epochs=1, seed=3, progress=False)
    rec = MaskRecorder(ds[1].features, epochs=[0, 1])
    res = method.fit(tr, va, cfg, extra_callbacks=[rec])
    assert calls == ["mhim_small", "abmil_gated_small"]
    assert isinstance(res.model, MHIM) and set(rec.records) == {0, 1}
    n = len(ds[1].features)
    assert rec.records[1]["masked"].shape == (n,)
    # epoch 0 is before the first step: r_h whole, ⌈n·0.01⌉ = 1 high-attention instance, and it
    # is the teacher's most attended one whenever the top r_h/r_hr = 2 % is a single instance
    assert rec.records[0]["r_h"] == 0.01 and rec.records[1]["r_h"] < 0.01
    assert np.allclose(rec.records[0]["teacher_scores"], rec.records[0]["scores"])   # v1: attention
    assert rec.records[0]["high"].sum() == 1 and rec.records[0]["masked"][rec.records[0]["high"]].all()
    if math.ceil(n * 0.02) == 1:
        assert rec.records[0]["high"][np.argmax(rec.records[0]["scores"])]
    # recording does not change training: the same run without the recorder ends identically
    again = method.fit(tr, va, cfg)
    for p, q in zip(res.model.parameters(), again.model.parameters()):
        assert torch.equal(p, q)


def test_runner_reuses_the_cached_baseline_and_counts_its_seconds(tmp_path, monkeypatch,
                                                                   fit_calls):
    ds = planted()
    base = small_base()
    method = mhim_method(base, name="mhim_small", momentum=1.0)   # m = 1: teacher stays put
    run = dict(seeds=[0], folds=2, epochs=1, cache_dir=tmp_path / "c", progress=False)
    first = ex.run_experiments(ds, [base], **run)
    assert first.n_trained == 2
    recorded = {}
    for k in range(2):   # pretend stage one took 100 + k s: loading it takes far less
        path = next((tmp_path / "c" / "abmil_gated_small").glob(f"seed0_fold{k}_*.json"))
        record = json.loads(path.read_text())
        record["metrics"]["seconds"] = recorded[k] = 100.0 + k
        path.write_text(json.dumps(record))
    fits = fit_calls
    fits.clear()                                   # count the fits from here on
    captured = {}
    orig_build = MHIM.__init__

    def keep_teacher(self, student, teacher, *a, **kw):
        captured.setdefault(len(captured), {k: v.clone() for k, v in teacher.state_dict().items()})
        orig_build(self, student, teacher, *a, **kw)

    monkeypatch.setattr(MHIM, "__init__", keep_teacher)
    res = ex.run_experiments(ds, [method], **run)
    assert fits == ["mhim_small", "mhim_small"]            # the baselines were not retrained
    for k in range(2):
        key = first.runs.key[k]
        stem = tmp_path / "c" / "abmil_gated_small" / f"seed0_fold{k}_{key[:16]}"
        saved = torch.load(stem.with_suffix(".pt"), weights_only=True)
        for name, v in saved.items():                       # teacher starts as the baseline run
            assert torch.equal(captured[k][name], v)
        rec = json.loads((tmp_path / "c" / "mhim_small").glob(
            f"seed0_fold{k}_*.json").__next__().read_text())
        assert rec["stage_one_seconds"] == pytest.approx(recorded[k])
        assert recorded[k] < res.runs.seconds[k] < recorded[k] + 60   # stage one + its own
        # with m = 1 the final teacher is still the baseline (EMA never moved it)
        final = torch.load((tmp_path / "c" / "mhim_small" / f"seed0_fold{k}_"
                            f"{res.runs.key[k][:16]}.pt"), weights_only=True)
        for name, v in saved.items():
            assert torch.equal(final["teacher." + name], v)


def test_runner_trains_a_missing_baseline_once_and_caches_it(tmp_path, fit_calls):
    ds = planted()
    base = small_base()
    method = mhim_method(base, name="mhim_small")
    run = dict(seeds=[0], folds=2, epochs=1, cache_dir=tmp_path / "c", progress=False)
    fits = fit_calls
    res = ex.run_experiments(ds, [method, base], **run)
    # each fold: mhim, its baseline (nested, cached); the baseline rows then come from the cache
    assert fits == ["mhim_small", "abmil_gated_small"] * 2
    assert res.n_trained == 4
    s = res.runs.set_index(["method", "fold"]).seconds
    for k in range(2):
        assert s["mhim_small", k] > s["abmil_gated_small", k]
    again = ex.run_experiments(ds, [base, method], **run)
    assert again.n_trained == 0 and len(fits) == 4
    assert np.allclose(again.runs.set_index(["method", "fold"]).seconds.loc[list(s.index)], s)
    # MHIM alone on a fresh cache: its 2 runs are the ones counted; the baselines trained for
    # them are reported apart
    alone = ex.run_experiments(ds, [method], **{**run, "cache_dir": tmp_path / "fresh"})
    assert alone.n_trained == 2 and alone.meta["first_stages_trained"] == 2 and len(fits) == 8


# ------------------------------------------------------------------------ chapter helpers
def test_mask_parts_say_which_rule_hid_what():
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.05, 0.7, 0.2, 0.6, 0.4, 0.5]])
    m, parts = mhim_mask(scores, None, r_h=0.1, r_hr=1.0, r=0.3, r_l=0.1,
                         generator=torch.Generator().manual_seed(0), parts=True)
    assert parts["high"][0].nonzero().flatten().tolist() == [1]
    assert parts["low"][0].nonzero().flatten().tolist() == [4]
    assert int(parts["random"].sum()) == 3
    assert torch.equal(m, parts["high"] | parts["random"] | parts["low"])


def test_attention_share_by_kind_by_hand():
    from milhelpers.instances import attention_share_by_kind

    att = [np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.1, 0.9])]
    kinds = [np.array(["solid", "normal", "normal", "discohesive"]), np.array(["normal", "solid"])]
    t = attention_share_by_kind(att, kinds)
    assert t.loc["solid", "attention_share"] == pytest.approx((0.5 + 0.9) / 2)
    assert t.loc["solid", "patch_share"] == pytest.approx((0.25 + 0.5) / 2)
    assert t.loc["normal", "attention_share"] == pytest.approx((0.5 + 0.1) / 2)
    assert t.loc["discohesive", "n_slides"] == 1 and t.loc["discohesive", "enrichment"] == 0
    assert t.loc["solid", "enrichment"] == pytest.approx(0.7 / 0.375)
    with pytest.raises(ValueError, match="2 attention weights but 3"):
        attention_share_by_kind([np.ones(2) / 2], [np.array(["a", "b", "c"])])


def test_mask_evolution_colours_patches_by_rule(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from milhelpers import synth, viz

    img = np.full((128, 256, 3), 230, np.uint8)
    coords = np.array([(x, y) for y in range(0, 128, 64) for x in range(0, 256, 64)])
    path = synth.write_pyramidal_tiff(tmp_path / "s.tiff", img, mpp=0.5, min_levels=1)
    masked = np.array([1, 1, 0, 0, 0, 0, 0, 1], bool)
    high = np.array([1, 0, 0, 0, 0, 0, 0, 0], bool)
    truth = np.zeros(8); truth[0] = 1
    fig = viz.mask_evolution(path, coords, 64, {"epoch 1": {"masked": masked, "high": high},
                                                "epoch 3": {"masked": ~high, "high": ~high & False}},
                             truth)
    im = fig.axes[0].get_images()[-1]
    px = np.ma.compressed(im.get_array())
    assert sorted(np.unique(px).tolist()) == [0.0, 1.0, 2.0]
    # the first patch (top-left) is high-masked: code 2; 3 of 8 patches hidden in all
    assert im.get_array()[0, 0] == 2 and fig.axes[0].get_title().endswith("3 of 8 hidden, 1 by high attn.")
    assert len(fig.axes) == 6                                 # 3 panels + 3 colourbars
    with pytest.raises(ValueError, match="3 patches for 8"):
        viz.mask_evolution(path, coords, 64, {"e": {"masked": np.ones(3, bool)}})


def test_a_cached_baseline_without_weights_is_trained_again(tmp_path, fit_calls):
    ds = planted()
    base = small_base()
    run = dict(seeds=[0], folds=2, epochs=1, cache_dir=tmp_path / "c", progress=False)
    ex.run_experiments(ds, [base], **run)
    for pt in (tmp_path / "c" / "abmil_gated_small").glob("*.pt"):
        pt.unlink()                                  # a cache written before weights were kept
    fits = fit_calls
    fits.clear()                                   # count the fits from here on
    ex.run_experiments(ds, [mhim_method(base, name="mhim_small")], **run)
    assert fits == ["mhim_small", "abmil_gated_small"] * 2
    assert len(list((tmp_path / "c" / "abmil_gated_small").glob("*.pt"))) == 2


# ------------------------------------------------------------------------------------- MHIM v2
def test_v2_and_student_init_names_and_bad_options():
    from milhelpers.methods import MHIM_V2_DEFAULTS, mhim_v2_method
    assert get_method("mhim_v2").name == "mhim_v2" and get_method("mhim_fresh").name == "mhim_fresh"
    assert get_method("mhim_v2_norecycle").model_kwargs["recycle"] is False
    assert mhim_v2_method(r_h=0.03, merge_k=5).name == "mhim_v2_rh0.03_k5"
    assert mhim_v2_method(merge_ratio=0.9, merge_momentum=0.99).name == "mhim_v2_rho0.9_mm0.99"
    assert mhim_method(student_init="fresh").name == "mhim_fresh"
    assert get_method("mhim").model_kwargs["student_init"] == "projection"
    assert MHIM_V2_DEFAULTS["momentum"] == 0.997 and MHIM_V2_DEFAULTS["merge_momentum"] == 0.999
    for kw, word in [({"merge_k": 0}, "merge_k"), ({"merge_ratio": 1.5}, "merge_ratio"),
                     ({"merge_momentum": 2.0}, "merge_momentum"), ({"student_init": "fc"},
                                                                   "student_init")]:
        with pytest.raises(ValueError, match=word):
            mhim_v2_method(**kw)
    with pytest.raises(ValueError, match="unknown MHIM option"):
        mhim_method(merge_k=5)                       # v1 has no recycle network


def test_v2_trains_on_padded_batches_and_never_recycles_padding(monkeypatch):
    from milhelpers.methods import mhim_v2_method
    from milhelpers.models import mhim as mhim_module
    ds = planted()
    seen = []
    original = mhim_module.recycle_split

    def spy(visible, *a, **kw):
        kept, rec = original(visible, *a, **kw)
        seen.append((visible.clone(), kept, rec))
        return kept, rec

    monkeypatch.setattr(mhim_module, "recycle_split", spy)
    method = mhim_v2_method(small_base(), name="v2_small", r_h=0.05)
    cfg = method.train_config(epochs=1, seed=0, batch_size=4, progress=False)
    res = method.fit(ds.subset(np.arange(16)), ds.subset(np.arange(16, 24)), cfg)
    assert np.isfinite(res.history.train_loss).all() and "consistency" in res.history
    assert seen and any((~v).any() for v, _, _ in seen)          # padded batches did occur
    for visible, kept, rec in seen:
        assert not ((kept | rec) & ~visible).any()                # padding never kept/recycled
        n = visible.sum(1)
        assert torch.equal(kept.sum(1), (n * 0.8).long())          # ⌊L·ρ⌋ per bag
    q = res.model.recycle.queries
    assert not q.requires_grad and torch.isfinite(q).all()


def test_score_picks_and_their_figure(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from milhelpers import synth, viz
    from milhelpers.models.mhim import score_picks

    torch.manual_seed(0)
    teacher = ABMIL(6, 2, embed_dim=8, attn_dim=4)
    x = torch.randn(8, 6)
    picks = score_picks(teacher, x, r_h=0.25)
    out = teacher.eval()(x)
    for kind in ("attention", "class_aware"):
        s = instance_scores(out, teacher, kind)[0]
        top = set(torch.topk(s, 2).indices.tolist())               # ⌈8·0.25⌉ = 2
        assert set(np.flatnonzero(picks[kind]["masked"]).tolist()) == top
        assert np.allclose(picks[kind]["scores"], s.detach().numpy())
    img = np.full((128, 256, 3), 230, np.uint8)
    coords = np.array([(x_, y_) for y_ in range(0, 128, 64) for x_ in range(0, 256, 64)])
    path = synth.write_pyramidal_tiff(tmp_path / "s.tiff", img, mpp=0.5, min_levels=1)
    fig = viz.mask_evolution(path, coords, 64, {"attention (v1)": picks["attention"],
                                                "class-aware (v2)": picks["class_aware"]},
                             np.zeros(8), high_label="top score")
    assert fig.axes[0].get_title().endswith("2 of 8 hidden, 2 by top score")


@pytest.mark.parametrize("was_training", [True, False])
@pytest.mark.parametrize("train_mode", [True, False])
def test_score_picks_gives_the_teacher_back_in_its_own_mode(was_training, train_mode):
    """score_picks scores in eval mode (or train mode when asked) and then restores whatever
    mode the teacher was in: a teacher that is training stays in training, an evaluated one in
    eval. Catches the ``teacher.train(was)`` restore dropped."""
    from milhelpers.models.mhim import score_picks

    torch.manual_seed(0)
    teacher = ABMIL(6, 2, embed_dim=8, attn_dim=4).train(was_training)
    score_picks(teacher, torch.randn(8, 6), r_h=0.25, train_mode=train_mode)
    assert teacher.training is was_training
    assert all(m.training is was_training for m in teacher.modules())


def test_teacher_trained_without_a_runner_config_uses_the_runs_seed(monkeypatch):
    """Without ``ctx.config`` (a build outside the runner) the teacher is the baseline trained
    with the run's seed and fold, so two seeds give two teachers and one seed always the same.
    Catches ``base.train_config()`` (the default seed for every run)."""
    from milhelpers.methods import BuildContext

    seen = []

    def fake_fit(self, train_ds, val_ds, config=None, fold=0, **kw):
        seen.append((self.name, config.seed, fold))
        return types.SimpleNamespace(model=self.build_model(
            BuildContext(int(train_ds.dim), 2, fold, config.seed)))

    monkeypatch.setattr(Method, "fit", fake_fit)
    ds = planted(16)
    method = mhim_method(small_base(), name="mhim_small")
    for seed in (5, 0):
        ctx = BuildContext(int(ds.dim), 2, fold=1, seed=seed, train_ds=ds.subset(np.arange(12)),
                           val_ds=ds.subset(np.arange(12, 16)))
        assert isinstance(method.build_model(ctx), MHIM)
    assert seen == [("abmil_gated_small", 5, 1), ("abmil_gated_small", 0, 1)]


def test_recycle_network_figure_colours_every_patch_by_its_fate():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.patches import Rectangle
    from milhelpers import viz

    masked = np.zeros(30, bool); masked[[3, 7]] = True
    recycled = np.zeros(30, bool); recycled[[0, 5, 9, 20, 21]] = True
    scores = np.linspace(1, 0, 30)
    ax = viz.recycle_network(masked, recycled, scores, n_queries=3, per_row=10)
    cells = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() < 0.9
             and p.get_x() < 10]
    assert len(cells) == 30
    colours = {tuple(p.get_facecolor()) for p in cells}
    assert len(colours) == 3                                       # hidden, recycled, kept
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].endswith("(2)") and labels[1].endswith("(5)") and labels[2].endswith("(23)")
    # ordered by score: patch 3 (hidden) is the 4th cell of the first row
    first_row = sorted((p for p in cells if p.get_y() == 0), key=lambda p: p.get_x())
    assert tuple(first_row[3].get_facecolor()) == tuple(first_row[7].get_facecolor()) != \
        tuple(first_row[0].get_facecolor())
    with pytest.raises(ValueError, match="both"):
        viz.recycle_network(masked, masked)


def test_v2_keeps_one_instance_without_recycling_and_recycles_it_with_a_network():
    """recycle_split's min_keep: without a recycle network (``mhim_v2_norecycle``) a bag must keep
    at least one instance for the student, ⌊L·ρ⌋ = 0 notwithstanding; with one, the ⌊L·ρ⌋ = 0
    kept leave the instance to the recycle tokens. Catches min_keep inverted (the student then
    gets an empty bag without recycling, and a kept instance that should be recycled with it)."""
    from milhelpers.models import RecycleNetwork
    x = torch.randn(1, 2, 6)
    # r_h = 0.5 of 2 hides the teacher's top instance; L = 1 left and ⌊1 · 0.8⌋ = 0
    plain = tiny_mhim(r_h=0.5, r_hr=1.0, r=0.0, merge_ratio=0.8).train()
    out = plain(x)
    masked = out.extras["mhim_masked"]
    assert int(masked.sum()) == 1
    assert torch.equal(out.mask, ~masked)                  # the one visible instance is kept
    assert int(out.extras["mhim_recycled"].sum()) == 0 and torch.isfinite(out.logits).all()
    torch.manual_seed(0)
    student, teacher = ABMIL(6, 2, embed_dim=8, attn_dim=4), ABMIL(6, 2, embed_dim=8, attn_dim=4)
    recycling = MHIM(student, teacher, r_h=0.5, r_hr=1.0, r=0.0, merge_ratio=0.8,
                     recycle=RecycleNetwork(8, n_queries=1)).train()
    out = recycling(x)
    masked, recycled = out.extras["mhim_masked"], out.extras["mhim_recycled"]
    assert torch.equal(recycled, ~masked)                  # the visible instance is recycled
    assert not out.mask[:, :2].any()                       # and no instance is kept
    assert out.mask[:, 2:].all() and torch.isfinite(out.logits).all()   # the recycle token


# --- round 9: the recycle queries' initial distribution, every ratio check at its bounds, and
# forward()'s mask None / all-True / padded against the student run by hand


def test_r9_recycle_queries_start_uniform_on_minus_v_to_v():
    """G ~ U(−v, v), v = √(6 / (3·16·16 + E)): with E = 64 and 64 queries (4,096 draws) the
    values fill both signs (about half negative), reach within 5 % of ±v and never pass it, and
    have mean ≈ 0 and std v/√3 (±5 %). Catches a one-sided U(0, v), a wrong bound (e.g. 16·16 or
    no E) and a normal draw (unbounded)."""
    torch.manual_seed(0)
    from milhelpers.models import RecycleNetwork
    dim = 64
    v = math.sqrt(6.0 / (3 * 16 * 16 + dim))                  # 0.0849
    q = RecycleNetwork(dim, n_queries=64, heads=1, head_dim=4).queries.double()
    assert q.shape == (64, dim)
    assert float(q.abs().max()) <= v
    assert float(q.min()) < -0.95 * v and float(q.max()) > 0.95 * v
    assert 0.45 < float((q < 0).double().mean()) < 0.55
    assert abs(float(q.mean())) < 0.05 * v
    assert float(q.std()) == pytest.approx(v / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("name", ["r_h", "r", "r_l"])
def test_r9_mask_ratios_accept_exactly_0_and_1_and_refuse_just_outside(name):
    """0 hides nothing and 1 hides all of a 4-instance bag but the lowest-scored (the
    at-least-one guard); −1e-9, 1 + 1e-9 and NaN are refused with the ratio's name."""
    s = torch.tensor([[0.4, 0.1, 0.3, 0.2]])
    base = {"r_h": 0.0, "r": 0.0, "r_l": 0.0}
    assert not mhim_mask(s, None, **{**base, name: 0.0}).any()
    assert mhim_mask(s, None, **{**base, name: 1.0})[0].tolist() == [True, False, True, True]
    for bad in (-1e-9, 1 + 1e-9, float("nan")):
        with pytest.raises(ValueError, match=f"{name} must be >= 0 and <= 1"):
            mhim_mask(s, None, **{**base, name: bad})


def test_r9_r_hr_is_open_at_0_closed_at_1_and_merge_ratio_closed_at_both():
    """r_hr ∈ (0, 1]: 1 (the exact top 2) and 1e-6 (r_h/r_hr ≥ 1: ⌈5·0.4⌉ = 2 of all 5)
    accepted; 0, 1.0001 and NaN refused. merge_ratio ρ ∈ [0, 1]: ρ = 0 keeps none of 5
    visible instances, ρ = 1 keeps all 5; 1.01 and −0.01 refused."""
    from milhelpers.models.mhim import recycle_split
    s = torch.tensor([[0.5, 0.4, 0.3, 0.2, 0.1]])
    assert mhim_mask(s, None, 0.4, 1.0)[0].tolist() == [True, True, False, False, False]
    assert int(mhim_mask(s, None, 0.4, 1e-6).sum()) == 2
    for bad in (0.0, 1.0001, float("nan")):
        with pytest.raises(ValueError, match="r_hr must be > 0 and <= 1"):
            mhim_mask(s, None, 0.4, bad)
    vis = torch.tensor([[True, True, False, True, True, True]])
    kept, rec = recycle_split(vis, 0.0)
    assert not kept.any() and torch.equal(rec, vis)
    kept, rec = recycle_split(vis, 1.0)
    assert torch.equal(kept, vis) and not rec.any()
    for bad in (1.01, -0.01):
        with pytest.raises(ValueError, match="merge_ratio must be >= 0 and <= 1"):
            recycle_split(vis, bad)
        with pytest.raises(ValueError, match="merge_ratio"):
            tiny_mhim(merge_ratio=bad)
    with pytest.raises(ValueError, match="score='entropy'"):
        tiny_mhim(score="entropy")


def _student_alone(model: MHIM, x: torch.Tensor, n_real: int, n_hidden: int) -> torch.Tensor:
    """Logits of the student on one bag's real instances minus the teacher's top ``n_hidden``
    by its softmax attention, computed from the modules' own layers (no MHIM code)."""
    t = model.teacher
    xs = x[:n_real]
    h = t.project(xs)
    a = torch.softmax(t.attention(h)[:, 0], 0)
    keep = torch.ones(n_real, dtype=torch.bool)
    keep[torch.argsort(a, descending=True, stable=True)[:n_hidden]] = False
    st = model.student
    hs = st.project(xs[keep])
    w = torch.softmax(st.attention(hs)[:, 0], 0)
    return st.classifier(w @ hs)


@pytest.mark.parametrize("mask_kind", ["none", "all_true", "padded"])
def test_r9_mhim_forward_mask_none_all_true_and_padded_match_the_student_by_hand(mask_kind):
    """B = 2 bags of N = 7 slots, r_h = 0.25 with r_hr = 1 and no random masking (deterministic,
    dropout off): each bag's logits are the student's on the bag without the teacher's top
    ⌈n·0.25⌉ instances (7 real: 2 hidden; padded second bag with 4 real: 1 hidden). mask=None
    and an all-True mask must give the same; padding is never hidden nor seen; v1 has no
    recycle extras."""
    torch.manual_seed(3)
    student = ABMIL(6, 3, embed_dim=8, attn_dim=4, dropout=0.0)
    teacher = ABMIL(6, 3, embed_dim=8, attn_dim=4, dropout=0.0)
    model = MHIM(student, teacher, r_h=0.25, r_hr=1.0, r=0.0).train()
    x = torch.randn(2, 7, 6)
    n_real = [7, 4] if mask_kind == "padded" else [7, 7]
    mask = None if mask_kind == "none" else torch.arange(7)[None] < torch.tensor(n_real)[:, None]
    out = model(x, mask)
    want = torch.stack([_student_alone(model, x[b], n, math.ceil(n * 0.25))
                        for b, n in enumerate(n_real)])
    torch.testing.assert_close(out.logits, want, atol=1e-5, rtol=1e-5)
    assert out.extras["mhim_masked"].sum(1).tolist() == [math.ceil(n * 0.25) for n in n_real]
    if mask_kind == "padded":
        assert not out.extras["mhim_masked"][1, 4:].any() and not out.mask[1, 4:].any()
    assert "mhim_recycled" not in out.extras and "recycle_tokens" not in out.extras
    assert out.extras["teacher_scores"].shape == (2, 7)


def _recycle_tokens_by_hand(net, h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Z = W_o · MHA(LN(G) W_q, LN(R) W_k, LN(R) W_v) for one bag's recycled embeddings R
    (n, E) and queries G (k, E), per head a softmax over the n recycled instances (no dropout)."""
    heads, d = net.heads, net.head_dim
    q = net.to_q(net.norm(g)).view(-1, heads, d).transpose(0, 1)            # (H, k, d)
    r = net.norm(h)
    k = net.to_k(r).view(-1, heads, d).transpose(0, 1)                      # (H, n, d)
    v = net.to_v(r).view(-1, heads, d).transpose(0, 1)
    a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), -1)              # (H, k, n)
    return net.to_out((a @ v).transpose(0, 1).reshape(g.shape[0], heads * d))


def test_r9_v2_with_everything_recycled_pools_the_recycle_tokens_by_hand():
    """v2 with ρ = 0 and a recycle network (2 queries, 2 heads, no dropout), B = 2 with the
    second bag padded to 4 of 6: the teacher hides its top ⌈n·0.25⌉, every other real instance
    is recycled (padding never), nothing is kept, and the student pools the 2 tokens alone:
    logits = C(Σ_j softmax(e)_j z_j) with Z the cross-attention computed here from the weights
    on the recycled instances of each bag. The extras are present in v2 (absent in v1)."""
    from milhelpers.models import RecycleNetwork
    torch.manual_seed(4)
    student = ABMIL(6, 3, embed_dim=8, attn_dim=4, dropout=0.0)
    teacher = ABMIL(6, 3, embed_dim=8, attn_dim=4, dropout=0.0)
    net = RecycleNetwork(8, n_queries=2, momentum=0.75, heads=2, head_dim=4, dropout=0.0)
    model = MHIM(student, teacher, r_h=0.25, r_hr=1.0, r=0.0, merge_ratio=0.0,
                 recycle=net).train()
    x = torch.randn(2, 6, 6)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    g0 = net.queries.clone()
    out = model(x, mask)
    masked, recycled = out.extras["mhim_masked"], out.extras["mhim_recycled"]
    assert masked.sum(1).tolist() == [2, 1]
    assert torch.equal(recycled, mask & ~masked)                 # ρ = 0: all that is left
    assert out.extras["recycle_tokens"].shape == (2, 2, 8)
    with torch.no_grad():
        for b in range(2):
            h = student.project(x[b][recycled[b]])
            z = _recycle_tokens_by_hand(net, h, g0)              # (2, 8)
            torch.testing.assert_close(out.extras["recycle_tokens"][b], z, atol=1e-5, rtol=1e-5)
            w = torch.softmax(student.attention(z)[:, 0], 0)
            torch.testing.assert_close(out.logits[b], student.classifier(w @ z), atol=1e-5,
                                       rtol=1e-5)
    # the queries took their EMA step towards the batch mean of the tokens: G ← ¾G + ¼Z̄
    torch.testing.assert_close(net.queries,
                               0.75 * g0 + 0.25 * out.extras["recycle_tokens"].detach().mean(0))


# --- round 11: recycle_split counts per bag of a padded batch, floor and min_keep by hand ------
@pytest.mark.parametrize("rho, min_keep, want_kept", [(0.79, 0, [3, 1, 0]), (0.5, 0, [2, 1, 0]),
                                                      (0.5, 3, [3, 2, 1]), (0.1, 1, [1, 1, 1])])
def test_r11_recycle_split_keeps_floor_of_each_bags_own_visible_count(rho, min_keep, want_kept):
    """Three bags with L = 5, 2 and 1 visible (padding and hidden instances False): each keeps
    max(⌊L·ρ⌋, min(min_keep, L)) of its *own* visible instances — ⌊3.95⌋ = 3, ⌊1.58⌋ = 1,
    ⌊0.79⌋ = 0 for ρ = 0.79 — and recycles the rest; kept and recycled are disjoint, their
    union is ``visible``. Catches rounding up, the count taken over the padded length N or the
    whole batch, and min_keep ignored or not capped at L."""
    from milhelpers.models.mhim import recycle_split
    vis = torch.tensor([[True, True, False, True, True, True],
                        [False, True, True, False, False, False],
                        [False, False, False, False, True, False]])
    kept, rec = recycle_split(vis, rho, torch.Generator().manual_seed(3), min_keep=min_keep)
    assert kept.sum(1).tolist() == want_kept
    assert rec.sum(1).tolist() == [L - k for L, k in zip([5, 2, 1], want_kept)]
    assert not (kept & rec).any() and torch.equal(kept | rec, vis)


# --- round 12: audit 12's survivors and a sweep of mhim.py / the MHIM recipe -------------------
def test_r12_score_picks_scores_only_the_kinds_asked_for():
    """``kinds`` picks which scores are computed: one kind asked, one key back (in the order
    asked); the default gives both."""
    from milhelpers.models.mhim import score_picks
    torch.manual_seed(0)
    teacher = ABMIL(6, 2, embed_dim=8, attn_dim=4)
    x = torch.randn(10, 6)
    assert list(score_picks(teacher, x, 0.1, kinds=("attention",))) == ["attention"]
    assert list(score_picks(teacher, x, 0.1, kinds=("class_aware",))) == ["class_aware"]
    assert list(score_picks(teacher, x, 0.1)) == ["attention", "class_aware"]
    p = score_picks(teacher, x, 0.1, kinds=("attention",))["attention"]
    assert p["scores"].shape == (10,) and p["masked"].shape == (10,)
    assert p["masked"].sum() == 1 and p["masked"][int(np.argmax(p["scores"]))]
    assert np.array_equal(p["masked"], p["high"])


def test_r12_mhim_recipe_carries_the_baselines_options_config_and_batching():
    """The MHIM method's model_kwargs name the baseline, its options and its config (the
    runner's cache key tells teachers with different baseline options apart), and the method
    keeps the baseline's training defaults, collate function, sampler and transform."""
    import dataclasses
    from milhelpers.methods import mhim_v2_method

    def collate(bags):
        raise AssertionError

    def sampler(ds, g):
        raise AssertionError

    def transform(bag, rng):
        return bag
    base = dataclasses.replace(get_method("abmil_gated").with_options(embed_dim=128),
                               config={"lr": 1e-3}, collate_fn=collate, batch_sampler=sampler,
                               train_transform=transform)
    for make in (mhim_method, mhim_v2_method):
        m = make(base)
        assert m.model_kwargs["baseline_kwargs"] == {"embed_dim": 128}
        assert m.model_kwargs["baseline"] == "abmil_gated"
        assert m.model_kwargs["baseline_config"] == {"lr": 1e-3}
        assert dict(m.config) == {"lr": 1e-3}
        assert m.collate_fn is collate and m.batch_sampler is sampler
        assert m.train_transform is transform
    assert mhim_method("abmil_tanh").model_kwargs["baseline_kwargs"] == {}
    assert mhim_method("abmil_tanh").model_kwargs["baseline"] == "abmil_tanh"


def test_r12_mhim_defaults_exactly():
    """Every default of v1 and v2 (a changed default changes every registered run)."""
    from milhelpers.methods import MHIM_DEFAULTS, MHIM_V2_DEFAULTS, mhim_v2_method
    assert MHIM_DEFAULTS == {"r_h": 0.01, "r_hr": 0.5, "r": 0.5, "r_l": 0.0, "decay": True,
                             "alpha": 0.1, "momentum": 0.999, "momentum_cosine": False,
                             "score": "attention", "student_init": "projection"}
    assert MHIM_V2_DEFAULTS == {"r_h": 0.01, "r_hr": 1.0, "r": 0.0, "r_l": 0.0, "decay": False,
                                "alpha": 0.5, "momentum": 0.997, "momentum_cosine": False,
                                "score": "class_aware", "student_init": "fresh",
                                "merge_ratio": 0.8, "merge_k": 1, "merge_momentum": 0.999,
                                "recycle": True}
    mk = {k: v for k, v in mhim_method().model_kwargs.items() if k in MHIM_DEFAULTS}
    assert mk == MHIM_DEFAULTS
    mk2 = {k: v for k, v in mhim_v2_method().model_kwargs.items() if k in MHIM_V2_DEFAULTS}
    assert mk2 == MHIM_V2_DEFAULTS


@pytest.mark.parametrize("opts, name", [
    (dict(r_hr=0.25, r_l=0.1, alpha=0.2, momentum=0.99), "mhim_rhr0.25_rl0.1_a0.2_m0.99"),
    (dict(r=0.3, r_h=0.02), "mhim_rh0.02_r0.3"),
    (dict(score="class_aware", student_init="fresh"), "mhim_class_aware_fresh"),
    (dict(decay=False, momentum_cosine=True), "mhim_nodecay_mcos"),
])
def test_r12_mhim_names_list_each_changed_option_in_the_defaults_order(opts, name):
    assert mhim_method(**opts).name == name
    assert mhim_method(**dict(reversed(list(opts.items())))).name == name


@pytest.mark.parametrize("opts, name", [
    (dict(merge_ratio=0.5, merge_k=5, merge_momentum=0.99), "mhim_v2_rho0.5_k5_mm0.99"),
    (dict(recycle=False), "mhim_v2_norecycle"),
    (dict(decay=True, r_hr=0.5), "mhim_v2_rhr0.5_decay"),
    (dict(score="attention", student_init="projection"), "mhim_v2_attention_projection"),
])
def test_r12_mhim_v2_names_list_each_changed_option(opts, name):
    from milhelpers.methods import mhim_v2_method
    assert mhim_v2_method(**opts).name == name
    assert mhim_v2_method("abmil_tanh", **opts).name == name.replace("mhim_v2", "abmil_tanh_mhim_v2")
    assert mhim_v2_method(name="mine", **opts).name == "mine"


def _pretrained_ctx(base, seed=3, n_classes=2):
    from milhelpers.methods import BuildContext
    calls = []
    torch.manual_seed(11)
    trained = base.build(types.SimpleNamespace(in_dim=6, n_classes=n_classes), **base.model_kwargs)

    def pretrained(m):
        calls.append(m)
        return trained
    return BuildContext(6, n_classes, 0, seed, pretrained=pretrained), trained, calls


def test_r12_mhim_build_uses_the_pretrained_teacher_copy_and_the_recipe_options():
    from milhelpers.methods import mhim_v2_method
    base = get_method("abmil_gated").with_options(name="tiny_gated", embed_dim=8, attn_dim=4)
    m = mhim_method(base, r_h=0.2, r_hr=0.4, r=0.1, r_l=0.05, alpha=0.3, decay=False,
                    momentum=0.9, momentum_cosine=True)
    ctx, trained, calls = _pretrained_ctx(base)
    model = m.build_model(ctx)
    assert calls == [base]
    assert model.teacher is not trained                       # a copy, the cache stays intact
    for a, b in zip(model.teacher.state_dict().values(), trained.state_dict().values()):
        assert torch.equal(a, b)
    # v1: the student's projection is the teacher's, its attention and classifier are its own
    assert torch.equal(model.student.project[0].weight, trained.project[0].weight)
    assert not torch.equal(model.student.classifier.weight, trained.classifier.weight)
    assert (model.r_h, model.r_hr, model.r, model.r_l) == (0.2, 0.4, 0.1, 0.05)
    assert model.alpha == 0.3 and model.recycle is None and model.merge_ratio == 1.0
    assert model.schedule == {"decay": False, "momentum": 0.9, "momentum_cosine": True}
    cbs = m.callbacks(model)
    assert len(cbs) == 1 and (cbs[0].decay, cbs[0].m0, cbs[0].momentum_cosine) == (False, 0.9, True)
    terms = m.loss_terms(model)
    assert [t.name for t in terms] == ["consistency"] and terms[0].weight == 0.3
    assert list(mhim_method(base, alpha=0.0).loss_terms(model)) == []
    # v2: a recycle network of the student's width with merge_k queries; 'fresh' student
    m2 = mhim_v2_method(base, merge_k=3, merge_momentum=0.5, merge_ratio=0.6)
    ctx2, trained2, _ = _pretrained_ctx(base)
    model2 = m2.build_model(ctx2)
    assert model2.recycle.queries.shape == (3, 8) and model2.recycle.momentum == 0.5
    assert model2.merge_ratio == 0.6 and model2.score == "class_aware"
    assert not torch.equal(model2.student.project[0].weight, trained2.project[0].weight)
    model3 = mhim_v2_method(base, recycle=False).build_model(ctx2)
    assert model3.recycle is None and model3.merge_ratio == 0.8


def test_r12_mhim_build_refuses_without_teacher_source_and_projection_without_project():
    from milhelpers.methods import BuildContext
    from milhelpers.models.base import MILModel, MILOutput
    base = get_method("abmil_gated").with_options(name="tiny_gated", embed_dim=8, attn_dim=4)
    with pytest.raises(ValueError, match="BuildContext.train_ds"):
        mhim_method(base).build_model(BuildContext(6, 2, 0, 0))

    class NoProject(MILModel):
        def __init__(self, d, c):
            super().__init__()
            self.n_classes = c
            self.lin = torch.nn.Linear(d, c)

        def forward(self, x, mask=None):
            raise AssertionError
    nb = Method("noproj", lambda ctx, **kw: NoProject(ctx.in_dim, ctx.n_classes))
    ctx = BuildContext(6, 2, 0, 0, pretrained=lambda m: NoProject(6, 2))
    with pytest.raises(ValueError, match="needs a model with a 'project' layer"):
        mhim_method(nb, alpha=0.0).build_model(ctx)
    model = mhim_method(nb, student_init="fresh").build_model(ctx)
    assert isinstance(model.student, NoProject)


def test_r12_mhim_loss_term_is_the_consistency_of_the_embeddings_weighted_by_alpha():
    from milhelpers.losses import consistency_loss
    from milhelpers.methods import mhim_loss_terms
    (term,) = mhim_loss_terms(types.SimpleNamespace(alpha=0.7))
    assert term.name == "consistency" and term.weight == 0.7
    s, t = torch.randn(2, 5), torch.randn(2, 5)
    out = types.SimpleNamespace(embedding=s, extras={"teacher_embedding": t})
    torch.testing.assert_close(term.fn(out, None, None), consistency_loss(s, t))
    assert not torch.allclose(term.fn(out, None, None), consistency_loss(t, s))


def test_r12_ratio_errors_name_the_ratio_and_its_bounds():
    z = torch.zeros(1, 3)
    with pytest.raises(ValueError, match=r"^r_h must be >= 0 and <= 1.0, got 1.5$"):
        mhim_mask(z, None, 1.5)
    with pytest.raises(ValueError, match=r"^r must be >= 0 and <= 1.0, got -0.1$"):
        mhim_mask(z, None, 0.1, r=-0.1)
    with pytest.raises(ValueError, match=r"^r_l must be >= 0 and <= 1.0, got nan$"):
        mhim_mask(z, None, 0.1, r_l=float("nan"))
    with pytest.raises(ValueError, match=r"^r_hr must be > 0 and <= 1.0, got 0$"):
        mhim_mask(z, None, 0.1, r_hr=0)
    from milhelpers.models.mhim import recycle_split
    with pytest.raises(ValueError, match=r"^merge_ratio must be >= 0 and <= 1.0, got 2$"):
        recycle_split(torch.ones(1, 2, dtype=torch.bool), 2)


def test_r12_mhim_mask_per_bag_of_a_wide_batch_parts_and_no_draw_when_nothing_random():
    """B = 3 bags of N = 5 (more bags than... fewer than instances), per-bag top by score with
    r_hr = 1 (no random draw): the generator is not touched. The low set is the lowest of each
    bag; ``parts`` returns the per-rule masks next to the union; without ``parts`` a tensor."""
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.05],
                           [0.7, 0.2, 0.6, 0.1, 0.4],
                           [0.3, 0.5, 0.9, 0.2, 0.1]])
    g = torch.Generator().manual_seed(5)
    before = g.get_state().clone()
    out = mhim_mask(scores, None, r_h=0.4, r_hr=1.0, r=0.0, r_l=0.2, generator=g)
    assert torch.equal(g.get_state(), before)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.bool and out.shape == (3, 5)
    want_high = torch.tensor([[0, 1, 0, 1, 0], [1, 0, 1, 0, 0], [0, 1, 1, 0, 0]], dtype=torch.bool)
    want_low = torch.tensor([[0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=torch.bool)
    assert torch.equal(out, want_high | want_low)
    masked, parts = mhim_mask(scores, None, 0.4, 1.0, 0.0, 0.2, g, parts=True)
    assert torch.equal(masked, out) and set(parts) == {"high", "random", "low"}
    assert torch.equal(parts["high"], want_high) and torch.equal(parts["low"], want_low)
    assert not parts["random"].any()
    # with a mask, the padded position is neither scored nor counted: n = 4 → ⌈4·0.4⌉ = 2
    mask = torch.tensor([[True, False, True, True, True]] * 3)
    m2 = mhim_mask(scores, mask, 0.4, 1.0)
    assert not m2[:, 1].any() and m2.sum(1).tolist() == [2, 2, 2]
    assert m2[0].tolist() == [False, False, True, True, False]


def test_r12_random_masking_draws_from_the_generator_exactly_when_asked():
    scores = torch.arange(8.0)[None]
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a = mhim_mask(scores, None, 0.0, 1.0, r=0.5, generator=g1)
    b = mhim_mask(scores, None, 0.0, 1.0, r=0.5, generator=g2)
    assert torch.equal(a, b) and a.sum() == 4
    draws = {tuple(mhim_mask(scores, None, 0.0, 1.0, r=0.5,
                             generator=torch.Generator().manual_seed(s))[0].tolist())
             for s in range(6)}
    assert len(draws) > 1                         # the seed reaches the draw


def test_r12_instance_scores_refuse_unknown_kind_and_models_without_embeddings():
    from milhelpers.models.base import MILOutput
    torch.manual_seed(0)
    model = ABMIL(6, 2, embed_dim=8, attn_dim=4, dropout=0.0).eval()
    out = model(torch.randn(5, 6))
    with pytest.raises(ValueError, match=r"score='bogus': choose from \['attention', "
                                         r"'class_aware'\]"):
        instance_scores(out, model, "bogus")
    bare = MILOutput(out.logits, out.attention_logits, out.embedding, out.mask)
    with pytest.raises(ValueError, match="one-branch attention model"):
        instance_scores(bare, model, "class_aware")
    no_clf = types.SimpleNamespace(head=model.classifier)
    with pytest.raises(ValueError, match="one-branch attention model"):
        instance_scores(out, no_clf, "class_aware")
    # class-aware by hand: max_c softmax(W (a_i h_i))
    h = out.extras["instance_embeddings"][0]
    a = out.slide_attention[0]
    want = torch.softmax((a[:, None] * h) @ model.classifier.weight.t(), -1).amax(-1)
    torch.testing.assert_close(instance_scores(out, model, "class_aware")[0], want)
    torch.testing.assert_close(instance_scores(out, model)[0], a)


def test_r12_ema_update_needs_no_grad_mode_and_matching_parameter_lists():
    t, s = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        t.weight.copy_(torch.tensor([[1.0, 2.0]]))
        s.weight.copy_(torch.tensor([[3.0, -2.0]]))
        t.bias.fill_(0.0)
        s.bias.fill_(1.0)
    ema_update(t, s, 0.75)                        # parameters that still require gradients
    torch.testing.assert_close(t.weight, torch.tensor([[1.5, 1.0]]))
    torch.testing.assert_close(t.bias, torch.tensor([0.25]))
    with pytest.raises(ValueError, match="different parameter lists"):
        ema_update(t, torch.nn.Sequential(s, torch.nn.Linear(1, 1)), 0.5)


def test_r12_recycle_split_uses_the_generator_and_each_bag_of_a_batch():
    from milhelpers.models.mhim import recycle_split
    vis = torch.tensor([[False] * 8, [True] * 8, [True] * 6 + [False] * 2])
    draws = set()
    for s in range(5):
        k1, r1 = recycle_split(vis, 0.5, torch.Generator().manual_seed(s))
        k2, r2 = recycle_split(vis, 0.5, torch.Generator().manual_seed(s))
        assert torch.equal(k1, k2) and torch.equal(r1, r2)
        assert k1.sum(1).tolist() == [0, 4, 3] and r1.sum(1).tolist() == [0, 4, 3]
        assert k1.dtype == torch.bool and r1.dtype == torch.bool
        draws.add(tuple(k1[1].tolist()))
    assert len(draws) > 1


def test_r12_recycle_network_checks_and_shapes():
    from milhelpers.models import RecycleNetwork
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match=rf"^merge_k={bad!r}: the number of global queries"):
            RecycleNetwork(4, bad)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"^merge_momentum must be in \[0, 1\], got {bad}$"):
            RecycleNetwork(4, 1, bad)
    RecycleNetwork(4, 1, 0.0)
    RecycleNetwork(4, 1, 1.0)
    net = RecycleNetwork(5, 2, heads=3, head_dim=2)
    assert net.to_q.weight.shape == (6, 5) and net.to_k.weight.shape == (6, 5)
    assert net.to_out[0].weight.shape == (5, 6) and net.norm.normalized_shape == (5,)
    assert net.queries.shape == (2, 5)
    z = net.eval()(torch.randn(2, 4, 5), torch.tensor([[True, False, True, True]] * 2))
    assert z.shape == (2, 2, 5)
    d = RecycleNetwork(16)
    assert (d.heads, d.head_dim, d.momentum) == (8, 64, 0.9999) and d.queries.shape == (1, 16)
    assert d.attn_dropout.p == 0.1 and d.to_out[1].p == 0.1


def test_r12_mhim_defaults_hide_keeps_modes_and_forward_reports_the_teachers_pass():
    torch.manual_seed(0)
    student = ABMIL(6, 3, embed_dim=8, attn_dim=4, dropout=0.0)
    teacher = ABMIL(6, 3, embed_dim=8, attn_dim=4, dropout=0.0)
    model = MHIM(student, teacher)
    assert (model.r_h, model.r_hr, model.r, model.r_l) == (0.01, 0.5, 0.5, 0.0)
    assert model.score == "attention" and model.merge_ratio == 1.0 and model.recycle is None
    assert model.n_classes == 3
    x = torch.randn(12, 6)
    teacher.eval()
    (masked, parts), t = model.hide(x, parts=True)
    assert not teacher.training and masked.shape == (1, 12) and set(parts) == {"high", "random",
                                                                                "low"}
    torch.testing.assert_close(t.extras["teacher_scores"], t.slide_attention)
    m2, _ = model.hide(x)
    assert isinstance(m2, torch.Tensor)
    teacher.train()
    model.hide(x)
    assert teacher.training                       # given back in the mode it came in
    model.train()
    g = model.generator.get_state().clone()
    out = model(x)
    assert set(out.extras) >= {"teacher_embedding", "mhim_masked", "teacher_scores"}
    assert "mhim_recycled" not in out.extras
    with torch.no_grad():
        full = teacher(x)
    torch.testing.assert_close(out.extras["teacher_embedding"], full.embedding)
    torch.testing.assert_close(out.extras["teacher_scores"], full.slide_attention)
    model.generator.set_state(g)
    want = mhim_mask(full.slide_attention, None, 0.01, 0.5, 0.5, 0.0, model.generator)
    assert torch.equal(out.extras["mhim_masked"], want)
    with torch.no_grad():
        torch.testing.assert_close(out.logits, student(x[None], ~want).logits)
    # seed reaches the generator: two seeds, different masks for some bag
    draws = {tuple(MHIM(student, teacher, r=0.5, seed=s).hide(x)[0][0].tolist()) for s in range(5)}
    assert len(draws) > 1


def test_r12_mask_recorder_records_the_chosen_epochs_last_steps_without_touching_the_draws():
    model = tiny_mhim(r_h=0.25, r_hr=1.0, r=0.5)
    x = torch.randn(8, 6)
    rec = MaskRecorder(x, np.array([0, 2]))
    g = model.generator.get_state().clone()
    rng = torch.random.get_rng_state().clone()
    rec.on_step_start(model, TrainState(1, 0, 4, 2))
    assert list(rec.records) == [0]
    assert torch.equal(model.generator.get_state(), g)
    assert torch.equal(torch.random.get_rng_state(), rng)
    rec.on_step_start(model, TrainState(1, 1, 4, 2))          # not the first step
    rec.on_step_end(model, TrainState(1, 1, 4, 2))            # epoch 1 not asked for
    rec.on_step_end(model, TrainState(2, 2, 4, 2))            # not the epoch's last step
    assert list(rec.records) == [0]
    rec.on_step_end(model, TrainState(2, 3, 4, 2))
    assert sorted(rec.records) == [0, 2]
    r = rec.records[2]
    assert r["masked"].shape == (8,) and r["r_h"] == 0.25 and r["high"].sum() == 2
    assert (r["masked"] >= r["high"]).all() and r["masked"].sum() >= 4
    assert r["scores"].shape == (8,) and r["teacher_scores"].shape == (8,)


def test_r12_mhim_summaries_say_every_option_and_the_registered_ablations():
    from milhelpers.methods import available_methods, mhim_v2_method
    v1 = mhim_method().summary
    assert v1.startswith(
        "MHIM-MIL on abmil_gated: a momentum teacher (the trained abmil_gated of the fold) hides "
        "the instances it finds most salient; attention scores, r_h = 0.01 drawn from the top 0.02 "
        "(r_h → 0, cosine) hidden, random r = 0.5, low r_l = 0; α = 0.1, teacher EMA m = 0.999; "
        "student projection copied from the teacher. Tang et al., 'Multiple instance learning "
        "framework with masked hard instance mining for whole slide image classification'")
    v2 = mhim_v2_method().summary
    assert v2.startswith(
        "MHIM-MIL v2 on abmil_gated: a momentum teacher (the trained abmil_gated of the fold) hides"
        " the instances it finds most salient; class-aware scores, the top 0.01 hidden, random "
        "r = 0, low r_l = 0; of the rest a random 0.8 kept, the others pooled by the global "
        "recycle network into 1 token(s) (queries' EMA m = 0.999); α = 0.5, teacher EMA "
        "m = 0.997; student fresh. Tang et al.")
    assert v2.endswith("IJCV 2025, arXiv 2509.11526") and v1.endswith("arXiv 2307.15254")
    nr = mhim_v2_method(recycle=False, momentum_cosine=True, r_hr=0.5).summary
    assert ("class-aware scores, r_h = 0.01 drawn from the top 0.02 hidden, random r = 0, low "
            "r_l = 0; of the rest a random 0.8 kept, the others hidden (no recycling); α = 0.5, "
            "teacher EMA m = 0.997 → 1; student fresh.") in nr
    assert mhim_method("abmil_tanh").summary.startswith(
        "MHIM-MIL on abmil_tanh: a momentum teacher (the trained abmil_tanh of the fold)")
    assert {m for m in available_methods() if m.startswith("mhim")} == {
        "mhim", "mhim_class_aware", "mhim_fresh", "mhim_nodecay", "mhim_r0", "mhim_rh0.03",
        "mhim_rh0.03_nodecay", "mhim_rh0.1", "mhim_rh0.1_nodecay", "mhim_rl0.2", "mhim_v2",
        "mhim_v2_norecycle"}


def test_r12_mhim_recipe_errors_name_the_option_and_the_choices():
    from milhelpers.methods import mhim_v2_method
    with pytest.raises(ValueError, match=r"^unknown MHIM option\(s\) \['foo'\]; choose from "
                                         r"\['alpha', 'decay', 'momentum', 'momentum_cosine', "
                                         r"'r', 'r_h', 'r_hr', 'r_l', 'score', 'student_init'\]$"):
        mhim_method(foo=1)
    with pytest.raises(ValueError, match=r"choose from \[.*'merge_k', 'merge_momentum', "
                                         r"'merge_ratio', .*'recycle', "):
        mhim_v2_method(foo=1)
    with pytest.raises(ValueError, match=r"^alpha must be >= 0, got -0.5$"):
        mhim_method(alpha=-0.5)
    with pytest.raises(ValueError, match=r"^student_init='teacher': choose 'projection'"):
        mhim_method(student_init="teacher")
    with pytest.raises(ValueError, match=r"^score='attn': choose from"):
        mhim_method(score="attn")
    assert mhim_method(alpha=0).name == "mhim_a0"


def test_r12_v2_student_needs_both_project_and_pool():
    from milhelpers.models import RecycleNetwork
    torch.manual_seed(0)
    teacher = ABMIL(6, 2, embed_dim=8, attn_dim=4)
    student = ABMIL(6, 2, embed_dim=8, attn_dim=4)
    half = types.SimpleNamespace(n_classes=2, project=student.project)   # no pool
    with pytest.raises(ValueError, match="need a student with 'project' and 'pool'"):
        MHIM(half, teacher, merge_ratio=0.5)
    with pytest.raises(ValueError, match="need a student with 'project' and 'pool'"):
        MHIM(half, teacher, recycle=RecycleNetwork(8, heads=1, head_dim=4))
    MHIM(student, teacher, merge_ratio=0.5)
    assert MHIM(half, teacher).merge_ratio == 1.0                # v1 needs neither


def test_r12_recycle_network_layer_norm_is_the_default_affine_one():
    from milhelpers.models import RecycleNetwork
    net = RecycleNetwork(6, heads=1, head_dim=4)
    assert isinstance(net.norm, torch.nn.LayerNorm) and net.norm.eps == 1e-5
    assert net.norm.weight.shape == (6,) and net.norm.bias.shape == (6,)
    assert sum(p.numel() for p in net.parameters()) == 3 * 6 * 4 + 4 * 6 + 6 + 2 * 6


def test_r12_mhim_asks_the_runner_for_the_baseline_method_not_its_name():
    from milhelpers.methods import BuildContext
    calls = []

    def pretrained(m):
        calls.append(m)
        torch.manual_seed(1)
        return ABMIL(6, 2, embed_dim=8, attn_dim=4)
    base = get_method("abmil_tanh").with_options(embed_dim=8, attn_dim=4)
    from milhelpers.methods import register, METHODS
    register(base.with_options(name="r12_tanh_tiny"), overwrite=True)
    try:
        model = mhim_method("r12_tanh_tiny").build_model(BuildContext(6, 2, 0, 0,
                                                                      pretrained=pretrained))
    finally:
        METHODS.pop("r12_tanh_tiny", None)
    assert len(calls) == 1 and isinstance(calls[0], Method) and calls[0].name == "r12_tanh_tiny"
    assert model.student.gated is False and model.teacher.gated is True   # the runner's model


# --- audit 14's survivors ----------------------------------------------------------------------
@pytest.mark.parametrize("ratio, expected", [(-1.0, 0), (-0.25, 0), (-1e-6, 0), (0.0, 0),
                                             (1e-6, 1), (0.25, 3), (1.5, 10)])
def test_a14_mask_count_clips_to_zero_below_and_to_n_above(ratio, expected):
    """⌈n·ratio⌉ clipped to [0, n] on both sides: a negative ratio hides nothing (not a negative
    count that would slice from the end). Catches ``ratio <= 0`` narrowed to ``== 0`` (audit 14)."""
    assert mask_count(10, ratio) == expected
