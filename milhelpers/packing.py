"""PackMIL's batching: split each slide, cap the parts, pack them into fixed-length sequences.

PackMIL (Tang, Fang et al., "Revisiting data challenges of computational pathology: a
pack-based multiple instance learning framework", arXiv 2509.20923, 2025) trains MIL models on
batches of B slides although slides hold 200 to 200,000 patches:

1. **Split** (:func:`split_slide`): a random share ``p`` of each slide's instances goes to the
   *main* branch, the rest to the *residual* branch; a slide shorter than ``min_len`` (× the
   ADS ratio r) goes whole to both. Each part is capped at ``L·r`` instances by random
   subsampling. (The authors' code also doubles L for a batch whose largest residual part
   would exceed it; here the cap is fixed, so every pack holds at most L tokens.)
2. **Pack** (:func:`sequential_packs`, :func:`pack_tensors`): the parts, in batch order, fill
   packs of at most ``L`` tokens one after the other. A pack is a (T, D) sequence with a
   padding mask and a token → slide index (−1 on padding), so the model can run a *per-slide*
   softmax inside a pack (:class:`milhelpers.models.packmil.PackMIL`).
3. **Hyperslide** (:func:`hyperslide_label`): the residual parts are packed the same way, and
   each pack is trained as *one* bag. Its target, as in the authors' code by default, gives
   every class present among the member slides (number of members of that class) ÷ (largest
   such number), trained with a sigmoid loss; the token-weighted class mixture
   ỹ = Σ_s w_s onehot(y_s) / Σ_s w_s is the variant ``kind="tokenmix"``.

:class:`PackCollate` (made by :func:`pack_collate`) does all three as a ``collate_fn`` for the
trainer; its :class:`PackedBatch` carries one label per *slide* in batch order, so the trainer's
cross-entropy sees (S×C logits, S labels) as for padded batches. Inference never packs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, Dataset, RandomSampler

from .datasets import Bag

__all__ = ["split_slide", "sequential_packs", "pack_tensors", "hyperslide_label",
           "HYPERSLIDE_TARGETS", "PackedBatch",
           "PackCollate", "pack_collate", "slide_batch_sampler", "padded_token_share",
           "packing_efficiency", "compressed_length"]


def _check_share(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
        raise ValueError(f"p={p!r} is the share of a slide's instances routed to the main branch; "
                         "it must lie in (0, 1] (the paper uses 0.4–0.5)")
    return float(p)


def _check_positive_int(value, name: str, minimum: int = 1, hint: str = "") -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}{hint}")
    return int(value)


def compressed_length(n: int, ratio: int = 1) -> int:
    """Tokens left after ADS groups r tokens into one: ⌈n / r⌉ (n itself for r = 1)."""
    return -(-int(n) // int(ratio))


def split_slide(n: int, p: float, min_len: int = 0, cap: int | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Instance indices of one slide's main and residual parts.

    ``n < min_len``: both parts are the whole slide ``0 … n−1``. Otherwise a random permutation
    sends its first ⌊p·n⌋ instances (at least 1) to the main part and the rest to the residual
    part, so without a cap every instance lands in exactly one part. ``cap``: each part keeps at
    most ``cap`` of its instances, drawn at random. Indices come back sorted.
    """
    _check_share(p)
    n = _check_positive_int(n, "n")
    if cap is not None:
        cap = _check_positive_int(cap, "cap")
    if n < min_len:
        main = res = torch.arange(n)
    else:
        perm = torch.randperm(n, generator=generator)
        k = max(1, int(math.floor(p * n)))
        main, res = perm[:k], perm[k:]
    if cap is not None:
        if len(main) > cap:
            main = main[torch.randperm(len(main), generator=generator)[:cap]]
        if len(res) > cap:
            res = res[torch.randperm(len(res), generator=generator)[:cap]]
    return torch.sort(main).values, torch.sort(res).values


