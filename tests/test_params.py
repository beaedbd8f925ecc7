"""Chapter parameter checks: each bad value must fail with a message naming the parameter."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milhelpers import params
from milhelpers.params import (ParameterError, check_chapter02, check_choices, check_folds,
                               check_int, check_label_map, check_path, check_seeds, expect)

METHODS = ["abmil_gated", "abmil_tanh", "mean_pool", "max_pool"]


def _ch02(**over):
    kw = dict(features_dir=None, labels_csv=None, slides_dir=None, epochs=3, seeds=[0],
              methods=["mean_pool", "abmil_gated"], model_variant="abmil_gated",
              classic_datasets=[], classic_repeats=1, classic_folds=5,
              available_methods=METHODS, classic_choices=["musk1", "musk2"])
    kw.update(over)
    return check_chapter02(**kw)


def test_check_int_refuses_zero_bool_and_fractions():
    assert check_int(3.0, "epochs") == 3
    for bad in (0, -1, True, 2.5, "3", None):
        with pytest.raises(ParameterError, match="epochs="):
            check_int(bad, "epochs")


def test_epochs_zero_names_the_parameter():
    with pytest.raises(ParameterError, match=r"parameter epochs=0: must be an integer >= 1"):
        _ch02(epochs=0)


def test_missing_paths_and_half_given_user_data(tmp_path):
    with pytest.raises(ParameterError, match="features_dir=.*does not exist"):
        _ch02(features_dir=tmp_path / "nope", labels_csv=tmp_path / "l.csv")
    with pytest.raises(ParameterError, match="features_dir is set but labels_csv is not"):
        _ch02(features_dir=tmp_path)
    (tmp_path / "l.csv").write_text("slide_id,label\n")
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        check_path(tmp_path / "l.csv", "slides_dir", "dir")
    out = _ch02(features_dir=tmp_path, labels_csv=tmp_path / "l.csv")
    assert out["features_dir"] == tmp_path


def test_unknown_model_names_and_variant_outside_methods():
    with pytest.raises(ParameterError, match="unknown name 'abmil'"):
        _ch02(methods=["abmil", "mean_pool"])
    with pytest.raises(ParameterError, match="model_variant='abmil_tanh'"):
        _ch02(model_variant="abmil_tanh")   # not among the compared methods
    with pytest.raises(ParameterError, match="classic_datasets='musk1'"):
        _ch02(classic_datasets="musk1")     # a bare string is not a list
    with pytest.raises(ParameterError, match="distinct"):
        check_choices(["mean_pool", "mean_pool"], "methods", METHODS, many=True)
    assert _ch02(classic_datasets=[])["classic_datasets"] == []


def test_seeds():
    assert check_seeds([2, 0]) == [2, 0]
    for bad in ([], 0, [0, 0], [-1]):
        with pytest.raises(ParameterError, match="seeds="):
            check_seeds(bad)


def test_folds_against_rarer_class_counts_cases_not_slides():
    # 3 positive slides from 2 cases: grouped folds can hold at most 2 positive cases
    t = pd.DataFrame({"slide_id": list("abcdefgh"), "label": ["tumour"] * 3 + ["normal"] * 5,
                      "case_id": ["p1", "p1", "p2", "n1", "n2", "n3", "n4", "n5"]})
    assert check_folds(2, t, min_train_groups=1) == 2
    with pytest.raises(ParameterError, match="class 'tumour' has only 2 cases in the labels "
                       "table, so 3 folds cannot each hold one"):
        check_folds(3, t)
    # without case ids the slides count: 3 positives allow 3 folds
    assert check_folds(3, t.drop(columns="case_id"), min_train_groups=1) == 3
    with pytest.raises(ParameterError, match="folds=1"):
        check_folds(1, t)


def test_folds_leave_enough_cases_for_the_validation_split():
    # 14 cases: 2 folds leave 7 for training (>= 5); 6 cases: 2 folds leave 3 (< 5)
    big = pd.DataFrame({"slide_id": range(14), "label": [0, 1] * 7, "case_id": range(14)})
    assert check_folds(2, big) == 2
    small = big.iloc[:6]
    with pytest.raises(ParameterError, match="training part of 2 folds holds about 3.*at least 5"):
        check_folds(2, small)


def test_training_part_rounds_the_test_fold_up_with_an_odd_case_count():
    """11 cases in 2 folds: the larger test fold holds ⌈11/2⌉ = 6, so a training part can hold
    as few as 5. Asked for 6, 2 folds are refused (and no fold count is advised); asked for 5,
    accepted. Catches the test fold rounded down (n − ⌊n/k⌋ = 6: 2 folds wrongly accepted)."""
    odd = pd.DataFrame({"slide_id": range(11), "label": [0] * 6 + [1] * 5, "case_id": range(11)})
    with pytest.raises(ParameterError, match="training part of 2 folds holds about 5.*at least 6"):
        check_folds(2, odd, min_train_groups=6)
    assert check_folds(2, odd, min_train_groups=5) == 2
    # 3 folds: ⌈11/3⌉ = 4 tested, 7 left for training
    assert check_folds(3, odd, min_train_groups=7) == 3
    with pytest.raises(ParameterError, match="holds about 7"):
        check_folds(3, odd, min_train_groups=8)


def test_folds_must_match_a_fold_column(tmp_path):
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"slide_id": list("abcdef"), "label": [0, 1] * 3, "fold": [0, 0, 1, 1, 2, 2]}
                 ).to_csv(csv, index=False)
    assert check_folds(3, csv) == 3
    with pytest.raises(ParameterError, match=r"folds=5: .*labels.csv has a 'fold' column with 3 "
                                             r"folds.*set folds=3"):
        check_folds(5, csv)


def test_one_class_only():
    with pytest.raises(ParameterError, match="at least two classes"):
        check_folds(2, pd.DataFrame({"slide_id": list("abc"), "label": [1, 1, 1]}))


def test_expect_asserts_only_when_strict(capsys):
    assert expect(True, "fine", strict=True)
    with pytest.raises(AssertionError, match="AUC > 0.8"):
        expect(False, "AUC > 0.8", strict=True)
    assert not expect(False, "AUC > 0.8", strict=False)
    assert "WARNING" in capsys.readouterr().out


def test_text_labels_need_a_label_map_that_covers_them():
    t = pd.DataFrame({"slide_id": list("abc"), "label": ["tumour", "normal", "tumour"]})
    with pytest.raises(ParameterError, match=r"text labels \['normal', 'tumour'\].*"
                                             r"label_map=\{'normal': 0, 'tumour': 1\}"):
        check_label_map(None, t)
    with pytest.raises(ParameterError, match=r"labels \['tumour'\] .* not in the map"):
        check_label_map({"normal": 0}, t)
    assert check_label_map({"normal": 0, "tumour": 1}, t) == {"normal": 0, "tumour": 1}
    assert check_label_map(None, t.assign(label=[1, 0, 1])) is None   # integers need no map


def _params(**kw):
    p = dict(slide_path=str(Path(__file__).resolve().parents[1] / "data" / "cmu_small_region.svs"), slide_dir=None, mpp=None, target_mpp=0.5,
             patch_size=256, encoder_name="efficientnet_lite0", n_slides=120, seed=0)
    p.update(kw)
    return p


@pytest.mark.parametrize("kw, err, pattern", [
    (dict(slide_path="nope.svs"), FileNotFoundError, "slide_path.*nope.svs"),
    (dict(slide_dir="no_such_dir"), FileNotFoundError, "slide_dir.*no_such_dir"),
    (dict(mpp=0), ValueError, "mpp .*between"),
    (dict(mpp=25.0), ValueError, "mpp .*between"),
    (dict(target_mpp=-0.5), ValueError, "target_mpp"),
    (dict(patch_size=0), ValueError, "patch_size"),
    (dict(patch_size=224.5), ValueError, "patch_size"),
    (dict(encoder_name="resnet"), ValueError, "encoder_name 'resnet'.*efficientnet_lite0"),
    (dict(n_slides=5), ValueError, "n_slides"),
    (dict(seed=-1), ValueError, "seed"),
])
def test_chapter01_params_are_refused_with_the_parameter_named(kw, err, pattern):
    with pytest.raises(err, match=pattern):
        params.check_chapter01_params(**_params(**kw))


def test_chapter01_params_accept_the_defaults_and_a_slide_folder(tmp_path):
    params.check_chapter01_params(**_params())
    (tmp_path / "._a.svs").write_bytes(b"resource fork")  # hidden: not a slide
    with pytest.raises(FileNotFoundError, match="slide_dir.*No slides"):
        params.check_chapter01_params(**_params(slide_dir=tmp_path))
    (tmp_path / "a.svs").write_bytes(b"")
    params.check_chapter01_params(**_params(slide_dir=tmp_path, slide_path=None, mpp=0.25))


# ---- chapter 03 -------------------------------------------------------------------------------
CH03 = dict(features_dir=None, labels_csv=None, slides_dir=None, n_branches=5, top_k=10,
            mask_drop=0.6, ablation=["mba"], seeds=[0], epochs=6, coverage_k=5, umap_points=4000)


def test_chapter03_defaults_pass_and_come_back_cleaned():
    out = params.check_chapter03(**CH03)
    assert out["mask_drop"] == 0.6 and out["n_branches"] == 5 and out["seeds"] == [0]


@pytest.mark.parametrize("name, value, words", [
    ("mask_drop", 1.0, "[0, 1)"), ("mask_drop", -0.1, "[0, 1)"), ("mask_drop", "0.6", "[0, 1)"),
    ("n_branches", 0, "n_branches"), ("top_k", 2.5, "top_k"), ("ablation", "mba", "list of the ACMIL halves"), ("ablation", ["all"], "list of the ACMIL halves"),
    ("umap_points", 10, "umap_points"), ("coverage_k", 0, "coverage_k"), ("seeds", [-1], "seed")])
def test_chapter03_bad_values_name_the_parameter(name, value, words):
    with pytest.raises(params.ParameterError) as e:
        params.check_chapter03(**{**CH03, name: value})
    assert name.rstrip("s") in str(e.value) and words in str(e.value)


def test_chapter03_own_features_need_labels_too(tmp_path):
    with pytest.raises(params.ParameterError, match="features_dir is set but labels_csv is not"):
        params.check_chapter03(**{**CH03, "features_dir": tmp_path})


# --------------------------------------------------------------------------------------------
# chapter 04 (AEM)
# --------------------------------------------------------------------------------------------
AVAILABLE = ["abmil_gated", "abmil_tanh", "acmil", "acmil_aem", "acmil_mba", "aem", "max_pool",
             "mean_pool"]


def _ch04(**over):
    kw = dict(features_dir=None, labels_csv=None, slides_dir=None, lam=0.1, schedule="constant",
              normalize="none", base="abmil_gated", other_bases=["acmil"],
              lambdas=[0, 0.1, 1, 10], variant_lam=10.0, epochs=3, seeds=[0],
              classic_datasets=["musk1"], classic_repeats=1, classic_folds=5, classic_epochs=20,
              available_methods=AVAILABLE, classic_choices=["musk1", "ucsb_breast"])
    kw.update(over)
    return params.check_chapter04(**kw)


def test_ch04_defaults_are_cleaned():
    out = _ch04(lam=1, lambdas=[10, 0.1])          # an int λ (papermill -p lam 1) is a float
    assert out["lam"] == 1.0 and isinstance(out["lam"], float)
    assert out["lambdas"] == [0.0, 0.1, 10.0]      # sorted; the baseline λ = 0 always runs
    assert out["other_bases"] == ["acmil"] and out["variant_lam"] == 10.0
    assert _ch04(variant_lam=None, other_bases=[])["variant_lam"] is None


@pytest.mark.parametrize("bad", [-0.1, "0.1", None, True, float("nan"), float("inf")])
def test_ch04_bad_lambda_names_the_parameter(bad):
    with pytest.raises(ParameterError, match=r"parameter lam=.*must be a finite number >= 0"):
        _ch04(lam=bad)


def test_ch04_bad_lambda_grid_and_variant_lambda():
    with pytest.raises(ParameterError, match=r"parameter lambdas=\[0, -1\]: -1 is not a finite number >= 0"):
        _ch04(lambdas=[0, -1])
    with pytest.raises(ParameterError, match="lambdas=0.1: must be a non-empty list"):
        _ch04(lambdas=0.1)
    with pytest.raises(ParameterError, match="lambdas=\\[\\]"):
        _ch04(lambdas=[])
    with pytest.raises(ParameterError, match="distinct"):
        _ch04(lambdas=[0.1, 0.1])
    with pytest.raises(ParameterError, match=r"variant_lam=0: must be a finite number > 0.*None"):
        _ch04(variant_lam=0)


def test_ch04_unknown_schedule_normalisation_and_bases():
    with pytest.raises(ParameterError, match=r"parameter schedule='cos': choose from "
                                             r"\['constant', 'cosine'\]"):
        _ch04(schedule="cos")
    with pytest.raises(ParameterError, match=r"parameter normalize='logn': .*'log_n'"):
        _ch04(normalize="logn")
    with pytest.raises(ParameterError, match=r"base='mean_pool': AEM needs a model with learned "
                                             r"attention; choose from \['abmil_gated'"):
        _ch04(base="mean_pool")
    with pytest.raises(ParameterError, match="base='aem'"):
        _ch04(base="aem")                           # AEM on AEM is not a base
    with pytest.raises(ParameterError, match="other_bases='acmil': must be a list"):
        _ch04(other_bases="acmil")
    with pytest.raises(ParameterError, match="other_bases=.*'max_pool'"):
        _ch04(other_bases=["max_pool"])
    with pytest.raises(ParameterError, match="differ from base='abmil_gated'"):
        _ch04(other_bases=["abmil_gated"])
    assert params.aem_bases(AVAILABLE) == ["abmil_gated", "abmil_tanh", "acmil", "acmil_mba"]


def test_ch04_shares_chapter_02s_checks():
    with pytest.raises(ParameterError, match="parameter epochs=0"):
        _ch04(epochs=0)
    with pytest.raises(ParameterError, match="classic_epochs=0"):
        _ch04(classic_epochs=0)
    with pytest.raises(ParameterError, match="classic_datasets=.*unknown name 'musk3'"):
        _ch04(classic_datasets=["musk3"])
    with pytest.raises(ParameterError, match="features_dir is set but labels_csv is not"):
        _ch04(features_dir=".")


# --------------------------------------------------------------------------------------------
# chapter 05 (MHIM-MIL)
# --------------------------------------------------------------------------------------------
def _ch05(tmp_path, **over):
    (tmp_path / "masks").mkdir(exist_ok=True)
    kw = dict(cohort_dir=tmp_path, epochs=3, seeds=[0], r_h=0.01, r_hr=0.5, r=0.5, r_l=0.0,
              decay=True, alpha=0.1, momentum=0.999, score="attention",
              sensitivity=["mhim_rh0.1"], available_methods=["abmil_gated", "mhim", "mhim_rh0.1"])
    kw.update(over)
    return params.check_chapter05(**kw)


def test_ch05_defaults_give_the_registered_mhim_and_options_name_variants(tmp_path):
    out = _ch05(tmp_path)
    assert out["method"].name == "mhim" and out["sensitivity"] == ["mhim_rh0.1"]
    assert _ch05(tmp_path, r_h=0.1, decay=False, r=0)["method"].name == "mhim_rh0.1_r0_nodecay"
    assert _ch05(tmp_path, sensitivity=[])["sensitivity"] == []
    assert _ch05(tmp_path)["v2"] is True and _ch05(tmp_path, v2=False)["v2"] is False


@pytest.mark.parametrize("name, bad, word", [("r_h", 1.5, r"r_h=1.5: must be a fraction in \[0, 1\]"),
                                             ("r_hr", 0, r"r_hr=0: must be a fraction in \(0, 1\]"),
                                             ("r", "0.5", "r='0.5'"), ("decay", 1, "decay=1"),
                                             ("alpha", -1, "alpha=-1"),
                                             ("momentum", 1.1, "momentum=1.1"),
                                             ("score", "entropy", "score='entropy'"),
                                             ("sensitivity", "mhim_rh0.1", "must be a list"),
                                             ("sensitivity", ["abmil_gated"], "unknown name"),
                                             ("v2", "yes", "v2='yes'")])
def test_ch05_bad_parameters_name_themselves(tmp_path, name, bad, word):
    with pytest.raises(params.ParameterError, match=word):
        _ch05(tmp_path, **{name: bad})


def test_ch05_needs_a_cohort_with_masks(tmp_path):
    with pytest.raises(params.ParameterError, match="has no masks/ folder"):
        params.check_chapter05(cohort_dir=tmp_path, epochs=3, seeds=[0], r_h=0.01, r_hr=0.5,
                               r=0.5, r_l=0.0, decay=True, alpha=0.1, momentum=0.999,
                               score="attention", sensitivity=[], available_methods=["mhim"])


def _ch06(**kw):
    base = dict(features_dir=None, labels_csv=None, p=0.5, max_len=256, min_len=16, alpha=0.2,
                ads_ratio=None, batch_size=16, lr=5e-4, epochs=6, seeds=[0])
    return params.check_chapter06(**{**base, **kw})


def test_ch06_defaults_are_cleaned():
    out = _ch06(p=1, alpha=0, ads_ratio=4.0)
    assert out["p"] == 1.0 and out["alpha"] == 0.0 and out["ads_ratio"] == 4
    assert _ch06()["ads_ratio"] is None


@pytest.mark.parametrize("name, bad, match", [
    ("p", 0, "p=0: must be a number in \\(0, 1\\]"), ("p", 1.5, "share of each slide"),
    ("max_len", 0, "max_len=0: must be an integer >= 1"), ("min_len", -1, "min_len=-1"),
    ("alpha", -0.1, "hyperslide loss weight"), ("ads_ratio", 1, "ads_ratio=1: must be an integer >= 2"),
    ("batch_size", 1, "one slide|batch_size=1"), ("lr", 0, "lr=0: must be a learning rate"),
    ("alpha", True, "alpha=True")])
def test_ch06_bad_values_name_the_parameter(name, bad, match):
    with pytest.raises(ParameterError, match=match):
        _ch06(**{name: bad})


def _suggested(message: str) -> list[int] | None:
    """The fold counts a check_folds message advises (None: it advises more data)."""
    import re

    if m := re.search(r"use folds=(\d+)", message):
        return [int(m.group(1))]
    if m := re.search(r"use folds between (\d+) and (\d+)", message):
        return list(range(int(m.group(1)), int(m.group(2)) + 1))
    assert re.search(r"add (cases|slides)", message), message
    return None


@pytest.mark.parametrize("per_class, grouped", [(n, g) for n in (1, 2, 3, 4, 6, 9)
                                                 for g in (True, False)])
def test_fold_advice_agrees_with_the_check(per_class, grouped):
    """Issue 24: "use folds <= 1" followed by refusing folds 1. Whatever a refusal advises must
    pass the same check, and "add cases" must mean no fold count passes."""
    n = per_class * 2
    t = pd.DataFrame({"slide_id": [f"s{i}" for i in range(n + 3)],
                      "label": np.array([0] * per_class + [1] * (per_class + 3)),
                      "case_id": [f"c{i}" for i in range(n + 3)]})
    if not grouped:
        t = t.drop(columns="case_id")
    for k in range(2, 12):
        try:
            check_folds(k, t)
            continue
        except ParameterError as err:
            message = str(err)
        assert "np.int64" not in message and "1 slides" not in message and "1 cases" not in message
        advised = _suggested(message)
        if advised is None:
            assert not any(_passes(j, t) for j in range(2, 20)), message
        else:
            assert all(_passes(j, t) for j in advised), message
            assert not _passes(advised[0] - 1, t) and not _passes(advised[-1] + 1, t)


def _passes(k: int, table) -> bool:
    try:
        check_folds(k, table)
        return True
    except ParameterError:
        return False


def test_fold_messages_use_plain_numbers_and_words():
    one = pd.DataFrame({"slide_id": list("abcdefg"), "label": np.array([0] + [1] * 6)})
    with pytest.raises(ParameterError) as err:
        check_folds(2, one)
    assert str(err.value) == ("the labels table: class 0 has only 1 slide; cross-validation needs "
                              "at least 2 of every class (one in each of 2 test folds): add "
                              "slides of class 0")
    with pytest.raises(ParameterError, match=r"add slides: 7 slides are too few"):
        check_folds(2, one.assign(label=[0, 0] + [1] * 5))
    assert check_folds(2, pd.DataFrame({"slide_id": range(14), "label": [0, 1] * 7}),
                       name="--folds") == 2
    with pytest.raises(ParameterError, match=r"parameter --folds=9: class 0 .*use --folds "
                                             r"between 2 and 7"):
        check_folds(9, pd.DataFrame({"slide_id": range(14), "label": [0, 1] * 7}),
                    name="--folds")


def _ch07(tmp_path, **over):
    results = tmp_path / "results"
    if not results.exists():            # made once: a test may remove a file afterwards
        results.mkdir()
        for name in params.CHAPTER07_FILES:
            (results / name).write_text("{}")
    plugin = tmp_path / "mine.py"
    plugin.write_text("# registers nothing\n")
    kw = dict(results_dir=str(results), cohort_dir="../data/cohort", full=False,
              second_cohort_dir="../data/cohort_seed1_n120", reference="abmil_gated",
              own_method_file=str(plugin), quick_epochs=3, quick_seeds=[0], folds=5)
    kw.update(over)
    return params.check_chapter07(**kw)


def test_ch07_defaults_are_cleaned(tmp_path):
    out = _ch07(tmp_path)
    assert out["results_dir"] == tmp_path / "results" and out["full"] is False
    assert out["quick_epochs"] == 3 and out["quick_seeds"] == [0] and out["folds"] == 5
    # full=True does not need the results files
    (tmp_path / "results" / "ucsb.json").unlink()
    assert _ch07(tmp_path, full=True)["full"] is True


@pytest.mark.parametrize("name, bad, match", [
    ("full", "yes", "parameter full='yes': must be True"),
    ("quick_epochs", 0, "parameter quick_epochs=0: must be an integer >= 1"),
    ("quick_seeds", [0, 0], "seeds must be distinct"),
    ("folds", 1, "parameter folds=1: must be an integer >= 2"),
    ("reference", "abmil", "unknown name 'abmil'"),
    ("own_method_file", "/no/such/file.py", "parameter own_method_file='/no/such/file.py'"),
])
def test_ch07_bad_values_name_the_parameter(tmp_path, name, bad, match):
    with pytest.raises(params.ParameterError, match=re.escape(match)):
        _ch07(tmp_path, **{name: bad})


def test_ch07_a_missing_results_file_names_the_command_that_writes_it(tmp_path):
    _ch07(tmp_path)
    assert {"head_to_head_seed1.json", "where_looks_seed1.json"} <= set(params.CHAPTER07_FILES)
    assert _ch07(tmp_path, second_cohort_dir=None)["second_cohort_dir"] is None
    (tmp_path / "results" / "where_looks.json").unlink()
    with pytest.raises(params.ParameterError, match="has no where_looks.json; write it "
                       "with `python benchmarks/where_looks.py --results"):
        _ch07(tmp_path)
    (tmp_path / "results" / "where_looks.json").write_text("{}")
    (tmp_path / "results" / "head_to_head_seed1.json").unlink()     # the second draw's, too
    with pytest.raises(params.ParameterError, match="has no head_to_head_seed1.json; write it "
                       "with `python benchmarks/methods.py --data-root data/cohort_seed1_n120"):
        _ch07(tmp_path)
    with pytest.raises(params.ParameterError, match="own_method_file.*must be a .py file"):
        (tmp_path / "mine.txt").write_text("")
        _ch07(tmp_path, full=True, own_method_file=str(tmp_path / "mine.txt"))


@pytest.mark.parametrize("value,enabled", [(None, True), ("", True), ("0", True), ("false", True),
                                           ("1", False), ("True", False), (" yes ", False)])
def test_progress_is_off_exactly_when_tqdm_disable_is_true(monkeypatch, value, enabled):
    from milhelpers.params import progress_enabled

    if value is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", value)
    assert progress_enabled() is enabled


# ---- round 6: each bound at both sides, and the less used options -----------------------------
def test_bounds_hold_at_both_sides_of_each_threshold(tmp_path):
    assert params.check_chapter03(**{**CH03, "umap_points": 100})["umap_points"] == 100
    with pytest.raises(ParameterError, match="umap_points=99"):
        params.check_chapter03(**{**CH03, "umap_points": 99})
    assert params.check_chapter03(**{**CH03, "mask_drop": 0})["mask_drop"] == 0.0
    assert _ch06(ads_ratio=2)["ads_ratio"] == 2 and _ch06(batch_size=2)["batch_size"] == 2
    with pytest.raises(ParameterError, match="ads_ratio=1"):
        _ch06(ads_ratio=1)
    with pytest.raises(ParameterError, match="min_len=-1"):
        _ch06(min_len=-1)
    assert _ch06(min_len=0)["min_len"] == 0
    params.check_chapter01_params(**_params(n_slides=20, seed=0))
    with pytest.raises(ValueError, match="n_slides"):
        params.check_chapter01_params(**_params(n_slides=19))
    with pytest.raises(ValueError, match="n_slides"):
        params.check_chapter01_params(**_params(n_slides=True))


def test_mhim_ratios_r_hr_is_open_at_zero_and_the_others_closed(tmp_path):
    out = _ch05(tmp_path, r_h=0, r=0, r_l=0, r_hr=1, momentum=0, alpha=0)["options"]
    assert (out["r_h"], out["r"], out["r_l"], out["r_hr"]) == (0.0, 0.0, 0.0, 1.0)
    assert _ch05(tmp_path, r_h=1, r=1, r_l=1, momentum=1)["options"]["momentum"] == 1.0
    with pytest.raises(ParameterError, match=r"r_hr=0: must be a fraction in \(0, 1\]"):
        _ch05(tmp_path, r_hr=0)
    with pytest.raises(ParameterError, match=r"r_hr=1.01"):
        _ch05(tmp_path, r_hr=1.01)


def test_choices_refuse_repeated_names_and_accept_distinct_ones():
    assert check_choices(["a", "b"], "methods", ["a", "b", "c"], many=True) == ["a", "b"]
    with pytest.raises(ParameterError, match="names must be distinct"):
        check_choices(["a", "a"], "methods", ["a", "b"], many=True)
    with pytest.raises(ParameterError, match="non-empty list"):
        check_choices([], "methods", ["a"], many=True)
    assert check_choices("a", "m", ["a"]) == "a"


def test_aem_bases_are_attention_models_without_aem():
    names = ["abmil_gated", "abmil_tanh", "acmil", "acmil_aem", "abmil_gated_aem", "aem",
             "mean_pool", "max_pool", "mhim"]
    assert params.aem_bases(names) == ["abmil_gated", "abmil_tanh", "acmil"]


def test_check_path_kinds_refuse_the_other_kind(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("x")
    assert check_path(f, "labels_csv", "file") == f and check_path(tmp_path, "d", "dir") == tmp_path
    assert check_path(f, "p") == f and check_path(tmp_path, "p") == tmp_path
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        check_path(f, "features_dir", "dir")
    with pytest.raises(ParameterError, match="is a folder, not a file"):
        check_path(tmp_path, "labels_csv", "file")
    with pytest.raises(ParameterError, match="a path is required"):
        check_path("", "labels_csv")


def test_label_map_may_name_more_labels_than_the_table_has():
    table = pd.DataFrame({"slide_id": ["a", "b"], "label": ["normal", "tumour"]})
    m = {"normal": 0, "tumour": 1, "other": 2}
    assert check_label_map(m, table) == m
    with pytest.raises(ParameterError, match=r"labels \['tumour'\]"):
        check_label_map({"normal": 0}, table)


def test_a_relative_file_parameter_is_read_from_the_callers_folder(tmp_path, monkeypatch):
    # papermill -p own_method_file mine.py from tmp_path: the path is made absolute there
    monkeypatch.chdir(tmp_path)
    history = ["import x", "own_method_file = 'a.py'\nresults_dir = 'r'\nname = 'n'",
               "# Parameters\nown_method_file = 'mine.py'\nresults_dir = 'res'\nname = 'x/y'\n"]
    ns = {"own_method_file": "mine.py", "results_dir": "res", "name": "x/y"}
    params.setup_chapter(ns, "no_such_notebook.ipynb", history)
    assert ns == {"own_method_file": str(tmp_path / "mine.py"),
                  "results_dir": str(tmp_path / "res"), "name": "x/y"}


def test_folds_must_equal_the_fold_columns_count_from_both_sides():
    """A labels table with a ``fold`` column of 5 folds (0–4, one slide without a fold) fixes
    the folds: folds = 5 passes, 3 and 6 are refused with the number to set. Catches a check
    that only refuses more folds than the column holds."""
    t = pd.DataFrame({"slide_id": [f"s{i}" for i in range(11)], "label": [0, 1] * 5 + [0],
                      "fold": [0, 1, 2, 3, 4] * 2 + [np.nan]})
    assert check_folds(5, t) == 5
    for k in (3, 6):
        with pytest.raises(ParameterError, match=r"5 folds .*set folds=5"):
            check_folds(k, t)


# --- round 7: a list check at its largest valid value ------------------------------------------
def test_chapter03_ablation_may_name_both_halves():
    # ['mba', 'stkim'] is the whole allowed set: catches `set(ablation) <= {...}` made a strict
    # subset check (both halves refused) — and one unknown name is still refused
    assert params.check_chapter03(**{**CH03, "ablation": ["mba", "stkim"]})["ablation"] == \
        ["mba", "stkim"]
    assert params.check_chapter03(**{**CH03, "ablation": []})["ablation"] == []
    with pytest.raises(ParameterError, match="list of the ACMIL halves"):
        params.check_chapter03(**{**CH03, "ablation": ["mba", "stkim", "x"]})


# --- round 9: every validator with bools, numpy numbers, and each side of each bound ----------
@pytest.mark.parametrize("seed, ok", [
    (0, True), (np.int64(3), True), (7, True),                # at the bound, numpy ints
    (True, False), (False, False),                            # a bool is not a seed
    (-1, False), (np.int64(-1), False), (1.0, False), ("0", False), (None, False)])
def test_r9_chapter01_seed_takes_whole_numbers_from_zero_and_refuses_bools(seed, ok):
    """chapter 01's ``seed``: catches ``True`` accepted as seed 1 (bool is an int subclass),
    numpy ints refused, and the bound moved off zero."""
    if ok:
        assert params.check_chapter01_params(**_params(seed=seed)) is None
    else:
        with pytest.raises(ValueError, match=r"seed must be a whole number ≥ 0, got "
                           + re.escape(repr(seed))):
            params.check_chapter01_params(**_params(seed=seed))


@pytest.mark.parametrize("n_slides, ok", [
    (20, True), (np.int64(20), True), (np.int32(21), True),
    (19, False), (np.int64(19), False), (True, False), (20.0, False), ("20", False)])
def test_r9_chapter01_n_slides_from_twenty_any_integer_type(n_slides, ok):
    """Catches numpy ints refused, the bound off by one, floats or bools let through."""
    if ok:
        assert params.check_chapter01_params(**_params(n_slides=n_slides)) is None
    else:
        with pytest.raises(ValueError, match=r"n_slides must be a whole number ≥ 20"):
            params.check_chapter01_params(**_params(n_slides=n_slides))


@pytest.mark.parametrize("value, minimum, expected", [
    (0, 0, 0), (1, 1, 1), (2, 2, 2), (4.0, 2, 4), (np.float64(5.0), 1, 5),
    (1, 2, None), (-1, 0, None), (True, 0, None), (False, 0, None), (2.5, 1, None),
    (np.float64(2.5), 1, None), (float("nan"), 0, None), (None, 0, None), ("3", 0, None)])
def test_r9_check_int_each_side_of_its_minimum(value, minimum, expected):
    """check_int: exactly the minimum is accepted, one below refused; integral floats come back
    as int; bools, fractions, NaN and text are refused with the parameter named. Catches `<`
    made `<=`, the float branch dropped or taken for any float, and bools counted as ints."""
    if expected is not None:
        out = check_int(value, "epochs", minimum)
        assert out == expected and type(out) is int
    else:
        with pytest.raises(ParameterError, match=rf"parameter epochs=.*must be an integer >= "
                           rf"{minimum}; see the docs"):
            check_int(value, "epochs", minimum, hint="see the docs")


def test_r9_check_int_and_check_seeds_accept_numpy_integers():
    """Was a package bug (found in round 9): check_int refused numpy integers, so
    ``check_seeds(list(np.arange(3)))`` failed while check_lambda accepted numpy numbers."""
    assert check_int(np.int64(3), "epochs") == 3
    assert check_seeds([np.int64(0), np.int64(2)]) == [0, 2]


@pytest.mark.parametrize("value, positive, allow_none, expected", [
    (0, False, False, 0.0), (np.int64(2), False, False, 2.0), (np.float32(0.5), True, False, 0.5),
    (1e-9, True, False, 1e-9), (None, False, True, None),
    (0, True, False, "> 0"), (0.0, True, False, "> 0"), (-1e-9, False, False, ">= 0"),
    (True, False, False, ">= 0"), (float("inf"), False, False, ">= 0"),
    (float("nan"), False, False, ">= 0"), (None, False, False, ">= 0"), ("0.1", False, False, ">= 0"),
    (-1, False, True, ">= 0")])
def test_r9_check_lambda_at_zero_with_and_without_positive(value, positive, allow_none, expected):
    """λ: zero is allowed unless ``positive``; negatives, bools, inf, NaN and text are refused;
    numpy numbers come back as a float; None only with ``allow_none`` (the message then says
    so). Catches the positive rule dropped, bools taken as 1.0, and numpy numbers refused."""
    if not isinstance(expected, str):
        out = params.check_lambda(value, "lam", allow_none=allow_none, positive=positive)
        assert out == expected and (out is None or type(out) is float)
    else:
        with pytest.raises(ParameterError, match=rf"parameter lam=.*must be a finite number "
                           rf"{re.escape(expected)} \(") as err:
            params.check_lambda(value, "lam", allow_none=allow_none, positive=positive)
        assert str(err.value).endswith("; or None to skip") is allow_none


@pytest.mark.parametrize("seeds, ok", [
    ([0], True), ([3, 0, 1], True), ([0.0, 2.0], True),
    ([], False), ((), False), (0, False), ("01", False), ([0, 0], False), ([1, 1.0], False),
    ([-1, 0], False), ([True], False)])
def test_r9_seeds_distinct_whole_numbers_from_zero(seeds, ok):
    """check_seeds keeps the order given; refuses a bare int or text, an empty list, repeats
    (1 and 1.0 are one seed), negatives and bools."""
    if ok:
        assert check_seeds(seeds) == [int(s) for s in seeds]
    else:
        with pytest.raises(ParameterError, match=r"parameter seeds="):
            check_seeds(seeds)


@pytest.mark.parametrize("name, value, ok", [
    # p: (0, 1], open at zero
    ("p", 1, True), ("p", np.float32(0.25), True), ("p", 1e-12, True),
    ("p", 0, False), ("p", 0.0, False), ("p", 1.0000001, False), ("p", True, False),
    ("p", float("nan"), False),
    # lr: (0, 1]
    ("lr", 1.0, True), ("lr", np.float64(5e-4), True), ("lr", 0.0, False), ("lr", 1.5, False),
    ("lr", np.bool_(True), False),
    # alpha: [0, inf), closed at zero, infinity refused
    ("alpha", 0, True), ("alpha", np.int64(3), True), ("alpha", 1e9, True),
    ("alpha", -1e-12, False), ("alpha", float("inf"), False), ("alpha", False, False),
    ("alpha", "0.2", False),
])
def test_r9_chapter06_number_bounds_open_and_closed_with_numpy_and_bools(name, value, ok):
    """The shared number check behind p, lr and alpha: each bound at and just past it, numpy
    numbers accepted (as a float), bools (Python's and NumPy's) and NaN/inf refused. Catches a
    bound made closed or open the wrong way, np.number refused, bools taken as 1 and 0."""
    if ok:
        out = _ch06(**{name: value})[name]
        assert out == float(value) and type(out) is float
    else:
        with pytest.raises(ParameterError, match=rf"parameter {name}="):
            _ch06(**{name: value})


@pytest.mark.parametrize("mask_drop, ok", [
    (0, True), (0.0, True), (np.float32(0.6), True), (0.999, True),
    (1, False), (1.0, False), (-0.01, False), (True, False), (False, False), ("0.6", False)])
def test_r9_chapter03_mask_drop_is_a_fraction_in_zero_to_one_half_open(mask_drop, ok):
    """mask_drop in [0, 1): 1 would hide every top-K instance. Catches `< 1` made `<= 1`,
    zero refused, and bools or text taken as numbers."""
    if ok:
        assert params.check_chapter03(**{**CH03, "mask_drop": mask_drop})["mask_drop"] == \
            pytest.approx(float(mask_drop))
    else:
        with pytest.raises(ParameterError, match=r"parameter mask_drop=.*must be a number in "
                           r"\[0, 1\)"):
            params.check_chapter03(**{**CH03, "mask_drop": mask_drop})


# ---- round 9 (audit 10): check_path / check_choices / check_seeds, every argument reaching ----
def test_r10_check_path_hint_replaces_the_default_advice_and_none_is_refused(tmp_path):
    """``hint`` reaches both messages (a missing path: it replaces the relative-path advice; no
    path at all: it is appended), and None is refused like "". Catches the hint dropped, the
    default advice always given, and None passed on to Path() (a TypeError)."""
    missing = tmp_path / "nope"
    with pytest.raises(ParameterError, match=r"does not exist; set features_dir to your "
                       r"features$") as err:
        check_path(missing, "features_dir", "dir", hint="set features_dir to your features")
    assert "relative paths start" not in str(err.value)
    with pytest.raises(ParameterError, match=r"does not exist; check the path \(relative paths "
                       r"start in the notebooks/ folder\)$"):
        check_path(missing, "features_dir")
    with pytest.raises(ParameterError, match=r"^parameter labels_csv=None: a path is required; "
                       r"give the table$"):
        check_path(None, "labels_csv", "file", hint="give the table")
    assert check_path(str(tmp_path), "d", "dir") == tmp_path      # text becomes a Path


def test_r10_check_choices_many_keeps_order_and_refuses_a_bare_name():
    """With ``many``: a tuple comes back as a list in the given order (not sorted); a bare string
    is refused (not read as its letters); ``choices`` may be a one-shot generator. Without
    ``many`` a list is not a name. Catches the order changed, the str guard dropped, and
    ``choices`` consumed before the error message lists it."""
    names = ("c", "a")
    assert check_choices(names, "methods", iter(["a", "b", "c"]), many=True) == ["c", "a"]
    with pytest.raises(ParameterError, match=r"^parameter methods='ab': must be a non-empty list "
                       r"of names from \['a', 'b'\]"):
        check_choices("ab", "methods", ["a", "b"], many=True)
    with pytest.raises(ParameterError, match=r"^parameter m=\['a'\]: unknown name \['a'\]; "
                       r"choose from \['a', 'b'\]"):
        check_choices(["a"], "m", (c for c in "ab"))
    with pytest.raises(ParameterError, match=r"unknown name 'z'; choose from \['a', 'b'\]"):
        check_choices(["a", "z"], "methods", (c for c in "ab"), many=True)


@pytest.mark.parametrize("seeds, why", [
    (3, "must be a non-empty list"), ("012", "must be a non-empty list"),
    ((), "must be a non-empty list"), (None, "must be a non-empty list"),
    ([0, -1], "must be an integer >= 0"), ([1, 1], "seeds must be distinct")])
def test_r10_check_seeds_errors_name_the_parameter_given(seeds, why):
    """check_seeds' ``name`` reaches every message (the seed list of ch. 7 is not "seeds"), and
    0 is a valid seed. Catches the name ignored, minimum 1 for seeds, and text read as digits."""
    with pytest.raises(ParameterError, match=rf"^parameter run_seeds=.*{why}"):
        check_seeds(seeds, "run_seeds")
    assert check_seeds((2, 0)) == [2, 0]


# ---- round 11 (audit 11): check_label_map drops missing labels, and only those ----------------
@pytest.mark.parametrize("label_map, labels, want", [
    # a slide with no label yet (None/NaN) is not a label to map: the map need not cover it
    ({"a": 0, "b": 1}, ["a", "b", None], {"a": 0, "b": 1}),
    ({"a": 0, "b": 1}, ["b", float("nan"), "a"], {"a": 0, "b": 1}),
    # integer labels given an int-keyed map: keys are compared as text, so 0/1 cover "0"/"1"
    ({0: 0, 1: 1}, [1, 0, 1], {0: 0, 1: 1}),
    # nothing labelled at all (every label missing): no text labels, so no map is demanded
    (None, [None, None], None),
])
def test_r11_check_label_map_ignores_missing_labels(label_map, labels, want):
    """Catches the missing labels kept (a None/NaN becomes the text label 'None'/'nan' that the
    map lacks, or makes an all-missing column 'text labels'), and int map keys compared as ints
    against the text of the labels."""
    assert check_label_map(label_map, pd.DataFrame({"slide_id": list("xyz")[:len(labels)],
                                                    "label": labels})) == want


def test_r11_check_label_map_without_a_label_column_needs_no_map():
    # no label column: nothing to map (catches the `len(values)` guard dropped), while a real
    # text label still demands a map (the other side of the same branch)
    assert check_label_map(None, pd.DataFrame({"slide_id": ["a", "b"]})) is None
    with pytest.raises(ParameterError, match=r"text labels \['t'\]"):
        check_label_map(None, pd.DataFrame({"slide_id": ["a", "b"], "label": [None, "t"]}))


def test_r11_check_folds_leaves_unlabelled_slides_out_of_the_class_counts():
    """A slide whose label is missing is not a class: two slides of each class plus one
    unlabelled allow 2 folds, and 3 folds are refused naming a real class with 2 slides.
    Catches the missing label counted as a third class (of one slide: 'only 1 slide')."""
    t = pd.DataFrame({"slide_id": list("abcde"), "label": [0, 1, None, 0, 1]})
    assert check_folds(2, t, min_train_groups=1) == 2
    with pytest.raises(ParameterError, match=r"class 0(\.0)? has only 2 slides .*use folds=2"):
        check_folds(3, t, min_train_groups=1)


# ---- round 12: falsy values that are not None, defaults, and each message ---------------------
@pytest.mark.parametrize("bad", [0, False])
def test_r12_ads_ratio_zero_or_false_is_refused_not_taken_for_none(bad):
    """ads_ratio=None switches ADS off; 0 (or False) is not None and must be refused like 1,
    not returned as 'off' (catches `if ads_ratio is not None` turned into `if ads_ratio`)."""
    with pytest.raises(ParameterError, match=f"ads_ratio={bad!r}: must be an integer >= 2"):
        _ch06(ads_ratio=bad)
    assert _ch06(ads_ratio=None)["ads_ratio"] is None
    assert _ch06(ads_ratio=3)["ads_ratio"] == 3


def test_r12_assigned_names_are_top_level_plain_names_with_literal_or_no_default():
    """_assigned reads a parameters cell: plain names only (not tuples, attributes), an annotated
    name only with a value, a non-literal default as _NO_DEFAULT, and a cell that does not parse
    as nothing. Catches each of these rules dropped."""
    a = params._assigned
    assert a("a, b = 1, 2\nx.y = 3\nn: int\nc = 4\nd: float = 0.5") == {"c": 4, "d": 0.5}
    got = a("from pathlib import Path\np = Path('x')\nq = [1, 2]")
    assert got["p"] is params._NO_DEFAULT and got["q"] == [1, 2] and list(got) == ["p", "q"]
    assert a("x = (") == {}


def test_r12_parse_literal_reads_json_first_then_python():
    """JSON true/null (not Python literals) and Python tuples/quotes (not JSON) both parse.
    Catches either parser dropped."""
    assert params._parse_literal("m", "[true, null, 1.5]") == [True, None, 1.5]
    assert params._parse_literal("m", '{"normal": 0}') == {"normal": 0}
    assert params._parse_literal("m", "(0, 1)") == (0, 1)
    assert params._parse_literal("m", "{'a': 1}") == {"a": 1}


def test_r12_chapter_dir_takes_the_working_folder_then_papermill_then_notebooks(
        tmp_path, monkeypatch):
    """The working folder holding the notebook file wins; a PAPERMILL_INPUT_PATH that is a
    folder (not a file) is ignored; a notebook found nowhere gives None (not notebooks/).
    Catches is_file loosened to is_dir/exists, and the final fallback made unconditional."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.ipynb").write_text("{}")
    assert params.chapter_dir("mine.ipynb") == tmp_path
    (tmp_path / "sub").mkdir()
    assert params.chapter_dir("nowhere.ipynb", {"PAPERMILL_INPUT_PATH": str(tmp_path / "sub")}) \
        is None
    nb = tmp_path / "sub" / "nb.ipynb"
    nb.write_text("{}")
    assert params.chapter_dir("nb.ipynb", {"PAPERMILL_INPUT_PATH": str(nb)}) == tmp_path / "sub"
    assert params.chapter_dir("nowhere.ipynb") is None
    (tmp_path / "dir.ipynb").mkdir()                # a folder named like a notebook: not it
    assert params.chapter_dir("dir.ipynb") is None


