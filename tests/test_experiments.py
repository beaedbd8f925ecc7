import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

from bags import planted_bags  # noqa: E402
from milhelpers import experiments as ex  # noqa: E402
from milhelpers.datasets import Bag, BagDataset, ListBagDataset  # noqa: E402
from milhelpers.methods import Method, get_method  # noqa: E402
from milhelpers.metrics import localization_auc, topk_mass  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"abmil_gated": dict(embed_dim=16, attn_dim=8), "mean_pool": dict(embed_dim=16),
         "max_pool": dict(embed_dim=16)}


def planted(n_bags=24, d=8, seed=0, with_instances=True):
    return planted_bags(n_bags, d, seed, lengths=(10, 30), permute=False,
                        with_instances=with_instances, id_width=2)


def small(name):
    return get_method(name).with_options(name=f"{name}_small", **SMALL[name])


@pytest.fixture
def fit_calls(monkeypatch):
    """Count Method.fit calls and record the slides each run trained and validated on."""
    calls = []
    original = Method.fit

    def counting(self, train_ds, val_ds, config=None, fold=0, run_dir=None, **kw):
        calls.append({"method": self.name, "fold": fold, "seed": config.seed,
                      "train": set(train_ds.slide_ids), "val": set(val_ds.slide_ids),
                      "threads": torch.get_num_threads()})
        return original(self, train_ds, val_ds, config, fold, run_dir, **kw)

    monkeypatch.setattr(Method, "fit", counting)
    return calls


def run(ds, tmp_path, methods=("abmil_gated",), seeds=(0,), folds=3, epochs=2, **kw):
    return ex.run_experiments(ds, [small(m) for m in methods], seeds, folds, epochs=epochs,
                              cache_dir=tmp_path / "cache", progress=False, **kw)


def test_a_second_run_trains_nothing_and_returns_the_same_runs(tmp_path, fit_calls):
    ds = planted()
    first = run(ds, tmp_path, methods=("abmil_gated", "mean_pool"), seeds=(0, 1))
    assert len(fit_calls) == 2 * 2 * 3 and first.n_trained == 12
    again = run(ds, tmp_path, methods=("abmil_gated", "mean_pool"), seeds=(0, 1))
    assert len(fit_calls) == 12 and again.n_trained == 0
    pd.testing.assert_frame_equal(first.runs, again.runs)
    # adding a seed trains only the new seed's runs
    run(ds, tmp_path, methods=("abmil_gated", "mean_pool"), seeds=(0, 1, 2))
    assert len(fit_calls) == 18 and {c["seed"] for c in fit_calls[12:]} == {2000, 2001, 2002}


