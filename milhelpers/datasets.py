"""Bags for MIL: slide features + labels (CLAM/TRIDENT layout), the classic MIL tables, splits,
and the padding collate every aggregator consumes.

A bag is one slide (or one MUSK molecule): ``features`` (N × D), a bag ``label``, the patch
``coords`` and, where ground truth exists (the synthetic cohort), per-instance ``instance_labels``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

__all__ = ["Bag", "BagBatch", "BagDataset", "ListBagDataset", "DataMismatchError",
           "load_mil_table", "MIL_TABLES", "collate_bags", "stratified_folds",
           "train_val_split", "cohort_instance_labels"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
MIL_TABLES = {"musk1": "musk1.csv.gz", "musk2": "musk2.csv.gz", "elephant": "elephant.csv.gz",
              "ucsb_breast": "ucsb_breast_cancer.csv.gz"}


class DataMismatchError(ValueError):
    """Features and labels do not fit together (missing slides, wrong dims, NaNs, empty bags)."""


@dataclass
class Bag:
    features: torch.Tensor            # (N, D) float32
    label: int
    slide_id: str
    coords: np.ndarray | None = None  # (N, 2) level-0 top-left
    instance_labels: np.ndarray | None = None  # (N,) in [0, 1], e.g. tumour fraction
    patch_size0: int | None = None    # patch side in level-0 pixels (for heatmaps)


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


def _check_bag(features: np.ndarray, slide_id: str, dim: int | None) -> None:
    if features.ndim != 2 or len(features) == 0:
        raise DataMismatchError(f"{slide_id}: empty bag (no patches, shape {features.shape}); "
                                "re-tile it with a lower min_tissue or drop it from the labels.")
    if dim is not None and features.shape[1] != dim:
        raise DataMismatchError(f"{slide_id}: features are {features.shape[1]}-d but other slides "
                                f"are {dim}-d; were they made with another encoder?")
    if not np.isfinite(features).all():
        bad = int((~np.isfinite(features)).any(1).sum())
        raise DataMismatchError(f"{slide_id}: {bad} patch(es) with NaN/inf features; re-extract "
                                "this slide (a corrupt region or a failed encoder run).")


class ListBagDataset(Dataset):
    """Bags held in a list (classic MIL tables, subsets of a :class:`BagDataset`)."""

    def __init__(self, bags: Sequence[Bag]):
        self.bags = list(bags)

    @property
    def labels(self) -> np.ndarray:
        return np.array([b.label for b in self.bags])

    @property
    def dim(self) -> int:
        return int(self.bags[0].features.shape[1])

    def subset(self, idx: Sequence[int]) -> "ListBagDataset":
        return ListBagDataset([self.bags[i] for i in idx])

    def __len__(self) -> int:
        return len(self.bags)

    def __getitem__(self, i: int) -> Bag:
        return self.bags[i]


class BagDataset(ListBagDataset):
    """Slides from a features folder (``<slide_id>.h5`` with ``features``/``coords``) + a labels CSV.

    The CSV needs ``slide_id`` and ``label`` columns (``fold`` is optional). Every slide in the CSV
    must have features and every features file a CSV row; otherwise :class:`DataMismatchError`
    names the offending slides. Features are checked (finite, same dimension, non-empty) and kept
    in memory.

    ``instance_labels``: optional ``fn(slide_id, coords, patch_size_level0) -> (N,) array``.
    """

    def __init__(self, features_dir: str | Path, labels: str | Path | pd.DataFrame,
                 slide_ids: Sequence[str] | None = None,
                 instance_labels: Callable[[str, np.ndarray, int], np.ndarray] | None = None):
        self.features_dir = Path(features_dir)
        df = labels if isinstance(labels, pd.DataFrame) else pd.read_csv(labels)
        missing_cols = {"slide_id", "label"} - set(df.columns)
        if missing_cols:
            raise DataMismatchError(f"labels table lacks column(s) {sorted(missing_cols)}; it needs "
                                    "slide_id,label[,fold]")
        df = df.assign(slide_id=df.slide_id.astype(str))
        if not self.features_dir.is_dir():
            raise DataMismatchError(f"features folder {self.features_dir} does not exist; run "
                                    "`python -m milhelpers extract` first.")
        on_disk = {p.stem for p in self.features_dir.glob("*.h5")}
        in_csv = set(df.slide_id)
        no_feat, no_label = sorted(in_csv - on_disk), sorted(on_disk - in_csv)
        if no_feat or no_label:
            msg = []
            if no_feat:
                msg.append(f"{len(no_feat)} slide(s) in the labels have no features in "
                           f"{self.features_dir}: {_short(no_feat)}")
            if no_label:
                msg.append(f"{len(no_label)} features file(s) have no row in the labels: "
                           f"{_short(no_label)}")
            raise DataMismatchError("; ".join(msg) + ". Fix the CSV or the features folder "
                                    "(or pass slide_ids= to use a subset).")
        if slide_ids is not None:
            unknown = sorted(set(slide_ids) - in_csv)
            if unknown:
                raise DataMismatchError(f"unknown slide ids {_short(unknown)}")
            df = df.set_index("slide_id").loc[list(slide_ids)].reset_index()
        self.table = df.reset_index(drop=True)
        bags: list[Bag] = []
        dim = None
        for sid, y in zip(self.table.slide_id, self.table.label):
            with h5py.File(self.features_dir / f"{sid}.h5", "r") as f:
                feats = f["features"][:]
                coords = f["coords"][:] if "coords" in f else None
                size0 = int(f["coords"].attrs.get("patch_size_level0", 0)) if "coords" in f else 0
            if feats.ndim == 3 and feats.shape[0] == 1:
                feats = feats[0]
            _check_bag(feats, sid, dim)
            dim = feats.shape[1]
            inst = instance_labels(sid, coords, size0) if instance_labels is not None else None
            bags.append(Bag(torch.from_numpy(feats.astype(np.float32)), int(y), sid, coords, inst,
                            size0 or None))
        super().__init__(bags)


def _short(items: Sequence[str], n: int = 8) -> str:
    items = list(items)
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
        _check_bag(feats, f"{name}:{bag_id}", None)
        bags.append(Bag(torch.from_numpy(feats), int(labels[0] > 0), f"{name}_{bag_id}"))
    return ListBagDataset(bags)


def stratified_folds(labels: Sequence[int], k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` stratified (train, test) index splits with a fixed seed."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in skf.split(np.zeros(len(labels)), labels)]


def train_val_split(train_idx: Sequence[int], labels: Sequence[int], val_fraction: float = 0.2,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (train, validation), stratified; validation is for early
    stopping and model selection, so the test fold is never looked at while training."""
    from sklearn.model_selection import train_test_split

    train_idx = np.asarray(train_idx)
    y = np.asarray(labels)[train_idx]
    tr, va = train_test_split(train_idx, test_size=val_fraction, stratify=y, random_state=seed)
    return np.sort(tr), np.sort(va)


def cohort_instance_labels(cohort_root: str | Path) -> Callable[[str, np.ndarray, int], np.ndarray]:
    """Instance labels for the synthetic cohort: each patch's tumour fraction from the mask."""
    from .synth import load_tumour_mask
    from .tiling import box_fraction

    root = Path(cohort_root)

    def fn(slide_id: str, coords: np.ndarray, size0: int) -> np.ndarray:
        mask, ds = load_tumour_mask(root, slide_id)
        return box_fraction(mask, ds, coords, size0)

    return fn
