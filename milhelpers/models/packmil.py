"""PackMIL's aggregator: gated ABMIL that reads packed batches (Tang, Fang et al., "Revisiting
data challenges of computational pathology: a pack-based multiple instance learning framework",
arXiv 2509.20923, 2025).

**Unpacked** (``model(x, mask)``, inference and validation): exactly :class:`~.abmil.ABMIL` on
whole slides (after the ADS in its per-token mode, when there is one).

**Packed** (``model(x, mask, slide_index=...)``, training): ``x`` (P, T, D) holds several
slides per pack and ``slide_index`` (P, T) says which (−1 on padding; slides 0 … S−1 in batch
order). Every token is embedded and scored alone, h_t = ReLU(W₀ x_t), e_t = wᵀ(tanh(V h_t) ⊙
σ(U h_t)); then each slide s gets its own softmax over *its* tokens only,

    M_st = [slide_index_t = s],  a_st = M_st e^{e_t} / Σ_u M_su e^{e_u},  z_s = Σ_t a_st h_t,

and ŷ_s = W_c z_s, one logits row per slide in batch order. No term mixes two slides, so a
slide's output is the one it gets alone, and its gradient with respect to another slide's tokens
is exactly zero. For a transformer aggregator (TransMIL, ViT-MIL) the same rule becomes a
block-diagonal self-attention mask: token i may attend to token j only if slide_index_i =
slide_index_j ≠ −1 (one CLS token per slide segment); only ABMIL is built here.

**Hyperslide** (``residual=`` packs of the leftover instances): each residual pack is *one* bag
through the same attention and classifier (the padding mask only, so attention pools across its
member slides); its logits are ``extras['hyperslide_logits']``.

**ADS** (``ads_ratio`` r > 1), applied to each slide's part before aggregation: attention
re-weighting x_t ← x_t + α_t x_t with α = softmax_t(w₂ᵀ tanh(W₁ x_t)), then in training: pad to a
multiple of r, shuffle, embed GELU(W_e x), group r tokens into one r·D vector (dimension-major:
the r tokens' coordinate j side by side), keep D random coordinates of it (one sorted subset per
part), Linear(D→D): ⌈n/r⌉ tokens. In evaluation each
token is only re-weighted, embedded and mapped (no grouping). Simplification: the paper
leaves parts shorter than min_len·r uncompressed; here every part is compressed.
"""
from __future__ import annotations

import torch
from torch import nn

from ..packing import compressed_length, pack_tensors
from .abmil import ABMIL
from .base import MILOutput, as_batch, masked_softmax

__all__ = ["ADS", "PackMIL"]


