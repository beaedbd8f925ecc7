"""MHIM-MIL's less travelled paths: masks of bags with holes and empty bags, the error branches,
the options that must reach the model (score, r / r_l, seeds, schedules, momentums), v2's seeded
split and recycle network, score_picks' mode, and the visibility probabilities at their edges.
Every expected value is computed by hand (or by an independent torch call) in the comments."""
import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from milhelpers import visibility as vis
from milhelpers.losses import consistency_loss
from milhelpers.methods import (BuildContext, MaskRecorder, MHIMSchedule, get_method,
                                mhim_method, mhim_v2_method)
from milhelpers.models import ABMIL, MHIM, RecycleNetwork, ema_update, mhim_mask
from milhelpers.models.mhim import instance_scores, recycle_split, score_picks
from milhelpers.train import TrainState


def _abmil(seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return ABMIL(6, 2, embed_dim=8, attn_dim=4, dropout=dropout)


def _small_base():
    return get_method("abmil_gated").with_options(name="small", embed_dim=8, attn_dim=4)


def _ctx(seed):
    torch.manual_seed(99)
    trained = ABMIL(6, 2, embed_dim=8, attn_dim=4)
    return BuildContext(6, 2, 0, seed, pretrained=lambda base: trained)


# ------------------------------------------------------------------------------- mhim_mask edges
def test_an_all_padding_bag_is_skipped_and_the_next_bags_are_still_masked():
    """Bag 0 is all padding (n = 0: nothing masked); bags 1 and 2 still get their own top
    ⌈n·0.4⌉: n = 5 → 2 (scores 0.9 at 3, 0.8 at 0), n = 3 → ⌈1.2⌉ = 2 (0.7 at 1, 0.6 at 2)."""
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0],
                           [0.8, 0.1, 0.3, 0.9, 0.2],
                           [0.5, 0.7, 0.6, 9.0, 9.0]])
    mask = torch.tensor([[False] * 5, [True] * 5, [True, True, True, False, False]])
    m = mhim_mask(scores, mask, r_h=0.4, r_hr=1.0)
    assert m[0].tolist() == [False] * 5
    assert m[1].nonzero().flatten().tolist() == [0, 3]
    assert m[2].nonzero().flatten().tolist() == [1, 2]


def test_a_real_mask_with_holes_masks_and_reports_the_real_positions():
    """Real instances at positions 1, 2, 4, 5 (scores 0.1, 0.8, 0.5, 0.3; the holes score 9).
    n = 4: high ⌈4·0.25⌉ = 1 → position 2 (0.8); low ⌈4·0.25⌉ = 1 → position 1 (0.1)."""
    scores = torch.tensor([[9.0, 0.1, 0.8, 9.0, 0.5, 0.3]])
    mask = torch.tensor([[False, True, True, False, True, True]])
    m, parts = mhim_mask(scores, mask, r_h=0.25, r_hr=1.0, r_l=0.25, parts=True)
    assert m[0].nonzero().flatten().tolist() == [1, 2]
    assert parts["high"][0].nonzero().flatten().tolist() == [2]
    assert parts["low"][0].nonzero().flatten().tolist() == [1]
    assert not parts["random"].any()


def test_mask_rejects_scores_that_are_not_2d_and_a_mask_of_another_shape():
    with pytest.raises(ValueError, match="scores must be"):
        mhim_mask(torch.rand(5), None, 0.2)
    with pytest.raises(ValueError, match="differ"):
        mhim_mask(torch.rand(1, 5), torch.ones(1, 4, dtype=torch.bool), 0.2)


# ---------------------------------------------------------------------------- error branches
def test_class_aware_score_refuses_a_model_without_a_matching_linear_classifier():
    model = _abmil().eval()
    out = model(torch.randn(1, 5, 6))
    model.classifier = nn.Sequential(nn.Linear(8, 2))          # not a Linear: no weight W
    with pytest.raises(ValueError, match="class_aware"):
        instance_scores(out, model, "class_aware")
    model.classifier = nn.Linear(5, 2)                          # width 5, embeddings 8
    with pytest.raises(ValueError, match="class_aware"):
        instance_scores(out, model, "class_aware")
    with pytest.raises(ValueError, match="choose from"):
        instance_scores(out, model, "entropy")


