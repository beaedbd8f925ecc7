"""Full-setting result files read back: the comparisons follow the one rule and the file."""
import json

import numpy as np
import pytest

from bags import planted_bags
from milhelpers import experiments as ex
from milhelpers import full_setting as fs


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    ds = planted_bags(40, d=6, lengths=(6, 14))
    res = ex.run_experiments(ds, ["mean_pool", "max_pool", "abmil_gated"], seeds=[0, 1], folds=2,
                             epochs=1, cache_dir=tmp_path_factory.mktemp("c"), progress=False)
    path = tmp_path_factory.mktemp("r") / "r.json"
    path.write_text(ex.json_text(res.to_json(n_boot=500)))
    return res, path


def test_load_result_reads_the_file_and_says_when_missing(result_file, tmp_path, capsys):
    res, path = result_file
    back = fs.load_result(path)
    assert back.methods == res.methods
    assert fs.load_result(tmp_path / "none.json", make="python benchmarks/x.py") is None
    assert "none.json is not there yet: python benchmarks/x.py" in capsys.readouterr().out


def test_reference_family_pairs_and_wide_cells(result_file):
    _, path = result_file
    r = fs.load_result(path)
    fam = fs.versus_reference(r, "mean_pool", ["max_pool", "abmil_gated"], ["auc"])
    one = r.paired("mean_pool", "abmil_gated", ["auc"])["auc"]
    row = fam[fam.method == "abmil_gated"].iloc[0]
    assert row["diff"] == pytest.approx(one["diff"]) and [row.lo, row.hi] == pytest.approx(one["ci95"])
    assert row.p_holm >= row.p                                # Holm over two methods
    pr = fs.pairs(r, [("max_pool", "abmil_gated")], ["auc", "loc_auc"])
    assert list(pr.metric) == ["auc", "loc_auc"] and (pr.p_holm == pr.p).all()
    s = r.paired("max_pool", "abmil_gated", ["loc_auc"])["loc_auc"]
    assert pr.iloc[1]["clear"] == (s["ci95"][0] > 0 or s["ci95"][1] < 0)
    w = fs.wide(pr)
    assert list(w.index) == ["abmil_gated − max_pool"] and list(w.columns) == ["auc", "loc_auc"]
    d = pr.iloc[0]
    assert w.iloc[0, 0] == (f"{d['diff']:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}] p={d.p:.3f}"
                            + (" clear" if d.clear else ""))


def test_level_and_cost_ratio(result_file):
    res, path = result_file
    r = fs.load_result(path)
    lv = fs.level(r, ["mean_pool", "abmil_gated"], ["auc"])
    assert lv.loc["abmil_gated", "auc"] == pytest.approx(res.summary()["abmil_gated"]["oof_auc"]["mean"])
    secs = res.runs.groupby("method").seconds.mean()
    assert fs.cost_ratio(r, "mean_pool", "abmil_gated") == pytest.approx(
        secs["abmil_gated"] / secs["mean_pool"])
    assert np.isfinite(lv["seconds per run"]).all()


def test_setting_is_read_from_the_file(result_file):
    # 2 repeats × 2 folds × 1 epoch, 40 slides: a hard-coded "3 repeats × 5 folds × 20" would fail
    back = fs.load_result(result_file[1])
    assert fs.setting(back) == "2 repeats × 2 folds × 1 epochs, 40 slides"
