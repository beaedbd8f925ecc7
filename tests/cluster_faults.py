"""Faults injected into Dask worker processes by the cluster tests (sent to the workers by value,
so they need not import this file).

Each plugin wraps ``os.replace`` — the rename that publishes a finished output in
:func:`milhelpers.h5io.atomic_output` — in every worker it reaches, including workers that
replace a dead one, so the fault strikes after the temporary file is fully written and before it
becomes the output: the worst moment to die.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin


def _log(path: str) -> None:
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")


def attempts(log: str | Path) -> int:
    """How many times a fault struck (one line each)."""
    return len(Path(log).read_text().splitlines()) if Path(log).exists() else 0


class _OnPublish(WorkerPlugin):
    """Do ``self.strike()`` when a worker is about to rename a temporary file onto an output
    named ``target`` (a file name such as ``b.h5``)."""

    def __init__(self, target: str, log: str):
        self.target, self.log = target, str(log)

    def setup(self, worker):
        real = os.replace
        plugin = self

        def replace(src, dst, *args, **kwargs):
            if Path(dst).name == plugin.target and plugin.should_strike():
                _log(plugin.log)
                plugin.strike()
            return real(src, dst, *args, **kwargs)

        self._real, os.replace = real, replace

    def teardown(self, worker):
        os.replace = self._real

    def should_strike(self) -> bool:
        return True

    def strike(self) -> None:
        raise NotImplementedError


class KillOnce(_OnPublish):
    """The first worker to publish ``target`` dies (SIGKILL) with its temporary file on disk."""

    def should_strike(self) -> bool:
        return attempts(self.log) == 0

    def strike(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class KillAlways(KillOnce):
    """Every worker that tries to publish ``target`` dies (a slide that crashes its reader)."""

    def should_strike(self) -> bool:
        return True


class KillProcess(_OnPublish):
    """Publishing ``target`` first kills another process (the scheduler), then goes on."""

    def __init__(self, target: str, log: str, pid: int):
        super().__init__(target, log)
        self.pid = pid

    def should_strike(self) -> bool:
        return attempts(self.log) == 0

    def strike(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        time.sleep(0.5)


class Stall(_OnPublish):
    """Publishing ``target`` hangs (a long write), with its temporary file on disk."""

    def strike(self) -> None:
        time.sleep(120)


def stall_preload(path: str | Path, target: str) -> Path:
    """A Dask worker preload script (``distributed.worker.preload``) that makes every worker hang
    when it is about to publish ``target`` — for a command line run in another process."""
    Path(path).write_text(
        "import os, time\n"
        "from pathlib import Path\n"
        "_real = os.replace\n\n"
        "def _replace(src, dst, *args, **kwargs):\n"
        f"    if Path(dst).name == {target!r}:\n"
        "        time.sleep(120)\n"
        "    return _real(src, dst, *args, **kwargs)\n\n"
        "def dask_setup(worker):\n"
        "    os.replace = _replace\n")
    return Path(path)
