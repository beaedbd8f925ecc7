import json
from collections import Counter

import cv2
import numpy as np
import pandas as pd
import pytest
import tifffile

from milhelpers import synth
from milhelpers.slides import Slide
from milhelpers.tiling import box_fraction


def test_plan_is_deterministic_balanced_and_varied():
    cfg = synth.CohortConfig()
    a, b = synth.plan_cohort(cfg), synth.plan_cohort(cfg)
    assert a == b and synth.plan_cohort(synth.CohortConfig(seed=1)) != a
    pos = [s for s in a if s.label]
    assert len(pos) == 60 and len(a) == 120
    morph = Counter(s.morphology for s in pos)
    assert set(morph) == set(synth.MORPHOLOGIES)
    assert morph["discohesive"] <= 0.2 * len(pos)                  # the rare pattern stays rare
    assert any(len(s.tumour_morphologies) == 2 for s in pos)        # some mixed tumours
    assert all("discohesive" not in s.tumour_morphologies[1:] for s in pos)
    # mimics do not give the label away: as common in negatives as in positives
    for m in synth.MIMICS:
        share = [np.mean([m in s.mimics for s in a if s.label == y]) for y in (0, 1)]
        assert min(share) > 0.4 and abs(share[0] - share[1]) < 0.25
    cases = Counter(s.case_id for s in a)
    assert max(cases.values()) == 2 and 60 < len(cases) < 120
    assert all(len({s.stain_seed for s in a if s.case_id == c}) == 1 for c in cases)
    areas = [s.width * s.height for s in a]
    assert max(areas) / min(areas) > 10  # canvas; tissue patches spread more (benchmarks/cohort.py)
    assert np.median(areas) < np.mean(areas)                         # skewed: most slides small


