"""Batched and padded inputs in every method family, each compared with the one-bag answer
computed separately.

Most method tests run one bag or one pack, so code that exists only for padding (masks of a
padded batch, residual packs shorter than the longest, per-bag counts in a batch, losses averaged
over B > 1 bags) would be wrong without a test noticing. Here every batch mixes bag lengths, the
padding holds large garbage (a leak changes the numbers, it does not hide in a zero), and the
batched answer for each bag must equal the answer for that bag alone.
"""
from __future__ import annotations

import math

import pytest
import torch

from milhelpers.datasets import Bag, ListBagDataset, collate_bags
from milhelpers.losses import (branch_cross_entropy, branch_diversity, consistency_loss,
                               negative_entropy)
from milhelpers.methods import acmil_loss_terms
from milhelpers.models import ABMIL, ACMIL, MHIM, MaxPoolMIL, MeanPoolMIL, mhim_mask
from milhelpers.models.packmil import PackMIL
from milhelpers.packing import pack_collate
from milhelpers.train import TrainState, predict, torch_threads

LENGTHS = [7, 3, 12, 5]          # asymmetric; the longest is not first
D = 6
STATE = TrainState(1, 0, 1, 1)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _bags(lengths=LENGTHS, seed=0, n_classes=2):
    g = torch.Generator().manual_seed(seed)
    return [Bag(torch.randn(n, D, generator=g), (i * 7 + 1) % n_classes, f"b{i}")
            for i, n in enumerate(lengths)]


def _padded(bags):
    """Pad by hand, with garbage (1e3) in the padding."""
    n = max(len(b.features) for b in bags)
    x = torch.full((len(bags), n, D), 1e3)
    mask = torch.zeros(len(bags), n, dtype=torch.bool)
    for i, b in enumerate(bags):
        x[i, :len(b.features)] = b.features
        mask[i, :len(b.features)] = True
    return x, mask


def _check_rows_equal_alone(model, bags, atol=1e-5):
    x, mask = _padded(bags)
    with torch.no_grad():
        out = model(x, mask)
        lo = torch.finfo(out.attention_logits.dtype).min
        for i, b in enumerate(bags):
            n = len(b.features)
            alone = model(b.features)
            torch.testing.assert_close(out.logits[i], alone.logits[0], atol=atol, rtol=1e-5)
            torch.testing.assert_close(out.embedding[i], alone.embedding[0], atol=atol, rtol=1e-5)
            torch.testing.assert_close(out.attention[i, :, :n], alone.attention[0], atol=atol,
                                       rtol=1e-5)
            # the MILOutput contract: padding at the dtype minimum, exactly zero weight
            assert (out.attention_logits[i, :, n:] == lo).all()
            assert (out.attention[i, :, n:] == 0).all()
    return out


# ------------------------------------------------------------------------------ the forwards
@pytest.mark.parametrize("factory", [
    lambda: ABMIL(D, 2, embed_dim=16, attn_dim=8, gated=True),
    lambda: ABMIL(D, 2, embed_dim=16, attn_dim=8, gated=False),
    lambda: ABMIL(D, 3, embed_dim=16, attn_dim=8, n_branches=2),
    lambda: MeanPoolMIL(D, 2, embed_dim=16),
    lambda: MaxPoolMIL(D, 2, embed_dim=16),
    lambda: ACMIL(D, 2, embed_dim=16, attn_dim=8, n_branches=3, top_k=4),
    lambda: PackMIL(D, 2, embed_dim=16, attn_dim=8),
    lambda: PackMIL(D, 2, embed_dim=16, attn_dim=8, ads_ratio=4),   # the ADS's per-token mode
], ids=["abmil_gated", "abmil_tanh", "abmil_2branch", "mean_pool", "max_pool", "acmil",
        "packmil", "packmil_ads"])
def test_every_model_gives_each_padded_bag_its_one_bag_answer(factory):
    torch.manual_seed(0)
    _check_rows_equal_alone(factory().eval(), _bags())


