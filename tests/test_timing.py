"""timed_runs / timing_table: which runs are trained, and the ratios they report."""
import numpy as np
import pandas as pd
import pytest

from bags import planted_bags
from milhelpers.datasets import stratified_folds
from milhelpers.timing import timed_runs, timing_table, validation_pass_seconds


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
