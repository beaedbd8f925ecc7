"""milhelpers.cluster and the slide-parallel paths on a real local Dask cluster of worker
processes: results equal to a serial run, and the faults a cluster run meets (a worker killed
mid-slide, a slide that kills every worker, the scheduler gone, Ctrl-C, a killed data build)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import dask
import numpy as np
import psutil
import pytest
import yaml

import cluster_faults
from conftest import REAL_SVS
from milhelpers import cluster
from milhelpers.h5io import read_coords, read_features
from milhelpers.pipeline import extract_folder, tile_folder

cloudpickle.register_pickle_by_value(cluster_faults)   # workers need not import the tests

ROOT = Path(__file__).resolve().parents[1]
#: the cheapest tiling of the real SVS region (39 patches of 32 px at 4 µm/px per slide)
TILE = dict(target_mpp=4.0, patch_size=32, qc=False)
SIZE = 32


def _env(**extra) -> dict:
    env = {"TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return {**env, **extra}


@pytest.fixture(scope="module")
def slides(tmp_path_factory) -> Path:
    """Three readable slides (a, b, c) and one that is not (bad.svs)."""
    d = tmp_path_factory.mktemp("slides")
    for name in ("a", "b", "c"):
        shutil.copy(REAL_SVS, d / f"{name}.svs")
    (d / "bad.svs").write_bytes(b"\x00" * 1000)
    return d


@pytest.fixture(scope="module")
def serial(tmp_path_factory, slides) -> Path:
    """The same slides tiled and encoded in this process: the reference."""
    out = tmp_path_factory.mktemp("serial")
    rep = tile_folder(slides, out, progress=False, **TILE)
    assert set(rep.failed) == {"bad.svs"} and len(rep.results) == 3
    frep, _, missing = extract_folder(slides, out / "patches", out, input_size=SIZE,
                                      num_workers=0, progress=False)
    assert len(frep.written) == 3 and missing == ["bad"]
    return out


@pytest.fixture(scope="module")
def local2():
    """A local cluster of two worker processes that retries a task once after its worker dies
    (a second death reports it)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with cluster.session("local:2") as c:
            yield c


@pytest.fixture
def plugin(local2):
    """Register a fault on every worker (also the ones that replace a dead worker); removed
    after the test."""
    names = []

    def add(p):
        names.append(f"fault-{len(names)}")
        local2.register_plugin(p, name=names[-1])
        return p
    yield add
    for name in names:
        local2.unregister_worker_plugin(name)


def _assert_same_coords(out: Path, ref: Path, stems=("a", "b", "c")) -> None:
    for s in stems:
        a, _ = read_coords(out / "patches" / f"{s}.h5")
        b, _ = read_coords(ref / "patches" / f"{s}.h5")
        np.testing.assert_array_equal(a, b)


def _assert_same_features(feat_dir: Path, ref: Path, stems=("a", "b", "c")) -> None:
    for s in stems:
        fa, ca = read_features(feat_dir / f"{s}.h5")
        fb, cb = read_features(ref / "features_efficientnet_lite0" / f"{s}.h5")
        np.testing.assert_array_equal(ca, cb)
        np.testing.assert_allclose(fa, fb, rtol=1e-4, atol=1e-4)


