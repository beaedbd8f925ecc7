"""PackMIL: the split, sequential packing, per-slide masked attention, hyperslide labels."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bags import planted_bags
from milhelpers.datasets import Bag, ListBagDataset
from milhelpers.losses import soft_target_cross_entropy
from milhelpers.methods import get_method, packmil_method
from milhelpers.models import ABMIL, ADS, PackMIL, checkpointed_forward
from milhelpers.packing import (PackedBatch, hyperslide_label, pack_collate, pack_tensors,
                                packing_efficiency, padded_token_share, sequential_packs,
                                split_slide)
from milhelpers.train import predict, torch_threads

FAST = settings(max_examples=25, deadline=None)


def _bags(lengths, d=6, seed=0, n_classes=3):
    g = torch.Generator().manual_seed(seed)
    return [Bag(torch.randn(n, d, generator=g), i % n_classes, f"s{i}")
            for i, n in enumerate(lengths)]


# ---------------------------------------------------------------------------------- split
@FAST
@given(n=st.integers(1, 400), p=st.floats(0.05, 1.0), seed=st.integers(0, 1000))
def test_without_caps_every_instance_lands_in_exactly_one_part(n, p, seed):
    main, res = split_slide(n, p, min_len=0, generator=torch.Generator().manual_seed(seed))
    both = torch.cat([main, res])
    assert sorted(both.tolist()) == list(range(n))             # each once, none lost
    assert len(main) == max(1, math.floor(p * n))


def test_small_slides_go_whole_to_both_and_caps_subsample():
    main, res = split_slide(10, 0.5, min_len=11)
    assert main.tolist() == res.tolist() == list(range(10))
    g = torch.Generator().manual_seed(0)
    main, res = split_slide(100, 0.3, min_len=0, cap=20, generator=g)
    assert len(main) == 20 and len(res) == 20                  # 30 → 20, 70 → 20
    assert not set(main.tolist()) & set(res.tolist())
    with pytest.raises(ValueError, match="p=1.5"):
        split_slide(10, 1.5)


def test_sequential_packs_hand_computed():
    assert sequential_packs([3, 4, 2, 5, 1, 0, 6], 7) == [[0, 1], [2, 3], [4, 6]]
    with pytest.raises(ValueError, match="cap the parts"):
        sequential_packs([3, 8], 7)


@FAST
@given(lengths=st.lists(st.integers(0, 30), min_size=1, max_size=20), cap=st.integers(30, 80))
def test_packs_keep_order_and_respect_the_length(lengths, cap):
    packs = sequential_packs(lengths, cap)
    flat = [i for pk in packs for i in pk]
    assert flat == [i for i, n in enumerate(lengths) if n > 0]
    assert all(sum(lengths[i] for i in pk) <= cap for pk in packs)


def test_pack_tensors_index_and_padding():
    parts = [torch.full((2, 1), 1.0), torch.full((3, 1), 2.0), torch.full((1, 1), 3.0)]
    x, mask, index = pack_tensors(parts, [[0, 1], [2]])
    assert index.tolist() == [[0, 0, 1, 1, 1], [2, -1, -1, -1, -1]]
    assert mask.tolist() == [[True] * 5, [True] + [False] * 4]
    assert x[:, :, 0].tolist() == [[1, 1, 2, 2, 2], [3, 0, 0, 0, 0]]


def test_pack_tensors_index_names_the_slide_of_each_part_not_its_position():
    """pack_tensors(slide_of_part=…) labels tokens with the part's slide, and ADS.packed keeps
    the slide ids of a pack whose slides are not 0…S−1. Catches the index written as the part's
    position (identical only while part i belongs to slide i)."""
    parts = [torch.full((2, 1), 1.0), torch.full((3, 1), 2.0), torch.full((1, 1), 3.0)]
    _, _, index = pack_tensors(parts, [[0, 1], [2]], slide_of_part=[5, 7, 9])
    assert index.tolist() == [[5, 5, 7, 7, 7], [9, -1, -1, -1, -1]]
    # a residual pack without slide 1 (its residual part was empty): ids 0 and 2 survive ADS
    torch.manual_seed(0)
    ads = ADS(6, 2).train()
    feats, index = ads.packed(torch.randn(1, 4, 6), torch.tensor([[0, 0, 2, 2]]))
    assert index.tolist() == [[0, 2]] and feats.shape == (1, 2, 6)


# ------------------------------------------------------------------------ hyperslide label
def test_hyperslide_label_hand_computed():
    # the example: one class-0 and two class-1 members with 30, 10, 5 tokens
    q = hyperslide_label([0, 1, 1], torch.tensor([30.0, 10.0, 5.0]), 2)
    assert torch.allclose(q, torch.tensor([0.5, 1.0]))          # slides per class ÷ the largest
    q = hyperslide_label([0, 1, 1], torch.tensor([30.0, 10.0, 5.0]), 2, kind="tokenmix")
    assert torch.allclose(q, torch.tensor([30 / 45, 15 / 45]))  # tokens per class ÷ all tokens
    # (R, S) counts: a 0 means "not a member"; an absent class gets 0 in both kinds
    counts = torch.tensor([[1.0, 0, 3, 2], [0, 5, 0, 0]])
    q = hyperslide_label([2, 0, 1, 2], counts, 3)
    assert torch.allclose(q, torch.tensor([[0.0, 0.5, 1.0], [1.0, 0.0, 0.0]]))
    q = hyperslide_label([2, 0, 1, 2], counts, 3, kind="tokenmix")
    assert torch.allclose(q, torch.tensor([[0.0, 3 / 6, 3 / 6], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="no tokens"):
        hyperslide_label([0, 1], torch.tensor([0.0, 0.0]), 2)
    with pytest.raises(ValueError, match="tokenmix"):
        hyperslide_label([0, 1], torch.tensor([1.0, 2.0]), 2, kind="mixture")


@FAST
@given(lengths=st.lists(st.integers(1, 60), min_size=1, max_size=12), seed=st.integers(0, 99))
def test_collated_hyperslide_targets_match_both_definitions(lengths, seed):
    bags = _bags(lengths, seed=seed)
    batch = pack_collate(p=0.5, max_len=64, min_len=4,
                         generator=torch.Generator().manual_seed(seed))(bags)
    if batch.residual_counts is None:
        return
    multihot, mix = batch.hyperslide_labels(3), batch.hyperslide_labels(3, "tokenmix")
    assert torch.allclose(mix.sum(1), torch.ones(len(mix)))
    assert torch.allclose(multihot.amax(1), torch.ones(len(multihot)))
    for r in range(len(mix)):                                  # by hand from the packed tokens
        idx = batch.residual_slide_index[r]
        counts = torch.bincount(idx[idx >= 0], minlength=len(bags)).float()
        tokens, members = torch.zeros(3), torch.zeros(3)
        for s, c in enumerate(counts):
            tokens[bags[s].label] += c
            members[bags[s].label] += float(c > 0)
        assert torch.allclose(mix[r], tokens / counts.sum())
        assert torch.allclose(multihot[r], members / members.max())


# ------------------------------------------------------------------------- packed model
@pytest.fixture(autouse=True)
def _one_thread():   # tiny tensors: a second thread only waits (and competes with other jobs)
    with torch_threads(1):
        yield


def _packed_vs_single(lengths, seed, max_len):
    torch.manual_seed(seed)
    model = PackMIL(6, 3, embed_dim=16, attn_dim=8).eval()
    bags = _bags(lengths, seed=seed)
    batch = pack_collate(p=1.0, max_len=max_len, min_len=0, residual=False)(bags)
    out = model(batch.features, batch.mask, **batch.model_kwargs)
    return model, bags, batch, out


@FAST
@given(lengths=st.lists(st.integers(1, 40), min_size=1, max_size=10), seed=st.integers(0, 99))
def test_packed_outputs_equal_unpacked_outputs(lengths, seed):
    model, bags, batch, out = _packed_vs_single(lengths, seed, 64)
    assert len(batch.features) < len(bags) or len(bags) == 1 or max(lengths) > 32
    with torch.no_grad():
        for s, b in enumerate(bags):
            alone = model(b.features)
            assert torch.allclose(out.logits[s], alone.logits[0], atol=1e-5)
            assert torch.allclose(out.embedding[s], alone.embedding[0], atol=1e-5)
            a = out.attention[s, 0][out.mask[s]]               # the slide's own tokens, in order
            assert torch.allclose(a, alone.attention[0, 0], atol=1e-5)
    assert out.logits.shape == (len(bags), 3)
    # order: row s is slide s, whose label is batch.labels[s]
    assert batch.labels.tolist() == [b.label for b in bags]


def test_gradient_never_crosses_slides_in_a_pack():
    model, bags, batch, _ = _packed_vs_single([5, 7, 3, 9], 0, 64)
    model.train()                                             # dropout on: still no crossing
    assert len(batch.features) == 1                           # all four share one pack
    x = batch.features.clone().requires_grad_(True)
    out = model(x, batch.mask, **batch.model_kwargs)
    for s in range(4):
        (g,) = torch.autograd.grad(out.logits[s].sum(), x, retain_graph=True)
        own = batch.slide_index[0] == s
        assert torch.count_nonzero(g[0][~own]) == 0           # exactly zero, not just small
        assert g[0][own].abs().sum() > 0


def test_attention_logits_follow_the_common_interface():
    _, _, batch, out = _packed_vs_single([4, 2], 1, 64)
    lo = torch.finfo(out.attention_logits.dtype).min
    assert out.attention_logits.shape == (2, 1, 6)
    assert (out.attention_logits[0, 0, 4:] == lo).all() and (out.attention_logits[1, 0, :4] == lo).all()
    assert torch.allclose(out.attention.sum(-1), torch.ones(2, 1))


def test_hyperslide_logits_are_one_bag_per_residual_pack():
    torch.manual_seed(0)
    model = PackMIL(6, 3, embed_dim=16, attn_dim=8).eval()
    bags = _bags([20, 30, 10])
    batch = pack_collate(p=0.5, max_len=40, min_len=0,
                         generator=torch.Generator().manual_seed(0))(bags)
    out = model(batch.features, batch.mask, **batch.model_kwargs)
    hyper = out.extras["hyperslide_logits"]
    assert hyper.shape == (len(batch.residual_features), 3)
    alone = model(batch.residual_features[0][batch.residual_mask[0]]).logits[0]
    assert torch.allclose(hyper[0], alone, atol=1e-5)


def test_ads_compresses_in_training_and_keeps_length_in_eval():
    torch.manual_seed(0)
    model = PackMIL(6, 2, embed_dim=16, attn_dim=8, ads_ratio=4)
    bags = _bags([9, 4, 13])                                  # ⌈9/4⌉ + ⌈4/4⌉ + ⌈13/4⌉ = 3 + 1 + 4
    batch = pack_collate(p=1.0, max_len=8, min_len=0, ads_ratio=4, residual=False)(bags)
    feats, index = model.ads.packed(batch.features, batch.slide_index)
    assert batch.features.shape[:2] == (1, 26)               # packed by the lengths after ADS
    assert index.tolist() == [[0] * 3 + [1] + [2] * 4] and feats.shape == (1, 8, 6)
    model.eval()
    out = model(bags[0].features)
    assert out.attention_logits.shape == (1, 1, 9)            # inference: every patch scored
    with pytest.raises(ValueError, match="ads_ratio"):
        ADS(6, 1)


def test_packmil_ads4_trains_a_step_with_ads_on_main_and_residual_packs():
    """The registered ``packmil_ads4`` builds its model with a ratio-4 ADS (as its collate packs
    for r = 4), and a training forward on a collated batch runs the ADS on the residual packs
    too: the hyperslide bags are the compressed packs with *their* padding mask, one logits row
    per residual pack. Catches the build dropping ``ads_ratio`` and the residual mask left at
    the uncompressed packs' shape."""
    from milhelpers.methods import BuildContext

    method = get_method("packmil_ads4")
    torch.manual_seed(0)
    model = method.build_model(BuildContext(in_dim=6, n_classes=3, fold=0, seed=0))
    assert isinstance(model.ads, ADS) and model.ads.ratio == 4
    bags = _bags([70, 45, 9, 120])          # residual parts of different lengths: padded packs
    torch.manual_seed(1)
    batch = method.collate_fn(bags)
    assert batch.residual_features is not None and batch.residual_mask.shape[1] > 1
    model.train()
    torch.manual_seed(2)
    out = model(batch.features, batch.mask, **batch.model_kwargs)
    assert out.logits.shape == (4, 3)
    hyper = out.extras["hyperslide_logits"]
    assert hyper.shape == (len(batch.residual_features), 3) and torch.isfinite(hyper).all()
    # the same residual packs compressed by hand and pooled with their own mask
    torch.manual_seed(2)
    x, index = model.ads.packed(batch.features, batch.slide_index)
    model.packed_forward(x, index)                       # the main branch draws first
    rx, rindex = model.ads.packed(batch.residual_features, batch.residual_slide_index)
    assert rx.shape[1] < batch.residual_features.shape[1]   # compressed ~4×
    want = ABMIL.forward(model, rx, rindex >= 0).logits
    torch.testing.assert_close(hyper, want)


