import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import milhelpers.datasets as datasets
from milhelpers.datasets import (Bag, BagDataset, DataMismatchError, ListBagDataset, collate_bags,
                                 encode_labels, infer_patch_size_level0, load_mil_table,
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


def write_clam_features(path, feats, coords, batch=4):
    """A features file laid out the way CLAM's extract_features_fp.py leaves it: ``features``
    (float32) and ``coords`` (int32) created resizable along axis 0 with one-row chunks, grown
    batch by batch, and no attributes anywhere."""
    with h5py.File(path, "w") as f:
        for start in range(0, len(feats), batch):
            for key, val in (("features", feats[start:start + batch].astype(np.float32)),
                             ("coords", coords[start:start + batch].astype(np.int32))):
                if key not in f:
                    f.create_dataset(key, shape=val.shape, maxshape=(None,) + val.shape[1:],
                                     chunks=(1,) + val.shape[1:], dtype=val.dtype)[:] = val
                else:
                    f[key].resize(len(f[key]) + len(val), axis=0)
                    f[key][-len(val):] = val


def clam_grid():
    """Two tissue contours, each with its own 512-px grid (CLAM starts a grid per contour), so
    the x positions of the two contours interleave; row 2 of contour A has a hole."""
    a = [(1000 + 512 * i, 800 + 512 * j) for j in range(3) for i in range(4) if (i, j) != (1, 2)]
    b = [(1300 + 512 * i, 3091 + 512 * j) for j in range(2) for i in range(3)]
    return np.array(a + b)


def test_bag_dataset_reads_our_layout(feat_dir):
    d, labels = feat_dir
    ds = BagDataset(d, labels)
    assert len(ds) == 4 and ds.dim == 6 and ds[1].features.shape == (9, 6) and ds[1].label == 1
    assert ds[1].coords.shape == (9, 2) and ds[1].patch_size0 == 256
    assert ds.slide_ids == ["s0", "s1", "s2", "s3"] and ds.labels.tolist() == [0, 1, 0, 1]
    assert ds.case_ids.tolist() == ds.slide_ids and ds.class_names is None and ds.n_classes == 2
    assert ds.in_memory


def test_mismatches_name_the_slides(feat_dir, capsys):
    d, labels = feat_dir
    extra_row = pd.concat([labels, pd.DataFrame({"slide_id": ["ghost"], "label": [1]})])
    with pytest.raises(DataMismatchError, match="1 slide in the labels has no features "
                       ".*: ghost. Extract them, or drop their rows"):
        BagDataset(d, extra_row)
    # labels naming a subset of the features folder: the rest is reported and left out
    capsys.readouterr()
    subset = BagDataset(d, labels.iloc[:3])
    assert subset.slide_ids == ["s0", "s1", "s2"] and subset.unused_features == ["s3"]
    assert capsys.readouterr().out == (f"1 features file in {d} has no row in the labels and is "
                                       "left out: s3\n")
    two = BagDataset(d, labels.iloc[[0, 1]])
    assert two.unused_features == ["s2", "s3"]
    assert "2 features files in" in capsys.readouterr().out
    assert BagDataset(d, labels).unused_features == [] and capsys.readouterr().out == ""
    with pytest.raises(DataMismatchError, match="slide_id,label"):
        BagDataset(d, labels.rename(columns={"label": "y"}))
    # a subset of the slides may leave other features files without a row
    assert BagDataset(d, labels.iloc[:3], slide_ids=["s1", "s0"]).slide_ids == ["s1", "s0"]


def test_duplicate_slides_are_refused(feat_dir):
    d, labels = feat_dir
    twice = pd.concat([labels, labels.iloc[[2]]])  # s2 again, same label
    with pytest.raises(DataMismatchError, match=r"more than once: s2\. Each slide"):
        BagDataset(d, twice)
    clash = pd.concat([labels, pd.DataFrame({"slide_id": ["s1"], "label": [0]})])
    with pytest.raises(DataMismatchError, match="more than once: s1, with conflicting labels for s1"):
        BagDataset(d, clash)


def test_slide_ids_are_read_as_text(tmp_path):
    rng = np.random.default_rng(1)
    for sid in ["001", "010", "2"]:
        write_features(tmp_path / f"{sid}.h5", rng.normal(size=(3, 4)), np.zeros((3, 2)),
                       coords_attrs={"patch_size_level0": 256})
    csv = tmp_path / "labels.csv"
    csv.write_text("slide_id,case_id,label\n001,07,0\n010,07,1\n2,,1\n")
    ds = BagDataset(tmp_path, csv)
    assert ds.slide_ids == ["001", "010", "2"]
    assert ds.case_ids.tolist() == ["07", "07", "2"]  # no case given: the slide is its own case
    assert ds[1].case_id == "07"


def test_predefined_folds_must_keep_a_case_together(feat_dir):
    d, labels = feat_dir
    table = labels.assign(case_id=["p1", "p1", "p2", "p3"], fold=[0, 0, 1, 2])
    assert BagDataset(d, table).case_ids.tolist() == ["p1", "p1", "p2", "p3"]
    with pytest.raises(DataMismatchError, match=r"case\(s\) p1 sit in different folds"):
        BagDataset(d, table.assign(fold=[0, 1, 1, 2]))


def test_text_labels_need_an_explicit_map(feat_dir, capsys):
    d, labels = feat_dir
    text = labels.assign(label=["normal", "tumour", "normal", "tumour"])
    with pytest.raises(DataMismatchError, match=r"label_map=\{'normal': 0, 'tumour': 1\}"):
        BagDataset(d, text)
    ds = BagDataset(d, text, label_map={"tumour": 1, "normal": 0})
    assert ds.labels.tolist() == [0, 1, 0, 1] and ds.class_names == ["normal", "tumour"]
    assert "normal → 0 (2 slides), tumour → 1 (2 slides)" in capsys.readouterr().out
    assert ds.table.label_name.tolist() == ["normal", "tumour", "normal", "tumour"]
    with pytest.raises(DataMismatchError, match=r"\['tumour'\] are not in label_map"):
        BagDataset(d, text, label_map={"normal": 0, "benign": 1})


@pytest.mark.parametrize("labels,message", [
    ([1, 1, 1, 1], "all 4 slides have label 1"),
    ([0, 2, 0, 2], r"classes \[1\] have no slide"),
    ([0, -1, 0, 1], "negative"),
    ([0, 1.5, 0, 1], "integer class indices"),
    ([0, None, 0, 1], r"missing \(rows 1\)"),
])
def test_bad_labels_fail_before_training(feat_dir, labels, message):
    d, table = feat_dir
    with pytest.raises(DataMismatchError, match=message):
        BagDataset(d, table.assign(label=labels))


def test_encode_labels_accepts_integral_and_renumbers_with_a_map():
    y, names = encode_labels(pd.Series([1.0, 0.0, 2.0]))
    assert y.tolist() == [1, 0, 2] and names is None
    y, names = encode_labels([0, 2, 2, 0], label_map={"0": 0, "2": 1})
    assert y.tolist() == [0, 1, 1, 0] and names == ["0", "2"]
    assert encode_labels([True, False])[0].tolist() == [1, 0]


@pytest.mark.parametrize("in_memory", [True, False])
def test_bad_features_are_reported(feat_dir, in_memory):
    d, labels = feat_dir
    write_features(d / "s2.h5", np.ones((3, 8)), np.zeros((3, 2)))
    with pytest.raises(DataMismatchError, match=r"s2\.h5: features are 8-d"):
        BagDataset(d, labels, in_memory=in_memory)
    write_features(d / "s2.h5", np.ones((0, 6)), np.zeros((0, 2)))
    with pytest.raises(DataMismatchError, match=r"s2\.h5: empty bag"):
        BagDataset(d, labels, in_memory=in_memory)
    with h5py.File(d / "s2.h5", "w") as f:  # a half-written file: 3 feature rows, 2 coordinates
        f["features"] = np.ones((3, 6), np.float32)
        f["coords"] = np.zeros((2, 2), np.int64)
    with pytest.raises(DataMismatchError, match=r"s2\.h5: 3 feature rows but 2 coordinates"):
        BagDataset(d, labels, in_memory=in_memory)
    f = np.ones((3, 6))
    f[1, 2] = np.nan
    write_features(d / "s2.h5", f, np.zeros((3, 2)), coords_attrs={"patch_size_level0": 256})
    if in_memory:
        with pytest.raises(DataMismatchError, match=r"s2\.h5: 1 patch"):
            BagDataset(d, labels, in_memory=True)
    else:  # the shape is fine, so a lazy dataset only finds out when it reads the bag
        ds = BagDataset(d, labels, in_memory=False)
        ds[0], ds[1]
        with pytest.raises(DataMismatchError, match=r"s2\.h5: 1 patch"):
            ds[2]


@pytest.mark.parametrize("damage", ["truncate", "not_hdf5"])
def test_unreadable_files_are_named(feat_dir, damage):
    d, labels = feat_dir
    path = d / "s3.h5"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "truncate" else b"slide_id,label\ns3,1\n")
    with pytest.raises(DataMismatchError, match=r"s3\.h5: cannot read this HDF5 file"):
        BagDataset(d, labels)
    from milhelpers.h5io import read_coords, read_features
    for reader in (read_features, read_coords):
        with pytest.raises(OSError, match=r"s3\.h5: cannot read"):
            reader(path)


