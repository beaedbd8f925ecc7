"""A small trainer for MIL aggregators (not a framework).

One loop for every chapter: optimizer + cosine schedule, seeds, device choice, a fixed number of
epochs by default (``monitor="last"``: on the course cohort ~19 validation slides chose epochs by
noise and every selection rule lowered the test AUC — ``docs/protocol.md``), optional early
stopping and model selection on a *validation* split (never the test fold: selecting epochs on the
test fold inflated several published MIL results), per-epoch history including the validation
metrics and the mean attention entropy, checkpoints and tqdm progress.

How the method chapters plug in without copying the loop:

* :class:`LossTerm` — an extra loss ``weight · fn(out, batch, state)`` added to the bag
  cross-entropy (AEM's entropy, ACMIL's branch losses, MHIM's consistency, PackMIL's hyperslide
  loss); ``weight`` may be a schedule ``state -> float`` (see :func:`cosine_ramp`).
* :class:`Callback` — ``on_step_start`` / ``on_step_end`` around each optimizer step with the
  :class:`TrainState` (MHIM's mask-ratio decay before the step, its EMA teacher update after it).
* frozen sub-modules (:func:`milhelpers.models.freeze`) are never given to the optimizer.
* ``collate_fn`` and ``batch_sampler`` replace padding (PackMIL's packs); a batch may carry
  ``model_kwargs`` that are passed to the model's forward.
* ``train_transform`` changes training bags only (e.g. :class:`SubsampleInstances`).
* the seed alone fixes initial weights (pass a model *factory*), data order and dropout.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import random
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from ._progress import progress_bar
from .datasets import Bag, BagBatch, collate_bags, train_val_split
from .h5io import atomic_output
from .metrics import attention_entropy, bag_metrics, topk_mass
from .models.base import MILModel, MILOutput, slide_attention

__all__ = ["TrainConfig", "TrainState", "LossTerm", "Callback", "FitResult", "Predictions",
           "MONITORS", "SubsampleInstances", "cosine_ramp", "seed_everything", "resolve_device",
           "fit", "predict", "cross_validate", "save_run", "run_seed"]

#: Validation metrics that can select the epoch, with their direction. ``val_f1`` is the macro F1;
#: ``val_f1_auc`` = macro F1 + AUC, the selection rule of AEM's code; ``val_acc_auc`` = accuracy
#: + AUC, the rule of ACMIL's code (it adds torchmetrics' multiclass F1, whose default average is
#: micro, which for one label per slide equals the accuracy).
#: ``last`` selects nothing: the final epoch is kept (fixed-epoch training; the validation metrics
#: are still recorded each epoch), the course's protocol for every method (``docs/protocol.md``).
MONITORS = {"val_loss": "min", "val_auc": "max", "val_accuracy": "max",
            "val_balanced_accuracy": "max", "val_f1": "max", "val_f1_auc": "max",
            "val_acc_auc": "max", "last": "none"}
_NEEDS_TWO_CLASSES = {"val_auc", "val_f1_auc", "val_acc_auc"}


@dataclass
class TrainConfig:
    epochs: int = 20
    lr: float = 2e-4
    weight_decay: float = 1e-5
    optimizer: str = "adam"          # adam | adamw
    schedule: str = "cosine"         # cosine | constant (cosine decays per step to 0)
    batch_size: int = 1              # bags per step; >1 pads bags and uses the mask
    patience: int | None = None      # early stopping on the monitored validation metric
    min_epochs: int = 0              # never stop before this epoch
    monitor: str = "last"            # a key of MONITORS: "last" keeps the final epoch (the
    #                                  course's protocol, docs/protocol.md); the others select the
    #                                  best validation epoch in their own direction
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"             # auto | cpu | cuda | mps
    progress: bool = True

    def __post_init__(self):
        if self.monitor not in MONITORS:
            raise ValueError(f"TrainConfig.monitor={self.monitor!r} is not a known monitor; "
                             f"choose from {sorted(MONITORS)}")
        if not (isinstance(self.epochs, (int, np.integer)) and self.epochs >= 1):
            raise ValueError(f"TrainConfig.epochs must be an integer >= 1, got {self.epochs!r}")
        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1):
            raise ValueError(f"TrainConfig.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.lr < 0 or self.weight_decay < 0:
            raise ValueError(f"TrainConfig.lr and weight_decay must be >= 0, got {self.lr}, "
                             f"{self.weight_decay}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"TrainConfig.patience must be None or >= 1, got {self.patience}")
        if self.patience is not None and self.monitor == "last":
            raise ValueError("TrainConfig.patience stops on a validation monitor, but "
                             "monitor='last' trains every epoch; set monitor (e.g. 'val_loss') "
                             "to stop early, or leave patience None")
        if self.min_epochs < 0:
            raise ValueError(f"TrainConfig.min_epochs must be >= 0, got {self.min_epochs}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"TrainConfig.optimizer={self.optimizer!r}: choose adam or adamw")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"TrainConfig.schedule={self.schedule!r}: choose cosine or constant")


@dataclass(frozen=True)
class TrainState:
    """Where training is, for scheduled loss weights and callbacks.

    ``epoch`` counts from 1; ``step`` is the index of the current optimizer step (0 … total−1).
    """

    epoch: int
    step: int
    total_steps: int
    steps_per_epoch: int

    @property
    def progress(self) -> float:
        """Fraction of training done before this step, in [0, 1)."""
        return self.step / max(self.total_steps, 1)


def cosine_ramp(start: float, end: float) -> Callable[[TrainState], float]:
    """A schedule ``state -> value`` going from ``start`` to ``end`` along half a cosine:
    v(t) = end + (start − end)·(1 + cos(π t))/2 with t = state.progress.

    Used for AEM's annealed weight, MHIM's decaying mask ratio and its momentum towards 1.
    """
    def value(state: TrainState) -> float:
        return end + (start - end) * 0.5 * (1 + math.cos(math.pi * state.progress))
    return value


Weight = Union[float, Callable[[TrainState], float]]


@dataclass
class LossTerm:
    """An extra loss added to the bag cross-entropy: ``weight · fn(out, batch, state)``.

    ``fn`` returns a scalar tensor; ``weight`` is a number or a schedule ``state -> float``.
    The history logs the term's mean value per epoch under ``name`` (unweighted).
    """

    name: str
    fn: Callable[[MILOutput, BagBatch, TrainState], torch.Tensor]
    weight: Weight = 1.0

    def weight_at(self, state: TrainState) -> float:
        return float(self.weight(state)) if callable(self.weight) else float(self.weight)


class Callback:
    """Hooks around each optimizer step; override what you need."""

    def on_step_start(self, model: MILModel, state: TrainState) -> None:
        """Before the forward pass (e.g. set this step's mask ratio)."""

    def on_step_end(self, model: MILModel, state: TrainState) -> None:
        """After ``optimizer.step()`` (e.g. an EMA update of a frozen teacher)."""


@dataclass(frozen=True)
class SubsampleInstances:
    """Train-only transform: keep at most ``max_instances`` random instances of a bag.

    Applied to training bags only (``fit(train_transform=...)``); validation and test bags are
    always whole.
    """

    max_instances: int

    def __post_init__(self):
        if self.max_instances < 1:
            raise ValueError(f"max_instances must be >= 1, got {self.max_instances}")

    def __call__(self, bag: Bag, rng: np.random.Generator) -> Bag:
        n = len(bag.features)
        if n <= self.max_instances:
            return bag
        keep = np.sort(rng.choice(n, self.max_instances, replace=False))
        return dataclasses.replace(
            bag, features=bag.features[torch.from_numpy(keep)],
            coords=None if bag.coords is None else bag.coords[keep],
            instance_labels=None if bag.instance_labels is None else bag.instance_labels[keep])


class _Transformed(Dataset):
    """A training dataset whose bags pass through ``transform`` with a reproducible generator:
    the k-th bag drawn uses ``default_rng([seed, k])``, so the seed fixes every draw."""

    def __init__(self, ds: Dataset, transform: Callable[[Bag, np.random.Generator], Bag], seed: int):
        self.ds, self.transform, self.seed, self.calls = ds, transform, seed, 0

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> Bag:
        rng = np.random.default_rng([self.seed, self.calls])
        self.calls += 1
        return self.transform(self.ds[i], rng)


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with torch's CPU threads set to ``threads`` (``None``: left alone) and
    restore the previous setting afterwards, also on error."""
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or int(threads) != threads or threads < 1:
        raise ValueError(f"threads must be an integer >= 1 (or None), got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(device: str = "auto") -> torch.device:
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def run_seed(seed: int, fold: int) -> int:
    """The seed of one (seed, fold) run: ``1000·seed + fold``, so runs of different seeds never
    share a random stream (``seed + fold`` would make seed 1 fold 0 repeat seed 0 fold 1)."""
    return 1000 * int(seed) + int(fold)


@dataclass
class Predictions:
    """Per-bag outputs of :func:`predict`, in dataset order.

    With several attention heads (ACMIL's branches) ``attention`` keeps every head; what is
    measured and drawn per slide is one weight per instance, :attr:`slide_attention` (the heads'
    mean softmax, :func:`milhelpers.models.slide_attention`), and :attr:`slide_scores`.
    """

    slide_ids: list[str]
    labels: np.ndarray
    probs: np.ndarray                  # (B, C)
    attention: list[np.ndarray]        # each (H, N): softmax weights of the real instances
    attention_logits: list[np.ndarray]  # each (H, N)
    embeddings: np.ndarray             # (B, E)
    scores: list[np.ndarray] = field(default_factory=list)  # each (H, N): instance scores for
    # heatmaps and localisation (the attention logits, or max pooling's instance evidence)

    def metrics(self) -> dict[str, float]:
        return bag_metrics(self.labels, self.probs)

    @property
    def slide_attention(self) -> list[np.ndarray]:
        """Each bag's (N,) attention over its instances: the mean over heads of the softmax
        weights, ā_k = (1/H) Σ_h a_hk (ACMIL's slide attention; one head: its weights)."""
        return [slide_attention(a) for a in self.attention]

    @property
    def slide_scores(self) -> list[np.ndarray]:
        """Each bag's (N,) instance scores for heatmaps and localisation: with one head its
        ``scores`` (attention logits, or max pooling's instance evidence), which rank instances
        as the weights do; with several heads :attr:`slide_attention` (a mean of logits would
        rank them differently from the attention that pools the slide)."""
        return [s[0] if len(s) == 1 else a for s, a in zip(self.scores, self.slide_attention)]

    def mean_entropy(self, normalized: bool = True) -> float:
        """Mean over bags of the entropy of :attr:`slide_attention` (÷ log N when normalized)."""
        return float(np.mean([attention_entropy(a, normalized) for a in self.slide_attention]))

    def mean_topk_mass(self, k: int = 5, label: int | None = 1) -> float:
        """Mean top-k mass of :attr:`slide_attention` over bags of class ``label`` (None: all)."""
        vals = [topk_mass(a, k) for a, y in zip(self.slide_attention, self.labels)
                if label is None or y == label]
        return float(np.mean(vals)) if vals else float("nan")


@dataclass
class FitResult:
    model: MILModel                    # with the best (selected) weights loaded
    history: pd.DataFrame
    best_epoch: int
    config: TrainConfig = field(repr=False)
    monitor: str = "last"              # the monitor actually used (after any NaN fallback)
    init_seed: int | None = None       # the seed that drew the initial weights, when known


def _loader(ds: Dataset, batch_size: int, shuffle: bool, seed: int,
            collate_fn: Callable = collate_bags,
            batch_sampler: Callable[[Dataset, torch.Generator], Sampler] | None = None
            ) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    if batch_sampler is not None:
        return DataLoader(ds, batch_sampler=batch_sampler(ds, g), collate_fn=collate_fn)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_fn,
                      generator=g)


def _to_device(batch, device: torch.device):
    """Move a batch (and any ``model_kwargs`` tensors a custom collate attached) to ``device``."""
    kwargs = getattr(batch, "model_kwargs", None)
    batch = batch.to(device)
    if kwargs:
        batch.model_kwargs = {k: v.to(device) if torch.is_tensor(v) else v
                              for k, v in kwargs.items()}
    return batch


def _forward(model: MILModel, batch) -> MILOutput:
    return model(batch.features, batch.mask, **getattr(batch, "model_kwargs", {}))


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def predict(model: MILModel, ds: Dataset, batch_size: int = 1,
            device: str | torch.device | None = None) -> Predictions:
    """Run ``model`` in eval mode over ``ds``; returns probabilities, attention and embeddings.

    Runs on the model's own device unless ``device`` is given (then the model is moved there).
    Bags are whole and padded (``collate_bags``): inference never packs or subsamples.
    """
    if device is not None:
        model.to(resolve_device(device) if isinstance(device, str) else device)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    ids, labels, probs, att, att_logits, scores, emb = [], [], [], [], [], [], []
    try:
        for batch in _loader(ds, batch_size, False, 0):
            batch = _to_device(batch, device)
            out = _forward(model, batch)
            a = out.attention.float().cpu().numpy()
            al = out.attention_logits.float().cpu().numpy()
            sc = out.instance_scores.float().cpu().numpy()
            for i in range(len(batch.labels)):
                n = int(batch.mask[i].sum())
                att.append(a[i, :, :n])
                att_logits.append(al[i, :, :n])
                scores.append(sc[i, :, :n])
            probs.append(torch.softmax(out.logits.float(), -1).cpu().numpy())
            emb.append(out.embedding.float().cpu().numpy())
            ids += batch.slide_ids
            labels.append(batch.labels.cpu().numpy())
    finally:
        model.train(was_training)
    return Predictions(ids, np.concatenate(labels), np.concatenate(probs), att, att_logits,
                       np.concatenate(emb), scores)


def _lr_at(step: int, total: int, base: float, schedule: str) -> float:
    if schedule == "constant" or total <= 0:
        return base
    return 0.5 * base * (1 + math.cos(math.pi * min(step, total) / total))


def _validation_row(model: MILModel, val_ds: Dataset) -> dict[str, float]:
    pred = predict(model, val_ds)
    probs = np.clip(pred.probs, 1e-7, 1)
    m = pred.metrics()
    return {"val_loss": float(-np.log(probs[np.arange(len(pred.labels)), pred.labels]).mean()),
            "val_auc": m["auc"], "val_accuracy": m["accuracy"],
            "val_balanced_accuracy": m["balanced_accuracy"], "val_f1": m["macro_f1"],
            "val_f1_auc": m["macro_f1"] + m["auc"], "val_acc_auc": m["accuracy"] + m["auc"],
            "val_attention_entropy": pred.mean_entropy()}


def _choose_monitor(monitor: str, val_ds: Dataset | None) -> str:
    """The configured monitor, or ``val_loss`` with a warning when it cannot be computed."""
    if val_ds is None or monitor not in _NEEDS_TWO_CLASSES:
        return monitor
    classes = np.unique(np.asarray(val_ds.labels))
    if len(classes) < 2:
        warnings.warn(f"monitor {monitor!r} needs both classes in the validation split, which has "
                      f"only class {classes.tolist()}: the AUC is undefined every epoch. Selecting "
                      "epochs on 'val_loss' instead (use more validation slides, or folds with "
                      "both classes, to select on AUC).", RuntimeWarning, stacklevel=3)
        return "val_loss"
    return monitor


def fit(model: MILModel | Callable[[], MILModel], train_ds: Dataset, val_ds: Dataset | None = None,
        config: TrainConfig | None = None, loss_terms: Sequence[LossTerm] = (),
        callbacks: Sequence[Callback] = (), *, collate_fn: Callable = collate_bags,
        batch_sampler: Callable[[Dataset, torch.Generator], Sampler] | None = None,
        train_transform: Callable[[Bag, np.random.Generator], Bag] | None = None,
        run_dir: str | Path | None = None) -> FitResult:
    """Train with bag cross-entropy + Σ weight·``loss_terms``; select the epoch on validation.

    ``model``: a model, or a factory ``() -> model`` called right after seeding with
    ``config.seed`` so that the seed alone fixes the initial weights (with a ready model the seed
    fixes data order and dropout only; build it with ``build_model(..., seed=)``).

    With ``val_ds`` the monitor (``config.monitor``, see :data:`MONITORS` for directions) selects
    the best epoch and drives early stopping (``patience`` epochs without improvement, never
    before ``min_epochs``); the returned model carries the best weights. A monitor that needs both
    classes falls back to ``val_loss`` with a warning when the validation split has one class.
    ``monitor='last'`` (and no ``val_ds``) keeps the last epoch — fixed-epoch training — while
    the validation metrics are still recorded in the history. With ``run_dir``, checkpoint,
    history and the seeds
    are written there (:func:`save_run`).
    """
    cfg = config or TrainConfig()
    if isinstance(model, nn.Module):
        init_seed = getattr(model, "init_seed", None)
    else:
        seed_everything(cfg.seed)
        model = model()
        init_seed = cfg.seed
        model.init_seed = init_seed
    if len(train_ds) == 0:
        raise ValueError("the training set is empty")
    seed_everything(cfg.seed)  # data order, dropout and any sampling inside the model
    device = resolve_device(cfg.device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optimizer]
    opt = opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    data = _Transformed(train_ds, train_transform, cfg.seed) if train_transform else train_ds
    loader = _loader(data, cfg.batch_size, True, cfg.seed, collate_fn, batch_sampler)
    steps_per_epoch = len(loader)
    total = cfg.epochs * steps_per_epoch
    validate = val_ds is not None and len(val_ds) > 0
    monitor = _choose_monitor(cfg.monitor, val_ds if validate else None)
    select = validate and monitor != "last"
    sign = 1.0 if MONITORS[monitor] == "min" else -1.0   # compare sign·value, lower is better
    best, best_epoch, best_state, waited, nan_warned = None, 0, None, 0, False
    rows, step = [], 0
    bar = progress_bar(range(1, cfg.epochs + 1), desc="training", unit="epoch",
                       enabled=cfg.progress)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        sums: dict[str, float] = {"train_loss": 0.0, "bag_loss": 0.0}
        for batch in loader:
            batch = _to_device(batch, device)
            state = TrainState(epoch, step, total, steps_per_epoch)
            lr = _lr_at(step, total, cfg.lr, cfg.schedule)
            for g in opt.param_groups:
                g["lr"] = lr
            for cb in callbacks:
                cb.on_step_start(model, state)
            out = _forward(model, batch)
            loss = F.cross_entropy(out.logits.float(), batch.labels)
            sums["bag_loss"] += loss.item()
            for term in loss_terms:
                value = term.fn(out, batch, state)
                sums[term.name] = sums.get(term.name, 0.0) + value.item()
                loss = loss + term.weight_at(state) * value
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            for cb in callbacks:
                cb.on_step_end(model, state)
            sums["train_loss"] += loss.item()
            step += 1
        row = {"epoch": epoch, "lr": lr}
        row.update({k: v / steps_per_epoch for k, v in sums.items()})
        if validate:
            row.update(_validation_row(model, val_ds))
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        if select:
            value = row[monitor]
            if math.isnan(value):
                if not nan_warned:
                    warnings.warn(f"validation {monitor} is NaN at epoch {epoch}; such epochs are "
                                  "never selected", RuntimeWarning, stacklevel=2)
                    nan_warned = True
                waited += 1
            elif best is None or sign * value < sign * best:
                best, best_epoch, waited = value, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
            if cfg.patience is not None and waited >= cfg.patience and epoch >= cfg.min_epochs:
                break
        if cfg.progress and hasattr(bar, "set_postfix"):
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k in ("train_loss", monitor)})
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = rows[-1]["epoch"]
    result = FitResult(model, pd.DataFrame(rows), best_epoch, cfg, monitor, init_seed)
    if run_dir is not None:
        save_run(run_dir, result)
    return result


