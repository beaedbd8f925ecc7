"""Loss functions the method chapters add to the bag cross-entropy.

All take the shared model output's tensors (attention logits (B, H, N) with a (B, N) padding
mask, bag logits, bag embeddings), work for every aggregator, and are computed in float32 so
that half-precision training stays finite. Wrap them in :class:`milhelpers.train.LossTerm` to
give them a weight (constant or scheduled).

* :func:`attention_entropy` / :func:`negative_entropy` — AEM (Zhang et al., "Attention entropy
  maximization for multiple instance learning based whole slide image classification",
  arXiv 2406.15303, 2024); :func:`aem_term` is AEM's weighted loss term, ready for the trainer.
* :func:`branch_diversity`, :func:`branch_cross_entropy` — ACMIL's multiple-branch attention
  (Zhang et al., "Attention-challenging multiple instance learning for whole slide image
  classification", ECCV 2024, arXiv 2311.07125).
* :func:`consistency_loss` — MHIM-MIL's teacher–student consistency (Tang et al., "Multiple
  instance learning framework with masked hard instance mining for whole slide image
  classification", ICCV 2023, arXiv 2307.15254).
* :func:`multilabel_bce`, :func:`multilabel_focal` — PackMIL's hyperslide loss on its
  max-normalised multi-hot targets (Tang, Fang et al., arXiv 2509.20923, 2025; binary
  cross-entropy is the authors' default, focal loss their TCGA-BRCA setting);
  :func:`soft_target_cross_entropy` — the token-mixture variant's loss.
"""
from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F

from .models.base import MILOutput, check_attention_shapes
from .train import LossTerm, TrainState, Weight, cosine_ramp

__all__ = ["attention_entropy", "negative_entropy", "aem_term", "AEM_SCHEDULES",
           "AEM_NORMALIZATIONS", "branch_diversity", "branch_cross_entropy", "consistency_loss",
           "soft_target_cross_entropy", "multilabel_bce", "multilabel_focal", "HYPERSLIDE_LOSSES",
           "hyperslide_loss"]


def attention_entropy(attention_logits: torch.Tensor, mask: torch.Tensor | None = None,
                      normalize: bool = False) -> torch.Tensor:
    """Entropy of each head's attention, H = −Σ_k a_k log a_k over real instances: (B, H).

    a = softmax over the bag's real instances, taken from the raw logits with ``log_softmax`` in
    float32 (half-precision softmax underflows, and the naive ``a * a.log()`` gives 0·(−inf) = NaN
    at padding). Padded positions (``mask`` False) contribute exactly 0 to the value and get
    exactly 0 gradient, whatever their logits hold. Instances whose log-weight underflows to −inf
    (logits ~1e38 apart, reachable in bfloat16) count as a_k log a_k = 0, the limit as a_k → 0,
    so neither the value nor the gradient is ever NaN. ``normalize`` divides by log N_b, the
    maximum entropy of a bag of N_b real instances (bags of one instance get 0, not 0/0).
    """
    check_attention_shapes(attention_logits, mask)
    z = attention_logits.float()
    real = (torch.ones(z.shape[0], z.shape[-1], dtype=torch.bool, device=z.device)
            if mask is None else mask.to(device=z.device, dtype=torch.bool))[:, None, :]
    z = z.masked_fill(~real, torch.finfo(torch.float32).min)
    log_a = torch.log_softmax(z, dim=-1)
    # where (not a product with the mask): its backward sends exactly 0, never 0·inf, upstream
    keep = real & torch.isfinite(log_a)
    log_a = torch.where(keep, log_a, 0.0)
    h = -torch.where(keep, log_a.exp() * log_a, 0.0).sum(-1)
    if normalize:
        n = real[:, 0, :].sum(-1).float()
        log_n = torch.where(n > 1, torch.log(n), torch.ones_like(n))
        h = torch.where(n[:, None] > 1, h / log_n[:, None], 0.0)
    return h


def negative_entropy(attention_logits: torch.Tensor, mask: torch.Tensor | None = None,
                     normalize: bool = False) -> torch.Tensor:
    """AEM's regulariser R = Σ_k a_k log a_k (= −H), averaged over heads and bags: a scalar.

    Adding λ·R to the loss maximises attention entropy, spreading attention over more
    instances. The mean over heads makes λ mean the same for one head or M branches (the
    authors' code divides its multi-head sum by the number of heads); the mean over bags makes it
    independent of the batch size.
    """
    return -attention_entropy(attention_logits, mask, normalize).mean()