def _partials(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.part"))


# -- the engine itself ----------------------------------------------------------------------
@pytest.mark.parametrize("text,want", [
    (None, ("local", None)), ("local", ("local", None)), ("local:3", ("local", 3)),
    ("tcp://head:8786", ("address", "tcp://head:8786"))])
def test_parse_scheduler(text, want):
    assert cluster.parse_scheduler(text) == want


@pytest.mark.parametrize("text", ["local:0", "local:x", "head:8786", "local:-1"])
def test_parse_scheduler_refuses_other_values(text):
    with pytest.raises(ValueError, match="local:N|scheduler address"):
        cluster.parse_scheduler(text)


def test_worker_threads_and_slot_outside_a_worker(monkeypatch):
    monkeypatch.setenv(cluster.WORKER_THREADS_ENV, "3")
    assert cluster.worker_threads() == 3
    monkeypatch.setenv(cluster.WORKER_THREADS_ENV, "zero")
    assert cluster.worker_threads() == len(os.sched_getaffinity(0))
    assert cluster.worker_slot() == 0


def _worker_facts():
    import torch

    return cluster.worker_slot(), cluster.worker_threads(), torch.get_num_threads()


def test_local_workers_share_the_cores_and_know_their_slot(local2):
    workers = list(local2.scheduler_info()["workers"])
    facts = {w: local2.submit(_worker_facts, workers=[w], pure=False).result() for w in workers}
    cores = len(os.sched_getaffinity(0))
    assert sorted(f[0] for f in facts.values()) == [0, 1]
    assert all(f[1] == max(1, cores // 2) == f[2] for f in facts.values())
    line = cluster.describe(local2)
    assert line.startswith("Dask: 2 workers at tcp://") and "dashboard http://" in line


def _square_or_fail(x: int, log: str) -> int:
    with open(log, "a") as f:
        f.write(f"{x}\n")
    if x == 3:
        raise ValueError("three is refused")
    if x == 4:
        raise TypeError("a bug")
    return x * x


def test_run_tasks_reports_each_failure_once_and_finishes_the_others(local2, tmp_path):
    log = tmp_path / "calls.txt"
    seen = []
    rep = cluster.run_tasks(_square_or_fail, [5, 3, 1, 4, 2], keys=list("abcde"),
                            args=(str(log),), client=local2, progress=False, echo=None,
                            expected=(ValueError,), on_result=lambda k, v: seen.append(k))
    assert list(rep.results.items()) == [("a", 25), ("c", 1), ("e", 4)]   # in item order
    assert rep.failed == {"b": "three is refused", "d": "TypeError: a bug"}
    assert sorted(seen) == ["a", "c", "e"]
    # a task that raises is not retried: every item ran exactly once
    assert sorted(int(x) for x in log.read_text().split()) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="one distinct key per item"):
        cluster.run_tasks(abs, [1, 2], keys=["k", "k"], client=local2)


def test_the_cluster_line_is_printed_once_by_whoever_opened_the_cluster(local2):
    # a caller's own client: the caller printed it (chapter 08 did, then saw it twice)
    lines = []
    rep = cluster.run_tasks(abs, [-2, 3], client=local2, progress=False, echo=lines.append)
    assert rep.results == {-2: 2, 3: 3} and lines == []
    # opened here (an address): one line naming the workers
    rep = cluster.run_tasks(abs, [-4], scheduler=local2.scheduler.address, progress=False,
                            echo=lines.append)
    assert rep.results == {-4: 4} and len(lines) == 1 and lines[0].startswith("Dask: 2 workers")


def test_nothing_to_do_starts_no_cluster():
    # an address where nothing answers: connecting would raise
    rep = cluster.run_tasks(abs, [], scheduler="tcp://127.0.0.1:9")
    assert rep.results == {} and rep.failed == {}


def test_no_scheduler_at_the_address_is_a_clear_error():
    with pytest.raises(ConnectionError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9"):
        cluster.client("tcp://127.0.0.1:9", timeout="1s")


# -- batch clusters: the job script dask-jobqueue builds from our YAML ---------------------------
def _job_script(tmp_path, spec: dict) -> str:
    spec = {**spec, "scheduler_options": {"host": "127.0.0.1", "dashboard_address": ":0"}}
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(spec))
    c = cluster.cluster_from_yaml(path, start=False)
    try:
        return c.job_script()
    finally:
        c.close()


def test_slurm_job_script_from_yaml(tmp_path):
    script = _job_script(tmp_path, dict(kind="slurm", jobs=4, cores=8, memory="32GB",
                                        walltime="02:00:00", gpus=2, processes=2, queue="gpu",
                                        account="mylab", job_extra_directives=["--constraint=a100"]))
    lines = script.splitlines()
    assert "#SBATCH --cpus-per-task=8" in lines          # all the cores booked
    assert "#SBATCH --mem=30G" in lines                  # dask-jobqueue books 32 GB as 30 GiB
    assert "#SBATCH -t 02:00:00" in lines
    assert "#SBATCH --gres=gpu:2" in lines
    assert "#SBATCH -p gpu" in lines and "#SBATCH -A mylab" in lines
    assert "#SBATCH --constraint=a100" in lines
    assert f"export {cluster.WORKER_THREADS_ENV}=4" in lines   # 8 cores over 2 workers
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    # two workers per job, each running one task at a time
    assert "--nworkers 2" in worker and "--nthreads 1" in worker
    assert "--memory-limit 14.90GiB" in worker


def test_a_lifetime_retires_workers_before_the_walltime(tmp_path):
    script = _job_script(tmp_path, dict(kind="slurm", cores=2, memory="4GB", walltime="04:00:00",
                                        lifetime="3h50m"))
    worker = next(line for line in script.splitlines() if "distributed.cli.dask_worker" in line)
    assert "--lifetime 3h50m --lifetime-stagger 5m" in worker
    assert "--gres" not in script                         # no GPU asked for


def test_pbs_job_script_books_cpus_memory_and_gpus(tmp_path):
    script = _job_script(tmp_path, dict(kind="pbs", cores=4, memory="16GB", gpus=1,
                                        walltime="01:00:00"))
    assert "#PBS -l select=1:ncpus=4:mem=16GB:ngpus=1" in script.splitlines()
    assert "--nthreads 1" in script and f"export {cluster.WORKER_THREADS_ENV}=4" in script


@pytest.mark.parametrize("spec,match", [
    ({"kind": "slurm", "memory": "8GB"}, "'cores' is missing"),
    ({"kind": "condor", "cores": 4, "memory": "8GB"}, "kind 'condor'"),
    ({"cores": 6, "memory": "8GB", "processes": 4}, "multiple of processes"),
    ({"cores": 4, "memory": "8GB", "jobs": 0}, "'jobs' must be a whole number"),
])
def test_bad_cluster_files_are_named(tmp_path, spec, match):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError, match=match) as err:
        cluster.cluster_from_yaml(path, start=False)
    assert str(path) in str(err.value)


# -- slide-parallel tiling and extraction: the same files as a serial run ------------------------
def test_tile_and_extract_on_the_cluster_equal_the_serial_run(local2, slides, serial, tmp_path):
    rep = tile_folder(slides, tmp_path, progress=False, client=local2, **TILE)
    assert rep.failed.keys() == {"bad.svs"} and "not recognise" in rep.failed["bad.svs"]
    assert [r.slide_id for r in rep.results] == ["a", "b", "c"] and rep.results[0].tissue is None
    _assert_same_coords(tmp_path, serial)
    frep, feat_dir, missing = extract_folder(slides, tmp_path / "patches", tmp_path,
                                             input_size=SIZE, progress=False, client=local2)
    assert missing == ["bad"] and not frep.failed
    assert sorted(p.name for p in frep.written) == ["a.h5", "b.h5", "c.h5"]
    assert frep.n_patches == 3 * 39 and frep.device == "cpu" and frep.precision == "fp32"
    _assert_same_features(feat_dir, serial)
    # the rerun submits nothing: finished slides are skipped, as in a serial run
    again, _, _ = extract_folder(slides, tmp_path / "patches", tmp_path, input_size=SIZE,
                                 progress=False, client=local2)
    assert not again.written and len(again.skipped) == 3 and again.n_patches == 0


def test_cli_tile_and_extract_with_a_local_scheduler(slides, serial, tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "milhelpers", *map(str, args)],
                              capture_output=True, text=True, env=_env())

    r = run("tile", slides, tmp_path, "--target-mpp", "4.0", "--patch-size", "32", "--no-qc",
            "--scheduler", "local:2")
    assert r.returncode == 1 and "bad.svs: FAILED" in r.stderr and "Traceback" not in r.stderr
    assert "Dask: 2 workers at tcp://" in r.stdout and "dashboard http://" in r.stdout
    assert "tiled 3/4 slides, 117 patches, 0 without tissue, 1 failed" in r.stdout
    _assert_same_coords(tmp_path, serial)
    r = run("extract", slides, tmp_path, "--input-size", SIZE, "--scheduler", "local:1")
    assert r.returncode == 1 and "bad: FAILED: no coordinates" in r.stderr
    assert "encoded 117 patches from 3 slides with efficientnet_lite0 on cpu (fp32)" in r.stdout
    _assert_same_features(tmp_path / "features_efficientnet_lite0", serial)
    r = run("tile", slides, tmp_path, "--scheduler", "nowhere")
    assert r.returncode == 2 and "argument --scheduler" in r.stderr


