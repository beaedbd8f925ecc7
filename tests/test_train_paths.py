"""The trainer's less travelled paths, with hand-computed values: the epoch-selection rule on a
scripted validation curve (NaN epochs, ties, patience and min_epochs at both sides), config
bounds, the per-epoch means with batches, an empty validation split, the validation loss,
train-only subsampling keeping instances aligned, padded prediction and what ``save_run`` writes.
"""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from milhelpers import train as train_mod
from milhelpers.datasets import Bag, ListBagDataset
from milhelpers.models.base import MILModel, MILOutput
from milhelpers.train import (LossTerm, Predictions, SubsampleInstances, TrainConfig, fit,
                              predict, save_run)


class MeanFirstFeature(MILModel):
    """Bag logits ``[0, w·mean(x[:, 0]) + b]`` over the real instances; attention logits are
    ``x[:, 0]`` (one head), so every output can be computed by hand."""

    n_classes = 2

    def __init__(self, w: float = 1.0, b: float = 0.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(w)))
        self.b = nn.Parameter(torch.tensor(float(b)))

    def forward(self, x, mask=None):
        if x.dim() == 2:
            x = x[None]
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool)
        m = mask.float()
        mean = (x[..., 0] * m).sum(1) / m.sum(1)
        z = self.w * mean + self.b
        logits = torch.stack([torch.zeros_like(z), z], 1)
        att = x[..., 0].masked_fill(~mask, torch.finfo(x.dtype).min)[:, None, :]
        return MILOutput(logits, att, mean[:, None], mask)


def _bags(lengths, labels, d=2):
    """Bag i: instance j has features (i + j/10, j); labels as given."""
    out = []
    for i, (n, y) in enumerate(zip(lengths, labels)):
        x = torch.tensor([[i + j / 10, j] for j in range(n)], dtype=torch.float32)[:, :d]
        out.append(Bag(x, y, f"b{i}", coords=np.array([[j, 10 * j] for j in range(n)]),
                       instance_labels=np.arange(n) / 10))
    return ListBagDataset(out)


def _scripted(monkeypatch, values, key="val_loss"):
    """Make the validation row of epoch e return ``values[e-1]`` under ``key``."""
    calls = iter(values)

    def row(model, val_ds):
        v = next(calls)
        r = {k: 0.0 for k in ("val_loss", "val_auc", "val_accuracy", "val_balanced_accuracy",
                              "val_f1", "val_f1_auc", "val_acc_auc", "val_attention_entropy")}
        r[key] = v
        return r
    monkeypatch.setattr(train_mod, "_validation_row", row)


def _fit_scripted(monkeypatch, values, **cfg):
    _scripted(monkeypatch, values, cfg.get("monitor", "val_loss"))
    ds = _bags([2, 3], [0, 1])
    cfg = TrainConfig(**{"epochs": len(values), "progress": False, "monitor": "val_loss", **cfg})
    return fit(MeanFirstFeature(), ds, ds, cfg)


def test_nan_epochs_count_towards_patience(monkeypatch):
    # val_loss 1.0, then NaN forever: waited 1, 2 -> patience 2 stops after epoch 3
    with pytest.warns(RuntimeWarning, match="NaN"):
        res = _fit_scripted(monkeypatch, [1.0] + [float("nan")] * 7, patience=2)
    assert res.history.epoch.tolist() == [1, 2, 3]
    assert res.best_epoch == 1


def test_patience_and_min_epochs_stop_at_the_hand_counted_epoch(monkeypatch):
    worse = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]   # best at epoch 1, then only worse
    # patience 2: waited reaches 2 at epoch 3
    assert len(_fit_scripted(monkeypatch, worse, patience=2).history) == 3
    # patience 1 but min_epochs 4: waited >= 1 from epoch 2, stop first allowed at epoch 4
    assert len(_fit_scripted(monkeypatch, worse, patience=1, min_epochs=4).history) == 4
    # min_epochs 2 is already met when waited first reaches 1 at epoch 2
    assert len(_fit_scripted(monkeypatch, worse, patience=1, min_epochs=2).history) == 2
    # an improvement resets the wait: 3, 2 (best), 2.5, 1 (best), 4, 5 -> stops at epoch 6
    res = _fit_scripted(monkeypatch, [3.0, 2.0, 2.5, 1.0, 4.0, 5.0, 6.0, 7.0], patience=2)
    assert len(res.history) == 6 and res.best_epoch == 4


