"""Parameter sweeps of a notebook with papermill: one run per grid point, one results table.

``python -m milhelpers sweep notebooks/04_aem.ipynb -p lam 0 0.01 0.1 --out build/sweeps/aem``
runs the notebook once per combination of the ``-p`` values (the grid over all options), several
at a time, each into ``<out>/<name>=<value>,.../notebook.ipynb``, and collects what each run
published with :func:`milhelpers.record` into ``<out>/results.csv`` and ``<out>/results.png``.

* Names must be parameters of the notebook's ``parameters`` cell; values are parsed with the type
  of the parameter's default (int, float, bool, str, list; a ``None`` default takes any Python
  literal, else the text).
* A run is skipped when its ``result.json`` holds the same parameters and the notebook's code cells
  are unchanged; ``overwrite=True`` runs it again.
* A failed run is reported with its notebook and does not stop the others.
* Every file is written under a temporary name and renamed when complete.
* Runs execute in separate processes, each kernel with its own ``$MILHELPERS_RECORD`` and
  ``$MILHELPERS_RUN_DIR`` (:func:`milhelpers.recording.sweep_run_dir`), in the notebook's folder so
  its relative paths work; with several runs at once each kernel gets ``cores // jobs`` threads.
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from ._sweep_worker import NOTEBOOK_FILE, RECORD_FILE, THREAD_VARS, execute
from .h5io import atomic_output
from .recording import read_record

__all__ = ["NO_DEFAULT", "SweepRun", "SweepResult", "notebook_parameters", "parse_value",
           "sweep_grid", "run_name", "run_sweep", "results_table", "plot_results"]

RESULT_FILE = "result.json"


class _NoDefault:
    def __repr__(self) -> str:
        return "<not a literal>"


#: The default of a parameter whose value is not a Python literal (e.g. ``Path("x")``).
NO_DEFAULT = _NoDefault()


def _read_notebook(path: Path):
    import nbformat

    if not path.is_file():
        raise FileNotFoundError(f"notebook {path} not found")
    return nbformat.read(str(path), as_version=4)


def notebook_parameters(path: str | Path) -> dict[str, Any]:
    """The parameters of a notebook's cell tagged ``parameters``: name → default value.

    Each top-level assignment ``name = value`` (or ``name: type = value``) is a parameter; a
    default that is not a Python literal is :data:`NO_DEFAULT`.
    """
    path = Path(path)
    nb = _read_notebook(path)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"{path} has no cell tagged 'parameters': tag the cell that sets its "
                         "parameters (in Jupyter: the cell's property inspector, Tags) so a "
                         "sweep can set them")
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as err:
        raise ValueError(f"{path}: the parameters cell is not valid Python ({err})") from None
    params: dict[str, Any] = {}
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        for t in targets:
            if isinstance(t, ast.Name):
                try:
                    params[t.id] = ast.literal_eval(node.value)
                except ValueError:
                    params[t.id] = NO_DEFAULT
    return params


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_value(name: str, text: str, default: Any) -> Any:
    """``text`` as a value of the type of ``default`` (bool, int, float, str, list or tuple).

    A ``None`` (or non-literal) default takes any Python literal, else the text itself.
    """
    def bad(kind: str) -> ValueError:
        return ValueError(f"parameter {name}: {text!r} is not {kind} (its default is {default!r})")

    if isinstance(default, bool):
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise bad("a bool (True/False)")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise bad("a whole number") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise bad("a number") from None
    if isinstance(default, str):
        return text
    if isinstance(default, (list, tuple, dict)):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise bad(f"a Python {type(default).__name__} literal such as {default!r}") from None
        if not isinstance(value, type(default)):
            raise bad(f"a {type(default).__name__} such as {default!r}")
        return value
    try:
        return ast.literal_eval(text)       # numbers, None, lists, dicts; anything else: text
    except (ValueError, SyntaxError):
        return text


def sweep_grid(notebook: str | Path, options: Sequence[tuple[str, Sequence[str]]]
               ) -> list[dict[str, Any]]:
    """The runs of a sweep: one parameter dict per combination of ``options`` (name, texts),
    in order (the last option varies fastest). Names are checked against the notebook's
    ``parameters`` cell and values parsed with the type of each default, before anything runs."""
    if not options:
        raise ValueError("a sweep needs at least one parameter: -p NAME VALUE [VALUE ...]")
    known = notebook_parameters(notebook)
    names = [name for name, _ in options]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown parameter {', '.join(unknown)}: not in the parameters cell "
                         f"of {notebook}, which sets {', '.join(known) or 'nothing'}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"parameter {', '.join(twice)} given more than once: list all its "
                         "values after one -p")
    axes = []
    for name, texts in options:
        if not texts:
            raise ValueError(f"parameter {name}: give at least one value (-p {name} V1 V2 ...)")
        values: list[Any] = []
        for t in texts:
            v = parse_value(name, t, known[name])
            if v not in values:             # "-p lam 0 0.0" is one run
                values.append(v)
        axes.append(values)
    return [dict(zip(names, combo)) for combo in itertools.product(*axes)]


def _format(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        short = format(value, "g")
        return short if float(short) == value else repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def run_name(params: dict[str, Any]) -> str:
    """A run's folder name, ``lam=0.1,seed=2``; characters unsafe in file names become ``_``."""
    text = ",".join(f"{k}={_format(v)}" for k, v in params.items())
    text = re.sub(r"[^\w.,=+\-\[\]]", "_", text)
    if len(text) > 120:                     # long values (lists) stay unique through a hash
        text = text[:100] + "-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return text