def test_runs_never_train_or_validate_on_their_test_fold(tmp_path, fit_calls):
    ds = planted()
    res = run(ds, tmp_path, seeds=(0, 1))
    folds = ex.experiment_folds(ds, 3)
    ids = np.array(ds.slide_ids)
    for c in fit_calls:
        test = set(ids[folds[c["fold"]][1]])
        assert not (c["train"] | c["val"]) & test and not c["train"] & c["val"]
        assert c["train"] | c["val"] | test == set(ids)
    # the folds are the same for both seeds; the validation split is not
    by = {(c["seed"] // 1000, c["fold"]): c["val"] for c in fit_calls}
    assert any(by[(0, k)] != by[(1, k)] for k in range(3))
    assert sorted(res.runs.seed.unique()) == [0, 1]


def test_training_threads_are_set_for_the_runs_and_restored(tmp_path, fit_calls):
    before = torch.get_num_threads()
    run(planted(), tmp_path, threads=1)
    assert {c["threads"] for c in fit_calls} == {1} and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        run(planted(), tmp_path, threads=0)


needs_fork = pytest.mark.skipif(not ex._can_fork(), reason="workers fork processes (Linux)")


@needs_fork
def test_workers_train_in_other_processes_and_give_the_serial_results(tmp_path, fit_calls):
    ds = planted()
    methods = ("abmil_gated", "mean_pool")
    serial = run(ds, tmp_path / "serial", methods=methods, seeds=(0, 1))
    assert len(fit_calls) == 12
    forked = run(ds, tmp_path / "forked", methods=methods, seeds=(0, 1), workers=2)
    # the workers' Method.fit calls happen in their own processes: none in this one, so the
    # serial pass only read what the workers cached, and n_trained counts the workers' runs
    assert len(fit_calls) == 12 and forked.n_trained == 12
    keep = ["method", "seed", "fold", "auc", "balanced_accuracy", "f1", "loc_auc", "top5_mass",
            "entropy", "best_epoch", "key"]
    pd.testing.assert_frame_equal(serial.runs[keep], forked.runs[keep])
    p1 = serial.predictions("abmil_gated_small", 1, 2)
    p2 = forked.predictions("abmil_gated_small", 1, 2)
    np.testing.assert_array_equal(p1.probs, p2.probs)
    again = run(ds, tmp_path / "forked", methods=methods, seeds=(0, 1), workers=2)
    assert again.n_trained == 0 and len(fit_calls) == 12


@needs_fork
def test_an_error_in_a_worker_reaches_the_caller_and_keeps_the_finished_runs(tmp_path):
    ds = planted()

    def broken(ctx, **kw):
        if ctx.fold == 2:
            raise ValueError("fold 2 cannot be built")
        return get_method("mean_pool").build(ctx, embed_dim=16)

    bad = Method("sometimes_broken", broken)
    with pytest.raises(ValueError, match="fold 2 cannot be built"):
        ex.run_experiments(ds, [bad], [0], 3, epochs=1, cache_dir=tmp_path, progress=False,
                           workers=2)
    assert sorted(p.name[:11] for p in (tmp_path / "sometimes_broken").glob("*.json")) == [
        "seed0_fold0", "seed0_fold1"]


@needs_fork
def test_two_processes_sharing_a_cache_train_each_run_once(tmp_path, monkeypatch):
    """A sweep's notebooks (or two terminals) share runs/experiments: each run is trained by
    whichever process locks it first; the other waits and reads it."""
    import multiprocessing

    log = tmp_path / "fits.log"
    original = Method.fit

    def logged(self, *a, **kw):
        with open(log, "a") as fh:          # one line per fit, from either process
            fh.write(f"{os.getpid()}\n")
        return original(self, *a, **kw)

    monkeypatch.setattr(Method, "fit", logged)
    ds = planted()
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=run, args=(ds, tmp_path), kwargs={"epochs": 3})
    child.start()
    mine = run(ds, tmp_path, epochs=3)
    child.join(60)
    assert child.exitcode == 0
    assert len(log.read_text().split()) == 3          # 3 folds, each trained once in all
    theirs = run(ds, tmp_path, epochs=3)               # everything is cached now
    assert theirs.n_trained == 0
    pd.testing.assert_frame_equal(mine.runs, theirs.runs)


def test_workers_without_fork_train_serially_with_a_warning(tmp_path, fit_calls, monkeypatch):
    monkeypatch.setattr(ex, "_can_fork", lambda: False)
    with pytest.warns(RuntimeWarning, match="fork"):
        res = run(planted(), tmp_path, workers=2)
    assert len(fit_calls) == 3 and res.n_trained == 3
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="workers"):
            run(planted(), tmp_path, workers=bad)


def test_run_metrics_are_those_of_the_cached_test_predictions(tmp_path):
    ds = planted()
    res = run(ds, tmp_path)
    inst = {b.slide_id: b.instance_labels for b in ds.bags}
    for r in res.runs.itertuples():
        p = res.predictions(r.method, r.seed, r.fold)
        test_idx = ex.experiment_folds(ds, 3)[r.fold][1]
        assert set(p.slide_ids) == set(np.array(ds.slide_ids)[test_idx])
        assert r.auc == pytest.approx(p.metrics()["auc"])
        # top-5 mass on the positive slides only
        pos = [topk_mass(a, 5) for a, y in zip(p.attention, p.labels) if y == 1]
        assert r.top5_mass == pytest.approx(np.mean(pos))
        loc = localization_auc([s.mean(0) for s in p.scores], [inst[s] for s in p.slide_ids])
        assert r.loc_auc == pytest.approx(loc["mean_slide_auc"])
        h = res.history(r.method, r.seed, r.fold)
        assert len(h) == 2 and 1 <= r.best_epoch <= 2 and r.seconds > 0


def test_without_instance_labels_loc_auc_is_nan(tmp_path):
    res = run(planted(with_instances=False), tmp_path)
    assert res.runs.loc_auc.isna().all() and res.runs.auc.notna().all()
    assert res.to_json()["summary"]["abmil_gated_small"]["loc_auc"] == {"mean": None, "std": None,
                                                                        "n": 0}


