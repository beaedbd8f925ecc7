"""ACMIL: multiple branch attention, STKIM, its loss terms, its registry entries, and the one
place where attention heads are reduced to one weight per instance."""
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from milhelpers import experiments
from milhelpers.datasets import Bag, ListBagDataset
from milhelpers.methods import BuildContext, acmil_loss_terms, get_method
from milhelpers.models import (ABMIL, ACMIL, MILOutput, build_model, masked_softmax,
                               slide_attention, stkim_mask)
from milhelpers.train import Predictions, TrainState

from bags import planted_bags
from same_model import assert_same_model

LENGTHS = [30, 7, 12]          # asymmetric; the 7-instance bag has N < K = 10
STATE = TrainState(1, 0, 1, 1)


def _batch(lengths=LENGTHS, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), d, generator=g)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
        x[i, n:] = 1e3            # garbage in the padding must not matter
    return x, mask


def _acmil(seed=0, **kw) -> ACMIL:
    torch.manual_seed(seed)
    return ACMIL(16, **{"dropout": 0.0, **kw})


def _top_sets(scores, mask, k):
    """Per (bag, branch): the set of the K' = min(k, N_b) highest-scoring real instances."""
    out = {}
    for b in range(scores.shape[0]):
        n = int(mask[b].sum())
        for m in range(scores.shape[1]):
            out[b, m] = set(scores[b, m, :n].topk(min(k, n)).indices.tolist())
    return out


# ------------------------------------------------------------------------------------------------
# STKIM
# ------------------------------------------------------------------------------------------------
def test_stkim_hides_exactly_floor_k_mask_drop_of_each_branchs_own_top_k_never_padding():
    g = torch.Generator().manual_seed(0)
    _, mask = _batch()
    scores = torch.randn(3, 4, 30, generator=g)
    scores[~mask[:, None, :].expand_as(scores)] = 1e4     # padding scored highest: must not count
    top = _top_sets(scores, mask, 10)
    assert top[0, 0] != top[0, 1]                         # branches have different top sets
    want = {0: 6, 1: math.floor(7 * 0.6), 2: 6}           # K' = 10, 7 (N < K), 10
    seen = {key: np.zeros(30) for key in top}
    draws = 600
    for _ in range(draws):
        hidden = stkim_mask(scores, mask, 10, 0.6, generator=g)
        assert not hidden[~mask[:, None, :].expand_as(hidden)].any()
        for (b, m), cand in top.items():
            idx = set(torch.nonzero(hidden[b, m]).flatten().tolist())
            assert len(idx) == want[b] and idx <= cand, (b, m, idx, cand)
            seen[b, m][list(idx)] += 1
    # uniform without replacement: every candidate is hidden with probability n_hide / K'
    for (b, m), cand in top.items():
        freq = seen[b, m][sorted(cand)] / draws
        np.testing.assert_allclose(freq, want[b] / len(cand), atol=0.08)


@pytest.mark.parametrize("k, drop, n_real, expected", [(10, 0.05, 30, 0), (10, 0.6, 1, 0),
                                                       (10, 0.3, 30, 3), (4, 0.5, 3, 1)])
def test_stkim_count_is_floored(k, drop, n_real, expected):
    mask = torch.zeros(1, 30, dtype=torch.bool)
    mask[0, :n_real] = True
    hidden = stkim_mask(torch.randn(1, 2, 30), mask, k, drop)
    assert hidden.sum(-1).tolist() == [[expected, expected]]


