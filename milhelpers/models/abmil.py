"""Attention-based MIL pooling (Ilse et al., ICML 2018) with CLAM's WSI dimensions, and the
mean- and max-pooling baselines it improves on.

For instance embeddings h_k = ReLU(W₀ x_k) (dropout p):
    tanh attention   e_k = wᵀ tanh(V h_k)
    gated attention  e_k = wᵀ (tanh(V h_k) ⊙ σ(U h_k))
    a_k = softmax_k(e_k),  z = Σ_k a_k h_k,  ŷ = W_c z
Defaults follow CLAM's 'small' preset: D_in → 512 → 256, dropout 0.25 (and a fixed 0.25 inside
the attention net), K = 1 attention branch (Lu et al., "Data-efficient and weakly supervised
computational pathology on whole-slide images", Nature Biomedical Engineering 2021,
arXiv 2004.09666).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import MILModel, MILOutput, as_batch, mask_logits, masked_softmax

__all__ = ["AttentionScorer", "ABMIL", "MeanPoolMIL", "MaxPoolMIL", "checkpointed_forward"]


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
        return self.pool(self.project(x), mask)

    def pool(self, h: torch.Tensor, mask: torch.Tensor) -> MILOutput:
        """Attention pooling and classification of instance embeddings h (B, N, E) with a (B, N)
        mask: the second half of :meth:`forward` (MHIM-MIL v2 pools the student's embeddings
        together with its recycle tokens through it)."""
        logits_att = mask_logits(self.attention(h).transpose(1, 2), mask)  # (B, K, N)
        a = masked_softmax(logits_att, mask)
        z = torch.einsum("bkn,bne->bke", a, h).flatten(1)     # (B, K·E)
        # the instance embeddings h stay available (MHIM v2's class-aware instance score)
        return MILOutput(self.classifier(z), logits_att, z, mask, {"instance_embeddings": h})


def checkpointed_forward(model: ABMIL, x: torch.Tensor, chunk: int = 16384) -> MILOutput:
    """One whole bag (N, D) through ``model`` (one attention branch) with activation memory
    about N·E floats instead of several times that: the same output and gradients as
    ``model(x)`` in eval mode (in training dropout draws other masks).

    Instances are embedded and scored in chunks under :func:`torch.utils.checkpoint.checkpoint`,
    which keeps only each chunk's outputs h_c (N_c × E) and e_c and recomputes the hidden
    layers (ReLU, tanh, sigmoid, dropout) during backward; then a = softmax(e) over the whole bag
    and z = Σ_c a_cᵀ h_c. For bags of 10⁵ instances and more (the largest slides at 20×).
    """
    from torch.utils.checkpoint import checkpoint

    if x.dim() != 2:
        raise ValueError(f"checkpointed_forward takes one bag (N, D); got {tuple(x.shape)}")
    if chunk < 1:
        raise ValueError(f"chunk={chunk} must be >= 1")

    def embed_and_score(xc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = model.project(xc)
        return h, model.attention(h)[:, 0]

    hs, es = zip(*(checkpoint(embed_and_score, xc, use_reentrant=False)
                   for xc in x.split(chunk)))
    e = torch.cat(es)                                         # (N,)
    a = torch.softmax(e, dim=0)
    z = sum(ac @ hc for ac, hc in zip(a.split(chunk), hs))[None]   # (1, E)
    mask = torch.ones(1, len(x), dtype=torch.bool, device=x.device)
    return MILOutput(model.classifier(z), e[None, None], z, mask)


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
    """Instance-level max pooling under the standard MIL assumption (as in CLAM's ``MIL_fc``).

    Each instance k gets class logits l_k = W h_k. Its positive evidence is the log-odds of
    "not class 0": s_k = logsumexp(l_k[1:]) − l_k[0] (for two classes, l_k[1] − l_k[0]). The bag
    takes *all* logits of its single most-positive instance, k* = argmax_k s_k, so a bag is
    positive only if one instance is (taking each class's maximum from different instances would
    make two negative-looking instances add up to a positive bag).

    Its pooling weight is one-hot on k*: the attention logits are 0 at k* and the dtype minimum
    elsewhere, so attention entropy is 0 and top-k mass is 1, which is what max pooling does.
    Heatmaps use the instance evidence s_k (``extras['instance_scores']``).
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
        score = torch.logsumexp(inst[..., 1:], dim=-1) - inst[..., 0]    # (B, N)
        score = mask_logits(score[:, None, :], mask)          # padding can never be chosen
        top = score[:, 0].argmax(dim=1)                       # (B,)
        rows = torch.arange(h.shape[0], device=h.device)
        one_hot = torch.full_like(score, torch.finfo(score.dtype).min)
        one_hot[rows, 0, top] = 0.0
        return MILOutput(inst[rows, top], one_hot, h[rows, top], mask,
                         {"instance_logits": inst, "instance_scores": score})
