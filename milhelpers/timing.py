"""Training speed next to accuracy: methods timed over the same folds, interleaved repeats.

Chapter 06 (PackMIL) and ``benchmarks/packing.py`` compare training recipes that differ in how
many bags a step holds. A fair timing runs them on the same folds, with the same epochs, one
after the other inside each repeat (so a slow minute on a shared machine hits every method),
and reports the median. The epoch time is the whole fit — training steps *and* the validation
pass that selects the epoch — divided by the epochs: what a user waits for.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .datasets import Bag, ListBagDataset, train_val_split
from .methods import Method, as_method, get_method, packmil_method
from .models.base import MILModel
from .train import (Callback, SubsampleInstances, TrainState, predict, run_seed, seed_everything,
                    torch_threads)

__all__ = ["timed_runs", "timing_table", "validation_pass_seconds", "MainShare", "StepClock",
           "packing_modes", "step_costs", "fit_step_cost", "main_tokens", "predicted_epoch_seconds",
           "predicted_time_ratio", "cost_curves", "result_curves", "time_to_auc",
           "packing_tables"]


def timed_runs(dataset: Dataset, methods: Mapping[str, Method | str],
               splits: Sequence[tuple[np.ndarray, np.ndarray]], epochs: int | Mapping[str, int], *,
               folds: Sequence[int] | None = None, repeats: int = 1,
               timing_folds: Sequence[int] | None = None, seed: int = 0,
               val_fraction: float = 0.2, threads: int | None = 1) -> pd.DataFrame:
    """Train every method (label → method) on each fold of ``folds`` (default all), timed.

    Repeat 0 trains every fold in ``folds`` (its test AUC is measured); repeats 1 … ``repeats``−1
    train ``timing_folds`` again (default: the first fold) for the timing only. Inside a
    (repeat, fold) the methods run one after the other in the given order. Each run uses the
    runner's seed :func:`~milhelpers.train.run_seed` ``(seed, fold)`` and validation split, and
    ``epochs`` (one number, or label → epochs) for every method (no early stopping).

    Returns one row per run: ``mode, method, repeat, fold, epochs, seconds, epoch_seconds``
    (seconds ÷ epochs), ``train_seconds`` (the optimizer steps alone, :class:`StepClock`, per
    epoch), ``steps_per_epoch``, ``auc`` (test fold; NaN for timing-only repeats), and the
    curves ``val_auc`` and ``cum_seconds`` (one value per epoch: the validation AUC after it and
    the fit's wall time up to it, validation passes included), ``test_ids`` and ``test_scores``
    (P(class 1) of each test slide, repeat 0) for paired comparisons over slides.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    methods = {k: as_method(m) for k, m in methods.items()}
    n_epochs = {k: int(epochs[k] if isinstance(epochs, Mapping) else epochs) for k in methods}
    folds = list(range(len(splits))) if folds is None else list(folds)
    timing_folds = folds[:1] if timing_folds is None else list(timing_folds)
    labels = np.asarray(dataset.labels)
    groups = getattr(dataset, "case_ids", None)
    ids = list(dataset.slide_ids)
    rows = []
    with torch_threads(threads):
        seed_everything(seed)          # torch's one-time imports stay out of the first timing
        for rep in range(repeats):
            for k in (folds if rep == 0 else timing_folds):
                tr, te = splits[k]
                rs = run_seed(seed, k)
                tr_idx, va_idx = train_val_split(tr, labels, val_fraction, seed=rs,
                                                 **({"groups": groups} if groups is not None
                                                    else {}))
                for mode, m in methods.items():
                    e = n_epochs[mode]
                    cfg = m.train_config(seed=rs, progress=False, epochs=e, patience=None)
                    clock = StepClock()
                    t0 = time.perf_counter()
                    res = m.fit(dataset.subset(tr_idx), dataset.subset(va_idx), cfg, fold=k,
                                extra_callbacks=[clock])
                    seconds = time.perf_counter() - t0
                    test = {}
                    if rep == 0:
                        pred = predict(res.model, dataset.subset(te))
                        test = {"auc": pred.metrics()["auc"], "test_ids": [ids[i] for i in te],
                                "test_scores": pred.probs[:, -1].tolist()}
                    hist = res.history
                    rows.append({"mode": mode, "method": m.name, "repeat": rep, "fold": k,
                                 "epochs": e, "seconds": seconds, "epoch_seconds": seconds / e,
                                 "train_seconds": float(np.sum(clock.epoch_seconds)) / e,
                                 "steps_per_epoch": clock.steps_per_epoch,
                                 "auc": test.get("auc", float("nan")),
                                 "val_auc": hist["val_auc"].tolist() if "val_auc" in hist else [],
                                 "cum_seconds": hist["seconds"].cumsum().tolist(),
                                 "test_ids": test.get("test_ids", []),
                                 "test_scores": test.get("test_scores", [])})
    return pd.DataFrame(rows)


def timing_table(runs: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per mode: median epoch seconds over all its runs, its ratio to ``reference``'s, the mean
    test AUC over folds, the AUC difference to ``reference`` (same folds), steps per epoch."""
    g = runs.groupby("mode", sort=False)
    t = g.epoch_seconds.median()
    auc = g.auc.mean()
    out = pd.DataFrame({"epoch_seconds": t, "time_vs_" + reference: t / t[reference],
                        "auc": auc, "auc_minus_" + reference: auc - auc[reference],
                        "steps_per_epoch": g.steps_per_epoch.first(),
                        "timed_runs": g.size()})
    return out


def validation_pass_seconds(model: MILModel, dataset: Dataset, repeats: int = 5,
                            threads: int | None = 1) -> float:
    """Median wall time of one validation pass, :func:`~milhelpers.train.predict` over
    ``dataset``: every bag whole, one at a time, eval mode, no gradient — what ``fit`` runs after
    every epoch whatever the batching, so it is the part of an epoch packing cannot shrink.
    ``threads`` as in the runner (1 by default) so the time compares with its ``seconds``."""
    if isinstance(repeats, bool) or int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats={repeats!r} must be an integer >= 1 (timed passes; the median "
                         "is returned)")
    times = []
    with torch_threads(threads):
        for _ in range(int(repeats)):
            t0 = time.perf_counter()
            predict(model, dataset)
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


# --------------------------------------------------------------------------------------------
# packing against subsampling: training recipes that differ in one thing at a time
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MainShare:
    """Train-only transform: the instances PackMIL's main branch would get, one slide at a time.

    A bag of n ≥ ``min_len`` instances keeps a random ⌊p·n⌋ of them (at least 1), at most
    ``max_len``; a shorter bag stays whole (capped at ``max_len``) — the main part of
    :func:`milhelpers.packing.split_slide`. Batch-1 training with it sees exactly the tokens
    packed training without the residual branch sees, so the two differ by the batching alone."""

    p: float = 0.5
    max_len: int = 256
    min_len: int = 16

    def __post_init__(self):
        if not 0 < self.p <= 1:
            raise ValueError(f"p={self.p!r} must lie in (0, 1]")
        if self.max_len < 1 or self.min_len < 0:
            raise ValueError(f"max_len={self.max_len} must be >= 1 and min_len={self.min_len} >= 0")

    def __call__(self, bag: Bag, rng: np.random.Generator) -> Bag:
        n = len(bag.features)
        k = n if n < self.min_len else max(1, int(math.floor(self.p * n)))
        k = min(k, self.max_len)
        if k == n:
            return bag
        keep = np.sort(rng.choice(n, k, replace=False))
        return dataclasses.replace(
            bag, features=bag.features[torch.from_numpy(keep)],
            coords=None if bag.coords is None else bag.coords[keep],
            instance_labels=None if bag.instance_labels is None else bag.instance_labels[keep])


class StepClock(Callback):
    """Wall time of each epoch's optimizer steps: from the start of its first step to the end of
    its last (``epoch_seconds``, one value per epoch) — the training without the validation pass
    that follows each epoch (and without fetching the first batch)."""

    def __init__(self):
        self.epoch_seconds: list[float] = []
        self.steps_per_epoch = 0
        self._start = 0.0

    def on_step_start(self, model: MILModel, state: TrainState) -> None:
        if state.step % state.steps_per_epoch == 0:
            self._start = time.perf_counter()
        self.steps_per_epoch = state.steps_per_epoch

    def on_step_end(self, model: MILModel, state: TrainState) -> None:
        if (state.step + 1) % state.steps_per_epoch == 0:
            self.epoch_seconds.append(time.perf_counter() - self._start)


def packing_modes(p: float = 0.5, max_len: int = 256, min_len: int = 16, batch_size: int = 16,
                  lr: float = 5e-4) -> dict[str, Method]:
    """The training recipes chapter 06 and ``benchmarks/packing.py`` compare, each differing from
    its neighbour in one thing (label → :class:`~milhelpers.methods.Method`):

    * ``batch1`` — gated ABMIL, one whole slide per step, lr 2e-4 (``abmil_gated``);
    * ``batch1_cap`` — the same, each training slide subsampled to at most L = ``max_len``
      instances per step (the cap alone);
    * ``batch1_main`` — one slide per step on PackMIL's main part (:class:`MainShare`: a share p,
      at most L): packing's tokens without packing;
    * ``padded`` — B = ``batch_size`` whole slides padded to the longest, lr ``lr``;
    * ``padded_main`` — B main parts padded to the longest: the same tokens as ``packed_main``;
    * ``packed_main`` — PackMIL without its residual branch (α = 0): B main parts packed;
    * ``packed`` — PackMIL (``packmil``'s options with these sizes): main parts packed plus
      hyperslides of the leftovers."""
    base = get_method("abmil_gated")
    share = MainShare(p, max_len, min_len)
    tag = f"p{p:g}_L{max_len}"
    big = {"batch_size": batch_size, "lr": lr}
    return {
        "batch1": base,
        "batch1_cap": dataclasses.replace(base, name=f"abmil_gated_cap{max_len}",
                                          train_transform=SubsampleInstances(max_len)),
        "batch1_main": dataclasses.replace(base, name=f"abmil_gated_main_{tag}",
                                           train_transform=share),
        "padded": dataclasses.replace(base, name=f"abmil_gated_B{batch_size}", config=big),
        "padded_main": dataclasses.replace(base, name=f"abmil_gated_B{batch_size}_main_{tag}",
                                           config=big, train_transform=share),
        "packed_main": packmil_method(p, max_len, min_len, None, 0.0, batch_size, lr),
        "packed": packmil_method(p, max_len, min_len, None, 0.2, batch_size, lr),
    }


# --------------------------------------------------------------------------------------------
# the per-step fixed cost, and the regime where packing pays
# --------------------------------------------------------------------------------------------
def _constant_bags(n_bags: int, length: int, dim: int, seed: int = 0) -> ListBagDataset:
    g = torch.Generator().manual_seed(seed)
    return ListBagDataset([Bag(torch.randn(length, dim, generator=g), i % 2, f"b{i}")
                           for i in range(n_bags)])


def step_costs(lengths: Sequence[int] = (8, 32, 128, 512, 2048), dim: int = 1280,
               n_bags: int = 32, batch_size: int = 16, epochs: int = 2,
               threads: int | None = 1, device: str = "auto",
               progress: bool = False) -> pd.DataFrame:
    """Seconds per optimizer step of the real trainer (:func:`milhelpers.train.fit`) against the
    tokens a step holds, for one-slide steps (``batch1``: gated ABMIL) and packed steps
    (``packed``: PackMIL with its residual branch, B = ``batch_size``, caps and ``min_len`` out of
    the way so a step holds exactly B·n tokens).

    For every bag length n in ``lengths``: ``n_bags`` generated bags of n instances of width
    ``dim``, ``epochs`` epochs without validation; the time of the *last* epoch's steps
    (:class:`StepClock`: the first epoch warms up allocators and caches) ÷ its steps. Rows:
    ``mode, bag_length, tokens_per_step, steps, seconds_per_step, device``."""
    from ._progress import progress_bar
    from .train import resolve_device

    dev = resolve_device(device)
    rows = []
    jobs = [(mode, n) for n in lengths for mode in ("batch1", "packed")]
    with torch_threads(threads):
        for mode, n in progress_bar(jobs, desc="step costs", unit="fit", enabled=progress):
            n = int(n)
            if mode == "batch1":
                m = get_method("abmil_gated")
                per_step = n
            else:
                m = packmil_method(p=0.5, max_len=max(256, n), min_len=0, batch_size=batch_size)
                per_step = batch_size * n
            ds = _constant_bags(n_bags, n, dim)
            clock = StepClock()
            cfg = m.train_config(epochs=epochs, seed=0, progress=False, device=str(dev))
            m.fit(ds, None, cfg, extra_callbacks=[clock])
            rows.append({"mode": mode, "bag_length": n, "tokens_per_step": per_step,
                         "steps": clock.steps_per_epoch,
                         "seconds_per_step": clock.epoch_seconds[-1] / clock.steps_per_epoch,
                         "device": str(dev)})
    return pd.DataFrame(rows)


def fit_step_cost(costs: pd.DataFrame) -> pd.DataFrame:
    """Per mode of :func:`step_costs`: the line seconds per step = c0 + c1 · tokens, fitted by
    least squares on relative errors (weights 1/seconds, so the short steps that fix c0 count as
    much as the long ones that fix c1). Returns ``c0`` (the fixed cost of a step: optimizer
    update, Python, the trainer's bookkeeping, kernel launches), ``c1`` (seconds per token) and
    ``tokens_at_half`` = c0/c1, the tokens per step at which the two parts are equal."""
    out = {}
    for mode, g in costs.groupby("mode", sort=False):
        x = g.tokens_per_step.to_numpy(np.float64)
        y = g.seconds_per_step.to_numpy(np.float64)
        w = 1.0 / y
        a = np.stack([np.ones_like(x), x], 1) * w[:, None]
        (c0, c1), *_ = np.linalg.lstsq(a, y * w, rcond=None)
        c0, c1 = max(float(c0), 0.0), max(float(c1), 1e-15)
        out[mode] = {"c0": c0, "c1": c1, "tokens_at_half": c0 / c1}
    return pd.DataFrame(out).T


def main_tokens(lengths, p: float = 0.5, max_len: int = 256, min_len: int = 16,
                residual: bool = True) -> np.ndarray:
    """Tokens a slide of n instances puts through PackMIL per epoch: its main part
    min(max(⌊p·n⌋, 1), L) and, with ``residual``, its residual part min(n − ⌊p·n⌋, L); a slide
    shorter than ``min_len`` goes whole to both (each capped at L)."""
    n = np.asarray(lengths, dtype=np.int64)
    short = n < min_len
    k = np.where(short, n, np.maximum(np.floor(p * n).astype(np.int64), 1))
    rest = np.where(short, n, n - k)
    tok = np.minimum(k, max_len)
    return tok + (np.minimum(rest, max_len) if residual else 0)


def predicted_epoch_seconds(lengths, costs: pd.DataFrame, mode: str, batch_size: int = 16,
                            p: float = 0.5, max_len: int = 256, min_len: int = 16,
                            residual: bool = True) -> float:
    """An epoch's optimizer steps over slides of ``lengths`` predicted from the fitted costs
    (:func:`fit_step_cost`): ``batch1`` Σ_s (c0 + c1·n_s); ``packed`` ⌈S/B⌉·c0' + c1'·Σ_s t_s with
    t_s the tokens of :func:`main_tokens`."""
    n = np.asarray(lengths, dtype=np.float64)
    c0, c1 = float(costs.loc[mode, "c0"]), float(costs.loc[mode, "c1"])
    if mode == "batch1":
        return float(len(n) * c0 + c1 * n.sum())
    tokens = main_tokens(n.astype(np.int64), p, max_len, min_len, residual)
    return float(math.ceil(len(n) / batch_size) * c0 + c1 * tokens.sum())


def predicted_time_ratio(bag_length, costs: pd.DataFrame, batch_size: int = 16, p: float = 0.5,
                         max_len: int = 256, min_len: int = 16, residual: bool = True
                         ) -> np.ndarray:
    """Packed ÷ batch-1 epoch time for a cohort whose slides all hold ``bag_length`` instances
    (array-valued), from the fitted costs:

        ratio(n) = (c0'/B + c1'·t(n)) / (c0 + c1·n),   t(n) = :func:`main_tokens`(n).

    Packing pays (ratio ≪ 1) where the per-step cost dominates (c0 ≫ c1·n: short bags, or a
    device that runs tokens in parallel) or where the caps drop tokens (n ≫ L/p)."""
    n = np.asarray(bag_length, dtype=np.float64)
    b1, pk = costs.loc["batch1"], costs.loc["packed"]
    t = main_tokens(n.astype(np.int64), p, max_len, min_len, residual)
    return (pk.c0 / batch_size + pk.c1 * t) / (b1.c0 + b1.c1 * n)


def cost_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Validation AUC against training cost, per mode of :func:`timed_runs` (repeat 0): one row
    per (mode, epoch) with ``steps`` (epoch × steps per epoch), ``seconds`` (the median over folds
    of the fit's wall time up to that epoch) and ``val_auc`` (the mean over folds)."""
    rows = []
    for mode, g in runs[runs.repeat == 0].groupby("mode", sort=False):
        curves = np.array([r for r in g.val_auc], dtype=np.float64)
        secs = np.array([r for r in g.cum_seconds], dtype=np.float64)
        spe = int(g.steps_per_epoch.iloc[0])
        for e in range(curves.shape[1]):
            rows.append({"mode": mode, "epoch": e + 1, "steps": (e + 1) * spe,
                         "seconds": float(np.median(secs[:, e])),
                         "val_auc": float(np.nanmean(curves[:, e]))})
    return pd.DataFrame(rows)


def time_to_auc(curves: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per mode of :func:`cost_curves`: the first epoch whose fold-mean validation AUC reaches
    ``target``, with its ``steps`` and ``seconds`` (NaN and ``reached`` False when no epoch
    does)."""
    out = {}
    for mode, g in curves.groupby("mode", sort=False):
        hit = g[g.val_auc >= target]
        if hit.empty:
            out[mode] = {"reached": False, "epoch": np.nan, "steps": np.nan, "seconds": np.nan}
        else:
            r = hit.iloc[0]
            out[mode] = {"reached": True, "epoch": int(r.epoch), "steps": int(r.steps),
                         "seconds": float(r.seconds)}
    return pd.DataFrame(out).T


def result_curves(result, dataset: Dataset, methods: Mapping[str, Method | str], seed: int = 0
                  ) -> pd.DataFrame:
    """The runs of an experiment (:func:`~milhelpers.experiments.run_experiments`) in the layout
    :func:`cost_curves` reads: one row per fold of each method (label → method or registered
    name) with its
    per-epoch ``val_auc`` and ``cum_seconds`` from the cached history, and ``steps_per_epoch``
    = ⌈training slides / batch size⌉ of the runner's split (:func:`milhelpers.cached_runs.
    run_split`)."""
    from .cached_runs import run_split

    n_folds = int(result.runs.fold.nunique())
    rows = []
    for mode, method in methods.items():
        method = as_method(method)
        name, bs = method.name, method.train_config().batch_size
        for fold in sorted(result.runs[(result.runs.method == name)
                                       & (result.runs.seed == seed)].fold):
            hist = result.history(name, seed, int(fold))
            n_train = len(run_split(dataset, seed, int(fold), n_folds)[0])
            rows.append({"mode": mode, "repeat": 0, "fold": int(fold),
                         "steps_per_epoch": -(-n_train // bs),
                         "val_auc": hist["val_auc"].tolist(),
                         "cum_seconds": hist["seconds"].cumsum().tolist()})
    return pd.DataFrame(rows)


def packing_tables(data: Mapping) -> dict[str, pd.DataFrame]:
    """The tables of a ``benchmarks/packing.py --json`` file, for a chapter to print:

    * ``modes`` — per cohort mode: steps per epoch, epochs, median epoch and step (training
      only) seconds, epoch time ÷ batch 1's, pooled out-of-fold test AUC and its difference to
      batch 1 "Δ [lo, hi] p";
    * ``comparisons`` — each recorded B − A with what it isolates, interval and p, and "clear"
      where the interval excludes 0;
    * ``time_to_auc`` — steps and seconds to the target validation AUC;
    * ``predicted`` — step seconds per epoch predicted from the fitted costs against measured;
    * ``costs`` — the fitted c0 (s per step) and c1 (s per token) per step kind;
    * ``scale`` — seconds per epoch and peak GB per mode and max bag length."""
    out: dict[str, pd.DataFrame] = {}
    c = data.get("cohort")
    if c:
        rows = {}
        for mode, r in c["table"].items():
            d = r.get("auc_minus_batch1")
            rows[mode] = {"method": r["method"], "steps/epoch": int(r["steps_per_epoch"]),
                          "epochs": int(r["epochs"]), "s/epoch": round(r["epoch_seconds"], 2),
                          "step s/epoch": round(r["train_seconds"], 2),
                          "× batch 1": round(r["time_vs_batch1"], 2),
                          "test AUC": round(r["oof_auc"], 3),
                          "AUC − batch 1": "" if d is None else
                          f"{d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] "
                          f"p={d['p']:.3f}"}
        out["modes"] = pd.DataFrame.from_dict(rows, orient="index")
        out["comparisons"] = pd.DataFrame(
            [{"B − A": f"{x['b']} − {x['a']}", "isolates": x["what"],
              "Δ AUC [95% CI] p": f"{x['diff']:+.3f} [{x['ci95'][0]:+.3f}, {x['ci95'][1]:+.3f}] "
                                  f"p={x['p']:.3f}" + (" clear" if x["ci95"][0] > 0
                                                       or x["ci95"][1] < 0 else "")}
             for x in c["comparisons"]]).set_index("B − A")
        out["time_to_auc"] = pd.DataFrame.from_dict(c["time_to_auc"], orient="index").round(2)
        if c.get("predicted_vs_measured"):
            out["predicted"] = pd.DataFrame.from_dict(c["predicted_vs_measured"],
                                                      orient="index").round(2)
    if data.get("step_costs"):
        out["costs"] = pd.DataFrame.from_dict(data["step_costs"]["fit"], orient="index")
    s = data.get("scale")
    if s:
        rows = {}
        for max_len, per_mode in s["by_max_length"].items():
            row = {}
            for mode, r in per_mode.items():
                row[mode] = (f"{r['epoch_seconds']:.1f} s / {r['peak_gb']:.2f} GB"
                             if "epoch_seconds" in r else
                             f"not run (≈ {r['estimated_peak_gb']:.0f} GB)" if "skipped" in r
                             else r.get("error", "?"))
            row["instances"] = next((r["instances"] for r in per_mode.values()
                                     if "instances" in r), None)
            rows[int(max_len)] = row
        out["scale"] = pd.DataFrame.from_dict(rows, orient="index")
    return out