def sequential_packs(lengths: Sequence[int], max_len: int) -> list[list[int]]:
    """Group parts into packs in order: each part joins the current pack while the pack's total
    stays ≤ ``max_len``, else it opens a new pack ("sequential" packing: the packs, read in
    order, list the parts in their original order). Parts of length 0 are left out; a part
    longer than ``max_len`` is an error (cap it first)."""
    max_len = _check_positive_int(max_len, "max_len")
    packs: list[list[int]] = []
    total = max_len + 1
    for i, n in enumerate(lengths):
        n = int(n)
        if n == 0:
            continue
        if n > max_len:
            raise ValueError(f"part {i} has {n} tokens > max_len={max_len}; cap the parts at "
                             "max_len (split_slide(cap=...)) before packing")
        if total + n > max_len:
            packs.append([])
            total = 0
        packs[-1].append(i)
        total += n
    return packs


def pack_tensors(parts: Sequence[torch.Tensor], packs: Sequence[Sequence[int]],
                 slide_of_part: Sequence[int] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate the parts of each pack and right-pad the packs to the longest one.

    Returns ``features`` (P, T, D), ``mask`` (P, T) True on real tokens and ``slide_index``
    (P, T): the slide each token comes from (``slide_of_part[i]`` for part i, default i), −1 on
    padding.
    """
    if not packs:
        raise ValueError("no packs: every part is empty")
    slide_of_part = list(range(len(parts))) if slide_of_part is None else list(slide_of_part)
    lens = [sum(len(parts[i]) for i in pk) for pk in packs]
    t, d = max(lens), parts[packs[0][0]].shape[1]
    ref = parts[packs[0][0]]
    x = ref.new_zeros(len(packs), t, d)
    index = torch.full((len(packs), t), -1, dtype=torch.long, device=ref.device)
    for j, pk in enumerate(packs):
        at = 0
        for i in pk:
            n = len(parts[i])
            x[j, at:at + n] = parts[i]
            index[j, at:at + n] = slide_of_part[i]
            at += n
    return x, index >= 0, index


#: The two hyperslide targets :func:`hyperslide_label` can make: ``multihot`` (the authors'
#: default) and ``tokenmix`` (the token-weighted class mixture).
HYPERSLIDE_TARGETS = ("multihot", "tokenmix")


def hyperslide_label(labels: torch.Tensor | Sequence[int], token_counts: torch.Tensor,
                     n_classes: int, kind: str = "multihot") -> torch.Tensor:
    """PackMIL's target ("tailored label") of a hyperslide from its member slides.

    ``labels`` (S,) class indices of the slides, ``token_counts`` (S,) or (R, S) the tokens w_s
    each slide contributes to each of R hyperslides (0: not a member). Returns (C,) or (R, C).

    * ``kind="multihot"`` (the authors' default): with n_c = the number of member slides
      (w_s > 0) of class c, ỹ_c = n_c / max_c' n_c' — every class present gets a positive
      target, the most frequent 1. One class-0 and two class-1 members (30, 10 and 5 tokens)
      give [0.5, 1.0]. Trained with a sigmoid loss (:func:`milhelpers.losses.multilabel_bce`).
      Token counts only decide membership here (the authors weight by them only behind a
      non-default option).
    * ``kind="tokenmix"``: the token-weighted class mixture ỹ_c = Σ_s w_s 1[y_s = c] / Σ_s w_s
      (rows sum to 1; the same members give [30, 15]/45 = [0.667, 0.333]), trained with soft-target
      cross-entropy (``packmil_tokenmix``).
    """
    if kind not in HYPERSLIDE_TARGETS:
        raise ValueError(f"kind={kind!r}: choose 'multihot' (the authors' target) or 'tokenmix' "
                         "(the token-weighted mixture)")
    y = torch.as_tensor(labels, dtype=torch.long)
    w = torch.as_tensor(token_counts, dtype=torch.float32)
    if w.shape[-1] != len(y):
        raise ValueError(f"token_counts has {w.shape[-1]} slides per row but labels has {len(y)}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in 0 … n_classes−1 = {n_classes - 1}; got "
                         f"{sorted(set(y.tolist()))}")
    if (w < 0).any():
        raise ValueError("token_counts must be >= 0")
    total = w.sum(-1, keepdim=True)
    if (total == 0).any():
        raise ValueError("a hyperslide has no tokens (all its token_counts are 0)")
    onehot = torch.nn.functional.one_hot(y.to(w.device), n_classes).to(w.dtype)   # (S, C)
    if kind == "tokenmix":
        return (w @ onehot) / total
    per_class = (w > 0).to(w.dtype) @ onehot                        # member slides per class
    return per_class / per_class.amax(-1, keepdim=True)


@dataclass
class PackedBatch:
    """B slides packed for one training step.

    ``features`` (P, T, D), ``mask`` (P, T) and ``slide_index`` (P, T; −1 on padding) hold the
    main parts; ``labels`` (S,) one label per slide in batch order (the model returns one logits
    row per slide in the same order). ``residual_*`` hold the hyperslide packs (R, T', D) and
    ``residual_counts`` (R, S): the tokens each slide contributes to each hyperslide, from which
    :meth:`hyperslide_labels` makes the targets. ``model_kwargs`` is what the trainer passes
    to ``model.forward`` besides features and mask.
    """

    features: torch.Tensor
    mask: torch.Tensor
    slide_index: torch.Tensor
    labels: torch.Tensor
    slide_ids: list[str]
    residual_features: torch.Tensor | None = None
    residual_mask: torch.Tensor | None = None
    residual_slide_index: torch.Tensor | None = None
    residual_counts: torch.Tensor | None = None
    coords: list = field(default_factory=list)
    instance_labels: list = field(default_factory=list)
    model_kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.model_kwargs:
            self.model_kwargs = {"slide_index": self.slide_index}
            if self.residual_features is not None:
                self.model_kwargs.update(residual=self.residual_features,
                                         residual_mask=self.residual_mask,
                                         residual_slide_index=self.residual_slide_index)

    def to(self, device) -> "PackedBatch":
        mv = (lambda t: None if t is None else t.to(device))
        return PackedBatch(mv(self.features), mv(self.mask), mv(self.slide_index),
                           mv(self.labels), self.slide_ids, mv(self.residual_features),
                           mv(self.residual_mask), mv(self.residual_slide_index),
                           mv(self.residual_counts), self.coords, self.instance_labels)

    @property
    def n_slides(self) -> int:
        return len(self.labels)

    def hyperslide_labels(self, n_classes: int, kind: str = "multihot") -> torch.Tensor:
        """(R, C) targets of the residual packs (:func:`hyperslide_label`, ``kind`` as there)."""
        if self.residual_counts is None:
            raise ValueError("this batch has no residual packs (pack_collate(residual=False))")
        return hyperslide_label(self.labels, self.residual_counts, n_classes, kind)


@dataclass(frozen=True)
class PackCollate:
    """``collate_fn`` for PackMIL: a list of :class:`~milhelpers.datasets.Bag` → :class:`PackedBatch`.

    ``p`` share of each slide to the main branch; ``max_len`` L, the tokens of a pack after ADS;
    ``min_len`` slides shorter than ``min_len · ads_ratio`` go whole to both branches;
    ``ads_ratio`` r (1: no ADS) — parts are capped at L·r instances and packed by their length
    after ADS, ⌈n/r⌉; ``residual`` False leaves the residual branch out. ``generator`` None
    draws from torch's global generator, which the trainer seeds.
    """

    p: float = 0.5
    max_len: int = 256
    min_len: int = 16
    ads_ratio: int = 1
    residual: bool = True
    generator: torch.Generator | None = None

    def __post_init__(self):
        _check_share(self.p)
        _check_positive_int(self.max_len, "max_len")
        _check_positive_int(self.min_len, "min_len", 0)
        _check_positive_int(self.ads_ratio, "ads_ratio", 1, " (1 = no ADS)")

    def __call__(self, bags: Sequence[Bag]) -> PackedBatch:
        if not bags:
            raise ValueError("pack_collate: empty batch")
        r = self.ads_ratio
        mains, ress = [], []
        for b in bags:
            mi, ri = split_slide(len(b.features), self.p, self.min_len * r, self.max_len * r,
                                 self.generator)
            mains.append(b.features[mi])
            ress.append(b.features[ri])
        labels = torch.tensor([b.label for b in bags], dtype=torch.long)
        packs = sequential_packs([compressed_length(len(m), r) for m in mains], self.max_len)
        x, mask, index = pack_tensors(mains, packs)
        res = dict()
        if self.residual and any(len(t) for t in ress):
            rlen = [compressed_length(len(t), r) for t in ress]
            rpacks = sequential_packs(rlen, self.max_len)
            rx, rmask, rindex = pack_tensors(ress, rpacks)
            counts = torch.zeros(len(rpacks), len(bags))
            for j, pk in enumerate(rpacks):
                for i in pk:
                    counts[j, i] = rlen[i]
            res = dict(residual_features=rx, residual_mask=rmask, residual_slide_index=rindex,
                       residual_counts=counts)
        return PackedBatch(x, mask, index, labels, [b.slide_id for b in bags], **res,
                           coords=[None] * len(bags), instance_labels=[None] * len(bags))


def pack_collate(p: float = 0.5, max_len: int = 256, min_len: int = 16, ads_ratio: int = 1,
                 residual: bool = True, generator: torch.Generator | None = None) -> PackCollate:
    """The PackMIL ``collate_fn`` (see :class:`PackCollate` for the parameters)."""
    return PackCollate(p, max_len, min_len, ads_ratio, residual, generator)


def slide_batch_sampler(batch_size: int, drop_last: bool = False):
    """A ``batch_sampler`` factory ``(dataset, generator) -> Sampler`` for the trainer: B random
    slides per step, a new order every epoch, drawn from the trainer's seeded generator. (The
    trainer's plain ``TrainConfig(batch_size=B)`` loader does the same; this is for a custom
    sampler, e.g. class-balanced, to start from.)"""
    batch_size = _check_positive_int(batch_size, "batch_size")

    def make(ds: Dataset, generator: torch.Generator) -> BatchSampler:
        return BatchSampler(RandomSampler(ds, generator=generator), batch_size, drop_last)
    return make


# ------------------------------------------------------------------------------------------
# what padding wastes and what packing saves (chapter 06's first figure)
# ------------------------------------------------------------------------------------------
def padded_token_share(lengths: Sequence[int], batch_size: int, seed: int = 0,
                       epochs: int = 20) -> float:
    """Share of padding among the tokens of padded batches: random batches of ``batch_size``
    bags padded to their longest, 1 − Σ n / Σ_batches B·max n, averaged over ``epochs``
    shuffles."""
    n = np.asarray(lengths, dtype=np.int64)
    rng = np.random.default_rng(seed)
    real = padded = 0
    for _ in range(epochs):
        order = rng.permutation(len(n))
        for start in range(0, len(n), batch_size):
            chunk = n[order[start:start + batch_size]]
            real += int(chunk.sum())
            padded += len(chunk) * int(chunk.max())
    return 1.0 - real / padded


def packing_efficiency(lengths: Sequence[int], max_len: int) -> float:
    """Share of real tokens in sequentially packed, right-padded packs: Σ n / (P · T) with T the
    longest pack (lengths already capped at ``max_len``)."""
    n = [int(v) for v in lengths]
    packs = sequential_packs(n, max_len)
    totals = [sum(n[i] for i in pk) for pk in packs]
    return sum(totals) / (len(packs) * max(totals))
