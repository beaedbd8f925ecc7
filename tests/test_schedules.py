"""Every schedule at several asymmetric points, and checked to be *used*: the value that reaches
the optimizer, the loss, the mask or the EMA during a real ``fit``, not only the value a helper
computes.

A half cosine and its mirror image (or a straight line) agree at t = 0.5, so each schedule is
sampled at t = 0.2 or 0.8 as well; and a schedule computed correctly but read at the wrong step
(the first step, the epoch instead of the step) or not passed on at all is caught only by looking
at what the trainer actually handed over.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bags import planted_bags
from milhelpers import models
from milhelpers.losses import aem_term
from milhelpers.methods import BuildContext, MHIMSchedule, aem_method, get_method, mhim_method
from milhelpers.models import ABMIL, MHIM
from milhelpers.train import Callback, TrainConfig, TrainState, cosine_ramp, fit, torch_threads

SMALL = dict(embed_dim=16, attn_dim=8)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def half_cosine(start: float, end: float, t: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))


@pytest.fixture
def optimizer_steps():
    """What every optimizer step receives: (optimizer class name, lr, weight decay, gradient
    norm) of each ``optimizer.step()``, recorded by a global step pre-hook."""
    seen = []

    def hook(opt, args, kwargs):
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g)
                                                           for g in grads])))
        g0 = opt.param_groups[0]
        seen.append((type(opt).__name__, g0["lr"], g0["weight_decay"], norm))

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(hook)
    yield seen
    handle.remove()


# ------------------------------------------------------------------------- the trainer's LR
def test_cosine_lr_reaches_the_optimizer_at_every_step(optimizer_steps):
    ds = planted_bags(6, d=8, lengths=(5, 10))
    cfg = TrainConfig(epochs=4, lr=1e-3, batch_size=2, progress=False)   # 3 steps × 4 epochs
    res = fit(lambda: ABMIL(8, 2, **SMALL), ds, None, cfg)
    lrs = [lr for _, lr, _, _ in optimizer_steps]
    want = [half_cosine(1e-3, 0.0, s / 12) for s in range(12)]
    np.testing.assert_allclose(lrs, want, rtol=1e-12)
    # asymmetric points spelled out: t = 1/12 and t = 8/12 tell a cosine from a line or its mirror
    assert lrs[1] == pytest.approx(0.5e-3 * (1 + math.cos(math.pi / 12)))
    assert lrs[8] == pytest.approx(0.5e-3 * (1 + math.cos(8 * math.pi / 12)))
    # the history's lr is the one of each epoch's last step
    np.testing.assert_allclose(res.history.lr, [want[2], want[5], want[8], want[11]], rtol=1e-12)


def test_constant_lr_weight_decay_and_optimizer_reach_the_optimizer(optimizer_steps):
    ds = planted_bags(4, d=8, lengths=(5, 10))
    cfg = TrainConfig(epochs=2, lr=3e-3, weight_decay=0.05, optimizer="adamw",
                      schedule="constant", progress=False)
    fit(lambda: ABMIL(8, 2, **SMALL), ds, None, cfg)
    assert len(optimizer_steps) == 8
    assert {(name, lr, wd) for name, lr, wd, _ in optimizer_steps} == {("AdamW", 3e-3, 0.05)}


def test_gradient_clipping_reaches_the_optimizer(optimizer_steps):
    ds = planted_bags(4, d=8, lengths=(5, 10))
    fit(lambda: ABMIL(8, 2, **SMALL), ds, None,
        TrainConfig(epochs=1, lr=1e-3, grad_clip=1e-3, progress=False))
    norms = [n for *_, n in optimizer_steps]
    assert len(norms) == 4 and max(norms) <= 1e-3 * (1 + 1e-5)
    optimizer_steps.clear()
    fit(lambda: ABMIL(8, 2, **SMALL), ds, None, TrainConfig(epochs=1, lr=1e-3, progress=False))
    assert max(n for *_, n in optimizer_steps) > 1e-2            # unclipped, far larger


# ------------------------------------------------------------------------------- TrainState
def test_progress_and_cosine_ramp_at_asymmetric_points():
    states = [TrainState(1 + s // 5, s, 20, 5) for s in (0, 3, 10, 16, 19)]
    assert [s.progress for s in states] == [0.0, 0.15, 0.5, 0.8, 0.95]
    ramp = cosine_ramp(2.0, 0.5)
    for s in states:
        assert ramp(s) == pytest.approx(half_cosine(2.0, 0.5, s.progress), abs=1e-12)
    assert ramp(states[3]) == pytest.approx(0.5 + 1.5 * 0.5 * (1 + math.cos(0.8 * math.pi)))
    up = cosine_ramp(0.0, 1.0)                                   # increasing ramps work too
    assert up(states[1]) == pytest.approx(0.5 * (1 - math.cos(0.15 * math.pi)))


# ---------------------------------------------------------------------------------- AEM's λ
def test_aem_cosine_lambda_is_the_weight_that_reaches_the_loss():
    """One bag, lr 0 and no dropout: every step sees the same model and bag, so each epoch (one
    step each) logs the same CE and entropy term, and train_loss − bag_loss = λ_t · R exactly
    tells which weight the trainer added."""
    ds = planted_bags(1, d=8, lengths=(12, 13))
    method = aem_method(0.5, "cosine").with_options(dropout=0.0, **SMALL)
    res = method.fit(ds, None, method.train_config(epochs=5, lr=0.0, progress=False, seed=0))
    h = res.history
    assert np.ptp(h.neg_entropy) < 1e-6 and (h.neg_entropy < -0.1).all()   # the same R
    used = (h.train_loss - h.bag_loss) / h.neg_entropy
    want = [half_cosine(0.5, 0.0, t) for t in (0.0, 0.2, 0.4, 0.6, 0.8)]
    np.testing.assert_allclose(used, want, rtol=1e-4)
    const = aem_term(0.5)
    assert {const.weight_at(TrainState(1, s, 5, 1)) for s in range(5)} == {0.5}


# -------------------------------------------------------------------------- MHIM's schedules
def _tiny_mhim(r_h=0.08):
    torch.manual_seed(0)
    return MHIM(ABMIL(6, 2, embed_dim=8, attn_dim=4), ABMIL(6, 2, embed_dim=8, attn_dim=4),
                r_h=r_h)


@pytest.mark.parametrize("t", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_mhim_momentum_cosine_at_several_points_is_the_one_the_ema_uses(t):
    model = _tiny_mhim()
    with torch.no_grad():                      # a teacher different from the student
        for p in model.teacher.parameters():
            p.add_(1.0)
    cb = MHIMSchedule(decay=True, momentum=0.9, momentum_cosine=True)
    state = TrainState(1, int(t * 10), 10, 10)
    cb.on_step_start(model, state)
    m = 1 - 0.5 * 0.1 * (1 + math.cos(math.pi * t))             # 0.9 → 1 along a half cosine
    assert cb.momentum == pytest.approx(m, abs=1e-12)
    assert model.r_h == pytest.approx(half_cosine(0.08, 0.0, t), abs=1e-12)
    before = [p.clone() for p in model.teacher.parameters()]
    cb.on_step_end(model, state)
    for b, p, s in zip(before, model.teacher.parameters(), model.student.parameters()):
        torch.testing.assert_close(p, m * b + (1 - m) * s, atol=1e-6, rtol=1e-6)


def test_mhim_constant_momentum_and_no_decay_stay_put():
    model = _tiny_mhim()
    cb = MHIMSchedule(decay=False, momentum=0.7, momentum_cosine=False)
    for step in (0, 3, 8):
        cb.on_step_start(model, TrainState(1, step, 10, 10))
        assert cb.momentum == 0.7 and model.r_h == 0.08


class _TeacherWatch(Callback):
    """Runs after MHIM's own hooks: the teacher before the step, and teacher and student after
    the EMA, to check θ_T ← m θ_T + (1 − m) θ_S with the m the schedule gives at that step."""

    def __init__(self):
        self.records = []

    def on_step_start(self, model, state):
        self.before = [p.detach().clone() for p in model.teacher.parameters()]

    def on_step_end(self, model, state):
        self.records.append((state.progress, self.before,
                             [p.detach().clone() for p in model.teacher.parameters()],
                             [p.detach().clone() for p in model.student.parameters()]))


@pytest.fixture
def mask_calls(monkeypatch):
    """The ratios every mask drawn by MHIM on a bag receives: (r_h, r_hr, r, r_l). (MHIM's
    constructor checks its ratios on a dummy without a padding mask: not a draw.)"""
    calls = []
    real = models.mhim.mhim_mask

    def recording(scores, mask, r_h, r_hr=1.0, r=0.0, r_l=0.0, *a, **kw):
        if mask is not None:
            calls.append((r_h, r_hr, r, r_l))
        return real(scores, mask, r_h, r_hr, r, r_l, *a, **kw)

    monkeypatch.setattr(models.mhim, "mhim_mask", recording)
    return calls


def _mhim_fit(method, epochs=2, n_bags=6):
    ds = planted_bags(n_bags, d=8, lengths=(8, 16))
    base = get_method("abmil_gated").with_options(name="abmil_small", **SMALL)

    def pretrained(other):                     # an untrained baseline is teacher enough here
        return base.build_model(BuildContext(8, 2, 0, 1))

    watch = _TeacherWatch()
    method.fit(ds, None, method.train_config(epochs=epochs, lr=1e-2, progress=False, seed=1),
               pretrained=pretrained, extra_callbacks=[watch])
    return watch


def test_mhim_r_h_decay_and_options_reach_the_mask_at_every_step(mask_calls):
    base = get_method("abmil_gated").with_options(name="abmil_small", **SMALL)
    method = mhim_method(base, r_h=0.2, r_hr=0.4, r=0.3, r_l=0.1)
    _mhim_fit(method)                                            # 6 steps × 2 epochs
    assert len(mask_calls) == 12
    want = [half_cosine(0.2, 0.0, s / 12) for s in range(12)]
    np.testing.assert_allclose([c[0] for c in mask_calls], want, atol=1e-12)
    assert {c[1:] for c in mask_calls} == {(0.4, 0.3, 0.1)}
    mask_calls.clear()
    _mhim_fit(mhim_method(base, r_h=0.2, decay=False))
    assert {c[0] for c in mask_calls} == {0.2}                  # no decay: r_h stays


def test_mhim_momentum_schedule_reaches_the_ema_in_fit():
    base = get_method("abmil_gated").with_options(name="abmil_small", **SMALL)
    watch = _mhim_fit(mhim_method(base, momentum=0.8, momentum_cosine=True))
    assert len(watch.records) == 12
    for t, before, after, student in watch.records:
        m = 1 - 0.5 * 0.2 * (1 + math.cos(math.pi * t))
        for b, a, s in zip(before, after, student):
            torch.testing.assert_close(a, m * b + (1 - m) * s, atol=1e-6, rtol=1e-5)
    watch = _mhim_fit(mhim_method(base, momentum=0.8))          # constant m
    for _, before, after, student in watch.records:
        for b, a, s in zip(before, after, student):
            torch.testing.assert_close(a, 0.8 * b + 0.2 * s, atol=1e-6, rtol=1e-5)
