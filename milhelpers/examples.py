"""Example slides chosen by a rule stated before the results are seen.

A chapter that shows "a positive slide and a negative one" teaches from them, so which slides
those are must not depend on how well the model did on them: the surest positive next to a
borderline negative makes any method look good. The rules here read only the labels table (and
bag lengths), never a model's output.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

__all__ = ["first_match", "typical_pair"]


def first_match(table: pd.DataFrame, queries: Sequence[str], by: str,
                ascending: bool = False, id_column: str = "slide_id") -> str:
    """The id of the first row, sorted by ``by``, of the first query (``DataFrame.query``
    strings, tried in order: later ones are fallbacks for a cohort that lacks the first kind)
    that matches any row."""
    for q in queries:
        hits = table.query(q, engine="python")
        if len(hits):
            return str(hits.sort_values(by, ascending=ascending, kind="stable")[id_column].iloc[0])
    raise ValueError(f"no slide matches any of {list(queries)}")


def typical_pair(table: pd.DataFrame, length_column: str = "n_patches",
                 label_column: str = "label", id_column: str = "slide_id") -> tuple[str, str]:
    """(positive, negative): the positive and the negative slide whose bag lengths are closest
    to the median bag length of all slides (ties: the first in the table). Attention weights
    sum to 1 over a bag, so slides of similar length can be compared on one colour scale; the
    rule uses no model output."""
    median = table[length_column].median()
    gap = (table[length_column] - median).abs()
    out = []
    for label in (1, 0):
        rows = gap[table[label_column] == label]
        if rows.empty:
            raise ValueError(f"no slide with {label_column} = {label}")
        out.append(str(table.loc[rows.idxmin(), id_column]))
    return out[0], out[1]