# -- faults ---------------------------------------------------------------------------------------
def test_a_worker_killed_mid_slide_is_retried_elsewhere_and_leaves_no_partial_file(
        local2, plugin, slides, serial, tmp_path):
    log = tmp_path / "kills.txt"
    plugin(cluster_faults.KillOnce("b.h5", str(log)))
    tile_folder(slides, tmp_path, progress=False, client=local2, **TILE)
    frep, feat_dir, _ = extract_folder(slides, tmp_path / "patches", tmp_path, input_size=SIZE,
                                       progress=False, client=local2)
    assert cluster_faults.attempts(log) == 1          # b's first worker died before publishing
    assert not frep.failed and sorted(p.name for p in frep.written) == ["a.h5", "b.h5", "c.h5"]
    assert not _partials(tmp_path)                    # the retry removed the dead worker's file
    _assert_same_coords(tmp_path, serial)
    _assert_same_features(feat_dir, serial)
    rerun, _, _ = extract_folder(slides, tmp_path / "patches", tmp_path, input_size=SIZE,
                                 progress=False, client=local2)
    assert not rerun.written and len(rerun.skipped) == 3


def test_a_slide_that_kills_every_worker_is_reported_once_not_retried_forever(
        local2, plugin, slides, serial, tmp_path):
    log = tmp_path / "kills.txt"
    plugin(cluster_faults.KillAlways("c.h5", str(log)))
    rep = tile_folder(slides, tmp_path, progress=False, client=local2, **TILE)
    # allowed-failures = 1: the first death is retried, the second reports the slide
    assert cluster_faults.attempts(log) == 2
    assert set(rep.failed) == {"bad.svs", "c.svs"}
    assert "worker process died each time" in rep.failed["c.svs"]
    assert [r.slide_id for r in rep.results] == ["a", "b"]
    _assert_same_coords(tmp_path, serial, stems=("a", "b"))
    assert not (tmp_path / "patches" / "c.h5").exists()


