import cv2
import numpy as np
import pandas as pd
import pytest

from milhelpers import instances, synth
from milhelpers.h5io import write_features
from milhelpers.instances import cohort_patch_table, patch_table
from milhelpers.tiling import PRESETS, TissueMask


def _features(path, coords, size0=100, dim=3):
    x = np.arange(len(coords) * dim, dtype=np.float32).reshape(len(coords), dim)
    attrs = {"patch_size_level0": size0} if size0 else {}
    write_features(path, x, np.array(coords), coords_attrs=attrs)
    return x


def test_patch_table_measures_each_patch_against_the_masks(tmp_path):
    # level-0 200×200 px; masks at 1/20: tumour on the left half, tissue on the top half
    x = _features(tmp_path / "s1.h5", [[0, 0], [100, 0], [60, 100]])
    tumour = np.zeros((10, 10), bool)
    tumour[:, :5] = True
    tissue = np.zeros((10, 10), np.uint8)
    tissue[:5] = 1
    t = patch_table(tmp_path / "s1.h5", tumour_mask=(tumour, (20.0, 20.0)),
                    tissue=TissueMask(tissue, (20.0, 20.0)))
    assert t.slide_id == "s1" and t.patch_size0 == 100 and np.array_equal(t.features, x)
    # third patch: mask columns 3..7, of which 3 and 4 are tumour -> 2/5; it lies in rows 5..9
    assert t.tumour_fraction.tolist() == [1.0, 0.0, 0.4]
    assert t.tissue_fraction.tolist() == [1.0, 1.0, 0.0]
    df = t.frame()
    assert df.x.tolist() == [0, 100, 60] and df.y.tolist() == [0, 0, 100]
    assert df.tumour_fraction.tolist() == [1.0, 0.0, 0.4]
    assert patch_table(tmp_path / "s1.h5").frame().tumour_fraction.isna().all()


def test_patch_table_refuses_a_file_without_patch_size(tmp_path):
    _features(tmp_path / "bare.h5", [[0, 0]], size0=None)
    with pytest.raises(ValueError, match="bare.h5.*patch_size_level0"):
        patch_table(tmp_path / "bare.h5")


def test_cohort_patch_table_reads_the_cohort_layout(tmp_path):
    # a cohort folder as synth writes it: slides/<id>.tiff, masks/<id>.png at 1/8, labels.csv
    img = np.full((512, 768, 3), 242, np.uint8)
    img[:, 384:] = (225, 140, 185)  # tissue on the right half
    for y, x in np.random.default_rng(0).integers([0, 384], [512, 768], size=(300, 2)):
        img[y:y + 4, x:x + 4] = (80, 45, 130)
    (tmp_path / "slides").mkdir()
    (tmp_path / "masks").mkdir()
    synth.write_pyramidal_tiff(tmp_path / "slides" / "a.tiff", img, 0.5)
    mask = np.zeros((64, 96), np.uint8)
    mask[:32, 48:] = 255  # tumour: top of the tissue
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), mask)
    pd.DataFrame({"slide_id": ["a"], "label": [1], "width": [768], "height": [512]}).to_csv(
        tmp_path / "labels.csv", index=False)
    _features(tmp_path / "feats" / "a.h5", [[0, 0], [512, 0], [512, 384]], size0=128)
    X, table = cohort_patch_table(tmp_path, tmp_path / "feats", ["a"], PRESETS["biopsy"])
    assert X.shape == (3, 3) and table.slide_id.tolist() == ["a"] * 3
    assert table.tumour_fraction.tolist() == [0.0, 1.0, 0.0]
    assert table.tissue_fraction.tolist() == pytest.approx([0.0, 1.0, 1.0], abs=0.05)


def _region_table(rows):
    """A patch table with region columns: rows of (slide, {region: fraction}); ``"tissue"``
    (default 1) is the patch's tissue fraction."""
    names = synth.MORPHOLOGIES + synth.MIMICS
    recs = []
    for sid, fr in rows:
        rec = {"slide_id": sid, "tumour_fraction": sum(fr.get(m, 0.0) for m in synth.MORPHOLOGIES),
               "tissue_fraction": fr.get("tissue", 1.0)}
        rec.update({f"{n}_fraction": fr.get(n, 0.0) for n in names})
        recs.append(rec)
    return pd.DataFrame(recs)


