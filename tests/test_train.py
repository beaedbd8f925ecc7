import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from bags import planted_bags
from milhelpers import losses
from milhelpers.datasets import collate_bags, stratified_folds
from milhelpers.methods import get_method
from milhelpers.metrics import localization_auc
from milhelpers.models import build_model, freeze
from milhelpers.train import (MONITORS, Callback, LossTerm, SubsampleInstances, TrainConfig,
                              cosine_ramp, cross_validate, fit, predict, run_seed)


def test_trainer_learns_a_planted_signal():
    ds = planted_bags()
    folds = stratified_folds(ds.labels, 4, seed=0)
    cfg = TrainConfig(epochs=20, lr=1e-3, progress=False)
    table, preds = cross_validate(get_method("abmil_gated").with_options(embed_dim=32, attn_dim=16),
                                  ds, folds, cfg, progress=False)
    assert table.auc.mean() > 0.95
    assert table.seed.tolist() == [run_seed(0, k) for k in range(4)]
    # and its attention points at the planted instances
    inst = {b.slide_id: b.instance_labels for b in ds.bags}
    loc = localization_auc([s[0] for p in preds for s in p.scores],
                           [inst[s] for p in preds for s in p.slide_ids], threshold=0.5)
    assert loc["mean_slide_auc"] > 0.9


def test_early_stopping_on_validation_and_best_weights(tmp_path):
    ds = planted_bags(40)
    tr, va = ds.subset(range(0, 30)), ds.subset(range(30, 40))
    cfg = TrainConfig(epochs=30, lr=5e-3, patience=3, monitor="val_loss", progress=False, seed=7)
    res = fit(lambda: build_model("abmil_tanh", 16, embed_dim=32, attn_dim=16), tr, va, cfg,
              run_dir=tmp_path)
    h = res.history
    assert {"train_loss", "val_loss", "val_auc", "val_f1", "val_attention_entropy", "lr"} <= set(h.columns)
    assert len(h) < 30  # stopped early
    assert res.best_epoch == int(h.loc[h.val_loss.idxmin(), "epoch"])
    assert len(h) == res.best_epoch + 3
    # the returned model carries the best epoch's weights
    p = predict(res.model, va)
    loss = -np.log(np.clip(p.probs[np.arange(len(p.labels)), p.labels], 1e-7, 1)).mean()
    assert loss == pytest.approx(h.val_loss.min(), rel=1e-4)
    assert (tmp_path / "checkpoint.pt").exists() and pd.read_csv(tmp_path / "history.csv").shape[0] == len(h)
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["seed"] == 7 and info["init_seed"] == 7 and info["best_epoch"] == res.best_epoch
    assert info["monitor"] == "val_loss"


def test_monitor_direction_higher_is_better_for_accuracy():
    ds = planted_bags(60, seed=3)
    tr, va = ds.subset(range(0, 40)), ds.subset(range(40, 60))
    cfg = TrainConfig(epochs=8, lr=2e-3, monitor="val_accuracy", progress=False)
    res = fit(lambda: build_model("abmil_gated", 16, embed_dim=32, attn_dim=16), tr, va, cfg)
    acc = res.history.val_accuracy
    assert acc.max() > acc.iloc[0]  # the guard: accuracy did improve, so direction matters
    assert res.best_epoch == int(res.history.epoch[acc.idxmax()])   # first epoch with the max


def test_unknown_monitor_is_rejected_with_the_valid_names():
    with pytest.raises(ValueError, match="val_f1_auc"):
        TrainConfig(monitor="auc")
    assert MONITORS["val_loss"] == "min" and MONITORS["val_f1_auc"] == "max"
    # the course's protocol: every method trains a fixed number of epochs (docs/protocol.md)
    assert TrainConfig().monitor == "last"
    assert {get_method(n).train_config().monitor for n in ("abmil_gated", "acmil", "aem", "mhim",
                                                           "packmil", "mean_pool")} == {"last"}
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


