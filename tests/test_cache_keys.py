"""Every field of every cache key and staleness check: change it and the key changes (the run is
trained again, the file is found stale); leave everything alone and nothing recomputes.

Covered: the experiment runner's run key (:func:`milhelpers.experiments.run_key`) and data
fingerprint (:func:`~milhelpers.experiments.data_fingerprint`), the coordinates files' recorded
tiling settings (:func:`milhelpers.tiling.stale_coords_reason`), the features files' encoder and
coordinates (:func:`milhelpers.features.stale_features_reason`), and the synthetic cohort's
config (:func:`milhelpers.synth.build_cohort`). Where a key is built from a dataclass, the test
lists every field and fails when a new field has no "change it" case here.
"""
from __future__ import annotations

import dataclasses
import json
import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from milhelpers import experiments as ex
from milhelpers import synth, tiling
from milhelpers.datasets import Bag, BagDataset, ListBagDataset
from milhelpers.features import ExtractionJob, StaleFeaturesError, extract_features, \
    stale_features_reason
from milhelpers.h5io import write_coords, write_features
from milhelpers.methods import get_method
from milhelpers.train import TrainConfig

# ------------------------------------------------------------------------------------ run key
BASE_METHOD = get_method("abmil_gated").with_options(name="abmil_small", embed_dim=16)
BASE_ARGS = dict(method=BASE_METHOD, config=TrainConfig(seed=3, monitor="val_loss"), fingerprint="f" * 64, seed=0,
                 fold=1, test_ids=["s1", "s2"], val_fraction=0.2)


def _key(**changes):
    args = {**BASE_ARGS, **changes}
    return ex.run_key(args["method"], args["config"], args["fingerprint"], args["seed"],
                      args["fold"], args["test_ids"], args["val_fraction"])


#: One changed value per TrainConfig field (all valid); progress alone must not count.
CONFIG_CHANGES = {"epochs": 21, "lr": 3e-4, "weight_decay": 1e-4, "optimizer": "adamw",
                  "schedule": "constant", "batch_size": 2, "patience": 3, "min_epochs": 2,
                  "monitor": "val_auc", "grad_clip": 1.0, "seed": 4, "device": "cpu"}


def test_every_train_config_field_has_a_change_case():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields - {"progress"} == set(CONFIG_CHANGES), (
        "a TrainConfig field without a case in CONFIG_CHANGES: does it change a run's result?")


@pytest.mark.parametrize("field, value", sorted(CONFIG_CHANGES.items()))
def test_each_train_config_field_changes_the_run_key(field, value):
    cfg = dataclasses.replace(BASE_ARGS["config"], **{field: value})
    assert _key(config=cfg) != _key()


@pytest.mark.parametrize("change", [
    dict(method=BASE_METHOD.with_options(name="abmil_other")),                 # name
    dict(method=BASE_METHOD.with_options(embed_dim=24)),                       # model options
    dict(method=dataclasses.replace(BASE_METHOD, config={"monitor": "val_auc"})),  # defaults
    dict(fingerprint="e" * 64),
    dict(seed=1),
    dict(fold=2),
    dict(test_ids=["s1", "s3"]),
    dict(test_ids=["s1"]),
    dict(val_fraction=0.25),
], ids=["method_name", "model_kwargs", "method_config", "data", "seed", "fold", "test_slides",
        "test_count", "val_fraction"])
def test_each_run_key_argument_changes_the_key(change):
    assert _key(**change) != _key()


@pytest.mark.parametrize("constant, value", [("RUNNER_VERSION", 99), ("__version__", "0.0.0-x"),
                                             ("LOC_THRESHOLD", 0.5)])
def test_runner_version_package_version_and_loc_threshold_change_the_key(monkeypatch, constant,
                                                                         value):
    before = _key()
    monkeypatch.setattr(ex, constant, value)
    assert _key() != before