# ------------------------------------------------------------------------------- training
def test_packmil_trains_through_the_shared_trainer():
    ds = planted_bags(40, d=8, lengths=(10, 40))
    method = packmil_method(max_len=48, min_len=4, batch_size=8, lr=2e-3)
    res = method.fit(ds, None, method.train_config(epochs=8, progress=False, seed=0))
    assert "hyperslide" in res.history.columns
    assert res.history.bag_loss.iloc[-1] < res.history.bag_loss.iloc[0]
    p = predict(res.model, ds)
    assert p.metrics()["auc"] > 0.9                           # the planted signal is easy
    assert get_method("packmil_noresidual").loss_terms(res.model) == ()


def test_packmil_names_and_bad_options():
    assert get_method("packmil").config == {"batch_size": 16, "lr": 5e-4}
    # target and loss are in the runner's cache key (model_kwargs), so old runs are not reused
    assert get_method("packmil").model_kwargs == {"target": "multihot", "hyperslide_loss": "bce"}
    assert get_method("packmil_tokenmix").model_kwargs == {"target": "tokenmix",
                                                           "hyperslide_loss": "ce"}
    assert packmil_method(alpha=0).name == "packmil_noresidual"
    assert packmil_method(max_len=64, ads_ratio=4).name == "packmil_L64_ads4"
    assert packmil_method(target="tokenmix").name == "packmil_tokenmix"
    assert packmil_method(hyperslide_loss="focal").name == "packmil_focal"
    assert packmil_method(hyperslide_loss="bce").name == "packmil"        # the default, spelt out
    assert packmil_method(target="tokenmix", hyperslide_loss="bce").name == "packmil_tokenmix_bce"
    with pytest.raises(ValueError, match="alpha"):
        packmil_method(alpha=-1)
    with pytest.raises(ValueError, match="target"):
        packmil_method(target="soft")
    with pytest.raises(ValueError, match="sum to 1"):
        packmil_method(hyperslide_loss="ce")
    with pytest.raises(ValueError, match="hyperslide loss"):
        packmil_method(hyperslide_loss="asl")
    with pytest.raises(ValueError, match="max_len"):
        pack_collate(max_len=0)


