"""Step 2 of audit5: the first-draft mutants that duplicate (or closely vary, on the same line or
statement) one of tools/mutants.py's, and the new mutants that replace them in the same area.
Writes audit5_mutants.json (the final 60) from audit5_mutants_draft.json."""
import json
from pathlib import Path

from draft import ACM, AEM, MH, PK, ST, EX, CO, ME, TI, H5, SW, PA

ROOT = Path(__file__).resolve().parents[1]
NEW = []


def add(replaces, id_, area, file, old, new, tests, why):
    NEW.append((replaces, {"id": id_, "area": area, "file": file, "old": old, "new": new,
                           "tests": tests, "why_not_equivalent": why}))


# ---------------- ACMIL
add("acmil_keff_ignores_padding", "acmil_stkim_padding_ignored", "acmil",
    "milhelpers/models/acmil.py",
    "hidden = stkim_mask(scores, mask, self.top_k, self.mask_drop)",
    "hidden = stkim_mask(scores, torch.ones_like(mask), self.top_k, self.mask_drop)",
    ACM, "the forward pass hands STKIM an all-True mask: in a padded batch a bag shorter than K "
    "gets K' and ⌊K'·p⌋ from the padded length, so padding is 'hidden' and the number of real "
    "instances hidden is wrong (possibly all of them)")
add("acmil_rank_past_keff_gt", "acmil_stkim_batch_min", "acmil", "milhelpers/models/acmil.py",
    "if k_max == 0 or int(n_hide.max()) == 0:",
    "if k_max == 0 or int(n_hide.min()) == 0:",
    ACM, "in a padded batch where one short bag hides 0 instances (⌊K'·p⌋ = 0) and another hides "
    "several, the early return then switches STKIM off for the whole batch")
add("acmil_stkim_in_eval", "acmil_projection_bias", "acmil", "milhelpers/models/acmil.py",
    "nn.Linear(int(in_dim), int(embed_dim), bias=False)",
    "nn.Linear(int(in_dim), int(embed_dim), bias=True)",
    ACM, "the authors' projection has no bias; with one there are embed_dim more parameters and "
    "ReLU(W₀x + b) ≠ ReLU(W₀x) (e.g. x = 0 gives ReLU(b), not 0)")
add("acmil_masks_in_training_gt1", "acmil_diversity_two_branches", "acmil", "milhelpers/losses.py",
    "    if m < 2:\n        return attention.new_zeros(())",
    "    if m <= 2:\n        return attention.new_zeros(())",
    ACM, "with M = 2 branches the diversity loss is 0 instead of cos(a_1, a_2)")
add("acmil_diversity_normalize_dim1", "acmil_diversity_gram_over_instances", "acmil",
    "milhelpers/losses.py",
    "cos = a @ a.transpose(1, 2)                               # (B, M, M)",
    "cos = a.transpose(1, 2) @ a                               # (B, M, M)",
    ACM, "the (N, N) instance Gram matrix instead of the (M, M) branch one: cos[:, i, j] for "
    "i < j < M then reads products of instance columns, not branch cosines")
add("acmil_branch_ce_repeat", "acmil_loss_terms_one_branch", "acmil", "milhelpers/methods.py",
    "if getattr(model, \"n_branches\", 1) < 2:",
    "if getattr(model, \"n_branches\", 1) < 1:",
    ACM, "with M = 1 (acmil_stkim, acmil_base) a branch CE (its own classifier) and a 0 "
    "diversity term are added: another loss, other gradients, extra history columns")
add("acmil_method_or", "acmil_method_defaults_out_of_sync", "acmil", "milhelpers/methods.py",
    "if {**{\"n_branches\": 5, \"top_k\": 10, \"mask_drop\": 0.6}, **m.model_kwargs} == opts:",
    "if {**{\"n_branches\": 5, \"top_k\": 5, \"mask_drop\": 0.6}, **m.model_kwargs} == opts:",
    ACM, "acmil_method() with the paper's options (5, 10, 0.6) no longer matches the registered "
    "'acmil' and returns a new variant 'acmil_M5_K10_drop0.6' (its own cache entries)")

# ---------------- AEM
add("aem_lognorm_padded_n", "aem_lognorm_fallback_zero", "aem", "milhelpers/losses.py",
    "log_n = torch.where(n > 1, torch.log(n), torch.ones_like(n))",
    "log_n = torch.where(n > 1, torch.log(n), torch.zeros_like(n))",
    AEM, "the value is unchanged (the outer where picks 0), but a one-instance bag with "
    "normalize=True computes h/0 in the unselected branch, whose backward is 0·inf = NaN: NaN "
    "gradients")
