"""First-draft mutants of the audit5 held-out mutation audit (written from milhelpers/ only)."""
import json
from pathlib import Path

ACM = ["tests/test_acmil.py", "tests/test_branch_attention.py", "tests/test_losses.py",
       "tests/test_boundaries.py"]
AEM = ["tests/test_aem.py", "tests/test_losses.py", "tests/test_schedules.py",
       "tests/test_padding_paths.py"]
MH = ["tests/test_mhim.py", "tests/test_schedules.py", "tests/test_padding_paths.py",
      "tests/test_seeds.py"]
PK = ["tests/test_packing.py", "tests/test_padding_paths.py", "tests/test_boundaries.py"]
ST = ["tests/test_stats.py", "tests/test_intervals.py", "tests/test_comparison.py"]
EX = ["tests/test_experiments.py", "tests/test_cache_keys.py", "tests/test_experiments_report.py"]
CO = ["tests/test_comparison.py", "tests/test_compare_settings.py", "tests/test_viz_evidence.py"]
ME = ["tests/test_metrics_viz.py", "tests/test_boundaries.py", "tests/test_branch_attention.py"]
TI = ["tests/test_tiling.py", "tests/test_boundaries.py", "tests/test_pipeline.py"]
H5 = ["tests/test_h5io.py", "tests/test_features.py", "tests/test_cache_keys.py"]
SW = ["tests/test_sweep.py", "tests/test_chapter_setup.py"]
PA = ["tests/test_params.py", "tests/test_chapter_setup.py"]

M = []


def add(id_, area, file, old, new, tests, why):
    M.append({"id": id_, "area": area, "file": file, "old": old, "new": new, "tests": tests,
              "why_not_equivalent": why})


# ---------------- ACMIL (7)
add("acmil_keff_ignores_padding", "acmil", "milhelpers/models/acmil.py",
    "k_eff = mask.sum(1).clamp(max=k_max)",
    "k_eff = torch.full((b,), k_max, dtype=torch.long, device=scores.device)",
    ACM, "K' = min(K, N_b) becomes K for every bag: in a padded batch a bag with fewer real "
    "instances than K hides more than ⌊N_b·p⌋ and can hide padding positions")
add("acmil_rank_past_keff_gt", "acmil", "milhelpers/models/acmil.py",
    "keys = keys.masked_fill(rank >= k_eff[:, None, None], 2.0)",
    "keys = keys.masked_fill(rank > k_eff[:, None, None], 2.0)",
    ACM, "the first rank past K' (e.g. a padding slot or the (K'+1)-th instance) keeps a random "
    "key and can be drawn among the hidden ones when K' < k_max")
add("acmil_stkim_in_eval", "acmil", "milhelpers/models/acmil.py",
    "if self.training and self.masks_in_training:",
    "if self.masks_in_training:",
    ACM, "STKIM then masks instances at inference too: eval outputs become random and differ "
    "from the unmasked attention")
add("acmil_masks_in_training_gt1", "acmil", "milhelpers/models/acmil.py",
    "return math.floor(self.top_k * self.mask_drop) >= 1",
    "return math.floor(self.top_k * self.mask_drop) > 1",
    ACM, "K=10, mask_drop=0.1 hides ⌊1⌋=1 instance per branch; with > 1 STKIM is switched off")
add("acmil_diversity_normalize_dim1", "acmil", "milhelpers/losses.py",
    "a = F.normalize(attention.float(), dim=-1)",
    "a = F.normalize(attention.float(), dim=1)",
    ACM, "normalising over the branch axis instead of instances: cos(a_i, a_j) is no longer a "
    "cosine (identical branches give < 1 unless N is special)")
add("acmil_branch_ce_repeat", "acmil", "milhelpers/losses.py",
    "labels.repeat_interleave(m))",
    "labels.repeat(m))",
    ACM, "(B·M) rows are bag-major; labels.repeat pairs bag b's branch m with another bag's label "
    "when B > 1 and labels differ")
add("acmil_method_or", "acmil", "milhelpers/methods.py",
    "if n_branches == 1 and mask_drop == 0:      # K is unused without masking",
    "if n_branches == 1 or mask_drop == 0:      # K is unused without masking",
    ACM, "acmil_method(5, 10, 0.0) (MBA only, M = 5) would return acmil_base (M = 1)")

# ---------------- AEM (4)
add("aem_lognorm_padded_n", "aem", "milhelpers/losses.py",
    "n = real[:, 0, :].sum(-1).float()",
    "n = torch.full((z.shape[0],), float(z.shape[-1]), device=z.device)",
    AEM, "log N uses the padded length instead of the bag's real length: in a padded batch a "
    "short bag's normalised entropy is divided by log of the longest bag's length")
