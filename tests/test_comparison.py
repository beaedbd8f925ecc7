"""milhelpers.comparison: the head-to-head table, ranks, costs, subgroups, replication over cohort
draws, which method when, and where each method looks — on a real (tiny) experiment."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bags import planted_bags
from milhelpers import comparison as cmp
from milhelpers import experiments as ex
from milhelpers import stats
from milhelpers.instances import topk_kind_shares
from milhelpers.methods import get_method


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    ds = planted_bags(30, 8, 1, lengths=(8, 20), id_width=2)
    methods = [get_method("abmil_gated").with_options(name="gated", embed_dim=16, attn_dim=8),
               get_method("mean_pool").with_options(name="mean", embed_dim=16),
               get_method("max_pool").with_options(name="max", embed_dim=16)]
    res = ex.run_experiments(ds, methods, [0, 1], 3, epochs=2,
                             cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    return ds, res


def test_method_table_reads_pooled_out_of_fold_metrics_and_per_run_costs(experiment):
    _, res = experiment
    table = cmp.method_table(res)
    assert table.index.tolist() == ["gated", "mean", "max"]
    oof = res.out_of_fold("max")
    aucs = [roc_auc_score(g.label, g.score) for _, g in oof.groupby("seed")]
    assert table.loc["max", "auc"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert table.loc["max", "auc_sd"] == pytest.approx(np.std(aucs, ddof=1), abs=1e-12)
    runs = res.runs[res.runs.method == "mean"]
    assert table.loc["mean", "seconds"] == pytest.approx(runs.seconds.mean())
    assert table.loc["mean", "peak_mb"] == pytest.approx(runs.peak_mb.mean())
    pos = oof[oof.label == 1]
    top5 = pos.groupby("seed").top5_mass.mean().mean()
    assert table.loc["max", "top5_mass"] == pytest.approx(top5)
    assert (table.runs == 6).all()


def test_score_matrices_hold_each_repeats_out_of_fold_scores_in_one_slide_order(experiment):
    ds, res = experiment
    y, cases, ids, mats = cmp.score_matrices(res, ["max", "gated"])
    assert sorted(ids) == sorted(ds.slide_ids) and mats["max"].shape == (2, len(ds))
    oof = res.out_of_fold("gated").set_index(["seed", "slide_id"])
    for r in (0, 1):
        assert mats["gated"][r].tolist() == oof.loc[r].loc[ids, "score"].tolist()
    assert y.tolist() == [int(ds.labels[ds.slide_ids.index(s)]) for s in ids]
    ranks = cmp.method_ranks(res, "auc", n_boot=200)
    table = cmp.method_table(res)
    assert ranks.method.tolist() == table.auc.sort_values(ascending=False).index.tolist()


def test_cost_front_marks_the_methods_nobody_beats_for_less():
    t = pd.DataFrame({"seconds": [10, 20, 30, 5], "peak_mb": [50, 40, 60, 70],
                      "auc": [0.80, 0.85, 0.84, 0.70]}, index=["a", "b", "c", "d"])
    assert cmp.cost_front(t).to_dict() == {"a": True, "b": True, "c": False, "d": True}
    # memory ignored: b still costs more seconds than a, but is more accurate
    assert cmp.cost_front(t, ["seconds"]).to_dict() == {"a": True, "b": True, "c": False,
                                                        "d": True}
    t.loc["c", "auc"] = 0.9
    assert cmp.cost_front(t)["c"]


def test_subgroup_comparison_is_the_paired_bootstrap_on_those_positives_and_every_negative(
        experiment):
    ds, res = experiment
    pos = [s for s, y in zip(ds.slide_ids, ds.labels) if y == 1]
    chosen = pos[:6]
    sub = cmp.subgroup_result(res, chosen)
    kept = set(sub.out_of_fold().slide_id)
    assert kept == set(chosen) | {s for s, y in zip(ds.slide_ids, ds.labels) if y == 0}
    got = sub.compare("gated", ["auc"], n_boot=300).set_index("method")
    y, cases, ids, mats = cmp.score_matrices(res, ["gated", "max"])
    keep = np.array([(s in chosen) or yy == 0 for s, yy in zip(ids, y)])
    want = stats.paired_slide_comparison(y[keep], mats["gated"][:, keep], mats["max"][:, keep],
                                         groups=cases[keep], n_boot=300)
    assert got.loc["max", "diff"] == pytest.approx(want["diff"], abs=1e-12)
    assert got.loc["max", "n_slides"] == keep.sum()
    # the subgroup's AUC of one repeat by hand
    oof = res.out_of_fold("max")
    r0 = oof[(oof.seed == 0) & (oof.slide_id.isin(chosen) | (oof.label == 0))]
    assert cmp.method_table(sub).loc["max", "auc"] == pytest.approx(
        np.mean([roc_auc_score(g.label, g.score)
                 for _, g in sub.out_of_fold("max").groupby("seed")]))
    assert len(r0) == keep.sum()
    with pytest.raises(ValueError, match="none of the given"):
        cmp.subgroup_result(res, ["no_such_slide"])


def test_cohort_subgroups_from_the_labels_table():
    labels = pd.DataFrame({
        "slide_id": ["s0", "s1", "s2", "s3", "s4", "s5"],
        "label": [0, 1, 1, 1, 1, 0],
        "burden": ["none", "micro", "large", "small", "micro", "none"],
        "morphologies": [None, "solid", "discohesive", "glandular;discohesive", "glandular", None]})
    g = cmp.cohort_subgroups(labels)
    assert g == {"micro": ["s1", "s4"], "small": ["s3"], "large": ["s2"],
                 "discohesive": ["s2", "s3"]}
    with pytest.raises(KeyError, match="burden"):
        cmp.cohort_subgroups(labels.drop(columns="burden"))


def _table(rows):
    """A compare() table from (method, diff, lo, hi, clear) rows for the AUC."""
    return pd.DataFrame([{"metric": "auc", "method": m, "diff": d, "lo": lo, "hi": hi,
                          "p": 0.01 if c else 0.5, "p_holm": 0.02 if c else 0.9, "clear": c}
                         for m, d, lo, hi, c in rows])


def test_replication_says_which_differences_hold_on_every_draw():
    t0 = _table([("a", 0.05, 0.01, 0.09, True), ("b", -0.10, -0.15, -0.05, True),
                 ("c", 0.04, 0.01, 0.07, True), ("d", 0.02, -0.01, 0.05, False),
                 ("e", 0.05, 0.02, 0.08, True)])
    t1 = _table([("a", 0.03, 0.005, 0.05, True), ("b", -0.08, -0.12, -0.04, True),
                 ("c", -0.01, -0.04, 0.02, False), ("d", -0.02, -0.05, 0.01, False),
                 ("e", -0.05, -0.08, -0.02, True)])
    rep = cmp.replication({"seed 0": t0, "seed 1": t1})
    assert rep.verdict.to_dict() == {
        "a": "clearly better on every draw", "b": "clearly worse on every draw",
        "c": "clearly better on seed 0 only", "d": "no evidence either way on any draw",
        "e": "clear in opposite directions"}
    assert rep.same_sign.to_dict() == {"a": True, "b": True, "c": False, "d": False, "e": False}
    assert rep.loc["c", "diff seed 1"] == -0.01 and rep.loc["a", "clear seed 1"]
    # the Holm flag decides, not the raw interval: a Holm-unclear row is no evidence
    t2 = _table([("a", 0.05, 0.01, 0.09, False)])
    assert cmp.replication({"x": t2}).verdict["a"] == "no evidence either way on any draw"


def test_which_method_when_names_a_method_only_when_it_wins_on_every_draw():
    t0 = _table([("a", 0.05, 0.01, 0.09, True), ("b", -0.10, -0.15, -0.05, True),
                 ("c", 0.08, 0.03, 0.12, True)])
    t1 = _table([("a", 0.06, 0.02, 0.10, True), ("b", -0.08, -0.12, -0.04, True),
                 ("c", 0.02, 0.005, 0.04, True)])
    t_none = _table([("a", 0.05, -0.01, 0.09, False), ("b", -0.10, -0.15, -0.05, True),
                     ("c", 0.08, -0.01, 0.12, False)])
    t_worse = _table([("a", -0.05, -0.09, -0.01, True), ("b", -0.1, -0.2, -0.05, True)])
    table = cmp.which_method_when([
        {"situation": "both", "evidence": "AUC", "tables": {"0": t0, "1": t1}},
        {"situation": "one draw", "evidence": "AUC", "tables": {"0": t0, "1": t_none}},
        {"situation": "reference", "evidence": "AUC", "tables": {"0": t_worse, "1": t_worse}},
        {"situation": "timing", "evidence": "packing.json", "verdict": "PackMIL on a GPU"}],
        reference="ref").set_index("situation")
    # a and c both win on both draws; a's smaller gain (0.05) beats c's (0.02)
    assert table.loc["both", "favoured"] == "a, c" and table.loc["both", "avoid"] == "b"
    assert table.loc["one draw", "favoured"].startswith("no evidence either way")
    assert table.loc["one draw", "favoured"].count("ref") == 1
    assert table.loc["reference", "favoured"] == "ref"
    assert table.loc["reference", "avoid"] == "a, b"
    assert table.loc["timing", "favoured"] == "PackMIL on a GPU"


def test_where_looks_averages_topk_shares_over_each_runs_test_slides(experiment):
    ds, res = experiment
    kinds = {}
    for b in ds.bags:
        k = np.where(b.instance_labels > 0, "solid", "normal").astype(object)
        k[-2:] = "benign_glands"              # two mimic patches on every slide
        kinds[b.slide_id] = k.astype(str)
    rows = cmp.where_looks(res, kinds, k=3, methods=["gated", "max"])
    assert len(rows) == 2 * 2 * 3 * 2         # methods × seeds × folds × labels
    one = rows[(rows.method == "max") & (rows.seed == 1) & (rows.fold == 2) & (rows.label == 1)]
    p = res.predictions("max", 1, 2)
    want = [topk_kind_shares(a, kinds[s], 3) for s, a, y
            in zip(p.slide_ids, p.slide_attention, p.labels) if y == 1]
    assert one.n_slides.item() == len(want)
    for kind in ("tumour", "mimic", "normal"):
        assert one[kind].item() == pytest.approx(np.mean([w[kind] for w in want]))
    neg = rows[rows.label == 0]
    assert (neg.tumour == 0).all() and (neg.patch_mimic > 0).all()
    summ = cmp.share_summary(rows).set_index(["method", "kind"])
    mean = rows[(rows.method == "gated") & (rows.label == 1)].tumour.mean()
    assert summ.loc[("gated", "tumour"), "share"] == pytest.approx(mean)
    assert summ.loc[("gated", "tumour"), "lo"] <= mean <= summ.loc[("gated", "tumour"), "hi"]
    assert summ.loc[("gated", "tumour"), "n_runs"] == 6


def test_showcase_slides_follow_their_stated_rules():
    labels = pd.DataFrame({"slide_id": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
                           "label": [1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
                           "morphology": ["solid", "glandular", "solid", "discohesive",
                                          "discohesive", "discohesive", "none", "none", "none",
                                          "none"]})
    n, s, d, m = "normal", "solid", "discohesive", "lymphoid_aggregate"
    kinds = {"a": [s, s] + [n] * 10,          # 2 tumour patches, 12 patches
             "b": [s] + [n] * 19,             # 1 tumour patch, 20 patches: the micro pick
             "c": [s] * 4 + [n] * 30,         # 4 tumour patches: not micro
             "d": [d] * 3 + [n] * 5, "e": [d] * 1 + [n] * 5, "f": [d] * 6 + [n] * 5,
             "g": [m] * 2 + [n] * 2,          # half mimic
             "h": [m] * 3 + [n] * 1,          # 3 mimic patches, three quarters
             "i": [n] * 8,
             "j": [m] * 3 + [n] * 9}          # 3 mimic patches too, a quarter: h wins the tie
    kinds = {k: np.array(v) for k, v in kinds.items()}
    picks = cmp.showcase_slides(labels, kinds)
    assert picks["micro"]["slide_id"] == "b" and picks["micro"]["n_tumour"] == 1
    assert picks["discohesive"]["slide_id"] == "d"      # tumour counts 1, 3, 6: median 3
    assert picks["mimics"]["slide_id"] == "h" and picks["mimics"]["n_mimic"] == 3
    kinds["j"] = np.array([m] * 4 + [n] * 12)          # the most mimic patches, a smaller share
    assert cmp.showcase_slides(labels, kinds)["mimics"]["slide_id"] == "j"
    # a micro slide that also shows discohesive tumour is not the micro example
    kinds["b"] = np.array([d] + [n] * 19)
    assert cmp.showcase_slides(labels, kinds)["micro"]["slide_id"] == "a"
    with pytest.raises(ValueError, match="mimics"):
        cmp.showcase_slides(labels[labels.label == 1], kinds)


def test_showcase_discohesive_pick_is_the_lower_median_of_an_even_count():
    """Four discohesive positives with 1, 3, 6 and 8 tumour patches: the stated rule picks the
    lower median, 3 (slide d), not the upper one, 6 (slide f); with a fifth (10 patches) the
    middle one, 6. Catches ``len(ranked) // 2``."""
    d, n, s, m = "discohesive", "normal", "solid", "lymphoid_aggregate"
    kinds = {"a": [s] + [n] * 9, "d": [d] * 3 + [n] * 5, "e": [d] * 1 + [n] * 5,
             "f": [d] * 6 + [n] * 5, "k": [d] * 8 + [n] * 2, "g": [m] * 2 + [n] * 2}
    kinds = {k: np.array(v) for k, v in kinds.items()}
    ids = ["a", "d", "e", "f", "k", "g"]
    labels = pd.DataFrame({"slide_id": ids, "label": [1, 1, 1, 1, 1, 0],
                           "morphology": ["solid", d, d, d, d, "none"]})
    pick = cmp.showcase_slides(labels, kinds)["discohesive"]
    assert pick["slide_id"] == "d" and pick["n_tumour"] == 3
    kinds["l"] = np.array([d] * 10 + [n] * 2)
    labels = pd.concat([labels, pd.DataFrame({"slide_id": ["l"], "label": [1],
                                              "morphology": [d]})], ignore_index=True)
    assert cmp.showcase_slides(labels, kinds)["discohesive"]["slide_id"] == "f"