#: Keys the runner gave before it moved to Dask (commit 3051399), for the runs below with each
#: method's code fingerprint and the package version held fixed. A benchmark's cache is filled
#: with keys made this way: if this test fails, every cached run of every user is trained again.
#: Change the pins only with a deliberate change of what decides a run (and RUNNER_VERSION).
PINNED_DATA = "76d73a1f2d0e710a4bdef62a0deebb09c83390e10a84332b3e1e4add2c06de25"
PINNED_KEYS = {(0, 0): "5e7f8c11e717f9d0a4f1cd8e48ad1749732f2420e54dd8afef6ac79ede0bae1b",
               (0, 1): "57dcdb68095a98261c443608bf911cb3c2b005abd4caefd7fb2932787b294896",
               (0, 2): "add6bb5b1e9cb12f8ade339bd07208c489ae58f868fff812ab484e899e4b4f73",
               (1, 0): "0a1fc9ff6d481b42ebd84a6aad0d1ea5c200e6b94a9d1b28e15b112ba1e4c19a",
               (1, 1): "c8aac563a37cbea8643266fc7887dc9eaa76077305e6a855a8e1314bdb1b9c52",
               (1, 2): "2f7f10ca77574a0c1ff038d8d8666cfb28657a196077f76e3277956ebf14235c"}


def test_the_run_keys_of_the_runner_are_pinned(tmp_path, monkeypatch):
    from bags import planted_bags
    from milhelpers.methods import Method

    monkeypatch.setattr(Method, "code_fingerprint", lambda self: f"code-of-{self.name}")
    monkeypatch.setattr(ex, "__version__", "0.0-pinned")
    ds = planted_bags(24, 8, 0, lengths=(10, 30), permute=False, with_instances=True,
                      id_width=2)
    assert ex.data_fingerprint(ds) == PINNED_DATA
    method = get_method("abmil_gated").with_options(name="abmil_pin", embed_dim=16, attn_dim=8)
    res = ex.run_experiments(ds, [method], [0, 1], 3, epochs=1, cache_dir=tmp_path,
                             progress=False)
    assert {(r.seed, r.fold): r.key for r in res.runs.itertuples()} == PINNED_KEYS


def test_an_identical_request_gives_the_identical_key_and_progress_does_not_count():
    assert _key() == _key(method=get_method("abmil_gated").with_options(name="abmil_small",
                                                                         embed_dim=16),
                          config=TrainConfig(seed=3, monitor="val_loss"), test_ids=("s1", "s2"))
    assert _key(config=TrainConfig(seed=3, monitor="val_loss", progress=False)) == _key()


# -------------------------------------------------------------------------- data fingerprint
def _list_ds(**changes):
    g = torch.Generator().manual_seed(0)
    bags = [Bag(torch.randn(5, 3, generator=g), i % 2, f"s{i}", instance_labels=np.full(5, 0.1 * i),
                case_id=f"c{i // 2}") for i in range(4)]
    if "feature" in changes:
        bags[2].features[1, 0] += 1e-3
    if "instance_label" in changes:
        bags[3].instance_labels = bags[3].instance_labels.copy()
        bags[3].instance_labels[0] += 0.01
    if "label" in changes:
        bags[1] = dataclasses.replace(bags[1], label=0)
    if "case" in changes:
        bags[1] = dataclasses.replace(bags[1], case_id="c9")
    if "slide_id" in changes:
        bags[0] = dataclasses.replace(bags[0], slide_id="s9")
    if "order" in changes:
        bags = bags[::-1]
    return ListBagDataset(bags)


@pytest.mark.parametrize("change", ["feature", "instance_label", "label", "case", "slide_id",
                                    "order"])
def test_each_in_memory_field_changes_the_fingerprint(change):
    assert ex.data_fingerprint(_list_ds(**{change: True})) != ex.data_fingerprint(_list_ds())


def test_the_same_bags_give_the_same_fingerprint():
    assert ex.data_fingerprint(_list_ds()) == ex.data_fingerprint(_list_ds())


