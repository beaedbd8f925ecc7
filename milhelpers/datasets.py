"""Bags for MIL: slide features + labels (CLAM/TRIDENT layout), the classic MIL tables, splits,
and the padding collate every aggregator consumes.

A bag is one slide (or one MUSK molecule): ``features`` (N × D), a bag ``label``, the patch
``coords`` and, where ground truth exists (the synthetic cohort), per-instance ``instance_labels``.

Every dataset here (:class:`ListBagDataset`, :class:`BagDataset`) offers the same small interface:
``labels`` (int array), ``dim``, ``slide_ids``, ``case_ids``, ``class_names``, ``n_classes``,
``bags``, ``subset(idx)``, ``len`` and ``ds[i] -> Bag``. Splits are made on ``labels`` and, where
slides come from the same patient, grouped by ``case_ids`` so no patient sits on both sides.
"""
from __future__ import annotations

import copy
import warnings
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .h5io import read_features

__all__ = ["Bag", "BagBatch", "BagDataset", "ListBagDataset", "DataMismatchError",
           "load_mil_table", "MIL_TABLES", "collate_bags", "stratified_folds",
           "train_val_split", "cohort_instance_labels", "encode_labels",
           "infer_patch_size_level0", "IN_MEMORY_MAX_BYTES"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
MIL_TABLES = {"musk1": "musk1.csv.gz", "musk2": "musk2.csv.gz", "elephant": "elephant.csv.gz",
              "ucsb_breast": "ucsb_breast_cancer.csv.gz"}
#: ``BagDataset(in_memory=None)`` keeps the features in memory up to this many bytes (float32),
#: and reads each bag from its h5 file on access above it.
IN_MEMORY_MAX_BYTES = 1 << 30


class DataMismatchError(ValueError):
    """Features and labels do not fit together: missing, duplicate or mislabelled slides, wrong
    dims, NaNs, empty bags, or a features file that cannot be read (the message names the file)."""


@dataclass
class Bag:
    features: torch.Tensor            # (N, D) float32
    label: int
    slide_id: str
    coords: np.ndarray | None = None  # (N, 2) level-0 top-left
    instance_labels: np.ndarray | None = None  # (N,) in [0, 1], e.g. tumour fraction
    patch_size0: int | None = None    # patch side in level-0 pixels (for heatmaps)
    case_id: str | None = None        # patient (BagDataset: the slide id where none is given)


@dataclass
class BagBatch:
    """Padded bags: ``features`` (B, N, D), ``mask`` (B, N) True on real instances."""

    features: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    slide_ids: list[str]
    coords: list[np.ndarray | None]
    instance_labels: list[np.ndarray | None]

    def to(self, device) -> "BagBatch":
        return BagBatch(self.features.to(device), self.mask.to(device), self.labels.to(device),
                        self.slide_ids, self.coords, self.instance_labels)


def collate_bags(bags: Sequence[Bag]) -> BagBatch:
    """Pad variable-length bags to the longest one and return the padding mask."""
    n = max(len(b.features) for b in bags)
    d = bags[0].features.shape[1]
    x = torch.zeros(len(bags), n, d, dtype=bags[0].features.dtype)
    mask = torch.zeros(len(bags), n, dtype=torch.bool)
    for i, b in enumerate(bags):
        x[i, : len(b.features)] = b.features
        mask[i, : len(b.features)] = True
    labels = torch.tensor([b.label for b in bags], dtype=torch.long)
    return BagBatch(x, mask, labels, [b.slide_id for b in bags], [b.coords for b in bags],
                    [b.instance_labels for b in bags])


def _check_shape(shape: tuple[int, ...], name: str, dim: int | None) -> None:
    if len(shape) != 2:
        raise DataMismatchError(f"{name}: features have shape {tuple(shape)}; expected "
                                "(patches, feature dim). Is this a patch-features file?")
    if shape[0] == 0:
        raise DataMismatchError(f"{name}: empty bag (no patches, shape {tuple(shape)}); "
                                "re-tile it with a lower min_tissue or drop it from the labels.")
    if dim is not None and shape[1] != dim:
        raise DataMismatchError(f"{name}: features are {shape[1]}-d but other slides "
                                f"are {dim}-d; were they made with another encoder?")


def _check_finite(features: np.ndarray, name: str) -> None:
    if not np.isfinite(features).all():
        bad = int((~np.isfinite(features)).any(1).sum())
        raise DataMismatchError(f"{name}: {bad} patch(es) with NaN/inf features; re-extract "
                                "this slide (a corrupt region or a failed encoder run).")


def encode_labels(values: Sequence, label_map: Mapping[str, int] | None = None
                  ) -> tuple[np.ndarray, list[str] | None]:
    """Bag labels as class indices ``0 … C−1``, plus the class names when ``label_map`` was used.

    Integer labels (also integral floats and booleans) are kept as they are. Text labels need an
    explicit ``label_map`` (text → index; every value of the column is looked up as text, so
    ``{"0": 0, "2": 1}`` also renumbers integers); the order of the classes decides which one is
    "positive" for AUC, so it is never guessed. The result must use every index ``0 … C−1`` with
    ``C = max + 1 ≥ 2``: a single class, a negative label or an empty class raises
    :class:`DataMismatchError` saying which.
    """
    s = pd.Series(list(values) if not isinstance(values, pd.Series) else values)
    if s.isna().any():
        rows = np.flatnonzero(s.isna().to_numpy())
        raise DataMismatchError(f"{len(rows)} label(s) are missing (rows {_short(map(str, rows))}); "
                                "give every slide a label or drop its row.")
    names = None
    if label_map is not None:
        text = s.astype(str)
        unknown = sorted(set(text) - set(map(str, label_map)))
        if unknown:
            raise DataMismatchError(f"label(s) {unknown} are not in label_map {dict(label_map)}; "
                                    "add them to the map.")
        lut = {str(k): v for k, v in label_map.items()}
        bad_idx = [v for v in lut.values()
                   if not isinstance(v, (int, np.integer)) or isinstance(v, bool)]
        if bad_idx:
            raise DataMismatchError(f"label_map values must be class indices 0…C−1, got {bad_idx}")
        y = text.map(lut).to_numpy(np.int64)
        n = int(max(lut.values())) + 1
        names = ["/".join(k for k, v in lut.items() if v == i) for i in range(n)]
    elif pd.api.types.is_bool_dtype(s):
        y = s.to_numpy(np.int64)
    elif pd.api.types.is_numeric_dtype(s):
        f = s.to_numpy(np.float64)
        if not np.all(np.isfinite(f) & (f == np.round(f))):
            odd = sorted(set(f[~np.isfinite(f) | (f != np.round(f))].tolist()))[:5]
            raise DataMismatchError(f"labels must be integer class indices 0…C−1; found {odd}")
        y = f.astype(np.int64)
    else:
        found = sorted(set(s.astype(str)))
        example = ", ".join(f"{k!r}: {i}" for i, k in enumerate(found))
        raise DataMismatchError(
            f"labels are text ({_short(found)}); say which class is which with "
            f"label_map={{{example}}} (the positive class takes the highest index) or write "
            "integer labels 0…C−1 in the CSV.")
    if (y < 0).any():
        raise DataMismatchError("labels must be 0…C−1; found negative label(s) "
                                f"{sorted(set(y[y < 0].tolist()))}")
    counts = np.bincount(y)
    if len(counts) < 2 or (counts > 0).sum() < 2:
        raise DataMismatchError(f"all {len(y)} slides have label {int(y[0])}: a classifier needs "
                                "at least two classes; check the label column.")
    empty = np.flatnonzero(counts == 0).tolist()
    if empty:
        found = np.flatnonzero(counts).tolist()
        renumber = {str(v): i for i, v in enumerate(found)}
        raise DataMismatchError(f"labels must be 0…C−1 with every class present; classes {empty} "
                                f"have no slide (labels found: {found}). Renumber them in the "
                                f"CSV or pass label_map={renumber}.")
    return y, names


def infer_patch_size_level0(coords: np.ndarray) -> int | None:
    """The level-0 step of a regular patch grid: the most common gap between neighbouring patches
    of one row (same y) and of one column (same x).

    Rows are looked at one by one because CLAM starts a fresh grid in every tissue contour, so
    x positions from different contours interleave. The step is the patch side when patches do
    not overlap (CLAM's and TRIDENT's default). ``None`` when no two patches share a row or a
    column, or when the row and column steps disagree.
    """
    c = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    steps = []
    for along, line in ((0, 1), (1, 0)):
        s = c[np.lexsort((c[:, along], c[:, line]))]
        gaps = np.diff(s[:, along])[(s[1:, line] == s[:-1, line])]
        gaps = gaps[gaps > 0]
        if len(gaps):
            vals, counts = np.unique(gaps, return_counts=True)
            steps.append(int(vals[np.argmax(counts)]))
    if not steps or len(set(steps)) > 1:
        return None
    return steps[0]


class ListBagDataset(Dataset):
    """Bags held in a list (classic MIL tables, synthetic bags, subsets built in code)."""

    def __init__(self, bags: Sequence[Bag], class_names: Sequence[str] | None = None):
        self.bags = list(bags)
        self.class_names = list(class_names) if class_names is not None else None

    @property
    def labels(self) -> np.ndarray:
        return np.array([b.label for b in self.bags], dtype=np.int64)

    @property
    def slide_ids(self) -> list[str]:
        return [b.slide_id for b in self.bags]

    @property
    def case_ids(self) -> np.ndarray:
        """Patient of each bag (its slide id where none is given), for grouped splits."""
        return np.array([b.case_id if b.case_id is not None else b.slide_id for b in self.bags],
                        dtype=object).astype(str)

    @property
    def n_classes(self) -> int:
        return len(self.class_names) if self.class_names else int(self.labels.max()) + 1

    @property
    def dim(self) -> int:
        return int(self.bags[0].features.shape[1])

    def subset(self, idx: Sequence[int]) -> "ListBagDataset":
        return ListBagDataset([self.bags[i] for i in idx], self.class_names)

    def __len__(self) -> int:
        return len(self.bags)

    def __getitem__(self, i: int) -> Bag:
        return self.bags[i]


@dataclass(frozen=True)
class _Slide:
    """What :class:`BagDataset` knows about a slide without reading its features."""

    slide_id: str
    path: Path
    label: int
    case_id: str
    n: int
    patch_size0: int | None


class _LRU:
    """A tiny least-recently-used cache of bags, shared by a dataset and its subsets."""

    def __init__(self, size: int):
        self.size, self.items = size, OrderedDict()

    def get(self, key: str) -> Bag | None:
        bag = self.items.get(key)
        if bag is not None:
            self.items.move_to_end(key)
        return bag

    def put(self, key: str, bag: Bag) -> None:
        if self.size <= 0:
            return
        self.items[key] = bag
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


class _BagSequence(Sequence):
    """``dataset.bags`` for a lazy :class:`BagDataset`: each item is read on access."""

    def __init__(self, ds: "BagDataset"):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.ds[j] for j in range(*i.indices(len(self)))]
        return self.ds[i]

    def __iter__(self) -> Iterator[Bag]:
        return (self.ds[i] for i in range(len(self)))