def test_ties_keep_the_first_best_epoch_in_both_directions(monkeypatch):
    assert _fit_scripted(monkeypatch, [2.0, 1.0, 1.0, 1.5]).best_epoch == 2
    res = _fit_scripted(monkeypatch, [0.5, 0.8, 0.8, 0.7], monitor="val_accuracy")
    assert res.best_epoch == 2 and res.monitor == "val_accuracy"


def test_config_bounds_on_both_sides():
    TrainConfig(epochs=1)
    TrainConfig(patience=1, monitor="val_loss")
    TrainConfig(min_epochs=0)
    TrainConfig(lr=0.0, weight_decay=0.0)
    TrainConfig(batch_size=1)
    for bad in (dict(epochs=0), dict(epochs=2.0), dict(patience=0, monitor="val_loss"),
                dict(min_epochs=-1), dict(lr=-1e-9), dict(weight_decay=-1e-9),
                dict(batch_size=0), dict(optimizer="sgd"), dict(schedule="step"),
                dict(patience=3)):   # patience with monitor='last'
        with pytest.raises(ValueError):
            TrainConfig(**bad)
    with pytest.raises(ValueError, match="max_instances"):
        SubsampleInstances(0)
    SubsampleInstances(1)


def test_epoch_means_divide_by_the_steps_not_the_bags():
    # 5 bags, 2 per step -> 3 steps; a constant term of 1.0 averages to exactly 1.0 per epoch
    ds = _bags([2, 3, 1, 4, 2], [0, 1, 0, 1, 0])
    term = LossTerm("one", lambda out, batch, state: torch.tensor(1.0), weight=0.5)
    res = fit(MeanFirstFeature(), ds, None, TrainConfig(epochs=2, batch_size=2, progress=False),
              loss_terms=[term])
    h = res.history
    assert h["one"].tolist() == [1.0, 1.0]
    # the logged term is unweighted; train_loss = bag_loss + 0.5 * 1.0
    np.testing.assert_allclose(h.train_loss, h.bag_loss + 0.5, rtol=1e-6)


def test_an_empty_validation_split_trains_without_validation_columns():
    ds = _bags([2, 3, 4], [0, 1, 1])
    res = fit(MeanFirstFeature(), ds, ds.subset([]), TrainConfig(epochs=2, progress=False))
    assert "val_loss" not in res.history and res.best_epoch == 2


def test_validation_loss_is_the_mean_nll_of_each_bags_own_class():
    # logits [0, mean x0]: bag0 (y=0) mean 0.05, bag1 (y=1) mean 1.1, bag2 (y=0) mean 2.0
    ds = _bags([2, 3, 1], [0, 1, 0])
    row = train_mod._validation_row(MeanFirstFeature(), ds)
    z = np.array([0.05, 1.1, 2.0])
    p1 = 1 / (1 + np.exp(-z))
    nll = -np.log(np.array([1 - p1[0], p1[1], 1 - p1[2]])).mean()
    assert row["val_loss"] == pytest.approx(nll, rel=1e-5)
    assert row["val_accuracy"] == pytest.approx(1 / 3)     # predicts 1, 1, 1: one right


def test_subsampling_keeps_coords_and_instance_labels_with_their_features():
    bag = _bags([1, 9], [0, 1])[1]      # features (1 + j/10, j), coords (j, 10 j), labels j/10
    out = SubsampleInstances(4)(bag, np.random.default_rng(3))
    j = out.features[:, 1].numpy().astype(int)
    assert len(j) == 4 and list(j) == sorted(set(j))
    np.testing.assert_array_equal(out.coords, np.stack([j, 10 * j], 1))
    np.testing.assert_allclose(out.instance_labels, j / 10)
    assert SubsampleInstances(9)(bag, np.random.default_rng(3)) is bag


