"""What a sweep's Dask task runs: one notebook with papermill, its kernel told where to record.

Kept apart from :mod:`milhelpers.sweep` so a worker imports only the standard library and
papermill (not pandas or h5py): on two cores that start-up is a good part of a short run.

Everything a run needs reaches its *kernel* (environment, working folder, stderr) as launch
arguments, never through this process's ``os.environ`` or current folder: a Dask worker may run
several notebooks at once in threads, which share both.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from .recording import RECORD_ENV, RUN_DIR_ENV, read_record

NOTEBOOK_FILE = "notebook.ipynb"
RESULT_FILE = "result.json"               # a finished run: its cache key and recorded results
RECORD_FILE = ".record.json"
PARTIAL_FILE = ".notebook.part.ipynb"     # papermill wants the .ipynb suffix
KERNEL_LOG = ".kernel.log"                # the kernel's stderr while it runs
FAILED_KERNEL_LOG = "kernel.log"          # kept beside a failed run's notebook
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _kernel_manager(env: dict[str, str], cwd: str, stderr):
    """A kernel manager class that starts its kernel with ``env``, in ``cwd``, with stderr (and
    stdout) going to the open file ``stderr``: a kernel logs a TCP-transport warning at start and
    an error for the interrupt jupyter_client sends before every shutdown, and C libraries write
    there too, none of which belongs on the sweep's terminal."""
    from jupyter_client.manager import AsyncKernelManager

    class _RunKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            kw.update(env=env, cwd=cwd, stdout=stderr, stderr=stderr)
            await super().start_kernel(**kw)

    return _RunKernelManager


def _kernel_threads(slots_by_host: dict[str, int] | None) -> int | None:
    """BLAS/OpenMP threads for a kernel: the cores of this machine shared by the notebooks its
    Dask workers run at once; None (the libraries' own default) when one runs at a time, outside
    a Dask worker, or when the user set a thread variable."""
    if not slots_by_host or any(v in os.environ for v in THREAD_VARS):
        return None
    try:
        from distributed import get_worker
        from distributed.comm import get_address_host

        worker = get_worker()
    except (ImportError, ValueError):      # not in a Dask worker
        return None
    slots = slots_by_host.get(get_address_host(worker.address), worker.state.nthreads)
    if slots <= 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1
    return max(1, cores // slots)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """``path`` written under a temporary name and renamed when complete (the temporary file
    is opened like any new file, so the result gets the usual umask-given mode)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        with open(tmp, "x") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def execute(notebook: str, out_dir: str, params: dict[str, Any], key: dict[str, Any],
            slots_by_host: dict[str, int] | None = None
            ) -> tuple[bool, str, float, dict[str, Any]]:
    """Run one notebook into ``out_dir/notebook.ipynb``, its kernel started in the notebook's
    folder with ``$MILHELPERS_RECORD`` and ``$MILHELPERS_RUN_DIR`` set (and, when several
    notebooks share a machine, its share of the cores as BLAS/OpenMP threads; ``slots_by_host``:
    notebooks run at once per host). A finished run writes ``result.json``: ``key`` (what the
    sweep compares to skip it next time) with the recorded results and the seconds it took.
    Returns (ok, error message, seconds, recorded results).

    A failed run keeps its notebook (it shows the failing cell) and, when the kernel itself
    died, ``kernel.log``; it writes no ``result.json``, so the next sweep tries it again."""
    import papermill as pm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record, partial, log = out / RECORD_FILE, out / PARTIAL_FILE, out / KERNEL_LOG
    for stale in (out / RESULT_FILE, record, out / FAILED_KERNEL_LOG):
        stale.unlink(missing_ok=True)
    env = dict(os.environ, **{RECORD_ENV: str(record.resolve()), RUN_DIR_ENV: str(out.resolve())})
    threads = _kernel_threads(slots_by_host)
    if threads:                             # parallel kernels must not oversubscribe the cores
        env.update({var: str(threads) for var in THREAD_VARS})
    t0 = time.perf_counter()
    ok, message, kernel_died = True, "", False
    with open(log, "w") as stderr:
        try:
            pm.execute_notebook(notebook, str(partial), parameters=params,
                                kernel_name="python3", language="python", progress_bar=False,
                                log_output=False,
                                kernel_manager_class=_kernel_manager(
                                    env, str(Path(notebook).parent), stderr))
        except Exception as err:  # a cell raised (PapermillExecutionError), the kernel died, ...
            ok = False
            if hasattr(err, "ename"):
                message = f"cell [{err.exec_count}]: {err.ename}: {err.evalue}"
            else:
                kernel_died = True
                message = f"{type(err).__name__}: {err}"
            message = message.splitlines()[0][:300] if message else type(err).__name__
        finally:
            if partial.exists():            # the failing notebook is kept too: it shows where
                os.replace(partial, out / NOTEBOOK_FILE)
    seconds = time.perf_counter() - t0
    if kernel_died and log.stat().st_size:
        os.replace(log, out / FAILED_KERNEL_LOG)
        message += f" (kernel's log: {out / FAILED_KERNEL_LOG})"
    else:
        log.unlink(missing_ok=True)
    results = read_record(record) if ok else {}
    if ok:
        _write_json(out / RESULT_FILE, {**key, "results": results, "seconds": seconds,
                                        "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    record.unlink(missing_ok=True)
    return ok, message, seconds, results


def execute_job(job: tuple) -> tuple[bool, str, float, dict[str, Any]]:
    """:func:`execute` of one ``(notebook, out_dir, params, key, slots_by_host)``: a sweep's
    task (:func:`milhelpers.cluster.run_tasks` gives each task one item)."""
    return execute(*job)
