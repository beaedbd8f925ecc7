"""The method registry: a MIL method is a name for a complete training recipe.

A :class:`Method` bundles what a chapter adds to the shared trainer — how to build the model for
one fold, the extra loss terms, the step callbacks, the batching (collate + sampler), train-only
transforms and the training defaults — so notebooks, :func:`milhelpers.train.cross_validate` and
the experiment runner build every method the same way::

    method = get_method("abmil_gated")
    result = method.fit(train_ds, val_ds, method.train_config(epochs=20, seed=0), fold=0)

How each later method plugs in (one ``register(Method(...))`` each, no copied loop):

* ACMIL (``acmil``, ablations ``acmil_mba``, ``acmil_stkim``) — ``build`` returns the
  multi-branch model (per-branch logits in ``out.extras['branch_logits']``); ``loss_terms`` adds
  branch cross-entropy and branch diversity (:func:`acmil_loss_terms`). Like every method it
  trains a fixed number of epochs (``TrainConfig.monitor = "last"``; the authors select on
  validation accuracy + AUC, ``val_acc_auc`` — ``docs/protocol.md`` measures both on the course
  cohort).
* AEM — same ``build`` as ABMIL (or ACMIL); ``loss_terms`` adds λ·Σ a log a with a constant or
  :func:`~milhelpers.train.cosine_ramp` weight: :func:`aem_method` makes any variant, ``aem`` is
  registered (gated ABMIL, λ = 0.1 constant).
* MHIM-MIL (``mhim``, variants from :func:`mhim_method`, ablations in :data:`MHIM_ABLATIONS`;
  v2 as ``mhim_v2`` from :func:`mhim_v2_method`) —
  ``build`` gets the fold's :class:`BuildContext` and takes the trained baseline of the same seed
  and fold as the frozen teacher (``ctx.pretrained`` from the runner's cache, else trained on
  ``ctx.train_ds``); ``callbacks`` (:class:`MHIMSchedule`) set the mask ratio before each step
  and update the teacher by EMA after it; ``loss_terms`` adds the consistency loss.
* PackMIL — ``collate_fn`` and ``batch_sampler`` pack several bags per step (the batch carries
  ``model_kwargs`` such as a token → slide index); ``loss_terms`` adds the hyperslide loss:
  :func:`packmil_method` makes any variant; ``packmil`` (the authors' multi-hot hyperslide
  target with binary cross-entropy), ``packmil_tokenmix`` (token-weighted mixture, soft-target
  cross-entropy), ``packmil_noresidual`` (α = 0) and ``packmil_ads4`` are registered.

Your own method: a model that returns :class:`~milhelpers.models.MILOutput` and one ``register``
call, in a file passed with ``--plugin`` to ``python -m milhelpers train`` and
``benchmarks/methods.py`` (or :func:`milhelpers.plugins.load_plugin` in a notebook; an installed
package can use the ``milhelpers.methods`` entry point group instead). The tests run this
example end to end::

    # my_methods.py
    from torch import nn
    from milhelpers.methods import Method, register
    from milhelpers.models import MILModel, MILOutput, as_batch, mask_logits, masked_softmax

    class LinearAttentionMIL(MILModel):   # a = softmax_k(wᵀ h_k), bag z = Σ_k a_k h_k
        def __init__(self, in_dim, n_classes, embed_dim=64):
            super().__init__()
            self.n_classes = n_classes
            self.project = nn.Sequential(nn.Linear(in_dim, embed_dim), nn.ReLU())
            self.score, self.classifier = nn.Linear(embed_dim, 1), nn.Linear(embed_dim, n_classes)

        def forward(self, x, mask=None):
            x, mask = as_batch(x, mask)                                  # (B, N, D), (B, N)
            h = self.project(x)
            logits = mask_logits(self.score(h).transpose(1, 2), mask)    # (B, 1 head, N)
            z = (masked_softmax(logits, mask) @ h)[:, 0]                 # (B, E)
            return MILOutput(self.classifier(z), logits, z, mask)

    register(Method("linear_attention",
                    lambda ctx, **kw: LinearAttentionMIL(ctx.in_dim, ctx.n_classes, **kw),
                    "linear attention pooling, my lab's baseline"))

The runner keys each run by the method's code (:meth:`Method.code_fingerprint`): edit the model or
its registration and the next run trains it again; an unchanged method is read from the cache.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .datasets import Bag, collate_bags
from .losses import aem_term, branch_cross_entropy, branch_diversity, consistency_loss
from .models import (ABMIL, ACMIL, MHIM, MaxPoolMIL, MeanPoolMIL, MILModel, RecycleNetwork,
                     ema_update, mhim_mask)
from .models.mhim import SCORES, recycle_split
from .train import Callback, FitResult, LossTerm, TrainConfig, TrainState, fit

__all__ = ["BuildContext", "Method", "METHODS", "register", "get_method", "available_methods",
           "as_method", "n_classes_of", "acmil_loss_terms", "acmil_method", "aem_method",
           "AEM_VARIANTS", "aem_or_base", "aem_variant_name", "mhim_method", "MHIM_DEFAULTS",
           "MHIMSchedule", "MaskRecorder", "mhim_loss_terms", "MHIM_ABLATIONS", "mhim_v2_method",
           "MHIM_V2_DEFAULTS", "MHIM_V2_ABLATIONS", "packmil_method", "PACKMIL_DEFAULTS"]


@dataclass(frozen=True)
class BuildContext:
    """What a model factory may use for one run: input width, classes, fold, seed, and the run's
    training and validation bags (MHIM trains its teacher on them).

    ``pretrained(method) -> model``, where given (the experiment runner gives it), returns the
    trained model of another method (a :class:`Method` or a registered name) for the *same*
    seed, fold and train/validation split — from the runner's cache when that run exists, else
    trained and cached as a normal run. MHIM's teacher is the fold's trained baseline.
    """

    in_dim: int
    n_classes: int
    fold: int
    seed: int
    train_ds: Dataset | None = None
    val_ds: Dataset | None = None
    config: TrainConfig | None = None
    pretrained: Callable[[Any], MILModel] | None = None


def _no_terms(model: MILModel) -> Sequence:
    return ()


@dataclass(frozen=True)
class Method:
    """A training recipe: model factory + loss terms + callbacks + batching + defaults.

    ``build(ctx, **model_kwargs) -> model``; ``loss_terms(model)`` and ``callbacks(model)`` are
    factories, so stateful terms are fresh for every run. ``config`` holds the method's
    :class:`TrainConfig` defaults (e.g. its selection monitor).
    """

    name: str
    build: Callable[..., MILModel]
    summary: str = ""
    loss_terms: Callable[[MILModel], Sequence[LossTerm]] = _no_terms
    callbacks: Callable[[MILModel], Sequence[Callback]] = _no_terms
    config: Mapping[str, Any] = field(default_factory=dict)
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    collate_fn: Callable = collate_bags
    batch_sampler: Callable[[Dataset, torch.Generator], Sampler] | None = None
    train_transform: Callable[[Bag, np.random.Generator], Bag] | None = None

    def train_config(self, **overrides) -> TrainConfig:
        """The method's default :class:`TrainConfig`, with ``overrides`` applied on top."""
        return TrainConfig(**{**self.config, **overrides})

    def with_options(self, name: str | None = None, **model_kwargs) -> "Method":
        """A variant with other model options, e.g. ``get_method('abmil_gated').with_options(
        embed_dim=128)`` (named ``name`` for the runner's cache and tables)."""
        return dataclasses.replace(self, name=name or self.name,
                                   model_kwargs={**self.model_kwargs, **model_kwargs})

    def code_fingerprint(self) -> str:
        """A hash of the code that builds and trains this method: its factory and the model
        classes it builds (with their bases), loss terms, callbacks, collate / sampler /
        transform, the values their closures captured (another method, a λ) and the trainer
        (:meth:`fit`), followed through ``milhelpers`` and your own modules — not library code
        such as PyTorch (see :mod:`milhelpers.code_fingerprint`). The experiment runner puts it
        in every run's key, so an edited method is trained again and an unchanged one reused."""
        from .code_fingerprint import code_fingerprint
        from .train import fit as trainer

        return code_fingerprint(self, trainer)

    def _code_parts(self) -> tuple:
        """What the fingerprint of a method (also one captured by another, MHIM's baseline)
        hashes: the recipe's callables and options — not the summary text, and not this class's
        own plumbing (``fit`` above is hashed as the trainer it calls)."""
        return (self.name, self.build, self.loss_terms, self.callbacks, dict(self.config),
                dict(self.model_kwargs), self.collate_fn, self.batch_sampler,
                self.train_transform)

    def build_model(self, ctx: BuildContext) -> MILModel:
        """The initial model for ``ctx``, its weights drawn from ``ctx.seed`` alone."""
        with torch.random.fork_rng(devices=[]):   # leaves the global stream untouched
            torch.manual_seed(ctx.seed)
            model = self.build(ctx, **self.model_kwargs)
        model.init_seed = ctx.seed
        return model

    def fit(self, train_ds: Dataset, val_ds: Dataset | None, config: TrainConfig | None = None,
            fold: int = 0, run_dir=None, pretrained: Callable[[Any], MILModel] | None = None,
            extra_callbacks: Sequence[Callback] = ()) -> FitResult:
        """Build the model for this fold from ``config.seed`` and train it with the recipe.

        ``pretrained``: see :class:`BuildContext` (the runner passes it); ``extra_callbacks``
        run after the method's own (e.g. :class:`MaskRecorder`)."""
        cfg = config or self.train_config()
        ctx = BuildContext(int(train_ds.dim), n_classes_of(train_ds, val_ds), fold, cfg.seed,
                           train_ds, val_ds, cfg, pretrained)
        model = self.build_model(ctx)
        return fit(model, train_ds, val_ds, cfg, self.loss_terms(model),
                   [*self.callbacks(model), *extra_callbacks],
                   collate_fn=self.collate_fn, batch_sampler=self.batch_sampler,
                   train_transform=self.train_transform, run_dir=run_dir)