def test_packmil_without_residual_branch_collates_no_hyperslides():
    """alpha = 0 (``packmil_noresidual``) leaves the residual branch out of the batches too, so
    training never runs (nor pays for, nor draws dropout for) a hyperslide forward whose loss
    weight is 0. Catches the collate function building residual packs whatever alpha is."""
    bags = _bags([20, 30, 25])
    noresidual = packmil_method(alpha=0)        # made before seeding: it builds a PackMIL
    torch.manual_seed(0)
    with_res = get_method("packmil").collate_fn(bags)
    assert with_res.residual_features is not None and "residual" in with_res.model_kwargs
    torch.manual_seed(0)
    without = noresidual.collate_fn(bags)
    assert without.residual_features is None and "residual" not in without.model_kwargs
    assert torch.equal(without.features, with_res.features)     # the main packs are the same


def test_padding_share_and_packing_efficiency_hand_computed():
    assert padded_token_share([10, 10, 10, 10], 2, epochs=1) == 0.0
    assert padded_token_share([1, 3], 2, epochs=1) == pytest.approx(1 - 4 / 6)
    assert packing_efficiency([3, 4, 2, 5], 7) == pytest.approx(14 / 14)
    assert packing_efficiency([3, 4, 5], 7) == pytest.approx(12 / 14)


