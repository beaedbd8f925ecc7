import math

import pytest
import torch

from milhelpers.models import (ABMIL, MaxPoolMIL, MeanPoolMIL, MILOutput, as_batch, build_model,
                               checkpointed_forward, freeze, masked_softmax)


def _batch(lengths, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = max(lengths)
    x = torch.randn(len(lengths), n, d, generator=g)
    mask = torch.zeros(len(lengths), n, dtype=torch.bool)
    for i, k in enumerate(lengths):
        mask[i, :k] = True
        x[i, k:] = 1e3  # garbage in the padding must not matter
    return x, mask


@pytest.mark.parametrize("name", ["abmil_gated", "abmil_tanh", "mean_pool", "max_pool"])
def test_attention_sums_to_one_and_is_zero_on_padding(name):
    x, mask = _batch([5, 17, 9])
    out = build_model(name, 32).eval()(x, mask)
    a = out.attention
    assert a.shape == (3, 1, 17)
    torch.testing.assert_close(a.sum(-1), torch.ones(3, 1))
    assert (a[~mask[:, None, :].expand_as(a)] == 0).all()
    assert (out.attention_logits[~mask[:, None, :].expand_as(a)] == torch.finfo(a.dtype).min).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_masked_softmax_exact_zeros_in_half_precision(dtype):
    logits = torch.randn(2, 3, 10).to(dtype) * 50
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[0, 6:] = False
    a = masked_softmax(logits, mask)
    assert a.dtype == dtype and (a[0, :, 6:] == 0).all()
    torch.testing.assert_close(a.float().sum(-1), torch.ones(2, 3), atol=1e-2, rtol=0)
    model = ABMIL(16).to(dtype).eval()
    x, m = _batch([4, 7], d=16)
    out = model(x.to(dtype), m)
    assert (out.attention[0, :, 4:] == 0).all() and torch.isfinite(out.logits).all()


@pytest.mark.parametrize("name", ["abmil_gated", "abmil_tanh", "mean_pool", "max_pool"])
def test_permutation_invariance_and_padding_invariance(name):
    torch.manual_seed(0)
    model = build_model(name, 32).eval()
    x, mask = _batch([12, 30])
    with torch.no_grad():
        out = model(x, mask)
        perm = torch.randperm(12)
        alone = model(x[0, :12][perm])
    torch.testing.assert_close(alone.logits, out.logits[:1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone.attention[0, 0], out.attention[0, 0, :12][perm], atol=1e-6, rtol=1e-5)


def test_gated_and_tanh_variants_differ_as_specified():
    g, t = ABMIL(64, gated=True), ABMIL(64, gated=False)
    assert g.attention.gate is not None and t.attention.gate is None
    assert isinstance(g.attention.gate[1], torch.nn.Sigmoid)
    assert g.project[0].out_features == 512 and g.attention.tanh[0].out_features == 256  # CLAM small
    k = ABMIL(64, n_branches=3)
    out = k(torch.randn(20, 64))
    assert out.attention_logits.shape == (1, 3, 20) and out.embedding.shape == (1, 3 * 512)


def test_mean_pool_is_uniform():
    x, mask = _batch([4, 8], d=8)
    a = MeanPoolMIL(8).eval()(x, mask).attention
    torch.testing.assert_close(a[0, 0, :4], torch.full((4,), 0.25))


def _identity_max_pool() -> MaxPoolMIL:
    m = MaxPoolMIL(2, embed_dim=2, dropout=0.0).eval()
    with torch.no_grad():
        for lin in (m.project[0], m.instance_classifier):
            lin.weight.copy_(torch.eye(2))
            lin.bias.zero_()
    return m


def test_max_pool_takes_the_logits_of_its_single_most_positive_instance():
    # instance logits (identity weights): [10, 0] (confidently negative) and [0, 5] (positive).
    # A per-class max would give [10, 5] (a negative bag); the MIL assumption gives [0, 5].
    out = _identity_max_pool()(torch.tensor([[10.0, 0.0], [0.0, 5.0]]))
    torch.testing.assert_close(out.logits, torch.tensor([[0.0, 5.0]]))
    torch.testing.assert_close(out.instance_scores[0, 0], torch.tensor([-10.0, 5.0]))
    # its pooling weight is one-hot on the chosen instance: entropy 0, top-1 mass 1
    torch.testing.assert_close(out.attention[0, 0], torch.tensor([0.0, 1.0]))
    from milhelpers.metrics import attention_entropy, topk_mass
    a = out.attention[0].numpy()
    assert attention_entropy(a) == 0.0 and topk_mass(a, 1) == 1.0
    torch.testing.assert_close(out.embedding, torch.tensor([[0.0, 5.0]]))


def test_max_pool_never_picks_padding():
    x = torch.tensor([[[0.0, 1.0], [0.0, 50.0]]])  # the padded instance would win
    out = _identity_max_pool()(x, torch.tensor([[True, False]]))
    torch.testing.assert_close(out.logits, torch.tensor([[0.0, 1.0]]))


def _set_abmil_weights(model):
    """2-d toy: identity projection, identity V and U, w = [1, 1], identity classifier."""
    with torch.no_grad():
        for lin in [model.project[0], model.attention.tanh[0], model.classifier] + (
                [model.attention.gate[0]] if model.attention.gate is not None else []):
            lin.weight.copy_(torch.eye(2))
            lin.bias.zero_()
        model.attention.score.weight.fill_(1.0)
        model.attention.score.bias.zero_()
    return model.eval()


@pytest.mark.parametrize("name", ["abmil_gated", "abmil_tanh"])
def test_abmil_matches_hand_computed_attention(name):
    """e_k = wᵀ tanh(V h_k) (tanh) or wᵀ(tanh(V h_k) ⊙ σ(U h_k)) (gated); a = softmax(e);
    z = Σ a_k h_k; logits = W_c z. Catches swapped variants and a gate added instead of
    multiplied."""
    model = _set_abmil_weights(build_model(name, 2, embed_dim=2, attn_dim=2, dropout=0.0))
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 3.0]])
    h = torch.relu(x)                                          # [[1,0],[0,2],[0,3]]
    if name == "abmil_gated":
        e = (torch.tanh(h) * torch.sigmoid(h)).sum(1)
    else:
        e = torch.tanh(h).sum(1)
    a = torch.softmax(e, 0)
    out = model(x)
    torch.testing.assert_close(out.attention_logits[0, 0], e)
    torch.testing.assert_close(out.logits[0], (a[:, None] * h).sum(0))
    # the numbers themselves, for a reader checking by hand: gated e_1 = tanh(1)·σ(1)
    if name == "abmil_gated":
        assert float(e[0]) == pytest.approx(0.7615942 * 0.7310586, rel=1e-6)