def test_ema_update_refuses_models_with_different_parameter_lists():
    t = nn.Linear(2, 1)
    s = nn.Sequential(nn.Linear(2, 1), nn.Linear(1, 1))        # 4 tensors against 2
    w = t.weight.detach().clone()
    with pytest.raises(ValueError, match="different parameter lists"):
        ema_update(t, s, 0.5)
    assert torch.equal(t.weight, w)


def test_consistency_loss_refuses_embeddings_of_different_shapes():
    """(1, 3) against (2, 3) would broadcast silently into a wrong mean."""
    with pytest.raises(ValueError, match="differ in shape"):
        consistency_loss(torch.zeros(1, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="differ in shape"):
        consistency_loss(torch.zeros(2, 3), torch.zeros(2, 4))


def test_v2_needs_a_student_with_project_and_pool_but_v1_does_not():
    class Plain(nn.Module):                                      # no 'project', no 'pool'
        n_classes = 2

        def forward(self, x, mask=None):
            raise AssertionError("not called")

    with pytest.raises(ValueError, match="project"):
        MHIM(Plain(), _abmil(), merge_ratio=0.8)                  # random masking without recycle
    with pytest.raises(ValueError, match="project"):
        MHIM(Plain(), _abmil(), recycle=RecycleNetwork(8, heads=1, head_dim=4))
    assert MHIM(Plain(), _abmil()).merge_ratio == 1.0            # v1 only needs the padding mask


def test_recycle_network_options_at_their_edges():
    for k in (0, 1.5, True):
        with pytest.raises(ValueError, match="merge_k"):
            RecycleNetwork(8, n_queries=k, heads=1, head_dim=4)
    for m in (-0.1, 1.1):
        with pytest.raises(ValueError, match="merge_momentum"):
            RecycleNetwork(8, momentum=m, heads=1, head_dim=4)
    # m = 0 is allowed: after one training forward the queries are this bag's tokens
    torch.manual_seed(0)
    net = RecycleNetwork(8, n_queries=2, momentum=0.0, heads=2, head_dim=4, dropout=0.0).train()
    h = torch.randn(2, 5, 8)
    rec = torch.tensor([[True, False, True, True, False], [False, True, True, False, False]])
    z = net(h, rec)
    torch.testing.assert_close(net.queries, z.detach().mean(0))


def test_schedule_momentum_bounds_and_m_0_copies_the_student():
    with pytest.raises(ValueError, match="momentum"):
        MHIMSchedule(momentum=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        MHIMSchedule(momentum=1.01)
    model = MHIM(_abmil(1), _abmil(2))
    cb = MHIMSchedule(decay=False, momentum=0.0)                 # θ_T ← 0·θ_T + 1·θ_S
    cb.on_step_end(model, TrainState(1, 0, 4, 4))
    for t, s in zip(model.teacher.parameters(), model.student.parameters()):
        assert torch.equal(t, s)


def test_recipe_options_are_checked_when_the_method_is_made():
    for kw, word in [({"momentum": 1.5}, "momentum"), ({"momentum": -0.2}, "momentum"),
                     ({"alpha": -0.1}, "alpha")]:
        with pytest.raises(ValueError, match=word):
            mhim_method(**kw)
        with pytest.raises(ValueError, match=word):
            mhim_v2_method(**kw)
    assert mhim_method(alpha=0.0).loss_terms(None) == ()          # α = 0: no consistency term
    model = nn.Module()
    model.alpha = 0.2
    (term,) = mhim_method(alpha=0.2).loss_terms(model)
    assert term.name == "consistency" and term.weight == 0.2


def test_names_of_the_schedule_options_and_of_another_baseline():
    assert mhim_method(momentum_cosine=True).name == "mhim_mcos"
    assert mhim_method(decay=False, momentum_cosine=True).name == "mhim_nodecay_mcos"
    assert mhim_v2_method(decay=True).name == "mhim_v2_decay"
    assert mhim_method(_small_base()).name == "small_mhim"
    assert mhim_v2_method(_small_base(), recycle=False).name == "small_mhim_v2_norecycle"


# ------------------------------------------------------------------ options reach the model
def test_r_and_r_l_reach_their_own_rule():
    """r = 0, r_l = 0.3: exactly the ⌈10·0.3⌉ = 3 lowest-attended instances are hidden
    (deterministic: the dropout-free teacher's attention equals its eval attention)."""
    model = MHIM(_abmil(0), _abmil(1), r_h=0.0, r_hr=1.0, r=0.0, r_l=0.3).train()
    assert (model.r, model.r_l) == (0.0, 0.3)
    x = torch.randn(1, 10, 6, generator=torch.Generator().manual_seed(4))
    out = model(x)
    att = model.teacher.eval()(x).slide_attention[0]
    lowest = set(torch.argsort(att)[:3].tolist())
    assert set(out.extras["mhim_masked"][0].nonzero().flatten().tolist()) == lowest


def test_the_class_aware_score_option_decides_what_is_hidden():
    """score='class_aware': the teacher's scores are s_i = max_c softmax_c(W a_i h_i) and the
    top ⌈10·0.2⌉ = 2 of them are hidden — not the top 2 by attention."""
    x = torch.randn(1, 10, 6, generator=torch.Generator().manual_seed(0))
    teacher = _abmil(1)
    with torch.no_grad():
        ref = teacher.eval()(x)
        W = teacher.classifier.weight
        a, h = ref.slide_attention[0], ref.extras["instance_embeddings"][0]
        hand = torch.stack([torch.softmax(W @ (a[i] * h[i]), 0).max() for i in range(10)])
    top_ca = set(torch.topk(hand, 2).indices.tolist())
    assert top_ca != set(torch.topk(a, 2).indices.tolist())      # the two scores disagree here
    model = MHIM(_abmil(0), teacher, r_h=0.2, r_hr=1.0, r=0.0, score="class_aware").train()
    out = model(x)
    torch.testing.assert_close(out.extras["teacher_scores"][0], hand, atol=1e-6, rtol=1e-5)
    assert set(out.extras["mhim_masked"][0].nonzero().flatten().tolist()) == top_ca


def test_v2_split_is_drawn_from_the_models_seeded_generator():
    """Nothing hidden (r_h = r = 0): the recycled set is recycle_split on the whole bag with a
    generator seeded as the model, whatever the global stream; another seed draws another set."""
    x = torch.randn(2, 12, 6)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 8:] = False
    draws = {}
    for seed, torch_seed in ((5, 0), (5, 123), (6, 0)):
        model = MHIM(_abmil(0), _abmil(1), r_h=0.0, r=0.0, seed=seed, merge_ratio=0.5).train()
        torch.manual_seed(torch_seed)
        draws[seed, torch_seed] = model(x, mask).extras["mhim_recycled"]
    _, want = recycle_split(mask, 0.5, torch.Generator().manual_seed(5))
    assert torch.equal(draws[5, 0], want) and torch.equal(draws[5, 123], want)
    assert draws[5, 0].sum(1).tolist() == [6, 4]                  # 12 − ⌊6⌋, 8 − ⌊4⌋
    assert not torch.equal(draws[6, 0], want)


def test_recorder_keeps_the_attention_and_the_score_the_mask_was_drawn_from():
    """v2's class-aware score: 'scores' is the teacher's attention, 'teacher_scores' the
    class-aware score (they differ), both of the dropout-free teacher on the full bag."""
    x = torch.randn(10, 6, generator=torch.Generator().manual_seed(0))
    teacher = _abmil(1)
    model = MHIM(_abmil(0), teacher, r_h=0.2, r_hr=1.0, r=0.0, score="class_aware").train()
    rec = MaskRecorder(x, epochs=[0])
    rec.on_step_start(model, TrainState(1, 0, 10, 10))
    with torch.no_grad():
        ref = model.teacher.eval()(x)
    att = ref.slide_attention[0].numpy()
    ca = instance_scores(ref, model.teacher, "class_aware")[0].numpy()
    assert np.allclose(rec.records[0]["scores"], att, atol=1e-6)
    assert np.allclose(rec.records[0]["teacher_scores"], ca, atol=1e-6)
    assert not np.allclose(att, ca, atol=1e-3)
    assert set(np.flatnonzero(rec.records[0]["high"])) == set(np.argsort(-ca)[:2])


def test_method_callbacks_carry_the_methods_schedule():
    model = mhim_method(_small_base(), name="m", momentum=0.9, decay=False,
                        momentum_cosine=True).build_model(_ctx(3))
    (cb,) = mhim_method(_small_base(), name="m").callbacks(model)
    assert (cb.m0, cb.decay, cb.momentum_cosine) == (0.9, False, True)
    model.r_h = 0.05
    cb.on_step_start(model, TrainState(1, 1, 4, 4))               # t = ¼
    assert model.r_h == 0.05                                      # no decay
    assert cb.momentum == pytest.approx(1 - 0.05 * (1 + math.cos(math.pi / 4)))


def test_v2_build_seeds_the_recycle_network_and_passes_its_options():
    """The queries are the RecycleNetwork drawn right after torch.manual_seed(run seed): two
    builds of one seed agree, another seed draws other queries; merge_k and merge_momentum reach
    the network and the run's seed the mask generator."""
    method = mhim_v2_method(_small_base(), name="v2", merge_k=5, merge_momentum=0.99)
    a, b, c = (method.build_model(_ctx(s)) for s in (3, 3, 4))
    torch.manual_seed(3)
    want = RecycleNetwork(8, 5, 0.99)
    assert a.recycle.queries.shape == (5, 8) and a.recycle.momentum == 0.99
    torch.testing.assert_close(a.recycle.queries, want.queries)
    torch.testing.assert_close(a.recycle.to_q.weight, want.to_q.weight)
    assert torch.equal(a.recycle.queries, b.recycle.queries)
    assert not torch.allclose(a.recycle.queries, c.recycle.queries)
    assert torch.equal(a.generator.get_state(), torch.Generator().manual_seed(3).get_state())


# -------------------------------------------------------------------------------- score_picks
def test_score_picks_scores_in_the_mode_asked_for():
    teacher = _abmil(0, dropout=0.25).eval()
    seen = []
    teacher.register_forward_pre_hook(lambda m, args: seen.append(m.training))
    x = torch.randn(8, 6)
    score_picks(teacher, x, r_h=0.25)
    score_picks(teacher, x, r_h=0.25, train_mode=True)
    assert seen == [False, True]
    torch.manual_seed(0)
    a = score_picks(teacher, x, r_h=0.25, train_mode=True)["attention"]["scores"]
    b = score_picks(teacher, x, r_h=0.25, train_mode=True)["attention"]["scores"]
    assert not np.allclose(a, b)                                  # dropout on: stochastic


# ---------------------------------------------------------------------------- visibility edges
def test_visibility_random_masking_covering_exactly_the_tumour():
    """N = 4, r = 0.5 → m = 2 drawn, u = 2 tumour patches: both drawn with 1 / C(4, 2) = 1/6."""
    assert vis.p_no_tumour_visible([1, 1, 0, 0], [4, 3, 2, 1], 0.0, 1.0, 0.5) == \
        pytest.approx(1 / 6)


def test_visibility_high_masking_over_the_whole_bag_counts_r_h():
    """r_h / r_hr = 0.5 / 0.25 ≥ 1: ⌈4·0.5⌉ = 2 drawn from all 4; both tumour patches hidden
    with 1/6 (⌈4·0.25⌉ = 1 would leave one visible: 0)."""
    assert vis.p_no_tumour_visible([0, 1, 0, 1], [4, 3, 2, 1], 0.5, 0.25) == \
        pytest.approx(1 / 6)


def test_visibility_low_masking_hides_the_lowest_scored_patch():
    """r_l = 0.25 of 4: the lowest (patch 3, the tumour) is hidden for sure: 1; the highest
    would have left it visible: 0."""
    assert vis.p_no_tumour_visible([0, 0, 0, 1], [4, 3, 2, 1], 0.0, 1.0, 0.0, 0.25) == 1.0
    assert vis.p_no_tumour_visible([1, 0, 0, 0], [4, 3, 2, 1], 0.0, 1.0, 0.0, 0.25) == 0.0


def test_visibility_kept_share_at_its_edges():
    # no tumour: nothing to miss, and (vacuously) all of it hidden
    assert vis.p_no_tumour_kept([0, 0, 0], [1, 2, 3], 0.3, 0.8) == (1.0, 1.0)
    # nothing hidden (⌈5·0⌉), L = 5, ⌊5·0.6⌋ = 3 kept, u = 2 = L − 3: C(3, 3) / C(5, 3) = 1/10
    p, all_hidden = vis.p_no_tumour_kept([1, 1, 0, 0, 0], [5, 4, 3, 2, 1], 0.0, 0.6)
    assert p == pytest.approx(0.1) and all_hidden == 0.0
    # u = 3 > L − 3 = 2: some tumour patch is always kept
    assert vis.p_no_tumour_kept([1, 1, 1, 0, 0], [5, 4, 3, 2, 1], 0.0, 0.6)[0] == 0.0


def test_recycle_network_dropout_acts_on_the_attention_weights_and_follows_its_option():
    """dropout=0: training and eval give the same tokens (m = 1: the queries stay put). With
    p = 0.5 on the attention weights alone (W_o's dropout off) training tokens differ from eval."""
    torch.manual_seed(0)
    h = torch.randn(2, 6, 8)
    rec = torch.tensor([[True, True, False, True, False, True], [True] * 4 + [False] * 2])
    net = RecycleNetwork(8, n_queries=2, momentum=1.0, heads=2, head_dim=4, dropout=0.0)
    g0 = net.queries.clone()
    torch.testing.assert_close(net.train()(h, rec), net.eval()(h, rec))
    assert torch.equal(net.queries, g0)
    net = RecycleNetwork(8, n_queries=2, momentum=1.0, heads=2, head_dim=4, dropout=0.5)
    net.to_out[1].p = 0.0
    assert not torch.allclose(net.train()(h, rec), net.eval()(h, rec), atol=1e-4)


def test_v2_reports_each_bags_recycle_tokens_and_the_teachers_full_bag_embedding():
    """A padded batch of bags of 7 and 4 (dropout off, m = 1): the reported tokens are the recycle
    network on the student's embeddings of each bag's recycled instances alone, and the teacher's
    embedding is the teacher on each whole bag alone (padding left out, nothing hidden)."""
    torch.manual_seed(0)
    net = RecycleNetwork(8, n_queries=2, momentum=1.0, heads=2, head_dim=4, dropout=0.0)
    model = MHIM(_abmil(0), _abmil(1), r_h=0.3, r_hr=1.0, r=0.0, merge_ratio=0.5,
                 recycle=net).train()
    x = torch.randn(2, 7, 6, generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    out = model(x, mask)
    z = out.extras["recycle_tokens"]
    assert z.shape == (2, 2, 8)
    rec = out.extras["mhim_recycled"]
    # ⌈7·0.3⌉ = 3 hidden, L = 4, 4 − ⌊4·0.5⌋ = 2 recycled; ⌈4·0.3⌉ = 2, L = 2, 2 − ⌊1⌋ = 1
    assert rec.sum(1).tolist() == [2, 1]
    net.eval()
    for b, n in ((0, 7), (1, 4)):
        h = model.student.project(x[b:b + 1, :n])
        torch.testing.assert_close(z[b], net(h, rec[b:b + 1, :n])[0])
        torch.testing.assert_close(out.extras["teacher_embedding"][b],
                                   model.teacher(x[b:b + 1, :n]).embedding[0])


def test_high_masking_over_the_whole_bag_hides_r_h_of_it_not_r_hr():
    """r_h / r_hr ≥ 1 (r_h = 0.6, r_hr = 0.5): the pool is the whole bag and ⌈n·r_h⌉ of it are
    hidden at random — 6 of 10, and 5 of a padded bag's 7 real instances (⌈4.2⌉), never padding.
    Counting with r_hr instead would hide 5 and 4 (⌈3.5⌉)."""
    scores = torch.arange(20, dtype=torch.float32).reshape(2, 10)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 7:] = False
    g = torch.Generator().manual_seed(3)
    masked, parts = mhim_mask(scores, mask, r_h=0.6, r_hr=0.5, generator=g, parts=True)
    assert parts["high"].sum(1).tolist() == [6, 5]
    assert masked.sum(1).tolist() == [6, 5] and not masked[1, 7:].any()


def test_recycle_network_weights_start_xavier_normal_with_zero_biases():
    """Xavier-normal: N(0, 2/(fan_in + fan_out)) — for to_q (512 × 128) std √(2/640) ≈ 0.0559,
    excess kurtosis 0 (±0.04 on 65,536 draws). Xavier-uniform has the same std but excess
    kurtosis −1.2, which is what tells the two apart; the output bias starts at 0."""
    torch.manual_seed(0)
    net = RecycleNetwork(128, heads=8, head_dim=64)
    for lin in (net.to_q, net.to_k, net.to_v, net.to_out[0]):
        w = lin.weight.detach().double().flatten()
        fan_out, fan_in = lin.weight.shape
        assert w.std().item() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.03)
        z = (w - w.mean()) / w.std()
        assert abs((z ** 4).mean().item() - 3) < 0.3          # normal: 3; uniform: 1.8
    assert torch.count_nonzero(net.to_out[0].bias) == 0