def test_max_pool_never_picks_padding_in_a_batch():
    torch.manual_seed(0)
    model = MaxPoolMIL(D, 2, embed_dim=16).eval()
    x, mask = _padded(_bags())
    with torch.no_grad():
        out = model(x, mask)
    top = out.attention_logits[:, 0].argmax(-1)
    assert all(int(t) < n for t, n in zip(top, LENGTHS))


def test_mhim_student_in_a_batch_sees_each_bag_without_its_own_masked_instances():
    torch.manual_seed(0)
    student, teacher = (ABMIL(D, 2, embed_dim=16, attn_dim=8) for _ in range(2))
    model = MHIM(student, teacher, r_h=0.2, r_hr=1.0, r=0.3, r_l=0.1, seed=3).train()
    model.student.eval()                    # dropout off in the student: outputs comparable
    bags = _bags()
    x, mask = _padded(bags)
    out = model(x, mask)
    masked = out.extras["mhim_masked"]
    assert not (masked & ~mask).any()       # padding is never masked
    with torch.no_grad():
        for i, b in enumerate(bags):
            n = len(b.features)
            keep = ~masked[i, :n]
            assert 1 <= int(masked[i].sum()) < n            # some hidden, some visible
            alone = model.student(b.features[keep])
            torch.testing.assert_close(out.logits[i], alone.logits[0], atol=1e-5, rtol=1e-5)
    # the student's attention sits on visible real instances only
    assert (out.attention[:, 0][masked | ~mask] == 0).all()


def test_mhim_mask_of_a_batch_is_each_bags_mask_alone():
    """With r_hr = 1 and no random part the mask is deterministic: each row of a padded batch is
    the mask of that bag alone, with its own n (high and low counts from the bag's length)."""
    g = torch.Generator().manual_seed(0)
    bags = _bags()
    scores = torch.rand(len(bags), max(LENGTHS), generator=g)
    _, mask = _padded(bags)
    scores[~mask] = 10.0                    # padding scored highest must not count
    batched = mhim_mask(scores, mask, r_h=0.25, r_hr=1.0, r_l=0.2)
    for i, n in enumerate(LENGTHS):
        alone = mhim_mask(scores[i:i + 1, :n], None, r_h=0.25, r_hr=1.0, r_l=0.2)
        assert torch.equal(batched[i, :n], alone[0])
        assert not batched[i, n:].any()


# ------------------------------------------------------------------------- losses with B > 1
def _batch_labels(bags):
    return torch.tensor([b.label for b in bags])


def test_acmil_branch_losses_of_a_batch_are_the_mean_of_the_one_bag_losses():
    torch.manual_seed(0)
    model = ACMIL(D, 3, embed_dim=16, attn_dim=8, n_branches=3, top_k=4, dropout=0.0).eval()
    bags = _bags(n_classes=3)
    assert len({b.label for b in bags}) > 1  # labels differ: a label/branch mix-up shows
    x, mask = _padded(bags)
    terms = acmil_loss_terms(model)
    batch = type("Batch", (), {"labels": _batch_labels(bags)})()
    with torch.no_grad():
        out = model(x, mask)
        values = {t.name: float(t.fn(out, batch, STATE)) for t in terms}
        alone = {t.name: [] for t in terms}
        for b in bags:
            o = model(b.features)
            one = type("Batch", (), {"labels": torch.tensor([b.label])})()
            for t in terms:
                alone[t.name].append(float(t.fn(o, one, STATE)))
    for name, v in values.items():
        assert v == pytest.approx(sum(alone[name]) / len(bags), rel=1e-5), name
    # and by hand for the branch CE: the mean over bags and branches of CE(ŷ_bm, y_b)
    bl = out.extras["branch_logits"]
    hand = sum(float(torch.nn.functional.cross_entropy(bl[i, m][None], torch.tensor([b.label])))
               for i, b in enumerate(bags) for m in range(3)) / (3 * len(bags))
    assert values["branch_ce"] == pytest.approx(hand, rel=1e-5)


