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


def test_coordinates_are_stored_and_read_as_int64(tmp_path):
    """write_coords stores int64 (TRIDENT's dtype) whatever it is given (float, int32), and
    read_coords returns int64 from files other tools wrote as int32 or float."""
    write_coords(tmp_path / "p.h5", np.array([[0.0, 256.0], [3e9, 512.0]]))
    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert f["coords"].dtype == np.int64
        assert f["coords"][:].tolist() == [[0, 256], [3_000_000_000, 512]]   # beyond int32
    for dtype in (np.int32, np.float64):
        with h5py.File(tmp_path / "o.h5", "w") as f:
            f.create_dataset("coords", data=np.array([[0, 256], [512, 768]], dtype=dtype))
        c, _ = read_coords(tmp_path / "o.h5")
        assert c.dtype == np.int64 and c.tolist() == [[0, 256], [512, 768]]


def test_features_are_stored_and_read_as_float32(tmp_path):
    """write_features stores float32 given float64; read_features turns a float16 or float64
    export into float32 and its int32 coordinates into int64."""
    f64 = np.array([[0.5, 1.25], [2.0, -3.0]])
    write_features(tmp_path / "f.h5", f64, np.array([[0, 0], [1, 2]]))
    with h5py.File(tmp_path / "f.h5", "r") as f:
        assert f["features"].dtype == np.float32 and f["coords"].dtype == np.int64
    for dtype in (np.float16, np.float64):
        with h5py.File(tmp_path / "x.h5", "w") as f:
            f.create_dataset("features", data=f64.astype(dtype))
            f.create_dataset("coords", data=np.array([[0, 0], [1, 2]], np.int32))
        feats, coords = read_features(tmp_path / "x.h5")
        assert feats.dtype == np.float32 and feats.tolist() == f64.tolist()
        assert coords.dtype == np.int64 and coords.tolist() == [[0, 0], [1, 2]]


def test_attributes_given_as_none_are_left_out(tmp_path):
    """An attribute passed as None (no value known, e.g. no mpp) is not written; numpy scalars
    are stored as plain numbers."""
    write_coords(tmp_path / "p.h5", np.zeros((1, 2)), patch_size=np.int64(256), level0_mpp=None,
                 name="s1")
    _, attrs = read_coords(tmp_path / "p.h5")
    assert attrs == {"patch_size": 256, "name": "s1"}
    write_features(tmp_path / "f.h5", np.zeros((1, 3)), np.zeros((1, 2)),
                   coords_attrs={"overlap": None, "patch_size": 64}, encoder="e", input_size=None)
    with h5py.File(tmp_path / "f.h5", "r") as f:
        assert dict(f["coords"].attrs) == {"patch_size": 64}
        assert dict(f["features"].attrs) == {"encoder": "e"}


def test_remove_partials_removes_only_this_outputs_temporary_files(tmp_path):
    """Slide ids are file names and may hold glob characters: for ``a[1].h5`` only
    ``.a[1].h5.*.part`` goes; slide ``a1``'s partial, the finished file and other names stay.
    Catches the name used as a glob pattern unescaped ([1] matching '1')."""
    from milhelpers.h5io import remove_partials

    names = [".a[1].h5.x7k.part", ".a1.h5.q2z.part", "a[1].h5", ".a[1].h5.part", "a[1].h5.x.part"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    gone = remove_partials(tmp_path / "a[1].h5")
    assert gone == [tmp_path / ".a[1].h5.x7k.part"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])
    assert remove_partials(tmp_path / "missing" / "a.h5") == []


def test_files_without_the_expected_dataset_say_what_they_lack(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("other", data=np.zeros(3))
    with pytest.raises(KeyError, match="no 'coords' dataset"):
        read_coords(tmp_path / "x.h5")
    with pytest.raises(KeyError, match="no 'features' dataset"):
        read_features(tmp_path / "x.h5")


def test_the_temporary_file_is_hidden_beside_the_target_and_found_by_remove_partials(tmp_path):
    """atomic_output writes ``.<name>.<random>.part`` in the target's folder, the name
    remove_partials looks for after a killed writer."""
    from milhelpers.h5io import remove_partials

    target = tmp_path / "sub" / "s1.h5"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".s1.h5.")
        assert tmp.name.endswith(".part") and tmp.exists()
        tmp.write_bytes(b"x")
        assert remove_partials(target) == [tmp]                  # what a later run would do
        tmp.write_bytes(b"again")
    assert target.read_bytes() == b"again" and sorted(p.name for p in target.parent.iterdir()) == ["s1.h5"]


# --- round 9: every feature-file shape the readers accept or refuse, written as other tools do -
def _h5(path, features: np.ndarray | None, coords: np.ndarray | None = None,
        coords_attrs: dict | None = None) -> None:
    """A features file written with h5py directly, as CLAM and TRIDENT write theirs."""
    with h5py.File(path, "w") as f:
        if features is not None:
            f.create_dataset("features", data=features)
        if coords is not None:
            ds = f.create_dataset("coords", data=coords)
            ds.attrs.update(coords_attrs or {})


