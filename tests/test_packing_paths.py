"""PackMIL's less-travelled paths: caps on each part, the checks of the hyperslide target and of
packed inputs, a batch moved between devices, the slide sampler, the padding share's seed and
epochs, the ADS's evaluation and kept coordinates, and options handed from the method entry to
the loss. Hand-computed values on small inputs."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from milhelpers.datasets import Bag, ListBagDataset
from milhelpers.methods import BuildContext, packmil_method
from milhelpers.models import ABMIL, ADS, PackMIL
from milhelpers.packing import (PackedBatch, hyperslide_label, pack_collate, pack_tensors,
                                padded_token_share, sequential_packs, slide_batch_sampler,
                                split_slide)
from milhelpers.train import torch_threads
from same_model import assert_same_model


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _bags(lengths, labels=None, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = labels or [i % 2 for i in range(len(lengths))]
    return [Bag(torch.randn(n, d, generator=g), y, f"s{i}")
            for i, (n, y) in enumerate(zip(lengths, labels))]


def _identity_ads(dim, ratio, out_scale=1.0, out_bias=0.0):
    """ADS with uniform α (score's last layer zeroed), identity embedding and out = s·I + b."""
    ads = ADS(dim, ratio)
    with torch.no_grad():
        ads.score[-1].weight.zero_()
        ads.score[-1].bias.zero_()
        ads.embed[0].weight.copy_(torch.eye(dim))
        ads.embed[0].bias.zero_()
        ads.out.weight.copy_(out_scale * torch.eye(dim))
        ads.out.bias.fill_(out_bias)
    return ads


# ------------------------------------------------------------------------------- split caps
def test_each_part_is_capped_on_its_own_length():
    """cap = 20 on n = 100: p = 0.1 gives a main part of 10 (under the cap: kept whole, the
    first 10 of the permutation) and a residual part of 90 (capped to 20 of those 90); p = 0.9
    the other way round. Catches the residual's cap tested on the main part's length."""
    for p, k in ((0.1, 10), (0.9, 90)):
        perm = torch.randperm(100, generator=torch.Generator().manual_seed(3))
        main, res = split_slide(100, p, min_len=0, cap=20,
                                generator=torch.Generator().manual_seed(3))
        assert (len(main), len(res)) == (min(k, 20), min(100 - k, 20))
        assert set(main.tolist()) <= set(perm[:k].tolist())       # a subset of its own part
        assert set(res.tolist()) <= set(perm[k:].tolist())
        short = main if k < 20 else res                           # the uncapped part: whole
        whole = perm[:k] if k < 20 else perm[k:]
        assert short.tolist() == sorted(whole.tolist())


# ------------------------------------------------------------------- hyperslide target checks
def test_hyperslide_label_refuses_labels_outside_the_classes_on_both_ends():
    assert hyperslide_label([0, 1], torch.tensor([1.0, 1.0]), 2).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="labels must lie"):
        hyperslide_label([0, 2], torch.tensor([1.0, 1.0]), 2)      # 2 = n_classes: one too many
    with pytest.raises(ValueError, match="labels must lie"):
        hyperslide_label([-1, 0], torch.tensor([1.0, 1.0]), 2)
    with pytest.raises(ValueError, match="slides per row"):
        hyperslide_label([0, 1], torch.tensor([1.0, 1.0, 1.0]), 2)


def test_hyperslide_label_refuses_any_negative_count_and_any_empty_row():
    """One negative count among positive ones is refused, as is one all-zero row among (R, S)
    rows (it would give 0/0). Catches the checks written with .all() instead of .any()."""
    with pytest.raises(ValueError, match=">= 0"):
        hyperslide_label([0, 1], torch.tensor([3.0, -1.0]), 2)
    with pytest.raises(ValueError, match="no tokens"):
        hyperslide_label([0, 1], torch.tensor([[1.0, 2.0], [0.0, 0.0]]), 2)
    with pytest.raises(ValueError, match="no tokens"):
        hyperslide_label([0, 1], torch.tensor([[1.0, 2.0], [0.0, 0.0]]), 2, kind="tokenmix")


# ------------------------------------------------------------------------------ the batch
def test_packed_batch_moved_keeps_every_field_in_its_place():
    """to(device) returns the same tensors field by field (and model_kwargs rebuilt from them);
    n_slides counts slides (3 slides in 1 pack here), not packs."""
    bags = _bags([6, 8, 4])
    batch = pack_collate(p=0.5, max_len=64, min_len=0,
                         generator=torch.Generator().manual_seed(0))(bags)
    assert len(batch.features) == 1 and len(batch.residual_features) == 1
    moved = batch.to("cpu")
    for f in ("features", "mask", "slide_index", "labels", "residual_features", "residual_mask",
              "residual_slide_index", "residual_counts"):
        assert torch.equal(getattr(moved, f), getattr(batch, f)), f
        assert getattr(moved, f).dtype == getattr(batch, f).dtype, f
    assert moved.slide_ids == ["s0", "s1", "s2"]
    assert moved.residual_mask.dtype == torch.bool
    assert torch.equal(moved.model_kwargs["residual_mask"], batch.residual_mask)
    assert torch.equal(moved.model_kwargs["residual_slide_index"], batch.residual_slide_index)
    assert batch.n_slides == moved.n_slides == 3
    assert moved.residual_counts[0].tolist() == [3.0, 4.0, 2.0]   # n − ⌊n/2⌋ each


