"""timed_runs / timing_table: which runs are trained, and the ratios they report."""
import numpy as np
import pandas as pd
import pytest

from bags import planted_bags
from milhelpers.datasets import stratified_folds
from milhelpers.timing import (MainShare, cost_curves, fit_step_cost, main_tokens, packing_modes,
                              predicted_epoch_seconds, predicted_time_ratio, step_costs,
                              time_to_auc, timed_runs, timing_table, validation_pass_seconds)


def test_repeat_zero_covers_the_folds_and_later_repeats_only_time():
    ds = planted_bags(30, d=4, lengths=(5, 12))
    splits = stratified_folds(ds.labels, 3, seed=0)
    runs = timed_runs(ds, {"a": "mean_pool", "b": "max_pool"}, splits, epochs=1, repeats=2,
                      folds=[0, 2], timing_folds=[2])
    assert list(zip(runs["repeat"], runs["fold"], runs["mode"])) == [
        (0, 0, "a"), (0, 0, "b"), (0, 2, "a"), (0, 2, "b"), (1, 2, "a"), (1, 2, "b")]
    assert runs[runs.repeat == 0].auc.notna().all() and runs[runs.repeat == 1].auc.isna().all()
    assert (runs.epoch_seconds > 0).all()
    with pytest.raises(ValueError, match="repeats"):
        timed_runs(ds, {"a": "mean_pool"}, splits, epochs=1, repeats=0)


def test_timing_table_medians_and_ratios_hand_computed():
    runs = pd.DataFrame({"mode": ["b1", "b1", "b1", "pk", "pk", "pk"],
                         "epoch_seconds": [1.0, 3.0, 2.0, 0.5, 0.4, 0.6],
                         "auc": [0.8, 0.6, np.nan, 0.7, 0.7, np.nan],
                         "steps_per_epoch": [75] * 3 + [5] * 3})
    t = timing_table(runs, "b1")
    assert t.loc["pk", "time_vs_b1"] == pytest.approx(0.5 / 2.0)
    assert t.loc["pk", "auc_minus_b1"] == pytest.approx(0.0)
    assert t.loc["pk", "steps_per_epoch"] == 5 and t.loc["b1", "timed_runs"] == 3


def test_validation_pass_runs_every_bag_once_per_repeat_in_eval_without_grad():
    import torch

    from milhelpers.models import build_model
    ds = planted_bags(7, d=4, lengths=(3, 9))
    model = build_model("mean_pool", 4, 2).train()
    calls = []
    model.register_forward_hook(lambda m, a, o: calls.append(
        (m.training, torch.is_grad_enabled(), a[0].shape[0])))
    validation_pass_seconds(model, ds, repeats=3)
    assert len(calls) == 3 * 7                        # batch 1: one forward per bag per pass
    assert all(not tr and not g and b == 1 for tr, g, b in calls)
    with pytest.raises(ValueError, match="repeats"):
        validation_pass_seconds(model, ds, repeats=0)


