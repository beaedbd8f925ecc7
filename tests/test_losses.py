import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from milhelpers import losses

H_QUARTER = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))  # entropy of [1/4, 3/4] = 0.5623


def test_entropy_hand_computed_and_padding_contributes_exactly_nothing():
    logits = torch.tensor([[[0.0, math.log(3.0), 1e4]]])      # a = [1/4, 3/4] + one padded slot
    mask = torch.tensor([[True, True, False]])
    h = losses.attention_entropy(logits, mask)
    assert h.shape == (1, 1) and float(h) == pytest.approx(H_QUARTER, rel=1e-6)
    assert float(losses.attention_entropy(logits, mask, normalize=True)) == pytest.approx(
        H_QUARTER / math.log(2), rel=1e-6)
    logits.requires_grad_(True)
    losses.negative_entropy(logits, mask).backward()
    assert logits.grad[0, 0, 2] == 0.0 and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_entropy_is_finite_in_half_precision_with_padding(dtype):
    logits = (torch.randn(3, 2, 50) * 30).to(dtype)
    mask = torch.ones(3, 50, dtype=torch.bool)
    mask[0, 5:] = False
    mask[1, 1:] = False                                       # a one-instance bag
    logits = logits.masked_fill(~mask[:, None], torch.finfo(dtype).min).requires_grad_(True)
    h = losses.attention_entropy(logits, mask)
    assert h.dtype == torch.float32 and torch.isfinite(h).all()
    ref = losses.attention_entropy(logits.detach().float(), mask)
    torch.testing.assert_close(h, ref)
    assert float(h[1].detach().abs().max()) == 0.0           # one instance: zero entropy
    losses.negative_entropy(logits, mask).backward()
    assert torch.isfinite(logits.grad.float()).all()
    # the naive expression is what this guards against
    a = torch.softmax(logits.detach(), -1)
    assert torch.isnan((a * a.log()).sum(-1)).any()


def test_maximising_entropy_spreads_attention():
    logits = torch.tensor([[[3.0, 0.0, -1.0, 0.5]]], requires_grad=True)
    before = float(losses.attention_entropy(logits.detach()))
    losses.negative_entropy(logits).backward()
    with torch.no_grad():
        stepped = logits - 0.5 * logits.grad
    assert float(losses.attention_entropy(stepped)) > before


def test_branch_diversity_hand_computed():
    disjoint = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert float(losses.branch_diversity(disjoint)) == 0.0
    same = torch.tensor([[[0.3, 0.7], [0.3, 0.7]]])
    assert float(losses.branch_diversity(same)) == pytest.approx(1.0)
    # three branches: pairs (1,2): cos([.5,.5],[1,0]) = 1/√2, (1,3): 1/√2, (2,3): 0
    three = torch.tensor([[[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]])
    assert float(losses.branch_diversity(three)) == pytest.approx(2 / math.sqrt(2) / 3)
    # padding holds zeros and changes nothing
    padded = torch.cat([three, torch.zeros(1, 3, 4)], dim=-1)
    assert float(losses.branch_diversity(padded)) == pytest.approx(float(losses.branch_diversity(three)))
    assert float(losses.branch_diversity(torch.rand(2, 1, 5))) == 0.0


def test_branch_cross_entropy_is_the_mean_over_branches():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [0.5, 0.5]]])  # B=1, M=3, C=2
    y = torch.tensor([1])
    expected = sum(F.cross_entropy(logits[:, m], y) for m in range(3)) / 3
    torch.testing.assert_close(losses.branch_cross_entropy(logits, y), expected)


def test_consistency_loss_hand_computed_and_teacher_gets_no_gradient():
    teacher = torch.tensor([[0.0, 0.1]], requires_grad=True)   # /0.1 -> softmax([0, 1])
    student = torch.tensor([[1.0, 0.0]], requires_grad=True)
    p0 = 1 / (1 + math.e)                                      # 0.2689
    expected = -(p0 * (1 - math.log(math.e + 1)) + (1 - p0) * (0 - math.log(math.e + 1)))
    loss = losses.consistency_loss(student, teacher)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert teacher.grad is None and student.grad is not None
    with pytest.raises(ValueError, match="shape"):
        losses.consistency_loss(torch.zeros(2, 3), torch.zeros(2, 4))


def test_soft_target_cross_entropy():
    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert float(losses.soft_target_cross_entropy(logits, torch.tensor([[0.25, 0.75]]))) == \
        pytest.approx(H_QUARTER, rel=1e-6)
    one_hot = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    two = torch.tensor([[0.2, -1.0], [1.5, 0.3]])
    torch.testing.assert_close(losses.soft_target_cross_entropy(two, one_hot),
                               F.cross_entropy(two, torch.tensor([1, 0])))
    with pytest.raises(ValueError, match="sum to 1"):
        losses.soft_target_cross_entropy(logits, torch.tensor([[0.5, 0.6]]))