def test_patch_table_measures_each_region_of_a_region_map(tmp_path):
    _features(tmp_path / "r.h5", [[0, 0], [100, 0], [0, 100]])
    codes = np.full((10, 10), synth.REGIONS.index("tissue"), np.uint8)
    codes[:5, :5] = synth.TUMOUR_CODE["glandular"]        # top-left patch: all glandular
    codes[:5, 5:8] = synth.MIMIC_CODE["benign_glands"]    # top-right patch: 3/5 benign glands
    codes[5:, :2] = synth.TUMOUR_CODE["discohesive"]      # bottom-left: 2/5 discohesive
    t = patch_table(tmp_path / "r.h5", region_mask=(codes, (20.0, 20.0))).frame()
    assert t.glandular_fraction.tolist() == [1.0, 0.0, 0.0]
    assert t.benign_glands_fraction.tolist() == [0.0, 0.6, 0.0]
    assert t.discohesive_fraction.tolist() == [0.0, 0.0, 0.4]
    assert "tissue_fraction" in t and "background_fraction" not in t


def test_patch_kind_prefers_tumour_then_the_largest_region():
    t = _region_table([("a", {"solid": 0.3, "lymphoid_aggregate": 0.7}),   # tumour wins over mimic
                       ("a", {"solid": 0.1, "glandular": 0.2}),             # 0.3 tumour: glandular
                       ("a", {"benign_glands": 0.25, "lymphoid_aggregate": 0.1}),
                       ("a", {"discohesive": 0.2, "benign_glands": 0.2}),   # neither reaches 0.25
                       ("a", {})])
    assert instances.patch_kind(t).tolist() == ["solid", "glandular", "benign_glands", "normal",
                                                 "normal"]
    bare = pd.DataFrame({"tumour_fraction": [0.5, 0.1, np.nan]})
    assert instances.patch_kind(bare).tolist() == ["tumour", "normal", "normal"]


def test_probe_scores_each_morphology_against_the_mimics():
    # solid patches differ from mimics along feature 0; discohesive ones look exactly like mimics
    rng = np.random.default_rng(0)
    rows, X = [], []
    for s in range(20):
        for kind, shift in (("solid", 3.0), ("discohesive", 0.0), ("lymphoid_aggregate", 0.0)):
            for _ in range(10):
                rows.append((f"s{s}", {kind: 0.9}))
                X.append(rng.normal(size=4) + [shift, 0, 0, 0])
        rows.append((f"s{s}", {"solid": 0.3, "lymphoid_aggregate": 0.7}))  # impure: left out
        X.append(rng.normal(size=4))
    res = instances.tumour_probe(np.array(X), _region_table(rows))
    assert res.loc["solid", ["n_tumour", "n_negative"]].tolist() == [200, 200]
    assert res.loc["all", "n_tumour"] == 400 and "glandular" not in res.index
    assert res.loc["solid", "auc"] > 0.95
    assert abs(res.loc["discohesive", "auc"] - 0.5) < 0.1


def test_probe_folds_are_grouped_by_slide():
    # no class signal, only a per-slide fingerprint: a patch-level split would memorise the
    # slides (AUC near 1); held-out slides must score near chance
    rng = np.random.default_rng(1)
    rows, X = [], []
    for s in range(20):
        finger = rng.normal(size=30) * 3
        for _ in range(15):
            rows.append((f"s{s}", {"solid" if s < 10 else "benign_glands": 1.0}))
            X.append(finger + rng.normal(size=30) * 0.1)
    res = instances.tumour_probe(np.array(X), _region_table(rows), C=1.0)
    assert res.loc["solid", "auc"] < 0.8