add("aem_cosine_reversed", "aem_entropy_sum_over_heads", "aem", "milhelpers/losses.py",
    "h = -torch.where(keep, log_a.exp() * log_a, 0.0).sum(-1)",
    "h = -torch.where(keep, log_a.exp() * log_a, 0.0).sum(1)",
    AEM, "sums over the head axis instead of instances: (B, N) instead of (B, H); entropy of "
    "one head with N > 1 changes (−a_k log a_k per instance, not Σ_k)")
add("aem_negent_sum", "aem_underflow_not_zeroed", "aem", "milhelpers/losses.py",
    "log_a = torch.where(keep, log_a, 0.0)",
    "log_a = log_a",
    AEM, "where log a_k underflows to −inf (logits ~1e38 apart), exp(−inf)·(−inf) = NaN in the "
    "unselected branch: the value stays finite but its gradient is NaN")
add("aem_name_drops_logn", "aem_drops_base_loss_terms", "aem", "milhelpers/methods.py",
    "return (*base.loss_terms(model), aem_term(lam, schedule, normalize))",
    "return (aem_term(lam, schedule, normalize),)",
    AEM, "acmil_aem loses ACMIL's branch CE and diversity terms: AEM replaces the base's losses "
    "instead of adding to them")

# ---------------- MHIM
add("mhim_mask_count_round", "mhim_high_pick_not_random", "mhim", "milhelpers/models/mhim.py",
    "pool[torch.randperm(len(pool), generator=generator)[:n_h]]",
    "pool[:n_h]",
    MH, "with r_hr < 1 the top ⌈k·r_hr⌉ of the pool are always hidden instead of a random draw "
    "from the top r_h/r_hr")
add("mhim_pool_ignores_rhr", "recycle_queries_no_layernorm", "mhim", "milhelpers/models/mhim.py",
    "q = self.to_q(self.norm(self.queries))",
    "q = self.to_q(self.queries)",
    MH, "the queries skip the shared LayerNorm (Z = MCA(LN(G), LN(R))): other attention scores "
    "unless the queries are already normalised")
add("mhim_guard_shows_top", "recycle_scores_not_masked", "mhim", "milhelpers/models/mhim.py",
    "dots = dots.masked_fill(~keep, torch.finfo(dots.dtype).min)",
    "dots = dots",
    MH, "the softmax runs over kept instances and padding too; zeroing them afterwards leaves "
    "recycled weights that no longer sum to 1")
add("mhim_class_aware_last_class", "recycle_heads_not_transposed", "mhim",
    "milhelpers/models/mhim.py",
    "z = self.to_out(out.transpose(1, 2).reshape(b, -1, self.heads * self.head_dim))",
    "z = self.to_out(out.reshape(b, -1, self.heads * self.head_dim))",
    MH, "with k > 1 queries, (B, H, k, d) reshaped without the transpose mixes heads of different "
    "queries into one token (identical only for k = 1)")
add("mhim_class_aware_bias", "mhim_norecycle_ignores_rho", "mhim", "milhelpers/models/mhim.py",
    "out = self.student(x, kept)",
    "out = self.student(x, visible)",
    MH, "mhim_v2_norecycle then hides nothing beyond the teacher's mask: the random share 1 − ρ "
    "stays visible")
add("mhim_recycle_keep_ceil", "mhim_student_drops_base_kwargs", "mhim", "milhelpers/methods.py",
    "student = base.build(ctx, **base.model_kwargs)     # drawn from ctx.seed (build_model)",
    "student = base.build(ctx)     # drawn from ctx.seed (build_model)",
    MH, "for a baseline with options (e.g. embed_dim=128) the student gets the default "
    "architecture, unlike the teacher")
add("mhim_queries_ema_in_eval", "mhim_student_copies_whole_teacher", "mhim",
    "milhelpers/methods.py",
    "student.project.load_state_dict(teacher.project.state_dict())",
    "student.load_state_dict(teacher.state_dict())",
    MH, "the student starts as the whole trained teacher (attention and classifier too), not "
    "only its input projection")
add("mhim_visible_ignores_padding", "mhim_recorder_moves_generator", "mhim",
    "milhelpers/methods.py",
    "        model.generator.set_state(g_state)",
    "        g_state = None",
    MH, "MaskRecorder's draw then advances the mask generator, so recording changes the masks "
    "(and results) of training")