# --- round 7: the teacher is a copy of the pretrained baseline (audit 7 survivor), student,
# teacher and recycle projections are distinct, every ratio at exactly its bounds
def test_the_teacher_is_a_copy_of_the_pretrained_baseline_not_the_baseline_itself():
    """The built MHIM's teacher starts from the baseline's weights, but freezing it and its EMA
    steps must not reach the baseline the runner handed over (and may cache or reuse): the
    baseline stays trainable and unchanged. Student, teacher and baseline share no parameter
    tensor; the student (its projection loaded from the teacher's) stays trainable."""
    torch.manual_seed(99)
    trained = ABMIL(6, 2, embed_dim=8, attn_dim=4)
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    model = mhim_method(_small_base(), name="m").build_model(
        BuildContext(6, 2, 0, 3, pretrained=lambda base: trained))
    assert model.teacher is not trained
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(p.requires_grad for p in trained.parameters())
    assert all(p.requires_grad for p in model.student.parameters())
    assert not any(p.requires_grad for p in model.teacher.parameters())

    def ptrs(m):
        return {p.data_ptr() for p in m.parameters()}
    assert not ptrs(model.student) & ptrs(model.teacher)
    assert not ptrs(trained) & (ptrs(model.teacher) | ptrs(model.student))
    ema_update(model.teacher, model.student, 0.0)                 # θ_T ← θ_S
    for k, v in trained.state_dict().items():
        assert torch.equal(v, before[k])