def test_lazy_dataset_reads_bags_on_access(feat_dir, monkeypatch):
    d, labels = feat_dir
    eager = BagDataset(d, labels)
    lazy = BagDataset(d, labels, in_memory=False, cache_size=2)
    assert not lazy.in_memory and lazy.dim == 6 and lazy.labels.tolist() == [0, 1, 0, 1]
    assert len(lazy._cache.items) == 0  # nothing read at construction
    for i in range(4):
        assert torch.equal(lazy[i].features, eager[i].features) and lazy[i].patch_size0 == 256
    assert list(lazy._cache.items) == ["s2", "s3"]  # the two most recent bags only
    sub = lazy.subset([3, 1])
    assert isinstance(sub, BagDataset) and not sub.in_memory and sub.slide_ids == ["s3", "s1"]
    assert sub.labels.tolist() == [1, 1] and [b.slide_id for b in sub.bags] == ["s3", "s1"]
    assert sub.table.slide_id.tolist() == ["s3", "s1"]
    # a features file changed after construction is read as it is now, not from a stale copy
    write_features(d / "s0.h5", np.full((5, 6), 7.0), np.zeros((5, 2)),
                   coords_attrs={"patch_size_level0": 256})
    assert (lazy[0].features == 7).all() and not (eager[0].features == 7).all()
    # the automatic switch: lazy above the size threshold, in memory below it
    n_bytes = (5 + 9 + 3 + 7) * 6 * 4
    monkeypatch.setattr(datasets, "IN_MEMORY_MAX_BYTES", n_bytes - 1)
    assert not BagDataset(d, labels).in_memory
    monkeypatch.setattr(datasets, "IN_MEMORY_MAX_BYTES", n_bytes)
    assert BagDataset(d, labels).in_memory


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