def test_padded_prediction_equals_one_bag_at_a_time():
    ds = _bags([2, 5, 3], [0, 1, 0])
    one, three = predict(MeanFirstFeature(), ds, 1), predict(MeanFirstFeature(), ds, 3)
    assert [len(a[0]) for a in three.attention] == [2, 5, 3]
    for a, b in zip(one.attention, three.attention):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(one.probs, three.probs, rtol=1e-6)
    # the attention is the softmax of x0 over the real instances: bag0 has x0 = 0, 0.1
    e = np.exp([0.0, 0.1])
    np.testing.assert_allclose(three.attention[0][0], e / e.sum(), rtol=1e-6)


def test_mean_topk_mass_averages_only_the_chosen_class():
    att = [np.array([[0.5, 0.5]]), np.array([[0.9, 0.05, 0.05]]), np.array([[0.25] * 4])]
    p = Predictions(["a", "b", "c"], np.array([1, 0, 1]), np.zeros((3, 2)), att, att,
                    np.zeros((3, 1)), att)
    assert p.mean_topk_mass(1) == pytest.approx((0.5 + 0.25) / 2)
    assert p.mean_topk_mass(1, label=0) == pytest.approx(0.9)
    assert p.mean_topk_mass(1, label=None) == pytest.approx((0.5 + 0.9 + 0.25) / 3)
    assert math.isnan(p.mean_topk_mass(1, label=2))


def test_save_run_writes_metrics_attention_and_the_models_own_init_seed(tmp_path):
    ds = _bags([2, 3], [0, 1])
    res = fit(MeanFirstFeature(), ds, None, TrainConfig(epochs=1, seed=5, progress=False))
    assert res.init_seed is None        # a ready model without init_seed: unknown, not cfg.seed
    pred = predict(res.model, ds)
    save_run(tmp_path, res, pred, {"auc": 0.75})
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["seed"] == 5 and info["init_seed"] is None and info["best_epoch"] == 1
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"auc": 0.75}
    np.testing.assert_allclose(np.load(tmp_path / "attention" / "b1.npy"), pred.attention[1])
    save_run(tmp_path / "bare", res)
    assert not (tmp_path / "bare" / "metrics.json").exists()


def test_learning_rate_and_scheduled_weight_follow_the_step():
    # 2 bags, batch 1 -> 2 steps per epoch, 3 epochs -> 6 steps; the history logs the lr of
    # each epoch's last step s = 1, 3, 5: lr = ½·base·(1 + cos(π s / 6))
    ds = _bags([2, 3], [0, 1])
    term = LossTerm("one", lambda out, batch, state: torch.tensor(1.0),
                    weight=lambda state: float(state.step))
    res = fit(MeanFirstFeature(), ds, None, TrainConfig(epochs=3, lr=0.01, progress=False),
              loss_terms=[term])
    want = [0.5 * 0.01 * (1 + math.cos(math.pi * s / 6)) for s in (1, 3, 5)]
    np.testing.assert_allclose(res.history.lr, want, rtol=1e-9)
    # the weight reaches the loss: train_loss − bag_loss = mean of the steps' weights
    np.testing.assert_allclose(res.history.train_loss - res.history.bag_loss, [0.5, 2.5, 4.5],
                               rtol=1e-5)
    const = fit(MeanFirstFeature(), ds, None,
                TrainConfig(epochs=2, lr=0.01, schedule="constant", progress=False))
    assert const.history.lr.tolist() == [0.01, 0.01]