def test_branch_cross_entropy_pairs_each_bags_label_with_its_own_branches():
    # bag 0 (label 0) branches say class 0 strongly, bag 1 (label 1) says class 1 strongly:
    # the right pairing gives a small loss, a shuffled one a large loss
    logits = torch.tensor([[[9.0, 0.0], [9.0, 0.0]], [[0.0, 9.0], [0.0, 9.0]]])
    value = float(branch_cross_entropy(logits, torch.tensor([0, 1])))
    assert value == pytest.approx(math.log(1 + math.exp(-9.0)), rel=1e-3)   # float32


def test_branch_diversity_of_a_batch_averages_the_bags():
    same = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])        # cos = 1
    apart = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])       # cos = 0
    assert float(branch_diversity(torch.stack([same, apart]))) == pytest.approx(0.5)
    assert float(branch_diversity(torch.stack([apart, same]))) == pytest.approx(0.5)


@pytest.mark.parametrize("normalize", [False, True])
def test_aem_term_of_a_padded_batch_is_the_mean_of_the_one_bag_terms(normalize):
    torch.manual_seed(0)
    model = ABMIL(D, 2, embed_dim=16, attn_dim=8, n_branches=2).eval()
    bags = _bags()
    x, mask = _padded(bags)
    with torch.no_grad():
        out = model(x, mask)
        batched = float(negative_entropy(out.attention_logits, out.mask, normalize))
        alone = []
        for b in bags:
            o = model(b.features)
            a = o.attention[0]
            h = -(a * a.log()).sum(-1)                           # per head, by hand
            if normalize:
                h = h / math.log(len(b.features))
            alone.append(-float(h.mean()))
    assert batched == pytest.approx(sum(alone) / len(bags), rel=1e-5)


def test_consistency_loss_of_a_batch_is_the_mean_of_the_one_bag_losses():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    batched = float(consistency_loss(s, t))
    alone = [float(consistency_loss(s[i:i + 1], t[i:i + 1])) for i in range(4)]
    assert batched == pytest.approx(sum(alone) / 4, rel=1e-6)


# ---------------------------------------------------------------------------------- PackMIL
def _residual_batch(lengths=(40, 9, 30, 22, 50, 14), max_len=32, seed=1):
    bags = _bags(list(lengths), seed=seed)
    batch = pack_collate(p=0.5, max_len=max_len, min_len=0,
                         generator=torch.Generator().manual_seed(seed))(bags)
    return bags, batch


def test_several_residual_packs_with_padding_each_give_the_one_bag_answer():
    torch.manual_seed(0)
    model = PackMIL(D, 2, embed_dim=16, attn_dim=8).eval()
    bags, batch = _residual_batch()
    rmask = batch.residual_mask
    assert len(rmask) >= 3                                  # several hyperslides
    assert (~rmask).sum(1).gt(0).sum() >= 2                 # at least two hold padding
    junk = batch.residual_features.masked_fill(~rmask[..., None], 1e3)
    with torch.no_grad():
        out = model(batch.features, batch.mask, slide_index=batch.slide_index, residual=junk,
                    residual_mask=rmask, residual_slide_index=batch.residual_slide_index)
        hyper = out.extras["hyperslide_logits"]
        assert hyper.shape == (len(rmask), 2)
        for r in range(len(rmask)):
            alone = model(batch.residual_features[r][rmask[r]]).logits[0]
            torch.testing.assert_close(hyper[r], alone, atol=1e-5, rtol=1e-5)
        # the main packs too: every slide's row is the slide's main part alone
        for s in range(len(bags)):
            p = int(out.extras["pack_of"][s])
            own = batch.features[p][batch.slide_index[p] == s]
            torch.testing.assert_close(out.logits[s], model(own).logits[0], atol=1e-5, rtol=1e-5)