@pytest.fixture
def feature_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "features"
    for i in range(4):
        write_features(folder / f"s{i}.h5", rng.normal(size=(6, 3)),
                       np.arange(12).reshape(6, 2) * 10, coords_attrs={"patch_size_level0": 10})
    pd.DataFrame({"slide_id": [f"s{i}" for i in range(4)], "label": [0, 1, 0, 1],
                  "case_id": ["c0", "c0", "c1", "c2"]}).to_csv(tmp_path / "labels.csv",
                                                               index=False)
    return folder, tmp_path / "labels.csv"


def _bag_ds(folder, labels, **kw):
    return BagDataset(folder, labels, **kw)


@pytest.mark.parametrize("in_memory", [True, False])
def test_a_rewritten_features_file_changes_the_fingerprint(feature_folder, in_memory):
    folder, labels = feature_folder
    before = ex.data_fingerprint(_bag_ds(folder, labels, in_memory=in_memory))
    assert ex.data_fingerprint(_bag_ds(folder, labels, in_memory=in_memory)) == before
    st = (folder / "s2.h5").stat()
    os.utime(folder / "s2.h5", ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))   # touched
    touched = ex.data_fingerprint(_bag_ds(folder, labels, in_memory=in_memory))
    assert touched != before
    mtime = (folder / "s1.h5").stat().st_mtime_ns
    write_features(folder / "s1.h5", np.zeros((6, 3)), np.arange(12).reshape(6, 2) * 10,
                   coords_attrs={"patch_size_level0": 10}, note="a longer attribute " * 20)
    os.utime(folder / "s1.h5", ns=(mtime, mtime))           # same time, other size
    assert ex.data_fingerprint(_bag_ds(folder, labels, in_memory=in_memory)) not in (before,
                                                                                     touched)


@pytest.mark.parametrize("column, value", [("label", [1, 1, 0, 0]),
                                           ("case_id", ["c0", "c1", "c1", "c2"])])
def test_labels_and_cases_of_a_features_folder_change_the_fingerprint(feature_folder, column,
                                                                       value):
    folder, labels = feature_folder
    before = ex.data_fingerprint(_bag_ds(folder, labels))
    table = pd.read_csv(labels, dtype={"slide_id": str, "case_id": str})
    table[column] = value
    table.to_csv(labels, index=False)
    assert ex.data_fingerprint(_bag_ds(folder, labels)) != before


def test_instance_labels_of_a_features_folder_change_the_fingerprint(feature_folder):
    folder, labels = feature_folder
    fp = [ex.data_fingerprint(_bag_ds(folder, labels, in_memory=True,
                                      instance_labels=lambda sid, c, s, v=v: np.full(len(c), v)))
          for v in (0.1, 0.2)]
    assert fp[0] != fp[1]


# ------------------------------------------------------------------------- coordinates files
SEG = tiling.PRESETS["biopsy"]
REQUEST = dict(tiling.tiling_settings(0.5, 256, 0, 0.25, SEG), level0_mpp=0.25)


@pytest.fixture
def coords_file(tmp_path):
    return write_coords(tmp_path / "s.h5", np.array([[0, 0], [512, 0]]), patch_size_level0=512,
                        **REQUEST)


def _request(target_mpp=0.5, patch_size=256, overlap=0, min_tissue=0.25, params=SEG,
             level0_mpp=0.25):
    return dict(tiling.tiling_settings(target_mpp, patch_size, overlap, min_tissue, params),
                level0_mpp=level0_mpp)


