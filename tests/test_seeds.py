"""Every random generator a method or the data code owns follows its seed: the same seed gives
the same masks / packs / splits / subsamples, another seed other ones; and validation splits
grouped by case never put one patient on both sides (alone, in the runner, in cross_validate).
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from bags import planted_bags
from milhelpers import experiments as ex
from milhelpers.datasets import Bag, ListBagDataset, stratified_folds, train_val_split
from milhelpers.methods import BuildContext, Method, get_method, mhim_method
from milhelpers.models import ACMIL
from milhelpers.models.packmil import ADS
from milhelpers.packing import pack_collate, split_slide
from milhelpers.train import (SubsampleInstances, TrainConfig, _Transformed, cross_validate,
                              fit, torch_threads)

SMALL = dict(embed_dim=16, attn_dim=8)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _three(draw):
    """draw(seed) for seeds 0, 0, 1: (first, repeat, other)."""
    return draw(0), draw(0), draw(1)


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _same_and_different(draw):
    first, repeat, other = _three(draw)
    assert _equal(first, repeat), "the same seed must give the same draw"
    assert not _equal(first, other), "another seed must give another draw"


# ------------------------------------------------------------------------------------ methods
def test_mhim_masks_follow_the_run_seed():
    """The mask generator is seeded from the run's seed (BuildContext.seed): two builds with one
    seed hide the same instances step after step, another seed other ones. The teacher and its
    dropout are held fixed, so only the mask generator can differ."""
    base = get_method("abmil_gated").with_options(name="abmil_small", **SMALL)
    teacher = base.build_model(BuildContext(8, 2, 0, 0))
    method = mhim_method(base, r_h=0.1, r_hr=0.5, r=0.4)
    x = torch.randn(1, 40, 8, generator=torch.Generator().manual_seed(0))

    def draw(seed):
        model = method.build_model(BuildContext(8, 2, 0, seed, pretrained=lambda m: teacher))
        model.train()
        masks = []
        for step in range(3):
            torch.manual_seed(100 + step)          # the teacher's dropout: the same for all
            masks.append(model.hide(x)[0])
        return masks

    _same_and_different(draw)


def test_stkim_masks_follow_the_trainers_seed():
    """ACMIL's masks come from torch's stream, which fit seeds: with one bag (no data order) and
    no dropout, only STKIM is random, so the trained weights differ exactly when the seed does."""
    ds = planted_bags(1, d=8, lengths=(30, 31))
    torch.manual_seed(0)
    start = ACMIL(8, 2, embed_dim=16, attn_dim=8, n_branches=2, top_k=10, mask_drop=0.6,
                  dropout=0.0)

    def draw(seed):
        res = fit(copy.deepcopy(start), ds, None,
                  TrainConfig(epochs=3, lr=1e-2, seed=seed, progress=False))
        return [p.detach().clone() for p in res.model.parameters()]

    _same_and_different(draw)


def test_pack_collate_draws_its_splits_from_the_trainers_stream():
    bags = [Bag(torch.randn(n, 4), i % 2, f"s{i}") for i, n in enumerate([30, 25, 40, 18])]
    collate = pack_collate(p=0.5, max_len=64, min_len=0)

    def draw(seed):
        torch.manual_seed(seed)
        b = collate(bags)
        return [b.features, b.residual_features]

    _same_and_different(draw)


def test_split_slide_uses_its_own_generator_not_the_global_stream():
    def draw(seed):
        torch.manual_seed(1234 + seed)            # the global stream moves; the generator not
        return split_slide(50, 0.4, cap=15, generator=torch.Generator().manual_seed(7))

    first, repeat, other = _three(draw)
    assert _equal(first, repeat) and _equal(first, other)
    _same_and_different(lambda s: split_slide(50, 0.4, cap=15,
                                              generator=torch.Generator().manual_seed(s)))


def test_packmil_packs_follow_the_run_seed_in_fit():
    """The packs a PackMIL run trains on are drawn from the run's seed."""
    ds = planted_bags(8, d=6, lengths=(10, 30))
    method = get_method("packmil").with_options(**SMALL)
    seen = []

    def recording(bags):
        batch = method.collate_fn(bags)
        seen.append((batch.slide_ids, batch.features.clone()))
        return batch

    recorded = Method(method.name, method.build, loss_terms=method.loss_terms,
                      collate_fn=recording, config={"batch_size": 4, "lr": 1e-3})

    def draw(seed):
        seen.clear()
        recorded.fit(ds, None, recorded.train_config(epochs=1, seed=seed, progress=False))
        return [t for pair in seen for t in pair]

    _same_and_different(draw)


