"""The one output type every aggregator returns, and masked attention arithmetic.

Losses (AEM's entropy, ACMIL's diversity, MHIM's consistency), instance mining, heatmaps and UMAP
consume only :class:`MILOutput`, so a new method never touches the plotting or training code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["MILOutput", "masked_softmax", "mask_logits", "as_batch", "MILModel"]


def mask_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Set logits at padded positions (``mask`` False) to the dtype's minimum.

    ``mask`` is (B, N) and ``logits`` (B, H, N). The dtype-aware minimum (not −1e9) keeps this
    exact in float16 and bfloat16.
    """
    if mask is None:
        return logits
    return logits.masked_fill(~mask[:, None, :], torch.finfo(logits.dtype).min)


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last (instance) axis; padded positions get exactly zero weight."""
    a = torch.softmax(mask_logits(logits, mask), dim=-1)
    if mask is not None:
        a = a.masked_fill(~mask[:, None, :], 0.0)
    return a


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

    @property
    def attention(self) -> torch.Tensor:
        """(B, H, N) attention weights: softmax over instances, exactly 0 on padding."""
        return masked_softmax(self.attention_logits, self.mask)


class MILModel(nn.Module):
    """Base class: ``forward(features (B, N, D) or (N, D), mask (B, N) | None) -> MILOutput``."""

    n_classes: int

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> MILOutput:  # pragma: no cover
        raise NotImplementedError