#: λ schedules of :func:`aem_term`: ``constant`` (the authors' code), ``cosine`` (λ annealed to 0).
AEM_SCHEDULES = ("constant", "cosine")
#: Entropy normalisations of :func:`aem_term`: ``none`` (the paper's), ``log_n`` (÷ log N per bag).
AEM_NORMALIZATIONS = ("none", "log_n")


def aem_term(lam: float = 0.1, schedule: str = "constant", normalize: str = "none") -> LossTerm:
    """AEM's loss term for the trainer: L = CE + λ_t · R, R = mean over bags and heads of
    Σ_k a_k log a_k over each bag's real instances (:func:`negative_entropy`).

    Minimising λ·R maximises the attention entropy, so attention cannot collapse onto a few
    instances. The term sees only ``out.attention_logits`` and ``out.mask``, so it works with
    every aggregator (one head: ABMIL; several heads or branches: the per-head mean). It is a
    training loss only: validation and test never see it. The history logs R (unweighted) per
    epoch as ``neg_entropy``.

    ``lam`` (λ ≥ 0): 0 trains the plain baseline exactly; the authors' example value is 0.1.

    ``schedule``:

    * ``"constant"`` — λ_t = λ throughout, as in the authors' public code.
    * ``"cosine"`` — λ_t = λ·(1 + cos(π t))/2 with t = the fraction of optimizer steps done
      (:func:`~milhelpers.train.cosine_ramp` from λ to 0): full strength while attention forms,
      fading so the last epochs fit the classification loss alone. The paper's third arXiv
      version names "cosine weight annealing" to make results less sensitive to λ, but its
      public code keeps λ constant and we did not find the formula: this one is our
      *reconstruction* (the usual cosine annealing, decreasing to 0), not the authors' code.

    ``normalize``:

    * ``"none"`` — Σ a log a as in the paper. Its range is [−log N_b, 0], so with bag lengths
      that vary 20× a constant λ pushes long bags harder than short ones.
    * ``"log_n"`` — (Σ a log a)/log N_b per bag, in [−1, 0] whatever the length: every bag is
      pushed equally. A design choice to compare with the paper's, not the paper's. One-instance
      bags (log 1 = 0) contribute 0.
    """
    if isinstance(lam, bool) or not isinstance(lam, Real) or not math.isfinite(lam) or lam < 0:
        raise ValueError(f"aem_term: lam={lam!r} must be a finite number >= 0 (0 = no AEM, the "
                         "baseline; the authors' example is 0.1)")
    if schedule not in AEM_SCHEDULES:
        raise ValueError(f"aem_term: schedule={schedule!r} is not one of {list(AEM_SCHEDULES)} "
                         "('constant' as the authors' code, 'cosine' anneals λ to 0)")
    if normalize not in AEM_NORMALIZATIONS:
        raise ValueError(f"aem_term: normalize={normalize!r} is not one of "
                         f"{list(AEM_NORMALIZATIONS)} ('none' as the paper, 'log_n' divides each "
                         "bag's entropy by log N)")
    by_log_n = normalize == "log_n"

    def neg_entropy(out: MILOutput, batch, state: TrainState) -> torch.Tensor:
        return negative_entropy(out.attention_logits, out.mask, normalize=by_log_n)

    weight: Weight = float(lam) if schedule == "constant" else cosine_ramp(float(lam), 0.0)
    return LossTerm("neg_entropy", neg_entropy, weight)


def branch_diversity(attention: torch.Tensor) -> torch.Tensor:
    """ACMIL's diversity loss: mean pairwise cosine similarity of the M branch attentions.

    ``attention`` is (B, M, N) softmax weights (0 on padding, so padding does not contribute);
    the loss is the mean of cos(a_i, a_j) over the M(M−1)/2 pairs i < j and over bags. It is 0
    when branches attend to disjoint instances and 1 when they coincide. One branch gives 0.
    """
    if attention.dim() != 3:
        raise ValueError(f"attention must be (B, M, N); got {tuple(attention.shape)}")
    b, m, _ = attention.shape
    if m < 2:
        return attention.new_zeros(())
    a = F.normalize(attention.float(), dim=-1)
    cos = a @ a.transpose(1, 2)                               # (B, M, M)
    i, j = torch.triu_indices(m, m, offset=1, device=a.device)
    return cos[:, i, j].mean()


