"""Attention-based MIL pooling (Ilse et al., ICML 2018) with CLAM's WSI dimensions, and the
mean- and max-pooling baselines it improves on.

For instance embeddings h_k = ReLU(W₀ x_k) (dropout p):
    tanh attention   e_k = wᵀ tanh(V h_k)
    gated attention  e_k = wᵀ (tanh(V h_k) ⊙ σ(U h_k))
    a_k = softmax_k(e_k),  z = Σ_k a_k h_k,  ŷ = W_c z
Defaults follow CLAM's 'small' preset: D_in → 512 → 256, dropout 0.25 (and a fixed 0.25 inside
the attention net), K = 1 attention branch (methods.md §1).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import MILModel, MILOutput, as_batch, mask_logits, masked_softmax

__all__ = ["AttentionScorer", "ABMIL", "MeanPoolMIL", "MaxPoolMIL"]


class AttentionScorer(nn.Module):
    """Raw attention logits (B, N, K) for K branches; tanh or gated (tanh ⊙ sigmoid)."""

    def __init__(self, dim: int, hidden: int = 256, n_branches: int = 1, gated: bool = True,
                 dropout: float = 0.25):
        super().__init__()
        self.tanh = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Dropout(dropout))
        self.gate = (nn.Sequential(nn.Linear(dim, hidden), nn.Sigmoid(), nn.Dropout(dropout))
                     if gated else None)
        self.score = nn.Linear(hidden, n_branches)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        a = self.tanh(h)
        if self.gate is not None:
            a = a * self.gate(h)
        return self.score(a)


def _projection(in_dim: int, embed_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, embed_dim), nn.ReLU(), nn.Dropout(dropout))


class ABMIL(MILModel):
    """Attention MIL; ``gated=True`` is CLAM-SB without instance clustering.

    With ``n_branches`` K > 1 the K pooled vectors are concatenated before the classifier (Ilse
    et al.'s multi-branch form); ACMIL builds on the same scorer with its own heads.
    """

    def __init__(self, in_dim: int, n_classes: int = 2, embed_dim: int = 512, attn_dim: int = 256,
                 gated: bool = True, dropout: float = 0.25, n_branches: int = 1):
        super().__init__()
        self.n_classes, self.gated = n_classes, gated
        self.project = _projection(in_dim, embed_dim, dropout)
        self.attention = AttentionScorer(embed_dim, attn_dim, n_branches, gated,
                                         0.25 if dropout > 0 else 0.0)
        self.classifier = nn.Linear(embed_dim * n_branches, n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> MILOutput:
        x, mask = as_batch(x, mask)
        h = self.project(x)                                   # (B, N, E)
        logits_att = mask_logits(self.attention(h).transpose(1, 2), mask)  # (B, K, N)
        a = masked_softmax(logits_att, mask)
        z = torch.einsum("bkn,bne->bke", a, h).flatten(1)     # (B, K·E)
        return MILOutput(self.classifier(z), logits_att, z, mask)


class MeanPoolMIL(MILModel):
    """Embedding mean pooling: every instance weighs 1/N (attention logits are all zero)."""

    def __init__(self, in_dim: int, n_classes: int = 2, embed_dim: int = 512, dropout: float = 0.25):
        super().__init__()
        self.n_classes = n_classes
        self.project = _projection(in_dim, embed_dim, dropout)
        self.classifier = nn.Linear(embed_dim, n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> MILOutput:
        x, mask = as_batch(x, mask)
        h = self.project(x)
        logits_att = mask_logits(torch.zeros(h.shape[0], 1, h.shape[1], dtype=h.dtype,
                                             device=h.device), mask)
        z = torch.einsum("bkn,bne->bke", masked_softmax(logits_att, mask), h).flatten(1)
        return MILOutput(self.classifier(z), logits_att, z, mask)


class MaxPoolMIL(MILModel):
    """Instance-level max pooling: each instance is classified, the bag takes the per-class max.

    The 'attention' reported for heatmaps is the instance's positive-vs-rest score.
    """

    def __init__(self, in_dim: int, n_classes: int = 2, embed_dim: int = 512, dropout: float = 0.25):
        super().__init__()
        self.n_classes = n_classes
        self.project = _projection(in_dim, embed_dim, dropout)
        self.instance_classifier = nn.Linear(embed_dim, n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> MILOutput:
        x, mask = as_batch(x, mask)
        h = self.project(x)
        inst = self.instance_classifier(h)                    # (B, N, C)
        minv = torch.finfo(inst.dtype).min
        bag = inst.masked_fill(~mask[..., None], minv).max(dim=1).values
        score = inst[..., -1] - inst[..., :-1].max(dim=-1).values  # evidence for the last class
        logits_att = mask_logits(score[:, None, :], mask)
        top = logits_att[:, 0].argmax(dim=1)
        z = h[torch.arange(h.shape[0], device=h.device), top]
        return MILOutput(bag, logits_att, z, mask, {"instance_logits": inst})