def test_ads_shuffle_and_kept_coordinates_follow_torchs_seed():
    """Training-mode ADS: which tokens share a group and which coordinates are kept are random.
    With an identity embedding and output, token t = 10^t in every coordinate tells which token
    each output value came from: token t holds 10^(t+1), which the re-weighting multiplies by
    1 + α ∈ (1, 2) and GELU leaves almost unchanged."""
    ads = ADS(4, 2).train()
    with torch.no_grad():
        for lin in (ads.embed[0], ads.out):
            lin.weight.copy_(torch.eye(4)), lin.bias.zero_()
    x = torch.tensor([[10.0 ** (t + 1)] * 4 for t in range(6)])

    def draw(seed):
        torch.manual_seed(seed)
        with torch.no_grad():
            y = ads.forward_part(x)
        return torch.floor(torch.log10(y)).long() - 1       # the token of each value

    tokens = draw(0)
    assert tokens.shape == (3, 4) and set(tokens.flatten().tolist()) <= set(range(6))
    for row in tokens:                                       # a group draws from its own 2 tokens
        assert len(set(row.tolist())) <= 2
    _same_and_different(draw)
    # the tokens that share a group are not always neighbours of the input: they are shuffled
    groups = {frozenset(row.tolist()) for s in range(6) for row in draw(s)}
    assert any(len(g) == 2 and g not in ({0, 1}, {2, 3}, {4, 5}) for g in groups)


# --------------------------------------------------------------------------------------- data
def test_subsampling_follows_the_run_seed_and_changes_from_draw_to_draw():
    bags = ListBagDataset([Bag(torch.arange(40.0)[:, None], 0, "b")])
    sub = SubsampleInstances(10)

    def draw(seed):
        t = _Transformed(bags, sub, seed)
        return [t[0].features.flatten() for _ in range(3)]   # three epochs' draws of one bag

    _same_and_different(draw)
    a, b, c = draw(0)
    assert not torch.equal(a, b) and not torch.equal(b, c)   # a new subsample every time


def test_train_val_split_follows_its_seed_with_and_without_groups():
    cases = np.repeat([f"c{i}" for i in range(20)], 3)
    y = np.repeat(np.arange(20) % 2, 3)                      # a case's slides share a label
    idx = np.arange(60)
    _same_and_different(lambda s: train_val_split(idx, y, 0.25, seed=s)[1])
    _same_and_different(lambda s: train_val_split(idx, y, 0.25, seed=s, groups=cases)[1])


def test_folds_follow_their_seed():
    y = np.repeat(np.arange(20) % 2, 3)
    cases = np.repeat([f"c{i}" for i in range(20)], 3)
    _same_and_different(lambda s: [te for _, te in stratified_folds(y, 4, seed=s)])
    _same_and_different(lambda s: [te for _, te in stratified_folds(y, 4, seed=s, groups=cases)])


def test_each_repeat_draws_its_own_case_grouped_partition():
    from types import SimpleNamespace

    from milhelpers.experiments import experiment_folds

    table = pd.DataFrame({"label": np.repeat(np.arange(24) % 2, 2),
                          "case_id": np.repeat([f"p{i}" for i in range(24)], 2)})
    ds = SimpleNamespace(labels=table.label.to_numpy(), case_ids=table.case_id.to_numpy(),
                         table=table)
    _same_and_different(lambda s: [te for _, te in experiment_folds(ds, 4, seed=s)])
    folds = np.empty(len(table), int)
    for k, (_, te) in enumerate(experiment_folds(ds, 4, seed=0)):
        folds[te] = k
    assert (table.assign(f=folds).groupby("case_id").f.nunique() == 1).all()


def test_classic_benchmark_repeats_use_other_folds_and_seeds(monkeypatch):
    from milhelpers import classic

    folds_seen, fit_seeds = [], []
    real_folds = classic.stratified_folds

    def recording_folds(labels, k, seed=0, groups=None):
        out = real_folds(labels, k, seed, groups)
        folds_seen.append([te.tolist() for _, te in out])
        return out

    real_fit = Method.fit

    def recording_fit(self, train_ds, val_ds, config=None, *a, **kw):
        fit_seeds.append(config.seed)
        return real_fit(self, train_ds, val_ds, config, *a, **kw)

    monkeypatch.setattr(classic, "stratified_folds", recording_folds)
    monkeypatch.setattr(Method, "fit", recording_fit)
    classic.run_classic_benchmark(["musk1"], ["abmil_gated"], repeats=2, folds=2, epochs=1,
                                  seed=5, progress=False)
    assert len(folds_seen) == 2 and folds_seen[0] != folds_seen[1]
    assert fit_seeds == [5, 6, 1005, 1006]                   # seed + 1000·repeat + fold