def test_list_dataset_interface():
    bags = [Bag(torch.zeros(2, 3), y, f"b{i}", case_id="p1" if i < 2 else None)
            for i, y in enumerate([0, 1, 1])]
    ds = ListBagDataset(bags, class_names=["neg", "pos"])
    assert ds.slide_ids == ["b0", "b1", "b2"] and ds.case_ids.tolist() == ["p1", "p1", "b2"]
    sub = ds.subset([2, 0])
    assert sub.slide_ids == ["b2", "b0"] and sub.class_names == ["neg", "pos"] and sub.n_classes == 2


def test_splits_are_stratified_disjoint_and_seeded():
    y = np.array([0] * 30 + [1] * 20)
    folds = stratified_folds(y, 5, seed=0)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(50))
    assert all(y[te].sum() == 4 for _, te in folds)
    assert [te.tolist() for _, te in folds] == [te.tolist() for _, te in stratified_folds(y, 5, seed=0)]
    # shuffled: a test fold is not a run of neighbouring indices, and the seed changes it
    assert all((np.diff(np.sort(te)) > 1).any() for _, te in folds)
    assert [te.tolist() for _, te in folds] != [te.tolist() for _, te in stratified_folds(y, 5, seed=1)]
    tr, va = train_val_split(folds[0][0], y, 0.25, seed=0)
    assert not set(tr) & set(va) and not set(va) & set(folds[0][1])
    assert y[va].sum() == 4 and len(va) == 10  # 40 training bags (16 positive) → 10 (4)
    with pytest.raises(ValueError, match="class 1 has 3; use k <= 3"):
        stratified_folds([0] * 10 + [1] * 3, 5)


def patient_cohort(seed=0):
    """30 patients with 1–4 slides each; a patient's slides share the label (18 neg, 12 pos)."""
    rng = np.random.default_rng(seed)
    labels, cases = [], []
    for p in range(30):
        n = int(rng.integers(1, 5))
        labels += [int(p % 5 < 2)] * n
        cases += [f"case{p:02d}"] * n
    return np.array(labels), np.array(cases)