def test_slide_scores_and_entropy_of_one_and_several_heads():
    one = [np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]])]
    p = Predictions(["a", "b"], np.array([0, 1]), np.zeros((2, 2)), one, one, np.zeros((2, 1)),
                    [np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])])
    assert [s.tolist() for s in p.slide_scores] == [[1.0, 2.0], [3.0, -1.0]]   # the logits
    assert p.mean_entropy() == pytest.approx(0.5)               # (1 + 0) / 2, ÷ log 2
    assert p.mean_entropy(normalized=False) == pytest.approx(math.log(2) / 2)
    two = [np.array([[0.2, 0.8], [0.6, 0.4]])]
    q = Predictions(["c"], np.array([1]), np.zeros((1, 2)), two, two, np.zeros((1, 1)),
                    [np.array([[5.0, -5.0], [-5.0, 5.0]])])
    np.testing.assert_allclose(q.slide_scores[0], [0.4, 0.6])   # the heads' mean weights
    np.testing.assert_allclose(q.slide_attention[0], [0.4, 0.6])


def test_cosine_ramp_and_progress_by_hand():
    from milhelpers.train import TrainState, cosine_ramp

    s = lambda step: TrainState(epoch=1, step=step, total_steps=8, steps_per_epoch=4)
    assert s(2).progress == 0.25 and TrainState(1, 0, 0, 0).progress == 0.0
    up = cosine_ramp(0.2, 1.0)
    assert up(s(0)) == pytest.approx(0.2)
    assert up(s(2)) == pytest.approx(1 - 0.8 * 0.5 * (1 + math.cos(math.pi / 4)))  # 0.31716
    assert up(s(4)) == pytest.approx(0.6)
    assert LossTerm("t", None, weight=up).weight_at(s(4)) == pytest.approx(0.6)
    assert LossTerm("t", None, weight=3).weight_at(s(4)) == 3.0


def test_cross_validate_predicts_each_test_fold_with_its_run_seed():
    from milhelpers.datasets import stratified_folds
    from milhelpers.metrics import bag_metrics, topk_mass
    from milhelpers.train import cross_validate, run_seed

    # lr = 0: every fold's model stays w = 1, b = 0, so p(1) = sigmoid(mean x0) by hand
    ds = _bags([2, 7, 3, 6, 4, 8, 2, 5, 3, 6, 5, 2, 7, 3, 4, 6], [0, 1] * 8)
    folds = stratified_folds(ds.labels, 2, seed=0)
    table, preds = cross_validate(lambda fold: MeanFirstFeature(), ds, folds,
                                  TrainConfig(epochs=1, lr=0.0, seed=3), val_fraction=0.25,
                                  progress=False)
    assert table.fold.tolist() == [0, 1] and table.seed.tolist() == [run_seed(3, 0), run_seed(3, 1)]
    assert table.best_epoch.tolist() == [1, 1]
    for (tr, te), p, (_, row) in zip(folds, preds, table.iterrows()):
        assert p.slide_ids == [f"b{i}" for i in te]
        mean_x0 = np.array([i + (len(ds[i].features) - 1) / 20 for i in te])
        np.testing.assert_allclose(p.probs[:, 1], 1 / (1 + np.exp(-mean_x0)), rtol=1e-5)
        assert row.auc == pytest.approx(bag_metrics(ds.labels[te], p.probs)["auc"])
        # top-5 mass over the positive test bags only (label 1), by hand from softmax(x0)
        masses = []
        for i in te:
            if ds.labels[i] == 1:
                e = np.exp(ds[i].features[:, 0].numpy().astype(float))
                masses.append(np.sort(e / e.sum())[::-1][:5].sum())
        assert row.top5_mass == pytest.approx(np.mean(masses), rel=1e-5)
        assert row.attention_entropy == pytest.approx(p.mean_entropy())


# --- round 7: run seeds, the loader's generator, global seeding, train/eval modes, bounds ------
def test_run_seed_gives_every_seed_and_fold_its_own_stream():
    """run_seed(seed, fold) is distinct for every (seed, fold) a study runs: seed 1 fold 0 must
    not replay seed 0 fold 1 (a ``seed + fold`` rule would make repeats share random streams,
    so 'independent repeats' would be the same runs shifted by one fold)."""
    from milhelpers.train import run_seed

    assert run_seed(1, 0) != run_seed(0, 1)
    pairs = [(s, k) for s in range(5) for k in range(10)]
    assert len({run_seed(s, k) for s, k in pairs}) == len(pairs)