def test_stkim_a_bag_that_hides_nothing_does_not_switch_off_the_rest_of_the_batch():
    """One padded batch: a 1-instance bag (⌊1·0.6⌋ = 0 hidden) beside a 30-instance bag (⌊10·0.6⌋
    = 6 hidden per branch) and a 3-instance bag (⌊3·0.6⌋ = 1). The early return for "nothing to
    hide" must look at the whole batch, not at its smallest bag. Catches ``n_hide.min()``."""
    mask = torch.zeros(3, 30, dtype=torch.bool)
    mask[0, :1], mask[1, :], mask[2, :3] = True, True, True
    scores = torch.randn(3, 2, 30, generator=torch.Generator().manual_seed(0))
    hidden = stkim_mask(scores, mask, 10, 0.6, generator=torch.Generator().manual_seed(1))
    assert hidden.sum(-1).tolist() == [[0, 0], [6, 6], [1, 1]]
    assert not hidden[~mask[:, None, :].expand_as(hidden)].any()
    # the model's training forward on the same kind of batch hides them too
    x, _ = _batch([1, 30, 3])
    with torch.no_grad():
        out = _acmil(n_branches=2).train()(x, mask)
    assert out.extras["stkim_hidden"].sum(-1).tolist() == [[0, 0], [6, 6], [1, 1]]


def test_stkim_draw_follows_torchs_seed():
    scores, mask = torch.randn(2, 5, 40), torch.ones(2, 40, dtype=torch.bool)
    torch.manual_seed(7)
    a = stkim_mask(scores, mask, 10, 0.6)
    torch.manual_seed(7)
    b = stkim_mask(scores, mask, 10, 0.6)
    torch.manual_seed(8)
    c = stkim_mask(scores, mask, 10, 0.6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_model_masks_in_training_the_branch_attention_and_slide_attention_uses_it():
    x, mask = _batch()
    model = _acmil(n_branches=4)
    with torch.no_grad():
        clean = model.eval()(x, mask)
        torch.manual_seed(1)
        out = model.train()(x, mask)
    hidden = out.extras["stkim_hidden"]
    top = _top_sets(clean.attention_logits, mask, 10)     # dropout 0: same scores in both modes
    for (b, m), cand in top.items():
        idx = set(torch.nonzero(hidden[b, m]).flatten().tolist())
        assert len(idx) == (4 if b == 1 else 6) and idx <= cand
    # the hidden instances sit at the dtype minimum and get exactly zero weight
    assert (out.attention_logits[hidden] == torch.finfo(torch.float32).min).all()
    assert (out.attention[hidden] == 0).all()
    torch.testing.assert_close(out.attention_logits[~hidden & mask[:, None, :]],
                               clean.attention_logits[~hidden & mask[:, None, :]])
    # each branch renormalises over the rest: sums to 1 over real instances, 0 on padding
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(3, 4))
    assert (out.attention[~mask[:, None, :].expand_as(hidden)] == 0).all()
    # branch and slide embeddings pool with the *masked* attention (the authors' step 5)
    h = model.project(x)
    a_bar = out.attention.mean(1)
    torch.testing.assert_close(out.slide_attention, a_bar)
    torch.testing.assert_close(out.embedding, torch.einsum("bn,bne->be", a_bar, h))
    torch.testing.assert_close(out.extras["branch_embeddings"],
                               torch.einsum("bmn,bne->bme", out.attention, h))
    assert not torch.allclose(out.embedding, clean.embedding, atol=1e-4)


def test_no_masking_in_eval_mode_and_eval_equals_a_mask_drop_zero_model():
    x, mask = _batch()
    model = _acmil(dropout=0.25).eval()
    no_stkim = ACMIL(16, dropout=0.25, mask_drop=0.0)
    no_stkim.load_state_dict(model.state_dict())
    no_stkim.eval()
    with torch.no_grad():
        a, b, c = model(x, mask), model(x, mask), no_stkim(x, mask)
    assert not a.extras["stkim_hidden"].any()
    for key in ("logits", "attention_logits", "embedding"):
        assert torch.equal(getattr(a, key), getattr(b, key))
        torch.testing.assert_close(getattr(a, key), getattr(c, key))
    torch.testing.assert_close(a.extras["branch_logits"], c.extras["branch_logits"])
    # ... while training mode does mask (so the equality above is not vacuous)
    with torch.no_grad():
        assert model.train()(x, mask).extras["stkim_hidden"].sum() > 0