class BagDataset(Dataset):
    """Slides from a features folder (``<slide_id>.h5`` with ``features``/``coords``) + a labels CSV.

    The CSV needs ``slide_id`` and ``label`` columns; ``case_id`` (patient) and ``fold`` are
    optional. ``slide_id`` and ``case_id`` are read as text, so ``001`` stays ``001``. The
    labels may name a subset of the features folder: the other files are listed in
    ``unused_features`` and reported in one printed line. The loader refuses, naming the slides:
    a slide listed twice (or with two labels), a slide without features, labels that are not ``0 … C−1`` with at least two
    classes (text labels need ``label_map``, see :func:`encode_labels`), empty bags, mixed
    feature dimensions, NaN/inf features, and files it cannot read (truncated or not HDF5). All
    of these raise :class:`DataMismatchError`.

    Memory: ``in_memory=None`` keeps every bag in memory when the features total at most
    :data:`IN_MEMORY_MAX_BYTES` (sizes read from the h5 headers, nothing loaded) and otherwise
    reads each bag from its file on access, keeping the ``cache_size`` most recent ones.
    Shapes are checked from the headers at construction either way; a lazily read bag with
    NaN/inf features raises when it is read. ``subset`` keeps the mode and shares the cache.

    Patch size (``Bag.patch_size0``, needed for heatmaps and instance labels): the
    ``patch_size_level0`` attribute of ``coords`` (this package and TRIDENT write it); else the
    ``patch_size_level0`` argument; else, for CLAM's layout (no attributes), the step of the
    coordinate grid (:func:`infer_patch_size_level0`). A warning names the files whose size was
    taken from the argument or the grid. Where it cannot be known it is ``None``, and asking
    for ``instance_labels`` then raises.

    ``instance_labels``: optional ``fn(slide_id, coords, patch_size_level0) -> (N,) array``.
    """

    def __init__(self, features_dir: str | Path, labels: str | Path | pd.DataFrame,
                 slide_ids: Sequence[str] | None = None,
                 instance_labels: Callable[[str, np.ndarray, int], np.ndarray] | None = None, *,
                 label_map: Mapping[str, int] | None = None,
                 patch_size_level0: int | None = None,
                 in_memory: bool | None = None, cache_size: int = 32):
        self.features_dir = Path(features_dir)
        table = _read_label_table(labels)
        if not self.features_dir.is_dir():
            raise DataMismatchError(f"features folder {self.features_dir} does not exist; run "
                                    "`python -m milhelpers extract` first.")
        on_disk = {p.stem for p in self.features_dir.glob("*.h5")}
        in_csv = set(table.slide_id)
        if slide_ids is not None:
            slide_ids = [str(s) for s in slide_ids]
            dup = sorted(s for s, n in Counter(slide_ids).items() if n > 1)
            if dup:
                raise DataMismatchError(f"slide_ids lists {_short(dup)} more than once")
            unknown = sorted(set(slide_ids) - in_csv)
            if unknown:
                raise DataMismatchError(f"slide_ids {_short(unknown)} have no row in the labels")
            table = table.set_index("slide_id").loc[slide_ids].reset_index()
            no_feat, no_label = sorted(set(slide_ids) - on_disk), []
        else:
            no_feat, no_label = sorted(in_csv - on_disk), sorted(on_disk - in_csv)
        if no_feat:
            raise DataMismatchError(f"{_plural(len(no_feat), 'slide')} in the labels "
                                    f"{'has' if len(no_feat) == 1 else 'have'} no features in "
                                    f"{self.features_dir}: {_short(no_feat)}. Extract them, or "
                                    "drop their rows from the labels CSV.")
        #: features files the labels do not name: left out (a labels CSV may pick a subset)
        self.unused_features = no_label
        if no_label:
            print(f"{_plural(len(no_label), 'features file')} in {self.features_dir} "
                  f"{'has' if len(no_label) == 1 else 'have'} no row in the labels and "
                  f"{'is' if len(no_label) == 1 else 'are'} left out: {_short(no_label)}")
        y, self.class_names = encode_labels(table.label, label_map)
        if label_map is not None:
            table = table.assign(label_name=table.label.astype(str), label=y)
            counts = np.bincount(y)
            print("label_map: " + ", ".join(f"{n} → {i} ({counts[i]} slides)"
                                            for i, n in enumerate(self.class_names)))
        else:
            table = table.assign(label=y)
        self.table = table.reset_index(drop=True)
        self._n_classes = int(y.max()) + 1
        self._slides, self.dim, nbytes = _scan_features(self.features_dir, self.table,
                                                        patch_size_level0)
        if instance_labels is not None:
            unknown = [s.slide_id for s in self._slides if s.patch_size0 is None]
            if unknown:
                raise DataMismatchError(
                    f"instance labels need each patch's size, but it is unknown for "
                    f"{_short(unknown)} (no patch_size_level0 attribute and no regular coordinate "
                    "grid); pass patch_size_level0= (the patch side in level-0 pixels).")
        self._instance_labels = instance_labels
        self.in_memory = nbytes <= IN_MEMORY_MAX_BYTES if in_memory is None else bool(in_memory)
        # in memory: a cache that holds every bag, filled now; lazy: the last few bags read
        self._cache = _LRU(len(self._slides) if self.in_memory else cache_size)
        if self.in_memory:
            for s in self._slides:
                self._cache.put(s.slide_id, self._read(s))

    # -- the dataset interface --------------------------------------------------------------
    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self._slides], dtype=np.int64)

    @property
    def slide_ids(self) -> list[str]:
        return [s.slide_id for s in self._slides]

    @property
    def case_ids(self) -> np.ndarray:
        """Patient of each slide (its slide id where the CSV has no ``case_id``)."""
        return np.array([s.case_id for s in self._slides], dtype=object).astype(str)

    @property
    def n_classes(self) -> int:
        return self._n_classes

    @property
    def bags(self) -> Sequence[Bag]:
        """All bags: a list in memory, a read-on-access sequence when lazy."""
        return [self[i] for i in range(len(self))] if self.in_memory else _BagSequence(self)

    def subset(self, idx: Sequence[int]) -> "BagDataset":
        """The slides at ``idx`` (in that order), in the same mode, sharing the cache."""
        idx = [int(i) for i in idx]
        out = copy.copy(self)
        out._slides = [self._slides[i] for i in idx]
        out.table = self.table.iloc[idx].reset_index(drop=True)
        return out

    def __len__(self) -> int:
        return len(self._slides)

    def __getitem__(self, i: int) -> Bag:
        s = self._slides[i]
        bag = self._cache.get(s.slide_id)
        if bag is None:
            bag = self._read(s)
            self._cache.put(s.slide_id, bag)
        return bag

    def _read(self, s: _Slide) -> Bag:
        try:
            feats, coords = read_features(s.path)
        except (OSError, KeyError, ValueError) as err:
            raise DataMismatchError(err.args[0] if err.args else str(err)) from err
        _check_shape(feats.shape, str(s.path), self.dim)
        _check_finite(feats, str(s.path))
        if len(feats) != s.n:
            raise DataMismatchError(f"{s.path}: has {len(feats)} patches, {s.n} when the dataset "
                                    "was built; was it rewritten? Build the dataset again.")
        coords = coords if len(coords) else None
        inst = (self._instance_labels(s.slide_id, coords, s.patch_size0)
                if self._instance_labels is not None else None)
        return Bag(torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)), s.label,
                   s.slide_id, coords, inst, s.patch_size0, s.case_id)