@pytest.mark.parametrize("change, named", [
    (dict(target_mpp=1.0), "target_mpp"), (dict(target_mpp=0.501), "target_mpp"),
    (dict(patch_size=224), "patch_size"), (dict(overlap=32), "overlap"),
    (dict(min_tissue=0.5), "min_tissue"), (dict(level0_mpp=0.2501), "level0_mpp"),
    (dict(params=tiling.PRESETS["tcga"]), "segmentation"),
])
def test_each_tiling_setting_makes_the_coordinates_stale(coords_file, change, named):
    reason = tiling.stale_coords_reason(coords_file, _request(**change))
    assert reason is not None and named in reason and "--overwrite" in reason


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(tiling.SegmentationParams)])
def test_each_segmentation_knob_makes_the_coordinates_stale(coords_file, field):
    value = getattr(SEG, field)
    other = (not value if isinstance(value, bool) else value + 2 if isinstance(value, int)
             else value * 1.5)
    reason = tiling.stale_coords_reason(coords_file, _request(params=SEG.replace(**{field: other})))
    assert reason is not None and "segmentation" in reason


def test_same_settings_are_not_stale_and_a_float_rounding_is_not_a_change(coords_file):
    assert tiling.stale_coords_reason(coords_file, _request()) is None
    assert tiling.stale_coords_reason(coords_file, _request(target_mpp=0.5 * (1 + 1e-9),
                                                            level0_mpp=0.25 * (1 - 1e-9))) is None


def test_the_same_knobs_as_int_or_float_are_the_same_segmentation(coords_file):
    """The biopsy preset says a_t = 1 (an int); the same value read from a command line or a
    YAML file is 1.0. It is the same segmentation, so the rerun keeps the file."""
    as_float = SEG.replace(a_t=float(SEG.a_t), a_h=float(SEG.a_h), seg_mpp=float(SEG.seg_mpp))
    assert tiling.stale_coords_reason(coords_file, _request(params=as_float)) is None
    assert tiling.stale_coords_reason(coords_file, _request(params=SEG.replace(a_t=1.5)))


@pytest.mark.parametrize("missing", sorted(REQUEST))
def test_a_setting_the_file_does_not_record_is_a_difference(tmp_path, missing):
    attrs = {k: v for k, v in REQUEST.items() if k != missing}
    path = write_coords(tmp_path / "old.h5", np.array([[0, 0]]), patch_size_level0=512, **attrs)
    reason = tiling.stale_coords_reason(path, _request())
    assert reason is not None and missing in reason and "not recorded" in reason


def test_every_tiling_knob_is_recorded():
    assert set(tiling.tiling_settings(0.5, 256, 0, 0.25, SEG)) == {
        "patch_size", "target_mpp", "overlap", "min_tissue", "segmentation"}


# ---------------------------------------------------------------------------- features files
def _encoder(name: str, input_size: int) -> SimpleNamespace:
    """What extract_features reads of an Encoder: its name, input size and where its weights are."""
    return SimpleNamespace(name=name, input_size=input_size, model=torch.nn.Linear(1, 1))


ENC = _encoder("efficientnet_lite0", 112)
COORDS = np.array([[0, 0], [112, 0], [0, 112]])
CATTRS = dict(patch_size_level0=224, patch_size=112, target_mpp=1.0, level0_mpp=0.5)


@pytest.fixture
def features_job(tmp_path):
    coords_path = write_coords(tmp_path / "patches" / "s.h5", COORDS, **CATTRS)
    out = write_features(tmp_path / "features" / "s.h5", np.zeros((3, 4)), COORDS,
                         coords_attrs=CATTRS, encoder=ENC.name, input_size=ENC.input_size)
    return ExtractionJob(tmp_path / "s.tiff", coords_path, out)


def _retile(job, coords=COORDS, **attrs):
    write_coords(job.coords_path, coords, **{**CATTRS, **attrs})


@pytest.mark.parametrize("change, named", [
    (lambda job: _encoder("resnet50_trunc", 112), "encoder"),
    (lambda job: _encoder("efficientnet_lite0", 224), "input_size"),
    (lambda job: _retile(job, COORDS + [[0, 0], [0, 0], [0, 1]]), "coordinates"),   # one moved
    (lambda job: _retile(job, COORDS[:2]), "coordinates"),                          # one fewer
    (lambda job: _retile(job, COORDS[[1, 0, 2]]), "coordinates"),                   # reordered
    (lambda job: _retile(job, patch_size_level0=448), "patch_size_level0"),
    (lambda job: _retile(job, patch_size=224), "patch_size"),
    (lambda job: _retile(job, target_mpp=0.5), "target_mpp"),
], ids=["encoder", "input_size", "moved", "fewer", "reordered", "size0", "patch_size",
        "target_mpp"])