def n_classes_of(*datasets: Dataset | None) -> int:
    """Number of classes: ``class_names`` where a dataset has them, else max label + 1 (≥ 2)."""
    for ds in datasets:
        names = getattr(ds, "class_names", None)
        if names:
            return len(names)
    top = max(int(np.max(ds.labels)) for ds in datasets if ds is not None and len(ds))
    return max(2, top + 1)


METHODS: dict[str, Method] = {}
#: Names a plugin being imported again (its file changed) may register anew
#: (:func:`milhelpers.plugins.load_plugin`).
_REPLACEABLE: set[str] = set()


def register(method: Method, overwrite: bool = False) -> Method:
    """Add ``method`` to the registry (a chapter or a plugin registers its method once)."""
    if (method.name in METHODS and not overwrite and METHODS[method.name] is not method
            and method.name not in _REPLACEABLE):
        raise ValueError(f"a method named {method.name!r} is already registered; pass "
                         "overwrite=True to replace it, or choose another name")
    METHODS[method.name] = method
    return method


def available_methods() -> list[str]:
    """The registered names (installed plugins' entry points are loaded only when
    :func:`get_method` meets a name it does not know)."""
    return sorted(METHODS)


def get_method(name: str) -> Method:
    """The registered method ``name``. An unknown name first loads the installed packages'
    ``milhelpers.methods`` entry points (:func:`milhelpers.plugins.load_entry_points`); the
    error lists the known names."""
    if name not in METHODS:
        from .plugins import load_entry_points

        load_entry_points()
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; choose from {available_methods()} (your own: "
                       "--plugin FILE, or milhelpers.plugins.load_plugin in a notebook)")
    return METHODS[name]


