"""A user's own small cohort on disk: features in the CLAM layout and a labels CSV (text labels,
case ids), for the command-line tests."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd


def write_feature_cohort(root: Path, n_slides: int = 24, dim: int = 16, seed: int = 0,
                         prefix: str = "slide", signal: float = 2.5) -> tuple[Path, Path]:
    """``n_slides`` slides (every other one 'tumor'), two slides per patient, ``dim``-d
    features on a 256-px grid: a tumour slide has a few patches shifted by ``signal`` in its
    first four features. Returns (features folder, labels CSV)."""
    feats = Path(root) / "features"
    feats.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_slides):
        label = "tumor" if (i // 2) % 2 else "normal"
        n = int(rng.integers(8, 30))
        x = rng.normal(size=(n, dim)).astype(np.float32)
        if label == "tumor":
            x[: max(2, n // 4), :4] += signal
        g = np.arange(n)
        coords = np.stack([(g % 6) * 256, (g // 6) * 256], 1).astype(np.int64)
        sid = f"{prefix}_{i:02d}"
        with h5py.File(feats / f"{sid}.h5", "w") as f:
            f["features"] = x
            f["coords"] = coords
        rows.append({"slide_id": sid, "label": label, "case_id": f"{prefix}_case_{i // 2:02d}"})
    csv = Path(root) / "labels.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return feats, csv
