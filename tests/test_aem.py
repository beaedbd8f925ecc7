"""AEM's loss term (attention entropy maximisation) and its methods."""
import math

import pytest
import torch

from bags import planted_bags
from milhelpers import losses
from milhelpers.losses import aem_term
from milhelpers.methods import aem_method, available_methods, get_method
from milhelpers.models import MILOutput
from milhelpers.train import TrainConfig, TrainState, predict

LN2 = math.log(2)
H_QUARTER = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))   # entropy of [1/4, 3/4]


def _out(attention_logits, mask):
    b = attention_logits.shape[0]
    return MILOutput(torch.zeros(b, 2), attention_logits, torch.zeros(b, 3), mask)


def _value(term, logits, mask, step=0, total=10):
    state = TrainState(epoch=1, step=step, total_steps=total, steps_per_epoch=total)
    return term.fn(_out(logits, mask), None, state)


def _example():
    """3 bags × 2 heads × 4 slots; padding holds junk (+1e4, NaN) that must not count."""
    pad, nan = 1e4, float("nan")
    logits = torch.tensor([
        [[0.0, math.log(3.0), pad, pad], [5.0, 5.0, nan, pad]],         # N=2: [1/4,3/4]; uniform
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, LN2, 2 * LN2]],               # N=4: uniform; ∝ [1,1,2,4]
        [[-3.0, pad, pad, pad], [7.0, nan, nan, nan]]])                 # N=1
    mask = torch.tensor([[True, True, False, False], [True, True, True, True],
                         [True, False, False, False]])
    return logits, mask


def test_hand_computed_value_for_each_normalisation():
    logits, mask = _example()
    # per (bag, head) entropies: [H_Q, ln2], [ln4, 1.75 ln2] (a = 1/8,1/8,1/4,1/2), [0, 0]
    none = -(H_QUARTER + LN2 + 2 * LN2 + 1.75 * LN2) / 6
    log_n = -(H_QUARTER / LN2 + 1 + 1 + 1.75 / 2 + 0 + 0) / 6
    assert float(_value(aem_term(normalize="none"), logits, mask)) == pytest.approx(none, rel=1e-6)
    assert float(_value(aem_term(normalize="log_n"), logits, mask)) == pytest.approx(log_n, rel=1e-6)
    assert aem_term(lam=0.3).weight == 0.3 and aem_term().name == "neg_entropy"


