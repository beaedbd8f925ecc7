"""MHIM-MIL: masked hard-instance mining with a momentum teacher (v1), and v2's class-aware
score and global recycle network.

Tang et al., "Multiple instance learning framework with masked hard instance mining for whole
slide image classification", ICCV 2023, arXiv 2307.15254 (v1); Tang et al., "Multiple instance
learning framework with masked hard instance mining for gigapixel histopathology image
analysis", IJCV 2025, arXiv 2509.11526 (v2).

Two stages. A baseline attention model is trained as usual; a copy of it becomes the *teacher*.
The *student* (same architecture) is then trained on bags from which the teacher's most salient
instances — the easy ones it already relies on — are removed, so the student has to find the
evidence elsewhere:

* the teacher runs on the full bag in train mode (dropout on, as in the authors' code: its
  scores are stochastic), without gradients, and scores every instance s_i: v1 its softmax
  attention a_i, v2 the class-aware probability s_i = max_c softmax_c(W (a_i h_i)) of the
  instance's own contribution a_i h_i to the bag embedding (:func:`instance_scores`);
* the masked set M is the union of high-score masking (about r_h·N instances drawn at random
  from the top r_h/r_hr fraction of all N; r_h may follow a half cosine to 0 over training),
  random masking (r·N instances) and low-score masking (the r_l·N lowest) (:func:`mhim_mask`);
* v1: the student sees the bag without M. v2 (:class:`RecycleNetwork`): of the L instances left,
  a random ⌊L·ρ⌋ are kept and the other L − ⌊L·ρ⌋ are *recycled*: pooled by cross-attention
  into k tokens Z = MCA(LN(G), LN(R)) whose queries G (k global tokens, no gradient) follow an
  EMA of the produced tokens; the student pools [kept ; Z];
* loss = CE(student) + α·L_cons, L_cons = −Σ_e softmax(z_T/τ_t)_e log softmax(z_S/τ_s)_e between
  the teacher's and student's bag embeddings (:func:`milhelpers.losses.consistency_loss`);
* after every optimizer step θ_T ← m θ_T + (1 − m) θ_S (:func:`ema_update`);
* inference: the student alone on the full bag (no masking, no recycling).

Counts are rounded up, ⌈N·ratio⌉ (as the authors' masking code), so on this course's small bags
r_h = 0.01 of 50 patches hides one patch, not none. A ratio of 0 masks nothing.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .base import MILModel, MILOutput, as_batch, freeze

__all__ = ["MHIM", "mhim_mask", "mask_count", "instance_scores", "ema_update", "SCORES",
           "RecycleNetwork", "recycle_split", "score_picks"]

#: How the teacher scores instances: v1's softmax attention, v2's class-aware probability.
SCORES = ("attention", "class_aware")


def mask_count(n: int, ratio: float) -> int:
    """⌈n·ratio⌉ clipped to [0, n]; 0 for ratio 0. (The 1e-9 keeps 50·0.02 = 1.0000000000000002
    from becoming 2.)"""
    if ratio <= 0:
        return 0
    return min(n, math.ceil(n * ratio - 1e-9))


def _check_ratio(name: str, value: float, upper: float = 1.0, open_low: bool = False) -> float:
    v = float(value)
    if not (v > 0 if open_low else v >= 0) or v > upper or math.isnan(v):
        low = "> 0" if open_low else ">= 0"
        raise ValueError(f"{name} must be {low} and <= {upper}, got {value!r}")
    return v


def mhim_mask(scores: torch.Tensor, mask: torch.Tensor | None, r_h: float, r_hr: float = 1.0,
              r: float = 0.0, r_l: float = 0.0, generator: torch.Generator | None = None,
              parts: bool = False):
    """Which instances to hide from the student: a boolean (B, N) tensor, True = masked.

    For each bag with n real instances (``mask`` True) and teacher scores ``scores`` (B, N):

    * high: the top k = ⌈n·r_h/r_hr⌉ by score (all n if r_h/r_hr ≥ 1), of which ⌈k·r_hr⌉ drawn at
      random are masked (if r_h/r_hr ≥ 1, ⌈n·r_h⌉ of all n): about r_h·n masked instances from
      the top r_h/r_hr fraction; r_hr = 1 masks exactly the top ⌈n·r_h⌉;
    * random: ⌈n·r⌉ instances drawn uniformly from all n;
    * low: the ⌈n·r_l⌉ lowest-scored;

    the union of the three. Padding (``mask`` False) is never masked nor counted in n. At least
    one real instance always stays visible: if the union covers the bag, its lowest-scored
    instance is shown again (the student needs some input; the lowest is the least "hard").
    Random draws use ``generator`` (CPU), so a seeded generator reproduces the masks. With
    ``parts`` the result is ``(masked, {'high': …, 'random': …, 'low': …})``, each (B, N) bool
    (before the at-least-one guard), to show which rule hid what.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be (B, N), got shape {tuple(scores.shape)}")
    r_h, r, r_l = (_check_ratio(k, v) for k, v in (("r_h", r_h), ("r", r), ("r_l", r_l)))
    r_hr = _check_ratio("r_hr", r_hr, open_low=True)
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    if mask.shape != scores.shape:
        raise ValueError(f"mask {tuple(mask.shape)} and scores {tuple(scores.shape)} differ")
    out = torch.zeros(scores.shape, dtype=torch.bool)
    split = {k: torch.zeros(scores.shape, dtype=torch.bool) for k in ("high", "random", "low")}
    s_all, real_all = scores.detach().float().cpu(), mask.detach().bool().cpu()
    for b in range(scores.shape[0]):
        idx = real_all[b].nonzero().flatten()           # positions of the real instances
        n = len(idx)
        if n == 0:
            continue
        s = s_all[b, idx]
        order = torch.argsort(s, descending=True, stable=True)   # real instances, best first
        chosen = torch.zeros(n, dtype=torch.bool)
        if r_h > 0:
            if r_h / r_hr >= 1:
                pool, n_h = torch.arange(n), mask_count(n, r_h)
            else:
                pool = order[:mask_count(n, r_h / r_hr)]
                n_h = mask_count(len(pool), r_hr)
            pick = pool if n_h == len(pool) else \
                pool[torch.randperm(len(pool), generator=generator)[:n_h]]
            chosen[pick] = True
            split["high"][b, idx[pick]] = True
        if r > 0:
            pick = torch.randperm(n, generator=generator)[:mask_count(n, r)]
            chosen[pick] = True
            split["random"][b, idx[pick]] = True
        if r_l > 0:
            pick = order[n - mask_count(n, r_l):]
            chosen[pick] = True
            split["low"][b, idx[pick]] = True
        if chosen.all():
            chosen[order[-1]] = False
        out[b, idx[chosen]] = True
    if parts:
        return out.to(scores.device), {k: v.to(scores.device) for k, v in split.items()}
    return out.to(scores.device)