def test_config_method_and_data_changes_retrain(tmp_path, fit_calls):
    ds = planted()
    base = run(ds, tmp_path)
    assert len(fit_calls) == 3
    run(ds, tmp_path, epochs=3)                          # training config
    assert len(fit_calls) == 6
    other = get_method("abmil_gated").with_options(name="abmil_gated_small", embed_dim=24,
                                                   attn_dim=8)   # same name, other options
    ex.run_experiments(ds, [other], [0], 3, epochs=2, cache_dir=tmp_path / "cache",
                       progress=False)
    assert len(fit_calls) == 9
    bags = [Bag(b.features.clone(), b.label, b.slide_id, instance_labels=b.instance_labels)
            for b in ds.bags]
    bags[5].features[0, 0] += 1.0                        # one number of one bag
    changed = run(ListBagDataset(bags), tmp_path)
    assert len(fit_calls) == 12
    assert not set(changed.runs.key) & set(base.runs.key)
    # a function among the options is keyed by name, not by its address in this process
    assert ex._json_default(planted) == f"{planted.__module__}.planted"
    # a progress bar is not part of the result
    cfg = get_method("abmil_gated").train_config(seed=1)
    fp = ex.data_fingerprint(ds)
    m = small("abmil_gated")
    assert ex.run_key(m, cfg, fp, 0, 0, ["a"], 0.2) == ex.run_key(
        m, get_method("abmil_gated").train_config(seed=1, progress=False), fp, 0, 0, ["a"], 0.2)
    assert ex.run_key(m, cfg, fp, 0, 0, ["a"], 0.2) != ex.run_key(m, cfg, fp, 0, 1, ["a"], 0.2)


def test_a_damaged_cache_entry_is_trained_again_with_a_warning(tmp_path, fit_calls):
    ds = planted()
    first = run(ds, tmp_path)
    files = sorted((tmp_path / "cache" / "abmil_gated_small").glob("*.json"))
    assert len(files) == 3
    files[0].write_text('{"key": "trunc')                      # half-written by hand
    files[1].with_suffix(".npz").unlink()                      # predictions lost
    with pytest.warns(RuntimeWarning, match="cannot be used"):
        again = run(ds, tmp_path)
    assert len(fit_calls) == 5 and again.n_trained == 2
    # same seed, same data: the retrained runs reproduce the originals
    pd.testing.assert_frame_equal(first.runs.drop(columns="seconds"),
                                  again.runs.drop(columns="seconds"))
    json.loads(files[0].read_text())


def test_bootstrap_ci_hand_computed():
    # n = 2, values {0, 1}: resampled means are 0, ½, 1 with probability ¼, ½, ¼, so the 2.5 %
    # and 97.5 % quantiles are 0 and 1
    assert ex.bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
    assert ex.bootstrap_ci([0.3, 0.3, 0.3]) == (0.3, 0.3)
    assert all(math.isnan(v) for v in ex.bootstrap_ci([0.5]))
    lo, hi = ex.bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])   # NaN dropped
    assert 1.0 < lo < 3.0 < hi < 5.0
    assert ex.bootstrap_ci([1, 2, 3, 4, 5], seed=3) == ex.bootstrap_ci([1, 2, 3, 4, 5], seed=3)