add("aem_cosine_reversed", "aem", "milhelpers/losses.py",
    "cosine_ramp(float(lam), 0.0)",
    "cosine_ramp(0.0, float(lam))",
    AEM, "the cosine schedule then ramps λ up from 0 to λ instead of annealing λ to 0")
add("aem_negent_sum", "aem", "milhelpers/losses.py",
    "return -attention_entropy(attention_logits, mask, normalize).mean()",
    "return -attention_entropy(attention_logits, mask, normalize).sum()",
    AEM, "sum over heads and bags: R scales with the batch size and the number of heads")
add("aem_name_drops_logn", "aem", "milhelpers/methods.py",
    "(\"_logn\" if normalize == \"log_n\" else \"\")",
    "\"\"",
    AEM, "aem_method(normalize='log_n') gets the name 'aem', the same as the paper's variant, "
    "so names (and the runner's cache directory/registry) collide")

# ---------------- MHIM (11)
add("mhim_mask_count_round", "mhim", "milhelpers/models/mhim.py",
    "return min(n, math.ceil(n * ratio - 1e-9))",
    "return min(n, round(n * ratio))",
    MH, "rounding instead of ceil: r_h = 0.01 of 50 patches (0.5) hides 0, not 1")
add("mhim_pool_ignores_rhr", "mhim", "milhelpers/models/mhim.py",
    "pool = order[:mask_count(n, r_h / r_hr)]",
    "pool = order[:mask_count(n, r_h)]",
    MH, "the high-score pool is the top r_h instead of the top r_h/r_hr, so fewer than r_h·n "
    "are hidden when r_hr < 1")
add("mhim_guard_shows_top", "mhim", "milhelpers/models/mhim.py",
    "chosen[order[-1]] = False",
    "chosen[order[0]] = False",
    MH, "when the union covers the bag, the highest-scored instance is shown again instead of "
    "the lowest")
add("mhim_class_aware_last_class", "mhim", "milhelpers/models/mhim.py",
    "return torch.softmax(logits, -1).amax(-1)",
    "return torch.softmax(logits, -1)[..., -1]",
    MH, "P(last class) instead of the max class probability: instances pointing confidently at "
    "class 0 score low")
add("mhim_class_aware_bias", "mhim", "milhelpers/models/mhim.py",
    "logits = contribution.float() @ clf.weight.float().t()            # (B, N, C), no bias",
    "logits = contribution.float() @ clf.weight.float().t() + clf.bias.float()",
    MH, "adding the bias vector lets the class the bias favours decide the scores (the "
    "docstring's stated reason to leave it out)")
add("mhim_recycle_keep_ceil", "mhim", "milhelpers/models/mhim.py",
    "n_keep = max(int(len(idx) * keep_ratio), min(min_keep, len(idx)))   # int(): floor",
    "n_keep = max(math.ceil(len(idx) * keep_ratio), min(min_keep, len(idx)))   # int(): floor",
    MH, "keeps ⌈L·ρ⌉ instead of ⌊L·ρ⌋: L = 9, ρ = 0.8 keeps 8 instead of 7")
add("mhim_queries_ema_in_eval", "mhim", "milhelpers/models/mhim.py",
    "if self.training and self.momentum < 1:",
    "if self.momentum < 1:",
    MH, "the recycle network's global queries would move in eval mode too (inference changes "
    "model state)")
add("mhim_visible_ignores_padding", "mhim", "milhelpers/models/mhim.py",
    "visible = mask & ~masked",
    "visible = ~masked",
    MH, "padding positions become visible to the student in a padded batch")
add("mhim_min_keep_zero", "mhim", "milhelpers/models/mhim.py",
    "min_keep=int(self.recycle is None))",
    "min_keep=0)",
    MH, "without recycling a short bag with ⌊L·ρ⌋ = 0 keeps nothing: the student gets an "
    "all-masked bag (error)")
add("mhim_seed_not_propagated", "mhim", "milhelpers/methods.py",
    "seed=ctx.seed, merge_ratio=kw.get(\"merge_ratio\", 1.0), recycle=recycle)",
    "seed=0, merge_ratio=kw.get(\"merge_ratio\", 1.0), recycle=recycle)",
    MH, "every seed/fold draws the same mask sequence: repeats are not independent")