@pytest.mark.parametrize("normalize", ["none", "log_n"])
def test_padding_contributes_exactly_nothing_value_or_gradient(normalize):
    logits, mask = _example()
    logits.requires_grad_(True)
    term = aem_term(normalize=normalize)
    value = _value(term, logits, mask)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    assert (logits.grad[~mask[:, None, :].expand_as(logits)] == 0).all()
    assert (logits.grad[2] == 0).all()             # a one-instance bag has constant entropy 0
    # each bag alone, without padding, gives the same per-bag terms (mean over the 3 bags)
    alone = [_value(term, logits.detach()[i:i + 1, :, :n], mask[i:i + 1, :n])
             for i, n in enumerate([2, 4, 1])]
    torch.testing.assert_close(value.detach(), torch.stack(alone).mean(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("normalize", ["none", "log_n"])
def test_a_gradient_step_on_the_term_raises_every_bags_entropy(normalize):
    logits = torch.tensor([[[3.0, 0.0, -1.0, 0.5, -9.0], [-2.0, 4.0, 1.0, 1.0, -9.0]],
                           [[0.2, 2.5, -0.7, -9.0, -9.0], [1.0, -1.0, 0.0, -9.0, -9.0]]],
                          requires_grad=True)
    mask = torch.tensor([[True, True, True, True, False], [True, True, True, False, False]])
    before = losses.attention_entropy(logits.detach(), mask)
    _value(aem_term(normalize=normalize), logits, mask).backward()
    after = losses.attention_entropy(logits.detach() - 0.5 * logits.grad, mask)
    assert (after > before + 1e-4).all()          # each of the 2 bags × 2 heads spreads out


@pytest.mark.parametrize("dtype,big", [(torch.float16, 6e4), (torch.bfloat16, 1e38)])
@pytest.mark.parametrize("normalize", ["none", "log_n"])
def test_half_precision_extreme_logits_stay_finite(dtype, big, normalize):
    vals = torch.tensor([[[big, -big, 0.0, 1.0, 0.0], [0.5, big, big, -big, 0.0]],
                         [[-big, 3.0, 0.0, 0.0, 0.0], [2.0, -1.0, 0.0, 0.0, 0.0]]])
    mask = torch.tensor([[True, True, True, True, False], [True, True, False, False, False]])
    logits = vals.to(dtype).masked_fill(~mask[:, None], torch.finfo(dtype).min)
    logits.requires_grad_(True)
    term = aem_term(normalize=normalize)
    value = _value(term, logits, mask)
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert torch.isfinite(logits.grad.float()).all()
    assert (logits.grad[~mask[:, None, :].expand_as(logits)] == 0).all()
    # the value is the float32 value of the same logits (computed in float32 throughout)
    ref = _value(term, logits.detach().float(), mask)
    torch.testing.assert_close(value.detach(), ref)
    # bag 1 head 0: a = [0, 1] up to e^-big -> entropy 0; bag 0 head 1: a = [0, 1/2, 1/2, 0]
    h = losses.attention_entropy(logits.detach(), mask, normalize=normalize == "log_n")
    assert float(h[1, 0]) == 0.0
    assert float(h[0, 1]) == pytest.approx(LN2 / (math.log(4) if normalize == "log_n" else 1))


def test_cosine_schedule_hand_checked_and_constant_stays():
    lam, total = 0.4, 8
    state = lambda step: TrainState(1 + step // 4, step, total, 4)  # noqa: E731
    cos = aem_term(lam, schedule="cosine")
    assert cos.weight_at(state(0)) == pytest.approx(0.4)                       # start: λ
    assert cos.weight_at(state(4)) == pytest.approx(0.2)                       # middle: λ/2
    # last step, t = 7/8: 0.4·(1 + cos(7π/8))/2 = 0.4·(1 − 0.9238795)/2
    assert cos.weight_at(state(7)) == pytest.approx(0.0152241, rel=1e-5)
    assert cos.weight_at(state(8)) == pytest.approx(0.0, abs=1e-12)            # end: 0
    const = aem_term(lam)
    assert {const.weight_at(state(s)) for s in (0, 4, 7)} == {0.4}


@pytest.mark.parametrize("kwargs,named", [
    ({"lam": -0.1}, "lam=-0.1"), ({"lam": float("nan")}, "lam=nan"), ({"lam": "0.1"}, "lam='0.1'"),
    ({"lam": True}, "lam=True"), ({"schedule": "linear"}, "schedule='linear'"),
    ({"normalize": "logn"}, "normalize='logn'")])
def test_bad_options_give_clear_errors(kwargs, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(")) as err:
        aem_term(**kwargs)
    assert any(word in str(err.value) for word in ("must be", "not one of"))
    with pytest.raises(ValueError, match="aem_term"):       # at creation, not at the first step
        aem_method(**kwargs)
    with pytest.raises(KeyError, match="abmil_gated"):
        aem_method(base="no_such_method")


def test_registered_aem_and_variant_names():
    aem = get_method("aem")
    assert "aem" in available_methods() and aem_method().name == "aem"
    assert aem.config == get_method("abmil_gated").config
    names = {aem_method(0.1, "cosine").name, aem_method(0.5).name,
             aem_method(0.5, "cosine", "log_n").name, aem_method(1e-5).name,
             aem_method(base="mean_pool").name}
    assert names == {"aem_cos", "aem_lam0.5", "aem_lam0.5_cos_logn", "aem_lam1e-05", "mean_pool_aem"}
    if "acmil" in available_methods():    # the ACMIL chapter's method, once merged
        assert "acmil_aem" in available_methods()


def test_aem_adds_its_term_to_the_base_methods_own_loss_terms():
    """``acmil_aem`` is ACMIL's recipe *plus* λ·Σ a log a: ACMIL's branch cross-entropy and
    diversity stay, the entropy term comes last with weight λ. A base without terms (gated
    ABMIL) gets the entropy term alone. Catches AEM replacing the base's terms."""
    from milhelpers.methods import BuildContext

    ctx = BuildContext(in_dim=8, n_classes=2, fold=0, seed=0)
    acmil_model = get_method("acmil").build_model(ctx)
    for method in (get_method("acmil_aem"), aem_method(0.5, "cosine", base="acmil")):
        terms = method.loss_terms(acmil_model)
        assert [t.name for t in terms] == ["branch_ce", "branch_diversity", "neg_entropy"]
        assert [t.name for t in terms[:2]] == [t.name for t in
                                               get_method("acmil").loss_terms(acmil_model)]
    assert get_method("acmil_aem").loss_terms(acmil_model)[-1].weight == 0.1
    abmil_model = get_method("abmil_gated").build_model(ctx)
    assert [t.name for t in get_method("aem").loss_terms(abmil_model)] == ["neg_entropy"]


def test_lambda_zero_is_the_baseline_and_lambda_spreads_attention():
    ds = planted_bags(24, lengths=(5, 30))
    tr, va = ds.subset(range(18)), ds.subset(range(18, 24))
    # batches of 3 bags of different lengths: the term sees padding
    cfg = TrainConfig(epochs=3, lr=2e-3, batch_size=3, progress=False, seed=5)
    small = {"embed_dim": 32, "attn_dim": 16}
    base = get_method("abmil_gated").with_options(**small).fit(tr, va, cfg)
    zero = aem_method(lam=0.0).with_options(**small).fit(tr, va, cfg)
    strong = aem_method(lam=2.0).with_options(**small).fit(tr, va, cfg)
    sd0, sd1 = base.model.state_dict(), zero.model.state_dict()
    assert sd0.keys() == sd1.keys()
    assert all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    assert base.best_epoch == zero.best_epoch
    assert "neg_entropy" in zero.history and "neg_entropy" not in base.history
    assert (zero.history.neg_entropy < 0).all()
    assert predict(strong.model, tr).mean_entropy() > predict(zero.model, tr).mean_entropy()


def test_aem_or_base_reuses_the_baseline_at_lambda_zero():
    from milhelpers.methods import AEM_VARIANTS, aem_or_base

    assert aem_or_base(0.0, "cosine", "log_n") is get_method("abmil_gated")
    assert aem_or_base(0, base="acmil") is get_method("acmil")
    assert aem_or_base(1.0, *AEM_VARIANTS["cosine"]).name == "aem_lam1_cos"
    assert aem_or_base(10.0, *AEM_VARIANTS["log_n"], base="acmil").name == "acmil_aem_lam10_logn"
    assert aem_or_base(0.1).name == "aem"
    with pytest.raises(ValueError, match="schedule='cos'"):
        aem_or_base(0.0, "cos")
    with pytest.raises(ValueError, match="lam=-1"):
        aem_or_base(-1)


def test_aem_variant_names():
    from milhelpers.methods import aem_variant_name

    assert aem_variant_name("constant", "none") == "constant"
    assert aem_variant_name("cosine", "none") == "cosine"
    assert aem_variant_name("constant", "log_n") == "log_n"
    assert aem_variant_name("cosine", "log_n") == "cosine+log_n"


def test_entropy_is_finite_when_a_logit_gap_overflows_float32():
    """Logits 3e38 and −3e38 (a gap of 6e38 > float32 max): the second's log-weight is −inf and
    counts as a·log a = 0 (the limit), the top one has a = 1, log a = 0, so H = 0 exactly, with a
    finite gradient. Catches the ``isfinite`` guard dropped (0·(−inf) = NaN in value and grad)."""
    z = torch.tensor([[[3e38, -3e38, 0.0]]], requires_grad=True)
    h = losses.attention_entropy(z)
    assert h.shape == (1, 1) and torch.isfinite(h).all()
    assert h.item() == pytest.approx(0.0, abs=1e-6)
    h.sum().backward()
    assert torch.isfinite(z.grad).all()


def test_aem_methods_options_reach_its_loss_term():
    """``aem_method(0.4, 'cosine', 'log_n')``'s term: weight at t = 2/8 is
    0.4·(1 + cos(π/4))/2 = 0.341421 (not the end value 0.4·(1 + cos(3π/4))/2 = 0.058579), and
    its value on the example is the log-N-normalised one; the defaults give the plain value and
    a constant weight."""
    logits, mask = _example()
    from milhelpers.models import ABMIL

    model = ABMIL(8, embed_dim=8, attn_dim=4)
    (term,) = aem_method(0.4, "cosine", "log_n").loss_terms(model)
    state = TrainState(1, 2, 8, 8)
    assert term.weight_at(state) == pytest.approx(0.4 * (1 + math.cos(math.pi / 4)) / 2)
    assert term.weight_at(state) == pytest.approx(0.341421, rel=1e-5)
    log_n = -(H_QUARTER / LN2 + 1 + 1 + 1.75 / 2) / 6
    assert float(term.fn(_out(logits, mask), None, state)) == pytest.approx(log_n, rel=1e-6)
    (plain,) = aem_method(0.4).loss_terms(model)
    none = -(H_QUARTER + LN2 + 2 * LN2 + 1.75 * LN2) / 6
    assert float(plain.fn(_out(logits, mask), None, state)) == pytest.approx(none, rel=1e-6)
    assert plain.weight_at(state) == 0.4


def test_aem_names_every_base_but_gated_abmil_by_prefix():
    """The runner caches runs by method name: AEM on gated ABMIL is ``aem``, on any other base
    ``<base>_aem`` — also on tanh ABMIL, whose name shares gated ABMIL's prefix. Catches a
    prefix test (``startswith('abmil')``) that would file tanh ABMIL's AEM runs as gated's."""
    assert aem_method(base="abmil_gated").name == "aem"
    assert aem_method(base="abmil_tanh").name == "abmil_tanh_aem"
    assert aem_method(base="mean_pool").name == "mean_pool_aem"
    assert aem_method(0.5, "cosine", "log_n", base="abmil_tanh").name == \
        "abmil_tanh_aem_lam0.5_cos_logn"


# --- round 8: defaults and options --------------------------------------------------------------
_R8_LOGITS = torch.tensor([[[0.3, 0.3, 0.3, 0.3, 5.0, -2.0]]])
_R8_MASK = torch.tensor([[True, True, True, True, False, False]])


def _r8_term_value(term):
    out = MILOutput(torch.zeros(1, 2), _R8_LOGITS, torch.zeros(1, 3), _R8_MASK)
    return term.fn(out, None, None).item()


def _r8_half():
    return TrainState(epoch=1, step=5, total_steps=10, steps_per_epoch=10)


@pytest.mark.parametrize("kw", [{}, {"schedule": "cosine"}, {"normalize": "log_n"},
                                {"lam": 0.3, "schedule": "cosine", "normalize": "log_n"}])
def test_r8_aem_term_defaults_and_each_option_by_hand(kw):
    """aem_term(): λ = 0.1 (the authors' example), constant (their code), unnormalised (the
    paper's) — at half of training the weight is still 0.1 and the term on uniform attention
    over 4 instances is −log 4. cosine: λ/2 at half; log_n: −1."""
    term = aem_term(**kw)
    lam = kw.get("lam", 0.1)
    want_w = lam / 2 if kw.get("schedule") == "cosine" else lam
    assert term.weight_at(_r8_half()) == pytest.approx(want_w)
    want_v = -1.0 if kw.get("normalize") == "log_n" else -math.log(4)
    assert _r8_term_value(term) == pytest.approx(want_v)


@pytest.mark.parametrize("name, kw", [("aem", {}), ("aem_lam0.3_cos_logn",
                                                   {"lam": 0.3, "schedule": "cosine",
                                                    "normalize": "log_n"})])
def test_r8_aem_method_passes_every_option_to_its_term(name, kw):
    """aem_method() / the registered 'aem': gated ABMIL + λ = 0.1 constant, unnormalised; the
    options reach the term the recipe trains with."""
    from milhelpers.methods import BuildContext
    m = aem_method(**kw)
    assert m.name == name
    model = m.build_model(BuildContext(8, 2, 0, 0))
    assert model.attention.gate is not None                 # gated ABMIL, the default base
    (term,) = m.loss_terms(model)
    assert term.weight_at(_r8_half()) == pytest.approx(0.15 if kw else 0.1)
    assert _r8_term_value(term) == pytest.approx(-1.0 if kw else -math.log(4))
    if not kw:
        (reg,) = get_method("aem").loss_terms(model)
        assert reg.weight_at(_r8_half()) == pytest.approx(0.1)
        assert _r8_term_value(reg) == pytest.approx(-math.log(4))


# --- round 11: a base Method object is used as given, not looked up again by name -------------
def test_r11_aem_on_an_unregistered_base_object_keeps_that_base():
    """``acmil_method(n_branches=3)`` is a variant no registry holds: AEM (and aem_or_base, both
    for λ = 0 and λ > 0) must take that very Method — its name, its 3-branch model and its
    ACMIL loss terms. Catches the base re-looked-up by name (KeyError, or the 5-branch
    registered ``acmil`` silently trained instead)."""
    from milhelpers.methods import BuildContext, acmil_method, aem_or_base

    base = acmil_method(n_branches=3)
    assert base.name == "acmil_M3_K10_drop0.6"
    ctx = BuildContext(in_dim=8, n_classes=2, fold=0, seed=0)
    for m, name in ((aem_method(base=base), "acmil_M3_K10_drop0.6_aem"),
                    (aem_method(0.5, "cosine", base=base), "acmil_M3_K10_drop0.6_aem_lam0.5_cos"),
                    (aem_or_base(0.5, base=base), "acmil_M3_K10_drop0.6_aem_lam0.5")):
        assert m.name == name
        model = m.build_model(ctx)
        assert model.n_branches == 3            # the given base's model, not registered acmil's 5
        terms = m.loss_terms(model)
        assert [t.name for t in terms] == ["branch_ce", "branch_diversity", "neg_entropy"]
        assert m.config == base.config
    assert aem_or_base(0.0, "cosine", base=base) is base


# --- round 12: the summary says which variant it is -------------------------------------------
def test_r12_aem_summary_names_base_lambda_schedule_and_normalisation():
    tail = ". Zhang et al., 'Attention entropy maximization for multiple instance learning based "
    head = "abmil_gated + attention entropy maximisation, loss + λ·Σ_k a_k log a_k "
    assert aem_method().summary.startswith(head + "(λ = 0.1)" + tail)
    assert aem_method(0.5, "cosine", "log_n").summary.startswith(
        head + "(λ cosine-annealed 0.5 → 0, entropy ÷ log N)" + tail)
    assert aem_method(0.2, normalize="log_n").summary.startswith(
        head + "(λ = 0.2, entropy ÷ log N)" + tail)
    assert aem_method(base="mean_pool").summary.startswith("mean_pool + attention entropy")
    assert aem_method().summary.endswith("arXiv 2406.15303, 2024")