def _code_hash(notebook: Path) -> str:
    """A hash of the notebook's code cells (not outputs or markdown): edits to them redo runs."""
    nb = _read_notebook(notebook)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(code).encode()).hexdigest()


def _jsonable(params: dict[str, Any]) -> Any:
    return json.loads(json.dumps(params))


@dataclass
class SweepRun:
    """One grid point: its parameters, folder, outcome and recorded results."""

    params: dict[str, Any]
    dir: Path
    status: str = "pending"                 # ok | skipped | failed
    results: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    error: str = ""

    @property
    def notebook(self) -> Path:
        return self.dir / NOTEBOOK_FILE

    @property
    def name(self) -> str:
        return self.dir.name


@dataclass
class SweepResult:
    runs: list[SweepRun]
    table: pd.DataFrame
    table_path: Path
    figure_path: Path | None

    @property
    def failed(self) -> list[SweepRun]:
        return [r for r in self.runs if r.status == "failed"]


def _done_before(run: SweepRun, code: str) -> bool:
    path = run.dir / RESULT_FILE
    if not path.exists():
        return False
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if saved.get("parameters") != _jsonable(run.params) or saved.get("code_hash") != code:
        return False
    run.results, run.seconds, run.status = saved.get("results", {}), saved.get("seconds"), "skipped"
    return True


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                  # macOS, Windows
        return os.cpu_count() or 1


