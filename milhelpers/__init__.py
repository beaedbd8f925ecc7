"""milhelpers: the tested helper package behind the attention-MIL for WSIs course.

Submodules are imported on demand (``from milhelpers import tiling``) so that light commands
such as ``python -m milhelpers tile`` never pay for importing torch.
"""
__version__ = "0.1.0"
