"""A small trainer for MIL aggregators (not a framework).

One loop for every chapter: optimizer + cosine schedule, seeds, device choice, early stopping on a
*validation* split (never the test fold: selecting epochs on the test fold is how several papers
inflated their numbers, methods.md §4.7), per-epoch history including the mean attention entropy,
checkpoints and tqdm progress. Later methods add their loss terms (AEM's entropy, ACMIL's
diversity, MHIM's consistency) as :class:`LossTerm` objects instead of copying the loop.
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ._progress import progress_bar
from .datasets import BagBatch, collate_bags, train_val_split
from .h5io import atomic_output
from .metrics import attention_entropy, bag_metrics
from .models.base import MILModel, MILOutput

__all__ = ["TrainConfig", "LossTerm", "FitResult", "Predictions", "seed_everything",
           "resolve_device", "fit", "predict", "cross_validate", "save_run"]


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
    monitor: str = "val_loss"        # val_loss (lower is better) | val_auc (higher is better)
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"             # auto | cpu | cuda | mps
    progress: bool = True


class LossTerm(Protocol):
    """An extra loss added to the bag cross-entropy: ``weight * term(out, batch)``."""

    name: str
    weight: float

    def __call__(self, out: MILOutput, batch: BagBatch) -> torch.Tensor: ...


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


@dataclass
class Predictions:
    """Per-bag outputs of :func:`predict`, in dataset order."""

    slide_ids: list[str]
    labels: np.ndarray
    probs: np.ndarray                  # (B, C)
    attention: list[np.ndarray]        # each (H, N): softmax weights of the real instances
    attention_logits: list[np.ndarray]  # each (H, N)
    embeddings: np.ndarray             # (B, E)

    def metrics(self) -> dict[str, float]:
        return bag_metrics(self.labels, self.probs)

    def mean_entropy(self) -> float:
        return float(np.mean([attention_entropy(a.mean(0)) for a in self.attention]))


@dataclass
class FitResult:
    model: MILModel                    # with the best (selected) weights loaded
    history: pd.DataFrame
    best_epoch: int
    config: TrainConfig = field(repr=False)


def _loader(ds: Dataset, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_bags,
                      generator=g)


def _bag_loss(out: MILOutput, batch: BagBatch) -> torch.Tensor:
    return F.cross_entropy(out.logits.float(), batch.labels)


@torch.no_grad()
def predict(model: MILModel, ds: Dataset, batch_size: int = 1, device: str | torch.device = "auto"
            ) -> Predictions:
    """Run ``model`` in eval mode over ``ds``; returns probabilities, attention and embeddings."""
    device = resolve_device(device) if isinstance(device, str) else device
    model.eval().to(device)
    ids, labels, probs, att, att_logits, emb = [], [], [], [], [], []
    for batch in _loader(ds, batch_size, False, 0):
        batch = batch.to(device)
        out = model(batch.features, batch.mask)
        a, al = out.attention.float().cpu().numpy(), out.attention_logits.float().cpu().numpy()
        for i in range(len(batch.labels)):
            n = int(batch.mask[i].sum())
            att.append(a[i, :, :n])
            att_logits.append(al[i, :, :n])
        probs.append(torch.softmax(out.logits.float(), -1).cpu().numpy())
        emb.append(out.embedding.float().cpu().numpy())
        ids += batch.slide_ids
        labels.append(batch.labels.cpu().numpy())
    return Predictions(ids, np.concatenate(labels), np.concatenate(probs), att, att_logits,
                       np.concatenate(emb))


def _lr_at(step: int, total: int, base: float, schedule: str) -> float:
    if schedule == "constant" or total <= 0:
        return base
    return 0.5 * base * (1 + math.cos(math.pi * min(step, total) / total))


def fit(model: MILModel, train_ds: Dataset, val_ds: Dataset | None = None,
        config: TrainConfig | None = None, loss_terms: Sequence[LossTerm] = (),
        run_dir: str | Path | None = None) -> FitResult:
    """Train ``model`` with bag cross-entropy plus ``loss_terms``.

    With ``val_ds`` the monitored metric selects the best epoch (and drives early stopping when
    ``patience`` is set); the returned model carries those weights. Without it, the last epoch is
    kept. With ``run_dir``, the checkpoint and history are written there.
    """
    cfg = config or TrainConfig()
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optimizer]
    opt = opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    loader = _loader(train_ds, cfg.batch_size, True, cfg.seed)
    total = cfg.epochs * len(loader)
    higher_better = cfg.monitor == "val_auc"
    best, best_epoch, best_state, waited = None, 0, None, 0
    rows = []
    step = 0
    bar = progress_bar(range(1, cfg.epochs + 1), desc="training", unit="epoch",
                       enabled=cfg.progress)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        sums: dict[str, float] = {"train_loss": 0.0}
        for batch in loader:
            batch = batch.to(device)
            for g in opt.param_groups:
                g["lr"] = _lr_at(step, total, cfg.lr, cfg.schedule)
            out = model(batch.features, batch.mask)
            loss = _bag_loss(out, batch)
            sums["bag_loss"] = sums.get("bag_loss", 0.0) + loss.item()
            for term in loss_terms:
                value = term(out, batch)
                sums[term.name] = sums.get(term.name, 0.0) + value.item()
                loss = loss + term.weight * value
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sums["train_loss"] += loss.item()
            step += 1
        row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}
        row.update({k: v / len(loader) for k, v in sums.items()})
        if val_ds is not None and len(val_ds):
            pred = predict(model, val_ds, device=device)
            probs = np.clip(pred.probs, 1e-7, 1)
            row["val_loss"] = float(-np.log(probs[np.arange(len(pred.labels)), pred.labels]).mean())
            m = pred.metrics()
            row.update({"val_auc": m["auc"], "val_accuracy": m["accuracy"],
                        "val_attention_entropy": pred.mean_entropy()})
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        if val_ds is not None and len(val_ds):
            value = row[cfg.monitor]
            improved = best is None or (value > best if higher_better else value < best)
            if improved and not (isinstance(value, float) and math.isnan(value)):
                best, best_epoch, waited = value, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
            if cfg.patience is not None and waited >= cfg.patience and epoch >= cfg.min_epochs:
                break
        if cfg.progress and hasattr(bar, "set_postfix"):
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k in ("train_loss", "val_auc")})
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = rows[-1]["epoch"]
    history = pd.DataFrame(rows)
    result = FitResult(model, history, best_epoch, cfg)
    if run_dir is not None:
        save_run(run_dir, result)
    return result


def save_run(run_dir: str | Path, result: FitResult, predictions: Predictions | None = None,
             metrics: dict | None = None) -> Path:
    """Write ``checkpoint.pt``, ``history.csv``, ``metrics.json`` and ``attention/<id>.npy``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(run_dir / "checkpoint.pt") as tmp:
        torch.save({"state_dict": result.model.state_dict(), "best_epoch": result.best_epoch,
                    "config": asdict(result.config), "model_class": type(result.model).__name__},
                   tmp)
    with atomic_output(run_dir / "history.csv") as tmp:
        result.history.to_csv(tmp, index=False)
    if metrics is not None:
        with atomic_output(run_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps(metrics, indent=1))
    if predictions is not None:
        for sid, a in zip(predictions.slide_ids, predictions.attention):
            with atomic_output(run_dir / "attention" / f"{sid}.npy") as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, a)
    return run_dir


def cross_validate(make_model: Callable[[], MILModel], dataset, folds, config: TrainConfig,
                   val_fraction: float = 0.2, loss_terms: Sequence[LossTerm] = (),
                   progress: bool = True) -> tuple[pd.DataFrame, list[Predictions]]:
    """Train one model per (train, test) fold, selecting epochs on a validation split carved
    from the training part; returns per-fold test metrics and test predictions."""
    labels = np.asarray(dataset.labels)
    rows, preds = [], []
    for k, (tr, te) in enumerate(progress_bar(folds, desc="folds", enabled=progress)):
        tr_idx, va_idx = train_val_split(tr, labels, val_fraction, seed=config.seed + k)
        cfg = copy.copy(config)
        cfg.seed, cfg.progress = config.seed + k, False
        seed_everything(cfg.seed)  # the fold's initial weights do not depend on earlier folds
        res = fit(make_model(), dataset.subset(tr_idx), dataset.subset(va_idx), cfg, loss_terms)
        p = predict(res.model, dataset.subset(te), device=cfg.device)
        rows.append({"fold": k, "best_epoch": res.best_epoch, **p.metrics(),
                     "attention_entropy": p.mean_entropy()})
        preds.append(p)
    return pd.DataFrame(rows), preds
