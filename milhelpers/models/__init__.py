"""MIL aggregators. Every model maps instance features (B, N, D) and an optional padding mask
to a :class:`MILOutput` (bag logits, raw attention logits, bag embedding)."""
from __future__ import annotations

from .abmil import ABMIL, AttentionScorer, MaxPoolMIL, MeanPoolMIL
from .base import MILModel, MILOutput, as_batch, mask_logits, masked_softmax

__all__ = ["MILOutput", "MILModel", "masked_softmax", "mask_logits", "as_batch", "ABMIL",
           "AttentionScorer", "MeanPoolMIL", "MaxPoolMIL", "build_model", "MODELS"]

MODELS = {
    "abmil_gated": lambda in_dim, **kw: ABMIL(in_dim, gated=True, **kw),
    "abmil_tanh": lambda in_dim, **kw: ABMIL(in_dim, gated=False, **kw),
    "mean_pool": lambda in_dim, **kw: MeanPoolMIL(in_dim, **kw),
    "max_pool": lambda in_dim, **kw: MaxPoolMIL(in_dim, **kw),
}


def build_model(name: str, in_dim: int, **kwargs) -> MILModel:
    """A registered aggregator by name (``abmil_gated``, ``abmil_tanh``, ``mean_pool``, ``max_pool``)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name](in_dim, **kwargs)