@pytest.mark.parametrize("sampler", [None, "slide_batch_sampler"])
def test_loader_order_follows_its_seed_not_the_global_stream(sampler):
    """The training loader shuffles with its own generator seeded by the run seed (with a plain
    batch size and with a batch_sampler factory): one seed, one order, whatever torch's global
    seed; another seed, another order; the plain loader does not consume the global stream (so
    dropout draws do not depend on how many bags were shuffled)."""
    from milhelpers.packing import slide_batch_sampler

    ds = _bags([1] * 12, [0, 1] * 6)
    bs = None if sampler is None else slide_batch_sampler(1)

    def order(seed, global_seed):
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        ids = [i for b in train_mod._loader(ds, 1, True, seed, batch_sampler=bs)
               for i in b.slide_ids]
        return ids, torch.equal(before, torch.get_rng_state())

    (a, kept_a), (b, kept_b) = order(4, 0), order(4, 7)
    assert a == b
    if sampler is None:     # (a batch_sampler loader draws its unused worker seed globally)
        assert kept_a and kept_b
    assert len({tuple(order(s, 0)[0]) for s in range(4)}) > 1


@pytest.mark.parametrize("draw", [lambda: __import__("random").random(),
                                  lambda: float(np.random.rand()),
                                  lambda: float(torch.rand(()))],
                         ids=["python", "numpy", "torch"])
def test_seed_everything_seeds_python_numpy_and_torch(draw):
    """A plugin's transform may draw from Python's, NumPy's or torch's global generator: each
    must repeat under one seed and change with another."""
    from milhelpers.train import seed_everything

    values = []
    for s in (3, 3, 4):
        seed_everything(s)
        values.append(draw())
    assert values[0] == values[1] != values[2]


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_predict_runs_in_eval_and_gives_the_model_back_in_its_mode(mode):
    """predict switches dropout off (two calls agree, and match an eval forward) and hands the
    model back in the mode it came in: an eval model stays eval, a training one trains on."""
    from milhelpers.models import build_model

    torch.manual_seed(0)
    ds = _bags([4, 6, 3], [0, 1, 0])
    model = build_model("abmil_gated", 2, dropout=0.5).train(mode == "train")
    p1, p2 = predict(model, ds), predict(model, ds)
    assert model.training is (mode == "train")
    assert all(m.training is (mode == "train") for m in model.modules())
    np.testing.assert_array_equal(p1.probs, p2.probs)
    with torch.no_grad():
        want = torch.softmax(model.eval()(ds[1].features).logits, -1)[0].numpy()
    np.testing.assert_allclose(p1.probs[1], want, rtol=1e-5, atol=1e-6)


def test_fit_trains_in_train_mode_even_when_handed_an_eval_model():
    """fit switches the model to training at every epoch (dropout on during the steps), also
    for a ready model handed in eval mode and after each epoch's validation."""
    from milhelpers.train import Callback

    seen = []

    class Record(Callback):
        def on_step_start(self, model, state):
            seen.append(model.training)

    ds = _bags([3, 4, 5, 2], [0, 1, 0, 1])
    fit(MeanFirstFeature().eval(), ds, ds, TrainConfig(epochs=2, monitor="val_loss", progress=False),
        callbacks=[Record()])
    assert seen and all(seen)


@pytest.mark.parametrize("threads, ok", [(1, True), (0, False), (1.5, False)])
def test_torch_threads_at_exactly_its_bound(threads, ok):
    """One thread is allowed, zero or a fraction is refused."""
    from milhelpers.train import torch_threads

    if ok:
        with torch_threads(threads):
            assert torch.get_num_threads() == 1
    else:
        with pytest.raises(ValueError, match="threads must be"):
            with torch_threads(threads):
                pass