# --- round 6 (acmil self-audit): shape checks of the branch losses, batched branch CE, focal's
# target check


def test_branch_losses_reject_tensors_without_the_batch_axis():
    with pytest.raises(ValueError, match=r"attention must be \(B, M, N\)"):
        losses.branch_diversity(torch.rand(3, 4))              # (M, N): no batch axis
    with pytest.raises(ValueError, match=r"attention must be \(B, M, N\)"):
        losses.branch_diversity(torch.rand(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"branch logits must be \(B, M, C\)"):
        losses.branch_cross_entropy(torch.rand(3, 2), torch.tensor([0, 1, 1]))   # (B, C): no branches


def test_branch_cross_entropy_batched_pairs_each_bag_with_its_own_label():
    """2 bags × 3 branches × 2 classes, labels (1, 0): the mean over the 6 (bag, branch) pairs of
    −log softmax(ŷ_bm)[y_b], each bag against its own label."""
    logits = torch.tensor([[[0.0, 2.0], [1.0, 0.0], [0.5, 0.5]],
                           [[3.0, 0.0], [0.0, 1.0], [2.0, 2.5]]])
    labels = torch.tensor([1, 0])
    by_hand = np.mean([-np.log(np.exp(l[labels[b]]) / np.exp(l).sum())
                       for b in range(2) for l in logits[b].numpy()])
    assert float(losses.branch_cross_entropy(logits, labels)) == pytest.approx(by_hand, rel=1e-6)


def test_multilabel_losses_reject_targets_outside_zero_one():
    logits = torch.zeros(2, 3)
    for loss in (losses.multilabel_bce, losses.multilabel_focal):
        with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
            loss(logits, torch.tensor([[0.0, 1.5, 0.0], [1.0, 0.0, 0.0]]))
        with pytest.raises(ValueError, match="same"):
            loss(logits, torch.zeros(2, 2))


# --- round 7: aem_term's λ at its bounds, the multi-label targets' range and rank at exactly
# 0 and 1, soft targets' shape check, the hyperslide losses by name


def test_aem_lambda_accepts_exactly_zero_and_refuses_infinities():
    """λ = 0 (float or int) is the smallest valid weight (the baseline); ±inf are refused like
    NaN: an infinite weight would make every loss infinite."""
    assert losses.aem_term(0.0).weight == 0.0 and losses.aem_term(0).weight == 0.0
    for bad in (float("inf"), float("-inf"), -1e-9):
        with pytest.raises(ValueError, match="finite number >= 0"):
            losses.aem_term(bad)


@pytest.mark.parametrize("loss", [losses.multilabel_bce, losses.multilabel_focal])
def test_multilabel_targets_accept_exactly_0_and_1_and_refuse_just_outside(loss):
    """Targets 0 and 1 are valid (the hyperslide target's max-normalised classes reach 1): with
    logits 0 every entry's BCE is log 2 whatever q, so BCE = log 2 and focal = 0.25·(1/2)²·log 2.
    A hair outside [0, 1], or (B, C, 1) tensors of equal shape, are refused."""
    q = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5]])
    want = math.log(2) * (1.0 if loss is losses.multilabel_bce else 0.25 * 0.25)
    assert float(loss(torch.zeros(2, 3), q)) == pytest.approx(want, rel=1e-6)
    for bad in (-1e-4, 1.0001):
        with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
            loss(torch.zeros(2, 3), q.masked_fill(q == 0.5, bad))
    with pytest.raises(ValueError, match="same"):
        loss(torch.zeros(2, 3, 1), q[..., None])


def test_soft_targets_of_another_shape_are_refused():
    """Targets (1, 2) against logits (2, 2) would broadcast into a mean over both bags."""
    with pytest.raises(ValueError, match="differ"):
        losses.soft_target_cross_entropy(torch.zeros(2, 2), torch.tensor([[0.5, 0.5]]))


def test_hyperslide_losses_by_name_and_an_unknown_name_refused():
    assert losses.hyperslide_loss("bce") is losses.multilabel_bce
    assert losses.hyperslide_loss("focal") is losses.multilabel_focal
    assert losses.hyperslide_loss("ce") is losses.soft_target_cross_entropy
    for bad in ("BCE", "cross_entropy"):
        with pytest.raises(ValueError, match="is not one of"):
            losses.hyperslide_loss(bad)