def test_clam_attention_dropout_is_a_fixed_quarter():
    """CLAM uses dropout p in the projection but a fixed 0.25 inside the attention net."""
    def ps(module):
        return [m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)]
    m = ABMIL(8, dropout=0.5)
    assert ps(m.project) == [0.5] and ps(m.attention) == [0.25, 0.25]
    assert ps(ABMIL(8, gated=False, dropout=0.1).attention) == [0.25]
    assert set(ps(ABMIL(8, dropout=0.0))) == {0.0}


def test_shapes_are_validated_not_broadcast():
    logits, mask = torch.randn(2, 5), torch.ones(2, 5, dtype=torch.bool)
    with pytest.raises(ValueError, match="heads H"):
        masked_softmax(logits, mask)            # (B, N) would broadcast to (B, B, N)
    with pytest.raises(ValueError, match="mask must be"):
        masked_softmax(torch.randn(2, 1, 5), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="heads H"):
        MILOutput(torch.randn(2, 2), logits, torch.randn(2, 8), mask)
    with pytest.raises(ValueError, match="bag logits"):
        MILOutput(torch.randn(3, 2), logits[:, None], torch.randn(2, 8), mask)


def test_build_model_seed_alone_fixes_the_weights():
    torch.manual_seed(123)
    a = build_model("abmil_gated", 8, seed=5)
    torch.rand(1000)                            # unrelated random calls in between
    b = build_model("abmil_gated", 8, seed=5)
    c = build_model("abmil_gated", 8, seed=6)
    torch.testing.assert_close(a.classifier.weight, b.classifier.weight)
    assert not torch.equal(a.classifier.weight, c.classifier.weight)
    assert a.init_seed == 5
    # and building with a seed leaves the global stream where it was
    torch.manual_seed(0)
    build_model("abmil_gated", 8, seed=1)
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(1))