def test_cross_validate_trains_each_fold_with_its_own_run_seed(monkeypatch):
    """The seed that reaches each fold's training (its model's initial weights and data order)
    is run_seed(config.seed, k), the one the table reports — not config.seed for every fold."""
    import milhelpers.methods as methods_module
    from milhelpers.datasets import stratified_folds
    from milhelpers.train import cross_validate, run_seed

    seen, real_fit = [], methods_module.fit

    def spy(model, train_ds, val_ds, cfg, *args, **kwargs):
        seen.append(cfg.seed)
        return real_fit(model, train_ds, val_ds, cfg, *args, **kwargs)

    monkeypatch.setattr(methods_module, "fit", spy)
    ds = _bags([2, 7, 3, 6, 4, 8, 2, 5, 3, 6, 5, 2], [0, 1] * 6)
    folds = stratified_folds(ds.labels, 3, seed=0)
    table, _ = cross_validate(lambda fold: MeanFirstFeature(), ds, folds,
                              TrainConfig(epochs=1, lr=0.0, seed=2), val_fraction=0.25,
                              progress=False)
    want = [run_seed(2, k) for k in range(3)]
    assert seen == want == table.seed.tolist() and len(set(want)) == 3


@pytest.mark.parametrize("bad, message", [
    (dict(monitor="val_auroc"), r"TrainConfig.monitor='val_auroc' is not a known monitor"),
    (dict(epochs=0), r"epochs must be an integer >= 1, got 0"),
    (dict(epochs=3.0), r"epochs must be an integer >= 1, got 3.0"),
    (dict(batch_size=0), r"batch_size must be an integer >= 1, got 0"),
    (dict(batch_size=2.0), r"batch_size must be an integer >= 1, got 2.0"),
    (dict(lr=0.001, weight_decay=-0.5), r"lr and weight_decay must be >= 0, got 0.001, -0.5"),
    (dict(lr=-0.001), r"lr and weight_decay must be >= 0, got -0.001, 1e-05"),
    (dict(patience=0, monitor="val_loss"), r"patience must be None or >= 1, got 0"),
    (dict(patience=2), r"patience stops on a validation monitor"),
    (dict(min_epochs=-1), r"min_epochs must be >= 0, got -1"),
    (dict(optimizer="sgd"), r"optimizer='sgd': choose adam or adamw"),
    (dict(schedule="step"), r"schedule='step': choose cosine or constant"),
])
def test_r11_each_config_check_refuses_its_own_field_with_its_message(bad: dict, message: str):
    """Catches a TrainConfig check dropped (the value then trips another check, or none), a
    float accepted for an integer field, or a message naming the wrong field or value."""
    with pytest.raises(ValueError, match=message):
        TrainConfig(**bad)


# --- round 12: the learning-rate schedule's edges and a loss weight's type --------------------
def test_r12_lr_schedule_edges_by_hand():
    lr_at = train_mod._lr_at
    assert lr_at(3, 8, 0.1, "constant") == 0.1
    assert lr_at(3, 0, 0.1, "cosine") == 0.1                  # no steps: the base rate
    assert lr_at(0, 8, 0.1, "cosine") == pytest.approx(0.1)
    assert lr_at(4, 8, 0.1, "cosine") == pytest.approx(0.05)
    assert lr_at(2, 8, 0.1, "cosine") == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))
    assert lr_at(12, 8, 0.1, "cosine") == pytest.approx(0.0, abs=1e-15)   # capped at the end
    assert lr_at(8, 8, 0.1, "cosine") == pytest.approx(0.0, abs=1e-15)


def test_r12_loss_term_weights_are_floats_whatever_their_source():
    from milhelpers.train import TrainState
    s = TrainState(1, 2, 8, 4)
    for w in (3, np.int64(3), lambda state: 3, lambda state: torch.tensor(3)):
        got = LossTerm("t", None, weight=w).weight_at(s)
        assert type(got) is float and got == 3.0
    assert LossTerm("t", None).weight_at(s) == 1.0
    assert LossTerm("t", None, weight=lambda state: state.progress).weight_at(s) == 0.25