add("mhim_min_keep_zero", "mhim_consistency_wrong_axis", "mhim", "milhelpers/losses.py",
    "log_p_s = torch.log_softmax(student.float() / tau_student, dim=-1)",
    "log_p_s = torch.log_softmax(student.float() / tau_student, dim=0)",
    MH, "the student's log-softmax over the batch axis instead of the embedding axis (a batch of "
    "one gives log p_s = 0 and a constant loss)")
add("mhim_seed_not_propagated", "mhim_score_picks_mode_not_restored", "mhim",
    "milhelpers/models/mhim.py",
    "    finally:\n        teacher.train(was)\n    picks = {}",
    "    finally:\n        pass\n    picks = {}",
    MH, "score_picks leaves the teacher in the mode it scored in (eval by default) instead of "
    "restoring its training flag")
add("mhim_momentum_cosine_reversed", "mhim_teacher_config_unseeded", "mhim",
    "milhelpers/methods.py",
    "cfg = ctx.config or base.train_config(seed=ctx.seed)",
    "cfg = ctx.config or base.train_config()",
    MH, "without a runner config the teacher trains with the default seed, not the run's")

# ---------------- PackMIL
add("pack_split_min_len_le", "pack_ads_reweight_padding", "packmil", "milhelpers/models/packmil.py",
    "e = e.masked_fill(~mask, torch.finfo(e.dtype).min)",
    "e = e",
    PK, "ADS's re-weighting softmax in the padded (inference) path then spreads mass onto padding, "
    "so a slide's re-weighted features depend on the batch's padding")
add("pack_split_ceil", "pack_residual_mask_stale_after_ads", "packmil",
    "milhelpers/models/packmil.py",
    "residual_mask = residual_slide_index >= 0",
    "residual_mask = residual_mask",
    PK, "after ADS compresses the residual packs the old (uncompressed) mask no longer fits them")
add("pack_sequential_ge", "pack_build_drops_ads_ratio", "packmil", "milhelpers/methods.py",
    "return PackMIL(ctx.in_dim, ctx.n_classes, ads_ratio=ads_ratio, **kw)",
    "return PackMIL(ctx.in_dim, ctx.n_classes, **kw)",
    PK, "packmil_ads4 builds a model without ADS while its collate packs for r = 4")
add("pack_min_len_not_scaled", "pack_config_drops_lr", "packmil", "milhelpers/methods.py",
    "config={\"batch_size\": batch_size, \"lr\": lr},",
    "config={\"batch_size\": batch_size},",
    PK, "PackMIL's lr (5e-4 by default) is not in its TrainConfig: it trains at the trainer's "
    "default learning rate")
add("pack_multihot_sum", "pack_padding_share_full_batches", "packmil", "milhelpers/packing.py",
    "padded += len(chunk) * int(chunk.max())",
    "padded += batch_size * int(chunk.max())",
    PK, "the last, partial batch of an epoch is counted as a full one: padding share too high when "
    "batch_size does not divide the number of bags")
add("pack_ads_group_token_major", "pack_focal_sign", "packmil", "milhelpers/losses.py",
    "return (alpha * (1 - torch.exp(-b)) ** gamma * b).mean()",
    "return (alpha * (1 - torch.exp(b)) ** gamma * b).mean()",
    PK, "p_t = e^{+b} > 1: the focal weight (e^b − 1)^γ instead of (1 − e^{−b})^γ")
add("pack_residual_mask_dropped", "pack_residual_lengths_uncompressed", "packmil",
    "milhelpers/packing.py",
    "rlen = [compressed_length(len(t), r) for t in ress]",
    "rlen = [len(t) for t in ress]",
    PK, "with ADS (r > 1) residual parts are packed by their length before compression: parts up "
    "to L·r tokens exceed max_len (error) and packs are r times too sparse")

# ---------------- runner + stats
add("stats_p_one_sided", "stats_rank_sign", "runner_stats", "milhelpers/stats.py",
    "ranks = rankdata(-boot, axis=1, method=\"average\")",
    "ranks = rankdata(boot, axis=1, method=\"average\")",
    ST, "resampled ranks count 1 = the lowest metric while the observed rank counts 1 = the "
    "highest: rank intervals and p_first refer to the reversed order")
add("stats_ties_strict", "stats_holm_counts_nan", "runner_stats", "milhelpers/stats.py",
    "    m = len(ok)\n",
    "    m = len(p)\n",
    ST, "NaN p-values (left out) still count in the family size m: adjusted p too large")