def test_situation_evidence_compares_each_situations_slides_on_every_draw(experiment):
    ds, res = experiment
    pos = [s for s, y in zip(ds.slide_ids, ds.labels) if y == 1]
    groups = {"micro": pos[:5], "large": pos[5:10], "discohesive": pos[10:]}
    rows = cmp.situation_evidence({"d0": res, "d1": res}, {"d0": groups, "d1": groups}, "gated",
                                  real_bags=res, packing=None, n_boot=200)
    by = {r["situation"]: r for r in rows}
    assert list(by) == ["any slide (the whole cohort)", "focal micro-lesions", "diffuse tumour",
                        "rare morphology", "a heatmap that finds the tumour",
                        "very long bags or a GPU", "few slides"]
    micro = by["focal micro-lesions"]["tables"]["d1"].set_index("method")
    want = cmp.subgroup_result(res, pos[:5]).compare("gated", ["auc"], n_boot=200)
    assert micro["diff"].to_dict() == want.set_index("method")["diff"].to_dict()
    assert micro.p_holm.notna().all() and set(micro.index) == {"mean", "max"}
    heat = by["a heatmap that finds the tumour"]
    assert heat["metric"] == "loc_auc" and (heat["tables"]["d0"].metric == "loc_auc").all()
    assert "missing" in by["very long bags or a GPU"]["verdict"]
    assert list(by["few slides"]["tables"]) == ["UCSB breast"]
    table = cmp.which_method_when(rows, "gated")
    assert len(table) == 7 and table.evidence.str.len().min() > 20
    assert cmp.packing_verdict({"regime": {"verdict": "pack on a GPU"}}) == "pack on a GPU"
    assert "no cohort measurement" in cmp.packing_verdict({"other": 1})


