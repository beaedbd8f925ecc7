"""milhelpers: the tested helper package behind the attention-MIL for WSIs course.

Submodules are imported on demand (``from milhelpers import tiling``) so that light commands
such as ``python -m milhelpers tile`` never pay for importing torch. :func:`record` (standard
library only) is at the top level: a notebook publishes its key results to a parameter sweep
with ``milhelpers.record(auc=...)``.
"""
__version__ = "0.1.0"

from .recording import record  # noqa: E402

__all__ = ["record"]