def test_probe_against_stroma_uses_plain_tissue_patches_only():
    # discohesive patches look like the mimics (feature 0 off) but differ from stroma on
    # feature 1: against mimics the probe is at chance, against stroma it separates them
    rng = np.random.default_rng(2)
    rows, X = [], []
    for s in range(20):
        for kind, shift in (("discohesive", [0, 3.0]), ("lymphoid_aggregate", [0, 3.0]),
                            ("stroma", [0, 0])):
            for _ in range(10):
                rows.append((f"s{s}", {kind: 0.9} if kind != "stroma" else {}))
                X.append(rng.normal(size=3) + [*shift, 0])
        for left_out in ({"tissue": 0.4}, {"benign_glands": 0.1}, {"solid": 0.2}):
            rows.append((f"s{s}", left_out))          # glassy, a little mimic, a little tumour
            X.append(rng.normal(size=3))
    X, table = np.array(X), _region_table(rows)
    mimics = instances.tumour_probe(X, table, against="mimics")
    stroma = instances.tumour_probe(X, table, against="stroma")
    assert stroma.loc["discohesive", ["n_tumour", "n_negative"]].tolist() == [200, 200]
    assert mimics.loc["discohesive", "n_negative"] == 200
    assert abs(mimics.loc["discohesive", "auc"] - 0.5) < 0.1
    assert stroma.loc["discohesive", "auc"] > 0.95
    with pytest.raises(ValueError, match="against='normal'.*'mimics', 'stroma'"):
        instances.tumour_probe(X, table, against="normal")


def test_probe_groups_by_case_when_given_case_ids():
    # two slides per patient share the patient's fingerprint and label: slide-grouped folds
    # test on the twin of a training slide (near-perfect AUC), case-grouped folds cannot
    rng = np.random.default_rng(3)
    rows, X, cases = [], [], []
    for c in range(20):
        finger = rng.normal(size=30) * 3
        for s in range(2):
            for _ in range(8):
                rows.append((f"c{c}s{s}", {"solid" if c < 10 else "lymphoid_aggregate": 1.0}))
                X.append(finger + rng.normal(size=30) * 0.1)
                cases.append(f"c{c}")
    X, table = np.array(X), _region_table(rows)
    by_slide = instances.tumour_probe(X, table, C=1.0)
    by_case = instances.tumour_probe(X, table, C=1.0, groups=cases)
    assert by_slide.loc["solid", "auc"] > 0.95 and by_case.loc["solid", "auc"] < 0.8
    with pytest.raises(ValueError, match="one group id per patch"):
        instances.tumour_probe(X, table, groups=cases[:-1])


def test_probe_refuses_a_table_without_region_maps():
    bare = pd.DataFrame({"slide_id": ["a"], "tumour_fraction": [1.0]})
    with pytest.raises(ValueError, match="region maps"):
        instances.tumour_probe(np.zeros((1, 2)), bare)


def test_show_outlined_paints_each_named_mask_in_its_colour():
    import matplotlib
    matplotlib.use("Agg")
    from milhelpers import viz

    img = np.full((60, 80, 3), 240, np.uint8)
    tumour = np.zeros((6, 8), bool)
    tumour[1:3, 1:3] = True          # top-left, at 1/10 resolution
    mimic = np.zeros((6, 8), bool)
    mimic[3:5, 5:7] = True           # bottom-right
    fig = viz.show_outlined([img], [{"tumour": tumour, "mimic": mimic}], ["s"], [2.0], ncols=1)
    shown = fig.axes[0].images[0].get_array()
    yellow = np.all(shown == viz.OUTLINE_COLOURS["tumour"], axis=-1)
    blue = np.all(shown == viz.OUTLINE_COLOURS["mimic"], axis=-1)
    assert yellow[:30, :40].any() and not yellow[30:, 40:].any()
    assert blue[30:, 40:].any() and not blue[:30, :40].any()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["tumour", "mimic"]


def test_patch_rows_labels_rows_and_puts_a_scale_bar_on_each():
    import matplotlib
    matplotlib.use("Agg")
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    from milhelpers import viz

    p = np.zeros((112, 112, 3), np.uint8)
    fig = viz.patch_rows({"solid": [p, p, p], "lymphoid_aggregate": [p, p]}, um_per_px=1.0)
    axes = np.array(fig.axes).reshape(2, 3)
    assert [a.get_ylabel() for a in axes[:, 0]] == ["solid", "lymphoid_aggregate"]
    assert len(axes[1, 2].images) == 0  # a shorter row leaves its last panel empty
    bars = [[a for a in ax.artists if isinstance(a, AnchoredSizeBar)] for ax in axes[:, 0]]
    assert [b[0].length_um for b in bars] == [20, 20]  # longest round length ≤ 30 % of 112 µm


