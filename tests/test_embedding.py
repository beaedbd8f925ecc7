"""UMAP embedding: the neighbour graph umap-learn is given, seeded subsampling, determinism,
neighbourhood preservation on planted clusters, bad input, the numba cache, and the plot.

The first UMAP call in a process pays numba's compilation of umap's kernels (~10 s) unless
they are in the disk cache (:func:`milhelpers.embedding.numba_cache_dir`), so every test here
that runs UMAP shares one small planted dataset and few epochs."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from milhelpers import viz  # noqa: E402
from milhelpers.embedding import (  # noqa: E402
    Embedding, enable_umap_cache, knn_graph, numba_cache_dir, subsample, umap_embedding)

FAST = dict(n_epochs=60)  # enough for 3 well-separated clusters; the default (500) is for real data


# --------------------------------------------------------------------------------------------
# the graph umap-learn receives
# --------------------------------------------------------------------------------------------
def test_knn_graph_is_self_first_sorted_with_true_distances():
    # points on a line at 0, 1, 3, 7: hand-computed neighbours and distances (squared distances
    # would read 1, 9, 16, 36; unsorted rows or a missing self would break the first column)
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    idx, dist = knn_graph(x, 3)
    np.testing.assert_array_equal(idx, [[0, 1, 2], [1, 0, 2], [2, 1, 0], [3, 2, 1]])
    np.testing.assert_allclose(dist, [[0, 1, 3], [0, 1, 2], [0, 2, 3], [0, 4, 6]])
    assert idx.dtype == np.int64 and dist.dtype == np.float32


def test_knn_graph_puts_the_point_itself_first_even_with_a_duplicate():
    # rows 0 and 1 are identical: each must list itself first, the twin second, both at 0
    x = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    idx, dist = knn_graph(x, 2)
    np.testing.assert_array_equal(idx, [[0, 1], [1, 0], [2, 0]])
    np.testing.assert_allclose(dist, [[0, 0], [0, 0], [0, 5]])


def test_knn_graph_cosine_is_one_minus_cosine():
    x = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])  # 0°, 45°, 90°
    idx, dist = knn_graph(x, 3, metric="cosine")
    c45 = 1 - np.cos(np.pi / 4)
    np.testing.assert_array_equal(idx[0], [0, 1, 2])
    np.testing.assert_allclose(dist[0], [0, c45, 1], atol=1e-6)
    np.testing.assert_allclose(dist[1], [0, c45, c45], atol=1e-6)


# --------------------------------------------------------------------------------------------
# subsampling
# --------------------------------------------------------------------------------------------
def test_subsample_is_seeded_sorted_and_complete_when_small():
    a, b = subsample(1000, 100, seed=1), subsample(1000, 100, seed=1)
    c = subsample(1000, 100, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(a) == 100 and len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    assert a.min() >= 0 and a.max() < 1000
    np.testing.assert_array_equal(subsample(50, 100), np.arange(50))
    np.testing.assert_array_equal(subsample(50, None), np.arange(50))
    with pytest.raises(ValueError, match="max_points"):
        subsample(50, 0)


# --------------------------------------------------------------------------------------------
# UMAP on planted clusters
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clusters():
    """3 well-separated Gaussian clusters in 64-d (70 points each), rows shuffled so that an
    index bug in the graph (an offset, a wrong order) mixes clusters instead of hiding."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 6, size=(3, 64))
    labels = np.repeat(np.arange(3), 70)
    x = centres[labels] + rng.normal(0, 1, size=(len(labels), 64))
    order = rng.permutation(len(labels))
    return x[order].astype(np.float32), labels[order]


@pytest.fixture(scope="module")
def emb(clusters):
    return umap_embedding(clusters[0], seed=0, max_points=150, **FAST)


def test_embedding_shape_indices_and_note(clusters, emb):
    assert isinstance(emb, Embedding)
    assert emb.xy.shape == (150, 2) and emb.xy.dtype == np.float32 and np.isfinite(emb.xy).all()
    np.testing.assert_array_equal(emb.indices, subsample(210, 150, seed=0))
    assert emb.n_input == 210 and emb.subsampled
    assert emb.note == "150 of 210 points (random subsample, seed 0)"


