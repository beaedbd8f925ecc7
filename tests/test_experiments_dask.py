"""The experiment runner on a real local Dask cluster of worker processes: every run's metrics,
slide records and predictions equal a serial call's, a two-stage run's task waits for its first
stage's, a failing run is raised after the others are cached, plugin methods reach the workers,
and ``benchmarks/methods.py --scheduler`` gives the serial table."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import get_task_stream

from bags import planted_bags
from milhelpers import cluster
from milhelpers import experiments as ex
from milhelpers.methods import Method, get_method, mhim_method
from own_data import write_feature_cohort

ROOT = Path(__file__).resolve().parents[1]
#: every metric a run records except the two that measure the machine, not the run
SAME = [m for m in ex.METRICS if m not in ("seconds", "peak_mb")]


@pytest.fixture(scope="module")
def local2():
    """Two worker processes of two threads each: runs go to different processes *and* share
    one, so anything a run draws from process-wide state (torch's random streams) would leak."""
    with cluster.session("local:2", threads_per_worker=2) as c:
        yield c


def planted():
    return planted_bags(24, 8, 0, lengths=(10, 30), permute=False, with_instances=True,
                        id_width=2)


def small_methods():
    base = get_method("abmil_gated").with_options(name="abmil_small", embed_dim=16, attn_dim=8)
    mean = get_method("mean_pool").with_options(name="mean_small", embed_dim=16)
    return base, mean, mhim_method(base, name="mhim_small")


def run(ds, cache, methods, **kw):
    return ex.run_experiments(ds, methods, [0, 1], 3, epochs=2, cache_dir=cache, progress=False,
                              **kw)


def assert_same_runs(a: ex.ExperimentResult, b: ex.ExperimentResult) -> None:
    """Run by run: the key and every metric but seconds/peak_mb exactly equal; every slide
    record and every run's test probabilities too."""
    assert len(a.runs) == len(b.runs) > 0
    pd.testing.assert_frame_equal(a.runs[["method", "seed", "fold", "key", *SAME]],
                                  b.runs[["method", "seed", "fold", "key", *SAME]],
                                  check_exact=True)
    pd.testing.assert_frame_equal(a.out_of_fold(), b.out_of_fold(), check_exact=True)
    for r in a.runs.itertuples():
        np.testing.assert_array_equal(a.predictions(r.method, r.seed, r.fold).probs,
                                      b.predictions(r.method, r.seed, r.fold).probs)


def test_runs_on_dask_equal_the_serial_runs_and_wait_for_their_first_stage(tmp_path, local2,
                                                                           monkeypatch):
    ds = planted()
    base, mean, mhim = small_methods()
    fits = []
    original = Method.fit
    monkeypatch.setattr(Method, "fit", lambda self, *a, **kw: fits.append(self.name)
                        or original(self, *a, **kw))
    serial = run(ds, tmp_path / "serial", [base, mean, mhim])
    assert len(fits) == 18 and serial.n_trained == 18
    fits.clear()
    # MHIM alone first: its teachers are tasks of their own, trained before it, once each
    with get_task_stream(client=local2) as stream:
        alone = run(ds, tmp_path / "dask", [mhim], client=local2)
    assert fits == []                     # every run was trained in a worker process
    assert alone.n_trained == 6 and alone.meta["first_stages_trained"] == 6
    assert len(list((tmp_path / "dask" / "abmil_small").glob("*.json"))) == 6
    spans = {}
    for task in stream.data:
        name = task["key"] if isinstance(task["key"], str) else task["key"][0]
        compute = [s for s in task["startstops"] if s["action"] == "compute"]
        if name.startswith("run-") and compute:
            spans[name.rsplit("-", 1)[0]] = (compute[0]["start"], compute[-1]["stop"])
    assert len(spans) == 12
    for s in (0, 1):
        for k in range(3):
            teacher = spans[f"run-abmil_small-seed{s}-fold{k}"]
            student = spans[f"run-mhim_small-seed{s}-fold{k}"]
            assert student[0] >= teacher[1]
    # then the three methods: only mean pooling is missing, the rest is read from the cache
    both = run(ds, tmp_path / "dask", [base, mean, mhim], client=local2)
    assert both.n_trained == 6 and fits == []
    assert_same_runs(serial, both)
    again = run(ds, tmp_path / "dask", [base, mean, mhim], client=local2)
    assert again.n_trained == 0


def test_a_failing_run_is_raised_after_the_others_are_cached(tmp_path, local2):
    attempts = tmp_path / "attempts.txt"     # the processes that tried to build fold 2

    def broken(ctx, **kw):
        if ctx.fold == 2:
            with open(attempts, "a") as f:
                f.write(f"{os.getpid()}\n")
            raise ValueError("fold 2 cannot be built")
        return get_method("mean_pool").build(ctx, embed_dim=16)

    with pytest.raises(ValueError, match="fold 2 cannot be built"):
        ex.run_experiments(planted(), [Method("sometimes_broken", broken)], [0], 3, epochs=1,
                           cache_dir=tmp_path / "runs", progress=False, client=local2)
    assert sorted(p.name[:11] for p in (tmp_path / "runs" / "sometimes_broken").glob("*.json")) \
        == ["seed0_fold0", "seed0_fold1"]
    # tried once, in a worker: the failed task's error is raised, not the run trained again here
    tried = attempts.read_text().split()
    assert len(tried) == 1 and tried[0] != str(os.getpid())


def test_only_the_plugins_of_the_methods_to_train_go_to_the_workers(tmp_path, local2):
    """A plugin this process loaded earlier whose file is gone since (a notebook's temporary
    file) must not stop a Dask run of other methods; a plugin method still trains there."""
    from milhelpers import plugins

    gone = tmp_path / "gone.py"
    gone.write_text("from milhelpers.methods import get_method, register\n"
                    "register(get_method('mean_pool').with_options(name='gone_mean', embed_dim=8))\n")
    kept = tmp_path / "kept.py"
    kept.write_text("from milhelpers.methods import get_method, register\n"
                    "register(get_method('mean_pool').with_options(name='kept_mean', embed_dim=8))\n")
    try:
        plugins.load_plugin(str(gone))
        plugins.load_plugin(str(kept))
        gone.unlink()
        res = ex.run_experiments(planted(), [get_method("mean_pool"), get_method("kept_mean")],
                                 [0], 3, epochs=1, cache_dir=tmp_path / "runs", progress=False,
                                 client=local2)
        assert res.n_trained == 6 and set(res.runs.method) == {"mean_pool", "kept_mean"}
    finally:
        for f in (gone, kept):
            plugins._LOADED.pop(str(f.resolve()), None)
        from milhelpers import methods
        for name in ("gone_mean", "kept_mean"):
            methods.METHODS.pop(name, None)


@pytest.mark.parametrize("kwargs, match", [
    (dict(workers=0), "workers"), (dict(workers=1.5), "workers"), (dict(workers=True), "workers"),
    (dict(workers=2, scheduler="local:2"), "one of"),
    (dict(scheduler="local:2", cluster_file="x.yaml"), "one of"),
    (dict(scheduler="nowhere"), "neither local"), (dict(scheduler="local:0"), "local:N")])
def test_one_engine_at_a_time_and_bad_values_before_anything_runs(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ex.run_experiments(planted(), ["mean_pool"], [0], 3, epochs=1, cache_dir=tmp_path / "c",
                           progress=False, **kwargs)
    assert not (tmp_path / "c").exists()


def _bench():
    spec = importlib.util.spec_from_file_location("bench_methods", ROOT / "benchmarks" / "methods.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


PLUGIN = '''
from milhelpers.methods import Method, get_method, register


def build(ctx, **kw):          # a function of the plugin's own module: workers must import it
    return get_method("mean_pool").build(ctx, embed_dim=8)


register(Method("my_small_pool", build))
'''


def test_the_benchmark_on_a_running_scheduler_gives_the_serial_table(tmp_path, local2, capsys,
                                                                       monkeypatch):
    """``--scheduler tcp://…`` with a plugin's method: the workers load the plugin, read the
    features from their folder, and every run equals ``--workers 1``'s."""
    from milhelpers import methods as registry
    from milhelpers import plugins

    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))
    (tmp_path / "my_methods.py").write_text(PLUGIN)
    feats, labels = write_feature_cohort(tmp_path / "data", 24, dim=16)
    ints = tmp_path / "int_labels.csv"
    pd.read_csv(labels).assign(label=lambda t: (t.label == "tumor").astype(int)).to_csv(
        ints, index=False)
    bench = _bench()
    fits = []                  # the runs trained in this process
    original = Method.fit
    monkeypatch.setattr(Method, "fit", lambda self, *a, **kw: fits.append(self.name)
                        or original(self, *a, **kw))
    common = ["--plugin", str(tmp_path / "my_methods.py"), "--features", str(feats), "--labels",
              str(ints), "--methods", "my_small_pool", "max_pool", "--folds", "3", "--epochs",
              "1"]
    trained_here = {}
    for how, extra in (("serial", ["--workers", "1"]),
                       ("dask", ["--scheduler", local2.scheduler.address])):
        fits.clear()
        code = bench.main([*common, *extra, "--cache", str(tmp_path / how), "--json",
                           str(tmp_path / f"{how}.json")])
        assert code == 0, capsys.readouterr()
        trained_here[how] = len(fits)
    assert trained_here == {"serial": 6, "dask": 0}     # --scheduler's runs went to its workers
    out = capsys.readouterr().out
    assert "2 method(s) × 1 repeat(s) × 3 folds" in out and out.count("6 of 6 runs trained") == 2
    serial, dask = (ex.ExperimentResult.from_json(json.loads((tmp_path / f"{h}.json").read_text()))
                    for h in ("serial", "dask"))
    pd.testing.assert_frame_equal(serial.runs[["method", "seed", "fold", *SAME]],
                                  dask.runs[["method", "seed", "fold", *SAME]], check_exact=True)
    pd.testing.assert_frame_equal(serial.out_of_fold(), dask.out_of_fold(), check_exact=True)
    # one engine per call, and a bad address is refused before any run
    for bad in (["--workers", "2", "--scheduler", "local:2"], ["--scheduler", "nowhere"]):
        assert bench.main([*common, *bad, "--cache", str(tmp_path / "bad")]) == 2
        assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