# ------------------------------------------------------------------------------------------------
# architecture
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_one_branch_without_masking_is_gated_abmil_with_the_same_weights(mode):
    # ABMIL's projection has a bias and ACMIL's has none: zero ABMIL's; the attention width is
    # set to ACMIL's 128; dropout 0 for the training-mode comparison (ABMIL's attention dropout)
    torch.manual_seed(0)
    abmil = ABMIL(16, embed_dim=32, attn_dim=128, gated=True, dropout=0.0)
    with torch.no_grad():
        abmil.project[0].bias.zero_()
    acmil = ACMIL(16, embed_dim=32, n_branches=1, mask_drop=0.0, dropout=0.0)
    state = {k: v for k, v in abmil.state_dict().items() if k != "project.0.bias"}
    missing, unexpected = acmil.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("branch_classifiers") for k in missing)
    x, mask = _batch()
    abmil.train(mode == "train"), acmil.train(mode == "train")
    with torch.no_grad():
        a, b = abmil(x, mask), acmil(x, mask)
    for key in ("logits", "attention_logits", "embedding"):
        torch.testing.assert_close(getattr(b, key), getattr(a, key))


def test_slide_prediction_pools_with_the_branch_mean_of_softmaxes():
    x, mask = _batch()
    model = _acmil(n_branches=3).eval()
    with torch.no_grad():
        out = model(x, mask)
        h = model.project(x)
        a = torch.softmax(out.attention_logits, -1)          # padding at dtype min -> 0
        z = torch.einsum("bn,bne->be", a.mean(1), h)
        torch.testing.assert_close(out.embedding, z)
        torch.testing.assert_close(out.logits, model.classifier(z))
        for m in range(3):
            z_m = torch.einsum("bn,bne->be", a[:, m], h)
            torch.testing.assert_close(out.extras["branch_logits"][:, m],
                                       model.branch_classifiers[m](z_m))
        # pooling with the softmax of the branches' mean logit would be a different model
        mean_logit = out.attention_logits.masked_fill(~mask[:, None], 0).mean(1, keepdim=True)
        wrong = torch.einsum("bn,bne->be", masked_softmax(mean_logit, mask)[:, 0], h)
        assert not torch.allclose(wrong, z, atol=1e-4)
    assert out.attention_logits.shape == (3, 3, 30)
    assert out.extras["branch_logits"].shape == (3, 3, 2)
    # shared V and U, one scoring vector per branch, 128 hidden, projection without bias
    assert model.attention.tanh[0].out_features == 128 and model.attention.score.out_features == 3
    assert model.project[0].bias is None and len(model.branch_classifiers) == 3


def test_padding_and_permutation_do_not_change_a_bags_output():
    x, mask = _batch()
    model = _acmil().eval()
    perm = torch.randperm(7)
    with torch.no_grad():
        out = model(x, mask)
        alone = model(x[1, :7][perm])
    torch.testing.assert_close(alone.logits, out.logits[1:2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone.attention[0], out.attention[1, :, :7][:, perm])


def test_half_precision_training_forward_stays_finite_with_exact_zeros():
    x, mask = _batch()
    model = _acmil().to(torch.bfloat16).train()
    out = model(x.to(torch.bfloat16), mask)
    hidden = out.extras["stkim_hidden"]
    assert hidden.sum() > 0 and (out.attention[hidden] == 0).all()
    assert torch.isfinite(out.logits).all() and (out.attention[1, :, 7:] == 0).all()


@pytest.mark.parametrize("kw, word", [({"mask_drop": 1.0}, "mask_drop"),
                                      ({"mask_drop": -0.1}, "mask_drop"),
                                      ({"n_branches": 0}, "n_branches"), ({"top_k": -1}, "top_k")])
def test_bad_options_name_the_parameter(kw, word):
    with pytest.raises(ValueError, match=word):
        ACMIL(8, **kw)


# ------------------------------------------------------------------------------------------------
# loss terms and registry
# ------------------------------------------------------------------------------------------------
def test_loss_terms_hand_computed_on_masked_padded_attention():
    # branch 1: logits (0, ln 3) -> a = (1/4, 3/4); branch 2: (0, 0, hidden) -> (1/2, 1/2, 0);
    # the third slot is real in branch 2 (hidden by STKIM) and the last is padding (garbage logit)
    lo = torch.finfo(torch.float32).min
    logits = torch.tensor([[[0.0, math.log(3.0), lo, 50.0], [0.0, 0.0, lo, 50.0]]])
    mask = torch.tensor([[True, True, True, False]])
    branch_logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])
    out = MILOutput(torch.zeros(1, 2), logits, torch.zeros(1, 4), mask,
                    {"branch_logits": branch_logits})
    terms = {t.name: t for t in acmil_loss_terms(_acmil(n_branches=2))}
    assert set(terms) == {"branch_ce", "branch_diversity"}
    assert all(t.weight_at(STATE) == 1.0 for t in terms.values())
    batch = type("B", (), {"labels": torch.tensor([1])})()
    # cos((1/4, 3/4), (1/2, 1/2)) = (1/8 + 3/8) / (√10/4 · 1/√2) = 2/√5
    div = float(terms["branch_diversity"].fn(out, batch, STATE))
    assert div == pytest.approx(2 / math.sqrt(5), rel=1e-6)
    ce = float(terms["branch_ce"].fn(out, batch, STATE))
    expected = (math.log(1 + math.e ** 2) + math.log(1 + math.e ** -1)) / 2   # CE(2,0;1), CE(0,1;1)
    assert ce == pytest.approx(expected, rel=1e-6)
    assert acmil_loss_terms(_acmil(n_branches=1)) == []


