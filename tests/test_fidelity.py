"""docs/fidelity.md, row by row: every row that says "same" computes the authors' formula by hand
here — with plain loops over one bag at a time, as the authors' code runs — on small asymmetric
inputs, batched and padded where the package has a padding path, and compares with the package.

The test names say which table and row they stand for (``test_<method>_<row>``).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bags import planted_bags
import types

from milhelpers.datasets import Bag, ListBagDataset
from milhelpers.losses import (consistency_loss, multilabel_bce, multilabel_focal,
                               negative_entropy, soft_target_cross_entropy)
from milhelpers.methods import (MHIM_DEFAULTS, MHIM_V2_DEFAULTS, PACKMIL_DEFAULTS, BuildContext,
                                MHIMSchedule, acmil_loss_terms, get_method, mhim_method,
                                mhim_v2_method)
from milhelpers.models import ABMIL, ACMIL, MHIM, PackMIL, RecycleNetwork, ema_update, mhim_mask
from milhelpers.models.mhim import instance_scores, recycle_split
from milhelpers.packing import hyperslide_label, pack_collate, sequential_packs, split_slide
from milhelpers.train import TrainConfig, TrainState, _validation_row, fit, torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _padded(lengths, d=6, seed=0, pad_value=50.0):
    """A padded batch of bags of the given lengths; padding holds large junk (must be ignored)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((len(lengths), max(lengths), d), pad_value)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.bool)
    for b, n in enumerate(lengths):
        x[b, :n] = torch.randn(n, d, generator=g)
        mask[b, :n] = True
    return x, mask


def _softmax(v: list[float]) -> torch.Tensor:
    m = max(v)
    e = [math.exp(x - m) for x in v]
    return torch.tensor([x / sum(e) for x in e])


# =============================================================================== ABMIL (CLAM)
@torch.no_grad()
def _abmil_by_hand(model: ABMIL, x: torch.Tensor):
    """One bag (n, D) through CLAM's ABMIL, instance by instance: h_k = ReLU(W₀x_k + b₀),
    e_k = wᵀ(tanh(V h_k + b_V) ⊙ σ(U h_k + b_U)) + b_w (no gate for tanh attention),
    a = softmax(e), z = Σ a_k h_k, ŷ = W_c z + b_c."""
    W0, b0 = model.project[0].weight, model.project[0].bias
    V, bV = model.attention.tanh[0].weight, model.attention.tanh[0].bias
    w, bw = model.attention.score.weight[0], model.attention.score.bias[0]
    hs, es = [], []
    for xk in x:
        h = torch.relu(W0 @ xk + b0)
        t = torch.tanh(V @ h + bV)
        if model.attention.gate is not None:
            U, bU = model.attention.gate[0].weight, model.attention.gate[0].bias
            t = t * torch.sigmoid(U @ h + bU)
        hs.append(h)
        es.append(float(w @ t + bw))
    a = _softmax(es)
    z = sum(ak * h for ak, h in zip(a, hs))
    return model.classifier.weight @ z + model.classifier.bias, a, z


@pytest.mark.parametrize("gated", [True, False])
def test_abmil_attention_pooling_and_classifier(gated):
    torch.manual_seed(1)
    model = ABMIL(6, 3, embed_dim=10, attn_dim=5, gated=gated).eval()
    x, mask = _padded([4, 7, 1])
    out = model(x, mask)
    for b, n in enumerate([4, 7, 1]):
        logits, a, z = _abmil_by_hand(model, x[b, :n])
        torch.testing.assert_close(out.logits[b], logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.attention[b, 0, :n], a, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out.embedding[b], z, atol=1e-5, rtol=1e-5)
        assert (out.attention[b, 0, n:] == 0).all()


def test_abmil_dropout_as_clam():
    model = ABMIL(6, 2, dropout=0.5)
    assert model.project[2].p == 0.5                             # the argument: projection only
    assert model.attention.tanh[2].p == 0.25 and model.attention.gate[2].p == 0.25   # fixed
    assert ABMIL(6, 2, dropout=0.0).attention.tanh[2].p == 0.0   # no dropout: none inside either


