"""The argument checks the benchmark scripts share: refused before any work, in one message."""
from __future__ import annotations

from pathlib import Path


def refusal(methods: list[str], json_path: Path | None, overwrite: bool) -> str | None:
    """Why a benchmark must not start (an unknown method, or a finished ``--json`` file that
    ``--overwrite`` does not allow replacing), or None."""
    from milhelpers.methods import available_methods

    unknown = [m for m in methods if m not in available_methods()]
    if unknown:
        return f"unknown method(s) {unknown}; choose from {available_methods()}"
    if json_path is not None and Path(json_path).exists() and not overwrite:
        return f"{json_path} exists; pass --overwrite to replace it"
    return None
