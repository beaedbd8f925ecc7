"""MIL aggregators. Every model maps instance features (B, N, D) and an optional padding mask
to a :class:`MILOutput` (bag logits, raw attention logits, bag embedding)."""
from __future__ import annotations

from .abmil import ABMIL, AttentionScorer, MaxPoolMIL, MeanPoolMIL, checkpointed_forward
from .acmil import ACMIL, stkim_mask
from .mhim import MHIM, RecycleNetwork, ema_update, mhim_mask
from .packmil import ADS, PackMIL
from .base import (MILModel, MILOutput, as_batch, freeze, mask_logits, masked_softmax,
                   slide_attention)

__all__ = ["MILOutput", "MILModel", "masked_softmax", "mask_logits", "as_batch", "freeze",
           "slide_attention", "ABMIL", "AttentionScorer", "MeanPoolMIL", "MaxPoolMIL", "ACMIL",
           "stkim_mask", "MHIM", "RecycleNetwork", "mhim_mask", "ema_update", "build_model",
           "PackMIL", "ADS", "checkpointed_forward"]


def build_model(name: str, in_dim: int, n_classes: int = 2, seed: int | None = None,
                **kwargs) -> MILModel:
    """The model of a registered method by name (``abmil_gated``, ``abmil_tanh``, ``mean_pool``,
    ``max_pool``, ``acmil``, ``packmil``, and what later chapters register; see :mod:`milhelpers.methods`).

    With ``seed`` the initial weights depend on that seed alone (drawn from a private copy of
    torch's generator, so neither earlier random calls nor this one change the global stream);
    the seed is kept as ``model.init_seed`` and written to a run's files.
    """
    from ..methods import BuildContext, get_method

    method = get_method(name).with_options(**kwargs)
    ctx = BuildContext(in_dim, n_classes, fold=0, seed=0 if seed is None else seed)
    if seed is None:
        model = method.build(ctx, **method.model_kwargs)
        model.init_seed = None
        return model
    return method.build_model(ctx)