def test_empty_bag_is_rejected_clearly():
    with pytest.raises(ValueError, match="empty bag"):
        ABMIL(8)(torch.zeros(0, 8))
    x, mask = _batch([3, 3], d=8)
    mask[1] = False
    with pytest.raises(ValueError, match="no unmasked instance"):
        ABMIL(8)(x, mask)
    with pytest.raises(KeyError, match="abmil_gated"):
        build_model("transmil", 8)  # the error lists the registered names


def test_200k_instance_bag_forward_and_backward():
    torch.manual_seed(0)
    model = ABMIL(64)
    x = torch.randn(200_000, 64)
    out = model(x)
    out.logits.sum().backward()
    assert out.attention.shape == (1, 1, 200_000)
    assert torch.isclose(out.attention.sum(), torch.tensor(1.0), atol=1e-4)
    assert model.project[0].weight.grad is not None and torch.isfinite(model.project[0].weight.grad).all()


# --- round 6 (acmil self-audit): max pooling with three classes and in padded batches, the
# one-bag mask, the output's shape checks, freeze, checkpointed_forward's arguments


def _identity_max_pool3() -> MaxPoolMIL:
    m = MaxPoolMIL(3, n_classes=3, embed_dim=3, dropout=0.0).eval()
    with torch.no_grad():
        for lin in (m.project[0], m.instance_classifier):
            lin.weight.copy_(torch.eye(3))
            lin.bias.zero_()
    return m


def test_max_pool_with_three_classes_ranks_by_logsumexp_of_the_positive_classes():
    """Instance logits [0, 2, 1.9] and [0, 0, 2.1]: evidence s = logsumexp(l[1:]) − l[0] =
    log(e² + e^1.9) = 2.6444 and log(1 + e^2.1) = 2.2155, so instance 0 wins (the last class
    alone, 1.9 < 2.1, would pick instance 1)."""
    x = torch.tensor([[0.0, 2.0, 1.9], [0.0, 0.0, 2.1]])
    out = _identity_max_pool3()(x)
    s = [math.log(math.exp(2.0) + math.exp(1.9)), math.log(1.0 + math.exp(2.1))]
    assert s[0] == pytest.approx(2.644397, abs=1e-5) and s[1] == pytest.approx(2.215520, abs=1e-5)
    torch.testing.assert_close(out.instance_scores[0, 0], torch.tensor(s))
    torch.testing.assert_close(out.logits, x[:1])
    torch.testing.assert_close(out.embedding, x[:1])


def test_max_pool_padded_batch_equals_each_bag_alone():
    """Bags of 2 and 3 instances in one padded batch: each row's one-hot pooling weight, logits
    and embedding are those of the bag alone (instance 1 of bag 0, instance 2 of bag 1)."""
    m = _identity_max_pool()
    bag0 = torch.tensor([[1.0, 0.0], [0.0, 3.0]])               # s = [-1, 3] -> instance 1
    bag1 = torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 4.0]])   # s = [1, -2, 4] -> instance 2
    x = torch.tensor([0.0, 100.0]).repeat(2, 3, 1)              # padding: s = 100, would win
    x[0, :2], x[1] = bag0, bag1
    mask = torch.tensor([[True, True, False], [True, True, True]])
    out = m(x, mask)
    torch.testing.assert_close(out.attention[:, 0], torch.tensor([[0.0, 1.0, 0.0],
                                                                  [0.0, 0.0, 1.0]]))
    torch.testing.assert_close(out.logits, torch.tensor([[0.0, 3.0], [0.0, 4.0]]))
    for b, bag in enumerate((bag0, bag1)):
        alone = m(bag)
        torch.testing.assert_close(out.logits[b], alone.logits[0])
        torch.testing.assert_close(out.embedding[b], alone.embedding[0])
        torch.testing.assert_close(out.attention[b, :, :len(bag)], alone.attention[0])


