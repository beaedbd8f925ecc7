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
from sklearn.metrics import roc_auc_score

matplotlib.use("Agg")

from bags import planted_bags  # noqa: E402
from milhelpers import experiments as ex  # noqa: E402
from milhelpers import stats  # noqa: E402
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
    ids = np.array(ds.slide_ids)
    for c in fit_calls:
        folds = ex.experiment_folds(ds, 3, seed=c["seed"] // 1000)   # the run's own repeat
        test = set(ids[folds[c["fold"]][1]])
        assert not (c["train"] | c["val"]) & test and not c["train"] & c["val"]
        assert c["train"] | c["val"] | test == set(ids)
    # each repeat draws its own partition (and its own validation splits)
    tests = {s: [set(ids[te]) for _, te in ex.experiment_folds(ds, 3, seed=s)] for s in (0, 1)}
    assert tests[0] != tests[1]
    assert sorted(res.runs.seed.unique()) == [0, 1] and res.meta["partitions"] == "repeated"


def test_each_repeat_scores_every_slide_once_out_of_fold(tmp_path):
    """Every (method, repeat) gives one out-of-fold record per slide, from the run whose test
    fold held it; the records' numbers are the cached predictions', and a run's attention
    metrics are the means of its slides' records."""
    bags = planted().bags
    for i, b in enumerate(bags):          # patients of 1-2 slides: a case never straddles folds
        b.case_id = f"case{i // 2 if i < 12 else i}"
    ds = ListBagDataset(bags)
    res = run(ds, tmp_path, methods=("abmil_gated", "mean_pool"), seeds=(0, 1))
    oof = res.out_of_fold()
    assert len(oof) == 2 * 2 * len(ds)
    inst = {b.slide_id: b.instance_labels for b in ds.bags}
    for (m, s), rows in oof.groupby(["method", "seed"]):
        assert sorted(rows.slide_id) == sorted(ds.slide_ids)
        folds = ex.experiment_folds(ds, 3, seed=s)
        for k, (_, te) in enumerate(folds):
            held = set(np.array(ds.slide_ids)[te])
            assert set(rows[rows.fold == k].slide_id) == held
            # stratified and grouped: each fold has both classes, no case in two folds
            assert set(np.asarray(ds.labels)[te]) == {0, 1}
            p = res.predictions(m, s, k)
            r = rows[rows.fold == k].set_index("slide_id").loc[p.slide_ids]
            np.testing.assert_allclose(r.score, p.probs[:, 1])
            np.testing.assert_array_equal(r.label, p.labels)
            for i, sid in enumerate(p.slide_ids):
                a = p.slide_attention[i]
                assert r.entropy.iloc[i] == pytest.approx(-(a * np.log(a)).sum() / np.log(len(a)))
                assert r.top5_mass.iloc[i] == pytest.approx(np.sort(a)[-5:].sum())
                if inst[sid].any():
                    want = localization_auc([p.slide_scores[i]], [inst[sid]])["mean_slide_auc"]
                    assert r.loc_auc.iloc[i] == pytest.approx(want)
                else:
                    assert np.isnan(r.loc_auc.iloc[i])    # a negative slide: nothing to find
            run_row = res.runs[(res.runs.method == m) & (res.runs.seed == s)
                               & (res.runs.fold == k)].iloc[0]
            assert run_row.entropy == pytest.approx(r.entropy.mean())
            assert run_row.top5_mass == pytest.approx(r.top5_mass[r.label == 1].mean())
            assert run_row.loc_auc == pytest.approx(r.loc_auc.mean())
        case_fold = rows.groupby("case_id").fold.nunique()
        assert (case_fold == 1).all() and len(case_fold) < len(ds)
    assert res.slide_matrix("mean_pool_small").shape == (2, len(ds))
    # the out-of-fold records come back from the cache as they were written
    again = run(ds, tmp_path, methods=("abmil_gated", "mean_pool"), seeds=(0, 1))
    assert again.n_trained == 0
    pd.testing.assert_frame_equal(again.out_of_fold(), oof)


def test_training_threads_are_set_for_the_runs_and_restored(tmp_path, fit_calls):
    before = torch.get_num_threads()
    run(planted(), tmp_path, threads=1)
    assert {c["threads"] for c in fit_calls} == {1} and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        run(planted(), tmp_path, threads=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the second process is a fork of this one")
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


def test_run_metrics_are_those_of_the_cached_test_predictions(tmp_path):
    ds = planted()
    res = run(ds, tmp_path)
    inst = {b.slide_id: b.instance_labels for b in ds.bags}
    for r in res.runs.itertuples():
        p = res.predictions(r.method, r.seed, r.fold)
        test_idx = ex.experiment_folds(ds, 3, seed=r.seed)[r.fold][1]
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
    pd.testing.assert_frame_equal(first.runs.drop(columns=["seconds", "peak_mb"]),
                                  again.runs.drop(columns=["seconds", "peak_mb"]))
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


def _hand_result(auc_a, auc_b, scores_a, scores_b, y, seconds=None):
    """An ExperimentResult made by hand: 2 methods × 2 seeds × 2 folds of runs, and out-of-fold
    records of the given (seeds × slides) scores (slide i in fold i % 2 of every seed)."""
    rows, slides = [], []
    for m, aucs, sc in (("A", auc_a, scores_a), ("B", auc_b, scores_b)):
        for s in (0, 1):
            for k in (0, 1):
                rows.append({"method": m, "seed": s, "fold": k, **{x: np.nan for x in ex.METRICS},
                             "auc": aucs[s, k], "key": "k",
                             "seconds": (seconds or {}).get((m, s, k), np.nan)})
            for i, v in enumerate(sc[s]):
                slides.append({"method": m, "seed": s, "fold": i % 2, "slide_id": f"s{i}",
                               "case_id": f"c{i // 2}", "label": int(y[i]), "score": v,
                               "loc_auc": v if y[i] else np.nan, "entropy": v / 2,
                               "top5_mass": 1 - v})
    return ex.ExperimentResult(pd.DataFrame(rows), Path("."), ["A", "B"], 0,
                               {"test_train_ratio": 1.0, "n_slides": len(y)}, pd.DataFrame(slides))


def test_paired_compares_the_slides_out_of_fold_scores_and_runs_for_seconds():
    rng = np.random.default_rng(0)
    y = np.arange(20) % 2
    sa = rng.normal(size=(2, 20)) + y
    sb = sa + 0.8 * y + 0.3 * rng.normal(size=(2, 20))
    runs_auc = np.array([[0.5, 0.6], [0.7, 0.8]])
    # seconds of B − A per (seed, fold): 1, 2, 3, 5
    secs = {("A", s, k): 10.0 for s in (0, 1) for k in (0, 1)}
    secs.update({("B", 0, 0): 11.0, ("B", 0, 1): 12.0, ("B", 1, 0): 13.0, ("B", 1, 1): 15.0})
    # B's rows in another order: pairs must be matched by seed and slide, not by position
    res = _hand_result(runs_auc, runs_auc + 0.1, sa, sb, y, secs)
    res.slides = pd.concat([res.slides[res.slides.method == "A"],
                            res.slides[res.slides.method == "B"].iloc[::-1]], ignore_index=True)
    p = res.paired("A", "B", ["auc", "loc_auc", "top5_mass", "entropy", "seconds"])
    cases = np.array([f"c{i // 2}" for i in range(20)])
    want = stats.paired_slide_comparison(y, sa, sb, groups=cases, metric="auc")
    assert p["auc"] == want
    assert p["auc"]["diff"] == pytest.approx(np.mean([roc_auc_score(y, sb[r]) - roc_auc_score(y, sa[r])
                                                      for r in (0, 1)]))
    # per-slide quantities: loc_auc only where defined (positives), top-5 mass on positives
    loc = stats.paired_slide_means(np.where(y, sa, np.nan), np.where(y, sb, np.nan), y=y,
                                   groups=cases)
    assert p["loc_auc"] == loc and p["loc_auc"]["n_slides"] == 10
    assert p["top5_mass"]["diff"] == pytest.approx(-(sb - sa)[:, y == 1].mean())
    assert p["entropy"]["diff"] == pytest.approx((sb - sa).mean() / 2)
    assert p["entropy"]["n_slides"] == 20 and p["entropy"]["n_repeats"] == 2
    assert set(p["auc"]) == {"diff", "ci95", "p", "n_slides", "n_repeats", "unit", "test"}
    # seconds: per run, Nadeau–Bengio on the four matched differences
    nb = stats.corrected_t_test([1.0, 2.0, 3.0, 5.0], 1.0)
    assert p["seconds"]["diff"] == pytest.approx(2.75) and p["seconds"]["p"] == pytest.approx(nb["p"])
    assert p["seconds"]["unit"] == "runs" and p["seconds"]["n_runs"] == 4
    assert ex.run_differences(res, "A", "B", "seconds").tolist() == [1.0, 2.0, 3.0, 5.0]
    # the summary: runs and the pooled out-of-fold level
    summ = res.summary()
    assert summ["A"]["auc"]["mean"] == pytest.approx(0.65)
    assert summ["A"]["auc"]["std"] == pytest.approx(np.std([.5, .6, .7, .8], ddof=1))
    assert summ["B"]["oof_auc"]["mean"] == pytest.approx(np.mean([roc_auc_score(y, sb[r])
                                                                  for r in (0, 1)]))
    assert summ["B"]["oof_auc"]["n"] == 2
    assert summ["A"]["oof_top5_mass"]["mean"] == pytest.approx((1 - sa)[:, y == 1].mean())
    j = res.to_json()
    assert set(j["paired"]) == {"A|B"} and j["paired"]["A|B"]["auc"]["p_holm"] == j["paired"]["A|B"]["auc"]["p"]
    assert len(j["oof"]) == 2 * 2 * 20 and set(j["oof"][0]) == {
        "method", "seed", "fold", "slide_id", "case_id", "label", "score", "loc_auc", "entropy",
        "top5_mass"}
    json.loads(ex.json_text(j))         # strict JSON: NaN written as null
    # without out-of-fold records a slide comparison cannot be made, and says why
    res.slides = None
    with pytest.raises(KeyError, match="out-of-fold"):
        res.paired("A", "B", ["auc"])


def test_compare_applies_holm_across_the_methods_facing_one_reference():
    rng = np.random.default_rng(1)
    y = np.arange(40) % 2
    base = rng.normal(size=(2, 40)) + y
    rows = []
    res = _hand_result(np.zeros((2, 2)), np.zeros((2, 2)), base, base + 0.6 * y, y)
    c_scores = base + 0.25 * y + 0.5 * rng.normal(size=(2, 40))
    c = res.slides[res.slides.method == "B"].copy()
    c["method"] = "C"
    c["score"] = c_scores[c.seed.to_numpy(), c.slide_id.str[1:].astype(int).to_numpy()]
    res.slides = pd.concat([res.slides, c], ignore_index=True)
    runs_c = res.runs[res.runs.method == "B"].assign(method="C")
    res.runs = pd.concat([res.runs, runs_c], ignore_index=True)
    res.methods = ["A", "B", "C"]
    t = res.compare("A", ["auc"])
    assert list(t.method) == ["B", "C"]
    p = t.p.to_numpy()
    assert t.p_holm.to_numpy() == pytest.approx(stats.holm(p))
    assert list(t.clear) == [bool(x < 0.05) for x in stats.holm(p)]
    single = res.compare("A", ["auc"], ["A", "C"])
    assert single.p_holm.iloc[0] == single.p.iloc[0]


def test_clear_follows_holms_adjusted_p_not_the_raw_p(monkeypatch):
    """compare's ``clear`` is p_holm < 0.05. Raw p = 0.03 and 0.04 for two methods facing one
    reference: Holm gives 2 · 0.03 = 0.06 and max(0.06, 0.04) = 0.06, so neither is clear.
    Catches ``clear`` decided on the unadjusted p (both would be called clear)."""
    res = ex.ExperimentResult(pd.DataFrame({"method": ["a", "b", "c"], "seed": 0, "fold": 0}),
                              Path("."), ["a", "b", "c"])
    raw = {"b": 0.03, "c": 0.04}

    def paired(self, a, b, metrics, **kw):
        return {"auc": {"diff": 0.1, "ci95": [0.01, 0.2], "p": raw[b], "n_slides": 10,
                        "n_repeats": 1, "unit": "slides", "test": "by hand"}}

    monkeypatch.setattr(ex.ExperimentResult, "paired", paired)
    t = res.compare("a", ["auc"])
    assert t.p.tolist() == [0.03, 0.04]
    assert t.p_holm.tolist() == pytest.approx([0.06, 0.06])
    assert t.clear.tolist() == [False, False]


def test_run_level_tests_without_a_recorded_ratio_use_one_over_k_minus_one():
    """A result without ``meta['test_train_ratio']`` (made by hand, or an older JSON) corrects the
    per-run t-test with n_test/n_train = 1/(k − 1) for k folds: 1/4 for 5 folds (a fifth tested,
    four fifths trained). Catches 1/k (a narrower interval than the design allows)."""
    diffs = [1.0, 3.0, 2.0, 6.0, 4.0]                 # B − A seconds in folds 0 … 4
    rows = [{"method": m, "seed": 0, "fold": k, "seconds": 10.0 + (d if m == "B" else 0.0)}
            for m in ("A", "B") for k, d in enumerate(diffs)]
    res = ex.ExperimentResult(pd.DataFrame(rows), Path("."), ["A", "B"])
    got = res.paired("A", "B", ["seconds"])["seconds"]
    want = stats.corrected_t_test(diffs, 0.25)
    assert got["diff"] == pytest.approx(3.2)
    assert got["ci95"] == pytest.approx(want["ci95"]) and got["p"] == pytest.approx(want["p"])
    assert got["ci95"] != pytest.approx(stats.corrected_t_test(diffs, 0.2)["ci95"])


def test_a_labels_fold_column_fixes_the_folds_for_every_repeat(tmp_path):
    feats, labels = _write_features_folder(tmp_path, n=18, folds=3)
    ds = BagDataset(feats, labels)
    fold_col = pd.read_csv(labels).fold.to_numpy()
    for seed in (0, 1, 7):
        folds = ex.experiment_folds(ds, seed=seed)
        assert [sorted(te.tolist()) for _, te in folds] == [
            np.flatnonzero(fold_col == v).tolist() for v in (0, 1, 2)]
    with pytest.raises(ValueError, match="defines 3 folds"):
        ex.experiment_folds(ds, 5)
    res = ex.run_experiments(ds, ["mean_pool"], [0, 1], epochs=1, cache_dir=tmp_path / "c",
                             progress=False)
    assert res.meta["partitions"] == "fixed" and "conditional" in res.meta["fold_source"]
    oof = res.out_of_fold()
    assert (oof.groupby("slide_id").fold.nunique() == 1).all()   # same fold in both repeats
    # the same labels without the column: a partition per repeat
    plain = tmp_path / "plain.csv"
    pd.read_csv(labels).drop(columns="fold").to_csv(plain, index=False)
    ds2 = BagDataset(feats, plain)
    assert not ex.fixed_folds(ds2) and ex.fixed_folds(ds)
    t0 = [set(te) for _, te in ex.experiment_folds(ds2, 3, seed=0)]
    t1 = [set(te) for _, te in ex.experiment_folds(ds2, 3, seed=1)]
    assert t0 != t1


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
    # one run at a time: runs on Dask are tests/test_experiments_dask.py's
    common = ["--features", feats, "--labels", labels, "--folds", 3, "--epochs", 2,
              "--cache", tmp_path / "cache", "--workers", 1]
    fig = tmp_path / "out" / "paired.png"
    r = _cli(*common, "--methods", "mean_pool", "max_pool", "--seeds", 0, 1, "--json", out,
             "--figure", fig, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "each method − mean_pool (B − A), over slides" in r.stdout
    assert "a partition per repeat" in r.stdout and "clear = the 95% CI excludes 0" in r.stdout
    j = json.loads(out.read_text())
    assert set(j) >= {"runs", "summary", "paired", "oof", "meta"}
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
    assert set(pair) == {"diff", "ci95", "p", "p_holm", "n_slides", "n_repeats", "unit", "test"}
    assert pair["n_slides"] == 18 and pair["n_repeats"] == 2 and pair["unit"] == "slides"
    # the paired AUC difference is that of each repeat's pooled out-of-fold scores, recomputed
    # here from the written records alone
    oof = pd.DataFrame(j["oof"])
    assert len(oof) == 2 * 2 * 18
    assert (oof.groupby(["method", "seed"]).slide_id.nunique() == 18).all()
    want = []
    for s in (0, 1):
        by = {m: oof[(oof.method == m) & (oof.seed == s)].set_index("slide_id").sort_index()
              for m in ("mean_pool", "max_pool")}
        want.append(roc_auc_score(by["max_pool"].label, by["max_pool"].score)
                    - roc_auc_score(by["mean_pool"].label, by["mean_pool"].score))
    assert pair["diff"] == pytest.approx(np.mean(want))
    assert (pair["ci95"][0] > 0 or pair["ci95"][1] < 0) == (pair["p"] < 0.05)
    assert j["paired"]["mean_pool|max_pool"]["seconds"]["unit"] == "runs"
    assert j["meta"]["partitions"] == "repeated"

    # without --epochs every method trains the chapter-sized 6 epochs (not its own 20)
    r = _cli(*common[:6], "--cache", tmp_path / "cache6", "--workers", 1, "--methods",
             "mean_pool", cwd=tmp_path)
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


def test_paired_leaves_out_a_slide_missing_from_one_methods_records():
    """A slide scored by A but absent from B's out-of-fold records (both seeds) cannot be paired:
    ``paired`` uses only the other slides, with no NaN. Catches ``_aligned`` keeping slides seen
    by one method only (``per[s] >= len(seeds)``: NaN rows for B)."""
    rng = np.random.default_rng(3)
    y = np.arange(20) % 2
    sa = rng.normal(size=(2, 20)) + y
    sb = sa + 0.5 * y + 0.3 * rng.normal(size=(2, 20))
    res = _hand_result(np.zeros((2, 2)), np.zeros((2, 2)), sa, sb, y)
    res.slides = res.slides[~((res.slides.method == "B") & (res.slides.slide_id == "s19"))]
    p = res.paired("A", "B", ["auc", "entropy"])
    assert p["entropy"]["n_slides"] == 19 and p["auc"]["n_slides"] == 19
    assert np.isfinite(p["entropy"]["diff"]) and np.isfinite(p["auc"]["diff"])
    assert p["entropy"]["diff"] == pytest.approx((sb - sa)[:, :19].mean() / 2)
    cases = np.array([f"c{i // 2}" for i in range(19)])
    assert p["auc"] == stats.paired_slide_comparison(y[:19], sa[:, :19], sb[:, :19],
                                                     groups=cases, metric="auc")