def test_grouped_folds_keep_each_patient_on_one_side():
    y, cases = patient_cohort()
    folds = stratified_folds(y, 5, seed=0, groups=cases)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(y)))
    for tr, te in folds:
        assert not set(cases[tr]) & set(cases[te])
        assert 0 < y[te].mean() < 1  # both classes in every test fold
        t_idx, v_idx = train_val_split(tr, y, 0.2, seed=0, groups=cases)
        assert sorted(t_idx.tolist() + v_idx.tolist()) == sorted(tr.tolist())
        assert not set(cases[t_idx]) & set(cases[v_idx]) and 0 < y[v_idx].mean() < 1
        assert 0.1 < len(v_idx) / len(tr) < 0.35
    again = stratified_folds(y, 5, seed=0, groups=cases)
    assert [te.tolist() for _, te in folds] == [te.tolist() for _, te in again]
    other = stratified_folds(y, 5, seed=1, groups=cases)
    assert [te.tolist() for _, te in folds] != [te.tolist() for _, te in other]
    with pytest.raises(ValueError, match=r"class 1 has 12; use k <= 12"):
        stratified_folds(y, 13, groups=cases)
    with pytest.raises(ValueError, match="one case id per bag"):
        stratified_folds(y, 5, groups=cases[:-1])


def test_infer_patch_size_from_the_grid():
    assert infer_patch_size_level0(clam_grid()) == 512
    assert infer_patch_size_level0(np.array([[0, 0], [0, 300], [0, 900]])) == 300  # one column
    assert infer_patch_size_level0(np.array([[0, 0], [256, 0], [0, 512]])) is None  # x and y disagree
    assert infer_patch_size_level0(np.array([[5, 5]])) is None
    assert infer_patch_size_level0(np.array([[0, 0], [100, 100], [200, 200]])) is None  # no row or column


def test_clam_layout_infers_patch_size_and_labels_instances(tmp_path):
    """Instance labels on a CLAM features file (no attributes): a patch covers 512 level-0
    pixels, not the single mask pixel it did when the size was silently 0."""
    import cv2
    from milhelpers.datasets import cohort_instance_labels
    root = tmp_path / "cohort"
    (root / "masks").mkdir(parents=True)
    feats_dir = tmp_path / "h5_files"
    feats_dir.mkdir()
    coords = clam_grid()
    rng = np.random.default_rng(0)
    write_clam_features(feats_dir / "slideA.h5", rng.normal(size=(len(coords), 8)), coords)
    write_clam_features(feats_dir / "slideB.h5", rng.normal(size=(4, 8)), coords[:4])
    # mask at 1/16 of level 0 (4800 px square): tumour in mask columns 62–77, rows 50–81
    mask = np.zeros((300, 300), np.uint8)
    mask[50:82, 62:78] = 255
    cv2.imwrite(str(root / "masks" / "slideA.png"), mask)
    cv2.imwrite(str(root / "masks" / "slideB.png"), mask)
    pd.DataFrame({"slide_id": ["slideA", "slideB"], "width": [4800] * 2, "height": [4800] * 2}
                 ).to_csv(root / "labels.csv", index=False)
    labels = pd.DataFrame({"slide_id": ["slideA", "slideB"], "label": [1, 0]})
    with pytest.warns(UserWarning, match=r"inferred 512 px at level 0 from the coordinate grid for slideA, slideB"):
        ds = BagDataset(feats_dir, labels, instance_labels=cohort_instance_labels(root))
    bag = ds[0]
    assert bag.patch_size0 == 512 and bag.coords.dtype == np.int64 and bag.features.dtype == torch.float32
    # patch (1000, 800) covers mask x 62.5→62 … 94.5→94, y 50 … 82: tumour is 16 × 32 of 32 × 32
    assert bag.instance_labels[0] == pytest.approx(0.5)
    assert (bag.instance_labels[1:] == 0).all()
    with pytest.warns(UserWarning, match="using patch_size_level0=448 given as argument"):
        assert BagDataset(feats_dir, labels, patch_size_level0=448)[0].patch_size0 == 448


def test_unknown_patch_size_is_said_and_refused_where_needed(tmp_path):
    write_clam_features(tmp_path / "lone.h5", np.ones((1, 4)), np.array([[64, 64]]))
    write_clam_features(tmp_path / "other.h5", np.ones((1, 4)), np.array([[0, 0]]))
    labels = pd.DataFrame({"slide_id": ["lone", "other"], "label": [0, 1]})
    with pytest.warns(UserWarning, match="patch size is unknown for 2 features file"):
        assert BagDataset(tmp_path, labels)[0].patch_size0 is None
    with warnings.catch_warnings(), pytest.raises(DataMismatchError, match="pass patch_size_level0="):
        warnings.simplefilter("ignore")
        BagDataset(tmp_path, labels, instance_labels=lambda sid, c, s: np.zeros(len(c)))