def _packing_file(ratio, diff, lo, hi, scale=True, sub=(-0.01, -0.05, 0.03), device="cpu",
                  seconds=(40.0, 10.0, 5.0, 20.0)):
    """The parts of a benchmarks/packing.py result that the verdict reads, as it writes them;
    ``seconds``: batch 1, batch 1 on the capped parts, packed, packed without ADS at 50,000."""
    out = {"device": device, "cohort": {
        "table": {"packed": {"time_vs_batch1": ratio,
                             "auc_minus_batch1": {"diff": diff, "ci95": [lo, hi]}}},
        "comparisons": [{"a": "batch1", "b": "batch1_cap", "diff": 0.5, "ci95": [0.4, 0.6]},
                        {"a": "batch1", "b": "batch1_main", "diff": sub[0],
                         "ci95": [sub[1], sub[2]]}]}}
    if scale:
        row = lambda s: {"epoch_seconds": s, "peak_gb": 0.1}     # noqa: E731
        b1, main, packed, noads = seconds
        out["scale"] = {"by_max_length": {
            "2000": {"batch1": row(1.0), "batch1_main": row(9.0), "packed": row(0.1)},
            "50000": {"batch1": row(b1), "batch1_main": row(main), "packed": row(packed),
                      "packed_noads": row(noads), "padded8": {"skipped": "over the limit"}},
            "90000": {"batch1": row(8.0), "batch1_main": row(4.0)}}}   # packed missing: ignored
    return out