FEATS = np.arange(15, dtype=np.float32).reshape(5, 3) / 4        # N = 5 patches, D = 3
COORDS = np.array([[0, 0], [256, 0], [512, 0], [0, 256], [256, 256]])


@pytest.mark.parametrize("features, coords, n_coords", [
    (FEATS, COORDS.astype(np.int64), 5),                                  # CLAM: (N, D) + (N, 2)
    (FEATS, COORDS.astype(np.int32), 5),                                  # TRIDENT: int32 coords
    (FEATS[None], COORDS.astype(np.int64), 5),                            # (1, N, D) exporters
    (FEATS.astype(np.float16), COORDS, 5),                                # half-precision features
    (FEATS.astype(np.float64), None, 0),                                  # CLAM .h5 without coords
    (FEATS[None], None, 0),
])
def test_r9_read_features_accepts_each_layout_and_returns_float32_and_int64(tmp_path, features,
                                                                            coords, n_coords):
    """Each accepted layout reads as (N, D) float32 features and (N, 2) int64 coordinates (or
    (0, 2) without coords). Catches the leading axis of one kept, the dtype casts dropped (a
    float16 or float64 bag, int32 coordinates), and coord-less files refused."""
    _h5(tmp_path / "s.h5", features, coords, {"patch_size_level0": 512})
    got, c = read_features(tmp_path / "s.h5")
    assert got.shape == (5, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got, FEATS)          # every value is a multiple of 1/4: exact
    assert c.shape == (n_coords, 2) and c.dtype == np.int64
    if n_coords:
        np.testing.assert_array_equal(c, COORDS)
        c2, attrs = read_coords(tmp_path / "s.h5")
        assert c2.dtype == np.int64 and np.array_equal(c2, COORDS)
        assert attrs["patch_size_level0"] == 512


@pytest.mark.parametrize("features, n_coords, message", [
    (np.stack([FEATS, FEATS + 1]), 5, "2 feature rows but 5 coordinates"),      # (2, N, D)
    (FEATS, 6, "5 feature rows but 6 coordinates"),
    (FEATS, 4, "5 feature rows but 4 coordinates"),
    (FEATS[None], 4, "5 feature rows but 4 coordinates"),
])
def test_r9_read_features_refuses_rows_that_do_not_match_the_coordinates(tmp_path, features,
                                                                         n_coords, message):
    """A (K, N, D) stack with K > 1 is not a bag: it is never cut to its first slice. Rows and
    coordinates must agree in length both ways. Catches the leading axis squeezed for any K, and
    the length check made one-sided."""
    _h5(tmp_path / "s.h5", features, np.zeros((n_coords, 2), np.int64))
    with pytest.raises(ValueError, match=rf"s.h5: {message}; the file is incomplete"):
        read_features(tmp_path / "s.h5")


def test_r9_a_stack_without_coords_keeps_every_slice_and_write_features_checks_both_ways(tmp_path):
    """Without coordinates a (2, N, D) stack comes back whole (a bag dataset then refuses its
    shape), not silently cut to (N, D). write_features refuses more or fewer rows than coords."""
    _h5(tmp_path / "s.h5", np.stack([FEATS, FEATS + 1]))
    got, c = read_features(tmp_path / "s.h5")
    assert got.shape == (2, 5, 3) and c.shape == (0, 2)
    for n in (4, 6):
        with pytest.raises(ValueError, match=f"5 feature rows for {n} coordinates"):
            write_features(tmp_path / f"w{n}.h5", FEATS, COORDS[:1].repeat(n, 0))
        assert not (tmp_path / f"w{n}.h5").exists()


# ---- round 12: the writers' own conversions, by hand ------------------------------------------
def test_r12_writers_return_a_path_and_take_flat_coordinates(tmp_path):
    """Both writers return the target as a Path (given a str) and reshape flat coordinates
    (x0, y0, x1, y1, ...) into N×2 before comparing them with the feature rows; a features file
    written without coords_attrs has coordinates without attributes. Catches the str returned,
    the reshape dropped (4 coordinate 'rows' for 2 feature rows), and attributes put on the
    wrong dataset."""
    p = write_coords(str(tmp_path / "c.h5"), [0, 256, 512, 768], patch_size=256)
    assert p == tmp_path / "c.h5" and isinstance(p, type(tmp_path))
    c, attrs = read_coords(p)
    assert c.tolist() == [[0, 256], [512, 768]] and attrs == {"patch_size": 256}
    f = write_features(str(tmp_path / "f.h5"), np.ones((2, 3)), [0, 256, 512, 768],
                       encoder="e")
    assert f == tmp_path / "f.h5" and isinstance(f, type(tmp_path))
    feats, coords = read_features(f)
    assert feats.shape == (2, 3) and coords.tolist() == [[0, 256], [512, 768]]
    with h5py.File(f, "r") as h:
        assert dict(h["coords"].attrs) == {} and dict(h["features"].attrs) == {"encoder": "e"}
    with pytest.raises(ValueError, match="3 feature rows for 2 coordinates"):
        write_features(tmp_path / "g.h5", np.ones((3, 3)), [0, 0, 1, 1])
    assert not (tmp_path / "g.h5").exists()