def instance_scores(out: MILOutput, model: nn.Module, kind: str = "attention") -> torch.Tensor:
    """The teacher's per-instance scores (B, N) from its output on the full bag.

    ``attention``: the softmax attention ā_i (heads averaged). ``class_aware`` (v2): with
    instance embeddings h_i (``out.extras['instance_embeddings']``) and the weight W of the
    model's linear ``classifier``, s_i = max_c softmax_c(W (a_i h_i)) — how confidently the
    instance's own contribution to the bag embedding points at one class. The classifier's bias
    is left out: the authors add the class-0 bias to every class, a constant that cancels in
    the softmax, so the score does not depend on the bias at all (adding the whole bias vector
    would let the class the bias favours decide which instances look salient). Padding scores
    are meaningless (:func:`mhim_mask` ignores them).
    """
    if kind == "attention":
        return out.slide_attention
    if kind != "class_aware":
        raise ValueError(f"score={kind!r}: choose from {list(SCORES)}")
    h = out.extras.get("instance_embeddings")
    clf = getattr(model, "classifier", None)
    if h is None or not isinstance(clf, nn.Linear) or clf.in_features != h.shape[-1]:
        raise ValueError("score='class_aware' needs a one-branch attention model that returns "
                         "extras['instance_embeddings'] and has a linear 'classifier' (gated "
                         "ABMIL does); use score='attention' for other models")
    contribution = out.slide_attention.unsqueeze(-1) * h              # (B, N, E): a_i h_i
    logits = contribution.float() @ clf.weight.float().t()            # (B, N, C), no bias
    return torch.softmax(logits, -1).amax(-1)


@torch.no_grad()
def score_picks(teacher: nn.Module, features: torch.Tensor, r_h: float = 0.05,
                kinds=SCORES, train_mode: bool = False) -> dict[str, dict]:
    """Which patches of one bag (N, D) each teacher score would hide: for every kind in
    ``kinds``, ``{'scores': (N,), 'masked': (N,) bool, 'high': (N,) bool}`` with the top
    ⌈N·r_h⌉ by that score marked (``masked`` = ``high``: the records
    :func:`milhelpers.viz.mask_evolution` draws). One teacher pass serves every kind; in eval
    mode (default) the scores are deterministic, ``train_mode=True`` scores with dropout on, as
    MHIM's teacher does while training."""
    was = teacher.training
    teacher.train(train_mode)
    try:
        out = teacher(features)
    finally:
        teacher.train(was)
    picks = {}
    for kind in kinds:
        s = instance_scores(out, teacher, kind)
        top = mhim_mask(s, None, r_h, 1.0)[0]
        picks[kind] = {"scores": s[0].cpu().numpy(), "masked": top.cpu().numpy(),
                       "high": top.cpu().numpy()}
    return picks


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """θ_T ← m·θ_T + (1 − m)·θ_S for every parameter (buffers are left alone, as the authors)."""
    tp, sp = list(teacher.parameters()), list(student.parameters())
    if len(tp) != len(sp):
        raise ValueError("teacher and student have different parameter lists")
    for t, s in zip(tp, sp):
        t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)