# --- round 8: defaults and options --------------------------------------------------------------
@pytest.mark.parametrize("normalize", [None, False, True])
def test_r8_entropy_normalize_default_and_both_values_by_hand(normalize):
    """Uniform attention over a bag of 4 real instances (2 padded): H = log 4, or 1 when divided
    by log N_b; the default is the paper's unnormalised entropy (AEM, Zhang et al. 2024)."""
    logits = torch.tensor([[[0.3, 0.3, 0.3, 0.3, 5.0, -2.0]]])
    mask = torch.tensor([[True, True, True, True, False, False]])
    kw = {} if normalize is None else {"normalize": normalize}
    want = 1.0 if normalize else math.log(4)
    assert losses.attention_entropy(logits, mask, **kw).item() == pytest.approx(want)
    assert losses.negative_entropy(logits, mask, **kw).item() == pytest.approx(-want)


def test_r8_consistency_loss_default_temperatures_by_hand():
    """MHIM-MIL (Tang et al., ICCV 2023): τ_s = 1, τ_t = 0.1. Teacher [0, 0.1], student [1, 0]:
    p_t = softmax([0, 1]) and log p_s = log_softmax([1, 0])."""
    s, t = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.1]])
    e = math.e
    p_t = [1 / (1 + e), e / (1 + e)]
    log_p_s = [1 - math.log(e + 1), -math.log(e + 1)]
    want = -(p_t[0] * log_p_s[0] + p_t[1] * log_p_s[1])
    assert losses.consistency_loss(s, t).item() == pytest.approx(want, rel=1e-6)


def test_r8_focal_defaults_by_hand():
    """PackMIL's focal setting (α = 0.25, γ = 2): a logit 0 with target 1 has b = log 2 and
    p_t = ½, so ℓ = 0.25 · (½)² · log 2; a second entry, logit 2 with target 0, adds its own."""
    logits, targets = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    b2 = math.log(1 + math.e ** 2)
    want = (0.25 * 0.25 * math.log(2) + 0.25 * (1 - math.exp(-b2)) ** 2 * b2) / 2
    assert losses.multilabel_focal(logits, targets).item() == pytest.approx(want, rel=1e-6)


# --- round 9: every input check of losses.py reached with the bad input, the boundary accepted