def test_registry_entries_and_their_ablations():
    ctx = BuildContext(in_dim=16, n_classes=3, fold=0, seed=0)
    full, mba, stk = (get_method(n).build_model(ctx) for n in ("acmil", "acmil_mba", "acmil_stkim"))
    assert (full.n_branches, full.top_k, full.mask_drop) == (5, 10, 0.6)
    assert (mba.n_branches, mba.mask_drop) == (5, 0.0) and not mba.masks_in_training
    assert (stk.n_branches, stk.top_k, stk.mask_drop) == (1, 10, 0.6) and stk.masks_in_training
    assert full.classifier.out_features == 3
    names = {n: [t.name for t in get_method(n).loss_terms(m)]
             for n, m in (("acmil", full), ("acmil_mba", mba), ("acmil_stkim", stk))}
    assert names == {"acmil": ["branch_ce", "branch_diversity"],
                     "acmil_mba": ["branch_ce", "branch_diversity"], "acmil_stkim": []}
    for n in ("acmil", "acmil_mba", "acmil_stkim", "acmil_base", "acmil_aem"):
        assert get_method(n).train_config().monitor == "last"   # fixed epochs, as every method here
    assert isinstance(build_model("acmil", 16), ACMIL)


@pytest.fixture
def one_thread():
    # one bag per step: a second thread only waits, and on the shared 2-core machine it slows
    # training many-fold (the runner trains with one thread for the same reason)
    from milhelpers.train import torch_threads
    with torch_threads(1):
        yield


def test_method_trains_end_to_end_with_its_loss_terms_in_the_history(one_thread):
    ds = planted_bags(48, d=16, lengths=(8, 30))
    tr, va = ds.subset(range(36)), ds.subset(range(36, 48))
    method = get_method("acmil").with_options(embed_dim=32)
    cfg = method.train_config(epochs=3, progress=False, seed=0, lr=1e-3)
    res = method.fit(tr, va, cfg)
    hist = res.history
    assert {"bag_loss", "branch_ce", "branch_diversity", "val_acc_auc"} <= set(hist)
    assert res.monitor == "last" and np.isfinite(hist.train_loss).all()
    np.testing.assert_allclose(hist.val_acc_auc, hist.val_accuracy + hist.val_auc)
    assert res.best_epoch == int(hist.epoch.max())   # the last epoch is kept
    # every term has weight 1: the total is their sum
    np.testing.assert_allclose(hist.train_loss, hist.bag_loss + hist.branch_ce
                               + hist.branch_diversity, rtol=1e-5)
    assert hist.bag_loss.iloc[-1] < hist.bag_loss.iloc[0]
    # the seed fixes STKIM's draws too: a second run repeats the first exactly
    again = method.fit(tr, va, cfg).history
    np.testing.assert_array_equal(again.train_loss, hist.train_loss)
    # the STKIM-only ablation adds no branch terms
    stk = get_method("acmil_stkim").with_options(embed_dim=32).fit(
        tr, va, dataclasses.replace(cfg, epochs=1))
    assert "branch_ce" not in stk.history and "branch_diversity" not in stk.history