add("mhim_momentum_cosine_reversed", "mhim", "milhelpers/methods.py",
    "self.momentum = 1 - 0.5 * (1 - self.m0) * (1 + math.cos(math.pi * t))",
    "self.momentum = 1 - 0.5 * (1 - self.m0) * (1 - math.cos(math.pi * t))",
    MH, "m(t) starts at 1 and falls to m0 instead of rising from m0 to 1")

# ---------------- PackMIL (7)
add("pack_split_min_len_le", "packmil", "milhelpers/packing.py",
    "if n < min_len:\n        main = res = torch.arange(n)",
    "if n <= min_len:\n        main = res = torch.arange(n)",
    PK, "a slide of exactly min_len instances goes whole to both branches instead of being split")
add("pack_split_ceil", "packmil", "milhelpers/packing.py",
    "k = max(1, int(math.floor(p * n)))",
    "k = max(1, int(math.ceil(p * n)))",
    PK, "p = 0.5 of 45 instances sends 23 to the main part instead of 22")
add("pack_sequential_ge", "packmil", "milhelpers/packing.py",
    "if total + n > max_len:",
    "if total + n >= max_len:",
    PK, "a part that exactly fills the pack to max_len opens a new pack")
add("pack_min_len_not_scaled", "packmil", "milhelpers/packing.py",
    "split_slide(len(b.features), self.p, self.min_len * r, self.max_len * r,",
    "split_slide(len(b.features), self.p, self.min_len, self.max_len * r,",
    PK, "with ADS ratio r, slides between min_len and min_len·r are split instead of going whole "
    "to both branches")
add("pack_multihot_sum", "packmil", "milhelpers/packing.py",
    "return per_class / per_class.amax(-1, keepdim=True)",
    "return per_class / per_class.sum(-1, keepdim=True)",
    PK, "one class-0 and two class-1 members give [1/3, 2/3] instead of [0.5, 1.0]")
add("pack_ads_group_token_major", "packmil", "milhelpers/models/packmil.py",
    "return x.reshape(m, r, x.shape[1]).transpose(1, 2).reshape(m, -1)",
    "return x.reshape(m, -1)",
    PK, "token-major grouping: entry j·r + k no longer holds coordinate j of token k")
add("pack_residual_mask_dropped", "packmil", "milhelpers/models/packmil.py",
    "out.extras[\"hyperslide_logits\"] = ABMIL.forward(self, residual, residual_mask).logits",
    "out.extras[\"hyperslide_logits\"] = ABMIL.forward(self, residual, None).logits",
    PK, "right-padded residual packs then attend to their zero padding tokens")

# ---------------- runner + stats (14)
add("stats_p_one_sided", "runner_stats", "milhelpers/stats.py",
    "p = min(1.0, max(2 * min(below, above) / b, 1 / b))",
    "p = min(1.0, max(min(below, above) / b, 1 / b))",
    ST, "one-sided p: halves p, breaking p < α ⇔ interval excludes 0")
add("stats_ties_strict", "runner_stats", "milhelpers/stats.py",
    "below, above = int((d <= 0).sum()), int((d >= 0).sum())",
    "below, above = int((d < 0).sum()), int((d > 0).sum())",
    ST, "resampled differences exactly 0 (common for balanced accuracy) no longer count, so p "
    "shrinks; all-zero resamples give p = 1/B")
add("stats_case_draw_off_by_one", "runner_stats", "milhelpers/stats.py",
    "draws = rng.integers(0, n_h, size=(n_boot, n_h))",
    "draws = rng.integers(0, max(n_h - 1, 1), size=(n_boot, n_h))",
    ST, "the last case of each stratum is never drawn (high is exclusive)")
add("stats_groups_ignored", "runner_stats", "milhelpers/stats.py",
    "_, case = np.unique(g, return_inverse=True)",
    "case = np.arange(len(y))",
    ST, "slides of one patient are resampled independently instead of together")
add("stats_auc_unweighted_denominator", "runner_stats", "milhelpers/stats.py",
    "vals = [((w[:, pos] @ h) * w[:, neg]).sum(1) / (w[:, pos].sum(1) * w[:, neg].sum(1))",
    "vals = [((w[:, pos] @ h) * w[:, neg]).sum(1) / (pos.sum() * neg.sum())",
    ST, "weighted numerator over unweighted counts: with multi-slide cases (groups) a "
    "resample's W_P·W_N differs from n_P·n_N and the resampled AUC leaves its scale "
    "(without groups every stratum's weights sum to its size, so only grouped data shows it)")
