"""Loss functions the method chapters add to the bag cross-entropy.

All take the shared model output's tensors (attention logits (B, H, N) with a (B, N) padding
mask, bag logits, bag embeddings), work for every aggregator, and are computed in float32 so
that half-precision training stays finite. Wrap them in :class:`milhelpers.train.LossTerm` to
give them a weight (constant or scheduled).

* :func:`attention_entropy` / :func:`negative_entropy` — AEM (Zhang et al., "Attention entropy
  maximization for multiple instance learning based whole slide image classification",
  arXiv 2406.15303, 2024).
* :func:`branch_diversity`, :func:`branch_cross_entropy` — ACMIL's multiple-branch attention
  (Zhang et al., "Attention-challenging multiple instance learning for whole slide image
  classification", ECCV 2024, arXiv 2311.07125).
* :func:`consistency_loss` — MHIM-MIL's teacher–student consistency (Tang et al., "Multiple
  instance learning framework with masked hard instance mining for whole slide image
  classification", ICCV 2023, arXiv 2307.15254).
* :func:`soft_target_cross_entropy` — PackMIL's hyperslide labels (Tang, Fang et al.,
  arXiv 2509.20923, 2025).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .models.base import check_attention_shapes

__all__ = ["attention_entropy", "negative_entropy", "branch_diversity", "branch_cross_entropy",
           "consistency_loss", "soft_target_cross_entropy"]


def attention_entropy(attention_logits: torch.Tensor, mask: torch.Tensor | None = None,
                      normalize: bool = False) -> torch.Tensor:
    """Entropy of each head's attention, H = −Σ_k a_k log a_k over real instances: (B, H).

    Computed from the raw logits with ``log_softmax`` in float32, padded positions held at
    float32's minimum (finite), so a_k = 0 and a_k·log a_k = 0 exactly there and no NaN appears in
    the value or its gradient — the naive ``a * a.log()`` on float16 softmax output gives
    0·(−inf) = NaN at padding. ``normalize`` divides by log N_b (the maximum entropy of a bag of
    N_b real instances; bags of one instance get 0).
    """
    check_attention_shapes(attention_logits, mask)
    z = attention_logits.float()
    if mask is not None:
        z = z.masked_fill(~mask[:, None, :], torch.finfo(torch.float32).min)
    log_a = torch.log_softmax(z, dim=-1)
    plogp = log_a.exp() * log_a
    if mask is not None:
        plogp = plogp.masked_fill(~mask[:, None, :], 0.0)
    h = -plogp.sum(-1)
    if normalize:
        n = (mask.sum(-1).float() if mask is not None
             else torch.full(z.shape[:1], z.shape[-1], dtype=torch.float32, device=z.device))
        h = h / torch.log(n).clamp_min(1e-12)[:, None] * (n > 1)[:, None]
    return h


def negative_entropy(attention_logits: torch.Tensor, mask: torch.Tensor | None = None,
                     normalize: bool = False) -> torch.Tensor:
    """AEM's regulariser Σ_k a_k log a_k (= −H), averaged over heads and bags: a scalar.

    Adding λ·(this) to the loss maximises attention entropy, spreading attention over more
    instances. Mean over heads makes λ mean the same for one or M branches.
    """
    return -attention_entropy(attention_logits, mask, normalize).mean()


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