def test_trident_layout_keeps_its_patch_size_attribute(tmp_path):
    """TRIDENT stores patch_size_level0 on coords; with 50 % overlap the grid step (256) is not
    the patch side (512), so the attribute must win over inference, silently."""
    coords = np.array([(x, y) for y in range(0, 1024, 256) for x in range(0, 1024, 256)], np.int64)
    for sid in ("t1", "t2"):
        with h5py.File(tmp_path / f"{sid}.h5", "w") as f:
            c = f.create_dataset("coords", data=coords, maxshape=(None, 2), chunks=True)
            c.attrs.update({"patch_size": 256, "patch_size_level0": 512, "level0_magnification": 40,
                            "target_magnification": 20, "overlap": 128, "name": sid,
                            "savetodir": "/job/patches"})
            ft = f.create_dataset("features", data=np.ones((len(coords), 5), np.float16),
                                  maxshape=(None, 5), chunks=True)
            ft.attrs.update({"name": sid, "savetodir": "/job/features"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = BagDataset(tmp_path, pd.DataFrame({"slide_id": ["t1", "t2"], "label": [0, 1]}))
    assert ds[0].patch_size0 == 512 and ds[0].features.dtype == torch.float32 and ds.dim == 5


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


def test_cohort_instance_labels_on_a_non_square_slide(tmp_path):
    """A 1200 × 600 slide (width × height) with a 120 × 30 mask: downsample 10 in x, 20 in y.
    Tumour covers level-0 x < 600 and y < 300. Swapping x and y (in the coords, the mask or the
    downsample) changes every answer below."""
    from milhelpers.datasets import cohort_instance_labels
    import cv2
    (tmp_path / "masks").mkdir()
    mask = np.zeros((30, 120), np.uint8)  # rows = y, columns = x
    mask[:15, :60] = 255
    cv2.imwrite(str(tmp_path / "masks" / "wide.png"), mask)
    pd.DataFrame({"slide_id": ["wide"], "width": [1200], "height": [600]}).to_csv(tmp_path / "labels.csv", index=False)
    fn = cohort_instance_labels(tmp_path)
    coords = np.array([[0, 0],      # columns 0–20, rows 0–10: all tumour
                       [500, 0],    # columns 50–70 (10 of 20 tumour), rows 0–10
                       [0, 240],    # columns 0–20, rows 12–22 (3 of 10 tumour)
                       [550, 260],  # columns 55–75 (5 of 20), rows 13–23 (2 of 10)
                       [1000, 0]])  # columns 100–120: none
    np.testing.assert_allclose(fn("wide", coords, 200), [1.0, 0.5, 0.3, 0.05, 0.0])


# ---- round 6: hand-checked edges of the cache, the splits and the header parsing -------------
def test_lru_cache_evicts_the_least_recently_used_and_holds_exactly_size():
    cache = datasets._LRU(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert list(cache.items) == ["a", "b"]          # exactly `size` items kept
    assert cache.get("a") == "A"                     # a is now the most recent
    cache.put("c", "C")
    assert list(cache.items) == ["a", "c"] and cache.get("b") is None
    empty = datasets._LRU(0)
    empty.put("a", "A")
    assert empty.get("a") is None


def test_lazy_bags_slice_with_a_step(feat_dir):
    d, labels = feat_dir
    lazy = BagDataset(d, labels, in_memory=False, cache_size=1)
    assert [b.slide_id for b in lazy.bags[::2]] == ["s0", "s2"]
    assert [b.slide_id for b in lazy.bags[1:4:2]] == ["s1", "s3"]
    assert [b.slide_id for b in lazy.bags[-2:]] == ["s2", "s3"]


def test_grouped_validation_share_needs_round_one_over_fraction_cases():
    # val_fraction 0.15: k = round(1 / 0.15) = round(6.67) = 7 folds, so 7 cases are needed
    # (not int(6.67) = 6); case i holds slides 2i (label 0) and 2i + 1 (label 1)
    y = np.array([0, 1] * 7)
    cases = np.array([f"c{i // 2}" for i in range(14)])
    with pytest.raises(ValueError, match="needs at least 7 cases.*found 6"):
        train_val_split(np.arange(12), y, 0.15, groups=cases)
    tr, va = train_val_split(np.arange(14), y, 0.15, groups=cases)     # 7 cases are enough
    assert len(va) == 2 and len(set(cases[va])) == 1                     # one case of seven
    assert sorted(tr.tolist() + va.tolist()) == list(range(14))


def test_grouped_split_returns_dataset_indices_not_positions():
    # training indices 10..29 of a 30-bag dataset, two slides per case
    y = np.array([0, 0, 1, 1] * 7 + [0, 1])
    cases = np.array([f"c{i // 2}" for i in range(30)])
    train = np.arange(10, 30)
    tr, va = train_val_split(train, y, 0.2, seed=0, groups=cases)
    assert sorted(tr.tolist() + va.tolist()) == train.tolist()
    assert not set(cases[tr]) & set(cases[va])


def test_folds_count_cases_not_slides_of_the_rarer_class():
    # class 1: three slides, but all from one patient -> 2 grouped folds cannot each hold one
    y = [0, 0, 0, 0, 1, 1, 1]
    cases = ["a", "b", "c", "d", "p", "p", "p"]
    with pytest.raises(ValueError, match="class 1 has 1; use k <= 1"):
        stratified_folds(y, 2, groups=cases)
    assert len(stratified_folds(y, 3)) == 3            # ungrouped: 3 slides of class 1 do


def test_positive_int_reads_h5_attributes():
    assert datasets._positive_int(np.array([224])) == 224
    assert datasets._positive_int(np.int64(256)) == 256
    assert datasets._positive_int(0) is None and datasets._positive_int(-3) is None
    assert datasets._positive_int("None") is None and datasets._positive_int(None) is None


def test_a_single_class_is_refused_even_with_a_higher_index():
    with pytest.raises(DataMismatchError, match="all 3 slides have label 1"):
        encode_labels([1, 1, 1])
    with pytest.raises(DataMismatchError, match="all 2 slides have label 0"):
        encode_labels([0, 0])


def test_repeated_coordinates_do_not_make_a_zero_patch_size():
    # a row at y=0 with x = 0, 0, 0, 224 and a column at x=0 with y = 0, 0, 0, 224: gaps of 0
    # (duplicate patches) are not steps; the only step is 224
    coords = np.array([[0, 0], [0, 0], [0, 0], [224, 0], [0, 224]])
    assert infer_patch_size_level0(coords) == 224


def test_case_ids_are_stripped_and_a_missing_one_is_the_slide(feat_dir):
    d, labels = feat_dir
    table = labels.assign(case_id=[" p1 ", None, "p1", "p2"])
    ds = BagDataset(d, table)
    assert ds.case_ids.tolist() == ["p1", "s1", "p1", "p2"]
    assert [ds[i].case_id for i in range(4)] == ["p1", "s1", "p1", "p2"]


def test_features_stored_as_one_by_n_by_d_are_one_bag(tmp_path):
    rng = np.random.default_rng(1)
    feats = [rng.normal(size=(1, 4, 3)), rng.normal(size=(5, 3))]
    for i, f in enumerate(feats):
        with h5py.File(tmp_path / f"s{i}.h5", "w") as h:
            h["features"] = f.astype(np.float32)
            h["coords"] = np.stack([np.arange(f.shape[-2]) * 256, np.zeros(f.shape[-2])], 1)
            h["coords"].attrs["patch_size_level0"] = 256
    labels = pd.DataFrame({"slide_id": ["s0", "s1"], "label": [0, 1]})
    for in_memory in (True, False):
        ds = BagDataset(tmp_path, labels, in_memory=in_memory)
        assert ds.dim == 3 and ds[0].features.shape == (4, 3) and ds[1].features.shape == (5, 3)
        np.testing.assert_allclose(ds[0].features.numpy(), feats[0][0], rtol=1e-6)


def test_non_finite_features_are_counted_per_patch():
    x = np.zeros((5, 3))
    x[1, 0] = x[1, 2] = np.nan          # one patch, two bad values
    x[3, 1] = np.inf
    with pytest.raises(DataMismatchError, match=r"^bag: 2 patch\(es\) with NaN/inf"):
        datasets._check_finite(x, "bag")
    datasets._check_finite(np.zeros((2, 2)), "bag")


def test_mil_tables_map_positive_labels_to_one_and_refuse_mixed_bags(tmp_path):
    # label, bag id, features: bag 7 has label -1 (negative), bag 3 label 1; sorted by bag id
    rows = "1,3,0.5,1.0\n1,3,0.25,2.0\n-1,7,1.5,3.0\n"
    (tmp_path / "musk1.csv.gz").write_bytes(__import__("gzip").compress(rows.encode()))
    ds = load_mil_table("musk1", tmp_path)
    assert ds.slide_ids == ["musk1_3", "musk1_7"] and ds.labels.tolist() == [1, 0]
    assert ds[0].features.tolist() == [[0.5, 1.0], [0.25, 2.0]]
    (tmp_path / "musk1.csv.gz").write_bytes(__import__("gzip").compress(b"1,3,0.5\n-1,3,0.5\n"))
    with pytest.raises(DataMismatchError, match="bag 3 has mixed labels"):
        load_mil_table("musk1", tmp_path)
    with pytest.raises(KeyError, match="unknown MIL table"):
        load_mil_table("musk3", tmp_path)


# --- round 7: folds and validation splits follow their seed alone; their checks at the bounds ---
_Y = np.array([0] * 12 + [1] * 12)
_G = np.array([f"c{i // 2}" for i in range(24)])                  # 12 cases of two slides


@pytest.mark.parametrize("split", [
    lambda seed: datasets.stratified_folds(_Y, 3, seed=seed),
    lambda seed: datasets.stratified_folds(_Y, 3, seed=seed, groups=_G),
    lambda seed: datasets.train_val_split(np.arange(24), _Y, 0.25, seed=seed),
    lambda seed: datasets.train_val_split(np.arange(24), _Y, 0.25, seed=seed, groups=_G),
], ids=["folds", "grouped_folds", "val_split", "grouped_val_split"])
def test_splits_follow_their_seed_not_numpys_global_state(split):
    """One seed gives one partition whatever NumPy's global seed (a splitter left at
    random_state=None would draw from it and change run to run), another seed another one."""
    def draw(seed, global_seed):
        np.random.seed(global_seed)
        out = split(seed)
        return [np.asarray(a).tolist() for pair in (out if isinstance(out, list) else [out])
                for a in pair]

    assert draw(5, 0) == draw(5, 1)
    assert len({str(draw(s, 0)) for s in range(4)}) > 1


@pytest.mark.parametrize("call, refused", [
    (lambda: datasets.stratified_folds([0, 1, 0, 1], 2), None),          # k = 2 folds is the least
    (lambda: datasets.stratified_folds([0, 1, 0, 1], 1), "at least 2 folds"),
    (lambda: datasets.stratified_folds([0, 0, 0, 1, 1, 1], 3), None),    # 3 bags of a class, k = 3
    (lambda: datasets.stratified_folds([0, 0, 0, 1, 1], 3), "use k <= 2"),      # 2 bags of class 1, k = 3
    (lambda: datasets.train_val_split(np.arange(20), [0, 1] * 10, 0.1), None),
    (lambda: datasets.train_val_split(np.arange(20), [0, 1] * 10, 0.0), "val_fraction=0.0"),
    (lambda: datasets.train_val_split(np.arange(20), [0, 1] * 10, 1.0), "val_fraction=1.0"),
    (lambda: datasets.train_val_split(np.arange(8), [0, 1] * 4, 0.5, groups=list("aabbccdd")),
     None),                                                             # k = round(1/0.5) = 2
    (lambda: datasets.train_val_split(np.arange(8), [0, 1] * 4, 0.7, groups=list("aabbccdd")),
     "too large for a grouped split"),                                  # k = round(1.43) = 1
], ids=["k2", "k1", "n_eq_k", "n_lt_k", "vf0.1", "vf0", "vf1", "grouped0.5", "grouped0.7"])
def test_split_arguments_at_exactly_their_bounds(call, refused):
    """Each check accepts its bound and refuses one step past it, with its own message
    (scikit-learn refuses some of these too, but later and without saying which argument)."""
    if refused is None:
        call()
    else:
        with pytest.raises(ValueError, match=refused):
            call()


# --------------------------------------------------------------------------------------------
# round 12: padding keeps the dtype, labels' maps at their edges, the small text helpers
# --------------------------------------------------------------------------------------------
def test_r12_collate_keeps_float64_and_carries_coords_and_instance_labels():
    a = Bag(torch.arange(6, dtype=torch.float64).reshape(3, 2), 1, "a",
            coords=np.array([[0, 0], [1, 0], [2, 0]]), instance_labels=np.array([0.0, 0.5, 1.0]))
    b = Bag(torch.tensor([[7.0, 8.0]], dtype=torch.float64), 0, "b")
    out = collate_bags([b, a])
    assert out.features.dtype == torch.float64 and out.features.shape == (2, 3, 2)
    assert out.features[0].tolist() == [[7.0, 8.0], [0.0, 0.0], [0.0, 0.0]]
    assert out.mask.tolist() == [[True, False, False], [True, True, True]]
    assert out.labels.dtype == torch.long and out.labels.tolist() == [0, 1]
    assert out.slide_ids == ["b", "a"] and out.coords[0] is None and out.coords[1] is a.coords
    assert out.instance_labels[0] is None and out.instance_labels[1] is a.instance_labels


def test_r12_encode_labels_with_an_empty_map_or_non_index_values():
    # an empty map is a map: every text label is unknown to it (not "labels are text")
    with pytest.raises(DataMismatchError, match=r"label\(s\) \['a', 'b'\] are not in label_map \{\}"):
        encode_labels(["a", "b"], label_map={})
    with pytest.raises(DataMismatchError, match=r"label_map values must be class indices 0…C−1, got \[True\]"):
        encode_labels(["a", "b"], label_map={"a": 0, "b": True})
    with pytest.raises(DataMismatchError, match=r"got \[1.0\]"):
        encode_labels(["a", "b"], label_map={"a": 0, "b": 1.0})
    # two names for one class are joined with "/"
    y, names = encode_labels(["x", "y", "z"], label_map={"x": 0, "y": 1, "z": 1})
    assert y.tolist() == [0, 1, 1] and y.dtype == np.int64 and names == ["x", "y/z"]


def test_r12_encode_labels_messages_name_the_rows_values_and_renumbering():
    with pytest.raises(DataMismatchError, match=r"^2 label\(s\) are missing \(rows 1, 3\)"):
        encode_labels([0, None, 1, None])
    with pytest.raises(DataMismatchError, match=r"found negative label\(s\) \[-2, -1\]$"):
        encode_labels([0, -1, 1, -2])
    with pytest.raises(DataMismatchError, match=r"classes \[1, 2\] have no slide \(labels found: "
                                                r"\[0, 3\]\).*label_map=\{'0': 0, '3': 1\}"):
        encode_labels([0, 3, 3, 0])
    with pytest.raises(DataMismatchError, match=r"labels are text \(neg, pos\).*label_map="
                                                r"\{'neg': 0, 'pos': 1\}"):
        encode_labels(["pos", "neg", "pos"])
    with pytest.raises(DataMismatchError, match=r"found \[0.5, 1.5\]"):
        encode_labels([0.5, 1.0, 1.5, 0.0])


def test_r12_plural_and_short_text_helpers_at_their_bounds():
    assert datasets._plural(1, "slide") == "1 slide"
    assert datasets._plural(0, "slide") == "0 slides" and datasets._plural(2, "bag") == "2 bags"
    assert datasets._short(range(8)) == "0, 1, 2, 3, 4, 5, 6, 7"
    assert datasets._short(range(9)) == "0, 1, 2, 3, 4, 5, 6, 7, … (+1 more)"
    assert datasets._short(["a", "b", "c"], 2) == "a, b, … (+1 more)"


def test_r12_groups_must_have_one_entry_per_label_and_subsets_keep_every_class_name():
    with pytest.raises(ValueError, match="groups has 3 entries for 4 labels"):
        stratified_folds([0, 1, 0, 1], 2, groups=["a", "b", "c"])
    assert datasets._as_groups(None, 3) is None
    assert datasets._as_groups([1, 2], 2).tolist() == ["1", "2"]
    bags = [Bag(torch.zeros(1, 2), y, f"b{i}") for i, y in enumerate([0, 1, 1])]
    sub = ListBagDataset(bags, ["neg", "pos", "other"]).subset([1, 2])
    assert sub.class_names == ["neg", "pos", "other"] and sub.n_classes == 3
    assert ListBagDataset(bags).subset([0, 1]).n_classes == 2


def test_r13_train_val_split_returns_sorted_indices_without_groups():
    """Audit 13 survivor: without groups the two parts come back sorted (and partition the
    training indices), as with groups."""
    from milhelpers.datasets import train_val_split
    idx = np.arange(40, 0, -2)                      # 20 indices, given in descending order
    labels = (np.arange(41) // 2) % 2               # alternating classes over the given indices
    tr, va = train_val_split(idx, labels, 0.2, seed=0)
    assert len(va) == 4 and len(tr) == 16
    assert list(tr) == sorted(tr) and list(va) == sorted(va)
    assert sorted([*tr, *va]) == sorted(idx)


# --- audit 14's survivors ----------------------------------------------------------------------
@pytest.mark.parametrize("in_memory", [True, False])
@pytest.mark.parametrize("width", [4, 8])
def test_a14_features_narrower_or_wider_than_the_others_are_refused(feat_dir, in_memory, width):
    """A slide whose features are 4-d among 6-d ones is refused as surely as an 8-d one (another
    encoder either way). Catches ``!=`` weakened to ``>`` (audit 14)."""
    d, labels = feat_dir
    write_features(d / "s2.h5", np.ones((3, width)), np.zeros((3, 2)))
    with pytest.raises(DataMismatchError,
                       match=rf"s2\.h5: features are {width}-d but other slides are 6-d"):
        BagDataset(d, labels, in_memory=in_memory)