def test_nan_auc_monitor_falls_back_to_val_loss_loudly():
    ds = planted_bags(40)
    tr = ds.subset(range(0, 30))
    va = ds.subset([i for i in range(30, 40) if ds.labels[i] == 0])   # one class: AUC undefined
    cfg = TrainConfig(epochs=6, lr=5e-3, monitor="val_auc", patience=2, progress=False)
    with pytest.warns(RuntimeWarning, match="val_loss"):
        res = fit(lambda: build_model("abmil_gated", 16, embed_dim=32, attn_dim=16), tr, va, cfg)
    assert res.monitor == "val_loss" and res.history.val_auc.isna().all()
    assert res.best_epoch == int(res.history.loc[res.history.val_loss.idxmin(), "epoch"])


def test_seed_alone_fixes_initial_weights_and_training():
    ds = planted_bags(10)
    cfg = TrainConfig(epochs=2, progress=False, seed=1)
    factory = lambda: build_model("abmil_gated", 16)  # noqa: E731
    torch.manual_seed(99)
    a = fit(factory, ds, None, cfg)
    torch.rand(500)                                     # earlier random calls must not matter
    np.random.rand(3)
    b = fit(factory, ds, None, cfg)
    c = fit(factory, ds, None, TrainConfig(epochs=2, progress=False, seed=2))
    torch.testing.assert_close(a.model.classifier.weight, b.model.classifier.weight)
    assert not torch.equal(a.model.classifier.weight, c.model.classifier.weight)
    assert a.init_seed == 1 and a.history.lr.iloc[-1] < 0.05 * 2e-4   # cosine decays to ~0
    assert a.best_epoch == 2  # no validation set: the last epoch is kept


class Recorder:
    """A zero-weight loss term that records what the trainer shows it."""

    def __init__(self):
        self.ids, self.states, self.lengths = [], [], []

    def __call__(self, out, batch, state):
        self.ids.append(list(batch.slide_ids))
        self.states.append(state)
        self.lengths.append(int(batch.mask.sum(1).max()))
        return out.logits.sum() * 0


def test_training_data_is_shuffled_reproducibly():
    ds = planted_bags(12)
    orders = []
    for seed in (0, 0, 1):
        rec = Recorder()
        fit(lambda: build_model("mean_pool", 16), ds, None,
            TrainConfig(epochs=2, progress=False, seed=seed), [LossTerm("rec", rec, 0.0)])
        orders.append([i[0] for i in rec.ids])
    first_epoch = orders[0][:12]
    assert sorted(first_epoch) == sorted(b.slide_id for b in ds.bags)
    assert first_epoch != [b.slide_id for b in ds.bags]            # shuffled
    assert orders[0][:12] != orders[0][12:]                        # reshuffled every epoch
    assert orders[0] == orders[1] and orders[0] != orders[2]       # fixed by the seed


def test_min_epochs_holds_off_early_stopping():
    ds = planted_bags(20)
    tr, va = ds.subset(range(0, 14)), ds.subset(range(14, 20))
    # lr = 0: validation loss never improves after epoch 1, so patience 1 would stop at epoch 2
    cfg = TrainConfig(epochs=10, lr=0.0, patience=1, min_epochs=6, monitor="val_loss",
                      progress=False)
    res = fit(lambda: build_model("abmil_gated", 16), tr, va, cfg)
    assert len(res.history) == 6 and res.best_epoch == 1
    res = fit(lambda: build_model("abmil_gated", 16), tr, va,
              TrainConfig(epochs=10, lr=0.0, patience=1, monitor="val_loss", progress=False))
    assert len(res.history) == 2