def save_run(run_dir: str | Path, result: FitResult, predictions: Predictions | None = None,
             metrics: dict | None = None) -> Path:
    """Write ``checkpoint.pt``, ``history.csv``, ``run.json`` (config, seeds, selected epoch and
    monitor), ``metrics.json`` and ``attention/<id>.npy``, each atomically."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {"config": asdict(result.config), "seed": result.config.seed,
            "init_seed": result.init_seed, "best_epoch": result.best_epoch,
            "monitor": result.monitor, "model_class": type(result.model).__name__,
            "torch": torch.__version__}
    with atomic_output(run_dir / "checkpoint.pt") as tmp:
        torch.save({"state_dict": result.model.state_dict(), **info}, tmp)
    with atomic_output(run_dir / "history.csv") as tmp:
        result.history.to_csv(tmp, index=False)
    with atomic_output(run_dir / "run.json") as tmp:
        tmp.write_text(json.dumps(info, indent=1))
    if metrics is not None:
        with atomic_output(run_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps(metrics, indent=1))
    if predictions is not None:
        for sid, a in zip(predictions.slide_ids, predictions.attention):
            with atomic_output(run_dir / "attention" / f"{sid}.npy") as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, a)
    return run_dir


def cross_validate(method, dataset, folds, config: TrainConfig, val_fraction: float = 0.2,
                   progress: bool = True) -> tuple[pd.DataFrame, list[Predictions]]:
    """Train one model per (train, test) fold and evaluate it on that fold's test bags.

    ``method``: a registered method name, a :class:`milhelpers.methods.Method`, or a factory
    ``fold -> model``. Epochs are selected on a validation split carved from the training part
    (grouped by case where the dataset has ``case_ids``); the test fold is only predicted. Fold
    k trains with seed :func:`run_seed` (``config.seed``, k), so each fold's initial weights and
    data order depend on the seed and the fold alone.
    """
    from .methods import as_method

    method = as_method(method)
    labels = np.asarray(dataset.labels)
    groups = getattr(dataset, "case_ids", None)
    rows, preds = [], []
    for k, (tr, te) in enumerate(progress_bar(folds, desc="folds", enabled=progress)):
        seed = run_seed(config.seed, k)
        tr_idx, va_idx = train_val_split(tr, labels, val_fraction, seed=seed,
                                         **({"groups": groups} if groups is not None else {}))
        cfg = dataclasses.replace(config, seed=seed, progress=False)
        res = method.fit(dataset.subset(tr_idx), dataset.subset(va_idx), cfg, fold=k)
        p = predict(res.model, dataset.subset(te))
        rows.append({"fold": k, "seed": seed, "best_epoch": res.best_epoch, **p.metrics(),
                     "attention_entropy": p.mean_entropy(), "top5_mass": p.mean_topk_mass(5)})
        preds.append(p)
    return pd.DataFrame(rows), preds