def test_umap_keeps_planted_clusters_apart(clusters, emb):
    # each laid-out point's 10 nearest in 2-D come from its own cluster (>= 95 %); a wrong
    # graph (random, shifted, or built on other rows than those laid out) mixes them
    from sklearn.neighbors import NearestNeighbors

    lab = clusters[1][emb.indices]
    _, nb = NearestNeighbors(n_neighbors=10).fit(emb.xy).kneighbors()
    assert (lab[nb] == lab[:, None]).mean() >= 0.95


def test_umap_is_deterministic_for_a_seed(clusters, emb):
    again = umap_embedding(clusters[0], seed=0, max_points=150, **FAST)
    np.testing.assert_array_equal(again.xy, emb.xy)
    np.testing.assert_array_equal(again.indices, emb.indices)
    other = umap_embedding(clusters[0], seed=1, max_points=150, **FAST)
    assert not np.array_equal(other.indices, emb.indices)
    # same points, other seed: another layout (the seed drives the SGD, not only the sample)
    full0 = umap_embedding(clusters[0][:60], seed=0, **FAST)
    full1 = umap_embedding(clusters[0][:60], seed=1, **FAST)
    np.testing.assert_array_equal(full0.indices, np.arange(60))
    assert not full0.subsampled and full0.note == "all 60 points"
    assert np.abs(full0.xy - full1.xy).max() > 0.1


def test_umap_kernels_are_cached_on_disk_and_only_they(emb):
    # the fixture ran UMAP with cache=True: umap's layout kernel caches into our folder and has
    # an index there (umap-learn itself caches nothing of it, whatever NUMBA_CACHE_DIR says)
    import numba
    import pynndescent.distances
    import umap.layouts

    folder = enable_umap_cache()
    assert folder is not None
    kernel = umap.layouts._nb_optimize_layout_euclidean_single_epoch  # the seeded (serial) SGD
    assert kernel.stats.cache_path is not None
    assert Path(kernel.stats.cache_path).is_relative_to(folder)
    assert list(folder.rglob("*_optimize_layout_euclidean_single_epoch*.nbi"))
    # its parallel twin compiles the same function, and numba's cache key ignores parallel=True:
    # cached too, an unseeded run would leave a racy kernel for the next seeded one to load
    assert umap.layouts._nb_optimize_layout_euclidean_single_epoch_parallel.stats.cache_path is None
    # numba's setting is restored and other libraries' kernels keep their own cache
    assert numba.config.CACHE_DIR == os.environ.get("NUMBA_CACHE_DIR", "")
    other = pynndescent.distances.euclidean.stats.cache_path
    assert other is None or not Path(other).is_relative_to(folder)


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MILHELPERS_CACHE_DIR", str(tmp_path / "mh"))
    assert numba_cache_dir() == tmp_path / "mh" / "numba"
    monkeypatch.delenv("MILHELPERS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert numba_cache_dir() == tmp_path / "xdg" / "milhelpers" / "numba"


# --------------------------------------------------------------------------------------------
# bad input: clear errors before any UMAP work
# --------------------------------------------------------------------------------------------
def test_bad_input_is_named():
    x = np.random.default_rng(0).normal(size=(40, 8))
    with pytest.raises(ValueError, match="2-D"):
        umap_embedding(x[:, 0])
    with pytest.raises(ValueError, match="n_neighbors=15 needs at least 16 points, got 10"):
        umap_embedding(x[:10])
    bad = x.copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"1 row\(s\) with NaN or inf \(first: row 7\)"):
        umap_embedding(bad)
    with pytest.raises(ValueError, match="max_points"):
        umap_embedding(x, max_points=10)
    with pytest.raises(ValueError, match="n_neighbors"):
        umap_embedding(x, n_neighbors=1)