def test_recycle_network_has_its_own_query_key_value_and_output_maps():
    """dim 8, 2 heads of 4 (inner 8): LayerNorm 16, W_q, W_k, W_v 3·64, W_o 64 + 8: 280
    parameters, four distinct weight tensors (a shared W_q = W_k would make every score a
    symmetric form and drop 64 parameters)."""
    net = RecycleNetwork(8, heads=2, head_dim=4)
    maps = (net.to_q, net.to_k, net.to_v, net.to_out[0])
    assert len({id(m) for m in maps}) == 4 and len({m.weight.data_ptr() for m in maps}) == 4
    assert sum(p.numel() for p in net.parameters()) == 280


@pytest.mark.parametrize("name", ["r_h", "r", "r_l"])
def test_each_masking_ratio_accepts_exactly_0_and_1_and_refuses_just_outside(name):
    """r_h, r and r_l lie in [0, 1]: both ends accepted (1 masks the whole bag but the guard's
    one instance), a hair outside refused with the ratio's name."""
    s = torch.rand(1, 10, generator=torch.Generator().manual_seed(0))
    base = {"r_h": 0.0, "r_hr": 1.0, "r": 0.0, "r_l": 0.0}
    assert not mhim_mask(s, None, **{**base, name: 0.0}).any()
    assert int(mhim_mask(s, None, **{**base, name: 1.0}).sum()) == 9
    for bad in (-1e-6, 1.000001):
        with pytest.raises(ValueError, match=f"^{name} must be >= 0 and <= 1"):
            mhim_mask(s, None, **{**base, name: bad})


