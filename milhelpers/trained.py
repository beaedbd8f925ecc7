"""A trained run on disk: one method cross-validated on your own features, and what you do with
it afterwards — evaluate it on held-out slides, predict new ones, draw a slide's attention.

``python -m milhelpers train | evaluate | predict | heatmap`` are thin wrappers of
:func:`train_run`, :func:`evaluate_run`, :func:`predict_folder` and :func:`draw_heatmap`.

A run folder (``RUN_DIR``)::

    run.json          what rebuilds the models: method name, model options, training settings,
                      the method's code fingerprint, plugins, input width, classes, label map,
                      the runs (seed, fold, key) and the data they were trained on
    runs/             the experiment runner's cache: per (seed, fold) the fold model's weights
                      (.pt), its test-fold predictions (.npz) and metrics (.json); a two-stage
                      method (MHIM) also caches its first stage's runs there
    predictions.csv   out-of-fold predictions, one row per (slide, seed): slide_id, case_id,
                      label, fold, seed, prob_<class> …
    summary.json      the runner's results (:meth:`~milhelpers.experiments.ExperimentResult.to_json`)

``run.json`` is written last, so a folder without it is an unfinished run: the same ``train``
command resumes it (finished (seed, fold) runs are read from ``runs/``).

How the fold models are combined: each of the M = folds × seeds models scores a slide, and the
slide's class probabilities are their mean, p(c | slide) = (1/M) Σ_m softmax(logits_m)_c (an
ensemble of models each trained on a different part of the cohort); the predicted class is the
most probable one. A heatmap shows the mean of the models' attention, ā_k = (1/M) Σ_m a_mk (each
model's heads averaged first), which is again a distribution over the slide's patches.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from .h5io import atomic_output

__all__ = ["RUN_FILE", "RunExistsError", "CodeChangedError", "TrainedRun", "train_run",
           "evaluate_run", "predict_folder", "draw_heatmap", "case_bootstrap"]

RUN_FILE = "run.json"
#: What ``train`` writes into a run folder (anything else there is left alone).
_OWN = {RUN_FILE, "runs", "predictions.csv", "summary.json"}
_FORMAT = 1


class RunExistsError(FileExistsError):
    """An output that is already there (a finished run, a predictions file, a figure)."""


class CodeChangedError(ValueError):
    """The method's code is not what the run was trained with."""


def _refuse_existing(path: Path, overwrite: bool, what: str) -> None:
    if path.exists() and not overwrite:
        raise RunExistsError(f"{path} exists ({what}); pass --overwrite to replace it, or "
                             "choose another path")


def _class_names(ds) -> list[str]:
    names = getattr(ds, "class_names", None)
    return list(names) if names else [str(c) for c in range(int(ds.n_classes))]


def _prob_columns(names: Sequence[str]) -> list[str]:
    return [f"prob_{n}" for n in names]