def test_loss_terms_are_weighted_logged_and_see_the_training_state():
    ds = planted_bags(8)
    rec = Recorder()
    const = LossTerm("bias_sum", lambda out, batch, state: out.logits.sum(), weight=2.0)
    cfg = TrainConfig(epochs=3, lr=1e-3, progress=False)
    res = fit(lambda: build_model("abmil_gated", 16), ds, None, cfg, [const, LossTerm("rec", rec, 0.0)])
    h = res.history
    # total = CE + 2·term (averages over steps are linear), the term is logged unweighted
    np.testing.assert_allclose(h.train_loss, h.bag_loss + 2.0 * h.bias_sum, rtol=1e-5, atol=1e-6)
    assert [s.step for s in rec.states] == list(range(24))
    assert [s.epoch for s in rec.states] == [1] * 8 + [2] * 8 + [3] * 8
    assert {s.total_steps for s in rec.states} == {24} and rec.states[12].progress == 0.5
    ramp = cosine_ramp(1.0, 0.0)
    assert ramp(rec.states[0]) == 1.0 and ramp(rec.states[12]) == pytest.approx(0.5)
    assert LossTerm("x", const.fn, ramp).weight_at(rec.states[12]) == pytest.approx(0.5)


def test_a_weight_of_zero_leaves_training_unchanged_and_a_weight_changes_it():
    ds = planted_bags(10)
    cfg = TrainConfig(epochs=2, lr=1e-3, progress=False)
    term = lambda w: LossTerm("neg_entropy", lambda o, b, s: losses.negative_entropy(o.attention_logits, o.mask), w)  # noqa: E731
    base = fit(lambda: build_model("abmil_gated", 16), ds, None, cfg)
    zero = fit(lambda: build_model("abmil_gated", 16), ds, None, cfg, [term(0.0)])
    strong = fit(lambda: build_model("abmil_gated", 16), ds, None, cfg, [term(5.0)])
    torch.testing.assert_close(base.model.classifier.weight, zero.model.classifier.weight)
    assert predict(strong.model, ds).mean_entropy() > predict(base.model, ds).mean_entropy()


class StepWatcher(Callback):
    def __init__(self):
        self.starts, self.ends, self.changed = [], [], []

    def on_step_start(self, model, state):
        self.starts.append(state.step)
        self.before = model.classifier.weight.detach().clone()

    def on_step_end(self, model, state):
        self.ends.append(state.step)
        self.changed.append(not torch.equal(self.before, model.classifier.weight))


class WithTeacher(torch.nn.Module):
    """A student plus a frozen copy, the way MHIM holds its momentum teacher."""

    def __init__(self):
        super().__init__()
        self.student = build_model("abmil_gated", 16, embed_dim=32, attn_dim=16)
        self.teacher = freeze(build_model("abmil_gated", 16, embed_dim=32, attn_dim=16))

    @property
    def classifier(self):
        return self.student.classifier

    def forward(self, x, mask=None):
        out = self.student(x, mask)
        out.extras["teacher_embedding"] = self.teacher(x, mask).embedding
        return out


def test_callbacks_run_around_each_optimizer_step_and_frozen_modules_stay_put():
    ds = planted_bags(6)
    watch = StepWatcher()
    model = WithTeacher()
    teacher0 = copy.deepcopy(model.teacher.state_dict())
    consistency = LossTerm("consistency", lambda o, b, s: losses.consistency_loss(
        o.embedding, o.extras["teacher_embedding"]), 1.0)
    fit(model, ds, None, TrainConfig(epochs=2, lr=1e-2, weight_decay=0.1, progress=False),
        [consistency], [watch])
    assert watch.starts == watch.ends == list(range(12))
    assert all(watch.changed)                        # on_step_end sees the updated weights
    for k, v in model.teacher.state_dict().items():  # no gradient, no weight decay, no step
        torch.testing.assert_close(v, teacher0[k])
    assert all(p.grad is None for p in model.teacher.parameters())