def test_kind_group_names_tumour_mimic_and_normal():
    kinds = ["solid", "glandular", "discohesive", "tumour", "lymphoid_aggregate",
             "benign_glands", "normal", "something_else"]
    assert instances.kind_group(kinds).tolist() == ["tumour"] * 4 + ["mimic"] * 2 + ["normal"] * 2


def test_topk_kind_shares_by_hand_with_ties_split_evenly():
    kinds = np.array(["solid", "normal", "benign_glands", "normal", "discohesive", "normal"])
    a = np.array([0.30, 0.05, 0.25, 0.05, 0.20, 0.15])
    # top 3: patches 0 (solid), 2 (mimic), 4 (discohesive)
    assert instances.topk_kind_shares(a, kinds, 3) == pytest.approx(
        {"tumour": 2 / 3, "mimic": 1 / 3, "normal": 0.0})
    # top 5: the 5th place is shared by patches 1 and 3 (both 0.05, both normal)
    assert instances.topk_kind_shares(a, kinds, 5) == pytest.approx(
        {"tumour": 0.4, "mimic": 0.2, "normal": 0.4})
    # a tie across kinds: top 2 of [0.5, 0.25, 0.25] with kinds tumour, mimic, normal
    got = instances.topk_kind_shares([0.5, 0.25, 0.25],
                                     ["solid", "lymphoid_aggregate", "normal"], 2)
    assert got == pytest.approx({"tumour": 0.5, "mimic": 0.25, "normal": 0.25})
    # uniform attention gets the patch shares, whatever the patch order
    assert instances.topk_kind_shares(np.full(6, 1 / 6), kinds, 5) == pytest.approx(
        {"tumour": 2 / 6, "mimic": 1 / 6, "normal": 3 / 6})
    # k beyond N: all patches
    assert instances.topk_kind_shares(a[:2], kinds[:2], 5) == pytest.approx(
        {"tumour": 0.5, "mimic": 0.0, "normal": 0.5})
    with pytest.raises(ValueError, match="attention weights"):
        instances.topk_kind_shares(a, kinds[:3], 2)


def test_mimic_mask_marks_both_mimics_and_nothing_else(tmp_path):
    (tmp_path / "masks").mkdir()
    codes = np.full((6, 8), synth.REGIONS.index("tissue"), np.uint8)
    codes[0, :3] = synth.MIMIC_CODE["benign_glands"]
    codes[5, 5:] = synth.MIMIC_CODE["lymphoid_aggregate"]
    codes[2:4, 2:4] = synth.TUMOUR_CODE["solid"]
    codes[4, 0] = synth.REGIONS.index("background")
    cv2.imwrite(str(tmp_path / "masks" / "s_regions.png"), codes)
    pd.DataFrame({"slide_id": ["s"], "width": [80], "height": [120]}).to_csv(
        tmp_path / "labels.csv", index=False)
    mask, ds = instances.mimic_mask(tmp_path, "s")
    want = np.zeros((6, 8), bool)
    want[0, :3] = want[5, 5:] = True
    assert (mask == want).all() and ds == (10.0, 20.0)


# --- audit 8 survivors
def test_topk_coverage_same_budget_gives_the_reference_the_union_size_of_picks():
    """H = 3 heads, k = 2, one patch of each kind. Head tops: {0, 1}, {5, 4}, {1, 2}: union
    U = {0, 1, 2, 4, 5}, |U| = 5. The reference ranks 1, 2, 3, 4, 0, 5: its top 2 = {1, 2}, its
    top |U| = 5 = {0, 1, 2, 3, 4} (only patch 5 left out), 3 of them tumour: precision 3/5
    (its top 2 would give 1/2 and leave out 0, 3 and 4)."""
    kinds = ["solid", "normal", "glandular", "benign_glands", "discohesive", "lymphoid_aggregate"]
    heads = np.array([[0.50, 0.30, 0.10, 0.05, 0.03, 0.02],
                      [0.02, 0.03, 0.05, 0.10, 0.30, 0.50],
                      [0.10, 0.50, 0.30, 0.05, 0.03, 0.02]])
    ref = np.array([0.06, 0.30, 0.25, 0.20, 0.15, 0.04])
    cov = instances.topk_coverage({"s": heads}, {"s": ref}, {"s": np.array(kinds)}, k=2)
    t = cov.table.set_index("kind")
    union, own, same = t.columns[1], t.columns[3], t.columns[4]
    assert same == "acmil_base: same number of picks" and cov.union_sizes == {"s": 5}
    assert t.loc[kinds, union].tolist() == [1, 1, 1, 0, 1, 1]
    assert t.loc[kinds, own].tolist() == [0, 1, 1, 0, 0, 0]
    assert t.loc[kinds, same].tolist() == [1, 1, 1, 1, 1, 0]
    assert cov.precision[same] == pytest.approx(3 / 5) and cov.precision[own] == 0.5


