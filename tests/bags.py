"""Bags with a planted signal, shared by the trainer, method and runner tests."""
from __future__ import annotations

import numpy as np
import torch

from milhelpers.datasets import Bag, ListBagDataset


def planted_bags(n_bags: int = 120, d: int = 16, seed: int = 0, lengths: tuple[int, int] = (20, 60),
                 permute: bool = True, with_instances: bool = True, id_width: int = 0
                 ) -> ListBagDataset:
    """Negative bags: N(0, 1) instances. Positive bags (odd index): the same with 2–4 instances
    shifted by 4 along a secret unit direction; only the bag label is given to the model, the
    instance labels (which instances were shifted) are kept for localisation checks."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=d)
    direction /= np.linalg.norm(direction)
    bags = []
    for i in range(n_bags):
        y = i % 2
        x = rng.normal(size=(int(rng.integers(*lengths)), d))
        inst = np.zeros(len(x))
        if y:
            k = int(rng.integers(2, 5))
            x[:k] += 4 * direction
            inst[:k] = 1
            if permute:
                perm = rng.permutation(len(x))
                x, inst = x[perm], inst[perm]
        bags.append(Bag(torch.tensor(x, dtype=torch.float32), y, f"bag{i:0{id_width}d}",
                        instance_labels=inst if with_instances else None))
    return ListBagDataset(bags)