add("stats_slide_means_over_all_repeats", "runner_stats", "milhelpers/stats.py",
    "d = np.where(both, b - a, 0.0).sum(0) / both.sum(0)",
    "d = np.where(both, b - a, 0.0).sum(0) / len(a)",
    ST, "a slide defined in only some repeats has its difference shrunk towards 0")
add("stats_delong_one_sided_q", "runner_stats", "milhelpers/stats.py",
    "q = norm.ppf(1 - ALPHA / 2)",
    "q = norm.ppf(1 - ALPHA)",
    ST, "DeLong's interval becomes 90 % (1.645 se), inconsistent with its two-sided p")
add("stats_holm_no_monotone", "runner_stats", "milhelpers/stats.py",
    "out[order] = np.maximum.accumulate(adj)",
    "out[order] = adj",
    ST, "without the running max an adjusted p can be smaller than that of a smaller raw p "
    "(e.g. [0.01, 0.02, 0.03]·[3, 2, 1] = [0.03, 0.04, 0.03])")
add("exp_key_drops_test_ids", "runner_stats", "milhelpers/experiments.py",
    "\"test\": list(map(str, test_ids)), \"val_fraction\": float(val_fraction),",
    "\"val_fraction\": float(val_fraction),",
    EX, "runs with the same seed and fold but another partition (e.g. a new 'fold' column) "
    "share a cache key and are wrongly reused")
add("exp_clear_unadjusted", "runner_stats", "milhelpers/experiments.py",
    "table.insert(7, \"clear\", [bool(p < stats.ALPHA) for p in table.p_holm])",
    "table.insert(7, \"clear\", [bool(p < stats.ALPHA) for p in table.p])",
    EX, "with several methods 'clear' is decided by the raw p instead of Holm's")
add("exp_ratio_k", "runner_stats", "milhelpers/experiments.py",
    "ratio = 1 / (k - 1) if k > 1 else 1.0",
    "ratio = 1 / k if k > 1 else 1.0",
    EX, "n_test/n_train for k folds is 1/(k−1), not 1/k: the corrected t-test is too narrow "
    "when meta has no test_train_ratio (results made by hand)")
add("exp_top5_all_slides", "runner_stats", "milhelpers/experiments.py",
    "va, vb = np.where(y == 1, va, np.nan), np.where(y == 1, vb, np.nan)",
    "va, vb = va, vb",
    EX, "top-5 mass is then compared over negatives as well, not the positives the run metric "
    "uses")
add("cmp_favoured_max", "runner_stats", "milhelpers/comparison.py",
    "low = better[[f\"diff {d}\" for d in draws]].min(1).sort_values(ascending=False)",
    "low = better[[f\"diff {d}\" for d in draws]].max(1).sort_values(ascending=False)",
    CO, "several favoured methods are ordered by their largest instead of smallest difference")
add("cmp_reference_any_worse", "runner_stats", "milhelpers/comparison.py",
    "elif len(worse) == len(rep):",
    "elif len(worse):",
    CO, "the reference is favoured as soon as one method is clearly worse, not only when all are")

# ---------------- metrics (4)
add("metrics_entropy_flat_heads", "metrics", "milhelpers/metrics.py",
    "h = -np.where(a > 0, a * np.log(a), 0.0).sum(1)",
    "h = -np.where(a > 0, a * np.log(a), 0.0).sum()",
    ME, "sums the (H, N) array over heads too: H heads' entropies add up instead of being "
    "averaged (the docstring's warning)")
add("metrics_topk_axis0", "metrics", "milhelpers/metrics.py",
    "return float(np.sort(a, axis=1)[:, ::-1][:, :k].sum(1).mean())",
    "return float(np.sort(a, axis=0)[:, ::-1][:, :k].sum(1).mean())",
    ME, "sorting along heads: for one head nothing is sorted and the mass of the first k "
    "positions (reversed) is returned")
add("metrics_loc_threshold_gt", "metrics", "milhelpers/metrics.py",
    "y = np.asarray(y).ravel() >= threshold",
    "y = np.asarray(y).ravel() > threshold",
    ME, "a patch with exactly 25 % tumour no longer counts as tumour")
add("metrics_pooled_raw_scores", "metrics", "milhelpers/metrics.py",
    "ranks.append(pd.Series(s).rank(pct=True).to_numpy())",
    "ranks.append(s)",
    ME, "pooled AUC over raw softmax weights, which are not comparable across bags of "
    "different lengths")