class ADS(nn.Module):
    """Attention-driven downsampler: (n, D) → (⌈n/r⌉, D) in training, (n, D) → (n, D) in eval."""

    def __init__(self, dim: int, ratio: int, hidden: int = 128):
        super().__init__()
        if isinstance(ratio, bool) or int(ratio) != ratio or ratio < 2:
            raise ValueError(f"ads_ratio={ratio!r} must be an integer >= 2 (None: no ADS)")
        self.ratio, self.dim = int(ratio), dim
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.embed = nn.Sequential(nn.Linear(dim, dim), nn.GELU())
        self.out = nn.Linear(dim, dim)

    def reweight(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x_t + α_t x_t with α the softmax of the scores over the real tokens (last-but-one axis)."""
        e = self.score(x)[..., 0]                                     # (..., n)
        if mask is not None:
            e = e.masked_fill(~mask, torch.finfo(e.dtype).min)
        a = torch.softmax(e, dim=-1)
        return x + a[..., None] * x

    def forward_part(self, x: torch.Tensor) -> torch.Tensor:
        """One slide's part (n, D): compressed to ⌈n/r⌉ tokens in training, per-token in eval."""
        x = self.reweight(x)
        if not self.training:
            return self.out(self.embed(x))
        r, (n, d) = self.ratio, x.shape
        m = compressed_length(n, r)
        x = torch.cat([x, x.new_zeros(m * r - n, d)]) if m * r > n else x
        x = self.embed(x[torch.randperm(m * r, device=x.device)])
        keep = torch.sort(torch.randperm(r * d, device=x.device)[:d]).values
        return self.out(self.group(x, r)[:, keep])

    @staticmethod
    def group(x: torch.Tensor, r: int) -> torch.Tensor:
        """(m·r, D) → (m, D·r), dimension-major: entry j·r + k of group g is coordinate j of
        token g·r + k. The sorted D of the D·r coordinates kept then sit near their own
        dimension (kept index i ≈ r·i ↦ coordinate ≈ i of one of the r tokens), so the output
        layer sees the same coordinate order as in evaluation, where each token passes alone.
        (Token-major order would feed it coordinate ≈ r·i mod D at input i: another layout
        from evaluation's, and a chance-level model.)"""
        m = x.shape[0] // r
        return x.reshape(m, r, x.shape[1]).transpose(1, 2).reshape(m, -1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-token mode on a padded batch (B, N, D): inference on whole slides."""
        return self.out(self.embed(self.reweight(x, mask)))

    def packed(self, x: torch.Tensor, slide_index: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """ADS on every slide segment of packs (P, T, D); the same packs re-assembled from the
        compressed segments: (features, slide_index)."""
        slides = torch.unique(slide_index[slide_index >= 0]).tolist()
        parts, packs, owner = [], [], []
        for p in range(x.shape[0]):
            pk = []
            for s in torch.unique(slide_index[p][slide_index[p] >= 0]).tolist():
                pk.append(len(parts))
                parts.append(self.forward_part(x[p][slide_index[p] == s]))
                owner.append(s)
            packs.append(pk)
        assert sorted(owner) == slides, "a slide is split across packs"
        feats, _, index = pack_tensors(parts, packs, owner)
        return feats, index


class PackMIL(ABMIL):
    """Gated ABMIL (CLAM's dimensions, :class:`~.abmil.ABMIL`) that also trains on packs.

    ``forward(x, mask)``: the ABMIL interface (whole slides). ``forward(x, mask, slide_index=,
    residual=, residual_mask=, residual_slide_index=)``: packed training, one logits row per
    slide (see the module docstring). ``ads_ratio`` r ≥ 2 adds the ADS (None: none).
    """

    def __init__(self, in_dim: int, n_classes: int = 2, embed_dim: int = 512,
                 attn_dim: int = 256, gated: bool = True, dropout: float = 0.25,
                 ads_ratio: int | None = None):
        super().__init__(in_dim, n_classes, embed_dim, attn_dim, gated, dropout, n_branches=1)
        self.ads = ADS(in_dim, ads_ratio) if ads_ratio not in (None, 1) else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                slide_index: torch.Tensor | None = None, residual: torch.Tensor | None = None,
                residual_mask: torch.Tensor | None = None,
                residual_slide_index: torch.Tensor | None = None) -> MILOutput:
        if slide_index is None:
            x, mask = as_batch(x, mask)
            if self.ads is not None:
                x = self.ads(x, mask)
            return super().forward(x, mask)
        if x.dim() != 3 or slide_index.shape != x.shape[:2]:
            raise ValueError(f"packed features must be (P, T, D) with slide_index (P, T); got "
                             f"{tuple(x.shape)} and {tuple(slide_index.shape)}")
        if self.ads is not None:
            x, slide_index = self.ads.packed(x, slide_index)
        out = self.packed_forward(x, slide_index)
        if residual is not None:
            if self.ads is not None:
                if residual_slide_index is None:
                    raise ValueError("ADS needs residual_slide_index to compress each slide's "
                                     "residual part")
                residual, residual_slide_index = self.ads.packed(residual, residual_slide_index)
                residual_mask = residual_slide_index >= 0
            out.extras["hyperslide_logits"] = ABMIL.forward(self, residual, residual_mask).logits
        return out

    def packed_forward(self, x: torch.Tensor, slide_index: torch.Tensor) -> MILOutput:
        """Per-slide masked attention pooling inside packs (after any ADS).

        Returns logits (S, C) in slide order, attention_logits (S, 1, T) over the tokens of the
        slide's pack (other slides' tokens and padding at the dtype minimum), embedding (S, E),
        mask (S, T) = membership; ``extras['pack_of']`` (S,) the pack of each slide.
        """
        p, t = slide_index.shape
        real = slide_index >= 0
        s_tok = slide_index[real]                                      # slide of each real token
        n_slides = int(s_tok.max()) + 1
        if torch.bincount(s_tok, minlength=n_slides).eq(0).any():
            raise ValueError("slide_index must number the slides 0 … S−1 with every slide present")
        h = self.project(x)                                            # (P, T, E)
        e = self.attention(h)[..., 0]                                  # (P, T)
        packs = torch.arange(p, device=x.device)[:, None].expand(p, t)[real]
        pack_of = torch.zeros(n_slides, dtype=torch.long, device=x.device).scatter_(
            0, s_tok, packs)                                           # one pack per slide
        member = slide_index[pack_of] == torch.arange(n_slides, device=x.device)[:, None]
        logits_att = e[pack_of].masked_fill(~member, torch.finfo(e.dtype).min)[:, None, :]
        a = masked_softmax(logits_att, member)[:, 0]                   # (S, T), 0 off-slide
        pos = torch.arange(t, device=x.device)[None, :].expand(p, t)[real]
        w = a[s_tok, pos]                                              # each token's weight
        z = h.new_zeros(n_slides, h.shape[-1]).index_add_(0, s_tok, w[:, None] * h[real])
        return MILOutput(self.classifier(z), logits_att, z, member, {"pack_of": pack_of})