def test_packing_verdict_is_computed_from_the_benchmark_numbers():
    v = cmp.packing_verdict(_packing_file(0.62, -0.010, -0.050, 0.030))
    # the largest length where all three ran (50,000, not 90,000): packed 5/40 is the fastest
    assert v.startswith("packmil: on generated bags of up to 50,000 instances (cpu; time only")
    assert "packmil 0.12×, batch 1 on the capped parts 0.25×, packmil without ADS 0.50×" in v
    assert "PackMIL's epoch took 0.62× batch 1's, slide AUC -0.010 [-0.050, +0.030] (no " in v
    assert "capped parts alone (batch 1), slide AUC -0.010 [-0.050, +0.030]" in v
    assert v.endswith("no GPU was measured")
    assert not cmp.packing_verdict(_packing_file(0.62, 0, -1, 1, device="cuda")).endswith(
        "no GPU was measured")
    # subsampling the fastest (as on a CPU with ADS): batch 1 on capped parts, not packing
    sub = cmp.packing_verdict(_packing_file(0.5, 0, -1, 1, seconds=(40.0, 5.0, 100.0, 15.0)))
    assert sub.startswith("abmil_gated on capped parts (subsampling), not packing:")
    # ... unless its accuracy is clearly lower: the interval's end at 0 holds 0, just below not
    at_zero = cmp.packing_verdict(_packing_file(0.5, 0, -1, 1, sub=(-0.05, -0.1, 0.0),
                                                seconds=(40.0, 5.0, 100.0, 15.0)))
    assert at_zero.startswith("abmil_gated on capped parts")
    below = cmp.packing_verdict(_packing_file(0.5, 0, -1, 1, sub=(-0.05, -0.1, -1e-9),
                                              seconds=(40.0, 5.0, 100.0, 15.0)))
    assert below.startswith("abmil_gated on whole bags (batch 1 on the capped parts was faster "
                            "but clearly less accurate)") and "(clearly lower)" in below
    # PackMIL without ADS the fastest; PackMIL's cohort AUC decides for it
    assert cmp.packing_verdict(_packing_file(0.5, 0, -1, 1, seconds=(40.0, 30.0, 50.0, 20.0))
                               ).startswith("packmil without ADS:")
    # nothing faster than batch 1 (a ratio of exactly 1 is no saving)
    assert cmp.packing_verdict(_packing_file(0.5, 0, -1, 1, seconds=(10.0, 10.0, 12.0, 11.0))
                               ).startswith("abmil_gated on whole bags (no recipe was faster)")
    # without the scale part the cohort's PackMIL row decides
    assert cmp.packing_verdict(_packing_file(0.999, 0.0, -0.1, 0.1, scale=False)).startswith(
        "packmil, for time (cpu): on the course cohort")
    assert cmp.packing_verdict(_packing_file(1.0, 0.0, -0.1, 0.1, scale=False)).startswith(
        "abmil_gated (packing saves no time here)")
    worse = cmp.packing_verdict(_packing_file(0.5, -0.05, -0.1, -1e-9, scale=False))
    assert worse.startswith("abmil_gated (PackMIL's time is bought with accuracy)")
    higher = cmp.packing_verdict(_packing_file(0.5, 0.05, 1e-9, 0.1, scale=False))
    assert higher.startswith("packmil, for time") and "(clearly higher)" in higher