def test_padding_share_counts_the_last_partial_batch_at_its_own_size():
    """Three bags of 4 in batches of 2: every epoch has a full batch [4, 4] and a last batch of
    one bag [4], neither padded, whatever the order: share 0. Counting the last batch as two bags
    would give 1 − 12/16 = 0.25. With lengths 4, 4, 4, 8 in batches of 3 the share depends on
    the order only through which batch holds the 8: B·max n = 3·8 + 1·4 or 3·4 + 1·8."""
    assert padded_token_share([4, 4, 4], 2, epochs=5) == 0.0
    share = padded_token_share([4, 4, 4, 8], 3, epochs=1, seed=0)
    assert share in (pytest.approx(1 - 20 / 28), pytest.approx(1 - 20 / 20))


def test_checkpointed_forward_matches_the_plain_forward_and_its_gradients():
    torch.manual_seed(0)
    model = PackMIL(6, 2, embed_dim=16, attn_dim=8).eval()
    x = torch.randn(50, 6)
    plain = model(x)
    (g_plain,) = torch.autograd.grad(plain.logits[0, 1], [model.project[0].weight])
    chunked = checkpointed_forward(model, x, chunk=7)          # 7 chunks, the last of 1
    (g_chunk,) = torch.autograd.grad(chunked.logits[0, 1], [model.project[0].weight])
    assert torch.allclose(plain.logits, chunked.logits, atol=1e-5)
    assert torch.allclose(plain.attention_logits, chunked.attention_logits, atol=1e-5)
    assert torch.allclose(g_plain, g_chunk, atol=1e-5)