# ---------------- tiling (5)
add("tiling_level0_size_inverted", "tiling", "milhelpers/tiling.py",
    "return max(1, int(round(patch_size * target_mpp / level0_mpp)))",
    "return max(1, int(round(patch_size * level0_mpp / target_mpp)))",
    TI, "a 256-px patch at 0.5 µm/px on a 0.25 µm/px scan is 128 level-0 px instead of 512")
add("tiling_min_tissue_gt", "tiling", "milhelpers/tiling.py",
    "keep = (frac >= min_tissue) & (frac > 0)",
    "keep = frac > min_tissue",
    TI, "a patch with exactly min_tissue tissue is dropped")
add("tiling_grid_edge_off_by_one", "tiling", "milhelpers/tiling.py",
    "xs = np.arange(0, w0 - size0 + 1, step0)",
    "xs = np.arange(0, w0 - size0, step0)",
    TI, "a patch ending exactly at the slide's right edge is never a candidate")
add("tiling_step_target_px", "tiling", "milhelpers/tiling.py",
    "step0 = max(1, int(round((patch_size - overlap) * scale)))",
    "step0 = max(1, int(round(patch_size - overlap)))",
    TI, "grid step in target pixels instead of level-0 pixels: at 0.5 µm/px on a 0.25 scan "
    "patches overlap by half")
add("tiling_ref_area_units", "tiling", "milhelpers/tiling.py",
    "ref_area = REFERENCE_AREA_UM2 / ((slide.mpp ** 2) * ds[0] * ds[1])  # in mask pixels",
    "ref_area = REFERENCE_AREA_UM2 / (slide.mpp * ds[0] * ds[1])  # in mask pixels",
    TI, "µm² divided by µm·px²: the reference area is off by a factor mpp (4× too small at "
    "0.25 µm/px), so small specks pass a_t")

# ---------------- h5io / features (3)
add("h5_coords_empty_strict", "h5io_features", "milhelpers/h5io.py",
    "if len(coords) and len(coords) != len(feats):",
    "if len(coords) != len(feats):",
    H5, "a features file without coords (some CLAM exports) is refused instead of read")
add("features_stale_drops_target_mpp", "h5io_features", "milhelpers/features.py",
    "for key in (\"patch_size_level0\", \"patch_size\", \"target_mpp\"):",
    "for key in (\"patch_size_level0\", \"patch_size\"):",
    H5, "features made from coordinates at another target_mpp (same size0) are not flagged "
    "stale")
add("features_flush_early", "h5io_features", "milhelpers/features.py",
    "while done_upto < int(owners.max()):",
    "while done_upto <= int(owners.max()):",
    H5, "the slide of the batch's last patch is written before its remaining patches arrive "
    "(a slide spanning batches is truncated)")

# ---------------- sweeps (2)
add("sweep_key_drops_package", "sweeps", "milhelpers/sweep.py",
    "KEY_FIELDS = (\"parameters\", \"code_hash\", \"package_hash\")",
    "KEY_FIELDS = (\"parameters\", \"code_hash\")",
    SW, "a run made with other milhelpers sources is reused")
add("sweep_stale_gets_defaults", "sweeps", "milhelpers/sweep.py",
    "        if run.status != \"stale\":\n            for name in names:",
    "        if True:\n            for name in names:",
    SW, "stale runs (other code) get today's defaults filled in for parameters they never set")

# ---------------- params (3)
add("params_folds_ge_rare", "params", "milhelpers/params.py",
    "if k > n_rare:",
    "if k >= n_rare:",
    PA, "folds equal to the rarest class's count is valid (one per fold) but refused")
add("params_n_train_floor", "params", "milhelpers/params.py",
    "return n_groups - -(-n_groups // folds_)",
    "return n_groups - n_groups // folds_",
    PA, "the largest test fold is ⌈n/k⌉; with floor the training part is overestimated by 1 "
    "when k does not divide n")
add("params_low_open_ignored", "params", "milhelpers/params.py",
    "and np.isfinite(value) and (value > low if low_open else value >= low)",
    "and np.isfinite(value) and value >= low",
    PA, "p = 0, lr = 0 and r_hr = 0 are accepted though they must be > 0")

if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    for m in M:
        text = (root / m["file"]).read_text()
        c = text.count(m["old"])
        assert c == 1, (m["id"], c)
        assert m["old"] != m["new"]
    ids = [m["id"] for m in M]
    assert len(set(ids)) == len(ids)
    from collections import Counter
    print(len(M), Counter(m["area"] for m in M))
    (root / "tools_audit5" / "audit5_mutants_draft.json").write_text(json.dumps(M, indent=1, ensure_ascii=False))