# ------------------------------------------------------------------------------------------------
# heads -> one weight per instance, for every consumer
# ------------------------------------------------------------------------------------------------
def _two_head_predictions():
    # logits of two heads over 3 instances. Mean of logits: (0, 1, 1.5) -> instance 2 on top;
    # mean of softmaxes: instance 1 on top (its head is peaked), instance 2 next.
    logits = np.array([[0.0, 8.0, 0.0], [0.0, -6.0, 3.0]])
    att = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return logits, att, Predictions(["s"], np.array([1]), np.array([[0.2, 0.8]]), [att],
                                    [logits], np.zeros((1, 4)), [logits])


def test_heads_are_reduced_to_the_mean_softmax_for_heatmaps_and_metrics():
    logits, att, p = _two_head_predictions()
    a_bar = att.mean(0)
    np.testing.assert_allclose(p.slide_attention[0], a_bar)
    np.testing.assert_allclose(p.slide_scores[0], a_bar)
    assert np.argmax(a_bar) == 1 and np.argmax(logits.mean(0)) == 2     # the reductions disagree
    top1 = a_bar.max()
    assert p.mean_topk_mass(1) == pytest.approx(top1)
    h = -(a_bar * np.log(a_bar)).sum() / np.log(3)
    assert p.mean_entropy() == pytest.approx(h)
    torch.testing.assert_close(slide_attention(torch.tensor(att)), torch.tensor(a_bar))
    # one head: the scores as they are (logits or instance evidence)
    one = Predictions(["s"], np.array([1]), np.array([[0.2, 0.8]]), [att[:1]], [logits[:1]],
                      np.zeros((1, 4)), [logits[:1]])
    np.testing.assert_allclose(one.slide_scores[0], logits[0])


def test_the_runners_localisation_uses_the_mean_softmax_of_the_heads():
    # instance 1 is the tumour patch: the mean softmax ranks it first (AUC 1), the mean logit
    # ranks instance 2 above it (AUC 0.5)
    _, _, p = _two_head_predictions()
    ds = ListBagDataset([Bag(torch.zeros(3, 4), 1, "s", instance_labels=np.array([0.0, 1.0, 0.0]))])
    slides = experiments._slide_records(p, ds)
    metrics = experiments._run_metrics(p, slides)
    assert slides[0]["loc_auc"] == pytest.approx(1.0) and metrics["loc_auc"] == pytest.approx(1.0)
    assert metrics["top5_mass"] == pytest.approx(1.0)


def test_model_output_slide_attention_is_the_branch_mean():
    x, mask = _batch()
    out = _acmil().eval()(x, mask)
    torch.testing.assert_close(out.slide_attention, F.softmax(out.attention_logits, -1).mean(1))
    torch.testing.assert_close(out.slide_attention.sum(-1), torch.ones(3))


def test_acmil_method_returns_the_registered_ablation_entries_or_a_named_variant():
    from milhelpers.methods import METHODS, acmil_method
    assert acmil_method() is METHODS["acmil"]
    assert acmil_method(5, 10, 0.0) is METHODS["acmil_mba"]
    assert acmil_method(1, 10, 0.6) is METHODS["acmil_stkim"]
    assert acmil_method(1, 7, 0.0) is METHODS["acmil_base"]          # K is unused without masking
    assert dict(METHODS["acmil_base"].model_kwargs) == {"n_branches": 1, "mask_drop": 0.0}
    v = acmil_method(3, 8, 0.25)
    assert v.name == "acmil_M3_K8_drop0.25"
    assert dict(v.model_kwargs) == {"n_branches": 3, "top_k": 8, "mask_drop": 0.25}
    assert v.config == METHODS["acmil"].config          # the same training defaults
    with pytest.raises(ValueError, match="mask_drop"):
        acmil_method(5, 10, 1.0)


