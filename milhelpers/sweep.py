"""Parameter sweeps of a notebook with papermill: one run per grid point, one results table.

``python -m milhelpers sweep notebooks/04_aem.ipynb -p lam 0 0.01 0.1 --out build/sweeps/aem``
runs the notebook once per combination of the ``-p`` values (the grid over all options), several
at a time, each into ``<out>/<name>=<value>,.../notebook.ipynb``, and collects what each run
published with :func:`milhelpers.record` into ``<out>/results.csv`` and ``<out>/results.png``.

* Names must be parameters of the notebook's ``parameters`` cell; values are parsed with the type
  of the parameter's default (int, float, bool, str, list; a ``None`` default takes any Python
  literal, else the text).
* A run is skipped when its ``result.json`` holds the same key (:data:`KEY_FIELDS`: its
  parameters, the notebook's code cells, the ``milhelpers`` sources); ``overwrite=True`` runs it
  again. Data files the notebook reads are not in the key: after changing them, overwrite.
* A failed run is reported with its notebook and does not stop the others.
* Every file is written under a temporary name and renamed when complete; what a killed sweep
  leaves (partial notebooks, records, empty run folders) is removed by the next one.
* Each run is one Dask task (:mod:`milhelpers.cluster`: a local cluster by default, a running
  scheduler, or a batch cluster); its kernel gets its own ``$MILHELPERS_RECORD`` and
  ``$MILHELPERS_RUN_DIR`` (:func:`milhelpers.recording.sweep_run_dir`), starts in the notebook's
  folder so its relative paths work, and, with several runs on one machine, gets its share of
  the cores as BLAS/OpenMP threads.
* ``results.csv`` holds every finished run in ``<out>``, earlier sweeps' too; ``results.png``
  draws those of the current code, averaging repeats (``seed`` …) with 95 % intervals.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pandas as pd

try:
    import fcntl
except ImportError:      # Windows: the output folder is not locked
    fcntl = None

from ._sweep_worker import (KERNEL_LOG, NOTEBOOK_FILE, PARTIAL_FILE, RECORD_FILE, RESULT_FILE,
                            execute_job)
from .h5io import atomic_output

__all__ = ["NO_DEFAULT", "KEY_FIELDS", "REPEAT_NAMES", "SweepRun", "SweepResult",
           "notebook_parameters", "parse_value", "sweep_grid", "run_name", "run_sweep",
           "results_table", "repeat_parameters", "sweep_figure"]

LOCK_FILE = ".sweep.lock"


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


def _package_hash(root: Path | None = None) -> str:
    """A hash of the ``milhelpers`` sources a notebook calls (every ``.py`` file under the
    package): a notebook's results change when the package they call does."""
    root = root or Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _jsonable(params: dict[str, Any]) -> Any:
    return json.loads(json.dumps(params))


#: The fields of a run's ``result.json`` that must all be equal for the run to be reused.
KEY_FIELDS = ("parameters", "code_hash", "package_hash")


@dataclass
class SweepRun:
    """One grid point: its parameters, folder, outcome and recorded results.

    ``status``: ``ok`` (run now), ``skipped`` (done before with the same key), ``failed``,
    ``pending`` (not run: interrupted), or for runs of earlier sweeps found in the output folder,
    ``earlier`` (same notebook code and package) and ``stale`` (other code: kept in the table,
    not drawn).
    """

    params: dict[str, Any]
    dir: Path
    status: str = "pending"
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
    earlier: list[SweepRun] = field(default_factory=list)

    @property
    def failed(self) -> list[SweepRun]:
        return [r for r in self.runs if r.status == "failed"]