def test_batch_without_residual_branch_has_no_targets_and_keeps_given_kwargs():
    bags = _bags([6, 8])
    batch = pack_collate(p=1.0, max_len=64, min_len=0)(bags)   # p = 1: every residual part empty
    assert batch.residual_features is None and set(batch.model_kwargs) == {"slide_index"}
    with pytest.raises(ValueError, match="no residual packs"):
        batch.hyperslide_labels(2)
    given = PackedBatch(batch.features, batch.mask, batch.slide_index, batch.labels, ["a", "b"],
                        model_kwargs={"slide_index": batch.slide_index, "extra": 1})
    assert given.model_kwargs["extra"] == 1
    with pytest.raises(ValueError, match="empty batch"):
        pack_collate()([])


# ---------------------------------------------------------------------------- the sampler
def test_slide_batch_sampler_honours_drop_last_and_its_generator():
    """5 slides in batches of 2: [2, 2, 1] or, with drop_last, [2, 2]; every slide once per
    epoch. The order comes from the generator handed in, whatever torch's global seed."""
    ds = ListBagDataset(_bags([3] * 5))
    keep = list(slide_batch_sampler(2)(ds, torch.Generator().manual_seed(0)))
    assert [len(b) for b in keep] == [2, 2, 1]
    assert sorted(i for b in keep for i in b) == list(range(5))
    drop = list(slide_batch_sampler(2, drop_last=True)(ds, torch.Generator().manual_seed(0)))
    assert [len(b) for b in drop] == [2, 2]
    ds10 = ListBagDataset(_bags([3] * 10))

    def order(gen_seed, global_seed):
        torch.manual_seed(global_seed)
        sampler = slide_batch_sampler(10)(ds10, torch.Generator().manual_seed(gen_seed))
        return list(sampler)[0]
    assert order(1, 0) == order(1, 5) == order(1, 9)              # the generator decides
    assert len({tuple(order(s, 0)) for s in range(4)}) > 1        # and its seed matters
    with pytest.raises(ValueError, match="batch_size"):
        slide_batch_sampler(0)


# ------------------------------------------------------------------------- padding share
def _share_by_hand(lengths, batch_size, orders):
    """1 − Σ real / Σ_batches (bags in batch · longest), over the given shuffles."""
    real = padded = 0
    for order in orders:
        for s in range(0, len(order), batch_size):
            chunk = [lengths[i] for i in order[s:s + batch_size]]
            real += sum(chunk)
            padded += len(chunk) * max(chunk)
    return 1 - real / padded


def test_padded_token_share_follows_its_seed_and_averages_over_its_epochs():
    """Lengths 2, 2, 8, 8 in pairs: {2, 2} + {8, 8} pads nothing (share 0), {2, 8} + {2, 8} pads
    to 32 tokens for 20 (share 0.375). The shuffles are numpy's default_rng(seed), one
    permutation per epoch."""
    lengths = [2, 2, 8, 8]
    assert _share_by_hand(lengths, 2, [[0, 1, 2, 3]]) == 0.0
    assert _share_by_hand(lengths, 2, [[0, 2, 1, 3]]) == pytest.approx(0.375)
    seen = set()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        orders = [rng.permutation(4).tolist() for _ in range(3)]
        want = _share_by_hand(lengths, 2, orders)
        assert padded_token_share(lengths, 2, seed=seed, epochs=3) == pytest.approx(want)
        first = _share_by_hand(lengths, 2, orders[:1])
        assert padded_token_share(lengths, 2, seed=seed, epochs=1) == pytest.approx(first)
        seen.add(round(want, 6))
    assert len(seen) > 1                                          # the seed changes the draw
    assert padded_token_share(lengths, 2, seed=4, epochs=3) == \
        padded_token_share(lengths, 2, seed=4, epochs=3)          # and is reproducible


# ----------------------------------------------------------------------------- pack_tensors
def test_pack_tensors_pads_to_the_longest_pack_even_when_it_is_not_the_first():
    parts = [torch.full((1, 2), 1.0), torch.full((3, 2), 2.0)]
    x, mask, index = pack_tensors(parts, [[0], [1]])
    assert x.shape == (2, 3, 2)
    assert index.tolist() == [[0, -1, -1], [1, 1, 1]]
    assert mask.tolist() == [[True, False, False], [True, True, True]]
    assert x[:, :, 0].tolist() == [[1, 0, 0], [2, 2, 2]]
    with pytest.raises(ValueError, match="no packs"):
        pack_tensors([], [])


# ----------------------------------------------------------------------------------- ADS
def test_ads_eval_part_is_the_per_token_map_through_the_out_layer():
    """Eval forward_part on n = 4 tokens, uniform α = 1/4, identity embedding, out = 2·I + 1:
    2·GELU(1.25·x) + 1 per token, as the batched per-token forward gives."""
    torch.manual_seed(0)
    ads = _identity_ads(3, 2, out_scale=2.0, out_bias=1.0).eval()
    x = torch.randn(4, 3)
    want = 2 * F.gelu(1.25 * x) + 1
    torch.testing.assert_close(ads.forward_part(x), want)
    torch.testing.assert_close(ads(x[None])[0], want)


def test_ads_training_keeps_coordinates_from_all_r_times_d_grouped_ones():
    """Identity ADS, D = 8, r = 2, six identical tokens v = (1 … 8): grouped, coordinate j sits
    at positions 2j and 2j + 1 of 16, and the D = 8 kept positions are drawn from all 16, so
    some draw keeps a coordinate j ≥ 4 (value GELU(7/6·v_j) > GELU(7/6·4)). Keeping only from the
    first D positions would never leave coordinates 0 … 3."""
    torch.manual_seed(0)
    ads = _identity_ads(8, 2).train()
    v = torch.arange(1, 9.0)
    top = 0.0
    for _ in range(5):
        with torch.no_grad():
            out = ads.forward_part(v.repeat(6, 1))
        assert out.shape == (3, 8)
        top = max(top, float(out.max()))
    assert top > float(F.gelu(torch.tensor(4 * 7 / 6))) + 1e-3


