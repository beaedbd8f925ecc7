import cv2
import numpy as np
import pandas as pd
import pytest

from milhelpers import synth
from milhelpers.h5io import write_features
from milhelpers.instances import cohort_patch_table, patch_table
from milhelpers.tiling import PRESETS, TissueMask


def _features(path, coords, size0=100, dim=3):
    x = np.arange(len(coords) * dim, dtype=np.float32).reshape(len(coords), dim)
    attrs = {"patch_size_level0": size0} if size0 else {}
    write_features(path, x, np.array(coords), coords_attrs=attrs)
    return x


def test_patch_table_measures_each_patch_against_the_masks(tmp_path):
    # level-0 200×200 px; masks at 1/20: tumour on the left half, tissue on the top half
    x = _features(tmp_path / "s1.h5", [[0, 0], [100, 0], [60, 100]])
    tumour = np.zeros((10, 10), bool)
    tumour[:, :5] = True
    tissue = np.zeros((10, 10), np.uint8)
    tissue[:5] = 1
    t = patch_table(tmp_path / "s1.h5", tumour_mask=(tumour, (20.0, 20.0)),
                    tissue=TissueMask(tissue, (20.0, 20.0)))
    assert t.slide_id == "s1" and t.patch_size0 == 100 and np.array_equal(t.features, x)
    # third patch: mask columns 3..7, of which 3 and 4 are tumour -> 2/5; it lies in rows 5..9
    assert t.tumour_fraction.tolist() == [1.0, 0.0, 0.4]
    assert t.tissue_fraction.tolist() == [1.0, 1.0, 0.0]
    df = t.frame()
    assert df.x.tolist() == [0, 100, 60] and df.y.tolist() == [0, 0, 100]
    assert df.tumour_fraction.tolist() == [1.0, 0.0, 0.4]
    assert patch_table(tmp_path / "s1.h5").frame().tumour_fraction.isna().all()


def test_patch_table_refuses_a_file_without_patch_size(tmp_path):
    _features(tmp_path / "bare.h5", [[0, 0]], size0=None)
    with pytest.raises(ValueError, match="bare.h5.*patch_size_level0"):
        patch_table(tmp_path / "bare.h5")


def test_cohort_patch_table_reads_the_cohort_layout(tmp_path):
    # a cohort folder as synth writes it: slides/<id>.tiff, masks/<id>.png at 1/8, labels.csv
    img = np.full((512, 768, 3), 242, np.uint8)
    img[:, 384:] = (225, 140, 185)  # tissue on the right half
    for y, x in np.random.default_rng(0).integers([0, 384], [512, 768], size=(300, 2)):
        img[y:y + 4, x:x + 4] = (80, 45, 130)
    (tmp_path / "slides").mkdir()
    (tmp_path / "masks").mkdir()
    synth.write_pyramidal_tiff(tmp_path / "slides" / "a.tiff", img, 0.5)
    mask = np.zeros((64, 96), np.uint8)
    mask[:32, 48:] = 255  # tumour: top of the tissue
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), mask)
    pd.DataFrame({"slide_id": ["a"], "label": [1], "width": [768], "height": [512]}).to_csv(
        tmp_path / "labels.csv", index=False)
    _features(tmp_path / "feats" / "a.h5", [[0, 0], [512, 0], [512, 384]], size0=128)
    X, table = cohort_patch_table(tmp_path, tmp_path / "feats", ["a"], PRESETS["biopsy"])
    assert X.shape == (3, 3) and table.slide_id.tolist() == ["a"] * 3
    assert table.tumour_fraction.tolist() == [0.0, 1.0, 0.0]
    assert table.tissue_fraction.tolist() == pytest.approx([0.0, 1.0, 1.0], abs=0.05)