@pytest.fixture
def external_cluster(tmp_path):
    """A scheduler and one worker started like on a head node: ``dask scheduler`` and
    ``dask worker`` processes; yields (address, scheduler process, worker process)."""
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                               "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                               str(sched_file)], env=_env(), stderr=subprocess.DEVNULL)]
    try:
        for _ in range(600):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
             "--nthreads", "1", "--no-dashboard"], env=_env(), stderr=subprocess.DEVNULL))
        yield address, procs[0], procs[1]
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_the_scheduler_gone_is_a_clear_error_and_finished_files_are_kept(
        external_cluster, slides, serial, tmp_path):
    from distributed import Client

    address, scheduler, worker = external_cluster
    with Client(address, timeout="30s") as c:
        c.wait_for_workers(1, timeout=60)
        # the one worker takes a, b, c in turn; publishing c's coordinates kills the scheduler
        c.register_plugin(cluster_faults.KillProcess("c.h5", str(tmp_path / "k.txt"),
                                                     scheduler.pid), name="kill-scheduler")
    out = tmp_path / "out"
    paths = [slides / f"{s}.svs" for s in "abc"]
    with pytest.raises(cluster.SchedulerLostError, match="stopped answering") as err:
        tile_folder(paths, out, progress=False, scheduler=address, **TILE)
    assert address in str(err.value) and "rerun the same command" in str(err.value)
    scheduler.wait(timeout=30)
    # the site's worker goes too (its current slide may or may not have been published)
    lost = [psutil.Process(worker.pid), *_descendants(worker.pid)]
    worker.kill()
    assert not _survivors(lost)
    kept = {p.stem: p.stat().st_mtime_ns for p in (out / "patches").glob("*.h5")}
    assert {"a", "b"} <= set(kept)       # finished before the loss: kept, and complete
    _assert_same_coords(out, serial, stems=sorted(kept))
    # resume on a local cluster: what was kept is skipped, not rewritten; c's leftover goes
    rep = tile_folder(paths, out, progress=False, scheduler="local:1", **TILE)
    assert not rep.failed and {r.slide_id for r in rep.results if r.skipped} == set(kept)
    assert all((out / "patches" / f"{s}.h5").stat().st_mtime_ns == t for s, t in kept.items())
    assert not _partials(out)
    _assert_same_coords(out, serial)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _wait_until(test, seconds: float = 120) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if test():
            return True
        time.sleep(0.1)
    return False