def test_ads_ratio_must_be_an_integer_of_at_least_two_and_one_means_none():
    for bad in (2.5, 1, True, 0):
        with pytest.raises(ValueError, match="ads_ratio"):
            ADS(6, bad)
    assert ADS(6, 2.0).ratio == 2 and isinstance(ADS(6, 2.0).ratio, int)
    assert PackMIL(6, 2, embed_dim=8, attn_dim=4, ads_ratio=1).ads is None
    assert PackMIL(6, 2, embed_dim=8, attn_dim=4, ads_ratio=None).ads is None
    assert PackMIL(6, 2, embed_dim=8, attn_dim=4, ads_ratio=3).ads.ratio == 3


def test_unpacked_forward_with_ads_on_a_padded_batch_gives_each_bag_alone():
    """Inference on a padded batch (5 and 3 tokens, padding filled with 1e3): the ADS re-weights
    over each bag's real tokens only, so every row equals the bag alone."""
    torch.manual_seed(0)
    model = PackMIL(6, 2, embed_dim=8, attn_dim=4, ads_ratio=2).eval()
    a, b = torch.randn(5, 6), torch.randn(3, 6)
    x = torch.full((2, 5, 6), 1e3)
    x[0], x[1, :3] = a, b
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    with torch.no_grad():
        out = model(x, mask)
        for i, bag in enumerate((a, b)):
            torch.testing.assert_close(out.logits[i], model(bag).logits[0], atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------- packed input checks
def test_packed_forward_refuses_malformed_inputs():
    model = PackMIL(6, 2, embed_dim=8, attn_dim=4).eval()
    x = torch.randn(1, 4, 6)
    with pytest.raises(ValueError, match="packed features"):
        model(x, slide_index=torch.tensor([[0, 0, 1, 1, 1]]))     # T = 5 for 4 tokens
    with pytest.raises(ValueError, match="packed features"):
        model(x[0], slide_index=torch.tensor([0, 0, 1, 1]))       # not (P, T, D)
    with pytest.raises(ValueError, match="every slide present"):
        model(x, slide_index=torch.tensor([[0, 0, 2, 2]]))        # slide 1 missing
    ads_model = PackMIL(6, 2, embed_dim=8, attn_dim=4, ads_ratio=2).train()
    with pytest.raises(ValueError, match="residual_slide_index"):
        ads_model(x, slide_index=torch.tensor([[0, 0, 1, 1]]), residual=torch.randn(1, 3, 6),
                  residual_mask=torch.ones(1, 3, dtype=torch.bool))


# ----------------------------------------------------------------- options of the method
def test_packmil_method_hands_its_options_to_collate_model_and_loss():
    method = packmil_method(p=0.25, max_len=64, min_len=8, ads_ratio=2, alpha=0.5)
    assert method.name == "packmil_p0.25_L64_min8_ads2_alpha0.5"
    c = method.collate_fn
    assert (c.p, c.max_len, c.min_len, c.ads_ratio, c.residual) == (0.25, 64, 8, 2, True)
    model = method.build_model(BuildContext(in_dim=6, n_classes=2, fold=0, seed=0))
    assert model.ads.ratio == 2
    (term,) = method.loss_terms(model)
    assert term.weight == 0.5
    assert packmil_method(name="mine").name == "mine"
    assert packmil_method(batch_size=8, lr=1e-3).name == "packmil_B8_lr0.001"


def test_packmil_focal_option_trains_the_hyperslides_with_focal_loss():
    """hyperslide_loss='focal': with b the per-entry BCE, the term is mean 0.25·(1 − e^{−b})²·b
    over hyperslides × classes (not the plain BCE mean)."""
    torch.manual_seed(0)
    model = PackMIL(6, 2, embed_dim=8, attn_dim=4).eval()
    bags = _bags([9, 20, 4, 13, 30], [0, 1, 1, 0, 1])
    batch = pack_collate(p=0.5, max_len=24, min_len=5,
                         generator=torch.Generator().manual_seed(2))(bags)
    with torch.no_grad():
        out = model(batch.features, batch.mask, **batch.model_kwargs)
    (term,) = packmil_method(hyperslide_loss="focal").loss_terms(model)
    hyper = out.extras["hyperslide_logits"]
    q = []
    for r in range(len(hyper)):                                  # multi-hot target by hand
        members = set(batch.residual_slide_index[r][batch.residual_mask[r]].tolist())
        n_c = [sum(bags[s].label == c for s in members) for c in (0, 1)]
        q.append([v / max(n_c) for v in n_c])
    b = F.binary_cross_entropy_with_logits(hyper, torch.tensor(q), reduction="none")
    focal = float((0.25 * (1 - torch.exp(-b)) ** 2 * b).mean())
    assert float(term.fn(out, batch, None)) == pytest.approx(focal, rel=1e-5)
    assert focal < 0.5 * float(b.mean())                          # far from the BCE mean
    assert not math.isclose(focal, float(b.mean()))


# ------------------------------------------------------------- collate boundaries with ADS
def test_collate_splits_at_min_len_times_r_and_caps_at_max_len_times_r():
    """r = 2, min_len = 4, L = 3: slides under 4·2 = 8 instances go whole to both branches,
    parts are capped at 3·2 = 6 instances (⌈6/2⌉ = 3 tokens after ADS, one pack each).
    n = 7: whole (7) to both, capped to 6 each; n = 8: split 4 | 4; n = 12: 6 | 6, at the cap,
    kept; n = 14: 7 | 7, both capped to 6."""
    bags = _bags([7, 8, 12, 14])
    batch = pack_collate(p=0.5, max_len=3, min_len=4, ads_ratio=2,
                         generator=torch.Generator().manual_seed(0))(bags)
    main = torch.bincount(batch.slide_index[batch.slide_index >= 0], minlength=4).tolist()
    res = torch.bincount(batch.residual_slide_index[batch.residual_slide_index >= 0],
                         minlength=4).tolist()
    assert main == [6, 4, 6, 6] and res == [6, 4, 6, 6]
    assert batch.features.shape[:2] == (4, 6)               # ⌈6/2⌉, ⌈4/2⌉, 3, 3 tokens: 4 packs
    assert batch.residual_counts.tolist() == [[3, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0],
                                              [0, 0, 0, 3]]

    def rows(feats, index, s):
        return {tuple(r) for r in feats[index == s].tolist()}
    own = [{tuple(r) for r in b.features.tolist()} for b in bags]
    m0, r0 = rows(batch.features, batch.slide_index, 0), rows(
        batch.residual_features, batch.residual_slide_index, 0)
    assert m0 <= own[0] and r0 <= own[0] and len(m0 & r0) >= 5   # both from all 7: overlap
    for s in (1, 2):                                          # split: disjoint, together whole
        m, r = rows(batch.features, batch.slide_index, s), rows(
            batch.residual_features, batch.residual_slide_index, s)
        assert not m & r and m | r == own[s]


# --- round 7: the ADS's score, embedding and output maps are distinct layers
def test_ads_has_its_own_score_embedding_and_output_layers():
    """ADS(6, r 2, hidden 4): score 6·4 + 4 + 4·1 + 1 = 33, embedding 6·6 + 6 = 42, output 42:
    117 parameters in four distinct Linear layers (an output map reusing the embedding's Linear
    would apply one matrix twice and drop 42 parameters)."""
    ads = ADS(6, 2, hidden=4)
    layers = (ads.score[0], ads.score[2], ads.embed[0], ads.out)
    assert len({id(m) for m in layers}) == 4 and len({m.weight.data_ptr() for m in layers}) == 4
    assert sum(p.numel() for p in ads.parameters()) == 117


# --- audit 8 survivors
def test_packmil_gated_false_builds_a_tanh_only_scorer_like_abmil():
    """in 6, E 4, A 3, C 2. gated=False: W₀ 6·4 + 4 = 28, V 4·3 + 3 = 15, w 3 + 1 = 4, classifier
    4·2 + 2 = 10: 57 parameters; gated=True adds U (15): 72. The ungated model takes the weights
    of ABMIL(gated=False) exactly and then gives its outputs, whole-slide and packed."""
    torch.manual_seed(0)
    plain = PackMIL(6, 2, embed_dim=4, attn_dim=3, gated=False, dropout=0.0).eval()
    gated = PackMIL(6, 2, embed_dim=4, attn_dim=3, gated=True, dropout=0.0)
    assert sum(p.numel() for p in plain.parameters()) == 57
    assert sum(p.numel() for p in gated.parameters()) == 72
    torch.manual_seed(1)
    ref = ABMIL(6, 2, embed_dim=4, attn_dim=3, gated=False, dropout=0.0).eval()
    plain.load_state_dict(ref.state_dict())                 # strict: no gate weights missing
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(plain(x).logits, ref(x).logits)
        packed = plain(x[None], slide_index=torch.tensor([[0, 0, 0, 1, 1, 1, 1]]))
        torch.testing.assert_close(packed.logits, torch.cat([ref(x[:3]).logits,
                                                             ref(x[3:]).logits]))


# --- round 8: defaults and options --------------------------------------------------------------
def test_r8_packmil_defaults_are_clams_gated_abmil_without_ads():
    """PackMIL (Tang, Fang et al., arXiv 2509.20923) aggregates with gated ABMIL; here with CLAM's
    small preset (512 → 256, dropout 0.25) and no ADS unless asked. The default model under a seed
    is that ABMIL, parameter for parameter, and its training output (dropout draws) is too."""
    x = torch.randn(1, 30, 8)
    torch.manual_seed(0)
    p = PackMIL(8)
    torch.manual_seed(0)
    a = ABMIL(8, 2, 512, 256, True, 0.25, 1)
    assert p.ads is None
    assert_same_model(p, a, x)


@pytest.mark.parametrize("gated", [True, False])
def test_r8_packmil_gated_option_is_abmils_with_the_same_weights(gated):
    """PackMIL(gated=g) ≡ ABMIL(gated=g) from the same seed: the same parameters, the same
    whole-slide output, and packed slides that each get their ABMIL output alone."""
    torch.manual_seed(0)
    p = PackMIL(6, 2, embed_dim=16, attn_dim=8, gated=gated, dropout=0.0).eval()
    torch.manual_seed(0)
    a = ABMIL(6, 2, embed_dim=16, attn_dim=8, gated=gated, dropout=0.0).eval()
    assert (p.attention.gate is not None) == gated
    sp, sa = p.state_dict(), a.state_dict()
    assert sp.keys() == sa.keys() and all(torch.equal(sp[k], sa[k]) for k in sp)
    b0, b1 = torch.randn(5, 6), torch.randn(7, 6)
    torch.testing.assert_close(p(b0).logits, a(b0).logits, rtol=0, atol=0)
    index = torch.tensor([[0] * 5 + [1] * 7])
    out = p(torch.cat([b0, b1])[None], index >= 0, slide_index=index)
    ref = torch.cat([a(b0).logits, a(b1).logits])
    torch.testing.assert_close(out.logits, ref, atol=1e-6, rtol=1e-5)


def test_r8_ads_default_hidden_width():
    """The ADS scorer's hidden width defaults to 128 (this package's choice): ADS(D, r) is
    ADS(D, r, 128) parameter for parameter and in its per-token output."""
    torch.manual_seed(0)
    a = ADS(8, 2)
    torch.manual_seed(0)
    b = ADS(8, 2, 128)
    assert a.score[0].out_features == 128
    sa, sb = a.state_dict(), b.state_dict()
    assert all(sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k]) for k in sb)
    x = torch.randn(1, 5, 8)
    torch.testing.assert_close(a.eval()(x), b.eval()(x), rtol=0, atol=0)