def as_method(method: Method | str | Callable[[int], MILModel]) -> Method:
    """A :class:`Method` from a method, a registered name, or a factory ``fold -> model``."""
    if isinstance(method, Method):
        return method
    if isinstance(method, str):
        return get_method(method)
    if callable(method):
        return Method("custom", lambda ctx: method(ctx.fold))
    raise TypeError(f"expected a Method, a method name or a factory fold -> model; got {method!r}")


_CLAM = ("Ilse, Tomczak & Welling, 'Attention-based deep multiple instance learning', ICML 2018, "
         "arXiv 1802.04712; dimensions and dropout as CLAM (Lu et al., Nature Biomedical "
         "Engineering 2021, arXiv 2004.09666)")

register(Method("abmil_gated", lambda ctx, **kw: ABMIL(ctx.in_dim, ctx.n_classes, gated=True, **kw),
                "gated attention MIL: e_k = wᵀ(tanh(V h_k) ⊙ σ(U h_k)). " + _CLAM))
register(Method("abmil_tanh", lambda ctx, **kw: ABMIL(ctx.in_dim, ctx.n_classes, gated=False, **kw),
                "attention MIL: e_k = wᵀ tanh(V h_k). " + _CLAM))
register(Method("mean_pool", lambda ctx, **kw: MeanPoolMIL(ctx.in_dim, ctx.n_classes, **kw),
                "mean of instance embeddings (every a_k = 1/N)"))
register(Method("max_pool", lambda ctx, **kw: MaxPoolMIL(ctx.in_dim, ctx.n_classes, **kw),
                "the bag takes the logits of its most-positive instance (standard MIL assumption)"))


def acmil_loss_terms(model: MILModel) -> list[LossTerm]:
    """ACMIL's terms added to the slide cross-entropy, weight 1 each, for M > 1 branches:

    ``branch_ce`` = (1/M) Σ_m CE(ŷ_m, y) over the branch classifiers' logits
    (``out.extras['branch_logits']``), and ``branch_diversity`` = mean over pairs i < j of
    cos(a_i, a_j) between the branch attentions ``out.attention`` (after STKIM's masking while
    training, 0 on padding). With one branch both are left out, as in the authors' code: the
    diversity of one branch is undefined and its classifier would repeat the slide's.
    """
    if getattr(model, "n_branches", 1) < 2:
        return []
    return [LossTerm("branch_ce",
                     lambda out, batch, state: branch_cross_entropy(out.extras["branch_logits"],
                                                                    batch.labels)),
            LossTerm("branch_diversity", lambda out, batch, state: branch_diversity(out.attention))]


_ACMIL = ("Zhang et al., 'Attention-challenging multiple instance learning for whole slide image "
          "classification', ECCV 2024, arXiv 2311.07125")
_acmil = register(Method(
    "acmil", lambda ctx, **kw: ACMIL(ctx.in_dim, ctx.n_classes, **kw),
    "ACMIL: M = 5 gated attention branches (shared V, U), STKIM hides 6 of each branch's top 10 "
    "instances while training, slide classifier on the branch-averaged attention; loss slide CE "
    "+ branch CE + branch diversity; trained a fixed 20 epochs, as every method here (the "
    "authors select the epoch on validation accuracy + AUC; docs/protocol.md measures why we do "
    "not). "
    + _ACMIL,
    loss_terms=acmil_loss_terms))
# the ablation the ACMIL chapter runs: each half alone (names differ, so the runner's cache does)
register(dataclasses.replace(
    _acmil.with_options("acmil_mba", mask_drop=0.0),
    summary="ACMIL's multiple branch attention only (M = 5, no STKIM). " + _ACMIL))
register(dataclasses.replace(
    _acmil.with_options("acmil_base", n_branches=1, mask_drop=0.0),
    summary="gated ABMIL inside ACMIL's architecture (M = 1, no STKIM; unbiased projection, "
            "attention width 128, no dropout in the scorer): the reference of ACMIL's "
            "ablation, the authors' ABMIL setting (their M = 1, no masking) except for the "
            "projection width and dropout. " + _ACMIL))
register(dataclasses.replace(
    _acmil.with_options("acmil_stkim", n_branches=1),
    summary="ACMIL's STKIM only (one branch, 6 of the top 10 hidden while training; no branch "
            "or diversity loss). " + _ACMIL))