def _encoder_of(features_dir: Path) -> str | None:
    """The encoder recorded in the first features file (this package writes it), if any."""
    import h5py

    for p in sorted(features_dir.glob("*.h5"))[:1]:
        try:
            with h5py.File(p, "r") as f:
                enc = f["features"].attrs.get("encoder")
        except (OSError, KeyError):
            return None
        return None if enc is None else str(enc)
    return None


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------
def train_run(method_name: str, features_dir: str | Path, labels_csv: str | Path,
              run_dir: str | Path, *, folds: int | None = None, seeds: Sequence[int] = (0,),
              epochs: int | None = None, label_map: dict | None = None,
              plugins: Sequence[str] = (), overwrite: bool = False, workers: int = 1,
              progress: bool = True, report=print):
    """Cross-validate registered method ``method_name`` on a features folder + labels CSV and
    write ``run_dir`` (see the module docstring). Returns the runner's
    :class:`~milhelpers.experiments.ExperimentResult`.

    ``folds``: the labels' ``fold`` column where there is one, else 5 stratified folds grouped
    by ``case_id`` (:func:`~milhelpers.experiments.experiment_folds`); ``epochs``: the method's
    own default when None. A finished run in ``run_dir`` is refused unless ``overwrite``.
    """
    from .datasets import BagDataset
    from .experiments import run_experiments
    from .methods import get_method
    from .params import check_folds
    from .plugins import load_plugin

    run_dir = Path(run_dir)
    _refuse_existing(run_dir / RUN_FILE, overwrite, "a trained run")
    if run_dir.is_dir():
        foreign = sorted(p.name for p in run_dir.iterdir()
                         if p.name not in _OWN and not p.name.startswith("."))
        if foreign:
            raise RunExistsError(f"{run_dir} holds other files ({', '.join(foreign[:5])}); "
                                 "give train an empty or new folder")
    plugin_specs = []
    for spec in plugins:
        names = load_plugin(spec)
        report(f"plugin {spec}: registered {', '.join(names) or 'nothing'}")
        plugin_specs.append(str(Path(spec).resolve()) if Path(spec).is_file() else str(spec))
    method = get_method(method_name)
    ds = BagDataset(features_dir, labels_csv, label_map=label_map)
    k = folds if folds is not None else (ds.table["fold"].nunique()
                                         if "fold" in ds.table else 5)
    check_folds(k, Path(labels_csv), name="--folds")
    t0 = time.perf_counter()
    result = run_experiments(ds, [method], list(seeds), folds, epochs=epochs,
                             cache_dir=run_dir / "runs", progress=progress, workers=workers)
    seconds = time.perf_counter() - t0
    names = _class_names(ds)
    # out-of-fold predictions: each slide scored by the fold model that held it out
    rows = []
    cases = dict(zip(ds.slide_ids, ds.case_ids))
    folds_of = {}
    for r in result.runs.itertuples():
        p = result.predictions(method.name, int(r.seed), int(r.fold))
        for sid, y, probs in zip(p.slide_ids, p.labels, p.probs):
            folds_of[sid] = int(r.fold)
            rows.append({"slide_id": sid, "case_id": cases[sid], "label": names[int(y)],
                         "fold": int(r.fold), "seed": int(r.seed),
                         **dict(zip(_prob_columns(names), map(float, probs)))})
    oof = pd.DataFrame(rows).sort_values(["seed", "slide_id"], kind="stable")
    with atomic_output(run_dir / "predictions.csv") as tmp:
        oof.to_csv(tmp, index=False)
    with atomic_output(run_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(result.to_json(), indent=1))
    from .experiments import _json_default

    cfg = method.train_config(**({"epochs": int(epochs)} if epochs is not None else {}))
    info = {
        "format": _FORMAT, "method": method.name, "model_kwargs": dict(method.model_kwargs),
        "train_config": {k_: v for k_, v in dataclasses.asdict(cfg).items()
                         if k_ not in ("seed", "progress")},
        "code_fingerprint": method.code_fingerprint(),
        "model_code_fingerprint": _model_fingerprint(method),
        "plugins": plugin_specs, "in_dim": int(ds.dim), "n_classes": len(names),
        "class_names": names, "label_map": label_map, "encoder": _encoder_of(Path(features_dir)),
        "features_dir": str(Path(features_dir).resolve()),
        "labels_csv": str(Path(labels_csv).resolve()),
        "slides": list(ds.slide_ids), "cases": sorted(set(map(str, ds.case_ids))),
        "seeds": [int(s) for s in seeds], "folds": int(result.meta["folds"]),
        "fold_source": result.meta["fold_source"],
        "runs": [{"seed": int(r.seed), "fold": int(r.fold), "key": r.key}
                 for r in result.runs.itertuples()],
        "data_fingerprint": result.meta["data_fingerprint"],
        "seconds": seconds,
    }
    with atomic_output(run_dir / RUN_FILE) as tmp:
        tmp.write_text(json.dumps(info, indent=1, default=_json_default))
    _prune_cache(run_dir / "runs", method.name, {r["key"][:16] for r in info["runs"]})
    return result


def _model_fingerprint(method) -> str:
    """The fingerprint of the model code alone (the factory and what it builds), to tell a
    changed trainer from a changed model in :class:`CodeChangedError`'s message."""
    from .code_fingerprint import code_fingerprint

    return code_fingerprint(method.build, dict(method.model_kwargs))


def _prune_cache(cache: Path, method: str, keep: set[str]) -> None:
    """Remove the method's cached runs that the finished run does not list (an overwritten
    run's old settings), so ``runs/<method>/`` holds exactly the models of ``run.json``. Other
    folders are left: a two-stage method's first stage (MHIM's baseline) is cached there."""
    for f in (cache / method).glob("seed*_fold*_*.*"):
        if f.stem.rsplit("_", 1)[-1] not in keep:
            f.unlink()