def branch_cross_entropy(branch_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over branches of the cross-entropy of each branch's bag logits (B, M, C) vs labels (B,)."""
    if branch_logits.dim() != 3:
        raise ValueError(f"branch logits must be (B, M, C); got {tuple(branch_logits.shape)}")
    b, m, c = branch_logits.shape
    return F.cross_entropy(branch_logits.float().reshape(b * m, c),
                           labels.repeat_interleave(m))


def consistency_loss(student: torch.Tensor, teacher: torch.Tensor, tau_student: float = 1.0,
                     tau_teacher: float = 0.1) -> torch.Tensor:
    """MHIM-MIL's consistency between bag embeddings (B, E): −Σ_e p_t log p_s, mean over bags.

    p_t = softmax(teacher / τ_t) (sharpened, τ_t = 0.1, detached: no gradient reaches the
    teacher), log p_s = log_softmax(student / τ_s) with τ_s = 1.
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} "
                         "embeddings differ in shape")
    p_t = torch.softmax(teacher.detach().float() / tau_teacher, dim=-1)
    log_p_s = torch.log_softmax(student.float() / tau_student, dim=-1)
    return -(p_t * log_p_s).sum(-1).mean()


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with soft targets, −Σ_c q_c log softmax(logits)_c, mean over bags.

    ``targets`` (B, C) are class distributions (rows sum to 1), e.g. PackMIL's hyperslide label:
    the token-count-weighted mixture of its member slides' one-hot labels.
    """
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ")
    if not torch.allclose(targets.sum(-1), torch.ones_like(targets[:, 0]), atol=1e-4):
        raise ValueError("soft targets must sum to 1 per bag")
    return -(targets.float() * torch.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


def _check_targets(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if logits.shape != targets.shape or logits.dim() != 2:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} must "
                         "be the same (B, C) shape")
    if ((targets < 0) | (targets > 1)).any():
        raise ValueError("multi-label targets must lie in [0, 1] (one probability per class)")


def multilabel_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on every (bag, class) logit, mean over the B·C entries:

    ℓ = −(1/(B·C)) Σ_{b,c} [q_bc log σ(l_bc) + (1 − q_bc) log(1 − σ(l_bc))],

    with targets q ∈ [0, 1] that need not sum to 1 (PackMIL's hyperslide target gives every class
    present in the pack a positive value). The reduction is PyTorch's ``BCEWithLogitsLoss``
    default, the authors' hyperslide loss.
    """
    _check_targets(logits, targets)
    return F.binary_cross_entropy_with_logits(logits.float(), targets.float())


def multilabel_focal(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25,
                     gamma: float = 2.0) -> torch.Tensor:
    """Focal binary cross-entropy, mean over the B·C entries: with b = the per-entry BCE above
    and p_t = e^{−b}, ℓ = mean α (1 − p_t)^γ b (α = 0.25, γ = 2: the PackMIL authors'
    TCGA-BRCA setting). Confident entries (p_t → 1) count less."""
    _check_targets(logits, targets)
    b = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    return (alpha * (1 - torch.exp(-b)) ** gamma * b).mean()


#: PackMIL's hyperslide losses by name: ``bce`` (the authors' default), ``focal`` (their
#: TCGA-BRCA config), ``ce`` (soft-target cross-entropy, for targets that sum to 1).
HYPERSLIDE_LOSSES = {"bce": multilabel_bce, "focal": multilabel_focal,
                     "ce": soft_target_cross_entropy}


def hyperslide_loss(name: str):
    """The loss function ``(logits, targets) -> scalar`` named ``name`` in
    :data:`HYPERSLIDE_LOSSES`."""
    if name not in HYPERSLIDE_LOSSES:
        raise ValueError(f"hyperslide loss {name!r} is not one of {list(HYPERSLIDE_LOSSES)} "
                         "('bce': the PackMIL authors' default, 'focal': their BRCA setting, "
                         "'ce': soft-target cross-entropy for the token mixture)")
    return HYPERSLIDE_LOSSES[name]