class ScaledABMIL(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = build_model("abmil_gated", 16, embed_dim=32, attn_dim=16)
        self.scales = []

    def forward(self, x, mask=None, scale=1.0):
        self.scales.append(scale)
        return self.inner(x * scale, mask)


def test_pluggable_collate_and_batch_sampler():
    ds = planted_bags(8)
    groups = [[0, 3], [1, 2, 5], [4], [6, 7]]

    def sampler(dataset, generator):
        return groups

    def collate(bags):
        batch = collate_bags(bags)
        batch.model_kwargs = {"scale": 0.5}
        return batch

    rec, model = Recorder(), ScaledABMIL()
    fit(model, ds, None, TrainConfig(epochs=1, progress=False), [LossTerm("rec", rec, 0.0)],
        collate_fn=collate, batch_sampler=sampler)
    assert rec.ids == [[f"bag{i}" for i in g] for g in groups]
    assert model.scales == [0.5] * 4


def test_train_transform_touches_training_bags_only():
    ds = planted_bags(12)
    tr, va = ds.subset(range(8)), ds.subset(range(8, 12))
    rec = Recorder()
    res = fit(lambda: build_model("abmil_gated", 16), tr, va, TrainConfig(epochs=2, progress=False),
              [LossTerm("rec", rec, 0.0)], train_transform=SubsampleInstances(5))
    assert max(rec.lengths) == 5
    p = predict(res.model, va)
    assert [a.shape[1] for a in p.attention] == [len(b.features) for b in va.bags]
    # the subsample is reproducible and keeps instance labels aligned with features
    bag = ds[1]
    sub = SubsampleInstances(4)(bag, np.random.default_rng([0, 0]))
    again = SubsampleInstances(4)(bag, np.random.default_rng([0, 0]))
    assert torch.equal(sub.features, again.features) and len(sub.features) == 4
    rows = [int(np.where((bag.features == f).all(1))[0][0]) for f in sub.features]
    np.testing.assert_array_equal(sub.instance_labels, bag.instance_labels[rows])


def test_cross_validate_selects_on_validation_never_on_the_test_fold(monkeypatch):
    import milhelpers.methods as methods_module

    ds = planted_bags(30)
    folds = stratified_folds(ds.labels, 3, seed=0)
    seen, real_fit = [], methods_module.fit

    def spy(model, train_ds, val_ds, *args, **kwargs):
        seen.append(({b.slide_id for b in train_ds.bags}, {b.slide_id for b in val_ds.bags}))
        return real_fit(model, train_ds, val_ds, *args, **kwargs)

    monkeypatch.setattr(methods_module, "fit", spy)
    built_for = []

    def factory(fold):
        built_for.append(fold)
        return build_model("mean_pool", 16)

    table, preds = cross_validate(factory, ds, folds, TrainConfig(epochs=1, progress=False),
                                  progress=False)
    assert built_for == [0, 1, 2]                     # the factory receives the fold index
    every = {b.slide_id for b in ds.bags}
    for (train_ids, val_ids), (_, te), p in zip(seen, folds, preds):
        test_ids = {ds.bags[i].slide_id for i in te}
        assert set(p.slide_ids) == test_ids
        assert not (val_ids & test_ids) and not (train_ids & test_ids) and not (train_ids & val_ids)
        assert train_ids | val_ids | test_ids == every and len(val_ids) > 0


def test_folds_are_shuffled_and_stratified():
    labels = np.array([0] * 10 + [1] * 10)
    folds = stratified_folds(labels, 5, seed=0)
    tests = [set(te.tolist()) for _, te in folds]
    assert tests[0] != {0, 1, 10, 11}                # unshuffled StratifiedKFold's first fold
    assert all(labels[list(t)].sum() == 2 for t in tests)
    assert set().union(*tests) == set(range(20))
    assert [set(te.tolist()) for _, te in stratified_folds(labels, 5, seed=1)] != tests


def test_predict_runs_on_the_models_own_device(monkeypatch):
    ds = planted_bags(4)
    model = build_model("abmil_gated", 16).train()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)   # "auto" would pick CUDA
    p = predict(model, ds)
    assert p.probs.shape == (4, 2) and next(model.parameters()).device.type == "cpu"
    assert model.training                                            # mode restored