@pytest.mark.parametrize("factory", ["function", "class"])
def test_r8_pack_collate_defaults_by_hand(factory):
    """pack_collate() / PackCollate(): p = 0.5, L = 256, min_len 16, no ADS, residual branch on.
    Bags of 10, 40 and 600: the 10 (< 16) go whole to both branches, the 40 split 20 / 20, the
    600 split 300 / 300 and each part capped at 256; main parts [10, 20, 256] pack as
    [[0, 1], [2]], and so do the residual parts."""
    from milhelpers.packing import PackCollate
    bags = _bags([10, 40, 600], d=4)
    g = torch.Generator().manual_seed(0)
    coll = pack_collate(generator=g) if factory == "function" else PackCollate(generator=g)
    batch = coll(bags)
    assert batch.features.shape == (2, 256, 4)
    assert [int((batch.slide_index == s).sum()) for s in range(3)] == [10, 20, 256]
    assert batch.residual_counts.tolist() == [[10.0, 20.0, 0.0], [0.0, 0.0, 256.0]]
    # the 10-instance bag's main part is the whole bag, in order
    torch.testing.assert_close(batch.features[0, :10], bags[0].features, rtol=0, atol=0)


@pytest.mark.parametrize("residual", [True, False])
def test_r8_pack_collate_residual_option_both_values(residual):
    batch = pack_collate(residual=residual, generator=torch.Generator().manual_seed(0))(
        _bags([20, 30], d=4))
    assert (batch.residual_features is not None) == residual
    assert ("residual" in batch.model_kwargs) == residual
    if residual:
        assert batch.residual_counts.tolist() == [[10.0, 15.0]]