def test_ads_groups_dimension_major_so_kept_coordinates_keep_their_order():
    e = torch.tensor([[1000.0 * t + j for j in range(3)] for t in range(4)])   # 4 tokens, D = 3
    g = ADS.group(e, 2)                                      # 2 groups of r = 2 tokens
    assert g.tolist() == [[0, 1000, 1, 1001, 2, 1002], [2000, 3000, 2001, 3001, 2002, 3002]]


def _uniform_identity_ads(dim, ratio):
    """ADS with uniform α (the score's last layer zeroed) and identity embed and out layers."""
    ads = ADS(dim, ratio)
    with torch.no_grad():
        ads.score[-1].weight.zero_()
        ads.score[-1].bias.zero_()
        ads.embed[0].weight.copy_(torch.eye(dim))
        ads.embed[0].bias.zero_()
        ads.out.weight.copy_(torch.eye(dim))
        ads.out.bias.zero_()
    return ads


def test_ads_keeps_the_chosen_grouped_coordinates_in_ascending_order():
    """In training ADS keeps D of the r·D grouped coordinates *in their order*, so output input i
    still holds coordinate ≈ i, as in evaluation. Identical tokens v = (1 … 8) through identity
    layers: grouped, coordinate j sits at 2j and 2j + 1, so any sorted subset is ascending; the
    same subset in random order (the bug this catches) almost never is (3 draws of 3 rows)."""
    torch.manual_seed(0)
    ads = _uniform_identity_ads(8, 2).train()
    v = torch.arange(1, 9.0)
    for _ in range(3):
        out = ads.forward_part(v.repeat(6, 1))                # n = 6, a multiple of r: no zeros
        assert out.shape == (3, 8)
        assert (out[:, 1:] >= out[:, :-1]).all(), out
        # every kept coordinate is one of the GELU'd (1 + 1/6)·v_j (uniform α = 1/6)
        assert set(out.flatten().tolist()) <= set(torch.nn.functional.gelu(v * 7 / 6).tolist())