def recycle_split(visible: torch.Tensor, keep_ratio: float,
                  generator: torch.Generator | None = None,
                  min_keep: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """v2's random masking of what the teacher left: for each bag with L visible instances
    (``visible`` (B, N) True), a uniformly random ⌊L·ρ⌋ (``keep_ratio`` ρ, the authors'
    ``merge_ratio``; at least ``min_keep`` while L allows) are *kept* and the rest *recycled*.
    Returns (kept, recycled), both (B, N) bool, disjoint, their union ``visible``; padding is in
    neither."""
    keep_ratio = _check_ratio("merge_ratio", keep_ratio)
    vis = visible.detach().bool().cpu()
    kept = torch.zeros(vis.shape, dtype=torch.bool)
    recycled = torch.zeros(vis.shape, dtype=torch.bool)
    for b in range(vis.shape[0]):
        idx = vis[b].nonzero().flatten()
        n_keep = max(int(len(idx) * keep_ratio), min(min_keep, len(idx)))   # int(): floor
        perm = idx[torch.randperm(len(idx), generator=generator)]
        kept[b, perm[:n_keep]] = True
        recycled[b, perm[n_keep:]] = True
    return kept.to(visible.device), recycled.to(visible.device)


class RecycleNetwork(nn.Module):
    """MHIM-MIL v2's global recycle network: the recycled instances of a bag pooled into k tokens.

    With k global queries G (k, E) and the recycled instance embeddings R of a bag,

        Z = W_o · MHA(q = LN(G) W_q, k = LN(R) W_k, v = LN(R) W_v)       (k, E)

    an H-head cross-attention (H = 8 heads of width 64; bias-free W_q, W_k, W_v; scores scaled by
    64^−½; softmax over the recycled instances only — never the kept ones, never padding;
    dropout 0.1 on the attention weights and on W_o's output), one LayerNorm shared by G and R.
    G is not trained by gradient: it starts U(−v, v), v = √(6 / (3·16·16 + E)) (the authors'
    visual-prompt initialisation) and after every training forward follows the tokens it produced,
    G ← m G + (1 − m) Z̄ (``momentum`` m, the authors' ``merge_mm``; Z̄ is the bag's Z — for a
    batch, the mean over its bags, the authors train one bag per step). A bag with nothing to
    recycle gets Z = W_o(0) (the output bias), as the authors' empty attention gives. Linear
    weights start Xavier-normal with zero biases, as the authors initialise theirs.
    """

    def __init__(self, dim: int, n_queries: int = 1, momentum: float = 0.9999, heads: int = 8,
                 head_dim: int = 64, dropout: float = 0.1):
        super().__init__()
        if isinstance(n_queries, bool) or int(n_queries) != n_queries or n_queries < 1:
            raise ValueError(f"merge_k={n_queries!r}: the number of global queries must be an "
                             "integer >= 1 (the authors' grid: 1, 5, 10)")
        if not 0 <= momentum <= 1:
            raise ValueError(f"merge_momentum must be in [0, 1], got {momentum}")
        inner = heads * head_dim
        self.heads, self.head_dim, self.momentum = heads, head_dim, float(momentum)
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.attn_dropout = nn.Dropout(dropout)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        bound = math.sqrt(6.0 / (3 * 16 * 16 + dim))
        # a buffer: saved with the model and moved with it, never seen by the optimizer
        self.register_buffer("queries", torch.empty(int(n_queries), dim).uniform_(-bound, bound))

    def forward(self, h: torch.Tensor, recycled: torch.Tensor) -> torch.Tensor:
        """Tokens Z (B, k, E) from embeddings h (B, N, E) and the (B, N) recycled mask; in
        training the queries then take their EMA step."""
        b, n, _ = h.shape
        q = self.to_q(self.norm(self.queries))                               # (k, H·d)
        r = self.norm(h)
        k, v = self.to_k(r), self.to_v(r)                                    # (B, N, H·d)
        q = q.view(-1, self.heads, self.head_dim).transpose(0, 1)           # (H, k, d)
        k = k.view(b, n, self.heads, self.head_dim).transpose(1, 2)         # (B, H, N, d)
        v = v.view(b, n, self.heads, self.head_dim).transpose(1, 2)
        dots = torch.einsum("hqd,bhnd->bhqn", q, k) * self.head_dim ** -0.5
        keep = recycled[:, None, None, :]
        dots = dots.masked_fill(~keep, torch.finfo(dots.dtype).min)
        attn = torch.softmax(dots, -1).masked_fill(~keep, 0.0)              # 0 when none
        out = torch.einsum("bhqn,bhnd->bhqd", self.attn_dropout(attn), v)   # (B, H, k, d)
        z = self.to_out(out.transpose(1, 2).reshape(b, -1, self.heads * self.head_dim))
        if self.training and self.momentum < 1:
            # a new tensor, not in place: this step's graph still holds the queries it used
            self.queries = (self.momentum * self.queries
                            + (1.0 - self.momentum) * z.detach().mean(0).to(self.queries.dtype))
        return z


class MHIM(MILModel):
    """Student + frozen momentum teacher; masked student in training, student alone in eval.

    ``forward(x, mask)`` in train mode: the teacher (train mode, no gradient) scores the full
    bag, :func:`mhim_mask` draws the hidden set with the current ``r_h`` (set by the schedule
    callback). v1 (``merge_ratio`` 1, no ``recycle``): the student runs with those instances
    removed through the padding mask. v2: of the instances left, :func:`recycle_split` keeps a
    random share ``merge_ratio`` ρ; with ``recycle`` (a :class:`RecycleNetwork`) the rest is
    pooled into its k tokens and the student pools its kept embeddings together with them
    (``student.pool``), without it the rest is simply hidden. The student's :class:`MILOutput`
    is returned with ``extras['teacher_embedding']`` (B, E), ``extras['mhim_masked']`` (B, N,
    True = hidden by the teacher's score), ``extras['teacher_scores']`` (B, N) and, in v2, ``extras['mhim_recycled']`` (B, N) and
    ``extras['recycle_tokens']`` (B, k, E). In eval mode: ``student(x, mask)``.
    """

    def __init__(self, student: MILModel, teacher: MILModel, r_h: float = 0.01, r_hr: float = 0.5,
                 r: float = 0.5, r_l: float = 0.0, score: str = "attention", seed: int = 0,
                 merge_ratio: float = 1.0, recycle: RecycleNetwork | None = None):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"score={score!r}: choose from {list(SCORES)}")
        mhim_mask(torch.zeros(1, 1), None, r_h, r_hr, r, r_l)    # bad ratios fail here
        self.merge_ratio = _check_ratio("merge_ratio", merge_ratio)
        if (recycle is not None or self.merge_ratio < 1) and not (
                hasattr(student, "project") and hasattr(student, "pool")):
            raise ValueError("v2's random masking and recycling need a student with 'project' "
                             "and 'pool' (gated ABMIL has them)")
        self.student, self.teacher = student, freeze(teacher)
        self.recycle = recycle
        self.n_classes = student.n_classes
        self.r_h0, self.r_h, self.r_hr, self.r, self.r_l = float(r_h), float(r_h), r_hr, r, r_l
        self.score = score
        self.generator = torch.Generator().manual_seed(int(seed))

    def hide(self, x: torch.Tensor, mask: torch.Tensor | None = None, parts: bool = False):
        """The teacher's pass on the full bag and the hidden set: ``(masked (B, N), teacher out)``
        (with ``parts``: ``((masked, parts), teacher out)``, see :func:`mhim_mask`)."""
        x, mask = as_batch(x, mask)
        was = self.teacher.training
        self.teacher.train()                   # dropout on, as in the authors' teacher
        try:
            with torch.no_grad():
                t = self.teacher(x, mask)
                s = instance_scores(t, self.teacher, self.score)
                t.extras["teacher_scores"] = s
        finally:
            self.teacher.train(was)
        return mhim_mask(s, mask, self.r_h, self.r_hr, self.r, self.r_l, self.generator,
                         parts), t

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> MILOutput:
        x, mask = as_batch(x, mask)
        if not self.training:
            return self.student(x, mask)
        masked, t = self.hide(x, mask)
        visible = mask & ~masked
        extras = {"teacher_embedding": t.embedding, "mhim_masked": masked,
                  "teacher_scores": t.extras["teacher_scores"]}
        if self.recycle is None and self.merge_ratio == 1:
            out = self.student(x, visible)
        else:
            # without recycle tokens the student needs one kept instance per bag
            kept, recycled = recycle_split(visible, self.merge_ratio, self.generator,
                                           min_keep=int(self.recycle is None))
            extras["mhim_recycled"] = recycled
            if self.recycle is None:                    # random masking, nothing recycled
                out = self.student(x, kept)
            else:
                h = self.student.project(x)                                   # (B, N, E)
                z = self.recycle(h, recycled)                                 # (B, k, E)
                ones = torch.ones(z.shape[:2], dtype=torch.bool, device=z.device)
                out = self.student.pool(torch.cat([h, z], 1), torch.cat([kept, ones], 1))
                extras["recycle_tokens"] = z
        out.extras.update(extras)
        return out
