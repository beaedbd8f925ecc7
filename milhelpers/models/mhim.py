"""MHIM-MIL: masked hard-instance mining with a momentum teacher.

Tang et al., "Multiple instance learning framework with masked hard instance mining for whole
slide image classification", ICCV 2023, arXiv 2307.15254; extended in "MHIM-MIL v2", IJCV 2025,
arXiv 2509.11526.

Two stages. A baseline attention model is trained as usual; a copy of it becomes the *teacher*.
The *student* (same architecture) is then trained on bags from which the teacher's most salient
instances — the easy ones it already relies on — are removed, so the student has to find the
evidence elsewhere:

* the teacher runs on the full bag in train mode (dropout on, as the authors do: its scores are
  stochastic), without gradients, and scores every instance s_i (its softmax attention a_i, or
  v2's class-aware score max_c softmax_c(W (a_i h_i) + b));
* the masked set M is the union of high-score masking (about r_h·N instances drawn at random
  from the top r_h/r_hr fraction; r_h follows a half cosine to 0 over training), random masking
  (r·N instances) and low-score masking (the r_l·N lowest); the student sees the bag without M;
* loss = CE(student) + α·L_cons, L_cons = −Σ_e softmax(z_T/τ_t)_e log softmax(z_S/τ_s)_e between
  the teacher's and student's bag embeddings (:func:`milhelpers.losses.consistency_loss`);
* after every optimizer step θ_T ← m θ_T + (1 − m) θ_S (:func:`ema_update`);
* inference: the student alone on the full bag.

Counts are rounded up, ⌈N·ratio⌉ (as the authors' code), so on this course's small bags r_h = 0.01
of 50 patches hides one patch, not none. A ratio of 0 masks nothing.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .base import MILModel, MILOutput, as_batch, freeze

__all__ = ["MHIM", "mhim_mask", "mask_count", "instance_scores", "ema_update", "SCORES"]

#: How the teacher scores instances: v1's softmax attention, v2's class-aware probability.
SCORES = ("attention", "class_aware")


def mask_count(n: int, ratio: float) -> int:
    """⌈n·ratio⌉ clipped to [0, n]; 0 for ratio 0. (The 1e-9 keeps 50·0.02 = 1.0000000000000002
    from becoming 2.)"""
    if ratio <= 0:
        return 0
    return min(n, math.ceil(n * ratio - 1e-9))


def _check_ratio(name: str, value: float, upper: float = 1.0, open_low: bool = False) -> float:
    v = float(value)
    if not (v > 0 if open_low else v >= 0) or v > upper or math.isnan(v):
        low = "> 0" if open_low else ">= 0"
        raise ValueError(f"{name} must be {low} and <= {upper}, got {value!r}")
    return v


def mhim_mask(scores: torch.Tensor, mask: torch.Tensor | None, r_h: float, r_hr: float = 1.0,
              r: float = 0.0, r_l: float = 0.0, generator: torch.Generator | None = None,
              parts: bool = False):
    """Which instances to hide from the student: a boolean (B, N) tensor, True = masked.

    For each bag with n real instances (``mask`` True) and teacher scores ``scores`` (B, N):

    * high: the top k = ⌈n·r_h/r_hr⌉ by score (all n if r_h/r_hr ≥ 1), of which ⌈k·r_hr⌉ drawn at
      random are masked (if r_h/r_hr ≥ 1, ⌈n·r_h⌉ of all n): about r_h·n masked instances from
      the top r_h/r_hr fraction; r_hr = 1 masks exactly the top ⌈n·r_h⌉;
    * random: ⌈n·r⌉ instances drawn uniformly from all n;
    * low: the ⌈n·r_l⌉ lowest-scored;

    the union of the three. Padding (``mask`` False) is never masked nor counted in n. At least
    one real instance always stays visible: if the union covers the bag, its lowest-scored
    instance is shown again (the student needs some input; the lowest is the least "hard").
    Random draws use ``generator`` (CPU), so a seeded generator reproduces the masks. With
    ``parts`` the result is ``(masked, {'high': …, 'random': …, 'low': …})``, each (B, N) bool
    (before the at-least-one guard), to show which rule hid what.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be (B, N), got shape {tuple(scores.shape)}")
    r_h, r, r_l = (_check_ratio(k, v) for k, v in (("r_h", r_h), ("r", r), ("r_l", r_l)))
    r_hr = _check_ratio("r_hr", r_hr, open_low=True)
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    if mask.shape != scores.shape:
        raise ValueError(f"mask {tuple(mask.shape)} and scores {tuple(scores.shape)} differ")
    out = torch.zeros(scores.shape, dtype=torch.bool)
    split = {k: torch.zeros(scores.shape, dtype=torch.bool) for k in ("high", "random", "low")}
    s_all, real_all = scores.detach().float().cpu(), mask.detach().bool().cpu()
    for b in range(scores.shape[0]):
        idx = real_all[b].nonzero().flatten()           # positions of the real instances
        n = len(idx)
        if n == 0:
            continue
        s = s_all[b, idx]
        order = torch.argsort(s, descending=True, stable=True)   # real instances, best first
        chosen = torch.zeros(n, dtype=torch.bool)
        if r_h > 0:
            if r_h / r_hr >= 1:
                pool, n_h = torch.arange(n), mask_count(n, r_h)
            else:
                pool = order[:mask_count(n, r_h / r_hr)]
                n_h = mask_count(len(pool), r_hr)
            pick = pool if n_h == len(pool) else \
                pool[torch.randperm(len(pool), generator=generator)[:n_h]]
            chosen[pick] = True
            split["high"][b, idx[pick]] = True
        if r > 0:
            pick = torch.randperm(n, generator=generator)[:mask_count(n, r)]
            chosen[pick] = True
            split["random"][b, idx[pick]] = True
        if r_l > 0:
            pick = order[n - mask_count(n, r_l):]
            chosen[pick] = True
            split["low"][b, idx[pick]] = True
        if chosen.all():
            chosen[order[-1]] = False
        out[b, idx[chosen]] = True
    if parts:
        return out.to(scores.device), {k: v.to(scores.device) for k, v in split.items()}
    return out.to(scores.device)