def test_ads_reweighting_adds_the_attention_weighted_token_to_the_token():
    """reweight: x_t + α_t x_t, α the softmax over the real tokens only. With uniform α = 1/n
    every token is scaled by 1 + 1/n; padding tokens get α = 0 and stay as they are. Catches the
    residual x_t dropped (tokens scaled by α_t alone, about 1/n)."""
    ads = _uniform_identity_ads(4, 2)
    x = torch.randn(5, 4)
    torch.testing.assert_close(ads.reweight(x), x * (1 + 1 / 5))
    xb = torch.randn(2, 5, 4)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    got = ads.reweight(xb, mask)
    torch.testing.assert_close(got[0], xb[0] * (1 + 1 / 5))
    torch.testing.assert_close(got[1, :3], xb[1, :3] * (1 + 1 / 3))
    torch.testing.assert_close(got[1, 3:], xb[1, 3:])


def test_residual_counts_after_ads_are_the_compressed_lengths_and_tokenmix_uses_them():
    """With ADS ratio r = 4 each slide contributes ⌈n_res/4⌉ tokens to its hyperslide (what the
    model sees), not its n_res raw instances; the tokenmix target weighs classes by those.
    Catches ``counts[j, i] = len(ress[i])`` (raw counts)."""
    from milhelpers.packing import PackCollate
    bags = [Bag(torch.randn(37, 4), 0, "a"), Bag(torch.randn(10, 4), 1, "b")]
    pb = PackCollate(p=0.5, max_len=256, min_len=1, ads_ratio=4,
                     generator=torch.Generator().manual_seed(0))(bags)
    raw = [int((pb.residual_slide_index == i).sum()) for i in range(2)]
    assert all(n > 1 for n in raw)            # raw and compressed counts differ
    want = [math.ceil(n / 4) for n in raw]
    assert pb.residual_counts.shape == (1, 2)
    assert pb.residual_counts[0].tolist() == want
    mix = pb.hyperslide_labels(2, "tokenmix")
    torch.testing.assert_close(mix[0], torch.tensor([want[0], want[1]]) / sum(want))


# --- round 7: every draw follows its generator; ADS on whole slides in both modes; bounds ----
def _state_kept(fn):
    """fn() run twice from two different global torch seeds: the results, and whether the
    global stream was left where it was (a draw that falls back to it moves it)."""
    outs, kept = [], []
    for global_seed in (0, 99):
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        outs.append(fn())
        kept.append(torch.equal(before, torch.get_rng_state()))
    return outs, all(kept)