# --- round 8: options, columns and ties
def test_r8_patch_kind_threshold_is_inclusive_and_the_option_is_used():
    import pandas as pd
    bare = pd.DataFrame({"tumour_fraction": [0.25, 0.2499, 0.4, np.nan]})
    assert instances.patch_kind(bare).tolist() == ["tumour", "normal", "tumour", "normal"]
    assert instances.patch_kind(bare, threshold=0.4).tolist() == ["normal", "normal", "tumour",
                                                                  "normal"]
    assert instances.patch_kind(bare, threshold=0.2).tolist() == ["tumour", "tumour", "tumour",
                                                                  "normal"]


def test_r8_topk_counts_break_ties_by_position():
    a = np.array([[0.25, 0.25, 0.25, 0.25], [0.1, 0.3, 0.3, 0.3]])
    assert instances.topk_counts(a, 2).tolist() == [1, 2, 1, 0]
    assert instances.topk_counts(a[0], 3).tolist() == [1, 1, 1, 0]


# --- round 9: every column of topk_composition and tumour_probe by hand -----------------------
def test_r9_topk_composition_pools_picks_over_slides_and_ranks_heads_by_tumour_share():
    """Shares are picks of a group over all picks of the head in the run (a slide with N <= k
    gives N picks, not k), not a mean of per-slide shares; rank 1 is the largest tumour share,
    ties by head order. Catches k counted as picks, per-slide shares averaged, the rank
    reversed or tied heads ranked from the last, a (N,) row not read as one head."""
    kinds = {"s1": ["solid", "benign_glands", "normal", "solid"],        # T M N T
             "s2": ["lymphoid_aggregate", "glandular"]}                   # M T
    att = {"r0": {"s1": np.array([[0.4, 0.3, 0.2, 0.1],                   # top 3: T M N
                                  [0.4, 0.1, 0.1, 0.4]]),                 # T T, then M (tie)
                  "s2": np.array([[0.7, 0.3], [0.2, 0.8]])},              # N = 2 <= k: both
           "r1": {"s1": np.array([0.1, 0.1, 0.1, 0.1])},                  # one head; T M N
           "r2": {"s2": np.array([[0.5, 0.5], [0.9, 0.1]])},              # tied tumour shares
           "empty": {}}
    t = instances.topk_composition(att, kinds, k=3)
    assert list(t.columns) == ["run", "head", "n_slides", "n_picks", "tumour", "mimic", "normal",
                               "rank"]
    rows = [tuple(r) for r in t.itertuples(index=False)]
    # r0 head 1: T 1 + 1, M 1 + 1, N 1 of 5 picks; head 2: T 2 + 1, M 1 + 1 of 5 (the mean of
    # per-slide shares would give 5/12 and 7/12)
    want = [("r0", 1, 2, 5, 0.4, 0.4, 0.2, 2), ("r0", 2, 2, 5, 0.6, 0.4, 0.0, 1),
            ("r1", 1, 1, 3, 1 / 3, 1 / 3, 1 / 3, 1),
            ("r2", 1, 1, 2, 0.5, 0.5, 0.0, 1), ("r2", 2, 1, 2, 0.5, 0.5, 0.0, 2)]
    assert len(rows) == len(want)
    for got, exp in zip(rows, want):
        assert got[:4] == exp[:4] and got[7] == exp[7]
        assert got[4:7] == pytest.approx(exp[4:7])
    with pytest.raises(ValueError, match="run 'r0': slide s2 has 1 heads, others 2"):
        instances.topk_composition({"r0": {"s1": att["r0"]["s1"], "s2": np.ones(2) / 2}},
                                   kinds, k=3)


