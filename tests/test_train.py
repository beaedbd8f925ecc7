import numpy as np
import pandas as pd
import pytest
import torch

from milhelpers.datasets import Bag, ListBagDataset, stratified_folds
from milhelpers.models import build_model
from milhelpers.train import TrainConfig, cross_validate, fit, predict, save_run, seed_everything


def planted_bags(n_bags=120, d=16, seed=0):
    """Negative bags: N(0, 1) instances. Positive bags: the same with 2–4 instances shifted along
    a secret direction; only the bag label is given."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=d)
    direction /= np.linalg.norm(direction)
    bags = []
    for i in range(n_bags):
        y = i % 2
        x = rng.normal(size=(int(rng.integers(20, 60)), d))
        inst = np.zeros(len(x))
        if y:
            k = int(rng.integers(2, 5))
            x[:k] += 4 * direction
            inst[:k] = 1
            perm = rng.permutation(len(x))
            x, inst = x[perm], inst[perm]
        bags.append(Bag(torch.tensor(x, dtype=torch.float32), y, f"bag{i}", instance_labels=inst))
    return ListBagDataset(bags)


def test_trainer_learns_a_planted_signal():
    ds = planted_bags()
    folds = stratified_folds(ds.labels, 4, seed=0)
    cfg = TrainConfig(epochs=20, lr=1e-3, progress=False)
    table, preds = cross_validate(lambda: build_model("abmil_gated", 16, embed_dim=64, attn_dim=32),
                                  ds, folds, cfg, progress=False)
    assert table.auc.mean() > 0.95
    # and its attention points at the planted instances
    inst = {b.slide_id: b.instance_labels for b in ds.bags}
    from milhelpers.metrics import localization_auc
    loc = localization_auc([a[0] for p in preds for a in p.attention],
                           [inst[s] for p in preds for s in p.slide_ids], threshold=0.5)
    assert loc["mean_slide_auc"] > 0.9


def test_early_stopping_on_validation_and_best_weights(tmp_path):
    ds = planted_bags(40)
    tr, va = ds.subset(range(0, 30)), ds.subset(range(30, 40))
    cfg = TrainConfig(epochs=30, lr=5e-3, patience=3, progress=False)
    res = fit(build_model("abmil_tanh", 16, embed_dim=32, attn_dim=16), tr, va, cfg, run_dir=tmp_path)
    h = res.history
    assert {"train_loss", "val_loss", "val_auc", "val_attention_entropy", "lr"} <= set(h.columns)
    assert len(h) < 30  # stopped early
    assert res.best_epoch == int(h.loc[h.val_loss.idxmin(), "epoch"])
    assert len(h) == res.best_epoch + 3
    # the returned model carries the best epoch's weights
    p = predict(res.model, va)
    loss = -np.log(np.clip(p.probs[np.arange(len(p.labels)), p.labels], 1e-7, 1)).mean()
    assert loss == pytest.approx(h.val_loss.min(), rel=1e-4)
    assert (tmp_path / "checkpoint.pt").exists() and pd.read_csv(tmp_path / "history.csv").shape[0] == len(h)


def test_cosine_schedule_decays_to_zero_and_seed_reproduces():
    ds = planted_bags(10)
    seed_everything(1)
    a = fit(build_model("abmil_gated", 16), ds, None, TrainConfig(epochs=3, progress=False, seed=1))
    seed_everything(1)
    b = fit(build_model("abmil_gated", 16), ds, None, TrainConfig(epochs=3, progress=False, seed=1))
    assert a.history.lr.iloc[-1] < 0.05 * 2e-4
    torch.testing.assert_close(a.model.classifier.weight, b.model.classifier.weight)
    assert a.best_epoch == 3  # no validation set: the last epoch is kept


class EntropyBonus:
    """A pluggable loss term, as later chapters add (here: push attention towards uniform)."""
    name, weight = "neg_entropy", 1.0

    def __init__(self):
        self.calls = 0

    def __call__(self, out, batch):
        self.calls += 1
        a = out.attention.clamp_min(1e-12)
        return (a * a.log()).sum(-1).mean()


def test_loss_terms_are_added_logged_and_change_training():
    ds = planted_bags(20)
    term = EntropyBonus()
    cfg = TrainConfig(epochs=4, lr=1e-3, progress=False)
    with_term = fit(build_model("abmil_gated", 16), ds, None, cfg, [term])
    without = fit(build_model("abmil_gated", 16), ds, None, cfg)
    assert term.calls == 4 * len(ds)
    assert "neg_entropy" in with_term.history and "neg_entropy" not in without.history
    ent = lambda r: predict(r.model, ds).mean_entropy()  # noqa: E731
    assert ent(with_term) > ent(without)


def test_save_run_writes_attention_per_slide(tmp_path):
    ds = planted_bags(6)
    res = fit(build_model("abmil_gated", 16), ds, None, TrainConfig(epochs=1, progress=False))
    p = predict(res.model, ds)
    save_run(tmp_path, res, p, p.metrics())
    a = np.load(tmp_path / "attention" / "bag0.npy")
    assert a.shape == (1, len(ds[0].features)) and np.isclose(a.sum(), 1)
    assert (tmp_path / "metrics.json").exists()