def test_r8_split_slide_and_compressed_length_defaults():
    """split_slide without min_len splits even a short slide (min_len 0), and without cap keeps
    every instance; compressed_length's default ratio 1 leaves n as it is."""
    from milhelpers.packing import compressed_length
    main, res = split_slide(5, 0.5, generator=torch.Generator().manual_seed(0))
    assert (len(main), len(res)) == (2, 3)
    main, res = split_slide(1000, 0.5, generator=torch.Generator().manual_seed(0))
    assert (len(main), len(res)) == (500, 500)
    assert compressed_length(7) == 7 and compressed_length(7, 2) == 4


@pytest.mark.parametrize("kind", [None, "multihot", "tokenmix"])
def test_r8_hyperslide_target_kinds_by_hand(kind):
    """One class-0 and two class-1 members with 30, 10 and 5 tokens: multihot (the authors'
    default) [1/2, 1]; tokenmix [30, 15]/45. PackedBatch.hyperslide_labels passes its kind on."""
    labels, counts = torch.tensor([0, 1, 1]), torch.tensor([[30.0, 10.0, 5.0]])
    want = torch.tensor([[2 / 3, 1 / 3]]) if kind == "tokenmix" else torch.tensor([[0.5, 1.0]])
    kw = {} if kind is None else {"kind": kind}
    torch.testing.assert_close(hyperslide_label(labels, counts, 2, **kw), want)
    batch = PackedBatch(torch.zeros(1, 3, 2), torch.ones(1, 3, dtype=torch.bool),
                        torch.tensor([[0, 1, 2]]), labels, ["a", "b", "c"],
                        residual_features=torch.zeros(1, 3, 2),
                        residual_mask=torch.ones(1, 3, dtype=torch.bool),
                        residual_slide_index=torch.tensor([[0, 1, 2]]), residual_counts=counts)
    torch.testing.assert_close(batch.hyperslide_labels(2, **kw), want)


# ------------------------------------------------------------------------------------------
# round 12: the audit-12 survivors and a sweep of packing.py, packmil.py and packmil_method
# ------------------------------------------------------------------------------------------
def test_r12_pack_tensors_keeps_the_parts_dtype():
    """float64 parts give float64 packs holding the exact values (1/3 is not rounded to float32);
    the mask is bool and the slide index long."""
    third = torch.full((2, 3), 1 / 3, dtype=torch.float64)
    x, mask, index = pack_tensors([third, torch.ones(1, 3, dtype=torch.float64)], [[0, 1]])
    assert x.dtype == torch.float64
    assert x[0, 0, 0].item() == 1 / 3 and x[0, 2].tolist() == [1.0, 1.0, 1.0]
    assert mask.dtype == torch.bool and index.dtype == torch.long
    assert index.tolist() == [[0, 0, 1]]
    assert pack_tensors([torch.ones(2, 3, dtype=torch.float64)], [[0]])[0].dtype == torch.float64