def acmil_method(n_branches: int = 5, top_k: int = 10, mask_drop: float = 0.6) -> Method:
    """ACMIL with M = ``n_branches``, STKIM's K = ``top_k`` and ``mask_drop``: the registered
    ``acmil`` / ``acmil_mba`` (mask_drop 0) / ``acmil_stkim`` (one branch) / ``acmil_base`` (one
    branch, no masking: gated ABMIL in ACMIL's architecture) when the options are
    theirs, else a variant named by its options (``acmil_M3_K10_drop0.3``), so the runner's cache
    keeps every setting apart. Used by chapter 03's parameters and ablation."""
    opts = {"n_branches": n_branches, "top_k": top_k, "mask_drop": float(mask_drop)}
    if n_branches == 1 and mask_drop == 0:      # K is unused without masking
        return METHODS["acmil_base"]
    for name in ("acmil", "acmil_mba", "acmil_stkim"):
        m = METHODS[name]
        if {**{"n_branches": 5, "top_k": 10, "mask_drop": 0.6}, **m.model_kwargs} == opts:
            return m
    ACMIL(8, 2, n_branches=n_branches, top_k=top_k, mask_drop=mask_drop)   # bad options fail here
    return METHODS["acmil"].with_options(
        f"acmil_M{n_branches}_K{top_k}_drop{_short(float(mask_drop))}", **opts)


def _short(x: float) -> str:
    """A number as short as names allow without losing it: 0.1 -> '0.1', 1e-05 -> '1e-05'."""
    text = format(x, "g")
    return text if float(text) == x else repr(float(x))


def aem_method(lam: float = 0.1, schedule: str = "constant", normalize: str = "none",
               base: Method | str = "abmil_gated") -> Method:
    """``base``'s recipe plus AEM's term λ·Σ a log a (:func:`milhelpers.losses.aem_term`, where
    the options are explained); Zhang et al., arXiv 2406.15303, 2024.

    Everything else — model, other loss terms, callbacks, batching, training defaults (also the
    selection monitor, so λ = 0 *is* the baseline) — is ``base``'s. The name encodes the options
    that differ from the defaults, because the experiment runner caches runs by method name:
    ``aem`` (gated ABMIL, λ = 0.1 constant), ``aem_lam0.5_cos_logn``; another base is a prefix:
    ``acmil_aem``. Variants for a λ sweep need no registering: pass them to the runner directly.
    """
    base = as_method(base)
    aem_term(lam, schedule, normalize)          # bad options fail here, not in the first step
    prefix = "aem" if base.name == "abmil_gated" else f"{base.name}_aem"
    name = prefix + (f"_lam{_short(lam)}" if lam != 0.1 else "") + \
        ("_cos" if schedule == "cosine" else "") + ("_logn" if normalize == "log_n" else "")

    def loss_terms(model: MILModel) -> Sequence[LossTerm]:
        return (*base.loss_terms(model), aem_term(lam, schedule, normalize))

    how = {"constant": f"λ = {_short(lam)}", "cosine": f"λ cosine-annealed {_short(lam)} → 0"}
    summary = (f"{base.name} + attention entropy maximisation, loss + λ·Σ_k a_k log a_k "
               f"({how[schedule]}{', entropy ÷ log N' if normalize == 'log_n' else ''}). "
               "Zhang et al., 'Attention entropy maximization for multiple instance learning "
               "based whole slide image classification', arXiv 2406.15303, 2024")
    return dataclasses.replace(base, name=name, summary=summary, loss_terms=loss_terms)


#: AEM's three variants by name: (schedule, normalize) for :func:`aem_method`.
AEM_VARIANTS = {"constant": ("constant", "none"),   # the authors' code
                "cosine": ("cosine", "none"),       # λ annealed to 0 (our reconstruction)
                "log_n": ("constant", "log_n")}     # entropy ÷ log N per bag (a design choice)


def aem_variant_name(schedule: str, normalize: str) -> str:
    """The name of a (schedule, normalize) pair in :data:`AEM_VARIANTS` (``cosine+log_n`` for the
    combination, which has none)."""
    return next((v for v, sn in AEM_VARIANTS.items() if sn == (schedule, normalize)),
                f"{schedule}+{normalize}")


def aem_or_base(lam: float, schedule: str = "constant", normalize: str = "none",
                base: Method | str = "abmil_gated") -> Method:
    """:func:`aem_method`, except that λ = 0 returns ``base`` itself: with λ = 0 every variant
    trains the baseline exactly, so a λ grid reuses the baseline's cached runs instead of
    training them again under another name."""
    aem_term(lam, schedule, normalize)          # bad options fail the same way for λ = 0
    return as_method(base) if lam == 0 else aem_method(lam, schedule, normalize, base)


register(aem_method())
register(aem_method(base="acmil"))   # ACMIL + AEM, one of the AEM paper's combinations


# --------------------------------------------------------------------------------------------
# MHIM-MIL
# --------------------------------------------------------------------------------------------
_MHIM = ("Tang et al., 'Multiple instance learning framework with masked hard instance mining "
         "for whole slide image classification', ICCV 2023, arXiv 2307.15254")
_MHIM_V2 = ("Tang et al., 'Multiple instance learning framework with masked hard instance "
            "mining for gigapixel histopathology image analysis', IJCV 2025, arXiv 2509.11526")

#: The registered ``mhim``'s options (v1). Masks as the authors' CAMELYON16 ABMIL command (r = 0.5
#: random, r_h = 0.01 from the top 2 %, r_hr = 0.5, r_h decaying to 0, α = 0.1), and the student's
#: input projection copied from the teacher (their ``--init_stu_type=fc``; ``student_init=
#: "fresh"`` is the variant ``mhim_fresh``). The momentum is the one change: the authors'
#: m = 0.9999 has a memory of 1/(1 − m) = 10 000 steps, about a fifth of their ~50 000-step runs;
#: this cohort's runs have ~77 steps per epoch, so with 0.9999 the teacher would never leave the
#: baseline. m = 0.999 (1 000 steps) keeps the teacher a slow average of the student over about
#: half of a 20-epoch run.
MHIM_DEFAULTS = {"r_h": 0.01, "r_hr": 0.5, "r": 0.5, "r_l": 0.0, "decay": True, "alpha": 0.1,
                 "momentum": 0.999, "momentum_cosine": False, "score": "attention",
                 "student_init": "projection"}

