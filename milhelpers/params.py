"""Checks for a chapter's parameters, run in the cell right after the ``parameters`` cell.

A learner (or papermill) may set any parameter; a wrong one should stop the chapter at once with
a message that names the parameter, its value and what to do, not minutes later with an
``IndexError`` deep in the trainer. Each check raises :class:`ParameterError` (a ``ValueError``)
and returns the cleaned value.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["ParameterError", "setup_chapter", "chapter_dir", "papermill_cells", "expect",
           "check_int", "check_path", "check_choices", "check_seeds", "check_folds", "check_label_map", "check_chapter01_params", "check_chapter02",
           "check_chapter03", "check_lambda", "aem_bases", "check_chapter04",
           "check_chapter05", "check_chapter06", "check_chapter07", "CHAPTER07_FILES"]


class ParameterError(ValueError):
    """A chapter parameter that cannot work; the message says which one and what to do."""


# --------------------------------------------------------------------------------------------
# papermill: which names were given, their types, and where relative paths start
# --------------------------------------------------------------------------------------------
#: Names papermill itself may inject (``--inject-paths``): never refused.
PAPERMILL_NAMES = {"PAPERMILL_INPUT_PATH", "PAPERMILL_OUTPUT_PATH"}
#: A parameter whose name ends so holds a path: given relative to papermill's working folder.
PATH_SUFFIXES = ("_dir", "_csv", "_path", "_file")
#: The chapters' own folder in this repository.
NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
_NO_DEFAULT = object()


def _assigned(source: str) -> dict[str, Any]:
    """Names a cell assigns at its top level, with their literal values (or ``_NO_DEFAULT``)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out: dict[str, Any] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []
        for t in targets:
            if isinstance(t, ast.Name):
                try:
                    out[t.id] = ast.literal_eval(node.value)
                except (ValueError, SyntaxError, TypeError):
                    out[t.id] = _NO_DEFAULT
    return out