def _probe_cohort(n_slides: int):
    """Per slide: tumour patches exactly at purity (solid 0.5) and well above (glandular 0.9),
    an impure one (discohesive 0.49); mimics at purity (lymphoid 0.5) and above (benign glands
    0.6), an impure mimic (0.3); plain tissue at 0.5 and at 0.49. Tumour is feature 0 = 3, the
    rest 0: every probe separates them perfectly, so each AUC is 1 by hand."""
    spec = [({"solid": 0.5}, 1), ({"glandular": 0.9}, 1), ({"discohesive": 0.49}, 1),
            ({"lymphoid_aggregate": 0.5}, 0), ({"benign_glands": 0.6}, 0),
            ({"benign_glands": 0.3}, 0), ({"tissue": 0.5}, 0), ({"tissue": 0.49}, 0)]
    rng = np.random.default_rng(0)
    rows, X = [], []
    for s in range(n_slides):
        for fr, tumour in spec:
            rows.append((f"s{s}", fr))
            X.append([3.0 * tumour, *rng.normal(size=2) * 0.01])
    return np.array(X), _region_table(rows)


def test_r9_tumour_probe_counts_patches_at_the_purity_bound_and_needs_enough_groups():
    """n_tumour / n_negative per morphology and overall, by hand over 5 slides: a fraction
    exactly at ``purity`` counts (tumour, mimic, and plain tissue against stroma), 0.49 does
    not; a morphology without clear-cut patches gets no row. Catches `>=` made `>` on any of
    the three, the purity option ignored, and exactly n_splits groups refused."""
    X, table = _probe_cohort(5)
    mimics = instances.tumour_probe(X, table)
    assert mimics.index.tolist() == ["solid", "glandular", "all"]
    assert mimics[["n_tumour", "n_negative"]].values.tolist() == [[5, 10], [5, 10], [10, 10]]
    assert mimics.auc.tolist() == [1.0, 1.0, 1.0]
    stroma = instances.tumour_probe(X, table, against="stroma")
    assert stroma[["n_tumour", "n_negative"]].values.tolist() == [[5, 5], [5, 5], [10, 5]]
    strict = instances.tumour_probe(X, table, purity=0.6)      # solid 0.5, lymphoid 0.5 drop out
    assert strict.index.tolist() == ["glandular", "all"]
    assert strict[["n_tumour", "n_negative"]].values.tolist() == [[5, 5], [5, 5]]
    X4, table4 = _probe_cohort(4)
    with pytest.raises(ValueError, match="the probe needs tumour and mimics patches in at least "
                       "5 groups; found 8 tumour and 8 mimics patches in 4 groups"):
        instances.tumour_probe(X4, table4)
    assert instances.tumour_probe(X4, table4, n_splits=4).loc["all", "n_tumour"] == 8


def test_r10_attention_share_by_kind_means_over_the_slides_that_contain_a_kind():
    """Three slides, so the mean over slides differs from the median, by hand. Catches the
    median (or a sum) over slides for either share, the patch share counted instead of taken
    as a fraction, n_slides counting slides without the kind, enrichment inverted, and the
    slide-count check dropped or widened (zip would silently drop the extra slide)."""
    att = [np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.1, 0.9]), np.array([0.2, 0.2, 0.6])]
    kinds = [np.array(["solid", "normal", "normal", "discohesive"]), np.array(["normal", "solid"]),
             np.array(["solid", "normal", "normal"])]
    t = instances.attention_share_by_kind(att, kinds)
    assert t.index.tolist() == ["discohesive", "normal", "solid"]
    assert t.columns.tolist() == ["attention_share", "patch_share", "enrichment", "n_slides"]
    # solid: attention 0.5, 0.9, 0.2 (median 0.5); patches 1/4, 1/2, 1/3 (median 1/3)
    solid_a, solid_p = (0.5 + 0.9 + 0.2) / 3, (1 / 4 + 1 / 2 + 1 / 3) / 3
    assert t.loc["solid", "attention_share"] == pytest.approx(solid_a)
    assert t.loc["solid", "patch_share"] == pytest.approx(solid_p)
    assert t.loc["solid", "enrichment"] == pytest.approx(solid_a / solid_p)
    # normal: attention 0.5, 0.1, 0.8 (median 0.5); patches 1/2, 1/2, 2/3
    assert t.loc["normal", "attention_share"] == pytest.approx(1.4 / 3)
    assert t.loc["normal", "patch_share"] == pytest.approx((1 / 2 + 1 / 2 + 2 / 3) / 3)
    assert t["n_slides"].tolist() == [1, 3, 3]
    assert t.loc["discohesive", "patch_share"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="1 attention vectors for 2 kind vectors"):
        instances.attention_share_by_kind(att[:1], kinds[:2])
    with pytest.raises(ValueError, match="2 attention vectors for 1 kind vectors"):
        instances.attention_share_by_kind(att[:2], kinds[:1])