#: The registered ``mhim_v2``'s options: the authors' v2 recipe (``--attn2score --merge_enable
#: --merge_mm 0.9999 --aux_alpha 0.5``; masking as their v2 defaults: r_hr = 1, no r_h decay, no
#: random or low masking; the student starts fresh, as their v2 code forces). From their
#: recommended grid — r_h ∈ {0.01, 0.03, 0.05}, ρ = ``merge_ratio`` ∈ {0.8, 0.9}, k =
#: ``merge_k`` ∈ {1, 5, 10} — k = 1 is their default; their defaults for r_h (0) and ρ (0.2) lie
#: outside the grid, so r_h = 0.01 (v1's value, which keeps v1 and v2 apart by the score and the
#: recycle network only) and ρ = 0.8 (their default 0.2 read as the share masked, as its help text
#: calls it: 20 % of the patches recycled).
#: Both momentums are rescaled as v1's (by the same factor, memories ÷ 10): their v2 cohorts
#: have ~300–760 training slides per fold (one step each) against ~77 here, so their teacher's
#: m = 0.9997 (memory 3 333 steps, 4–11 of their epochs) becomes 0.997 (333 steps, ~4 epochs here)
#: and the queries' m = 0.9999 (10 000 steps, 13–33 epochs) becomes 0.999 (1 000 steps, ~13
#: epochs: with 0.9999 the queries would barely leave their random start in a 20-epoch run).
MHIM_V2_DEFAULTS = {"r_h": 0.01, "r_hr": 1.0, "r": 0.0, "r_l": 0.0, "decay": False,
                    "alpha": 0.5, "momentum": 0.997, "momentum_cosine": False,
                    "score": "class_aware", "student_init": "fresh", "merge_ratio": 0.8,
                    "merge_k": 1, "merge_momentum": 0.999, "recycle": True}
_MHIM_SHORT = {"r_h": "rh", "r_hr": "rhr", "r": "r", "r_l": "rl", "alpha": "a", "momentum": "m",
               "merge_ratio": "rho", "merge_k": "k", "merge_momentum": "mm"}
_STUDENT_INITS = ("fresh", "projection")


class MHIMSchedule(Callback):
    """MHIM's step hooks. Before each step: r_h(t) = ½·r_h·(1 + cos(π t/T)) when ``decay`` (t =
    step, T = total steps), and the momentum m(t) = 1 − ½(1 − m)(1 + cos(π t/T)) when
    ``momentum_cosine``. After each optimizer step: θ_T ← m θ_T + (1 − m) θ_S."""

    def __init__(self, decay: bool = True, momentum: float = 0.999, momentum_cosine: bool = False):
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.decay, self.m0, self.momentum_cosine = decay, float(momentum), momentum_cosine
        self.momentum = self.m0

    def on_step_start(self, model: MHIM, state: TrainState) -> None:
        t = state.progress
        if self.decay:
            model.r_h = 0.5 * model.r_h0 * (1 + math.cos(math.pi * t))
        if self.momentum_cosine:
            self.momentum = 1 - 0.5 * (1 - self.m0) * (1 + math.cos(math.pi * t))

    def on_step_end(self, model: MHIM, state: TrainState) -> None:
        ema_update(model.teacher, model.student, self.momentum)


class MaskRecorder(Callback):
    """Records which instances of one bag the teacher would hide, at chosen epochs.

    At the last step of each epoch in ``epochs`` (epoch 0: before the first step, while r_h is
    whole) it runs :meth:`MHIM.hide` on ``features`` (N, D) of one bag and stores
    ``records[epoch] = {'masked': (N,) bool (all rules), 'high': (N,) bool (high-attention
    masking alone), 'r_h': the current r_h, 'scores': the teacher's attention (N,),
    'teacher_scores': the score the mask was drawn from (N,; the attention in v1, the
    class-aware score in v2)}``. The draw
    uses copies of the random states (torch's and the mask generator's), so recording does not
    change training.
    """

    def __init__(self, features: torch.Tensor, epochs: Sequence[int]):
        self.features, self.epochs, self.records = features, set(int(e) for e in epochs), {}

    def on_step_start(self, model: MHIM, state: TrainState) -> None:
        if 0 in self.epochs and state.step == 0:      # epoch 0: before the first step
            self._record(model, 0)

    def on_step_end(self, model: MHIM, state: TrainState) -> None:
        if state.epoch in self.epochs and (state.step + 1) % state.steps_per_epoch == 0:
            self._record(model, state.epoch)

    def _record(self, model: MHIM, epoch: int) -> None:
        g_state = model.generator.get_state()
        with torch.random.fork_rng(devices=[]):
            x = self.features.to(next(model.student.parameters()).device)
            (masked, parts), t = model.hide(x, parts=True)
        model.generator.set_state(g_state)
        self.records[epoch] = {"masked": masked[0].cpu().numpy(), "r_h": model.r_h,
                               "high": parts["high"][0].cpu().numpy(),
                               "scores": t.slide_attention[0].cpu().numpy(),
                               "teacher_scores": t.extras["teacher_scores"][0].cpu().numpy()}