def _read_label_table(labels: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The labels CSV with ``slide_id``/``case_id`` as text, checked for duplicate slides."""
    if isinstance(labels, pd.DataFrame):
        df = labels.copy()
        source = "labels table"
    else:
        source = str(labels)
        try:
            df = pd.read_csv(labels, dtype={"slide_id": str, "case_id": str})
        except FileNotFoundError as err:
            raise DataMismatchError(f"labels file {labels} does not exist") from err
    missing_cols = {"slide_id", "label"} - set(df.columns)
    if missing_cols:
        raise DataMismatchError(f"{source} lacks column(s) {sorted(missing_cols)}; it needs "
                                "slide_id,label[,case_id][,fold]")
    if df.slide_id.isna().any():
        rows = np.flatnonzero(df.slide_id.isna().to_numpy())
        raise DataMismatchError(f"{source}: row(s) {_short([str(r) for r in rows])} have no slide_id")
    df["slide_id"] = df.slide_id.astype(str).str.strip()
    if "case_id" in df:
        case = df.case_id.astype(object).where(df.case_id.notna(), None)
        df["case_id"] = [str(c).strip() if c is not None else s for c, s in zip(case, df.slide_id)]
    dup = df.slide_id[df.slide_id.duplicated(keep=False)]
    if len(dup):
        ids = sorted(set(dup))
        n_labels = df[df.slide_id.isin(ids)].groupby("slide_id").label.nunique(dropna=False)
        conflicting = sorted(n_labels.index[n_labels > 1])
        msg = f"{source}: slide_id(s) listed more than once: {_short(ids)}"
        if conflicting:
            msg += f", with conflicting labels for {_short(conflicting)}"
        raise DataMismatchError(msg + ". Each slide is one bag: keep one row per slide (a copy "
                                "would land in train and test of the same fold).")
    if "case_id" in df and "fold" in df:
        n_folds = df.groupby("case_id").fold.nunique(dropna=False)
        split = sorted(n_folds.index[n_folds > 1])
        if split:
            raise DataMismatchError(f"{source}: the slides of case(s) {_short(split)} sit in "
                                    "different folds, so a patient would be in train and test; "
                                    "give all slides of a case the same fold.")
    return df


def _scan_features(folder: Path, table: pd.DataFrame, patch_size_level0: int | None
                   ) -> tuple[list[_Slide], int, int]:
    """Shapes and patch sizes from the h5 headers (and coords where the size must be inferred):
    ``(slides, feature dim, total float32 bytes)``. Nothing large is read."""
    slides, dim, nbytes = [], None, 0
    from_arg, inferred, unknown = [], {}, []
    case = table.case_id if "case_id" in table else table.slide_id
    for sid, y, cid in zip(table.slide_id, table.label, case):
        path = folder / f"{sid}.h5"
        try:
            with h5py.File(path, "r") as f:
                if "features" not in f:
                    raise DataMismatchError(f"{path}: no 'features' dataset; is this a features "
                                            "file (CLAM/TRIDENT layout)?")
                shape = f["features"].shape
                if len(shape) == 3 and shape[0] == 1:  # some exporters store (1, N, D)
                    shape = shape[1:]
                c = f.get("coords")
                n_coords = c.shape[0] if c is not None else None
                size0 = _positive_int(c.attrs.get("patch_size_level0")) if c is not None else None
                if size0 is None and patch_size_level0 is not None:
                    size0 = patch_size_level0
                    from_arg.append(sid)
                elif size0 is None and c is not None:
                    size0 = infer_patch_size_level0(c[:])
                    if size0 is not None:
                        inferred.setdefault(size0, []).append(sid)
        except OSError as err:
            raise DataMismatchError(f"{path}: cannot read this HDF5 file ({err}); it is truncated "
                                    "or not HDF5. Extract the features of this slide again.") from err
        _check_shape(shape, str(path), dim)
        dim = int(shape[1])
        if n_coords is not None and n_coords != shape[0]:
            raise DataMismatchError(f"{path}: {shape[0]} feature rows but {n_coords} coordinates; "
                                    "the file is incomplete. Extract the features again.")
        if size0 is None:
            unknown.append(sid)
        slides.append(_Slide(sid, path, int(y), str(cid), int(shape[0]), size0))
        nbytes += int(shape[0]) * dim * 4
    if from_arg:
        warnings.warn(f"{len(from_arg)} features file(s) have no patch_size_level0 attribute; "
                      f"using patch_size_level0={patch_size_level0} given as argument for "
                      f"{_short(from_arg)}", stacklevel=3)
    if unknown:
        warnings.warn(f"the patch size is unknown for {len(unknown)} features file(s) "
                      f"({_short(unknown)}): no patch_size_level0 attribute and no regular "
                      "coordinate grid. Heatmaps and instance labels need it: pass "
                      "patch_size_level0= (the patch side in level-0 pixels).", stacklevel=3)
    for size0, ids in inferred.items():
        warnings.warn(f"{len(ids)} features file(s) have no patch_size_level0 attribute (CLAM "
                      f"layout); inferred {size0} px at level 0 from the coordinate grid for "
                      f"{_short(ids)}. Pass patch_size_level0= if the patches overlap.",
                      stacklevel=3)
    return slides, dim, nbytes


def _positive_int(value) -> int | None:
    """An h5 attribute as a positive int; None where absent or unusable (TRIDENT writes "None")."""
    try:
        v = int(np.asarray(value).item())
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def _plural(n: int, noun: str) -> str:
    """'1 slide', '3 slides': a count in words a reader would write."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _short(items, n: int = 8) -> str:
    items = [str(i) for i in items]
    return ", ".join(items[:n]) + (f", … (+{len(items) - n} more)" if len(items) > n else "")


def load_mil_table(name: str, data_dir: str | Path | None = None) -> ListBagDataset:
    """A classic MIL benchmark (musk1, musk2, elephant, ucsb_breast) as bags of instances.

    The files are headerless CSVs: column 0 the bag label, column 1 the bag id, then features.
    """
    if name not in MIL_TABLES:
        raise KeyError(f"unknown MIL table {name!r}; choose from {sorted(MIL_TABLES)}")
    path = Path(data_dir or DATA_DIR / "mil_benchmarks") / MIL_TABLES[name]
    df = pd.read_csv(path, header=None)
    bags = []
    for bag_id, g in df.groupby(1, sort=True):
        labels = g[0].unique()
        if len(labels) != 1:
            raise DataMismatchError(f"{name}: bag {bag_id} has mixed labels {labels}")
        feats = g.iloc[:, 2:].to_numpy(np.float32)
        _check_shape(feats.shape, f"{name}:{bag_id}", None)
        _check_finite(feats, f"{name}:{bag_id}")
        bags.append(Bag(torch.from_numpy(feats), int(labels[0] > 0), f"{name}_{bag_id}"))
    return ListBagDataset(bags)


def _groups_per_class(labels: np.ndarray, groups: np.ndarray | None) -> dict[int, int]:
    """How many bags (or distinct groups, where given) carry each label."""
    out = {}
    for c in np.unique(labels):
        sel = labels == c
        out[int(c)] = int(sel.sum()) if groups is None else len(np.unique(groups[sel]))
    return out


def _as_groups(groups: Sequence | None, n: int) -> np.ndarray | None:
    if groups is None:
        return None
    g = np.asarray(groups).astype(str)
    if len(g) != n:
        raise ValueError(f"groups has {len(g)} entries for {n} labels; pass one case id per bag "
                         "(e.g. dataset.case_ids)")
    return g


def stratified_folds(labels: Sequence[int], k: int = 5, seed: int = 0,
                     groups: Sequence[str] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` shuffled, stratified (train, test) index splits with a fixed seed.

    With ``groups`` (one case/patient id per bag, e.g. ``dataset.case_ids``) the folds are
    grouped as well (scikit-learn's ``StratifiedGroupKFold``): every slide of a patient lands in
    the same test fold, so no patient is on both sides, and each fold's class balance is kept as
    close to the whole as the groups allow. Raises ``ValueError`` when a class has fewer bags
    (or groups) than ``k``, since a test fold would then lack that class.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    labels = np.asarray(labels)
    groups = _as_groups(groups, len(labels))
    if k < 2:
        raise ValueError(f"k={k}: cross-validation needs at least 2 folds")
    per_class = _groups_per_class(labels, groups)
    c, n = min(per_class.items(), key=lambda kv: kv[1])
    if n < k:
        unit = "bags" if groups is None else "cases (groups)"
        raise ValueError(f"k={k} folds need at least {k} {unit} of every class, but class {c} "
                         f"has {n}; use k <= {n}.")
    if groups is None:
        skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in skf.split(np.zeros(len(labels)), labels)]
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in sgkf.split(np.zeros(len(labels)), labels, groups)]


def train_val_split(train_idx: Sequence[int], labels: Sequence[int], val_fraction: float = 0.2,
                    seed: int = 0, groups: Sequence[str] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (train, validation), stratified; validation is for early
    stopping and model selection, so the test fold is never looked at while training.

    ``labels`` (and ``groups``, one case id per bag) are indexed like the whole dataset. Without
    groups the validation share is exactly ``val_fraction``; with groups it is one fold of a
    stratified group k-fold with ``k = round(1 / val_fraction)``, so about ``val_fraction`` of the
    bags and no case on both sides.
    """
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction} must be between 0 and 1 (e.g. 0.2)")
    train_idx = np.asarray(train_idx)
    labels = np.asarray(labels)
    groups = _as_groups(groups, len(labels))
    y = labels[train_idx]
    if groups is None:
        tr, va = train_test_split(train_idx, test_size=val_fraction, stratify=y, random_state=seed)
        return np.sort(tr), np.sort(va)
    k = round(1 / val_fraction)
    if k < 2:
        raise ValueError(f"val_fraction={val_fraction} is too large for a grouped split; use "
                         "at most 0.5")
    g = groups[train_idx]
    if len(np.unique(g)) < k:
        raise ValueError(f"a grouped validation share of {val_fraction} needs at least {k} cases "
                         f"in the training indices, found {len(np.unique(g))}")
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    tr, va = next(iter(sgkf.split(np.zeros(len(y)), y, g)))
    return np.sort(train_idx[tr]), np.sort(train_idx[va])


def cohort_instance_labels(cohort_root: str | Path) -> Callable[[str, np.ndarray, int], np.ndarray]:
    """Instance labels for the synthetic cohort: each patch's tumour fraction from the mask."""
    from .synth import load_tumour_mask
    from .tiling import box_fraction

    root = Path(cohort_root)

    def fn(slide_id: str, coords: np.ndarray, size0: int) -> np.ndarray:
        mask, ds = load_tumour_mask(root, slide_id)
        return box_fraction(mask, ds, coords, size0)

    return fn