add("stats_case_draw_off_by_one", "stats_corrected_t_df", "runner_stats", "milhelpers/stats.py",
    "p = float(2 * student_t.sf(abs(out[\"diff\"]) / se, j - 1))",
    "p = float(2 * student_t.sf(abs(out[\"diff\"]) / se, j))",
    ST, "J degrees of freedom for p while the interval uses J − 1: p < 0.05 no longer ⇔ the "
    "interval excludes 0")
add("stats_auc_unweighted_denominator", "stats_unpaired_auc_uses_paired_kernel",
    "runner_stats", "milhelpers/stats.py",
    "if paired and metric == \"auc\":   # one product with h_B − h_A instead of two",
    "if metric == \"auc\":   # one product with h_B − h_A instead of two",
    ST, "paired=False with the AUC then resamples both methods with the same weights: the "
    "unpaired interval is as narrow as the paired one")
add("stats_slide_means_over_all_repeats", "exp_where_seed_without_fold", "runner_stats",
    "milhelpers/experiments.py",
    "cfg = method.train_config(seed=run_seed(seed, k), progress=False, **self.overrides)",
    "cfg = method.train_config(seed=seed, progress=False, **self.overrides)",
    EX, "every fold of a repeat trains with the same seed (same init and data-order stream) "
    "instead of run_seed(seed, fold)")
add("stats_holm_no_monotone", "exp_holm_family_all_metrics", "runner_stats",
    "milhelpers/experiments.py",
    "table.loc[g.index, \"p_holm\"] = stats.holm(g.p.to_numpy())",
    "table.loc[g.index, \"p_holm\"] = stats.holm(table.p.to_numpy())[g.index]",
    EX, "Holm over every (metric, method) row instead of the methods of one metric: the family "
    "grows with the number of metrics and adjusted p's are too large")
add("exp_key_drops_test_ids", "exp_correlation_touching_zero", "runner_stats",
    "milhelpers/experiments.py",
    "if lo <= 0 <= hi:",
    "if lo < 0 < hi:",
    EX, "an interval with an end exactly at 0 is described as a link instead of 'no clear link'")
add("exp_clear_unadjusted", "exp_summary_std_ddof0", "runner_stats", "milhelpers/experiments.py",
    "\"std\": float(v.std(ddof=1)) if len(v) > 1 else float(\"nan\")",
    "\"std\": float(v.std(ddof=0)) if len(v) > 1 else float(\"nan\")",
    EX, "population instead of sample standard deviation: summary std too small by √((n−1)/n)")
add("exp_ratio_k", "cmp_table_ignores_oof", "runner_stats", "milhelpers/comparison.py",
    "s = summary[m].get(f\"oof_{k}\" if source == \"oof\" else k) or {}",
    "s = summary[m].get(k) or {}",
    CO, "the head-to-head table shows per-run means (test-fold AUCs) instead of the pooled "
    "out-of-fold metric the comparisons use")
add("exp_top5_all_slides", "cmp_showcase_upper_median", "runner_stats",
    "milhelpers/comparison.py",
    "pick = ranked.iloc[(len(ranked) - 1) // 2]",
    "pick = ranked.iloc[len(ranked) // 2]",
    CO, "with an even number of discohesive positives the upper instead of the lower median is "
    "shown")

# ---------------- metrics
add("metrics_topk_axis0", "metrics_cumulative_off_by_one", "metrics", "milhelpers/metrics.py",
    "curves.append(c[np.minimum(ks, len(c)) - 1])",
    "curves.append(c[np.minimum(ks, len(c) - 1)])",
    ME, "c(K) reads the (K+1)-th cumulative sum: the top-1 curve value is the top-2 mass")
add("metrics_loc_threshold_gt", "metrics_top_branch_no_minus_one", "metrics",
    "milhelpers/metrics.py",
    "return np.where(inside.any(0), best, -1)",
    "return best",
    ME, "instances in no head's top k get head 0 (argmax of an all −inf column) instead of −1")
add("metrics_pooled_raw_scores", "metrics_topk_members_ties_last", "metrics",
    "milhelpers/metrics.py",
    "member[np.argsort(-row, kind=\"stable\")[:k]] = True",
    "member[np.argsort(row, kind=\"stable\")[::-1][:k]] = True",
    ME, "ties at the k-th weight go to the later positions instead of the earlier ones (the "
    "docstring's 'ties broken by position'): uniform attention over N > k marks the last k")

