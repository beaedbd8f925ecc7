"""Example slides are chosen by their rule, from the labels alone."""
import pandas as pd
import pytest

from milhelpers import examples


def test_first_match_sorts_the_first_query_that_matches_and_falls_back():
    t = pd.DataFrame({"slide_id": list("abcd"), "label": [1, 1, 0, 0],
                      "size": [5, 9, 3, 7]})
    assert examples.first_match(t, ["label == 1"], by="size") == "b"
    assert examples.first_match(t, ["label == 1"], by="size", ascending=True) == "a"
    assert examples.first_match(t, ["label == 2", "label == 0"], by="size") == "d"
    with pytest.raises(ValueError, match="no slide matches"):
        examples.first_match(t, ["label == 2"], by="size")


def test_typical_pair_takes_each_class_closest_to_the_median_length():
    # median of all six lengths is 41.5: positives 10, 38, 200 -> 38; negatives 45, 30, 90 -> 45
    t = pd.DataFrame({"slide_id": ["p1", "p2", "p3", "n1", "n2", "n3"],
                      "label": [1, 1, 1, 0, 0, 0], "n_patches": [10, 38, 200, 45, 30, 90]})
    assert t.n_patches.median() == 41.5
    assert examples.typical_pair(t) == ("p2", "n1")
    with pytest.raises(ValueError, match="label = 0"):
        examples.typical_pair(t[t.label == 1])
