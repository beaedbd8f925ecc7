"""ACMIL: attention-challenging MIL (Zhang et al., "Attention-challenging multiple instance
learning for whole slide image classification", ECCV 2024, arXiv 2311.07125), gated-attention
variant.

For projected instances h_k = Dropout(ReLU(W₀ x_k)) (W₀ without bias):

    multiple branch attention (MBA)  s_mk = w_mᵀ (tanh(V h_k) ⊙ σ(U h_k)),  m = 1 … M
        (V, U shared by the M branches; each branch has its own scoring vector w_m)
    stochastic top-K instance masking (STKIM, training only): in each branch, among its
        K' = min(K, N) highest scores choose ⌊K'·mask_drop⌋ uniformly without replacement and
        set them to the dtype minimum, so the softmax renormalises over the rest
    branch attention    a_m = softmax_k(s_m)        branch embedding  z_m = Σ_k a_mk h_k
    branch logits       ŷ_m = C_m z_m               (one classifier per branch)
    slide attention     ā = (1/M) Σ_m a_m           slide embedding   z̄ = Σ_k ā_k h_k
    slide logits        ŷ = C_s z̄                   (a separate slide classifier)

Training loss (all weights 1; see :mod:`milhelpers.methods`, method ``acmil``):
CE(ŷ, y) + (1/M) Σ_m CE(ŷ_m, y) + (2/(M(M−1))) Σ_{i<j} cos(a_i, a_j); the two branch terms
only when M > 1, as in the authors' code. Inference uses ŷ, without masking.
"""
from __future__ import annotations

import math
from numbers import Integral

import torch
from torch import nn

from .abmil import AttentionScorer
from .base import MILModel, MILOutput, as_batch, mask_logits, masked_softmax, slide_attention

__all__ = ["ACMIL", "stkim_mask"]