def test_residual_packs_hold_each_slides_leftovers():
    bags, batch = _residual_batch()
    idx = batch.residual_slide_index
    for s, b in enumerate(bags):
        main = batch.features[batch.slide_index == s]
        res = batch.residual_features[idx == s]
        assert len(main) + len(res) == len(b.features)      # p·n to main, the rest residual
        # the two parts together are the slide's instances, each once
        both = torch.cat([main, res])
        assert torch.equal(torch.sort(both[:, 0]).values, torch.sort(b.features[:, 0]).values)


def test_ads_in_packs_compresses_each_slide_apart_from_the_others_in_eval():
    """In eval mode the ADS maps every token alone after re-weighting it within its own part:
    a slide's tokens in a pack shared with other slides come out as for the slide alone."""
    torch.manual_seed(0)
    model = PackMIL(D, 2, embed_dim=16, attn_dim=8, ads_ratio=2).eval()
    bags = _bags([5, 9, 4, 7])
    batch = pack_collate(p=1.0, max_len=8, min_len=0, ads_ratio=2, residual=False)(bags)
    assert batch.features.shape[0] >= 2 and (batch.slide_index >= 0).sum(1).max() > 5
    with torch.no_grad():
        feats, index = model.ads.packed(batch.features, batch.slide_index)
        for s, b in enumerate(bags):
            alone = model.ads(b.features[None])[0]
            torch.testing.assert_close(feats[index == s], alone, atol=1e-5, rtol=1e-5)


def test_ads_in_training_gives_each_slide_ceil_n_over_r_tokens_in_its_own_pack():
    torch.manual_seed(0)
    model = PackMIL(D, 2, embed_dim=16, attn_dim=8, ads_ratio=3).train()
    lengths = [5, 9, 4, 7, 12]
    bags = _bags(lengths)
    batch = pack_collate(p=1.0, max_len=5, min_len=0, ads_ratio=3, residual=False)(bags)
    feats, index = model.ads.packed(batch.features, batch.slide_index)
    counts = torch.bincount(index[index >= 0], minlength=len(bags))
    assert counts.tolist() == [math.ceil(n / 3) for n in lengths]
    for p in range(len(index)):                 # a slide stays in the pack it was packed in
        before = set(batch.slide_index[p][batch.slide_index[p] >= 0].tolist())
        assert set(index[p][index[p] >= 0].tolist()) == before
    assert (feats[index < 0] == 0).all()


# --------------------------------------------------------------------------- the trainer's path
def test_predict_in_batches_equals_predict_one_bag_at_a_time():
    torch.manual_seed(0)
    model = ACMIL(D, 2, embed_dim=16, attn_dim=8, n_branches=2, top_k=4)
    ds = ListBagDataset(_bags())
    one, four = predict(model, ds, batch_size=1), predict(model, ds, batch_size=4)
    torch.testing.assert_close(torch.tensor(four.probs), torch.tensor(one.probs), atol=1e-5,
                               rtol=1e-5)
    for a1, a4, s1, s4, n in zip(one.attention, four.attention, one.scores, four.scores, LENGTHS):
        assert a4.shape == a1.shape == (2, n)
        torch.testing.assert_close(torch.tensor(a4), torch.tensor(a1), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(torch.tensor(s4), torch.tensor(s1), atol=1e-4, rtol=1e-5)


def test_collate_pads_each_bag_to_the_longest_with_its_own_mask():
    bags = _bags()
    batch = collate_bags(bags)
    assert batch.features.shape == (4, 12, D)
    assert batch.mask.sum(1).tolist() == LENGTHS
    for i, b in enumerate(bags):
        assert torch.equal(batch.features[i, :len(b.features)], b.features)
        assert (batch.features[i, len(b.features):] == 0).all()
    assert batch.labels.tolist() == [b.label for b in bags]