# --------------------------------------------------------------------------------------------
# a trained run
# --------------------------------------------------------------------------------------------
@dataclass
class TrainedRun:
    """The fold models of a run folder, rebuilt with the current code (:meth:`load`)."""

    run_dir: Path
    info: dict[str, Any]
    method: Any
    models: list  # [MILModel], one per (seed, fold), in eval mode
    code_changed: bool = False

    @property
    def in_dim(self) -> int:
        return int(self.info["in_dim"])

    @property
    def class_names(self) -> list[str]:
        return list(self.info["class_names"])

    @classmethod
    def load(cls, run_dir: str | Path, plugins: Sequence[str] = (),
             allow_code_change: bool = False) -> "TrainedRun":
        """Rebuild every fold model of ``run_dir`` and load its weights.

        The run's plugins are imported again (``plugins`` adds or replaces files that moved).
        Refuses, with :class:`CodeChangedError`, a method whose code fingerprint differs from
        the one it was trained with, unless ``allow_code_change``.
        """
        from .methods import BuildContext, as_method, get_method
        from .plugins import PluginError, load_plugin
        from .train import run_seed

        run_dir = Path(run_dir)
        path = run_dir / RUN_FILE
        if not path.is_file():
            hint = (" (an unfinished run: rerun the train command to finish it)"
                    if (run_dir / "runs").is_dir() else "")
            raise FileNotFoundError(f"{run_dir} is not a trained run: no {RUN_FILE}{hint}. "
                                    "Train one with `python -m milhelpers train --out "
                                    f"{run_dir} ...`")
        try:
            info = json.loads(path.read_text())
            info["method"], info["runs"], info["in_dim"]
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a run file this version can read ({err})") from None
        for spec in plugins:
            load_plugin(spec)
        for spec in info.get("plugins", []):
            if spec in plugins:
                continue
            try:
                load_plugin(spec)
            except PluginError as err:
                if any(Path(p).name == Path(spec).name for p in plugins):
                    continue     # moved, and given again with --plugin
                raise PluginError(f"{err}; the run was trained with this plugin: pass "
                                  "--plugin FILE where it is now") from None
        try:
            method = get_method(info["method"])
        except KeyError:
            raise KeyError(f"{run_dir} was trained with method {info['method']!r}, which is not "
                           "registered now; pass the plugin that registers it with --plugin "
                           "FILE") from None
        now = method.code_fingerprint()
        changed = now != info.get("code_fingerprint")
        if changed and not allow_code_change:
            model_same = _model_fingerprint(method) == info.get("model_code_fingerprint")
            raise CodeChangedError(
                f"{run_dir}: the code of method {method.name!r} changed since this run was "
                f"trained (code fingerprint {info.get('code_fingerprint', '?')[:12]} then, "
                f"{now[:12]} now; "
                + ("the model code is unchanged, the training code differs" if model_same
                   else "its model code changed too")
                + "). Train it again (`python -m milhelpers train ... --overwrite`), or pass "
                "--allow-code-change to use the saved weights with the current code.")
        models = []
        n_classes = int(info["n_classes"])
        for r in info["runs"]:
            seed, fold = int(r["seed"]), int(r["fold"])
            weights = run_dir / "runs" / method.name / f"seed{seed}_fold{fold}_{r['key'][:16]}.pt"
            if not weights.is_file():
                raise FileNotFoundError(f"{weights}: the weights of seed {seed}, fold {fold} are "
                                        "missing; train the run again (--overwrite)")
            ctx = BuildContext(int(info["in_dim"]), n_classes, fold, run_seed(seed, fold))
            # a two-stage method (MHIM) builds its teacher from another method: its weights are
            # part of the saved state, so an untrained model of that architecture is enough
            ctx = dataclasses.replace(ctx, pretrained=lambda other, ctx=ctx:
                                      as_method(other).build_model(ctx))
            model = method.build_model(ctx)
            try:
                model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            except RuntimeError as err:
                raise CodeChangedError(f"{weights}: the saved weights do not fit the model the "
                                       f"current code builds ({str(err).splitlines()[0]}); train "
                                       "the run again (--overwrite)") from None
            models.append(model.eval())
        return cls(run_dir, info, method, models, changed)

    def check_width(self, dim: int, where: str) -> None:
        """Refuse features of another width than the models take, saying which encoder made
        the training features where it is known."""
        if int(dim) != self.in_dim:
            enc = self.info.get("encoder")
            raise ValueError(f"{where}: features are {dim}-d, but the models of {self.run_dir} "
                             f"take {self.in_dim}-d features"
                             + (f" (made with encoder {enc})" if enc else "")
                             + "; extract these slides with the encoder the run was trained on")

    @torch.no_grad()
    def score(self, features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(probs (C,), attention (N,))`` for one slide's features (N, D): the mean over the
        fold models of their class probabilities and of their head-averaged attention."""
        from .models.base import slide_attention

        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        self.check_width(x.shape[1], "these features")
        probs, att = [], []
        for model in self.models:
            out = model(x)
            probs.append(torch.softmax(out.logits.float(), -1)[0].numpy())
            att.append(slide_attention(out.attention.float())[0].numpy())
        return np.mean(probs, 0), np.mean(att, 0)


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------
def case_bootstrap(labels: np.ndarray, probs: np.ndarray, groups: Sequence[str],
                   n_resamples: int = 2000, seed: int = 0,
                   confidence: float = 0.95) -> dict[str, Any]:
    """AUC and balanced accuracy of ``probs`` (S, C) against ``labels`` (S,), with percentile
    bootstrap intervals over cases (:func:`milhelpers.stats.slide_metric_interval`).

    Each resample draws the G cases (``groups``: a case id per slide; the slide ids when slides
    are independent) with replacement within their label stratum and keeps all their slides,
    so slides of one patient move together and every resample holds both classes. AUC:
    P(class 1) for two classes, one-vs-rest macro for more (NaN, with no interval, when the
    labels hold one class: ``auc_resamples`` is then 0, else every resample). Balanced
    accuracy: of the most probable class.
    """
    from .stats import slide_metric_interval

    labels = np.asarray(labels).astype(np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    scores = probs[:, 1] if probs.shape[1] == 2 else probs
    common = dict(groups=np.asarray(groups).astype(str), n_boot=n_resamples, seed=seed,
                  confidence=confidence)
    bacc = slide_metric_interval(labels, scores, metric="balanced_accuracy", **common)
    if len(np.unique(labels)) > 1:
        auc = slide_metric_interval(labels, scores, metric="auc", **common)
    else:
        auc = {"value": float("nan"), "ci": [float("nan")] * 2}
    return {"auc": auc["value"], "auc_ci": auc["ci"], "balanced_accuracy": bacc["value"],
            "balanced_accuracy_ci": bacc["ci"], "n_resamples": n_resamples,
            "auc_resamples": n_resamples if len(np.unique(labels)) > 1 else 0,
            "n_slides": int(len(labels)), "n_cases": bacc["n_cases"], "confidence": confidence}


def evaluate_run(run: TrainedRun, features_dir: str | Path, labels_csv: str | Path,
                 n_resamples: int = 2000, seed: int = 0) -> tuple[dict[str, Any], pd.DataFrame]:
    """A trained run on a held-out labels CSV: :func:`case_bootstrap` of the fold models' mean
    probabilities (``stats``), and one row per slide (``slide_id``, ``case_id``, ``label``,
    ``prob_<class>`` …, ``predicted``). Labels are read with the run's label map; slides or
    cases the run was trained on are named in ``stats['overlap']``."""
    from .datasets import BagDataset, DataMismatchError

    labels_csv = Path(labels_csv)
    label_map = run.info.get("label_map")
    if label_map is None:
        raw = pd.read_csv(labels_csv, dtype={"slide_id": str}) if labels_csv.is_file() else None
        if raw is not None and "label" in raw and not pd.api.types.is_numeric_dtype(
                raw["label"].dropna()):
            raise DataMismatchError(f"{labels_csv}: text labels, but {run.run_dir} was trained "
                                    "on integer labels 0…C−1; write the held-out labels the same "
                                    "way")
    ds = BagDataset(features_dir, labels_csv, label_map=label_map)
    run.check_width(ds.dim, str(features_dir))
    if ds.n_classes > len(run.class_names):
        raise DataMismatchError(f"{labels_csv}: labels go up to class {ds.n_classes - 1}, but "
                                f"the run knows {len(run.class_names)} classes "
                                f"{run.class_names}")
    probs = np.stack([run.score(b.features)[0] for b in ds.bags])
    stats = case_bootstrap(ds.labels, probs, ds.case_ids, n_resamples, seed)
    stats["overlap_slides"] = sorted(set(ds.slide_ids) & set(run.info.get("slides", [])))
    stats["overlap_cases"] = sorted(set(map(str, ds.case_ids)) & set(run.info.get("cases", [])))
    names = run.class_names
    table = pd.DataFrame({"slide_id": ds.slide_ids, "case_id": ds.case_ids,
                          "label": [names[int(y)] for y in ds.labels],
                          **dict(zip(_prob_columns(names), probs.T)),
                          "predicted": [names[int(i)] for i in probs.argmax(1)]})
    return stats, table


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------
def predict_folder(run: TrainedRun, features_dir: str | Path
                   ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Score every ``<slide_id>.h5`` in ``features_dir``: one row per slide (``slide_id``,
    ``n_patches``, ``prob_<class>`` … (the fold models' mean), ``predicted``), and
    ``{file name: why}`` for the files that could not be used (unreadable, NaN features,
    another feature width) — one bad file never stops the others. A folder with no features
    file, or whose every file has the wrong width, raises."""
    from .h5io import read_features

    folder = Path(features_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"features folder {folder} does not exist")
    files = sorted(folder.glob("*.h5"))
    if not files:
        raise FileNotFoundError(f"{folder} holds no <slide_id>.h5 features files; run "
                                "`python -m milhelpers extract` first")
    rows, failed, widths = [], {}, {}
    names = run.class_names
    for path in files:
        try:
            feats, _ = read_features(path)
            if feats.ndim != 2 or len(feats) == 0:
                raise ValueError(f"{path}: no patches (features of shape {feats.shape})")
            if not np.isfinite(feats).all():
                raise ValueError(f"{path}: NaN/inf features; extract this slide again")
            widths[path.name] = feats.shape[1]
            run.check_width(feats.shape[1], str(path))
            probs, _ = run.score(feats)
        except (OSError, KeyError, ValueError) as err:
            failed[path.name] = err.args[0] if err.args else str(err)
            continue
        rows.append({"slide_id": path.stem, "n_patches": int(len(feats)),
                     **dict(zip(_prob_columns(names), map(float, probs))),
                     "predicted": names[int(np.argmax(probs))]})
    if files and not rows and widths and all(w != run.in_dim for w in widths.values()):
        run.check_width(next(iter(widths.values())), f"every file in {folder}")
    return pd.DataFrame(rows, columns=["slide_id", "n_patches", *_prob_columns(names),
                                       "predicted"]), failed


# --------------------------------------------------------------------------------------------
# heatmap
# --------------------------------------------------------------------------------------------
def draw_heatmap(run: TrainedRun, slide_path: str | Path, features_h5: str | Path,
                 out: str | Path, mpp: float | None = None, dpi: int = 120) -> dict[str, Any]:
    """The run's attention on one slide, drawn as the chapters draw it
    (:func:`milhelpers.viz.attention_panels`: raw attention on an absolute scale and its
    within-slide rank, each with a colour bar and a µm scale bar), written to ``out`` (PNG).
    Returns the slide's probabilities and attention."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import viz
    from .datasets import infer_patch_size_level0
    from .h5io import read_features
    from .slides import Slide

    slide_path, features_h5, out = Path(slide_path), Path(features_h5), Path(out)
    if not slide_path.is_file():
        raise FileNotFoundError(f"slide {slide_path}: no such file")
    feats, coords = read_features(features_h5)
    run.check_width(feats.shape[1], str(features_h5))
    if not len(coords):
        raise ValueError(f"{features_h5}: no patch coordinates, so the attention cannot be placed "
                         "on the slide")
    import h5py

    with h5py.File(features_h5, "r") as f:
        size0 = f["coords"].attrs.get("patch_size_level0")
    size0 = int(size0) if size0 is not None and int(size0) > 0 else infer_patch_size_level0(coords)
    if not size0:
        raise ValueError(f"{features_h5}: the patch size is unknown (no patch_size_level0 "
                         "attribute and no regular coordinate grid)")
    with Slide(slide_path, mpp=mpp) as s:
        w, h = s.dimensions
        s.mpp                                     # a slide without resolution fails here
    far = coords.max(0) + size0
    if far[0] > w * 1.02 or far[1] > h * 1.02:
        raise ValueError(f"{features_h5}: patches reach ({int(far[0])}, {int(far[1])}) px at "
                         f"level 0, beyond the slide's {w} × {h}: are these the features of "
                         f"another slide than {slide_path.name}?")
    probs, attention = run.score(feats)
    k = int(np.argmax(probs))
    fig, axes = plt.subplots(1, 2, figsize=(8.2, 3.9), layout="constrained")
    viz.attention_panels(slide_path, coords, size0, attention, axes=axes, title=slide_path.stem,
                         mpp=mpp)
    fig.suptitle(f"{run.info['method']}: P({run.class_names[k]}) = {probs[k]:.2f}, attention "
                 f"averaged over {len(run.models)} fold models", fontsize=10)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return {"probs": probs, "attention": attention, "n_patches": int(len(feats))}