def test_top_k_zero_is_allowed_and_hides_nothing_in_training():
    """top_k = 0 is a valid ACMIL (the lower bound of top_k is 0, not 1): STKIM has no candidates,
    so nothing is hidden even in train mode and the training forward equals the eval forward.
    Catches top_k = 0 refused (``("top_k", top_k, 1)``)."""
    x, mask = _batch()
    model = _acmil(top_k=0, mask_drop=0.6)
    assert model.top_k == 0 and not model.masks_in_training
    model.train()
    out = model(x, mask)
    assert not out.extras["stkim_hidden"].any()
    model.eval()
    ref = model(x, mask)
    torch.testing.assert_close(out.logits, ref.logits)


# ------------------------------------------------------------------------------------------------
# round 6 (acmil self-audit): dropout's upper bound, each branch's own classifier, stkim's checks
# ------------------------------------------------------------------------------------------------
def test_dropout_one_is_rejected_and_just_below_one_is_allowed():
    with pytest.raises(ValueError, match="dropout"):
        ACMIL(8, dropout=1.0)
    with pytest.raises(ValueError, match="dropout"):
        ACMIL(8, dropout=-0.1)
    assert ACMIL(8, dropout=0.99).project[2].p == 0.99


def test_each_branch_classifier_reads_its_own_branch_embedding_in_a_padded_batch():
    """ŷ_m = C_m z_m with z_m = Σ_k a_mk h_k, per bag and branch, in a padded batch (eval):
    recomputed here from the weights with an explicit loop over bags and branches."""
    model = _acmil(seed=3, n_branches=3).eval()
    x, mask = _batch()
    out = model(x, mask)
    h = torch.relu(x @ model.project[0].weight.T)
    for b, n in enumerate(LENGTHS):
        a = out.attention[b, :, :n]
        for m in range(3):
            z = (a[m][:, None] * h[b, :n]).sum(0)
            torch.testing.assert_close(out.extras["branch_embeddings"][b, m], z)
            clf = model.branch_classifiers[m]
            torch.testing.assert_close(out.extras["branch_logits"][b, m], clf.weight @ z + clf.bias)
    # the branches' classifiers differ, so the branch logits differ from branch to branch
    assert not torch.allclose(out.extras["branch_logits"][:, 0], out.extras["branch_logits"][:, 1])


def test_stkim_mask_rejects_a_mask_that_would_broadcast():
    scores = torch.randn(2, 3, 5)
    with pytest.raises(ValueError, match="scores must be"):
        stkim_mask(scores, torch.ones(2, 1, dtype=torch.bool), 2, 0.5)   # (B, 1) would broadcast
    with pytest.raises(ValueError, match="scores must be"):
        stkim_mask(scores[:, 0], torch.ones(2, 5, dtype=torch.bool), 2, 0.5)


@pytest.mark.parametrize("name", ["n_branches", "top_k", "in_dim", "embed_dim"])
def test_acmil_refuses_a_bool_where_a_size_goes(name):
    """True is an Integral (== 1) in Python: ACMIL(8, n_branches=True) would quietly build a
    one-branch model. A size must be a real integer; the message names the argument."""
    kw = {"in_dim": 8, name: True}
    with pytest.raises(ValueError, match=name):
        ACMIL(**kw)
    kw[name] = 2                                            # the same value as an int is fine
    assert ACMIL(**kw) is not None


