"""``python -m milhelpers train | evaluate | predict | heatmap`` on a user's small cohort: the
numbers they print are those of the saved fold models (recomputed here from the weight files),
bad input gets one clear line and exit 2, nothing is overwritten without --overwrite, and a run
whose method code changed is refused."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from milhelpers.__main__ import main
from milhelpers.methods import METHODS, BuildContext, get_method
from milhelpers.train import run_seed
from milhelpers.trained import case_bootstrap
from own_data import write_feature_cohort

LABEL_MAP = '{"normal": 0, "tumor": 1}'


def cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    feats, labels = write_feature_cohort(root / "train", 24, dim=16, seed=0)
    held_feats, held_labels = write_feature_cohort(root / "heldout", 12, dim=16, seed=1,
                                                   prefix="new")
    return {"root": root, "feats": feats, "labels": labels, "held_feats": held_feats,
            "held_labels": held_labels}


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory):
    """One run: gated ABMIL, 3 folds × 1 seed, 2 epochs (module-scoped: read-only below)."""
    run = tmp_path_factory.mktemp("run") / "run"
    code = main(["train", "--method", "abmil_gated", "--features", str(cohort["feats"]),
                 "--labels", str(cohort["labels"]), "--out", str(run), "--folds", "3",
                 "--epochs", "2", "--label-map", LABEL_MAP, "--quiet"])
    assert code == 0
    return run


def _fold_models(run: Path) -> list[tuple[dict, torch.nn.Module]]:
    """The run's models rebuilt straight from run.json and the weight files (not through
    milhelpers.trained)."""
    info = json.loads((run / "run.json").read_text())
    out = []
    for r in info["runs"]:
        model = get_method(info["method"]).build_model(
            BuildContext(info["in_dim"], 2, r["fold"], run_seed(r["seed"], r["fold"])))
        pt = run / "runs" / info["method"] / f"seed{r['seed']}_fold{r['fold']}_{r['key'][:16]}.pt"
        model.load_state_dict(torch.load(pt, weights_only=True))
        out.append((r, model.eval()))
    return out


def _probs(model, path: Path) -> np.ndarray:
    with h5py.File(path) as f:
        x = torch.from_numpy(f["features"][:])
    with torch.no_grad():
        return torch.softmax(model(x).logits, -1)[0].numpy()


def test_train_writes_the_run_and_out_of_fold_predictions_of_its_models(trained, cohort):
    info = json.loads((trained / "run.json").read_text())
    assert info["method"] == "abmil_gated" and info["in_dim"] == 16
    assert info["class_names"] == ["normal", "tumor"]
    assert info["label_map"] == {"normal": 0, "tumor": 1} and info["folds"] == 3
    assert info["code_fingerprint"] == get_method("abmil_gated").code_fingerprint()
    assert info["train_config"]["epochs"] == 2 and info["plugins"] == []
    assert sorted(info["slides"]) == sorted(p.stem for p in cohort["feats"].glob("*.h5"))
    oof = pd.read_csv(trained / "predictions.csv")
    assert len(oof) == 24 and set(oof.seed) == {0} and sorted(oof.slide_id) == info["slides"]
    np.testing.assert_allclose(oof.prob_normal + oof.prob_tumor, 1, atol=1e-6)
    labels = pd.read_csv(cohort["labels"]).set_index("slide_id").label
    assert (oof.set_index("slide_id").label == labels.loc[oof.slide_id]).all()
    # each slide's out-of-fold probability is the output of the model of the fold that held it
    # out; its cases never sit in two folds
    assert oof.groupby("case_id").fold.nunique().max() == 1
    for r, model in _fold_models(trained):
        held = oof[oof.fold == r["fold"]]
        assert len(held) > 0
        for row in held.itertuples():
            p = _probs(model, cohort["feats"] / f"{row.slide_id}.h5")
            np.testing.assert_allclose([row.prob_normal, row.prob_tumor], p, atol=1e-5)
    summary = json.loads((trained / "summary.json").read_text())
    assert len(summary["runs"]) == 3


def _expected_mean_probs(run: Path, feats: Path, ids) -> np.ndarray:
    models = [m for _, m in _fold_models(run)]
    return np.array([np.mean([_probs(m, feats / f"{s}.h5") for m in models], 0) for s in ids])


def test_evaluate_prints_the_metrics_of_the_fold_models_mean(trained, cohort, capsys):
    code, out, err = cli(capsys, "evaluate", "--run", trained, "--features", cohort["held_feats"],
                         "--labels", cohort["held_labels"], "--resamples", 300)
    assert code == 0, err
    table = pd.read_csv(cohort["held_labels"])
    p = _expected_mean_probs(trained, cohort["held_feats"], table.slide_id)
    y = (table.label == "tumor").to_numpy(int)
    auc, bacc = roc_auc_score(y, p[:, 1]), balanced_accuracy_score(y, p.argmax(1))
    assert f"AUC                {auc:.3f} [" in out
    assert f"balanced accuracy  {bacc:.3f} [" in out
    assert "on 12 held-out slides from 6 cases (per class: normal: 6, tumor: 6)" in out
    assert "3 models: 3 folds × 1 seed" in out and "warning" not in out


def test_evaluate_warns_about_slides_the_run_was_trained_on(trained, cohort, capsys):
    code, out, _ = cli(capsys, "evaluate", "--run", trained, "--features", cohort["feats"],
                       "--labels", cohort["labels"], "--resamples", 200)
    assert code == 0
    assert "warning: 24 of these slides were in the run's training data" in out
    assert "warning: 12 of these cases were in the run's training data" in out


def test_predict_writes_one_row_per_slide_and_refuses_to_overwrite(trained, cohort, tmp_path,
                                                                   capsys):
    out_csv = tmp_path / "pred.csv"
    code, out, err = cli(capsys, "predict", "--run", trained, "--features", cohort["held_feats"],
                         "--out", out_csv)
    assert code == 0, err
    pred = pd.read_csv(out_csv)
    assert list(pred.columns) == ["slide_id", "n_patches", "prob_normal", "prob_tumor",
                                  "predicted"]
    ids = sorted(p.stem for p in cohort["held_feats"].glob("*.h5"))
    assert pred.slide_id.tolist() == ids
    expected = _expected_mean_probs(trained, cohort["held_feats"], ids)
    np.testing.assert_allclose(pred[["prob_normal", "prob_tumor"]].to_numpy(), expected,
                               atol=1e-5)
    assert pred.predicted.tolist() == [["normal", "tumor"][i] for i in expected.argmax(1)]
    before = out_csv.read_bytes()
    code, _, err = cli(capsys, "predict", "--run", trained, "--features",
                       cohort["held_feats"], "--out", out_csv)
    assert code == 2 and f"error: {out_csv} exists; pass --overwrite" in err
    assert out_csv.read_bytes() == before
    assert cli(capsys, "predict", "--run", trained, "--features", cohort["held_feats"], "--out",
               out_csv, "--overwrite")[0] == 0


def test_one_bad_file_is_reported_and_the_others_predicted(trained, cohort, tmp_path, capsys):
    folder = tmp_path / "mixed"
    shutil.copytree(cohort["held_feats"], folder)
    (folder / "broken.h5").write_bytes(b"not hdf5")
    with h5py.File(folder / "other_encoder.h5", "w") as f:
        f["features"] = np.zeros((5, 8), np.float32)
    code, out, err = cli(capsys, "predict", "--run", trained, "--features", folder, "--out",
                         tmp_path / "p.csv")
    assert code == 1 and "Traceback" not in err
    assert "broken.h5: FAILED" in err
    assert "other_encoder.h5: FAILED: " in err and "features are 8-d, but the models" in err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 12 and "2 failed" in out


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_features_of_another_width_are_refused(trained, tmp_path, capsys, command):
    feats, labels = write_feature_cohort(tmp_path, 6, dim=8, seed=2, prefix="w")
    args = ["--labels", labels] if command == "evaluate" else ["--out", tmp_path / "p.csv"]
    code, _, err = cli(capsys, command, "--run", trained, "--features", feats, *args)
    assert code == 2 and "Traceback" not in err
    assert "features are 8-d, but the models of" in err and "take 16-d features" in err
    assert not (tmp_path / "p.csv").exists()


def test_bad_input_gets_one_line_and_exit_2(trained, cohort, tmp_path, capsys):
    extra = tmp_path / "labels_ghost.csv"
    pd.concat([pd.read_csv(cohort["held_labels"]),
               pd.DataFrame({"slide_id": ["ghost"], "label": ["tumor"], "case_id": ["g"]})]
              ).to_csv(extra, index=False)
    cases = [
        (["evaluate", "--run", trained, "--features", cohort["held_feats"], "--labels", extra],
         "1 slide in the labels has no features in"),
        (["evaluate", "--run", tmp_path / "nope", "--features", cohort["held_feats"],
          "--labels", extra], "is not a trained run: no run.json"),
        (["predict", "--run", trained, "--features", tmp_path / "none", "--out", tmp_path / "x"],
         "features folder"),
        (["train", "--method", "abmil", "--features", cohort["feats"], "--labels",
          cohort["labels"], "--out", tmp_path / "r", "--label-map", LABEL_MAP],
         "unknown method 'abmil'; choose from"),
        (["train", "--method", "abmil_gated", "--features", cohort["feats"], "--labels",
          cohort["labels"], "--out", tmp_path / "r"],
         "the labels are text (normal, tumor); say which class is which with --label-map "
         "'{\"normal\": 0, \"tumor\": 1}'"),
        (["train", "--method", "abmil_gated", "--features", cohort["feats"], "--labels",
          cohort["labels"], "--out", tmp_path / "r", "--label-map", LABEL_MAP, "--folds", "9"],
         f"parameter --folds=9: class 'normal' has only 6 cases in {cohort['labels']}, so 9 "
         "folds cannot each hold one; use --folds between 2 and 6"),
        (["train", "--method", "abmil_gated", "--features", cohort["feats"], "--labels",
          cohort["labels"], "--out", trained, "--label-map", LABEL_MAP],
         f"{trained / 'run.json'} exists (a trained run); pass --overwrite"),
    ]
    for args, message in cases:
        code, _, err = cli(capsys, *args)
        assert code == 2 and "Traceback" not in err, (args, err)
        assert err.startswith("error: ") and message in err, (message, err)
    assert not (tmp_path / "r").exists()
    with pytest.raises(SystemExit) as exc:       # argparse: usage and exit 2
        main(["train", "--method", "abmil_gated", "--features", str(cohort["feats"]), "--labels",
              str(cohort["labels"]), "--out", str(tmp_path / "r"), "--label-map", "{normal: 0"])
    assert exc.value.code == 2
    assert "is not a map of label text to class index" in capsys.readouterr().err


def test_a_subset_of_the_features_folder_is_reported_and_trained(cohort, tmp_path, capsys):
    subset = tmp_path / "subset.csv"
    table = pd.read_csv(cohort["labels"])
    table[table.case_id < "slide_case_10"].to_csv(subset, index=False)      # 20 of 24 slides
    code, out, err = cli(capsys, "train", "--method", "mean_pool", "--features", cohort["feats"],
                         "--labels", subset, "--out", tmp_path / "run", "--folds", "2",
                         "--epochs", "1", "--label-map", LABEL_MAP, "--quiet")
    assert code == 0, err
    assert f"4 features files in {cohort['feats']} have no row in the labels and are left " \
           "out: slide_20, slide_21, slide_22, slide_23" in out
    assert "mean_pool on 20 slides" in out and "2 of 2 runs trained" in out


def test_overwrite_reuses_unchanged_runs_and_an_interrupted_run_resumes(cohort, tmp_path,
                                                                        capsys):
    args = ["train", "--method", "mean_pool", "--features", cohort["feats"], "--labels",
            cohort["labels"], "--out", tmp_path / "run", "--folds", "2", "--label-map",
            LABEL_MAP, "--quiet", "--epochs", "1"]
    assert cli(capsys, *args)[0] == 0
    (tmp_path / "run" / "run.json").unlink()          # as if stopped before the end
    code, out, _ = cli(capsys, *args)
    assert code == 0 and "0 of 2 runs trained, 2 read from" in out
    code, out, _ = cli(capsys, *args, "--overwrite")
    assert code == 0 and "0 of 2 runs trained" in out
    # other settings under --overwrite: trained anew, and the old models leave runs/
    code, out, _ = cli(capsys, *args[:-1], "2", "--overwrite")
    assert code == 0 and "2 of 2 runs trained" in out
    files = sorted(p.name for p in (tmp_path / "run" / "runs" / "mean_pool").glob("*.pt"))
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert files == sorted(f"seed0_fold{r['fold']}_{r['key'][:16]}.pt" for r in info["runs"])


PLUGIN = '''
from torch import nn
from milhelpers.methods import Method, register
from milhelpers.models import MILModel, MILOutput, as_batch, mask_logits, masked_softmax
from milhelpers.train import LossTerm


class LabMIL(MILModel):
    def __init__(self, in_dim, n_classes):
        super().__init__()
        self.n_classes = n_classes
        self.project = nn.Linear(in_dim, 8)
        self.score, self.classifier = nn.Linear(8, 1), nn.Linear(8, n_classes)

    def forward(self, x, mask=None):
        x, mask = as_batch(x, mask)
        h = self.project(x).relu()
        logits = mask_logits(self.score(h).transpose(1, 2), mask)
        z = (masked_softmax(logits, mask) @ h)[:, 0]
        return MILOutput(self.classifier(z), logits, z, mask)


def terms(model):
    return [LossTerm("l2", lambda out, batch, state: out.embedding.pow(2).mean(), 0.01)]


register(Method("lab_mil", lambda ctx, **kw: LabMIL(ctx.in_dim, ctx.n_classes), "a lab's MIL",
                loss_terms=terms))
'''


@pytest.fixture
def clean_registry():
    before = dict(METHODS)
    yield
    METHODS.clear()
    METHODS.update(before)


def test_a_run_whose_method_code_changed_is_refused(cohort, tmp_path, capsys, clean_registry):
    plugin = tmp_path / "lab.py"
    plugin.write_text(PLUGIN)
    run = tmp_path / "run"
    code, out, err = cli(capsys, "train", "--method", "lab_mil", "--plugin", plugin, "--features",
                         cohort["feats"], "--labels", cohort["labels"], "--out", run, "--folds",
                         "2", "--epochs", "1", "--label-map", LABEL_MAP, "--quiet")
    assert code == 0, err
    assert f"plugin {plugin}: registered lab_mil" in out
    assert json.loads((run / "run.json").read_text())["plugins"] == [str(plugin.resolve())]
    evaluate = ["evaluate", "--run", run, "--features", cohort["held_feats"], "--labels",
                cohort["held_labels"], "--resamples", 200]
    assert cli(capsys, *evaluate)[0] == 0             # the recorded plugin is loaded again
    plugin.write_text(PLUGIN.replace("pow(2).mean()", "abs().mean()"))     # training code only
    code, _, err = cli(capsys, *evaluate)
    assert code == 2 and "the code of method 'lab_mil' changed since this run was trained" in err
    assert "the model code is unchanged, the training code differs" in err
    plugin.write_text(PLUGIN.replace("self.project(x).relu()", "self.project(x).tanh()"))
    code, _, err = cli(capsys, *evaluate)
    assert code == 2 and "its model code changed too" in err and "--allow-code-change" in err
    code, out, _ = cli(capsys, *evaluate, "--allow-code-change")
    assert code == 0 and "warning: the method's code changed since training" in out
    # the plugin moved: the message says to pass it; passing it works
    plugin.write_text(PLUGIN)
    moved = tmp_path / "moved" / "lab.py"
    moved.parent.mkdir()
    plugin.rename(moved)
    code, _, err = cli(capsys, "predict", "--run", run, "--features", cohort["held_feats"],
                       "--out", tmp_path / "p.csv")
    assert code == 2 and "no such file" in err and "pass --plugin FILE where it is now" in err
    code, _, err = cli(capsys, "predict", "--run", run, "--features", cohort["held_feats"],
                       "--out", tmp_path / "p.csv", "--plugin", moved)
    assert code == 0, err


def test_help_shows_examples_and_the_arguments(capsys):
    for command, words in (("train", ["--method NAME", "--features DIR", "--labels CSV",
                                      "--out RUN_DIR", "--folds K", "--seeds S", "--epochs E",
                                      "--label-map JSON", "--plugin FILE", "examples:"]),
                           ("evaluate", ["--run RUN_DIR", "--features DIR", "--labels CSV",
                                         "example:", "bootstrap"]),
                           ("predict", ["--run RUN_DIR", "--features DIR", "--out CSV",
                                        "example:"]),
                           ("heatmap", ["--run RUN_DIR", "--slide SLIDE_FILE", "--features H5",
                                        "--out PNG", "example:", "scale bar"])):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for w in words:
            assert w in text, (command, w)


def _weights_by_hand(y, groups, n, seed):
    """(n, S) slide weights of a label-stratified case bootstrap, drawn as milhelpers.stats
    draws them: per stratum of cases (label sets in sorted order, cases in sorted order), n_h
    draws with replacement from the generator of ``seed``."""
    cases = sorted(set(groups))
    kind = {c: tuple(sorted(set(y[groups == c]))) for c in cases}
    rng = np.random.default_rng(seed)
    counts = {c: np.zeros(n) for c in cases}
    for stratum in sorted(set(kind.values())):
        members = [c for c in cases if kind[c] == stratum]
        draws = rng.integers(0, len(members), size=(n, len(members)))
        for i, c in enumerate(members):
            counts[c] = (draws == i).sum(1)
    return np.stack([counts[g] for g in groups], 1)


def test_case_bootstrap_resamples_cases_within_their_class_at_the_asked_confidence():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 0, 1, 1, 0, 1, 0], 3)             # 8 cases of 3 slides each
    groups = np.repeat(list("abcdefgh"), 3)
    p1 = np.clip(y * 0.3 + rng.random(len(y)) * 0.7, 0, 1).round(1)   # with ties
    probs = np.stack([1 - p1, p1], 1)
    res = case_bootstrap(y, probs, groups, n_resamples=400, seed=3, confidence=0.9)
    # by hand: the same draws, sklearn's metrics with the case counts as weights, and the
    # 20th smallest and largest of 400 (k = ⌈0.1 · 400 / 2⌉)
    w = _weights_by_hand(y, groups, 400, 3)
    aucs = np.sort([roc_auc_score(y, p1, sample_weight=v) for v in w])
    baccs = np.sort([balanced_accuracy_score(y, probs.argmax(1), sample_weight=v) for v in w])
    assert res["auc"] == pytest.approx(roc_auc_score(y, p1))
    assert res["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, probs.argmax(1)))
    np.testing.assert_allclose(res["auc_ci"], [aucs[19], aucs[380]])
    np.testing.assert_allclose(res["balanced_accuracy_ci"], [baccs[19], baccs[380]])
    assert res["auc_resamples"] == res["n_resamples"] == 400 and res["n_cases"] == 8
    assert res["n_slides"] == 24 and res["confidence"] == 0.9
    # one case per class: resampled within its class, each case is always drawn, so the
    # interval is the point (unstratified, half the resamples would hold one class)
    y2, g2 = np.array([0] * 10 + [1] * 10), np.array(["a"] * 10 + ["b"] * 10)
    pr = np.stack([1 - y2 * 0.8, y2 * 0.8], 1).astype(float)
    one = case_bootstrap(y2, pr, g2, n_resamples=400)
    assert one["auc_ci"] == [one["auc"], one["auc"]] and one["auc_resamples"] == 400
    # held-out slides of one class: no AUC, balanced accuracy still has its interval
    only = case_bootstrap(np.zeros(6, int), np.full((6, 2), 0.5), list("aabbcc"), 200)
    assert np.isnan(only["auc"]) and np.isnan(only["auc_ci"]).all()
    assert only["auc_resamples"] == 0 and only["balanced_accuracy"] == 1.0


def test_case_bootstrap_of_three_classes_is_the_macro_one_vs_rest_auc():
    rng = np.random.default_rng(2)
    y = np.tile([0, 1, 2], 8)
    p = rng.dirichlet(np.ones(3), len(y)) + np.eye(3)[y] * 0.5
    p /= p.sum(1, keepdims=True)
    res = case_bootstrap(y, p, np.arange(len(y)).astype(str), n_resamples=200)
    assert res["auc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert res["auc_ci"][0] <= res["auc"] <= res["auc_ci"][1]


def _slide_features(path: Path, coords: np.ndarray, dim: int = 16, size0: int | None = 256):
    with h5py.File(path, "w") as f:
        f["features"] = np.random.default_rng(0).normal(size=(len(coords), dim)).astype(np.float32)
        f["coords"] = coords
        if size0:
            f["coords"].attrs["patch_size_level0"] = size0
    return path


def test_heatmap_draws_the_models_mean_attention_and_refuses_bad_input(trained, tmp_path, capsys):
    from conftest import REAL_SVS
    from milhelpers.models.base import slide_attention

    grid = np.stack(np.meshgrid(np.arange(0, 2000, 256), np.arange(0, 2700, 256)), -1)
    coords = grid.reshape(-1, 2).astype(np.int64)[:40]
    h5 = _slide_features(tmp_path / "region.h5", coords)
    png = tmp_path / "region.png"
    code, out, err = cli(capsys, "heatmap", "--run", trained, "--slide", REAL_SVS, "--features",
                         h5, "--out", png)
    assert code == 0, err
    # the printed share of the top patch is that of the mean of the saved models' attention
    with h5py.File(h5) as f:
        x = torch.from_numpy(f["features"][:])
    with torch.no_grad():
        att = np.mean([slide_attention(m(x).attention)[0].numpy()
                       for _, m in _fold_models(trained)], 0)
    assert abs(att.sum() - 1) < 1e-5
    assert f"40 patches; P(normal) = " in out and f"the top patch holds {att.max():.1%}" in out
    from PIL import Image
    with Image.open(png) as im:
        assert im.size[0] >= 800
    before = png.read_bytes()
    cases = [
        (["--slide", REAL_SVS, "--features", h5, "--out", png], f"{png} exists; pass --overwrite"),
        (["--slide", tmp_path / "no.svs", "--features", h5, "--out", tmp_path / "a.png"],
         "no.svs: no such file"),
        (["--slide", REAL_SVS, "--features", _slide_features(tmp_path / "far.h5", coords + 5000),
          "--out", tmp_path / "b.png"], "beyond the slide's 2220 × 2967: are these the features "
                                        "of another slide than cmu_small_region.svs?"),
        (["--slide", REAL_SVS, "--features", _slide_features(tmp_path / "w.h5", coords, dim=8),
          "--out", tmp_path / "c.png"], "features are 8-d, but the models"),
    ]
    for args, message in cases:
        code, _, err = cli(capsys, "heatmap", "--run", trained, *args)
        assert code == 2 and message in err and "Traceback" not in err, (message, err)
    assert png.read_bytes() == before
    assert not any((tmp_path / n).exists() for n in ("a.png", "b.png", "c.png"))


def test_a_two_stage_method_is_rebuilt_for_prediction(cohort, tmp_path, capsys):
    """MHIM's model holds its teacher (trained from gated ABMIL): rebuilt from the saved weights
    alone, without training the first stage again; the first stage's runs stay cached."""
    run = tmp_path / "mhim"
    code, out, err = cli(capsys, "train", "--method", "mhim", "--features", cohort["feats"],
                         "--labels", cohort["labels"], "--out", run, "--folds", "2", "--epochs",
                         "1", "--label-map", LABEL_MAP, "--quiet")
    assert code == 0, err
    assert len(list((run / "runs" / "abmil_gated").glob("*.pt"))) == 2
    code, out, err = cli(capsys, "predict", "--run", run, "--features", cohort["held_feats"],
                         "--out", tmp_path / "p.csv")
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 12 and np.allclose(pred.prob_normal + pred.prob_tumor, 1)