# ---------------- tiling
add("tiling_level0_size_inverted", "tiling_net_area_ignores_holes", "tiling",
    "milhelpers/tiling.py",
    "net = cv2.contourArea(c) - sum(hole_areas)",
    "net = cv2.contourArea(c)",
    TI, "a ring of tissue around a large hole passes a_t on its outer area although its net "
    "tissue area is below it")
add("tiling_min_tissue_gt", "tiling_contours_in_mask_px", "tiling", "milhelpers/tiling.py",
    "kept_c.append(c[:, 0, :].astype(np.float64) * scale)",
    "kept_c.append(c[:, 0, :].astype(np.float64))",
    TI, "contours stay in mask pixels instead of level-0 pixels (off by the mask downsample)")
add("tiling_grid_edge_off_by_one", "tiling_overwrite_keeps_old_coords", "tiling",
    "milhelpers/tiling.py",
    "            if overwrite and coords_path.exists():  # the old grid no longer describes the slide\n"
    "                coords_path.unlink()",
    "            pass",
    TI, "re-tiling with overwrite=True that now yields no patch leaves the old coordinates file, "
    "which the next steps would read as current")
add("tiling_step_target_px", "tiling_width_height_swapped", "tiling", "milhelpers/tiling.py",
    "level0_width=w0, level0_height=h0, **requested)",
    "level0_width=h0, level0_height=w0, **requested)",
    TI, "a non-square slide's coordinates record swapped dimensions, so feature extraction later "
    "says they belong to another slide")
add("tiling_ref_area_units", "tiling_blue_ink_kept", "tiling", "milhelpers/tiling.py",
    "coloured_ink = (h >= 35) & (h < 125) & (s > 60)",
    "coloured_ink = (h >= 35) & (h < 95) & (s > 60)",
    TI, "blue marker ink (hue 95–125) is no longer excluded from tissue")

# ---------------- h5io / features
add("h5_coords_empty_strict", "h5_leading_axis_not_squeezed", "h5io_features", "milhelpers/h5io.py",
    "feats = feats[0]",
    "feats = feats",
    H5, "features stored as (1, N, D) by some exporters are returned 3-D instead of (N, D)")
add("features_stale_drops_target_mpp", "h5_atomic_leaves_part_file", "h5io_features",
    "milhelpers/h5io.py",
    "    finally:\n        if tmp.exists():\n            tmp.unlink()",
    "    finally:\n        pass",
    H5, "a writer that fails inside atomic_output leaves its .part file behind")

# ---------------- sweeps
add("sweep_key_drops_package", "sweep_earlier_any_hash", "sweeps", "milhelpers/sweep.py",
    "same = all(saved.get(f) == v for f, v in code.items())",
    "same = any(saved.get(f) == v for f, v in code.items())",
    SW, "an earlier run made with other notebook code but the same package (or vice versa) is "
    "'earlier' (drawn) instead of 'stale'")

# ---------------- params
add("params_folds_ge_rare", "params_int_truncates_floats", "params", "milhelpers/params.py",
    "if not ok and isinstance(value, float) and value.is_integer():",
    "if not ok and isinstance(value, float):",
    PA, "epochs=2.5 is silently truncated to 2 instead of refused")
add("params_n_train_floor", "params_lambda_positive_ignored", "params", "milhelpers/params.py",
    "or value < 0 or (positive and value == 0):",
    "or value < 0:",
    PA, "variant_lam = 0 (positive=True) is accepted although the variant must differ from the "
    "baseline")

if __name__ == "__main__":
    draft = json.loads((ROOT / "tools_audit5" / "audit5_mutants_draft.json").read_text())
    by_id = {m["id"]: m for m in draft}
    repl = {r: m for r, m in NEW}
    assert len(repl) == len(NEW), "a draft mutant replaced twice"
    final = []
    for m in draft:
        if m["id"] in repl:
            new = dict(repl[m["id"]])
            assert new["area"] == m["area"], (m["id"], new["area"])
            new["replaces_draft"] = m["id"]
            final.append(new)
        else:
            final.append(m)
    for m in final:
        text = (ROOT / m["file"]).read_text()
        assert text.count(m["old"]) == 1, (m["id"], text.count(m["old"]))
    ids = [m["id"] for m in final]
    assert len(set(ids)) == 60 == len(final)
    (ROOT / "audit5_mutants.json").write_text(json.dumps(final, indent=1, ensure_ascii=False))
    print(len(NEW), "replaced;", len(final), "mutants")
