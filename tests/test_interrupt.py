"""Ctrl-C on a command: one line, "interrupted; rerun the same command to resume", exit status
130, no traceback (also from the runner's worker processes), and no process left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from own_data import write_feature_cohort

ROOT = Path(__file__).resolve().parents[1]
MESSAGE = "interrupted; rerun the same command to resume"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _interrupt_when(argv: list[str], started: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Start ``argv`` in its own process group, wait until ``started`` exists (training has
    begun), then press Ctrl-C as a terminal does: SIGINT to the whole group."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    # a terminal's foreground job has SIGINT at its default; a command started from a process
    # that ignores it (a pytest-xdist worker, a script's background job) inherits the ignore,
    # and Python then never raises KeyboardInterrupt
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not started.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate()
            pytest.fail(f"the command ended or never started training: {out}\n{err}")
        time.sleep(0.2)
    time.sleep(1.0)                                     # well inside the first runs
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:                   # Ctrl-C ignored: stop it, fail
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the command was still running 60 s after Ctrl-C")
    for _ in range(50):                                 # workers go with the pool
        if not _group_alive(proc.pid):
            break
        time.sleep(0.2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("processes of the interrupted command were left running")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ctrlc")
    feats, labels = write_feature_cohort(root, 24, dim=16)
    ints = root / "int_labels.csv"
    pd.read_csv(labels).assign(label=lambda t: (t.label == "tumor").astype(int)).to_csv(
        ints, index=False)
    return feats, ints


def _check(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 130, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "KeyboardInterrupt" not in r.stderr, r.stderr
    assert [line for line in r.stderr.splitlines() if line.strip()][-1] == MESSAGE
    assert r.stderr.count(MESSAGE) == 1


# 20000 epochs: a command that ignored Ctrl-C would still be training at the 60-s limit (400
# epochs finished in time, and the command exited 0 as if it had been interrupted and resumed)
def test_ctrl_c_on_train_with_two_workers(data, tmp_path):
    feats, labels = data
    run = tmp_path / "run"
    r = _interrupt_when([sys.executable, "-m", "milhelpers", "train", "--method", "mean_pool",
                         "--features", str(feats), "--labels", str(labels), "--out", str(run),
                         "--folds", "3", "--epochs", "20000", "--workers", "2"],
                        run / "runs" / "mean_pool", tmp_path)
    _check(r)
    assert not (run / "run.json").exists()             # an unfinished run is not a run


def test_ctrl_c_on_the_benchmark(data, tmp_path):
    feats, labels = data
    cache = tmp_path / "cache"
    r = _interrupt_when([sys.executable, str(ROOT / "benchmarks" / "methods.py"), "--features",
                         str(feats), "--labels", str(labels), "--methods", "mean_pool",
                         "--folds", "3", "--epochs", "20000", "--workers", "1", "--cache",
                         str(cache)], cache / "mean_pool", tmp_path)
    _check(r)