# --------------------------------------------------------------------------------------------
# round 12: the null model's shares, per head over the groups
# --------------------------------------------------------------------------------------------
def test_r12_random_topk_shares_of_each_head_sum_to_one_over_the_groups():
    # 2 heads, one slide of 3 tumour + 3 normal patches, k = 2: every head's 2 picks split over
    # the groups, so each (run, rank) row sums to 1 and the absent group "mimic" is exactly 0
    out = instances.random_topk_composition({"r": {"s": np.ones((2, 6))}},
                                            {"s": ["tumour"] * 3 + ["normal"] * 3}, k=2, draws=5)
    assert out["rank"].tolist() == [1, 2] and out["n_slides"].tolist() == [1, 1]
    shares = out[list(instances.KIND_GROUPS)].to_numpy()
    assert np.allclose(shares.sum(1), 1.0) and not np.isnan(shares).any()
    assert out["mimic"].tolist() == [0.0, 0.0]
    # ranked by tumour share: rank 1 at least rank 2; shares are multiples of 1/2 averaged over 5
    assert out.tumour.iloc[0] >= out.tumour.iloc[1]
    assert np.allclose(out.tumour * 10, np.round(out.tumour * 10))


KG = list(instances.KIND_GROUPS)


def test_r12_topk_kind_shares_default_k_five_with_ties_across_the_cut():
    a = [0.4, 0.2, 0.1, 0.1, 0.1, 0.1, 0.0, 0.0]
    kinds = ["solid", "normal", "glandular", "lymphoid_aggregate", "normal", "normal", "solid",
             "solid"]
    # k = 5: 0.4 and 0.2 count 1; the four 0.1s share the 3 places left, 3/4 each
    got = instances.topk_kind_shares(a, kinds)
    assert got == pytest.approx({"tumour": 1.75 / 5, "mimic": 0.75 / 5, "normal": 2.5 / 5})
    with pytest.raises(ValueError, match="3 attention weights for 2 patch kinds"):
        instances.topk_kind_shares([0.5, 0.3, 0.2], ["solid", "normal"], 2)
    with pytest.raises(ValueError, match=r"k >= 1 \(got 2 patches, k=0\)"):
        instances.topk_kind_shares([0.5, 0.5], ["solid", "normal"], 0)


def test_r12_topk_counts_and_group_shares_by_hand():
    assert instances.topk_counts(np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]]), 2).tolist() == [1, 2, 1]
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        instances.topk_counts(np.ones(3), 0)
    shares = instances.group_shares({"a": ["solid", "normal"],
                                     "b": ["lymphoid_aggregate", "stroma", "glandular", "normal"]})
    assert shares == pytest.approx({"tumour": 2 / 6, "mimic": 1 / 6, "normal": 3 / 6})


def test_r12_topk_composition_refuses_runs_with_unequal_heads_and_skips_empty_runs():
    kinds = {"a": ["solid", "normal", "normal"], "b": ["solid"]}
    with pytest.raises(ValueError, match="run 'r': slide b has 1 heads, others 2"):
        instances.topk_composition({"r": {"a": np.ones((2, 3)) / 3, "b": np.ones(1)}}, kinds, 2)
    t = instances.topk_composition({"empty": {}, "r": {"a": np.array([[0.5, 0.3, 0.2],
                                                                      [0.2, 0.3, 0.5]]),
                                                       "b": np.array([[1.0], [1.0]])}}, kinds, 2)
    assert t.run.tolist() == ["r", "r"]
    # head 1: solid, normal | solid → 2/3 tumour; head 2: normal, normal | solid → 1/3; 3 picks each
    assert t.n_picks.tolist() == [3, 3] and t["rank"].tolist() == [1, 2]
    np.testing.assert_allclose(t[KG].to_numpy(float), [[2 / 3, 0, 1 / 3], [1 / 3, 0, 2 / 3]])