def test_a_single_bags_mask_is_applied():
    """One bag (N, D) with an (N,) mask is the bag of its unmasked rows; the padded row
    (garbage 1e3) gets exactly zero attention."""
    torch.manual_seed(0)
    model = ABMIL(4, embed_dim=8, attn_dim=4, dropout=0.0).eval()
    x = torch.randn(4, 4)
    x[2] = 1e3
    keep = torch.tensor([True, True, False, True])
    out, ref = model(x, keep), model(x[keep])
    torch.testing.assert_close(out.logits, ref.logits)
    assert out.mask.tolist() == [[True, True, False, True]]
    assert float(out.attention.detach()[0, 0, 2]) == 0.0


def test_output_and_mask_shapes_are_checked_on_every_axis():
    logits, mask = torch.randn(2, 1, 5), torch.ones(2, 5, dtype=torch.bool)
    with pytest.raises(ValueError, match="bag embedding"):
        MILOutput(torch.randn(2, 2), logits, torch.randn(3, 8), mask)   # B = 3 embeddings
    with pytest.raises(ValueError, match="mask must be"):
        masked_softmax(logits, torch.ones(2, 1, dtype=torch.bool))       # (B, 1) would broadcast


def test_freeze_switches_off_every_gradient_and_returns_the_module():
    model = ABMIL(4, embed_dim=8, attn_dim=4)
    assert freeze(model) is model
    assert [p.requires_grad for p in model.parameters()] == [False] * len(list(model.parameters()))


def test_checkpointed_forward_rejects_chunk_zero_and_batches_and_matches_the_model():
    torch.manual_seed(0)
    model = ABMIL(4, embed_dim=8, attn_dim=4, dropout=0.0).eval()
    x = torch.randn(5, 4)
    with pytest.raises(ValueError, match="chunk=0"):
        checkpointed_forward(model, x, chunk=0)
    with pytest.raises(ValueError, match="one bag"):
        checkpointed_forward(model, x[None])
    torch.testing.assert_close(checkpointed_forward(model, x, chunk=2).logits, model(x).logits)


# --- round 7: the gated scorer's own tanh and gate layers, checkpointed_forward at chunk = 1,
# as_batch's rank check, the output's rank checks on every tensor


@pytest.mark.parametrize("gated, n_params", [(True, 159), (False, 131)])
def test_gated_attention_has_its_own_tanh_and_gate_layers(gated, n_params):
    """ABMIL(8, C 3, E 6, A 4, K 2): W₀ 8·6 + 6 = 54, V 6·4 + 4 = 28, U (gated) 28, w 4·2 + 2 = 10,
    classifier (2·6)·3 + 3 = 39: 159 gated, 131 tanh. A gate reusing V's Linear would compute
    tanh(Vh) ⊙ σ(Vh) and drop 28 parameters."""
    model = ABMIL(8, 3, embed_dim=6, attn_dim=4, gated=gated, n_branches=2)
    assert sum(p.numel() for p in model.parameters()) == n_params
    if gated:
        assert model.attention.gate[0] is not model.attention.tanh[0]
        assert model.attention.gate[0].weight.data_ptr() != model.attention.tanh[0].weight.data_ptr()


def test_checkpointed_forward_accepts_chunk_one():
    """chunk = 1 is the smallest chunk (one instance per checkpoint): the model's output."""
    torch.manual_seed(0)
    model = ABMIL(4, embed_dim=8, attn_dim=4, dropout=0.0).eval()
    x = torch.randn(3, 4)
    torch.testing.assert_close(checkpointed_forward(model, x, chunk=1).logits, model(x).logits)
    with pytest.raises(ValueError, match="chunk=-1"):
        checkpointed_forward(model, x, chunk=-1)


