import numpy as np
import pandas as pd
import pytest
import torch

from milhelpers.datasets import (BagDataset, DataMismatchError, collate_bags, load_mil_table,
                                 stratified_folds, train_val_split)
from milhelpers.h5io import write_features


@pytest.fixture
def feat_dir(tmp_path):
    rng = np.random.default_rng(0)
    for i, n in enumerate([5, 9, 3, 7]):
        write_features(tmp_path / f"s{i}.h5", rng.normal(size=(n, 6)), np.arange(2 * n).reshape(n, 2) * 256,
                       coords_attrs={"patch_size_level0": 256}, encoder="x")
    labels = pd.DataFrame({"slide_id": [f"s{i}" for i in range(4)], "label": [0, 1, 0, 1]})
    return tmp_path, labels


def test_bag_dataset_reads_clam_layout(feat_dir):
    d, labels = feat_dir
    ds = BagDataset(d, labels)
    assert len(ds) == 4 and ds.dim == 6 and ds[1].features.shape == (9, 6) and ds[1].label == 1
    assert ds[1].coords.shape == (9, 2) and ds[1].patch_size0 == 256


def test_mismatches_name_the_slides(feat_dir):
    d, labels = feat_dir
    extra_row = pd.concat([labels, pd.DataFrame({"slide_id": ["ghost"], "label": [1]})])
    with pytest.raises(DataMismatchError, match="ghost"):
        BagDataset(d, extra_row)
    with pytest.raises(DataMismatchError, match="no row in the labels: s3"):
        BagDataset(d, labels.iloc[:3])
    with pytest.raises(DataMismatchError, match="slide_id,label"):
        BagDataset(d, labels.rename(columns={"label": "y"}))


def test_bad_features_are_reported(feat_dir):
    d, labels = feat_dir
    write_features(d / "s2.h5", np.ones((3, 8)), np.zeros((3, 2)))
    with pytest.raises(DataMismatchError, match="s2: features are 8-d"):
        BagDataset(d, labels)
    f = np.ones((3, 6))
    f[1, 2] = np.nan
    write_features(d / "s2.h5", f, np.zeros((3, 2)))
    with pytest.raises(DataMismatchError, match="s2: 1 patch"):
        BagDataset(d, labels)
    write_features(d / "s2.h5", np.ones((0, 6)), np.zeros((0, 2)))
    with pytest.raises(DataMismatchError, match="s2: empty bag"):
        BagDataset(d, labels)


def test_collate_pads_and_masks(feat_dir):
    d, labels = feat_dir
    ds = BagDataset(d, labels)
    b = collate_bags([ds[0], ds[1], ds[2]])
    assert b.features.shape == (3, 9, 6) and b.mask.sum(1).tolist() == [5, 9, 3]
    assert (b.features[2, 3:] == 0).all() and torch.equal(b.features[0, :5], ds[0].features)
    assert b.labels.tolist() == [0, 1, 0]


@pytest.mark.parametrize("name,n_bags,dim,n_pos", [("musk1", 92, 166, 47), ("musk2", 102, 166, 39),
                                                   ("elephant", 200, 230, 100), ("ucsb_breast", 58, 708, 26)])
def test_classic_mil_tables(name, n_bags, dim, n_pos):
    ds = load_mil_table(name)
    assert (len(ds), ds.dim, int(ds.labels.sum())) == (n_bags, dim, n_pos)
    assert all(len(b.features) >= 1 for b in ds.bags)


def test_splits_are_stratified_disjoint_and_seeded():
    y = np.array([0] * 30 + [1] * 20)
    folds = stratified_folds(y, 5, seed=0)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(50))
    assert all(y[te].sum() == 4 for _, te in folds)
    assert [te.tolist() for _, te in folds] == [te.tolist() for _, te in stratified_folds(y, 5, seed=0)]
    tr, va = train_val_split(folds[0][0], y, 0.25, seed=0)
    assert not set(tr) & set(va) and not set(va) & set(folds[0][1])
    assert y[va].sum() == 4 and len(va) == 10  # 40 training bags (16 positive) → 10 (4)


def test_cohort_instance_labels_follow_coordinates(tmp_path):
    from milhelpers.datasets import cohort_instance_labels
    import cv2
    (tmp_path / "masks").mkdir()
    mask = np.zeros((100, 100), np.uint8)
    mask[:50, :50] = 255
    cv2.imwrite(str(tmp_path / "masks" / "s.png"), mask)
    pd.DataFrame({"slide_id": ["s"], "width": [800], "height": [800]}).to_csv(tmp_path / "labels.csv", index=False)
    fn = cohort_instance_labels(tmp_path)
    frac = fn("s", np.array([[0, 0], [400, 400], [200, 0]]), 400)
    np.testing.assert_allclose(frac, [1.0, 0.0, 0.5])
