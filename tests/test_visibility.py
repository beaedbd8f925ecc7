"""What training-time sampling leaves visible: MHIM's exact probabilities against the package's
own mask draws, v2's keep share by hand, and PackMIL's audit against its collate function."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from milhelpers import visibility as vis
from milhelpers.datasets import Bag, ListBagDataset
from milhelpers.models import mhim_mask
from milhelpers.models.mhim import recycle_split
from milhelpers.packing import pack_collate


def _monte_carlo(tumour, scores, r_h, r_hr, r, r_l, draws=6000, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.tensor(np.asarray(scores, np.float32)).repeat(draws, 1)
    m = mhim_mask(s, None, r_h, r_hr, r, r_l, generator=g).numpy()
    t = np.asarray(tumour, bool)
    return float(((m & t) == t).all(1).mean())


# scores with ties and tumour spread over the top, the middle and the bottom of the ranking
SCORES = np.array([0.9, 0.1, 0.5, 0.85, 0.3, 0.3, 0.05, 0.7, 0.2, 0.6, 0.4, 0.02])
TUMOUR = np.array([1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0], bool)


@pytest.mark.parametrize("r_h, r_hr, r, r_l", [
    (0.0, 1.0, 0.5, 0.0),      # random masking alone
    (0.2, 0.5, 0.5, 0.0),      # v1's randomised high masking (pool of the top 5, 2 of them)
    (0.1, 1.0, 0.4, 0.0),      # exactly the top ⌈1.2⌉ = 2
    (0.1, 0.5, 0.2, 0.5),      # the lowest 6 hold tumour patch 5 (ranked 8th): hidden for sure
    (0.3, 1.0, 0.0, 0.0),      # no random masking: 0 or 1
])
def test_exact_probability_matches_the_package_masks(r_h, r_hr, r, r_l):
    exact = vis.p_no_tumour_visible(TUMOUR, SCORES, r_h, r_hr, r, r_l)
    mc = _monte_carlo(TUMOUR, SCORES, r_h, r_hr, r, r_l)
    assert exact == pytest.approx(mc, abs=0.025)          # 4 standard errors of 6000 draws


def test_hand_computed_cases():
    # random alone: all 3 tumour patches among 6 of 12 drawn: C(9, 3) / C(12, 6)
    assert vis.p_no_tumour_visible(TUMOUR, SCORES, 0.0, 1.0, 0.5) == pytest.approx(
        math.comb(9, 3) / math.comb(12, 6))
    # the top 2 (patches 0 and 3) hidden for sure: patch 5 must fall in the random 6: 6/12
    assert vis.p_no_tumour_visible(TUMOUR, SCORES, 0.1, 1.0, 0.5) == pytest.approx(0.5)
    # high masking alone covering all tumour: 1; missing one: 0
    assert vis.p_no_tumour_visible([1, 1, 0, 0], [4, 3, 2, 1], 0.5) == 1.0
    assert vis.p_no_tumour_visible([1, 0, 1, 0], [4, 3, 2, 1], 0.5) == 0.0
    # a bag without tumour: nothing to see, trivially 1
    assert vis.p_no_tumour_visible([0, 0, 0], [1, 2, 3], 0.0, 1.0, 0.5) == 1.0
    with pytest.raises(ValueError, match="patches"):
        vis.p_no_tumour_visible([1, 0], [1.0], 0.1)


def test_v2_keep_share_by_hand_and_against_recycle_split():
    # top ⌈12·0.1⌉ = 2 hidden (patches 0, 3); L = 10 left with u = 1 tumour (patch 5);
    # ⌊10·0.8⌋ = 8 kept: P(patch 5 not kept) = C(9, 8) / C(10, 8) = 9/45 = 0.2
    p, all_hidden = vis.p_no_tumour_kept(TUMOUR, SCORES, 0.1, 0.8)
    assert p == pytest.approx(0.2) and all_hidden == 0.0
    hidden = mhim_mask(torch.tensor(SCORES[None], dtype=torch.float32), None, 0.1, 1.0)[0]
    g = torch.Generator().manual_seed(1)
    kept, _ = recycle_split((~hidden)[None].repeat(4000, 1), 0.8, g)
    mc = float((~(kept.numpy() & TUMOUR).any(1)).mean())
    assert p == pytest.approx(mc, abs=0.02)
    p, all_hidden = vis.p_no_tumour_kept([1, 1, 0, 0, 0], [5, 4, 3, 2, 1], 0.4, 0.8)
    assert p == 1.0 and all_hidden == 1.0


def test_r_h_schedule_is_the_half_cosine_and_constant_without_decay():
    s = vis.r_h_schedule(0.02, True, points=4)             # t = 0, ¼, ½, ¾
    assert s == pytest.approx([0.02, 0.01 * (1 + math.cos(math.pi / 4)), 0.01,
                               0.01 * (1 + math.cos(3 * math.pi / 4))])
    assert vis.r_h_schedule(0.03, False, points=3) == pytest.approx([0.03] * 3)


def test_summary_groups_by_tumour_count():
    t = pd.DataFrame({"n_tumour": [0, 2, 5, 6, 30], "random_only": [1, 0.5, 0.1, 0.0, 0.0],
                      "v1": [1, 0.7, 0.3, 0.1, 0.0]})
    s = vis.visibility_summary(t)
    assert s.loc["all positive bags", "v1"] == pytest.approx(np.mean([1, 0.7, 0.3, 0.1, 0.0]))
    assert s.loc["1–5 tumour patches", "bags"] == 2
    assert s.loc["1–5 tumour patches", "random_only"] == pytest.approx(0.3)
    assert s.loc["> 20 tumour patches", "bags"] == 1
    assert s.loc["no tumour patch", "share_of_bags"] == pytest.approx(0.2)


def _tagged_bags():
    """Bags whose feature column 0 is the patch's tumour flag, so a pack's tokens show it."""
    rng = np.random.default_rng(0)
    bags = []
    for i in range(24):
        n = int(rng.integers(6, 40))
        inst = np.zeros(n)
        if i % 2:
            inst[rng.choice(n, int(rng.integers(1, 4)), replace=False)] = 1.0
        x = torch.zeros(n, 3)
        x[:, 0] = torch.tensor(inst, dtype=torch.float32)
        x[:, 1] = torch.arange(n, dtype=torch.float32)
        bags.append(Bag(x, i % 2, f"s{i}", instance_labels=inst))
    return ListBagDataset(bags)


def test_packing_audit_counts_what_the_collate_function_packs():
    ds = _tagged_bags()
    p, L, min_len, B = 0.5, 32, 8, 8
    audit = vis.packing_tumour_audit(ds, p, L, min_len, B, epochs=3, seed=5)
    # the same draws through PackCollate: same generator seed and slide order
    gen = torch.Generator().manual_seed(5)
    rng = np.random.default_rng(5)
    collate = pack_collate(p, L, min_len, generator=gen)
    main_none = pos_main = hyper = pos_hyper = pos_hyper_none = 0
    for _ in range(3):
        order = rng.permutation(len(ds))
        for start in range(0, len(order), B):
            batch = collate([ds[int(i)] for i in order[start:start + B]])
            for s in range(batch.n_slides):
                if batch.labels[s] == 1:
                    pos_main += 1
                    main_none += int(batch.features[batch.slide_index == s][:, 0].max() < 0.25)
            for r in range(len(batch.residual_features)):
                hyper += 1
                members = batch.residual_counts[r] > 0
                if (batch.labels[members] == 1).any():
                    pos_hyper += 1
                    tok = batch.residual_features[r][batch.residual_mask[r]]
                    pos_hyper_none += int(tok[:, 0].max() < 0.25)
    assert audit["positive_main_parts"] == pos_main == 3 * 12
    assert audit["main_without_tumour"] == main_none > 0
    assert (audit["hyperslides"], audit["positive_hyperslides"]) == (hyper, pos_hyper)
    assert audit["positive_hyperslides_without_tumour"] == pos_hyper_none
    assert audit["main_without_tumour_share"] == pytest.approx(main_none / pos_main)
    assert audit["positive_slides"] == 12 and audit["positive_slides_without_tumour_patch"] == 0


# ------------------------------------------------------------------ on a cached experiment
@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    from bags import planted_bags
    from milhelpers import experiments as ex
    from milhelpers.methods import get_method, mhim_method, mhim_v2_method
    ds = planted_bags(40, d=6, lengths=(6, 14))
    base = get_method("abmil_gated").with_options(name="abmil_small", embed_dim=16, attn_dim=8)
    v1, v2 = mhim_method(base, name="v1_small"), mhim_v2_method(base, name="v2_small")
    res = ex.run_experiments(ds, [base, v1, v2], seeds=[0], folds=3, epochs=2,
                             cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    return ds, v1, v2, res, base


def test_mhim_visibility_rows_and_the_random_half_by_hand(experiment):
    from milhelpers.cached_runs import run_split
    ds, v1, v2, res, base = experiment
    t = vis.mhim_visibility(res, ds, 0, v1, v2, baseline=base)
    expected = sum(int((ds.labels[run_split(ds, 0, k, 3)[0]] == 1).sum()) for k in range(3))
    assert len(t) == expected and set(t.fold) == {0, 1, 2}
    for r in t.itertuples():
        m = math.ceil(0.5 * r.n)                 # v1's random half, whatever the teacher says
        u = r.n_tumour
        assert r.random_only == pytest.approx(math.comb(r.n - u, m - u) / math.comb(r.n, m))
        assert r.v1 >= r.random_only - 1e-12     # hiding more can only hide all the tumour more
        assert 0 <= r.v2_kept <= 1 and r.v2_all_hidden in (0.0, 1.0)
    with pytest.raises(ValueError, match="share their first stage"):
        from milhelpers.methods import mhim_v2_method
        vis.mhim_visibility(res, ds, 0, v1, mhim_v2_method("abmil_gated"), baseline=base)


def test_teacher_masks_start_and_end(experiment):
    from milhelpers.cached_runs import run_split
    from milhelpers.models.mhim import mask_count
    ds, v1, v2, res, base = experiment
    sid = ds.slide_ids[int(run_split(ds, 0, 1, 3)[2][0])]
    n = len(ds[ds.slide_ids.index(sid)].features)
    rec = vis.teacher_masks(res, ds, v1, 0, 1, sid, baseline=base)
    steps = 2 * len(run_split(ds, 0, 1, 3)[0])
    assert rec["start"]["r_h"] == pytest.approx(0.01)
    assert rec["end"]["r_h"] == pytest.approx(0.005 * (1 + math.cos(math.pi * (steps - 1) / steps)))
    for r in rec.values():
        assert (r["masked"] >= r["high"]).all()            # the high picks are part of the union
        assert r["masked"].sum() >= math.ceil(0.5 * n) and r["high"].sum() == 1
        assert "recycled" not in r
    rec2 = vis.teacher_masks(res, ds, v2, 0, 1, sid, baseline=base)["start"]
    assert rec2["high"].sum() == mask_count(n, 0.01) == rec2["masked"].sum()   # top ⌈N r_h⌉ only
    left = n - rec2["masked"].sum()
    assert not (rec2["recycled"] & rec2["masked"]).any()
    assert left - rec2["recycled"].sum() == int(left * 0.8)                    # ⌊L ρ⌋ kept


# --- audit 8 survivors
def test_tied_scores_are_ranked_by_position_exactly_as_mhim_mask_hides_them():
    """All 50 scores equal, r_h = 0.02, r_hr = 1, r = 0: mhim_mask hides ⌈50·0.02⌉ = 1 patch,
    the first by position (stable ranking), i.e. patch 0. So a single tumour patch at 0 is
    never visible (P = 1) and one at 49 always is (P = 0); at each position P matches what
    mhim_mask actually hides. Likewise r_l = 0.02 hides the last tied patch, 49."""
    n = 50
    scores = np.full(n, 0.3)
    hidden = mhim_mask(torch.tensor(scores[None]), None, r_h=0.02, r_hr=1.0)[0].numpy()
    assert np.flatnonzero(hidden).tolist() == [0]
    low = mhim_mask(torch.tensor(scores[None]), None, r_h=0.0, r_l=0.02)[0].numpy()
    assert np.flatnonzero(low).tolist() == [49]
    for j in (0, 1, 25, 48, 49):
        tumour = np.zeros(n, bool)
        tumour[j] = True
        assert vis.p_no_tumour_visible(tumour, scores, 0.02, 1.0, 0.0) == float(hidden[j])
        assert vis.p_no_tumour_visible(tumour, scores, 0.0, 1.0, 0.0, 0.02) == float(low[j])
    tumour = np.zeros(n, bool)
    tumour[0] = True
    assert vis.p_no_tumour_visible(tumour, scores, 0.02, 1.0, 0.0) == 1.0


# --- round 8: options, columns and ties
def test_r8_summary_bins_are_inclusive_at_both_ends_and_every_column_by_hand():
    t = pd.DataFrame({"n_tumour": [0, 1, 2, 3, 4, 7],
                      "random_only": [0.9, 0.8, 0.6, 0.4, 0.2, 0.0],
                      "v2_kept": [1.0, 0.5, 0.5, 0.25, 0.25, 0.0]})
    s = vis.visibility_summary(t, bins=[(1, 2), (3, 4), (5, 10**9)])
    assert s.index.tolist() == ["all positive bags", "1–2 tumour patches", "3–4 tumour patches",
                                "> 4 tumour patches", "no tumour patch"]
    assert s.columns.tolist() == ["bags", "share_of_bags", "random_only", "v2_kept"]
    assert s["bags"].tolist() == [6, 2, 2, 1, 1]
    assert s["share_of_bags"].tolist() == pytest.approx([1, 2 / 6, 2 / 6, 1 / 6, 1 / 6])
    assert s["random_only"].tolist() == pytest.approx([2.9 / 6, 0.7, 0.3, 0.0, 0.9])
    assert s["v2_kept"].tolist() == pytest.approx([2.5 / 6, 0.5, 0.25, 0.0, 1.0])
    # one bin (1, 1): only the bag with exactly one tumour patch
    one = vis.visibility_summary(t, bins=[(1, 1)])
    assert one.loc["1–1 tumour patches", "bags"] == 1
    assert one.loc["1–1 tumour patches", "random_only"] == pytest.approx(0.8)


def test_r8_r_h_schedule_points_and_decay_are_used():
    assert len(vis.r_h_schedule(0.1, True)) == 50 and len(vis.r_h_schedule(0.1, False, 7)) == 7
    s = vis.r_h_schedule(0.1, True, points=2)                  # t = 0, ½
    assert s == pytest.approx([0.1, 0.05])
    assert vis.r_h_schedule(0.1, False, points=2) == pytest.approx([0.1, 0.1])


# --- round 9: both probabilities against a brute-force enumeration of every draw, and the
# input checks


def _count(n: int, ratio: float) -> int:
    """⌈n·ratio⌉ in [0, n] (0 for ratio 0), written out here rather than taken from the package."""
    return 0 if ratio <= 0 else min(n, math.ceil(n * ratio - 1e-9))


def _brute_force_visible(tumour, scores, r_h, r_hr, r, r_l) -> float:
    """P(every tumour patch in H ∪ R ∪ L) by enumerating every equally likely (H, R) pair: L the
    ⌈n·r_l⌉ lowest (ties: the later position ranks lower), H ⌈k·r_hr⌉ of the pool of the top
    k = ⌈n·r_h/r_hr⌉ (⌈n·r_h⌉ of all n when r_h/r_hr ≥ 1), R ⌈n·r⌉ of all n."""
    from itertools import combinations
    n = len(tumour)
    order = sorted(range(n), key=lambda i: (-scores[i], i))       # best first, stable
    low = set(order[n - _count(n, r_l):]) if _count(n, r_l) else set()
    if r_h <= 0:
        pool, n_h = [], 0
    elif r_h / r_hr >= 1:
        pool, n_h = list(range(n)), _count(n, r_h)
    else:
        pool = order[:_count(n, r_h / r_hr)]
        n_h = _count(len(pool), r_hr)
    t = {i for i in range(n) if tumour[i]}
    hits = total = 0
    for hs in combinations(pool, n_h):
        for rs in combinations(range(n), _count(n, r)):
            total += 1
            hits += t <= (set(hs) | set(rs) | low)
    return hits / total


# 7 patches, a tie (0.4 at positions 2 and 5), tumour at the top (0), the middle (2) and the
# bottom (6): asymmetric, so swapped roles of high and low sets give other numbers
V_SCORES = [0.9, 0.6, 0.4, 0.7, 0.1, 0.4, 0.05]
V_TUMOUR = [True, False, True, False, False, False, True]


@pytest.mark.parametrize("r_h, r_hr, r, r_l", [
    (0.0, 1.0, 0.0, 0.0),      # nothing hidden: every tumour patch visible, P = 0
    (0.0, 1.0, 1.0, 0.0),      # r = 1: all hidden, P = 1
    (0.0, 1.0, 0.0, 1.0),      # r_l = 1: all hidden, P = 1
    (1.0, 1.0, 0.0, 0.0),      # r_h = 1: all hidden, P = 1
    (1.0, 1.0, 0.0, 0.3),      # r_h = 1 with a low set holding tumour patch 6
    (1.0, 0.5, 0.3, 0.3),      # r_h/r_hr ≥ 1: ⌈7·1⌉ of all 7
    (0.6, 0.5, 0.0, 0.15),     # r_h/r_hr ≥ 1 with r_h < 1: ⌈7·0.6⌉ = 5 of all 7, low 2
    (0.3, 0.5, 0.4, 0.0),      # pool of the top 5, 3 of them, + 3 random
    (0.5, 0.6, 0.0, 0.3),      # pool (top 6) overlaps the low set (bottom 3): patch 6 in both
    (0.5, 0.6, 0.3, 0.3),
    (0.2, 1.0, 0.5, 0.15),     # exact top 2, 4 random, the lowest 2
    (0.15, 0.5, 0.0, 0.45),    # pool of the top 3 (0, 3, 1), 2 drawn; low 4 (2, 5, 4, 6)
])
def test_r9_p_no_tumour_visible_equals_the_brute_force_enumeration(r_h, r_hr, r, r_l):
    want = _brute_force_visible(V_TUMOUR, V_SCORES, r_h, r_hr, r, r_l)
    got = vis.p_no_tumour_visible(V_TUMOUR, V_SCORES, r_h, r_hr, r, r_l)
    assert got == pytest.approx(want, abs=1e-12)


def test_r9_p_no_tumour_visible_hand_counts_at_the_ratio_edges():
    """By hand on the 7 patches above: nothing masked → 0; r_h = 1 (or r = 1, or r_l = 1) → 1;
    the low 3 (patches 4, 5 — tie after 2 —, 6) hold patch 6, the exact top 2 (0, 3) hold
    patch 0, so patch 2 must be among the ⌈7·0.3⌉ = 3 random: 3/7."""
    assert vis.p_no_tumour_visible(V_TUMOUR, V_SCORES, 0.0) == 0.0
    for kw in ({"r_h": 1.0}, {"r_h": 0.0, "r": 1.0}, {"r_h": 0.0, "r_l": 1.0},
               {"r_h": 1.0, "r_l": 0.3}):
        assert vis.p_no_tumour_visible(V_TUMOUR, V_SCORES, **kw) == pytest.approx(1.0)
    assert vis.p_no_tumour_visible(V_TUMOUR, V_SCORES, 0.2, 1.0, 0.3, 0.3) == pytest.approx(3 / 7)
    with pytest.raises(ValueError, match="empty bag"):
        vis.p_no_tumour_visible([], [], 0.1)
    with pytest.raises(ValueError, match="tumour has 2 patches, scores 3"):
        vis.p_no_tumour_visible([1, 0], [0.1, 0.2, 0.3], 0.1)


@pytest.mark.parametrize("r_h, keep_ratio", [(0.0, 0.5), (0.15, 0.5), (0.3, 0.0), (0.3, 1.0),
                                             (0.3, 0.6), (0.45, 0.75), (1.0, 0.5)])
def test_r9_p_no_tumour_kept_equals_the_brute_force_enumeration(r_h, keep_ratio):
    """v2 on the 7 patches: the top ⌈7·r_h⌉ hidden, of the L left every ⌊L·ρ⌋-subset kept with
    equal chance; (P(no tumour kept), all tumour hidden by the top alone) by enumeration."""
    from itertools import combinations
    n = len(V_TUMOUR)
    order = sorted(range(n), key=lambda i: (-V_SCORES[i], i))
    left = [i for i in range(n) if i not in order[:_count(n, r_h)]]
    subsets = list(combinations(left, int(len(left) * keep_ratio)))
    p = sum(not any(V_TUMOUR[i] for i in s) for s in subsets) / len(subsets)
    all_hidden = float(not any(V_TUMOUR[i] for i in left))
    got = vis.p_no_tumour_kept(V_TUMOUR, V_SCORES, r_h, keep_ratio)
    assert got == pytest.approx((p, all_hidden), abs=1e-12)


def test_r9_p_no_tumour_kept_and_the_packing_audit_refuse_bad_input():
    with pytest.raises(ValueError, match="tumour has 3 patches, scores 2"):
        vis.p_no_tumour_kept([1, 0, 0], [0.1, 0.2], 0.1, 0.5)
    bags = [Bag(torch.zeros(4, 2), 1, "a", instance_labels=[0.0, 0.5, 0.0, 0.0]),
            Bag(torch.zeros(3, 2), 0, "b")]                          # no instance labels
    with pytest.raises(ValueError, match="needs instance labels"):
        vis.packing_tumour_audit(ListBagDataset(bags), epochs=1)
    # with labels on every bag the same call runs: 1 positive slide, its tumour patch ≥ 0.25
    bags[1] = Bag(torch.zeros(3, 2), 0, "b", instance_labels=[0.0, 0.0, 0.0])
    out = vis.packing_tumour_audit(ListBagDataset(bags), epochs=1, min_len=16)
    assert out["positive_slides"] == 1 and out["positive_slides_without_tumour_patch"] == 0
    # min_len 16 > 4 patches: the slide goes whole to its main part, which holds the tumour
    assert out["positive_main_parts"] == 1 and out["main_without_tumour"] == 0


# --- round 12: the helpers' edges, the summary's defaults and the options of the cached counts
def test_r12_hypergeometric_and_all_in_random_helpers_by_hand():
    assert vis._p_all_in_random(5, 0, 0) == 1.0 and vis._p_all_in_random(5, 0, 3) == 1.0
    assert vis._p_all_in_random(5, 2, 3) == pytest.approx(3 / 10)      # C(3,1)/C(5,3)
    assert vis._p_all_in_random(5, 3, 2) == 0.0
    assert vis._p_all_in_random(4, 2, 2) == pytest.approx(1 / 6)
    assert vis._hypergeom(4, 2, 2, 1) == pytest.approx(4 / 6)
    assert vis._hypergeom(4, 2, 2, 2) == pytest.approx(1 / 6)
    assert vis._hypergeom(4, 2, 2, 3) == 0.0 and vis._hypergeom(4, 2, 2, -1) == 0.0


def test_r12_p_no_tumour_visible_low_set_pool_and_flat_inputs():
    scores = [0.4, 0.3, 0.2, 0.1]
    last = [False, False, False, True]
    assert vis.p_no_tumour_visible(last, scores, 0.0) == 0.0
    assert vis.p_no_tumour_visible(last, scores, 0.0, r_l=0.25) == 1.0     # the lowest is hidden
    assert vis.p_no_tumour_visible([[True, False], [False, False]], [[0.9, 0.1], [0.2, 0.3]],
                                   0.25) == 1.0                            # (2, 2) → 4 patches
    # r_h / r_hr = 0.5: the pool is the top 2, of which ⌈2·0.5⌉ = 1 is drawn
    third = [False, True, False, False]
    assert vis.p_no_tumour_visible(third, scores, 0.25, 0.5) == pytest.approx(0.5)
    assert vis.p_no_tumour_visible([False, False, True, False], scores, 0.25, 0.5) == 0.0
    # and with random masking of ⌈4·0.5⌉ = 2 on top: ½ + ½·(1 − ...) by the formula
    want = 0.5 * 1 + 0.5 * (3 / 6)
    assert vis.p_no_tumour_visible(third, scores, 0.25, 0.5, 0.5) == pytest.approx(want)
    # no tumour at all: nothing to hide
    assert vis.p_no_tumour_visible([False] * 4, scores, 0.0) == 1.0


def test_r12_p_no_tumour_kept_edges_by_hand():
    s = [0.9, 0.5, 0.3, 0.1]
    assert vis.p_no_tumour_kept([False] * 4, s, 0.25, 0.5) == (1.0, 1.0)
    assert vis.p_no_tumour_kept([True, False, False, False], s, 0.25, 0.5) == (1.0, 1.0)
    # the top patch hidden; of the 3 left ⌊1.5⌋ = 1 kept; tumour at patch 1 → 2/3 not kept
    assert vis.p_no_tumour_kept([False, True, False, False], s, 0.25, 0.5) == \
        pytest.approx((2 / 3, 0.0))
    # nothing hidden, 2 of 4 kept, u = 2 tumour patches: C(2, 2)/C(4, 2) = 1/6 (u = L − keep)
    assert vis.p_no_tumour_kept([True, True, False, False], s, 0.0, 0.5) == \
        pytest.approx((1 / 6, 0.0))
    assert vis.p_no_tumour_kept([True, True, True, False], s, 0.0, 0.5) == (0.0, 0.0)
    assert vis.p_no_tumour_kept([[False, True], [False, False]], [[0.9, 0.5], [0.3, 0.1]],
                                0.25, 0.5) == pytest.approx((2 / 3, 0.0))
    with pytest.raises(ValueError, match="tumour has 4 patches, scores 3"):
        vis.p_no_tumour_kept([1, 0, 0, 0], [0.1, 0.2, 0.3], 0.1, 0.5)


def test_r12_summary_default_bins_columns_present_only_and_an_empty_table():
    t = pd.DataFrame({"n_tumour": [0, 5, 6, 20, 21], "v1": [0.5, 0.4, 0.3, 0.2, 0.1]})
    s = vis.visibility_summary(t)
    assert s.index.tolist() == ["all positive bags", "1–5 tumour patches", "6–20 tumour patches",
                                "> 20 tumour patches", "no tumour patch"]
    assert s.columns.tolist() == ["bags", "share_of_bags", "v1"]
    assert s["bags"].tolist() == [5, 1, 2, 1, 1]
    assert s["v1"].tolist() == pytest.approx([0.3, 0.4, 0.25, 0.1, 0.5])
    e = vis.visibility_summary(pd.DataFrame({"n_tumour": [], "random_only": []}))
    assert e["bags"].tolist() == [0] * 5
    assert np.isnan(e["share_of_bags"]).all() and np.isnan(e["random_only"]).all()


def test_r12_packing_audit_defaults_threshold_and_every_positive_slide_each_epoch():
    ds = _tagged_bags()
    out = vis.packing_tumour_audit(ds)
    assert out["epochs"] == 20 and out["positive_slides"] == 12
    assert out["positive_main_parts"] == 20 * 12
    assert out == vis.packing_tumour_audit(ds, 0.5, 256, 16, 16, 20, 0, 0.25)
    # threshold above every label: no slide has a tumour patch, so every main part lacks one
    high = vis.packing_tumour_audit(ds, epochs=2, threshold=1.5)
    assert high["positive_slides_without_tumour_patch"] == 12
    assert high["main_without_tumour"] == high["positive_main_parts"] == 24
    assert high["main_without_tumour_share"] == 1.0
    assert high["positive_hyperslides_without_tumour"] == high["positive_hyperslides"]
    assert out["positive_slides_without_tumour_patch"] == 0
    # labels of exactly 1.0 count at threshold 1.0 (at least the threshold, not above it)
    assert vis.packing_tumour_audit(ds, epochs=1, threshold=1.0)[
        "positive_slides_without_tumour_patch"] == 0
    runs = {tuple(vis.packing_tumour_audit(ds, 0.5, 16, 4, 8, 2, seed).values())
            for seed in range(4)}
    assert len(runs) > 1                                         # the seed reaches the draws


def test_r12_mhim_visibility_options_reach_the_rows(experiment):
    from milhelpers.cached_runs import run_split, trained_model
    ds, v1, v2, res, base = experiment
    from milhelpers.methods import mhim_method
    v1b = mhim_method(base, name="v1_big", r_h=0.4, r=0.3, r_l=0.1)   # only its options are read
    t = vis.mhim_visibility(res, ds, 0, v1b, None, points=1, baseline=base)
    assert list(t.columns) == ["fold", "slide_id", "n", "n_tumour", "random_only", "v1"]
    row = t.iloc[0]
    teacher = trained_model(res, ds, base, 0, int(row.fold))
    bag = ds[ds.slide_ids.index(row.slide_id)]
    tumour = np.asarray(bag.instance_labels) >= 0.25
    with torch.no_grad():
        att = teacher(bag.features).slide_attention[0].numpy()
    assert row.n == len(tumour) and row.n_tumour == tumour.sum()
    # one point: r_h itself (0.4), not its schedule's mean
    assert row.v1 == pytest.approx(vis.p_no_tumour_visible(tumour, att, 0.4, 0.5, 0.3, 0.1))
    assert row.random_only == pytest.approx(vis.p_no_tumour_visible(tumour, att, 0.0, 1.0, 0.3,
                                                                    0.1))
    # a threshold above every label: no tumour patch anywhere, every probability 1
    t2 = vis.mhim_visibility(res, ds, 0, v1, v2, threshold=2.0, baseline=base)
    assert (t2.n_tumour == 0).all() and (t2[["random_only", "v1", "v2_kept"]] == 1.0).all().all()
    assert len(t2) == len(t)
    # the default: v1 averaged over 50 points of r_h's half cosine; v2 from the class-aware
    # score with v2's r_h and ρ
    from milhelpers.models.mhim import instance_scores
    t3 = vis.mhim_visibility(res, ds, 0, v1b, v2, baseline=base)
    teachers = {}
    for r3 in t3.itertuples():
        if r3.fold not in teachers:
            teachers[r3.fold] = trained_model(res, ds, base, 0, int(r3.fold))
        tch = teachers[r3.fold]
        b3 = ds[ds.slide_ids.index(r3.slide_id)]
        tum = np.asarray(b3.instance_labels) >= 0.25
        with torch.no_grad():
            o3 = tch(b3.features)
            a3 = o3.slide_attention[0].numpy()
            s2 = instance_scores(o3, tch, "class_aware")[0].numpy()
        want = np.mean([vis.p_no_tumour_visible(tum, a3, rh, 0.5, 0.3, 0.1)
                        for rh in vis.r_h_schedule(0.4, True, 50)])
        assert r3.v1 == pytest.approx(want)
        assert (r3.v2_kept, r3.v2_all_hidden) == pytest.approx(
            vis.p_no_tumour_kept(tum, s2, 0.01, 0.8))


def test_r12_teacher_masks_draw_seed_reaches_the_masks(experiment):
    """The teacher scores with dropout on (torch's global stream, seeded here); the mask's own
    draws come from ``draw_seed`` (default 0)."""
    from milhelpers.cached_runs import run_split
    ds, v1, v2, res, base = experiment
    sid = ds.slide_ids[int(run_split(ds, 0, 1, 3)[2][0])]

    def start(**kw):
        torch.manual_seed(123)
        return vis.teacher_masks(res, ds, v1, 0, 1, sid, baseline=base, **kw)["start"]
    recs = [start(draw_seed=s) for s in range(4)]
    assert len({tuple(r["masked"].tolist()) for r in recs}) > 1
    assert np.array_equal(start()["masked"], recs[0]["masked"])
    again = start(draw_seed=2)
    assert np.array_equal(again["masked"], recs[2]["masked"])
    assert again["scores"].shape == again["masked"].shape == again["teacher_scores"].shape


def test_r12_mhim_visibility_refuses_bags_without_instance_labels(experiment):
    import dataclasses
    ds, v1, v2, res, base = experiment
    bare = ListBagDataset([dataclasses.replace(ds[i], instance_labels=None) for i in range(len(ds))])
    with pytest.raises(ValueError, match="has no instance labels: this count needs"):
        vis.mhim_visibility(res, bare, 0, v1, None, baseline=base)


# --- audit 14's survivors ----------------------------------------------------------------------
def test_a14_packing_audit_shares_are_over_their_own_denominators():
    """The share of positive hyperslides without tumour is over positive hyperslides, not over all
    hyperslides (some are all-negative here); the main-part share is over positive main parts;
    no positive slide at all gives shares of 0, not a division by zero. Catches the wrong
    denominator (audit 14)."""
    out = vis.packing_tumour_audit(_tagged_bags(), 0.5, 16, 4, 8, 3, seed=1)
    assert 0 < out["positive_hyperslides"] < out["hyperslides"]
    assert out["positive_hyperslides_without_tumour"] > 0
    assert out["positive_hyperslides_without_tumour_share"] == pytest.approx(
        out["positive_hyperslides_without_tumour"] / out["positive_hyperslides"], abs=0)
    assert out["main_without_tumour_share"] == pytest.approx(
        out["main_without_tumour"] / out["positive_main_parts"], abs=0)
    negatives = ListBagDataset([b for b in _tagged_bags().bags if b.label == 0])
    none = vis.packing_tumour_audit(negatives, 0.5, 16, 4, 8, 1, seed=1)
    assert none["positive_hyperslides"] == 0 and none["hyperslides"] > 0
    assert none["positive_hyperslides_without_tumour_share"] == 0.0
    assert none["main_without_tumour_share"] == 0.0