def test_as_batch_takes_rank_2_and_3_only_and_a_bag_with_one_real_instance():
    """(N,) and (B, N, D, 1) features are refused (not silently reshaped); a bag with exactly
    one unmasked instance is the smallest accepted bag."""
    for bad in (torch.zeros(3), torch.zeros(1, 2, 3, 1)):
        with pytest.raises(ValueError, match="expected features"):
            as_batch(bad, None)
    x, mask = as_batch(torch.zeros(2, 3, 4), torch.tensor([[1, 0, 0], [0, 0, 1]]))
    assert x.shape == (2, 3, 4) and mask.dtype == torch.bool and mask.sum().item() == 2


def test_output_rank_and_batch_checks_on_every_tensor():
    """Logits (B,) or (B, C, 1), embedding (B, E, 1), a mask of another batch size or rank:
    each refused by name (each would broadcast or be read along the wrong axis later)."""
    logits, mask = torch.randn(2, 1, 5), torch.ones(2, 5, dtype=torch.bool)
    for bad in (torch.randn(2), torch.randn(2, 2, 1)):
        with pytest.raises(ValueError, match="bag logits"):
            MILOutput(bad, logits, torch.randn(2, 8), mask)
    with pytest.raises(ValueError, match="bag embedding"):
        MILOutput(torch.randn(2, 2), logits, torch.randn(2, 8, 1), mask)
    for bad in (torch.ones(3, 5, dtype=torch.bool), torch.ones(2, 1, 5, dtype=torch.bool)):
        with pytest.raises(ValueError, match="mask must be"):
            masked_softmax(logits, bad)
    with pytest.raises(ValueError, match="heads H"):
        masked_softmax(torch.randn(2, 1, 1, 5), mask)


# --- round 8: defaults and options --------------------------------------------------------------
def _r8_twins(make_default, make_explicit, x, seed=0):
    """Both factories under one seed give the same parameters, and (same seed again) the same
    training-mode output, dropout included: the defaults *are* the explicit values."""
    from milhelpers.models import MILOutput as _Out
    torch.manual_seed(seed)
    a = make_default()
    torch.manual_seed(seed)
    b = make_explicit()
    sa, sb = a.state_dict(), b.state_dict()
    assert {k: v.shape for k, v in sa.items()} == {k: v.shape for k, v in sb.items()}
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    a.train(), b.train()
    torch.manual_seed(seed + 1)
    oa = a(x)
    torch.manual_seed(seed + 1)
    ob = b(x)
    pairs = (((oa.logits, ob.logits), (oa.attention_logits, ob.attention_logits))
             if isinstance(oa, _Out) else ((oa, ob),))
    for ta, tb in pairs:
        torch.testing.assert_close(ta, tb, rtol=0, atol=0)
    return a, oa


@pytest.mark.parametrize("which", ["abmil", "mean", "max", "scorer"])
def test_r8_model_defaults_are_the_papers_values(which):
    """ABMIL (Ilse et al., ICML 2018): gated attention, one branch; CLAM's 'small' preset (Lu et
    al., Nat. Biomed. Eng. 2021): 512 → 256, dropout 0.25 in the projection and in the attention
    net; two classes. The pooling baselines share the projection. A default built under a seed
    equals the explicit model, and in training drops a quarter of the projection."""
    from milhelpers.models.abmil import AttentionScorer
    x = torch.randn(1, 40, 8)
    if which == "abmil":
        m, out = _r8_twins(lambda: ABMIL(8), lambda: ABMIL(8, 2, 512, 256, True, 0.25, 1), x)
        assert out.logits.shape == (1, 2) and m.attention.gate is not None
    elif which == "mean":
        m, _ = _r8_twins(lambda: MeanPoolMIL(8), lambda: MeanPoolMIL(8, 2, 512, 0.25), x)
    elif which == "max":
        m, _ = _r8_twins(lambda: MaxPoolMIL(8), lambda: MaxPoolMIL(8, 2, 512, 0.25), x)
    else:
        h = torch.randn(1, 40, 16)
        s, out = _r8_twins(lambda: AttentionScorer(16), lambda: AttentionScorer(16, 256, 1, True, 0.25),
                           h)
        assert out.shape == (1, 40, 1)
        return
    # the projection's dropout: ≈ 25 % of the positive entries zeroed, the rest × 4/3
    m.train()
    with torch.no_grad():
        clean = m.project[1](m.project[0](x))
        torch.manual_seed(3)
        noisy = m.project(x)
    on = clean > 0
    share = (noisy[on] == 0).float().mean().item()
    assert 0.2 < share < 0.3
    kept = on & (noisy != 0)
    torch.testing.assert_close(noisy[kept], clean[kept] * 4 / 3)


