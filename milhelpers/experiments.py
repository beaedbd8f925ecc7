"""The experiment runner: methods × repeats × folds, cached per run, out-of-fold predictions per
slide, and paired comparisons over slides.

Every method chapter compares against ABMIL the same way::

    ds = open_dataset("data/cohort")
    res = run_experiments(ds, ["abmil_gated", "mean_pool", "max_pool"], seeds=[0, 1, 2], folds=5)
    res.summary()                           # method → metric → mean, std, n (per run and pooled)
    res.paired("abmil_gated", "max_pool")   # metric → B − A, 95 % CI, p (paired over slides)
    verdict(res, "abmil_gated", "max_pool", "auc")   # the one decision rule, as a sentence

One *run* is (method, seed, fold). The seed r is a *repeat*: it draws its own partition of the
slides into k folds, stratified by label and grouped by case (``stratified_folds(labels, k,
seed=r, groups=case_ids)``), so every repeat scores every slide exactly once, out of fold, and
different repeats test each slide among different neighbours and after different training. A
labels table with a ``fold`` column keeps those folds for every repeat; the repeats then differ
only in initial weights, data order, dropout and validation split, and the comparisons are
conditional on those folds (``meta["partitions"]`` says which). Within a run the seed varies
everything else through :func:`milhelpers.train.run_seed` ``(seed, fold)``: the validation split
is carved from the training part of the fold (grouped by case) and recorded every epoch, each
method trains its fixed number of epochs (``TrainConfig.monitor = "last"``, the course's
protocol: ``docs/protocol.md``; a method configured with a validation monitor selects its epoch
on it instead), and the test fold is only predicted.

Each run keeps its per-slide out-of-fold record — slide, case, label, score (P(class 1)), and the
slide's localisation AUC, attention entropy and top-5 mass — so two methods are compared on the
N slides (:mod:`milhelpers.stats`: a paired case bootstrap over the slides' out-of-fold scores,
R repeats averaged), not on k fold means.

Each finished run is one JSON file (metrics, per-slide records, history; plus its test
predictions as ``.npz`` and its final weights as ``.pt``) under ``cache_dir``,
named by a hash of everything that decides its result: the method (name, model options, training
defaults, and the fingerprint of its code: :meth:`~milhelpers.methods.Method.code_fingerprint`), the
effective :class:`~milhelpers.train.TrainConfig`, the data (slide ids, labels,
cases, the fold's test slides — which identify the repeat's partition —, the features files'
sizes and modification times — or, for bags held in memory, a hash of their features and
instance labels), the seed, the fold and the runner's version. A rerun loads what exists and
trains only what is missing; a file that cannot be read is trained again with a warning. The
method's *code* is in the key: edit a model's forward, a loss term or a callback (in
``milhelpers`` or in your own module) and its runs are trained again; leave it unchanged and
they are reused. Library code (PyTorch, NumPy, scikit-learn) is not in it: clear the cache
after upgrading a library if its results could change.
Processes may share a cache (the runner's Dask workers, a sweep's notebooks): a run is trained
under a lock (its ``.lock`` file), so a second process asking for it waits and reads it instead.

Two-stage methods (MHIM-MIL) get ``BuildContext.pretrained``: ``ctx.pretrained("abmil_gated")``
is that method's trained model of the same seed, fold and split — its cached weights, or trained
and cached now as a normal run. The two-stage run's ``seconds`` include the first stage's
*recorded* seconds (not the time it took to load them), so its cost does not depend on the cache.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

try:
    import fcntl
except ImportError:      # Windows: runs are not locked
    fcntl = None

from . import __version__
from . import stats
from ._progress import progress_bar
from .datasets import BagDataset, cohort_instance_labels, stratified_folds, train_val_split
from .h5io import atomic_output
from .methods import BuildContext, Method, as_method, n_classes_of
from .memory import PeakRSS
from .metrics import attention_entropy, localization_auc, topk_mass
from .train import Predictions, predict, run_seed, seed_everything

__all__ = ["METRICS", "SLIDE_QUANTITIES", "PAIRED_METRICS", "RUNNER_VERSION", "ExperimentResult",
           "run_experiments", "experiment_folds", "data_fingerprint", "run_key", "paired_stats",
           "bootstrap_ci", "open_dataset", "run_differences", "verdict", "correlation_ci",
           "describe_correlation", "mean_ci_table", "summary_frame", "json_text"]

#: What each run reports, in the order of the JSON and the tables.
METRICS = ("auc", "balanced_accuracy", "f1", "loc_auc", "top5_mass", "entropy", "seconds",
           "peak_mb", "best_epoch")
#: Quantities each run records per test slide (its out-of-fold record), besides the score.
SLIDE_QUANTITIES = ("loc_auc", "entropy", "top5_mass")
#: What :meth:`ExperimentResult.paired` compares by default: slide metrics of the pooled
#: out-of-fold scores, the per-slide quantities, and training time (per run).
PAIRED_METRICS = ("auc", "balanced_accuracy", "f1", "loc_auc", "top5_mass", "entropy", "seconds")
#: Bump when the runner's way of computing a run changes, so old cached runs are not reused.
RUNNER_VERSION = 3  # 2: multi-head attention reduced by slide_attention (mean softmax)
#                     3: per-slide out-of-fold records in every run; a partition per repeat
#: Patch tumour-fraction threshold for the localisation AUC (as :func:`localization_auc`).
LOC_THRESHOLD = 0.25


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def open_dataset(data_root: str | Path | None = None, *, features_dir: str | Path | None = None,
                 labels_csv: str | Path | None = None,
                 encoder: str = "efficientnet_lite0") -> BagDataset:
    """The bags of a course cohort root (``labels.csv``, ``features_<encoder>/``, ``masks/``),
    or of a features folder + labels CSV of your own.

    With a cohort root the instance labels (each patch's tumour fraction) come from ``masks/``,
    so the localisation AUC is measured; without masks it is NaN.
    """
    if data_root is not None:
        root = Path(data_root)
        if not root.is_dir():
            raise FileNotFoundError(f"data root {root} does not exist; build the course cohort "
                                    f"with `python -m milhelpers data --root {root}`, or pass "
                                    "--features DIR --labels CSV for your own data.")
        features_dir = features_dir or root / f"features_{encoder}"
        labels_csv = labels_csv or root / "labels.csv"
        for p, what in ((labels_csv, "labels CSV"), (features_dir, "features folder")):
            if not Path(p).exists():
                raise FileNotFoundError(f"{p}: the {what} of the cohort is missing; run "
                                        f"`python -m milhelpers data --root {root}` to finish it.")
        inst = cohort_instance_labels(root) if (root / "masks").is_dir() else None
        return BagDataset(features_dir, labels_csv, instance_labels=inst)
    if features_dir is None or labels_csv is None:
        raise ValueError("give a cohort root, or both a features folder and a labels CSV")
    return BagDataset(features_dir, labels_csv)


def experiment_folds(dataset: Dataset, k: int | None = None, seed: int = 0
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) index splits of repeat ``seed`` of an experiment.

    Without a ``fold`` column: ``k`` (default 5) folds stratified by label and grouped by case,
    drawn with ``seed`` (:func:`~milhelpers.datasets.stratified_folds`), so each repeat has its
    own partition and scores every slide once. With the labels table's ``fold`` column: those
    folds, the same for every repeat (``k`` must then be ``None`` or their number).
    """
    table = getattr(dataset, "table", None)
    if table is not None and "fold" in table:
        col = table["fold"].to_numpy()
        if pd.isna(col).any():
            raise ValueError("the labels table has a 'fold' column with empty cells; give every "
                             "slide a fold or drop the column")
        values = sorted(set(col.tolist()))
        if k is not None and k != len(values):
            raise ValueError(f"folds={k}, but the labels table's 'fold' column defines "
                             f"{len(values)} folds ({values}); pass folds={len(values)} (or "
                             "leave it out), or drop the column to draw new folds per repeat")
        idx = np.arange(len(col))
        return [(idx[col != v], idx[col == v]) for v in values]
    groups = getattr(dataset, "case_ids", None)
    return stratified_folds(np.asarray(dataset.labels), 5 if k is None else k, seed=int(seed),
                            groups=groups)


def fixed_folds(dataset: Dataset) -> bool:
    """True when the dataset's labels carry a ``fold`` column (the same folds for every repeat)."""
    table = getattr(dataset, "table", None)
    return table is not None and "fold" in table


def _json_default(obj: Any):
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    name = getattr(obj, "__qualname__", None)
    if name is not None:   # a function or class: its name, not its memory address
        return f"{getattr(obj, '__module__', '')}.{name}"
    return repr(obj)


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def data_fingerprint(dataset: Dataset) -> str:
    """A hash of the data an experiment sees: slide ids, labels and cases, plus the features.

    Features files (:class:`BagDataset`) count by path, size and modification time (cheap; a
    rewritten file changes it); a dataset's in-memory instance labels are hashed too. Bags held
    only in memory (:class:`ListBagDataset`) are hashed by their features and instance labels.
    """
    h = hashlib.sha256()
    h.update(json.dumps([list(map(str, dataset.slide_ids)), np.asarray(dataset.labels).tolist(),
                         list(map(str, getattr(dataset, "case_ids", [])))]).encode())
    in_memory = True
    if isinstance(dataset, BagDataset):
        for sid in dataset.slide_ids:
            st = (dataset.features_dir / f"{sid}.h5").stat()
            h.update(f"{sid}:{st.st_size}:{st.st_mtime_ns};".encode())
        in_memory = dataset.in_memory
    if in_memory:   # reading the bags costs nothing more than the dataset already did
        for i in range(len(dataset)):
            bag = dataset[i]
            if not isinstance(dataset, BagDataset):
                h.update(np.ascontiguousarray(bag.features.numpy()).tobytes())
            if bag.instance_labels is not None:
                h.update(np.ascontiguousarray(bag.instance_labels, dtype=np.float64).tobytes())
    return h.hexdigest()


def run_key(method: Method, config, fingerprint: str, seed: int, fold: int,
            test_ids: Sequence[str], val_fraction: float) -> str:
    """The cache key of one run: a hash of everything that decides its result (see module doc)."""
    cfg = dataclasses.asdict(config)
    cfg.pop("progress", None)   # a progress bar does not change the result
    return _digest({"runner": RUNNER_VERSION, "package": __version__, "method": method.name,
                    "code": method.code_fingerprint(),
                    "model_kwargs": dict(method.model_kwargs), "method_config": dict(method.config),
                    "train_config": cfg, "data": fingerprint, "seed": int(seed), "fold": int(fold),
                    "test": list(map(str, test_ids)), "val_fraction": float(val_fraction),
                    "loc_threshold": LOC_THRESHOLD})


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------
def bootstrap_ci(values: Sequence[float], n_resamples: int = 10_000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values`` (NaNs dropped).

    Resample the n values with replacement ``n_resamples`` times; the interval is the
    (1 − c)/2 and (1 + c)/2 quantiles of the resampled means (scipy.stats.bootstrap, fixed seed).
    Fewer than two values: (NaN, NaN).
    """
    from scipy.stats import bootstrap

    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return float("nan"), float("nan")
    if np.all(v == v[0]):   # every resample has the same mean; scipy warns on degenerate data
        return float(v[0]), float(v[0])
    res = bootstrap((v,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                    method="percentile", vectorized=True, random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_stats(a: Sequence[float], b: Sequence[float], n_resamples: int = 10_000,
                 seed: int = 0) -> dict[str, Any]:
    """Compare two methods over the same runs: d_i = b_i − a_i for each (seed, fold) pair i.

    ``diff`` = mean(d); ``ci95`` = percentile-bootstrap 95 % interval of mean(d)
    (:func:`bootstrap_ci`); ``p`` = two-sided Wilcoxon signed-rank test of d (zeros dropped,
    exact for small n without ties); ``n`` = pairs where both values are defined. All differences
    zero: p = 1. Fewer than two pairs: CI and p are NaN. With few pairs read both with care:
    the percentile interval is too narrow for n ≈ 5, and the exact test cannot go below
    p = 2/2ⁿ (0.0625 for five folds) however large the effect.
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same runs; got {a.shape} and {b.shape}")
    ok = ~(np.isnan(a) | np.isnan(b))
    d = b[ok] - a[ok]
    n = len(d)
    diff = float(d.mean()) if n else float("nan")
    if n < 2:
        return {"diff": diff, "ci95": [float("nan"), float("nan")], "p": float("nan"), "n": n}
    if np.all(d == 0):
        p = 1.0
    else:
        p = float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return {"diff": diff, "ci95": list(bootstrap_ci(d, n_resamples, seed)), "p": p, "n": n}


def correlation_ci(x: Sequence[float], y: Sequence[float], groups: Sequence | None = None,
                   n_resamples: int = 10_000, seed: int = 0,
                   confidence: float = 0.95) -> dict[str, Any]:
    """Spearman rank correlation of ``x`` and ``y`` with a percentile-bootstrap interval.

    ρ = Pearson correlation of the ranks (scipy.stats.spearmanr); ``p`` its two-sided test.
    ``ci95``: resample the (x, y) pairs with replacement ``n_resamples`` times (fixed seed) and
    take the (1 − c)/2 and (1 + c)/2 quantiles of ρ; resamples where x or y is constant (ρ
    undefined) are dropped. With ``groups`` (e.g. each run's test fold) x and y are first
    centred on their group means, so the correlation is *within* groups: a hard fold that lowers
    every method's AUC no longer counts as evidence. Pairs with a NaN are dropped; ``n`` counts
    the rest. Fewer than 3 pairs, or a constant x or y: ρ, CI and p are NaN.

    Runs that share folds or training slides are not independent, so read the interval as a
    description of these runs, not as a test over a population of experiments.
    """
    from scipy.stats import rankdata, spearmanr

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d and of one length; got {x.shape} and {y.shape}")
    ok = ~(np.isnan(x) | np.isnan(y))
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != x.shape:
            raise ValueError(f"groups has shape {g.shape}, x and y {x.shape}")
        df = pd.DataFrame({"x": x, "y": y, "g": g})[ok]
        x = (df.x - df.groupby("g").x.transform("mean")).to_numpy()
        y = (df.y - df.groupby("g").y.transform("mean")).to_numpy()
    else:
        x, y = x[ok], y[ok]
    n = len(x)
    nan = {"rho": float("nan"), "ci95": [float("nan"), float("nan")], "p": float("nan"),
           "n": n, "within_groups": groups is not None}
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return nan
    rho, p = spearmanr(x, y)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    rx, ry = rankdata(x[idx], axis=1), rankdata(y[idx], axis=1)
    rx -= rx.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    den = np.sqrt((rx ** 2).sum(1) * (ry ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (rx * ry).sum(1) / den
    boot = boot[den > 0]
    lo, hi = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {"rho": float(rho), "ci95": [float(lo), float(hi)], "p": float(p), "n": n,
            "within_groups": groups is not None}


def describe_correlation(stats: dict[str, Any], x: str = "entropy", y: str = "AUC") -> str:
    """A sentence from :func:`correlation_ci`'s result: ρ, its interval, p and n, then "no clear
    link" when the interval holds 0, else the direction ("higher x went with higher y")."""
    if np.isnan(stats["rho"]):
        return f"{x} vs {y}: too few runs (or a constant value) for a correlation"
    lo, hi = stats["ci95"]
    if lo <= 0 <= hi:
        link = "no clear link: the interval holds 0"
    else:
        link = f"higher {x} went with {'higher' if stats['rho'] > 0 else 'lower'} {y}"
    return (f"ρ = {stats['rho']:+.2f} [95% CI {lo:+.2f}, {hi:+.2f}], p = {stats['p']:.3f}, "
            f"{stats['n']} runs: {link}")


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
@dataclass
class ExperimentResult:
    """The runs of an experiment (one row per method, seed, fold), their out-of-fold records (one
    row per method, seed, slide) and where they are cached."""

    runs: pd.DataFrame                  # method, seed, fold, METRICS…, key
    cache_dir: Path
    methods: list[str]
    n_trained: int = 0                  # of these runs, those trained by this call (the rest
    #                                     came from the cache; first stages of two-stage methods
    #                                     trained on the way are meta["first_stages_trained"])
    meta: dict = field(default_factory=dict)
    slides: pd.DataFrame | None = None  # method, seed, fold, slide_id, case_id, label, score,
    #                                     SLIDE_QUANTITIES… (and probs with > 2 classes)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """method → metric → {mean, std (ddof=1), n}.

        The METRICS are over runs (``n`` runs where the metric is defined). With out-of-fold
        records, ``oof_<metric>`` for auc, balanced_accuracy, f1 and the SLIDE_QUANTITIES is the
        metric of each repeat's pooled out-of-fold predictions (all N slides; the per-slide
        quantities averaged over the slides where they are defined, top-5 mass over positive
        slides), with mean and std over the ``n`` repeats: the level of what :meth:`paired`
        compares.
        """
        out = {}
        for m in self.methods:
            rows = self.runs[self.runs.method == m]
            out[m] = {}
            for k in METRICS:
                v = rows[k].to_numpy(np.float64)
                out[m][k] = _mean_std_n(v[~np.isnan(v)])
            if self.slides is not None and (self.slides.method == m).any():
                for k in (*stats.SLIDE_METRICS, *SLIDE_QUANTITIES):
                    out[m][f"oof_{k}"] = _mean_std_n(self._per_repeat(m, k))
        return out

    def values(self, method: str, metric: str) -> pd.Series:
        """``metric`` of ``method`` indexed by (seed, fold)."""
        rows = self.runs[self.runs.method == method]
        if rows.empty:
            raise KeyError(f"no runs of method {method!r}; the experiment has {self.methods}")
        return rows.set_index(["seed", "fold"])[metric].sort_index()

    # -- out-of-fold records -------------------------------------------------------------------
    def out_of_fold(self, method: str | None = None) -> pd.DataFrame:
        """The per-slide out-of-fold records: one row per (method, seed, slide) with ``fold`` (the
        test fold that held the slide out in that repeat), ``slide_id``, ``case_id``, ``label``,
        ``score`` (P(class 1); with more classes ``probs`` holds every class), ``loc_auc``
        (NaN where undefined: negative slides, slides that are all tumour, no instance labels),
        ``entropy`` and ``top5_mass`` (of the slide attention)."""
        if self.slides is None:
            raise KeyError("this result has no out-of-fold records (made by hand, or from an "
                           "older runner): run the experiment again with run_experiments")
        rows = self.slides if method is None else self.slides[self.slides.method == method]
        if method is not None and rows.empty:
            raise KeyError(f"no out-of-fold records of method {method!r}; the experiment has "
                           f"{self.methods}")
        return rows.reset_index(drop=True)

    def slide_matrix(self, method: str, quantity: str = "score") -> pd.DataFrame:
        """``quantity`` of ``method`` as a (seeds × slides) table: row r is repeat r's complete
        out-of-fold prediction (the (R, N) input of :mod:`milhelpers.stats`)."""
        rows = self.out_of_fold(method)
        return rows.pivot(index="seed", columns="slide_id", values=quantity).sort_index()

    def _per_repeat(self, method: str, metric: str) -> np.ndarray:
        """The metric of each repeat's pooled out-of-fold records (see :meth:`summary`)."""
        rows = self.out_of_fold(method)
        out = []
        for _, r in rows.groupby("seed"):
            y = r.label.to_numpy(int)
            if metric in stats.SLIDE_METRICS:
                if len(np.unique(y)) < 2:
                    continue
                out.append(stats.slide_metric(y, _scores_of(r), metric))
            else:
                v = r[metric].to_numpy(np.float64)
                if metric == "top5_mass":
                    v = v[y == 1]
                v = v[~np.isnan(v)]
                if len(v):
                    out.append(float(v.mean()))
        return np.asarray(out, np.float64)

    # -- comparisons -------------------------------------------------------------------------
    def paired(self, a: str, b: str, metrics: Sequence[str] = PAIRED_METRICS, *,
               n_boot: int = 2000, seed: int = 0) -> dict[str, dict]:
        """metric → B − A: ``{diff, ci95, p, n_slides, n_repeats, unit, test}``.

        * ``auc``, ``balanced_accuracy``, ``f1``: the metric of each repeat's pooled out-of-fold
          scores, B − A averaged over the repeats both methods ran, with the paired case
          bootstrap (:func:`milhelpers.stats.paired_slide_comparison`; cases = ``case_id``);
        * ``loc_auc``, ``entropy``, ``top5_mass`` (positive slides only, as the run metric):
          the mean over slides of the per-slide difference, same bootstrap
          (:func:`milhelpers.stats.paired_slide_means`; undefined slides left out);
        * anything else the runs record (``seconds``, ``best_epoch``): B − A per run matched on
          (seed, fold) — the same test slides — with the Nadeau–Bengio corrected t-test
          (:func:`milhelpers.stats.corrected_t_test`), ``unit`` "runs" and ``n_runs``.

        The bootstrap uses ``n_boot`` resamples drawn from ``seed`` — the same resamples for every
        metric and every pair of methods. ``ci95`` is the 95 % interval and ``p`` < 0.05 exactly
        when it excludes 0; :func:`verdict` turns an entry into a sentence.
        """
        out = {}
        slide_metrics = [k for k in metrics if k in stats.SLIDE_METRICS or k in SLIDE_QUANTITIES]
        if slide_metrics:
            y, cases, seeds, mats = self._aligned(a, b)
        for k in metrics:
            if k in stats.SLIDE_METRICS:
                out[k] = stats.paired_slide_comparison(y, mats[a]["score"], mats[b]["score"],
                                                       groups=cases, metric=k, n_boot=n_boot,
                                                       seed=seed)
            elif k in SLIDE_QUANTITIES:
                va, vb = mats[a][k], mats[b][k]
                if k == "top5_mass":    # the run metric's slides: the positives
                    va, vb = np.where(y == 1, va, np.nan), np.where(y == 1, vb, np.nan)
                out[k] = stats.paired_slide_means(va, vb, y=y, groups=cases, n_boot=n_boot,
                                                  seed=seed)
            else:
                d = run_differences(self, a, b, k)
                res = stats.corrected_t_test(d.to_numpy(), self._test_train_ratio())
                n_rep = len(set(self.values(a, k).index.get_level_values("seed"))
                            & set(self.values(b, k).index.get_level_values("seed")))
                out[k] = {"diff": res["diff"], "ci95": res["ci95"], "p": res["p"],
                          "n_slides": self.meta.get("n_slides"), "n_repeats": n_rep,
                          "unit": "runs", "test": res["test"], "n_runs": res["n_runs"]}
        return out

    def _aligned(self, a: str, b: str):
        """(labels, cases, seeds, {method: {quantity: (R, N)}}) over the seeds both methods ran and
        the slides every one of those repeats scored."""
        oa, ob = self.out_of_fold(a), self.out_of_fold(b)
        seeds = sorted(set(oa.seed) & set(ob.seed))
        if not seeds:
            raise KeyError(f"{a!r} and {b!r} share no seed (repeat): nothing to pair")
        both = pd.concat([oa, ob])
        both = both[both.seed.isin(seeds)]
        per = both.groupby("slide_id").size()
        ids = [s for s in dict.fromkeys(both.slide_id) if per[s] == 2 * len(seeds)]
        first = both.drop_duplicates("slide_id").set_index("slide_id").loc[ids]
        y = first.label.to_numpy(int)
        mats = {}
        for m, rows in ((a, oa), (b, ob)):
            rows = rows[rows.seed.isin(seeds)].set_index(["seed", "slide_id"])
            idx = pd.MultiIndex.from_product([seeds, ids])
            mats[m] = {q: rows[q].reindex(idx).to_numpy(np.float64).reshape(len(seeds), len(ids))
                       for q in SLIDE_QUANTITIES}
            mats[m]["score"] = _scores_of(rows.reindex(idx)).reshape(len(seeds), len(ids), -1)
            if mats[m]["score"].shape[-1] == 1:
                mats[m]["score"] = mats[m]["score"][..., 0]
        return y, first.case_id.to_numpy(), seeds, mats

    def _test_train_ratio(self) -> float:
        """n_test / n_train of a run, for the Nadeau–Bengio correction (1/(k − 1) for k folds)."""
        ratio = self.meta.get("test_train_ratio")
        if ratio is None:
            k = self.runs.fold.nunique()
            ratio = 1 / (k - 1) if k > 1 else 1.0
        return float(ratio)

    def compare(self, reference: str, metrics: Sequence[str] = PAIRED_METRICS,
                methods: Sequence[str] | None = None, *, n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
        """Every other method against ``reference``: one row per (metric, method) with ``diff``
        (method − reference), ``lo``, ``hi`` (95 % CI), ``p``, ``p_holm``, ``clear``,
        ``n_slides``, ``n_repeats``, ``unit`` and ``test``.

        With several methods the comparisons of one metric are a family: ``p_holm`` is Holm's
        adjustment over them (:func:`milhelpers.stats.holm`) and ``clear`` means p_holm < 0.05
        (with one method p_holm = p and clear ⇔ the interval excludes 0)."""
        others = [m for m in (methods or self.methods) if m != reference]
        rows = []
        for m in others:
            for k, s in self.paired(reference, m, metrics, n_boot=n_boot, seed=seed).items():
                rows.append({"metric": k, "method": m, "diff": s["diff"], "lo": s["ci95"][0],
                             "hi": s["ci95"][1], "p": s["p"], "n_slides": s["n_slides"],
                             "n_repeats": s["n_repeats"], "unit": s["unit"], "test": s["test"]})
        table = pd.DataFrame(rows, columns=["metric", "method", "diff", "lo", "hi", "p", "n_slides",
                                            "n_repeats", "unit", "test"])
        table.insert(6, "p_holm", np.nan)
        for k, g in table.groupby("metric", sort=False):
            table.loc[g.index, "p_holm"] = stats.holm(g.p.to_numpy())
        table.insert(7, "clear", [bool(p < stats.ALPHA) for p in table.p_holm])
        order = {k: i for i, k in enumerate(metrics)}
        return table.sort_values("metric", key=lambda c: c.map(order), kind="stable"
                                 ).reset_index(drop=True)

    def to_json(self, n_boot: int = 2000) -> dict:
        """The layout other tools read (``benchmarks/report.py`` renders tables from it):

        ``runs`` (one per method, seed, fold: METRICS), ``summary`` (:meth:`summary`),
        ``paired`` (``"A|B"`` → metric → ``{diff, ci95, p, p_holm, n_slides, n_repeats, unit,
        test}`` for each method B against the first, A; diff = B − A; p_holm over the methods
        compared with A on that metric), ``oof`` (one per method, seed, slide: ``{method, seed,
        fold, slide_id, case_id, label, score, loc_auc, entropy, top5_mass}``) and ``meta``.
        NaN is written as null."""
        runs = [{"method": r.method, "seed": int(r.seed), "fold": int(r.fold),
                 **{k: getattr(r, k) for k in METRICS}} for r in self.runs.itertuples()]
        paired = {}
        if len(self.methods) > 1:
            ref = self.methods[0]
            table = self.compare(ref, n_boot=n_boot)
            for r in table.itertuples():
                entry = {"diff": r.diff, "ci95": [r.lo, r.hi], "p": r.p, "p_holm": r.p_holm,
                         "n_slides": r.n_slides, "n_repeats": r.n_repeats, "unit": r.unit,
                         "test": r.test}
                paired.setdefault(f"{ref}|{r.method}", {})[r.metric] = entry
        oof = []
        if self.slides is not None:
            cols = ["method", "seed", "fold", "slide_id", "case_id", "label", "score",
                    *SLIDE_QUANTITIES] + (["probs"] if "probs" in self.slides else [])
            oof = self.slides[cols].to_dict(orient="records")
        n_paired = len(self.methods) - 1
        meta = {"paired_diff": "B - A for key 'A|B'. auc, balanced_accuracy, f1: metric of each "
                               "repeat's pooled out-of-fold scores, averaged over repeats; "
                               "loc_auc, entropy, top5_mass (positives): mean over slides of the "
                               "per-slide difference averaged over repeats; both with a paired "
                               f"case bootstrap stratified by label ({n_boot} resamples): ci95 "
                               "percentile interval, p two-sided (p < 0.05 exactly when ci95 "
                               "excludes 0). seconds, best_epoch: per run matched on (seed, "
                               "fold), Nadeau-Bengio corrected resampled t-test. p_holm: Holm "
                               f"over the {n_paired} method(s) compared with the first on one "
                               "metric; clear = p_holm < 0.05",
                **self.meta}
        return _nan_to_none({"runs": runs, "summary": self.summary(), "paired": paired,
                             "oof": oof, "meta": meta})

    @classmethod
    def from_json(cls, data: dict, cache_dir: str | Path | None = None) -> "ExperimentResult":
        """An experiment back from its :meth:`to_json` layout (a results file of
        ``benchmarks/methods.py --json``): runs, out-of-fold records, methods (in the file's
        order) and meta — enough for :meth:`summary`, :meth:`paired`, :meth:`compare` and
        :func:`verdict`. Predictions, histories and weights stay in the cache (``cache_dir``)."""
        runs = pd.DataFrame(data["runs"])
        for k in METRICS:
            runs[k] = pd.to_numeric(runs.get(k), errors="coerce").astype(np.float64)
        runs["key"] = ""
        methods = list(data.get("summary") or dict.fromkeys(runs.method))
        slides = None
        if data.get("oof"):
            slides = pd.DataFrame(data["oof"])
            for k in ("score", *SLIDE_QUANTITIES):
                slides[k] = pd.to_numeric(slides[k], errors="coerce").astype(np.float64)
        meta = {k: v for k, v in (data.get("meta") or {}).items() if k != "paired_diff"}
        return cls(runs, Path(cache_dir or "."), methods, 0, meta, slides)

    # -- files ---------------------------------------------------------------------------------
    def _files(self, method: str, seed: int, fold: int) -> tuple[Path, Path]:
        row = self.runs[(self.runs.method == method) & (self.runs.seed == seed)
                        & (self.runs.fold == fold)]
        if row.empty:
            raise KeyError(f"no run ({method!r}, seed {seed}, fold {fold}) in this experiment")
        return _run_paths(self.cache_dir, method, seed, fold, row.key.iloc[0])

    def predictions(self, method: str, seed: int, fold: int) -> Predictions:
        """The test-fold predictions of one run (probabilities, attention, scores, embeddings),
        as :func:`milhelpers.train.predict` returned them, for heatmaps of the same models."""
        return _load_predictions(self._files(method, seed, fold)[1])

    def slide_prediction(self, method: str, seed: int, slide_id: str) -> dict[str, Any]:
        """One test slide's prediction by the run that held it out: ``attention`` (N,) (the
        heads' mean softmax), ``scores`` (N,) (what the localisation AUC ranks), ``prob``
        (P(class 1)), ``label`` and ``fold`` — for heatmaps of one slide under several methods."""
        rows = self.runs[(self.runs.method == method) & (self.runs.seed == seed)]
        if rows.empty:
            raise KeyError(f"no runs of ({method!r}, seed {seed}) in this experiment")
        for fold in sorted(rows.fold.unique()):
            p = self.predictions(method, seed, int(fold))
            if slide_id in p.slide_ids:
                i = p.slide_ids.index(slide_id)
                return {"attention": p.slide_attention[i], "scores": p.slide_scores[i],
                        "prob": float(p.probs[i, -1]), "label": int(p.labels[i]),
                        "fold": int(fold)}
        raise KeyError(f"slide {slide_id!r} is in no test fold of ({method!r}, seed {seed})")

    def history(self, method: str, seed: int, fold: int) -> pd.DataFrame:
        """The per-epoch training history of one run (learning curves of the same models)."""
        return pd.DataFrame(json.loads(self._files(method, seed, fold)[0].read_text())["history"])


def _mean_std_n(v: np.ndarray) -> dict[str, float]:
    return {"mean": float(v.mean()) if len(v) else float("nan"),
            "std": float(v.std(ddof=1)) if len(v) > 1 else float("nan"), "n": int(len(v))}


def _scores_of(rows: pd.DataFrame) -> np.ndarray:
    """(n,) P(class 1) of out-of-fold rows, or (n, C) probabilities where the rows carry them."""
    if "probs" in rows and rows["probs"].notna().any():
        return np.stack([np.asarray(p, np.float64) for p in rows["probs"]])
    return rows["score"].to_numpy(np.float64)


def _nan_to_none(obj):
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    return obj


def json_text(obj: Any) -> str:
    """``obj`` as JSON text with an indent of 1, except that a list of flat records (the runs,
    the out-of-fold rows) puts one record per line: a results file of thousands of slide records
    stays readable and diffs line by line."""
    def flat(v):
        return isinstance(v, dict) and all(not isinstance(x, (dict, list)) or
                                           (isinstance(x, list) and all(
                                               not isinstance(e, (dict, list)) for e in x))
                                           for x in v.values())

    def render(v, level: int) -> str:
        pad, inner = " " * level, " " * (level + 1)
        if isinstance(v, dict) and v:
            items = [f"{inner}{json.dumps(str(k))}: {render(x, level + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(v, list) and v and all(flat(x) for x in v):
            rows = [f"{inner}{json.dumps(x, allow_nan=False)}" for x in v]
            return "[\n" + ",\n".join(rows) + f"\n{pad}]"
        return json.dumps(v, allow_nan=False)

    return render(obj, 0) + "\n"


def run_differences(result: ExperimentResult, a: str, b: str, metric: str) -> pd.Series:
    """B − A of one per-run metric, indexed by (seed, fold): runs matched on (seed, fold) — the
    same repeat's same test slides — and pairs with a NaN dropped (what the Nadeau–Bengio test
    of :meth:`ExperimentResult.paired` uses)."""
    va, vb = result.values(a, metric), result.values(b, metric)
    common = va.index.intersection(vb.index)
    return (vb.loc[common] - va.loc[common]).dropna()


def verdict(result: ExperimentResult, a: str, b: str, metric: str = "auc") -> str:
    """One sentence on B against A by the one decision rule (:func:`milhelpers.stats.describe`).

    **Clear** exactly when the 95 % interval of B − A excludes 0 (then p < 0.05, from the same
    bootstrap): "B is better than A" (slide AUC, balanced accuracy, F1, localisation AUC) or "B
    has higher/lower <metric> than A" (entropy, top-5 mass, seconds). Otherwise "no clear
    difference … no evidence either way" — never a trend. The numbers follow: B − A, its 95 %
    interval, p, the slides and repeats it rests on and the test
    (:meth:`ExperimentResult.paired`).
    """
    return stats.describe(result.paired(a, b, [metric])[metric], a, b, metric)


def mean_ci_table(result: ExperimentResult, metrics: Sequence[str],
                  methods: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
    """Methods × metrics table of "mean [95 % bootstrap CI]" strings over the runs.

    One run: its value alone; no defined value: "n/a". (The interval is over runs, which share
    folds, so it is narrower than a population interval would be.)
    """
    methods = list(methods) if methods is not None else list(result.methods)

    def cell(m: str, k: str) -> str:
        v = result.values(m, k).dropna().to_numpy()
        if not len(v):
            return "n/a"
        if len(v) == 1:
            return f"{v[0]:.{digits}f}"
        lo, hi = bootstrap_ci(v)
        return f"{v.mean():.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    return pd.DataFrame({k: [cell(m, k) for m in methods] for k in metrics}, index=methods)


def summary_frame(result: ExperimentResult, metrics: Sequence[str],
                  methods: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (method, metric): ``mean`` over the runs, ``lo``/``hi`` its 95 % percentile
    bootstrap interval (:func:`bootstrap_ci`; NaN with fewer than two runs) and ``n``, the runs
    where the metric is defined — numbers for plots such as :func:`milhelpers.viz.lambda_curves`.
    """
    methods = list(methods) if methods is not None else list(result.methods)
    rows = []
    for m in methods:
        for k in metrics:
            v = result.values(m, k).dropna().to_numpy()
            lo, hi = bootstrap_ci(v)
            rows.append({"method": m, "metric": k, "mean": float(v.mean()) if len(v) else
                         float("nan"), "lo": lo, "hi": hi, "n": int(len(v))})
    return pd.DataFrame(rows, columns=["method", "metric", "mean", "lo", "hi", "n"])


# --------------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------------
def _run_paths(cache_dir: Path, method: str, seed: int, fold: int, key: str) -> tuple[Path, Path]:
    stem = Path(cache_dir) / method / f"seed{seed}_fold{fold}_{key[:16]}"
    return stem.with_suffix(".json"), stem.with_suffix(".npz")


def _save_predictions(path: Path, p: Predictions) -> None:
    lengths = np.array([a.shape[1] for a in p.attention], np.int64)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, slide_ids=np.array(p.slide_ids, dtype=str), labels=p.labels,
                     probs=p.probs, embeddings=p.embeddings, lengths=lengths,
                     attention=np.concatenate(p.attention, 1),
                     attention_logits=np.concatenate(p.attention_logits, 1),
                     scores=np.concatenate(p.scores, 1))


def _load_predictions(path: Path) -> Predictions:
    try:
        with np.load(path) as z:
            cuts = np.cumsum(z["lengths"])[:-1]
            split = {k: np.split(z[k], cuts, axis=1)
                     for k in ("attention", "attention_logits", "scores")}
            return Predictions(z["slide_ids"].tolist(), z["labels"], z["probs"],
                               split["attention"], split["attention_logits"], z["embeddings"],
                               split["scores"])
    except (OSError, ValueError, KeyError) as err:
        raise OSError(f"{path}: cannot read the cached predictions ({err}); delete this file "
                      "and its .json and run the experiment again to recompute the run") from err


def _load_run(json_path: Path, npz_path: Path, key: str) -> tuple[dict, list[dict]] | None:
    """(metrics, per-slide records) of a cached run, or None when absent; a damaged entry warns
    and is None."""
    if not json_path.exists():
        return None
    try:
        rec = json.loads(json_path.read_text())
        if rec.get("key") != key or not npz_path.exists():
            raise ValueError("incomplete entry" if rec.get("key") == key else "key mismatch")
        metrics = {k: (float("nan") if rec["metrics"][k] is None else rec["metrics"][k])
                   for k in METRICS}
        slides = [{k: (float("nan") if v is None else v) for k, v in row.items()}
                  for row in rec["slides"]]
        return metrics, slides
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        warnings.warn(f"cached run {json_path} cannot be used ({err}); training it again",
                      RuntimeWarning, stacklevel=3)
        return None


@contextlib.contextmanager
def _run_lock(json_path: Path):
    """Hold an exclusive lock on one run (``<run>.lock`` beside its files) while it is trained,
    so that two processes sharing a cache (the runner's workers, a sweep's notebooks) never
    train the same run twice: the second waits, then finds the first one's result. Where
    ``fcntl`` is missing (Windows) it locks nothing."""
    if fcntl is None:
        yield
        return
    json_path.parent.mkdir(parents=True, exist_ok=True)
    # the lock file stays: removing it while another process waits on it would let a third
    # process lock a new file of the same name at the same time
    with open(json_path.with_suffix(".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------
# the runner
# --------------------------------------------------------------------------------------------
def _slide_records(p: Predictions, test_ds: Dataset) -> list[dict[str, Any]]:
    """One out-of-fold record per test slide: slide and case id, label, ``score`` = P(class 1)
    (with more than two classes also ``probs``), and the slide's localisation AUC (NaN where
    undefined), normalised attention entropy and top-5 mass of its slide attention."""
    cases = list(getattr(test_ds, "case_ids", p.slide_ids))
    rows = []
    for i, sid in enumerate(p.slide_ids):
        att = p.slide_attention[i]
        inst = test_ds[i].instance_labels
        loc = float("nan") if inst is None else localization_auc(
            [p.slide_scores[i]], [inst], threshold=LOC_THRESHOLD)["mean_slide_auc"]
        row = {"slide_id": str(sid), "case_id": str(cases[i]), "label": int(p.labels[i]),
               "score": float(p.probs[i, 1]), "loc_auc": loc,
               "entropy": attention_entropy(att), "top5_mass": topk_mass(att, 5)}
        if p.probs.shape[1] > 2:
            row["probs"] = [float(v) for v in p.probs[i]]
        rows.append(row)
    return rows


def _run_metrics(p: Predictions, slides: list[dict[str, Any]]) -> dict[str, float]:
    """A run's test-fold metrics; the attention ones are means of its slide records, so a run's
    numbers and its slides' never disagree."""
    m = p.metrics()

    def mean(key: str, rows) -> float:
        v = np.array([r[key] for r in rows], np.float64)
        v = v[~np.isnan(v)]
        return float(v.mean()) if len(v) else float("nan")

    return {"auc": m["auc"], "balanced_accuracy": m["balanced_accuracy"], "f1": m["macro_f1"],
            "loc_auc": mean("loc_auc", slides),
            "top5_mass": mean("top5_mass", [r for r in slides if r["label"] == 1]),
            "entropy": mean("entropy", slides)}


def run_experiments(dataset: Dataset, methods: Sequence[Method | str], seeds: Sequence[int] = (0,),
                    folds: int | None = None, *, epochs: int | None = None,
                    val_fraction: float = 0.2, cache_dir: str | Path = "runs/experiments",
                    progress: bool = True, threads: int | None = 1, workers: int = 1,
                    scheduler: str | None = None, cluster_file: str | Path | None = None,
                    client=None) -> ExperimentResult:
    """Train and test every (method, seed, fold); reuse the runs already cached.

    ``methods``: registered names or :class:`~milhelpers.methods.Method` objects (variants from
    ``with_options`` need their own name). ``seeds`` are the repeats: repeat r draws its own
    stratified, case-grouped partition into ``folds`` folds (default 5; see
    :func:`experiment_folds` — a labels ``fold`` column fixes the folds for every repeat), and
    seeds initial weights, data order and the validation split (``run_seed(seed, fold)``).
    ``epochs`` overrides each method's default.

    Per run (test fold only): slide ``auc``, ``balanced_accuracy``, macro ``f1``, ``loc_auc``
    (mean within-slide localisation AUC of the instance scores, patches with tumour fraction
    ≥ 0.25 as positives; NaN without instance labels), ``top5_mass`` (mean share of the five
    most-attended patches, positive slides), ``entropy`` (mean normalised attention entropy
    H(a)/log N); with several attention heads all three use the heads' mean softmax
    (:attr:`~milhelpers.train.Predictions.slide_attention`), ``seconds`` (training wall time),
    ``peak_mb`` (peak resident memory above the run's start while training, MB:
    :class:`~milhelpers.memory.PeakRSS`; a two-stage run's is at least its first stage's)
    and ``best_epoch`` (the epoch kept: the last, or the one a validation monitor selected;
    ``meta["selection"]`` names each method's monitor). Per test slide
    (:meth:`ExperimentResult.out_of_fold`): its score and the same three attention quantities.

    ``threads``: torch's CPU threads while training (restored afterwards; ``None`` leaves the
    setting alone). One bag per step makes each operation small, so a second thread mostly waits:
    on the course's 2-core machine, shared with other jobs, one thread trained ABMIL about 6×
    faster than two.

    Where the missing runs are trained: by default here, one after another. With ``scheduler``
    (``"local:N"``, ``"local"`` — one worker per core —, or a running scheduler's
    ``"tcp://host:8786"``), ``cluster_file`` (a dask-jobqueue YAML, see
    :mod:`milhelpers.cluster`) or a Dask ``client`` of your own, each missing (method, seed,
    fold) is one Dask task (each with ``threads`` threads), a two-stage run's task waiting for
    its first stage's (:func:`_first_stages`); ``workers=N`` is short for
    ``scheduler="local:N"``. Every run is then read from the cache as a serial call would, so
    the results are those of a serial call — runs are seeded one by one —; only ``seconds`` and
    ``peak_mb`` change with what else the machine is doing. Workers must see ``cache_dir`` (one
    machine, or shared storage) and, for a :class:`~milhelpers.datasets.BagDataset`, its files;
    the dataset is sent to each worker once. A run that raises does not stop the others: its
    error is raised once they are finished and cached. Ctrl-C stops the workers (of a cluster
    started here) and the runs they were training; the finished ones are cached.
    """
    from .train import torch_threads

    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    engines = [workers > 1, scheduler is not None, cluster_file is not None, client is not None]
    if sum(engines) > 1:
        raise ValueError("give one of workers=N (N > 1), scheduler, cluster_file or client: "
                         "they all say where the runs are trained")
    if workers > 1:
        scheduler = f"local:{int(workers)}"
    if scheduler is not None:
        from .cluster import parse_scheduler

        parse_scheduler(scheduler)             # a bad value fails before anything runs
    dask = None if not any(engines) else {"scheduler": scheduler, "cluster_file": cluster_file,
                                          "client": client}
    with torch_threads(threads):
        return _run_all(dataset, methods, seeds, folds, epochs, val_fraction, cache_dir, progress,
                        dask, threads)


@dataclass
class _Runs:
    """The runs of one :func:`run_experiments` call and how to get one: from the cache, or
    trained now and cached. A Dask task gets a copy without the dataset (sent apart, once per
    worker) and its own ``trained``."""

    dataset: Any
    partitions: dict[int, list[tuple[np.ndarray, np.ndarray]]]
    labels: np.ndarray
    groups: np.ndarray | None
    fingerprint: str
    ids: list[str]
    overrides: dict[str, Any]
    val_fraction: float
    cache_dir: Path
    n_classes: int
    #: (method, seed, fold) of the runs trained by this object (a first stage included)
    trained: set[tuple[str, int, int]] = field(default_factory=set)
    #: run keys computed by the calling process (:func:`_known_key`), which a Dask task uses
    #: for its run and its first stages: a method's code fingerprint is that of the code loaded
    #: in the calling process (a closure pickled to a worker can fingerprint differently there)
    keys: dict[tuple[str, str, int, int], str] = field(default_factory=dict)

    def where(self, method: Method, seed: int, k: int):
        """(config, key, json path, npz path) of a run."""
        cfg = method.train_config(seed=run_seed(seed, k), progress=False, **self.overrides)
        key = self.keys.get(_known_key(method, seed, k)) or run_key(
            method, cfg, self.fingerprint, seed, k,
            [self.ids[i] for i in self.partitions[seed][k][1]], self.val_fraction)
        return (cfg, key, *_run_paths(self.cache_dir, method.name, seed, k, key))

    def one_run(self, method: Method, seed: int, k: int, force: bool = False):
        """((metrics, slide records), key, model): the run from the cache (model None) or
        trained now."""
        cfg, key, json_path, npz_path = self.where(method, seed, k)
        found = None if force else _load_run(json_path, npz_path, key)
        if found is not None:
            return found, key, None
        with _run_lock(json_path):
            # read again under the lock: another process may have trained it since the first
            # look (while this one waited, or just before it asked)
            found = None if force else _load_run(json_path, npz_path, key)
            if found is not None:
                return found, key, None
            return self.train_run(method, seed, k, cfg, key, json_path, npz_path)

    def train_run(self, method: Method, seed: int, k: int, cfg, key: str, json_path: Path,
                  npz_path: Path):
        dataset, labels, groups, val_fraction = (self.dataset, self.labels, self.groups,
                                                 self.val_fraction)
        tr, te = self.partitions[seed][k]
        rs = run_seed(seed, k)
        tr_idx, va_idx = train_val_split(tr, labels, val_fraction, seed=rs,
                                         **({"groups": groups} if groups is not None else {}))
        stage = {"wall": 0.0, "seconds": 0.0, "peak_mb": 0.0}

        def pretrained(other) -> Any:
            """Another method's trained model of this seed, fold and split (stage one)."""
            other = as_method(other)
            t = time.perf_counter()
            model, secs, peak = self.trained_model(other, seed, k)
            stage["wall"] += time.perf_counter() - t
            stage["seconds"] += secs
            stage["peak_mb"] = max(stage["peak_mb"], peak)
            return model

        if not self.trained:   # fit seeds the same way: this only keeps torch's one-time
            seed_everything(rs)   # imports (about 2 s) out of the first run's seconds
        t0 = time.perf_counter()
        with PeakRSS() as mem:
            res = method.fit(dataset.subset(tr_idx), dataset.subset(va_idx), cfg, fold=k,
                             pretrained=pretrained)
        # a stage one counts with its recorded seconds and peak memory, cached or not, so costs
        # are comparable
        seconds = time.perf_counter() - t0 - stage["wall"] + stage["seconds"]
        peak_mb = max(mem.peak_mb, stage["peak_mb"])
        test_ds = dataset.subset(te)
        pred = predict(res.model, test_ds)
        slides = _slide_records(pred, test_ds)
        metrics = {**_run_metrics(pred, slides), "seconds": seconds, "peak_mb": peak_mb,
                   "best_epoch": int(res.best_epoch)}
        _save_predictions(npz_path, pred)   # first, so a .json always has its predictions
        with atomic_output(json_path.with_suffix(".pt")) as tmp:
            torch.save(res.model.state_dict(), tmp)
        record = {"key": key, "method": method.name, "seed": seed, "fold": k,
                  "run_seed": rs, "monitor": res.monitor,
                  "train_config": dataclasses.asdict(cfg),
                  "model_kwargs": dict(method.model_kwargs),
                  "n_train": len(tr_idx), "n_val": len(va_idx), "n_test": len(te),
                  "stage_one_seconds": stage["seconds"],
                  "metrics": metrics, "slides": slides,
                  "history": res.history.to_dict(orient="list")}
        with atomic_output(json_path) as tmp:
            tmp.write_text(json.dumps(_nan_to_none(record), indent=1, default=_json_default))
        self.trained.add((method.name, seed, k))
        return (metrics, slides), key, res.model

    def trained_model(self, method: Method, seed: int, k: int):
        """(model, recorded seconds, recorded peak MB) of a run: its weights from the cache
        (``.pt``) when the run is cached, else trained now (and cached) through :meth:`one_run`."""
        (metrics, _), key, model = self.one_run(method, seed, k)
        if model is None:
            pt = _run_paths(self.cache_dir, method.name, seed, k, key)[0].with_suffix(".pt")
            try:
                state = torch.load(pt, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError, EOFError):
                state = None          # cached before weights were kept: train it again
            if state is None:
                (metrics, _), key, model = self.one_run(method, seed, k, force=True)
            else:
                ctx = BuildContext(int(self.dataset.dim), self.n_classes, k, run_seed(seed, k))
                model = method.build_model(ctx)
                model.load_state_dict(state)
        peak = metrics.get("peak_mb", float("nan"))
        return model, float(metrics["seconds"]), 0.0 if peak != peak else float(peak)


# --------------------------------------------------------------------------------------------
# the runs on Dask
# --------------------------------------------------------------------------------------------
def _first_stages(method: Method) -> list[Method]:
    """The methods whose trained runs ``method`` may ask for (``ctx.pretrained``): the
    :class:`~milhelpers.methods.Method` objects its factory's closure holds (MHIM's baseline;
    the code fingerprint follows the same captured values). On Dask a run's task waits for
    their tasks of the same seed and fold; a first stage it asks for without holding it is
    still found or trained, under its lock, inside the task."""
    import inspect

    try:
        captured = inspect.getclosurevars(method.build).nonlocals.values()
    except TypeError:          # not a Python function (a callable object, a partial)
        return []
    return [m for m in captured if isinstance(m, Method)]


def _known_key(method: Method, seed: int, k: int) -> tuple[str, str, int, int]:
    """What names a run in :attr:`_Runs.keys`: the method's name and options (no code), the
    seed and the fold."""
    return (method.name, _digest([dict(method.model_kwargs), dict(method.config)]), seed, k)


@dataclass(frozen=True)
class _Pickled:
    """A dataset as the bytes of its pickle, named by the call that sent it."""

    token: str
    data: bytes


#: The datasets a worker process unpickled, by the token of the call that sent them (the last
#: few calls: a long-lived worker serves many).
_UNPICKLED: dict[str, Any] = {}
_UNPICKLED_LOCK = threading.Lock()


def _unpickled(sent: _Pickled):
    """The dataset of ``sent``, unpickled once per worker process and shared by its tasks."""
    import pickle

    with _UNPICKLED_LOCK:
        if sent.token not in _UNPICKLED:
            while len(_UNPICKLED) >= 2:
                _UNPICKLED.pop(next(iter(_UNPICKLED)))
            _UNPICKLED[sent.token] = pickle.loads(sent.data)
        return _UNPICKLED[sent.token]


def _run_task(runs: _Runs, sent: _Pickled, method: Method, seed: int, k: int,
              threads: int | None, keys: dict, *first_stages) -> set[tuple[str, int, int]]:
    """One Dask task: the run (``method``, ``seed``, fold ``k``) from the cache or trained now
    into it, with ``threads`` torch threads; returns the runs it trained (with a first stage
    that was not cached). ``keys``: the run keys of the run and its first stages, computed by
    the caller. ``first_stages``: the results of the tasks it waited for (unused)."""
    from .train import torch_threads

    runs = dataclasses.replace(runs, dataset=_unpickled(sent), trained=set(), keys=keys)
    # torch's random streams and thread count are per process: a worker with several threads
    # (``dask worker --nthreads 4``) must not interleave two runs' draws
    with _ONE_RUN_PER_PROCESS, torch_threads(threads):
        runs.one_run(method, seed, k)
    return runs.trained


_ONE_RUN_PER_PROCESS = threading.Lock()


def _load_plugins(specs: list[str]) -> None:
    """Load method plugins (:func:`milhelpers.plugins.load_plugin`) in a worker."""
    from .plugins import load_plugin

    for spec in specs:
        load_plugin(spec)


def _train_on_dask(runs: _Runs, missing: list[tuple[Method, int, int]], dask: dict,
                   threads: int | None, progress: bool) -> None:
    """Train the ``missing`` runs as Dask tasks (see :func:`run_experiments`); the runs they
    trained join ``runs.trained``. The first run that failed is raised once every other task
    has ended."""
    import uuid

    from . import cluster

    with contextlib.ExitStack() as stack:
        c = dask["client"]
        if c is None:
            c = stack.enter_context(cluster.session(dask["scheduler"], dask["cluster_file"]))
            if progress:
                print(cluster.describe(c))
        from .plugins import _LOADED

        # a plugin's methods are pickled by reference, so the plugins that registered the
        # methods to train must be loaded on every worker; only those: another plugin this
        # process loaded earlier may be gone by now (a notebook's temporary file)
        wanted = {m.name for m, _, _ in missing}
        needed = [key for key, (_, _, names) in _LOADED.items() if wanted & set(names)]
        if needed:
            cluster.on_every_worker(c, _load_plugins, needed, name="milhelpers-plugins")
        token = uuid.uuid4().hex[:8]
        light = dataclasses.replace(runs, dataset=None, trained=set(),
                                    cache_dir=Path(runs.cache_dir).resolve())
        # the dataset travels once to a worker, then stays there, not once per run; it travels
        # pickled here, as bytes: a worker that passes it on to another while a run of its own
        # reads it (and so reorders its bag cache) would otherwise pickle it mid-change
        import cloudpickle

        data = c.scatter(_Pickled(token, cloudpickle.dumps(runs.dataset)), hash=False)
        futures: dict[str, Any] = {}      # run key → future
        names: dict[str, tuple[str, int, int]] = {}
        asked = {runs.where(*job)[1] for job in missing}

        def submit(method: Method, seed: int, k: int):
            """The future of a run's task (a first stage's first); None when it is cached."""
            _, key, json_path, _ = runs.where(method, seed, k)
            if key in futures:
                return futures[key]
            if key not in asked and json_path.exists():
                return None                # a cached first stage
            stages = _first_stages(method)
            before = [f for f in (submit(m, seed, k) for m in stages) if f is not None]
            keys = {_known_key(m, seed, k): runs.where(m, seed, k)[1] for m in [method, *stages]}
            futures[key] = c.submit(_run_task, light, data, method, seed, k, threads, keys,
                                    *before, key=f"run-{method.name}-seed{seed}-fold{k}-{token}",
                                    pure=False)
            names[key] = (method.name, seed, k)
            return futures[key]

        for job in missing:
            submit(*job)
        report = cluster.collect(c, futures, desc=f"runs on {len(c.nthreads())} Dask workers",
                                 unit="run", progress=progress, expected=())
        for trained in report.results.values():
            runs.trained |= trained
        if report.failed:   # as a serial call would, once every other run is cached
            key = next(iter(report.failed))
            error = report.exceptions.get(key)
            if isinstance(error, Exception) and not _is_killed_worker(error):
                raise error
            name, seed, k = names[key]
            raise RuntimeError(f"run {name}, seed {seed}, fold {k}: {report.failed[key]}")


def _is_killed_worker(error: BaseException) -> bool:
    from distributed.scheduler import KilledWorker

    return isinstance(error, KilledWorker)


def _run_all(dataset, methods, seeds, folds, epochs, val_fraction, cache_dir, progress,
             dask: dict | None = None, threads: int | None = 1) -> ExperimentResult:
    methods = [as_method(m) for m in methods]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be distinct (they name the cached runs): {names}")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct integers >= 0, got {seeds}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    cache_dir = Path(cache_dir)
    partitions = {s: experiment_folds(dataset, folds, seed=s) for s in seeds}
    n_folds = len(partitions[seeds[0]])
    labels = np.asarray(dataset.labels)
    groups = getattr(dataset, "case_ids", None)
    fingerprint = data_fingerprint(dataset)
    ids = list(dataset.slide_ids)
    overrides = {} if epochs is None else {"epochs": int(epochs)}
    jobs = [(m, s, k) for m in methods for s in seeds for k in range(n_folds)]
    rows, slide_rows = [], []
    runs = _Runs(dataset, partitions, labels, groups, fingerprint, ids, overrides, val_fraction,
                 cache_dir, n_classes_of(dataset))
    trained = runs.trained   # (method, seed, fold) of the runs trained now

    if dask is not None:
        missing = [j for j in jobs if not runs.where(*j)[2].exists()]
        if missing:
            _train_on_dask(runs, missing, dask, threads, progress)
    bar = progress_bar(jobs, desc="runs", unit="run", enabled=progress)
    for method, seed, k in bar:
        (metrics, slides), key, _ = runs.one_run(method, seed, k)
        rows.append({"method": method.name, "seed": seed, "fold": k, **metrics, "key": key})
        slide_rows += [{"method": method.name, "seed": seed, "fold": k, **r} for r in slides]
        if progress and hasattr(bar, "set_postfix"):
            n_now = len(trained & {(r["method"], r["seed"], r["fold"]) for r in rows})
            bar.set_postfix(trained=n_now, cached=len(rows) - n_now)
    runs = pd.DataFrame(rows, columns=["method", "seed", "fold", *METRICS, "key"])
    slides = pd.DataFrame(slide_rows)
    listed = {(m.name, s_, k) for m, s_, k in jobs}
    fixed = fixed_folds(dataset)
    sizes = [(len(te), len(tr)) for part in partitions.values() for tr, te in part]
    meta = {"seeds": seeds, "folds": n_folds, "epochs": epochs,
            "first_stages_trained": len(trained - listed),
            "val_fraction": val_fraction, "n_slides": len(ids), "data_fingerprint": fingerprint,
            "partitions": "fixed" if fixed else "repeated",
            "fold_source": ("the labels' 'fold' column, the same folds for every repeat: "
                            "intervals are conditional on these folds") if fixed else
                           ("a partition per repeat: stratified_folds(seed=repeat, "
                            "groups=case_ids)"),
            "test_train_ratio": float(np.mean([t / r for t, r in sizes])),
            # how each method chose its epoch on validation (best_epoch in the runs)
            "selection": {m.name: m.train_config(**overrides).monitor for m in methods}}
    return ExperimentResult(runs, cache_dir, names, len(trained & listed), meta, slides)