def test_abmil_loss_is_softmax_cross_entropy():
    ds = planted_bags(6, d=6, lengths=(3, 8), seed=2)
    torch.manual_seed(0)
    model = ABMIL(6, 2, embed_dim=8, attn_dim=4, dropout=0.0)
    hand = []
    with torch.no_grad():
        for bag in ds.bags:
            logits, _, _ = _abmil_by_hand(model, bag.features)
            hand.append(-torch.log_softmax(logits, 0)[bag.label])   # CLAM's nn.CrossEntropyLoss
    # lr 1e-12: the weights do not move, so the epoch's mean bag loss is the loss at these weights
    res = fit(model, ds, None, TrainConfig(epochs=1, lr=1e-12, progress=False))
    assert res.history.bag_loss.iloc[0] == pytest.approx(float(torch.stack(hand).mean()), rel=1e-5)


def test_abmil_optimizer_as_clams_command():
    cfg = get_method("abmil_gated").train_config()
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.batch_size) == ("adam", 2e-4, 1e-5, 1)
    model = get_method("abmil_gated").build_model(BuildContext(1024, 2, 0, 0))
    assert (model.project[0].out_features, model.attention.tanh[0].out_features) == (512, 256)


# ====================================================================================== ACMIL
@torch.no_grad()
def test_acmil_branches_stkim_and_slide_pooling():
    torch.manual_seed(3)
    model = ACMIL(6, 2, embed_dim=8, attn_dim=4, n_branches=3, top_k=4, mask_drop=0.6,
                  dropout=0.0).train()
    x, mask = _padded([9, 3, 6], seed=4)
    torch.manual_seed(5)
    out = model(x, mask)
    hidden = out.extras["stkim_hidden"]
    W0 = model.project[0].weight
    V, bV = model.attention.tanh[0].weight, model.attention.tanh[0].bias
    U, bU = model.attention.gate[0].weight, model.attention.gate[0].bias
    Wm, bm = model.attention.score.weight, model.attention.score.bias
    for b, n in enumerate([9, 3, 6]):
        hs = [torch.relu(W0 @ xk) for xk in x[b, :n]]              # no projection bias
        s = torch.stack([Wm @ (torch.tanh(V @ h + bV) * torch.sigmoid(U @ h + bU)) + bm
                         for h in hs], 1)                          # (M, n): shared V, U
        k = min(4, n)
        a_m = []
        for m in range(3):
            hid = hidden[b, m, :n].nonzero().flatten().tolist()
            top = torch.topk(s[m], k).indices.tolist()
            assert len(hid) == math.floor(k * 0.6) and set(hid) <= set(top)   # ⌊K'·drop⌋ of top K'
            assert not hidden[b, m, n:].any()
            e = [float(s[m, i]) if i not in hid else -1e30 for i in range(n)]   # authors: −1e9
            a_m.append(_softmax(e))
            zm = sum(a * h for a, h in zip(a_m[-1], hs))
            clf = model.branch_classifiers[m]
            torch.testing.assert_close(out.extras["branch_logits"][b, m], clf.weight @ zm + clf.bias,
                                       atol=1e-5, rtol=1e-5)
        abar = torch.stack(a_m).mean(0)                            # mean of the masked softmaxes
        z = sum(a * h for a, h in zip(abar, hs))
        torch.testing.assert_close(out.logits[b], model.classifier.weight @ z + model.classifier.bias,
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.slide_attention[b, :n], abar, atol=1e-6, rtol=1e-5)
    # inference: the same formulas with nothing hidden
    ev = model.eval()(x, mask)
    assert not ev.extras["stkim_hidden"].any()
    for b, n in enumerate([9, 3, 6]):
        hs = [torch.relu(W0 @ xk) for xk in x[b, :n]]
        s = torch.stack([Wm @ (torch.tanh(V @ h + bV) * torch.sigmoid(U @ h + bU)) + bm
                         for h in hs], 1)
        abar = torch.stack([_softmax(s[m].tolist()) for m in range(3)]).mean(0)
        z = sum(a * h for a, h in zip(abar, hs))
        torch.testing.assert_close(ev.logits[b], model.classifier.weight @ z + model.classifier.bias,
                                   atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_acmil_loss_terms():
    torch.manual_seed(0)
    model = ACMIL(6, 3, embed_dim=8, attn_dim=4, n_branches=3, top_k=2, dropout=0.0).train()
    x, mask = _padded([5, 8], seed=1)
    y = torch.tensor([2, 0])
    out = model(x, mask)
    terms = {t.name: (t.weight, float(t.fn(out, types.SimpleNamespace(labels=y), None)))
             for t in acmil_loss_terms(model)}
    branch_ce = np.mean([-float(torch.log_softmax(out.extras["branch_logits"][b, m], 0)[y[b]])
                         for b in range(2) for m in range(3)])
    cos = []
    for b in range(2):
        a = out.attention[b]
        for i in range(3):
            for j in range(i + 1, 3):
                cos.append(float(a[i] @ a[j] / (a[i].norm() * a[j].norm())))
    assert terms["branch_ce"] == (1.0, pytest.approx(branch_ce, rel=1e-5))
    assert terms["branch_diversity"] == (1.0, pytest.approx(np.mean(cos), rel=1e-5))
    assert acmil_loss_terms(ACMIL(6, 2, n_branches=1)) == []       # M = 1: slide CE only


def test_acmil_defaults():
    m = get_method("acmil").build_model(BuildContext(16, 2, 0, 0))
    assert (m.n_branches, m.top_k, m.mask_drop, m.attention.tanh[0].out_features) == (5, 10, 0.6, 128)
    assert m.project[0].bias is None


def _auc_by_hand(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    return sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg) / (len(pos) * len(neg))


def test_acmil_selection_is_micro_f1_plus_auc():
    # an imbalanced validation set where micro and macro F1 differ
    ds = planted_bags(11, d=6, lengths=(4, 9), seed=5)
    ds = ListBagDataset([Bag(b.features, int(i < 8), b.slide_id) for i, b in enumerate(ds.bags)])
    torch.manual_seed(2)
    model = ABMIL(6, 2, embed_dim=8, attn_dim=4).eval()
    with torch.no_grad():
        probs = torch.stack([torch.softmax(model(b.features).logits[0], 0) for b in ds.bags])
    pred, y = probs.argmax(1).tolist(), ds.labels.tolist()
    # torchmetrics' multiclass F1 with its default average='micro': TP, FP, FN pooled over classes
    tp = sum(p == t for p, t in zip(pred, y))
    fp = fn = len(y) - tp                      # every wrong slide is one FP and one FN
    micro_f1 = 2 * tp / (2 * tp + fp + fn)
    f1s = []
    for c in (0, 1):
        tpc = sum(p == c and t == c for p, t in zip(pred, y))
        fpc = sum(p == c and t != c for p, t in zip(pred, y))
        fnc = sum(p != c and t == c for p, t in zip(pred, y))
        f1s.append(2 * tpc / (2 * tpc + fpc + fnc) if tpc + fpc + fnc else 0.0)
    assert abs(np.mean(f1s) - micro_f1) > 0.01                  # the example tells them apart
    auc = _auc_by_hand(probs[:, 1].tolist(), y)
    row = _validation_row(model, ds)
    assert row["val_acc_auc"] == pytest.approx(micro_f1 + auc, rel=1e-6)
    # the course keeps the last of a fixed number of epochs (docs/protocol.md); val_acc_auc is
    # the authors' rule, recorded every epoch and available as a monitor
    assert get_method("acmil").train_config().monitor == "last"


# ======================================================================================== AEM
def test_aem_regulariser_and_loss():
    logits = torch.tensor([[[2.0, 0.5, -1.0, 0.0, 9.0]], [[0.3, -0.2, 1.5, 40.0, 40.0]]])
    mask = torch.tensor([[True] * 4 + [False], [True] * 3 + [False] * 2])
    R = []
    for b, n in enumerate([4, 3]):
        a = _softmax(logits[b, 0, :n].tolist())
        R.append(float((a * a.log()).sum()))           # Σ_k a_k log a_k over the bag's instances
    assert float(negative_entropy(logits, mask)) == pytest.approx(np.mean(R), rel=1e-6)
    # several heads: the authors divide the multi-head sum by the number of heads
    heads = torch.tensor([[[1.0, 0.0, -2.0], [0.5, 3.0, 0.2]]])
    per_head = [float((_softmax(h) * _softmax(h).log()).sum()) for h in heads[0].tolist()]
    assert float(negative_entropy(heads)) == pytest.approx(sum(per_head) / 2, rel=1e-6)
    (term,) = [t for t in get_method("aem").loss_terms(None)]
    assert term.name == "neg_entropy" and term.weight == 0.1      # L = CE + 0.1·R, constant


# ===================================================================================== MHIM v1
def test_mhim_v1_masks_count_on_all_patches():
    # N = 20, r = 0.5, r_h = 0.1, r_hr = 0.5: the authors' select_mask_fn takes the top
    # k = ⌈20·0.1/0.5⌉ = 4 of *all* 20 by score and masks ⌈4·0.5⌉ = 2 of them, whatever the
    # random mask took (counted on the 10 patches left it would be the top ⌈10·0.2⌉ = 2 → 1)
    scores = torch.tensor([[0.3, 0.9, 0.1, 0.8, 0.2, 0.7, 0.05, 0.6, 0.15, 0.5,
                            0.25, 0.95, 0.12, 0.45, 0.35, 0.4, 0.01, 0.55, 0.02, 0.65]])
    top4 = set(torch.topk(scores[0], 4).indices.tolist())
    g = torch.Generator().manual_seed(0)
    seen_overlap = False
    for _ in range(40):
        m, parts = mhim_mask(scores, None, r_h=0.1, r_hr=0.5, r=0.5, r_l=0.1, generator=g,
                             parts=True)
        high = set(parts["high"][0].nonzero().flatten().tolist())
        assert len(high) == 2 and high <= top4
        assert int(parts["random"].sum()) == 10                   # ⌈20·0.5⌉ uniform over all
        assert parts["low"][0].nonzero().flatten().tolist() == [16, 18]   # ⌈20·0.1⌉ lowest
        assert torch.equal(m, parts["high"] | parts["random"] | parts["low"])
        seen_overlap |= bool((parts["high"] & parts["random"]).any())
    assert seen_overlap              # high picks may fall on randomly masked patches (a union)


def test_mhim_v1_r_h_decay_and_ema_and_consistency():
    torch.manual_seed(0)
    student, teacher = ABMIL(6, 2, embed_dim=8, attn_dim=4), ABMIL(6, 2, embed_dim=8, attn_dim=4)
    model = MHIM(student, teacher, r_h=0.03)
    cb = MHIMSchedule(decay=True, momentum=0.7)
    for step, total in [(0, 17), (3, 17), (11, 17), (17, 17)]:
        cb.on_step_start(model, TrainState(1, step, total, total))
        assert model.r_h == pytest.approx(0.5 * 0.03 * (1 + math.cos(math.pi * step / total)))
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    cb.on_step_end(model, TrainState(1, 0, 17, 17))
    for (k, t), s in zip(teacher.named_parameters(), student.parameters()):
        torch.testing.assert_close(t, 0.7 * before[k] + 0.3 * s)
    zs, zt = torch.tensor([[0.2, -1.0, 0.5]]), torch.tensor([[0.1, 0.3, -0.2]])
    p_t = _softmax((zt[0] / 0.1).tolist())
    log_p_s = torch.log(_softmax(zs[0].tolist()))
    assert float(consistency_loss(zs, zt)) == pytest.approx(float(-(p_t * log_p_s).sum()), rel=1e-5)


def test_mhim_v1_score_is_the_softmax_attention():
    torch.manual_seed(0)
    teacher = ABMIL(6, 2, embed_dim=8, attn_dim=4).eval()
    x, mask = _padded([6, 3])
    s = instance_scores(teacher(x, mask), teacher, "attention")
    for b, n in enumerate([6, 3]):
        torch.testing.assert_close(s[b, :n], _abmil_by_hand(teacher, x[b, :n])[1], atol=1e-6,
                                   rtol=1e-5)


def test_mhim_v1_teacher_scores_in_train_mode_on_the_full_bag():
    torch.manual_seed(0)
    model = MHIM(ABMIL(6, 2, embed_dim=8, attn_dim=4), ABMIL(6, 2, embed_dim=8, attn_dim=4),
                 r_h=0.2, r_hr=1.0, r=0.0).train()
    seen = []
    model.teacher.register_forward_pre_hook(lambda m, args: seen.append((m.training, args[1].clone())))
    x, mask = _padded([7, 4])
    out = model(x, mask)
    assert seen[0][0] and torch.equal(seen[0][1], mask)          # dropout on, every real patch
    assert torch.equal(out.mask, mask & ~out.extras["mhim_masked"])
    model.eval()
    torch.testing.assert_close(model(x, mask).logits, model.student(x, mask).logits)


def _pretrained_ctx(seed=4):
    torch.manual_seed(99)
    trained = ABMIL(6, 2, embed_dim=8, attn_dim=4)
    return trained, BuildContext(6, 2, 0, seed, pretrained=lambda base: trained)


def test_mhim_v1_student_projection_copied_from_the_teacher():
    base = get_method("abmil_gated").with_options(name="small", embed_dim=8, attn_dim=4)
    trained, ctx = _pretrained_ctx()
    model = mhim_method(base, name="m").build_model(ctx)
    fresh = base.build_model(ctx)                                 # the baseline's initial draw
    assert MHIM_DEFAULTS["student_init"] == "projection"
    torch.testing.assert_close(model.student.project[0].weight, trained.project[0].weight)
    torch.testing.assert_close(model.student.project[0].bias, trained.project[0].bias)
    torch.testing.assert_close(model.student.attention.score.weight, fresh.attention.score.weight)
    assert not torch.equal(model.student.attention.score.weight, trained.attention.score.weight)
    other = mhim_method(base, name="f", student_init="fresh").build_model(ctx)
    torch.testing.assert_close(other.student.project[0].weight, fresh.project[0].weight)


def test_mhim_v1_recipe_values():
    m = get_method("mhim").model_kwargs
    assert (m["r_h"], m["r_hr"], m["r"], m["r_l"], m["decay"], m["alpha"]) == \
        (0.01, 0.5, 0.5, 0.0, True, 0.1)
    cfg = get_method("mhim").train_config()
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.schedule) == ("adam", 2e-4, 1e-5, "cosine")