def _read_result(folder: Path) -> dict[str, Any] | None:
    try:
        saved = json.loads((folder / RESULT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return saved if isinstance(saved, dict) else None


def _done_before(run: SweepRun, key: dict[str, Any]) -> bool:
    """Whether ``run``'s folder holds a finished run with this key (then its results are read)."""
    saved = _read_result(run.dir)
    if saved is None or any(saved.get(f) != key[f] for f in KEY_FIELDS):
        return False
    run.results, run.seconds, run.status = saved.get("results", {}), saved.get("seconds"), "skipped"
    return True


def _earlier_runs(out: Path, grid_dirs: set[Path], code: dict[str, str]) -> list[SweepRun]:
    """The finished runs of earlier sweeps into ``out`` that this grid does not hold, so the
    table keeps every run whose folder remains: ``earlier`` when made by the ``code`` (code
    and package hashes) of this sweep, else ``stale``."""
    runs = []
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and p not in grid_dirs):
        saved = _read_result(folder)
        if saved is None or not isinstance(saved.get("parameters"), dict):
            continue
        same = all(saved.get(f) == v for f, v in code.items())
        runs.append(SweepRun(saved["parameters"], folder, "earlier" if same else "stale",
                             saved.get("results", {}), saved.get("seconds", float("nan"))))
    return runs


#: What a killed sweep leaves in its output folder and run folders (never a finished file).
LEFTOVERS = (PARTIAL_FILE, RECORD_FILE, KERNEL_LOG, ".*.part")


def _clean_leftovers(out: Path) -> list[Path]:
    """Remove the partial files of a killed sweep, and run folders left with nothing else;
    returns what was removed. Only called under the output folder's lock. Other folders (no
    ``=`` in the name: not a run) are never removed, even when empty."""
    removed = []
    folders = [out] + [p for p in out.iterdir() if p.is_dir()]
    for folder in folders:
        for pattern in LEFTOVERS:
            for path in folder.glob(pattern):
                if path.is_file():
                    path.unlink()
                    removed.append(path)
        if folder != out and "=" in folder.name and not any(folder.iterdir()):
            folder.rmdir()
            removed.append(folder)
    return removed


@contextlib.contextmanager
def _output_lock(out: Path) -> Iterator[None]:
    """One sweep at a time per output folder: a second would clean the first one's partial
    files as leftovers. Where ``fcntl`` is missing (Windows) it locks nothing."""
    if fcntl is None:
        yield
        return
    with open(out / LOCK_FILE, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another sweep is writing to {out}: wait for it to finish or "
                               "give this one another --out") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _slots_by_host(client) -> dict[str, int]:
    """Notebooks the cluster runs at once on each host (its workers' threads)."""
    from distributed.comm import get_address_host

    slots: dict[str, int] = {}
    for address, info in client.scheduler_info()["workers"].items():
        host = get_address_host(address)
        slots[host] = slots.get(host, 0) + int(info.get("nthreads", 1))
    return slots


def run_sweep(notebook: str | Path, grid: Sequence[dict[str, Any]], out: str | Path, *,
              scheduler: str | None = None, cluster_file: str | Path | None = None,
              client=None, overwrite: bool = False,
              report: Callable[[SweepRun], None] | None = None) -> SweepResult:
    """Run ``notebook`` once per parameter dict of ``grid`` (see :func:`sweep_grid`) into
    ``out/<run_name>/``, one Dask task per run, and write ``out/results.csv`` and
    ``out/results.png`` (every finished run in ``out``, earlier sweeps' included).

    The tasks go to ``client`` if given, else to a cluster from :func:`milhelpers.cluster.session`
    (``scheduler``: ``None``/``"local"``, ``"local:N"``, ``"tcp://host:port"``; or a
    dask-jobqueue ``cluster_file``), started only when a run is to be done. Workers must see
    ``out`` and the notebook's folder (one machine, or shared storage on a cluster).

    A run is reused when its ``result.json`` matches on every field of :data:`KEY_FIELDS` (its
    parameters, the notebook's code cells, the ``milhelpers`` sources); ``overwrite`` runs it
    again. ``report(run)`` is called as each run ends (skipped ones too). Failed runs are in the
    result; they never stop the others. Leftovers of a killed sweep are removed first. On
    Ctrl-C the runs not finished are cancelled and KeyboardInterrupt is raised again.
    """
    from .cluster import parse_scheduler, run_tasks, session

    notebook, out = Path(notebook), Path(out)
    if client is None and cluster_file is None:
        parse_scheduler(scheduler)            # a bad value is refused before anything is done
    runs = [SweepRun(dict(p), out / run_name(p)) for p in grid]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"several runs would share the folder {clash[0]!r}: make the values "
                         "differ in more than punctuation")
    code = {"code_hash": _code_hash(notebook), "package_hash": _package_hash()}
    keys = {r.name: {"notebook": str(notebook), **code, "parameters": _jsonable(r.params)}
            for r in runs}
    out.mkdir(parents=True, exist_ok=True)
    with _output_lock(out):
        _clean_leftovers(out)
        todo = []
        for run in runs:
            if not overwrite and _done_before(run, keys[run.name]):
                if report:
                    report(run)
            else:
                (run.dir / RESULT_FILE).unlink(missing_ok=True)   # a rerun's old result is stale
                todo.append(run)
        if todo:
            by_name = {run.name: run for run in todo}

            def finished(name: str, value) -> None:
                run = by_name[name]
                ok, run.error, run.seconds, run.results = value
                run.status = "ok" if ok else "failed"
                if report:
                    report(run)

            def failed(name: str, message: str, error: BaseException) -> None:
                run = by_name[name]           # the task itself failed (its worker died)
                run.status, run.error = "failed", message
                if report:
                    report(run)

            with contextlib.ExitStack() as stack:
                if client is None:   # a local cluster's workers start ignoring Ctrl-C
                    client = stack.enter_context(session(scheduler, cluster_file))
                slots = _slots_by_host(client)
                source = str(notebook.resolve())
                run_tasks(execute_job, [(source, str(run.dir.resolve()), run.params,
                                         keys[run.name], slots) for run in todo],
                          keys=list(by_name), client=client, progress=False, echo=None,
                          expected=(), on_result=finished, on_failure=failed)
        earlier = _earlier_runs(out, {r.dir for r in runs}, code)
        defaults = notebook_parameters(notebook)
        table = results_table(runs + earlier, out, defaults)
        table_path = out / "results.csv"
        with atomic_output(table_path) as tmp:
            table.to_csv(tmp, index=False)
        figure_path: Path | None = out / "results.png"
        swept = list(dict.fromkeys(k for r in runs + earlier for k in r.params))
        fig = sweep_figure(table, swept)
        if fig is None:                     # nothing numeric recorded: no figure, not an old one
            figure_path.unlink(missing_ok=True)
            figure_path = None
        else:
            with atomic_output(figure_path) as tmp:
                fig.savefig(tmp, format="png", dpi=FIGURE_DPI)
    return SweepResult(runs, table, table_path, figure_path, earlier)