def test_each_encoder_and_coordinates_field_makes_the_features_stale(features_job, change, named):
    enc = change(features_job) or ENC
    reason = stale_features_reason(features_job, enc)
    assert reason is not None and named in reason
    with pytest.raises(StaleFeaturesError, match=named):
        extract_features([features_job], enc, progress=False)


def test_matching_features_are_kept_and_an_unrecorded_encoder_is_not_trusted(features_job):
    assert stale_features_reason(features_job, ENC) is None
    report = extract_features([features_job], ENC, progress=False)
    assert report.skipped == [features_job.out_path] and not report.written
    write_features(features_job.out_path, np.zeros((3, 4)), COORDS, coords_attrs=CATTRS,
                   input_size=ENC.input_size)                       # no encoder recorded
    reason = stale_features_reason(features_job, ENC)
    assert reason is not None and "encoder" in reason and "not recorded" in reason


# --------------------------------------------------------------------------- synthetic cohort
COHORT_CHANGES = {"n_slides": 121, "seed": 1, "mpp": 0.25, "min_side_mm": 0.8,
                  "max_side_mm": 3.0, "size_skew": 1.7, "positive_fraction": 0.4,
                  "morphology_weights": (0.5, 0.35, 0.15), "mixed_probability": 0.2,
                  "burden_weights": (0.5, 0.25, 0.25), "mimic_probability": 0.6,
                  "second_slide_probability": 0.3, "pen_probability": 0.2,
                  "dust_probability": 0.4, "mask_downsample": 4,
                  "render_mpp": 2.0, "patch_um": 100.0, "jpeg_quality": 80}


def test_every_cohort_config_field_has_a_change_case():
    assert {f.name for f in dataclasses.fields(synth.CohortConfig)} == set(COHORT_CHANGES)


@pytest.fixture
def built_cohort(tmp_path):
    """A cohort folder as build_cohort leaves it (its config and labels), without the slides."""
    cfg = synth.CohortConfig()
    (tmp_path / "cohort.json").write_text(json.dumps(synth._config_dict(cfg)))
    pd.DataFrame({"slide_id": ["a"], "label": [0]}).to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path


@pytest.mark.parametrize("field, value", sorted(COHORT_CHANGES.items()))
def test_each_cohort_config_field_refuses_the_existing_cohort(built_cohort, field, value):
    cfg = dataclasses.replace(synth.CohortConfig(), **{field: value})
    with pytest.raises(FileExistsError, match="another config"):
        synth.build_cohort(built_cohort, cfg, workers=1, progress=False)


def test_the_same_cohort_config_reuses_the_cohort(built_cohort):
    cohort = synth.build_cohort(built_cohort, synth.CohortConfig(), workers=1, progress=False)
    assert cohort.labels.slide_id.tolist() == ["a"]
    assert not (built_cohort / "slides").exists()           # nothing was rendered


def test_a_rerun_at_another_level0_resolution_is_refused(tmp_path):
    """tile_slide records the slide's level-0 mpp beside the settings: the same request on a slide
    whose resolution is now read otherwise (``--mpp … --force-mpp``) finds the grid stale."""
    from conftest import REAL_SVS

    first = tiling.tile_slide(REAL_SVS, tmp_path, patch_size=256, qc=False)
    assert tiling.tile_slide(REAL_SVS, tmp_path, patch_size=256, qc=False).skipped
    with pytest.raises(tiling.StaleOutputError, match="level0_mpp"):
        tiling.tile_slide(REAL_SVS, tmp_path, patch_size=256, qc=False,
                          mpp=first.mpp * 1.25, force_mpp=True)