def test_format_table_and_differences_write_what_the_tables_hold(experiment):
    _, res = experiment
    t = cmp.method_table(res)
    text = cmp.format_table(t)
    assert list(text.columns) == ["slide AUC", "balanced acc.", "loc. AUC", "top-5 mass",
                                  "entropy", "s / run", "peak MB / run"]
    want = f"{t.loc['max', 'auc']:.3f} ± {t.loc['max', 'auc_sd']:.3f}"
    assert text.loc["max", "slide AUC"] == want
    assert text.loc["mean", "s / run"] == f"{t.loc['mean', 'seconds']:.1f}"
    t.loc["mean", "loc_auc"] = np.nan
    assert cmp.format_table(t, ["loc_auc"]).loc["mean", "loc. AUC"] == "—"
    rep = cmp.replication({"d0": _table([("a", 0.05, 0.01, 0.09, True)]),
                           "d1": _table([("a", -0.01, -0.04, 0.02, False)])})
    diff = cmp.format_differences(rep)
    assert diff.loc["a"].tolist() == ["+0.050 [+0.010, +0.090]*", "-0.010 [-0.040, +0.020]",
                                      "clearly better on d0 only"]


def test_recompute_full_runs_both_draws_and_the_real_bags_with_one_protocol(monkeypatch, tmp_path):
    """The full setting's wiring, with the hours-long parts replaced by recorders: the second
    draw is the seed-1 cohort, both draws and UCSB get the same methods, repeats, folds, epochs
    and cache, and where-looks runs on each draw's own cohort."""
    import milhelpers.datasets as datasets
    import milhelpers.experiments as experiments
    import milhelpers.pipeline as pipeline

    calls = {"prepare": [], "run": [], "looks": []}
    monkeypatch.setattr(pipeline, "prepare_cohort",
                        lambda root, cfg=None, **kw: calls["prepare"].append((root, cfg)))
    monkeypatch.setattr(experiments, "open_dataset", lambda root: f"ds:{root}")
    monkeypatch.setattr(datasets, "load_mil_table", lambda name: planted_bags(6, 4, 0))

    def fake_run(ds, methods, **kw):
        calls["run"].append((ds if isinstance(ds, str) else "ucsb", tuple(methods), kw))
        return f"res:{len(calls['run'])}"

    monkeypatch.setattr(experiments, "run_experiments", fake_run)
    monkeypatch.setattr(cmp, "where_looks_summary",
                        lambda res, root: calls["looks"].append((res, root)) or {"root": root})
    draws, looks, real = cmp.recompute_full(tmp_path / "c0", tmp_path / "c1", tmp_path / "cache",
                                            methods=["a", "b"], epochs=7, progress=False)
    (r0, cfg0), (r1, cfg1) = calls["prepare"]
    assert (r0, cfg0) == (tmp_path / "c0", None) and r1 == tmp_path / "c1" and cfg1.seed == 1
    assert cfg1.n_slides == 120
    assert [c[0] for c in calls["run"]] == [f"ds:{tmp_path / 'c0'}", f"ds:{tmp_path / 'c1'}",
                                            "ucsb"]
    kws = {str(c[2]) for c in calls["run"]}
    assert len(kws) == 1 and calls["run"][0][2]["epochs"] == 7
    assert calls["run"][0][2]["seeds"] == [0, 1, 2] and calls["run"][0][2]["folds"] == 5
    assert all(c[1] == ("a", "b") for c in calls["run"])
    assert draws == {"seed 0": "res:1", "seed 1": "res:2"} and real == "res:3"
    assert calls["looks"] == [("res:1", tmp_path / "c0"), ("res:2", tmp_path / "c1")]
    # without a second cohort: the course cohort alone, and UCSB
    calls = {"prepare": [], "run": [], "looks": []}
    draws, looks, real = cmp.recompute_full(tmp_path / "c0", cache_dir=tmp_path / "cache",
                                            methods=["a", "b"], epochs=7, progress=False)
    assert calls["prepare"] == [(tmp_path / "c0", None)] and list(draws) == ["seed 0"]
    assert [c[0] for c in calls["run"]] == [f"ds:{tmp_path / 'c0'}", "ucsb"] and real == "res:2"


# --- round 8: options, columns and ties
def test_r8_format_table_digits_metrics_and_each_cell_rule_by_hand():
    t = pd.DataFrame({"auc": [0.8123, np.nan], "auc_sd": [0.0456, np.nan],
                      "entropy": [0.51, 0.6], "entropy_sd": [np.nan, 0.02],
                      "seconds": [12.34, 3.05], "seconds_sd": [1.0, 1.0],
                      "peak_mb": [1023.6, 99.4], "peak_mb_sd": [5.0, 5.0]},
                     index=pd.Index(["m", "n"], name="method"))
    f = cmp.format_table(t, ["auc", "entropy", "seconds", "peak_mb"], digits=2)
    assert f.columns.tolist() == ["slide AUC", "entropy", "s / run", "peak MB / run"]
    assert f.loc["m"].tolist() == ["0.81 ± 0.05", "0.51", "12.3", "1024"]
    assert f.loc["n"].tolist() == ["—", "0.60 ± 0.02", "3.0", "99"]
    assert cmp.format_table(t, ["auc"]).loc["m", "slide AUC"] == "0.812 ± 0.046"