@pytest.mark.parametrize("gated", [True, False])
def test_r8_attention_scorer_gated_option_gives_its_own_formula(gated):
    """gated: e = wᵀ(tanh(V h) ⊙ σ(U h)); not gated: e = wᵀ tanh(V h) (Ilse et al. 2018)."""
    from milhelpers.models.abmil import AttentionScorer
    torch.manual_seed(0)
    s = AttentionScorer(6, 4, 2, gated=gated, dropout=0.0)
    h = torch.randn(3, 5, 6)
    V = s.tanh[0]
    ref = torch.tanh(h @ V.weight.T + V.bias)
    if gated:
        U = s.gate[0]
        ref = ref * torch.sigmoid(h @ U.weight.T + U.bias)
    else:
        assert s.gate is None
    torch.testing.assert_close(s(h), ref @ s.score.weight.T + s.score.bias)
    m = ABMIL(6, gated=gated, dropout=0.0)
    assert (m.attention.gate is not None) == gated and m.gated == gated


def test_r8_base_helpers_defaults_without_a_mask_or_extras():
    """Without a mask every instance is real: as_batch gives an all-True mask, mask_logits leaves
    the logits as they are and masked_softmax is the plain softmax; without extras a model's
    instance scores are its attention logits; slide_attention averages the heads."""
    from milhelpers.models import mask_logits, masked_softmax, slide_attention
    torch.manual_seed(0)
    x, mask = as_batch(torch.randn(5, 3), None)
    assert x.shape == (1, 5, 3) and mask.dtype == torch.bool and mask.all()
    logits = torch.randn(2, 3, 5)
    assert torch.equal(mask_logits(logits, None), logits)
    torch.testing.assert_close(masked_softmax(logits, None), torch.softmax(logits, -1))
    out = MILOutput(torch.zeros(2, 2), logits, torch.zeros(2, 4), torch.ones(2, 5, dtype=torch.bool))
    assert out.extras == {} and torch.equal(out.instance_scores, logits)
    a = torch.softmax(logits, -1)
    torch.testing.assert_close(slide_attention(a), (a[:, 0] + a[:, 1] + a[:, 2]) / 3)


@pytest.mark.parametrize("logits_shape, mask_shape", [
    ((1, 1, 3), (1, 4)),        # N differs: longer mask
    ((1, 1, 3), (1, 2)),        # N differs: shorter mask
    ((2, 1, 3), (1, 3)),        # B differs
    ((1, 1, 3), (1, 3, 1)),     # 3-D mask with the right B and N
])
def test_r10_miloutput_refuses_a_mask_that_does_not_match_its_attention(logits_shape, mask_shape):
    """MILOutput must check its mask against its attention logits (ValueError naming the expected
    (B, N)). Catches the check called without the mask, a dropped B or ndim test, a mismatch
    test widened to 'longer only', and a different exception type."""
    b = logits_shape[0]
    expected = rf"mask must be \(B, N\) = \({b}, {logits_shape[2]}\)"
    with pytest.raises(ValueError, match=expected):
        MILOutput(torch.zeros(b, 2), torch.zeros(logits_shape), torch.zeros(b, 4),
                  torch.ones(mask_shape, dtype=torch.bool))