# --------------------------------------------------------------------------------------------
# the plot: colours follow the laid-out rows, and the figure says it is a subsample
# --------------------------------------------------------------------------------------------
def _toy_embedding():
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    return Embedding(xy, np.array([0, 2, 3]), n_input=5, seed=4)


def test_umap_scatter_continuous_values_follow_indices():
    e = _toy_embedding()
    values = np.array([0.5, 9.0, 0.1, 0.3, 7.0])  # rows 1 and 4 are not laid out
    ax = viz.umap_scatter(e, values, label="attention")
    sc = ax.collections[0]
    # drawn in increasing value: rows 2 (0.1), 3 (0.3), 0 (0.5) at xy[1], xy[2], xy[0]
    np.testing.assert_allclose(sc.get_array(), [0.1, 0.3, 0.5])
    np.testing.assert_allclose(sc.get_offsets(), e.xy[[1, 2, 0]])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("UMAP 1", "UMAP 2")
    assert ax.figure.axes[-1].get_ylabel() == "attention"  # the colourbar
    assert [t.get_text() for t in ax.texts] == ["3 of 5 points (random subsample, seed 4)"]
    plt.close(ax.figure)


def test_umap_scatter_categories_get_a_legend_and_extra_note():
    e = _toy_embedding()
    ax = viz.umap_scatter(e, np.array(["a", "b", "b", "a", "b"]), note="cosine")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["a (2)", "b (1)"]  # counts of the laid-out rows 0, 2, 3
    assert [t.get_text() for t in ax.texts] == ["3 of 5 points (random subsample, seed 4); cosine"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="one value per input row"):
        viz.umap_scatter(e, np.zeros(3))


def test_r10_umap_embedding_passes_each_option_to_umap_and_the_metric_to_the_graph(monkeypatch):
    """umap-learn replaced by a recorder (no layout is run): every keyword must reach
    ``umap.UMAP`` with the caller's value, the neighbour graph must be built under the
    caller's metric, the seed must reach both UMAP and the result, and ``cache`` must decide
    whether numba's cache is switched on. Catches an option replaced by its default or not
    passed on (the graph under cosine instead of Euclidean has other neighbours)."""
    import sys
    import types

    import milhelpers.embedding as embedding

    seen: dict = {}

    class _RecordingUMAP:
        def __init__(self, **kwargs) -> None:
            seen.update(kwargs)

        def fit_transform(self, X: np.ndarray) -> np.ndarray:
            return X[:, ::-1] * 10.0                 # a layout we can recognise

    cache_calls: list = []
    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=_RecordingUMAP))
    monkeypatch.setattr(embedding, "enable_umap_cache", lambda *a: cache_calls.append(a))
    X = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    e = umap_embedding(X, 7, max_points=None, n_neighbors=2, min_dist=0.3, metric="euclidean",
                       n_epochs=50, cache=False)
    assert {k: seen[k] for k in ("n_neighbors", "min_dist", "metric", "n_epochs", "random_state")} \
        == {"n_neighbors": 2, "min_dist": 0.3, "metric": "euclidean", "n_epochs": 50,
            "random_state": 7}
    idx, dist = seen["precomputed_knn"]
    # Euclidean: (0, 1) ↔ each other at 1; [0, 1] is nearest to [1, 0] (√2); [0, 3] to [0, 1] (2).
    # Under cosine (0, 2) would pair with (1, 3) at distance 0.
    assert idx[:, 1].tolist() == [1, 0, 0, 2]
    np.testing.assert_allclose(dist[:, 1], [1.0, 1.0, np.sqrt(2), 2.0], rtol=1e-6)
    np.testing.assert_allclose(e.xy, X[:, ::-1] * 10.0)
    assert e.indices.tolist() == [0, 1, 2, 3] and e.seed == 7 and e.n_input == 4
    assert cache_calls == []                         # cache=False: numba's cache left alone
    umap_embedding(X, 0, max_points=None, n_neighbors=2, cache=True)
    assert len(cache_calls) == 1 and seen["metric"] == "cosine" and seen["min_dist"] == 0.1