def run_sweep(notebook: str | Path, grid: Sequence[dict[str, Any]], out: str | Path,
              jobs: int | None = None, overwrite: bool = False,
              report: Callable[[SweepRun], None] | None = None) -> SweepResult:
    """Run ``notebook`` once per parameter dict of ``grid`` (see :func:`sweep_grid`) into
    ``out/<run_name>/``, ``jobs`` at a time (default: min(cores, runs to do)); write
    ``out/results.csv`` and ``out/results.png``. ``report(run)`` is called as each run ends
    (also for skipped runs). Failed runs are in the result; they never stop the others.

    Workers are spawned (fresh interpreters, the same on every OS): from a script, call this
    under ``if __name__ == "__main__":``, as for any multiprocessing code.
    """
    notebook, out = Path(notebook), Path(out)
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs={jobs}: run at least 1 notebook at a time")
    runs = [SweepRun(dict(p), out / run_name(p)) for p in grid]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"several runs would share the folder {clash[0]!r}: make the values "
                         "differ in more than punctuation")
    code = _code_hash(notebook)
    todo = []
    for run in runs:
        if not overwrite and _done_before(run, code):
            if report:
                report(run)
        else:
            todo.append(run)
    if todo:
        jobs = min(jobs or _cores(), len(todo))
        threads = None if any(v in os.environ for v in THREAD_VARS) or jobs == 1 \
            else max(1, _cores() // jobs)
        for run in todo:
            run.dir.mkdir(parents=True, exist_ok=True)
            (run.dir / RESULT_FILE).unlink(missing_ok=True)   # a rerun's old result is stale
        # fresh interpreters: the same on every OS, and safe whatever threads this process runs
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {pool.submit(execute, str(notebook.resolve()), str(run.dir), run.params,
                                   threads): run for run in todo}
            for fut in as_completed(futures):
                run = futures[fut]
                try:
                    ok, run.error, run.seconds = fut.result()
                except Exception as err:      # the worker process itself died
                    ok, run.error = False, f"{type(err).__name__}: {err}"
                run.status = "ok" if ok else "failed"
                if ok:
                    run.results = read_record(run.dir / RECORD_FILE)
                    saved = {"notebook": str(notebook), "code_hash": code,
                             "parameters": _jsonable(run.params), "results": run.results,
                             "seconds": run.seconds,
                             "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
                    with atomic_output(run.dir / RESULT_FILE) as tmp:
                        tmp.write_text(json.dumps(saved, indent=1))
                (run.dir / RECORD_FILE).unlink(missing_ok=True)
                if report:
                    report(run)
    table = results_table(runs, out)
    table_path = out / "results.csv"
    with atomic_output(table_path) as tmp:
        table.to_csv(tmp, index=False)
    figure_path: Path | None = out / "results.png"
    fig = plot_results(table, list(grid[0]) if grid else [])
    if fig is None:                         # nothing numeric recorded: no figure, not an old one
        figure_path.unlink(missing_ok=True)
        figure_path = None
    else:
        with atomic_output(figure_path) as tmp:
            fig.savefig(tmp, format="png")
    return SweepResult(runs, table, table_path, figure_path)


def results_table(runs: Iterable[SweepRun], out: str | Path | None = None) -> pd.DataFrame:
    """One row per run: swept parameters, recorded results, status, seconds, error, notebook.

    A result named like a parameter gets the column ``<name>_result``.
    """
    rows = []
    for run in runs:
        row: dict[str, Any] = {k: _format(v) if isinstance(v, (list, tuple, dict)) else v
                               for k, v in run.params.items()}
        for k, v in run.results.items():
            row[f"{k}_result" if k in run.params else k] = \
                json.dumps(v) if isinstance(v, (list, dict)) else v
        nb = run.notebook
        row.update(status=run.status, seconds=run.seconds, error=run.error,
                   notebook=str(nb.relative_to(out)) if out is not None else str(nb))
        rows.append(row)
    return pd.DataFrame(rows)


def _is_number(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def plot_results(table: pd.DataFrame, swept: Sequence[str]):
    """Each numeric recorded result against the swept parameter (a matplotlib Figure, or None
    when no run recorded a number). With several swept parameters the first that varies (a
    numeric one if any) is the x axis and each combination of the others is one line. λ-like
    axes spanning ≥ 2 decades are drawn on a log scale (symlog when 0 is among the values)."""
    from matplotlib.figure import Figure

    ok = table[table.status.isin(["ok", "skipped"])] if "status" in table else table
    fixed = set(swept) | {"status", "seconds", "error", "notebook"}
    metrics = [c for c in ok.columns if c not in fixed and pd.api.types.is_numeric_dtype(ok[c])
               and not pd.api.types.is_bool_dtype(ok[c]) and ok[c].notna().any()]
    if ok.empty or not metrics or not swept:
        return None
    varying = [p for p in swept if ok[p].nunique() > 1] or list(swept[:1])
    numeric = [p for p in varying if _is_number(ok[p].tolist())]
    x = (numeric or varying)[0]
    others = [p for p in varying if p != x]
    xs = list(dict.fromkeys(ok[x].tolist()))
    as_number = _is_number(xs)
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows), dpi=100, layout="constrained")
    groups = list(ok.groupby(others, sort=False)) if others else [((), ok)]
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for key, g in groups:
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{p}={_format(v)}" for p, v in zip(others, key)) or None
            pos = g[x].tolist() if as_number else [xs.index(v) for v in g[x]]
            order = sorted(range(len(pos)), key=pos.__getitem__)
            ax.plot([pos[j] for j in order], [g[metric].iloc[j] for j in order], "o-",
                    label=label)
        if as_number:
            positive = [v for v in xs if v > 0]
            if positive and max(positive) / min(positive) >= 100:
                if min(xs) > 0:
                    ax.set_xscale("log")
                elif min(xs) == 0:
                    ax.set_xscale("symlog", linthresh=min(positive))
        else:
            ax.set_xticks(range(len(xs)), [_format(v) for v in xs])
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        if others:
            ax.legend(fontsize=7)
    return fig