def mhim_loss_terms(model: MILModel) -> list[LossTerm]:
    """α·L_cons between the student's bag embedding and the teacher's (full bag, detached)."""
    return [LossTerm("consistency",
                     lambda out, batch, state: consistency_loss(
                         out.embedding, out.extras["teacher_embedding"]), model.alpha)]


def mhim_method(baseline: Method | str = "abmil_gated", name: str | None = None,
                **options) -> Method:
    """MHIM-MIL v1 on ``baseline``'s model: the teacher is that method's trained model of the same
    fold and seed (``ctx.pretrained`` in the runner, else trained here), the student a model of
    the same architecture. ``options`` override :data:`MHIM_DEFAULTS`:

    ``r_h``, ``r_hr``, ``r``, ``r_l`` (see :func:`milhelpers.models.mhim_mask`), ``decay`` (r_h
    cosine to 0), ``alpha`` (consistency weight), ``momentum`` and ``momentum_cosine`` (m cosine
    to 1), ``score`` ('attention' | 'class_aware': v2's score on v1's masks),
    ``student_init`` ('projection': the student's input projection copied from the teacher, the
    authors' v1 setting | 'fresh': every weight new).

    The name encodes options that differ from the defaults (``mhim_rh0.05_nodecay``,
    ``mhim_fresh``), since the runner caches runs by name. The student's initial weights and data
    order are those of the baseline's run of the same seed (both built from it), so the pair
    differs by MHIM alone.
    """
    return _mhim_recipe(baseline, name, options, MHIM_DEFAULTS, "mhim")


def mhim_v2_method(baseline: Method | str = "abmil_gated", name: str | None = None,
                   **options) -> Method:
    """MHIM-MIL v2 (IJCV 2025) on ``baseline``'s model: :func:`mhim_method`'s two stages and
    consistency loss, with :data:`MHIM_V2_DEFAULTS` — the teacher's class-aware instance score,
    high-score masking of the top ⌈N·r_h⌉, then of the instances left a random share
    ``merge_ratio`` ρ kept and the rest pooled by the global recycle network
    (:class:`~milhelpers.models.RecycleNetwork`, ``merge_k`` queries kept by an EMA with
    ``merge_momentum``) into tokens the student pools with its kept instances. ``recycle=False``
    hides the rest instead (random masking without recycling: the recycle network's ablation).
    Every option of :func:`mhim_method` applies too. Names: ``mhim_v2``, ``mhim_v2_norecycle``,
    ``mhim_v2_rh0.03_k5``, …
    """
    return _mhim_recipe(baseline, name, options, MHIM_V2_DEFAULTS, "mhim_v2")


def _mhim_recipe(baseline: Method | str, name: str | None, options: Mapping[str, Any],
                 defaults: Mapping[str, Any], prefix: str) -> Method:
    base = as_method(baseline)
    unknown = set(options) - set(defaults)
    if unknown:
        raise ValueError(f"unknown MHIM option(s) {sorted(unknown)}; choose from "
                         f"{sorted(defaults)}")
    opts = {**defaults, **options}
    v2 = "merge_ratio" in opts
    if opts["student_init"] not in _STUDENT_INITS:
        raise ValueError(f"student_init={opts['student_init']!r}: choose 'projection' (the "
                         "teacher's input projection copied, the authors' v1 setting) or 'fresh'")
    if not 0 <= opts["alpha"]:
        raise ValueError(f"alpha must be >= 0, got {opts['alpha']}")
    if opts["score"] not in SCORES:
        raise ValueError(f"score={opts['score']!r}: choose from {list(SCORES)}")
    mhim_mask(torch.zeros(1, 1), None, opts["r_h"], opts["r_hr"], opts["r"], opts["r_l"])
    MHIMSchedule(momentum=opts["momentum"])                 # bad momentum fails here
    if v2:
        RecycleNetwork(4, opts["merge_k"], opts["merge_momentum"], heads=1, head_dim=4)
        recycle_split(torch.ones(1, 1, dtype=torch.bool), opts["merge_ratio"])
    if name is None:
        parts = []
        for k in defaults:                    # one order, whatever the order of the options
            v = opts[k]
            if v == defaults[k]:
                continue
            if k in _MHIM_SHORT:
                parts.append(f"{_MHIM_SHORT[k]}{_short(float(v))}")
            elif k == "decay":
                parts.append("decay" if v else "nodecay")
            elif k == "momentum_cosine":
                parts.append("mcos" if v else "mconst")
            elif k == "recycle":
                parts.append("recycle" if v else "norecycle")
            else:
                parts.append(str(v))
        head = prefix if base.name == "abmil_gated" else f"{base.name}_{prefix}"
        name = "_".join([head, *parts])

    def build(ctx: BuildContext, **kw) -> MHIM:
        student = base.build(ctx, **base.model_kwargs)     # drawn from ctx.seed (build_model)
        if ctx.pretrained is not None:
            trained = ctx.pretrained(base)
        else:
            if ctx.train_ds is None:
                raise ValueError("MHIM needs the fold's training bags (BuildContext.train_ds) to "
                                 "train its teacher, or BuildContext.pretrained")
            cfg = ctx.config or base.train_config(seed=ctx.seed)
            trained = base.fit(ctx.train_ds, ctx.val_ds, cfg, fold=ctx.fold).model
        teacher = copy.deepcopy(trained).cpu()
        if kw["student_init"] == "projection":
            if not hasattr(student, "project"):
                raise ValueError("student_init='projection' needs a model with a 'project' layer")
            student.project.load_state_dict(teacher.project.state_dict())
        recycle = None
        if kw.get("recycle"):
            width = student.classifier.in_features
            with torch.random.fork_rng(devices=[]):        # the student's draws stay untouched
                torch.manual_seed(ctx.seed)
                recycle = RecycleNetwork(width, kw["merge_k"], kw["merge_momentum"])
        model = MHIM(student, teacher, kw["r_h"], kw["r_hr"], kw["r"], kw["r_l"], kw["score"],
                     seed=ctx.seed, merge_ratio=kw.get("merge_ratio", 1.0), recycle=recycle)
        model.alpha = float(kw["alpha"])
        model.schedule = {k: kw[k] for k in ("decay", "momentum", "momentum_cosine")}
        return model

    def callbacks(model: MHIM) -> list[Callback]:
        return [MHIMSchedule(**model.schedule)]

    loss_terms = mhim_loss_terms if opts["alpha"] > 0 else _no_terms
    high = (f"the top {_short(opts['r_h'])}" if opts["r_hr"] == 1 else
            f"r_h = {_short(opts['r_h'])} drawn from the top {_short(opts['r_h'] / opts['r_hr'])}")
    how = (f"{opts['score'].replace('_', '-')} scores, {high}"
           f"{' (r_h → 0, cosine)' if opts['decay'] else ''} hidden, random r = "
           f"{_short(opts['r'])}, low r_l = {_short(opts['r_l'])}")
    if v2:
        rest = ("pooled by the global recycle network into "
                f"{opts['merge_k']} token(s) (queries' EMA m = {_short(opts['merge_momentum'])})"
                if opts["recycle"] else "hidden (no recycling)")
        how += (f"; of the rest a random {_short(opts['merge_ratio'])} kept, the others {rest}")
    how += (f"; α = {_short(opts['alpha'])}, teacher EMA m = {_short(opts['momentum'])}"
            f"{' → 1' if opts['momentum_cosine'] else ''}; student "
            + ("projection copied from the teacher" if opts["student_init"] == "projection"
               else "fresh"))
    what = "MHIM-MIL v2" if v2 else "MHIM-MIL"
    return Method(name, build,
                  f"{what} on {base.name}: a momentum teacher (the trained {base.name} of the "
                  f"fold) hides the instances it finds most salient; {how}. "
                  + (_MHIM_V2 if v2 else _MHIM),
                  loss_terms=loss_terms, callbacks=callbacks, config=dict(base.config),
                  model_kwargs={**opts, "baseline": base.name,
                                "baseline_kwargs": dict(base.model_kwargs),
                                "baseline_config": dict(base.config)},
                  collate_fn=base.collate_fn, batch_sampler=base.batch_sampler,
                  train_transform=base.train_transform)