def instance_scores(out: MILOutput, model: nn.Module, kind: str = "attention") -> torch.Tensor:
    """The teacher's per-instance scores (B, N) from its output on the full bag.

    ``attention``: the softmax attention ā_i (heads averaged). ``class_aware`` (v2): with
    instance embeddings h_i (``out.extras['instance_embeddings']``) and the model's linear
    ``classifier`` (W, b), s_i = max_c softmax_c(W (a_i h_i) + b) — how confidently the instance's
    own contribution to the bag embedding points at one class. Padding scores are meaningless
    (:func:`mhim_mask` ignores them).
    """
    if kind == "attention":
        return out.slide_attention
    if kind != "class_aware":
        raise ValueError(f"score={kind!r}: choose from {list(SCORES)}")
    h = out.extras.get("instance_embeddings")
    clf = getattr(model, "classifier", None)
    if h is None or not isinstance(clf, nn.Linear) or clf.in_features != h.shape[-1]:
        raise ValueError("score='class_aware' needs a one-branch attention model that returns "
                         "extras['instance_embeddings'] and has a linear 'classifier' (gated "
                         "ABMIL does); use score='attention' for other models")
    logits = clf(out.slide_attention.unsqueeze(-1) * h)          # (B, N, C)
    return torch.softmax(logits.float(), -1).amax(-1)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """θ_T ← m·θ_T + (1 − m)·θ_S for every parameter (buffers are left alone, as the authors)."""
    tp, sp = list(teacher.parameters()), list(student.parameters())
    if len(tp) != len(sp):
        raise ValueError("teacher and student have different parameter lists")
    for t, s in zip(tp, sp):
        t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)


class MHIM(MILModel):
    """Student + frozen momentum teacher; masked student in training, student alone in eval.

    ``forward(x, mask)`` in train mode: the teacher (train mode, no gradient) scores the full
    bag, :func:`mhim_mask` draws the hidden set with the current ``r_h`` (set by the schedule
    callback), and the student runs with those instances removed through the padding mask. The
    student's :class:`MILOutput` is returned with ``extras['teacher_embedding']`` (B, E) and
    ``extras['mhim_masked']`` (B, N, True = hidden). In eval mode: ``student(x, mask)``.
    """

    def __init__(self, student: MILModel, teacher: MILModel, r_h: float = 0.01, r_hr: float = 0.5,
                 r: float = 0.5, r_l: float = 0.0, score: str = "attention", seed: int = 0):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"score={score!r}: choose from {list(SCORES)}")
        mhim_mask(torch.zeros(1, 1), None, r_h, r_hr, r, r_l)    # bad ratios fail here
        self.student, self.teacher = student, freeze(teacher)
        self.n_classes = student.n_classes
        self.r_h0, self.r_h, self.r_hr, self.r, self.r_l = float(r_h), float(r_h), r_hr, r, r_l
        self.score = score
        self.generator = torch.Generator().manual_seed(int(seed))

    def hide(self, x: torch.Tensor, mask: torch.Tensor | None = None, parts: bool = False):
        """The teacher's pass on the full bag and the hidden set: ``(masked (B, N), teacher out)``
        (with ``parts``: ``((masked, parts), teacher out)``, see :func:`mhim_mask`)."""
        x, mask = as_batch(x, mask)
        was = self.teacher.training
        self.teacher.train()                   # dropout on, as in the authors' teacher
        try:
            with torch.no_grad():
                t = self.teacher(x, mask)
                s = instance_scores(t, self.teacher, self.score)
        finally:
            self.teacher.train(was)
        return mhim_mask(s, mask, self.r_h, self.r_hr, self.r, self.r_l, self.generator,
                         parts), t

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> MILOutput:
        x, mask = as_batch(x, mask)
        if not self.training:
            return self.student(x, mask)
        masked, t = self.hide(x, mask)
        out = self.student(x, mask & ~masked)
        out.extras.update(teacher_embedding=t.embedding, mhim_masked=masked)
        return out