def papermill_cells(history: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(declared, injected)`` from a kernel's input history: the names (with their literal
    defaults) of the ``parameters`` cell and those of the cell papermill injected after it (it
    starts with the line ``# Parameters``); ``None`` when papermill injected nothing."""
    cells = [h for h in history if h and h.strip()]
    last = max((i for i, h in enumerate(cells) if h.lstrip().startswith("# Parameters\n")
                or h.strip() == "# Parameters"), default=None)
    if last is None or last == 0:
        return None
    return _assigned(cells[last - 1]), _assigned(cells[last])


def _parse_literal(name: str, text: str) -> Any:
    """A list or dict given to papermill's ``-p`` as text: JSON or a Python literal."""
    import ast
    import json

    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    raise _bad(name, text, "is neither JSON nor a Python literal; write a list as "
               "'[0, 1, 2]' and a dict as '{\"normal\": 0, \"tumor\": 1}'")


def _by_papermill() -> bool:
    """Whether the process that started this kernel is papermill (Linux; False elsewhere)."""
    try:
        cmd = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any("papermill" in Path(part.decode(errors="ignore")).name for part in cmd)


def chapter_dir(notebook: str, given: dict[str, Any] | None = None) -> Path | None:
    """The folder a chapter's relative paths start in: where ``notebook`` lives.

    The working folder when it holds the notebook (Jupyter, nbval, ``milhelpers run-notebooks``
    and sweeps start kernels there); else the folder of ``PAPERMILL_INPUT_PATH`` when papermill
    was given ``--inject-paths``; else this repository's ``notebooks/`` when it holds the
    notebook. ``None`` when none of them does.
    """
    cwd = Path.cwd()
    if (cwd / notebook).is_file():
        return cwd
    path = (given or {}).get("PAPERMILL_INPUT_PATH")
    if isinstance(path, str) and Path(path).expanduser().is_file():
        return Path(path).expanduser().resolve().parent
    if (NOTEBOOKS_DIR / notebook).is_file():
        return NOTEBOOKS_DIR
    return None


def setup_chapter(namespace: dict[str, Any], notebook: str,
                  history: Sequence[str] | None = None) -> Path:
    """The first call of a chapter's check cell: make papermill runs behave as the chapter in
    Jupyter, from any folder. Returns the working folder afterwards (the chapter's folder
    under papermill).

    1. A name papermill injected that the ``parameters`` cell does not declare is refused,
       naming the closest declared name (``-p lr -0.001`` to chapter 02 would otherwise be
       ignored with a warning buried in the log).
    2. A list or dict parameter given as text (``-p seeds "[0, 1]"``, ``-p label_map
       '{"normal": 0, "tumor": 1}'``) is parsed as JSON or a Python literal.
    3. Paths: a relative path given to papermill (a name ending in ``_dir``, ``_csv``, ``_path``
       or ``_file``) is read from the folder papermill was started in, as a shell user expects;
       then the working folder becomes the chapter's own (:func:`chapter_dir`), so the chapter's
       defaults (``../data/cohort``, ``runs/02``) land in this repository and not beside the
       folder you ran papermill from. Without papermill nothing moves.

    ``namespace`` is the notebook's ``globals()`` (values are replaced in it); ``history`` the
    kernel's input history (IPython's, by default).
    """
    import difflib

    if history is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
        history = list(shell.history_manager.input_hist_raw) if shell is not None else []
    cells = papermill_cells(history)
    declared, injected = cells if cells is not None else ({}, {})
    unknown = sorted(set(injected) - set(declared) - PAPERMILL_NAMES)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.0)
            hints.append(f"parameter {name}={namespace.get(name)!r} is not a parameter of "
                         f"{notebook}" + (f"; the closest is {close[0]!r}" if close else ""))
        raise ParameterError("; ".join(hints) + f". Its parameters: {', '.join(declared)} "
                             "(papermill -p NAME VALUE takes only these).")
    caller = Path.cwd()
    for name in injected:
        if name in PAPERMILL_NAMES or name not in namespace:
            continue
        value, default = namespace[name], declared.get(name, _NO_DEFAULT)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{", "(") and (
                default is None or isinstance(default, (list, tuple, dict))):
            namespace[name] = value = _parse_literal(name, value.strip())
        if (isinstance(value, str) and name.endswith(PATH_SUFFIXES) and value
                and not Path(value).expanduser().is_absolute()):
            namespace[name] = str(caller / value)
    home = chapter_dir(notebook, namespace)
    if home is not None and home != caller and (cells is not None or _by_papermill()):
        os.chdir(home)
    return Path.cwd()


def expect(condition: bool, message: str, strict: bool) -> bool:
    """A chapter's teaching check: ``assert`` on the course's own cohort (``strict``), where the
    expectation is part of the lesson; on a user's data print a warning and go on, since another
    dataset may simply behave differently. Returns ``condition``."""
    if condition:
        return True
    if strict:
        raise AssertionError(message)
    print(f"WARNING (teaching expectation not met on this data): {message}")
    return False


def progress_enabled() -> bool:
    """Whether a chapter should draw progress bars: yes in a live kernel, no when
    ``TQDM_DISABLE`` is set to a true value (tests, nbval, ``run-notebooks``). Chapters pass it as
    ``progress=``: tqdm's notebook bars ignore ``TQDM_DISABLE``, and an executed copy would keep
    their first frame ("0/39") as a frozen output."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("1", "true", "yes", "on")


__all__ += ["progress_enabled"]


def _bad(name: str, value: Any, why: str) -> ParameterError:
    return ParameterError(f"parameter {name}={value!r}: {why}")


def check_int(value: Any, name: str, minimum: int = 1, hint: str = "") -> int:
    """``value`` as an int ≥ ``minimum`` (bools and non-integral numbers are refused; numpy
    integers, e.g. from ``np.arange``, are accepted)."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok and isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok or value < minimum:
        raise _bad(name, value, f"must be an integer >= {minimum}" + (f"; {hint}" if hint else ""))
    return int(value)


def check_path(value: Any, name: str, kind: str = "any", hint: str = "") -> Path:
    """``value`` as an existing path: ``kind`` is ``"file"``, ``"dir"`` or ``"any"``."""
    if value is None or str(value) == "":
        raise _bad(name, value, "a path is required" + (f"; {hint}" if hint else ""))
    p = Path(value).expanduser()
    if not p.exists():
        raise _bad(name, str(value), f"{p.resolve()} does not exist"
                   + (f"; {hint}" if hint else "; check the path (relative paths start in "
                      "the notebooks/ folder)"))
    if kind == "dir" and not p.is_dir():
        raise _bad(name, str(value), f"{p} is a file, not a folder")
    if kind == "file" and not p.is_file():
        raise _bad(name, str(value), f"{p} is a folder, not a file")
    return p


def check_choices(values: Any, name: str, choices: Iterable[str], many: bool = False):
    """One name (or, with ``many``, a non-empty list of distinct names) from ``choices``."""
    choices = list(choices)
    items = [values] if not many else values
    if many and (isinstance(values, str) or not isinstance(values, Sequence) or not values):
        raise _bad(name, values, f"must be a non-empty list of names from {choices}")
    for v in items:
        if v not in choices:
            raise _bad(name, values, f"unknown name {v!r}; choose from {choices}")
    if many and len(set(items)) != len(items):
        raise _bad(name, values, "names must be distinct")
    return list(items) if many else values


def check_seeds(seeds: Any, name: str = "seeds") -> list[int]:
    """A non-empty list of distinct integers ≥ 0."""
    if isinstance(seeds, (int, str)) or not isinstance(seeds, Sequence) or not seeds:
        raise _bad(name, seeds, "must be a non-empty list of integers >= 0, e.g. [0] or [0, 1, 2]")
    out = [check_int(s, name, 0) for s in seeds]
    if len(set(out)) != len(out):
        raise _bad(name, seeds, "seeds must be distinct")
    return out


def check_folds(folds: Any, labels_csv: str | Path | pd.DataFrame, name: str = "folds",
                min_train_groups: int = 5) -> int:
    """``folds`` checked against the labels table.

    With a ``fold`` column the folds are the table's, so ``folds`` must equal its number of
    distinct values. Otherwise stratified folds (grouped by ``case_id`` where there is one) need
    at least ``folds`` cases of every class (each test fold must hold both classes), and each
    training part at least ``min_train_groups`` cases (the runner's validation split takes a fifth
    of them, grouped by case).
    """
    k = check_int(folds, name, 2, "cross-validation needs at least 2 folds")
    table = labels_csv if isinstance(labels_csv, pd.DataFrame) else pd.read_csv(labels_csv)
    where = "the labels table" if isinstance(labels_csv, pd.DataFrame) else str(labels_csv)
    if "label" not in table:
        raise ParameterError(f"{where}: no 'label' column (have {list(table.columns)}); the "
                             "labels CSV needs slide_id,label[,case_id][,fold]")
    if "fold" in table:
        n = table["fold"].nunique(dropna=True)
        if k != n:
            raise _bad(name, folds, f"{where} has a 'fold' column with {n} folds "
                       f"({sorted(table['fold'].dropna().unique().tolist())}); set {name}={n}, "
                       "or drop the column to make new stratified folds")
        return k
    groups = table["case_id"] if "case_id" in table else table.get("slide_id", table.index)
    per_class = pd.Series(groups.to_numpy()).groupby(table["label"].to_numpy()).nunique()
    rare, n_rare = _plain(per_class.idxmin()), int(per_class.min())
    if len(per_class) < 2:
        raise ParameterError(f"{where}: every slide has label {rare!r}; a classifier needs "
                             "slides of at least two classes")
    unit = "case" if "case_id" in table else "slide"
    if n_rare < 2:
        raise ParameterError(f"{where}: class {rare!r} has only {_count(n_rare, unit)}; "
                             f"cross-validation needs at least 2 of every class (one in each "
                             f"of 2 test folds): add {unit}s of class {rare!r}")
    # the runner carves a grouped validation split (a fifth) from each training part, so
    # the fold count must satisfy both rules: k <= n_rare, and enough groups to train on
    n_groups = int(pd.Series(groups.to_numpy()).nunique())

    def n_train(folds_: int) -> int:
        return n_groups - -(-n_groups // folds_)

    fits = [j for j in range(2, n_rare + 1) if n_train(j) >= min_train_groups]
    advice = (f"use {name}={fits[0]}" if len(fits) == 1 else
              f"use {name} between {fits[0]} and {fits[-1]}" if fits else
              f"add {unit}s: {_count(n_groups, unit)} are too few for cross-validation with a "
              f"validation split")
    if k > n_rare:
        raise _bad(name, folds, f"class {rare!r} has only {_count(n_rare, unit)} in {where}, "
                   f"so {k} folds cannot each hold one; {advice}")
    if n_train(k) < min_train_groups:
        raise _bad(name, folds, f"with {_count(n_groups, unit)} in {where}, a training part of "
                   f"{k} folds holds about {n_train(k)}, but its validation split needs at least "
                   f"{min_train_groups}; {advice}")
    return k


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds, so messages read 0, not np.int64(0)."""
    return value.item() if isinstance(value, np.generic) else value


def _count(n: int, noun: str) -> str:
    """'1 slide', '7 slides'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def check_label_map(label_map: Any, labels_csv: str | Path | pd.DataFrame,
                    name: str = "label_map") -> dict | None:
    """Text labels need ``label_map`` (text → class index; which class is "positive" for the AUC
    is never guessed); integer labels may go without. Every label must be in the map."""
    table = labels_csv if isinstance(labels_csv, pd.DataFrame) else pd.read_csv(labels_csv)
    where = "the labels table" if isinstance(labels_csv, pd.DataFrame) else str(labels_csv)
    values = table["label"].dropna() if "label" in table else pd.Series([], dtype=object)
    text = sorted(set(values.astype(str)))
    if label_map is None:
        if len(values) and not pd.api.types.is_numeric_dtype(values):
            example = {t: i for i, t in enumerate(text)}
            raise _bad(name, None, f"{where} has text labels {text}; say which class is which, "
                       f"e.g. label_map={example} (the class with index 1 is the positive one)")
        return None
    if not isinstance(label_map, dict):
        raise _bad(name, label_map, "must be a dict from label text to class index, e.g. "
                   "{'normal': 0, 'tumour': 1} (papermill: -p label_map "
                   "'{\"normal\": 0, \"tumour\": 1}')")
    missing = sorted(set(text) - set(map(str, label_map)))
    if missing:
        raise _bad(name, label_map, f"labels {missing} of {where} are not in the map; add them")
    return dict(label_map)


def _own_data(features_dir, labels_csv, slides_dir) -> dict[str, Any]:
    """The user's-own-data parameters of chapters 02–04 (both or neither of features and labels)."""
    out: dict[str, Any] = {}
    if (features_dir is None) != (labels_csv is None):
        given, missing = (("features_dir", "labels_csv") if labels_csv is None
                          else ("labels_csv", "features_dir"))
        raise ParameterError(f"{given} is set but {missing} is not: your own data needs both a "
                             "features folder (<slide_id>.h5) and a labels CSV "
                             "(slide_id,label[,case_id][,fold]); leave both None for the cohort")
    if features_dir is not None:
        out["features_dir"] = check_path(features_dir, "features_dir", "dir")
        out["labels_csv"] = check_path(labels_csv, "labels_csv", "file")
    if slides_dir is not None:
        out["slides_dir"] = check_path(slides_dir, "slides_dir", "dir",
                                       "set it to your slide files, or None to skip heatmaps")
    return out


def check_chapter02(*, features_dir, labels_csv, slides_dir, epochs, seeds, methods,
                    model_variant, classic_datasets, classic_repeats, classic_folds,
                    available_methods: Sequence[str], classic_choices: Sequence[str]) -> dict:
    """Chapter 02's parameters, except ``folds`` and ``label_map`` (checked once the labels
    exist: :func:`check_folds`, :func:`check_label_map`).

    Returns the cleaned values. ``model_variant`` (the attention model of the heatmap sections)
    must be one of ``methods``, since its heatmaps come from the comparison's runs.
    """
    out = _own_data(features_dir, labels_csv, slides_dir)
    out["epochs"] = check_int(epochs, "epochs", 1, "e.g. epochs=10")
    out["seeds"] = check_seeds(seeds)
    out["methods"] = check_choices(methods, "methods", available_methods, many=True)
    out["model_variant"] = check_choices(model_variant, "model_variant", out["methods"])
    if isinstance(classic_datasets, str) or not isinstance(classic_datasets, Sequence):
        raise _bad("classic_datasets", classic_datasets,
                   f"must be a list (e.g. ['musk1'], or [] to skip) of {list(classic_choices)}")
    out["classic_datasets"] = (check_choices(classic_datasets, "classic_datasets",
                                             classic_choices, many=True)
                               if classic_datasets else [])
    out["classic_repeats"] = check_int(classic_repeats, "classic_repeats", 1)
    out["classic_folds"] = check_int(classic_folds, "classic_folds", 2)
    return out


def check_lambda(value: Any, name: str = "lam", allow_none: bool = False,
                 positive: bool = False) -> float | None:
    """An AEM weight λ: a finite number >= 0 (> 0 with ``positive``), as a float."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    low = "> 0" if positive else ">= 0"
    if not ok or not np.isfinite(value) or value < 0 or (positive and value == 0):
        raise _bad(name, value, f"must be a finite number {low} (0 = no AEM, the baseline; the "
                   "authors' example is 0.1)" + ("; or None to skip" if allow_none else ""))
    return float(value)


def aem_bases(available_methods: Sequence[str]) -> list[str]:
    """The registered methods AEM can be added to: those with learned attention (ABMIL and ACMIL
    variants), not mean/max pooling (no attention to spread) nor an AEM method itself."""
    return [m for m in available_methods
            if m.startswith(("abmil_", "acmil")) and "aem" not in m]


def check_chapter04(*, features_dir, labels_csv, slides_dir, lam, schedule, normalize, base,
                    other_bases, lambdas, variant_lam, epochs, seeds, classic_datasets,
                    classic_repeats, classic_folds, classic_epochs,
                    available_methods: Sequence[str], classic_choices: Sequence[str]) -> dict:
    """Chapter 04's (AEM) parameters, except ``folds`` and ``label_map`` (checked once the labels
    exist: :func:`check_folds`, :func:`check_label_map`). Returns the cleaned values.

    ``lam`` a number >= 0; ``schedule`` and ``normalize`` from
    :data:`milhelpers.losses.AEM_SCHEDULES` / :data:`~milhelpers.losses.AEM_NORMALIZATIONS`;
    ``base`` and ``other_bases`` (a list, may be empty) from :func:`aem_bases`; ``lambdas`` a
    non-empty list of distinct numbers >= 0 (sorted, 0 added: the baseline is always run);
    ``variant_lam`` a number > 0 or None.
    """
    from .losses import AEM_NORMALIZATIONS, AEM_SCHEDULES

    out = check_chapter02(features_dir=features_dir, labels_csv=labels_csv, slides_dir=slides_dir,
                          epochs=epochs, seeds=seeds, methods=["abmil_gated"],
                          model_variant="abmil_gated", classic_datasets=classic_datasets,
                          classic_repeats=classic_repeats, classic_folds=classic_folds,
                          available_methods=["abmil_gated"], classic_choices=classic_choices)
    out.pop("methods"), out.pop("model_variant")
    out["lam"] = check_lambda(lam, "lam")
    if schedule not in AEM_SCHEDULES:
        raise _bad("schedule", schedule, f"choose from {list(AEM_SCHEDULES)} ('constant' as the "
                   "authors' code, 'cosine' anneals λ to 0 over training)")
    if normalize not in AEM_NORMALIZATIONS:
        raise _bad("normalize", normalize, f"choose from {list(AEM_NORMALIZATIONS)} ('none' as "
                   "the paper, 'log_n' divides each bag's entropy by log N)")
    out["schedule"], out["normalize"] = schedule, normalize
    bases = aem_bases(available_methods)
    if base not in bases:
        raise _bad("base", base, f"AEM needs a model with learned attention; choose from {bases}")
    out["base"] = base
    if isinstance(other_bases, str) or not isinstance(other_bases, Sequence):
        raise _bad("other_bases", other_bases, f"must be a list (e.g. ['acmil'], or [] to skip) "
                   f"of {bases}")
    for b in other_bases:
        if b not in bases:
            raise _bad("other_bases", other_bases, f"unknown or attention-free base {b!r}; "
                       f"choose from {bases}")
    if base in other_bases or len(set(other_bases)) != len(other_bases):
        raise _bad("other_bases", other_bases, f"names must be distinct and differ from "
                   f"base={base!r} (it is always compared)")
    out["other_bases"] = list(other_bases)
    if isinstance(lambdas, (str, int, float)) or not isinstance(lambdas, Sequence) or not lambdas:
        raise _bad("lambdas", lambdas, "must be a non-empty list of numbers >= 0, e.g. "
                   "[0, 0.1, 1, 10]")
    grid = []
    for v in lambdas:
        try:
            grid.append(check_lambda(v, "lambdas"))
        except ParameterError:
            raise _bad("lambdas", lambdas, f"{v!r} is not a finite number >= 0; each λ must "
                       "be one (0 = the baseline)") from None
    if len(set(grid)) != len(grid):
        raise _bad("lambdas", lambdas, "values must be distinct")
    out["lambdas"] = sorted(set(grid) | {0.0})
    out["variant_lam"] = check_lambda(variant_lam, "variant_lam", allow_none=True, positive=True)
    out["classic_epochs"] = check_int(classic_epochs, "classic_epochs", 1, "e.g. 20")
    return out


def check_chapter01_params(*, slide_path: str | Path | None, slide_dir: str | Path | None,
                           mpp: float | None, target_mpp: float, patch_size: int,
                           encoder_name: str, n_slides: int, seed: int) -> None:
    """Validate chapter 01's parameters before any work; raise with a message that names the
    parameter and says what to pass (ValueError, or FileNotFoundError for a missing path)."""
    from .encoders import list_encoders
    from .pipeline import find_slides
    from .slides import check_mpp
    from .tiling import check_tiling_params

    if slide_dir is not None:
        if not Path(slide_dir).is_dir():
            raise FileNotFoundError(f"slide_dir: no folder at {slide_dir}; pass a folder of "
                                    "slides (or None to use the course's walkthrough slide)")
        try:  # no slides in the folder, or two slides that would write the same file
            find_slides(slide_dir)
        except (FileNotFoundError, ValueError) as e:
            raise type(e)(f"slide_dir: {e}") from None
    elif slide_path is None or not Path(slide_path).is_file():
        raise FileNotFoundError(f"slide_path: no file at {slide_path}; pass a slide file, or "
                                "set slide_dir to a folder of slides")
    if mpp is not None:
        check_mpp(mpp, "mpp")
    check_tiling_params(target_mpp, patch_size)
    if encoder_name not in list_encoders():
        raise ValueError(f"encoder_name {encoder_name!r} is not registered; choose one of "
                         f"{list_encoders()}")
    # 5 case-grouped folds need slides of both labels in every fold
    if isinstance(n_slides, bool) or not isinstance(n_slides, (int, np.integer)) \
            or n_slides < 20:
        raise ValueError(f"n_slides must be a whole number ≥ 20 (5 folds × both labels), "
                         f"got {n_slides!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")


def check_chapter03(*, features_dir, labels_csv, slides_dir, n_branches, top_k, mask_drop,
                    ablation, seeds, epochs, coverage_k, umap_points) -> dict:
    """Chapter 03's parameters (ACMIL), except ``folds`` and ``label_map`` (checked once the
    labels exist). Returns the cleaned values."""
    out = _own_data(features_dir, labels_csv, slides_dir)
    out["n_branches"] = check_int(n_branches, "n_branches", 1, "ACMIL's M, e.g. 5")
    out["top_k"] = check_int(top_k, "top_k", 1, "STKIM's K, e.g. 10")
    if isinstance(mask_drop, bool) or not isinstance(mask_drop, (int, float, np.number)) \
            or not 0.0 <= float(mask_drop) < 1.0:
        raise _bad("mask_drop", mask_drop, "must be a number in [0, 1): the fraction of each "
                   "branch's top-K instances hidden while training (0.6 in the paper, 0 = off)")
    out["mask_drop"] = float(mask_drop)
    if isinstance(ablation, str) or not isinstance(ablation, Sequence) \
            or not set(ablation) <= {"mba", "stkim"}:
        raise _bad("ablation", ablation, "must be a list of the ACMIL halves to train alone: "
                   "[], ['mba'], ['stkim'] or ['mba', 'stkim']")
    out["ablation"] = list(ablation)
    out["seeds"] = check_seeds(seeds)
    out["epochs"] = check_int(epochs, "epochs", 1, "e.g. epochs=10")
    out["coverage_k"] = check_int(coverage_k, "coverage_k", 1, "e.g. coverage_k=5")
    out["umap_points"] = check_int(umap_points, "umap_points", 100, "e.g. umap_points=3000")
    return out


def _number(value: Any, name: str, low: float, high: float, why: str, low_open: bool = False
            ) -> float:
    ok = (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
          and np.isfinite(value) and (value > low if low_open else value >= low)
          and value <= high)
    if not ok:
        raise _bad(name, value, why)
    return float(value)


def check_chapter05(*, cohort_dir, epochs, seeds, r_h, r_hr, r, r_l, decay, alpha, momentum,
                    score, sensitivity, available_methods: Sequence[str], v2: bool = True) -> dict:
    """Chapter 05's (MHIM-MIL) parameters, except ``folds`` (checked once the labels exist:
    :func:`check_folds`). Returns the cleaned values.

    ``cohort_dir`` the course cohort (it needs ``masks/`` for the mask and morphology figures);
    ``r_h``, ``r_hr``, ``r``, ``r_l`` ratios in [0, 1] (``r_hr`` > 0); ``decay`` a bool;
    ``alpha`` >= 0; ``momentum`` in [0, 1]; ``score`` 'attention' or 'class_aware';
    ``sensitivity`` a list (may be empty) of registered MHIM variants (names starting ``mhim``);
    ``v2`` a bool (train ``mhim_v2`` live too).
    """
    from .methods import MHIM_DEFAULTS, mhim_method

    root = check_path(cohort_dir, "cohort_dir", "dir", "build the cohort with `python -m "
                      "milhelpers data --root data/cohort`")
    if not (root / "masks").is_dir():
        raise _bad("cohort_dir", str(cohort_dir), "has no masks/ folder: this chapter draws the "
                   "teacher's masks against the ground truth, so it needs the course cohort")
    out: dict[str, Any] = {"cohort_dir": root,
                           "epochs": check_int(epochs, "epochs", 1, "e.g. epochs=3"),
                           "seeds": check_seeds(seeds)}
    opts = {}
    for name, v in (("r_h", r_h), ("r_hr", r_hr), ("r", r), ("r_l", r_l)):
        opts[name] = _number(v, name, 0, 1, "must be a fraction in " + (
            "(0, 1]" if name == "r_hr" else "[0, 1]") + f" (the authors' CAMELYON16 value: "
            f"{MHIM_DEFAULTS[name]})", low_open=name == "r_hr")
    if not isinstance(decay, bool):
        raise _bad("decay", decay, "must be True (r_h cosine-decays to 0) or False")
    opts["decay"] = decay
    opts["alpha"] = _number(alpha, "alpha", 0, float("inf"), "must be a finite number >= 0: the "
                            "consistency loss weight (0 = none; the authors use 0.1–0.5)")
    opts["momentum"] = _number(momentum, "momentum", 0, 1, "must be in [0, 1] (the teacher's "
                               "EMA momentum, e.g. 0.999)")
    opts["score"] = check_choices(score, "score", ["attention", "class_aware"])
    out["method"] = mhim_method(**opts)
    out["options"] = opts
    variants = [m for m in available_methods if m.startswith("mhim")]
    if isinstance(sensitivity, str) or not isinstance(sensitivity, Sequence):
        raise _bad("sensitivity", sensitivity, f"must be a list (e.g. ['mhim_rh0.1'], or [] to "
                   f"skip) of {variants}")
    out["sensitivity"] = (check_choices(sensitivity, "sensitivity", variants, many=True)
                          if sensitivity else [])
    if not isinstance(v2, bool):
        raise _bad("v2", v2, "must be True (train MHIM-MIL v2, mhim_v2, live as well) or False")
    out["v2"] = v2
    return out


def check_chapter06(*, features_dir, labels_csv, p, max_len, min_len, alpha, ads_ratio,
                    batch_size, lr, epochs, seeds) -> dict:
    """Chapter 06's parameters (PackMIL), except ``folds`` and ``label_map`` (checked once the
    labels exist). ``p`` in (0, 1]; ``max_len`` ≥ 1; ``min_len`` ≥ 0; ``alpha`` ≥ 0 (0 drops the
    residual branch); ``ads_ratio`` None or an integer ≥ 2; ``batch_size`` ≥ 2 (one slide per
    step is not packing); ``lr`` > 0. Returns the cleaned values."""
    out = _own_data(features_dir, labels_csv, None)
    out["p"] = _number(p, "p", 0, 1, "must be a number in (0, 1]: the share of each slide's "
                       "instances that goes to the main branch (the paper uses 0.4–0.5)", True)
    out["max_len"] = check_int(max_len, "max_len", 1, "the tokens of one pack, e.g. 256")
    out["min_len"] = check_int(min_len, "min_len", 0, "slides shorter than this go whole to "
                               "both branches, e.g. 16")
    out["alpha"] = _number(alpha, "alpha", 0, float("inf"), "must be a finite number >= 0: the "
                           "hyperslide loss weight (0.2–0.5 in the paper; 0 = no residual branch)")
    if ads_ratio is not None:
        ads_ratio = check_int(ads_ratio, "ads_ratio", 2, "ADS groups this many tokens into one "
                              "(the paper: 3–4); None switches ADS off")
    out["ads_ratio"] = ads_ratio
    out["batch_size"] = check_int(batch_size, "batch_size", 2, "slides per step, e.g. 16")
    out["lr"] = _number(lr, "lr", 0, 1, "must be a learning rate in (0, 1], e.g. 5e-4", True)
    out["epochs"] = check_int(epochs, "epochs", 1, "e.g. epochs=6")
    out["seeds"] = check_seeds(seeds)
    return out


#: The committed results chapter 07 reads (``full=False``), with the command that writes each.
CHAPTER07_FILES = {
    "head_to_head.json": "python benchmarks/methods.py --data-root data/cohort --methods "
                         "abmil_gated abmil_tanh mean_pool max_pool acmil aem acmil_aem mhim "
                         "mhim_v2 packmil --seeds 0 1 2 --folds 5 --epochs 20 --cache "
                         "build/bench_runs --json benchmarks/results/head_to_head.json",
    "where_looks.json": "python benchmarks/where_looks.py --results "
                        "benchmarks/results/head_to_head.json --cache build/bench_runs "
                        "--data-root data/cohort --json benchmarks/results/where_looks.json",
    "ucsb.json": "python benchmarks/ucsb.py --json benchmarks/results/ucsb.json",
    # the second cohort draw (§6): `python -m milhelpers data --root data --seed 1` builds it
    "head_to_head_seed1.json": "python benchmarks/methods.py --data-root data/cohort_seed1_n120 "
                               "--methods abmil_gated abmil_tanh mean_pool max_pool acmil aem "
                               "acmil_aem mhim mhim_v2 packmil --seeds 0 1 2 --folds 5 --epochs "
                               "20 --cache build/bench_runs --json "
                               "benchmarks/results/head_to_head_seed1.json",
    "where_looks_seed1.json": "python benchmarks/where_looks.py --results "
                              "benchmarks/results/head_to_head_seed1.json --cache "
                              "build/bench_runs --data-root data/cohort_seed1_n120 --json "
                              "benchmarks/results/where_looks_seed1.json",
}


def check_chapter07(*, results_dir, cohort_dir, full, reference, own_method_file, quick_epochs,
                    quick_seeds, folds, second_cohort_dir=None) -> dict:
    """Chapter 07's (head to head) parameters. Returns the cleaned values.

    ``full`` a bool: False reads the full-setting results from ``results_dir`` (each of
    :data:`CHAPTER07_FILES` must be there; the message names the command that writes a missing
    one), True recomputes them (hours); ``second_cohort_dir`` (optional) a second draw of the
    synthetic cohort that a full run also covers, built if missing;
    ``cohort_dir`` the course cohort (its masks and slides draw the heatmaps; built if
    missing); ``reference`` a registered method; ``own_method_file`` an existing ``.py`` file
    that registers your method; ``quick_epochs`` ≥ 1 and ``quick_seeds`` (the live runs'
    setting); ``folds`` ≥ 2."""
    from .methods import available_methods

    if not isinstance(full, bool):
        raise _bad("full", full, "must be True (recompute every full-setting result: hours) or "
                   "False (read them from results_dir)")
    out: dict[str, Any] = {"full": full, "cohort_dir": Path(cohort_dir),
                           "second_cohort_dir": (None if second_cohort_dir is None
                                                 else Path(second_cohort_dir))}
    # the quick, local checks first: a typo in a number is named before a missing file
    out["quick_epochs"] = check_int(quick_epochs, "quick_epochs", 1, "e.g. quick_epochs=3")
    out["quick_seeds"] = check_seeds(quick_seeds, "quick_seeds")
    out["folds"] = check_int(folds, "folds", 2, "e.g. folds=5")
    out["reference"] = check_choices(reference, "reference", available_methods())
    path = check_path(own_method_file, "own_method_file", "file", "a .py file that registers "
                      "your method with milhelpers.methods.register (see 07_my_method.py)")
    if path.suffix != ".py":
        raise _bad("own_method_file", str(own_method_file), "must be a .py file")
    out["own_method_file"] = path
    if not full:
        root = check_path(results_dir, "results_dir", "dir", "the folder of the committed "
                          "results files (../benchmarks/results)")
        for name, command in CHAPTER07_FILES.items():
            if not (root / name).is_file():
                raise _bad("results_dir", str(results_dir), f"has no {name}; write it with "
                           f"`{command}`, or run the chapter with full=True")
        out["results_dir"] = root
    else:
        out["results_dir"] = Path(results_dir)
    return out