def test_torch_threads_sets_and_restores_even_on_error():
    from milhelpers.train import torch_threads
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"):
        with torch_threads(target):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be"):
        with torch_threads(0):
            pass


def test_monitor_last_keeps_the_final_epoch_and_still_records_validation():
    ds = planted_bags(40)
    tr, va = ds.subset(range(0, 30)), ds.subset(range(30, 40))
    make = lambda: build_model("abmil_tanh", 16, embed_dim=32, attn_dim=16)   # noqa: E731
    last = fit(make, tr, va, TrainConfig(epochs=6, lr=5e-3, monitor="last", progress=False))
    on_loss = fit(make, tr, va, TrainConfig(epochs=6, lr=5e-3, monitor="val_loss",
                                            progress=False))
    h = last.history
    assert last.best_epoch == 6 and len(h) == 6 and last.monitor == "last"
    assert h.val_loss.notna().all() and h.val_auc.notna().all()
    # the same training run either way; the returned weights are the final epoch's
    pd.testing.assert_frame_equal(h.drop(columns="seconds"),
                                  on_loss.history.drop(columns="seconds"))
    p = predict(last.model, va)
    loss = -np.log(np.clip(p.probs[np.arange(len(p.labels)), p.labels], 1e-7, 1)).mean()
    assert loss == pytest.approx(h.val_loss.iloc[-1], rel=1e-4)
    if on_loss.best_epoch != 6:              # selection on val_loss returns other weights
        assert loss != pytest.approx(h.val_loss.min(), rel=1e-4)
    with pytest.raises(ValueError, match="patience"):
        TrainConfig(monitor="last", patience=2)


# --------------------------------------------------------------------------------------------
# round 12: predict's per-bag crops, the validation row, the monitor fallback, save_run
# --------------------------------------------------------------------------------------------
from milhelpers import train as _train                                   # noqa: E402
from milhelpers.datasets import Bag, ListBagDataset                      # noqa: E402
from milhelpers.train import FitResult, Predictions, save_run           # noqa: E402


def _r12_bags():
    g = torch.Generator().manual_seed(0)
    return ListBagDataset([Bag(torch.randn(3, 4, generator=g), 1, "long"),
                           Bag(torch.randn(1, 4, generator=g), 0, "short")])


def test_r12_predict_in_batches_crops_every_per_instance_output_to_its_bag():
    torch.manual_seed(0)
    model = build_model("abmil_gated", in_dim=4, n_classes=2, embed_dim=8, attn_dim=4)
    model.train()
    p = predict(model, _r12_bags(), batch_size=2)
    assert model.training                      # its mode is given back
    assert p.slide_ids == ["long", "short"] and p.labels.tolist() == [1, 0]
    assert [a.shape for a in p.attention] == [(1, 3), (1, 1)]
    assert [a.shape for a in p.attention_logits] == [(1, 3), (1, 1)]
    assert [a.shape for a in p.scores] == [(1, 3), (1, 1)]
    assert p.probs.shape == (2, 2) and np.allclose(p.probs.sum(1), 1.0)
    assert p.embeddings.shape[0] == 2
    # one bag at a time gives the same numbers: the padding is masked
    one = predict(model, _r12_bags())
    np.testing.assert_allclose(one.probs, p.probs, atol=1e-6)
    np.testing.assert_allclose(one.attention_logits[0], p.attention_logits[0], atol=1e-6)