def test_r_hr_is_open_at_0_and_closed_at_1_and_merge_ratio_closed_at_both():
    """r_hr ∈ (0, 1]: 0 refused, 1e-6 and 1 accepted, 1.000001 refused. merge_ratio ρ ∈ [0, 1]
    (ρ = 0 keeps no instance but one at random; 1 is v1): both ends accepted, a hair outside
    refused. MHIM refuses an unknown score at construction, not at the first step."""
    s = torch.rand(1, 10, generator=torch.Generator().manual_seed(0))
    for ok in (1e-6, 1.0):
        assert int(mhim_mask(s, None, r_h=0.2, r_hr=ok).sum()) == 2
    for bad in (0.0, 1.000001):
        with pytest.raises(ValueError, match="^r_hr must be > 0 and <= 1"):
            mhim_mask(s, None, r_h=0.2, r_hr=bad)
    assert MHIM(_abmil(0), _abmil(1), merge_ratio=0.0).merge_ratio == 0.0
    assert MHIM(_abmil(0), _abmil(1), merge_ratio=1.0).merge_ratio == 1.0
    for bad in (-1e-6, 1.000001):
        with pytest.raises(ValueError, match="^merge_ratio must be >= 0 and <= 1"):
            MHIM(_abmil(0), _abmil(1), merge_ratio=bad)
    assert MHIM(_abmil(0), _abmil(1), score="class_aware").score == "class_aware"
    with pytest.raises(ValueError, match="choose from"):
        MHIM(_abmil(0), _abmil(1), score="entropy")