# --- round 7: audit 7's ACMIL survivors (one classifier shared by every branch; n_classes = 1
# accepted) and every size bound of ACMIL at exactly its edge
def test_each_branch_has_its_own_classifier_with_its_own_parameters():
    """M = 3: three branch classifiers and a fourth, separate slide classifier, each its own
    module and weights (``[Linear] * M`` repeats one module, which every branch then trains).
    Parameters by hand (in 8, E 6, A 4, C 2): W₀ 8·6 (no bias) = 48; V, U 2·(6·4 + 4) = 56;
    w 4·3 + 3 = 15; branch heads 3·(6·2 + 2) = 42; slide head 14: 175 in all. A gradient on
    branch 0's logits reaches branch 0's classifier only."""
    torch.manual_seed(0)
    model = ACMIL(8, 2, embed_dim=6, attn_dim=4, n_branches=3, dropout=0.0)
    heads = [*model.branch_classifiers, model.classifier]
    assert len({id(h) for h in heads}) == 4
    assert len({h.weight.data_ptr() for h in heads}) == 4
    assert model.attention.tanh[0] is not model.attention.gate[0]
    assert sum(p.numel() for p in model.parameters()) == 175
    model.eval()(torch.randn(5, 8)).extras["branch_logits"][0, 0].sum().backward()
    assert model.branch_classifiers[0].weight.grad.abs().sum() > 0
    for other in (*model.branch_classifiers[1:], model.classifier):
        assert other.weight.grad is None or not other.weight.grad.any()


ACMIL_SIZES = [("in_dim", 1), ("n_classes", 2), ("embed_dim", 1), ("attn_dim", 1),
               ("n_branches", 1), ("top_k", 0)]


@pytest.mark.parametrize("name, low", ACMIL_SIZES)
def test_acmil_sizes_at_exactly_their_smallest_allowed_value(name, low):
    """The smallest allowed value builds a model that runs; one less, a bool (True == 1,
    False == 0) or a non-integer is refused, naming the argument and its bound. Catches a bound
    off by one either way (e.g. n_classes >= 1: a one-class 'classifier' whose softmax is
    always 1)."""
    kw = {"in_dim": 8, name: low}
    model = ACMIL(**kw).eval()
    assert model(torch.randn(5, kw["in_dim"])).logits.shape == (1, model.n_classes)
    for bad in (low - 1, True, False, low + 0.5):
        with pytest.raises(ValueError, match=f"ACMIL {name} must be an integer >= {low}"):
            ACMIL(**{**kw, name: bad})


# --- audit 8 survivors
def test_default_dropout_zeroes_a_quarter_of_the_projection_and_scales_the_rest_by_four_thirds():
    """The default (and the registered 'acmil' model) drop the projection with p = 0.25: in
    training each projected entry is either 0 or its dropout-free value × 1/(1 − 0.25) = 4/3,
    and about a quarter are 0 (p = 0 would leave every entry × 1 and none extra at 0)."""
    ctx = BuildContext(in_dim=16, n_classes=2, fold=0, seed=0)
    torch.manual_seed(0)
    for model in (ACMIL(16), get_method("acmil").build_model(ctx)):
        model.train()
        x = torch.randn(400, 16)
        lin_relu = model.project[:2]
        with torch.no_grad():
            clean = lin_relu(x)
            torch.manual_seed(1)
            dropped = model.project(x)
        on = clean > 0                                       # entries dropout could change
        kept = on & (dropped != 0)
        torch.testing.assert_close(dropped[kept], clean[kept] * 4 / 3)
        share_zero = float((on & (dropped == 0)).sum() / on.sum())
        assert 0.2 < share_zero < 0.3                        # ~0.25 of ≥ 10⁴ entries
        model.eval()
        with torch.no_grad():                               # eval: no dropout at all
            torch.testing.assert_close(model.project(x), clean)


# --- round 8: defaults and options --------------------------------------------------------------
def test_r8_acmil_defaults_are_the_papers_and_the_packages_values():
    """ACMIL (Zhang et al., ECCV 2024): M = 5 branches, K = 10, mask_drop = 0.6; this package's
    projection 512 wide with dropout 0.25 (as its ABMIL), attention width 128, two classes. The
    default model under a seed equals the explicit one, also in training (STKIM's draws and the
    dropout follow the same seed), and hides ⌊10·0.6⌋ = 6 instances per branch."""
    x = torch.randn(2, 30, 16)
    torch.manual_seed(0)
    a = ACMIL(16)
    torch.manual_seed(0)
    b = ACMIL(16, 2, 512, 128, 5, 10, 0.6, 0.25)
    oa, ob = assert_same_model(a, b, x)
    assert torch.equal(oa.extras["stkim_hidden"], ob.extras["stkim_hidden"])
    assert oa.extras["stkim_hidden"].sum(-1).eq(6).all()
    assert oa.logits.shape == (2, 2) and oa.extras["branch_logits"].shape == (2, 5, 2)
    assert oa.embedding.shape == (2, 512) and a.attention.tanh[0].out_features == 128
    assert a.attention.gate is not None                      # gated attention (the paper's)