def test_r12_setup_chapter_parses_tuples_padded_text_and_keeps_empty_paths(tmp_path, monkeypatch):
    """Given as text: a tuple '(0, 1)' for a list default, a dict with a leading space, an empty
    path (kept empty, not made the caller's folder); a name injected but absent from the
    namespace is skipped. Catches '(' not recognised, the empty path joined to the folder, and
    the absent name looked up (KeyError)."""
    monkeypatch.chdir(tmp_path)
    declared = "seeds = [0]\nlabel_map = None\nslides_dir = None\nextra = 1\n"
    injected = ("# Parameters\nseeds = '(0, 1)'\nlabel_map = \" {'a': 0}\"\nslides_dir = ''\n"
                "extra = 2\n")
    ns = {"seeds": "(0, 1)", "label_map": " {'a': 0}", "slides_dir": ""}
    assert params.setup_chapter(ns, "nowhere.ipynb", history=[declared, injected]) == tmp_path
    assert ns == {"seeds": (0, 1), "label_map": {"a": 0}, "slides_dir": ""}


def test_r12_check_path_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "labels.csv").write_text("slide_id,label\n")
    assert check_path("~/labels.csv", "labels_csv", "file") == tmp_path / "labels.csv"


def test_r12_check_folds_needs_two_folds_a_label_column_and_counts_distinct_cases():
    """folds=1 is refused by its own rule; a table without 'label' is named; six cases of two
    slides each are six groups, not twelve (3 folds leave 4 cases to train on < 5). Catches the
    minimum lowered, the label check dropped (a KeyError), and slides counted as groups."""
    t = pd.DataFrame({"slide_id": [f"s{i}" for i in range(12)],
                      "case_id": [f"c{i // 2}" for i in range(12)],
                      "label": [i // 6 for i in range(12)]})
    with pytest.raises(ParameterError, match=r"folds=1: must be an integer >= 2; "
                       "cross-validation needs at least 2 folds"):
        check_folds(1, t)
    with pytest.raises(ParameterError, match=r"the labels table: no 'label' column \(have "
                       r"\['slide_id', 'case_id'\]\)"):
        check_folds(2, t.drop(columns="label"))
    with pytest.raises(ParameterError, match=r"with 6 cases in the labels table, a training "
                       r"part of 3 folds holds about 4"):
        check_folds(3, t)
    assert check_folds(2, t, min_train_groups=3) == 2


def test_r12_counts_read_in_plural_for_zero_and_many():
    assert params._count(0, "slide") == "0 slides"
    assert params._count(1, "case") == "1 case" and params._count(2, "case") == "2 cases"


def test_r12_label_map_must_be_a_dict_even_when_a_list_names_every_label():
    t = pd.DataFrame({"slide_id": ["a", "b"], "label": ["normal", "tumour"]})
    with pytest.raises(ParameterError, match="must be a dict from label text to class index"):
        check_label_map(["normal", "tumour"], t)


def test_r12_own_features_must_be_a_folder_and_chapter02_lists_and_repeats(tmp_path):
    f = tmp_path / "feats.h5"
    f.write_text("x")
    labels = tmp_path / "labels.csv"
    labels.write_text("slide_id,label\n")
    with pytest.raises(ParameterError, match=r"features_dir=.*is a file, not a folder"):
        _ch02(features_dir=str(f), labels_csv=str(labels))
    with pytest.raises(ParameterError, match=r"classic_datasets='musk1': must be a list \(e\.g\."):
        _ch02(classic_datasets="musk1")
    with pytest.raises(ParameterError, match="classic_repeats=0: must be an integer >= 1"):
        _ch02(classic_repeats=0)
    assert _ch02(classic_repeats=1)["classic_repeats"] == 1


def test_r12_chapter01_slide_dir_must_be_a_folder_not_a_slide_file(tmp_path):
    slide = tmp_path / "a.svs"
    slide.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="slide_dir: no folder at"):
        params.check_chapter01_params(**_params(slide_dir=str(slide)))


@pytest.mark.parametrize("name, bad, match", [
    ("top_k", 0, "top_k=0: must be an integer >= 1"),
    ("epochs", 0, "epochs=0: must be an integer >= 1"),
    ("ablation", "", "ablation='': must be a list of the ACMIL halves"),
])
def test_r12_chapter03_minimums_and_a_text_ablation(name, bad, match):
    with pytest.raises(ParameterError, match=match):
        params.check_chapter03(**{**CH03, name: bad})


def test_r12_chapter03_cleans_mask_drop_to_float_and_ablation_to_a_list():
    out = params.check_chapter03(**{**CH03, "mask_drop": 0, "ablation": ("mba", "stkim")})
    assert type(out["mask_drop"]) is float and out["ablation"] == ["mba", "stkim"]
    assert type(out["ablation"]) is list


def test_r12_chapter05_masks_folder_epochs_and_a_large_alpha(tmp_path):
    (tmp_path / "masks").mkdir()
    assert _ch05(tmp_path, alpha=2.5)["options"]["alpha"] == 2.5       # no upper bound
    with pytest.raises(ParameterError, match="epochs=0: must be an integer >= 1"):
        _ch05(tmp_path, epochs=0)
    other = tmp_path / "file_cohort"
    other.mkdir()
    (other / "masks").write_text("not a folder")
    with pytest.raises(ParameterError, match="has no masks/ folder"):
        params.check_chapter05(cohort_dir=other, epochs=3, seeds=[0], r_h=0.01, r_hr=0.5,
                               r=0.5, r_l=0.0, decay=True, alpha=0.1, momentum=0.999,
                               score="attention", sensitivity=[], available_methods=["mhim"])


def test_r12_chapter06_epochs_and_seeds_are_checked():
    with pytest.raises(ParameterError, match="epochs=0: must be an integer >= 1"):
        _ch06(epochs=0)
    with pytest.raises(ParameterError, match="seeds must be distinct"):
        _ch06(seeds=[1, 1])
    assert _ch06(seeds=(2, 0))["seeds"] == [2, 0]


def test_r12_chapter07_paths_and_the_quick_seeds_name(tmp_path):
    """Catches the quick seeds checked under the name 'seeds', a results folder whose 'file' is a
    folder accepted, the full run's results_dir left a str, and an empty second cohort taken
    for None."""
    with pytest.raises(ParameterError, match=r"parameter quick_seeds=\[0, 0\]"):
        _ch07(tmp_path, quick_seeds=[0, 0])
    out = _ch07(tmp_path, full=True, results_dir=str(tmp_path / "elsewhere"),
                second_cohort_dir="")
    assert out["results_dir"] == tmp_path / "elsewhere" and isinstance(out["results_dir"], Path)
    assert out["second_cohort_dir"] == Path("")
    name = next(iter(params.CHAPTER07_FILES))
    (tmp_path / "results" / name).unlink()
    (tmp_path / "results" / name).mkdir()
    with pytest.raises(ParameterError, match=f"has no {name}"):
        _ch07(tmp_path)


def test_r12_check_lambda_mentions_none_only_where_none_is_allowed():
    with pytest.raises(ParameterError, match=r"variant_lam=-1: must be a finite number > 0 .*; "
                       "or None to skip$"):
        params.check_lambda(-1, "variant_lam", allow_none=True, positive=True)
    with pytest.raises(ParameterError, match=r"lam=-1: must be a finite number >= 0 \(0 = no "
                       r"AEM, the baseline; the authors' example is 0.1\)$"):
        params.check_lambda(-1, "lam")


def test_r12_slides_dir_must_be_a_folder(tmp_path):
    f = tmp_path / "slide.svs"
    f.write_bytes(b"")
    with pytest.raises(ParameterError, match=r"slides_dir=.*slide.svs is a file, not a folder"):
        _ch02(slides_dir=str(f))
    with pytest.raises(ParameterError, match=r"slides_dir=.*does not exist; set it to your slide "
                       "files, or None to skip heatmaps"):
        _ch02(slides_dir=str(tmp_path / "none"))
    assert _ch02(slides_dir=str(tmp_path))["slides_dir"] == tmp_path


def test_r12_a_fold_column_message_lists_its_folds_without_missing_values():
    t = pd.DataFrame({"slide_id": list("abcd"), "label": [0, 1, 0, 1],
                      "fold": [0, 1, 2, None]})
    with pytest.raises(ParameterError, match=r"has a 'fold' column with 3 folds \(\[0\.0, 1\.0, "
                       r"2\.0\]\); set folds=3, or drop the column"):
        check_folds(2, t)


def test_r12_an_undeclared_name_with_no_declared_ones_gets_no_closest_hint(tmp_path, monkeypatch):
    """A chapter whose cell before papermill's declares nothing: the message says the name is
    not a parameter and offers no 'closest' (there is none). Catches the hint taken from an
    empty list (an IndexError instead of the ParameterError)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParameterError) as err:
        params.setup_chapter({"lr": 0.1}, "nb.ipynb", ["print('no parameters')",
                                                        "# Parameters\nlr = 0.1\n"])
    assert str(err.value) == ("parameter lr=0.1 is not a parameter of nb.ipynb. Its parameters:  "
                              "(papermill -p NAME VALUE takes only these).")


def test_r12_label_map_names_the_csv_and_returns_a_copy(tmp_path):
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"slide_id": ["a", "b"], "label": ["normal", "tumour"]}).to_csv(csv, index=False)
    with pytest.raises(ParameterError, match=f"{re.escape(str(csv))} has text labels "
                       r"\['normal', 'tumour'\]"):
        check_label_map(None, csv)
    given = {"normal": 0, "tumour": 1}
    out = check_label_map(given, csv)
    assert out == given and out is not given


def test_r12_chapter04_hands_classic_folds_on_and_cleans_its_own_keys():
    with pytest.raises(ParameterError, match="classic_folds=1: must be an integer >= 2"):
        _ch04(classic_folds=1)
    out = _ch04(classic_folds=3, other_bases=("acmil",))
    assert out["classic_folds"] == 3
    assert "model_variant" not in out and "methods" not in out
    assert out["other_bases"] == ["acmil"] and type(out["other_bases"]) is list


def test_r12_chapters_03_05_06_check_their_own_data_folders(tmp_path):
    """Chapter 03 checks slides_dir, chapter 06 the features/labels pair, chapter 05 that the
    cohort is a folder; chapter 05's options carry decay=False as given. Catches each check
    skipped (or the cohort accepted as any path) and decay forced in the options."""
    with pytest.raises(ParameterError, match=r"slides_dir=.*does not exist"):
        params.check_chapter03(**{**CH03, "slides_dir": str(tmp_path / "none")})
    assert params.check_chapter03(**{**CH03, "slides_dir": str(tmp_path)})["slides_dir"] == \
        tmp_path
    with pytest.raises(ParameterError, match="features_dir is set but labels_csv is not"):
        _ch06(features_dir=str(tmp_path))
    f = tmp_path / "cohort.txt"
    f.write_text("not a folder")
    with pytest.raises(ParameterError, match=r"cohort_dir=.*is a file, not a folder"):
        params.check_chapter05(cohort_dir=f, epochs=3, seeds=[0], r_h=0.01, r_hr=0.5, r=0.5,
                               r_l=0.0, decay=True, alpha=0.1, momentum=0.999,
                               score="attention", sensitivity=[], available_methods=["mhim"])
    (tmp_path / "masks").mkdir()
    assert _ch05(tmp_path, decay=False)["options"]["decay"] is False


def test_r12_chapter07_returns_paths_for_the_cohort_and_the_method_file(tmp_path):
    out = _ch07(tmp_path, cohort_dir="../data/cohort")
    assert out["cohort_dir"] == Path("../data/cohort") and isinstance(out["cohort_dir"], Path)
    assert out["own_method_file"] == tmp_path / "mine.py"
    assert isinstance(out["own_method_file"], Path)


# --- audit 14's survivors ----------------------------------------------------------------------
def test_a14_ch04_schedule_and_normalize_come_back_under_their_own_names():
    """Every (schedule, normalize) pair comes back with each value under its own key. Catches
    the two swapped (audit 14)."""
    from milhelpers.losses import AEM_NORMALIZATIONS, AEM_SCHEDULES

    for schedule in AEM_SCHEDULES:
        for normalize in AEM_NORMALIZATIONS:
            out = _ch04(schedule=schedule, normalize=normalize)
            assert (out["schedule"], out["normalize"]) == (schedule, normalize)