# ===================================================================================== MHIM v2
@torch.no_grad()
def test_mhim_v2_class_aware_score_is_bias_free():
    torch.manual_seed(0)
    teacher = ABMIL(6, 3, embed_dim=8, attn_dim=4).eval()
    with torch.no_grad():
        teacher.classifier.bias.copy_(torch.tensor([0.9, -0.3, 0.1]))
    x, mask = _padded([5, 3])
    out = teacher(x, mask)
    s = instance_scores(out, teacher, "class_aware")
    W, b = teacher.classifier.weight, teacher.classifier.bias
    for bag, n in enumerate([5, 3]):
        alone = teacher(x[bag, :n])
        h, a = alone.extras["instance_embeddings"][0], alone.slide_attention[0]
        hand = [float(torch.softmax(W @ (a[i] * h[i]) + b[0], 0).max()) for i in range(n)]
        assert s[bag, :n].tolist() == pytest.approx(hand, rel=1e-5)
    with torch.no_grad():
        teacher.classifier.bias.add_(torch.tensor([3.0, -1.0, 0.4]))
    torch.testing.assert_close(instance_scores(teacher(x, mask), teacher, "class_aware")[mask],
                               s[mask])


def test_mhim_v2_masks_the_top_r_h_by_class_aware_score():
    d = MHIM_V2_DEFAULTS
    assert (d["r_hr"], d["r"], d["r_l"], d["decay"], d["score"]) == (1.0, 0.0, 0.0, False, "class_aware")
    scores = torch.tensor([[0.51, 0.93, 0.62, 0.88, 0.55, 0.7, 0.99, 0.0],
                           [0.6, 0.52, 0.97, 0.58, 0.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[True] * 7 + [False], [True] * 4 + [False] * 4])
    m = mhim_mask(scores, mask, 0.3, d["r_hr"], d["r"], d["r_l"])
    # ⌈7·0.3⌉ = 3 highest of bag 0, ⌈4·0.3⌉ = 2 of bag 1, deterministically
    assert m[0].nonzero().flatten().tolist() == [1, 3, 6]
    assert m[1].nonzero().flatten().tolist() == [0, 2]


def test_mhim_v2_random_keep_share():
    visible = torch.tensor([[True] * 10 + [False] * 2, [True, False] * 6])
    g = torch.Generator().manual_seed(1)
    ever_kept, ever_recycled = torch.zeros_like(visible), torch.zeros_like(visible)
    for _ in range(30):
        kept, rec = recycle_split(visible, 0.8, g)
        assert kept.sum(1).tolist() == [8, 4]                 # ⌊10·0.8⌋, ⌊6·0.8⌋ = int(4.8)
        assert not (kept & rec).any() and torch.equal(kept | rec, visible)
        ever_kept |= kept
        ever_recycled |= rec
    assert torch.equal(ever_kept, visible) and torch.equal(ever_recycled, visible)   # uniform


@torch.no_grad()
def _recycle_by_hand(net: RecycleNetwork, h: torch.Tensor, recycled: list[int]) -> torch.Tensor:
    """The authors' merge for one bag: Z = to_out(MCA(q = LN(G), k = v = LN(R))), head by head."""
    ln = net.norm
    G = ln(net.queries)                                            # (k, E)
    R = ln(h[recycled])                                            # (n_r, E)
    q, k, v = G @ net.to_q.weight.t(), R @ net.to_k.weight.t(), R @ net.to_v.weight.t()
    d = net.head_dim
    heads = []
    for hd in range(net.heads):
        sl = slice(hd * d, (hd + 1) * d)
        if len(recycled) == 0:                                     # empty softmax: output 0
            heads.append(torch.zeros(len(G), d))
            continue
        att = torch.stack([_softmax((q[i, sl] @ k[:, sl].t() / math.sqrt(d)).tolist())
                           for i in range(len(G))])
        heads.append(att @ v[:, sl])
    return torch.cat(heads, 1) @ net.to_out[0].weight.t() + net.to_out[0].bias


def test_mhim_v2_recycle_network_by_hand():
    torch.manual_seed(0)
    net = RecycleNetwork(8, n_queries=3, momentum=0.9, heads=2, head_dim=4).eval()
    with torch.no_grad():                          # asymmetric LayerNorm and output bias
        net.norm.weight.uniform_(0.5, 1.5), net.norm.bias.uniform_(-0.3, 0.3)
        net.to_out[0].bias.uniform_(-0.2, 0.2)
    h = torch.randn(3, 6, 8)
    h[1, 4:] = 1e3                                                 # padding junk
    recycled = torch.tensor([[1, 0, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0], [0] * 6], dtype=torch.bool)
    z = net(h, recycled)
    for b in range(3):
        idx = recycled[b].nonzero().flatten().tolist()
        torch.testing.assert_close(z[b], _recycle_by_hand(net, h[b], idx), atol=1e-5, rtol=1e-4)
    # the EMA of the queries, after a training forward (dropout off): G ← m G + (1 − m) mean_b Z
    net.train()
    net.attn_dropout.p = net.to_out[1].p = 0.0
    g0 = net.queries.clone()
    one = net(h[:1], recycled[:1])
    torch.testing.assert_close(net.queries, 0.9 * g0 + 0.1 * one[0].detach())
    g1 = net.queries.clone()
    two = net(h[:2], recycled[:2])
    torch.testing.assert_close(net.queries, 0.9 * g1 + 0.1 * two.detach().mean(0))


def test_mhim_v2_queries_initialisation_and_no_gradient():
    net = RecycleNetwork(512, n_queries=10)
    bound = math.sqrt(6 / (3 * 16 * 16 + 512))
    assert net.queries.abs().max() <= bound and net.queries.abs().max() > 0.9 * bound
    assert "queries" not in dict(net.named_parameters()) and "queries" in net.state_dict()
    assert float(net.to_out[0].bias.detach().abs().max()) == 0
    w = net.to_q.weight                                            # Xavier normal: std √(2/(in+out))
    assert float(w.std()) == pytest.approx(math.sqrt(2 / (512 + 512)), rel=0.05)
    assert net.heads == 8 and net.head_dim == 64 and net.attn_dropout.p == 0.1
    assert net.to_q.bias is None and net.to_k.bias is None and net.to_v.bias is None


def _v2_model(recycle: bool):
    torch.manual_seed(0)
    student = ABMIL(6, 2, embed_dim=8, attn_dim=4, dropout=0.0)
    teacher = ABMIL(6, 2, embed_dim=8, attn_dim=4, dropout=0.0)
    net = RecycleNetwork(8, n_queries=2, momentum=0.9, heads=2, head_dim=4, dropout=0.0)
    return MHIM(student, teacher, r_h=0.0, r_hr=1.0, r=0.0, score="class_aware", seed=3,
                merge_ratio=0.6, recycle=net if recycle else None).train()


def test_mhim_v2_student_pools_kept_and_recycle_tokens():
    model = _v2_model(recycle=True)
    x, mask = _padded([7, 5], seed=2)
    state = model.generator.get_state()
    g0 = model.recycle.queries.clone()
    out = model(x, mask)
    rec = out.extras["mhim_recycled"]
    kept = mask & ~out.extras["mhim_masked"] & ~rec
    # kept = the visible minus the recycled; by hand: pool [kept embeddings ; Z] with ABMIL
    model.recycle.queries = g0
    for b, n in enumerate([7, 5]):
        ki, ri = kept[b].nonzero().flatten(), rec[b].nonzero().flatten().tolist()
        assert len(ki) == int(n * 0.6) and len(ri) == n - int(n * 0.6)
        h = torch.relu(x[b] @ model.student.project[0].weight.t() + model.student.project[0].bias)
        z = _recycle_by_hand(model.recycle, h, ri)
        tokens = torch.cat([h[ki], z])
        st = model.student
        e = [float(st.attention.score.weight[0].detach() @ (torch.tanh(st.attention.tanh[0](t))
                                                     * torch.sigmoid(st.attention.gate[0](t)))
                   + st.attention.score.bias[0]) for t in tokens]
        emb = (_softmax(e)[:, None] * tokens).sum(0)
        torch.testing.assert_close(out.embedding[b], emb, atol=1e-5, rtol=1e-4)
    # the masked (recycled) patches reach the student only through the recycle network
    for recycle in (True, False):
        m = _v2_model(recycle)
        state = m.generator.get_state()
        q0 = m.recycle.queries.clone() if recycle else None
        first = m(x, mask)
        b, i = 0, int(first.extras["mhim_recycled"][0].nonzero()[0])   # a recycled patch
        j = int((mask & ~first.extras["mhim_recycled"])[0].nonzero()[0])   # a kept patch
        for where, should_change in ((i, recycle), (j, True)):
            x2 = x.clone()
            x2[b, where] += 3.0
            x2[1, 5:] = -7.0                                       # padding changes: no effect
            m.generator.set_state(state)
            if recycle:
                m.recycle.queries = q0.clone()
            again = m(x2, mask)
            assert torch.equal(again.extras["mhim_recycled"], first.extras["mhim_recycled"])
            changed = not torch.allclose(again.embedding[0], first.embedding[0], atol=1e-6)
            assert changed == should_change, (recycle, where)
            torch.testing.assert_close(again.embedding[1], first.embedding[1])   # bag 1 alone


def test_mhim_v2_inference_is_the_student_alone():
    model = _v2_model(recycle=True).eval()
    x, mask = _padded([7, 5], seed=2)
    out = model(x, mask)
    torch.testing.assert_close(out.logits, model.student(x, mask).logits)
    assert "mhim_recycled" not in out.extras and out.attention_logits.shape[-1] == 7


def test_mhim_v2_recipe_values():
    kw = get_method("mhim_v2").model_kwargs
    assert (kw["alpha"], kw["merge_k"], kw["student_init"], kw["recycle"]) == (0.5, 1, "fresh", True)
    assert kw["merge_ratio"] in (0.8, 0.9) and kw["r_h"] in (0.01, 0.03, 0.05)   # the authors' grid
    base = get_method("abmil_gated").with_options(name="small", embed_dim=8, attn_dim=4)
    trained, ctx = _pretrained_ctx()
    model = mhim_v2_method(base, name="v2").build_model(ctx)
    fresh = base.build_model(ctx)
    torch.testing.assert_close(model.student.project[0].weight, fresh.project[0].weight)
    assert model.recycle.queries.shape == (1, 8) and model.merge_ratio == 0.8
    assert model.score == "class_aware" and model.r_hr == 1.0


# ==================================================================================== PackMIL
def test_packmil_split_by_hand():
    n, p = 23, 0.4
    main, res = split_slide(n, p, min_len=16, generator=torch.Generator().manual_seed(7))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(7))
    assert main.tolist() == sorted(perm[:int(n * p)].tolist())     # the first ⌊p·N⌋ → main
    assert res.tolist() == sorted(perm[int(n * p):].tolist())
    small_main, small_res = split_slide(15, p, min_len=16)        # N < min_len: whole to both
    assert small_main.tolist() == small_res.tolist() == list(range(15))


