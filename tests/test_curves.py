"""Learning curves (milhelpers.curves): measured at every epoch's end on the runner's own split,
without changing the training, and cached like the runner's runs."""
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from bags import planted_bags
from milhelpers import experiments as ex
from milhelpers.curves import EpochEvaluation, learning_curves
from milhelpers.datasets import ListBagDataset
from milhelpers.methods import Method, aem_method, get_method
from milhelpers.train import TrainState, predict

SMALL = dict(embed_dim=16, attn_dim=8)


def planted(n_bags=24):
    return planted_bags(n_bags, 8, 0, lengths=(10, 30), permute=False, id_width=2)


def small(method="abmil_gated"):
    m = get_method(method) if isinstance(method, str) else method
    return m.with_options(name=f"{m.name}_small", **SMALL)


def test_epoch_evaluation_records_only_at_the_last_step_of_an_epoch_by_hand():
    ds = planted(10)
    part = ListBagDataset(ds.bags[:6])
    model = small().build_model(ex.BuildContext(8, 2, 0, 0))
    ev = EpochEvaluation({"train": part, "empty": ListBagDataset([])})
    for step in range(7):   # 3 steps per epoch: ends after steps 2 and 5, not 6
        ev.on_step_end(model, TrainState(step // 3 + 1, step, 9, 3))
    assert [(r["epoch"], r["part"]) for r in ev.rows] == [(1, "train"), (2, "train")]
    p = predict(model, part)
    y = p.labels
    loss = -np.mean(np.log(p.probs[np.arange(len(y)), y]))
    assert ev.rows[0]["loss"] == pytest.approx(loss, rel=1e-6)
    assert ev.rows[0]["auc"] == pytest.approx(roc_auc_score(y, p.probs[:, 1]))
    assert model.training   # predict left the model as it found it


def test_curves_follow_the_runners_run_without_changing_it(tmp_path):
    ds = planted()
    method = small()
    res = ex.run_experiments(ds, [method], [1], 3, epochs=3, cache_dir=tmp_path / "runs",
                             progress=False)
    c = learning_curves(ds, [method], epochs=3, seed=1, fold=2, folds=3,
                        cache_dir=tmp_path / "runs", progress=False)
    hist = res.history(method.name, 1, 2)
    val = c[c.part == "validation"].set_index("epoch")
    # the validation split, the seed and the training are the runner's: the trainer's validation
    # loss and AUC are what the evaluation measured at the same epochs, to float precision
    np.testing.assert_allclose(val.loss.to_numpy(), hist.val_loss.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(val.history_val_auc.to_numpy(), hist.val_auc.to_numpy())
    np.testing.assert_allclose(val.auc.to_numpy(), hist.val_auc.to_numpy())
    # the test part is the runner's test fold: the last epoch's AUC is that run's test AUC
    test = c[(c.part == "test") & (c.epoch == 3)]
    assert test.auc.iloc[0] == pytest.approx(res.values(method.name, "auc").loc[(1, 2)])
    assert sorted(c.part.unique()) == ["test", "train", "validation"]
    assert c.groupby("part").size().tolist() == [3, 3, 3]


def test_curves_are_cached_per_method_and_setting(tmp_path, monkeypatch):
    ds = planted()
    calls = []
    original = Method.fit

    def counting(self, *a, **kw):
        calls.append(self.name)
        return original(self, *a, **kw)

    monkeypatch.setattr(Method, "fit", counting)
    a, b = small(), small(aem_method(1.0))
    first = learning_curves(ds, [a, b], epochs=2, folds=3, cache_dir=tmp_path, progress=False)
    again = learning_curves(ds, [a, b], epochs=2, folds=3, cache_dir=tmp_path, progress=False)
    assert calls == [a.name, b.name]
    assert first.equals(again)
    # the AEM term changes the training: same split, other curves
    va = first[(first.part == "validation") & (first.method == a.name)].loss.to_numpy()
    vb = first[(first.part == "validation") & (first.method == b.name)].loss.to_numpy()
    assert not np.array_equal(va, vb)
    learning_curves(ds, [a], epochs=3, folds=3, cache_dir=tmp_path, progress=False)
    learning_curves(ds, [a], epochs=2, fold=1, folds=3, cache_dir=tmp_path, progress=False)
    assert calls == [a.name, b.name, a.name, a.name]   # other epochs, other fold: trained


def test_curves_refuse_bad_settings_and_keep_the_thread_setting(tmp_path):
    ds = planted()
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="fold=3"):
        learning_curves(ds, [small()], epochs=1, fold=3, folds=3, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="epochs"):
        learning_curves(ds, [small()], epochs=0, cache_dir=tmp_path)
    assert torch.get_num_threads() == before


def test_summarize_curves_and_the_figure_by_hand():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from milhelpers import viz
    from milhelpers.curves import summarize_curves

    rows = []
    for e, (tl, vl, ta, va, f1) in enumerate([(0.6, 0.7, 0.8, 0.7, 1.2), (0.3, 0.5, 0.95, 0.8, 1.5),
                                              (0.1, 0.9, 1.0, 0.75, 1.5)], 1):
        rows += [{"method": "m", "epoch": e, "part": "train", "loss": tl, "auc": ta},
                 {"method": "m", "epoch": e, "part": "validation", "loss": vl, "auc": va,
                  "history_val_f1_auc": f1}]
    t = summarize_curves(pd.DataFrame(rows)).loc["m"]
    assert t["train loss (last)"] == 0.1 and t["validation loss (last)"] == 0.9
    assert t["lowest validation loss"] == 0.5 and t["at epoch"] == 2
    assert t["val macro F1 + AUC keeps epoch"] == 2           # first of the tied best
    axes = viz.split_curves(pd.DataFrame(rows))
    assert [ln.get_label() for ln in axes[0].lines] == ["m, train", "m, validation"]
    assert [ln.get_linestyle() for ln in axes[0].lines] == ["-", "--"]
    np.testing.assert_allclose(axes[1].lines[1].get_ydata(), [0.7, 0.8, 0.75])
    assert axes[0].get_xlabel() == "epoch" and "loss" in axes[0].get_ylabel()
    plt.close("all")
