"""The one output type every aggregator returns, and masked attention arithmetic.

Losses (AEM's entropy, ACMIL's diversity, MHIM's consistency), instance mining, heatmaps and UMAP
consume only :class:`MILOutput`, so a new method never touches the plotting or training code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["MILOutput", "masked_softmax", "mask_logits", "as_batch", "MILModel", "freeze",
           "check_attention_shapes", "slide_attention"]


def check_attention_shapes(logits: torch.Tensor, mask: torch.Tensor | None) -> None:
    """Raise a clear error unless ``logits`` is (B, H, N) and ``mask`` (B, N) with the same B, N.

    Without this check a (B, N) tensor broadcasts against a (B, 1, N) mask into (B, B, N) and
    every later number is silently wrong.
    """
    if logits.dim() != 3:
        raise ValueError(f"attention logits must be (batch B, heads H, instances N); got shape "
                         f"{tuple(logits.shape)} (add the head axis with .unsqueeze(1))")
    if mask is not None and (mask.dim() != 2 or mask.shape[0] != logits.shape[0]
                             or mask.shape[1] != logits.shape[2]):
        raise ValueError(f"mask must be (B, N) = ({logits.shape[0]}, {logits.shape[2]}) for "
                         f"attention logits {tuple(logits.shape)}; got {tuple(mask.shape)}")


def mask_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Set logits at padded positions (``mask`` False) to the dtype's minimum.

    ``mask`` is (B, N) and ``logits`` (B, H, N). The dtype-aware minimum (not −1e9) keeps this
    exact in float16 and bfloat16.
    """
    check_attention_shapes(logits, mask)
    if mask is None:
        return logits
    return logits.masked_fill(~mask[:, None, :], torch.finfo(logits.dtype).min)


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last (instance) axis of (B, H, N) logits; padded positions get exactly
    zero weight."""
    a = torch.softmax(mask_logits(logits, mask), dim=-1)
    if mask is not None:
        a = a.masked_fill(~mask[:, None, :], 0.0)
    return a


def slide_attention(attention):
    """One attention weight per instance from per-head weights (…, H, N): ā_k = (1/H) Σ_h a_hk.

    The single place where heads are reduced, for torch tensors and NumPy arrays alike: ACMIL
    pools its slide embedding with exactly this branch-averaged softmax, and heatmaps,
    localisation AUC, entropy and top-k mass (:class:`milhelpers.train.Predictions`) use it for
    every model. Averaging softmax *weights* keeps a distribution (ā sums to 1, 0 on padding);
    averaging *logits* over heads would rank instances differently. One head: the weights as
    they are.
    """
    return attention.mean(-2)


def as_batch(x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Accept one bag (N, D) or a batch (B, N, D); return (B, N, D) and a boolean (B, N) mask."""
    if x.dim() == 2:
        x = x.unsqueeze(0)
        mask = mask.unsqueeze(0) if mask is not None else None
    if x.dim() != 3:
        raise ValueError(f"expected features of shape (N, D) or (B, N, D), got {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError("empty bag: a bag needs at least one instance")
    if mask is None:
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    else:
        mask = mask.to(device=x.device, dtype=torch.bool)
        if not mask.any(dim=1).all():
            raise ValueError("a bag in the batch has no unmasked instance")
    return x, mask


@dataclass
class MILOutput:
    """What every aggregator returns.

    logits: (B, C) bag logits.
    attention_logits: (B, H, N) raw pre-softmax scores per attention head/branch; padded
        positions hold the dtype's minimum.
    embedding: (B, E) the pooled bag representation.
    mask: (B, N) True on real instances.
    extras: method-specific tensors (e.g. per-branch logits for ACMIL).
    """

    logits: torch.Tensor
    attention_logits: torch.Tensor
    embedding: torch.Tensor
    mask: torch.Tensor
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        check_attention_shapes(self.attention_logits, self.mask)
        b = self.attention_logits.shape[0]
        if self.logits.dim() != 2 or self.logits.shape[0] != b:
            raise ValueError(f"bag logits must be (B, C) with B = {b}; got {tuple(self.logits.shape)}")
        if self.embedding.dim() != 2 or self.embedding.shape[0] != b:
            raise ValueError(f"bag embedding must be (B, E) with B = {b}; got "
                             f"{tuple(self.embedding.shape)}")

    @property
    def attention(self) -> torch.Tensor:
        """(B, H, N) attention weights: softmax over instances, exactly 0 on padding."""
        return masked_softmax(self.attention_logits, self.mask)

    @property
    def slide_attention(self) -> torch.Tensor:
        """(B, N) head-averaged attention ā = mean over heads of :attr:`attention` (see
        :func:`slide_attention`); for one head the attention itself."""
        return slide_attention(self.attention)

    @property
    def instance_scores(self) -> torch.Tensor:
        """(B, H, N) per-instance scores for heatmaps and localisation: ``extras['instance_scores']``
        where a model defines them (max pooling's instance evidence), else the attention logits."""
        return self.extras.get("instance_scores", self.attention_logits)


def freeze(module: nn.Module) -> nn.Module:
    """Exclude ``module``'s parameters from training (``requires_grad = False``).

    The trainer optimises only parameters that require gradients, so a frozen sub-module (MHIM's
    momentum teacher) is never seen by the optimizer; it may still be updated by a callback.
    """
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class MILModel(nn.Module):
    """Base class: ``forward(features (B, N, D) or (N, D), mask (B, N) | None) -> MILOutput``."""

    n_classes: int

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> MILOutput:  # pragma: no cover
        raise NotImplementedError