def test_packmil_sequential_packing_by_hand():
    lengths, L = [5, 9, 3, 12, 1, 7, 6], 16
    packs, cur, total = [], [], 0
    for i, n in enumerate(lengths):                 # the authors' group_seqs, "sequential"
        if total + n > L:
            packs.append(cur)
            cur, total = [], 0
        cur.append(i)
        total += n
    packs.append(cur)
    assert sequential_packs(lengths, L) == packs


def _pack_bags(lengths, labels, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [Bag(torch.randn(n, d, generator=g), y, f"s{i}") for i, (n, y) in
            enumerate(zip(lengths, labels))]


def test_packmil_per_slide_attention_and_one_bag_hyperslides():
    torch.manual_seed(0)
    model = PackMIL(6, 2, embed_dim=8, attn_dim=4).eval()
    bags = _pack_bags([9, 20, 4, 13], [0, 1, 1, 0])
    batch = pack_collate(p=0.5, max_len=16, min_len=5,
                         generator=torch.Generator().manual_seed(1))(bags)
    out = model(batch.features, batch.mask, **batch.model_kwargs)
    for s in range(4):                                           # each slide alone, by hand
        part = batch.features[batch.slide_index == s]
        torch.testing.assert_close(out.logits[s], _abmil_by_hand(model, part)[0],
                                   atol=1e-5, rtol=1e-5)
    for r in range(len(batch.residual_features)):                # a hyperslide: one bag
        tokens = batch.residual_features[r][batch.residual_mask[r]]
        torch.testing.assert_close(out.extras["hyperslide_logits"][r],
                                   _abmil_by_hand(model, tokens)[0], atol=1e-5, rtol=1e-5)


def test_packmil_multihot_target_by_hand():
    # the authors' mixup_target: one-hot per member, summed per class, ÷ the largest sum
    labels, counts = [0, 1, 1, 2, 1], torch.tensor([[30.0, 10, 5, 0, 0], [0, 0, 7, 2, 0]])
    for r, row in enumerate(counts):
        y_sum = torch.zeros(3)
        for y, w in zip(labels, row):
            if w > 0:
                y_sum[y] += 1
        torch.testing.assert_close(hyperslide_label(labels, counts, 3)[r], y_sum / y_sum.max())
    torch.testing.assert_close(hyperslide_label([0, 1, 1], torch.tensor([30.0, 10, 5]), 2),
                               torch.tensor([0.5, 1.0]))


def test_packmil_hyperslide_losses_by_hand():
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.4], [-0.5, -0.1]])
    q = torch.tensor([[0.5, 1.0], [1.0, 0.0], [1.0, 1.0]])
    sig = lambda v: 1 / (1 + math.exp(-v))                          # noqa: E731
    bce = [-(t * math.log(sig(l)) + (1 - t) * math.log(1 - sig(l)))
           for lr, qr in zip(logits.tolist(), q.tolist()) for l, t in zip(lr, qr)]
    assert float(multilabel_bce(logits, q)) == pytest.approx(np.mean(bce), rel=1e-6)  # mean R·C
    focal = [0.25 * (1 - math.exp(-b)) ** 2 * b for b in bce]
    assert float(multilabel_focal(logits, q)) == pytest.approx(np.mean(focal), rel=1e-6)
    mix = torch.tensor([[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]])      # the token-mixture variant
    ce = [-sum(t * math.log(p) for t, p in zip(tr, _softmax(lr).tolist()))
          for lr, tr in zip(logits.tolist(), mix.tolist())]
    assert float(soft_target_cross_entropy(logits, mix)) == pytest.approx(np.mean(ce), rel=1e-6)