def stkim_mask(scores: torch.Tensor, mask: torch.Tensor, top_k: int, mask_drop: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Which instances STKIM hides from each branch: a bool (B, M, N), True = hidden.

    For bag b with N_b real instances and each branch m: rank the real instances by
    ``scores[b, m]``, keep the top K' = min(``top_k``, N_b), and pick ⌊K'·``mask_drop``⌋ of
    them uniformly without replacement (a random permutation of the K' candidates, first ones
    taken). Padding (``mask`` False) is never a candidate and never hidden. Random numbers come
    from ``generator`` (default: torch's global generator on the scores' device, which the
    trainer seeds), so a seed fixes the draw.
    """
    if scores.dim() != 3 or mask.shape != (scores.shape[0], scores.shape[2]):
        raise ValueError(f"scores must be (B, M, N) and mask (B, N); got {tuple(scores.shape)} "
                         f"and {tuple(mask.shape)}")
    b, m, n = scores.shape
    hidden = torch.zeros(b, m, n, dtype=torch.bool, device=scores.device)
    k_max = min(int(top_k), n)
    k_eff = mask.sum(1).clamp(max=k_max)                                    # K' per bag
    # float64 floor, as Python's int(K'·p): 10·0.6 → 6, 10·0.05 → 0
    n_hide = torch.floor(k_eff.double() * float(mask_drop)).long()
    if k_max == 0 or int(n_hide.max()) == 0:
        return hidden
    # −inf (below the dtype minimum that mask_logits puts there) keeps padding behind every
    # real instance, even one whose score is itself the dtype minimum
    ranked = scores.detach().masked_fill(~mask[:, None, :], float("-inf")).topk(k_max, -1).indices
    keys = torch.rand(b, m, k_max, generator=generator, device=scores.device)
    rank = torch.arange(k_max, device=scores.device)
    keys = keys.masked_fill(rank >= k_eff[:, None, None], 2.0)   # ranks past K' sort last
    order = keys.argsort(-1).argsort(-1)                          # random position of each rank
    chosen = order < n_hide[:, None, None]                        # (B, M, k_max)
    return hidden.scatter(-1, ranked, chosen)


class ACMIL(MILModel):
    """ACMIL with gated attention: M attention branches, STKIM while training, a slide classifier
    on the branch-averaged attention.

    Choices (from the paper and the authors' code where this package had none):

    * projection ``Linear(in_dim → embed_dim, bias=False) → ReLU → Dropout(dropout)``; width 512
      and dropout 0.25 as this package's ABMIL (CLAM's 'small' preset), so the chapter's
      comparison with ``abmil_gated`` changes only what ACMIL adds. The authors project without
      bias to a width that depends on the encoder (256 for ResNet-18 features, 512 for UNI) and
      use no dropout.
    * one gated attention net, hidden ``attn_dim`` = 128, V and U (with bias) shared by the M
      branches, a ``Linear(attn_dim → M)`` giving each branch its scoring vector; no dropout
      inside it (the authors have none; CLAM's ABMIL has 0.25).
    * ``branch_classifiers``: M × ``Linear(embed_dim → n_classes)``; ``classifier``: the slide
      classifier, the only one used for predictions.
    * STKIM masks the branch attention that feeds the branch embeddings, the diversity loss *and*
      the slide attention ā: the authors average the masked branch softmaxes (their step 5).

    Output: ``logits`` (B, C) slide logits ŷ; ``attention_logits`` (B, M, N) the per-branch
    scores *as fed to the softmax* — padding and, while training, STKIM-hidden instances at the
    dtype minimum — so ``out.attention`` is exactly the a_m that pooled the branch embeddings
    (in eval mode they are the unmasked scores); ``out.slide_attention`` (B, N) is ā;
    ``embedding`` (B, E) z̄. ``extras``: ``"branch_logits"`` (B, M, C), ``"branch_embeddings"``
    (B, M, E), ``"stkim_hidden"`` (B, M, N) bool, True where STKIM hid an instance from a branch
    this step (all False in eval mode).

    Defaults M = 5, K = 10, ``mask_drop`` = 0.6 (the paper's). The authors later wrote that
    ``mask_drop`` = 0 is sometimes better and more stable (repository README, October 2024
    update), and that in their ablations MBA is the main contributor while STKIM's benefit
    depends on the dataset and encoder and is inconsistent with newer pre-trained encoders
    (GitHub issue dazhangyu123/ACMIL#12, March 2025); methods ``acmil_mba`` and
    ``acmil_stkim`` separate the two. With M = 1 and ``mask_drop`` = 0 this is gated ABMIL.
    """

    def __init__(self, in_dim: int, n_classes: int = 2, embed_dim: int = 512, attn_dim: int = 128,
                 n_branches: int = 5, top_k: int = 10, mask_drop: float = 0.6,
                 dropout: float = 0.25):
        super().__init__()
        for name, value, low in (("in_dim", in_dim, 1), ("n_classes", n_classes, 2),
                                 ("embed_dim", embed_dim, 1), ("attn_dim", attn_dim, 1),
                                 ("n_branches", n_branches, 1), ("top_k", top_k, 0)):
            if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
                raise ValueError(f"ACMIL {name} must be an integer >= {low}, got {value!r}")
        if not 0.0 <= mask_drop < 1.0:
            raise ValueError(f"ACMIL mask_drop must be in [0, 1) (the fraction of each branch's "
                             f"top-K instances hidden; 1 could hide a whole small bag), got "
                             f"{mask_drop!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"ACMIL dropout must be in [0, 1), got {dropout!r}")
        self.n_classes, self.n_branches = int(n_classes), int(n_branches)
        self.top_k, self.mask_drop = int(top_k), float(mask_drop)
        self.project = nn.Sequential(nn.Linear(int(in_dim), int(embed_dim), bias=False), nn.ReLU(),
                                     nn.Dropout(dropout))
        self.attention = AttentionScorer(embed_dim, attn_dim, n_branches, gated=True, dropout=0.0)
        self.branch_classifiers = nn.ModuleList(nn.Linear(embed_dim, n_classes)
                                                for _ in range(n_branches))
        self.classifier = nn.Linear(embed_dim, n_classes)

    @property
    def masks_in_training(self) -> bool:
        """Whether STKIM hides anything while training: ⌊K·mask_drop⌋ ≥ 1 (for bags of at
        least K instances; smaller bags may still hide none)."""
        return math.floor(self.top_k * self.mask_drop) >= 1

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> MILOutput:
        x, mask = as_batch(x, mask)
        h = self.project(x)                                                # (B, N, E)
        scores = mask_logits(self.attention(h).transpose(1, 2), mask)      # (B, M, N)
        if self.training and self.masks_in_training:
            hidden = stkim_mask(scores, mask, self.top_k, self.mask_drop)
            scores = scores.masked_fill(hidden, torch.finfo(scores.dtype).min)
        else:
            hidden = torch.zeros_like(scores, dtype=torch.bool)
        a = masked_softmax(scores, mask)                                   # (B, M, N)
        z_m = torch.einsum("bmn,bne->bme", a, h)                           # (B, M, E)
        branch_logits = torch.stack([clf(z_m[:, i]) for i, clf in
                                     enumerate(self.branch_classifiers)], dim=1)   # (B, M, C)
        z = torch.einsum("bn,bne->be", slide_attention(a), h)              # (B, E)
        return MILOutput(self.classifier(z), scores, z, mask,
                         {"branch_logits": branch_logits, "branch_embeddings": z_m,
                          "stkim_hidden": hidden})