def test_r12_ads_packed_refuses_a_slide_split_across_packs_and_keeps_each_slides_number():
    """Slide 0 in both packs is refused. Slides 0 and 1 in pack 0 (2 tokens each) and slide 2
    in pack 1 (2 tokens), r = 2: one token per slide, the packs [[0, 1], [2, −1]]."""
    torch.manual_seed(0)
    ads = ADS(2, 2).train()
    with pytest.raises(AssertionError, match="split across packs"):
        ads.packed(torch.randn(2, 2, 2), torch.tensor([[0, 0], [0, 0]]))
    feats, index = ads.packed(torch.randn(2, 4, 2), torch.tensor([[0, 0, 1, 1], [2, 2, -1, -1]]))
    assert index.tolist() == [[0, 1], [2, -1]]
    assert feats.shape == (2, 2, 2) and feats[1, 1].tolist() == [0.0, 0.0]


def test_r12_packmil_method_validates_lr_and_batch_size():
    with pytest.raises(ValueError, match="lr"):
        packmil_method(lr=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        packmil_method(batch_size=0)
    assert packmil_method(lr=0.0).name == "packmil_lr0"


def test_r12_hyperslide_tokenmix_keeps_fractional_token_weights():
    """Token weights 0.5 and 1.5: the mixture is [0.25, 0.75] (not truncated to [0, 1]); 0.5
    and 0.5 give [0.5, 0.5] (not 'no tokens'); a multi-hot member of weight 0.5 counts."""
    got = hyperslide_label([0, 1], torch.tensor([0.5, 1.5]), 2, kind="tokenmix")
    assert got.tolist() == [0.25, 0.75]
    assert hyperslide_label([0, 1], torch.tensor([0.5, 0.5]), 2, kind="tokenmix").tolist() == \
        [0.5, 0.5]
    assert hyperslide_label([0, 1], torch.tensor([0.5, 0.0]), 2).tolist() == [1.0, 0.0]


def test_r12_hyperslide_label_takes_class_indices_given_as_floats():
    """labels as a float tensor [1., 0.] (token counts 2 and 1) are class indices: multi-hot
    [1, 1], mixture [1/3, 2/3]."""
    y = torch.tensor([1.0, 0.0])
    assert hyperslide_label(y, torch.tensor([2.0, 1.0]), 2).tolist() == [1.0, 1.0]
    torch.testing.assert_close(hyperslide_label(y, torch.tensor([2.0, 1.0]), 2, kind="tokenmix"),
                               torch.tensor([1 / 3, 2 / 3]))


def test_r12_integer_checks_hand_back_python_ints():
    """split_slide(4.0, …) below min_len: the whole slide as long indices 0 … 3; a batch size
    of 2.0 makes batches of 2."""
    main, res = split_slide(4.0, 0.5, min_len=10)
    assert main.dtype == res.dtype == torch.long
    assert main.tolist() == res.tolist() == [0, 1, 2, 3]
    ds = ListBagDataset(_bags([3] * 4))
    batches = list(slide_batch_sampler(2.0)(ds, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [2, 2]


def test_r12_collate_checks_p_and_ads_ratio_when_built():
    for p in (0, 0.0, 1.5, -0.5):
        with pytest.raises(ValueError, match=r"p=.*\(0, 1\]"):
            pack_collate(p=p)
    assert pack_collate(p=1.0).p == 1.0
    with pytest.raises(ValueError, match=r"ads_ratio=0 must be an integer >= 1 \(1 = no ADS\)"):
        pack_collate(ads_ratio=0)
    assert pack_collate(ads_ratio=1).ads_ratio == 1
    with pytest.raises(ValueError, match="min_len=-1 must be an integer >= 0"):
        pack_collate(min_len=-1)
    assert pack_collate(min_len=0).min_len == 0


def test_r12_sequential_packs_skips_empty_parts_and_goes_on():
    """[2, 0, 3, 0, 1] in packs of 4: part 0 alone (2 + 3 > 4), parts 2 and 4 together (3 + 1 =
    4); the empty parts 1 and 3 are left out, not the end of the list."""
    assert sequential_packs([2, 0, 3, 0, 1], 4) == [[0], [2, 4]]
    assert sequential_packs([0, 0, 1], 1) == [[2]]
    with pytest.raises(ValueError, match="max_len=0 must be an integer >= 1"):
        sequential_packs([1], 0)


def test_r12_packed_batch_builds_its_model_kwargs_from_its_own_fields():
    """With residual packs, model_kwargs holds exactly slide_index, residual, residual_mask and
    residual_slide_index, each the batch's own tensor; an empty dict given is filled too."""
    x, mask, index = pack_tensors([torch.ones(2, 3), torch.zeros(1, 3)], [[0, 1]])
    rx, rmask, rindex = pack_tensors([torch.full((1, 3), 5.0), torch.full((2, 3), 7.0)], [[0], [1]])
    batch = PackedBatch(x, mask, index, torch.tensor([0, 1]), ["a", "b"], rx, rmask, rindex,
                        torch.tensor([[1.0, 0.0], [0.0, 2.0]]), model_kwargs={})
    kw = batch.model_kwargs
    assert set(kw) == {"slide_index", "residual", "residual_mask", "residual_slide_index"}
    assert kw["slide_index"] is index and kw["residual"] is rx
    assert kw["residual_mask"] is rmask and kw["residual_slide_index"] is rindex


def test_r12_collate_keeps_the_batch_order_of_slide_ids_and_labels():
    bags = [Bag(torch.randn(4, 3), 1, "b"), Bag(torch.randn(5, 3), 0, "a"),
            Bag(torch.randn(3, 3), 1, "c")]
    batch = pack_collate(max_len=64, min_len=0)(bags)
    assert batch.slide_ids == ["b", "a", "c"]
    assert batch.labels.tolist() == [1, 0, 1] and batch.labels.dtype == torch.long
    assert batch.coords == [None] * 3 and batch.instance_labels == [None] * 3


def test_r12_slide_batch_sampler_refuses_batch_size_zero_by_name():
    with pytest.raises(ValueError, match="batch_size=0 must be an integer >= 1"):
        slide_batch_sampler(0)


def test_r12_padded_token_share_defaults_are_seed_0_and_20_epochs():
    """Lengths 2, 2, 8, 8, 3 in pairs: the default is numpy default_rng(0)'s first 20
    permutations, by hand (neither seed 1 nor 10 or 21 epochs give the same share)."""
    lengths = [2, 2, 8, 8, 3]

    def by_hand(seed, epochs):
        rng = np.random.default_rng(seed)
        return _share_by_hand(lengths, 2, [rng.permutation(5).tolist() for _ in range(epochs)])

    want = by_hand(0, 20)
    assert padded_token_share(lengths, 2) == pytest.approx(want, abs=1e-12)
    for other in (by_hand(1, 20), by_hand(0, 10), by_hand(0, 21)):
        assert abs(other - want) > 1e-6


def test_r12_packmil_method_without_residual_has_no_loss_terms_and_no_residual_packs():
    method = packmil_method(alpha=0)
    model = method.build_model(BuildContext(in_dim=6, n_classes=2, fold=0, seed=0))
    assert tuple(method.loss_terms(model)) == ()
    assert method.collate_fn.residual is False
    (term,) = packmil_method(alpha=0.3).loss_terms(model)
    assert term.name == "hyperslide" and term.weight == 0.3


def test_r12_packmil_summary_names_every_option():
    s = packmil_method(p=0.3, max_len=128, min_len=8, ads_ratio=2, alpha=0.5, batch_size=8,
                       lr=1e-3, target="tokenmix").summary
    for part in ("B = 8 slides", "p = 0.3 to the main branch", "packs of ≤ 128 tokens",
                 "under 8 patches", ", ADS r = 2)", "token-weighted class mixtures as targets",
                 "ce loss, α = 0.5", "Adam lr 0.001"):
        assert part in s, part
    d = packmil_method().summary
    assert "ADS" not in d and "bce loss, α = 0.2" in d and "multi-hot targets" in d
    assert "Adam lr 0.0005" in d and "B = 16 slides" in d
    assert "no residual branch" in packmil_method(alpha=0).summary


def test_r12_ads_reweights_with_tanh_scores_over_real_tokens_only():
    """score(x) = 2·tanh(x) (1-d tokens, hidden 1): x = (−1, 2) gets α = softmax(2 tanh(−1),
    2 tanh 2) and x + α x; a third, masked token keeps α = 0 (x unchanged)."""
    ads = ADS(1, 2, hidden=1)
    with torch.no_grad():
        ads.score[0].weight.fill_(1.0)
        ads.score[0].bias.zero_()
        ads.score[2].weight.fill_(2.0)
        ads.score[2].bias.zero_()
    x = torch.tensor([[-1.0], [2.0]])
    e = torch.tensor([2 * math.tanh(-1.0), 2 * math.tanh(2.0)])
    a = torch.softmax(e, 0)
    with torch.no_grad():
        torch.testing.assert_close(ads.reweight(x)[:, 0], x[:, 0] * (1 + a))
        padded = torch.tensor([[[-1.0], [2.0], [5.0]]])
        got = ads.reweight(padded, torch.tensor([[True, True, False]]))[0, :, 0]
    torch.testing.assert_close(got, torch.tensor([-1.0 * (1 + a[0]), 2.0 * (1 + a[1]), 5.0]))


def test_r12_packed_forward_gives_each_slide_its_own_pack_and_output():
    """Packs [[0, 0, 1, −1], [2, 2, 2, 3]] (eval): pack_of = [0, 0, 1, 1], and each slide's
    logits and embedding are those of its tokens alone; membership mask by hand."""
    torch.manual_seed(0)
    model = PackMIL(3, 2, embed_dim=5, attn_dim=4).eval()
    x = torch.randn(2, 4, 3)
    si = torch.tensor([[0, 0, 1, -1], [2, 2, 2, 3]])
    with torch.no_grad():
        out = model(x, slide_index=si)
        assert out.extras["pack_of"].tolist() == [0, 0, 1, 1]
        assert out.mask.tolist() == [[True, True, False, False], [False, False, True, False],
                                     [True, True, True, False], [False, False, False, True]]
        for s, tokens in enumerate((x[0, :2], x[0, 2:3], x[1, :3], x[1, 3:])):
            alone = model(tokens)
            torch.testing.assert_close(out.logits[s], alone.logits[0])
            torch.testing.assert_close(out.embedding[s], alone.embedding[0])


def test_r12_split_slide_draws_a_cap_only_for_a_part_longer_than_the_cap():
    """n = 12, p = 0.4, cap = 4: the main part (4 = cap) is kept whole and draws nothing, so the
    residual part's subsample (8 > 4) is the generator's next randperm(8) after the split's
    randperm(12), by hand."""
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(12, generator=g)
        want_res = perm[4:][torch.randperm(8, generator=g)[:4]]
        main, res = split_slide(12, 0.4, min_len=0, cap=4,
                                generator=torch.Generator().manual_seed(seed))
        assert main.tolist() == sorted(perm[:4].tolist())
        assert res.tolist() == sorted(want_res.tolist())


def test_r12_ads_pads_a_part_with_zero_tokens_before_grouping():
    """Identity ADS, D = 2, r = 2, one token (1, 1): re-weighted to (2, 2) (α = 1), padded with
    one zero token, embedded (GELU(2) or GELU(0) = 0 per coordinate), grouped to 4 coordinates
    of which 2 are kept: every output is GELU(2) or 0, and over 8 draws both occur."""
    ads = _identity_ads(2, 2).train()
    g2 = float(F.gelu(torch.tensor(2.0)))
    seen = set()
    for seed in range(8):
        torch.manual_seed(seed)
        with torch.no_grad():
            out = ads.forward_part(torch.ones(1, 2))
        assert out.shape == (1, 2)
        for v in out.flatten().tolist():
            assert v == pytest.approx(0.0, abs=1e-7) or v == pytest.approx(g2), v
            seen.add(round(v, 5))
    assert len(seen) == 2


def test_r12_hyperslide_of_one_slide_with_ads_is_that_slide_through_the_model():
    """Eval, ADS r = 2: a residual pack holding one slide (3 tokens and padding) is re-weighted,
    embedded and mapped by the ADS like the slide alone, so its hyperslide logits are the
    model's logits of those 3 tokens."""
    torch.manual_seed(0)
    model = PackMIL(3, 2, embed_dim=5, attn_dim=4, ads_ratio=2).eval()
    x, res = torch.randn(1, 2, 3), torch.randn(1, 4, 3)
    rindex = torch.tensor([[0, 0, 0, -1]])
    with torch.no_grad():
        out = model(x, slide_index=torch.tensor([[0, 0]]), residual=res,
                    residual_mask=rindex >= 0, residual_slide_index=rindex)
        torch.testing.assert_close(out.extras["hyperslide_logits"][0], model(res[0, :3]).logits[0])
        torch.testing.assert_close(out.logits[0], model(x[0]).logits[0])


def test_r12_ads_packed_keeps_slides_listed_out_of_order_with_their_own_tokens():
    """Eval (no compression): pack 0 holds slide 1, pack 1 slide 0; the re-assembled packs keep
    that order, each slide's tokens mapped by the ADS alone."""
    torch.manual_seed(0)
    ads = ADS(2, 2).eval()
    x = torch.randn(2, 2, 2)
    with torch.no_grad():
        feats, index = ads.packed(x, torch.tensor([[1, 1], [0, 0]]))
        assert index.tolist() == [[1, 1], [0, 0]]
        torch.testing.assert_close(feats[0], ads.forward_part(x[0]))
        torch.testing.assert_close(feats[1], ads.forward_part(x[1]))


def test_r12_batch_without_residual_packs_moves_with_its_empty_fields():
    bags = _bags([6, 8])
    batch = pack_collate(p=1.0, max_len=64, min_len=0)(bags)
    moved = batch.to("cpu")
    assert moved.residual_features is None and moved.residual_counts is None
    assert moved.residual_mask is None and moved.residual_slide_index is None
    assert torch.equal(moved.features, batch.features) and moved.slide_ids == ["s0", "s1"]
    assert set(moved.model_kwargs) == {"slide_index"}


def test_r12_packed_batch_moves_every_tensor_to_the_device_asked_for():
    """to('meta'): every tensor field (and the model_kwargs rebuilt from them) is on the meta
    device; the slide ids stay as they are."""
    bags = _bags([4, 6, 5])
    batch = pack_collate(max_len=64, min_len=0)(bags)
    moved = batch.to("meta")
    for f in ("features", "mask", "slide_index", "labels", "residual_features", "residual_mask",
              "residual_slide_index", "residual_counts"):
        assert getattr(moved, f).device.type == "meta", f
        assert getattr(moved, f).shape == getattr(batch, f).shape, f
    assert all(v.device.type == "meta" for v in moved.model_kwargs.values())
    assert moved.slide_ids == ["s0", "s1", "s2"]


def test_r12_split_slide_checks_its_share_and_a_zero_cap():
    for p in (0, 0.0, 1.01):
        with pytest.raises(ValueError, match=r"p=.*must lie in \(0, 1\]"):
            split_slide(10, p)
    with pytest.raises(ValueError, match="cap=0 must be an integer >= 1"):
        split_slide(10, 0.5, cap=0)
    main, res = split_slide(10, 0.5, cap=1, generator=torch.Generator().manual_seed(0))
    assert len(main) == len(res) == 1


def test_r12_sequential_packs_name_the_part_that_is_too_long():
    with pytest.raises(ValueError, match=r"part 2 has 5 tokens > max_len=4"):
        sequential_packs([1, 2, 5], 4)


def test_r12_pack_tensors_take_dtype_and_width_from_a_packed_part_not_an_empty_one():
    """An empty float32 part 0 (left out of the packs) does not decide the packs' dtype: the
    float64 part they hold does."""
    parts = [torch.zeros(0, 3), torch.full((2, 3), 1 / 3, dtype=torch.float64)]
    x, mask, index = pack_tensors(parts, [[1]])
    assert x.dtype == torch.float64 and x.shape == (1, 2, 3)
    assert x[0, 0, 0].item() == 1 / 3 and index.tolist() == [[1, 1]]


def test_r12_hyperslide_label_errors_name_the_numbers():
    with pytest.raises(ValueError, match="token_counts has 3 slides per row but labels has 2"):
        hyperslide_label([0, 1], torch.ones(2, 3), 2)
    with pytest.raises(ValueError, match=r"0 … n_classes−1 = 2; got \[0, 3\]"):
        hyperslide_label([3, 0, 3], torch.ones(3), 3)


def test_r12_collate_labels_are_long_whatever_integer_type_the_bags_hold():
    bags = [Bag(torch.randn(4, 3), np.int32(1), "a"), Bag(torch.randn(5, 3), np.int32(0), "b")]
    batch = pack_collate(max_len=64, min_len=0)(bags)
    assert batch.labels.dtype == torch.long and batch.labels.tolist() == [1, 0]