def test_r8_cost_front_value_option_and_a_tie_in_cost():
    t = pd.DataFrame({"seconds": [10, 10, 30], "peak_mb": [50, 50, 60],
                      "auc": [0.80, 0.85, 0.84], "loc_auc": [0.9, 0.6, 0.95]},
                     index=["a", "b", "c"])
    # same costs: the higher AUC dominates; c costs more but is not beaten on loc_auc
    assert cmp.cost_front(t).to_dict() == {"a": False, "b": True, "c": False}
    assert cmp.cost_front(t, value="loc_auc").to_dict() == {"a": True, "b": False, "c": True}
    t.loc["b", "auc"] = 0.80                       # identical points: both on the front
    assert cmp.cost_front(t).to_dict() == {"a": True, "b": True, "c": True}


# --- round 9: replication and which-method-when over three draws, every column by hand --------
def _draw(rows, loc_rows=()):
    """A compare() table with AUC rows and (to be ignored for the AUC) loc_auc rows."""
    t = _table(rows)
    loc = _table(loc_rows).assign(metric="loc_auc") if loc_rows else t.iloc[:0]
    return pd.concat([t, loc], ignore_index=True)


def test_r9_replication_over_three_draws_reads_only_its_metric():
    """Three draws: 'w' clearly worse on d0 and d2 only, 'z' a zero difference everywhere (no
    sign, so not the same sign), loc_auc rows that contradict the AUC ones and must not be
    read. Catches the metric filter dropped, a zero counted as a sign, and only clearly-better
    draws listed in the 'only' sentence."""
    d0 = _draw([("a", 0.05, 0.01, 0.09, True), ("w", -0.04, -0.07, -0.01, True),
                ("z", 0.0, -0.02, 0.02, False)], [("a", -0.2, -0.3, -0.1, True)])
    d1 = _draw([("a", 0.02, 0.01, 0.03, True), ("w", -0.01, -0.03, 0.01, False),
                ("z", 0.0, -0.03, 0.03, False)], [("a", -0.1, -0.2, -0.05, True)])
    d2 = _draw([("a", 0.04, 0.02, 0.06, True), ("w", -0.05, -0.08, -0.02, True),
                ("z", 0.0, -0.01, 0.01, False)], [("a", 0.1, 0.05, 0.2, True)])
    rep = cmp.replication({"d0": d0, "d1": d1, "d2": d2})
    assert rep.index.tolist() == ["a", "w", "z"]
    assert rep.verdict.to_dict() == {"a": "clearly better on every draw",
                                     "w": "clearly worse on d0, d2 only",
                                     "z": "no evidence either way on any draw"}
    assert rep.same_sign.to_dict() == {"a": True, "w": True, "z": False}
    assert rep.loc["a", ["diff d0", "lo d1", "hi d2", "clear d1"]].tolist() == [0.05, 0.01, 0.06,
                                                                                True]
    loc = cmp.replication({"d0": d0, "d1": d1, "d2": d2}, metric="loc_auc")
    assert loc.index.tolist() == ["a"] and loc.verdict["a"] == "clear in opposite directions"
    with pytest.raises(KeyError, match="method 'w' is missing from draw 'd1'"):
        cmp.replication({"d0": d0, "d1": _table([("a", 0.02, 0.01, 0.03, True)])})


def test_r9_which_method_when_orders_winners_by_their_smallest_gain_and_keeps_options():
    """Two methods clearly better on all three draws are listed by their *smallest* gain: 'a'
    (0.05, 0.01, 0.06: mean and largest above 'c') has the smaller worst case than 'c' (0.03
    each), so 'c' comes first. A situation's own metric is used, and a ready verdict keeps its
    'avoid'. Catches the mean or max used, the metric option or 'avoid' dropped."""
    d = {f"d{i}": _draw([("a", ga, ga / 2, ga * 1.5, True), ("c", 0.03, 0.01, 0.05, True),
                         ("b", -0.02, -0.04, -0.01, True)],
                        [("a", -0.1, -0.2, -0.05, True), ("c", -0.1, -0.2, -0.05, True),
                         ("b", -0.1, -0.2, -0.05, True)])
         for i, ga in enumerate((0.05, 0.01, 0.06))}
    table = cmp.which_method_when([
        {"situation": "auc", "evidence": "slide AUC", "tables": d},
        {"situation": "heatmap", "evidence": "loc AUC", "tables": d, "metric": "loc_auc"},
        {"situation": "gpu", "evidence": "timing", "verdict": "PackMIL", "avoid": "batch 1"}],
        reference="ref")
    assert table.columns.tolist() == ["situation", "favoured", "avoid", "evidence"]
    assert table.values.tolist() == [["auc", "c, a", "b", "slide AUC"],
                                     ["heatmap", "ref", "a, c, b", "loc AUC"],
                                     ["gpu", "PackMIL", "batch 1", "timing"]]