def test_tumour_probe_folds_follow_the_seed():
    from milhelpers import instances, synth

    rng = np.random.default_rng(0)
    recs = []
    for slide in range(12):                       # each slide: 4 tumour and 4 mimic patches
        for k in range(8):
            kind = synth.MORPHOLOGIES[slide % 3] if k < 4 else synth.MIMICS[slide % 2]
            rec = {"slide_id": f"s{slide}", "tumour_fraction": float(k < 4)}
            rec.update({f"{n}_fraction": float(n == kind)
                        for n in synth.MORPHOLOGIES + synth.MIMICS})
            recs.append(rec)
    table = pd.DataFrame(recs)
    X = rng.normal(size=(len(table), 5)) + 0.3 * table.tumour_fraction.to_numpy()[:, None]
    _same_and_different(lambda s: instances.tumour_probe(X, table, n_splits=4, C=1.0,
                                                                  seed=s).auc.tolist())


# --------------------------------------------------------------- case-grouped validation splits
def _case_bags(n_cases=24, per_case=3, seed=0):
    """Bags of patients with several slides each; a patient's slides share a label."""
    base = planted_bags(n_cases * per_case, d=8, seed=seed, lengths=(8, 16), id_width=3)
    bags = []
    for i, b in enumerate(base.bags):
        case = i // per_case
        y = case % 2
        bags.append(Bag(b.features, y, b.slide_id, case_id=f"case{case:02d}",
                        instance_labels=b.instance_labels))
    return ListBagDataset(bags)


@pytest.fixture
def fit_sets(monkeypatch):
    """The slides each Method.fit trains and validates on (the real fit still runs)."""
    calls = []
    original = Method.fit

    def recording(self, train_ds, val_ds, config=None, fold=0, *a, **kw):
        calls.append({"seed": config.seed, "fold": fold, "train": list(train_ds.slide_ids),
                      "val": list(val_ds.slide_ids)})
        return original(self, train_ds, val_ds, config, fold, *a, **kw)

    monkeypatch.setattr(Method, "fit", recording)
    return calls


def _case_of(ds):
    return dict(zip(ds.slide_ids, ds.case_ids))


def test_train_val_split_keeps_each_case_on_one_side_for_every_seed():
    ds = _case_bags()
    y, cases = ds.labels, ds.case_ids
    tr = np.arange(len(y))[6:]                              # a training part of a fold
    for seed in range(8):
        t, v = train_val_split(tr, y, 0.25, seed=seed, groups=cases)
        assert sorted(np.concatenate([t, v]).tolist()) == tr.tolist()
        assert not set(cases[t]) & set(cases[v])
        assert set(y[v]) == {0, 1}


def test_the_runner_validates_on_whole_cases_and_its_seed_moves_the_split(tmp_path, fit_sets):
    ds = _case_bags()
    case = _case_of(ds)
    method = get_method("abmil_gated").with_options(name="abmil_small", **SMALL)
    ex.run_experiments(ds, [method], seeds=[0, 1], folds=3, epochs=1,
                       cache_dir=tmp_path / "cache", progress=False)
    assert len(fit_sets) == 6
    for i, call in enumerate(fit_sets):        # runs in order: repeat 0's folds, then repeat 1's
        splits = experiments_test_sets(ds, repeat=i // 3)
        train, val = {case[s] for s in call["train"]}, {case[s] for s in call["val"]}
        test = {case[ds.slide_ids[i]] for i in splits[call["fold"]]}
        assert not train & val and not (train | val) & test
    by_fold = {}
    for call in fit_sets:
        by_fold.setdefault(call["fold"], []).append(call["val"])
    assert all(v[0] != v[1] for v in by_fold.values())      # seeds 0 and 1 validate elsewhere
    fit_sets.clear()
    ex.run_experiments(ds, [method], seeds=[0], folds=3, epochs=1,
                       cache_dir=tmp_path / "other", progress=False)
    assert [c["val"] for c in fit_sets] == [v[0] for _, v in sorted(by_fold.items())]


def experiments_test_sets(ds, repeat=0):
    return [te for _, te in ex.experiment_folds(ds, 3, seed=repeat)]


def test_cross_validate_validates_on_whole_cases(fit_sets):
    ds = _case_bags(n_cases=20)
    case = _case_of(ds)
    folds = stratified_folds(ds.labels, 3, seed=0, groups=ds.case_ids)
    method = get_method("abmil_gated").with_options(name="abmil_small", **SMALL)
    cross_validate(method, ds, folds, TrainConfig(epochs=1, progress=False), progress=False)
    assert len(fit_sets) == 3
    for call, (_, te) in zip(fit_sets, folds):
        train, val = {case[s] for s in call["train"]}, {case[s] for s in call["val"]}
        assert not train & val and not (train | val) & {case[ds.slide_ids[i]] for i in te}
