import numpy as np
import pandas as pd
import pytest

from milhelpers import synth
from milhelpers.slides import Slide


def test_plan_is_deterministic_balanced_and_varied():
    cfg = synth.CohortConfig()
    a, b = synth.plan_cohort(cfg), synth.plan_cohort(cfg)
    assert a == b
    labels = [s.label for s in a]
    assert sum(labels) == 60 and len(labels) == 120
    morph = {s.morphology for s in a if s.label}
    assert morph == {"solid", "glandular"}
    assert {s.burden for s in a if s.label} == {"micro", "small", "large"}
    areas = [s.width * s.height for s in a]
    assert max(areas) / min(areas) > 10
    assert synth.plan_cohort(synth.CohortConfig(seed=1)) != a


def test_render_is_deterministic_and_has_tumour_where_the_mask_says(synthetic_slide):
    path, spec, tissue, tumour, rgb = synthetic_slide
    rgb2, _, tumour2 = synth.render_slide(spec, synth.CohortConfig(n_slides=10, seed=3))
    assert np.array_equal(rgb, rgb2) and np.array_equal(tumour, tumour2)
    assert tumour.any() and not (tumour & ~tissue).any()
    g = 8
    big = np.repeat(np.repeat(tumour, g, 0), g, 1)[: rgb.shape[0], : rgb.shape[1]]
    tis = np.repeat(np.repeat(tissue, g, 0), g, 1)[: rgb.shape[0], : rgb.shape[1]]
    dark = rgb.sum(-1) < 350  # haematoxylin-dense pixels
    assert dark[big].mean() > 2 * dark[tis & ~big].mean()  # tumour: crowded dark nuclei


def test_pyramidal_tiff_opens_with_levels_and_mpp(synthetic_slide):
    with Slide(synthetic_slide[0]) as s:
        assert s.level_count >= 3
        assert s.mpp == pytest.approx(0.5)
        assert s.properties["openslide.vendor"] == "generic-tiff"


def test_small_cohort_on_disk(tmp_path):
    cfg = synth.CohortConfig(n_slides=10, seed=5, min_side_mm=0.5, max_side_mm=0.7, n_folds=2)
    c = synth.build_cohort(tmp_path, cfg, workers=1, progress=False)
    df = pd.read_csv(tmp_path / "labels.csv")
    assert list(df.columns[:5]) == ["slide_id", "label", "tumour_fraction", "morphology", "burden"]
    assert len(df) == 10 and set(df.fold) == {0, 1}
    per_fold = df.groupby("fold").label.sum()
    assert per_fold.max() - per_fold.min() <= 1  # stratified
    assert (df.tumour_fraction[df.label == 0] == 0).all() and (df.tumour_fraction[df.label == 1] > 0).all()
    m, ds = c.tumour_mask(df.slide_id[df.label == 1].iloc[0])
    assert m.any() and ds[0] == pytest.approx(8, rel=0.05)
    # an interrupted build resumes: labels are recomputed without re-rendering existing slides
    (tmp_path / "labels.csv").unlink()
    mtime = (tmp_path / "slides" / "synth_000.tiff").stat().st_mtime_ns
    c2 = synth.build_cohort(tmp_path, cfg, workers=1, progress=False)
    assert c2.labels.equals(df) and (tmp_path / "slides" / "synth_000.tiff").stat().st_mtime_ns == mtime
    # idempotent, and a different config in the same folder is refused
    assert synth.build_cohort(tmp_path, cfg, workers=1, progress=False).labels.equals(df)
    with pytest.raises(FileExistsError):
        synth.build_cohort(tmp_path, synth.CohortConfig(n_slides=12, seed=5, n_folds=2), progress=False)