def test_r9_entropy_refuses_logits_without_a_head_axis_and_a_mismatched_mask():
    """(B, N) logits would broadcast against the (B, 1, N) mask into (B, B, N): a (2, 3) input
    must raise, not return a silently wrong (2, 2) entropy. The (B, H, N) = (2, 1, 3) version
    of the same numbers is accepted and gives each bag's own entropy by hand."""
    flat = torch.tensor([[0.0, math.log(3.0), -1e4], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    with pytest.raises(ValueError, match="head axis"):
        losses.attention_entropy(flat, mask)
    with pytest.raises(ValueError, match="head axis"):
        losses.negative_entropy(flat)
    with pytest.raises(ValueError, match=r"mask must be \(B, N\) = \(2, 3\)"):
        losses.attention_entropy(flat[:, None], mask[:, :2])             # N differs
    with pytest.raises(ValueError, match=r"mask must be \(B, N\) = \(2, 3\)"):
        losses.attention_entropy(flat[:, None], mask[:1])                # B differs
    h = losses.attention_entropy(flat[:, None], mask)
    assert h.shape == (2, 1)
    assert h[:, 0].tolist() == pytest.approx([H_QUARTER, math.log(3)], rel=1e-6)


@pytest.mark.parametrize("kwargs, named", [
    ({"normalize": "cosine"}, "normalize='cosine'"),       # a schedule is not a normalisation
    ({"normalize": "constant"}, "normalize='constant'"),
    ({"schedule": "log_n"}, "schedule='log_n'"),           # a normalisation is not a schedule
    ({"schedule": "none"}, "schedule='none'"),
    ({"lam": float("inf")}, "lam=inf"), ({"lam": False}, "lam=False"), ({"lam": None}, "lam=None"),
])
def test_r9_aem_term_refuses_each_others_option_names(kwargs, named):
    """The two option lists are separate: a widened check (one list accepting the other's
    names) would let normalize='cosine' train the paper's un-normalised loss without a word."""
    with pytest.raises(ValueError, match=named):
        losses.aem_term(**kwargs)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("normalize", ["none", "log_n"])
def test_r9_aem_term_accepts_every_valid_combination_and_each_takes_effect(schedule, normalize):
    """Each accepted (schedule, normalize) pair does what it says: the term's value on one bag
    a = [1/4, 3/4] (+ padding) is −H or −H/log 2, and λ at step 0 of 4 is λ; at step 2 it is λ
    (constant) or λ/2 (cosine)."""
    from milhelpers.models.base import MILOutput
    from milhelpers.train import TrainState
    term = losses.aem_term(0.3, schedule=schedule, normalize=normalize)
    logits = torch.tensor([[[0.0, math.log(3.0), 5.0]]])
    mask = torch.tensor([[True, True, False]])
    out = MILOutput(torch.zeros(1, 2), logits, torch.zeros(1, 4), mask)
    state = TrainState(epoch=1, step=0, total_steps=4, steps_per_epoch=4)
    want = -H_QUARTER / (math.log(2) if normalize == "log_n" else 1.0)
    assert float(term.fn(out, None, state)) == pytest.approx(want, rel=1e-6)
    assert term.weight_at(state) == pytest.approx(0.3)
    mid = TrainState(epoch=1, step=2, total_steps=4, steps_per_epoch=4)
    assert term.weight_at(mid) == pytest.approx(0.3 if schedule == "constant" else 0.15)


def test_r9_soft_targets_sum_to_one_within_1e_4_and_no_further():
    """Rows summing to 1 ± 5e-5 (float rounding of a token mixture) are accepted and give the
    plain soft-target CE; 1 ± 1e-3 (a wrong target) is refused, on either side and in any bag."""
    logits = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    close = torch.tensor([[0.25, 0.75 + 5e-5], [0.5, 0.5 - 5e-5]])
    want = -(close * torch.log_softmax(logits, -1)).sum(-1).mean()
    assert float(losses.soft_target_cross_entropy(logits, close)) == pytest.approx(float(want))
    for bad in (torch.tensor([[0.25, 0.75], [0.5, 0.501]]),
                torch.tensor([[0.25, 0.749], [0.5, 0.5]])):
        with pytest.raises(ValueError, match="sum to 1"):
            losses.soft_target_cross_entropy(logits, bad)


def test_r9_shape_checks_of_the_branch_and_consistency_losses_accept_the_boundary():
    """Exactly 3-d is accepted (one branch: diversity 0; CE = plain CE), 2-d and 4-d refused;
    student and teacher (B, E) must match exactly, (2, 3) vs (3, 2) included."""
    a = torch.tensor([[[0.5, 0.5, 0.0]], [[0.2, 0.3, 0.5]]])            # (B=2, M=1, N=3)
    assert float(losses.branch_diversity(a)) == 0.0
    two = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])            # disjoint: cos = 0
    assert float(losses.branch_diversity(two)) == 0.0
    same = torch.tensor([[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]])           # identical: cos = 1
    assert float(losses.branch_diversity(same)) == pytest.approx(1.0)
    logits = torch.tensor([[[0.0, 1.0]], [[2.0, 0.0]]])                 # (B=2, M=1, C=2)
    labels = torch.tensor([1, 1])
    torch.testing.assert_close(losses.branch_cross_entropy(logits, labels),
                               F.cross_entropy(logits[:, 0], labels))
    with pytest.raises(ValueError, match=r"branch logits must be \(B, M, C\)"):
        losses.branch_cross_entropy(logits[None], labels)
    with pytest.raises(ValueError, match="differ in shape"):
        losses.consistency_loss(torch.zeros(2, 3), torch.zeros(3, 2))


# --- round 12: the multi-class losses on a batch of fractional targets by hand ------------------
def test_r12_soft_and_multilabel_losses_on_two_bags_three_classes_by_hand():
    logits = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.5, 0.0]], dtype=torch.float64)
    q = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.0, 0.4]], dtype=torch.float64)
    lp = logits - torch.logsumexp(logits, -1, keepdim=True)
    want = float(-(q * lp).sum(-1).mean())                      # sum over classes, mean over bags
    got = losses.soft_target_cross_entropy(logits, q)
    assert got.dtype == torch.float32 and float(got) == pytest.approx(want, rel=1e-6)
    sig = torch.sigmoid(logits)
    bce = float(-(q * sig.log() + (1 - q) * (1 - sig).log()).mean())
    assert float(losses.multilabel_bce(logits, q)) == pytest.approx(bce, rel=1e-6)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        losses.multilabel_bce(logits, q * 2)
    with pytest.raises(ValueError, match=r"must be the same \(B, C\) shape"):
        losses.multilabel_bce(logits[None], q[None])
    with pytest.raises(ValueError, match=r"^soft targets must sum to 1 per bag$"):
        losses.soft_target_cross_entropy(logits, q * 0.5)
    assert losses.HYPERSLIDE_LOSSES == {"bce": losses.multilabel_bce,
                                        "focal": losses.multilabel_focal,
                                        "ce": losses.soft_target_cross_entropy}