@pytest.mark.parametrize("n, p, min_len, cap", [
    (50, 0.4, 0, 15),      # the split permutation and both caps (20 → 15, 30 → 15) draw
    (12, 0.5, 20, 5),      # a short slide goes whole to both parts: only the two caps draw
])
def test_split_slide_draws_every_permutation_from_its_generator(n, p, min_len, cap):
    """The split and *each* cap's subsample come from the generator passed in: one generator
    seed gives one split whatever torch's global seed, the global stream is not touched, and
    another generator seed moves the main part and the residual part alike. (A cap drawn
    without ``generator=`` makes the pack depend on the global stream and breaks repeats.)"""
    def draw(seed):
        return split_slide(n, p, min_len=min_len, cap=cap,
                           generator=torch.Generator().manual_seed(seed))

    (a, b), kept = _state_kept(lambda: draw(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert kept, "split_slide drew from torch's global generator"
    runs = [draw(s) for s in range(6)]
    assert len({tuple(m.tolist()) for m, _ in runs}) > 1      # the main cap follows the seed
    assert len({tuple(r.tolist()) for _, r in runs}) > 1      # and so does the residual cap


def test_pack_collate_with_its_own_generator_ignores_the_global_stream():
    """pack_collate(generator=g) hands g to every split: the same g seed packs the same batch
    under any global seed and leaves the global stream alone."""
    bags = _bags([30, 25, 40, 18])

    def run():
        b = pack_collate(p=0.5, max_len=64, min_len=0,
                         generator=torch.Generator().manual_seed(3))(bags)
        return b.features, b.residual_features

    (a, b), kept = _state_kept(run)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and kept


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_unpacked_forward_applies_the_ads_per_token_in_both_modes(mode):
    """Whole slides (no slide_index) pass through the ADS in its per-token mode whether the
    model is training or evaluating: the output is ABMIL on ads(x), not ABMIL on raw x (an ADS
    skipped in eval would validate and predict a model other than the one trained)."""
    from milhelpers.models.base import as_batch

    torch.manual_seed(0)
    model = PackMIL(6, 2, embed_dim=8, attn_dim=4, dropout=0.0, ads_ratio=2).train(mode == "train")
    x = torch.randn(7, 6)
    with torch.no_grad():
        xb, mb = as_batch(x, None)
        got = model(x).logits
        want = ABMIL.forward(model, model.ads(xb, mb), mb).logits
        raw = ABMIL.forward(model, xb, mb).logits
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, raw, atol=1e-4)            # the ADS does change the logits


@pytest.mark.parametrize("call, ok", [
    (lambda: split_slide(1, 1.0), True),                       # n = 1 and p = 1 are allowed
    (lambda: split_slide(0, 0.5), False),
    (lambda: split_slide(5, 0.0), False),                      # p must be > 0
    (lambda: split_slide(5, 1.0 + 1e-9), False),
    (lambda: split_slide(5, 0.5, cap=1), True),
    (lambda: split_slide(5, 0.5, cap=0), False),
    (lambda: pack_collate(min_len=0), True),                   # min_len may be 0 (always split)
    (lambda: pack_collate(min_len=-1), False),
    (lambda: pack_collate(max_len=1), True),
    (lambda: pack_collate(max_len=0), False),
    (lambda: pack_collate(ads_ratio=1), True),                 # 1 = no ADS
    (lambda: pack_collate(ads_ratio=0), False),
    (lambda: sequential_packs([1], 1), True),
    (lambda: sequential_packs([1], 0), False),
], ids=["n1p1", "n0", "p0", "p>1", "cap1", "cap0", "min0", "min-1", "L1", "L0", "r1", "r0",
        "packs_L1", "packs_L0"])
def test_packing_arguments_at_exactly_their_bounds(call, ok):
    """Each check accepts its bound and refuses one step past it (an off-by-one in a check
    either refuses a legal setting or lets a meaningless one through)."""
    if ok:
        call()
    else:
        with pytest.raises(ValueError):
            call()


# --- round 9: forward()'s optional arguments (residual with / without its mask, none) against
# gated ABMIL computed from the layers by hand, and the packed-input checks at their bounds


def _abmil_by_hand(model: PackMIL, x: torch.Tensor) -> torch.Tensor:
    """Logits of gated ABMIL on one bag (n, D) of real tokens, from the model's layers (eval)."""
    h = model.project(x)
    a = torch.softmax(model.attention(h)[:, 0], 0)
    return model.classifier(a @ h)


@pytest.mark.parametrize("residual_mask", ["omitted", "all_true", "padded", "no_residual"])
def test_r9_hyperslide_logits_with_and_without_a_residual_mask(residual_mask):
    """One pack holding slides 0 (3 tokens) and 1 (2 tokens) + one padding slot, and two
    residual packs (R = 2, T = 4). Each slide's logits are ABMIL on its own tokens whatever the
    residual arguments; ``extras['hyperslide_logits']`` is there exactly when ``residual`` is
    given — with its mask omitted (every slot real), all-True (the same), or padded (row 1 has
    2 real tokens: ABMIL on those 2) — and is absent without ``residual``, even if a mask is
    passed."""
    torch.manual_seed(1)
    model = PackMIL(5, 3, embed_dim=8, attn_dim=4, dropout=0.0).eval()
    x = torch.randn(1, 6, 5)
    si = torch.tensor([[0, 0, 0, 1, 1, -1]])
    res = torch.randn(2, 4, 5)
    rmask = torch.tensor([[True] * 4, [True, True, False, False]])
    kw = {"omitted": {"residual": res},
          "all_true": {"residual": res, "residual_mask": torch.ones(2, 4, dtype=torch.bool)},
          "padded": {"residual": res, "residual_mask": rmask},
          "no_residual": {"residual_mask": rmask}}[residual_mask]
    with torch.no_grad():
        out = model(x, slide_index=si, **kw)
        slides = torch.stack([_abmil_by_hand(model, x[0, :3]), _abmil_by_hand(model, x[0, 3:5])])
        torch.testing.assert_close(out.logits, slides, atol=1e-5, rtol=1e-5)
        if residual_mask == "no_residual":
            assert "hyperslide_logits" not in out.extras
            return
        rows = [res[0], res[1] if residual_mask != "padded" else res[1, :2]]
        want = torch.stack([_abmil_by_hand(model, r) for r in rows])
        torch.testing.assert_close(out.extras["hyperslide_logits"], want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mask", ["none", "all_true"])
def test_r9_unpacked_forward_mask_none_equals_all_true_and_the_abmil_by_hand(mask):
    """model(x, mask) on B = 2 whole slides of 4 tokens: each row is ABMIL by hand on its bag."""
    torch.manual_seed(2)
    model = PackMIL(5, 2, embed_dim=8, attn_dim=4, dropout=0.0).eval()
    x = torch.randn(2, 4, 5)
    m = None if mask == "none" else torch.ones(2, 4, dtype=torch.bool)
    with torch.no_grad():
        out = model(x, m)
        want = torch.stack([_abmil_by_hand(model, x[b]) for b in range(2)])
    torch.testing.assert_close(out.logits, want, atol=1e-5, rtol=1e-5)


def test_r9_packed_input_checks_refuse_bad_shapes_and_accept_the_boundary():
    """Packed features must be 3-d with slide_index of shape (P, T); slides numbered 0 … S−1
    with none missing; ADS needs residual_slide_index; ads_ratio must be an integer ≥ 2
    (None and 1 mean no ADS); the boundary cases (one slide filling the pack, ratio 2) work."""
    torch.manual_seed(0)
    model = PackMIL(5, 2, embed_dim=8, attn_dim=4, dropout=0.0).eval()
    x = torch.randn(1, 4, 5)
    with pytest.raises(ValueError, match=r"packed features must be \(P, T, D\)"):
        model(x[0], slide_index=torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"slide_index \(P, T\)"):
        model(x, slide_index=torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="every slide present"):
        model(x, slide_index=torch.tensor([[0, 0, 2, 2]]))             # slide 1 missing
    one = model(x, slide_index=torch.zeros(1, 4, dtype=torch.long))      # one slide, no padding
    torch.testing.assert_close(one.logits[0], _abmil_by_hand(model, x[0]), atol=1e-5, rtol=1e-5)
    for bad in (0, 1.5, True, -2):
        with pytest.raises(ValueError, match="must be an integer >= 2"):
            ADS(5, bad)
    assert ADS(5, 2).ratio == 2
    assert PackMIL(5, ads_ratio=None).ads is None and PackMIL(5, ads_ratio=1).ads is None
    ads = PackMIL(5, 2, embed_dim=8, attn_dim=4, ads_ratio=2).eval()
    with pytest.raises(ValueError, match="residual_slide_index"):
        ads(x, slide_index=torch.tensor([[0, 0, 1, 1]]), residual=torch.randn(1, 3, 5))
    with torch.no_grad():
        out = ads(x, slide_index=torch.tensor([[0, 0, 1, 1]]), residual=torch.randn(1, 3, 5),
                  residual_slide_index=torch.tensor([[0, 1, -1]]))
    assert out.extras["hyperslide_logits"].shape == (1, 2)


# --- round 11: ADS's ratio check at each side of its bound ------------------------------------
@pytest.mark.parametrize("ratio", [True, 1, 1.5, 0, -2])
def test_r11_ads_refuses_ratios_that_are_not_integers_of_at_least_two(ratio):
    """ADS compresses r tokens into one: r = 1 compresses nothing, 1.5 and True (== 1) are no
    group size. Each raises ValueError naming the ratio. Catches the bound widened to r >= 1,
    the bool or the integer check dropped."""
    with pytest.raises(ValueError, match=rf"ads_ratio={ratio!r} must be an integer >= 2"):
        ADS(6, ratio)


@pytest.mark.parametrize("ratio", [2, 3.0, 4])
def test_r11_ads_accepts_integer_ratios_from_two_and_stores_an_int(ratio):
    """2 (the bound), 3.0 (an integral float) and 4 are accepted and kept as int r, which the
    training path's ⌈n/r⌉ and reshape need."""
    ads = ADS(6, ratio)
    assert ads.ratio == int(ratio) and type(ads.ratio) is int