def _survivors(procs: list[psutil.Process], seconds: float = 10) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(procs, timeout=seconds)
    return alive


def test_ctrl_c_stops_the_workers_and_leaves_nothing_half_written(slides, serial, tmp_path):
    preload = cluster_faults.stall_preload(tmp_path / "stall.py", "b.h5")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "milhelpers", "tile", str(slides), str(out), "--target-mpp", "4.0",
         "--patch-size", "32", "--no-qc", "--scheduler", "local:2"],
        env=_env(DASK_DISTRIBUTED__WORKER__PRELOAD=json.dumps([str(preload)])),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # wait until b is being written (its temporary file exists) and the others are done
        assert _wait_until(lambda: list((out / "patches").glob(".b.h5.*.part"))
                           and (out / "patches" / "c.h5").exists()), proc.communicate(timeout=5)
        workers = _descendants(proc.pid)
        assert len(workers) >= 2
        os.killpg(proc.pid, signal.SIGINT)      # Ctrl-C in a terminal: the whole group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert "nanny.py" not in err and "distributed/worker" not in err   # the workers stay quiet
    assert not _survivors(workers), "worker processes survived Ctrl-C"
    assert not _partials(out)                       # b's half-written file was removed
    assert not (out / "patches" / "b.h5").exists()
    _assert_same_coords(out, serial, stems=("a", "c"))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_data_build_leaves_no_worker_processes(tmp_path, sig):
    """A cohort build in another process (as `python -m milhelpers data` or a notebook runs it),
    killed while a worker is writing a slide: no worker outlives it, and the next build cleans
    the half-written file and finishes."""
    preload = cluster_faults.stall_preload(tmp_path / "stall.py", "synth_000.tiff")
    root = tmp_path / "cohort"
    build = (f"from milhelpers import synth\n"
             f"if __name__ == '__main__':\n"
             f"    synth.build_cohort({str(root)!r}, synth.CohortConfig(n_slides=10, seed=1, "
             f"min_side_mm=0.3, max_side_mm=0.4), workers=2, progress=False)\n")
    script = tmp_path / "build.py"
    script.write_text(build)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=_env(DASK_DISTRIBUTED__WORKER__PRELOAD=json.dumps([str(preload)])))
    try:
        assert _wait_until(lambda: list((root / "slides").glob(".synth_000.tiff.*.part")))
        workers = _descendants(proc.pid)
        assert len(workers) >= 2
        os.kill(proc.pid, sig)                      # only the parent, as `kill` or a kernel stop
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not _survivors(workers), "worker processes outlived the killed build"
    if sig == signal.SIGKILL:   # nothing ran in the parent: the next build finishes the job
        from milhelpers import synth

        cohort = synth.build_cohort(root, synth.CohortConfig(
            n_slides=10, seed=1, min_side_mm=0.3, max_side_mm=0.4), workers=1, progress=False)
        assert len(cohort.labels) == 10 and not _partials(root)
