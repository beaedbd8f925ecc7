"""The chapters on a user's own data, as papermill runs them (issue 7 §3).

Each test writes a small user-like folder — features in the CLAM layout (``features`` and
``coords`` datasets, no ``patch_size`` attribute) and a labels CSV with text labels and case ids,
or a folder with one generated slide — runs a chapter on it, and checks that it finishes and
wrote its results, or that a bad parameter stops it at once with a message naming it.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

pm = pytest.importorskip("papermill")

from milhelpers import synth  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COHORT = ROOT / "data" / "cohort"


def _run(nb: str, out: Path, **parameters):
    return pm.execute_notebook(str(NOTEBOOKS / nb), str(out), parameters=parameters,
                               cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False)


@pytest.fixture(scope="module")
def user_features(tmp_path_factory) -> tuple[Path, Path]:
    """20 slides from 14 patients, 16-d features on a 256-px grid, labels 'tumour'/'normal'."""
    root = tmp_path_factory.mktemp("user")
    feats = root / "features_uni"
    feats.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(20):
        label = "tumour" if i % 2 else "normal"
        n = int(rng.integers(6, 30))
        x = rng.normal(size=(n, 16)).astype(np.float32)
        if label == "tumour":          # a few instances carry the signal
            x[: max(1, n // 5), :4] += 2.5
        g = np.arange(n)
        coords = np.stack([(g % 6) * 256, (g // 6) * 256], 1).astype(np.int64)
        with h5py.File(feats / f"slide_{i:02d}.h5", "w") as f:   # CLAM: no patch_size attribute
            f["features"] = x
            f["coords"] = coords
        rows.append({"slide_id": f"slide_{i:02d}", "label": label,
                     "case_id": f"patient_{i // 3}_{i % 2}"})
    csv = root / "labels.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return feats, csv


def test_chapter02_runs_to_the_end_on_user_features(user_features, tmp_path):
    feats, csv = user_features
    run_dir = tmp_path / "run02"
    nb = _run("02_abmil.ipynb", tmp_path / "out02.ipynb", features_dir=str(feats),
              labels_csv=str(csv), label_map={"normal": 0, "tumour": 1}, epochs=1, folds=2,
              seeds=[0],
              methods=["mean_pool", "abmil_gated"], model_variant="abmil_gated",
              classic_datasets=[], run_dir=str(run_dir))
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results["methods"]) == {"mean_pool", "abmil_gated"} and results["folds"] == 2
    assert results["classic"] == []
    comparison = json.loads((run_dir / "comparison.json").read_text())
    assert len(comparison["runs"]) == 4      # 2 methods × 1 seed × 2 folds
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "KEY RESULT" in text and "classic benchmarks are skipped" in text


#: Per chapter: parameters it needs besides the data (``*_dir`` values are folders under the
#: test's tmp_path), all of which a parameter error must leave unwritten.
CHECKED_PARAMETERS = {
    "02_abmil.ipynb": {"classic_datasets": [], "run_dir": "run"},
    "03_acmil.ipynb": {"run_dir": "run"},
    "04_aem.ipynb": {"classic_datasets": [], "run_dir": "run", "cache_dir": "cache"},
    "06_packmil.ipynb": {"cache_dir": "cache"},
}


@pytest.mark.parametrize("notebook, override, message", [
    ("02_abmil.ipynb", {"epochs": 0}, "parameter epochs=0: must be an integer >= 1"),
    ("02_abmil.ipynb", {"features_dir": "/no/such/features"},
     "parameter features_dir='/no/such/features'"),
    ("02_abmil.ipynb", {"folds": 8}, "class 'normal' has only 7 cases"),
    ("02_abmil.ipynb", {"methods": ["mean_pool", "abmil"]}, "unknown name 'abmil'"),
    ("02_abmil.ipynb", {"label_map": None},
     "text labels ['normal', 'tumour']; say which class is which"),
    ("03_acmil.ipynb", {"mask_drop": 1.0}, "parameter mask_drop=1.0: must be a number in [0, 1)"),
    ("03_acmil.ipynb", {"ablation": "mba"},
     "parameter ablation='mba': must be a list of the ACMIL halves"),
    ("03_acmil.ipynb", {"n_branches": 0}, "parameter n_branches=0: must be an integer >= 1"),
    ("04_aem.ipynb", {"lam": -1.0}, "parameter lam=-1.0: must be a finite number >= 0"),
    ("04_aem.ipynb", {"schedule": "cos"},
     "parameter schedule='cos': choose from ['constant', 'cosine']"),
    ("04_aem.ipynb", {"base": "mean_pool"},
     "parameter base='mean_pool': AEM needs a model with learned attention"),
    ("04_aem.ipynb", {"lambdas": [0, "big"]},
     "parameter lambdas=[0, 'big']: 'big' is not a finite number"),
    ("06_packmil.ipynb", {"p": 0}, "parameter p=0: must be a number in (0, 1]"),
    ("06_packmil.ipynb", {"ads_ratio": 1}, "parameter ads_ratio=1: must be an integer >= 2"),
    ("06_packmil.ipynb", {"batch_size": 1}, "parameter batch_size=1: must be an integer >= 2"),
])
def test_bad_parameters_fail_fast_with_the_message(user_features, tmp_path, notebook, override,
                                                   message):
    feats, csv = user_features
    extra = {k: str(tmp_path / v) if k.endswith("_dir") else v
             for k, v in CHECKED_PARAMETERS[notebook].items()}
    params = dict(features_dir=str(feats), labels_csv=str(csv), epochs=1, folds=2,
                  label_map={"normal": 0, "tumour": 1}, **extra)
    params.update(override)
    with pytest.raises(pm.PapermillExecutionError) as err:
        _run(notebook, tmp_path / "bad.ipynb", **params)
    assert message in str(err.value)
    assert err.value.exec_count <= 3   # parameters, injected parameters, the check cell
    for k, v in CHECKED_PARAMETERS[notebook].items():
        if k.endswith("_dir"):
            assert not (tmp_path / v).exists(), f"{notebook} wrote {k} before failing"


def test_chapter02_fold_column_disagreeing_with_folds(user_features, tmp_path):
    feats, csv = user_features
    table = pd.read_csv(csv).assign(fold=lambda t: np.arange(len(t)) % 3)
    csv3 = tmp_path / "labels_folds.csv"
    table.to_csv(csv3, index=False)
    with pytest.raises(pm.PapermillExecutionError) as err:
        _run("02_abmil.ipynb", tmp_path / "bad.ipynb", features_dir=str(feats),
             labels_csv=str(csv3), label_map={"normal": 0, "tumour": 1}, epochs=1, folds=2,
             classic_datasets=[],
             run_dir=str(tmp_path / "run"))
    assert "has a 'fold' column with 3 folds" in str(err.value)


@pytest.mark.skipif(not (COHORT / "labels.csv").exists(),
                    reason="chapter 01 also walks through the course cohort: run `make data`")
def test_chapter01_runs_to_the_end_on_a_user_slide_folder(tmp_path):
    slides = tmp_path / "my_slides"
    slides.mkdir()
    cfg = synth.CohortConfig(n_slides=10, seed=5, min_side_mm=0.8, max_side_mm=0.9)
    spec = synth.SlideSpec("my_slide", 1, "solid", "large", 1600, 1500, seed=7, pen=False,
                           dust=False)
    rgb, _, _ = synth.render_slide(spec, cfg)
    synth.write_pyramidal_tiff(slides / "my_slide.tiff", rgb, cfg.mpp)
    out_dir = tmp_path / "out01"
    nb = _run("01_tiling_and_features.ipynb", tmp_path / "out01.ipynb", slide_dir=str(slides),
              out_dir=str(out_dir))
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "KEY RESULT" in text
    assert list(out_dir.rglob("my_slide.h5")), "the user's slide was not tiled and encoded"


def test_chapter04_runs_to_the_end_on_user_features(user_features, tmp_path):
    feats, csv = user_features
    run_dir = tmp_path / "run04"
    nb = _run("04_aem.ipynb", tmp_path / "out04.ipynb", features_dir=str(feats),
              labels_csv=str(csv), label_map={"normal": 0, "tumour": 1}, epochs=1, folds=2,
              lam=1.0, lambdas=[0, 1], variant_lam=None, other_bases=[], classic_datasets=[],
              run_dir=str(run_dir), cache_dir=str(tmp_path / "cache"))
    results = json.loads((run_dir / "results.json").read_text())
    assert results["focus"] == "aem_lam1" and results["folds"] == 2
    # the λ grid, mean pooling, and the chapter's AEM once more with the authors' epoch selection
    assert set(results["methods"]) == {"mean_pool", "abmil_gated", "aem_lam1", "aem_lam1_select_f1auc"}
    assert set(results["lambda_curve"]) == {"0", "1"} and results["classic"] == {}
    assert set(results["curves"]) == {"abmil_gated", "aem_lam1"}     # learning curves, both methods
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "KEY RESULT" in text and "heatmaps skipped" in text and "variants are skipped" in text
    assert "classic benchmarks are skipped" in text


def test_chapter03_runs_to_the_end_on_user_features(user_features, tmp_path):
    feats, csv = user_features
    run_dir = tmp_path / "run03"
    nb = _run("03_acmil.ipynb", tmp_path / "out03.ipynb", features_dir=str(feats),
              labels_csv=str(csv), label_map={"normal": 0, "tumour": 1}, epochs=1, folds=2,
              n_branches=3, top_k=4, ablation=[], coverage_k=3, umap_points=100,
              run_dir=str(run_dir))
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results["methods"]) == {"acmil_base", "acmil_M3_K4_drop0.6"}
    assert results["folds"] == 2 and results["coverage_k"] == 3
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "KEY RESULT" in text and "heatmaps skipped" in text and "explorer skipped" in text


def test_chapter06_runs_to_the_end_on_user_features(user_features, tmp_path):
    feats, csv = user_features
    nb = _run("06_packmil.ipynb", tmp_path / "out06.ipynb", features_dir=str(feats),
              labels_csv=str(csv), label_map={"normal": 0, "tumour": 1}, epochs=1, folds=2,
              batch_size=8, max_len=64, cache_dir=str(tmp_path / "cache"))
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "largest |packed − alone| = < 1e-5" in text
    assert "packmil_L64_B8 − packmil_L64_noresidual_B8" in text        # names list the options
    assert (tmp_path / "cache" / "packmil_L64_B8").is_dir()


@pytest.mark.parametrize("override, message", [
    ({"quick_epochs": 0}, "parameter quick_epochs=0: must be an integer >= 1"),
    ({"full": "yes"}, "parameter full='yes': must be True"),
    ({"reference": "abmil"}, "parameter reference='abmil': unknown name 'abmil'"),
    ({"own_method_file": "no_such_method.py"}, "parameter own_method_file="),
    ({"results_dir": "/no/such/results"}, "parameter results_dir='/no/such/results'"),
    ({"learning_rate": 0.1}, "parameter learning_rate=0.1 is not a parameter of "
                             "07_head_to_head.ipynb"),
])
def test_chapter07_bad_parameters_fail_fast_with_the_message(tmp_path, override, message):
    with pytest.raises(pm.PapermillExecutionError) as err:
        _run("07_head_to_head.ipynb", tmp_path / "bad07.ipynb", **override)
    assert message in str(err.value)
    assert err.value.exec_count <= 3   # parameters, injected parameters, the check cell