def test_regions_follow_the_plan_and_burden_is_skewed_to_small():
    cfg = synth.CohortConfig()
    cell = round(cfg.patch_um / (cfg.mpp * cfg.mask_downsample))
    counts = []
    for s in synth.plan_cohort(cfg)[:40]:
        reg = synth.slide_regions(s, cfg)
        assert np.array_equal(reg, synth.slide_regions(s, cfg))
        assert reg.shape == (-(-s.height // 8), -(-s.width // 8))
        present = {synth.REGIONS[c] for c in np.unique(reg)}
        if not s.label:
            assert not present & set(synth.MORPHOLOGIES)
            continue
        assert set(s.tumour_morphologies) & present
        fr = synth._grid_fraction(reg >= 4, cell)
        counts.append(int((fr >= 0.25).sum()))
    assert min(counts) >= 1                      # every positive slide has a tumour patch
    assert np.mean(np.array(counts) <= 5) >= 0.4  # burden skewed to small
    assert max(counts) > 30


@pytest.fixture(scope="module")
def mixed_slide():
    """A positive slide with solid tumour and both mimics."""
    cfg = synth.CohortConfig()
    spec = synth.SlideSpec("mixed", 1, "solid", "small", 2400, 2000, seed=5, pen=False, dust=False,
                           morphologies=("solid", "glandular"), mimics=synth.MIMICS)
    rgb, tissue, tumour = synth.render_slide(spec, cfg)
    return spec, cfg, rgb, synth.slide_regions(spec, cfg)


def _haematoxylin(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel haematoxylin density by unmixing optical density with the generator's stains."""
    od = -np.log((rgb.astype(np.float32) + 1) / 244)
    return (od.reshape(-1, 3) @ np.linalg.pinv(np.stack([synth.H_OD, synth.E_OD], 1)).T
            )[:, 0].reshape(rgb.shape[:2])


def _inside(reg, code, shape):
    m = np.repeat(np.repeat(reg == code, 8, 0), 8, 1)[: shape[0], : shape[1]]
    return cv2.erode(m.astype(np.uint8), np.ones((15, 15))) > 0  # away from the border


def test_solid_tumour_is_nuclei_dense_but_not_the_darkest_tissue(mixed_slide):
    spec, cfg, rgb, reg = mixed_slide
    assert {2, 3, 4} <= set(np.unique(reg))
    solid, lymph, stroma = (_inside(reg, c, rgb.shape) for c in (synth.TUMOUR_CODE["solid"],
                                                                  synth.MIMIC_CODE["lymphoid_aggregate"], 1))
    assert solid.sum() > 5000 and lymph.sum() > 5000
    h = _haematoxylin(rgb)
    # both are nuclei-dense, unlike stroma ...
    assert min(h[solid].mean(), h[lymph].mean()) > 1.5 * h[stroma].mean()
    # ... but the mimic's small nuclei are *more* hyperchromatic: "darkest patch" is no detector
    assert np.percentile(h[lymph], 90) > np.percentile(h[solid], 90) + 0.2


def test_render_is_deterministic_and_tumour_is_inside_tissue(synthetic_slide):
    path, spec, tissue, tumour, rgb = synthetic_slide
    rgb2, _, tumour2 = synth.render_slide(spec, synth.CohortConfig(n_slides=10, seed=3))
    assert np.array_equal(rgb, rgb2) and np.array_equal(tumour, tumour2)
    assert tumour.any() and not (tumour & ~tissue).any()
    g = 8
    big = np.repeat(np.repeat(tumour, g, 0), g, 1)[: rgb.shape[0], : rgb.shape[1]]
    tis = np.repeat(np.repeat(tissue, g, 0), g, 1)[: rgb.shape[0], : rgb.shape[1]]
    h = _haematoxylin(rgb)
    assert h[big].mean() > 2 * h[tis & ~big].mean()  # solid sheets: crowded nuclei vs stroma
    bg = rgb[~np.repeat(np.repeat(cv2.dilate(tissue.astype(np.uint8), np.ones((9, 9))), g, 0), g, 1)
             [: rgb.shape[0], : rgb.shape[1]].astype(bool)]
    assert np.median(bg, 0).min() > 225  # glass stays white (pen and dust are small)


def test_pyramidal_tiff_opens_with_levels_and_mpp(synthetic_slide):
    with Slide(synthetic_slide[0]) as s:
        assert s.level_count >= 3
        assert s.mpp == pytest.approx(0.5)
        assert s.properties["openslide.vendor"] == "generic-tiff"


def test_small_cohort_on_disk(tmp_path):
    cfg = synth.CohortConfig(n_slides=12, seed=5, min_side_mm=0.5, max_side_mm=0.7,
                             second_slide_probability=0.6)
    c = synth.build_cohort(tmp_path, cfg, workers=1, progress=False)
    df = pd.read_csv(tmp_path / "labels.csv", keep_default_na=False)
    assert list(df.columns[:5]) == ["slide_id", "label", "tumour_fraction", "morphology", "burden"]
    assert {"case_id", "morphologies", "mimics", "tumour_patches"} <= set(df.columns)
    # no fold column: the experiment runner draws a partition per repeat
    assert "fold" not in df and len(df) == 12 and df.case_id.nunique() < 12
    neg, pos = df[df.label == 0], df[df.label == 1]
    assert (neg.tumour_fraction == 0).all() and (neg.morphologies == "").all()
    assert (neg.burden == "none").all() and (neg.tumour_patches == 0).all()
    assert (pos.tumour_fraction > 0).all() and (pos.tumour_patches >= 1).all()
    assert all(b == synth.burden_class(n) for b, n in zip(pos.burden, pos.tumour_patches))
    # the recorded count is what the tiler's grid (112 µm from the origin) sees in the mask
    sid = pos.slide_id.iloc[0]
    m, ds = c.tumour_mask(sid)
    assert ds[0] == pytest.approx(8, rel=0.05)
    w, h = pos.set_index("slide_id").loc[sid, ["width", "height"]]
    xs, ys = np.arange(0, w - 224 + 1, 224), np.arange(0, h - 224 + 1, 224)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    assert (box_fraction(m, ds, grid, 224) >= 0.25).sum() == pos.tumour_patches.iloc[0]
    reg, _ = c.region_mask(sid)
    assert np.array_equal(reg >= 4, m)
    assert set(pos.morphologies.iloc[0].split(";")) == {synth.REGIONS[k] for k in np.unique(reg) if k >= 4}
    assert json.loads((tmp_path / "cohort.json").read_text())["seed"] == 5
    # an interrupted build resumes: labels are recomputed without re-rendering existing slides
    (tmp_path / "labels.csv").unlink()
    mtime = (tmp_path / "slides" / "synth_000.tiff").stat().st_mtime_ns
    c2 = synth.build_cohort(tmp_path, cfg, workers=1, progress=False)
    assert c2.labels.equals(df) and (tmp_path / "slides" / "synth_000.tiff").stat().st_mtime_ns == mtime
    # idempotent, and a different config in the same folder is refused
    assert synth.build_cohort(tmp_path, cfg, workers=1, progress=False).labels.equals(df)
    with pytest.raises(FileExistsError, match="another config"):
        synth.build_cohort(tmp_path, synth.CohortConfig(n_slides=12, seed=6), progress=False)


def test_cli_data_refuses_too_few_slides(tmp_path, capsys):
    from milhelpers.__main__ import main

    assert main(["data", "--root", str(tmp_path), "--n-slides", "3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--n-slides" in err and "at least 10" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_a_cohort_from_the_older_generator_loses_its_fold_column_and_nothing_else(tmp_path):
    """Cohorts built before the runner drew a partition per repeat carry ``fold`` in labels.csv
    and ``n_folds`` in cohort.json; rebuilding with the same settings keeps every slide and every
    other column (as written) and drops those two, without rendering anything."""
    cfg = synth.CohortConfig(n_slides=12, seed=5)
    old = {**synth._config_dict(cfg), "n_folds": 5}
    (tmp_path / "cohort.json").write_text(json.dumps(old))
    text = ("slide_id,label,tumour_fraction,case_id,mimics,pen_mark,fold\n"
            "001,0,0.0,case_007,,False,3\n"
            "002,1,0.12345678901234,case_007,benign_glands;lymphoid_aggregate,True,3\n")
    (tmp_path / "labels.csv").write_text(text)
    c = synth.build_cohort(tmp_path, cfg, workers=1, progress=False)
    assert (tmp_path / "labels.csv").read_text() == (
        "slide_id,label,tumour_fraction,case_id,mimics,pen_mark\n"
        "001,0,0.0,case_007,,False\n"
        "002,1,0.12345678901234,case_007,benign_glands;lymphoid_aggregate,True\n")
    assert "fold" not in c.labels and len(c.labels) == 2
    assert json.loads((tmp_path / "cohort.json").read_text()) == synth._config_dict(cfg)
    assert not (tmp_path / "slides").exists()           # nothing was rendered
    # an old cohort of *other* settings is still refused, and left as it was
    (tmp_path / "cohort.json").write_text(json.dumps({**old, "seed": 6}))
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(FileExistsError, match="another config"):
        synth.build_cohort(tmp_path, cfg, progress=False)
    assert (tmp_path / "labels.csv").read_text() == text


def test_a_cohort_rendered_by_dask_workers_equals_the_serial_one(tmp_path):
    cfg = synth.CohortConfig(n_slides=10, seed=2, min_side_mm=0.3, max_side_mm=0.4)
    one = synth.build_cohort(tmp_path / "one", cfg, workers=1, progress=False)
    two = synth.build_cohort(tmp_path / "two", cfg, workers=2, progress=False)
    assert two.labels.equals(one.labels)
    for sid in one.labels.slide_id:
        a = tifffile.imread(one.slide_path(sid))
        b = tifffile.imread(two.slide_path(sid))
        assert np.array_equal(a, b), sid
        assert np.array_equal(one.region_mask(sid)[0], two.region_mask(sid)[0])
