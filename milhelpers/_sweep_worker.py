"""What a sweep's worker process runs: one notebook with papermill, its kernel told where to record.

Kept apart from :mod:`milhelpers.sweep` so each worker imports only the standard library and
papermill (not pandas or h5py): on two cores that start-up is a good part of a short run.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .recording import RECORD_ENV, RUN_DIR_ENV

NOTEBOOK_FILE = "notebook.ipynb"
RECORD_FILE = ".record.json"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def execute(notebook: str, out_dir: str, params: dict[str, Any], threads: int | None
            ) -> tuple[bool, str, float]:
    """Run one notebook into ``out_dir/notebook.ipynb`` in this (worker) process, its kernel
    started in the notebook's folder with ``$MILHELPERS_RECORD`` and ``$MILHELPERS_RUN_DIR`` set
    (and ``threads`` BLAS/OpenMP threads when given). Returns (ok, error message, seconds)."""
    import papermill as pm

    out = Path(out_dir)
    record = out / RECORD_FILE
    if record.exists():
        record.unlink()
    os.environ[RECORD_ENV] = str(record.resolve())
    os.environ[RUN_DIR_ENV] = str(out.resolve())
    if threads:                             # parallel kernels must not oversubscribe the cores
        for var in THREAD_VARS:
            os.environ[var] = str(threads)
    partial = out / ".notebook.part.ipynb"   # papermill wants the .ipynb suffix
    t0 = time.perf_counter()
    ok, message = True, ""
    try:
        pm.execute_notebook(notebook, str(partial), parameters=params,
                            cwd=str(Path(notebook).parent), kernel_name="python3",
                            language="python", progress_bar=False, log_output=False)
    except Exception as err:  # a cell raised (PapermillExecutionError), the kernel died, ...
        ok = False
        if hasattr(err, "ename"):
            message = f"cell [{err.exec_count}]: {err.ename}: {err.evalue}"
        else:
            message = f"{type(err).__name__}: {err}"
        message = message.splitlines()[0][:300] if message else type(err).__name__
    finally:
        if partial.exists():                # the failing notebook is kept too: it shows where
            os.replace(partial, out / NOTEBOOK_FILE)
    return ok, message, time.perf_counter() - t0
