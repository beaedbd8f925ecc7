"""The experiment runner: methods × seeds × folds, cached per run, and paired comparisons.

Every method chapter compares against ABMIL the same way::

    ds = open_dataset("data/cohort")
    res = run_experiments(ds, ["abmil_gated", "mean_pool", "max_pool"], seeds=[0], folds=5)
    res.summary()                       # method → metric → mean, std, n
    res.paired("abmil_gated", "max_pool")   # metric → diff (B − A), 95 % CI, Wilcoxon p

One *run* is (method, seed, fold). The folds are fixed by the data, not by the seed: the labels
table's ``fold`` column where it has one (the course cohort does), else
``stratified_folds(labels, k, seed=0, groups=case_ids)``. The seed varies everything else — the
initial weights, the data order, dropout and the validation split — through
:func:`milhelpers.train.run_seed` ``(seed, fold)``. In each run the validation split is carved from
the training part of the fold (grouped by case), the method selects its epoch on it (its own
monitor), and the test fold is only predicted.

Each finished run is one JSON file (plus its test predictions as ``.npz`` and its final weights
as ``.pt``) under ``cache_dir``,
named by a hash of everything that decides its result: the method (name, model options, training
defaults, and the fingerprint of its code: :meth:`~milhelpers.methods.Method.code_fingerprint`), the
effective :class:`~milhelpers.train.TrainConfig`, the data (slide ids, labels,
cases, the fold's test slides, the features files' sizes and modification times — or, for bags
held in memory, a hash of their features and instance labels), the seed, the fold and the
runner's version. A rerun loads what exists and trains only what is missing; a file that cannot be
read is trained again with a warning. The method's *code* is in the key: edit a model's forward, a
loss term or a callback (in ``milhelpers`` or in your own module) and its runs are trained again;
leave it unchanged and they are reused. Library code (PyTorch, NumPy, scikit-learn) is not in it:
clear the cache after upgrading a library if its results could change.
Processes may share a cache (``workers``, a sweep's notebooks): a run is trained under a lock
(its ``.lock`` file), so a second process asking for it waits and reads it instead.

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
import multiprocessing
import sys
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
except ImportError:      # Windows: runs are not locked (and workers are not forked there)
    fcntl = None

from . import __version__
from ._progress import progress_bar
from .datasets import BagDataset, cohort_instance_labels, stratified_folds, train_val_split
from .h5io import atomic_output
from .methods import BuildContext, Method, as_method, n_classes_of
from .metrics import localization_auc
from .train import Predictions, predict, run_seed, seed_everything

__all__ = ["METRICS", "RUNNER_VERSION", "ExperimentResult", "run_experiments", "experiment_folds",
           "data_fingerprint", "run_key", "paired_stats", "bootstrap_ci", "open_dataset",
           "fold_differences", "verdict", "correlation_ci", "describe_correlation",
           "mean_ci_table", "summary_frame"]

#: What each run reports, in the order of the JSON and the tables.
METRICS = ("auc", "balanced_accuracy", "f1", "loc_auc", "top5_mass", "entropy", "seconds",
           "best_epoch")
#: Bump when the runner's way of computing a run changes, so old cached runs are not reused.
RUNNER_VERSION = 2  # 2: multi-head attention reduced by slide_attention (mean softmax)
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


def experiment_folds(dataset: Dataset, k: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) index splits of an experiment; the same for every seed.

    The labels table's ``fold`` column where the dataset has one (``k`` must then be ``None`` or
    its number of folds); else ``k`` (default 5) stratified folds grouped by case, seed 0.
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
                             "leave it out), or drop the column to make new folds")
        idx = np.arange(len(col))
        return [(idx[col != v], idx[col == v]) for v in values]
    groups = getattr(dataset, "case_ids", None)
    return stratified_folds(np.asarray(dataset.labels), 5 if k is None else k, seed=0,
                            groups=groups)


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
    """The runs of an experiment (one row per method, seed, fold) and where they are cached."""

    runs: pd.DataFrame                  # method, seed, fold, METRICS…, key
    cache_dir: Path
    methods: list[str]
    n_trained: int = 0                  # of these runs, those trained by this call (the rest
    #                                     came from the cache; first stages of two-stage methods
    #                                     trained on the way are meta["first_stages_trained"])
    meta: dict = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """method → metric → {mean, std (ddof=1), n (runs where it is defined)}."""
        out = {}
        for m in self.methods:
            rows = self.runs[self.runs.method == m]
            out[m] = {}
            for k in METRICS:
                v = rows[k].to_numpy(np.float64)
                v = v[~np.isnan(v)]
                out[m][k] = {"mean": float(v.mean()) if len(v) else float("nan"),
                             "std": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                             "n": int(len(v))}
        return out

    def values(self, method: str, metric: str) -> pd.Series:
        """``metric`` of ``method`` indexed by (seed, fold)."""
        rows = self.runs[self.runs.method == method]
        if rows.empty:
            raise KeyError(f"no runs of method {method!r}; the experiment has {self.methods}")
        return rows.set_index(["seed", "fold"])[metric].sort_index()

    def paired(self, a: str, b: str, metrics: Sequence[str] = METRICS) -> dict[str, dict]:
        """metric → :func:`paired_stats` of B − A, one pair per test fold.

        Runs are matched on (seed, fold); the differences of one fold are averaged over seeds
        before the test, because every seed scores the same test slides: counting 3 seeds × 5
        folds as 15 independent pairs would be pseudo-replication and shrink p artificially.
        Seeds make each fold's difference less noisy; only more folds or slides add pairs.
        """
        out = {}
        for k in metrics:
            va, vb = self.values(a, k), self.values(b, k)
            common = va.index.intersection(vb.index)
            d = pd.DataFrame({"a": va.loc[common].to_numpy(), "b": vb.loc[common].to_numpy()},
                             index=common).dropna()         # a pair needs both values
            per_fold = d.groupby(level="fold").mean()
            out[k] = paired_stats(per_fold["a"].to_numpy(), per_fold["b"].to_numpy())
        return out

    def to_json(self) -> dict:
        """The layout other tools read: ``runs``, ``summary``, ``paired`` (each method against
        the first, as ``"A|B"`` with diff = B − A) and ``meta``. NaN is written as null."""
        runs = [{"method": r.method, "seed": int(r.seed), "fold": int(r.fold),
                 **{k: getattr(r, k) for k in METRICS}} for r in self.runs.itertuples()]
        paired = {}
        for b in self.methods[1:]:
            a = self.methods[0]
            paired[f"{a}|{b}"] = {k: {kk: v[kk] for kk in ("diff", "ci95", "p")}
                                  for k, v in self.paired(a, b).items()}
        meta = {"paired_diff": "B - A for key 'A|B': runs matched on (seed, fold), averaged over "
                               "seeds within each test fold (one pair per fold); ci95: "
                               "percentile bootstrap of the mean difference; p: two-sided "
                               "Wilcoxon signed-rank", **self.meta}
        return _nan_to_none({"runs": runs, "summary": self.summary(), "paired": paired,
                             "meta": meta})

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


def _nan_to_none(obj):
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def fold_differences(result: ExperimentResult, a: str, b: str, metric: str) -> pd.Series:
    """B − A per test fold: runs matched on (seed, fold), pairs with a NaN dropped, then averaged
    over seeds within each fold (the pairs :meth:`ExperimentResult.paired` tests)."""
    va, vb = result.values(a, metric), result.values(b, metric)
    common = va.index.intersection(vb.index)
    d = (vb.loc[common] - va.loc[common]).dropna()
    return d.groupby(level="fold").mean()


def verdict(result: ExperimentResult, a: str, b: str, metric: str = "auc") -> str:
    """One sentence on B against A from the paired statistics (one pair per test fold).

    * **clear** — the 95 % bootstrap interval of the mean difference excludes 0 *and* the
      Wilcoxon p < 0.05: "B is better than A" (or A than B);
    * **ahead but unclear** — the interval excludes 0 but p ≥ 0.05 and every fold agrees (5 folds
      cannot go below p = 0.0625): "B ahead of A in n of n folds, but n folds cannot make it
      clear";
    * **folds disagree** — the interval excludes 0, p ≥ 0.05 and some fold goes the other way
      (a percentile bootstrap of 5 values is too narrow to trust alone);
    * **no clear difference** — the interval holds 0;
    * fewer than two pairs: "too few runs to compare".

    The numbers follow: mean difference B − A, its interval, p and the number of folds.
    """
    s = result.paired(a, b, [metric])[metric]
    if s["n"] < 2 or np.isnan(s["ci95"][0]):
        return f"{b} vs {a}: too few runs to compare"
    lo, hi = s["ci95"]
    d = fold_differences(result, a, b, metric)
    leader = b if s["diff"] > 0 else a
    other = a if leader == b else b
    ahead = int((d > 0).sum() if s["diff"] > 0 else (d < 0).sum())   # folds on the leader's side
    if (lo > 0 or hi < 0) and s["p"] < 0.05:
        word = f"{leader} is better than {other}"
    elif (lo > 0 or hi < 0) and ahead == len(d):
        word = (f"{leader} ahead of {other} in {ahead} of {len(d)} folds, but {len(d)} folds "
                f"cannot make it clear (p = {s['p']:.3f})")
    elif lo > 0 or hi < 0:
        word = (f"{leader} ahead of {other} on average but in only {ahead} of {len(d)} folds: the "
                f"folds disagree (p = {s['p']:.3f}; a percentile CI from {len(d)} folds is too "
                "narrow to trust alone)")
    else:
        word = f"no clear difference between {b} and {a}"
    return (f"{metric}: {word} (mean difference {b} − {a} {s['diff']:+.3f}, 95% CI "
            f"[{lo:+.3f}, {hi:+.3f}], p = {s['p']:.3f}, {s['n']} folds)")


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


def _load_run(json_path: Path, npz_path: Path, key: str) -> dict | None:
    """The cached metrics of a run, or None when absent; a damaged entry warns and is None."""
    if not json_path.exists():
        return None
    try:
        rec = json.loads(json_path.read_text())
        if rec.get("key") != key or not npz_path.exists():
            raise ValueError("incomplete entry" if rec.get("key") == key else "key mismatch")
        return {k: (float("nan") if rec["metrics"][k] is None else rec["metrics"][k])
                for k in METRICS}
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
def _run_metrics(p: Predictions, test_ds: Dataset) -> dict[str, float]:
    m = p.metrics()
    inst = [test_ds[i].instance_labels for i in range(len(test_ds))]
    if all(y is not None for y in inst):
        # one score per patch (ACMIL has several heads: their mean softmax, see slide_scores)
        loc = localization_auc(p.slide_scores, inst,
                               threshold=LOC_THRESHOLD)["mean_slide_auc"]
    else:
        loc = float("nan")
    return {"auc": m["auc"], "balanced_accuracy": m["balanced_accuracy"], "f1": m["macro_f1"],
            "loc_auc": loc, "top5_mass": p.mean_topk_mass(5, label=1),
            "entropy": p.mean_entropy()}


def run_experiments(dataset: Dataset, methods: Sequence[Method | str], seeds: Sequence[int] = (0,),
                    folds: int | None = None, *, epochs: int | None = None,
                    val_fraction: float = 0.2, cache_dir: str | Path = "runs/experiments",
                    progress: bool = True, threads: int | None = 1,
                    workers: int = 1) -> ExperimentResult:
    """Train and test every (method, seed, fold); reuse the runs already cached.

    ``methods``: registered names or :class:`~milhelpers.methods.Method` objects (variants from
    ``with_options`` need their own name). ``folds``: see :func:`experiment_folds` — the folds
    are the same for every seed; the seed varies initial weights, data order and the validation
    split (``run_seed(seed, fold)``). ``epochs`` overrides each method's default.

    Per run (test fold only): slide ``auc``, ``balanced_accuracy``, macro ``f1``, ``loc_auc``
    (mean within-slide localisation AUC of the instance scores, patches with tumour fraction
    ≥ 0.25 as positives; NaN without instance labels), ``top5_mass`` (mean share of the five
    most-attended patches, positive slides), ``entropy`` (mean normalised attention entropy
    H(a)/log N); with several attention heads all three use the heads' mean softmax
    (:attr:`~milhelpers.train.Predictions.slide_attention`), ``seconds`` (training wall time) and ``best_epoch`` (the selected epoch).

    ``threads``: torch's CPU threads while training (restored afterwards; ``None`` leaves the
    setting alone). One bag per step makes each operation small, so a second thread mostly waits:
    on the course's 2-core machine, shared with other jobs, one thread trained ABMIL about 6×
    faster than two.

    ``workers``: train the runs missing from the cache in this many processes at once (each with
    ``threads`` threads), then read every run from the cache as a serial call would. Runs are
    seeded one by one, so the results are the same as with one worker; only ``seconds`` changes
    with what else the machine is doing. A run that raises does not stop the others: its error
    is raised once they are finished and cached. The processes are forked, which needs Linux;
    elsewhere the runs are trained one after another with a warning.
    """
    from .train import torch_threads

    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    with torch_threads(threads):
        return _run_all(dataset, methods, seeds, folds, epochs, val_fraction, cache_dir, progress,
                        int(workers), threads)


#: The job a forked worker runs (set in the child by :func:`_worker_init`: forking copies the
#: runner's closures, datasets and methods, so nothing needs pickling but the job index).
_WORKER_JOB = None


def _worker_init(job, threads: int | None) -> None:
    global _WORKER_JOB
    import signal

    # Ctrl-C reaches every process of the terminal's group: the runner stops the pool itself
    # (leaving ``with pool`` terminates the workers), so a worker must not die with a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_JOB = job
    torch.set_num_threads(int(threads or 1))


def _worker_call(i: int) -> tuple[set, BaseException | None]:
    return _WORKER_JOB(i)


def _can_fork() -> bool:
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _run_all(dataset, methods, seeds, folds, epochs, val_fraction, cache_dir, progress,
             workers: int = 1, threads: int | None = 1) -> ExperimentResult:
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
    splits = experiment_folds(dataset, folds)
    labels = np.asarray(dataset.labels)
    groups = getattr(dataset, "case_ids", None)
    fingerprint = data_fingerprint(dataset)
    ids = list(dataset.slide_ids)
    overrides = {} if epochs is None else {"epochs": int(epochs)}
    jobs = [(m, s, k) for m in methods for s in seeds for k in range(len(splits))]
    rows = []
    trained: set[tuple[str, int, int]] = set()   # (method, seed, fold) of the runs trained now
    n_classes = n_classes_of(dataset)

    def where(method: Method, seed: int, k: int):
        """(config, key, json path, npz path) of a run."""
        cfg = method.train_config(seed=run_seed(seed, k), progress=False, **overrides)
        key = run_key(method, cfg, fingerprint, seed, k, [ids[i] for i in splits[k][1]],
                      val_fraction)
        return (cfg, key, *_run_paths(cache_dir, method.name, seed, k, key))

    def one_run(method: Method, seed: int, k: int, force: bool = False):
        """(metrics, key, model): the run from the cache (model None) or trained now."""
        cfg, key, json_path, npz_path = where(method, seed, k)
        metrics = None if force else _load_run(json_path, npz_path, key)
        if metrics is not None:
            return metrics, key, None
        with _run_lock(json_path):
            # read again under the lock: another process may have trained it since the first
            # look (while this one waited, or just before it asked)
            metrics = None if force else _load_run(json_path, npz_path, key)
            if metrics is not None:
                return metrics, key, None
            return train_run(method, seed, k, cfg, key, json_path, npz_path)

    def train_run(method: Method, seed: int, k: int, cfg, key: str, json_path: Path,
                  npz_path: Path):
        tr, te = splits[k]
        rs = run_seed(seed, k)
        tr_idx, va_idx = train_val_split(tr, labels, val_fraction, seed=rs,
                                         **({"groups": groups} if groups is not None else {}))
        stage = {"wall": 0.0, "seconds": 0.0}

        def pretrained(other) -> Any:
            """Another method's trained model of this seed, fold and split (stage one)."""
            other = as_method(other)
            t = time.perf_counter()
            model, secs = trained_model(other, seed, k)
            stage["wall"] += time.perf_counter() - t
            stage["seconds"] += secs
            return model

        if not trained:   # fit seeds the same way: this only keeps torch's one-time
            seed_everything(rs)   # imports (about 2 s) out of the first run's seconds
        t0 = time.perf_counter()
        res = method.fit(dataset.subset(tr_idx), dataset.subset(va_idx), cfg, fold=k,
                         pretrained=pretrained)
        # a stage one counts with its recorded seconds, cached or not, so costs are comparable
        seconds = time.perf_counter() - t0 - stage["wall"] + stage["seconds"]
        test_ds = dataset.subset(te)
        pred = predict(res.model, test_ds)
        metrics = {**_run_metrics(pred, test_ds), "seconds": seconds,
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
                  "metrics": metrics, "history": res.history.to_dict(orient="list")}
        with atomic_output(json_path) as tmp:
            tmp.write_text(json.dumps(_nan_to_none(record), indent=1, default=_json_default))
        trained.add((method.name, seed, k))
        return metrics, key, res.model

    def trained_model(method: Method, seed: int, k: int):
        """(model, recorded seconds) of a run: its weights from the cache (``.pt``) when the run
        is cached, else trained now (and cached) through :func:`one_run`."""
        metrics, key, model = one_run(method, seed, k)
        if model is None:
            pt = _run_paths(cache_dir, method.name, seed, k, key)[0].with_suffix(".pt")
            try:
                state = torch.load(pt, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError, EOFError):
                state = None          # cached before weights were kept: train it again
            if state is None:
                metrics, key, model = one_run(method, seed, k, force=True)
            else:
                ctx = BuildContext(int(dataset.dim), n_classes, k, run_seed(seed, k))
                model = method.build_model(ctx)
                model.load_state_dict(state)
        return model, float(metrics["seconds"])

    if workers > 1:
        missing = [j for j in jobs if not where(*j)[2].exists()]
        if len(missing) > 1 and not _can_fork():
            warnings.warn(f"workers={workers} needs processes that fork (Linux); training the "
                          f"{len(missing)} runs one after another", RuntimeWarning, stacklevel=3)
        elif len(missing) > 1:
            def train_missing(i: int) -> tuple[set, BaseException | None]:
                """Train missing run ``i`` in this worker: (the runs it trained — a two-stage
                run may train its first stage too —, the error it raised or None)."""
                before = set(trained)
                try:
                    one_run(*missing[i])
                except Exception as err:   # reported after the other runs are finished
                    return trained - before, err
                return trained - before, None

            errors = []
            pool = multiprocessing.get_context("fork").Pool(
                min(workers, len(missing)), _worker_init, (train_missing, threads))
            with pool:   # leaving the block (Ctrl-C) terminates the workers
                done = pool.imap_unordered(_worker_call, range(len(missing)))
                for runs_trained, err in progress_bar(
                        done, total=len(missing), unit="run", desc=f"runs ({workers} workers)",
                        enabled=progress):
                    trained |= runs_trained   # the workers' own sets are gone with them
                    errors += [err] if err is not None else []
            if errors:   # as a serial call would, once every other run is cached
                raise errors[0]
    bar = progress_bar(jobs, desc="runs", unit="run", enabled=progress)
    for method, seed, k in bar:
        metrics, key, _ = one_run(method, seed, k)
        rows.append({"method": method.name, "seed": seed, "fold": k, **metrics, "key": key})
        if progress and hasattr(bar, "set_postfix"):
            n_now = len(trained & {(r["method"], r["seed"], r["fold"]) for r in rows})
            bar.set_postfix(trained=n_now, cached=len(rows) - n_now)
    runs = pd.DataFrame(rows, columns=["method", "seed", "fold", *METRICS, "key"])
    listed = {(m.name, s_, k) for m, s_, k in jobs}
    meta = {"seeds": seeds, "folds": len(splits), "epochs": epochs,
            "first_stages_trained": len(trained - listed),
            "val_fraction": val_fraction, "n_slides": len(ids), "data_fingerprint": fingerprint,
            "fold_source": "labels 'fold' column" if "fold" in getattr(dataset, "table", {})
            else "stratified_folds(seed=0, groups=case_ids)"}
    return ExperimentResult(runs, cache_dir, names, len(trained & listed), meta)