register(mhim_method())
register(mhim_v2_method())

#: The variants chapter 05 and ``benchmarks/methods.py`` compare, registered by name: v1's r_h
#: with and without its decay, random masking off, low masking on, v2's class-aware score on
#: v1's masks, the fresh student (``mhim_fresh``); v2 without its recycle network
#: (``mhim_v2_norecycle``: the random share is hidden, not recycled).
MHIM_ABLATIONS = [dict(r_h=rh, decay=d) for rh in (0.01, 0.03, 0.1) for d in (True, False)
                  if (rh, d) != (0.01, True)] + [dict(r=0.0), dict(r_l=0.2),
                                                 dict(score="class_aware"),
                                                 dict(student_init="fresh")]
MHIM_V2_ABLATIONS = [dict(recycle=False)]
for _opts in MHIM_ABLATIONS:
    register(mhim_method(**_opts))
for _opts in MHIM_V2_ABLATIONS:
    register(mhim_v2_method(**_opts))


# --------------------------------------------------------------------------------------------
# PackMIL
# --------------------------------------------------------------------------------------------
_PACKMIL = ("Tang, Fang et al., 'Revisiting data challenges of computational pathology: a "
            "pack-based multiple instance learning framework', arXiv 2509.20923, 2025")
#: PackMIL's defaults on this course's cohort. The paper's subtyping config (TCGA-BRCA: p = 0.5,
#: L = 2400, min_len 128, ADS r = 4, α = 0.2, Adam 5e-4, batch 32) is made for slides of
#: thousands of patches; the cohort's bags hold 12–403 (median 46), so L and min_len shrink with
#: them: L = 256 is above the longest main part (⌊0.5·403⌋ = 201, so the cap never bites) and
#: holds about 7 median main parts, so 16 slides fill about 3 packs; slides under 16 patches go
#: whole to both branches (halving 12 patches would leave a micro-lesion's 2 in one branch).
#: The hyperslide target and loss are the authors' defaults: the max-normalised multi-hot
#: target with binary cross-entropy (their BRCA config swaps in focal loss: ``hyperslide_loss=
#: "focal"``).
PACKMIL_DEFAULTS = {"p": 0.5, "max_len": 256, "min_len": 16, "ads_ratio": None, "alpha": 0.2,
                    "batch_size": 16, "lr": 5e-4, "target": "multihot", "hyperslide_loss": None}
#: The hyperslide loss each target is trained with unless ``hyperslide_loss`` says otherwise.
_TARGET_LOSS = {"multihot": "bce", "tokenmix": "ce"}