def test_r9_where_looks_and_share_summary_by_hand_on_a_stand_in_result():
    """where_looks over a stand-in result (runs + predictions; nothing trained): per run and
    label the *mean over slides* of the top-k shares (ties split evenly) and of the patch
    shares, n_slides, labels in order, only the asked methods; share_summary the mean over runs
    (mean 5/24 where the median is 1/4) and n_runs, for each label asked. Catches other methods'
    runs kept, patch counts for shares, n_slides counting every slide, the label option
    ignored and a median over runs."""
    from types import SimpleNamespace

    kinds = {"s1": np.array(["solid", "normal", "benign_glands", "normal"]),      # T N M N
             "s2": np.array(["glandular", "glandular", "normal"]),                 # T T N
             "s3": np.array(["lymphoid_aggregate", "normal", "normal", "normal", "normal"])}
    att = {"s1": [0.5, 0.1, 0.3, 0.3],     # k = 2: patch 0, then patches 2 and 3 tie for 1 place
           "s2": [0.2, 0.1, 0.7], "s3": [0.1, 0.3, 0.2, 0.2, 0.2]}
    label = {"s1": 1, "s2": 1, "s3": 0}
    test = {("m", 0, 0): ["s3", "s1", "s2"], ("m", 0, 1): ["s1"], ("m", 1, 0): ["s1"],
            ("x", 0, 0): ["s1"]}
    result = SimpleNamespace(
        methods=["m", "x"],
        runs=pd.DataFrame([{"method": m, "seed": s, "fold": f} for m, s, f in test]),
        predictions=lambda m, s, f: SimpleNamespace(
            slide_ids=test[m, s, f], slide_attention=[np.array(att[i]) for i in test[m, s, f]],
            labels=[label[i] for i in test[m, s, f]]))
    rows = cmp.where_looks(result, kinds, k=2, methods=["m"])
    cols = ["method", "seed", "fold", "label", "n_slides", "tumour", "mimic", "normal",
            "patch_tumour", "patch_mimic", "patch_normal"]
    assert sorted(rows.columns) == sorted(cols)
    got = rows[cols].values.tolist()
    # s1: T 1/2, M 1/4, N 1/4 (patches 1/4, 1/4, 1/2); s2: T 1/2, N 1/2 (patches 2/3, 0, 1/3)
    want = [["m", 0, 0, 0, 1, 0.0, 0.0, 1.0, 0.0, 0.2, 0.8],
            ["m", 0, 0, 1, 2, 0.5, 0.125, 0.375, 11 / 24, 1 / 8, 5 / 12],
            ["m", 0, 1, 1, 1, 0.5, 0.25, 0.25, 0.25, 0.25, 0.5],
            ["m", 1, 0, 1, 1, 0.5, 0.25, 0.25, 0.25, 0.25, 0.5]]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[:5] == w[:5] and g[5:] == pytest.approx(w[5:])
    summ = cmp.share_summary(rows).set_index("kind")
    assert summ.method.unique().tolist() == ["m"] and summ.n_runs.tolist() == [3, 3, 3]
    assert summ.share.tolist() == pytest.approx([0.5, 5 / 24, 7 / 24])
    assert summ.patch_share.tolist() == pytest.approx([23 / 72, 5 / 24, 17 / 36])
    lo, hi = ex.bootstrap_ci([0.125, 0.25, 0.25])
    assert summ.loc["mimic", ["lo", "hi"]].tolist() == pytest.approx([lo, hi])
    neg = cmp.share_summary(rows, label=0).set_index("kind")
    assert neg.n_runs.tolist() == [1, 1, 1] and neg.share.tolist() == pytest.approx([0, 0, 1])


# --- round 9 (runner): every option of the table, ranks and differences reaches its result ---
def test_r10_method_table_ranks_and_differences_pass_their_options_on(experiment):
    """Catches method_table ignoring ``methods`` (all methods, run order), method_ranks ignoring
    ``metric`` or ``methods`` (AUC of every method), format_differences ignoring ``digits``."""
    from sklearn.metrics import balanced_accuracy_score

    _, res = experiment
    full = cmp.method_table(res)
    sub = cmp.method_table(res, ["max", "gated"])          # the asked order, not run order
    assert sub.index.tolist() == ["max", "gated"]
    pd.testing.assert_frame_equal(sub, full.loc[["max", "gated"]])
    ranks = cmp.method_ranks(res, "balanced_accuracy", ["max", "mean"], n_boot=200)
    assert sorted(ranks.method) == ["max", "mean"]
    for m in ("max", "mean"):
        # by hand: each repeat's balanced accuracy at P(class 1) > 0.5, averaged over repeats
        oof = res.out_of_fold(m)
        want = np.mean([balanced_accuracy_score(g.label, (g.score > 0.5).astype(int))
                        for _, g in oof.groupby("seed")])
        assert ranks.set_index("method").loc[m, "value"] == pytest.approx(want)
    rep = cmp.replication({"d0": _table([("a", 0.26, 0.11, 0.44, True)]),
                           "d1": _table([("a", -0.013, -0.042, 0.021, False)])})
    assert cmp.format_differences(rep, digits=1).loc["a"].tolist()[:2] == [
        "+0.3 [+0.1, +0.4]*", "-0.0 [-0.0, +0.0]"]
    assert cmp.format_differences(rep, digits=2).loc["a", "d1"] == "-0.01 [-0.04, +0.02]"


# --------------------------------------------------------------------------------------------
# round 12: the packing sentence's edges, the text tables' empty and undefined cells
# --------------------------------------------------------------------------------------------
def test_r12_packing_verdict_takes_the_largest_length_as_a_number_not_a_string():
    out = _packing_file(0.62, 0.0, -0.05, 0.03)
    by = out["scale"]["by_max_length"]
    by["9000"] = by.pop("2000")          # "9000" > "50000" as strings, < as numbers
    v = cmp.packing_verdict(out)
    assert "bags of up to 50,000 instances" in v
    assert "packmil 0.12×, batch 1 on the capped parts 0.25×, packmil without ADS 0.50×" in v