def test_r12_composition_table_labels_middle_ranks_and_one_run_cells():
    comp = pd.DataFrame({"run": [0, 0, 0, 1, 1, 1], "head": [1, 2, 3, 1, 2, 3], "n_slides": 1,
                         "n_picks": 2, "tumour": [0.6, 0.4, 0.2, 0.8, 0.5, 0.0],
                         "mimic": 0.0, "normal": [0.4, 0.6, 0.8, 0.2, 0.5, 1.0],
                         "rank": [1, 2, 3, 1, 2, 3]})
    one = pd.DataFrame({"run": [0], "head": [1], "n_slides": 1, "n_picks": 2, "tumour": [0.5],
                        "mimic": [0.25], "normal": [0.25], "rank": [1]})
    t = instances.composition_table({"m": comp, "one": one})
    assert list(t.index) == ["m, rank 1 of 3 (most tumour)", "m, rank 2 of 3",
                             "m, rank 3 of 3 (least tumour)", "one"]
    assert t.loc["m, rank 1 of 3 (most tumour)", "tumour"].startswith("0.70 [")
    assert t.loc["m, rank 2 of 3", "runs"] == 2
    # one run: the mean alone (no interval), to the asked digits
    assert t.loc["one"].tolist() == ["0.50", "0.25", "0.25", 1]
    assert instances.composition_table({"one": one}, digits=1).loc["one", "tumour"] == "0.5"


def test_r12_topk_coverage_defaults_checks_and_sentences_without_a_win():
    kinds = {"s": np.array(["solid", "normal", "normal"])}
    new = {"s": np.array([[0.6, 0.3, 0.1], [0.6, 0.1, 0.3]])}
    ref = {"s": np.array([0.7, 0.2, 0.1])}
    cov = instances.topk_coverage(new, ref, kinds, k=1)
    assert list(cov.table.columns) == ["kind", "patches", "acmil: some head's top 1",
                                       "acmil: top 1 of ā", "acmil_base: top 1",
                                       "acmil_base: same number of picks"]
    assert list(cov.table.index) == ["normal", "solid"] and cov.n_heads == 2
    assert cov.union_sizes == {"s": 1} and cov.tumour_share == pytest.approx(1 / 3)
    assert cov.sentences() == [
        "share of the picks that are tumour: acmil: some head's top 1 100%, acmil: top 1 of ā "
        "100%, acmil_base: top 1 100%, acmil_base: same number of picks 100% (tumour is 33% of "
        "these slides' patches)",
        "patches per slide in some head's top 1 (median): 1 (at most 2 × 1 = 2)",
        "solid: 100% covered by acmil's heads, 100% by acmil_base's top 1, 100% by acmil_base "
        "with the same number of picks",
        "acmil's heads cover more tumour than acmil_base given the same number of picks for 0 of "
        "1 tumour kinds"]
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        instances.topk_coverage(new, ref, kinds, k=0)
    with pytest.raises(ValueError, match="slide s: 3 weights per head, 4 reference weights, 3 "
                                         "patch kinds"):
        instances.topk_coverage(new, {"s": np.ones(4)}, kinds, k=1)
    # no tumour patch at all: no tumour sentences
    normal = instances.topk_coverage(new, ref, {"s": np.array(["normal"] * 3)}, k=1)
    assert len(normal.sentences()) == 2


# --- audit 14's survivors ----------------------------------------------------------------------
def test_a14_topk_composition_refuses_k_zero_and_takes_k_one():
    """k = 0 would pick nothing and divide 0 by 0: refused; k = 1, the smallest allowed, picks
    each head's single top patch. Catches ``k < 1`` loosened to ``k < 0`` (audit 14)."""
    att = {(0, 0): {"s": np.array([[0.2, 0.8], [0.9, 0.1]])}}
    kinds = {"s": ["solid", "normal"]}
    for k in (0, -1):
        with pytest.raises(ValueError, match=f"k must be >= 1, got {k}"):
            instances.topk_composition(att, kinds, k=k)
    t = instances.topk_composition(att, kinds, k=1).set_index("head")
    assert t["n_picks"].tolist() == [1, 1]
    assert t.loc[1, "tumour"] == 0.0 and t.loc[2, "tumour"] == 1.0
    assert t["rank"].tolist() == [2, 1]
