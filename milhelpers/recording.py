"""How a notebook publishes its key results to a parameter sweep (``python -m milhelpers sweep``).

A chapter ends with one call, e.g. ``milhelpers.record(auc=auc, entropy=h)``. Run by the sweep,
the values go to the JSON file the sweep names in ``$MILHELPERS_RECORD`` and end up as one row of
the sweep's results table. Run any other way (Jupyter, nbval, papermill alone) the call checks its
values and does nothing else: it prints nothing and returns None, so executed outputs do not change.

This module uses the standard library only, so ``import milhelpers`` stays light.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["RECORD_ENV", "RUN_DIR_ENV", "record", "read_record", "sweep_run_dir"]

#: The file ``record`` writes to, set by the sweep for each run.
RECORD_ENV = "MILHELPERS_RECORD"
#: The run's own output folder, set by the sweep (see :func:`sweep_run_dir`).
RUN_DIR_ENV = "MILHELPERS_RUN_DIR"

_SIMPLE = (bool, int, float, str, type(None))


def _plain(key: str, value: Any) -> Any:
    """``value`` as JSON-ready Python: numbers, strings, bools, None and lists/dicts of them.

    NumPy scalars and one-element tensors/arrays (``ndim == 0``) become Python numbers.
    """
    if isinstance(value, _SIMPLE):
        return value
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return _plain(key, value.item())
    if isinstance(value, (list, tuple)):
        return [_plain(key, v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(key, v) for k, v in value.items()}
    raise TypeError(f"record({key}=...): a {type(value).__name__} cannot be recorded; pass a "
                    "number, string, bool, or a list of them (e.g. float(x) or x.tolist())")


def record(**results: Any) -> None:
    """Publish key results of this notebook run: ``record(auc=0.91, entropy=0.62)``.

    In a sweep the values are merged into ``$MILHELPERS_RECORD`` (later calls add keys or
    replace them), written atomically. Elsewhere nothing happens beyond checking that every value
    can be recorded, so a bad value fails while you write the notebook, not in the sweep.
    """
    clean = {k: _plain(k, v) for k, v in results.items()}
    target = os.environ.get(RECORD_ENV)
    if not target:
        return None
    path = Path(target)
    merged = {**read_record(path), **clean}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(merged, fh, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return None


def read_record(path: str | Path) -> dict[str, Any]:
    """The results recorded in ``path`` so far ({} when the notebook recorded nothing)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def sweep_run_dir(default: str | Path) -> Path:
    """Where this run should write its own files: the sweep run's folder in a sweep (parallel
    runs of one notebook must not share an output folder), else ``default``."""
    return Path(os.environ.get(RUN_DIR_ENV) or default)