# --- audit 8 survivors
def test_recorder_epoch_0_is_the_state_before_the_first_step_not_a_later_epochs_start():
    """N = 10. Before step 0, r_h = 0.2 hides ⌈10·0.2⌉ = 2; by the first step of epoch 2
    (step 4 of 4 per epoch) r_h has fallen to 0.1, which would hide 1. records[0] must keep the
    first state (r_h 0.2, 2 hidden) and no other epoch is recorded at a step's start."""
    x = torch.randn(10, 6, generator=torch.Generator().manual_seed(0))
    model = MHIM(_abmil(0), _abmil(1), r_h=0.2, r_hr=1.0, r=0.0).train()
    rec = MaskRecorder(x, epochs=[0])
    rec.on_step_start(model, TrainState(1, 0, 8, 4))
    first = rec.records[0]
    assert first["r_h"] == 0.2 and first["high"].sum() == 2
    model.r_h = 0.1
    for step in range(1, 8):                                     # the rest of two epochs
        rec.on_step_start(model, TrainState(1 + step // 4, step, 8, 4))
    assert set(rec.records) == {0}
    assert rec.records[0]["r_h"] == 0.2 and rec.records[0]["high"].sum() == 2
    np.testing.assert_array_equal(rec.records[0]["masked"], first["masked"])


def test_v2_without_recycling_builds_no_recycle_network_and_with_it_one():
    """recycle=False is an option with a value, not a key whose presence switches recycling on:
    the student of mhim_v2_norecycle pools no recycle tokens (both sides, built from one seed)."""
    on = mhim_v2_method(_small_base(), name="v2_on").build_model(_ctx(3))
    off = mhim_v2_method(_small_base(), name="v2_off", recycle=False).build_model(_ctx(3))
    assert isinstance(on.recycle, RecycleNetwork)
    assert off.recycle is None
    assert get_method("mhim_v2_norecycle").model_kwargs["recycle"] is False


# --- round 8: defaults and options --------------------------------------------------------------
def test_r8_mhim_defaults_mask_as_the_v1_command():
    """MHIM's constructor defaults (Tang et al., ICCV 2023, the authors' CAMELYON16 ABMIL
    command): r_h = 0.01 drawn from the top r_h/r_hr = 2 % (r_hr = 0.5), random r = 0.5, no low
    masking, the attention score, seed 0, v1 (no random keep share, no recycling). The default
    MHIM hides exactly what the explicit one hides and trains the same student output."""
    torch.manual_seed(0)
    x = torch.randn(2, 200, 6)
    student, teacher = _abmil(1), _abmil(2)
    a = MHIM(copy.deepcopy(student), copy.deepcopy(teacher)).train()
    b = MHIM(copy.deepcopy(student), copy.deepcopy(teacher), r_h=0.01, r_hr=0.5, r=0.5, r_l=0.0,
             score="attention", seed=0, merge_ratio=1.0, recycle=None).train()
    (ma, pa), _ = a.hide(x, parts=True)
    (mb, pb), _ = b.hide(x, parts=True)
    assert torch.equal(ma, mb) and all(torch.equal(pa[k], pb[k]) for k in pa)
    assert pa["high"].sum(1).tolist() == [2, 2] and pa["random"].sum(1).tolist() == [100, 100]
    assert not pa["low"].any()
    oa, ob = a(x), b(x)
    torch.testing.assert_close(oa.logits, ob.logits, rtol=0, atol=0)
    assert "mhim_recycled" not in oa.extras


def test_r8_mhim_mask_and_instance_score_defaults():
    """mhim_mask's defaults r_hr = 1, r = 0, r_l = 0 mask exactly the top ⌈N·r_h⌉ (hand
    computed); instance_scores' default kind is v1's attention ā."""
    s = torch.tensor([[0.9, 0.1, 0.5, 0.8, 0.2, 0.3, 0.7, 0.0, 0.6, 0.4]])
    assert mhim_mask(s, None, 0.2)[0].nonzero().flatten().tolist() == [0, 3]
    assert mhim_mask(s, None, 0.3)[0].nonzero().flatten().tolist() == [0, 3, 6]
    model = _abmil(0)
    out = model(torch.randn(7, 6))
    torch.testing.assert_close(instance_scores(out, model), out.slide_attention, rtol=0, atol=0)


def test_r8_recycle_network_defaults_are_the_authors():
    """MHIM-MIL v2 (Tang et al., IJCV 2025): k = 1 global query, queries' EMA m = 0.9999 (the
    authors' merge_mm), 8 heads of width 64, dropout 0.1. The default network under a seed equals
    the explicit one in training: same tokens (dropout draws) and same EMA step of the queries."""
    h = torch.randn(2, 9, 16)
    rec = torch.rand(2, 9) > 0.3
    torch.manual_seed(0)
    a = RecycleNetwork(16).train()
    torch.manual_seed(0)
    b = RecycleNetwork(16, 1, 0.9999, 8, 64, 0.1).train()
    assert a.queries.shape == (1, 16) and a.to_q.out_features == 8 * 64
    assert torch.equal(a.queries, b.queries)
    q0 = a.queries.clone()
    torch.manual_seed(1)
    za = a(h, rec)
    torch.manual_seed(1)
    zb = b(h, rec)
    torch.testing.assert_close(za, zb, rtol=0, atol=0)
    torch.testing.assert_close(a.queries, b.queries, rtol=0, atol=0)
    torch.testing.assert_close(a.queries, 0.9999 * q0 + 0.0001 * za.detach().mean(0))
    a.eval()
    torch.testing.assert_close(a(h, rec), a(h, rec))                 # eval: no dropout


class _Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.teacher, self.student = nn.Linear(2, 2), nn.Linear(2, 2)
        self.r_h0 = self.r_h = 0.2


@pytest.mark.parametrize("kw", [{}, {"decay": False}, {"momentum_cosine": True},
                                {"momentum": 0.5}])
def test_r8_mhim_schedule_defaults_and_each_option(kw):
    """MHIMSchedule() decays r_h along half a cosine (r_h(½) = r_h/2) and updates the teacher with
    the constant m = 0.999; decay=False keeps r_h, momentum_cosine=True takes m(½) = 1 − (1−m)/2."""
    m = _Pair()
    t0, s0 = m.teacher.weight.detach().clone(), m.student.weight.detach().clone()
    sched = MHIMSchedule(**kw)
    state = TrainState(epoch=1, step=5, total_steps=10, steps_per_epoch=10)
    sched.on_step_start(m, state)
    assert m.r_h == pytest.approx(0.2 if kw.get("decay", True) is False else 0.1)
    m0 = kw.get("momentum", 0.999)
    mom = 1 - 0.5 * (1 - m0) if kw.get("momentum_cosine") else m0
    sched.on_step_end(m, state)
    torch.testing.assert_close(m.teacher.weight, mom * t0 + (1 - mom) * s0)


@pytest.mark.parametrize("score", ["attention", "class_aware"])
def test_r8_mhim_score_option_reaches_the_teacher_scores(score):
    """score='attention': the teacher's ā (v1); 'class_aware': max_c softmax_c(W (a_i h_i))
    (v2), computed here by hand from the teacher's weights. Each value gives its own score."""
    torch.manual_seed(0)
    x = torch.randn(1, 12, 6)
    teacher = _abmil(2)
    model = MHIM(_abmil(1), copy.deepcopy(teacher), score=score).train()
    _, t = model.hide(x)
    ref_out = teacher.eval()(x)                               # dropout 0: train = eval
    a = ref_out.slide_attention
    if score == "attention":
        ref = a
    else:
        h = teacher.project(x)
        ref = torch.softmax((a[..., None] * h) @ teacher.classifier.weight.T, -1).amax(-1)
    torch.testing.assert_close(t.extras["teacher_scores"], ref)


@pytest.mark.parametrize("train_mode", [None, False, True])
def test_r8_score_picks_defaults_and_train_mode_option(train_mode):
    """score_picks marks the top ⌈N·0.05⌉ = 2 of 40 patches by each score (both kinds by default),
    scored in eval mode by default (deterministic, equal to the eval teacher's scores); with
    train_mode=True the dropout teacher scores differently (and the teacher's mode is restored)."""
    torch.manual_seed(0)
    teacher = _abmil(0, dropout=0.25).eval()
    x = torch.randn(40, 6)
    kw = {} if train_mode is None else {"train_mode": train_mode}
    torch.manual_seed(1)
    picks = score_picks(teacher, x, **kw)
    assert set(picks) == {"attention", "class_aware"} and not teacher.training
    with torch.no_grad():
        ref = teacher(x)
    for kind, p in picks.items():
        want = instance_scores(ref, teacher, kind)[0].detach().numpy()
        assert p["masked"].sum() == 2
        assert set(np.flatnonzero(p["masked"])) == set(np.argsort(-p["scores"])[:2])
        assert np.allclose(p["scores"], want) != bool(train_mode)