def test_r12_validation_row_maps_each_metric_to_its_key(monkeypatch):
    labels = np.array([0, 0, 0, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    att = [np.array([[0.5, 0.5]])] * 4
    fake = Predictions(["a", "b", "c", "d"], labels, probs, att, att, np.zeros((4, 2)), att)
    monkeypatch.setattr(_train, "predict", lambda model, ds: fake)
    row = _train._validation_row(None, None)
    # predictions 0, 0, 1, 1: accuracy 3/4, balanced (2/3 + 1)/2, macro F1 (4/5 + 2/3)/2, AUC 1
    assert row["val_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.7])))
    assert row["val_auc"] == 1.0 and row["val_accuracy"] == 0.75
    assert row["val_balanced_accuracy"] == pytest.approx(5 / 6)
    assert row["val_f1"] == pytest.approx(11 / 15)
    assert row["val_f1_auc"] == pytest.approx(1 + 11 / 15)
    assert row["val_acc_auc"] == pytest.approx(1.75)
    assert row["val_attention_entropy"] == pytest.approx(1.0)


def test_r12_monitor_falls_back_to_val_loss_only_for_one_class_and_two_class_monitors():
    one = ListBagDataset([Bag(torch.zeros(1, 2), 1, "a"), Bag(torch.zeros(1, 2), 1, "b")])
    two = ListBagDataset([Bag(torch.zeros(1, 2), 0, "a"), Bag(torch.zeros(1, 2), 1, "b")])
    with pytest.warns(RuntimeWarning, match=r"monitor 'val_f1_auc' needs both classes .* only "
                                            r"class \[1\]"):
        assert _train._choose_monitor("val_f1_auc", one) == "val_loss"
    import warnings as _w
    with _w.catch_warnings():
        _w.simplefilter("error")
        assert _train._choose_monitor("val_auc", two) == "val_auc"
        assert _train._choose_monitor("val_accuracy", one) == "val_accuracy"
        assert _train._choose_monitor("val_auc", None) == "val_auc"


def test_r12_fit_refuses_an_empty_training_set_and_records_lr_and_losses():
    with pytest.raises(ValueError, match="the training set is empty"):
        fit(build_model("abmil_gated", in_dim=4, n_classes=2, embed_dim=8, attn_dim=4),
            ListBagDataset([]), config=TrainConfig(epochs=1, progress=False))
    torch.manual_seed(0)
    model = build_model("abmil_gated", in_dim=4, n_classes=2, embed_dim=8, attn_dim=4)
    res = fit(model, _r12_bags(), config=TrainConfig(epochs=2, lr=0.1, progress=False))
    h = res.history
    assert h.epoch.tolist() == [1, 2] and res.best_epoch == 2 and res.monitor == "last"
    # 2 steps per epoch, 4 in all: the cosine lr of the last step of each epoch (steps 1 and 3)
    assert h.lr.tolist() == pytest.approx([0.05 * (1 + np.cos(np.pi / 4)),
                                           0.05 * (1 + np.cos(3 * np.pi / 4))])
    assert (h.seconds > 0).all() and np.allclose(h.train_loss, h.bag_loss)


def test_r12_save_run_writes_the_run_its_metrics_and_each_slides_attention(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    res = FitResult(model, pd.DataFrame({"epoch": [1, 2]}), 2, TrainConfig(seed=3), "val_loss", 7)
    att = [np.array([[0.25, 0.75]]), np.array([[1.0]])]
    pred = Predictions(["s1", "s2"], np.array([0, 1]), np.zeros((2, 2)), att,
                       [np.zeros((1, 2)), np.zeros((1, 1))], np.zeros((2, 2)),
                       [np.zeros((1, 2)), np.zeros((1, 1))])
    save_run(tmp_path / "r", res, pred, {"auc": 0.5})
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert (info["seed"], info["init_seed"], info["best_epoch"]) == (3, 7, 2)
    assert info["monitor"] == "val_loss" and info["model_class"] == "Linear"
    assert json.loads((tmp_path / "r" / "metrics.json").read_text()) == {"auc": 0.5}
    assert np.load(tmp_path / "r" / "attention" / "s1.npy").tolist() == [[0.25, 0.75]]
    assert np.load(tmp_path / "r" / "attention" / "s2.npy").tolist() == [[1.0]]
    ck = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)
    assert torch.equal(ck["state_dict"]["weight"], model.weight) and ck["best_epoch"] == 2
    save_run(tmp_path / "bare", res)
    assert not (tmp_path / "bare" / "metrics.json").exists()
    assert not (tmp_path / "bare" / "attention").exists()