def test_paired_stats_hand_computed():
    a = np.zeros(5)
    # all five differences positive: exact two-sided p = 2 · (1/2)^5 = 0.0625
    s = ex.paired_stats(a, [1, 2, 3, 4, 5])
    assert s["diff"] == 3.0 and s["p"] == pytest.approx(0.0625) and s["n"] == 5
    # d = 1, −2, 3, 4, 5: W− = 2; P(W ≤ 2) = |{∅, {1}, {2}}| / 32, two-sided p = 6/32
    s = ex.paired_stats(a, [1, -2, 3, 4, 5])
    assert s["diff"] == pytest.approx(2.2) and s["p"] == pytest.approx(0.1875)
    # direction: diff = b − a
    assert ex.paired_stats([0.9, 0.8], [0.7, 0.6])["diff"] == pytest.approx(-0.2)
    s = ex.paired_stats([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert s["p"] == 1.0 and s["diff"] == 0.0 and s["ci95"] == [0.0, 0.0]
    s = ex.paired_stats([0.5, np.nan, 0.7], [0.6, 0.1, np.nan])     # one usable pair
    assert s["n"] == 1 and s["diff"] == pytest.approx(0.1)
    assert math.isnan(s["p"]) and all(math.isnan(v) for v in s["ci95"])
    with pytest.raises(ValueError, match="same runs"):
        ex.paired_stats([1, 2], [1, 2, 3])


def test_result_summary_and_paired_use_matching_seed_fold_pairs():
    rows = [{"method": m, "seed": s, "fold": k, **{x: np.nan for x in ex.METRICS}}
            for m in ("A", "B") for s in (0, 1) for k in (0, 1)]
    runs = pd.DataFrame(rows)
    # B − A per (seed, fold) = +0.1 except (1, 1): −0.3; rows of B in another order
    auc = {("A", 0, 0): .5, ("A", 0, 1): .6, ("A", 1, 0): .7, ("A", 1, 1): .8,
           ("B", 0, 0): .6, ("B", 0, 1): .7, ("B", 1, 0): .8, ("B", 1, 1): .5}
    runs["auc"] = [auc[(r.method, r.seed, r.fold)] for r in runs.itertuples()]
    runs = pd.concat([runs.iloc[:4], runs.iloc[4:].iloc[::-1]], ignore_index=True)
    runs["key"] = "k"
    res = ex.ExperimentResult(runs, Path("."), ["A", "B"])
    p = res.paired("A", "B", ["auc"])["auc"]
    # one pair per test fold, seeds averaged: fold 0 +0.1, fold 1 (0.1 − 0.3)/2 = −0.1
    assert p["diff"] == pytest.approx(0.0) and p["n"] == 2
    assert ex.paired_stats([0.6, 0.7], [0.7, 0.6]) == p   # the fold means of A and B
    summ = res.summary()
    assert summ["A"]["auc"]["mean"] == pytest.approx(0.65)
    assert summ["A"]["auc"]["std"] == pytest.approx(np.std([.5, .6, .7, .8], ddof=1))
    j = res.to_json()
    assert set(j["paired"]) == {"A|B"} and j["paired"]["A|B"]["loc_auc"]["diff"] is None
    json.dumps(j, allow_nan=False)      # strict JSON: NaN written as null


def test_folds_come_from_the_labels_fold_column(tmp_path):
    feats, labels = _write_features_folder(tmp_path, n=12, folds=3)
    ds = BagDataset(feats, labels)
    folds = ex.experiment_folds(ds)
    fold_col = pd.read_csv(labels).fold.to_numpy()
    assert [sorted(te.tolist()) for _, te in folds] == [
        np.flatnonzero(fold_col == v).tolist() for v in (0, 1, 2)]
    with pytest.raises(ValueError, match="defines 3 folds"):
        ex.experiment_folds(ds, 5)


def test_paired_figure_draws_a_line_per_run_and_labels_its_axes():
    import matplotlib.pyplot as plt

    from milhelpers.viz import paired_comparison

    runs = pd.DataFrame({"method": ["A"] * 3 + ["B"] * 3, "seed": [0] * 6,
                         "fold": [0, 1, 2] * 2, "auc": [.6, .7, .8, .7, .75, .9]})
    ax = paired_comparison(runs, "auc", ["A", "B"])
    pair_lines = [ln for ln in ax.get_lines() if ln.get_color() == "0.75"]
    assert len(pair_lines) == 3
    ys = sorted(tuple(ln.get_ydata()) for ln in pair_lines)
    assert ys == [(0.6, 0.7), (0.7, 0.75), (0.8, 0.9)]
    assert ax.get_ylabel() == "auc" and ax.get_xlabel() == "method"
    assert ax.get_legend() is not None and ax.figure.dpi >= 100
    plt.close(ax.figure)


# --------------------------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------------------------
def _write_features_folder(tmp_path, n=18, folds=None, d=8):
    """A features folder as TRIDENT writes it (features + coords with patch attributes) and a
    labels CSV with text ids."""
    rng = np.random.default_rng(1)
    direction = rng.normal(size=d)
    feat_dir = tmp_path / "features"
    feat_dir.mkdir()
    rows = []
    for i in range(n):
        y = i % 2
        x = rng.normal(size=(int(rng.integers(8, 20)), d)).astype(np.float32)
        if y:
            x[:3] += 3 * direction
        with h5py.File(feat_dir / f"s{i:03d}.h5", "w") as f:
            f.create_dataset("features", data=x)
            c = f.create_dataset("coords", data=np.stack([np.arange(len(x)) * 256,
                                                          np.zeros(len(x))], 1).astype(np.int64))
            c.attrs["patch_size_level0"] = 256
        row = {"slide_id": f"s{i:03d}", "label": y, "case_id": f"c{i:03d}"}
        if folds:
            row["fold"] = i % folds
        rows.append(row)
    labels = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return feat_dir, labels


def _cli(*args, cwd):
    script = ROOT / "benchmarks" / "methods.py"
    return subprocess.run([sys.executable, str(script), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd,
                          env={"TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1",
                               "PYTHONPATH": str(ROOT)})


def test_cli_writes_the_json_layout_and_refuses_bad_input(tmp_path):
    feats, labels = _write_features_folder(tmp_path)
    out = tmp_path / "out" / "methods.json"
    common = ["--features", feats, "--labels", labels, "--folds", 3, "--epochs", 2,
              "--cache", tmp_path / "cache"]
    fig = tmp_path / "out" / "paired.png"
    r = _cli(*common, "--methods", "mean_pool", "max_pool", "--seeds", 0, 1, "--json", out,
             "--figure", fig, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "max_pool − mean_pool: diff = B − A" in r.stdout
    j = json.loads(out.read_text())
    assert set(j) >= {"runs", "summary", "paired"}
    assert len(j["runs"]) == 2 * 2 * 3
    assert {(x["method"], x["seed"], x["fold"]) for x in j["runs"]} == {
        (m, s, k) for m in ("mean_pool", "max_pool") for s in (0, 1) for k in range(3)}
    assert set(j["runs"][0]) == {"method", "seed", "fold", *ex.METRICS}
    assert all(x["loc_auc"] is None for x in j["runs"])    # no masks for this data
    assert set(j["summary"]) == {"mean_pool", "max_pool"}
    assert j["summary"]["max_pool"]["auc"]["n"] == 6
    assert set(j["summary"]["max_pool"]["auc"]) == {"mean", "std", "n"}
    aucs = [x["auc"] for x in j["runs"] if x["method"] == "max_pool"]
    assert j["summary"]["max_pool"]["auc"]["mean"] == pytest.approx(np.mean(aucs))
    pair = j["paired"]["mean_pool|max_pool"]["auc"]
    assert set(pair) == {"diff", "ci95", "p"}
    a = {(x["seed"], x["fold"]): x["auc"] for x in j["runs"] if x["method"] == "mean_pool"}
    b = {(x["seed"], x["fold"]): x["auc"] for x in j["runs"] if x["method"] == "max_pool"}
    assert pair["diff"] == pytest.approx(np.mean([b[k] - a[k] for k in a]))

    # without --epochs every method trains the chapter-sized 6 epochs (not its own 20)
    r = _cli(*common[:6], "--cache", tmp_path / "cache6", "--methods", "mean_pool", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(f.read_text()) for f in (tmp_path / "cache6").rglob("*.json")]
    assert len(recs) == 3 and {x["train_config"]["epochs"] for x in recs} == {6}
    assert "epochs: 6;" in r.stdout

    # an existing result is not overwritten without --overwrite
    r = _cli(*common, "--methods", "mean_pool", "--json", out, cwd=tmp_path)
    assert r.returncode != 0 and "--overwrite" in r.stderr
    r = _cli(*common, "--methods", "abmil_gatd", cwd=tmp_path)
    assert r.returncode != 0 and "abmil_gatd" in r.stderr and "abmil_gated" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("--data-root", tmp_path / "nowhere", cwd=tmp_path)
    assert r.returncode != 0 and "nowhere" in r.stderr and "Traceback" not in r.stderr
    r = _cli(*common[:4], "--folds", 0, cwd=tmp_path)
    assert r.returncode != 0 and "--folds" in r.stderr and "Traceback" not in r.stderr


def test_slide_prediction_finds_the_run_that_held_the_slide_out(tmp_path):
    ds = planted()
    res = run(ds, tmp_path)
    folds = ex.experiment_folds(ds, 3)
    sid = ds.slide_ids[folds[2][1][1]]                  # a slide of test fold 2
    got = res.slide_prediction("abmil_gated_small", 0, sid)
    p = res.predictions("abmil_gated_small", 0, 2)
    i = p.slide_ids.index(sid)
    assert got["fold"] == 2 and got["label"] == ds[folds[2][1][1]].label
    assert got["prob"] == pytest.approx(float(p.probs[i, 1]))
    np.testing.assert_array_equal(got["attention"], p.slide_attention[i])
    assert got["attention"].shape == (len(ds[folds[2][1][1]].features),)
    with pytest.raises(KeyError, match="no test fold"):
        res.slide_prediction("abmil_gated_small", 0, "not_a_slide")
    with pytest.raises(KeyError, match="seed 5"):
        res.slide_prediction("abmil_gated_small", 5, sid)