# ------------------------------------------------------------- packing against subsampling
def test_timed_runs_records_curves_test_scores_and_step_time():
    ds = planted_bags(30, d=4, lengths=(5, 12))
    splits = stratified_folds(ds.labels, 3, seed=0)
    runs = timed_runs(ds, {"a": "mean_pool", "p": packing_modes(max_len=8, batch_size=4)["packed"]},
                      splits, epochs={"a": 2, "p": 3}, folds=[1])
    a, p = runs.iloc[0], runs.iloc[1]
    assert (a.epochs, len(a.val_auc), len(a.cum_seconds)) == (2, 2, 2)
    assert (p.epochs, len(p.val_auc)) == (3, 3)
    assert a.cum_seconds[1] > a.cum_seconds[0] > 0
    assert a.test_ids == [ds.slide_ids[i] for i in splits[1][1]]
    assert len(p.test_scores) == len(splits[1][1]) and 0 < p.train_seconds < p.epoch_seconds
    # steps: one per training slide with batch 1, ⌈slides / 4⌉ packed
    assert p.steps_per_epoch == -(-a.steps_per_epoch // 4) and a.steps_per_epoch > 4


def test_main_share_keeps_packings_main_part():
    import torch

    from milhelpers.datasets import Bag
    t = MainShare(p=0.5, max_len=6, min_len=4)
    rng = np.random.default_rng(0)
    bag = Bag(torch.arange(10.0)[:, None], 1, "s", instance_labels=np.arange(10) / 10)
    out = t(bag, rng)
    assert len(out.features) == 5                                   # ⌊0.5·10⌋
    assert np.allclose(out.instance_labels, out.features[:, 0].numpy() / 10)   # same rows kept
    assert len(t(Bag(torch.zeros(20, 1), 1, "l"), rng).features) == 6          # capped at L
    assert len(t(Bag(torch.zeros(3, 1), 1, "short"), rng).features) == 3       # < min_len: whole
    assert len(t(Bag(torch.zeros(5, 1), 1, "odd"), rng).features) == 2        # ⌊2.5⌋
    with pytest.raises(ValueError):
        MainShare(p=0.0)


def test_packing_modes_differ_one_thing_at_a_time():
    from milhelpers.timing import MainShare as MS
    m = packing_modes(p=0.4, max_len=32, min_len=8, batch_size=8, lr=1e-3)
    cfg = {k: v.train_config() for k, v in m.items()}
    assert cfg["batch1"].batch_size == cfg["batch1_cap"].batch_size == cfg["batch1_main"].batch_size == 1
    assert cfg["batch1"].lr == pytest.approx(2e-4) and cfg["padded"].lr == pytest.approx(1e-3)
    assert m["batch1_cap"].train_transform.max_instances == 32
    assert m["batch1_main"].train_transform == MS(0.4, 32, 8) == m["padded_main"].train_transform
    assert m["padded"].train_transform is None and cfg["padded_main"].batch_size == 8
    assert m["packed_main"].collate_fn.residual is False and m["packed"].collate_fn.residual
    for k in ("packed_main", "packed"):
        c = m[k].collate_fn
        assert (c.p, c.max_len, c.min_len) == (0.4, 32, 8) and cfg[k].batch_size == 8
    assert len({v.name for v in m.values()}) == len(m)             # names keep runs apart


def test_fit_step_cost_recovers_a_known_line_and_the_regime_by_hand():
    rows = [{"mode": mode, "tokens_per_step": x, "seconds_per_step": c0 + c1 * x}
            for mode, c0, c1 in (("batch1", 0.01, 1e-5), ("packed", 0.03, 2e-5))
            for x in (8, 64, 512, 4096)]
    costs = fit_step_cost(pd.DataFrame(rows))
    assert costs.loc["batch1", "c0"] == pytest.approx(0.01, rel=1e-6)
    assert costs.loc["packed", "c1"] == pytest.approx(2e-5, rel=1e-6)
    assert costs.loc["batch1", "tokens_at_half"] == pytest.approx(1000)
    # main_tokens: n = 10 → 5 main + 5 residual; n = 3 < min_len → whole to both; caps at L
    assert main_tokens([10, 3, 100], 0.5, 20, 4).tolist() == [10, 6, 40]
    assert main_tokens([10, 3, 100], 0.5, 20, 4, residual=False).tolist() == [5, 3, 20]
    # ratio(n) = (c0'/B + c1'·t(n)) / (c0 + c1·n), by hand at n = 100, B = 10, L = 20
    r = predicted_time_ratio([100], costs, batch_size=10, p=0.5, max_len=20, min_len=4)
    assert r[0] == pytest.approx((0.003 + 2e-5 * 40) / (0.01 + 1e-5 * 100))
    lengths = [10, 3, 100]
    assert predicted_epoch_seconds(lengths, costs, "batch1") == pytest.approx(
        3 * 0.01 + 1e-5 * 113)
    assert predicted_epoch_seconds(lengths, costs, "packed", batch_size=2, p=0.5, max_len=20,
                                   min_len=4) == pytest.approx(2 * 0.03 + 2e-5 * 56)


def test_cost_curves_and_time_to_auc_by_hand():
    runs = pd.DataFrame([
        {"mode": "b1", "repeat": 0, "steps_per_epoch": 10, "val_auc": [0.6, 0.8, 0.9],
         "cum_seconds": [1.0, 2.0, 3.0]},
        {"mode": "b1", "repeat": 0, "steps_per_epoch": 10, "val_auc": [0.7, 0.7, 0.9],
         "cum_seconds": [1.5, 2.5, 3.5]},
        {"mode": "pk", "repeat": 0, "steps_per_epoch": 2, "val_auc": [0.5, 0.6, 0.7],
         "cum_seconds": [0.2, 0.4, 0.6]},
        {"mode": "pk", "repeat": 1, "steps_per_epoch": 2, "val_auc": [0.9, 0.9, 0.9],
         "cum_seconds": [0.1, 0.2, 0.3]}])          # a timing-only repeat: not in the curves
    c = cost_curves(runs)
    b1 = c[c["mode"] == "b1"].set_index("epoch")
    assert b1.loc[2, "val_auc"] == pytest.approx(0.75) and b1.loc[2, "seconds"] == pytest.approx(2.25)
    assert b1.loc[3, "steps"] == 30
    t = time_to_auc(c, 0.75)
    assert t.loc["b1", "epoch"] == 2 and t.loc["b1", "steps"] == 20
    assert not t.loc["pk", "reached"] and np.isnan(t.loc["pk", "seconds"])
    assert time_to_auc(c, 0.7).loc["pk", "seconds"] == pytest.approx(0.6)


def test_step_costs_rows_and_tokens_per_step():
    c = step_costs(lengths=(4, 12), dim=4, n_bags=16, batch_size=4, epochs=2)
    assert list(zip(c["mode"], c.bag_length, c.tokens_per_step, c.steps)) == [
        ("batch1", 4, 4, 16), ("packed", 4, 16, 4), ("batch1", 12, 12, 16), ("packed", 12, 48, 4)]
    assert (c.seconds_per_step > 0).all() and set(c.device) == {"cpu"}


def test_packing_tables_read_the_benchmark_layout():
    from milhelpers.timing import packing_tables
    d = {"cohort": {
        "table": {"batch1": {"method": "abmil_gated", "steps_per_epoch": 75, "epochs": 20,
                             "epoch_seconds": 1.0, "train_seconds": 0.9, "time_vs_batch1": 1.0,
                             "oof_auc": 0.8},
                  "packed": {"method": "packmil", "steps_per_epoch": 5, "epochs": 20,
                             "epoch_seconds": 0.6, "train_seconds": 0.5, "time_vs_batch1": 0.6,
                             "oof_auc": 0.77, "auc_minus_batch1": {"diff": -0.03,
                                                                   "ci95": [-0.08, 0.01],
                                                                   "p": 0.2}}},
        "comparisons": [{"a": "batch1", "b": "packed", "what": "x", "diff": 0.05,
                         "ci95": [0.01, 0.09], "p": 0.01}],
        "time_to_auc": {"batch1": {"reached": True, "epoch": 2.0, "steps": 150.0,
                                   "seconds": 2.0}}},
        "scale": {"by_max_length": {"2000": {
            "batch1": {"epoch_seconds": 1.1, "peak_gb": 0.4, "instances": 13439},
            "padded8": {"skipped": "…", "estimated_peak_gb": 8.2}}}}}
    t = packing_tables(d)
    assert t["modes"].loc["packed", "AUC − batch 1"] == "-0.030 [-0.080, +0.010] p=0.200"
    assert t["modes"].loc["batch1", "AUC − batch 1"] == "" and t["modes"]["× batch 1"].dtype == float
    assert t["comparisons"].loc["packed − batch1", "Δ AUC [95% CI] p"].endswith("clear")
    assert t["scale"].loc[2000, "padded8"] == "not run (≈ 8 GB)"
    assert t["scale"].loc[2000, "batch1"] == "1.1 s / 0.40 GB" and t["scale"].loc[2000, "instances"] == 13439
    assert "costs" not in t and t["time_to_auc"].loc["batch1", "steps"] == 150


def test_result_curves_read_the_runners_histories(tmp_path):
    from milhelpers.cached_runs import run_split
    from milhelpers.experiments import run_experiments
    from milhelpers.timing import result_curves
    ds = planted_bags(30, d=4, lengths=(5, 12))
    packed = packing_modes(max_len=8, min_len=2, batch_size=4)["packed"]
    res = run_experiments(ds, ["mean_pool", packed], seeds=[0], folds=3, epochs=2,
                          cache_dir=tmp_path, progress=False)
    rc = result_curves(res, ds, {"b1": "mean_pool", "pk": packed})
    assert list(rc["mode"]) == ["b1"] * 3 + ["pk"] * 3
    for r in rc.itertuples():
        name = "mean_pool" if r.mode == "b1" else packed.name
        hist = res.history(name, 0, r.fold)
        n_train = len(run_split(ds, 0, r.fold, 3)[0])
        assert r.steps_per_epoch == (n_train if r.mode == "b1" else -(-n_train // 4))
        assert r.val_auc == hist.val_auc.tolist()
        assert r.cum_seconds == pytest.approx(np.cumsum(hist.seconds).tolist())
