"""The on-disk contract between chapters: coordinates and features in the CLAM/TRIDENT HDF5 layout.

``patches/<id>.h5``  dataset ``coords`` (N×2 int64, level-0 top-left x, y) with attributes
``patch_size``, ``patch_size_level0``, ``target_mpp``, ``level0_mpp``, ``overlap``.
``features_<enc>/<id>.h5``  datasets ``features`` (N×D float32) and ``coords`` (same order),
attributes ``encoder``, ``input_size`` (plus the coords attributes).

Every writer goes through :func:`atomic_output`, so an interrupted run never leaves a file that
looks complete.
"""
from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

__all__ = ["atomic_output", "remove_partials", "write_coords", "read_coords", "write_features", "read_features",
           "h5_attrs"]


def _current_umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The finished file gets the mode an ordinary ``open(path, "w")`` would give it,
    ``0o666 & ~umask``: ``mkstemp`` creates 0600 files, which colleagues on a shared disk could
    not read.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_partials(path: str | Path) -> list[Path]:
    """Delete the temporary files :func:`atomic_output` left beside ``path`` when its writer was
    killed (``kill -9``, a worker process stopped mid-write): ``.<name>.*.part``. Call it only
    where no other process is writing ``path`` now (the one task that owns an output)."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    gone = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            gone.append(tmp)
    return gone


def _clean_attrs(attrs: dict) -> dict:
    out = {}
    for k, v in attrs.items():
        if v is None:
            continue
        out[k] = v.item() if isinstance(v, np.generic) else v
    return out


def write_coords(path: str | Path, coords: np.ndarray, **attrs) -> Path:
    """Write level-0 top-left patch coordinates (N×2) and their attributes, atomically."""
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("coords", data=coords)
        ds.attrs.update(_clean_attrs(attrs))
    return Path(path)


def _unreadable(path: str | Path, err: OSError) -> OSError:
    """h5py's errors on a truncated or non-HDF5 file do not always say which file; ours do."""
    if isinstance(err, FileNotFoundError):
        return FileNotFoundError(f"{path}: no such file")
    return OSError(f"{path}: cannot read this HDF5 file ({err}); it is truncated or not HDF5. "
                   "Write it again (re-run the step that made it).")


def read_coords(path: str | Path) -> tuple[np.ndarray, dict]:
    """Coordinates (N×2 int64) and attributes from a patches or features file.

    Raises ``KeyError`` without a ``coords`` dataset and ``OSError`` (the message names the
    file) when the file is truncated or not HDF5.
    """
    try:
        with h5py.File(path, "r") as f:
            if "coords" not in f:
                raise KeyError(f"{path}: no 'coords' dataset; is this a CLAM/TRIDENT patches file?")
            return f["coords"][:].astype(np.int64), dict(f["coords"].attrs)
    except OSError as err:
        raise _unreadable(path, err) from err


def write_features(path: str | Path, features: np.ndarray, coords: np.ndarray,
                   coords_attrs: dict | None = None, **attrs) -> Path:
    """Write a features file (``features`` N×D float32 + ``coords`` N×2), atomically."""
    features = np.asarray(features, dtype=np.float32)
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    if len(features) != len(coords):
        raise ValueError(f"{len(features)} feature rows for {len(coords)} coordinates")
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        c = f.create_dataset("coords", data=coords)
        c.attrs.update(_clean_attrs(coords_attrs or {}))
        d = f.create_dataset("features", data=features)
        d.attrs.update(_clean_attrs(attrs))
    return Path(path)


def read_features(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(features, coords)`` from a CLAM/TRIDENT features file. Files without coords (some
    CLAM ``.h5`` exports) give an empty coordinate array.

    Raises ``KeyError`` without a ``features`` dataset, ``ValueError`` when features and coords
    disagree in length, and ``OSError`` (the message names the file) when the file is truncated
    or not HDF5.
    """
    try:
        with h5py.File(path, "r") as f:
            if "features" not in f:
                raise KeyError(f"{path}: no 'features' dataset; is this a features file?")
            feats = f["features"][:]
            coords = f["coords"][:].astype(np.int64) if "coords" in f else np.zeros((0, 2), np.int64)
    except OSError as err:
        raise _unreadable(path, err) from err
    if feats.ndim == 3 and feats.shape[0] == 1:  # some exporters store (1, N, D)
        feats = feats[0]
    if len(coords) and len(coords) != len(feats):
        raise ValueError(f"{path}: {len(feats)} feature rows but {len(coords)} coordinates; the "
                         "file is incomplete. Extract its features again.")
    return feats.astype(np.float32, copy=False), coords


def h5_attrs(path: str | Path, dataset: str) -> dict:
    with h5py.File(path, "r") as f:
        return dict(f[dataset].attrs)