def test_packmil_total_loss_is_main_ce_plus_alpha_times_bce():
    torch.manual_seed(0)
    model = PackMIL(6, 2, embed_dim=8, attn_dim=4).eval()
    bags = _pack_bags([9, 20, 4, 13, 30], [0, 1, 1, 0, 1])
    batch = pack_collate(p=0.5, max_len=24, min_len=5,
                         generator=torch.Generator().manual_seed(2))(bags)
    out = model(batch.features, batch.mask, **batch.model_kwargs)
    method = get_method("packmil")
    (term,) = method.loss_terms(model)
    assert PACKMIL_DEFAULTS["alpha"] == term.weight == 0.2
    total = F.cross_entropy(out.logits, batch.labels) + term.weight * term.fn(out, batch, None)
    main = np.mean([-float(torch.log_softmax(out.logits[s], 0)[bags[s].label]) for s in range(5)])
    hyper = out.extras["hyperslide_logits"]
    q = []
    for r in range(len(hyper)):
        members = set(batch.residual_slide_index[r][batch.residual_mask[r]].tolist())
        n_c = [sum(bags[s].label == c for s in members) for c in (0, 1)]
        q.append([v / max(n_c) for v in n_c])
    bce = float(F.binary_cross_entropy_with_logits(hyper, torch.tensor(q)))
    assert float(total) == pytest.approx(main + 0.2 * bce, rel=1e-5)
    (mix_term,) = get_method("packmil_tokenmix").loss_terms(model)
    counts = batch.residual_counts
    mix = [[float(sum(counts[r, s] for s in range(5) if bags[s].label == c) / counts[r].sum())
            for c in (0, 1)] for r in range(len(hyper))]
    assert float(mix_term.fn(out, batch, None)) == pytest.approx(
        float(soft_target_cross_entropy(hyper, torch.tensor(mix))), rel=1e-6)
