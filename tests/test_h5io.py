import os
import stat

import h5py
import numpy as np
import pandas as pd
import pytest

from milhelpers.datasets import BagDataset
from milhelpers.h5io import atomic_output, read_coords, read_features, write_coords, write_features


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.h5"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_coords_and_features_round_trip(tmp_path):
    c = np.array([[0, 0], [256, 512]])
    write_coords(tmp_path / "p.h5", c, patch_size=256, patch_size_level0=512, target_mpp=0.5,
                 level0_mpp=0.25, overlap=0)
    c2, attrs = read_coords(tmp_path / "p.h5")
    assert (c2 == c).all() and attrs["patch_size_level0"] == 512
    f = np.random.default_rng(0).normal(size=(2, 7)).astype(np.float32)
    write_features(tmp_path / "f.h5", f, c, coords_attrs=attrs, encoder="enc", input_size=224)
    f2, c3 = read_features(tmp_path / "f.h5")
    assert np.array_equal(f, f2) and (c3 == c).all()
    with pytest.raises(ValueError):
        write_features(tmp_path / "g.h5", f, c[:1])
    assert not (tmp_path / "g.h5").exists()


def test_features_file_without_coords_reads_with_empty_coords(tmp_path):
    """Some CLAM exports hold ``features`` only: they read as the features with (0, 2) coords,
    and a BagDataset loads them (bag.coords None). Catches the length check applied to the empty
    coords too (every such file refused as incomplete)."""
    f = np.arange(12, dtype=np.float32).reshape(3, 4)
    for sid in ("a", "b"):
        with h5py.File(tmp_path / f"{sid}.h5", "w") as h:
            h.create_dataset("features", data=f)
    feats, coords = read_features(tmp_path / "a.h5")
    assert np.array_equal(feats, f) and coords.shape == (0, 2)
    with pytest.warns(UserWarning, match="patch size is unknown"):   # no coords, no grid
        ds = BagDataset(tmp_path, pd.DataFrame({"slide_id": ["a", "b"], "label": [0, 1]}))
    assert np.array_equal(ds[0].features.numpy(), f) and ds[0].coords is None
    # a file whose coords and features disagree is still refused
    with h5py.File(tmp_path / "c.h5", "w") as h:
        h.create_dataset("features", data=f)
        h.create_dataset("coords", data=np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="3 feature rows but 2 coordinates"):
        read_features(tmp_path / "c.h5")


def test_features_stored_with_a_leading_axis_of_one_are_read_as_n_by_d(tmp_path):
    """Some exporters store features as (1, N, D); read_features returns them (N, D) and checks
    them against the N coordinates. Catches the leading axis kept."""
    feats = np.arange(12, dtype=np.float32).reshape(1, 4, 3)
    coords = np.array([[0, 0], [256, 0], [0, 256], [256, 256]], np.int64)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("features", data=feats)
        f.create_dataset("coords", data=coords)
    got, c = read_features(tmp_path / "x.h5")
    assert got.shape == (4, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got, feats[0])
    np.testing.assert_array_equal(c, coords)


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.h5: no such file"):
        read_features(tmp_path / "nothing.h5")
    half = tmp_path / "half.h5"
    write_features(half, np.ones((50, 4)), np.zeros((50, 2)))
    half.write_bytes(half.read_bytes()[:1000])
    for reader in (read_features, read_coords):
        with pytest.raises(OSError, match=r"half\.h5: cannot read this HDF5 file .*truncated"):
            reader(half)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_output_gives_the_mode_of_an_ordinary_file(tmp_path, umask, mode):
    """mkstemp makes 0600 files; a finished output must follow the user's umask instead."""
    old = os.umask(umask)
    try:
        with atomic_output(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"done")
        write_coords(tmp_path / "c.h5", np.zeros((1, 2)))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.bin").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "c.h5").stat().st_mode) == mode