def packmil_method(p: float = 0.5, max_len: int = 256, min_len: int = 16,
                   ads_ratio: int | None = None, alpha: float = 0.2, batch_size: int = 16,
                   lr: float = 5e-4, target: str = "multihot", hyperslide_loss: str | None = None,
                   name: str | None = None) -> Method:
    """PackMIL's recipe (:mod:`milhelpers.packing`, :class:`~milhelpers.models.PackMIL`).

    Each step takes ``batch_size`` B slides; a share ``p`` of each goes to the main branch,
    packed into sequences of ≤ ``max_len`` L tokens (per-slide softmax inside a pack); the
    leftovers form hyperslides, each one bag through the same attention and classifier, trained
    towards ``target`` (:func:`~milhelpers.packing.hyperslide_label`):

    * ``"multihot"`` (the authors' default): every class present among the pack's slides gets
      (its member slides) ÷ (the largest such count), loss ``hyperslide_loss`` = ``"bce"``
      (binary cross-entropy on the hyperslide's logits, mean over hyperslides × classes; the
      authors' default) or ``"focal"`` (their TCGA-BRCA config);
    * ``"tokenmix"``: the token-weighted class mixture, loss ``"ce"`` (soft-target
      cross-entropy, mean over hyperslides).

    L = CE(ŷ_s, y_s) (mean over the B slides) + α·L_hyper with α = ``alpha`` (0: no residual
    branch), as the authors' ``main_alpha`` = 1 and ``aux_alpha``. ``ads_ratio`` r ≥ 2 adds the
    attention-driven downsampler. Inference is ABMIL on whole slides. The name lists the options
    that differ from :data:`PACKMIL_DEFAULTS` (``packmil``, ``packmil_noresidual`` for α = 0,
    ``packmil_ads4``, ``packmil_tokenmix``, ``packmil_focal``), so the runner's cache keeps every
    setting apart.
    """
    from .losses import hyperslide_loss as loss_named
    from .models.packmil import PackMIL
    from .packing import HYPERSLIDE_TARGETS, pack_collate

    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
        raise ValueError(f"alpha={alpha!r} is the hyperslide loss weight; it must be a number "
                         ">= 0 (the paper uses 0.2–0.5; 0 drops the residual branch)")
    if target not in HYPERSLIDE_TARGETS:
        raise ValueError(f"target={target!r}: choose 'multihot' (the authors' hyperslide target) "
                         "or 'tokenmix' (the token-weighted class mixture)")
    loss_name = hyperslide_loss or _TARGET_LOSS[target]
    loss_fn = loss_named(loss_name)                                 # bad loss names fail here
    if target == "multihot" and loss_name == "ce":
        raise ValueError("hyperslide_loss='ce' needs targets that sum to 1 (target='tokenmix'); "
                         "the multi-hot target is trained with 'bce' or 'focal'")
    opts = {"p": p, "max_len": max_len, "min_len": min_len, "ads_ratio": ads_ratio,
            "alpha": alpha, "batch_size": batch_size, "lr": lr, "target": target,
            "hyperslide_loss": hyperslide_loss if loss_name != _TARGET_LOSS[target] else None}
    collate = pack_collate(p, max_len, min_len, ads_ratio or 1, residual=alpha > 0)
    PackMIL(4, 2, embed_dim=4, attn_dim=4, ads_ratio=ads_ratio)    # bad ads_ratio fails here
    TrainConfig(batch_size=batch_size, lr=lr)                       # bad batch size / lr too
    if name is None:
        tags = {"alpha": lambda v: "noresidual" if v == 0 else f"alpha{_short(float(v))}",
                "ads_ratio": lambda v: f"ads{v}", "max_len": lambda v: f"L{v}",
                "min_len": lambda v: f"min{v}", "p": lambda v: f"p{_short(float(v))}",
                "batch_size": lambda v: f"B{v}", "lr": lambda v: f"lr{_short(float(v))}",
                "target": str, "hyperslide_loss": str}
        name = "_".join(["packmil"] + [tags[k](v) for k, v in opts.items()
                                       if v != PACKMIL_DEFAULTS[k]])

    def loss_terms(model: MILModel) -> Sequence[LossTerm]:
        if alpha == 0:
            return ()
        return (LossTerm("hyperslide", lambda out, batch, state: loss_fn(
            out.extras["hyperslide_logits"], batch.hyperslide_labels(out.logits.shape[1], target)),
            float(alpha)),)

    ads = f", ADS r = {ads_ratio}" if ads_ratio else ""
    how = {"multihot": "multi-hot targets (member slides per class ÷ the largest count, the "
                       "authors' default)",
           "tokenmix": "token-weighted class mixtures as targets"}[target]
    res = (f"hyperslides of the leftovers with {how}, {loss_name} loss, α = "
           f"{_short(float(alpha))}" if alpha else "no residual branch")
    summary = (f"PackMIL: gated ABMIL trained on packs of B = {batch_size} slides (share "
               f"p = {_short(float(p))} to the main branch, packs of ≤ {max_len} tokens, slides "
               f"under {min_len} patches whole to both{ads}), per-slide softmax in a pack; {res}; "
               f"Adam lr {_short(float(lr))}; inference on whole slides. " + _PACKMIL)
    def build(ctx: BuildContext, target: str = target, hyperslide_loss: str = loss_name,
              **kw) -> PackMIL:
        return PackMIL(ctx.in_dim, ctx.n_classes, ads_ratio=ads_ratio, **kw)

    # the target and loss ride in model_kwargs (build ignores them) so that they are part of the
    # runner's cache key: runs trained with another hyperslide target are never reused
    return Method(name, build, summary, loss_terms=loss_terms, collate_fn=collate,
                  config={"batch_size": batch_size, "lr": lr},
                  model_kwargs={"target": target, "hyperslide_loss": loss_name})


register(packmil_method())
register(packmil_method(alpha=0))
register(packmil_method(ads_ratio=4))
register(packmil_method(target="tokenmix"))      # the token-weighted mixture, soft-target CE