def test_r12_packing_verdict_without_the_capped_comparison_or_the_device():
    out = _packing_file(0.62, 0.0, -0.05, 0.03)
    out["cohort"]["comparisons"] = out["cohort"]["comparisons"][:1]    # batch1 → batch1_cap only
    del out["device"]
    v = cmp.packing_verdict(out)
    assert "the capped parts alone (batch 1), slide AUC not measured" in v
    assert "instances (?; time only" in v and not v.endswith("no GPU was measured")


def test_r12_packing_verdict_of_empty_none_and_non_mapping_files():
    assert cmp.packing_verdict(None).startswith("not measured here yet")
    assert cmp.packing_verdict({}).startswith(
        "benchmarks/results/packing.json holds no cohort measurement")
    assert cmp.packing_verdict([1, 2]) == ("benchmarks/results/packing.json is not a results "
                                           "object: no evidence either way")


def test_r12_format_table_writes_undefined_cells_as_dashes_and_asked_columns_only():
    t = pd.DataFrame({"auc": [0.81234, np.nan], "auc_sd": [np.nan, 0.1],
                      "seconds": [12.345, 3.0], "seconds_sd": [1.0, 1.0],
                      "peak_mb": [99.6, np.inf], "peak_mb_sd": [0.0, 0.0]}, index=["a", "b"])
    text = cmp.format_table(t, ["auc", "seconds", "peak_mb"], digits=2)
    assert list(text.columns) == ["slide AUC", "s / run", "peak MB / run"]
    assert text.loc["a"].tolist() == ["0.81", "12.3", "100"]
    assert text.loc["b"].tolist() == ["—", "3.0", "—"]
    # an empty list of metrics is no column, not every column
    assert list(cmp.format_table(t, []).columns) == []


def test_r12_format_differences_marks_clear_and_dashes_undefined():
    rep = pd.DataFrame({"diff d0": [0.05, np.nan], "lo d0": [0.01, np.nan], "hi d0": [0.09, np.nan],
                        "clear d0": [True, False], "diff d1": [-0.02, 0.01],
                        "lo d1": [-0.05, -0.01], "hi d1": [0.01, 0.03], "clear d1": [False, False],
                        "verdict": ["clear on d0 only", "no evidence either way on any draw"]},
                       index=["m1", "m2"])
    out = cmp.format_differences(rep, digits=2)
    assert list(out.columns) == ["d0", "d1", "verdict"]
    assert out.loc["m1"].tolist() == ["+0.05 [+0.01, +0.09]*", "-0.02 [-0.05, +0.01]",
                                      "clear on d0 only"]
    assert out.loc["m2", "d0"] == "—" and out.loc["m2", "d1"] == "+0.01 [-0.01, +0.03]"


def test_r12_cohort_subgroups_hold_positives_only_as_text_ids():
    labels = pd.DataFrame({"slide_id": [7, 8, 9], "label": [0, 1, 1],
                           "burden": ["micro", "micro", "small"],
                           "morphologies": ["discohesive", None, "solid;discohesive"]})
    # the negative slide 7 has a "micro" burden and a discohesive entry: still no subgroup's
    assert cmp.cohort_subgroups(labels) == {"micro": ["8"], "small": ["9"], "large": [],
                                            "discohesive": ["9"]}


def test_r12_replication_reads_the_auc_rows_by_default_and_names_a_missing_method():
    t = pd.concat([_table([("a", 0.05, 0.01, 0.09, True)]),
                   _table([("a", -0.2, -0.3, -0.1, True)]).assign(metric="loc_auc")])
    rep = cmp.replication({"d0": t, "d1": t})
    assert rep.loc["a", "diff d0"] == 0.05 and rep.verdict["a"] == "clearly better on every draw"
    assert cmp.replication({"d0": t}, "loc_auc").verdict["a"] == "clearly worse on every draw"
    with pytest.raises(KeyError, match="method 'b' is missing from draw 'd1'"):
        cmp.replication({"d0": _table([("a", 0.1, 0.0, 0.2, False), ("b", 0.1, 0.0, 0.2, False)]),
                         "d1": _table([("a", 0.1, 0.0, 0.2, False)])})


def test_r12_draw_verdict_names_every_draw_where_it_was_clear():
    assert cmp.draw_verdict({"d0": 1, "d1": 0, "d2": 1}) == "clearly better on d0, d2 only"
    assert cmp.draw_verdict({"d0": 0, "d1": -1}) == "clearly worse on d1 only"


def test_r13_showcase_mimic_ties_go_to_the_smaller_slide_id():
    """Audit 13 survivor: two negatives with the same number and share of mimic patches; the rule
    breaks the tie on the smaller slide id, whichever order the table lists them in."""
    from milhelpers.synth import MIMICS
    m1, m2 = list(MIMICS)[:2]
    labels = pd.DataFrame({"slide_id": ["p_micro", "p_disc", "n2", "n1"], "label": [1, 1, 0, 0],
                           "morphology": ["solid", "discohesive", "", ""]})
    kinds = {"p_micro": ["tumour", "normal", "normal"], "p_disc": ["discohesive", "normal"],
             "n2": [m2, "normal"], "n1": [m1, "normal"]}
    got = cmp.showcase_slides(labels, kinds)
    assert got["mimics"]["slide_id"] == "n1"
    assert got["micro"]["slide_id"] == "p_micro" and got["discohesive"]["slide_id"] == "p_disc"