# --- round 9: mask_drop's bounds, and forward() with mask None / all-True / padded by hand


def test_r9_mask_drop_is_closed_at_0_and_open_at_1():
    """mask_drop ∈ [0, 1): 0 (no STKIM) and 0.99 build; 1 (could hide a whole small bag),
    −1e-9 and 1.5 are refused with the argument's name."""
    assert ACMIL(8, mask_drop=0.0).masks_in_training is False
    assert ACMIL(8, mask_drop=0.99).mask_drop == 0.99
    for bad in (1.0, -1e-9, 1.5):
        with pytest.raises(ValueError, match=r"ACMIL mask_drop must be in \[0, 1\)"):
            ACMIL(8, mask_drop=bad)


def _acmil_by_hand(model: ACMIL, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(slide logits (C,), branch logits (M, C)) of one bag (n, D) of real instances in eval
    mode, from the weights: h = ReLU(W₀x), s = W_s(tanh(Vh) ⊙ σ(Uh)), a_m = softmax(s_m),
    ā = mean_m a_m, ŷ = C_s(ā h), ŷ_m = C_m(a_m h)."""
    h = torch.relu(x @ model.project[0].weight.T)
    att = model.attention
    g = torch.tanh(att.tanh[0](h)) * torch.sigmoid(att.gate[0](h))
    a = torch.softmax(att.score(g).T, -1)                                   # (M, n)
    branch = torch.stack([clf(a[m] @ h) for m, clf in enumerate(model.branch_classifiers)])
    return model.classifier(a.mean(0) @ h), branch


@pytest.mark.parametrize("mask_kind", ["none", "all_true", "padded"])
def test_r9_acmil_forward_mask_none_all_true_and_padded_match_the_weights(mask_kind):
    """B = 2 bags of N = 6 slots, M = 3 branches, 3 classes (eval): each bag's slide and branch
    logits are the formula on its own real instances (the second bag has 4 when padded), and
    mask=None gives what an all-True mask gives."""
    torch.manual_seed(5)
    model = ACMIL(5, 3, embed_dim=8, attn_dim=4, n_branches=3).eval()
    x = torch.randn(2, 6, 5)
    n_real = [6, 4] if mask_kind == "padded" else [6, 6]
    mask = None if mask_kind == "none" else torch.arange(6)[None] < torch.tensor(n_real)[:, None]
    with torch.no_grad():
        out = model(x, mask)
        for b, n in enumerate(n_real):
            slide, branch = _acmil_by_hand(model, x[b, :n])
            torch.testing.assert_close(out.logits[b], slide, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(out.extras["branch_logits"][b], branch, atol=1e-5,
                                       rtol=1e-5)
    assert not out.extras["stkim_hidden"].any()


# --- round 12: STKIM's mask is boolean also when it hides nothing


@pytest.mark.parametrize("top_k, drop", [(0, 0.5), (10, 0.05), (3, 0.0)])
def test_r12_stkim_mask_that_hides_nothing_is_a_boolean_b_m_n_mask(top_k, drop):
    """K = 0, ⌊10·0.05⌋ = 0 and mask_drop 0 hide nothing: an all-False bool (B, M, N) mask,
    usable with masked_fill (a float mask is not)."""
    scores = torch.randn(2, 3, 4)
    hidden = stkim_mask(scores, torch.ones(2, 4, dtype=torch.bool), top_k, drop)
    assert hidden.dtype == torch.bool and hidden.shape == (2, 3, 4) and not hidden.any()
    assert torch.equal(scores.masked_fill(hidden, 0.0), scores)