def results_table(runs: Iterable[SweepRun], out: str | Path | None = None,
                  defaults: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per run: parameters, recorded results, status, seconds, error, notebook.

    A parameter a run did not set (an earlier sweep swept other names) is filled with the
    notebook's default from ``defaults`` for runs of the current code, since that is the value
    it ran with. A result named like a parameter gets the column ``<name>_result``.
    """
    runs = list(runs)
    names = list(dict.fromkeys(k for r in runs for k in r.params))
    rows = []
    for run in runs:
        params = dict(run.params)
        if run.status != "stale":
            for name in names:
                if name not in params and not isinstance((defaults or {}).get(name, NO_DEFAULT),
                                                         _NoDefault):
                    params[name] = defaults[name]
        row: dict[str, Any] = {k: _format(v) if isinstance(v, (list, tuple, dict)) else v
                               for k, v in params.items()}
        for k, v in run.results.items():
            row[f"{k}_result" if k in names else k] = \
                json.dumps(v) if isinstance(v, (list, dict)) else v
        nb = run.notebook
        row.update(status=run.status, seconds=run.seconds, error=run.error,
                   notebook=str(nb.relative_to(out)) if out is not None else str(nb))
        rows.append(row)
    table = pd.DataFrame(rows)
    order = [n for n in names if n in table] + [c for c in table if c not in names]
    return table[order] if len(table) else table


#: Parameters whose values are repeats of one setting (several seeds at one λ): the figure
#: averages over them, with an interval, instead of drawing them as an axis.
REPEAT_NAMES = ("seed", "seeds", "repeat", "repeats", "replicate", "rep")
FIGURE_DPI = 120


def repeat_parameters(swept: Sequence[str]) -> list[str]:
    """The swept parameters that repeat a setting rather than change it: names in
    :data:`REPEAT_NAMES` or ending in ``_seed``."""
    return [p for p in swept if p.lower() in REPEAT_NAMES or p.lower().endswith("_seed")]


def sweep_figure(table: pd.DataFrame, swept: Sequence[str],
                 repeat: Sequence[str] | None = None):
    """The figure of a sweep's table (:func:`milhelpers.viz.sweep_results` on the runs of the
    current code: ``ok``, ``skipped`` and ``earlier``), or None when no run recorded a number."""
    from .viz import sweep_results

    drawn = table[table.status.isin(["ok", "skipped", "earlier"])] if "status" in table else table
    repeat = repeat_parameters(swept) if repeat is None else repeat
    return sweep_results(drawn, swept, repeat=repeat,
                         ignore=("status", "seconds", "error", "notebook"))