def test_r10_miloutput_attention_uses_its_mask_and_averages_heads_per_bag():
    """Two padded bags, two heads, hand-computed softmax. Catches the attention property ignoring
    the mask (bag 0's padded logit 99 would take all the weight) and the slide attention reducing
    over the wrong axis or summing instead of averaging the heads."""
    ln2, ln3 = math.log(2.0), math.log(3.0)
    logits = torch.tensor([[[0.0, ln3, 99.0], [0.0, 0.0, 5.0]],
                           [[0.0, 0.0, 0.0], [ln2, 0.0, 0.0]]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    out = MILOutput(torch.zeros(2, 2), logits, torch.zeros(2, 4), mask)
    expected = torch.tensor([[[1 / 4, 3 / 4, 0.0], [1 / 2, 1 / 2, 0.0]],
                             [[1 / 3, 1 / 3, 1 / 3], [1 / 2, 1 / 4, 1 / 4]]], dtype=torch.float64)
    torch.testing.assert_close(out.attention, expected)
    torch.testing.assert_close(out.slide_attention, torch.tensor(
        [[3 / 8, 5 / 8, 0.0], [5 / 12, 7 / 24, 7 / 24]], dtype=torch.float64))


# --- round 12: checkpointed_forward's every output and gradient, n_classes and dropout of the
# baselines, ABMIL's instance embeddings


def test_r12_checkpointed_forward_matches_every_output_and_its_gradients():
    """N = 5 in chunks of 2 (eval, no dropout): logits, the raw attention logits (1, 1, N),
    the embedding, an all-True (1, N) mask, and the gradients of the input and every weight
    are the model's own."""
    torch.manual_seed(0)
    model = ABMIL(4, embed_dim=8, attn_dim=4, dropout=0.0).eval()
    x = torch.randn(5, 4)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ck, ref = checkpointed_forward(model, xa, chunk=2), model(xb)
    torch.testing.assert_close(ck.logits, ref.logits)
    torch.testing.assert_close(ck.attention_logits, ref.attention_logits)
    torch.testing.assert_close(ck.embedding, ref.embedding)
    assert ck.mask.tolist() == [[True] * 5] and ck.mask.dtype == torch.bool
    torch.testing.assert_close(ck.attention, ref.attention)
    grads = []
    for out, xi in ((ck, xa), (ref, xb)):
        model.zero_grad()
        out.logits[0, 1].backward()
        grads.append([xi.grad.clone()] + [p.grad.clone() for p in model.parameters()])
    for g1, g2 in zip(*grads):
        torch.testing.assert_close(g1, g2)


def test_r12_baselines_keep_their_n_classes_and_dropout():
    for cls in (ABMIL, MeanPoolMIL, MaxPoolMIL):
        model = cls(4, n_classes=3, embed_dim=6)
        assert model.n_classes == 3, cls
        assert model(torch.randn(5, 4)).logits.shape == (1, 3), cls
        torch.manual_seed(0)
        quiet = cls(4, embed_dim=6, dropout=0.0).train()
        x = torch.randn(2, 7, 4)
        torch.testing.assert_close(quiet(x).logits, quiet(x).logits)   # no dropout at all
        assert cls(4, embed_dim=6, dropout=0.5).project[2].p == 0.5, cls


def test_r12_abmil_hands_back_its_instance_embeddings_with_their_gradient():
    """extras['instance_embeddings'] is h = ReLU(W₀ x) of every instance (padding included),
    still attached to the graph (MHIM v2's class-aware score trains through it)."""
    torch.manual_seed(0)
    model = ABMIL(4, embed_dim=6, attn_dim=3, dropout=0.0).eval()
    x, mask = torch.randn(2, 5, 4), torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out = model(x, mask)
    h = out.extras["instance_embeddings"]
    torch.testing.assert_close(h, torch.relu(x @ model.project[0].weight.T + model.project[0].bias))
    assert h.requires_grad
    h.sum().backward()
    assert model.project[0].weight.grad is not None
    assert model.project[0].weight.grad.abs().sum() > 0


def test_r12_checkpointed_forward_builds_its_mask_on_the_bags_device():
    """On the meta device (shapes only) every output, the all-True mask too, stays there."""
    model = ABMIL(4, embed_dim=8, attn_dim=4, dropout=0.0).eval().to("meta")
    out = checkpointed_forward(model, torch.randn(5, 4, device="meta"), chunk=2)
    assert out.mask.device.type == "meta" and out.mask.shape == (1, 5)
    assert out.mask.dtype == torch.bool
    assert out.logits.device.type == out.attention_logits.device.type == "meta"
    assert out.attention_logits.shape == (1, 1, 5)


def test_r12_max_pool_hands_back_every_instances_logits_and_evidence():
    """extras: 'instance_logits' (B, N, C) = W h_k of every instance, 'instance_scores' (B, 1, N)
    = logsumexp(l_k[1:]) − l_k[0] with padding at the dtype minimum (3 classes, B = 2)."""
    torch.manual_seed(0)
    model = MaxPoolMIL(4, n_classes=3, embed_dim=5, dropout=0.0).eval()
    x, mask = torch.randn(2, 4, 4), torch.tensor([[True] * 4, [True, True, False, False]])
    with torch.no_grad():
        out = model(x, mask)
        inst = model.instance_classifier(model.project(x))
    torch.testing.assert_close(out.extras["instance_logits"], inst)
    s = torch.logsumexp(inst[..., 1:], -1) - inst[..., 0]
    got = out.extras["instance_scores"]
    assert got.shape == (2, 1, 4)
    torch.testing.assert_close(got[0, 0], s[0])
    torch.testing.assert_close(got[1, 0, :2], s[1, :2])
    assert (got[1, 0, 2:] == torch.finfo(got.dtype).min).all()


@pytest.mark.parametrize("cls", [ABMIL, MeanPoolMIL, MaxPoolMIL])
def test_r12_baselines_keep_every_output_on_the_bags_device(cls):
    model = cls(4, embed_dim=6).eval().to("meta")
    out = model(torch.randn(2, 5, 4, device="meta"))
    for t in (out.logits, out.attention_logits, out.embedding, out.mask):
        assert t.device.type == "meta"
    assert out.logits.shape == (2, 2) and out.attention_logits.shape == (2, 1, 5)


def test_r12_shape_errors_name_the_shapes_they_got():
    """Each check's message states the expected B and the shape received."""
    logits, mask = torch.randn(2, 1, 4), torch.ones(2, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"with B = 2; got \(3, 2\)"):
        MILOutput(torch.randn(3, 2), logits, torch.randn(2, 8), mask)
    with pytest.raises(ValueError, match=r"bag embedding must be \(B, E\) with B = 2; got \(3, 8\)"):
        MILOutput(torch.randn(2, 2), logits, torch.randn(3, 8), mask)
    with pytest.raises(ValueError, match=r"got shape \(2, 4\) \(add the head axis"):
        MILOutput(torch.randn(2, 2), logits[:, 0], torch.randn(2, 8), mask)
    with pytest.raises(ValueError, match=r"mask must be \(B, N\) = \(2, 4\) for attention logits "
                                         r"\(2, 1, 4\); got \(2, 5\)"):
        MILOutput(torch.randn(2, 2), logits, torch.randn(2, 8), torch.ones(2, 5, dtype=torch.bool))


def test_r12_as_batch_names_a_one_dimensional_input_as_given():
    with pytest.raises(ValueError, match=r"\(N, D\) or \(B, N, D\), got \(5,\)"):
        as_batch(torch.randn(5), None)
    with pytest.raises(ValueError, match=r"got \(1, 2, 3, 4\)"):
        as_batch(torch.randn(1, 2, 3, 4), None)


# --- audit 14's survivors ----------------------------------------------------------------------
def test_a14_mask_logits_keeps_the_logits_and_their_dtype_with_and_without_a_mask():
    """No mask: the logits come back unchanged in their own dtype (a float16/bfloat16 run must
    not be upcast here); with a mask the dtype is kept and padding holds the dtype's minimum.
    Catches a ``.float()`` on the unmasked path (audit 14)."""
    from milhelpers.models.base import mask_logits

    m = torch.tensor([[True, True, False], [True, False, False]])
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        x = torch.tensor([[[0.5, -1.0, 2.0]], [[1.0, 0.0, -3.0]]], dtype=dtype)   # (B 2, H 1, N 3)
        out = mask_logits(x, None)
        assert out.dtype == dtype and torch.equal(out, x)
        masked = mask_logits(x, m)
        low = torch.finfo(dtype).min
        assert masked.dtype == dtype and torch.equal(masked[0, 0, :2], x[0, 0, :2])
        assert masked[0, 0, 2] == low and masked[1, 0, 1:].eq(low).all() and masked[1, 0, 0] == 1.0
