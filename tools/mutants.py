"""Do the tests catch the mistakes they are meant to catch?

Each mutant below is a plausible bug, introduced on purpose into a scratch copy of the package;
the named tests are run against it and must fail ("killed"). A mutant that survives means a test
is missing or too weak. Run from the repository root::

    .venv/bin/python tools/mutants.py            # all mutants (about 40 min on 2 busy cores)
    .venv/bin/python tools/mutants.py gate_added_not_multiplied   # one by name
    .venv/bin/python tools/mutants.py pad_ sched_                 # every mutant with a prefix
    .venv/bin/python tools/mutants.py --check                     # does every mutant still apply?

Exit status 1 if any mutant survives or no longer applies to the source. ``--check`` runs no
test: it only says which mutants' original text no longer occurs exactly once (after a change
to the code, the mutant needs rewriting).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name: (file, original text, mutated text, pytest selection)
MUTANTS = {
    "registry_swaps_gated_and_tanh": (
        "milhelpers/methods.py",
        'register(Method("abmil_gated", lambda ctx, **kw: ABMIL(ctx.in_dim, ctx.n_classes, gated=True',
        'register(Method("abmil_gated", lambda ctx, **kw: ABMIL(ctx.in_dim, ctx.n_classes, gated=False',
        "tests/test_models.py tests/test_methods.py"),
    "gate_added_not_multiplied": (
        "milhelpers/models/abmil.py", "a = a * self.gate(h)", "a = a + self.gate(h)",
        "tests/test_models.py"),
    "clam_attention_dropout_removed": (
        "milhelpers/models/abmil.py", "0.25 if dropout > 0 else 0.0", "0.0",
        "tests/test_models.py"),
    "cross_validate_selects_on_test_fold": (
        "milhelpers/train.py", "method.fit(dataset.subset(tr_idx), dataset.subset(va_idx), cfg, fold=k)",
        "method.fit(dataset.subset(tr_idx), dataset.subset(te), cfg, fold=k)",
        "tests/test_train.py -k cross_validate"),
    "loss_term_weight_ignored": (
        "milhelpers/train.py", "loss = loss + term.weight_at(state) * value", "loss = loss + value",
        "tests/test_train.py -k weight"),
    "fit_does_not_seed": (
        "milhelpers/train.py", "        seed_everything(cfg.seed)\n        model = model()",
        "        model = model()", "tests/test_train.py -k seed_alone"),
    "min_epochs_ignored": (
        "milhelpers/train.py", "waited >= cfg.patience and epoch >= cfg.min_epochs",
        "waited >= cfg.patience", "tests/test_train.py -k min_epochs"),
    "training_loader_does_not_shuffle": (
        "milhelpers/train.py", "_loader(data, cfg.batch_size, True,", "_loader(data, cfg.batch_size, False,",
        "tests/test_train.py -k shuffled"),
    "folds_not_shuffled": (
        "milhelpers/datasets.py", "skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)",
        "skf = StratifiedKFold(n_splits=k, shuffle=False)",
        "tests/test_train.py tests/test_datasets.py -k folds"),
    "grouped_folds_not_shuffled": (
        "milhelpers/datasets.py",
        "    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)\n    return",
        "    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=False)\n    return",
        "tests/test_datasets.py -k folds"),
    "mask_x_and_y_swapped": (
        "milhelpers/tiling.py", "x0 = np.clip(np.round(coords[:, 0] / downsample[0])",
        "x0 = np.clip(np.round(coords[:, 1] / downsample[0])",
        "tests/test_datasets.py"),
    "pooled_localisation_on_raw_scores": (
        "milhelpers/metrics.py", "ranks.append(pd.Series(s).rank(pct=True).to_numpy())",
        "ranks.append(s)", "tests/test_metrics_viz.py -k localisation"),
    "topk_mass_not_normalised": (
        "milhelpers/metrics.py", "    return a / total\n", "    return a\n",
        "tests/test_metrics_viz.py -k topk"),
    "max_pool_per_class_maximum": (
        "milhelpers/models/abmil.py", "return MILOutput(inst[rows, top],",
        "return MILOutput(inst.masked_fill(~mask[..., None], -1e9).max(1).values,",
        "tests/test_models.py -k max_pool"),
    "rank_ties_by_order": (
        "milhelpers/viz.py", 'rankdata(v, method="average")', 'rankdata(v, method="ordinal")',
        "tests/test_metrics_viz.py -k scalings"),
    "entropy_flattens_heads": (
        "milhelpers/metrics.py", "    a = _per_head(a)\n    with np.errstate",
        "    a = _per_head(np.ravel(a))\n    with np.errstate",
        "tests/test_metrics_viz.py -k multi_head"),
    "monitor_lower_is_better_for_all": (
        "milhelpers/train.py", 'sign = 1.0 if MONITORS[monitor] == "min" else -1.0',
        "sign = 1.0", "tests/test_train.py -k monitor_direction"),
    "stkim_picks_lowest_scores": (
        "milhelpers/models/acmil.py", ".topk(k_max, -1).indices",
        ".topk(k_max, -1, largest=False).indices", "tests/test_acmil.py -k stkim"),
    "stkim_ignores_bag_length": (
        "milhelpers/models/acmil.py", "k_eff = mask.sum(1).clamp(max=k_max)",
        "k_eff = torch.full_like(mask.sum(1), k_max)", "tests/test_acmil.py -k stkim"),
    "stkim_bernoulli_not_fixed_count": (
        "milhelpers/models/acmil.py", "chosen = order < n_hide[:, None, None]",
        "chosen = (torch.rand_like(keys) < mask_drop) & (keys < 2)", "tests/test_acmil.py -k stkim"),
    "stkim_in_eval_mode": (
        "milhelpers/models/acmil.py", "if self.training and self.masks_in_training:",
        "if self.masks_in_training:", "tests/test_acmil.py -k eval"),
    "acmil_slide_pools_mean_logit": (
        "milhelpers/models/acmil.py", 'z = torch.einsum("bn,bne->be", slide_attention(a), h)',
        'z = torch.einsum("bn,bne->be", masked_softmax(scores.mean(1, keepdim=True), mask)[:, 0], h)',
        "tests/test_acmil.py -k branch_mean"),
    "acmil_branch_ce_on_slide_logits": (
        "milhelpers/methods.py", 'branch_cross_entropy(out.extras["branch_logits"],',
        "branch_cross_entropy(out.logits[:, None],", "tests/test_acmil.py -k loss_terms"),
    "heads_reduced_by_mean_logit": (
        "milhelpers/train.py",
        "return [s[0] if len(s) == 1 else a for s, a in zip(self.scores, self.slide_attention)]",
        "return [s.mean(0) for s in self.scores]", "tests/test_acmil.py -k heads"),
    "concentration_per_head_not_slide_attention": (
        "milhelpers/train.py", "vals = [topk_mass(a, k) for a, y in zip(self.slide_attention,",
        "vals = [topk_mass(a, k) for a, y in zip(self.attention,", "tests/test_acmil.py -k heads"),
    "knn_distances_squared": (
        "milhelpers/embedding.py", "np.maximum(dist, 0.0)]", "np.maximum(dist, 0.0) ** 2]",
        "tests/test_embedding.py -k knn_graph"),
    "knn_graph_built_on_reordered_rows": (
        "milhelpers/embedding.py", "knn = knn_graph(X, n_neighbors, metric)",
        "knn = knn_graph(X[::-1], n_neighbors, metric)", "tests/test_embedding.py -k planted"),
    "umap_seed_not_passed": (
        "milhelpers/embedding.py", "random_state=seed, precomputed_knn", "precomputed_knn",
        "tests/test_embedding.py -k deterministic"),
    "subsample_unseeded": (
        "milhelpers/embedding.py", "np.random.default_rng(seed).choice",
        "np.random.default_rng().choice",
        "tests/test_embedding.py -k subsample"),
    "umap_kernels_not_cached": (
        "milhelpers/embedding.py", "d.enable_caching()  #", "pass  #",
        "tests/test_embedding.py -k cached"),
    "umap_parallel_twin_cached_too": (
        "milhelpers/embedding.py", "chosen = list(group.values()) if len(group) == 1 else",
        "chosen = list(group.values()) if True else", "tests/test_embedding.py -k cached"),
    "umap_scatter_colours_not_subsampled": (
        "milhelpers/viz.py", "v = values[embedding.indices]",
        "v = values[: len(embedding.indices)]",
        "tests/test_embedding.py -k umap_scatter"),
    "packmil_attention_crosses_slides": (
        "milhelpers/models/packmil.py",
        "member = slide_index[pack_of] == torch.arange(n_slides, device=x.device)[:, None]",
        "member = (slide_index[pack_of] >= 0) | (torch.arange(n_slides, device=x.device)[:, None] < 0)",
        "tests/test_packing.py"),
    "hyperslide_label_ignores_token_counts": (
        "milhelpers/packing.py", "return (w @ onehot) / total",
        "return ((w > 0).float() @ onehot) / (w > 0).float().sum(-1, keepdim=True)",
        "tests/test_packing.py"),
    "split_puts_one_instance_in_both_parts": (
        "milhelpers/packing.py", "main, res = perm[:k], perm[k:]", "main, res = perm[:k], perm[k - 1:]",
        "tests/test_packing.py"),
    "ads_groups_token_major": (
        "milhelpers/models/packmil.py",
        "return x.reshape(m, r, x.shape[1]).transpose(1, 2).reshape(m, -1)",
        "return x.reshape(m, -1)", "tests/test_packing.py"),
    "packs_overflow_by_one_token": (
        "milhelpers/packing.py", "if total + n > max_len:", "if total + n > max_len + 1:",
        "tests/test_packing.py"),
    "mhim_ema_weights_swapped": (
        "milhelpers/models/mhim.py", "t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)",
        "t.mul_(1.0 - momentum).add_(s.detach(), alpha=momentum)", "tests/test_mhim.py"),
    "mhim_high_masking_hides_the_lowest": (
        "milhelpers/models/mhim.py", "pool = order[:mask_count(n, r_h / r_hr)]",
        "pool = order.flip(0)[:mask_count(n, r_h / r_hr)]", "tests/test_mhim.py"),
    "mhim_student_sees_the_masked_instances": (
        "milhelpers/models/mhim.py", "visible = mask & ~masked", "visible = mask",
        "tests/test_mhim.py"),
    "mhim_masks_in_eval_mode": (
        "milhelpers/models/mhim.py", "if not self.training:", "if False:", "tests/test_mhim.py"),
    "mhim_teacher_without_dropout": (
        "milhelpers/models/mhim.py", "self.teacher.train()  ", "self.teacher.eval()  ",
        "tests/test_mhim.py"),
    "mhim_r_h_decays_linearly": (
        "milhelpers/methods.py", "model.r_h = 0.5 * model.r_h0 * (1 + math.cos(math.pi * t))",
        "model.r_h = model.r_h0 * (1 - t)", "tests/test_mhim.py"),
    "mhim_stage_one_seconds_not_counted": (
        "milhelpers/experiments.py",
        'seconds = time.perf_counter() - t0 - stage["wall"] + stage["seconds"]',
        "seconds = time.perf_counter() - t0", "tests/test_mhim.py"),
    "mhim_consistency_teacher_and_student_swapped": (
        "milhelpers/methods.py", 'out.embedding, out.extras["teacher_embedding"]), model.alpha)',
        'out.extras["teacher_embedding"], out.embedding), model.alpha)', "tests/test_mhim.py"),
    "runner_counts_first_stages_as_listed_runs": (
        "milhelpers/experiments.py", "names, len(trained & listed), meta, slides)",
        "names, len(trained), meta, slides)", "tests/test_mhim.py -k missing_baseline"),
    "class_aware_score_adds_the_whole_bias": (
        "milhelpers/models/mhim.py", "logits = contribution.float() @ clf.weight.float().t()",
        "logits = clf(contribution).float()", "tests/test_fidelity.py -k class_aware"),
    "recycle_network_attends_to_the_kept": (
        "milhelpers/models/mhim.py", "z = self.recycle(h, recycled)", "z = self.recycle(h, kept)",
        "tests/test_fidelity.py -k student_pools"),
    "recycle_tokens_not_pooled": (
        "milhelpers/models/mhim.py",
        "out = self.student.pool(torch.cat([h, z], 1), torch.cat([kept, ones], 1))",
        "out = self.student.pool(h, kept)", "tests/test_fidelity.py -k student_pools"),
    "recycle_queries_never_updated": (
        "milhelpers/models/mhim.py", "if self.training and self.momentum < 1:", "if False:",
        "tests/test_fidelity.py -k recycle_network"),
    "recycle_split_rounds_up": (
        "milhelpers/models/mhim.py", "n_keep = max(int(len(idx) * keep_ratio),",
        "n_keep = max(math.ceil(len(idx) * keep_ratio),", "tests/test_fidelity.py -k keep_share"),
    "mhim_student_projection_not_copied": (
        "milhelpers/methods.py", 'if kw["student_init"] == "projection":', "if False:",
        "tests/test_fidelity.py -k projection"),
    "multihot_target_weighted_by_tokens": (
        "milhelpers/packing.py", "per_class = (w > 0).to(w.dtype) @ onehot",
        "per_class = w @ onehot", "tests/test_fidelity.py -k multihot"),
    "hyperslide_bce_summed": (
        "milhelpers/losses.py",
        "return F.binary_cross_entropy_with_logits(logits.float(), targets.float())",
        'return F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="sum")',
        "tests/test_fidelity.py -k losses"),
    "packmil_tokenmix_trains_on_multihot": (
        "milhelpers/methods.py", "batch.hyperslide_labels(out.logits.shape[1], target)",
        "batch.hyperslide_labels(out.logits.shape[1])", "tests/test_fidelity.py -k total_loss"),
    "acmil_selects_on_macro_f1": (
        "milhelpers/train.py", '"val_acc_auc": m["accuracy"] + m["auc"]',
        '"val_acc_auc": m["macro_f1"] + m["auc"]', "tests/test_fidelity.py -k micro"),
    "runner_workers_runs_not_counted": (
        "milhelpers/experiments.py", "runs.trained |= trained", "pass",
        "tests/test_experiments_dask.py -k first_stage"),
    "runner_runs_not_locked": (
        "milhelpers/experiments.py", "with _run_lock(json_path):",
        "with contextlib.nullcontext():", "tests/test_experiments.py -k once"),
    "runner_lock_without_a_second_look": (
        "milhelpers/experiments.py",
        "            found = None if force else _load_run(json_path, npz_path, key)\n            if",
        "            found = None\n            if", "tests/test_experiments.py -k once"),
    "runner_workers_retrain_in_the_parent": (
        "milhelpers/experiments.py",
        "missing = [j for j in jobs if not runs.where(*j)[2].exists()]",
        "missing = [j for j in jobs if not runs.where(*j)[2].exists()][1:]",
        "tests/test_experiments_dask.py -k first_stage"),
    # ---- runner_dask_: the runner's Dask tasks
    "runner_dask_second_stage_does_not_wait": (
        "milhelpers/experiments.py", "threads, keys,\n                                    *before, key=",
        "threads, keys,\n                                    key=",
        "tests/test_experiments_dask.py -k first_stage"),
    "runner_dask_workers_compute_the_keys": (
        "milhelpers/experiments.py", "trained=set(), keys=keys)", "trained=set(), keys={})",
        "tests/test_experiments_dask.py -k first_stage"),
    "runner_dask_runs_share_a_process": (
        "milhelpers/experiments.py", "with _ONE_RUN_PER_PROCESS, torch_threads(threads):",
        "with torch_threads(threads):", "tests/test_experiments_dask.py -k first_stage"),
    "runner_dask_plugins_not_on_the_workers": (
        "milhelpers/experiments.py", "        if needed:\n", "        if False:\n",
        "tests/test_experiments_dask.py::test_the_benchmark_on_a_running_scheduler_gives_the_serial_table "
        "tests/test_experiments_dask.py::test_only_the_plugins_of_the_methods_to_train_go_to_the_workers"),
    # every plugin this process loaded goes to the workers, one whose file is gone included
    "runner_dask_every_loaded_plugin_sent": (
        "milhelpers/experiments.py", "if wanted & set(names)]", "if True]",
        "tests/test_experiments_dask.py -k plugins"),
    "runner_dask_failed_run_not_raised": (
        "milhelpers/experiments.py", "        if report.failed:   #", "        if False:   #",
        "tests/test_experiments_dask.py -k failing"),
    "runner_dask_cli_scheduler_ignored": (
        "benchmarks/methods.py", "scheduler=args.scheduler, cluster_file=args.cluster)",
        "scheduler=None, cluster_file=args.cluster)",
        "tests/test_experiments_dask.py -k benchmark"),
    "evaluate_interval_level_fixed": (
        "milhelpers/stats.py", "ci, _ = _interval_and_p(boot, alpha=1 - confidence)",
        "ci, _ = _interval_and_p(boot)", "tests/test_cohort_cli.py -k case_bootstrap"),
    "evaluate_cases_not_stratified": (
        "milhelpers/stats.py",
        "    case, strata = case_strata(y, groups)\n    value = float(",
        "    case, strata = case_strata(y, groups)\n"
        "    strata = [np.concatenate(strata)]\n    value = float(",
        "tests/test_cohort_cli.py -k case_bootstrap"),
    "runner_one_partition_for_every_repeat": (
        "milhelpers/experiments.py",
        "partitions = {s: experiment_folds(dataset, folds, seed=s) for s in seeds}",
        "partitions = {s: experiment_folds(dataset, folds, seed=0) for s in seeds}",
        "tests/test_experiments.py -k out_of_fold"),
    "paired_top5_mass_on_every_slide": (
        "milhelpers/experiments.py", 'if k == "top5_mass":', 'if k == "no such metric":',
        "tests/test_experiments.py -k paired_compares"),
    "bootstrap_resamples_nothing": (
        "milhelpers/stats.py", "draws = rng.integers(0, n_h, size=(n_boot, n_h))",
        "draws = np.tile(np.arange(n_h), (n_boot, 1))", "tests/test_stats.py"),
    "bootstrap_interval_one_order_statistic_in": (
        "milhelpers/stats.py", "return [float(d[k - 1]), float(d[b - k])], p",
        "return [float(d[k]), float(d[b - k - 1])], p", "tests/test_stats.py -k same_statement"),
    "bootstrap_p_one_sided": (
        "milhelpers/stats.py", "p = min(1.0, max(2 * min(below, above) / b, 1 / b))",
        "p = min(1.0, max(min(below, above) / b, 1 / b))", "tests/test_stats.py -k same_statement"),
    "auc_ties_count_as_wins": (
        "milhelpers/stats.py", "return ((diff > 0) + 0.5 * (diff == 0)).mean(0)",
        "return (diff >= 0).mean(0)", "tests/test_stats.py -k sklearn"),
    "per_slide_nan_counts_as_no_difference": (
        "milhelpers/stats.py", "d = np.where(both, b - a, 0.0).sum(0) / both.sum(0)",
        "d = np.where(both, b - a, 0.0).sum(0) / len(a)", "tests/test_stats.py -k defined"),
    "holm_without_the_running_maximum": (
        "milhelpers/stats.py", "out[order] = np.maximum.accumulate(adj)", "out[order] = adj",
        "tests/test_stats.py -k holm"),
    "nadeau_bengio_uncorrected": (
        "milhelpers/stats.py", "(1 / j + test_train_ratio)", "(1 / j)",
        "tests/test_stats.py -k nadeau"),
    "selection_on_the_best_epoch_despite_last": (
        "milhelpers/train.py", 'select = validate and monitor != "last"', "select = validate",
        "tests/test_train.py -k monitor_last"),
    # --- round 6: pack (self-audit) ---
    # the residual part's cap tested on the main part's length
    "r6pack_split_residual_cap_checks_main": (
        "milhelpers/packing.py",
        'if len(res) > cap:',
        'if len(main) > cap:',
        "tests/test_packing_paths.py -k each_part_is_capped_on_its_own_length"),
    # a label equal to n_classes passes the range check
    "r6pack_label_range_off_by_one": (
        "milhelpers/packing.py",
        'y.max() >= n_classes',
        'y.max() > n_classes',
        "tests/test_packing_paths.py -k refuses_labels_outside_the_classes"),
    # negative token counts refused only when all are negative
    "r6pack_negative_counts_only_if_all": (
        "milhelpers/packing.py",
        'if (w < 0).any():',
        'if (w < 0).all():',
        "tests/test_packing_paths.py -k refuses_any_negative_count_and_any_empty_row"),
    # an all-zero hyperslide row refused only when every row is empty
    "r6pack_empty_hyperslide_only_if_all": (
        "milhelpers/packing.py",
        'if (total == 0).any():',
        'if (total == 0).all():',
        "tests/test_packing_paths.py -k refuses_any_negative_count_and_any_empty_row"),
    # PackedBatch.to swaps the residual mask and slide index
    "r6pack_to_swaps_residual_mask_and_index": (
        "milhelpers/packing.py",
        'mv(self.residual_mask), mv(self.residual_slide_index),',
        'mv(self.residual_slide_index), mv(self.residual_mask),',
        "tests/test_packing_paths.py -k moved_keeps_every_field_in_its_place"),
    # n_slides counts packs instead of slides
    "r6pack_n_slides_counts_packs": (
        "milhelpers/packing.py",
        'return len(self.labels)',
        'return len(self.features)',
        "tests/test_packing_paths.py -k moved_keeps_every_field_in_its_place"),
    # slide_batch_sampler ignores drop_last
    "r6pack_sampler_drop_last_ignored": (
        "milhelpers/packing.py",
        'batch_size, drop_last)',
        'batch_size, False)',
        "tests/test_packing_paths.py -k slide_batch_sampler_honours_drop_last"),
    # slide_batch_sampler shuffles from torch's global stream, not the trainer's generator
    "r6pack_sampler_ignores_generator": (
        "milhelpers/packing.py",
        'RandomSampler(ds, generator=generator)',
        'RandomSampler(ds)',
        "tests/test_packing_paths.py -k slide_batch_sampler_honours_drop_last"),
    # padded_token_share ignores its seed
    "r6pack_padded_share_seed_ignored": (
        "milhelpers/packing.py",
        'rng = np.random.default_rng(seed)',
        'rng = np.random.default_rng(0)',
        "tests/test_packing_paths.py -k padded_token_share_follows_its_seed"),
    # padded_token_share averages over one shuffle whatever epochs says
    "r6pack_padded_share_one_epoch": (
        "milhelpers/packing.py",
        'for _ in range(epochs):',
        'for _ in range(1):',
        "tests/test_packing_paths.py -k padded_token_share_follows_its_seed"),
    # packs padded to the first pack's length, not the longest
    "r6pack_pack_width_of_first_pack": (
        "milhelpers/packing.py",
        't, d = max(lens), parts[packs[0][0]].shape[1]',
        't, d = lens[0], parts[packs[0][0]].shape[1]',
        "tests/test_packing_paths.py -k pads_to_the_longest_pack_even_when"),
    # ADS eval part mode skips the output layer
    "r6pack_ads_eval_part_skips_out_layer": (
        "milhelpers/models/packmil.py",
        '        if not self.training:\n            return self.out(self.embed(x))',
        '        if not self.training:\n            return self.embed(x)',
        "tests/test_packing_paths.py -k ads_eval_part_is_the_per_token_map"),
    # ADS keeps D coordinates drawn from the first D of r*D only
    "r6pack_ads_keeps_first_d_coordinates": (
        "milhelpers/models/packmil.py",
        'torch.randperm(r * d, device=x.device)[:d]',
        'torch.randperm(d, device=x.device)[:d]',
        "tests/test_packing_paths.py -k keeps_coordinates_from_all_r_times_d"),
    # ADS accepts a fractional ratio (truncated)
    "r6pack_ads_fractional_ratio_accepted": (
        "milhelpers/models/packmil.py",
        'if isinstance(ratio, bool) or int(ratio) != ratio or ratio < 2:',
        'if isinstance(ratio, bool) or ratio < 2:',
        "tests/test_packing_paths.py -k ads_ratio_must_be_an_integer"),
    # unpacked PackMIL forward runs the ADS without the padding mask
    "r6pack_unpacked_ads_ignores_mask": (
        "milhelpers/models/packmil.py",
        'x = self.ads(x, mask)',
        'x = self.ads(x)',
        "tests/test_packing_paths.py -k unpacked_forward_with_ads_on_a_padded_batch"),
    # ads_ratio=1 builds an ADS (and fails) instead of none
    "r6pack_ratio_one_builds_an_ads": (
        "milhelpers/models/packmil.py",
        'if ads_ratio not in (None, 1) else None',
        'if ads_ratio is not None else None',
        "tests/test_packing_paths.py -k ads_ratio_must_be_an_integer"),
    # ADS with residual packs but no residual_slide_index: no clear error
    "r6pack_residual_ads_check_dropped": (
        "milhelpers/models/packmil.py",
        'if residual_slide_index is None:',
        'if residual is None:',
        "tests/test_packing_paths.py -k packed_forward_refuses_malformed_inputs"),
    # a missing slide number refused only when all are missing
    "r6pack_slide_numbering_check_all": (
        "milhelpers/models/packmil.py",
        'minlength=n_slides).eq(0).any()',
        'minlength=n_slides).eq(0).all()',
        "tests/test_packing_paths.py -k packed_forward_refuses_malformed_inputs"),
    # packed shape check compares only the pack axis
    "r6pack_packed_shape_check_first_axis": (
        "milhelpers/models/packmil.py",
        'slide_index.shape != x.shape[:2]',
        'slide_index.shape[0] != x.shape[0]',
        "tests/test_packing_paths.py -k packed_forward_refuses_malformed_inputs"),
    # packmil_method(name=...) ignored: the generated name wins
    "r6pack_method_name_argument_ignored": (
        "milhelpers/methods.py",
        '    if name is None:\n        tags = {"alpha"',
        '    if True:\n        tags = {"alpha"',
        "tests/test_packing_paths.py -k hands_its_options_to_collate_model_and_loss"),
    # the hyperslide term weighted by the default alpha, not the option
    "r6pack_method_alpha_weight_default": (
        "milhelpers/methods.py",
        '            float(alpha)),)',
        '            PACKMIL_DEFAULTS["alpha"]),)',
        "tests/test_packing_paths.py -k hands_its_options_to_collate_model_and_loss"),
    # hyperslide_loss option ignored: the target's default loss is used
    "r6pack_method_focal_ignored": (
        "milhelpers/methods.py",
        'loss_fn = loss_named(loss_name)',
        'loss_fn = loss_named(_TARGET_LOSS[target])',
        "tests/test_packing_paths.py -k focal_option_trains_the_hyperslides"),
    # --- round 6: tiling (self-audit) ---
    "r6tiling_black_ink_threshold": (
        "milhelpers/tiling.py",
        "black_ink = v < 60",
        "black_ink = v < 6",
        "tests/test_tiling_paths.py -k black_marker"),
    "r6tiling_pen_not_dilated": (
        "milhelpers/tiling.py",
        "pen = cv2.dilate(_pen_mask(hsv).astype(np.uint8), np.ones((3, 3), np.uint8))",
        "pen = _pen_mask(hsv).astype(np.uint8)",
        "tests/test_tiling_paths.py -k blurred_rim"),
    "r6tiling_close_kernel_unscaled": (
        "milhelpers/tiling.py",
        "close = int(round(params.close * k))",
        "close = int(round(params.close))",
        "tests/test_tiling_paths.py -k closing_kernel"),
    "r6tiling_grid_column_major": (
        "milhelpers/tiling.py",
        'gy, gx = np.meshgrid(ys, xs, indexing="ij")',
        'gx, gy = np.meshgrid(xs, ys, indexing="ij")',
        "tests/test_tiling_paths.py -k row_major"),
    "r6tiling_overlap_not_scaled": (
        "milhelpers/tiling.py",
        "step0 = max(1, int(round((patch_size - overlap) * scale)))",
        "step0 = max(1, int(round(patch_size * scale)) - overlap)",
        "tests/test_tiling_paths.py -k overlap_is_converted"),
    "r6tiling_qc_boxes_not_scaled": (
        "milhelpers/tiling.py",
        "for x, y in np.asarray(coords) / thumb_downsample:",
        "for x, y in np.asarray(coords):",
        "tests/test_tiling_paths.py -k qc_drawing"),
    "r6tiling_qc_holes_drawn_green": (
        "milhelpers/tiling.py",
        "cv2.polylines(img, [hp], True, (0, 80, 255), thick)",
        "cv2.polylines(img, [hp], True, (0, 200, 0), thick)",
        "tests/test_tiling_paths.py -k qc_drawing"),
    "r6tiling_png_channels_swapped": (
        "milhelpers/tiling.py",
        "cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)",
        "np.ascontiguousarray(rgb)",
        "tests/test_tiling_paths.py -k save_png"),
    "r6tiling_qc_redrawn_for_kept_coords_missing": (
        "milhelpers/tiling.py",
        "if qc and not qc_path.exists():",
        "if not qc and not qc_path.exists():",
        "tests/test_tiling.py -k kept_coords_get"),
    "r6tiling_otsu_ignored": (
        "milhelpers/tiling.py",
        "if params.use_otsu:",
        "if False:",
        "tests/test_tiling_paths.py -k otsu"),
    "r6tiling_box_min_width_dropped": (
        "milhelpers/tiling.py",
        "x1, y1 = np.maximum(x1, np.minimum(x0 + 1, w)), np.maximum(y1, np.minimum(y0 + 1, h))",
        "pass",
        "tests/test_tiling_paths.py -k smaller_than_a_mask"),
    "r6tiling_h5_partials_glob_unescaped": (
        "milhelpers/h5io.py",
        'path.parent.glob(f".{glob.escape(path.name)}.*.part")',
        'path.parent.glob(f".{path.name}.*.part")',
        "tests/test_h5io.py -k remove_partials"),
    "r6tiling_h5_coords_int32": (
        "milhelpers/h5io.py",
        'coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)\n    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:\n        ds =',
        'coords = np.asarray(coords, dtype=np.int32).reshape(-1, 2)\n    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:\n        ds =',
        "tests/test_h5io.py -k int64"),
    "r6tiling_h5_read_coords_dtype_kept": (
        "milhelpers/h5io.py",
        'return f["coords"][:].astype(np.int64), dict(f["coords"].attrs)',
        'return f["coords"][:], dict(f["coords"].attrs)',
        "tests/test_h5io.py -k int64"),
    "r6tiling_h5_read_features_dtype_kept": (
        "milhelpers/h5io.py",
        "return feats.astype(np.float32, copy=False), coords",
        "return feats, coords",
        "tests/test_h5io.py -k float32"),
    "r6tiling_h5_write_features_float64": (
        "milhelpers/h5io.py",
        "features = np.asarray(features, dtype=np.float32)",
        "features = np.asarray(features)",
        "tests/test_h5io.py -k float32"),
    "r6tiling_h5_none_attrs_written": (
        "milhelpers/h5io.py",
        '        if v is None:\n            continue\n',
        "",
        "tests/test_h5io.py -k none"),
    "r6tiling_feat_runs_exclude_touching": (
        "milhelpers/features.py",
        "0 < dx <= size0",
        "0 < dx < size0",
        "tests/test_features.py -k row_runs"),
    "r6tiling_feat_runs_one_too_long": (
        "milhelpers/features.py",
        "and k - first[-1] < BAND)",
        "and k - first[-1] <= BAND)",
        "tests/test_features.py -k row_runs"),
    "r6tiling_feat_runs_across_rows": (
        "milhelpers/features.py",
        "same_run = (coords[k, 1] == coords[k - 1, 1] and 0 < dx <= size0",
        "same_run = (0 < dx <= size0",
        "tests/test_features.py -k row_runs"),
    "r6tiling_feat_attrs_compared_with_themselves": (
        "milhelpers/features.py",
        "a, b = fcattrs.get(key), cattrs.get(key)",
        "a, b = fcattrs.get(key), fcattrs.get(key)",
        "tests/test_features.py -k coordinate_attributes"),
    "r6tiling_feat_nonfinite_any": (
        "milhelpers/features.py",
        "if not np.isfinite(feats).all():",
        "if not np.isfinite(feats).any():",
        "tests/test_features.py -k non_finite"),
    "r6tiling_feat_count_blank_patches": (
        "milhelpers/features.py",
        "n_encoded += int(ok.sum())",
        "n_encoded += len(images)",
        "tests/test_features.py -k not_counted"),
    "r6tiling_pipe_no_tissue_not_listed": (
        "milhelpers/pipeline.py",
        'if res.n_patches == 0:\n            report.no_tissue',
        'if res.n_patches < 0:\n            report.no_tissue',
        "tests/test_pipeline.py -k without_tissue"),
    "r6tiling_pipe_partials_kept": (
        "milhelpers/pipeline.py",
        '    remove_partials(out_dir / "patches" / f"{stem}.h5")\n    remove_partials(out_dir / "qc" / f"{stem}.png")\n    with',
        '    remove_partials(out_dir / "qc" / f"{stem}.png")\n    with',
        "tests/test_pipeline.py -k partial_files"),
    "r6tiling_pipe_overwrite_still_prechecked": (
        "milhelpers/pipeline.py",
        'if not tile_kwargs.get("overwrite", False):',
        "if True:",
        "tests/test_pipeline.py -k overwrite_lets"),
    "r6tiling_pipe_zero_workers_refused": (
        "milhelpers/pipeline.py",
        "if batch_size <= 0 or num_workers < 0:",
        "if batch_size <= 0 or num_workers <= 0:",
        "tests/test_pipeline.py -k both_ends"),
    "r6tiling_slides_mpp_low_end_open": (
        "milhelpers/slides.py",
        "if not (math.isfinite(v) and lo <= v <= hi):",
        "if not (math.isfinite(v) and lo < v <= hi):",
        "tests/test_tiling_paths.py -k check_mpp"),
    "r6tiling_slides_level_mpp_divided": (
        "milhelpers/slides.py",
        "return self.mpp * self.level_downsamples[level]",
        "return self.mpp / self.level_downsamples[level]",
        "tests/test_tiling_paths.py -k level_mpp"),
    "r6tiling_slides_thumb_downsample_height": (
        "milhelpers/slides.py",
        "return self.read_level_resized(level, size), w / size[0]",
        "return self.read_level_resized(level, size), h / size[1]",
        "tests/test_tiling_paths.py -k thumbnail_downsample"),
    "r6tiling_slides_outside_black": (
        "milhelpers/slides.py",
        '            rgb[alpha == 0] = 255\n',
        "",
        "tests/test_tiling_paths.py -k beyond"),
    "r6tiling_slides_file_mpp_x_only": (
        "milhelpers/slides.py",
        "for key in (openslide.PROPERTY_NAME_MPP_X, openslide.PROPERTY_NAME_MPP_Y):",
        "for key in (openslide.PROPERTY_NAME_MPP_X,):",
        "tests/test_tiling_paths.py -k averages"),
    "r6tiling_qc_stale_picture_kept": (
        "milhelpers/tiling.py",
        "        if qc:  # the picture of the grid just computed (never of an older one)",
        "        if qc and not qc_path.exists():  # the picture of the grid just computed (never of an older one)",
        "tests/test_tiling_paths.py -k kept_grid_reports"),
    "r6tiling_kept_qc_path_when_off": (
        "milhelpers/tiling.py",
        "qc_path if qc else None, time.perf_counter() - t0, tissue, coords,",
        "qc_path, time.perf_counter() - t0, tissue, coords,",
        "tests/test_tiling_paths.py -k kept_grid_reports"),
    "r6tiling_patch_size_bool_accepted": (
        "milhelpers/tiling.py",
        '    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) \\\n',
        '    if not isinstance(patch_size, (int, np.integer)) \\\n',
        "tests/test_tiling_paths.py -k wrong_kind"),
    "r6tiling_seg_mask_upsampled": (
        "milhelpers/tiling.py",
        "target_ds = max(1.0, params.seg_mpp / slide.mpp)",
        "target_ds = params.seg_mpp / slide.mpp",
        "tests/test_tiling_paths.py -k finer_than_the_scan"),
    "r6tiling_threshold_step_aliased": (
        "milhelpers/tiling.py",
        '"threshold": binary.copy()} if keep_steps',
        '"threshold": binary} if keep_steps',
        "tests/test_tiling_paths.py -k steps_are_kept"),
    "r6tiling_h5_partial_not_hidden": (
        "milhelpers/h5io.py",
        'prefix=f".{path.name}."',
        'prefix=f"{path.name}."',
        "tests/test_h5io.py -k temporary_file_is_hidden"),
    "r6tiling_feat_missing_coords_file_crashes": (
        "milhelpers/features.py",
        '    except (OSError, KeyError):\n        coords, cattrs = None, {}',
        '    except KeyError:\n        coords, cattrs = None, {}',
        "tests/test_features.py -k coordinates_file_is_gone"),
    "r6tiling_feat_task_keeps_partials": (
        "milhelpers/features.py",
        '    remove_partials(job.out_path)\n    return extract_features(',
        "    return extract_features(",
        "tests/test_features.py -k builds_its_encoder"),
    "r6tiling_feat_task_rebuilds_encoder": (
        "milhelpers/features.py",
        "    if key not in _ENCODERS:",
        "    if True:",
        "tests/test_features.py -k builds_its_encoder"),
    # --- round 6: runner (self-audit) ---
    # a per-slide mean over one defined slide gets a bootstrap interval instead of NaN
    "r6runner_means_one_slide_boot": (
        "milhelpers/stats.py",
        "    if ok.sum() < 2:\n        return out",
        "    if ok.sum() < 1:\n        return out",
        "tests/test_runner_paths.py -k single_defined_slide"),
    # slide_metric_interval refuses balanced accuracy of one class
    "r6runner_interval_ba_needs_two_classes": (
        "milhelpers/stats.py",
        'y = _check_labels(y, 1 if metric == "balanced_accuracy" else 2)',
        "y = _check_labels(y, 2)",
        "tests/test_runner_paths.py -k balanced_accuracy_of_one_class"),
    # n_cases counts slides, not patients
    "r6runner_interval_n_cases_is_slides": (
        "milhelpers/stats.py",
        '"n_cases": int(len(np.unique(case)))',
        '"n_cases": int(len(case))',
        "tests/test_runner_paths.py -k order_statistic_at_its_confidence"),
    # mean_rank is the median of the resampled ranks
    "r6runner_rank_mean_is_median": (
        "milhelpers/stats.py",
        '"mean_rank": float(ranks[:, j].mean())',
        '"mean_rank": float(np.median(ranks[:, j]))',
        "tests/test_runner_paths.py -k mean_rank_of_two_methods"),
    # Nadeau-Bengio: constant nonzero differences (se = 0) get p = 1
    "r6runner_nb_constant_nonzero_p1": (
        "milhelpers/stats.py",
        'p = 1.0 if out["diff"] == 0 else 0.0',
        "p = 1.0",
        "tests/test_runner_paths.py -k constant_differences"),
    # a Holm-adjusted p of exactly 0.05 counts as clear
    "r6runner_is_clear_holm_le": (
        "milhelpers/stats.py",
        "return bool(p_holm < ALPHA)",
        "return bool(p_holm <= ALPHA)",
        "tests/test_runner_paths.py -k holm_adjusted_p_of_exactly_alpha"),
    # describe writes '× 1 repeats' for one repeat
    "r6runner_describe_one_repeat": (
        "milhelpers/stats.py",
        '(f" × {reps} repeats" if reps and reps > 1 else "")',
        '(f" × {reps} repeats" if reps else "")',
        "tests/test_runner_paths.py -k describe_names_units"),
    # compare_settings ignores the direction of a clear difference
    "r6runner_compare_settings_direction": (
        "milhelpers/stats.py",
        'call = ("+" if r["diff"] > 0 else "−") if r["clear"] else "none"',
        'call = "+" if r["clear"] else "none"',
        "tests/test_runner_paths.py -k compare_settings_agree_only"),
    # a class of two slides enters the within-class correlation
    "r6runner_wcc_two_slide_class": (
        "milhelpers/stats.py",
        "        if m.sum() < 3:\n            continue",
        "        if m.sum() < 2:\n            continue",
        "tests/test_runner_paths.py -k fewer_than_three_slides"),
    # simulate_scores swaps the counts of negatives and positives
    "r6runner_sim_prevalence_swapped": (
        "milhelpers/stats.py",
        "y = np.r_[np.zeros(n_slides - n_pos, int), np.ones(n_pos, int)]",
        "y = np.r_[np.zeros(n_pos, int), np.ones(n_slides - n_pos, int)]",
        "tests/test_runner_paths.py -k asked_prevalence"),
    # min_detectable_difference interpolates raw, non-monotone power
    "r6runner_mdd_no_running_max": (
        "milhelpers/stats.py",
        "pw = g.delta_auc.to_numpy(), np.maximum.accumulate(g.power.to_numpy())",
        "pw = g.delta_auc.to_numpy(), g.power.to_numpy()",
        "tests/test_runner_paths.py -k running_maximum"),
    # run_differences keeps runs with a NaN
    "r6runner_run_differences_nan_kept": (
        "milhelpers/experiments.py",
        "return (vb.loc[common] - va.loc[common]).dropna()",
        "return (vb.loc[common] - va.loc[common])",
        "tests/test_runner_paths.py -k run_differences_drop"),
    # oof top-5 mass summarised over every slide, not positives
    "r6runner_per_repeat_top5_all_slides": (
        "milhelpers/experiments.py",
        '                if metric == "top5_mass":\n                    v = v[y == 1]',
        '                if metric == "top5_mass":\n                    v = v',
        "tests/test_runner_paths.py -k top5_mass_is_compared"),
    # paired top-5 mass compares every slide, not positives
    "r6runner_paired_top5_all_slides": (
        "milhelpers/experiments.py",
        "va, vb = np.where(y == 1, va, np.nan), np.where(y == 1, vb, np.nan)",
        "va, vb = va, vb",
        "tests/test_runner_paths.py -k top5_mass_is_compared"),
    # packing's interval words call an interval holding 0 clearly lower
    "r6runner_interval_words_sign_by_diff": (
        "milhelpers/comparison.py",
        "sign = (1 if lo > 0 else -1) if stats.is_clear(d) else 0",
        "sign = (1 if lo > 0 else -1) if (lo > 0 or hi > 0) else 0",
        "tests/test_runner_paths.py -k interval_words"),
    # share_summary mixes the labels' rows
    "r6runner_share_summary_any_label": (
        "milhelpers/comparison.py",
        "    sel = runs[runs.label == label]\n",
        "    sel = runs\n",
        "tests/test_runner_paths.py -k share_summary"),
    # run_split lets fold = k through (IndexError, not the message)
    "r6runner_run_split_last_fold_accepted": (
        "milhelpers/cached_runs.py",
        "if not 0 <= fold < len(parts):",
        "if not 0 <= fold <= len(parts):",
        "tests/test_runner_paths.py -k run_split_refuses"),
    # 199 resamples accepted
    "r6runner_check_boot_100": (
        "milhelpers/stats.py",
        "if int(n_boot) != n_boot or n_boot < 200:",
        "if int(n_boot) != n_boot or n_boot < 100:",
        "tests/test_runner_paths.py -k refused_exactly_at_their_edges"),
    # infinite scores accepted
    "r6runner_inf_scores_accepted": (
        "milhelpers/stats.py",
        '    if not np.isfinite(s).all():\n        raise ValueError(f"{name} has NaN',
        '    if np.isnan(s).any():\n        raise ValueError(f"{name} has NaN',
        "tests/test_runner_paths.py -k refused_exactly_at_their_edges"),
    # float labels accepted
    "r6runner_float_labels_accepted": (
        "milhelpers/stats.py",
        "if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):",
        "if y.ndim != 1:",
        "tests/test_runner_paths.py -k refused_exactly_at_their_edges"),
    # three classes with one score per slide accepted
    "r6runner_multiclass_2d_accepted": (
        "milhelpers/stats.py",
        "if a.ndim == 2 and len(np.unique(y)) > 2:",
        "if a.ndim == 2 and len(np.unique(y)) > 3:",
        "tests/test_runner_paths.py -k refused_exactly_at_their_edges"),
    # a slide defined in only some repeats is dropped from per-slide means
    "r6runner_means_slide_needs_all_repeats": (
        "milhelpers/stats.py",
        "    ok = both.any(0)\n",
        "    ok = both.all(0)\n",
        "tests/test_runner_paths.py -k defined_in_one_repeat_only"),
    # confidence = 1 accepted
    "r6runner_confidence_one_accepted": (
        "milhelpers/stats.py",
        "if not 0 < confidence < 1:",
        "if not 0 < confidence <= 1:",
        "tests/test_runner_paths.py -k refused_exactly_at_their_edges"),
    # a higher localisation AUC is described as 'higher', not 'better'
    "r6runner_loc_auc_not_better_high": (
        "milhelpers/stats.py",
        '_BETTER_HIGH = {"auc", "balanced_accuracy", "f1", "loc_auc"}',
        '_BETTER_HIGH = {"auc", "balanced_accuracy", "f1"}',
        "tests/test_runner_paths.py -k higher_localisation_auc"),
    # compare_settings keeps rows a later setting lacks
    "r6runner_compare_settings_first_only": (
        "milhelpers/stats.py",
        "common = [k for k in keyed[names[0]].index if all(k in keyed[n].index for n in names[1:])]",
        "common = list(keyed[names[0]].index)",
        "tests/test_runner_paths.py -k rows_every_setting_has"),
    # a class with one constant score vector makes the correlation NaN
    "r6runner_wcc_constant_class_kept": (
        "milhelpers/stats.py",
        "        if np.ptp(z1) == 0 or np.ptp(z2) == 0:\n            continue",
        "        if np.ptp(z1) == 0 and np.ptp(z2) == 0:\n            continue",
        "tests/test_runner_paths.py -k constant_scores"),
    # base AUC 0.5 refused
    "r6runner_sim_auc_half_refused": (
        "milhelpers/stats.py",
        "if not 0.5 <= auc < 1:",
        "if not 0.5 < auc < 1:",
        "tests/test_runner_paths.py -k auc_one_half"),
    # prevalence 1 (one class) accepted
    "r6runner_sim_all_positive_accepted": (
        "milhelpers/stats.py",
        "if not 0 < n_pos < n_slides:",
        "if not 0 < n_pos <= n_slides:",
        "tests/test_runner_paths.py -k auc_one_half"),
    # power seeds cohort i's bootstrap with seed + i
    "r6runner_power_seed_per_cohort": (
        "milhelpers/stats.py",
        "seed=seed + 7919 * (i + 1), paired=paired)",
        "seed=seed + i, paired=paired)",
        "tests/test_runner_paths.py -k power_is_the_share"),
    # power's mean_diff is a median
    "r6runner_power_median_diff": (
        "milhelpers/stats.py",
        '"mean_diff": float(np.mean(diffs))',
        '"mean_diff": float(np.median(diffs))',
        "tests/test_runner_paths.py -k power_is_the_share"),
    # describe names n_slides as the number of runs
    "r6runner_describe_runs_count": (
        "milhelpers/stats.py",
        'units = f"{stat.get(\'n_runs\', \'?\')} runs"',
        'units = f"{stat.get(\'n_slides\', \'?\')} runs"',
        "tests/test_runner_paths.py -k describe_names_units"),
    # a Spearman correlation of two pairs is reported
    "r6runner_corr_two_pairs": (
        "milhelpers/experiments.py",
        "if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:",
        "if n < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:",
        "tests/test_runner_paths.py -k two_pairs_is_undefined"),
    # run-level n_repeats counts repeats either method ran
    "r6runner_runs_n_repeats_union": (
        "milhelpers/experiments.py",
        "                            & set(self.values(b, k)",
        "                            | set(self.values(b, k)",
        "tests/test_runner_paths.py -k counts_the_repeats_both"),
    # bootstrap_ci of one value is a point interval, not NaN
    "r6runner_bootstrap_ci_one_value": (
        "milhelpers/experiments.py",
        '    if len(v) < 2:\n        return float("nan"), float("nan")',
        '    if len(v) < 1:\n        return float("nan"), float("nan")',
        "tests/test_runner_paths.py -k one_defined_value"),
    # from_json sorts the methods
    "r6runner_from_json_methods_sorted": (
        "milhelpers/experiments.py",
        'methods = list(data.get("summary") or dict.fromkeys(runs.method))',
        'methods = sorted(data.get("summary") or dict.fromkeys(runs.method))',
        "tests/test_runner_paths.py -k method_order"),
    # a one-class repeat is not skipped in the oof summary (raises)
    "r6runner_per_repeat_one_class_kept": (
        "milhelpers/experiments.py",
        "                if len(np.unique(y)) < 2:\n                    continue",
        "                pass",
        "tests/test_runner_paths.py -k hold_one_class"),
    # compare ignores its methods argument
    "r6runner_compare_methods_ignored": (
        "milhelpers/experiments.py",
        "others = [m for m in (methods or self.methods) if m != reference]",
        "others = [m for m in self.methods if m != reference]",
        "tests/test_runner_paths.py -k only_the_asked_methods"),
    # format_table writes seconds with the metric digits
    "r6runner_format_seconds_digits": (
        "milhelpers/comparison.py",
        '            return f"{v:.1f}"',
        '            return f"{v:.{digits}f}"',
        "tests/test_runner_paths.py -k tenth_and_memory"),
    # replication's same_sign true for all-zero differences
    "r6runner_same_sign_zero": (
        "milhelpers/comparison.py",
        'row["same_sign"] = bool(len(set(signs)) == 1 and signs[0] != 0)',
        'row["same_sign"] = bool(len(set(signs)) == 1)',
        "tests/test_runner_paths.py -k same_sign_needs"),
    # opposite directions missed when a draw is unclear too
    "r6runner_opposite_needs_exact": (
        "milhelpers/comparison.py",
        "if {1, -1} <= vals:",
        "if vals == {1, -1}:",
        "tests/test_runner_paths.py -k opposite_and_unclear"),
    # packing favoured only when its AUC is clearly higher
    "r6runner_packing_not_clear_lower": (
        "milhelpers/comparison.py",
        "if ratio < 1 and auc_sign >= 0:",
        "if ratio < 1 and auc_sign > 0:",
        "tests/test_runner_paths.py -k packing_verdict_without_scale"),
    # the CPU note of packing_verdict dropped
    "r6runner_packing_gpu_note": (
        "milhelpers/comparison.py",
        'gpu = "" if device != "cpu" else "; no GPU was measured"',
        'gpu = ""',
        "tests/test_runner_paths.py -k packing_verdict_without_scale"),
    # run_experiments accepts a seed twice
    "r6runner_seeds_duplicates_accepted": (
        "milhelpers/experiments.py",
        "if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:",
        "if not seeds or min(seeds) < 0:",
        "tests/test_runner_paths.py -k bad_arguments"),
    # run_experiments accepts epochs = 0
    "r6runner_epochs_zero_accepted": (
        "milhelpers/experiments.py",
        "if epochs is not None and epochs < 1:",
        "if epochs is not None and epochs < 0:",
        "tests/test_runner_paths.py -k bad_arguments"),
    # workers=True accepted as one worker
    "r6runner_workers_bool_accepted": (
        "milhelpers/experiments.py",
        "if isinstance(workers, bool) or int(workers) != workers or workers < 1:",
        "if int(workers) != workers or workers < 1:",
        "tests/test_runner_paths.py -k bad_arguments"),
    # workers=N and a scheduler together accepted
    "r6runner_two_engines_accepted": (
        "milhelpers/experiments.py",
        "    if sum(engines) > 1:\n",
        "    if sum(engines) > 2:\n",
        "tests/test_runner_paths.py -k bad_arguments"),
    # a fold column with folds=None refused
    "r6runner_fixed_folds_k_none_refused": (
        "milhelpers/experiments.py",
        "if k is not None and k != len(values):",
        "if k != len(values):",
        "tests/test_runner_paths.py -k fold_column"),
    # a fold column with an empty cell accepted
    "r6runner_fixed_folds_nan_accepted": (
        "milhelpers/experiments.py",
        "        if pd.isna(col).any():\n",
        "        if pd.isna(col).all():\n",
        "tests/test_runner_paths.py -k fold_column"),
    # subgroup_result keeps only the given positives, no negatives
    "r6runner_subgroup_drops_negatives": (
        "milhelpers/comparison.py",
        "keep = (oof.label == 0) | oof.slide_id.isin(set(map(str, positives)))",
        "keep = oof.slide_id.isin(set(map(str, positives)))",
        "tests/test_runner_paths.py -k subgroup_keeps"),
    # score_matrices takes the repeats any method ran
    "r6runner_score_matrices_union_seeds": (
        "milhelpers/comparison.py",
        "seeds = sorted(set.intersection(*(set(oof[oof.method == m].seed) for m in methods)))",
        "seeds = sorted(set.union(*(set(oof[oof.method == m].seed) for m in methods)))",
        "tests/test_runner_paths.py -k score_matrices_use"),
    # --- round 6: mhim (self-audit) ---
    "r6mhim_empty_bag_break": (
        "milhelpers/models/mhim.py",
        "        if n == 0:\n            continue",
        "        if n == 0:\n            break",
        "tests/test_mhim_paths.py -k all_padding_bag_is_skipped"),
    "r6mhim_mask_holes_out_index": (
        "milhelpers/models/mhim.py",
        "        out[b, idx[chosen]] = True",
        "        out[b, :n][chosen] = True",
        "tests/test_mhim_paths.py -k real_mask_with_holes"),
    "r6mhim_mask_shape_unchecked": (
        "milhelpers/models/mhim.py",
        "    if mask.shape != scores.shape:\n        raise",
        "    if mask.shape != scores.shape and False:\n        raise",
        "tests/test_mhim_paths.py -k mask_rejects_scores_that_are_not_2d"),
    "r6mhim_score_picks_mode_ignored": (
        "milhelpers/models/mhim.py",
        "    teacher.train(train_mode)",
        "    teacher.train(False)",
        "tests/test_mhim_paths.py -k score_picks_scores_in_the_mode_asked_for"),
    "r6mhim_recycle_momentum_zero_rejected": (
        "milhelpers/models/mhim.py",
        "        if not 0 <= momentum <= 1:\n            raise ValueError(f\"merge_momentum",
        "        if not 0 < momentum <= 1:\n            raise ValueError(f\"merge_momentum",
        "tests/test_mhim_paths.py -k recycle_network_options_at_their_edges"),
    "r6mhim_recycle_k_fraction_accepted": (
        "milhelpers/models/mhim.py",
        "int(n_queries) != n_queries or n_queries < 1",
        "n_queries < 1",
        "tests/test_mhim_paths.py -k recycle_network_options_at_their_edges"),
    "r6mhim_seed_ignored": (
        "milhelpers/models/mhim.py",
        "        self.generator = torch.Generator().manual_seed(int(seed))",
        "        self.generator = torch.Generator().manual_seed(0)",
        "tests/test_mhim_paths.py -k v2_split_is_drawn_from_the_models_seeded_generator"),
    "r6mhim_ema_len_unchecked": (
        "milhelpers/models/mhim.py",
        "    if len(tp) != len(sp):",
        "    if False:",
        "tests/test_mhim_paths.py -k ema_update_refuses"),
    "r6mhim_classaware_check_dropped": (
        "milhelpers/models/mhim.py",
        "    if h is None or not isinstance(clf, nn.Linear) or clf.in_features != h.shape[-1]:",
        "    if h is None:",
        "tests/test_mhim_paths.py -k class_aware_score_refuses"),
    "r6mhim_alpha_negative_accepted": (
        "milhelpers/methods.py",
        "    if not 0 <= opts[\"alpha\"]:",
        "    if not -1 <= opts[\"alpha\"]:",
        "tests/test_mhim_paths.py -k recipe_options_are_checked"),
    "r6mhim_mcos_name": (
        "milhelpers/methods.py",
        "parts.append(\"mcos\" if v else \"mconst\")",
        "parts.append(\"mconst\" if v else \"mcos\")",
        "tests/test_mhim_paths.py -k names_of_the_schedule_options"),
    "r6mhim_recycle_seed_fixed": (
        "milhelpers/methods.py",
        "                torch.manual_seed(ctx.seed)\n                recycle = RecycleNetwork",
        "                torch.manual_seed(0)\n                recycle = RecycleNetwork",
        "tests/test_mhim_paths.py -k v2_build_seeds_the_recycle_network"),
    "r6mhim_merge_momentum_ignored": (
        "milhelpers/methods.py",
        "RecycleNetwork(width, kw[\"merge_k\"], kw[\"merge_momentum\"])",
        "RecycleNetwork(width, kw[\"merge_k\"])",
        "tests/test_mhim_paths.py -k v2_build_seeds_the_recycle_network"),
    "r6mhim_head_prefix_dropped": (
        "milhelpers/methods.py",
        "head = prefix if base.name == \"abmil_gated\" else f\"{base.name}_{prefix}\"",
        "head = prefix",
        "tests/test_mhim_paths.py -k names_of_the_schedule_options"),
    "r6mhim_vis_all_in_random_boundary": (
        "milhelpers/visibility.py",
        "    if u > m:\n        return 0.0",
        "    if u >= m:\n        return 0.0",
        "tests/test_mhim_paths.py -k random_masking_covering_exactly"),
    "r6mhim_vis_whole_pool_count": (
        "milhelpers/visibility.py",
        "            pool, n_h = np.arange(n), mask_count(n, r_h)",
        "            pool, n_h = np.arange(n), mask_count(n, r_hr)",
        "tests/test_mhim_paths.py -k high_masking_over_the_whole_bag"),
    "r6mhim_vis_kept_no_tumour": (
        "milhelpers/visibility.py",
        "    if not t.any():\n        return 1.0, 1.0",
        "    if not t.any():\n        return 1.0, 0.0",
        "tests/test_mhim_paths.py -k kept_share_at_its_edges"),
    "r6mhim_vis_kept_boundary": (
        "milhelpers/visibility.py",
        "if u <= n_left - keep",
        "if u < n_left - keep",
        "tests/test_mhim_paths.py -k kept_share_at_its_edges"),
    "r6mhim_vis_low_from_top": (
        "milhelpers/visibility.py",
        "        low[order[n - n_low:]] = True",
        "        low[order[:n_low]] = True",
        "tests/test_mhim_paths.py -k low_masking_hides_the_lowest"),
    "r6mhim_high_split_not_by_idx": (
        "milhelpers/models/mhim.py",
        "            split[\"high\"][b, idx[pick]] = True",
        "            split[\"high\"][b, pick] = True",
        "tests/test_mhim_paths.py -k real_mask_with_holes"),
    "r6mhim_v2_split_global_stream": (
        "milhelpers/models/mhim.py",
        "            kept, recycled = recycle_split(visible, self.merge_ratio, self.generator,",
        "            kept, recycled = recycle_split(visible, self.merge_ratio, None,",
        "tests/test_mhim_paths.py -k v2_split_is_drawn_from_the_models_seeded_generator"),
    "r6mhim_hide_score_ignored": (
        "milhelpers/models/mhim.py",
        "                s = instance_scores(t, self.teacher, self.score)",
        "                s = instance_scores(t, self.teacher)",
        "tests/test_mhim_paths.py -k class_aware_score_option_decides"),
    "r6mhim_init_r_rl_swapped": (
        "milhelpers/models/mhim.py",
        "float(r_h), float(r_h), r_hr, r, r_l",
        "float(r_h), float(r_h), r_hr, r_l, r",
        "tests/test_mhim_paths.py -k r_and_r_l_reach_their_own_rule"),
    "r6mhim_v2_check_only_with_recycle": (
        "milhelpers/models/mhim.py",
        "        if (recycle is not None or self.merge_ratio < 1) and not (",
        "        if recycle is not None and not (",
        "tests/test_mhim_paths.py -k v2_needs_a_student_with_project"),
    "r6mhim_schedule_momentum_zero_rejected": (
        "milhelpers/methods.py",
        "        if not 0 <= momentum <= 1:\n            raise ValueError(f\"momentum must",
        "        if not 0 < momentum <= 1:\n            raise ValueError(f\"momentum must",
        "tests/test_mhim_paths.py -k schedule_momentum_bounds"),
    "r6mhim_recipe_momentum_unchecked": (
        "milhelpers/methods.py",
        "    MHIMSchedule(momentum=opts[\"momentum\"])                 # bad momentum fails here",
        "    pass",
        "tests/test_mhim_paths.py -k recipe_options_are_checked"),
    "r6mhim_recorder_scores_are_teacher_scores": (
        "milhelpers/methods.py",
        "                               \"scores\": t.slide_attention[0].cpu().numpy(),",
        "                               \"scores\": t.extras[\"teacher_scores\"][0].cpu().numpy(),",
        "tests/test_mhim_paths.py -k recorder_keeps_the_attention"),
    "r6mhim_callbacks_default_schedule": (
        "milhelpers/methods.py",
        "        return [MHIMSchedule(**model.schedule)]",
        "        return [MHIMSchedule()]",
        "tests/test_mhim_paths.py -k method_callbacks_carry"),
    "r6mhim_consistency_shape_unchecked": (
        "milhelpers/losses.py",
        "    if student.shape != teacher.shape:\n        raise ValueError(f\"student",
        "    if False:\n        raise ValueError(f\"student",
        "tests/test_mhim_paths.py -k consistency_loss_refuses"),
    "r6mhim_recycle_attn_dropout_skipped": (
        "milhelpers/models/mhim.py",
        "out = torch.einsum(\"bhqn,bhnd->bhqd\", self.attn_dropout(attn), v)",
        "out = torch.einsum(\"bhqn,bhnd->bhqd\", attn, v)",
        "tests/test_mhim_paths.py -k recycle_network_dropout_acts"),
    "r6mhim_recycle_out_dropout_fixed": (
        "milhelpers/models/mhim.py",
        "self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))",
        "self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.1))",
        "tests/test_mhim_paths.py -k recycle_network_dropout_acts"),
    "r6mhim_recycle_tokens_not_reported": (
        "milhelpers/models/mhim.py",
        "                extras[\"recycle_tokens\"] = z",
        "                pass",
        "tests/test_mhim_paths.py -k reports_each_bags_recycle_tokens"),
}


# Mutants of the held-out audit's five areas (issue 25), one prefix per area so that an area can
# be run alone: pad_ (batched and padded inputs), sched_ (schedules, and that their value is the
# one used), seed_ (each random generator follows its seed), edge_ (both sides of a threshold),
# key_ (every field of every cache key and staleness check), ci_ (interval bounds).
MUTANTS.update({
    # ---- pad_: batched and padded inputs against the one-bag answer
    "pad_hyperslide_ignores_residual_padding": (
        "milhelpers/models/packmil.py",
        'out.extras["hyperslide_logits"] = ABMIL.forward(self, residual, residual_mask).logits',
        'out.extras["hyperslide_logits"] = ABMIL.forward(self, residual, None).logits',
        "tests/test_padding_paths.py -k residual"),
    "pad_ads_eval_reweights_over_padding": (
        "milhelpers/models/packmil.py", "return self.out(self.embed(self.reweight(x, mask)))",
        "return self.out(self.embed(self.reweight(x)))", "tests/test_padding_paths.py -k packmil"),
    "pad_ads_packed_part_is_the_whole_pack": (
        "milhelpers/models/packmil.py",
        "parts.append(self.forward_part(x[p][slide_index[p] == s]))",
        "parts.append(self.forward_part(x[p][slide_index[p] >= 0]))",
        "tests/test_padding_paths.py -k ads"),
    "pad_max_pool_may_pick_padding": (
        "milhelpers/models/abmil.py",
        "score = mask_logits(score[:, None, :], mask)          # padding can never be chosen",
        "score = score[:, None, :]", "tests/test_padding_paths.py -k max_pool"),
    "pad_mean_pool_padding_logits_not_masked": (
        "milhelpers/models/abmil.py",
        "logits_att = mask_logits(torch.zeros(h.shape[0], 1, h.shape[1], dtype=h.dtype,",
        "logits_att = (lambda t, m: t)(torch.zeros(h.shape[0], 1, h.shape[1], dtype=h.dtype,",
        "tests/test_padding_paths.py -k mean_pool"),
    "pad_branch_ce_labels_tiled_not_repeated": (
        "milhelpers/losses.py", "labels.repeat_interleave(m))", "labels.repeat(m))",
        "tests/test_padding_paths.py -k branch"),
    "pad_diversity_of_the_first_bag_only": (
        "milhelpers/losses.py", "return cos[:, i, j].mean()", "return cos[0, i, j].mean()",
        "tests/test_padding_paths.py -k branch"),
    "pad_entropy_log_n_counts_padding": (
        "milhelpers/losses.py", "n = real[:, 0, :].sum(-1).float()",
        "n = torch.full(real.shape[:1], float(z.shape[-1]), device=z.device)",
        "tests/test_padding_paths.py -k aem"),
    "pad_negative_entropy_summed_over_bags": (
        "milhelpers/losses.py", "return -attention_entropy(attention_logits, mask, normalize).mean()",
        "return -attention_entropy(attention_logits, mask, normalize).mean(1).sum()",
        "tests/test_padding_paths.py -k aem"),
    "pad_consistency_summed_over_bags": (
        "milhelpers/losses.py", "return -(p_t * log_p_s).sum(-1).mean()",
        "return -(p_t * log_p_s).sum()", "tests/test_padding_paths.py -k consistency"),
    "pad_mhim_rows_take_the_first_bags_instances": (
        "milhelpers/models/mhim.py", "idx = real_all[b].nonzero().flatten()",
        "idx = real_all[0].nonzero().flatten()", "tests/test_padding_paths.py -k mhim"),
    "pad_mhim_rows_take_the_first_bags_scores": (
        "milhelpers/models/mhim.py", "s = s_all[b, idx]", "s = s_all[0, idx]",
        "tests/test_padding_paths.py -k mhim"),
    "pad_predict_trims_with_the_first_bags_length": (
        "milhelpers/train.py", "n = int(batch.mask[i].sum())", "n = int(batch.mask[0].sum())",
        "tests/test_padding_paths.py -k predict"),
    "pad_collate_marks_padding_real": (
        "milhelpers/datasets.py", "mask[i, : len(b.features)] = True", "mask[i, :] = True",
        "tests/test_padding_paths.py -k collate"),
    # ---- sched_: schedules at asymmetric points, and the value that reaches its user
    "sched_lr_linear": (
        "milhelpers/train.py",
        "return 0.5 * base * (1 + math.cos(math.pi * min(step, total) / total))",
        "return base * (1 - min(step, total) / total)", "tests/test_schedules.py -k lr"),
    "sched_lr_set_per_epoch": (
        "milhelpers/train.py", "lr = _lr_at(step, total, cfg.lr, cfg.schedule)",
        "lr = _lr_at((epoch - 1) * steps_per_epoch, total, cfg.lr, cfg.schedule)",
        "tests/test_schedules.py -k lr"),
    "sched_lr_constant_schedule_ignored": (
        "milhelpers/train.py", 'if schedule == "constant" or total <= 0:', "if total <= 0:",
        "tests/test_schedules.py -k lr"),
    "sched_total_steps_counted_in_epochs": (
        "milhelpers/train.py", "total = cfg.epochs * steps_per_epoch", "total = cfg.epochs",
        "tests/test_schedules.py -k lr"),
    "sched_weight_decay_not_passed": (
        "milhelpers/train.py", "opt = opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay,",
        "opt = opt_cls(params, lr=cfg.lr,", "tests/test_schedules.py -k weight_decay"),
    "sched_adamw_ignored": (
        "milhelpers/train.py",
        'opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optimizer]',
        "opt_cls = torch.optim.Adam", "tests/test_schedules.py -k optimizer"),
    "sched_grad_clipped_by_value": (
        "milhelpers/train.py", "torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)",
        "torch.nn.utils.clip_grad_value_(params, cfg.grad_clip)",
        "tests/test_schedules.py -k clipping"),
    "sched_loss_weight_of_the_first_step": (
        "milhelpers/train.py", "loss = loss + term.weight_at(state) * value",
        "loss = loss + term.weight_at(TrainState(epoch, 0, total, steps_per_epoch)) * value",
        "tests/test_schedules.py -k aem"),
    "sched_cosine_ramp_linear": (
        "milhelpers/train.py",
        "return end + (start - end) * 0.5 * (1 + math.cos(math.pi * state.progress))",
        "return end + (start - end) * (1 - state.progress)", "tests/test_schedules.py -k ramp"),
    "sched_progress_after_the_step": (
        "milhelpers/train.py", "return self.step / max(self.total_steps, 1)",
        "return (self.step + 1) / max(self.total_steps, 1)", "tests/test_schedules.py"),
    "sched_aem_cosine_ramps_up": (
        "milhelpers/losses.py", "cosine_ramp(float(lam), 0.0)", "cosine_ramp(0.0, float(lam))",
        "tests/test_schedules.py -k aem"),
    "sched_momentum_cosine_mirrored": (
        "milhelpers/methods.py",
        "self.momentum = 1 - 0.5 * (1 - self.m0) * (1 + math.cos(math.pi * t))",
        "self.momentum = 1 - 0.5 * (1 - self.m0) * (1 - math.cos(math.pi * t))",
        "tests/test_schedules.py -k momentum"),
    "sched_momentum_linear": (
        "milhelpers/methods.py",
        "self.momentum = 1 - 0.5 * (1 - self.m0) * (1 + math.cos(math.pi * t))",
        "self.momentum = 1 - (1 - self.m0) * (1 - t)", "tests/test_schedules.py -k momentum"),
    "sched_ema_with_the_initial_momentum": (
        "milhelpers/methods.py", "ema_update(model.teacher, model.student, self.momentum)",
        "ema_update(model.teacher, model.student, self.m0)", "tests/test_schedules.py -k momentum"),
    "sched_mask_drawn_with_the_initial_r_h": (
        "milhelpers/models/mhim.py", "return mhim_mask(s, mask, self.r_h, self.r_hr,",
        "return mhim_mask(s, mask, self.r_h0, self.r_hr,", "tests/test_schedules.py -k reach"),
    "sched_r_h_decays_without_decay": (
        "milhelpers/methods.py", "        if self.decay:\n            model.r_h",
        "        if True:\n            model.r_h", "tests/test_schedules.py -k mhim"),
    "sched_mhim_r_and_r_l_swapped": (
        "milhelpers/methods.py", 'kw["r_h"], kw["r_hr"], kw["r"], kw["r_l"], kw["score"],',
        'kw["r_h"], kw["r_hr"], kw["r_l"], kw["r"], kw["score"],',
        "tests/test_schedules.py -k reach"),
    "sched_momentum_cosine_not_passed_on": (
        "milhelpers/methods.py",
        'model.schedule = {k: kw[k] for k in ("decay", "momentum", "momentum_cosine")}',
        'model.schedule = {k: kw[k] for k in ("decay", "momentum")}',
        "tests/test_schedules.py -k momentum"),
    # ---- seed_: each random generator follows its seed; grouped validation splits
    "seed_mhim_generator_not_from_the_run": (
        "milhelpers/methods.py", 'kw["score"],\n                     seed=ctx.seed,',
        'kw["score"],\n                     seed=0,', "tests/test_seeds.py -k mhim"),
    "seed_mhim_masks_from_the_global_stream": (
        "milhelpers/models/mhim.py", "self.r_l, self.generator,", "self.r_l, None,",
        "tests/test_seeds.py -k mhim"),
    "seed_stkim_own_fixed_generator": (
        "milhelpers/models/acmil.py",
        "keys = torch.rand(b, m, k_max, generator=generator, device=scores.device)",
        "keys = torch.rand(b, m, k_max, generator=generator or torch.Generator().manual_seed(0),"
        " device=scores.device)", "tests/test_seeds.py -k stkim"),
    "seed_split_slide_ignores_its_generator": (
        "milhelpers/packing.py", "perm = torch.randperm(n, generator=generator)",
        "perm = torch.randperm(n)", "tests/test_seeds.py -k split_slide"),
    "seed_pack_collate_own_fixed_stream": (
        "milhelpers/packing.py", "self.max_len * r,\n                                 self.generator)",
        "self.max_len * r,\n                                 self.generator or "
        "torch.Generator().manual_seed(0))", "tests/test_seeds.py -k pack"),
    "seed_ads_does_not_shuffle": (
        "milhelpers/models/packmil.py", "x = self.embed(x[torch.randperm(m * r, device=x.device)])",
        "x = self.embed(x)", "tests/test_seeds.py -k ads"),
    "seed_subsample_ignores_the_run_seed": (
        "milhelpers/train.py", "rng = np.random.default_rng([self.seed, self.calls])",
        "rng = np.random.default_rng(self.calls)", "tests/test_seeds.py -k subsampl"),
    "seed_subsample_same_draw_every_epoch": (
        "milhelpers/train.py", "self.calls += 1", "self.calls += 0",
        "tests/test_seeds.py -k subsampl"),
    "seed_val_split_fixed": (
        "milhelpers/datasets.py", "stratify=y, random_state=seed)", "stratify=y, random_state=0)",
        "tests/test_seeds.py -k train_val_split"),
    "seed_grouped_val_split_fixed": (
        "milhelpers/datasets.py",
        "    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)\n    tr, va",
        "    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=0)\n    tr, va",
        "tests/test_seeds.py -k train_val_split"),
    "seed_repeat_partitions_fixed": (
        "milhelpers/experiments.py", "5 if k is None else k, seed=int(seed),",
        "5 if k is None else k, seed=0,", "tests/test_seeds.py -k own_case_grouped_partition"),
    "seed_classic_repeats_share_folds": (
        "milhelpers/classic.py", "stratified_folds(data.labels, folds, seed + r)",
        "stratified_folds(data.labels, folds, seed)", "tests/test_seeds.py -k classic"),
    "upsampling_tolerance_ignored": (
        "milhelpers/tiling.py", "if factor > 1 + UPSAMPLE_TOLERANCE:", "if factor > 1:",
        "tests/test_tiling.py -k upsampling"),
    "upsampling_not_checked_by_tile_slide": (
        "milhelpers/tiling.py", "        _warn_upsampling(slide.name, patch_size, target_mpp, level0_mpp)\n",
        "        pass\n", "tests/test_tiling.py -k upsampling"),
    "probe_ignores_case_groups": (
        "milhelpers/instances.py",
        'groups = table["slide_id"].to_numpy() if groups is None else np.asarray(groups)',
        'groups = table["slide_id"].to_numpy()', "tests/test_instances.py -k probe"),
    "probe_stroma_keeps_glassy_patches": (
        "milhelpers/instances.py", 'table["tissue_fraction"].to_numpy() >= purity)',
        'table["tissue_fraction"].to_numpy() >= 0)', "tests/test_instances.py -k stroma"),
    "classic_oof_rows_misplaced": (
        "milhelpers/classic.py", "oof[r, te] = pred.probs[:, 1]", "oof[r, te[::-1]] = pred.probs[:, 1]",
        "tests/test_classic.py -k scored_once"),
    "accuracy_of_the_first_repeat_only": (
        "milhelpers/stats.py", "return w @ (pred == y[None]).mean(0) / w.sum(1)",
        "return w @ (pred == y[None])[0] / w.sum(1)", "tests/test_stats.py -k accuracy"),
    "seed_probe_folds_fixed": (
        "milhelpers/instances.py", "GroupKFold(n_splits, shuffle=True, random_state=seed)",
        "GroupKFold(n_splits, shuffle=True, random_state=0)", "tests/test_seeds.py -k probe"),
    "seed_runner_val_split_same_for_every_seed": (
        "milhelpers/experiments.py", "train_val_split(tr, labels, val_fraction, seed=rs,",
        "train_val_split(tr, labels, val_fraction, seed=k,", "tests/test_seeds.py -k runner"),
    "seed_runner_val_split_not_grouped": (
        "milhelpers/experiments.py",
        'val_fraction, seed=rs,\n                                         **({"groups": groups} '
        'if groups is not None else {}))',
        "val_fraction, seed=rs)", "tests/test_seeds.py -k runner"),
    "seed_cross_validate_val_split_not_grouped": (
        "milhelpers/train.py",
        'seed=seed,\n                                         **({"groups": groups} if groups is '
        'not None else {}))', "seed=seed)", "tests/test_seeds.py -k cross_validate"),
    "seed_val_split_ignores_groups": (
        "milhelpers/datasets.py", "    if groups is None:\n        tr, va = train_test_split(",
        "    if True:\n        tr, va = train_test_split(", "tests/test_seeds.py -k case"),
    # ---- edge_: both sides of every threshold, at exactly the threshold
    "edge_stkim_switch_needs_two": (
        "milhelpers/models/acmil.py", "return math.floor(self.top_k * self.mask_drop) >= 1",
        "return math.floor(self.top_k * self.mask_drop) > 1", "tests/test_boundaries.py -k stkim"),
    "edge_stkim_k_max_one_short": (
        "milhelpers/models/acmil.py", "k_max = min(int(top_k), n)", "k_max = min(int(top_k), n - 1)",
        "tests/test_boundaries.py -k stkim"),
    "edge_stkim_count_rounded": (
        "milhelpers/models/acmil.py", "n_hide = torch.floor(k_eff.double() * float(mask_drop))",
        "n_hide = torch.round(k_eff.double() * float(mask_drop))",
        "tests/test_boundaries.py -k stkim"),
    "edge_split_at_min_len_goes_whole": (
        "milhelpers/packing.py", "if n < min_len:", "if n <= min_len:",
        "tests/test_boundaries.py -k split"),
    "edge_collate_min_len_not_scaled_by_r": (
        "milhelpers/packing.py", "self.p, self.min_len * r, self.max_len * r,",
        "self.p, self.min_len, self.max_len * r,", "tests/test_boundaries.py -k collate"),
    "edge_cap_not_scaled_by_r": (
        "milhelpers/packing.py", "self.p, self.min_len * r, self.max_len * r,",
        "self.p, self.min_len * r, self.max_len,", "tests/test_boundaries.py -k capped"),
    "edge_exactly_full_pack_opens_another": (
        "milhelpers/packing.py", "if total + n > max_len:", "if total + n >= max_len:",
        "tests/test_boundaries.py -k max_len"),
    "edge_part_of_exactly_max_len_refused": (
        "milhelpers/packing.py", "if n > max_len:\n", "if n >= max_len:\n",
        "tests/test_boundaries.py -k max_len"),
    "edge_compressed_length_floor_plus_one": (
        "milhelpers/packing.py", "return -(-int(n) // int(ratio))",
        "return int(n) // int(ratio) + 1", "tests/test_boundaries.py -k compressed"),
    "edge_grid_drops_the_column_at_the_edge": (
        "milhelpers/tiling.py", "xs = np.arange(0, w0 - size0 + 1, step0)",
        "xs = np.arange(0, w0 - size0, step0)", "tests/test_boundaries.py -k edge"),
    "edge_grid_rows_cross_the_edge": (
        "milhelpers/tiling.py", "ys = np.arange(0, h0 - size0 + 1, step0)",
        "ys = np.arange(0, h0, step0)", "tests/test_boundaries.py -k edge"),
    "edge_patch_as_large_as_the_slide_refused": (
        "milhelpers/tiling.py", "if size0 > min(w0, h0):\n", "if size0 >= min(w0, h0):\n",
        "tests/test_boundaries.py -k edge"),
    "edge_min_tissue_strict": (
        "milhelpers/tiling.py", "keep = (frac >= min_tissue) & (frac > 0)",
        "keep = (frac > min_tissue) & (frac > 0)", "tests/test_boundaries.py -k min_tissue"),
    "edge_min_tissue_zero_keeps_empty_patches": (
        "milhelpers/tiling.py", "keep = (frac >= min_tissue) & (frac > 0)",
        "keep = frac >= min_tissue", "tests/test_boundaries.py -k min_tissue"),
    "edge_tissue_area_at_threshold_kept": (
        "milhelpers/tiling.py", "if net <= params.a_t * ref_area:",
        "if net < params.a_t * ref_area:", "tests/test_boundaries.py -k area"),
    "edge_hole_area_at_threshold_kept": (
        "milhelpers/tiling.py", "if hole_areas[j] > params.a_h * ref_area]",
        "if hole_areas[j] >= params.a_h * ref_area]", "tests/test_boundaries.py -k area"),
    "edge_area_unit_mpp_not_squared": (
        "milhelpers/tiling.py", "ref_area = REFERENCE_AREA_UM2 / ((slide.mpp ** 2) * ds[0] * ds[1])",
        "ref_area = REFERENCE_AREA_UM2 / (slide.mpp * ds[0] * ds[1])",
        "tests/test_boundaries.py -k area"),
    "edge_area_in_level0_pixels": (
        "milhelpers/tiling.py", "ref_area = REFERENCE_AREA_UM2 / ((slide.mpp ** 2) * ds[0] * ds[1])",
        "ref_area = REFERENCE_AREA_UM2 / (slide.mpp ** 2)", "tests/test_boundaries.py -k area"),
    "edge_localisation_threshold_strict": (
        "milhelpers/metrics.py", "y = np.asarray(y).ravel() >= threshold",
        "y = np.asarray(y).ravel() > threshold", "tests/test_boundaries.py -k tumour_threshold"),
    "edge_patience_one_epoch_late": (
        "milhelpers/train.py", "waited >= cfg.patience and epoch >= cfg.min_epochs",
        "waited > cfg.patience and epoch >= cfg.min_epochs",
        "tests/test_boundaries.py -k early_stopping"),
    "edge_min_epochs_one_epoch_late": (
        "milhelpers/train.py", "waited >= cfg.patience and epoch >= cfg.min_epochs",
        "waited >= cfg.patience and epoch > cfg.min_epochs",
        "tests/test_boundaries.py -k early_stopping"),
    "edge_ties_move_the_selected_epoch": (
        "milhelpers/train.py", "elif best is None or sign * value < sign * best:",
        "elif best is None or sign * value <= sign * best:",
        "tests/test_boundaries.py -k early_stopping"),
    # ---- key_: every field of every cache key and staleness check
    "key_ignores_model_kwargs": (
        "milhelpers/experiments.py", '"model_kwargs": dict(method.model_kwargs), "method_config"',
        '"method_config"', "tests/test_cache_keys.py -k run_key"),
    "key_ignores_method_config": (
        "milhelpers/experiments.py", '"method_config": dict(method.config),\n', "\n",
        "tests/test_cache_keys.py -k run_key"),
    "key_ignores_val_fraction": (
        "milhelpers/experiments.py", '"val_fraction": float(val_fraction),', "",
        "tests/test_cache_keys.py -k run_key"),
    "key_ignores_test_slides": (
        "milhelpers/experiments.py", '"test": list(map(str, test_ids)), ', "",
        "tests/test_cache_keys.py -k run_key"),
    "key_ignores_the_seed": (
        "milhelpers/experiments.py", '"seed": int(seed), "fold": int(fold),', '"fold": int(fold),',
        "tests/test_cache_keys.py -k run_key"),
    "key_ignores_loc_threshold": (
        "milhelpers/experiments.py", '"loc_threshold": LOC_THRESHOLD}', '"loc_threshold": 0.25}',
        "tests/test_cache_keys.py -k threshold"),
    "key_ignores_package_version": (
        "milhelpers/experiments.py", '"package": __version__, ', "",
        "tests/test_cache_keys.py -k version"),
    "key_lists_a_few_config_fields": (
        "milhelpers/experiments.py", 'cfg.pop("progress", None)',
        'cfg = {k: cfg[k] for k in ("epochs", "lr", "batch_size", "seed")}',
        "tests/test_cache_keys.py -k train_config"),
    "key_fingerprint_ignores_cases": (
        "milhelpers/experiments.py", 'list(map(str, getattr(dataset, "case_ids", [])))]).encode()',
        "[]]).encode()", "tests/test_cache_keys.py -k fingerprint"),
    "key_fingerprint_ignores_labels": (
        "milhelpers/experiments.py", "np.asarray(dataset.labels).tolist(),", "",
        "tests/test_cache_keys.py -k fingerprint"),
    "key_fingerprint_ignores_mtime": (
        "milhelpers/experiments.py", 'h.update(f"{sid}:{st.st_size}:{st.st_mtime_ns};".encode())',
        'h.update(f"{sid}:{st.st_size};".encode())', "tests/test_cache_keys.py -k fingerprint"),
    "key_fingerprint_ignores_file_size": (
        "milhelpers/experiments.py", 'h.update(f"{sid}:{st.st_size}:{st.st_mtime_ns};".encode())',
        'h.update(f"{sid}:{st.st_mtime_ns};".encode())', "tests/test_cache_keys.py -k fingerprint"),
    "key_fingerprint_hashes_feature_shapes_only": (
        "milhelpers/experiments.py", "h.update(np.ascontiguousarray(bag.features.numpy()).tobytes())",
        "h.update(str(tuple(bag.features.shape)).encode())",
        "tests/test_cache_keys.py -k fingerprint"),
    "key_fingerprint_ignores_instance_labels": (
        "milhelpers/experiments.py", "if bag.instance_labels is not None:\n",
        "if False:\n", "tests/test_cache_keys.py -k fingerprint"),
    "key_coords_ignore_min_tissue": (
        "milhelpers/tiling.py", "min_tissue=float(min_tissue),\n                segmentation=",
        "segmentation=", "tests/test_cache_keys.py -k tiling"),
    "key_coords_segmentation_skips_a_knob": (
        "milhelpers/tiling.py", "segmentation=json.dumps(dataclasses.asdict(params), sort_keys=True)",
        'segmentation=json.dumps({k: v for k, v in dataclasses.asdict(params).items() '
        'if k != "exclude_pen"}, sort_keys=True)', "tests/test_cache_keys.py -k segmentation"),
    "key_coords_loose_float_tolerance": (
        "milhelpers/tiling.py", "rel_tol=1e-6", "rel_tol=1e-2",
        "tests/test_cache_keys.py -k tiling_setting"),
    "key_coords_unrecorded_setting_trusted": (
        "milhelpers/tiling.py", "        if have is None:\n            diffs.append(",
        "        if have is None:\n            continue\n            diffs.append(",
        "tests/test_cache_keys.py -k record"),
    "key_coords_segmentation_compared_as_text": (
        "milhelpers/tiling.py", "if not _same_json(have, want):", "if have != want:",
        "tests/test_cache_keys.py -k segmentation"),
    "key_tile_slide_ignores_level0_mpp": (
        "milhelpers/tiling.py",
        "min_tissue, params),\n                         level0_mpp=float(level0_mpp))",
        "min_tissue, params))", "tests/test_cache_keys.py -k level0"),
    "key_features_ignore_the_encoder": (
        "milhelpers/features.py",
        'for key, want in (("encoder", encoder.name), ("input_size", int(encoder.input_size))):',
        'for key, want in (("input_size", int(encoder.input_size)),):',
        "tests/test_cache_keys.py -k features"),
    "key_features_ignore_input_size": (
        "milhelpers/features.py",
        'for key, want in (("encoder", encoder.name), ("input_size", int(encoder.input_size))):',
        'for key, want in (("encoder", encoder.name),):', "tests/test_cache_keys.py -k features"),
    "key_features_count_coordinates_only": (
        "milhelpers/features.py",
        "if fcoords.shape != coords.shape or not np.array_equal(fcoords, coords):",
        "if fcoords.shape != coords.shape:", "tests/test_cache_keys.py -k features"),
    "key_features_coordinates_as_sets": (
        "milhelpers/features.py",
        "if fcoords.shape != coords.shape or not np.array_equal(fcoords, coords):",
        "if fcoords.shape != coords.shape or set(map(tuple, fcoords.tolist())) != "
        "set(map(tuple, coords.tolist())):", "tests/test_cache_keys.py -k features"),
    "key_features_ignore_target_mpp": (
        "milhelpers/features.py", 'for key in ("patch_size_level0", "patch_size", "target_mpp"):',
        'for key in ("patch_size_level0", "patch_size"):', "tests/test_cache_keys.py -k features"),
    "key_features_unrecorded_encoder_trusted": (
        "milhelpers/features.py", "if have is None or have != want:",
        "if have is not None and have != want:", "tests/test_cache_keys.py -k features"),
    "key_cohort_compares_the_seed_only": (
        "milhelpers/synth.py", "        if meta == _config_dict(cfg):",
        '        if meta["seed"] == cfg.seed:',
        "tests/test_cache_keys.py -k cohort"),
    # ---- ci_: interval bounds against the exact bootstrap and the normal approximation
    "ci_bootstrap_basic_not_percentile": (
        "milhelpers/experiments.py", 'method="percentile", vectorized=True',
        'method="basic", vectorized=True', "tests/test_intervals.py -k bootstrap_ci"),
    "ci_bootstrap_level_fixed": (
        "milhelpers/experiments.py", "confidence_level=confidence,", "confidence_level=0.95,",
        "tests/test_intervals.py -k bootstrap_ci"),
    "ci_bootstrap_of_the_median": (
        "milhelpers/experiments.py", "res = bootstrap((v,), np.mean,",
        "res = bootstrap((v,), np.median,", "tests/test_intervals.py -k bootstrap_ci"),
    "ci_paired_interval_of_b_not_of_d": (
        "milhelpers/experiments.py", '"ci95": list(bootstrap_ci(d, n_resamples, seed))',
        '"ci95": list(bootstrap_ci(b[ok], n_resamples, seed))',
        "tests/test_intervals.py -k paired"),
    "ci_wilcoxon_one_sided": (
        "milhelpers/experiments.py", 'alternative="two-sided"', 'alternative="greater"',
        "tests/test_intervals.py -k wilcoxon"),
    "ci_correlation_quantiles_at_c": (
        "milhelpers/experiments.py", "[(1 - confidence) / 2, (1 + confidence) / 2]",
        "[1 - confidence, confidence]", "tests/test_intervals.py -k correlation"),
    "ci_correlation_level_fixed": (
        "milhelpers/experiments.py", "[(1 - confidence) / 2, (1 + confidence) / 2]",
        "[0.025, 0.975]", "tests/test_intervals.py -k correlation"),
    "ci_correlation_pairs_broken": (
        "milhelpers/experiments.py", "rankdata(y[idx], axis=1)", "rankdata(y[idx[::-1]], axis=1)",
        "tests/test_intervals.py -k correlation"),
    "ci_correlation_pearson_in_the_resamples": (
        "milhelpers/experiments.py", "rx, ry = rankdata(x[idx], axis=1), rankdata(y[idx], axis=1)",
        "rx, ry = x[idx].copy(), y[idx].copy()", "tests/test_intervals.py -k correlation"),
    "ci_correlation_constant_resamples_count_as_zero": (
        "milhelpers/experiments.py", "boot = boot[den > 0]", "boot = np.where(den > 0, boot, 0.0)",
        "tests/test_intervals.py -k constant"),
    "ci_within_groups_x_not_centred": (
        "milhelpers/experiments.py", 'x = (df.x - df.groupby("g").x.transform("mean")).to_numpy()',
        "x = df.x.to_numpy()", "tests/test_intervals.py -k within"),
    # ---- sweep_: notebook sweeps (cache key, results table, leftovers, figure, kernels, lock)
    "sweep_key_skips_parameters": (
        "milhelpers/sweep.py", 'KEY_FIELDS = ("parameters", "code_hash", "package_hash")',
        'KEY_FIELDS = ("code_hash", "package_hash")',
        "tests/test_sweep.py -k every_field_of_the_cache_key"),
    "sweep_key_skips_package": (
        "milhelpers/sweep.py", 'KEY_FIELDS = ("parameters", "code_hash", "package_hash")',
        'KEY_FIELDS = ("parameters", "code_hash")',
        "tests/test_sweep.py -k every_field_of_the_cache_key"),
    "sweep_code_hash_counts_markdown": (
        "milhelpers/sweep.py", 'code = [c.source for c in nb.cells if c.cell_type == "code"]',
        "code = [c.source for c in nb.cells]", "tests/test_sweep.py -k real_edits"),
    "sweep_code_hash_drops_a_cell": (
        "milhelpers/sweep.py", 'code = [c.source for c in nb.cells if c.cell_type == "code"]',
        'code = [c.source for c in nb.cells if c.cell_type == "code"][:-1]',
        "tests/test_sweep.py -k real_edits"),
    "sweep_earlier_runs_dropped": (
        "milhelpers/sweep.py", "earlier = _earlier_runs(out, {r.dir for r in runs}, code)",
        "earlier = []", "tests/test_sweep.py -k results_csv_keeps"),
    "sweep_defaults_not_filled": (
        "milhelpers/sweep.py", "                    params[name] = defaults[name]",
        "                    pass", "tests/test_sweep.py -k results_csv_keeps"),
    "sweep_partial_file_not_cleaned": (
        "milhelpers/sweep.py", "LEFTOVERS = (PARTIAL_FILE, RECORD_FILE,",
        "LEFTOVERS = (RECORD_FILE,", "tests/test_sweep.py -k leftovers"),
    "sweep_empty_run_folders_kept": (
        "milhelpers/sweep.py",
        'if folder != out and "=" in folder.name and not any(folder.iterdir()):', "if False:",
        "tests/test_sweep.py -k leftovers"),
    "sweep_sd_instead_of_t_interval": (
        "milhelpers/viz.py",
        "return float(stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / np.sqrt(n))",
        "return float(np.std(values, ddof=1))", "tests/test_sweep.py -k t_intervals"),
    "sweep_no_y_floor": (
        "milhelpers/viz.py", "        if hi - lo < floor:\n", "        if False:\n",
        "tests/test_sweep.py -k magnify"),
    "sweep_constants_drawn_as_lines": (
        "milhelpers/viz.py",
        "(constants if np.ptp(v) <= 1e-12 * max(1.0, np.abs(v).max()) else drawn).append(m)",
        "drawn.append(m)", "tests/test_sweep.py -k constants"),
    "sweep_kernel_working_folder_not_set": (
        "milhelpers/_sweep_worker.py", "kw.update(env=env, cwd=cwd, stdout=stderr, stderr=stderr)",
        "kw.update(env=env, stdout=stderr, stderr=stderr)",
        "tests/test_sweep.py -k survives_a_failing_run"),
    "sweep_kernel_stderr_not_captured": (
        "milhelpers/_sweep_worker.py", "kw.update(env=env, cwd=cwd, stdout=stderr, stderr=stderr)",
        "kw.update(env=env, cwd=cwd)", "tests/test_sweep.py -k survives_a_failing_run"),
    "sweep_lock_not_taken": (
        "milhelpers/sweep.py", "    with _output_lock(out):\n", "    with contextlib.nullcontext():\n",
        "tests/test_sweep.py -k second_sweep"),
})


# The held-out audit's 60 mutants (written blind to this table, none the same change as one
# above; some change the same line differently), one prefix per area: audit_acmil_, audit_aem_,
# audit_mhim_, audit_pack_, audit_runner_, audit_stats_, audit_metrics_, audit_tiling_,
# audit_feat_, audit_sweep_, audit_params_. Each runs the test that killed it in the audit,
# or the one written for it where it survived. Numbers have two digits, so that a name is
# never the prefix of another (audit_mhim_01 runs one mutant, not 01, 10 and 11).
MUTANTS.update({
    # ceil instead of floor: K'=10, drop=0.05 hides 1 instead of 0; 10*0.6=6 unchanged, 7*0.6 -> 5
    # vs 4
    "audit_acmil_01": (
        "milhelpers/models/acmil.py",
        "n_hide = torch.floor(k_eff.double() * float(mask_drop)).long()",
        "n_hide = torch.ceil(k_eff.double() * float(mask_drop)).long()",
        "tests/test_acmil.py -k stkim_hides_exactly_floor_k_mask_drop_of_each"),
    # off-by-one: in a bag with fewer than K real instances rank K' (a padding slot) becomes a
    # candidate, so padding can be 'hidden' and real instances hidden less
    "audit_acmil_02": (
        "milhelpers/models/acmil.py",
        "keys = keys.masked_fill(rank >= k_eff[:, None, None], 2.0)",
        "keys = keys.masked_fill(rank > k_eff[:, None, None], 2.0)",
        "tests/test_acmil.py -k stkim_hides_exactly_floor_k_mask_drop_of_each"),
    # off-by-one: STKIM hides floor(K'*drop)+1 instances (one even when mask_drop gives 0)
    "audit_acmil_03": (
        "milhelpers/models/acmil.py",
        "chosen = order < n_hide[:, None, None]",
        "chosen = order <= n_hide[:, None, None]",
        "tests/test_acmil.py -k stkim_hides_exactly_floor_k_mask_drop_of_each"),
    # hidden instances get logit 0 instead of being removed from the softmax
    "audit_acmil_04": (
        "milhelpers/models/acmil.py",
        "scores = scores.masked_fill(hidden, torch.finfo(scores.dtype).min)",
        "scores = scores.masked_fill(hidden, 0.0)",
        "tests/test_acmil.py -k model_masks_in_training_the_branch_attention"),
    # slide embedding pooled with branch 0's attention instead of the branch-averaged attention
    "audit_acmil_05": (
        "milhelpers/models/acmil.py",
        'z = torch.einsum("bn,bne->be", slide_attention(a), h)',
        'z = torch.einsum("bn,bne->be", a[:, 0], h)',
        "tests/test_acmil.py -k model_masks_in_training_the_branch_attention"),
    # diversity loss includes the diagonal cos(a_i,a_i)=1: value shifted towards 1, no longer 0
    # for disjoint branches
    "audit_acmil_06": (
        "milhelpers/losses.py",
        "i, j = torch.triu_indices(m, m, offset=1, device=a.device)",
        "i, j = torch.triu_indices(m, m, offset=0, device=a.device)",
        "tests/test_acmil.py -k loss_terms_hand_computed_on_masked_padded"),
    # acmil_method(5, 10, 0) / (1, 10, 0.6) return acmil_base: the ablation's options ignored
    "audit_acmil_07": (
        "milhelpers/methods.py",
        "if n_branches == 1 and mask_drop == 0:      # K is unused without masking",
        "if n_branches == 1 or mask_drop == 0:      # K is unused without masking",
        "tests/test_acmil.py -k acmil_method_returns_the_registered_ablation"),
    # softmax over the head axis instead of instances: one head gives log a = 0, entropy 0
    "audit_aem_01": (
        "milhelpers/losses.py",
        "log_a = torch.log_softmax(z, dim=-1)",
        "log_a = torch.log_softmax(z, dim=1)",
        "tests/test_aem.py -k hand_computed_value_for_each_normalisation"),
    # log_n normalisation divides by N instead of log N
    "audit_aem_02": (
        "milhelpers/losses.py",
        "h = torch.where(n[:, None] > 1, h / log_n[:, None], 0.0)",
        "h = torch.where(n[:, None] > 1, h / n[:, None], 0.0)",
        "tests/test_aem.py -k hand_computed_value_for_each_normalisation"),
    # a lambda below 0.1 is named like the default 'aem': the runner's cache mixes the settings
    "audit_aem_03": (
        "milhelpers/methods.py",
        'name = prefix + (f"_lam{_short(lam)}" if lam != 0.1 else "")',
        'name = prefix + (f"_lam{_short(lam)}" if lam > 0.1 else "")',
        "tests/test_aem.py -k registered_aem_and_variant_names"),
    # sign flipped: the regulariser minimises entropy (sharpens attention)
    "audit_aem_04": (
        "milhelpers/losses.py",
        "return -attention_entropy(attention_logits, mask, normalize).mean()",
        "return attention_entropy(attention_logits, mask, normalize).mean()",
        "tests/test_aem.py -k hand_computed_value_for_each_normalisation"),
    # floor instead of ceil: r_h=0.01 of 50 patches masks 0 instead of 1
    "audit_mhim_01": (
        "milhelpers/models/mhim.py",
        "return min(n, math.ceil(n * ratio - 1e-9))",
        "return min(n, math.floor(n * ratio + 1e-9))",
        "tests/test_mhim.py -k mask_count_rounds_up_and_zero_masks_nothing"),
    # v2 without recycling may keep no instance at all (min_keep inverted)
    "audit_mhim_02": (
        "milhelpers/models/mhim.py",
        "min_keep=int(self.recycle is None))",
        "min_keep=int(self.recycle is not None))",
        "tests/test_mhim.py -k v2_keeps_one_instance_without_recycling"),
    # when everything is masked, the highest- instead of the lowest-scored instance is shown again
    "audit_mhim_03": (
        "milhelpers/models/mhim.py",
        "chosen[order[-1]] = False",
        "chosen[order[0]] = False",
        "tests/test_mhim.py -k at_least_one_real_instance_stays_visible"),
    # off-by-one: low-score masking hides one instance more than ceil(n*r_l)
    "audit_mhim_04": (
        "milhelpers/models/mhim.py",
        "pick = order[n - mask_count(n, r_l):]",
        "pick = order[n - mask_count(n, r_l) - 1:]",
        "tests/test_mhim.py -k low_masking_hides_the_lowest_and_union_with_high"),
    # r_h schedule reversed: grows from 0 to r_h instead of decaying to 0
    "audit_mhim_05": (
        "milhelpers/methods.py",
        "model.r_h = 0.5 * model.r_h0 * (1 + math.cos(math.pi * t))",
        "model.r_h = 0.5 * model.r_h0 * (1 - math.cos(math.pi * t))",
        "tests/test_mhim.py -k schedule_decays_r_h_by_half_cosine_and_updates"),
    # v2 recycle queries take their EMA step in eval mode too: inference mutates the model
    "audit_mhim_06": (
        "milhelpers/models/mhim.py",
        "if self.training and self.momentum < 1:",
        "if self.momentum < 1:",
        "tests/test_fidelity.py -k mhim_v2_recycle_network_by_hand"),
    # recycle cross-attention scaled by sqrt(d) instead of 1/sqrt(d)
    "audit_mhim_07": (
        "milhelpers/models/mhim.py",
        'dots = torch.einsum("hqd,bhnd->bhqn", q, k) * self.head_dim ** -0.5',
        'dots = torch.einsum("hqd,bhnd->bhqn", q, k) * self.head_dim ** 0.5',
        "tests/test_fidelity.py -k mhim_v2_recycle_network_by_hand"),
    # teacher not sharpened (tau_s=1 used for the teacher): a different target distribution
    "audit_mhim_08": (
        "milhelpers/losses.py",
        "p_t = torch.softmax(teacher.detach().float() / tau_teacher, dim=-1)",
        "p_t = torch.softmax(teacher.detach().float() / tau_student, dim=-1)",
        "tests/test_losses.py -k consistency_loss_hand_computed_and_teacher_gets"),
    # class-aware score: softmax over instances instead of classes
    "audit_mhim_09": (
        "milhelpers/models/mhim.py",
        "return torch.softmax(logits, -1).amax(-1)",
        "return torch.softmax(logits, 1).amax(-1)",
        "tests/test_mhim.py -k class_aware_score_by_hand_batched_padded_and"),
    # MaskRecorder records at the first step of an epoch instead of the last
    "audit_mhim_10": (
        "milhelpers/methods.py",
        "if state.epoch in self.epochs and (state.step + 1) % state.steps_per_epoch == 0:",
        "if state.epoch in self.epochs and state.step % state.steps_per_epoch == 0:",
        "tests/test_mhim.py -k fit_without_runner_trains_the_baseline_as"),
    # dropped padding mask: padding becomes visible to the student in padded batches
    "audit_mhim_11": (
        "milhelpers/models/mhim.py",
        "visible = mask & ~masked",
        "visible = ~masked",
        "tests/test_padding_paths.py -k mhim_student_in_a_batch_sees_each_bag_without"),
    # main part gets ceil(p*n) instead of floor(p*n)
    "audit_pack_01": (
        "milhelpers/packing.py",
        "k = max(1, int(math.floor(p * n)))",
        "k = max(1, int(math.ceil(p * n)))",
        "tests/test_packing.py -k without_caps_every_instance_lands_in_exactly"),
    # pack_tensors ignores slide_of_part: token -> slide index is the part index
    "audit_pack_02": (
        "milhelpers/packing.py",
        "index[j, at:at + n] = slide_of_part[i]",
        "index[j, at:at + n] = i",
        "tests/test_packing.py -k index_names_the_slide_of_each_part"),
    # multi-hot target normalised by the member count, not the largest class count
    "audit_pack_03": (
        "milhelpers/packing.py",
        "return per_class / per_class.amax(-1, keepdim=True)",
        "return per_class / per_class.sum(-1, keepdim=True)",
        "tests/test_packing.py -k hyperslide_label_hand_computed"),
    # alpha=0 (no residual branch) still builds and forwards the hyperslides
    "audit_pack_04": (
        "milhelpers/methods.py",
        "collate = pack_collate(p, max_len, min_len, ads_ratio or 1, residual=alpha > 0)",
        "collate = pack_collate(p, max_len, min_len, ads_ratio or 1, residual=True)",
        "tests/test_packing.py -k without_residual_branch_collates_no_hyperslides"),
    # ADS keeps its D coordinates in random order instead of sorted
    "audit_pack_05": (
        "milhelpers/models/packmil.py",
        "keep = torch.sort(torch.randperm(r * d, device=x.device)[:d]).values",
        "keep = torch.randperm(r * d, device=x.device)[:d]",
        "tests/test_packing.py -k keeps_the_chosen_grouped_coordinates_in_ascending_order"),
    # compressed length floored instead of ceiled (and 0 for n < r)
    "audit_pack_06": (
        "milhelpers/packing.py",
        "return -(-int(n) // int(ratio))",
        "return int(n) // int(ratio)",
        "tests/test_packing.py -k ads_compresses_in_training_and_keeps_length_in"),
    # ADS re-weighting loses its residual: tokens scaled by alpha alone
    "audit_pack_07": (
        "milhelpers/models/packmil.py",
        "return x + a[..., None] * x",
        "return a[..., None] * x",
        "tests/test_packing.py -k reweighting_adds_the_attention_weighted_token"),
    # n_test/n_train fallback 1/k instead of 1/(k-1)
    "audit_runner_01": (
        "milhelpers/experiments.py",
        "ratio = 1 / (k - 1) if k > 1 else 1.0",
        "ratio = 1 / k if k > 1 else 1.0",
        "tests/test_experiments.py -k without_a_recorded_ratio_use_one_over_k_minus_one"),
    # run's top5_mass averaged over all slides, not the positives
    "audit_runner_02": (
        "milhelpers/experiments.py",
        '"top5_mass": mean("top5_mass", [r for r in slides if r["label"] == 1]),',
        '"top5_mass": mean("top5_mass", slides),',
        "tests/test_experiments.py -k each_repeat_scores_every_slide_once_out_of_fold"),
    # clear decided by the unadjusted p, not Holm's
    "audit_runner_03": (
        "milhelpers/experiments.py",
        'table.insert(7, "clear", [bool(p < stats.ALPHA) for p in table.p_holm])',
        'table.insert(7, "clear", [bool(p < stats.ALPHA) for p in table.p])',
        "tests/test_experiments.py -k clear_follows_holms_adjusted_p"),
    # a two-stage run's seconds leave out its first stage's recorded seconds
    "audit_runner_04": (
        "milhelpers/experiments.py",
        'seconds = time.perf_counter() - t0 - stage["wall"] + stage["seconds"]',
        'seconds = time.perf_counter() - t0 - stage["wall"]',
        "tests/test_mhim.py -k runner_reuses_the_cached_baseline_and_counts"),
    # percentile interval cuts alpha per tail: a 90% interval reported as 95%
    "audit_stats_01": (
        "milhelpers/stats.py",
        "k = max(1, math.ceil(alpha * b / 2 - 1e-9))",
        "k = max(1, math.ceil(alpha * b - 1e-9))",
        "tests/test_stats.py -k a_clear_interval_and_p_below_005_are_the_same"),
    # paired=False ignored: the 'unpaired' bootstrap is paired
    "audit_stats_02": (
        "milhelpers/stats.py",
        "w_a = w if paired else _case_weights(case, strata, n_boot, rng)",
        "w_a = w",
        "tests/test_stats.py -k pairing_moves_both_methods_and_every_repeat"),
    # off-by-one: the last case of each stratum is never drawn
    "audit_stats_03": (
        "milhelpers/stats.py",
        "draws = rng.integers(0, n_h, size=(n_boot, n_h)) + np.arange(n_boot)[:, None] * n_h",
        "draws = rng.integers(0, n_h - 1, size=(n_boot, n_h)) + np.arange(n_boot)[:, None] * n_h",
        "tests/test_stats.py -k cases_are_resampled_within_their_label_stratum"),
    # weighted AUC normalised by W_P^2 instead of W_P*W_N
    "audit_stats_04": (
        "milhelpers/stats.py",
        "/ (w[:, pos].sum(1) * w[:, neg].sum(1))",
        "/ (w[:, pos].sum(1) * w[:, pos].sum(1))",
        "tests/test_stats.py -k resampling_weights_count_a_case_as_often_as_it"),
    # F1 denominator misses the false negatives
    "audit_stats_05": (
        "milhelpers/stats.py",
        "den = 2 * tp + fp + fn",
        "den = 2 * tp + fp",
        "tests/test_stats.py -k resampling_weights_count_a_case_as_often_as_it"),
    # a score exactly at the threshold predicted positive
    "audit_stats_06": (
        "milhelpers/stats.py",
        "pred = (s > threshold).astype(int) if binary else s.argmax(-1)",
        "pred = (s >= threshold).astype(int) if binary else s.argmax(-1)",
        "tests/test_stats.py -k resampling_weights_count_a_case_as_often_as_it"),
    # an interval that ends at 0 counts as excluding 0
    "audit_stats_07": (
        "milhelpers/stats.py",
        "return bool(lo > 0 or hi < 0)",
        "return bool(lo >= 0 or hi <= 0)",
        "tests/test_stats.py -k a_clear_interval_and_p_below_005_are_the_same"),
    # binormal mean misses sqrt(2): simulated AUCs below the asked ones
    "audit_stats_08": (
        "milhelpers/stats.py",
        "mu = math.sqrt(2) * norm.ppf(auc)",
        "mu = norm.ppf(auc)",
        "tests/test_stats.py -k simulated_scores_have_the_asked_aucs_and"),
    # DeLong: negatives' variance divided by the number of positives
    "audit_stats_09": (
        "milhelpers/stats.py",
        "var += c @ np.cov(v01) @ c / n",
        "var += c @ np.cov(v01) @ c / m",
        "tests/test_stats.py -k delong_on_a_small_example_worked_by_hand"),
    # within-class correlation averaged without class-size weights
    "audit_stats_10": (
        "milhelpers/stats.py",
        'return float(np.average(rs, weights=ws)) if rs else float("nan")',
        'return float(np.average(rs)) if rs else float("nan")',
        "tests/test_stats.py -k within_class_correlation_weights_each_class"),
    # top-k mass of the k least-attended instances
    "audit_metrics_01": (
        "milhelpers/metrics.py",
        "return float(np.sort(a, axis=1)[:, ::-1][:, :k].sum(1).mean())",
        "return float(np.sort(a, axis=1)[:, :k].sum(1).mean())",
        "tests/test_metrics_viz.py -k entropy_and_topk"),
    # all-tumour slides not skipped: roc_auc_score raises on one class
    "audit_metrics_02": (
        "milhelpers/metrics.py",
        "if y.all() or not y.any():",
        "if not y.any():",
        "tests/test_metrics_viz.py -k skips_slides_that_are_all_tumour"),
    # balanced accuracy reported as plain accuracy
    "audit_metrics_03": (
        "milhelpers/metrics.py",
        '"balanced_accuracy": float(balanced_accuracy_score(labels, pred)),',
        '"balanced_accuracy": float(accuracy_score(labels, pred)),',
        "tests/test_metrics_viz.py -k balanced_accuracy_averages_the_per_class_recalls"),
    # uniform reference curve not capped at 1 for K > N
    "audit_metrics_04": (
        "milhelpers/metrics.py",
        "uniform.append(np.minimum(ks, len(c)) / len(c))",
        "uniform.append(ks / len(c))",
        "tests/test_branch_attention.py -k cumulative_attention_hand_computed_with_bags"),
    # level-0 patch side scaled by the inverse mpp ratio (wrong resampling unit)
    "audit_tiling_01": (
        "milhelpers/tiling.py",
        "return max(1, int(round(patch_size * target_mpp / level0_mpp)))",
        "return max(1, int(round(patch_size * level0_mpp / target_mpp)))",
        "tests/test_tiling.py -k grid_is_physical_at_20x_and_40x"),
    # the next coarser level is never used (always strips of the fine level)
    "audit_tiling_02": (
        "milhelpers/tiling.py",
        "if coarse <= 2 * target_ds * (1 + 1e-6):",
        "if coarse <= target_ds * (1 + 1e-6):",
        "tests/test_tiling.py -k segmentation_level_choice"),
    # overlap widens the stride instead of narrowing it
    "audit_tiling_03": (
        "milhelpers/tiling.py",
        "step0 = max(1, int(round((patch_size - overlap) * scale)))",
        "step0 = max(1, int(round((patch_size + overlap) * scale)))",
        "tests/test_tiling.py -k more_min_tissue_fewer_patches_and_overlap_more"),
    # kernel scale inverted: on a coarser mask the kernels grow instead of shrinking
    "audit_tiling_04": (
        "milhelpers/tiling.py",
        "k = target_ds / mask_ds",
        "k = mask_ds / target_ds",
        "tests/test_tiling.py -k thin_strands_survive_segmentation_on_a_4x_step"),
    # keeps the smallest holes instead of the largest
    "audit_tiling_05": (
        "milhelpers/tiling.py",
        "order = np.argsort(hole_areas)[::-1][: params.max_n_holes]",
        "order = np.argsort(hole_areas)[: params.max_n_holes]",
        "tests/test_tiling.py -k only_the_largest_holes_are_cut_out"),
    # std not scaled to the 0-255 range: inputs 255x too large
    "audit_feat_01": (
        "milhelpers/features.py",
        "s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1) * 255",
        "s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)",
        "tests/test_features.py -k extraction_matches_direct_encoding"),
    # features files without coords (CLAM exports) are refused
    "audit_feat_02": (
        "milhelpers/h5io.py",
        "if len(coords) and len(coords) != len(feats):",
        "if len(coords) != len(feats):",
        "tests/test_h5io.py -k features_file_without_coords"),
    # patch offset inside the band read without subtracting the band origin
    "audit_feat_03": (
        "milhelpers/features.py",
        "ox = round((self.coords[j][k][0] - x0) / ds)",
        "ox = round(self.coords[j][k][0] / ds)",
        "tests/test_features.py -k extraction_matches_direct_encoding"),
    # grid zips the axes instead of the Cartesian product
    "audit_sweep_01": (
        "milhelpers/sweep.py",
        "return [dict(zip(names, combo)) for combo in itertools.product(*axes)]",
        "return [dict(zip(names, combo)) for combo in zip(*axes)]",
        "tests/test_sweep.py -k parameters_cell_and_grid"),
    # long run names hashed on their truncated text: two runs differing after 100 chars collide
    "audit_sweep_02": (
        "milhelpers/sweep.py",
        'text = text[:100] + "-" + hashlib.sha256(text.encode()).hexdigest()[:12]',
        'text = text[:100] + "-" + hashlib.sha256(text[:100].encode()).hexdigest()[:12]',
        "tests/test_sweep.py -k long_run_names_stay_unique"),
    # check_int refuses the minimum itself
    "audit_params_01": (
        "milhelpers/params.py",
        "    if not ok or value < minimum:",
        "    if not ok or value <= minimum:",
        "tests/test_params.py -k missing_paths_and_half_given_user_data"),
    # training-part size uses floor of the test fold instead of ceil: too-small folds accepted
    "audit_params_02": (
        "milhelpers/params.py",
        "return n_groups - -(-n_groups // folds_)",
        "return n_groups - n_groups // folds_",
        "tests/test_params.py -k training_part_rounds_the_test_fold_up"),
    # CLI accepts --overlap equal to --patch-size (no clean usage error)
    "audit_params_03": (
        "milhelpers/__main__.py",
        'if args.command == "tile" and args.overlap >= args.patch_size:',
        'if args.command == "tile" and args.overlap > args.patch_size:',
        "tests/test_cli.py -k invalid_numbers_are_usage_errors"),
})



# a second held-out audit (60 mutants written without reading the ones above; 49 killed by the
# tests of the time, a test for each of the other 11 added since)
MUTANTS.update({
    # ranks padding above real instances: short bags hide wrong/no instances
    "audit2_acmil3_rank_mask_inverted": (
        "milhelpers/models/acmil.py",
        "masked_fill(~mask[:, None, :], float(\"-inf\")).topk",
        "masked_fill(mask[:, None, :], float(\"-inf\")).topk",
        "tests/test_acmil.py tests/test_losses.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # attention_logits at padding no longer dtype min (contract), STKIM ranks padding
    "audit2_acmil3_scores_not_masked": (
        "milhelpers/models/acmil.py",
        "scores = mask_logits(self.attention(h).transpose(1, 2), mask)      # (B, M, N)",
        "scores = self.attention(h).transpose(1, 2)      # (B, M, N)",
        "tests/test_acmil.py tests/test_losses.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # every branch classifier sees branch 0 embedding
    "audit2_acmil3_branch_clf_first_embedding": (
        "milhelpers/models/acmil.py",
        "branch_logits = torch.stack([clf(z_m[:, i]) for i, clf in",
        "branch_logits = torch.stack([clf(z_m[:, 0]) for i, clf in",
        "tests/test_acmil.py tests/test_losses.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # top_k=0 (no STKIM) refused
    "audit2_acmil3_topk_min_one": (
        "milhelpers/models/acmil.py",
        "(\"n_branches\", n_branches, 1), (\"top_k\", top_k, 0)",
        "(\"n_branches\", n_branches, 1), (\"top_k\", top_k, 1)",
        "tests/test_acmil.py::test_top_k_zero_is_allowed_and_hides_nothing_in_training"),
    # normalised over branches not instances: not a cosine
    "audit2_acmil3_div_norm_axis": (
        "milhelpers/losses.py",
        "a = F.normalize(attention.float(), dim=-1)",
        "a = F.normalize(attention.float(), dim=1)",
        "tests/test_acmil.py tests/test_losses.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # tanh-only attention
    "audit2_acmil3_ungated": (
        "milhelpers/models/acmil.py",
        "AttentionScorer(embed_dim, attn_dim, n_branches, gated=True, dropout=0.0)",
        "AttentionScorer(embed_dim, attn_dim, n_branches, gated=False, dropout=0.0)",
        "tests/test_acmil.py tests/test_losses.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # mask_drop=1 accepted
    "audit2_acmil3_mask_drop_one_allowed": (
        "milhelpers/models/acmil.py",
        "if not 0.0 <= mask_drop < 1.0:",
        "if not 0.0 <= mask_drop <= 1.0:",
        "tests/test_acmil.py tests/test_losses.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # padding logits enter softmax normaliser
    "audit2_aem_pad_in_softmax": (
        "milhelpers/losses.py",
        "    z = z.masked_fill(~real, torch.finfo(torch.float32).min)\n",
        "",
        "tests/test_aem.py tests/test_losses.py"),
    # underflowed log weights give 0*-inf=NaN
    "audit2_aem3_keep_no_isfinite": (
        "milhelpers/losses.py",
        "keep = real & torch.isfinite(log_a)",
        "keep = real",
        "tests/test_aem.py::test_entropy_is_finite_when_a_logit_gap_overflows_float32"),
    # option inverted
    "audit2_aem3_normalize_inverted": (
        "milhelpers/losses.py",
        "by_log_n = normalize == \"log_n\"",
        "by_log_n = normalize == \"none\"",
        "tests/test_aem.py tests/test_losses.py tests/test_padding_paths.py"),
    # padding counted as instances in the term
    "audit2_aem3_term_mask_dropped": (
        "milhelpers/losses.py",
        "return negative_entropy(out.attention_logits, out.mask, normalize=by_log_n)",
        "return negative_entropy(out.attention_logits, None, normalize=by_log_n)",
        "tests/test_aem.py tests/test_losses.py tests/test_padding_paths.py tests/test_train.py"),
    # n_h from whole bag, masks whole pool
    "audit2_mhim_nh_of_n": (
        "milhelpers/models/mhim.py",
        "n_h = mask_count(len(pool), r_hr)",
        "n_h = mask_count(n, r_hr)",
        "tests/test_mhim.py tests/test_schedules.py"),
    # low masking hides highest
    "audit2_mhim_low_top": (
        "milhelpers/models/mhim.py",
        "pick = order[n - mask_count(n, r_l):]",
        "pick = order[:mask_count(n, r_l)]",
        "tests/test_mhim.py tests/test_schedules.py"),
    # scale 8^-.5 vs 64^-.5
    "audit2_mhim_scale_heads": (
        "milhelpers/models/mhim.py",
        "* self.head_dim ** -0.5",
        "* self.heads ** -0.5",
        "tests/test_fidelity.py::test_mhim_v2_recycle_network_by_hand"),
    # softmax over queries
    "audit2_mhim_softmax_queries": (
        "milhelpers/models/mhim.py",
        "attn = torch.softmax(dots, -1).masked_fill(~keep, 0.0)",
        "attn = torch.softmax(dots, -2).masked_fill(~keep, 0.0)",
        "tests/test_fidelity.py::test_mhim_v2_recycle_network_by_hand"),
    # ratio 1 (e.g. merge_ratio=1, r_hr=1) refused
    "audit2_mhim3_ratio_one_rejected": (
        "milhelpers/models/mhim.py",
        "if not (v > 0 if open_low else v >= 0) or v > upper or math.isnan(v):",
        "if not (v > 0 if open_low else v >= 0) or v >= upper or math.isnan(v):",
        "tests/test_mhim.py tests/test_schedules.py tests/test_padding_paths.py tests/test_fidelity.py"),
    # random masking count from r_l
    "audit2_mhim3_random_uses_rl": (
        "milhelpers/models/mhim.py",
        "pick = torch.randperm(n, generator=generator)[:mask_count(n, r)]",
        "pick = torch.randperm(n, generator=generator)[:mask_count(n, r_l)]",
        "tests/test_mhim.py tests/test_schedules.py tests/test_padding_paths.py tests/test_fidelity.py"),
    # lowest re-shown whenever anything masked
    "audit2_mhim3_guard_any": (
        "milhelpers/models/mhim.py",
        "        if chosen.all():\n",
        "        if chosen.any():\n",
        "tests/test_mhim.py tests/test_schedules.py tests/test_padding_paths.py tests/test_fidelity.py"),
    # keeps the first L*rho visible, not random
    "audit2_mhim3_recycle_not_random": (
        "milhelpers/models/mhim.py",
        "perm = idx[torch.randperm(len(idx), generator=generator)]",
        "perm = idx",
        "tests/test_mhim.py tests/test_schedules.py tests/test_padding_paths.py tests/test_fidelity.py"),
    # LayerNorm not applied to recycled instances
    "audit2_mhim3_recycle_no_ln_r": (
        "milhelpers/models/mhim.py",
        "        r = self.norm(h)\n",
        "        r = h\n",
        "tests/test_mhim.py tests/test_schedules.py tests/test_padding_paths.py tests/test_fidelity.py"),
    # queries jump to tokens
    "audit2_mhim3_queries_ema_swapped": (
        "milhelpers/models/mhim.py",
        "self.queries = (self.momentum * self.queries\n                            + (1.0 - self.momentum) * z.detach()",
        "self.queries = ((1.0 - self.momentum) * self.queries\n                            + self.momentum * z.detach()",
        "tests/test_mhim.py tests/test_schedules.py tests/test_padding_paths.py tests/test_fidelity.py"),
    # v2 random masking without recycle ignored
    "audit2_mhim3_merge_ratio_ignored": (
        "milhelpers/models/mhim.py",
        "if self.recycle is None and self.merge_ratio == 1:",
        "if self.recycle is None:",
        "tests/test_mhim.py tests/test_schedules.py tests/test_padding_paths.py tests/test_fidelity.py"),
    # uncompressed token counts with ADS
    "audit2_pack_counts_raw": (
        "milhelpers/packing.py",
        "counts[j, i] = rlen[i]",
        "counts[j, i] = len(ress[i])",
        "tests/test_packing.py::test_residual_counts_after_ads_are_the_compressed_lengths_and_tokenmix_uses_them"),
    # (R,S) rows divided by grand total
    "audit2_pack3_tokenmix_total_all": (
        "milhelpers/packing.py",
        "total = w.sum(-1, keepdim=True)",
        "total = w.sum()",
        "tests/test_packing.py tests/test_viz_packing.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # residual=False ignored
    "audit2_pack3_residual_ignored": (
        "milhelpers/packing.py",
        "if self.residual and any(len(t) for t in ress):",
        "if any(len(t) for t in ress):",
        "tests/test_packing.py tests/test_viz_packing.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # packs by uncompressed length under ADS
    "audit2_pack3_main_uncompressed_len": (
        "milhelpers/packing.py",
        "packs = sequential_packs([compressed_length(len(m), r) for m in mains], self.max_len)",
        "packs = sequential_packs([len(m) for m in mains], self.max_len)",
        "tests/test_packing.py tests/test_viz_packing.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # sum pooling, attention ignored
    "audit2_pack3_unweighted_sum": (
        "milhelpers/models/packmil.py",
        "index_add_(0, s_tok, w[:, None] * h[real])",
        "index_add_(0, s_tok, h[real])",
        "tests/test_packing.py tests/test_viz_packing.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # batch axis softmax in per-token mode
    "audit2_pack3_ads_softmax_axis": (
        "milhelpers/models/packmil.py",
        "        a = torch.softmax(e, dim=-1)\n        return x + a[..., None] * x",
        "        a = torch.softmax(e, dim=0)\n        return x + a[..., None] * x",
        "tests/test_packing.py tests/test_viz_packing.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # T = max_len not longest pack
    "audit2_pack3_efficiency_max_len": (
        "milhelpers/packing.py",
        "return sum(totals) / (len(packs) * max(totals))",
        "return sum(totals) / (len(packs) * max_len)",
        "tests/test_packing.py tests/test_viz_packing.py tests/test_padding_paths.py tests/test_boundaries.py"),
    # zeros not counted below: p asymmetric
    "audit2_stats_below_strict": (
        "milhelpers/stats.py",
        "below, above = int((d <= 0).sum()), int((d >= 0).sum())",
        "below, above = int((d < 0).sum()), int((d >= 0).sum())",
        "tests/test_stats.py tests/test_intervals.py"),
    # t quantile with J dof, CI narrower; p unchanged
    "audit2_stats_t_dof": (
        "milhelpers/stats.py",
        "q = float(student_t.ppf(1 - ALPHA / 2, j - 1))",
        "q = float(student_t.ppf(1 - ALPHA / 2, j))",
        "tests/test_stats.py tests/test_intervals.py"),
    # diff A-B
    "audit2_exp_paired_sign": (
        "milhelpers/experiments.py",
        "    d = b[ok] - a[ok]\n",
        "    d = a[ok] - b[ok]\n",
        "tests/test_experiments.py tests/test_intervals.py tests/test_experiments_report.py"),
    # recall divided by all weights
    "audit2_stats3_bacc_denominator": (
        "milhelpers/stats.py",
        "@ correct[y == c] / w[:, y == c].sum(1) for c in classes], 0)",
        "@ correct[y == c] / w.sum(1) for c in classes], 0)",
        "tests/test_stats.py tests/test_intervals.py"),
    # fn counts true negatives
    "audit2_stats3_f1_fn_wrong_class": (
        "milhelpers/stats.py",
        "fn = w @ ((1 - hit) * (y == c)[:, None])",
        "fn = w @ ((1 - hit) * (y != c)[:, None])",
        "tests/test_stats.py tests/test_intervals.py"),
    # Bonferroni not Holm
    "audit2_stats3_holm_bonferroni": (
        "milhelpers/stats.py",
        "adj = np.minimum(1.0, (m - np.arange(m)) * p[order])",
        "adj = np.minimum(1.0, m * p[order])",
        "tests/test_stats.py tests/test_intervals.py"),
    # equal points dominate each other
    "audit2_stats3_pareto_better_le": (
        "milhelpers/stats.py",
        "better = (c < c[i]).any(1) | (v > v[i])",
        "better = (c <= c[i]).any(1) | (v > v[i])",
        "tests/test_stats.py tests/test_intervals.py tests/test_viz_head_to_head.py"),
    # names wrong winner
    "audit2_stats3_describe_leader_flipped": (
        "milhelpers/stats.py",
        "leader, other = (b, a) if d > 0 else (a, b)",
        "leader, other = (b, a) if d < 0 else (a, b)",
        "tests/test_stats.py tests/test_intervals.py tests/test_experiments_report.py"),
    # cross = methods correlation
    "audit2_stats3_cross_same_repeat": (
        "milhelpers/stats.py",
        "\"cross\": avg([wcc(y, a[i], b[j]) for i, j in pairs])}",
        "\"cross\": avg([wcc(y, a[i], b[i]) for i, j in pairs])}",
        "tests/test_stats.py tests/test_intervals.py"),
    # NaN runs poison mean
    "audit2_exp3_summary_nan_kept": (
        "milhelpers/experiments.py",
        "out[m][k] = _mean_std_n(v[~np.isnan(v)])",
        "out[m][k] = _mean_std_n(v)",
        "tests/test_experiments.py tests/test_intervals.py tests/test_experiments_report.py"),
    # slides scored by one method only kept (NaN rows)
    "audit2_exp3_aligned_incomplete": (
        "milhelpers/experiments.py",
        "if per[s] == 2 * len(seeds)]",
        "if per[s] >= len(seeds)]",
        "tests/test_experiments.py::test_paired_leaves_out_a_slide_missing_from_one_methods_records"),
    # score = confidence not P(class1)
    "audit2_exp3_score_max_prob": (
        "milhelpers/experiments.py",
        "\"score\": float(p.probs[i, 1]), \"loc_auc\": loc,",
        "\"score\": float(p.probs[i].max()), \"loc_auc\": loc,",
        "tests/test_experiments.py tests/test_intervals.py tests/test_experiments_report.py"),
    # y centred on x group means
    "audit2_exp3_corr_y_centred_on_x": (
        "milhelpers/experiments.py",
        "y = (df.y - df.groupby(\"g\").y.transform(\"mean\")).to_numpy()",
        "y = (df.y - df.groupby(\"g\").x.transform(\"mean\")).to_numpy()",
        "tests/test_experiments.py tests/test_intervals.py tests/test_experiments_report.py"),
    # fold column: train/test swapped
    "audit2_exp3_fixed_folds_swapped": (
        "milhelpers/experiments.py",
        "return [(idx[col != v], idx[col == v]) for v in values]",
        "return [(idx[col == v], idx[col != v]) for v in values]",
        "tests/test_experiments.py tests/test_intervals.py tests/test_experiments_report.py"),
    # population std
    "audit2_met_summarize_ddof0": (
        "milhelpers/metrics.py",
        "\"std\": num.std(ddof=1)})",
        "\"std\": num.std(ddof=0)})",
        "tests/test_metrics_viz.py"),
    # normalised by log2 N, max != 1
    "audit2_met_entropy_log2": (
        "milhelpers/metrics.py",
        "h = h / np.log(n) if n > 1",
        "h = h / np.log2(n) if n > 1",
        "tests/test_metrics_viz.py"),
    # weighted not macro F1
    "audit2_met3_f1_weighted": (
        "milhelpers/metrics.py",
        "f1_score(labels, pred, average=\"macro\", zero_division=0)",
        "f1_score(labels, pred, average=\"weighted\", zero_division=0)",
        "tests/test_metrics_viz.py::test_bag_metrics_macro_f1_by_hand"),
    # best head among all heads, not those with it in top k
    "audit2_met3_top_branch_ignores_topk": (
        "milhelpers/metrics.py",
        "best = np.where(inside, a, -np.inf).argmax(0)",
        "best = a.argmax(0)",
        "tests/test_branch_attention.py::test_top_branch_only_considers_heads_with_the_instance_in_their_top_k"),
    # x uses y downsample (non-square ds)
    "audit2_tile_boxfrac_axis": (
        "milhelpers/tiling.py",
        "x0 = np.clip(np.round(coords[:, 0] / downsample[0])",
        "x0 = np.clip(np.round(coords[:, 0] / downsample[1])",
        "tests/test_tiling.py::test_box_fraction_with_a_non_square_downsample_by_hand"),
    # non-square slide mask transposed size
    "audit2_tile3_mask_wh_swapped": (
        "milhelpers/tiling.py",
        "out_w, out_h = max(1, round(w0 / mask_ds)), max(1, round(h0 / mask_ds))",
        "out_w, out_h = max(1, round(h0 / mask_ds)), max(1, round(w0 / mask_ds))",
        "tests/test_tiling.py::test_segment_tissue_mask_size_follows_a_wide_slides_aspect"),
    # median kernel not scaled to mask resolution
    "audit2_tile3_mthresh_unscaled": (
        "milhelpers/tiling.py",
        "mthresh = max(1, 2 * int(round((params.mthresh * k - 1) / 2)) + 1)",
        "mthresh = max(1, 2 * int(round((params.mthresh - 1) / 2)) + 1)",
        "tests/test_tiling.py tests/test_boundaries.py"),
    # saturation == threshold counts as tissue
    "audit2_tile3_sthresh_ge": (
        "milhelpers/tiling.py",
        "binary = (sat > params.sthresh).astype(np.uint8)",
        "binary = (sat >= params.sthresh).astype(np.uint8)",
        "tests/test_tiling.py::test_saturation_exactly_at_sthresh_is_not_tissue"),
    # area assumes square box (wrong at clipped edges)
    "audit2_tile3_boxfrac_area_square": (
        "milhelpers/tiling.py",
        "area = np.maximum((x1 - x0) * (y1 - y0), 1)",
        "area = np.maximum((x1 - x0) * (x1 - x0), 1)",
        "tests/test_tiling.py::test_box_fraction_with_a_non_square_downsample_by_hand"),
    # encoder attrs stored on coords
    "audit2_h5_3_feature_attrs_on_coords": (
        "milhelpers/h5io.py",
        "        d.attrs.update(_clean_attrs(attrs))\n",
        "        c.attrs.update(_clean_attrs(attrs))\n",
        "tests/test_h5io.py tests/test_features.py tests/test_cache_keys.py"),
    # finished files stay 0600
    "audit2_h5_3_mode_0600": (
        "milhelpers/h5io.py",
        "        os.chmod(tmp, 0o666 & ~_current_umask())\n",
        "",
        "tests/test_h5io.py tests/test_features.py"),
    # reads level 0 always (downsample<1)
    "audit2_feat3_level_inverted": (
        "milhelpers/features.py",
        "level = slide.best_level_for_downsample(size0 / out)",
        "level = slide.best_level_for_downsample(out / size0)",
        "tests/test_h5io.py tests/test_features.py"),
    # duplicate values give duplicate runs
    "audit2_sweep_no_dedupe": (
        "milhelpers/sweep.py",
        "            if v not in values:             # \"-p lam 0 0.0\" is one run\n                values.append(v)\n",
        "            values.append(v)\n",
        "tests/test_sweep.py"),
    # 6-digit %g names collide
    "audit2_sweep_format_short": (
        "milhelpers/sweep.py",
        "return short if float(short) == value else repr(value)",
        "return short",
        "tests/test_sweep.py::test_run_name_keeps_floats_that_six_digits_would_merge_apart"),
    # k == n_rare refused
    "audit2_params_folds_ge": (
        "milhelpers/params.py",
        "    if k > n_rare:\n",
        "    if k >= n_rare:\n",
        "tests/test_params.py"),
    # baseline 0 not added
    "audit2_params_lambdas_no_baseline": (
        "milhelpers/params.py",
        "out[\"lambdas\"] = sorted(set(grid) | {0.0})",
        "out[\"lambdas\"] = sorted(set(grid))",
        "tests/test_params.py"),
    # chapter 03 mask_drop=1 accepted
    "audit2_params3_mask_drop_one": (
        "milhelpers/params.py",
        "or not 0.0 <= float(mask_drop) < 1.0:",
        "or not 0.0 <= float(mask_drop) <= 1.0:",
        "tests/test_params.py"),
})


# a third held-out audit (audit5: 60 mutants written from the package source without reading this
# table, then any that touched a line of a mutant above replaced; 40 killed by the targeted tests
# of the time, 47 with wider ones, a test for each of the other 13 added since). Each runs the
# test that killed it in the audit, or the one written for it.
MUTANTS.update({
    # the forward pass hands STKIM an all-True mask: in a padded batch a bag shorter than K gets …
    "audit5_acmil_stkim_padding_ignored": (
        "milhelpers/models/acmil.py",
        "hidden = stkim_mask(scores, mask, self.top_k, self.mask_drop)",
        "hidden = stkim_mask(scores, torch.ones_like(mask), self.top_k, self.mask_drop)",
        "tests/test_acmil.py -k test_model_masks_in_training_the_branch_attention_and_slide_attention_uses_it"),
    # in a padded batch where one short bag hides 0 instances (⌊K'·p⌋ = 0) and another hides seve…
    "audit5_acmil_stkim_batch_min": (
        "milhelpers/models/acmil.py",
        "if k_max == 0 or int(n_hide.max()) == 0:",
        "if k_max == 0 or int(n_hide.min()) == 0:",
        "tests/test_acmil.py -k test_stkim_a_bag_that_hides_nothing_does_not_switch_off_the_rest_of_the_batch"),
    # the authors' projection has no bias; with one there are embed_dim more parameters and ReLU(…
    "audit5_acmil_projection_bias": (
        "milhelpers/models/acmil.py",
        "nn.Linear(int(in_dim), int(embed_dim), bias=False)",
        "nn.Linear(int(in_dim), int(embed_dim), bias=True)",
        "tests/test_acmil.py -k test_one_branch_without_masking_is_gated_abmil_with_the_same_weights"),
    # with M = 2 branches the diversity loss is 0 instead of cos(a_1, a_2)
    "audit5_acmil_diversity_two_branches": (
        "milhelpers/losses.py",
        "    if m < 2:\n        return attention.new_zeros(())",
        "    if m <= 2:\n        return attention.new_zeros(())",
        "tests/test_acmil.py -k test_loss_terms_hand_computed_on_masked_padded_attention"),
    # the (N, N) instance Gram matrix instead of the (M, M) branch one: cos[:, i, j] for i < j < …
    "audit5_acmil_diversity_gram_over_instances": (
        "milhelpers/losses.py",
        "cos = a @ a.transpose(1, 2)                               # (B, M, M)",
        "cos = a.transpose(1, 2) @ a                               # (B, M, M)",
        "tests/test_acmil.py -k test_loss_terms_hand_computed_on_masked_padded_attention"),
    # with M = 1 (acmil_stkim, acmil_base) a branch CE (its own classifier) and a 0 diversity ter…
    "audit5_acmil_loss_terms_one_branch": (
        "milhelpers/methods.py",
        "if getattr(model, \"n_branches\", 1) < 2:",
        "if getattr(model, \"n_branches\", 1) < 1:",
        "tests/test_acmil.py -k test_loss_terms_hand_computed_on_masked_padded_attention"),
    # acmil_method() with the paper's options (5, 10, 0.6) no longer matches the registered 'acmi…
    "audit5_acmil_method_defaults_out_of_sync": (
        "milhelpers/methods.py",
        "if {**{\"n_branches\": 5, \"top_k\": 10, \"mask_drop\": 0.6}, **m.model_kwargs} == opts:",
        "if {**{\"n_branches\": 5, \"top_k\": 5, \"mask_drop\": 0.6}, **m.model_kwargs} == opts:",
        "tests/test_acmil.py -k test_acmil_method_returns_the_registered_ablation_entries_or_a_named_variant"),
    # the value is unchanged (the outer where picks 0), but a one-instance bag with normalize=Tru…
    "audit5_aem_lognorm_fallback_zero": (
        "milhelpers/losses.py",
        "log_n = torch.where(n > 1, torch.log(n), torch.ones_like(n))",
        "log_n = torch.where(n > 1, torch.log(n), torch.zeros_like(n))",
        "tests/test_aem.py -k test_padding_contributes_exactly_nothing_value_or_gradient"),
    # sums over the head axis instead of instances: (B, N) instead of (B, H); entropy of one head…
    "audit5_aem_entropy_sum_over_heads": (
        "milhelpers/losses.py",
        "h = -torch.where(keep, log_a.exp() * log_a, 0.0).sum(-1)",
        "h = -torch.where(keep, log_a.exp() * log_a, 0.0).sum(1)",
        "tests/test_aem.py -k test_hand_computed_value_for_each_normalisation"),
    # where log a_k underflows to −inf (logits ~1e38 apart), exp(−inf)·(−inf) = NaN in the unsele…
    "audit5_aem_underflow_not_zeroed": (
        "milhelpers/losses.py",
        "log_a = torch.where(keep, log_a, 0.0)",
        "log_a = log_a",
        "tests/test_aem.py -k test_half_precision_extreme_logits_stay_finite"),
    # acmil_aem loses ACMIL's branch CE and diversity terms: AEM replaces the base's losses inste…
    "audit5_aem_drops_base_loss_terms": (
        "milhelpers/methods.py",
        "return (*base.loss_terms(model), aem_term(lam, schedule, normalize))",
        "return (aem_term(lam, schedule, normalize),)",
        "tests/test_aem.py -k test_aem_adds_its_term_to_the_base_methods_own_loss_terms"),
    # with r_hr < 1 the top ⌈k·r_hr⌉ of the pool are always hidden instead of a random draw from …
    "audit5_mhim_high_pick_not_random": (
        "milhelpers/models/mhim.py",
        "pool[torch.randperm(len(pool), generator=generator)[:n_h]]",
        "pool[:n_h]",
        "tests/test_mhim.py -k test_randomised_high_masking_draws_from_the_top_fraction_only"),
    # the queries skip the shared LayerNorm (Z = MCA(LN(G), LN(R))): other attention scores unles…
    "audit5_recycle_queries_no_layernorm": (
        "milhelpers/models/mhim.py",
        "q = self.to_q(self.norm(self.queries))",
        "q = self.to_q(self.queries)",
        "tests/test_fidelity.py -k test_mhim_v2_recycle_network_by_hand"),
    # the softmax runs over kept instances and padding too; zeroing them afterwards leaves recycl…
    "audit5_recycle_scores_not_masked": (
        "milhelpers/models/mhim.py",
        "dots = dots.masked_fill(~keep, torch.finfo(dots.dtype).min)",
        "dots = dots",
        "tests/test_fidelity.py -k test_mhim_v2_recycle_network_by_hand"),
    # with k > 1 queries, (B, H, k, d) reshaped without the transpose mixes heads of different qu…
    "audit5_recycle_heads_not_transposed": (
        "milhelpers/models/mhim.py",
        "z = self.to_out(out.transpose(1, 2).reshape(b, -1, self.heads * self.head_dim))",
        "z = self.to_out(out.reshape(b, -1, self.heads * self.head_dim))",
        "tests/test_fidelity.py -k test_mhim_v2_recycle_network_by_hand"),
    # mhim_v2_norecycle then hides nothing beyond the teacher's mask: the random share 1 − ρ stay…
    "audit5_mhim_norecycle_ignores_rho": (
        "milhelpers/models/mhim.py",
        "out = self.student(x, kept)",
        "out = self.student(x, visible)",
        "tests/test_fidelity.py -k test_mhim_v2_student_pools_kept_and_recycle_tokens"),
    # for a baseline with options (e.g. embed_dim=128) the student gets the default architecture,…
    "audit5_mhim_student_drops_base_kwargs": (
        "milhelpers/methods.py",
        "student = base.build(ctx, **base.model_kwargs)     # drawn from ctx.seed (build_model)",
        "student = base.build(ctx)     # drawn from ctx.seed (build_model)",
        "tests/test_mhim.py -k test_fit_without_runner_trains_the_baseline_as_teacher"),
    # the student starts as the whole trained teacher (attention and classifier too), not only it…
    "audit5_mhim_student_copies_whole_teacher": (
        "milhelpers/methods.py",
        "student.project.load_state_dict(teacher.project.state_dict())",
        "student.load_state_dict(teacher.state_dict())",
        "tests/test_fidelity.py -k test_mhim_v1_student_projection_copied_from_the_teacher"),
    # MaskRecorder's draw then advances the mask generator, so recording changes the masks (and r…
    "audit5_mhim_recorder_moves_generator": (
        "milhelpers/methods.py",
        "        model.generator.set_state(g_state)",
        "        g_state = None",
        "tests/test_mhim.py -k test_fit_without_runner_trains_the_baseline_as_teacher"),
    # the student's log-softmax over the batch axis instead of the embedding axis (a batch of one…
    "audit5_mhim_consistency_wrong_axis": (
        "milhelpers/losses.py",
        "log_p_s = torch.log_softmax(student.float() / tau_student, dim=-1)",
        "log_p_s = torch.log_softmax(student.float() / tau_student, dim=0)",
        "tests/test_mhim.py -k test_consistency_term_sharpens_the_teacher_not_the_student"),
    # score_picks leaves the teacher in the mode it scored in (eval by default) instead of restor…
    "audit5_mhim_score_picks_mode_not_restored": (
        "milhelpers/models/mhim.py",
        "    finally:\n        teacher.train(was)\n    picks = {}",
        "    finally:\n        pass\n    picks = {}",
        "tests/test_mhim.py -k test_score_picks_gives_the_teacher_back_in_its_own_mode"),
    # without a runner config the teacher trains with the default seed, not the run's
    "audit5_mhim_teacher_config_unseeded": (
        "milhelpers/methods.py",
        "cfg = ctx.config or base.train_config(seed=ctx.seed)",
        "cfg = ctx.config or base.train_config()",
        "tests/test_mhim.py -k test_teacher_trained_without_a_runner_config_uses_the_runs_seed"),
    # ADS's re-weighting softmax in the padded (inference) path then spreads mass onto padding, s…
    "audit5_pack_ads_reweight_padding": (
        "milhelpers/models/packmil.py",
        "e = e.masked_fill(~mask, torch.finfo(e.dtype).min)",
        "e = e",
        "tests/test_packing.py -k test_ads_reweighting_adds_the_attention_weighted_token_to_the_token"),
    # after ADS compresses the residual packs the old (uncompressed) mask no longer fits them
    "audit5_pack_residual_mask_stale_after_ads": (
        "milhelpers/models/packmil.py",
        "residual_mask = residual_slide_index >= 0",
        "residual_mask = residual_mask",
        "tests/test_packing.py -k test_packmil_ads4_trains_a_step_with_ads_on_main_and_residual_packs"),
    # packmil_ads4 builds a model without ADS while its collate packs for r = 4
    "audit5_pack_build_drops_ads_ratio": (
        "milhelpers/methods.py",
        "return PackMIL(ctx.in_dim, ctx.n_classes, ads_ratio=ads_ratio, **kw)",
        "return PackMIL(ctx.in_dim, ctx.n_classes, **kw)",
        "tests/test_packing.py -k test_packmil_ads4_trains_a_step_with_ads_on_main_and_residual_packs"),
    # PackMIL's lr (5e-4 by default) is not in its TrainConfig: it trains at the trainer's defaul…
    "audit5_pack_config_drops_lr": (
        "milhelpers/methods.py",
        "config={\"batch_size\": batch_size, \"lr\": lr},",
        "config={\"batch_size\": batch_size},",
        "tests/test_packing.py -k test_packmil_trains_through_the_shared_trainer"),
    # the last, partial batch of an epoch is counted as a full one: padding share too high when b…
    "audit5_pack_padding_share_full_batches": (
        "milhelpers/packing.py",
        "padded += len(chunk) * int(chunk.max())",
        "padded += batch_size * int(chunk.max())",
        "tests/test_packing.py -k test_padding_share_counts_the_last_partial_batch_at_its_own_size"),
    # p_t = e^{+b} > 1: the focal weight (e^b − 1)^γ instead of (1 − e^{−b})^γ
    "audit5_pack_focal_sign": (
        "milhelpers/losses.py",
        "return (alpha * (1 - torch.exp(-b)) ** gamma * b).mean()",
        "return (alpha * (1 - torch.exp(b)) ** gamma * b).mean()",
        "tests/test_fidelity.py -k test_packmil_hyperslide_losses_by_hand"),
    # with ADS (r > 1) residual parts are packed by their length before compression: parts up to …
    "audit5_pack_residual_lengths_uncompressed": (
        "milhelpers/packing.py",
        "rlen = [compressed_length(len(t), r) for t in ress]",
        "rlen = [len(t) for t in ress]",
        "tests/test_packing.py -k test_residual_counts_after_ads_are_the_compressed_lengths_and_tokenmix_uses_them"),
    # resampled ranks count 1 = the lowest metric while the observed rank counts 1 = the highest:…
    "audit5_stats_rank_sign": (
        "milhelpers/stats.py",
        "ranks = rankdata(-boot, axis=1, method=\"average\")",
        "ranks = rankdata(boot, axis=1, method=\"average\")",
        "tests/test_stats.py -k test_rank_intervals_order_methods_by_the_metric_and_are_certain_when_far_apart"),
    # NaN p-values (left out) still count in the family size m: adjusted p too large
    "audit5_stats_holm_counts_nan": (
        "milhelpers/stats.py",
        "    m = len(ok)\n",
        "    m = len(p)\n",
        "tests/test_stats.py -k test_holm_adjusts_step_down_and_keeps_the_order"),
    # J degrees of freedom for p while the interval uses J − 1: p < 0.05 no longer ⇔ the interval…
    "audit5_stats_corrected_t_df": (
        "milhelpers/stats.py",
        "p = float(2 * student_t.sf(abs(out[\"diff\"]) / se, j - 1))",
        "p = float(2 * student_t.sf(abs(out[\"diff\"]) / se, j))",
        "tests/test_stats.py -k test_nadeau_bengio_corrects_the_variance_for_overlapping_training_sets"),
    # slides of one patient are resampled independently instead of together
    "audit5_stats_groups_ignored": (
        "milhelpers/stats.py",
        "_, case = np.unique(g, return_inverse=True)",
        "case = np.arange(len(y))",
        "tests/test_stats.py -k test_cases_are_resampled_within_their_label_stratum_and_slides_of_a_case_move_together"),
    # paired=False with the AUC then resamples both methods with the same weights: the unpaired i…
    "audit5_stats_unpaired_auc_uses_paired_kernel": (
        "milhelpers/stats.py",
        "if paired and metric == \"auc\":   # one product with h_B − h_A instead of two",
        "if metric == \"auc\":   # one product with h_B − h_A instead of two",
        "tests/test_stats.py -k test_pairing_moves_both_methods_and_every_repeat_together"),
    # every fold of a repeat trains with the same seed (same init and data-order stream) instead …
    "audit5_exp_where_seed_without_fold": (
        "milhelpers/experiments.py",
        "cfg = method.train_config(seed=run_seed(seed, k), progress=False, **self.overrides)",
        "cfg = method.train_config(seed=seed, progress=False, **self.overrides)",
        "tests/test_experiments.py -k test_a_second_run_trains_nothing_and_returns_the_same_runs"),
    # DeLong's interval becomes 90 % (1.645 se), inconsistent with its two-sided p
    "audit5_stats_delong_one_sided_q": (
        "milhelpers/stats.py",
        "q = norm.ppf(1 - ALPHA / 2)",
        "q = norm.ppf(1 - ALPHA)",
        "tests/test_stats.py -k test_delong_on_a_small_example_worked_by_hand"),
    # Holm over every (metric, method) row instead of the methods of one metric: the family grows…
    "audit5_exp_holm_family_all_metrics": (
        "milhelpers/experiments.py",
        "table.loc[g.index, \"p_holm\"] = stats.holm(g.p.to_numpy())",
        "table.loc[g.index, \"p_holm\"] = stats.holm(table.p.to_numpy())[g.index]",
        "tests/test_experiments.py -k test_paired_compares_the_slides_out_of_fold_scores_and_runs_for_seconds"),
    # an interval with an end exactly at 0 is described as a link instead of 'no clear link'
    "audit5_exp_correlation_touching_zero": (
        "milhelpers/experiments.py",
        "if lo <= 0 <= hi:",
        "if lo < 0 < hi:",
        "tests/test_experiments_report.py -k test_describe_correlation_an_interval_ending_at_zero_still_holds_zero"),
    # population instead of sample standard deviation: summary std too small by √((n−1)/n)
    "audit5_exp_summary_std_ddof0": (
        "milhelpers/experiments.py",
        "\"std\": float(v.std(ddof=1)) if len(v) > 1 else float(\"nan\")",
        "\"std\": float(v.std(ddof=0)) if len(v) > 1 else float(\"nan\")",
        "tests/test_experiments.py -k test_paired_compares_the_slides_out_of_fold_scores_and_runs_for_seconds"),
    # the head-to-head table shows per-run means (test-fold AUCs) instead of the pooled out-of-fo…
    "audit5_cmp_table_ignores_oof": (
        "milhelpers/comparison.py",
        "s = summary[m].get(f\"oof_{k}\" if source == \"oof\" else k) or {}",
        "s = summary[m].get(k) or {}",
        "tests/test_comparison.py -k test_method_table_reads_pooled_out_of_fold_metrics_and_per_run_costs"),
    # with an even number of discohesive positives the upper instead of the lower median is shown
    "audit5_cmp_showcase_upper_median": (
        "milhelpers/comparison.py",
        "pick = ranked.iloc[(len(ranked) - 1) // 2]",
        "pick = ranked.iloc[len(ranked) // 2]",
        "tests/test_comparison.py -k test_showcase_discohesive_pick_is_the_lower_median_of_an_even_count"),
    # several favoured methods are ordered by their largest instead of smallest difference
    "audit5_cmp_favoured_max": (
        "milhelpers/comparison.py",
        "low = better[[f\"diff {d}\" for d in draws]].min(1).sort_values(ascending=False)",
        "low = better[[f\"diff {d}\" for d in draws]].max(1).sort_values(ascending=False)",
        "tests/test_comparison.py -k test_which_method_when_names_a_method_only_when_it_wins_on_every_draw"),
    # the reference is favoured as soon as one method is clearly worse, not only when all are
    "audit5_cmp_reference_any_worse": (
        "milhelpers/comparison.py",
        "elif len(worse) == len(rep):",
        "elif len(worse):",
        "tests/test_comparison.py -k test_which_method_when_names_a_method_only_when_it_wins_on_every_draw"),
    # sums the (H, N) array over heads too: H heads' entropies add up instead of being averaged (…
    "audit5_metrics_entropy_flat_heads": (
        "milhelpers/metrics.py",
        "h = -np.where(a > 0, a * np.log(a), 0.0).sum(1)",
        "h = -np.where(a > 0, a * np.log(a), 0.0).sum()",
        "tests/test_metrics_viz.py -k test_multi_head_attention_is_measured_per_head"),
    # c(K) reads the (K+1)-th cumulative sum: the top-1 curve value is the top-2 mass
    "audit5_metrics_cumulative_off_by_one": (
        "milhelpers/metrics.py",
        "curves.append(c[np.minimum(ks, len(c)) - 1])",
        "curves.append(c[np.minimum(ks, len(c) - 1)])",
        "tests/test_branch_attention.py -k test_cumulative_attention_hand_computed_with_bags_shorter_than_k"),
    # instances in no head's top k get head 0 (argmax of an all −inf column) instead of −1
    "audit5_metrics_top_branch_no_minus_one": (
        "milhelpers/metrics.py",
        "return np.where(inside.any(0), best, -1)",
        "return best",
        "tests/test_branch_attention.py -k test_top_branch_names_the_branch_that_weighs_it_most_among_those_with_it_in_top_k"),
    # ties at the k-th weight go to the later positions instead of the earlier ones (the docstrin…
    "audit5_metrics_topk_members_ties_last": (
        "milhelpers/metrics.py",
        "member[np.argsort(-row, kind=\"stable\")[:k]] = True",
        "member[np.argsort(row, kind=\"stable\")[::-1][:k]] = True",
        "tests/test_branch_attention.py -k test_topk_coverage_by_hand_with_the_same_budget_control"),
    # a ring of tissue around a large hole passes a_t on its outer area although its net tissue a…
    "audit5_tiling_net_area_ignores_holes": (
        "milhelpers/tiling.py",
        "net = cv2.contourArea(c) - sum(hole_areas)",
        "net = cv2.contourArea(c)",
        "tests/test_tiling.py -k test_tissue_area_filter_counts_the_net_area_inside_holes_excluded"),
    # contours stay in mask pixels instead of level-0 pixels (off by the mask downsample)
    "audit5_tiling_contours_in_mask_px": (
        "milhelpers/tiling.py",
        "kept_c.append(c[:, 0, :].astype(np.float64) * scale)",
        "kept_c.append(c[:, 0, :].astype(np.float64))",
        "tests/test_boundaries.py -k test_tissue_and_hole_areas_at_exactly_the_threshold"),
    # re-tiling with overwrite=True that now yields no patch leaves the old coordinates file, whi…
    "audit5_tiling_overwrite_keeps_old_coords": (
        "milhelpers/tiling.py",
        "            if overwrite and coords_path.exists():  # the old grid no longer describes the slide\n                coords_path.unlink()",
        "            pass",
        "tests/test_tiling.py -k test_overwrite_that_finds_no_patch_removes_the_old_coordinates"),
    # a non-square slide's coordinates record swapped dimensions, so feature extraction later say…
    "audit5_tiling_width_height_swapped": (
        "milhelpers/tiling.py",
        "level0_width=w0, level0_height=h0, **requested)",
        "level0_width=h0, level0_height=w0, **requested)",
        "tests/test_cli.py -k test_extract_then_resume"),
    # blue marker ink (hue 95–125) is no longer excluded from tissue
    "audit5_tiling_blue_ink_kept": (
        "milhelpers/tiling.py",
        "coloured_ink = (h >= 35) & (h < 125) & (s > 60)",
        "coloured_ink = (h >= 35) & (h < 95) & (s > 60)",
        "tests/test_tiling.py -k test_blue_marker_ink_is_not_tissue"),
    # features stored as (1, N, D) by some exporters are returned 3-D instead of (N, D)
    "audit5_h5_leading_axis_not_squeezed": (
        "milhelpers/h5io.py",
        "feats = feats[0]",
        "feats = feats",
        "tests/test_h5io.py -k test_features_stored_with_a_leading_axis_of_one_are_read_as_n_by_d"),
    # a writer that fails inside atomic_output leaves its .part file behind
    "audit5_h5_atomic_leaves_part_file": (
        "milhelpers/h5io.py",
        "    finally:\n        if tmp.exists():\n            tmp.unlink()",
        "    finally:\n        pass",
        "tests/test_h5io.py -k test_atomic_output_leaves_nothing_on_failure"),
    # the slide of the batch's last patch is written before its remaining patches arrive (a slide…
    "audit5_features_flush_early": (
        "milhelpers/features.py",
        "while done_upto < int(owners.max()):",
        "while done_upto <= int(owners.max()):",
        "tests/test_features.py -k test_extraction_matches_direct_encoding"),
    # an earlier run made with other notebook code but the same package (or vice versa) is 'earli…
    "audit5_sweep_earlier_any_hash": (
        "milhelpers/sweep.py",
        "same = all(saved.get(f) == v for f, v in code.items())",
        "same = any(saved.get(f) == v for f, v in code.items())",
        "tests/test_sweep.py -k test_results_csv_keeps_every_finished_run"),
    # stale runs (other code) get today's defaults filled in for parameters they never set
    "audit5_sweep_stale_gets_defaults": (
        "milhelpers/sweep.py",
        "        if run.status != \"stale\":\n            for name in names:",
        "        if True:\n            for name in names:",
        "tests/test_sweep.py -k test_results_csv_keeps_every_finished_run"),
    # epochs=2.5 is silently truncated to 2 instead of refused
    "audit5_params_int_truncates_floats": (
        "milhelpers/params.py",
        "if not ok and isinstance(value, float) and value.is_integer():",
        "if not ok and isinstance(value, float):",
        "tests/test_params.py -k test_check_int_refuses_zero_bool_and_fractions"),
    # variant_lam = 0 (positive=True) is accepted although the variant must differ from the basel…
    "audit5_params_lambda_positive_ignored": (
        "milhelpers/params.py",
        "or value < 0 or (positive and value == 0):",
        "or value < 0:",
        "tests/test_params.py -k test_ch04_bad_lambda_grid_and_variant_lambda"),
    # p = 0, lr = 0 and r_hr = 0 are accepted though they must be > 0
    "audit5_params_low_open_ignored": (
        "milhelpers/params.py",
        "and np.isfinite(value) and (value > low if low_open else value >= low)",
        "and np.isfinite(value) and value >= low",
        "tests/test_params.py -k test_ch05_bad_parameters_name_themselves"),
    # --- round 6: acmil (self-audit) ---
    "r6acmil_base_any_empty_bag": (
        "milhelpers/models/base.py",
        "if not mask.any(dim=1).all():",
        "if not mask.any(dim=1).any():",
        "tests/test_models.py::test_empty_bag_is_rejected_clearly"),
    "r6acmil_base_embedding_batch_unchecked": (
        "milhelpers/models/base.py",
        "if self.embedding.dim() != 2 or self.embedding.shape[0] != b:",
        "if self.embedding.dim() != 2:",
        "tests/test_models.py::test_output_and_mask_shapes_are_checked_on_every_axis"),
    "r6acmil_abmil_gate_tanh": (
        "milhelpers/models/abmil.py",
        "nn.Sequential(nn.Linear(dim, hidden), nn.Sigmoid(), nn.Dropout(dropout))",
        "nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Dropout(dropout))",
        "tests/test_models.py -k hand_computed_attention"),
    "r6acmil_maxpool_last_class_only": (
        "milhelpers/models/abmil.py",
        "score = torch.logsumexp(inst[..., 1:], dim=-1) - inst[..., 0]",
        "score = inst[..., -1] - inst[..., 0]",
        "tests/test_models.py::test_max_pool_with_three_classes_ranks_by_logsumexp_of_the_positive_classes"),
    "r6acmil_dropout_one_allowed": (
        "milhelpers/models/acmil.py",
        "if not 0.0 <= dropout < 1.0:",
        "if not 0.0 <= dropout <= 1.0:",
        "tests/test_acmil.py::test_dropout_one_is_rejected_and_just_below_one_is_allowed"),
    "r6acmil_eval_hidden_marks_padding": (
        "milhelpers/models/acmil.py",
        "hidden = torch.zeros_like(scores, dtype=torch.bool)",
        "hidden = scores == torch.finfo(scores.dtype).min",
        "tests/test_acmil.py -k eval_mode"),
    "r6acmil_per_head_zero_total": (
        "milhelpers/metrics.py",
        "if (total <= 0).any() or (a < 0).any():",
        "if (total < 0).any() or (a < 0).any():",
        "tests/test_metrics_viz.py::test_attention_metrics_reject_zero_negative_or_empty_weights"),
    "r6acmil_top_branch_ties_last": (
        "milhelpers/metrics.py",
        'inside[h, np.argsort(-row, kind="stable")[:k]] = True',
        'inside[h, np.argsort(row, kind="stable")[::-1][:k]] = True',
        "tests/test_metrics_viz.py::test_top_branch_breaks_ties_by_position"),
    "r6acmil_with_options_precedence": (
        "milhelpers/methods.py",
        "model_kwargs={**self.model_kwargs, **model_kwargs})",
        "model_kwargs={**model_kwargs, **self.model_kwargs})",
        "tests/test_methods.py::test_with_options_overrides_the_methods_own_options_and_reaches_the_model"),
    "r6acmil_n_classes_no_plus_one": (
        "milhelpers/methods.py",
        "return max(2, top + 1)",
        "return max(2, top)",
        "tests/test_methods.py::test_n_classes_counts_every_split_and_prefers_class_names"),
    "r6acmil_short_g_only": (
        "milhelpers/methods.py",
        "return text if float(text) == x else repr(float(x))",
        "return text",
        "tests/test_methods.py::test_acmil_method_returns_the_stkim_entry_and_names_long_numbers_exactly"),
    "r6acmil_train_config_precedence": (
        "milhelpers/methods.py",
        "return TrainConfig(**{**self.config, **overrides})",
        "return TrainConfig(**{**overrides, **self.config})",
        "tests/test_methods.py::test_train_config_overrides_beat_the_methods_defaults"),
    "r6acmil_base_mask_length_unchecked": (
        "milhelpers/models/base.py",
        "if mask is not None and (mask.dim() != 2 or mask.shape[0] != logits.shape[0]\n                             or mask.shape[1] != logits.shape[2]):",
        "if mask is not None and (mask.dim() != 2 or mask.shape[0] != logits.shape[0]):",
        "tests/test_models.py::test_output_and_mask_shapes_are_checked_on_every_axis"),
    "r6acmil_as_batch_drops_single_bag_mask": (
        "milhelpers/models/base.py",
        "mask = mask.unsqueeze(0) if mask is not None else None",
        "mask = None",
        "tests/test_models.py::test_a_single_bags_mask_is_applied"),
    "r6acmil_instance_scores_ignored": (
        "milhelpers/models/base.py",
        'return self.extras.get("instance_scores", self.attention_logits)',
        "return self.attention_logits",
        "tests/test_models.py::test_max_pool_with_three_classes_ranks_by_logsumexp_of_the_positive_classes"),
    "r6acmil_freeze_noop": (
        "milhelpers/models/base.py",
        "p.requires_grad_(False)",
        "p.requires_grad_(True)",
        "tests/test_models.py::test_freeze_switches_off_every_gradient_and_returns_the_module"),
    "r6acmil_stkim_mask_shape_unchecked": (
        "milhelpers/models/acmil.py",
        "if scores.dim() != 3 or mask.shape != (scores.shape[0], scores.shape[2]):",
        "if scores.dim() != 3:",
        "tests/test_acmil.py::test_stkim_mask_rejects_a_mask_that_would_broadcast"),
    "r6acmil_checkpointed_chunk_zero": (
        "milhelpers/models/abmil.py",
        "if chunk < 1:",
        "if chunk < 0:",
        "tests/test_models.py::test_checkpointed_forward_rejects_chunk_zero_and_batches_and_matches_the_model"),
    "r6acmil_maxpool_one_hot_all_rows": (
        "milhelpers/models/abmil.py",
        "one_hot[rows, 0, top] = 0.0",
        "one_hot[:, 0, top] = 0.0",
        "tests/test_models.py::test_max_pool_padded_batch_equals_each_bag_alone"),
    "r6acmil_abmil_tanh_relu": (
        "milhelpers/models/abmil.py",
        "self.tanh = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Dropout(dropout))",
        "self.tanh = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout))",
        "tests/test_models.py -k hand_computed_attention"),
    "r6acmil_loc_2d_any_heads": (
        "milhelpers/metrics.py",
        "if s.ndim == 2 and s.shape[0] == 1:",
        "if s.ndim == 2:",
        "tests/test_metrics_viz.py::test_localisation_takes_one_row_scores_and_rejects_heads_and_length_mismatch"),
    "r6acmil_loc_len_unchecked": (
        "milhelpers/metrics.py",
        "if len(y) != len(s):",
        "if len(y) < len(s):",
        "tests/test_metrics_viz.py::test_localisation_takes_one_row_scores_and_rejects_heads_and_length_mismatch"),
    "r6acmil_bag_metrics_ovo": (
        "milhelpers/metrics.py",
        'auc = roc_auc_score(labels, probs, multi_class="ovr", labels=np.arange(probs.shape[1]))',
        'auc = roc_auc_score(labels, probs, multi_class="ovo", labels=np.arange(probs.shape[1]))',
        "tests/test_metrics_viz.py::test_multiclass_auc_is_the_macro_one_vs_rest_mean"),
    "r6acmil_metric_entropy_n_heads": (
        "milhelpers/metrics.py",
        "n = a.shape[1]",
        "n = a.shape[0]",
        "tests/test_metrics_viz.py::test_entropy_normalises_by_log_n_not_by_the_number_of_heads"),
    "r6acmil_n_classes_train_only": (
        "milhelpers/methods.py",
        "top = max(int(np.max(ds.labels)) for ds in datasets if ds is not None and len(ds))",
        "top = max(int(np.max(ds.labels)) for ds in datasets[:1] if ds is not None and len(ds))",
        "tests/test_methods.py::test_n_classes_counts_every_split_and_prefers_class_names"),
    "r6acmil_register_same_object_raises": (
        "milhelpers/methods.py",
        "if (method.name in METHODS and not overwrite and METHODS[method.name] is not method",
        "if (method.name in METHODS and not overwrite",
        "tests/test_methods.py::test_registering_the_same_method_object_again_is_allowed"),
    "r6acmil_acmil_method_no_stkim_lookup": (
        "milhelpers/methods.py",
        'for name in ("acmil", "acmil_mba", "acmil_stkim"):',
        'for name in ("acmil", "acmil_mba"):',
        "tests/test_methods.py::test_acmil_method_returns_the_stkim_entry_and_names_long_numbers_exactly"),
    "r6acmil_code_parts_no_model_kwargs": (
        "milhelpers/methods.py",
        "dict(self.model_kwargs), self.collate_fn, self.batch_sampler,",
        "self.collate_fn, self.batch_sampler,",
        "tests/test_methods.py::test_model_options_change_the_code_fingerprint"),
    "r6acmil_as_method_seed": (
        "milhelpers/methods.py",
        'return Method("custom", lambda ctx: method(ctx.fold))',
        'return Method("custom", lambda ctx: method(ctx.seed))',
        "tests/test_methods.py::test_a_fold_factory_is_called_with_the_fold_not_the_seed"),
    "r6acmil_losses_diversity_shape_unchecked": (
        "milhelpers/losses.py",
        'if attention.dim() != 3:\n        raise ValueError(f"attention must be (B, M, N)',
        'if attention.dim() > 3:\n        raise ValueError(f"attention must be (B, M, N)',
        "tests/test_losses.py::test_branch_losses_reject_tensors_without_the_batch_axis"),
    "r6acmil_losses_branch_ce_shape_unchecked": (
        "milhelpers/losses.py",
        "if branch_logits.dim() != 3:",
        "if branch_logits.dim() < 2:",
        "tests/test_losses.py::test_branch_losses_reject_tensors_without_the_batch_axis"),
    "r6acmil_losses_focal_targets_unchecked": (
        "milhelpers/losses.py",
        "_check_targets(logits, targets)\n    b = F.binary",
        "b = F.binary",
        "tests/test_losses.py::test_multilabel_losses_reject_targets_outside_zero_one"),
    "r6acmil_fit_fold_dropped": (
        "milhelpers/methods.py",
        "fold, cfg.seed,",
        "0, cfg.seed,",
        "tests/test_methods.py::test_fit_builds_with_the_folds_context_and_runs_the_extra_callbacks"),
    "r6acmil_fit_extra_callbacks_dropped": (
        "milhelpers/methods.py",
        "[*self.callbacks(model), *extra_callbacks],",
        "[*self.callbacks(model)],",
        "tests/test_methods.py::test_fit_builds_with_the_folds_context_and_runs_the_extra_callbacks"),
    "r6acmil_cumulative_k_max_zero_allowed": (
        "milhelpers/metrics.py",
        "if k_max < 1:",
        "if k_max < 0:",
        "tests/test_branch_attention.py::test_cumulative_attention_rejects_k_max_zero_and_no_slides_and_accepts_k_max_one"),
    # --- round 6: sweep (self-audit) ---
    'r6sweep_nan_not_waited': (
        'milhelpers/train.py',
        '                    nan_warned = True\n                waited += 1',
        '                    nan_warned = True\n                waited += 0',
        'tests/test_train_paths.py::test_nan_epochs_count_towards_patience'),
    'r6sweep_epoch_mean_by_bags': (
        'milhelpers/train.py',
        'row.update({k: v / steps_per_epoch for k, v in sums.items()})',
        'row.update({k: v / len(train_ds) for k, v in sums.items()})',
        'tests/test_train_paths.py::test_epoch_means_divide_by_the_steps_not_the_bags'),
    'r6sweep_minepochs_zero_refused': (
        'milhelpers/train.py',
        'if self.min_epochs < 0:',
        'if self.min_epochs <= 0:',
        'tests/test_train_paths.py::test_config_bounds_on_both_sides'),
    'r6sweep_lr_zero_refused': (
        'milhelpers/train.py',
        'if self.lr < 0 or self.weight_decay < 0:',
        'if self.lr <= 0 or self.weight_decay < 0:',
        'tests/test_train_paths.py::test_config_bounds_on_both_sides'),
    'r6sweep_subsample_coords_kept': (
        'milhelpers/train.py',
        'coords=None if bag.coords is None else bag.coords[keep],',
        'coords=None if bag.coords is None else bag.coords,',
        'tests/test_train_paths.py::test_subsampling_keeps_coords_and_instance_labels_with_their_features'),
    'r6sweep_predict_unmasked_att': (
        'milhelpers/train.py',
        '                att.append(a[i, :, :n])',
        '                att.append(a[i])',
        'tests/test_train_paths.py::test_padded_prediction_equals_one_bag_at_a_time'),
    'r6sweep_topk_label_flip': (
        'milhelpers/train.py',
        'if label is None or y == label]',
        'if label is None or y != label]',
        'tests/test_train_paths.py::test_mean_topk_mass_averages_only_the_chosen_class'),
    'r6sweep_save_run_metrics_dropped': (
        'milhelpers/train.py',
        '    if metrics is not None:\n        with atomic_output(run_dir / "metrics.json")',
        '    if metrics is None:\n        with atomic_output(run_dir / "metrics.json")',
        'tests/test_train_paths.py::test_save_run_writes_metrics_attention_and_the_models_own_init_seed'),
    'r6sweep_epochs_zero_ok': (
        'milhelpers/train.py',
        'isinstance(self.epochs, (int, np.integer)) and self.epochs >= 1',
        'isinstance(self.epochs, (int, np.integer)) and self.epochs >= 0',
        'tests/test_train_paths.py::test_config_bounds_on_both_sides'),
    'r6sweep_patience_zero_ok': (
        'milhelpers/train.py',
        'if self.patience is not None and self.patience < 1:',
        'if self.patience is not None and self.patience < 0:',
        'tests/test_train_paths.py::test_config_bounds_on_both_sides'),
    'r6sweep_val_loss_class1': (
        'milhelpers/train.py',
        '-np.log(probs[np.arange(len(pred.labels)), pred.labels]).mean()',
        '-np.log(probs[:, 1]).mean()',
        'tests/test_train_paths.py::test_validation_loss_is_the_mean_nll_of_each_bags_own_class'),
    'r6sweep_term_logged_weighted': (
        'milhelpers/train.py',
        'sums[term.name] = sums.get(term.name, 0.0) + value.item()',
        'sums[term.name] = sums.get(term.name, 0.0) + term.weight_at(state) * value.item()',
        'tests/test_train_paths.py::test_epoch_means_divide_by_the_steps_not_the_bags'),
    'r6sweep_subsample_inst_kept': (
        'milhelpers/train.py',
        'instance_labels=None if bag.instance_labels is None else bag.instance_labels[keep])',
        'instance_labels=None if bag.instance_labels is None else bag.instance_labels)',
        'tests/test_train_paths.py::test_subsampling_keeps_coords_and_instance_labels_with_their_features'),
    'r6sweep_run_json_init_seed': (
        'milhelpers/train.py',
        '"init_seed": result.init_seed, "best_epoch"',
        '"init_seed": result.config.seed, "best_epoch"',
        'tests/test_train_paths.py::test_save_run_writes_metrics_attention_and_the_models_own_init_seed'),
    'r6sweep_empty_val_validates': (
        'milhelpers/train.py',
        'validate = val_ds is not None and len(val_ds) > 0',
        'validate = val_ds is not None',
        'tests/test_train_paths.py::test_an_empty_validation_split_trains_without_validation_columns'),
    'r6sweep_lru_fifo': (
        'milhelpers/datasets.py',
        '        if bag is not None:\n            self.items.move_to_end(key)',
        '        if bag is not None:\n            pass',
        'tests/test_datasets.py::test_lru_cache_evicts_the_least_recently_used_and_holds_exactly_size'),
    'r6sweep_lru_evict_early': (
        'milhelpers/datasets.py',
        'while len(self.items) > self.size:',
        'while len(self.items) >= self.size:',
        'tests/test_datasets.py::test_lru_cache_evicts_the_least_recently_used_and_holds_exactly_size'),
    'r6sweep_tvs_local_indices': (
        'milhelpers/datasets.py',
        'return np.sort(train_idx[tr]), np.sort(train_idx[va])',
        'return np.sort(tr), np.sort(va)',
        'tests/test_datasets.py::test_grouped_split_returns_dataset_indices_not_positions'),
    'r6sweep_tvs_k_floor': (
        'milhelpers/datasets.py',
        '    k = round(1 / val_fraction)',
        '    k = int(1 / val_fraction)',
        'tests/test_datasets.py::test_grouped_validation_share_needs_round_one_over_fraction_cases'),
    'r6sweep_tvs_cases_le': (
        'milhelpers/datasets.py',
        'if len(np.unique(g)) < k:',
        'if len(np.unique(g)) <= k:',
        'tests/test_datasets.py::test_grouped_validation_share_needs_round_one_over_fraction_cases'),
    'r6sweep_groups_per_class_slides': (
        'milhelpers/datasets.py',
        'out[int(c)] = int(sel.sum()) if groups is None else len(np.unique(groups[sel]))',
        'out[int(c)] = int(sel.sum())',
        'tests/test_datasets.py::test_folds_count_cases_not_slides_of_the_rarer_class'),
    'r6sweep_positive_int_zero': (
        'milhelpers/datasets.py',
        'return v if v > 0 else None',
        'return v if v >= 0 else None',
        'tests/test_datasets.py::test_positive_int_reads_h5_attributes'),
    'r6sweep_bagseq_slice': (
        'milhelpers/datasets.py',
        'return [self.ds[j] for j in range(*i.indices(len(self)))]',
        'return [self.ds[j] for j in range(i.start or 0, i.stop or len(self))]',
        'tests/test_datasets.py::test_lazy_bags_slice_with_a_step'),
    'r6sweep_subset_table_stale': (
        'milhelpers/datasets.py',
        '        out.table = self.table.iloc[idx].reset_index(drop=True)\n',
        '',
        'tests/test_datasets.py::test_lazy_dataset_reads_bags_on_access'),
    'r6sweep_encode_one_class': (
        'milhelpers/datasets.py',
        'if len(counts) < 2 or (counts > 0).sum() < 2:',
        'if len(counts) < 2:',
        'tests/test_datasets.py::test_a_single_class_is_refused_even_with_a_higher_index'),
    'r6sweep_infer_zero_gaps': (
        'milhelpers/datasets.py',
        '        gaps = gaps[gaps > 0]\n',
        '        gaps = gaps[gaps >= 0]\n',
        'tests/test_datasets.py::test_repeated_coordinates_do_not_make_a_zero_patch_size'),
    'r6sweep_results_suffix_always': (
        'milhelpers/sweep.py',
        'row[f"{k}_result" if k in names else k] = \\',
        'row[f"{k}_result" if k not in names else k] = \\',
        'tests/test_sweep.py::test_results_table_renames_only_results_named_like_a_parameter'),
    'r6sweep_repeat_suffix': (
        'milhelpers/sweep.py',
        'or p.lower().endswith("_seed")]',
        'or p.lower().startswith("seed_")]',
        'tests/test_sweep.py::test_repeat_parameters_are_the_seed_like_names'),
    'r6sweep_bool_parse_yes': (
        'milhelpers/sweep.py',
        '_TRUE, _FALSE = {"true", "1", "yes", "on"}',
        '_TRUE, _FALSE = {"true", "1", "on"}',
        'tests/test_sweep.py::test_every_bool_spelling_parses_and_others_are_refused'),
    'r6sweep_parse_int_via_float': (
        'milhelpers/sweep.py',
        '            return int(text)\n',
        '            return int(float(text))\n',
        'tests/test_sweep.py::test_values_take_the_type_of_the_default'),
    'r6sweep_slots_overwrite': (
        'milhelpers/sweep.py',
        'slots[host] = slots.get(host, 0) + int(info.get("nthreads", 1))',
        'slots[host] = int(info.get("nthreads", 1))',
        'tests/test_sweep.py::test_slots_add_up_the_threads_of_every_worker_on_a_host'),
    'r6sweep_figure_drops_earlier': (
        'milhelpers/sweep.py',
        'table.status.isin(["ok", "skipped", "earlier"])',
        'table.status.isin(["ok", "skipped"])',
        'tests/test_sweep.py::test_the_figure_draws_earlier_runs_of_the_current_code_but_not_stale_or_failed'),
    'r6sweep_ch01_n_slides_le': (
        'milhelpers/params.py',
        'or n_slides < 20:',
        'or n_slides <= 20:',
        'tests/test_params.py::test_bounds_hold_at_both_sides_of_each_threshold'),
    'r6sweep_ch06_batch_one': (
        'milhelpers/params.py',
        'check_int(batch_size, "batch_size", 2,',
        'check_int(batch_size, "batch_size", 1,',
        'tests/test_params.py::test_bounds_hold_at_both_sides_of_each_threshold tests/test_params.py::test_ch06_bad_values_name_the_parameter'),
    'r6sweep_ch07_suffix': (
        'milhelpers/params.py',
        'if path.suffix != ".py":',
        'if path.suffix == ".pyc":',
        'tests/test_params.py::test_ch07_a_missing_results_file_names_the_command_that_writes_it'),
    'r6sweep_aem_bases_aem': (
        'milhelpers/params.py',
        'if m.startswith(("abmil_", "acmil")) and "aem" not in m]',
        'if m.startswith(("abmil_", "acmil"))]',
        'tests/test_params.py::test_aem_bases_are_attention_models_without_aem'),
    'r6sweep_check_path_dir_kind': (
        'milhelpers/params.py',
        '    if kind == "dir" and not p.is_dir():',
        '    if kind == "file" and not p.is_dir():',
        'tests/test_params.py::test_check_path_kinds_refuse_the_other_kind'),
    'r6sweep_label_map_missing': (
        'milhelpers/params.py',
        'missing = sorted(set(text) - set(map(str, label_map)))',
        'missing = sorted(set(map(str, label_map)) - set(text))',
        'tests/test_params.py::test_label_map_may_name_more_labels_than_the_table_has'),
    'r6sweep_r_hr_open_wrong': (
        'milhelpers/params.py',
        'low_open=name == "r_hr")',
        'low_open=name == "r_h")',
        'tests/test_params.py::test_mhim_ratios_r_hr_is_open_at_zero_and_the_others_closed'),
    'r6sweep_umap_points_min': (
        'milhelpers/params.py',
        'check_int(umap_points, "umap_points", 100,',
        'check_int(umap_points, "umap_points", 1,',
        'tests/test_params.py::test_bounds_hold_at_both_sides_of_each_threshold'),
    'r6sweep_ads_ratio_min': (
        'milhelpers/params.py',
        'ads_ratio = check_int(ads_ratio, "ads_ratio", 2,',
        'ads_ratio = check_int(ads_ratio, "ads_ratio", 1,',
        'tests/test_params.py::test_bounds_hold_at_both_sides_of_each_threshold'),
    'r6sweep_choices_not_distinct': (
        'milhelpers/params.py',
        '    if many and len(set(items)) != len(items):',
        '    if False and len(set(items)) != len(items):',
        'tests/test_params.py::test_choices_refuse_repeated_names_and_accept_distinct_ones'),
    'r6sweep_path_suffix_file': (
        'milhelpers/params.py',
        'PATH_SUFFIXES = ("_dir", "_csv", "_path", "_file")',
        'PATH_SUFFIXES = ("_dir", "_csv", "_path")',
        'tests/test_params.py::test_a_relative_file_parameter_is_read_from_the_callers_folder'),
    'r6sweep_cv_top5_all_labels': (
        'milhelpers/train.py',
        '"top5_mass": p.mean_topk_mass(5)}',
        '"top5_mass": p.mean_topk_mass(5, label=None)}',
        'tests/test_train_paths.py::test_cross_validate_predicts_each_test_fold_with_its_run_seed'),
    'r6sweep_entropy_normalized_ignored': (
        'milhelpers/train.py',
        'np.mean([attention_entropy(a, normalized) for a in self.slide_attention])',
        'np.mean([attention_entropy(a) for a in self.slide_attention])',
        'tests/test_train_paths.py::test_slide_scores_and_entropy_of_one_and_several_heads'),
    'r6sweep_finite_counts_values': (
        'milhelpers/datasets.py',
        'bad = int((~np.isfinite(features)).any(1).sum())',
        'bad = int((~np.isfinite(features)).sum())',
        'tests/test_datasets.py::test_non_finite_features_are_counted_per_patch'),
    'r6sweep_mil_label_sign_kept': (
        'milhelpers/datasets.py',
        'int(labels[0] > 0), f"{name}_{bag_id}"',
        'int(labels[0]), f"{name}_{bag_id}"',
        'tests/test_datasets.py::test_mil_tables_map_positive_labels_to_one_and_refuse_mixed_bags'),
    'r6sweep_earlier_seconds_zero': (
        'milhelpers/sweep.py',
        'saved.get("results", {}), saved.get("seconds", float("nan"))))',
        'saved.get("results", {}), saved.get("seconds", 0.0)))',
        'tests/test_sweep.py::test_done_before_and_earlier_runs_read_result_files_by_hand'),
})


# the fourth held-out audit (audit6: 80 mutants and 12 replacements written from the package
# source without reading this table, fixed before any result; docs/audits/audit6.md). Of the 75
# that were run against the tests of commit 1cb048a, each killed one runs the test that killed it;
# each survivor (and two replacements not run) runs the test written for it since.
MUTANTS.update({
    # stkim_mask on one bag of 2 real instances, top_k=10, mask_drop=0.9 (K'=2, one hidden): eith…
    'audit6_acmil_stkim_rank_from_one': (
        'milhelpers/models/acmil.py',
        'rank = torch.arange(k_max, device=scores.device)',
        'rank = torch.arange(1, k_max + 1, device=scores.device)',
        'tests/test_acmil.py -k test_stkim_hides_exactly_floor_k_mask_drop_of_each_branchs_own_top_k_never_padding'),
    # ACMIL(8, n_branches=True) (or top_k=True) must raise ValueError; the mutant accepts the boo…
    'audit6_acmil_bool_size_accepted': (
        'milhelpers/models/acmil.py',
        'if not isinstance(value, Integral) or isinstance(value, bool) or value < low:',
        'if not isinstance(value, Integral) or value < low:',
        'tests/test_acmil.py -k test_acmil_refuses_a_bool_where_a_size_goes'),
    # branch_cross_entropy with B=2, M=2, labels [0, 1], bag 0's branch logits [[5,-5],[5,-5]] an…
    'audit6_acmil_branch_ce_branch_major': (
        'milhelpers/losses.py',
        'return F.cross_entropy(branch_logits.float().reshape(b * m, c),',
        'return F.cross_entropy(branch_logits.float().transpose(0, 1).reshape(b * m, c),',
        'tests/test_losses.py -k test_branch_cross_entropy_batched_pairs_each_bag_with_its_own_label'),
    # acmil_loss_terms: branch scores [[1, 2], [2, 1]] give softmax branches [0.27, 0.73] / [0.73…
    'audit6_acmil_diversity_on_logits': (
        'milhelpers/methods.py',
        'LossTerm("branch_diversity", lambda out, batch, state: branch_diversity(out.attention))]',
        'LossTerm("branch_diversity", lambda out, batch, state: branch_diversity(out.attention_logits))]',
        'tests/test_acmil.py -k test_loss_terms_hand_computed_on_masked_padded_attention'),
    # get_method('acmil').build_model(BuildContext(in_dim=8, n_classes=3, fold=0, seed=0)) must g…
    'audit6_acmil_build_drops_classes': (
        'milhelpers/methods.py',
        '"acmil", lambda ctx, **kw: ACMIL(ctx.in_dim, ctx.n_classes, **kw),',
        '"acmil", lambda ctx, **kw: ACMIL(ctx.in_dim, **kw),',
        'tests/test_acmil.py -k test_registry_entries_and_their_ablations'),
    # get_method('acmil_base').model_kwargs must be {'n_branches': 1, 'mask_drop': 0.0}; the muta…
    'audit6_acmil_base_keeps_stkim': (
        'milhelpers/methods.py',
        '_acmil.with_options("acmil_base", n_branches=1, mask_drop=0.0),',
        '_acmil.with_options("acmil_base", n_branches=1),',
        'tests/test_acmil.py -k test_acmil_method_returns_the_registered_ablation_entries_or_a_named_variant'),
    # acmil_method(3, 5, 0.3).name must be 'acmil_M3_K5_drop0.3'; the mutant names it 'acmil_M3_d…
    'audit6_acmil_variant_name_no_k': (
        'milhelpers/methods.py',
        'f"acmil_M{n_branches}_K{top_k}_drop{_short(float(mask_drop))}", **opts)',
        'f"acmil_M{n_branches}_drop{_short(float(mask_drop))}", **opts)',
        'tests/test_methods.py -k test_acmil_method_returns_the_stkim_entry_and_names_long_numbers_exactly'),
    # aem_term(0.0) must return a LossTerm (λ = 0 trains the baseline exactly); the mutant raises…
    'audit6_aem_lam_zero_refused': (
        'milhelpers/losses.py',
        'or not math.isfinite(lam) or lam < 0:',
        'or not math.isfinite(lam) or lam <= 0:',
        'tests/test_aem.py -k test_lambda_zero_is_the_baseline_and_lambda_spreads_attention'),
    # aem_method(base='abmil_tanh').name must be 'abmil_tanh_aem'; the mutant names it 'aem', the…
    'audit6_aem_prefix_any_abmil': (
        'milhelpers/methods.py',
        'prefix = "aem" if base.name == "abmil_gated" else f"{base.name}_aem"',
        'prefix = "aem" if base.name.startswith("abmil") else f"{base.name}_aem"',
        'tests/test_aem.py -k test_aem_names_every_base_but_gated_abmil_by_prefix'),
    # aem_method(normalize='log_n').name must be 'aem_logn'; the mutant gives 'aem', colliding wi…
    'audit6_aem_name_drops_logn': (
        'milhelpers/methods.py',
        '("_cos" if schedule == "cosine" else "") + ("_logn" if normalize == "log_n" else "")',
        '("_cos" if schedule == "cosine" else "")',
        'tests/test_aem.py -k test_registered_aem_and_variant_names'),
    # aem_method(0.1).loss_terms(model) must contain the 'neg_entropy' term; the mutant keeps the…
    'audit6_aem_method_drops_term': (
        'milhelpers/methods.py',
        'return dataclasses.replace(base, name=name, summary=summary, loss_terms=loss_terms)',
        'return dataclasses.replace(base, name=name, summary=summary)',
        'tests/test_aem.py -k test_aem_adds_its_term_to_the_base_methods_own_loss_terms'),
    # mhim_mask([[0.1, 0.9, 0.5]], None, r_h=0, r_l=0.34): low masking hides index 0 (the lowest …
    'audit6_mhim_order_ascending': (
        'milhelpers/models/mhim.py',
        'order = torch.argsort(s, descending=True, stable=True)',
        'order = torch.argsort(s, descending=False, stable=True)',
        'tests/test_mhim.py -k test_high_masking_with_rhr_1_hides_exactly_the_top_scored'),
    # mhim_mask(10 scores, None, r_h=0.6, r_hr=0.5) (r_h/r_hr >= 1): ⌈10·0.6⌉ = 6 instances hidde…
    'audit6_mhim_pool_count_uses_rhr': (
        'milhelpers/models/mhim.py',
        'pool, n_h = torch.arange(n), mask_count(n, r_h)',
        'pool, n_h = torch.arange(n), mask_count(n, r_hr)',
        'tests/test_mhim_paths.py -k test_high_masking_over_the_whole_bag_hides_r_h_of_it_not_r_hr'),
    # mhim_mask([[0, 0.1, 0.9]], mask=[[False, True, True]], r_h=0.5, r_hr=1, parts=True): parts[…
    'audit6_mhim_high_part_unmapped': (
        'milhelpers/models/mhim.py',
        'split["high"][b, idx[pick]] = True',
        'split["high"][b, pick] = True',
        'tests/test_mhim_paths.py -k test_a_real_mask_with_holes_masks_and_reports_the_real_positions'),
    # instance_scores(out, model, 'class_aware') on a bag of two instances with the same embeddin…
    'audit6_mhim_class_aware_no_attention': (
        'milhelpers/models/mhim.py',
        'contribution = out.slide_attention.unsqueeze(-1) * h              # (B, N, E): a_i h_i',
        'contribution = h                                                  # (B, N, E): a_i h_i',
        'tests/test_mhim.py -k test_class_aware_score_by_hand_batched_padded_and_bias_invariant'),
    # score_picks(teacher with dropout 0.25, features) with the default train_mode=False: two cal…
    'audit6_mhim_score_picks_train_mode': (
        'milhelpers/models/mhim.py',
        'teacher.train(train_mode)',
        'teacher.train()',
        'tests/test_mhim.py -k test_score_picks_and_their_figure'),
    # RecycleNetwork.forward(h, recycled all False): Z = W_o(0) = the output bias (zeros at init)…
    'audit6_mhim_recycle_attends_kept': (
        'milhelpers/models/mhim.py',
        'keep = recycled[:, None, None, :]',
        'keep = ~recycled[:, None, None, :]',
        'tests/test_mhim_paths.py -k test_v2_reports_each_bags_recycle_tokens_and_the_teachers_full_bag_embedding'),
    # MHIM(student, teacher): every teacher parameter has requires_grad False expected; the mutan…
    'audit6_mhim_teacher_not_frozen': (
        'milhelpers/models/mhim.py',
        'self.student, self.teacher = student, freeze(teacher)',
        'self.student, self.teacher = student, teacher',
        'tests/test_mhim.py -k test_teacher_gets_no_gradient_and_is_not_trained'),
    # MHIM(s, t, r=0.5, r_l=0.0): model.r 0.5 and model.r_l 0.0 expected; the mutant stores r=0.0…
    'audit6_mhim_r_rl_swapped': (
        'milhelpers/models/mhim.py',
        'float(r_h), float(r_h), r_hr, r, r_l',
        'float(r_h), float(r_h), r_hr, r_l, r',
        'tests/test_mhim_paths.py -k test_r_and_r_l_reach_their_own_rule'),
    # MHIM(..., seed=3).generator.initial_seed() must be 3 (runs of different seeds draw differen…
    'audit6_mhim_seed_ignored': (
        'milhelpers/models/mhim.py',
        'self.generator = torch.Generator().manual_seed(int(seed))',
        'self.generator = torch.Generator().manual_seed(0)',
        'tests/test_mhim_paths.py -k test_v2_split_is_drawn_from_the_models_seeded_generator'),
    # MHIM.hide on a batch of a 3-instance bag padded to 5 rows with zeros: the teacher's attenti…
    'audit6_mhim_teacher_no_padding_mask': (
        'milhelpers/models/mhim.py',
        't = self.teacher(x, mask)',
        't = self.teacher(x)',
        'tests/test_mhim_paths.py -k test_v2_reports_each_bags_recycle_tokens_and_the_teachers_full_bag_embedding'),
    # MHIMSchedule(decay=True, momentum=0.999, momentum_cosine=False).on_step_start at progress 0…
    'audit6_mhim_momentum_cosine_on_decay': (
        'milhelpers/methods.py',
        'if self.momentum_cosine:',
        'if self.decay:',
        'tests/test_mhim_paths.py -k test_method_callbacks_carry_the_methods_schedule'),
    # split_slide(10, 0.5, generator=torch.Generator().manual_seed(0)): both parts come back sort…
    'audit6_pack_split_unsorted': (
        'milhelpers/packing.py',
        'return torch.sort(main).values, torch.sort(res).values',
        'return main, res',
        'tests/test_packing.py -k test_packed_outputs_equal_unpacked_outputs'),
    # sequential_packs([3, 0, 2], 10) must be [[0, 2]] (empty parts left out); the mutant lists t…
    'audit6_pack_zero_parts_packed': (
        'milhelpers/packing.py',
        'n = int(n)\n        if n == 0:',
        'n = int(n)\n        if n < 0:',
        'tests/test_packing.py -k test_sequential_packs_hand_computed'),
    # pack_tensors([ones(2, 4), ones(3, 4)], [[0, 1]]): the mask is True on all 5 tokens expected…
    'audit6_pack_mask_drops_slide0': (
        'milhelpers/packing.py',
        'return x, index >= 0, index',
        'return x, index > 0, index',
        'tests/test_packing.py -k test_pack_tensors_index_and_padding'),
    # pack_collate(max_len=256, min_len=16).max_len must be 256 and min_len 16; the mutant swaps …
    'audit6_pack_collate_args_swapped': (
        'milhelpers/packing.py',
        'return PackCollate(p, max_len, min_len, ads_ratio, residual, generator)',
        'return PackCollate(p, min_len, max_len, ads_ratio, residual, generator)',
        'tests/test_packing.py -k test_packed_outputs_equal_unpacked_outputs'),
    # PackMIL(8, ads_ratio=2).eval() on a padded batch of a 3-instance and a 5-instance bag: the …
    'audit6_pack_ads_inference_no_mask': (
        'milhelpers/models/packmil.py',
        'x = self.ads(x, mask)',
        'x = self.ads(x)',
        'tests/test_packing_paths.py -k test_unpacked_forward_with_ads_on_a_padded_batch_gives_each_bag_alone'),
    # packed_forward on one pack holding slide 0 (2 tokens) and slide 1 (3 tokens): slide 1's emb…
    'audit6_pack_weight_by_pack': (
        'milhelpers/models/packmil.py',
        'w = a[s_tok, pos]',
        'w = a[packs, pos]',
        'tests/test_packing.py -k test_packed_outputs_equal_unpacked_outputs'),
    # packmil_method(target='tokenmix') must train with soft-target cross-entropy (model_kwargs['…
    'audit6_pack_tokenmix_loss_bce': (
        'milhelpers/methods.py',
        'loss_name = hyperslide_loss or _TARGET_LOSS[target]',
        'loss_name = hyperslide_loss or "bce"',
        'tests/test_fidelity.py -k test_packmil_total_loss_is_main_ce_plus_alpha_times_bce'),
    # ExperimentResult.paired(..., ['top5_mass']): compares the negative slides' top-5 mass; n_sl…
    'audit6_runner_top5_negatives': (
        'milhelpers/experiments.py',
        'va, vb = np.where(y == 1, va, np.nan), np.where(y == 1, vb, np.nan)',
        'va, vb = np.where(y == 0, va, np.nan), np.where(y == 0, vb, np.nan)',
        'tests/test_runner_paths.py -k test_top5_mass_is_compared_and_summarised_over_positive_slides_only'),
    # packing_verdict with cohort time_vs_batch1 0.5 and auc_minus_batch1 interval holding 0 (no …
    'audit6_cmp_packing_no_evidence': (
        'milhelpers/comparison.py',
        'if ratio < 1 and auc_sign >= 0:',
        'if ratio < 1 and auc_sign > 0:',
        'tests/test_comparison.py -k test_packing_verdict_is_computed_from_the_benchmark_numbers'),
    # rank_intervals with two methods of AUC 0.9 and 0.6: the 0.9 method should have rank 1; muta…
    'audit6_stats_rank_ascending': (
        'milhelpers/stats.py',
        'observed = rankdata(-value, method="average")',
        'observed = rankdata(value, method="average")',
        'tests/test_stats.py -k test_rank_intervals_order_methods_by_the_metric_and_are_certain_when_far_apart'),
    # corrected_t_test([0.1, 0.1, 0.1], 0.25): se 0 with a non-zero mean, p 0.0 expected (the int…
    'audit6_stats_nb_constant_diffs_p_one': (
        'milhelpers/stats.py',
        'p = 1.0 if out["diff"] == 0 else 0.0',
        'p = 1.0',
        'tests/test_runner_paths.py -k test_corrected_t_of_constant_differences'),
    # holm([0.01, 0.04]) must be [0.02, 0.04]; the mutant steps down from the largest p: [0.08, 0…
    'audit6_stats_holm_descending': (
        'milhelpers/stats.py',
        'order = ok[np.argsort(p[ok], kind="stable")]',
        'order = ok[np.argsort(-p[ok], kind="stable")]',
        'tests/test_stats.py -k test_holm_adjusts_step_down_and_keeps_the_order'),
    # describe({'diff': 0.1, 'ci95': [0.05, 0.15], 'p': 0.001}, 'A', 'B', 'entropy') must say 'B …
    'audit6_stats_describe_direction': (
        'milhelpers/stats.py',
        'word = f"{b} has {\'higher\' if d > 0 else \'lower\'} {metric} than {a}"',
        'word = f"{b} has {\'higher\' if d < 0 else \'lower\'} {metric} than {a}"',
        'tests/test_stats.py -k test_describe_says_clear_only_when_the_rule_does'),
    # simulate_scores(100, prevalence=0.29): 0.29·100 = 28.999999999999996, so y.sum() 29 expecte…
    'audit6_stats_simulate_npos_truncated': (
        'milhelpers/stats.py',
        'n_pos = int(round(prevalence * n_slides))',
        'n_pos = int(prevalence * n_slides)',
        'tests/test_runner_paths.py -k test_simulated_cohorts_round_the_number_of_positives'),
    # bootstrap_ci([0.7]) must be (nan, nan) (fewer than two values); the mutant reaches the all-…
    'audit6_runner_bootstrap_single_value': (
        'milhelpers/experiments.py',
        'v = v[~np.isnan(v)]\n    if len(v) < 2:',
        'v = v[~np.isnan(v)]\n    if len(v) < 1:',
        'tests/test_runner_paths.py -k test_bootstrap_ci_of_one_defined_value_is_undefined'),
    # describe_correlation({'rho': -0.5, 'ci95': [-0.8, -0.2], 'p': 0.01, 'n': 30}) must end 'hig…
    'audit6_runner_corr_direction': (
        'milhelpers/experiments.py',
        "{'higher' if stats['rho'] > 0 else 'lower'} {y}",
        "{'higher' if stats['rho'] < 0 else 'lower'} {y}",
        'tests/test_experiments_report.py -k test_describe_correlation_sentences'),
    # run_differences(result, 'a', 'b', 'seconds') where b takes 2 s more in every run: +2 per (s…
    'audit6_runner_differences_swapped': (
        'milhelpers/experiments.py',
        'return (vb.loc[common] - va.loc[common]).dropna()',
        'return (va.loc[common] - vb.loc[common]).dropna()',
        'tests/test_runner_paths.py -k test_run_differences_drop_runs_missing_a_value_and_summary_std_is_sample_std'),
    # _save_predictions then _load_predictions of 3 slides: 3 attention arrays expected; the muta…
    'audit6_runner_npz_cuts_offbyone': (
        'milhelpers/experiments.py',
        'cuts = np.cumsum(z["lengths"])[:-1]',
        'cuts = np.cumsum(z["lengths"])',
        'tests/test_runner_paths.py -k test_cached_predictions_come_back_one_array_per_slide_of_its_own_length'),
    # _slide_records of a binary run: no 'probs' key expected; the mutant records [P0, P1] for ev…
    'audit6_runner_binary_probs_recorded': (
        'milhelpers/experiments.py',
        'if p.probs.shape[1] > 2:',
        'if p.probs.shape[1] >= 2:',
        'tests/test_runner_paths.py -k test_slide_records_keep_every_class_probability_only_beyond_two_classes'),
    # draw_verdict({'a': 1, 'b': -1, 'c': 0}) must be 'clear in opposite directions'; the mutant …
    'audit6_cmp_draw_verdict_mixed': (
        'milhelpers/comparison.py',
        'if {1, -1} <= vals:',
        'if vals == {1, -1}:',
        'tests/test_runner_paths.py -k test_draw_verdict_with_opposite_and_unclear_draws'),
    # situation_evidence: the 'diffuse tumour' row must compare methods on the large-burden posit…
    'audit6_cmp_diffuse_uses_small': (
        'milhelpers/comparison.py',
        '"tables": family("auc", "large"),',
        '"tables": family("auc", "small"),',
        'tests/test_comparison.py -k test_situation_evidence_compares_each_situations_slides_on_every_draw'),
    # bag_metrics([0, 1], [[0.9, 0.1], [0.2, 0.8]]): AUC 1.0 expected, mutant 0.0.
    'audit6_metrics_auc_class0': (
        'milhelpers/metrics.py',
        'auc = roc_auc_score(labels, probs[:, 1])',
        'auc = roc_auc_score(labels, probs[:, 0])',
        'tests/test_metrics_viz.py -k test_bag_metrics_and_summary'),
    # cumulative_attention([np.array([0.5, 0.3, 0.2])], 2): K [1, 2], curve [0.5, 0.8] expected; …
    'audit6_metrics_cumulative_k_from_zero': (
        'milhelpers/metrics.py',
        'ks = np.arange(1, k_max + 1)',
        'ks = np.arange(k_max)',
        'tests/test_branch_attention.py -k test_cumulative_attention_hand_computed_with_bags_shorter_than_k'),
    # top_branch(np.array([[0.7, 0.2, 0.1]]), 1) must be [0, -1, -1]; the mutant takes each head'…
    'audit6_metrics_top_branch_bottom_k': (
        'milhelpers/metrics.py',
        'inside[h, np.argsort(-row, kind="stable")[:k]] = True',
        'inside[h, np.argsort(row, kind="stable")[:k]] = True',
        'tests/test_metrics_viz.py -k test_top_branch_breaks_ties_by_position'),
    # topk_mass(np.array([0.0, 0.0]), 1) (or attention_entropy of it) must raise ValueError; the …
    'audit6_metrics_zero_attention_accepted': (
        'milhelpers/metrics.py',
        'if (total <= 0).any() or (a < 0).any():',
        'if (total < 0).any() or (a < 0).any():',
        'tests/test_metrics_viz.py -k test_attention_metrics_reject_zero_negative_or_empty_weights'),
    # segmentation_level((1, 4, 16), 10): (2, 16.0) expected, mutant (2, 10.0) (the coarse level …
    'audit6_tiling_seglevel_downsample': (
        'milhelpers/tiling.py',
        'return fine + 1, float(coarse)',
        'return fine + 1, float(target_ds)',
        'tests/test_tiling.py -k test_segmentation_level_choice'),
    # check_tiling_params(0.5, 256, overlap=256) must raise ValueError (a zero step); the mutant …
    'audit6_tiling_overlap_equal_patch': (
        'milhelpers/tiling.py',
        'or not 0 <= overlap < patch_size:',
        'or not 0 <= overlap <= patch_size:',
        'tests/test_tiling.py -k test_invalid_numbers_are_refused_before_the_slide_is_opened'),
    # tile_slide twice into one folder, the second time with patch_size 128 and overwrite=True: r…
    'audit6_tiling_overwrite_ignored': (
        'milhelpers/tiling.py',
        'if coords_path.exists() and not overwrite:',
        'if coords_path.exists():',
        'tests/test_tiling.py -k test_rerun_keeps_matching_coords_and_refuses_other_settings'),
    # segment_tissue with the biopsy preset (close=2) on a slide segmented at seg_mpp (k = 1): a …
    'audit6_tiling_close_offbyone': (
        'milhelpers/tiling.py',
        'if close > 1:',
        'if close > 2:',
        'tests/test_tiling_paths.py -k test_a_two_pixel_closing_is_the_smallest_that_runs'),
    # box_fraction with an anisotropic downsample (2.0, 4.0), an 8-row × 16-column mask whose row…
    'audit6_tiling_box_y_downsample_x': (
        'milhelpers/tiling.py',
        'y0 = np.clip(np.round(coords[:, 1] / downsample[1]).astype(int), 0, h)',
        'y0 = np.clip(np.round(coords[:, 1] / downsample[0]).astype(int), 0, h)',
        'tests/test_tiling.py -k test_box_fraction_with_a_non_square_downsample_by_hand'),
    # PatchDataset of two slides with 3 patches each (offsets [0, 3, 6]): item 3 is slide 1's pat…
    'audit6_features_searchsorted_left': (
        'milhelpers/features.py',
        'j = int(np.searchsorted(self.offsets, i, side="right") - 1)',
        'j = int(np.searchsorted(self.offsets, i, side="left") - 1)',
        'tests/test_features.py -k test_extraction_matches_direct_encoding'),
    # extract_features on 2 jobs: 2 features files written expected; the mutant never flushes the…
    'audit6_features_last_job_not_flushed': (
        'milhelpers/features.py',
        'while done_upto < len(pending):',
        'while done_upto < len(pending) - 1:',
        'tests/test_features.py -k test_extraction_matches_direct_encoding'),
    # remove_partials('out/a.h5') with 'out/.a.h5.x1y2.part' left by a killed atomic_output: that…
    'audit6_io_remove_partials_pattern': (
        'milhelpers/h5io.py',
        'for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.part"):',
        'for tmp in path.parent.glob(f"{glob.escape(path.name)}.*.part"):',
        'tests/test_h5io.py -k test_remove_partials_removes_only_this_outputs_temporary_files'),
    # _done_before with a result.json of the same parameters but another code_hash (edited notebo…
    'audit6_sweep_key_any_field': (
        'milhelpers/sweep.py',
        'if saved is None or any(saved.get(f) != key[f] for f in KEY_FIELDS):',
        'if saved is None or all(saved.get(f) != key[f] for f in KEY_FIELDS):',
        'tests/test_sweep.py -k test_every_field_of_the_cache_key_is_compared'),
    # parse_value('flag', 'false', True) must be False; the mutant returns True for every accepte…
    'audit6_sweep_bool_any_text': (
        'milhelpers/sweep.py',
        'return text.lower() in _TRUE',
        'return bool(text)',
        'tests/test_sweep.py -k test_values_take_the_type_of_the_default'),
    # check_folds(3, a labels table whose 'fold' column has 5 values) must raise ParameterError; …
    'audit6_params_folds_column_fewer': (
        'milhelpers/params.py',
        'n = table["fold"].nunique(dropna=True)\n        if k != n:',
        'n = table["fold"].nunique(dropna=True)\n        if k > n:',
        'tests/test_params.py -k test_folds_must_equal_the_fold_columns_count_from_both_sides'),
    # check_folds(3, labels where class 1 has 2 cases of 3 slides each) must raise (2 cases canno…
    'audit6_params_folds_counts_slides': (
        'milhelpers/params.py',
        'groups = table["case_id"] if "case_id" in table else table.get("slide_id", table.index)',
        'groups = table.get("slide_id", table.index)',
        'tests/test_params.py -k test_folds_against_rarer_class_counts_cases_not_slides'),
    # check_chapter05(r_h=0, r_hr=0.5, ...) must accept r_h = 0 (no high masking); the mutant ref…
    'audit6_params_ch05_open_low_rh': (
        'milhelpers/params.py',
        'f"{MHIM_DEFAULTS[name]})", low_open=name == "r_hr")',
        'f"{MHIM_DEFAULTS[name]})", low_open=name == "r_h")',
        'tests/test_params.py -k test_ch05_bad_parameters_name_themselves'),
    # A fit with MaskRecorder(features, [0, 1]) must give the same trained weights as without it;…
    'audit6_mhim_recorder_no_fork_rng_spare': (
        'milhelpers/methods.py',
        'with torch.random.fork_rng(devices=[]):\n            x = self.features.to(',
        'with torch.no_grad():\n            x = self.features.to(',
        'tests/test_mhim.py -k test_fit_without_runner_trains_the_baseline_as_teacher'),
    # packmil_method(hyperslide_loss='bce').name must be 'packmil' (the default spelled out, same…
    'audit6_pack_name_default_loss_spare': (
        'milhelpers/methods.py',
        '"hyperslide_loss": hyperslide_loss if loss_name != _TARGET_LOSS[target] else None}',
        '"hyperslide_loss": hyperslide_loss}',
        'tests/test_packing.py -k test_packmil_names_and_bad_options'),
    # within_class_correlation with 4 slides of class 0 whose two scores agree (correlation 1) an…
    'audit6_stats_wcc_unweighted_spare': (
        'milhelpers/stats.py',
        'ws.append(m.sum())',
        'ws.append(1)',
        'tests/test_stats.py -k test_within_class_correlation_weights_each_class_by_its_size'),
    # cumulative_attention([np.array([0.5, 0.3, 0.2])], 1): curve [0.5] expected; the mutant sums…
    'audit6_metrics_cumulative_ascending_spare': (
        'milhelpers/metrics.py',
        'c = np.cumsum(np.sort(a)[::-1])',
        'c = np.cumsum(np.sort(a))',
        'tests/test_branch_attention.py -k test_cumulative_attention_hand_computed_with_bags_shorter_than_k'),
    # bag_metrics([1, 1], [[0.2, 0.8], [0.4, 0.6]]): auc NaN with the other metrics defined expec…
    'audit6_metrics_single_class_auc_spare': (
        'milhelpers/metrics.py',
        'if len(np.unique(labels)) < 2:',
        'if len(np.unique(labels)) < 1:',
        'tests/test_metrics_viz.py -k test_one_class_auc_does_not_lean_on_scikit_learns_own_fallback'),
    # write_coords(tmp/'new'/'sub'/'a.h5', ...) where new/ does not exist: written expected; the …
    'audit6_io_mkdir_no_parents_spare': (
        'milhelpers/h5io.py',
        'path.parent.mkdir(parents=True, exist_ok=True)',
        'path.parent.mkdir(exist_ok=True)',
        'tests/test_features.py -k test_band_reads_equal_single_patch_reads'),
    # check_seeds([0, 1]): [0, 1] expected, mutant raises ParameterError for seed 0.
    'audit6_params_seed_zero_refused_spare': (
        'milhelpers/params.py',
        'out = [check_int(s, name, 0) for s in seeds]',
        'out = [check_int(s, name, 1) for s in seeds]',
        'tests/test_params.py -k test_missing_paths_and_half_given_user_data'),
    # score_picks(r_h=0.05) on a 40-patch bag: 2 patches drawn at random from the top 4 instead o…
    'audit6_a6x_mhim_score_picks_rhr': (
        'milhelpers/models/mhim.py',
        'top = mhim_mask(s, None, r_h, 1.0)[0]',
        'top = mhim_mask(s, None, r_h, 0.5)[0]',
        'tests/test_mhim.py -k test_score_picks_and_their_figure'),
    # RecycleNetwork(dim=128): queries start in ±0.136 instead of ±0.083 (max |queries| exceeds t…
    'audit6_a6x_mhim_recycle_bound': (
        'milhelpers/models/mhim.py',
        'bound = math.sqrt(6.0 / (3 * 16 * 16 + dim))',
        'bound = math.sqrt(6.0 / (16 * 16 + dim))',
        'tests/test_fidelity.py -k test_mhim_v2_queries_initialisation_and_no_gradient'),
    # MHIM in eval mode on a padded batch (lengths 3 and 5): the short bag's student output atten…
    'audit6_a6x_mhim_eval_drops_mask': (
        'milhelpers/models/mhim.py',
        'return self.student(x, mask)\n        masked, t',
        'return self.student(x)\n        masked, t',
        'tests/test_fidelity.py -k test_mhim_v1_teacher_scores_in_train_mode_on_the_full_bag'),
    # RecycleNetwork(dim=512) under torch.manual_seed(0): W_q/W_k/W_v/W_o weights drawn uniform o…
    'audit6_a6x_mhim_recycle_xavier_uniform': (
        'milhelpers/models/mhim.py',
        'nn.init.xavier_normal_(m.weight)',
        'nn.init.xavier_uniform_(m.weight)',
        'tests/test_mhim_paths.py -k test_recycle_network_weights_start_xavier_normal_with_zero_biases'),
    # pareto_front costs [[1,5],[5,1]], values [0.8,0.8]: each is no worse in one cost, so both a…
    'audit6_a6x_stats_pareto_any_cost': (
        'milhelpers/stats.py',
        'no_worse = (c <= c[i]).all(1) & (v >= v[i])',
        'no_worse = (c <= c[i]).any(1) & (v >= v[i])',
        'tests/test_stats.py -k test_pareto_front_by_hand_with_two_costs_ties_and_nan'),
    # paired_slide_means with NaN on some slides (e.g. top-5 mass NaN on negatives): a resample w…
    'audit6_a6x_stats_means_boot_unweighted': (
        'milhelpers/stats.py',
        'boot = (w[:, ok] @ d[ok]) / w[:, ok].sum(1)',
        'boot = (w[:, ok] @ d[ok]) / ok.sum()',
        'tests/test_runner_paths.py -k test_paired_slide_means_resamples_divide_by_the_drawn_slides'),
    # simulate_scores(rho_methods=0.7, rho_repeats=0.4): the method and repeat components are swa…
    'audit6_a6x_stats_sim_g_b_swapped': (
        'milhelpers/stats.py',
        'a2, g2, b2 = rho_cross, rho_methods - rho_cross, rho_repeats - rho_cross',
        'a2, b2, g2 = rho_cross, rho_methods - rho_cross, rho_repeats - rho_cross',
        'tests/test_stats.py -k test_simulated_scores_have_the_asked_aucs_and_correlations'),
    # settings_side_by_side with two methods whose p are 0.03 and 0.04 (Holm-adjusted 0.06): verd…
    'audit6_a6x_stats_sbs_verdict_on_p': (
        'milhelpers/stats.py',
        'cell[f"{name}: verdict"] = "clear" if r.clear else "no evidence either way"',
        'cell[f"{name}: verdict"] = "clear" if r.p < ALPHA else "no evidence either way"',
        'tests/test_runner_paths.py -k test_settings_side_by_side_calls_clear_on_the_holm_adjusted_p'),
    # showcase picks with two micro-metastasis candidates of 40 and 90 patches: 'micro' picks the…
    'audit6_a6x_cmp_micro_smallest': (
        'milhelpers/comparison.py',
        'ascending=[False, True]).iloc[0]',
        'ascending=[True, True]).iloc[0]',
        'tests/test_comparison.py -k test_showcase_slides_follow_their_stated_rules'),
    # paired(a, b) where A ran seeds {0,1} and B only {0}: seed 1 is included, every slide has 3 …
    'audit6_a6x_runner_aligned_seed_union': (
        'milhelpers/experiments.py',
        'seeds = sorted(set(oa.seed) & set(ob.seed))',
        'seeds = sorted(set(oa.seed) | set(ob.seed))',
        'tests/test_runner_paths.py -k test_paired_comparisons_use_only_the_seeds_both_methods_ran'),
})


MUTANTS.update({
    # --- round 7 (t1): argument bounds at exactly their edge, one module per branch/head/teacher
    # ACMIL(in_dim=0) accepted (bound 0 instead of 1): a model with no input features
    "r7models_acmil_in_dim_zero_allowed": (
        "milhelpers/models/acmil.py", '("in_dim", in_dim, 1)', '("in_dim", in_dim, 0)',
        "tests/test_acmil.py -k test_acmil_sizes_at_exactly_their_smallest_allowed_value"),
    # ACMIL(embed_dim=1) refused (bound 2 instead of 1): the smallest width no longer builds
    "r7models_acmil_embed_dim_one_refused": (
        "milhelpers/models/acmil.py", '("embed_dim", embed_dim, 1)', '("embed_dim", embed_dim, 2)',
        "tests/test_acmil.py -k test_acmil_sizes_at_exactly_their_smallest_allowed_value"),
    # ACMIL(top_k=2.5) accepted (the integer check dropped, only bools refused): K silently 2
    "r7models_acmil_float_size_accepted": (
        "milhelpers/models/acmil.py",
        "if not isinstance(value, Integral) or isinstance(value, bool) or value < low:",
        "if isinstance(value, bool) or value < low:",
        "tests/test_acmil.py -k test_acmil_sizes_at_exactly_their_smallest_allowed_value"),
    # the slide classifier is branch 0's classifier: one module trained by two heads
    "r7models_acmil_slide_classifier_is_branch_0": (
        "milhelpers/models/acmil.py", "self.classifier = nn.Linear(embed_dim, n_classes)",
        "self.classifier = self.branch_classifiers[0]",
        "tests/test_acmil.py -k test_each_branch_has_its_own_classifier_with_its_own_parameters"),
    # the gate reuses the tanh branch's Linear: tanh(Vh) ⊙ σ(Vh), no U of its own
    "r7models_abmil_gate_shares_tanh_linear": (
        "milhelpers/models/abmil.py",
        "self.gate = (nn.Sequential(nn.Linear(dim, hidden), nn.Sigmoid()",
        "self.gate = (nn.Sequential(self.tanh[0], nn.Sigmoid()",
        "tests/test_models.py -k test_gated_attention_has_its_own_tanh_and_gate_layers"),
    # checkpointed_forward(chunk=1) refused (bound 2 instead of 1)
    "r7models_checkpoint_chunk_one_refused": (
        "milhelpers/models/abmil.py", "if chunk < 1:", "if chunk < 2:",
        "tests/test_models.py -k test_checkpointed_forward_accepts_chunk_one"),
    # as_batch lets 4-D features through (only too few axes refused)
    "r7models_as_batch_accepts_4d": (
        "milhelpers/models/base.py", "    if x.dim() != 3:\n", "    if x.dim() < 3:\n",
        "tests/test_models.py -k test_as_batch_takes_rank_2_and_3_only_and_a_bag_with_one_real_instance"),
    # MILOutput checks the logits' batch size but not their rank: (B,) logits accepted
    "r7models_output_logits_rank_unchecked": (
        "milhelpers/models/base.py",
        "if self.logits.dim() != 2 or self.logits.shape[0] != b:",
        "if self.logits.shape[0] != b:",
        "tests/test_models.py -k test_output_rank_and_batch_checks_on_every_tensor"),
    # a mask of another batch size passes the shape check (then fails to broadcast, or worse)
    "r7models_mask_batch_size_unchecked": (
        "milhelpers/models/base.py",
        "if mask is not None and (mask.dim() != 2 or mask.shape[0] != logits.shape[0]\n",
        "if mask is not None and (mask.dim() != 2\n",
        "tests/test_models.py -k test_output_rank_and_batch_checks_on_every_tensor"),
    # r_l is never range-checked: r_l = 1.5 masks the whole bag without complaint
    "r7models_mhim_r_l_unchecked": (
        "milhelpers/models/mhim.py",
        'r_h, r, r_l = (_check_ratio(k, v) for k, v in (("r_h", r_h), ("r", r), ("r_l", r_l)))',
        'r_h, r = (_check_ratio(k, v) for k, v in (("r_h", r_h), ("r", r)))',
        "tests/test_mhim_paths.py -k test_each_masking_ratio_accepts_exactly_0_and_1_and_refuses_just_outside"),
    # ratios' upper bound with a float tolerance: 1.000001 accepted (masks more than the bag)
    "r7models_mhim_ratio_tolerant_upper": (
        "milhelpers/models/mhim.py", "or v > upper or math.isnan(v)",
        "or v > upper + 1e-3 or math.isnan(v)",
        "tests/test_mhim_paths.py -k test_each_masking_ratio_accepts_exactly_0_and_1_and_refuses_just_outside"),
    # merge_ratio = 0 refused (checked as open at 0, like r_hr)
    "r7models_mhim_merge_ratio_zero_refused": (
        "milhelpers/models/mhim.py",
        'self.merge_ratio = _check_ratio("merge_ratio", merge_ratio)',
        'self.merge_ratio = _check_ratio("merge_ratio", merge_ratio, open_low=True)',
        "tests/test_mhim_paths.py -k test_r_hr_is_open_at_0_and_closed_at_1_and_merge_ratio_closed_at_both"),
    # MHIM accepts an unknown score at construction (it fails only at the first training step)
    "r7models_mhim_score_unchecked": (
        "milhelpers/models/mhim.py",
        "        if score not in SCORES:\n            raise ValueError(f\"score={score!r}: choose from {list(SCORES)}\")\n        mhim_mask(",
        "        if not score:\n            raise ValueError(f\"score={score!r}: choose from {list(SCORES)}\")\n        mhim_mask(",
        "tests/test_mhim_paths.py -k test_r_hr_is_open_at_0_and_closed_at_1_and_merge_ratio_closed_at_both"),
    # the recycle network's keys use the queries' map: W_k = W_q
    "r7models_recycle_keys_share_query_map": (
        "milhelpers/models/mhim.py", "self.to_k = nn.Linear(dim, inner, bias=False)",
        "self.to_k = self.to_q",
        "tests/test_mhim_paths.py -k test_recycle_network_has_its_own_query_key_value_and_output_maps"),
    # student_init='projection' makes the student use the teacher's projection module itself
    # (frozen, and moved by the EMA) instead of a copy of its weights
    "r7models_mhim_student_shares_teacher_projection": (
        "milhelpers/methods.py",
        "student.project.load_state_dict(teacher.project.state_dict())",
        "student.project = teacher.project",
        "tests/test_mhim_paths.py -k test_the_teacher_is_a_copy_of_the_pretrained_baseline_not_the_baseline_itself"),
    # the ADS's output map is its embedding's Linear: one matrix applied twice
    "r7models_ads_out_shares_embedding": (
        "milhelpers/models/packmil.py", "self.out = nn.Linear(dim, dim)", "self.out = self.embed[0]",
        "tests/test_packing_paths.py -k test_ads_has_its_own_score_embedding_and_output_layers"),
    # topk_members(a, 0) returns no member instead of raising
    "r7models_topk_members_k0_allowed": (
        "milhelpers/metrics.py",
        '    if k < 1:\n        raise ValueError(f"k must be >= 1, got {k}")\n    a = _per_head(attention)\n    member',
        '    if k < 0:\n        raise ValueError(f"k must be >= 1, got {k}")\n    a = _per_head(attention)\n    member',
        "tests/test_metrics_viz.py -k test_topk_mass_and_topk_members_refuse_k_zero_and_accept_k_one"),
    # aem_term accepts λ = inf (only NaN refused)
    "r7models_aem_lambda_inf_accepted": (
        "milhelpers/losses.py", "or not math.isfinite(lam) or lam < 0",
        "or math.isnan(lam) or lam < 0",
        "tests/test_losses.py -k test_aem_lambda_accepts_exactly_zero_and_refuses_infinities"),
    # a multi-label target of exactly 1 refused
    "r7models_targets_one_refused": (
        "milhelpers/losses.py", "if ((targets < 0) | (targets > 1)).any():",
        "if ((targets < 0) | (targets >= 1)).any():",
        "tests/test_losses.py -k test_multilabel_targets_accept_exactly_0_and_1_and_refuse_just_outside"),
    # multi-label targets of rank 3 accepted when their shape matches the logits
    "r7models_targets_rank_unchecked": (
        "milhelpers/losses.py", "if logits.shape != targets.shape or logits.dim() != 2:",
        "if logits.shape != targets.shape:",
        "tests/test_losses.py -k test_multilabel_targets_accept_exactly_0_and_1_and_refuse_just_outside"),
    # soft targets of another (broadcastable) shape accepted
    "r7models_soft_target_shape_unchecked": (
        "milhelpers/losses.py", "    if logits.shape != targets.shape:\n        raise ValueError(f\"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ\")",
        "    if logits.dim() != targets.dim():\n        raise ValueError(f\"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ\")",
        "tests/test_losses.py -k test_soft_targets_of_another_shape_are_refused"),
    # hyperslide_loss(unknown) raises a bare KeyError instead of the named ValueError
    "r7models_hyperslide_name_unchecked": (
        "milhelpers/losses.py", "    if name not in HYPERSLIDE_LOSSES:\n", "    if not name:\n",
        "tests/test_losses.py -k test_hyperslide_losses_by_name_and_an_unknown_name_refused"),
    # ---- round 7: bounds at exactly the bound, relative tolerances, the runner's meta by hand,
    # stats at hand-computed points (each with the round-7 test written for it)
    # level 0 exactly 10 % finer than asked is no longer "close": the 2× coarser level is read
    "r7bounds_tiling_seglevel_close_strict": (
        "milhelpers/tiling.py",
        "if downsamples[fine] >= target_ds / 1.1 or",
        "if downsamples[fine] > target_ds / 1.1 or",
        "tests/test_tiling_paths.py -k test_segmentation_level_at_exactly_its_two_thresholds"),
    # a given mpp exactly 10 % from the file's value is called a conflict
    "r7bounds_slides_mpp_tolerance_strict": (
        "milhelpers/slides.py",
        "if abs(given - file) <= MPP_TOLERANCE * file:",
        "if abs(given - file) < MPP_TOLERANCE * file:",
        "tests/test_slides.py -k test_given_mpp_agrees_within_ten_percent_of_the_files_value"),
    # an mpp-x of 0 counts as a value: the file's mpp is halved (or 0)
    "r7bounds_slides_file_mpp_zero_counts": (
        "milhelpers/slides.py",
        "if math.isfinite(v) and v > 0:",
        "if math.isfinite(v) and v >= 0:",
        "tests/test_slides.py -k test_file_mpp_ignores_zero_and_negative_values"),
    # a file saying exactly 0.05 or 20 µm/px is called implausible
    "r7bounds_slides_mpp_range_open": (
        "milhelpers/slides.py",
        "if file is not None and not lo <= file <= hi:",
        "if file is not None and not lo < file < hi:",
        "tests/test_slides.py -k test_file_mpp_exactly_at_the_plausible_range_ends_is_used"),
    # a level of exactly 2e8 px is refused as too large to read whole
    "r7bounds_slides_read_level_limit_inclusive": (
        "milhelpers/slides.py",
        "if w * h > 2e8:",
        "if w * h >= 2e8:",
        "tests/test_slides.py -k test_a_level_of_exactly_2e8_pixels_may_be_read_whole"),
    # DeLong with one positive: the NaN covariance of a single placement poisons the variance
    "r7bounds_stats_delong_one_positive_cov": (
        "milhelpers/stats.py",
        "    if m > 1:\n        var += c @ np.cov(v10) @ c / m",
        "    if m >= 1:\n        var += c @ np.cov(v10) @ c / m",
        "tests/test_stats.py -k test_delong_with_a_single_positive_or_negative_by_hand"),
    # the same with one negative
    "r7bounds_stats_delong_one_negative_cov": (
        "milhelpers/stats.py",
        "    if n > 1:\n        var += c @ np.cov(v01) @ c / n",
        "    if n >= 1:\n        var += c @ np.cov(v01) @ c / n",
        "tests/test_stats.py -k test_delong_with_a_single_positive_or_negative_by_hand"),
    # DeLong divides by a zero standard error (identical or perfectly separated methods)
    "r7bounds_stats_delong_zero_se_divides": (
        "milhelpers/stats.py",
        "z = d / se if se > 0 else",
        "z = d / se if se >= 0 else",
        "tests/test_stats.py -k test_delong_with_zero_standard_error"),
    # the corrected t-test refuses two runs (NaN), the smallest testable number
    "r7bounds_stats_corrected_t_two_runs_refused": (
        "milhelpers/stats.py",
        "    if j < 2:\n        return out\n    se = ",
        "    if j <= 2:\n        return out\n    se = ",
        "tests/test_stats.py -k test_corrected_t_test_of_two_runs_by_hand"),
    # the model-validity check without its rounding tolerance: a boundary model is refused
    "r7bounds_stats_sim_validity_no_tolerance": (
        "milhelpers/stats.py",
        "if min(a2, g2, b2, h2) < -1e-12:",
        "if min(a2, g2, b2, h2) < 0:",
        "tests/test_stats.py -k test_simulation_accepts_correlations_at_the_model_boundary_despite_rounding"),
    # the square root of a variance rounded just below 0 (math domain error)
    "r7bounds_stats_sim_sqrt_unclipped": (
        "milhelpers/stats.py",
        "a, g, b, h = (math.sqrt(max(v, 0.0)) for v in (a2, g2, b2, h2))",
        "a, g, b, h = (math.sqrt(v) for v in (a2, g2, b2, h2))",
        "tests/test_stats.py -k test_simulation_accepts_correlations_at_the_model_boundary_despite_rounding"),
    # meta calls fixed folds "repeated" and drawn ones "fixed"
    "r7bounds_runner_meta_partitions_swapped": (
        "milhelpers/experiments.py",
        '"partitions": "fixed" if fixed else "repeated",',
        '"partitions": "repeated" if fixed else "fixed",',
        "tests/test_runner_paths.py -k test_runner_meta_by_hand_and_its_test_train_ratio_reaches_the_corrected_t"),
    # first_stages_trained counts every run trained, not only the unlisted first stages
    "r7bounds_runner_meta_first_stages_all": (
        "milhelpers/experiments.py",
        '"first_stages_trained": len(trained - listed),',
        '"first_stages_trained": len(trained),',
        "tests/test_runner_paths.py -k test_runner_meta_by_hand_and_its_test_train_ratio_reaches_the_corrected_t"),
    # n_trained counts first stages as listed runs
    "r7bounds_runner_n_trained_with_first_stages": (
        "milhelpers/experiments.py",
        "return ExperimentResult(runs, cache_dir, names, len(trained & listed), meta, slides)",
        "return ExperimentResult(runs, cache_dir, names, len(trained), meta, slides)",
        "tests/test_runner_paths.py -k test_runner_meta_by_hand_and_its_test_train_ratio_reaches_the_corrected_t"),
    # meta n_slides is the number of runs, not of slides
    "r7bounds_runner_meta_n_slides_runs": (
        "milhelpers/experiments.py",
        '"val_fraction": val_fraction, "n_slides": len(ids),',
        '"val_fraction": val_fraction, "n_slides": len(runs),',
        "tests/test_runner_paths.py -k test_runner_meta_by_hand_and_its_test_train_ratio_reaches_the_corrected_t"),
    # workers=1 (the default) counts as an engine: every call starts a Dask cluster
    "r7bounds_runner_one_worker_dask": (
        "milhelpers/experiments.py",
        "engines = [workers > 1,",
        "engines = [workers >= 1,",
        "tests/test_runner_paths.py -k test_one_worker_trains_in_process_and_two_start_a_local_cluster"),
    # a run name of exactly 120 characters is cut and hashed
    "r7bounds_sweep_run_name_cut_at_120": (
        "milhelpers/sweep.py",
        "if len(text) > 120:",
        "if len(text) >= 120:",
        "tests/test_sweep.py -k test_a_run_name_of_exactly_120_characters_is_kept_whole"),
    # ablation must be a strict subset: both halves together are refused
    "r7bounds_params_ablation_strict_subset": (
        "milhelpers/params.py",
        'or not set(ablation) <= {"mba", "stkim"}:',
        'or not set(ablation) < {"mba", "stkim"}:',
        "tests/test_params.py -k test_chapter03_ablation_may_name_both_halves"),
    # split draws the residual cap's subsample from the global stream, not its generator
    'r7seeds_split_res_cap_ignores_generator': (
        'milhelpers/packing.py',
        'res = res[torch.randperm(len(res), generator=generator)[:cap]]',
        'res = res[torch.randperm(len(res))[:cap]]',
        'tests/test_packing.py -k test_split_slide_draws_every_permutation_from_its_generator'),
    # pack_collate drops the generator it was given: splits come from the global stream
    'r7seeds_collate_drops_its_generator': (
        'milhelpers/packing.py',
        'self.max_len * r,\n                                 self.generator)',
        'self.max_len * r,\n                                 None)',
        'tests/test_packing.py -k test_pack_collate_with_its_own_generator_ignores_the_global_stream'),
    # pack_collate refuses min_len = 0 (always split)
    'r7seeds_min_len_zero_refused': (
        'milhelpers/packing.py',
        '_check_positive_int(self.min_len, "min_len", 0)',
        '_check_positive_int(self.min_len, "min_len", 1)',
        'tests/test_packing.py -k test_packing_arguments_at_exactly_their_bounds'),
    # p = 0 accepted as the main branch's share
    'r7seeds_share_zero_accepted': (
        'milhelpers/packing.py',
        'not 0 < p <= 1',
        'not 0 <= p <= 1',
        'tests/test_packing.py -k test_packing_arguments_at_exactly_their_bounds'),
    # split_slide refuses cap = 1 (its minimum)
    'r7seeds_cap_of_one_refused': (
        'milhelpers/packing.py',
        'cap = _check_positive_int(cap, "cap")',
        'cap = _check_positive_int(cap, "cap", 2)',
        'tests/test_packing.py -k test_packing_arguments_at_exactly_their_bounds'),
    # whole slides skip the ADS while training (per-token ADS only in eval)
    'r7seeds_unpacked_ads_skipped_in_training': (
        'milhelpers/models/packmil.py',
        '            x, mask = as_batch(x, mask)\n            if self.ads is not None:',
        '            x, mask = as_batch(x, mask)\n            if self.ads is not None and not self.training:',
        'tests/test_packing.py -k test_unpacked_forward_applies_the_ads_per_token_in_both_modes'),
    # every fold of a seed runs with the same seed
    'r7seeds_run_seed_ignores_fold': (
        'milhelpers/train.py',
        'return 1000 * int(seed) + int(fold)',
        'return 1000 * int(seed)',
        'tests/test_train_paths.py -k test_run_seed_gives_every_seed_and_fold_its_own_stream'),
    # the training loader shuffles from torch's global stream, not its seeded generator
    'r7seeds_loader_shuffles_from_global_stream': (
        'milhelpers/train.py',
        'collate_fn=collate_fn,\n                      generator=g)',
        'collate_fn=collate_fn)',
        'tests/test_train_paths.py -k test_loader_order_follows_its_seed_not_the_global_stream'),
    # a batch_sampler factory gets an unseeded generator: one order for every seed
    'r7seeds_batch_sampler_unseeded_generator': (
        'milhelpers/train.py',
        'batch_sampler=batch_sampler(ds, g)',
        'batch_sampler=batch_sampler(ds, torch.Generator())',
        'tests/test_train_paths.py -k test_loader_order_follows_its_seed_not_the_global_stream'),
    # seed_everything leaves NumPy's global generator unseeded
    'r7seeds_seed_everything_skips_numpy': (
        'milhelpers/train.py',
        '    np.random.seed(seed)\n    torch.manual_seed(seed)\n',
        '    torch.manual_seed(seed)\n',
        'tests/test_train_paths.py -k test_seed_everything_seeds_python_numpy_and_torch'),
    # seed_everything leaves Python's random unseeded
    'r7seeds_seed_everything_skips_python': (
        'milhelpers/train.py',
        '    random.seed(seed)\n    np.random.seed(seed)\n',
        '    np.random.seed(seed)\n',
        'tests/test_train_paths.py -k test_seed_everything_seeds_python_numpy_and_torch'),
    # predict hands every model back in training mode
    'r7seeds_predict_returns_model_training': (
        'milhelpers/train.py',
        'model.train(was_training)',
        'model.train(True)',
        'tests/test_train_paths.py -k test_predict_runs_in_eval_and_gives_the_model_back_in_its_mode'),
    # predict runs with dropout on
    'r7seeds_predict_not_in_eval': (
        'milhelpers/train.py',
        '    model.eval()\n    ids, labels',
        '    ids, labels',
        'tests/test_train_paths.py -k test_predict_runs_in_eval_and_gives_the_model_back_in_its_mode'),
    # fit never switches the model to training: an eval model trains without dropout
    'r7seeds_fit_not_in_train_mode': (
        'milhelpers/train.py',
        '        model.train()\n        sums',
        '        sums',
        'tests/test_train_paths.py -k test_fit_trains_in_train_mode_even_when_handed_an_eval_model'),
    # torch_threads refuses one thread
    'r7seeds_threads_one_refused': (
        'milhelpers/train.py',
        'or threads < 1:',
        'or threads <= 1:',
        'tests/test_train_paths.py -k test_torch_threads_at_exactly_its_bound'),
    # the worker's encoder cache ignores the encoder name
    'r7seeds_encoder_key_no_name': (
        'milhelpers/features.py',
        'key = (encoder_name, None if weights is None else str(weights), input_size, str(dev))',
        'key = (None if weights is None else str(weights), input_size, str(dev))',
        'tests/test_features.py -k test_extract_slide_rebuilds_its_encoder_when_any_key_field_changes'),
    # the worker's encoder cache ignores the weights
    'r7seeds_encoder_key_no_weights': (
        'milhelpers/features.py',
        'key = (encoder_name, None if weights is None else str(weights), input_size, str(dev))',
        'key = (encoder_name, input_size, str(dev))',
        'tests/test_features.py -k test_extract_slide_rebuilds_its_encoder_when_any_key_field_changes'),
    # the worker's encoder cache ignores the device
    'r7seeds_encoder_key_no_device': (
        'milhelpers/features.py',
        'key = (encoder_name, None if weights is None else str(weights), input_size, str(dev))',
        'key = (encoder_name, None if weights is None else str(weights), input_size)',
        'tests/test_features.py -k test_extract_slide_rebuilds_its_encoder_when_any_key_field_changes'),
    # ungrouped folds draw from NumPy's global state, not their seed
    'r7seeds_folds_global_random_state': (
        'milhelpers/datasets.py',
        'skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)',
        'skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=None)',
        'tests/test_datasets.py -k test_splits_follow_their_seed_not_numpys_global_state'),
    # grouped folds draw from NumPy's global state, not their seed
    'r7seeds_grouped_folds_global_random_state': (
        'milhelpers/datasets.py',
        'shuffle=True, random_state=seed)\n    return [(tr, te)',
        'shuffle=True, random_state=None)\n    return [(tr, te)',
        'tests/test_datasets.py -k test_splits_follow_their_seed_not_numpys_global_state'),
    # the validation split draws from NumPy's global state, not its seed
    'r7seeds_val_split_global_random_state': (
        'milhelpers/datasets.py',
        'stratify=y, random_state=seed)',
        'stratify=y, random_state=None)',
        'tests/test_datasets.py -k test_splits_follow_their_seed_not_numpys_global_state'),
    # the grouped validation split draws from NumPy's global state, not its seed
    'r7seeds_grouped_val_split_global_random_state': (
        'milhelpers/datasets.py',
        'shuffle=True, random_state=seed)\n    tr, va = next(',
        'shuffle=True, random_state=None)\n    tr, va = next(',
        'tests/test_datasets.py -k test_splits_follow_their_seed_not_numpys_global_state'),
    # k = 1 fold reaches scikit-learn (its error names no argument of ours)
    'r7seeds_one_fold_passes_the_check': (
        'milhelpers/datasets.py',
        'if k < 2:\n        raise ValueError(f"k={k}: cross',
        'if k < 1:\n        raise ValueError(f"k={k}: cross',
        'tests/test_datasets.py -k test_split_arguments_at_exactly_their_bounds'),
    # a class with exactly k bags is refused
    'r7seeds_class_of_exactly_k_refused': (
        'milhelpers/datasets.py',
        '    if n < k:\n',
        '    if n <= k:\n',
        'tests/test_datasets.py -k test_split_arguments_at_exactly_their_bounds'),
    # val_fraction = 1 passes our check (scikit-learn's error names test_size)
    'r7seeds_val_fraction_one_passes_the_check': (
        'milhelpers/datasets.py',
        'if not 0 < val_fraction < 1:',
        'if not 0 < val_fraction <= 1:',
        'tests/test_datasets.py -k test_split_arguments_at_exactly_their_bounds'),
    # val_fraction = 0 passes our check (scikit-learn's error names test_size)
    'r7seeds_val_fraction_zero_passes_the_check': (
        'milhelpers/datasets.py',
        'if not 0 < val_fraction < 1:',
        'if not 0 <= val_fraction < 1:',
        'tests/test_datasets.py -k test_split_arguments_at_exactly_their_bounds'),
    # a grouped split of k = 1 fold passes our check
    'r7seeds_grouped_one_fold_passes_the_check': (
        'milhelpers/datasets.py',
        '    if k < 2:\n        raise ValueError(f"val_fraction',
        '    if k < 1:\n        raise ValueError(f"val_fraction',
        'tests/test_datasets.py -k test_split_arguments_at_exactly_their_bounds'),
})


# the fifth held-out audit (audit7: 60 mutants written from the package source by auditors who
# read no test, no mutant list and no earlier audit; docs/audits/audit7.md): 48 killed by the
# tests of commit c72dfc7, each of which runs the test that killed it; each of the 12 survivors
# runs the test written for it since (round 7).
MUTANTS.update({
    # The random order is ranked across bags instead of across each branch's top-K ranks: for a s…
    'audit7_acmil_stkim_order_wrong_axis': (
        'milhelpers/models/acmil.py',
        'order = keys.argsort(-1).argsort(-1)',
        'order = keys.argsort(0).argsort(0)',
        'tests/test_acmil.py -k test_stkim_hides_exactly_floor_k_mask_drop_of_each_branchs_own_top_k_never_padding'),
    # acmil_method() no longer matches the registered acmil (returns a new variant named acmil_M5…
    'audit7_acmil_method_opts_drop_topk': (
        'milhelpers/methods.py',
        'opts = {"n_branches": n_branches, "top_k": top_k, "mask_drop": float(mask_drop)}',
        'opts = {"n_branches": n_branches, "mask_drop": float(mask_drop)}',
        'tests/test_methods.py -k test_acmil_method_returns_the_stkim_entry_and_names_long_numbers_exactly'),
    # acmil_method(mask_drop=1.5) (or -0.1) no longer raises ValueError at construction; it retur…
    'audit7_acmil_method_validation_drops_maskdrop': (
        'milhelpers/methods.py',
        'ACMIL(8, 2, n_branches=n_branches, top_k=top_k, mask_drop=mask_drop)   # bad options fail here',
        'ACMIL(8, 2, n_branches=n_branches, top_k=top_k)   # bad options fail here',
        'tests/test_acmil.py -k test_acmil_method_returns_the_registered_ablation_entries_or_a_named_variant'),
    # ACMIL(8, n_classes=1) is accepted (building 1-logit classifiers) instead of raising ValueEr…
    'audit7_acmil_nclasses_one_allowed': (
        'milhelpers/models/acmil.py',
        'for name, value, low in (("in_dim", in_dim, 1), ("n_classes", n_classes, 2),',
        'for name, value, low in (("in_dim", in_dim, 1), ("n_classes", n_classes, 1),',
        'tests/test_acmil.py -k test_acmil_sizes_at_exactly_their_smallest_allowed_value'),
    # All M branch classifiers are the same Linear module (shared weights): fewer parameters, and…
    'audit7_acmil_shared_branch_classifier': (
        'milhelpers/models/acmil.py',
        'self.branch_classifiers = nn.ModuleList(nn.Linear(embed_dim, n_classes)\n                                                for _ in range(n_branches))',
        'self.branch_classifiers = nn.ModuleList([nn.Linear(embed_dim, n_classes)]\n                                                * n_branches)',
        'tests/test_acmil.py -k test_each_branch_has_its_own_classifier_with_its_own_parameters'),
    # In training with mask_drop>0 the branch/slide embeddings pool with the unmasked softmax, so…
    'audit7_acmil_softmax_ignores_stkim': (
        'milhelpers/models/acmil.py',
        'a = masked_softmax(scores, mask)                                   # (B, M, N)',
        'a = masked_softmax(self.attention(h).transpose(1, 2), mask)       # (B, M, N)',
        'tests/test_acmil.py -k test_model_masks_in_training_the_branch_attention_and_slide_attention_uses_it'),
    # The registered acmil_stkim ablation builds M=5 branches with branch CE and diversity losses…
    'audit7_acmil_stkim_ablation_keeps_branches': (
        'milhelpers/methods.py',
        '_acmil.with_options("acmil_stkim", n_branches=1),',
        '_acmil.with_options("acmil_stkim"),',
        'tests/test_methods.py -k test_acmil_method_returns_the_stkim_entry_and_names_long_numbers_exactly'),
    # aem_term(lam, schedule='cosine') gets a constant weight lam instead of cosine_ramp(lam, 0),…
    'audit7_aem_schedule_ignored': (
        'milhelpers/losses.py',
        'return LossTerm("neg_entropy", neg_entropy, weight)',
        'return LossTerm("neg_entropy", neg_entropy, float(lam))',
        'tests/test_aem.py -k test_cosine_schedule_hand_checked_and_constant_stays'),
    # attention_entropy(logits) defaults to dividing by log N, so uniform attention over 4 instan…
    'audit7_aem_entropy_default_normalized': (
        'milhelpers/losses.py',
        '                      normalize: bool = False) -> torch.Tensor:\n    """Entropy of each head',
        '                      normalize: bool = True) -> torch.Tensor:\n    """Entropy of each head',
        'tests/test_losses.py -k test_entropy_hand_computed_and_padding_contributes_exactly_nothing'),
    # Half/bfloat16 logits are no longer promoted to float32: masked_fill with the float32 minimu…
    'audit7_aem_entropy_no_float32': (
        'milhelpers/losses.py',
        'z = attention_logits.float()',
        'z = attention_logits',
        'tests/test_losses.py -k test_entropy_is_finite_in_half_precision_with_padding'),
    # AEM_VARIANTS['log_n'] becomes cosine+log_n, so the log_n variant is trained with an anneale…
    'audit7_aem_variant_logn_cosine': (
        'milhelpers/methods.py',
        '"log_n": ("constant", "log_n")}',
        '"log_n": ("cosine", "log_n")}',
        'tests/test_aem.py -k test_aem_or_base_reuses_the_baseline_at_lambda_zero'),
    # When the cap bites on the main part, the subsample is drawn from the global RNG, so split_s…
    'audit7_packmil_cap_ignores_generator': (
        'milhelpers/packing.py',
        'main = main[torch.randperm(len(main), generator=generator)[:cap]]',
        'main = main[torch.randperm(len(main))[:cap]]',
        'tests/test_packing.py -k test_split_slide_draws_every_permutation_from_its_generator'),
    # Padding tokens of shorter packs get slide index 0 and mask True, so for parts of lengths [3…
    'audit7_packmil_pad_index_zero': (
        'milhelpers/packing.py',
        'index = torch.full((len(packs), t), -1, dtype=torch.long, device=ref.device)',
        'index = torch.full((len(packs), t), 0, dtype=torch.long, device=ref.device)',
        'tests/test_packing.py -k test_pack_tensors_index_and_padding'),
    # The residual (hyperslide) branch receives each slide's main-part instances instead of the l…
    'audit7_packmil_residual_uses_main_indices': (
        'milhelpers/packing.py',
        'ress.append(b.features[ri])',
        'ress.append(b.features[mi])',
        'tests/test_packing_paths.py -k test_batch_without_residual_branch_has_no_targets_and_keeps_given_kwargs'),
    # PackedBatch.hyperslide_labels(C, 'tokenmix') returns multi-hot targets (e.g. [0.5, 1.0]) in…
    'audit7_packmil_hyperslide_labels_drop_kind': (
        'milhelpers/packing.py',
        'return hyperslide_label(self.labels, self.residual_counts, n_classes, kind)',
        'return hyperslide_label(self.labels, self.residual_counts, n_classes)',
        'tests/test_packing.py -k test_collated_hyperslide_targets_match_both_definitions'),
    # In eval mode a PackMIL with ads_ratio=4 skips the ADS re-weighting/embedding on whole slide…
    'audit7_packmil_ads_skipped_in_eval': (
        'milhelpers/models/packmil.py',
        '            x, mask = as_batch(x, mask)\n            if self.ads is not None:',
        '            x, mask = as_batch(x, mask)\n            if self.ads is not None and self.training:',
        'tests/test_packing.py -k test_unpacked_forward_applies_the_ads_per_token_in_both_modes'),
    # packmil_method(lr=1e-3) is named 'packmil' like the default (no lr tag), so the runner's ca…
    'audit7_packmil_name_drops_lr': (
        'milhelpers/methods.py',
        '"alpha": alpha, "batch_size": batch_size, "lr": lr, "target": target,',
        '"alpha": alpha, "batch_size": batch_size, "target": target,',
        'tests/test_packing_paths.py -k test_packmil_method_hands_its_options_to_collate_model_and_loss'),
    # packmil_method(target='tokenmix') trains the hyperslide with binary cross-entropy (model_kw…
    'audit7_packmil_tokenmix_default_bce': (
        'milhelpers/methods.py',
        '_TARGET_LOSS = {"multihot": "bce", "tokenmix": "ce"}',
        '_TARGET_LOSS = {"multihot": "bce", "tokenmix": "bce"}',
        'tests/test_fidelity.py -k test_packmil_total_loss_is_main_ce_plus_alpha_times_bce'),
    # v1 training forward passes the padding mask instead of mask & ~masked, so the student sees …
    'audit7_mhim_v1_student_sees_full_bag': (
        'milhelpers/models/mhim.py',
        '            out = self.student(x, visible)',
        '            out = self.student(x, mask)',
        'tests/test_mhim.py -k test_student_sees_the_bag_without_the_masked_instances'),
    # recycle_split keeps one instance too many (⌊Lρ⌋+1) and that instance is also in the recycle…
    'audit7_mhim_recycle_split_keep_off_by_one': (
        'milhelpers/models/mhim.py',
        '        kept[b, perm[:n_keep]] = True',
        '        kept[b, perm[:n_keep + 1]] = True',
        'tests/test_mhim.py -k test_v2_trains_on_padded_batches_and_never_recycles_padding'),
    # the k recycle tokens get a False mask when concatenated, so the student's pooling ignores t…
    'audit7_mhim_recycle_tokens_masked_out': (
        'milhelpers/models/mhim.py',
        '                ones = torch.ones(z.shape[:2], dtype=torch.bool, device=z.device)',
        '                ones = torch.zeros(z.shape[:2], dtype=torch.bool, device=z.device)',
        'tests/test_mhim.py -k test_v2_keeps_one_instance_without_recycling_and_recycles_it_with_a_network'),
    # ema_update moves the student toward the teacher (θ_S ← mθ_S + (1−m)θ_T) and leaves the teac…
    'audit7_mhim_ema_direction_swapped': (
        'milhelpers/models/mhim.py',
        '    for t, s in zip(tp, sp):',
        '    for t, s in zip(sp, tp):',
        'tests/test_mhim.py -k test_ema_update_arithmetic_on_a_tiny_model'),
    # random masking (r>0) is recorded in parts['random'] but never added to the returned mask: w…
    'audit7_mhim_random_mask_not_unioned': (
        'milhelpers/models/mhim.py',
        '            chosen[pick] = True\n            split["random"][b, idx[pick]] = True',
        '            split["random"][b, idx[pick]] = True',
        'tests/test_mhim.py -k test_padding_is_never_masked_nor_counted'),
    # high-score masking always hides the whole pool (n_h <= len(pool) always holds): with r_h=0.…
    'audit7_mhim_high_pool_fully_masked': (
        'milhelpers/models/mhim.py',
        '            pick = pool if n_h == len(pool) else \\',
        '            pick = pool if n_h <= len(pool) else \\',
        'tests/test_mhim.py -k test_randomised_high_masking_draws_from_the_top_fraction_only'),
    # recycle_split returns (recycled, kept) so a keep_ratio of 0.8 keeps ~20% of the visible ins…
    'audit7_mhim_recycle_split_swapped': (
        'milhelpers/models/mhim.py',
        '    return kept.to(visible.device), recycled.to(visible.device)',
        '    return recycled.to(visible.device), kept.to(visible.device)',
        'tests/test_mhim.py -k test_v2_trains_on_padded_batches_and_never_recycles_padding'),
    # score_picks scores every kind with attention, so its 'class_aware' entry returns the attent…
    'audit7_mhim_score_picks_kind_dropped': (
        'milhelpers/models/mhim.py',
        '        s = instance_scores(out, teacher, kind)',
        '        s = instance_scores(out, teacher)',
        'tests/test_mhim.py -k test_score_picks_and_their_figure'),
    # MHIMSchedule uses the integer step instead of step/total as t, so cos(π·t) flips between ±1…
    'audit7_mhim_schedule_uses_raw_step': (
        'milhelpers/methods.py',
        '        t = state.progress',
        '        t = state.step',
        'tests/test_mhim_paths.py -k test_method_callbacks_carry_the_methods_schedule'),
    # the teacher is the pretrained baseline object itself (not a copy): freezing and EMA updates…
    'audit7_mhim_teacher_not_copied': (
        'milhelpers/methods.py',
        '        teacher = copy.deepcopy(trained).cpu()',
        '        teacher = trained.cpu()',
        'tests/test_mhim_paths.py -k test_the_teacher_is_a_copy_of_the_pretrained_baseline_not_the_baseline_itself'),
    # p_no_tumour_visible drops the j = min(t_pool, n_h) term: a single tumour patch that is the …
    'audit7_mhim_vis_hypergeom_last_term': (
        'milhelpers/visibility.py',
        '                     for j in range(0, min(t_pool, n_h) + 1)))',
        '                     for j in range(0, min(t_pool, n_h))))',
        'tests/test_visibility.py -k test_exact_probability_matches_the_package_masks'),
    # topk_mass(a, 0) returns 0.0 instead of raising ValueError.
    'audit7_metrics_topk_mass_k0_allowed': (
        'milhelpers/metrics.py',
        '    if k < 1:\n        raise ValueError(f"k must be >= 1, got {k}")\n    a = _per_head(a)',
        '    if k < 0:\n        raise ValueError(f"k must be >= 1, got {k}")\n    a = _per_head(a)',
        'tests/test_metrics_viz.py -k test_topk_mass_and_topk_members_refuse_k_zero_and_accept_k_one'),
    # attention_entropy of (H, N) multi-head attention sums the per-head entropies instead of ave…
    'audit7_metrics_entropy_heads_summed': (
        'milhelpers/metrics.py',
        '    return float(h.mean())',
        '    return float(h.sum())',
        'tests/test_metrics_viz.py -k test_multi_head_attention_is_measured_per_head'),
    # _per_head normalises (H, N) attention over all heads jointly instead of per head, so each o…
    'audit7_metrics_per_head_joint_normalisation': (
        'milhelpers/metrics.py',
        '    total = a.sum(1, keepdims=True)',
        '    total = a.sum(keepdims=True)',
        'tests/test_metrics_viz.py -k test_multi_head_attention_is_measured_per_head'),
    # topk_members takes only the first head's top k instead of the union over heads: for (2, N) …
    'audit7_metrics_topk_members_first_head_only': (
        'milhelpers/metrics.py',
        '    for row in a:',
        '    for row in a[:1]:',
        'tests/test_metrics_viz.py -k test_top_branch_breaks_ties_by_position'),
    # _number refuses its inclusive upper bound: check_chapter05(r_hr=1 or momentum=1) and check_…
    'audit7_params_number_upper_bound_open': (
        'milhelpers/params.py',
        '          and value <= high)',
        '          and value < high)',
        'tests/test_params.py -k test_ch06_defaults_are_cleaned'),
    # check_choices([], 'methods', choices, many=True) returns [] instead of raising (chapter 02 …
    'audit7_params_choices_empty_list_allowed': (
        'milhelpers/params.py',
        '    if many and (isinstance(values, str) or not isinstance(values, Sequence) or not values):',
        '    if many and (isinstance(values, str) or not isinstance(values, Sequence)):',
        'tests/test_params.py -k test_choices_refuse_repeated_names_and_accept_distinct_ones'),
    # check_folds refuses a fold count whose training part holds exactly min_train_groups cases (…
    'audit7_params_folds_train_boundary': (
        'milhelpers/params.py',
        '    if n_train(k) < min_train_groups:',
        '    if n_train(k) <= min_train_groups:',
        'tests/test_params.py -k test_training_part_rounds_the_test_fold_up_with_an_odd_case_count'),
    # With (R, N, C) probabilities of 3+ classes the macro one-vs-rest AUC leaves out class 0's A…
    'audit7_runner_auc_ovr_drops_class0': (
        'milhelpers/stats.py',
        '    for c in (classes[1:] if binary else classes):',
        '    for c in classes[1:]:',
        'tests/test_stats.py -k test_resampling_weights_count_a_case_as_often_as_it_was_drawn'),
    # paired_slide_means counts a slide where only one method's value is NaN, so b − a is NaN the…
    'audit7_runner_slide_means_nan_and': (
        'milhelpers/stats.py',
        '    both = ~(np.isnan(a) | np.isnan(b))',
        '    both = ~(np.isnan(a) & np.isnan(b))',
        'tests/test_stats.py -k test_per_slide_means_use_the_repeats_where_both_are_defined'),
    # paired_slide_means ignores its seed argument: seed=1 and seed=0 give the identical interval…
    'audit7_runner_slide_means_seed_ignored': (
        'milhelpers/stats.py',
        '    w = _case_weights(case, strata, n_boot, np.random.default_rng(seed))\n    with np.errstate(invalid="ignore", divide="ignore"):',
        '    w = _case_weights(case, strata, n_boot, np.random.default_rng(0))\n    with np.errstate(invalid="ignore", divide="ignore"):',
        'tests/test_stats.py -k test_accuracy_difference_by_hand_and_as_a_mean_of_per_slide_correctness'),
    # DeLong's placements are taken along the wrong axis (V10 per negative, V01 per positive), so…
    'audit7_runner_delong_placement_axes': (
        'milhelpers/stats.py',
        '    v10, v01 = h.mean(2), h.mean(1)                       # (2, m), (2, n)',
        '    v10, v01 = h.mean(1), h.mean(2)                       # (2, m), (2, n)',
        'tests/test_stats.py -k test_delong_on_a_small_example_worked_by_hand'),
    # simulate_scores draws the method-specific slide effect u afresh per repeat, so with rho_cro…
    'audit7_runner_sim_method_noise_per_repeat': (
        'milhelpers/stats.py',
        '                   + b * rng.standard_normal((n_cohorts, 1, n_slides))',
        '                   + b * rng.standard_normal(shape)',
        'tests/test_stats.py -k test_simulated_scores_have_the_asked_aucs_and_correlations'),
    # min_detectable_difference skips a grid point whose power equals the target exactly (e.g. po…
    'audit7_runner_mdd_target_strict': (
        'milhelpers/stats.py',
        '        hit = np.flatnonzero(pw >= target)',
        '        hit = np.flatnonzero(pw > target)',
        'tests/test_stats.py -k test_min_detectable_difference_counts_power_equal_to_the_target'),
    # ExperimentResult.paired resamples slides instead of cases for auc/balanced_accuracy/f1, so …
    'audit7_runner_paired_auc_not_grouped': (
        'milhelpers/experiments.py',
        '                                                       groups=cases, metric=k, n_boot=n_boot,',
        '                                                       metric=k, n_boot=n_boot,',
        'tests/test_experiments.py -k test_paired_compares_the_slides_out_of_fold_scores_and_runs_for_seconds'),
    # compare() applies Holm across the metrics of each method instead of across the methods of e…
    'audit7_runner_holm_family_by_method': (
        'milhelpers/experiments.py',
        '        for k, g in table.groupby("metric", sort=False):',
        '        for k, g in table.groupby("method", sort=False):',
        'tests/test_runner_paths.py -k test_compare_applies_holm_within_each_metric_not_across_metrics'),
    # A cached run whose .json exists with the right key but whose .npz predictions were deleted …
    'audit7_runner_cache_accepts_missing_npz': (
        'milhelpers/experiments.py',
        '        if rec.get("key") != key or not npz_path.exists():',
        '        if rec.get("key") != key:',
        'tests/test_experiments.py -k test_a_damaged_cache_entry_is_trained_again_with_a_warning'),
    # meta['test_train_ratio'] becomes n_train/n_test (≈4 for 5 folds) instead of ≈0.25, inflatin…
    'audit7_runner_test_train_ratio_inverted': (
        'milhelpers/experiments.py',
        '    sizes = [(len(te), len(tr)) for part in partitions.values() for tr, te in part]',
        '    sizes = [(len(tr), len(te)) for part in partitions.values() for tr, te in part]',
        'tests/test_runner_paths.py -k test_runner_meta_by_hand_and_its_test_train_ratio_reaches_the_corrected_t'),
    # correlation_ci's bootstrap never draws the last pair (integers' high is exclusive), so the …
    'audit7_runner_corr_boot_offbyone': (
        'milhelpers/experiments.py',
        '    idx = rng.integers(0, n, size=(n_resamples, n))',
        '    idx = rng.integers(0, n - 1, size=(n_resamples, n))',
        'tests/test_intervals.py -k test_correlation_ci_bounds_are_the_exact_bootstrap_quantiles'),
    # run_split draws the validation share with seed `seed` instead of run_seed(seed, fold) = 100…
    'audit7_runner_cached_split_seed': (
        'milhelpers/cached_runs.py',
        '                                     seed=run_seed(seed, fold),',
        '                                     seed=seed,',
        'tests/test_cached_runs.py -k test_run_split_is_the_runners_split'),
    # run_seed(1, 0) == run_seed(0, 1) == 1: different repeats share a random stream (run_seed(1,…
    'audit7_runner_run_seed_collision': (
        'milhelpers/train.py',
        '    return 1000 * int(seed) + int(fold)',
        '    return int(seed) + int(fold)',
        'tests/test_train_paths.py -k test_run_seed_gives_every_seed_and_fold_its_own_stream'),
    # A labels table where one case's two slides sit in two different folds is accepted (a patien…
    'audit7_runner_case_split_folds_check': (
        'milhelpers/datasets.py',
        '        split = sorted(n_folds.index[n_folds > 1])',
        '        split = sorted(n_folds.index[n_folds > 2])',
        'tests/test_datasets.py -k test_predefined_folds_must_keep_a_case_together'),
    # tile_slide raises PatchLargerThanSlideError when the level-0 patch side equals the slide's …
    'audit7_tiling_patch_equal_slide_rejected': (
        'milhelpers/tiling.py',
        '        if size0 > min(w0, h0):  # before segmenting: nothing could be kept',
        '        if size0 >= min(w0, h0):  # before segmenting: nothing could be kept',
        'tests/test_tiling_paths.py -k test_tile_slide_takes_a_patch_exactly_as_large_as_the_slides_shorter_side'),
    # overlap is no longer part of the recorded/compared settings: re-tiling into the same folder…
    'audit7_tiling_overlap_not_in_settings': (
        'milhelpers/tiling.py',
        '    return dict(patch_size=int(patch_size), target_mpp=float(target_mpp), overlap=int(overlap),',
        '    return dict(patch_size=int(patch_size), target_mpp=float(target_mpp),',
        'tests/test_tiling.py -k test_tile_slide_writes_trident_layout'),
    # A box reaching the mask's right edge loses its last mask column, so box_fraction of an edge…
    'audit7_tiling_box_right_edge': (
        'milhelpers/tiling.py',
        '    x1 = np.clip(np.round((coords[:, 0] + size0) / downsample[0]).astype(int), 0, w)',
        '    x1 = np.clip(np.round((coords[:, 0] + size0) / downsample[0]).astype(int), 0, w - 1)',
        'tests/test_tiling.py -k test_box_fraction_with_a_non_square_downsample_by_hand'),
    # The mask's y downsample is computed from the width, so on a non-square slide the contours' …
    'audit7_tiling_mask_downsample_axis': (
        'milhelpers/tiling.py',
        '    ds = (w0 / out_w, h0 / out_h)',
        '    ds = (w0 / out_w, h0 / out_w)',
        'tests/test_tiling.py -k test_grid_is_physical_at_20x_and_40x'),
    # The mpp agreement test uses 0.1 µm/px absolute instead of 10 % of the file's value: a file …
    'audit7_tiling_mpp_tolerance_absolute': (
        'milhelpers/slides.py',
        '        if abs(given - file) <= MPP_TOLERANCE * file:',
        '        if abs(given - file) <= MPP_TOLERANCE:',
        'tests/test_slides.py -k test_given_mpp_agrees_within_ten_percent_of_the_files_value'),
    # extract_slide reuses a worker's encoder built for another input_size: a second task asking …
    'audit7_h5_encoder_cache_key_no_size': (
        'milhelpers/features.py',
        '    key = (encoder_name, None if weights is None else str(weights), input_size, str(dev))',
        '    key = (encoder_name, None if weights is None else str(weights), str(dev))',
        'tests/test_features.py -k test_extract_slide_rebuilds_its_encoder_when_any_key_field_changes'),
    # split_done(..., overwrite=True) still treats existing outputs as done: a matching file is s…
    'audit7_h5_split_done_ignores_overwrite': (
        'milhelpers/features.py',
        '    pending = [j for j in jobs if overwrite or not Path(j.out_path).exists()]',
        '    pending = [j for j in jobs if not Path(j.out_path).exists()]',
        'tests/test_features.py -k test_existing_features_with_other_settings_stop_the_run'),
    # write_features accepts 5 feature rows with 4 coordinates (writes an inconsistent file) inst…
    'audit7_h5_write_features_len_check': (
        'milhelpers/h5io.py',
        '    if len(features) != len(coords):',
        '    if len(features) < len(coords):',
        'tests/test_h5io.py -k test_coords_and_features_round_trip'),
    # run_sweep(..., overwrite=True) still skips runs whose result.json matches the key instead o…
    'audit7_sweeps_overwrite_ignored': (
        'milhelpers/sweep.py',
        '            if not overwrite and _done_before(run, keys[run.name]):',
        '            if _done_before(run, keys[run.name]):',
        'tests/test_sweep.py -k test_sweep_records_skips_redoes_and_survives_a_failing_run'),
    # _package_hash ignores sub-packages (milhelpers/models/*.py): editing a model's code leaves …
    'audit7_sweeps_package_hash_top_level_only': (
        'milhelpers/sweep.py',
        '    for path in sorted(root.rglob("*.py")):',
        '    for path in sorted(root.glob("*.py")):',
        'tests/test_sweep.py -k test_package_hash_follows_every_source_file'),
})


# the sixth held-out audit (audit8: 60 mutants written from the package source by new auditors
# who read no test, no mutant list and no earlier audit; docs/audits/audit8.md): 50 killed by
# the tests of commit 0bd5023 (round 7 included), each of which runs the test that killed it;
# each of the 10 others runs the test written for it since.
MUTANTS.update({
    # ACMIL(in_dim, 2) built with the default dropout now has nn.Dropout(p=0.0) in its projection…
    'audit8_acmil_dropout_default': (
        'milhelpers/models/acmil.py',
        '                 dropout: float = 0.25):',
        '                 dropout: float = 0.0):',
        'tests/test_acmil.py -k test_default_dropout_zeroes_a_quarter_of_the_projection_and_scales_the_rest_by_four_thirds'),
    # slide_attention sums the per-branch softmaxes instead of averaging them, so for M = 5 branc…
    'audit8_acmil_slide_attention_sum': (
        'milhelpers/models/base.py',
        '    return attention.mean(-2)',
        '    return attention.sum(-2)',
        'tests/test_acmil.py -k test_model_masks_in_training_the_branch_attention_and_slide_attention_uses_it'),
    # In training mode with STKIM active (mask_drop=0.6, a bag of >= 10 instances) attention_logi…
    'audit8_acmil_output_prestkim_scores': (
        'milhelpers/models/acmil.py',
        '        return MILOutput(self.classifier(z), scores, z, mask,',
        '        return MILOutput(self.classifier(z), mask_logits(self.attention(h).transpose(1, 2), mask), z, mask,',
        'tests/test_acmil.py -k test_model_masks_in_training_the_branch_attention_and_slide_attention_uses_it'),
    # checkpointed_forward normalises the attention within each chunk instead of over the whole b…
    'audit8_acmil_checkpoint_chunk_softmax': (
        'milhelpers/models/abmil.py',
        '    a = torch.softmax(e, dim=0)',
        '    a = torch.cat([torch.softmax(ec, dim=0) for ec in es])',
        'tests/test_models.py -k test_checkpointed_forward_rejects_chunk_zero_and_batches_and_matches_the_model'),
    # acmil_loss_terms gives the branch_ce term weight 1/M (0.2 for M=5) on top of branch_cross_e…
    'audit8_acmil_branch_ce_double_mean': (
        'milhelpers/methods.py',
        '                                                                    batch.labels)),',
        '                                                                    batch.labels), 1.0 / model.n_branches),',
        'tests/test_acmil.py -k test_loss_terms_hand_computed_on_masked_padded_attention'),
    # The registered acmil_mba ablation builds ACMIL with the default mask_drop=0.6, so STKIM sti…
    'audit8_acmil_mba_keeps_stkim': (
        'milhelpers/methods.py',
        '    _acmil.with_options("acmil_mba", mask_drop=0.0),',
        '    _acmil.with_options("acmil_mba", n_branches=5),',
        'tests/test_methods.py -k test_with_options_overrides_the_methods_own_options_and_reaches_the_model'),
    # MILOutput accepts bag logits whose batch size differs from the attention's, e.g. logits (3,…
    'audit8_acmil_miloutput_batch_check': (
        'milhelpers/models/base.py',
        '        if self.logits.dim() != 2 or self.logits.shape[0] != b:',
        '        if self.logits.dim() != 2:',
        'tests/test_models.py -k test_shapes_are_validated_not_broadcast'),
    # aem_or_base(0, schedule='linear') (or lam=0 with normalize='bogus') returns the base method…
    'audit8_aem_or_base_skips_validation': (
        'milhelpers/methods.py',
        '    aem_term(lam, schedule, normalize)          # bad options fail the same way for λ = 0',
        '    if lam != 0:\n        aem_term(lam, schedule, normalize)      # bad options fail the same way for λ = 0',
        'tests/test_aem.py -k test_aem_or_base_reuses_the_baseline_at_lambda_zero'),
    # AEM_VARIANTS['cosine'] becomes cosine schedule *with* log-N normalisation, so the 'cosine' …
    'audit8_aem_variant_cosine_logn': (
        'milhelpers/methods.py',
        '                "cosine": ("cosine", "none"),       # λ annealed to 0 (our reconstruction)',
        '                "cosine": ("cosine", "log_n"),      # λ annealed to 0 (our reconstruction)',
        'tests/test_aem.py -k test_aem_or_base_reuses_the_baseline_at_lambda_zero'),
    # negative_entropy(logits) called without normalize now divides by log N: uniform logits over…
    'audit8_aem_negentropy_default_normalize': (
        'milhelpers/losses.py',
        'def negative_entropy(attention_logits: torch.Tensor, mask: torch.Tensor | None = None,\n                     normalize: bool = False) -> torch.Tensor:',
        'def negative_entropy(attention_logits: torch.Tensor, mask: torch.Tensor | None = None,\n                     normalize: bool = True) -> torch.Tensor:',
        'tests/test_fidelity.py -k test_aem_regulariser_and_loss'),
    # Without a mask the all-real mask is built over the head axis instead of the instance axis: …
    'audit8_aem_nomask_wrong_axis': (
        'milhelpers/losses.py',
        '    real = (torch.ones(z.shape[0], z.shape[-1], dtype=torch.bool, device=z.device)',
        '    real = (torch.ones(z.shape[0], z.shape[1], dtype=torch.bool, device=z.device)',
        'tests/test_fidelity.py -k test_aem_regulariser_and_loss'),
    # ADS in training compresses a part of n tokens to ⌊n/r⌋ instead of ⌈n/r⌉ tokens (silently dr…
    'audit8_packmil_ads_floor_length': (
        'milhelpers/models/packmil.py',
        '        m = compressed_length(n, r)',
        '        m = n // r',
        'tests/test_packing.py -k test_ads_compresses_in_training_and_keeps_length_in_eval'),
    # PackMIL(gated=False) still builds a gated attention scorer (model.attention.gate is not Non…
    'audit8_packmil_gated_ignored': (
        'milhelpers/models/packmil.py',
        '        super().__init__(in_dim, n_classes, embed_dim, attn_dim, gated, dropout, n_branches=1)',
        '        super().__init__(in_dim, n_classes, embed_dim, attn_dim, True, dropout, n_branches=1)',
        'tests/test_packing_paths.py -k test_packmil_gated_false_builds_a_tanh_only_scorer_like_abmil'),
    # The softmax runs over all real tokens of the slide's pack instead of the slide's own tokens…
    'audit8_packmil_pack_wide_softmax': (
        'milhelpers/models/packmil.py',
        '        a = masked_softmax(logits_att, member)[:, 0]                   # (S, T), 0 off-slide',
        '        a = masked_softmax(e[pack_of][:, None, :], real[pack_of])[:, 0]   # (S, T), 0 off-slide',
        'tests/test_packing.py -k test_packed_outputs_equal_unpacked_outputs'),
    # When the residual part exceeds the cap, split_slide draws its subsample from the global RNG…
    'audit8_packmil_split_res_no_generator': (
        'milhelpers/packing.py',
        '            res = res[torch.randperm(len(res), generator=generator)[:cap]]',
        '            res = res[torch.randperm(len(res))[:cap]]',
        'tests/test_packing.py -k test_split_slide_draws_every_permutation_from_its_generator'),
    # sequential_packs tracks only the last part's length instead of the pack total, so lengths […
    'audit8_packmil_seqpack_total_reset': (
        'milhelpers/packing.py',
        '        packs[-1].append(i)\n        total += n',
        '        packs[-1].append(i)\n        total = n',
        'tests/test_packing.py -k test_sequential_packs_hand_computed'),
    # hyperslide_label infers the class count from the labels present, so a hyperslide of class-0…
    'audit8_packmil_onehot_nclasses': (
        'milhelpers/packing.py',
        '    onehot = torch.nn.functional.one_hot(y.to(w.device), n_classes).to(w.dtype)   # (S, C)',
        '    onehot = torch.nn.functional.one_hot(y.to(w.device)).to(w.dtype)   # (S, C)',
        'tests/test_packing.py -k test_collated_hyperslide_targets_match_both_definitions'),
    # A slide shorter than min_len now goes whole to the main part only (empty residual part) ins…
    'audit8_packmil_short_slide_not_residual': (
        'milhelpers/packing.py',
        '        main = res = torch.arange(n)',
        '        main, res = torch.arange(n), torch.arange(0)',
        'tests/test_packing.py -k test_small_slides_go_whole_to_both_and_caps_subsample'),
    # With r_l > 0 (e.g. r_h=0, r=0, r_l=0.2 on a 10-instance bag) the lowest-scored instances ar…
    'audit8_mhim_low_mask_not_applied': (
        'milhelpers/models/mhim.py',
        '            chosen[pick] = True\n            split["low"][b, idx[pick]] = True',
        '            split["low"][b, idx[pick]] = True',
        'tests/test_mhim.py -k test_low_masking_hides_the_lowest_and_union_with_high'),
    # r_hr=0 is no longer refused with ValueError: mhim_mask(..., r_h=0, r_hr=0) silently returns…
    'audit8_mhim_r_hr_zero_allowed': (
        'milhelpers/models/mhim.py',
        'r_hr = _check_ratio("r_hr", r_hr, open_low=True)',
        'r_hr = _check_ratio("r_hr", r_hr, open_low=False)',
        'tests/test_mhim.py -k test_same_generator_seed_same_masks_and_bad_ratios_fail'),
    # ema_update(teacher, student, 0.9) now moves the student towards the teacher and leaves the …
    'audit8_mhim_ema_direction_swapped': (
        'milhelpers/models/mhim.py',
        'tp, sp = list(teacher.parameters()), list(student.parameters())',
        'tp, sp = list(student.parameters()), list(teacher.parameters())',
        'tests/test_mhim.py -k test_ema_update_arithmetic_on_a_tiny_model'),
    # The values are reshaped to (B,H,N,d) without the head transpose, so each head's value rows …
    'audit8_mhim_recycle_value_reshape': (
        'milhelpers/models/mhim.py',
        'v = v.view(b, n, self.heads, self.head_dim).transpose(1, 2)',
        'v = v.view(b, self.heads, n, self.head_dim)',
        'tests/test_mhim_paths.py -k test_v2_reports_each_bags_recycle_tokens_and_the_teachers_full_bag_embedding'),
    # In v2 with a recycle network the kept embeddings and recycled tokens come from the frozen t…
    'audit8_mhim_v2_project_by_teacher': (
        'milhelpers/models/mhim.py',
        'h = self.student.project(x)                                   # (B, N, E)',
        'h = self.teacher.project(x)                                   # (B, N, E)',
        'tests/test_mhim_paths.py -k test_v2_reports_each_bags_recycle_tokens_and_the_teachers_full_bag_embedding'),
    # score_picks now scores with dropout on by default, so two calls on the same ABMIL teacher a…
    'audit8_mhim_score_picks_train_default': (
        'milhelpers/models/mhim.py',
        'kinds=SCORES, train_mode: bool = False) -> dict[str, dict]:',
        'kinds=SCORES, train_mode: bool = True) -> dict[str, dict]:',
        'tests/test_mhim.py -k test_score_picks_and_their_figure'),
    # MaskRecorder's epoch-0 record is re-taken at the start of every epoch, so after training re…
    'audit8_mhim_recorder_epoch0_overwritten': (
        'milhelpers/methods.py',
        'if 0 in self.epochs and state.step == 0:',
        'if 0 in self.epochs and state.step % state.steps_per_epoch == 0:',
        'tests/test_mhim_paths.py -k test_recorder_epoch_0_is_the_state_before_the_first_step_not_a_later_epochs_start'),
    # mhim_v2_norecycle (recycle=False) now builds a RecycleNetwork anyway (model.recycle is not …
    'audit8_mhim_recycle_flag_presence': (
        'milhelpers/methods.py',
        '        if kw.get("recycle"):',
        '        if "recycle" in kw:',
        'tests/test_mhim_paths.py -k test_v2_without_recycling_builds_no_recycle_network_and_with_it_one'),
    # Ties are broken by last position instead of first (unlike mhim_mask): with all-equal scores…
    'audit8_mhim_vis_tie_order_reversed': (
        'milhelpers/visibility.py',
        'order = np.argsort(-s, kind="stable")         # best first',
        'order = np.argsort(s, kind="stable")[::-1]   # best first',
        'tests/test_visibility.py -k test_tied_scores_are_ranked_by_position_exactly_as_mhim_mask_hides_them'),
    # Tumour patches already hidden by low-score masking still have to be drawn by H or R: with r…
    'audit8_mhim_vis_low_not_excluded': (
        'milhelpers/visibility.py',
        't_rest = t & ~low',
        't_rest = t',
        'tests/test_visibility.py -k test_exact_probability_matches_the_package_masks'),
    # r_h_schedule(0.01, True, 50) now spans t in [0, 1] and ends at exactly 0 (and differs at ev…
    'audit8_mhim_vis_schedule_endpoint': (
        'milhelpers/visibility.py',
        't = np.arange(points) / points',
        't = np.arange(points) / (points - 1)',
        'tests/test_visibility.py -k test_r_h_schedule_is_the_half_cosine_and_constant_without_decay'),
    # cumulative_attention averages over instances instead of heads: for a single (N,) attention …
    'audit8_metrics_cumulative_heads_axis': (
        'milhelpers/metrics.py',
        'a = _per_head(a).mean(0)',
        'a = _per_head(a).mean(1)',
        'tests/test_branch_attention.py -k test_cumulative_attention_hand_computed_with_bags_shorter_than_k'),
    # A patch covered ≥ 0.25 by both tumour and a mimic is now named by the mimic instead of its …
    'audit8_metrics_patch_kind_mimic_wins': (
        'milhelpers/instances.py',
        '    kind[mimic] = mim.idxmax(axis=1).to_numpy()[mimic]\n    kind[tumour] = tum.idxmax(axis=1).to_numpy()[tumour]',
        '    kind[tumour] = tum.idxmax(axis=1).to_numpy()[tumour]\n    kind[mimic] = mim.idxmax(axis=1).to_numpy()[mimic]',
        'tests/test_instances.py -k test_patch_kind_prefers_tumour_then_the_largest_region'),
    # random_topk_composition's random heads argsort over heads instead of patches, so they only …
    'audit8_metrics_random_topk_wrong_axis': (
        'milhelpers/instances.py',
        'picks = np.argsort(rng.random((n_heads, len(g))), axis=1)[:, :k]',
        'picks = np.argsort(rng.random((n_heads, len(g))), axis=0)[:, :k]',
        'tests/test_branch_attention.py -k test_random_heads_draw_their_picks_among_all_of_a_slides_patches'),
    # topk_coverage's 'same number of picks' column uses the reference's top k instead of its top…
    'audit8_metrics_same_budget_uses_k': (
        'milhelpers/instances.py',
        'topk_members(r, union[sid]))):',
        'topk_members(r, k))):',
        'tests/test_instances.py -k test_topk_coverage_same_budget_gives_the_reference_the_union_size_of_picks'),
    # setup_chapter refuses a papermill run with --inject-paths: an injected PAPERMILL_INPUT_PATH…
    'audit8_params_papermill_names_refused': (
        'milhelpers/params.py',
        'unknown = sorted(set(injected) - set(declared) - PAPERMILL_NAMES)',
        'unknown = sorted(set(injected) - set(declared))',
        'tests/test_chapter_setup.py -k test_a_name_the_chapter_does_not_declare_is_refused_with_the_closest'),
    # check_chapter02 accepts a model_variant that is registered but not among methods (e.g. meth…
    'audit8_params_model_variant_any_method': (
        'milhelpers/params.py',
        'out["model_variant"] = check_choices(model_variant, "model_variant", out["methods"])',
        'out["model_variant"] = check_choices(model_variant, "model_variant", available_methods)',
        'tests/test_params.py -k test_unknown_model_names_and_variant_outside_methods'),
    # check_chapter06 accepts lr=0 (returns 0.0) instead of raising ParameterError: the open lowe…
    'audit8_params_lr_zero_accepted': (
        'milhelpers/params.py',
        '"must be a learning rate in (0, 1], e.g. 5e-4", True)',
        '"must be a learning rate in (0, 1], e.g. 5e-4")',
        'tests/test_params.py -k test_ch06_bad_values_name_the_parameter'),
    # paired_slide_comparison resamples slides instead of patients: with groups where one case ha…
    'audit8_runner_boot_ignores_groups': (
        'milhelpers/stats.py',
        '    case, strata = case_strata(y, groups)\n    rng = np.random.default_rng(seed)',
        '    case, strata = case_strata(y)\n    rng = np.random.default_rng(seed)',
        'tests/test_stats.py -k test_two_methods_rank_first_exactly_where_the_paired_bootstrap_difference_is_positive'),
    # rank_intervals draws its case resamples from an unseeded generator, so two calls with the s…
    'audit8_runner_rank_unseeded': (
        'milhelpers/stats.py',
        '    w = _case_weights(case, strata, n_boot, np.random.default_rng(seed))\n    ones = np.ones((1, len(y)))',
        '    w = _case_weights(case, strata, n_boot, np.random.default_rng())\n    ones = np.ones((1, len(y)))',
        'tests/test_stats.py -k test_two_methods_rank_first_exactly_where_the_paired_bootstrap_difference_is_positive'),
    # settings_side_by_side applies Holm over every method the setting ran rather than only the r…
    'audit8_runner_side_by_side_holm_family': (
        'milhelpers/stats.py',
        '        table = res.compare(reference, metrics, present, n_boot=n_boot)',
        '        table = res.compare(reference, metrics, n_boot=n_boot)',
        'tests/test_runner_paths.py -k test_side_by_side_holm_family_is_only_the_asked_methods'),
    # delong_test divides the positives' placement covariance by the number of negatives, so with…
    'audit8_runner_delong_var_wrong_n': (
        'milhelpers/stats.py',
        '        var += c @ np.cov(v10) @ c / m',
        '        var += c @ np.cov(v10) @ c / n',
        'tests/test_stats.py -k test_delong_on_a_small_example_worked_by_hand'),
    # case_strata puts a patient with one negative and one positive slide into the positive strat…
    'audit8_runner_strata_max_label': (
        'milhelpers/stats.py',
        '        label_sets.setdefault(tuple(sorted(kinds[c])), []).append(c)',
        '        label_sets.setdefault((max(kinds[c]),), []).append(c)',
        'tests/test_stats.py -k test_cases_are_resampled_within_their_label_stratum_and_slides_of_a_case_move_together'),
    # simulate_scores draws the slide's own difficulty afresh in every repeat, so for n_repeats>1…
    'audit8_runner_simulate_common_per_repeat': (
        'milhelpers/stats.py',
        '    common = a * rng.standard_normal((n_cohorts, 1, n_slides))',
        '    common = a * rng.standard_normal((n_cohorts, n_repeats, n_slides))',
        'tests/test_stats.py -k test_simulated_scores_have_the_asked_aucs_and_correlations'),
    # run_key no longer hashes method.code_fingerprint(), so after editing a model's forward or a…
    'audit8_runner_runkey_no_code': (
        'milhelpers/experiments.py',
        '                    "code": method.code_fingerprint(),',
        '',
        'tests/test_cache_keys.py -k test_the_run_keys_of_the_runner_are_pinned'),
    # correlation_ci centres the resampled x-ranks by their mean over resamples instead of within…
    'audit8_runner_corr_center_axis': (
        'milhelpers/experiments.py',
        '    rx -= rx.mean(1, keepdims=True)',
        '    rx -= rx.mean(0, keepdims=True)',
        'tests/test_experiments_report.py -k test_correlation_hand_computed_and_perfect_ranks'),
    # meta['test_train_ratio'] becomes n_test/n_total (0.2 for 5 folds) instead of n_test/n_train…
    'audit8_runner_test_train_ratio': (
        'milhelpers/experiments.py',
        '            "test_train_ratio": float(np.mean([t / r for t, r in sizes])),',
        '            "test_train_ratio": float(np.mean([t / (t + r) for t, r in sizes])),',
        'tests/test_runner_paths.py -k test_runner_meta_by_hand_and_its_test_train_ratio_reaches_the_corrected_t'),
    # data_fingerprint no longer hashes the features and instance labels of in-memory bags (ListB…
    'audit8_runner_fingerprint_list_bags': (
        'milhelpers/experiments.py',
        '    in_memory = True',
        '    in_memory = False',
        'tests/test_cache_keys.py -k test_the_run_keys_of_the_runner_are_pinned'),
    # run_split always takes repeat 0's partition, so for seed=1 it returns test indices differen…
    'audit8_runner_run_split_seed': (
        'milhelpers/cached_runs.py',
        '    parts = experiment_folds(dataset, folds, seed=seed)',
        '    parts = experiment_folds(dataset, folds)',
        'tests/test_cached_runs.py -k test_run_split_is_the_runners_split'),
    # cross_validate trains every fold with config.seed instead of run_seed(config.seed, k), so f…
    'audit8_runner_cv_fold_seed': (
        'milhelpers/train.py',
        '        cfg = dataclasses.replace(config, seed=seed, progress=False)',
        '        cfg = dataclasses.replace(config, progress=False)',
        'tests/test_train_paths.py -k test_cross_validate_trains_each_fold_with_its_own_run_seed'),
    # packing_verdict checks the accuracy of the wrong recipe: when packed is fastest and its AUC…
    'audit8_runner_packing_sign_swap': (
        'milhelpers/comparison.py',
        '    sign = sub_sign if fastest.startswith("batch 1") else auc_sign',
        '    sign = auc_sign if fastest.startswith("batch 1") else sub_sign',
        'tests/test_comparison.py -k test_packing_verdict_is_computed_from_the_benchmark_numbers'),
    # stratified_folds accepts k=5 when a class has only 4 bags/cases, so instead of a ValueError…
    'audit8_runner_folds_min_class': (
        'milhelpers/datasets.py',
        '    if n < k:',
        '    if n < k - 1:',
        'tests/test_datasets.py -k test_grouped_folds_keep_each_patient_on_one_side'),
    # segment_tissue opens instead of closing the saturation mask: thin gaps between tissue fragm…
    'audit8_tiling_open_not_close': (
        'milhelpers/tiling.py',
        '        binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)',
        '        binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)',
        'tests/test_tiling_paths.py -k test_closing_kernel_is_a_physical_size_on_a_coarser_mask'),
    # box_fraction clips x to the mask height and y to its width, so on a non-square mask (e.g. 1…
    'audit8_tiling_box_fraction_hw_swap': (
        'milhelpers/tiling.py',
        '    h, w = mask.shape',
        '    w, h = mask.shape',
        'tests/test_tiling.py -k test_box_fraction_with_a_non_square_downsample_by_hand'),
    # patch_grid's step is computed with the inverted µm/px ratio: 256-px patches at 0.5 µm/px on…
    'audit8_tiling_scale_inverted': (
        'milhelpers/tiling.py',
        '    scale = target_mpp / level0_mpp',
        '    scale = level0_mpp / target_mpp',
        'tests/test_tiling.py -k test_grid_is_physical_at_20x_and_40x'),
    # stale_coords_reason treats a setting the coordinates file does not record (e.g. a file with…
    'audit8_tiling_stale_missing_attr_ok': (
        'milhelpers/tiling.py',
        '        have = attrs.get(key)',
        '        have = attrs.get(key, want)',
        'tests/test_tiling.py -k test_file_without_recorded_settings_is_not_trusted'),
    # when a given mpp agrees with the file's within 10 % (given 0.26, file 0.25), Slide.mpp retu…
    'audit8_tiling_given_mpp_wins': (
        'milhelpers/slides.py',
        '            return file, f"file (agrees with the given {given:g})"',
        '            return given, f"file (agrees with the given {given:g})"',
        'tests/test_slides.py -k test_given_mpp_agreeing_with_the_file_uses_the_files_value'),
    # extract_features no longer records input_size on the features, so a rerun with the same enc…
    'audit8_h5_no_input_size_attr': (
        'milhelpers/features.py',
        '                           encoder=encoder.name, input_size=encoder.input_size)',
        '                           encoder=encoder.name)',
        'tests/test_features.py -k test_interrupted_extraction_keeps_finished_slides_and_resumes'),
    # extract_features(overwrite=True) ignores overwrite: existing outputs made with another enco…
    'audit8_h5_overwrite_ignored': (
        'milhelpers/features.py',
        '    pending, skipped = split_done(jobs, encoder, overwrite)',
        '    pending, skipped = split_done(jobs, encoder)',
        'tests/test_features.py -k test_existing_features_with_other_settings_stop_the_run'),
    # h5_attrs returns the file's root attributes instead of the named dataset's, so stale_coords…
    'audit8_h5_attrs_file_level': (
        'milhelpers/h5io.py',
        '        return dict(f[dataset].attrs)',
        '        return dict(f.attrs)',
        'tests/test_features.py -k test_extraction_matches_direct_encoding'),
    # _package_hash hashes only the milhelpers file names, so editing a source file no longer cha…
    'audit8_sweeps_package_hash_names_only': (
        'milhelpers/sweep.py',
        '        h.update(path.relative_to(root).as_posix().encode() + b"\\0" + path.read_bytes() + b"\\0")',
        '        h.update(path.relative_to(root).as_posix().encode() + b"\\0")',
        'tests/test_sweep.py -k test_package_hash_follows_every_source_file'),
    # a second sweep into the same output folder waits for the lock instead of raising RuntimeErr…
    'audit8_sweeps_lock_blocks': (
        'milhelpers/sweep.py',
        '            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)',
        '            fcntl.flock(fh, fcntl.LOCK_EX)',
        'tests/test_sweep.py -k test_a_second_sweep_into_the_same_folder_is_refused_at_once'),
})


# round 8: defaults and options (each default pinned by behaviour, each option's values both used)
MUTANTS.update({
    # ABMIL's default becomes tanh attention instead of Ilse et al.'s gated attention
    "r8opts_abmil_default_tanh": (
        "milhelpers/models/abmil.py",
        "gated: bool = True, dropout: float = 0.25, n_branches",
        "gated: bool = False, dropout: float = 0.25, n_branches",
        "tests/test_models.py -k test_r8_model_defaults_are_the_papers_values"),
    # ABMIL's default projection dropout 0.25 → 0 (CLAM's small preset lost)
    "r8opts_abmil_default_dropout": (
        "milhelpers/models/abmil.py",
        "gated: bool = True, dropout: float = 0.25, n_branches",
        "gated: bool = True, dropout: float = 0.0, n_branches",
        "tests/test_models.py -k test_r8_model_defaults_are_the_papers_values"),
    # mean pooling's default dropout 0.25 → 0.1
    "r8opts_meanpool_default_dropout": (
        "milhelpers/models/abmil.py",
        '(attention logits are all zero)."""\n\n    def __init__(self, in_dim: int, n_classes: int = 2, embed_dim: int = 512, dropout: float = 0.25):',
        '(attention logits are all zero)."""\n\n    def __init__(self, in_dim: int, n_classes: int = 2, embed_dim: int = 512, dropout: float = 0.1):',
        "tests/test_models.py -k test_r8_model_defaults_are_the_papers_values"),
    # the scorer's default hidden width 256 → 128
    "r8opts_scorer_default_hidden": (
        "milhelpers/models/abmil.py",
        "def __init__(self, dim: int, hidden: int = 256, n_branches: int = 1, gated: bool = True,",
        "def __init__(self, dim: int, hidden: int = 128, n_branches: int = 1, gated: bool = True,",
        "tests/test_models.py -k test_r8_model_defaults_are_the_papers_values"),
    # the scorer's gate is built whatever gated says (tanh attention silently gated)
    "r8opts_scorer_gated_ignored": (
        "milhelpers/models/abmil.py",
        "                     if gated else None)",
        "                     if True else None)",
        "tests/test_models.py -k test_r8_attention_scorer_gated_option_gives_its_own_formula"),
    # ACMIL's default mask_drop 0.6 → 0.5 (5 of the top 10 hidden instead of the paper's 6)
    "r8opts_acmil_default_mask_drop": (
        "milhelpers/models/acmil.py",
        "n_branches: int = 5, top_k: int = 10, mask_drop: float = 0.6,",
        "n_branches: int = 5, top_k: int = 10, mask_drop: float = 0.5,",
        "tests/test_acmil.py -k test_r8_acmil_defaults_are_the_papers_and_the_packages_values"),
    # ACMIL's default top_k 10 → 8
    "r8opts_acmil_default_top_k": (
        "milhelpers/models/acmil.py",
        "n_branches: int = 5, top_k: int = 10, mask_drop: float = 0.6,",
        "n_branches: int = 5, top_k: int = 8, mask_drop: float = 0.6,",
        "tests/test_acmil.py -k test_r8_acmil_defaults_are_the_papers_and_the_packages_values"),
    # ACMIL's default M = 5 → 4 branches
    "r8opts_acmil_default_branches": (
        "milhelpers/models/acmil.py",
        "n_branches: int = 5, top_k: int = 10, mask_drop: float = 0.6,",
        "n_branches: int = 4, top_k: int = 10, mask_drop: float = 0.6,",
        "tests/test_acmil.py -k test_r8_acmil_defaults_are_the_papers_and_the_packages_values"),
    # ACMIL's default dropout 0.25 → 0
    "r8opts_acmil_default_dropout": (
        "milhelpers/models/acmil.py",
        "                 dropout: float = 0.25):",
        "                 dropout: float = 0.0):",
        "tests/test_acmil.py -k test_r8_acmil_defaults_are_the_papers_and_the_packages_values"),
    # ACMIL's default attention width 128 → 256
    "r8opts_acmil_default_attn_dim": (
        "milhelpers/models/acmil.py",
        "embed_dim: int = 512, attn_dim: int = 128,",
        "embed_dim: int = 512, attn_dim: int = 256,",
        "tests/test_acmil.py -k test_r8_acmil_defaults_are_the_papers_and_the_packages_values"),
})
MUTANTS.update({
    # MHIM's default random masking r = 0.5 → 0.4
    "r8opts_mhim_default_r": (
        "milhelpers/models/mhim.py",
        'r: float = 0.5, r_l: float = 0.0, score: str = "attention"',
        'r: float = 0.4, r_l: float = 0.0, score: str = "attention"',
        "tests/test_mhim_paths.py -k test_r8_mhim_defaults_mask_as_the_v1_command"),
    # MHIM's default r_hr 0.5 → 1 (exactly the top ⌈N·r_h⌉ instead of a draw from the top 2 %)
    "r8opts_mhim_default_r_hr": (
        "milhelpers/models/mhim.py",
        "r_h: float = 0.01, r_hr: float = 0.5,",
        "r_h: float = 0.01, r_hr: float = 1.0,",
        "tests/test_mhim_paths.py -k test_r8_mhim_defaults_mask_as_the_v1_command"),
    # MHIM's default score becomes v2's class-aware score
    "r8opts_mhim_default_score": (
        "milhelpers/models/mhim.py",
        'r: float = 0.5, r_l: float = 0.0, score: str = "attention"',
        'r: float = 0.5, r_l: float = 0.0, score: str = "class_aware"',
        "tests/test_mhim_paths.py -k test_r8_mhim_defaults_mask_as_the_v1_command"),
    # mhim_mask's default random ratio 0 → 0.1
    "r8opts_mhim_mask_default_r": (
        "milhelpers/models/mhim.py",
        "              r: float = 0.0, r_l: float = 0.0, generator",
        "              r: float = 0.1, r_l: float = 0.0, generator",
        "tests/test_mhim_paths.py -k test_r8_mhim_mask_and_instance_score_defaults"),
    # mhim_mask's default r_hr 1 → 0.5
    "r8opts_mhim_mask_default_r_hr": (
        "milhelpers/models/mhim.py",
        "r_h: float, r_hr: float = 1.0,",
        "r_h: float, r_hr: float = 0.5,",
        "tests/test_mhim_paths.py -k test_r8_mhim_mask_and_instance_score_defaults"),
    # instance_scores' default kind becomes class_aware
    "r8opts_instance_scores_default_kind": (
        "milhelpers/models/mhim.py",
        'kind: str = "attention") -> torch.Tensor:',
        'kind: str = "class_aware") -> torch.Tensor:',
        "tests/test_mhim_paths.py -k test_r8_mhim_mask_and_instance_score_defaults"),
    # RecycleNetwork's default queries' momentum 0.9999 → 0.999
    "r8opts_recycle_default_momentum": (
        "milhelpers/models/mhim.py",
        "n_queries: int = 1, momentum: float = 0.9999, heads: int = 8,",
        "n_queries: int = 1, momentum: float = 0.999, heads: int = 8,",
        "tests/test_mhim_paths.py -k test_r8_recycle_network_defaults_are_the_authors"),
    # RecycleNetwork's default k = 1 query → 2
    "r8opts_recycle_default_queries": (
        "milhelpers/models/mhim.py",
        "n_queries: int = 1, momentum: float = 0.9999, heads: int = 8,",
        "n_queries: int = 2, momentum: float = 0.9999, heads: int = 8,",
        "tests/test_mhim_paths.py -k test_r8_recycle_network_defaults_are_the_authors"),
    # RecycleNetwork's default dropout 0.1 → 0
    "r8opts_recycle_default_dropout": (
        "milhelpers/models/mhim.py",
        "                 head_dim: int = 64, dropout: float = 0.1):",
        "                 head_dim: int = 64, dropout: float = 0.0):",
        "tests/test_mhim_paths.py -k test_r8_recycle_network_defaults_are_the_authors"),
    # MHIMSchedule's default decay off (r_h stays whole)
    "r8opts_schedule_default_decay": (
        "milhelpers/methods.py",
        "def __init__(self, decay: bool = True, momentum: float = 0.999, momentum_cosine: bool = False):",
        "def __init__(self, decay: bool = False, momentum: float = 0.999, momentum_cosine: bool = False):",
        "tests/test_mhim_paths.py -k test_r8_mhim_schedule_defaults_and_each_option"),
    # MHIMSchedule's default momentum 0.999 → 0.99
    "r8opts_schedule_default_momentum": (
        "milhelpers/methods.py",
        "def __init__(self, decay: bool = True, momentum: float = 0.999, momentum_cosine: bool = False):",
        "def __init__(self, decay: bool = True, momentum: float = 0.99, momentum_cosine: bool = False):",
        "tests/test_mhim_paths.py -k test_r8_mhim_schedule_defaults_and_each_option"),
    # momentum_cosine is ignored: m stays constant
    "r8opts_schedule_momentum_cosine_ignored": (
        "milhelpers/methods.py",
        "        if self.momentum_cosine:\n",
        "        if False:\n",
        "tests/test_mhim_paths.py -k test_r8_mhim_schedule_defaults_and_each_option"),
    # the score option is dropped: 'class_aware' scores with the attention
    "r8opts_mhim_score_dropped": (
        "milhelpers/models/mhim.py",
        "                s = instance_scores(t, self.teacher, self.score)",
        "                s = instance_scores(t, self.teacher)",
        "tests/test_mhim_paths.py -k test_r8_mhim_score_option_reaches_the_teacher_scores"),
})
MUTANTS.update({
    # PackMIL's default aggregator becomes tanh attention
    "r8opts_packmil_default_tanh": (
        "milhelpers/models/packmil.py",
        "attn_dim: int = 256, gated: bool = True, dropout: float = 0.25,",
        "attn_dim: int = 256, gated: bool = False, dropout: float = 0.25,",
        "tests/test_packing_paths.py -k test_r8_packmil_defaults_are_clams_gated_abmil_without_ads"),
    # PackMIL's default dropout 0.25 → 0
    "r8opts_packmil_default_dropout": (
        "milhelpers/models/packmil.py",
        "attn_dim: int = 256, gated: bool = True, dropout: float = 0.25,",
        "attn_dim: int = 256, gated: bool = True, dropout: float = 0.0,",
        "tests/test_packing_paths.py -k test_r8_packmil_defaults_are_clams_gated_abmil_without_ads"),
    # PackMIL adds an ADS (r = 4) by default
    "r8opts_packmil_default_ads": (
        "milhelpers/models/packmil.py",
        "                 ads_ratio: int | None = None):",
        "                 ads_ratio: int | None = 4):",
        "tests/test_packing_paths.py -k test_r8_packmil_defaults_are_clams_gated_abmil_without_ads"),
    # PackMIL(gated=False) silently builds a gated scorer
    "r8opts_packmil_gated_hardwired": (
        "milhelpers/models/packmil.py",
        "super().__init__(in_dim, n_classes, embed_dim, attn_dim, gated, dropout, n_branches=1)",
        "super().__init__(in_dim, n_classes, embed_dim, attn_dim, True, dropout, n_branches=1)",
        "tests/test_packing_paths.py -k test_r8_packmil_gated_option_is_abmils_with_the_same_weights"),
    # the ADS scorer's default hidden width 128 → 64
    "r8opts_ads_default_hidden": (
        "milhelpers/models/packmil.py",
        "def __init__(self, dim: int, ratio: int, hidden: int = 128):",
        "def __init__(self, dim: int, ratio: int, hidden: int = 64):",
        "tests/test_packing_paths.py -k test_r8_ads_default_hidden_width"),
    # pack_collate's default min_len 16 → 8 (a 10-patch slide is split)
    "r8opts_pack_collate_default_min_len": (
        "milhelpers/packing.py",
        "def pack_collate(p: float = 0.5, max_len: int = 256, min_len: int = 16,",
        "def pack_collate(p: float = 0.5, max_len: int = 256, min_len: int = 8,",
        "tests/test_packing_paths.py -k test_r8_pack_collate_defaults_by_hand"),
    # pack_collate's default p 0.5 → 0.4
    "r8opts_pack_collate_default_p": (
        "milhelpers/packing.py",
        "def pack_collate(p: float = 0.5, max_len: int = 256, min_len: int = 16,",
        "def pack_collate(p: float = 0.4, max_len: int = 256, min_len: int = 16,",
        "tests/test_packing_paths.py -k test_r8_pack_collate_defaults_by_hand"),
    # pack_collate's default L 256 → 512
    "r8opts_pack_collate_default_max_len": (
        "milhelpers/packing.py",
        "def pack_collate(p: float = 0.5, max_len: int = 256, min_len: int = 16,",
        "def pack_collate(p: float = 0.5, max_len: int = 512, min_len: int = 16,",
        "tests/test_packing_paths.py -k test_r8_pack_collate_defaults_by_hand"),
    # pack_collate drops the residual branch by default
    "r8opts_pack_collate_default_residual": (
        "milhelpers/packing.py",
        "                 residual: bool = True, generator: torch.Generator | None = None) -> PackCollate:",
        "                 residual: bool = False, generator: torch.Generator | None = None) -> PackCollate:",
        "tests/test_packing_paths.py -k test_r8_pack_collate_defaults_by_hand"),
    # PackCollate's own default min_len 16 → 8
    "r8opts_packcollate_class_default_min_len": (
        "milhelpers/packing.py",
        "    min_len: int = 16\n    ads_ratio: int = 1\n",
        "    min_len: int = 8\n    ads_ratio: int = 1\n",
        "tests/test_packing_paths.py -k test_r8_pack_collate_defaults_by_hand"),
    # residual=False still builds the residual packs
    "r8opts_pack_collate_residual_ignored": (
        "milhelpers/packing.py",
        "        if self.residual and any(len(t) for t in ress):",
        "        if any(len(t) for t in ress):",
        "tests/test_packing_paths.py -k test_r8_pack_collate_residual_option_both_values"),
    # split_slide's default min_len 0 → 8 (short slides go whole to both parts)
    "r8opts_split_slide_default_min_len": (
        "milhelpers/packing.py",
        "min_len: int = 0, cap: int | None = None,",
        "min_len: int = 8, cap: int | None = None,",
        "tests/test_packing_paths.py -k test_r8_split_slide_and_compressed_length_defaults"),
    # split_slide caps parts at 256 by default
    "r8opts_split_slide_default_cap": (
        "milhelpers/packing.py",
        "min_len: int = 0, cap: int | None = None,",
        "min_len: int = 0, cap: int | None = 256,",
        "tests/test_packing_paths.py -k test_r8_split_slide_and_compressed_length_defaults"),
    # compressed_length's default ratio 1 → 2
    "r8opts_compressed_length_default_ratio": (
        "milhelpers/packing.py",
        "def compressed_length(n: int, ratio: int = 1) -> int:",
        "def compressed_length(n: int, ratio: int = 2) -> int:",
        "tests/test_packing_paths.py -k test_r8_split_slide_and_compressed_length_defaults"),
    # hyperslide_label's default target becomes the token mixture
    "r8opts_hyperslide_label_default_kind": (
        "milhelpers/packing.py",
        '                     n_classes: int, kind: str = "multihot") -> torch.Tensor:',
        '                     n_classes: int, kind: str = "tokenmix") -> torch.Tensor:',
        "tests/test_packing_paths.py -k test_r8_hyperslide_target_kinds_by_hand"),
    # kind='tokenmix' is ignored: every target is multi-hot
    "r8opts_hyperslide_label_tokenmix_ignored": (
        "milhelpers/packing.py",
        '    if kind == "tokenmix":\n        return (w @ onehot) / total',
        '    if False:\n        return (w @ onehot) / total',
        "tests/test_packing_paths.py -k test_r8_hyperslide_target_kinds_by_hand"),
    # PackedBatch.hyperslide_labels drops its kind
    "r8opts_packed_batch_kind_dropped": (
        "milhelpers/packing.py",
        "return hyperslide_label(self.labels, self.residual_counts, n_classes, kind)",
        "return hyperslide_label(self.labels, self.residual_counts, n_classes)",
        "tests/test_packing_paths.py -k test_r8_hyperslide_target_kinds_by_hand"),
    # PackedBatch.hyperslide_labels' default kind becomes the token mixture
    "r8opts_packed_batch_default_kind": (
        "milhelpers/packing.py",
        'def hyperslide_labels(self, n_classes: int, kind: str = "multihot") -> torch.Tensor:',
        'def hyperslide_labels(self, n_classes: int, kind: str = "tokenmix") -> torch.Tensor:',
        "tests/test_packing_paths.py -k test_r8_hyperslide_target_kinds_by_hand"),
})
MUTANTS.update({
    # attention_entropy normalises by log N by default
    "r8opts_entropy_default_normalize": (
        "milhelpers/losses.py",
        '                      normalize: bool = False) -> torch.Tensor:\n    """Entropy',
        '                      normalize: bool = True) -> torch.Tensor:\n    """Entropy',
        "tests/test_losses.py -k test_r8_entropy_normalize_default_and_both_values_by_hand"),
    # attention_entropy ignores normalize=True
    "r8opts_entropy_normalize_ignored": (
        "milhelpers/losses.py",
        "    if normalize:\n        n = real",
        "    if False:\n        n = real",
        "tests/test_losses.py -k test_r8_entropy_normalize_default_and_both_values_by_hand"),
    # negative_entropy drops its normalize option
    "r8opts_neg_entropy_normalize_dropped": (
        "milhelpers/losses.py",
        "    return -attention_entropy(attention_logits, mask, normalize).mean()",
        "    return -attention_entropy(attention_logits, mask).mean()",
        "tests/test_losses.py -k test_r8_entropy_normalize_default_and_both_values_by_hand"),
    # negative_entropy normalises by default
    "r8opts_neg_entropy_default_normalize": (
        "milhelpers/losses.py",
        '                     normalize: bool = False) -> torch.Tensor:\n    """AEM',
        '                     normalize: bool = True) -> torch.Tensor:\n    """AEM',
        "tests/test_losses.py -k test_r8_entropy_normalize_default_and_both_values_by_hand"),
    # consistency's default teacher temperature 0.1 → 1 (no sharpening)
    "r8opts_consistency_default_tau_teacher": (
        "milhelpers/losses.py",
        "                     tau_teacher: float = 0.1) -> torch.Tensor:",
        "                     tau_teacher: float = 1.0) -> torch.Tensor:",
        "tests/test_losses.py -k test_r8_consistency_loss_default_temperatures_by_hand"),
    # consistency's default student temperature 1 → 0.5
    "r8opts_consistency_default_tau_student": (
        "milhelpers/losses.py",
        "tau_student: float = 1.0,",
        "tau_student: float = 0.5,",
        "tests/test_losses.py -k test_r8_consistency_loss_default_temperatures_by_hand"),
    # focal's default α 0.25 → 0.5
    "r8opts_focal_default_alpha": (
        "milhelpers/losses.py",
        "alpha: float = 0.25,\n                     gamma: float = 2.0)",
        "alpha: float = 0.5,\n                     gamma: float = 2.0)",
        "tests/test_losses.py -k test_r8_focal_defaults_by_hand"),
    # focal's default γ 2 → 1
    "r8opts_focal_default_gamma": (
        "milhelpers/losses.py",
        "alpha: float = 0.25,\n                     gamma: float = 2.0)",
        "alpha: float = 0.25,\n                     gamma: float = 1.0)",
        "tests/test_losses.py -k test_r8_focal_defaults_by_hand"),
    # AEM's default λ 0.1 → 0.2
    "r8opts_aem_term_default_lam": (
        "milhelpers/losses.py",
        'def aem_term(lam: float = 0.1, schedule: str = "constant", normalize: str = "none")',
        'def aem_term(lam: float = 0.2, schedule: str = "constant", normalize: str = "none")',
        "tests/test_aem.py -k test_r8_aem_term_defaults_and_each_option_by_hand"),
    # AEM's default schedule becomes cosine
    "r8opts_aem_term_default_schedule": (
        "milhelpers/losses.py",
        'def aem_term(lam: float = 0.1, schedule: str = "constant", normalize: str = "none")',
        'def aem_term(lam: float = 0.1, schedule: str = "cosine", normalize: str = "none")',
        "tests/test_aem.py -k test_r8_aem_term_defaults_and_each_option_by_hand"),
    # AEM's default normalisation becomes log_n
    "r8opts_aem_term_default_normalize": (
        "milhelpers/losses.py",
        'def aem_term(lam: float = 0.1, schedule: str = "constant", normalize: str = "none")',
        'def aem_term(lam: float = 0.1, schedule: str = "constant", normalize: str = "log_n")',
        "tests/test_aem.py -k test_r8_aem_term_defaults_and_each_option_by_hand"),
    # aem_term ignores normalize='log_n'
    "r8opts_aem_term_normalize_ignored": (
        "milhelpers/losses.py",
        '    by_log_n = normalize == "log_n"',
        '    by_log_n = False',
        "tests/test_aem.py -k test_r8_aem_term_defaults_and_each_option_by_hand"),
    # aem_term ignores schedule='cosine'
    "r8opts_aem_term_schedule_ignored": (
        "milhelpers/losses.py",
        '    weight: Weight = float(lam) if schedule == "constant" else cosine_ramp(float(lam), 0.0)',
        '    weight: Weight = float(lam)',
        "tests/test_aem.py -k test_r8_aem_term_defaults_and_each_option_by_hand"),
    # aem_method's recipe builds its term with the defaults, dropping schedule and normalize
    "r8opts_aem_method_options_dropped": (
        "milhelpers/methods.py",
        "        return (*base.loss_terms(model), aem_term(lam, schedule, normalize))",
        "        return (*base.loss_terms(model), aem_term(lam))",
        "tests/test_aem.py -k test_r8_aem_method_passes_every_option_to_its_term"),
    # aem_method's default base becomes tanh ABMIL
    "r8opts_aem_method_default_base": (
        "milhelpers/methods.py",
        '               base: Method | str = "abmil_gated") -> Method:\n    """``base``\'s recipe',
        '               base: Method | str = "abmil_tanh") -> Method:\n    """``base``\'s recipe',
        "tests/test_aem.py -k test_r8_aem_method_passes_every_option_to_its_term"),
})
MUTANTS.update({
    # the registered abmil_tanh builds gated attention
    "r8opts_registry_abmil_tanh_gated": (
        "milhelpers/methods.py",
        'register(Method("abmil_tanh", lambda ctx, **kw: ABMIL(ctx.in_dim, ctx.n_classes, gated=False, **kw),',
        'register(Method("abmil_tanh", lambda ctx, **kw: ABMIL(ctx.in_dim, ctx.n_classes, gated=True, **kw),',
        "tests/test_methods.py -k test_r8_registered_methods_build_their_documented_model_terms_and_config"),
    # the registered abmil_gated builds tanh attention
    "r8opts_registry_abmil_gated_tanh": (
        "milhelpers/methods.py",
        'register(Method("abmil_gated", lambda ctx, **kw: ABMIL(ctx.in_dim, ctx.n_classes, gated=True, **kw),',
        'register(Method("abmil_gated", lambda ctx, **kw: ABMIL(ctx.in_dim, ctx.n_classes, gated=False, **kw),',
        "tests/test_methods.py -k test_r8_registered_methods_build_their_documented_model_terms_and_config"),
    # acmil_mba still masks (mask_drop 0.3 instead of 0)
    "r8opts_registry_acmil_mba_masks": (
        "milhelpers/methods.py",
        '_acmil.with_options("acmil_mba", mask_drop=0.0),',
        '_acmil.with_options("acmil_mba", mask_drop=0.3),',
        "tests/test_methods.py -k test_r8_registered_methods_build_their_documented_model_terms_and_config"),
    # acmil_stkim gets two branches
    "r8opts_registry_acmil_stkim_branches": (
        "milhelpers/methods.py",
        '_acmil.with_options("acmil_stkim", n_branches=1),',
        '_acmil.with_options("acmil_stkim", n_branches=2),',
        "tests/test_methods.py -k test_r8_registered_methods_build_their_documented_model_terms_and_config"),
    # one-branch ACMIL still trains the branch CE and diversity terms
    "r8opts_registry_acmil_terms_one_branch": (
        "milhelpers/methods.py",
        '    if getattr(model, "n_branches", 1) < 2:\n        return []',
        '    if getattr(model, "n_branches", 1) < 1:\n        return []',
        "tests/test_methods.py -k test_r8_registered_methods_build_their_documented_model_terms_and_config"),
    # packmil_noresidual still builds residual packs (alpha = 0 not passed to the collate)
    "r8opts_registry_packmil_residual_always": (
        "milhelpers/methods.py",
        "    collate = pack_collate(p, max_len, min_len, ads_ratio or 1, residual=alpha > 0)",
        "    collate = pack_collate(p, max_len, min_len, ads_ratio or 1, residual=True)",
        "tests/test_methods.py -k test_r8_registered_methods_build_their_documented_model_terms_and_config"),
    # PackMIL's lr is dropped from its config (the trainer's default 2e-4 is used)
    "r8opts_registry_packmil_lr_dropped": (
        "milhelpers/methods.py",
        '                  config={"batch_size": batch_size, "lr": lr},',
        '                  config={"batch_size": batch_size},',
        "tests/test_methods.py -k test_r8_registered_methods_build_their_documented_model_terms_and_config"),
    # the hyperslide term is weighted 1 instead of α
    "r8opts_registry_packmil_weight_one": (
        "milhelpers/methods.py",
        "            float(alpha)),)",
        "            1.0),)",
        "tests/test_methods.py -k test_r8_registered_methods_build_their_documented_model_terms_and_config"),
    # the hyperslide term always trains on the multi-hot target (target option dropped)
    "r8opts_registry_packmil_target_dropped": (
        "milhelpers/methods.py",
        "batch.hyperslide_labels(out.logits.shape[1], target)),",
        "batch.hyperslide_labels(out.logits.shape[1])),",
        "tests/test_methods.py -k test_r8_packmil_target_option_reaches_its_loss"),
    # mhim's random masking r = 0.5 → 0.4
    "r8opts_registry_mhim_r": (
        "milhelpers/methods.py",
        '"r": 0.5, "r_l": 0.0, "decay": True, "alpha": 0.1,',
        '"r": 0.4, "r_l": 0.0, "decay": True, "alpha": 0.1,',
        "tests/test_methods.py -k test_r8_registered_mhim_methods_build_their_documented_recipe"),
    # mhim_v2's teacher momentum 0.997 → 0.999
    "r8opts_registry_mhim_v2_momentum": (
        "milhelpers/methods.py",
        '"alpha": 0.5, "momentum": 0.997, "momentum_cosine": False,',
        '"alpha": 0.5, "momentum": 0.999, "momentum_cosine": False,',
        "tests/test_methods.py -k test_r8_registered_mhim_methods_build_their_documented_recipe"),
    # mhim_v2's student starts from the teacher's projection
    "r8opts_registry_mhim_v2_student_init": (
        "milhelpers/methods.py",
        '"score": "class_aware", "student_init": "fresh", "merge_ratio": 0.8,',
        '"score": "class_aware", "student_init": "projection", "merge_ratio": 0.8,',
        "tests/test_methods.py -k test_r8_registered_mhim_methods_build_their_documented_recipe"),
    # mhim_v2's recycle network gets two queries
    "r8opts_registry_mhim_v2_merge_k": (
        "milhelpers/methods.py",
        '"merge_k": 1, "merge_momentum": 0.999, "recycle": True}',
        '"merge_k": 2, "merge_momentum": 0.999, "recycle": True}',
        "tests/test_methods.py -k test_r8_registered_mhim_methods_build_their_documented_recipe"),
    # student_init='fresh' still copies the teacher's projection
    "r8opts_registry_mhim_student_init_ignored": (
        "milhelpers/methods.py",
        '        if kw["student_init"] == "projection":',
        '        if True:',
        "tests/test_methods.py -k test_r8_registered_mhim_methods_build_their_documented_recipe"),
    # recycle=False still builds a recycle network (the key's presence switches it on)
    "r8opts_registry_mhim_recycle_key": (
        "milhelpers/methods.py",
        '        if kw.get("recycle"):',
        '        if "recycle" in kw:',
        "tests/test_methods.py -k test_r8_registered_mhim_methods_build_their_documented_recipe"),
    # the consistency weight is v1's 0.1 whatever alpha says
    "r8opts_registry_mhim_alpha_fixed": (
        "milhelpers/methods.py",
        '        model.alpha = float(kw["alpha"])',
        '        model.alpha = 0.1',
        "tests/test_methods.py -k test_r8_registered_mhim_methods_build_their_documented_recipe"),
})
MUTANTS.update({
    # as_batch without a mask marks the first instance only as real
    "r8opts_base_as_batch_default_mask": (
        "milhelpers/models/base.py",
        "        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)\n    else:",
        "        mask = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)\n        mask[:, 0] = True\n    else:",
        "tests/test_models.py -k test_r8_base_helpers_defaults_without_a_mask_or_extras"),
    # without extras a model's instance scores become its softmax weights
    "r8opts_base_instance_scores_fallback": (
        "milhelpers/models/base.py",
        '        return self.extras.get("instance_scores", self.attention_logits)',
        '        return self.extras.get("instance_scores", self.attention)',
        "tests/test_models.py -k test_r8_base_helpers_defaults_without_a_mask_or_extras"),
    # slide_attention takes the first head instead of the mean
    "r8opts_base_slide_attention_first_head": (
        "milhelpers/models/base.py",
        "    return attention.mean(-2)",
        "    return attention[..., 0, :]",
        "tests/test_models.py -k test_r8_base_helpers_defaults_without_a_mask_or_extras"),
})
MUTANTS.update({
    # score_picks' default r_h 0.05 → 0.1 (4 of 40 patches marked instead of 2)
    "r8opts_score_picks_default_r_h": (
        "milhelpers/models/mhim.py",
        "features: torch.Tensor, r_h: float = 0.05,",
        "features: torch.Tensor, r_h: float = 0.1,",
        "tests/test_mhim_paths.py -k test_r8_score_picks_defaults_and_train_mode_option"),
    # score_picks scores with dropout on by default
    "r8opts_score_picks_default_train_mode": (
        "milhelpers/models/mhim.py",
        "kinds=SCORES, train_mode: bool = False) -> dict[str, dict]:",
        "kinds=SCORES, train_mode: bool = True) -> dict[str, dict]:",
        "tests/test_mhim_paths.py -k test_r8_score_picks_defaults_and_train_mode_option"),
    # score_picks ignores train_mode=True
    "r8opts_score_picks_train_mode_ignored": (
        "milhelpers/models/mhim.py",
        "    teacher.train(train_mode)\n",
        "    teacher.train(False)\n",
        "tests/test_mhim_paths.py -k test_r8_score_picks_defaults_and_train_mode_option"),
})

# round 8: options, columns and ties (analysis code) — each option reaches the result, each
# returned column by hand, each sort/threshold at its ties and edges.
MUTANTS.update({
    # paired_slide_comparison computes A's metric at 0.5 whatever threshold is asked: B − A of
    # accuracies at threshold 0.1 mixes B at 0.1 with A at 0.5
    'r8stats_cmp_threshold_a_hardwired': (
        'milhelpers/stats.py',
        '                 - _metric_values(ones, y, a, metric, threshold)[0])',
        '                 - _metric_values(ones, y, a, metric, 0.5)[0])',
        'tests/test_stats.py -k test_r8_threshold_reaches_the_paired_difference_and_a_score_at_it_is_class_0'),
    # a score exactly at the threshold is called class 1 (>= instead of >)
    'r8stats_pred_at_threshold_is_1': (
        'milhelpers/stats.py',
        '    pred = (s > threshold).astype(int) if binary else s.argmax(-1)',
        '    pred = (s >= threshold).astype(int) if binary else s.argmax(-1)',
        'tests/test_stats.py -k test_r8_threshold_reaches_the_paired_difference_and_a_score_at_it_is_class_0'),
    # paired_slide_comparison's n_repeats reports the number of slides instead of the repeats
    'r8stats_cmp_n_repeats_is_slides': (
        'milhelpers/stats.py',
        '"p": p, "n_slides": int(len(y)), "n_repeats": int(len(a)),',
        '"p": p, "n_slides": int(len(y)), "n_repeats": int(a.shape[-1]),',
        'tests/test_stats.py -k test_r8_threshold_reaches_the_paired_difference_and_a_score_at_it_is_class_0'),
    # rank_intervals' observed values ignore threshold (always 0.5)
    'r8stats_rank_value_threshold_hardwired': (
        'milhelpers/stats.py',
        '    value = np.array([_metric_values(ones, y, mats[m], metric, threshold)[0] for m in names])',
        '    value = np.array([_metric_values(ones, y, mats[m], metric, 0.5)[0] for m in names])',
        'tests/test_stats.py -k test_r8_rank_intervals_threshold_and_every_column_by_hand'),
    # p_first counts shared first places (ties) as first
    'r8stats_rank_p_first_counts_ties': (
        'milhelpers/stats.py',
        '        first = (ranks[:, j] == 1) & ((ranks == 1).sum(1) == 1)',
        '        first = ranks[:, j] <= 1.5',
        'tests/test_stats.py -k test_r8_rank_intervals_seed_picks_the_resamples_of_the_paired_comparison_with_that_seed'),
    # rank_intervals resamples with seed 0 whatever seed is asked
    'r8stats_rank_seed_ignored': (
        'milhelpers/stats.py',
        '    w = _case_weights(case, strata, n_boot, np.random.default_rng(seed))\n    ones = np.ones((1, len(y)))',
        '    w = _case_weights(case, strata, n_boot, np.random.default_rng(0))\n    ones = np.ones((1, len(y)))',
        'tests/test_stats.py -k test_r8_rank_intervals_seed_picks_the_resamples_of_the_paired_comparison_with_that_seed'),
    # paired_slide_means resamples with seed 0 whatever seed is asked
    'r8stats_means_seed_ignored': (
        'milhelpers/stats.py',
        '    w = _case_weights(case, strata, n_boot, np.random.default_rng(seed))\n    with np.errstate(',
        '    w = _case_weights(case, strata, n_boot, np.random.default_rng(0))\n    with np.errstate(',
        'tests/test_stats.py -k test_r8_slide_means_seed_gives_the_resamples_of_the_comparison_with_that_seed'),
    # paired_slide_means counts every slide in n_slides, NaN ones included
    'r8stats_means_n_slides_all': (
        'milhelpers/stats.py',
        '"n_slides": int(ok.sum()), "n_repeats": int(len(a)),',
        '"n_slides": int(len(y)), "n_repeats": int(len(a)),',
        'tests/test_stats.py -k test_r8_slide_means_seed_gives_the_resamples_of_the_comparison_with_that_seed'),
    # slide_metric_interval's value ignores threshold
    'r8stats_interval_value_threshold_hardwired': (
        'milhelpers/stats.py',
        '    value = float(_metric_values(np.ones((1, len(y))), y, s, metric, threshold)[0])',
        '    value = float(_metric_values(np.ones((1, len(y))), y, s, metric, 0.5)[0])',
        'tests/test_runner_paths.py -k test_r8_slide_metric_interval_threshold_reaches_value_and_interval_with_every_field'),
    # slide_metric_interval's resamples ignore threshold (the interval is of the 0.5 metric)
    'r8stats_interval_boot_threshold_hardwired': (
        'milhelpers/stats.py',
        '                          metric, threshold)',
        '                          metric, 0.5)',
        'tests/test_runner_paths.py -k test_r8_slide_metric_interval_threshold_reaches_value_and_interval_with_every_field'),
    # n_cases counts slides, not the distinct cases of groups
    'r8stats_interval_n_cases_is_slides': (
        'milhelpers/stats.py',
        '"n_cases": int(len(np.unique(case))),',
        '"n_cases": int(len(case)),',
        'tests/test_runner_paths.py -k test_r8_slide_metric_interval_threshold_reaches_value_and_interval_with_every_field'),
    # bootstrap_ci draws with seed 0 whatever seed is asked
    'r8stats_bootstrap_ci_seed_ignored': (
        'milhelpers/experiments.py',
        'random_state=np.random.default_rng(seed))',
        'random_state=np.random.default_rng(0))',
        'tests/test_intervals.py -k test_r8_bootstrap_ci_seed_and_n_resamples_are_scipys'),
    # bootstrap_ci always draws 10,000 resamples
    'r8stats_bootstrap_ci_n_resamples_ignored': (
        'milhelpers/experiments.py',
        '    res = bootstrap((v,), np.mean, n_resamples=n_resamples, confidence_level=confidence,',
        '    res = bootstrap((v,), np.mean, n_resamples=10_000, confidence_level=confidence,',
        'tests/test_intervals.py -k test_r8_bootstrap_ci_seed_and_n_resamples_are_scipys'),
    # paired_stats drops its seed when it asks bootstrap_ci for the interval
    'r8stats_paired_stats_seed_dropped': (
        'milhelpers/experiments.py',
        '"ci95": list(bootstrap_ci(d, n_resamples, seed)),',
        '"ci95": list(bootstrap_ci(d, n_resamples)),',
        'tests/test_intervals.py -k test_r8_paired_stats_every_field_and_its_seed_by_hand'),
    # paired_stats keeps pairs where only b is defined: NaN differences poison n and diff
    'r8stats_paired_stats_nan_of_a_kept': (
        'milhelpers/experiments.py',
        '    ok = ~(np.isnan(a) | np.isnan(b))\n    d = b[ok] - a[ok]',
        '    ok = ~np.isnan(b)\n    d = b[ok] - a[ok]',
        'tests/test_intervals.py -k test_r8_paired_stats_every_field_and_its_seed_by_hand'),
    # correlation_ci resamples with seed 0 whatever seed is asked
    'r8stats_correlation_seed_ignored': (
        'milhelpers/experiments.py',
        '    rng = np.random.default_rng(seed)\n    idx = rng.integers(0, n, size=(n_resamples, n))',
        '    rng = np.random.default_rng(0)\n    idx = rng.integers(0, n, size=(n_resamples, n))',
        'tests/test_intervals.py -k test_r8_correlation_ci_seed_is_the_resample_draw_and_the_fields_by_hand'),
    # mean_ci_table writes the interval's upper bound to 3 digits whatever digits asks
    'r8stats_mean_ci_digits_hi': (
        'milhelpers/experiments.py',
        '{hi:.{digits}f}]"',
        '{hi:.3f}]"',
        'tests/test_experiments_report.py -k test_r8_mean_ci_table_digits_reach_every_number_and_methods_default_to_all'),
    # a single run's value is written to 3 digits whatever digits asks
    'r8stats_mean_ci_digits_one_run': (
        'milhelpers/experiments.py',
        '            return f"{v[0]:.{digits}f}"',
        '            return f"{v[0]:.3f}"',
        'tests/test_experiments_report.py -k test_r8_mean_ci_table_digits_reach_every_number_and_methods_default_to_all'),
    # summarize writes the std to 3 digits whatever digits asks
    'r8stats_summarize_digits_std': (
        'milhelpers/metrics.py',
        ' ± {s:.{digits}f}"',
        ' ± {s:.3f}"',
        'tests/test_metrics_viz.py -k test_r8_summarize_digits_reach_both_numbers_and_the_columns_by_hand'),
    # summarize's std with ddof=0
    'r8stats_summarize_std_ddof0': (
        'milhelpers/metrics.py',
        '"std": num.std(ddof=1)',
        '"std": num.std(ddof=0)',
        'tests/test_metrics_viz.py -k test_r8_summarize_digits_reach_both_numbers_and_the_columns_by_hand'),
    # topk_members lets tied weights enter from the last position
    'r8stats_topk_members_ties_from_last': (
        'milhelpers/metrics.py',
        '        member[np.argsort(-row, kind="stable")[:k]] = True',
        '        member[np.argsort(row, kind="stable")[::-1][:k]] = True',
        'tests/test_metrics_viz.py -k test_r8_tied_weights_enter_the_top_k_from_the_first_position'),
    # top_branch lets tied weights enter a head's top k from the last position
    'r8stats_top_branch_ties_from_last': (
        'milhelpers/metrics.py',
        '        inside[h, np.argsort(-row, kind="stable")[:k]] = True',
        '        inside[h, np.argsort(row, kind="stable")[::-1][:k]] = True',
        'tests/test_metrics_viz.py -k test_r8_tied_weights_enter_the_top_k_from_the_first_position'),
    # patch_kind: a tumour fraction exactly at the threshold is not tumour
    'r8stats_patch_kind_threshold_strict': (
        'milhelpers/instances.py',
        '    tumour = table["tumour_fraction"].fillna(0.0).to_numpy() >= threshold',
        '    tumour = table["tumour_fraction"].fillna(0.0).to_numpy() > threshold',
        'tests/test_instances.py -k test_r8_patch_kind_threshold_is_inclusive_and_the_option_is_used'),
    # patch_kind ignores its threshold option (always KIND_THRESHOLD)
    'r8stats_patch_kind_threshold_ignored': (
        'milhelpers/instances.py',
        '    tumour = table["tumour_fraction"].fillna(0.0).to_numpy() >= threshold',
        '    tumour = table["tumour_fraction"].fillna(0.0).to_numpy() >= KIND_THRESHOLD',
        'tests/test_instances.py -k test_r8_patch_kind_threshold_is_inclusive_and_the_option_is_used'),
    # topk_counts (via _top) lets tied weights enter from the last position
    'r8stats_topk_counts_ties_from_last': (
        'milhelpers/instances.py',
        '    return np.argsort(-row, kind="stable")[:k]',
        '    return np.argsort(row, kind="stable")[::-1][:k]',
        'tests/test_instances.py -k test_r8_topk_counts_break_ties_by_position'),
    # visibility_summary's bins exclude their upper end
    'r8stats_visibility_bin_hi_exclusive': (
        'milhelpers/visibility.py',
        '(table.n_tumour <= hi)',
        '(table.n_tumour < hi)',
        'tests/test_visibility.py -k test_r8_summary_bins_are_inclusive_at_both_ends_and_every_column_by_hand'),
    # visibility_summary's bins exclude their lower end
    'r8stats_visibility_bin_lo_exclusive': (
        'milhelpers/visibility.py',
        '(table.n_tumour >= lo)',
        '(table.n_tumour > lo)',
        'tests/test_visibility.py -k test_r8_summary_bins_are_inclusive_at_both_ends_and_every_column_by_hand'),
    # share_of_bags divides by the bags with a tumour patch instead of all rows
    'r8stats_visibility_share_denominator': (
        'milhelpers/visibility.py',
        '"share_of_bags": float(sel.mean()) if len(table) else float("nan"),',
        '"share_of_bags": float(sel.sum() / max(1, (table.n_tumour > 0).sum())) if len(table) else float("nan"),',
        'tests/test_visibility.py -k test_r8_summary_bins_are_inclusive_at_both_ends_and_every_column_by_hand'),
    # r_h_schedule ignores points (always 50)
    'r8stats_r_h_points_ignored': (
        'milhelpers/visibility.py',
        '    t = np.arange(points) / points',
        '    t = np.arange(50) / 50',
        'tests/test_visibility.py -k test_r8_r_h_schedule_points_and_decay_are_used'),
    # format_table writes the sd to 3 digits whatever digits asks
    'r8stats_format_table_sd_digits': (
        'milhelpers/comparison.py',
        '(f" ± {sd:.{digits}f}" if np.isfinite(sd) else "")',
        '(f" ± {sd:.3f}" if np.isfinite(sd) else "")',
        'tests/test_comparison.py -k test_r8_format_table_digits_metrics_and_each_cell_rule_by_hand'),
    # format_table rounds peak memory to 0.1 MB like seconds
    'r8stats_format_table_peak_mb_rule': (
        'milhelpers/comparison.py',
        '        if k == "peak_mb":\n            return f"{v:.0f}"',
        '        if k == "peak_mb":\n            return f"{v:.1f}"',
        'tests/test_comparison.py -k test_r8_format_table_digits_metrics_and_each_cell_rule_by_hand'),
    # cost_front always maximises the AUC, whatever value is asked
    'r8stats_cost_front_value_ignored': (
        'milhelpers/comparison.py',
        '                                        table[value].to_numpy(np.float64)),',
        '                                        table["auc"].to_numpy(np.float64)),',
        'tests/test_comparison.py -k test_r8_cost_front_value_option_and_a_tie_in_cost'),
    # pareto_front: an identical point counts as dominating, so tied points knock each other off
    'r8stats_pareto_equal_dominates': (
        'milhelpers/stats.py',
        '        better = (c < c[i]).any(1) | (v > v[i])',
        '        better = (c <= c[i]).any(1) | (v >= v[i])',
        'tests/test_comparison.py -k test_r8_cost_front_value_option_and_a_tie_in_cost'),
})


# round 9: tiling and slide reading (non-square slides, anisotropic downsamples, rounding)
MUTANTS.update({
    'audit9_tiling_tissue_frac_y_axis': (
        'milhelpers/tiling.py',
        'y1 = np.clip(np.round((coords[:, 1] + size0) / downsample[1])',
        'y1 = np.clip(np.round((coords[:, 1] + size0) / downsample[0])',
        'tests/test_tiling_paths.py -k test_r9_box_fraction_on_an_anisotropic_mask_by_hand'),
    'audit9_tiling_median_blur_skipped_3': (
        'milhelpers/tiling.py',
        'sat = cv2.medianBlur(hsv[..., 1], mthresh) if mthresh > 1 else',
        'sat = cv2.medianBlur(hsv[..., 1], mthresh) if mthresh > 3 else',
        'tests/test_tiling_paths.py -k test_r9_a_three_pixel_median_blur_removes_salt_and_rounds_corners'),
    'audit9_tiling_thumbnail_truncates': (
        'milhelpers/slides.py',
        'size = (max(1, round(w / scale)), max(1, round(h / scale)))',
        'size = (max(1, int(w / scale)), max(1, int(h / scale)))',
        'tests/test_tiling_paths.py -k test_r9_thumbnail_of_a_1000_by_999_slide_rounds_its_height_and_reads_the_right_level'),
    'audit9_tiling_read_patch_floor': (
        'milhelpers/slides.py',
        'n = max(1, int(round(size0 / ds)))',
        'n = max(1, int(size0 // ds))',
        'tests/test_tiling_paths.py -k test_r9_read_patch_rounds_the_level_read_and_resizes_it_by_area'),
    # box_fraction floors a box's left edge instead of rounding it to the nearest mask pixel
    'r9tiling_box_x0_floor': (
        'milhelpers/tiling.py',
        'x0 = np.clip(np.round(coords[:, 0] / downsample[0])',
        'x0 = np.clip(np.floor(coords[:, 0] / downsample[0])',
        'tests/test_tiling_paths.py -k test_r9_box_fraction_on_an_anisotropic_mask_by_hand'),
    # box_fraction floors a box's bottom edge, dropping a row the box mostly covers
    'r9tiling_box_y1_floor': (
        'milhelpers/tiling.py',
        'y1 = np.clip(np.round((coords[:, 1] + size0) / downsample[1])',
        'y1 = np.clip(np.floor((coords[:, 1] + size0) / downsample[1])',
        'tests/test_tiling_paths.py -k test_r9_box_fraction_on_an_anisotropic_mask_by_hand'),
    # box_fraction ceils a box's right edge, adding a column the box barely touches
    'r9tiling_box_x1_ceil': (
        'milhelpers/tiling.py',
        'x1 = np.clip(np.round((coords[:, 0] + size0) / downsample[0])',
        'x1 = np.clip(np.ceil((coords[:, 0] + size0) / downsample[0])',
        'tests/test_tiling_paths.py -k test_r9_box_fraction_on_an_anisotropic_mask_by_hand'),
    # box_fraction clips a box's bottom edge at the mask width, not its height (reads past the last row)
    'r9tiling_box_y1_clip_width': (
        'milhelpers/tiling.py',
        'y1 = np.clip(np.round((coords[:, 1] + size0) / downsample[1]).astype(int), 0, h)',
        'y1 = np.clip(np.round((coords[:, 1] + size0) / downsample[1]).astype(int), 0, w)',
        'tests/test_tiling_paths.py -k test_r9_box_fraction_on_an_anisotropic_mask_by_hand'),
    # box_fraction's one-pixel minimum height is bounded by the mask width (a box below the mask reads past it)
    'r9tiling_box_min_height_width': (
        'milhelpers/tiling.py',
        'np.maximum(y1, np.minimum(y0 + 1, h))',
        'np.maximum(y1, np.minimum(y0 + 1, w))',
        'tests/test_tiling_paths.py -k test_r9_box_fraction_on_an_anisotropic_mask_by_hand'),
    # patch_grid truncates the level-0 patch side (41.67 → 41 instead of 42)
    'r9tiling_size0_truncated': (
        'milhelpers/tiling.py',
        'return max(1, int(round(patch_size * target_mpp / level0_mpp)))',
        'return max(1, int(patch_size * target_mpp / level0_mpp))',
        'tests/test_tiling_paths.py -k test_r9_patch_grid_on_a_non_square_slide_by_hand'),
    # patch_grid truncates the level-0 step (36.67 → 36 instead of 37)
    'r9tiling_step_truncated': (
        'milhelpers/tiling.py',
        'step0 = max(1, int(round((patch_size - overlap) * scale)))',
        'step0 = max(1, int((patch_size - overlap) * scale))',
        'tests/test_tiling_paths.py -k test_r9_patch_grid_on_a_non_square_slide_by_hand'),
    # patch_grid reads the slide's (width, height) as (height, width): columns and rows swapped
    'r9tiling_grid_dims_swapped': (
        'milhelpers/tiling.py',
        '    w0, h0 = dimensions',
        '    h0, w0 = dimensions',
        'tests/test_tiling_paths.py -k test_r9_patch_grid_on_a_non_square_slide_by_hand'),
    # segment_tissue truncates the mask height (249 rows for 249.75, downsample 4.012)
    'r9tiling_mask_height_truncated': (
        'milhelpers/tiling.py',
        'out_w, out_h = max(1, round(w0 / mask_ds)), max(1, round(h0 / mask_ds))',
        'out_w, out_h = max(1, round(w0 / mask_ds)), max(1, int(h0 / mask_ds))',
        'tests/test_tiling_paths.py -k test_r9_segmenting_a_1000_by_999_slide_keeps_its_anisotropic_downsample'),
    # segment_tissue scales contours to level 0 with the axes' downsamples swapped
    'r9tiling_contour_scale_swapped': (
        'milhelpers/tiling.py',
        '            scale = np.array(ds)',
        '            scale = np.array(ds[::-1])',
        'tests/test_tiling_paths.py -k test_r9_segmenting_a_1000_by_999_slide_keeps_its_anisotropic_downsample'),
    # segment_tissue returns hole contours in mask pixels, not level-0 pixels
    'r9tiling_hole_scale_dropped': (
        'milhelpers/tiling.py',
        'kept_h.append([hc[:, 0, :].astype(np.float64) * scale for hc in holes])',
        'kept_h.append([hc[:, 0, :].astype(np.float64) for hc in holes])',
        'tests/test_tiling_paths.py -k test_r9_segmenting_a_1000_by_999_slide_keeps_its_anisotropic_downsample'),
    # the reference area uses the x downsample squared (one mask pixel's area wrong on an anisotropic mask)
    'r9tiling_ref_area_x_squared': (
        'milhelpers/tiling.py',
        '((slide.mpp ** 2) * ds[0] * ds[1])',
        '((slide.mpp ** 2) * ds[0] * ds[0])',
        'tests/test_tiling_paths.py -k test_r9_segmenting_a_1000_by_999_slide_keeps_its_anisotropic_downsample'),
    # the reference area uses the y downsample squared
    'r9tiling_ref_area_y_squared': (
        'milhelpers/tiling.py',
        '((slide.mpp ** 2) * ds[0] * ds[1])',
        '((slide.mpp ** 2) * ds[1] * ds[1])',
        'tests/test_tiling_paths.py -k test_r9_segmenting_a_1000_by_999_slide_keeps_its_anisotropic_downsample'),
    # the scaled median kernel is truncated to the odd size below (7 · 0.625 → 3 instead of 5)
    'r9tiling_mthresh_truncated': (
        'milhelpers/tiling.py',
        'mthresh = max(1, 2 * int(round((params.mthresh * k - 1) / 2)) + 1)',
        'mthresh = max(1, 2 * int((params.mthresh * k - 1) / 2) + 1)',
        'tests/test_tiling_paths.py -k test_r9_median_and_closing_kernels_round_to_their_physical_size'),
    # the scaled closing kernel is truncated (3 · 0.625 = 1.875 → 1: no closing)
    'r9tiling_close_truncated': (
        'milhelpers/tiling.py',
        'close = int(round(params.close * k))',
        'close = int(params.close * k)',
        'tests/test_tiling_paths.py -k test_r9_median_and_closing_kernels_round_to_their_physical_size'),
    # segment_tissue reads level 0 whatever level segmentation_level chose
    'r9tiling_seg_reads_level0': (
        'milhelpers/tiling.py',
        'img = slide.read_level_resized(level, (out_w, out_h))',
        'img = slide.read_level_resized(0, (out_w, out_h))',
        'tests/test_tiling_paths.py -k test_r9_median_and_closing_kernels_round_to_their_physical_size'),
    # the median blur runs on the value channel instead of the saturation
    'r9tiling_blur_value_channel': (
        'milhelpers/tiling.py',
        'sat = cv2.medianBlur(hsv[..., 1], mthresh)',
        'sat = cv2.medianBlur(hsv[..., 2], mthresh)',
        'tests/test_tiling_paths.py -k test_r9_a_three_pixel_median_blur_removes_salt_and_rounds_corners'),
    # thumbnail reads level 0 instead of the deepest level not coarser than asked
    'r9tiling_thumb_level0': (
        'milhelpers/slides.py',
        '        level = self.best_level_for_downsample(scale)\n',
        '        level = 0\n',
        'tests/test_tiling_paths.py -k test_r9_thumbnail_of_a_1000_by_999_slide_rounds_its_height_and_reads_the_right_level'),
    # read_patch picks its level from out_px / size0 (always level 0)
    'r9tiling_patch_level_inverted': (
        'milhelpers/slides.py',
        'level = self.best_level_for_downsample(size0 / out_px)',
        'level = self.best_level_for_downsample(out_px / size0)',
        'tests/test_tiling_paths.py -k test_r9_read_patch_rounds_the_level_read_and_resizes_it_by_area'),
    # read_patch passes its location as (y, x)
    'r9tiling_patch_location_swapped': (
        'milhelpers/slides.py',
        'rgb = self.read_region(location, level, (n, n))',
        'rgb = self.read_region(location[::-1], level, (n, n))',
        'tests/test_tiling_paths.py -k test_r9_read_patch_rounds_the_level_read_and_resizes_it_by_area'),
    # read_level_resized gives each strip's top in level px where level-0 px are expected
    'r9tiling_strip_location_level_px': (
        'milhelpers/slides.py',
        'strip = self.read_region((0, int(round(sy0 * d))), level,',
        'strip = self.read_region((0, sy0), level,',
        'tests/test_tiling_paths.py -k test_r9_level_read_in_strips_takes_each_strip_from_its_own_rows'),
    # read_level_resized takes its rows-per-output-row factor from the width
    'r9tiling_strip_factor_from_width': (
        'milhelpers/slides.py',
        'fy = lh / out_h  # source rows per output row',
        'fy = lw / out_w  # source rows per output row',
        'tests/test_tiling_paths.py -k test_r9_level_read_in_strips_takes_each_strip_from_its_own_rows'),
    # read_level_resized reads each strip one row short
    'r9tiling_strip_last_row_dropped': (
        'milhelpers/slides.py',
        '(lw, max(1, sy1 - sy0)))',
        '(lw, max(1, sy1 - sy0 - 1)))',
        'tests/test_tiling_paths.py -k test_r9_level_read_in_strips_takes_each_strip_from_its_own_rows'),
    # read_level_resized rounds a strip's top row instead of flooring it (the strip starts a row late)
    'r9tiling_strip_top_rounded': (
        'milhelpers/slides.py',
        'sy0, sy1 = int(math.floor(oy0 * fy)), min(lh, int(math.ceil(oy1 * fy)))',
        'sy0, sy1 = int(round(oy0 * fy)), min(lh, int(math.ceil(oy1 * fy)))',
        'tests/test_tiling_paths.py -k test_r9_level_read_in_strips_takes_each_strip_from_its_own_rows'),
    # read_level_resized floors a strip's bottom row, leaving out the row it half covers
    'r9tiling_strip_bottom_floored': (
        'milhelpers/slides.py',
        'sy0, sy1 = int(math.floor(oy0 * fy)), min(lh, int(math.ceil(oy1 * fy)))',
        'sy0, sy1 = int(math.floor(oy0 * fy)), min(lh, int(math.floor(oy1 * fy)))',
        'tests/test_tiling_paths.py -k test_r9_level_read_in_strips_takes_each_strip_from_its_own_rows'),
    # draw_qc truncates a box's top-left corner to the thumbnail pixel
    'r9tiling_qc_box_corner_truncated': (
        'milhelpers/tiling.py',
        'p0 = (int(round(x)), int(round(y)))',
        'p0 = (int(x), int(y))',
        'tests/test_tiling_paths.py -k test_r9_qc_drawing_rounds_to_the_nearest_thumbnail_pixel_and_widens_lines_on_tall_images'),
    # draw_qc truncates a box's bottom-right corner
    'r9tiling_qc_box_far_corner_truncated': (
        'milhelpers/tiling.py',
        'p1 = (int(round(x + size0 / thumb_downsample)), int(round(y + size0 / thumb_downsample)))',
        'p1 = (int(x + size0 / thumb_downsample), int(y + size0 / thumb_downsample))',
        'tests/test_tiling_paths.py -k test_r9_qc_drawing_rounds_to_the_nearest_thumbnail_pixel_and_widens_lines_on_tall_images'),
    # draw_qc sizes its lines from the thumbnail's shorter side (hair-thin on a tall slide)
    'r9tiling_qc_line_width_shorter_side': (
        'milhelpers/tiling.py',
        'thick = max(1, round(max(img.shape[:2]) / 400))',
        'thick = max(1, round(min(img.shape[:2]) / 400))',
        'tests/test_tiling_paths.py -k test_r9_qc_drawing_rounds_to_the_nearest_thumbnail_pixel_and_widens_lines_on_tall_images'),
    # draw_qc truncates the line width (2.75 → 2)
    'r9tiling_qc_line_width_truncated': (
        'milhelpers/tiling.py',
        'thick = max(1, round(max(img.shape[:2]) / 400))',
        'thick = max(1, int(max(img.shape[:2]) / 400))',
        'tests/test_tiling_paths.py -k test_r9_qc_drawing_rounds_to_the_nearest_thumbnail_pixel_and_widens_lines_on_tall_images'),
    # draw_qc truncates tissue contours to thumbnail pixels
    'r9tiling_qc_contour_truncated': (
        'milhelpers/tiling.py',
        'pts = np.round(c / thumb_downsample).astype(np.int32)',
        'pts = (c / thumb_downsample).astype(np.int32)',
        'tests/test_tiling_paths.py -k test_r9_qc_drawing_rounds_to_the_nearest_thumbnail_pixel_and_widens_lines_on_tall_images'),
    # draw_qc truncates hole contours to thumbnail pixels
    'r9tiling_qc_hole_truncated': (
        'milhelpers/tiling.py',
        'hp = np.round(hc / thumb_downsample).astype(np.int32)',
        'hp = (hc / thumb_downsample).astype(np.int32)',
        'tests/test_tiling_paths.py -k test_r9_qc_drawing_rounds_to_the_nearest_thumbnail_pixel_and_widens_lines_on_tall_images'),
    # read_patch only resizes reads larger than out_px: an enlarged patch comes back at the read size
    'r9tiling_patch_upsample_not_resized': (
        'milhelpers/slides.py',
        '        if n != out_px:\n',
        '        if n > out_px:\n',
        'tests/test_tiling_paths.py -k test_r9_read_patch_rounds_the_level_read_and_resizes_it_by_area'),
    # tile_slide draws the QC boxes at the target-resolution patch size, not the level-0 one
    'r9tiling_qc_boxes_target_size': (
        'milhelpers/tiling.py',
        'qc_out = save_png(qc_path, draw_qc(thumb, tds, tissue, coords, size0))',
        'qc_out = save_png(qc_path, draw_qc(thumb, tds, tissue, coords, patch_size))',
        'tests/test_tiling_paths.py -k test_r9_tile_slide_on_a_wide_slide_grids_and_draws_by_hand'),
    # tile_slide passes the scan's and the target's mpp to patch_grid the wrong way round
    'r9tiling_tile_grid_mpps_swapped': (
        'milhelpers/tiling.py',
        'coords, _, size0 = patch_grid(slide.dimensions, level0_mpp, tissue, target_mpp,',
        'coords, _, size0 = patch_grid(slide.dimensions, target_mpp, tissue, level0_mpp,',
        'tests/test_tiling_paths.py -k test_r9_tile_slide_on_a_wide_slide_grids_and_draws_by_hand'),
    # tile_folder's stale pre-check assumes another preset than tile_slide's default
    'r9tiling_pipe_default_preset': (
        'milhelpers/pipeline.py',
        'params = tile_kwargs.get("params", "biopsy")',
        'params = tile_kwargs.get("params", "tcga")',
        'tests/test_pipeline.py -k test_r9_a_folder_rerun_at_the_default_settings_keeps_its_coordinates'),
    # tile_folder's stale pre-check assumes another default target_mpp
    'r9tiling_pipe_default_target_mpp': (
        'milhelpers/pipeline.py',
        'requested = tiling_settings(tile_kwargs.get("target_mpp", 0.5),',
        'requested = tiling_settings(tile_kwargs.get("target_mpp", 1.0),',
        'tests/test_pipeline.py -k test_r9_a_folder_rerun_at_the_default_settings_keeps_its_coordinates'),
    # tile_folder's stale pre-check assumes another default min_tissue
    'r9tiling_pipe_default_min_tissue': (
        'milhelpers/pipeline.py',
        'tile_kwargs.get("min_tissue", 0.25),\n',
        'tile_kwargs.get("min_tissue", 0.5),\n',
        'tests/test_pipeline.py -k test_r9_a_folder_rerun_at_the_default_settings_keeps_its_coordinates'),
    # tile_folder's stale pre-check assumes another default patch size
    'r9tiling_pipe_default_patch_size': (
        'milhelpers/pipeline.py',
        '    tile_kwargs.get("patch_size", 256), tile_kwargs.get("overlap", 0),',
        '    tile_kwargs.get("patch_size", 224), tile_kwargs.get("overlap", 0),',
        'tests/test_pipeline.py -k test_r9_a_folder_rerun_at_the_default_settings_keeps_its_coordinates'),
    # segment_tissue records the nominal mask downsample, not the one the rounded mask size gives (4.0 for 3.996)
    'r9tiling_mask_ds_nominal': (
        'milhelpers/tiling.py',
        '    ds = (w0 / out_w, h0 / out_h)',
        '    ds = (mask_ds, mask_ds)',
        'tests/test_tiling_paths.py -k test_r9_segmenting_a_1000_by_999_slide_keeps_its_anisotropic_downsample'),
    # segment_tissue inverts the mask downsample (scan mpp / seg_mpp): the mask is made at level 0
    'r9tiling_target_ds_inverted': (
        'milhelpers/tiling.py',
        'target_ds = max(1.0, params.seg_mpp / slide.mpp)',
        'target_ds = max(1.0, slide.mpp / params.seg_mpp)',
        'tests/test_tiling_paths.py -k test_r9_segmenting_a_1000_by_999_slide_keeps_its_anisotropic_downsample'),
})

# round 9: method models, losses and MHIM visibility — the audit-9 survivors of losses.py,
# packmil.py, mhim.py and visibility.py, and every input check / init / forward option near them
MUTANTS.update({
    'audit9_aem_entropy_shape_check_dropped': (
        'milhelpers/losses.py',
        '    check_attention_shapes(attention_logits, mask)',
        '    pass',
        'tests/test_losses.py -k test_r9_entropy_refuses_logits_without_a_head_axis_and_a_mismatched_mask'),
    'audit9_aem_normalize_validation': (
        'milhelpers/losses.py',
        '    if normalize not in AEM_NORMALIZATIONS:',
        '    if normalize not in AEM_NORMALIZATIONS + AEM_SCHEDULES:',
        'tests/test_losses.py -k test_r9_aem_term_refuses_each_others_option_names'),
    'audit9_packmil_residual_needs_mask': (
        'milhelpers/models/packmil.py',
        '        if residual is not None:',
        '        if residual_mask is not None:',
        'tests/test_packing.py -k test_r9_hyperslide_logits_with_and_without_a_residual_mask'),
    'audit9_mhim_queries_init_nonneg': (
        'milhelpers/models/mhim.py',
        'uniform_(-bound, bound))',
        'uniform_(0, bound))',
        'tests/test_mhim.py -k test_r9_recycle_queries_start_uniform_on_minus_v_to_v'),
    'audit9_mhim_vis_pool_counts_low': (
        'milhelpers/visibility.py',
        'int(t_rest[pool].sum())',
        'int(t[pool].sum())',
        'tests/test_visibility.py -k test_r9_p_no_tumour_visible_equals_the_brute_force_enumeration'),
    # schedule='log_n' accepted (and silently read as the cosine schedule)
    'r9models_aem_schedule_accepts_normalizations': (
        'milhelpers/losses.py',
        '    if schedule not in AEM_SCHEDULES:',
        '    if schedule not in AEM_SCHEDULES + AEM_NORMALIZATIONS:',
        'tests/test_losses.py -k test_r9_aem_term_refuses_each_others_option_names'),
    # lam=False passes as the number 0 (bool is a Real)
    'r9models_aem_lam_bool_allowed': (
        'milhelpers/losses.py',
        'if isinstance(lam, bool) or not isinstance(lam, Real)',
        'if not isinstance(lam, Real)',
        'tests/test_losses.py -k test_r9_aem_term_refuses_each_others_option_names'),
    # soft targets that miss 1 by 1e-3 (a wrong target) are accepted
    'r9models_soft_target_tolerance_widened': (
        'milhelpers/losses.py',
        'atol=1e-4)',
        'atol=1e-2)',
        'tests/test_losses.py -k test_r9_soft_targets_sum_to_one_within_1e_4_and_no_further'),
    # float rounding of a token mixture (1 + 5e-5) is refused
    'r9models_soft_target_tolerance_too_tight': (
        'milhelpers/losses.py',
        'atol=1e-4)',
        'atol=1e-7)',
        'tests/test_losses.py -k test_r9_soft_targets_sum_to_one_within_1e_4_and_no_further'),
    # (2, 3) against (3, 2) embeddings pass the check and fail later with another error
    'r9models_consistency_checks_numel_only': (
        'milhelpers/losses.py',
        '    if student.shape != teacher.shape:',
        '    if student.numel() != teacher.numel():',
        'tests/test_losses.py -k test_r9_shape_checks_of_the_branch_and_consistency_losses_accept_the_boundary'),
    # one branch: the mean over zero pairs is NaN instead of 0
    'r9models_diversity_one_branch_nan': (
        'milhelpers/losses.py',
        '    if m < 2:',
        '    if m < 1:',
        'tests/test_losses.py -k test_r9_shape_checks_of_the_branch_and_consistency_losses_accept_the_boundary'),
    # 4-d branch logits get past the check
    'r9models_branch_ce_accepts_more_dims': (
        'milhelpers/losses.py',
        '    if branch_logits.dim() != 3:',
        '    if branch_logits.dim() < 3:',
        'tests/test_losses.py -k test_r9_shape_checks_of_the_branch_and_consistency_losses_accept_the_boundary'),
    # the queries' bound forgets the embedding width E
    'r9models_queries_bound_without_dim': (
        'milhelpers/models/mhim.py',
        'bound = math.sqrt(6.0 / (3 * 16 * 16 + dim))',
        'bound = math.sqrt(6.0 / (3 * 16 * 16))',
        'tests/test_mhim.py -k test_r9_recycle_queries_start_uniform_on_minus_v_to_v'),
    # the queries drawn normal with std v: unbounded, 1.7× the spread
    'r9models_queries_normal_init': (
        'milhelpers/models/mhim.py',
        '.uniform_(-bound, bound))',
        '.normal_(0.0, bound))',
        'tests/test_mhim.py -k test_r9_recycle_queries_start_uniform_on_minus_v_to_v'),
    # recycle_split never checks ρ: 1.01 keeps everything silently
    'r9models_recycle_split_ratio_unchecked': (
        'milhelpers/models/mhim.py',
        '    keep_ratio = _check_ratio("merge_ratio", keep_ratio)',
        '    keep_ratio = float(keep_ratio)',
        'tests/test_mhim.py -k test_r9_r_hr_is_open_at_0_closed_at_1_and_merge_ratio_closed_at_both'),
    # r_hr = 0 accepted: r_h / r_hr divides by zero
    'r9models_r_hr_zero_allowed': (
        'milhelpers/models/mhim.py',
        'if not (v > 0 if open_low else v >= 0)',
        'if not (v >= 0 if open_low else v >= 0)',
        'tests/test_mhim.py -k test_r9_r_hr_is_open_at_0_closed_at_1_and_merge_ratio_closed_at_both'),
    # the student sees padding: visible ignores the padding mask
    'r9models_mhim_visible_ignores_padding': (
        'milhelpers/models/mhim.py',
        '        visible = mask & ~masked',
        '        visible = ~masked',
        'tests/test_mhim.py -k test_r9_mhim_forward_mask_none_all_true_and_padded_match_the_student_by_hand'),
    # the queries skip the LayerNorm shared with the recycled instances
    'r9models_recycle_queries_not_normed': (
        'milhelpers/models/mhim.py',
        'q = self.to_q(self.norm(self.queries))',
        'q = self.to_q(self.queries)',
        'tests/test_mhim.py -k test_r9_v2_with_everything_recycled_pools_the_recycle_tokens_by_hand'),
    # the old queries weighted 1 − m instead of m in their EMA step
    'r9models_recycle_query_ema_swapped': (
        'milhelpers/models/mhim.py',
        'self.queries = (self.momentum * self.queries',
        'self.queries = ((1.0 - self.momentum) * self.queries',
        'tests/test_mhim.py -k test_r9_v2_with_everything_recycled_pools_the_recycle_tokens_by_hand'),
    # the recycle tokens attend to every slot, kept, hidden and padding included
    'r9models_recycle_attends_everything': (
        'milhelpers/models/mhim.py',
        '        keep = recycled[:, None, None, :]',
        '        keep = torch.ones_like(recycled)[:, None, None, :]',
        'tests/test_mhim.py -k test_r9_v2_with_everything_recycled_pools_the_recycle_tokens_by_hand'),
    # the student pools every real instance with the tokens, not only the kept ones
    'r9models_v2_student_pools_all_real': (
        'milhelpers/models/mhim.py',
        'torch.cat([kept, ones], 1))',
        'torch.cat([mask, ones], 1))',
        'tests/test_mhim.py -k test_r9_v2_with_everything_recycled_pools_the_recycle_tokens_by_hand'),
    # the padded residual pack is pooled over its padding too
    'r9models_residual_mask_ignored': (
        'milhelpers/models/packmil.py',
        'ABMIL.forward(self, residual, residual_mask).logits',
        'ABMIL.forward(self, residual, None).logits',
        'tests/test_packing.py -k test_r9_hyperslide_logits_with_and_without_a_residual_mask'),
    # a gap in the slide numbering (slide 1 missing) passes
    'r9models_packed_slide_gap_allowed': (
        'milhelpers/models/packmil.py',
        'if torch.bincount(s_tok, minlength=n_slides).eq(0).any():',
        'if torch.bincount(s_tok, minlength=n_slides).eq(0).all():',
        'tests/test_packing.py -k test_r9_packed_input_checks_refuse_bad_shapes_and_accept_the_boundary'),
    # slide_index of another length than the pack passes the check
    'r9models_packed_index_shape_unchecked': (
        'milhelpers/models/packmil.py',
        'if x.dim() != 3 or slide_index.shape != x.shape[:2]:',
        'if x.dim() != 3:',
        'tests/test_packing.py -k test_r9_packed_input_checks_refuse_bad_shapes_and_accept_the_boundary'),
    # ads_ratio = 2, the smallest compression, refused
    'r9models_ads_ratio_two_refused': (
        'milhelpers/models/packmil.py',
        'or ratio < 2:',
        'or ratio <= 2:',
        'tests/test_packing.py -k test_r9_packed_input_checks_refuse_bad_shapes_and_accept_the_boundary'),
    # tumour in the low set still has to be covered by the high or random set
    'r9models_visible_low_not_removed': (
        'milhelpers/visibility.py',
        '    t_rest = t & ~low',
        '    t_rest = t',
        'tests/test_visibility.py -k test_r9_p_no_tumour_visible_equals_the_brute_force_enumeration'),
    # r_h/r_hr >= 1 hides all n instead of ⌈n·r_h⌉
    'r9models_visible_high_all_hides_n': (
        'milhelpers/visibility.py',
        '            pool, n_h = np.arange(n), mask_count(n, r_h)',
        '            pool, n_h = np.arange(n), n',
        'tests/test_visibility.py -k test_r9_p_no_tumour_visible_equals_the_brute_force_enumeration'),
    # the high pool is the top ⌈n·r_h⌉, not the top ⌈n·r_h/r_hr⌉
    'r9models_visible_pool_without_r_hr': (
        'milhelpers/visibility.py',
        '            pool = order[:mask_count(n, r_h / r_hr)]',
        '            pool = order[:mask_count(n, r_h)]',
        'tests/test_visibility.py -k test_r9_p_no_tumour_visible_equals_the_brute_force_enumeration'),
    # an empty bag returns 1 instead of an error
    'r9models_visible_empty_bag_allowed': (
        'milhelpers/visibility.py',
        '    if n == 0:\n        raise ValueError("an empty bag',
        '    if n < 0:\n        raise ValueError("an empty bag',
        'tests/test_visibility.py -k test_r9_p_no_tumour_visible_hand_counts_at_the_ratio_edges'),
    # v2 keeps ⌈L·ρ⌉ instead of ⌊L·ρ⌋
    'r9models_kept_rounds_up': (
        'milhelpers/visibility.py',
        '    keep = int(n_left * keep_ratio)',
        '    keep = math.ceil(n_left * keep_ratio)',
        'tests/test_visibility.py -k test_r9_p_no_tumour_kept_equals_the_brute_force_enumeration'),
    # v2's hidden top rounded down: ⌊n·r_h⌋
    'r9models_kept_hidden_rounds_down': (
        'milhelpers/visibility.py',
        'hidden = np.argsort(-s, kind="stable")[:mask_count(n, r_h)]',
        'hidden = np.argsort(-s, kind="stable")[:int(n * r_h)]',
        'tests/test_visibility.py -k test_r9_p_no_tumour_kept_equals_the_brute_force_enumeration'),
    # one bag without instance labels gets past the check (only all-missing is caught)
    'r9models_packing_audit_label_check_all': (
        'milhelpers/visibility.py',
        'if any(b.instance_labels is None for b in bags):',
        'if all(b.instance_labels is None for b in bags):',
        'tests/test_visibility.py -k test_r9_p_no_tumour_kept_and_the_packing_audit_refuse_bad_input'),
    # the teacher's momentum of exactly 1 (frozen teacher) refused
    'r9models_schedule_momentum_one_refused': (
        'milhelpers/methods.py',
        '        if not 0 <= momentum <= 1:',
        '        if not 0 <= momentum < 1:',
        'tests/test_methods.py -k test_r9_method_checks_accept_their_bound_and_refuse_just_past_it'),
    # mask_drop = 1 accepted: STKIM may hide every top-K instance of a small bag
    'r9models_acmil_mask_drop_one_allowed': (
        'milhelpers/models/acmil.py',
        '        if not 0.0 <= mask_drop < 1.0:',
        '        if not 0.0 <= mask_drop <= 1.0:',
        'tests/test_acmil.py -k test_r9_mask_drop_is_closed_at_0_and_open_at_1'),
    # every branch classifier reads branch 0's embedding
    'r9models_acmil_branches_read_branch_0': (
        'milhelpers/models/acmil.py',
        'torch.stack([clf(z_m[:, i]) for i, clf in',
        'torch.stack([clf(z_m[:, 0]) for i, clf in',
        'tests/test_acmil.py -k test_r9_acmil_forward_mask_none_all_true_and_padded_match_the_weights'),
    # the slide embedding pools with the first branch's attention, not the branch mean
    'r9models_acmil_slide_attention_first_branch': (
        'milhelpers/models/acmil.py',
        'z = torch.einsum("bn,bne->be", slide_attention(a), h)',
        'z = torch.einsum("bn,bne->be", a[:, 0], h)',
        'tests/test_acmil.py -k test_r9_acmil_forward_mask_none_all_true_and_padded_match_the_weights'),
    # α = 0 (no consistency term) refused
    'r9models_mhim_alpha_zero_refused': (
        'milhelpers/methods.py',
        '    if not 0 <= opts["alpha"]:',
        '    if not 0 < opts["alpha"]:',
        'tests/test_methods.py -k test_r9_method_checks_accept_their_bound_and_refuse_just_past_it'),
    # student_init is never checked: a typo trains from scratch
    'r9models_student_init_unchecked': (
        'milhelpers/methods.py',
        '    if opts["student_init"] not in _STUDENT_INITS:',
        '    if opts["student_init"] is None:',
        'tests/test_methods.py -k test_r9_method_checks_accept_their_bound_and_refuse_just_past_it'),
    # alpha=True passes as the weight 1
    'r9models_packmil_alpha_bool_allowed': (
        'milhelpers/methods.py',
        '    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:',
        '    if not isinstance(alpha, (int, float)) or alpha < 0:',
        'tests/test_methods.py -k test_r9_method_checks_accept_their_bound_and_refuse_just_past_it'),
    # the multi-hot target trained with soft-target CE (its rows need not sum to 1) passes
    'r9models_packmil_ce_multihot_allowed': (
        'milhelpers/methods.py',
        '    if target == "multihot" and loss_name == "ce":',
        '    if False and loss_name == "ce":',
        'tests/test_methods.py -k test_r9_method_checks_accept_their_bound_and_refuse_just_past_it'),
})

# round 9: runner, statistics, metrics, params, feature files, sweeps (t3)
MUTANTS.update({
    'audit9_metrics_loc_median_not_mean': (
        'milhelpers/metrics.py',
        '"mean_slide_auc": float(np.mean(aucs)),',
        '"mean_slide_auc": float(np.median(aucs)),',
        'tests/test_metrics_viz.py -k test_r9_localization_auc_means_slides_ranks_within_them_and_counts_the_judged_ones'),
    'audit9_params_seed_bool_allowed': (
        'milhelpers/params.py',
        'if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:',
        'if not isinstance(seed, (int, np.integer)) or seed < 0:',
        'tests/test_params.py -k test_r9_chapter01_seed_takes_whole_numbers_from_zero_and_refuses_bools'),
    'audit9_runner_paired_any_zero_p1': (
        'milhelpers/experiments.py',
        'if np.all(d == 0):',
        'if np.any(d == 0):',
        'tests/test_runner_paths.py -k test_r9_paired_stats_some_or_all_differences_zero'),
    'audit9_h5_squeeze_any_leading': (
        'milhelpers/h5io.py',
        'if feats.ndim == 3 and feats.shape[0] == 1:',
        'if feats.ndim == 3 and feats.shape[0] >= 1:',
        'tests/test_h5io.py -k test_r9_read_features_refuses_rows_that_do_not_match_the_coordinates'),
    'audit9_sweeps_run_folder_clash_allowed': (
        'milhelpers/sweep.py',
        'if len(set(names)) != len(names):',
        'if len(set(names)) < len(names) - 1:',
        'tests/test_sweep.py -k test_r9_runs_that_would_share_a_folder_are_refused_before_anything_is_written'),
    # a patch exactly at the tumour threshold counts as non-tumour
    'r9data_loc_threshold_strict': (
        'milhelpers/metrics.py',
        'y = np.asarray(y).ravel() >= threshold',
        'y = np.asarray(y).ravel() > threshold',
        'tests/test_metrics_viz.py -k test_r9_localization_auc_means_slides_ranks_within_them_and_counts_the_judged_ones'),
    # pooled AUC over raw within-slide ranks (1..N), so long slides dominate
    'r9data_loc_pooled_unnormalised_ranks': (
        'milhelpers/metrics.py',
        'ranks.append(pd.Series(s).rank(pct=True).to_numpy())',
        'ranks.append(pd.Series(s).rank().to_numpy())',
        'tests/test_metrics_viz.py -k test_r9_localization_auc_means_slides_ranks_within_them_and_counts_the_judged_ones'),
    # n_slides counts the skipped negative and all-tumour slides too
    'r9data_loc_n_slides_counts_skipped': (
        'milhelpers/metrics.py',
        '"n_slides": len(aucs)}',
        '"n_slides": len(scores)}',
        'tests/test_metrics_viz.py -k test_r9_localization_auc_means_slides_ranks_within_them_and_counts_the_judged_ones'),
    # chapter 01 refuses a numpy integer seed (np.int64 from a config array)
    'r9data_seed_numpy_refused': (
        'milhelpers/params.py',
        'or not isinstance(seed, (int, np.integer)) or seed < 0:',
        'or not isinstance(seed, int) or seed < 0:',
        'tests/test_params.py -k test_r9_chapter01_seed_takes_whole_numbers_from_zero_and_refuses_bools'),
    # chapter 01 refuses seed 0, the default
    'r9data_seed_from_one': (
        'milhelpers/params.py',
        'isinstance(seed, (int, np.integer)) or seed < 0:',
        'isinstance(seed, (int, np.integer)) or seed < 1:',
        'tests/test_params.py -k test_r9_chapter01_seed_takes_whole_numbers_from_zero_and_refuses_bools'),
    # chapter 01 refuses a numpy integer n_slides
    'r9data_n_slides_numpy_refused': (
        'milhelpers/params.py',
        'not isinstance(n_slides, (int, np.integer))',
        'not isinstance(n_slides, int)',
        'tests/test_params.py -k test_r9_chapter01_n_slides_from_twenty_any_integer_type'),
    # check_int takes any float and truncates it: 2.5 epochs become 2
    'r9data_check_int_any_float': (
        'milhelpers/params.py',
        'if not ok and isinstance(value, float) and value.is_integer():',
        'if not ok and isinstance(value, float):',
        'tests/test_params.py -k test_r9_check_int_each_side_of_its_minimum'),
    # check_int refuses a value exactly at its minimum
    'r9data_check_int_minimum_exclusive': (
        'milhelpers/params.py',
        '    if not ok or value < minimum:',
        '    if not ok or value <= minimum:',
        'tests/test_params.py -k test_r9_check_int_each_side_of_its_minimum'),
    # check_lambda with positive=True still accepts 0
    'r9data_lambda_positive_ignored': (
        'milhelpers/params.py',
        'value < 0 or (positive and value == 0):',
        'value < 0:',
        'tests/test_params.py -k test_r9_check_lambda_at_zero_with_and_without_positive'),
    # check_lambda takes True as λ = 1.0
    'r9data_lambda_bool_allowed': (
        'milhelpers/params.py',
        'ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)',
        'ok = isinstance(value, (int, float, np.integer, np.floating))',
        'tests/test_params.py -k test_r9_check_lambda_at_zero_with_and_without_positive'),
    # the runner lets one repeated method name through: two methods share cached runs
    'r9data_runner_names_one_repeat': (
        'milhelpers/experiments.py',
        '    if len(set(names)) != len(names):\n        raise ValueError(f"method names must be distinct',
        '    if len(set(names)) < len(names) - 1:\n        raise ValueError(f"method names must be distinct',
        'tests/test_runner_paths.py -k test_r9_runner_refuses_two_methods_that_would_share_cached_runs'),
    # paired_stats tests a single pair (a one-sample Wilcoxon and bootstrap)
    'r9data_paired_one_pair_tested': (
        'milhelpers/experiments.py',
        '    if n < 2:\n        return {"diff": diff, "ci95": [float("nan"), float("nan")], "p": float("nan"), "n": n}',
        '    if n < 1:\n        return {"diff": diff, "ci95": [float("nan"), float("nan")], "p": float("nan"), "n": n}',
        'tests/test_runner_paths.py -k test_r9_paired_stats_one_pair_or_none_gives_nan_interval_and_p'),
    # paired_stats reports the median difference, not the mean (5/6 pairs of +1 and a 0: 1)
    'r9data_paired_diff_median': (
        'milhelpers/experiments.py',
        '    diff = float(d.mean()) if n else float("nan")\n    if n < 2:',
        '    diff = float(np.median(d)) if n else float("nan")\n    if n < 2:',
        'tests/test_runner_paths.py -k test_r9_paired_stats_some_or_all_differences_zero'),
    # only more coordinates than feature rows is refused; fewer pass
    'r9data_h5_length_check_one_sided': (
        'milhelpers/h5io.py',
        'if len(coords) and len(coords) != len(feats):',
        'if len(coords) > len(feats):',
        'tests/test_h5io.py -k test_r9_read_features_refuses_rows_that_do_not_match_the_coordinates'),
    # features come back in the file's dtype (float16/float64 bags)
    'r9data_h5_float32_cast_dropped': (
        'milhelpers/h5io.py',
        'return feats.astype(np.float32, copy=False), coords',
        'return feats, coords',
        'tests/test_h5io.py -k test_r9_read_features_accepts_each_layout_and_returns_float32_and_int64'),
    # TRIDENT's int32 coordinates come back as int32 from read_features
    'r9data_h5_coords_int64_cast_dropped': (
        'milhelpers/h5io.py',
        'coords = f["coords"][:].astype(np.int64) if "coords" in f',
        'coords = f["coords"][:] if "coords" in f',
        'tests/test_h5io.py -k test_r9_read_features_accepts_each_layout_and_returns_float32_and_int64'),
    # write_features accepts fewer coordinates than feature rows
    'r9data_h5_write_check_one_sided': (
        'milhelpers/h5io.py',
        'if len(features) != len(coords):',
        'if len(features) < len(coords):',
        'tests/test_h5io.py -k test_r9_a_stack_without_coords_keeps_every_slice_and_write_features_checks_both_ways'),
    # run-folder clashes found only between neighbouring runs of the grid
    'r9data_sweep_clash_neighbours_only': (
        'milhelpers/sweep.py',
        '    if len(set(names)) != len(names):\n        clash',
        '    if any(x == y for x, y in zip(names, names[1:])):\n        clash',
        'tests/test_sweep.py -k test_r9_runs_that_would_share_a_folder_are_refused_before_anything_is_written'),
    # "-p x 1 2 1.0" merges only consecutive repeats: two runs of x = 1
    'r9data_sweep_dedupe_consecutive': (
        'milhelpers/sweep.py',
        'if v not in values:',
        'if v not in values[-1:]:',
        'tests/test_sweep.py -k test_r9_grid_merges_equal_values_anywhere_and_refuses_a_name_given_twice'),
    # "-" becomes "_" in run folders: a-b and a_b (and 1e-20, 1e_20) share one
    'r9data_sweep_dash_unsafe': (
        'milhelpers/sweep.py',
        'text = re.sub(r"[^\\w.,=+\\-\\[\\]]", "_", text)',
        'text = re.sub(r"[^\\w.,=+\\[\\]]", "_", text)',
        'tests/test_sweep.py -k test_r9_values_that_keep_distinct_folders_reach_the_cluster'),
    # a parameter given twice is refused only when given three times
    'r9data_sweep_name_twice_allowed': (
        'milhelpers/sweep.py',
        'twice = sorted({n for n in names if names.count(n) > 1})',
        'twice = sorted({n for n in names if names.count(n) > 2})',
        'tests/test_sweep.py -k test_r9_grid_merges_equal_values_anywhere_and_refuses_a_name_given_twice'),
    # winners ordered by their mean gain, not the smallest
    'r9data_which_when_mean_gain': (
        'milhelpers/comparison.py',
        '.min(1).sort_values(ascending=False)',
        '.mean(1).sort_values(ascending=False)',
        'tests/test_comparison.py -k test_r9_which_method_when_orders_winners_by_their_smallest_gain_and_keeps_options'),
    # a zero difference on every draw counts as the same sign
    'r9data_replication_zero_sign': (
        'milhelpers/comparison.py',
        'row["same_sign"] = bool(len(set(signs)) == 1 and signs[0] != 0)',
        'row["same_sign"] = bool(len(set(signs)) == 1)',
        'tests/test_comparison.py -k test_r9_replication_over_three_draws_reads_only_its_metric'),
    # the "only" sentence lists only clearly-better draws (worse-only: IndexError)
    'r9data_draw_verdict_only_better': (
        'milhelpers/comparison.py',
        'clear = [d for d, o in outcomes.items() if o != 0]',
        'clear = [d for d, o in outcomes.items() if o > 0]',
        'tests/test_comparison.py -k test_r9_replication_over_three_draws_reads_only_its_metric'),
    # a situation's metric option ignored: every row judged on the slide AUC
    'r9data_which_when_metric_ignored': (
        'milhelpers/comparison.py',
        'rep = replication(ev["tables"], ev.get("metric", "auc"))',
        'rep = replication(ev["tables"], "auc")',
        'tests/test_comparison.py -k test_r9_which_method_when_orders_winners_by_their_smallest_gain_and_keeps_options'),
    # a ready verdict loses its avoid column
    'r9data_which_when_avoid_dropped': (
        'milhelpers/comparison.py',
        '"avoid": ev.get("avoid", ""),',
        '"avoid": "",',
        'tests/test_comparison.py -k test_r9_which_method_when_orders_winners_by_their_smallest_gain_and_keeps_options'),
    # replication reads every metric's rows, not only the one asked
    'r9data_replication_metric_filter_dropped': (
        'milhelpers/comparison.py',
        'per = {d: t[t.metric == metric].set_index("method")',
        'per = {d: t.set_index("method")',
        'tests/test_comparison.py -k test_r9_replication_over_three_draws_reads_only_its_metric'),
    # a head's picks on a slide of N <= k patches counted as k
    'r9data_topk_picks_k': (
        'milhelpers/instances.py',
        'picks[h] += len(top)',
        'picks[h] += k',
        'tests/test_instances.py -k test_r9_topk_composition_pools_picks_over_slides_and_ranks_heads_by_tumour_share'),
    # rank 1 given to the head with the smallest tumour share
    'r9data_topk_rank_reversed': (
        'milhelpers/instances.py',
        'rank[np.argsort(-shares[:, 0], kind="stable")]',
        'rank[np.argsort(shares[:, 0], kind="stable")]',
        'tests/test_instances.py -k test_r9_topk_composition_pools_picks_over_slides_and_ranks_heads_by_tumour_share'),
    # a patch exactly at purity is not clear-cut tumour
    'r9data_probe_tumour_purity_strict': (
        'milhelpers/instances.py',
        'morph = np.where(tum.max(axis=1) >= purity,',
        'morph = np.where(tum.max(axis=1) > purity,',
        'tests/test_instances.py -k test_r9_tumour_probe_counts_patches_at_the_purity_bound_and_needs_enough_groups'),
    # a mimic exactly at purity is not a negative
    'r9data_probe_mimic_purity_strict': (
        'milhelpers/instances.py',
        'negative = (mim.max(axis=1) >= purity)',
        'negative = (mim.max(axis=1) > purity)',
        'tests/test_instances.py -k test_r9_tumour_probe_counts_patches_at_the_purity_bound_and_needs_enough_groups'),
    # plain tissue exactly at purity is not a stroma negative
    'r9data_probe_stroma_tissue_strict': (
        'milhelpers/instances.py',
        'table["tissue_fraction"].to_numpy() >= purity)',
        'table["tissue_fraction"].to_numpy() > purity)',
        'tests/test_instances.py -k test_r9_tumour_probe_counts_patches_at_the_purity_bound_and_needs_enough_groups'),
    # exactly n_splits groups refused
    'r9data_probe_groups_at_n_splits_refused': (
        'milhelpers/instances.py',
        'n_groups < n_splits:',
        'n_groups <= n_splits:',
        'tests/test_instances.py -k test_r9_tumour_probe_counts_patches_at_the_purity_bound_and_needs_enough_groups'),
    # power reports the median interval width over cohorts
    'r9data_power_width_median': (
        'milhelpers/stats.py',
        '"ci_width": float(np.mean(widths))',
        '"ci_width": float(np.median(widths))',
        'tests/test_stats.py -k test_r9_power_means_each_summary_over_cohorts_and_seeds_each_cohort'),
    # power reports the median difference over cohorts
    'r9data_power_diff_median': (
        'milhelpers/stats.py',
        '"mean_diff": float(np.mean(diffs))',
        '"mean_diff": float(np.median(diffs))',
        'tests/test_stats.py -k test_r9_power_means_each_summary_over_cohorts_and_seeds_each_cohort'),
    # cohort 0 resampled with the simulation's own seed (offset one cohort early)
    'r9data_power_seed_offset': (
        'milhelpers/stats.py',
        'seed=seed + 7919 * (i + 1), paired=paired)',
        'seed=seed + 7919 * i, paired=paired)',
        'tests/test_stats.py -k test_r9_power_means_each_summary_over_cohorts_and_seeds_each_cohort'),
    # power always pairs the resamples, whatever paired= says
    'r9data_power_paired_ignored': (
        'milhelpers/stats.py',
        'seed=seed + 7919 * (i + 1), paired=paired)',
        'seed=seed + 7919 * (i + 1), paired=True)',
        'tests/test_stats.py -k test_r9_power_means_each_summary_over_cohorts_and_seeds_each_cohort'),
    # compare_settings keeps a row present in any later setting (KeyError on the missing one)
    'r9data_compare_settings_any_setting': (
        'milhelpers/stats.py',
        'if all(k in keyed[n].index for n in names[1:])]',
        'if any(k in keyed[n].index for n in names[1:])]',
        'tests/test_stats.py -k test_r9_compare_settings_three_settings_digits_and_rows_only_all_share'),
    # compare_settings writes the interval's low end with 3 digits whatever digits asks
    'r9data_compare_settings_lo_digits': (
        'milhelpers/stats.py',
        "[{r['lo']:+.{digits}f}, ",
        "[{r['lo']:+.3f}, ",
        'tests/test_stats.py -k test_r9_compare_settings_three_settings_digits_and_rows_only_all_share'),
    # settings without a clear verdict do not vote: clear + unclear counted as agreeing
    'r9data_compare_settings_unclear_no_vote': (
        'milhelpers/stats.py',
        '            calls.add(call)\n',
        '            calls.add(call) if r["clear"] else None\n',
        'tests/test_stats.py -k test_r9_compare_settings_three_settings_digits_and_rows_only_all_share'),
    # an encoder name stored as bytes (TRIDENT) is compared as "b'enc'": every such file stale
    'r9data_stale_bytes_not_decoded': (
        'milhelpers/features.py',
        'have = have.decode() if isinstance(have, bytes) else have',
        'have = str(have)',
        'tests/test_features.py -k test_r9_stale_features_reason_names_every_difference_and_only_real_ones'),
    # the input size is not compared: features at 448 px reused for 224
    'r9data_stale_input_size_ignored': (
        'milhelpers/features.py',
        'for key, want in (("encoder", encoder.name), ("input_size", int(encoder.input_size))):',
        'for key, want in (("encoder", encoder.name),):',
        'tests/test_features.py -k test_r9_stale_features_reason_names_every_difference_and_only_real_ones'),
    # only the number of coordinates is compared: a moved patch keeps stale features
    'r9data_stale_coords_count_only': (
        'milhelpers/features.py',
        'if fcoords.shape != coords.shape or not np.array_equal(fcoords, coords):',
        'if fcoords.shape != coords.shape:',
        'tests/test_features.py -k test_r9_stale_features_reason_names_every_difference_and_only_real_ones'),
    # grid attributes compared even when one side does not record them (TypeError)
    'r9data_stale_missing_attr_compared': (
        'milhelpers/features.py',
        'if a is not None and b is not None and not math.isclose(float(a), float(b)):',
        'if not math.isclose(float(a), float(b)):',
        'tests/test_features.py -k test_r9_stale_features_reason_names_every_difference_and_only_real_ones'),
    # grid attributes compared exactly: 0.5 vs 0.5 + 1e-12 is stale
    'r9data_stale_exact_float': (
        'milhelpers/features.py',
        'and not math.isclose(float(a), float(b)):',
        'and float(a) != float(b):',
        'tests/test_features.py -k test_r9_stale_features_reason_names_every_difference_and_only_real_ones'),
    # target_mpp left out of the grid comparison
    'r9data_stale_target_mpp_ignored': (
        'milhelpers/features.py',
        'for key in ("patch_size_level0", "patch_size", "target_mpp"):',
        'for key in ("patch_size_level0", "patch_size"):',
        'tests/test_features.py -k test_r9_stale_features_reason_names_every_difference_and_only_real_ones'),
    # only the first difference is reported
    'r9data_stale_first_difference_only': (
        'milhelpers/features.py',
        "{'; '.join(diffs)}",
        '{diffs[0]}',
        'tests/test_features.py -k test_r9_stale_features_reason_names_every_difference_and_only_real_ones'),
    # an open lower bound treated as closed: p = 0 (no instance in the main branch) accepted
    'r9data_number_open_bound_closed': (
        'milhelpers/params.py',
        '(value > low if low_open else value >= low)',
        '(value >= low if low_open else value >= low)',
        'tests/test_params.py -k test_r9_chapter06_number_bounds_open_and_closed_with_numpy_and_bools'),
    # a closed lower bound treated as open: alpha = 0 (no residual branch) refused
    'r9data_number_closed_bound_open': (
        'milhelpers/params.py',
        '(value > low if low_open else value >= low)',
        '(value > low if low_open else value > low)',
        'tests/test_params.py -k test_r9_chapter06_number_bounds_open_and_closed_with_numpy_and_bools'),
    # the upper bound made exclusive: p = 1 and lr = 1 refused
    'r9data_number_high_exclusive': (
        'milhelpers/params.py',
        '          and value <= high)',
        '          and value < high)',
        'tests/test_params.py -k test_r9_chapter06_number_bounds_open_and_closed_with_numpy_and_bools'),
    # a bool passes the number check: p=True becomes 1.0
    'r9data_number_bool_allowed': (
        'milhelpers/params.py',
        'ok = (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)',
        'ok = (isinstance(value, (int, float, np.number))',
        'tests/test_params.py -k test_r9_chapter06_number_bounds_open_and_closed_with_numpy_and_bools'),
    # infinity passes a check whose upper bound is inf (alpha = inf)
    'r9data_number_inf_allowed': (
        'milhelpers/params.py',
        '          and np.isfinite(value) and (value > low',
        '          and (value > low',
        'tests/test_params.py -k test_r9_chapter06_number_bounds_open_and_closed_with_numpy_and_bools'),
    # mask_drop = 1 accepted: every top-K instance hidden
    'r9data_mask_drop_one_allowed': (
        'milhelpers/params.py',
        'or not 0.0 <= float(mask_drop) < 1.0:',
        'or not 0.0 <= float(mask_drop) <= 1.0:',
        'tests/test_params.py -k test_r9_chapter03_mask_drop_is_a_fraction_in_zero_to_one_half_open'),
    # mask_drop=True taken as 1.0
    'r9data_mask_drop_bool_allowed': (
        'milhelpers/params.py',
        'if isinstance(mask_drop, bool) or not isinstance(mask_drop, (int, float, np.number))',
        'if not isinstance(mask_drop, (int, float, np.number))',
        'tests/test_params.py -k test_r9_chapter03_mask_drop_is_a_fraction_in_zero_to_one_half_open'),
    # a correlation of two pairs reported (always ±1)
    'r9data_correlation_two_pairs': (
        'milhelpers/experiments.py',
        'if n < 3 or np.ptp(x) == 0',
        'if n < 2 or np.ptp(x) == 0',
        'tests/test_runner_paths.py -k test_r9_correlation_ci_three_pairs_within_groups_and_a_sentence_at_zero'),
    # within groups only y is centred: x keeps the between-group spread
    'r9data_correlation_x_not_centred': (
        'milhelpers/experiments.py',
        'x = (df.x - df.groupby("g").x.transform("mean")).to_numpy()',
        'x = df.x.to_numpy()',
        'tests/test_runner_paths.py -k test_r9_correlation_ci_three_pairs_within_groups_and_a_sentence_at_zero'),
    # an interval ending exactly at 0 read as a clear link
    'r9data_describe_correlation_strict_zero': (
        'milhelpers/experiments.py',
        'if lo <= 0 <= hi:',
        'if lo < 0 < hi:',
        'tests/test_runner_paths.py -k test_r9_correlation_ci_three_pairs_within_groups_and_a_sentence_at_zero'),
    # where_looks ignores methods=: every method's runs come back
    'r9data_where_looks_methods_ignored': (
        'milhelpers/comparison.py',
        'for r in result.runs[result.runs.method.isin(methods)].itertuples():',
        'for r in result.runs.itertuples():',
        'tests/test_comparison.py -k test_r9_where_looks_and_share_summary_by_hand_on_a_stand_in_result'),
    # patch shares as counts of patches, not fractions of the slide
    'r9data_where_looks_patch_counts': (
        'milhelpers/comparison.py',
        'float(np.mean(g == n)) for n in KIND_GROUPS',
        'float(np.sum(g == n)) for n in KIND_GROUPS',
        'tests/test_comparison.py -k test_r9_where_looks_and_share_summary_by_hand_on_a_stand_in_result'),
    # n_slides counts every test slide of the run, not those of the label
    'r9data_where_looks_n_slides_all': (
        'milhelpers/comparison.py',
        '"label": y, "n_slides": len(shares),',
        '"label": y, "n_slides": len(p.slide_ids),',
        'tests/test_comparison.py -k test_r9_where_looks_and_share_summary_by_hand_on_a_stand_in_result'),
    # share_summary always summarises the positive slides, whatever label says
    'r9data_share_summary_label_ignored': (
        'milhelpers/comparison.py',
        'sel = runs[runs.label == label]',
        'sel = runs[runs.label == 1]',
        'tests/test_comparison.py -k test_r9_where_looks_and_share_summary_by_hand_on_a_stand_in_result'),
    # share_summary takes the median over runs
    'r9data_share_summary_median': (
        'milhelpers/comparison.py',
        '"kind": kind, "share": float(v.mean()),',
        '"kind": kind, "share": float(np.median(v)),',
        'tests/test_comparison.py -k test_r9_where_looks_and_share_summary_by_hand_on_a_stand_in_result'),
    # numpy integers (np.arange) refused by every integer check again (the round-9 bug, fixed)
    'r9data_check_int_numpy_refused': (
        'milhelpers/params.py',
        '    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)',
        '    ok = isinstance(value, int) and not isinstance(value, bool)',
        'tests/test_params.py -k test_r9_check_int_and_check_seeds_accept_numpy_integers'),
})

# round 10: models and metrics — the audit-10 survivors of models/base.py and metrics.py,
# and the arguments, reductions, validations and branches around them
MUTANTS.update({
    'audit10_acmil_output_mask_unchecked': (
        'milhelpers/models/base.py',
        'check_attention_shapes(self.attention_logits, self.mask)',
        'check_attention_shapes(self.attention_logits, None)',
        'tests/test_models.py -k test_r10_miloutput_refuses_a_mask_that_does_not_match_its_attention'),
    'audit10_metrics_cumattn_median': (
        'milhelpers/metrics.py',
        '    return ks, np.mean(curves, 0), np.mean(uniform, 0)',
        '    return ks, np.median(curves, 0), np.mean(uniform, 0)',
        'tests/test_metrics_viz.py -k test_r10_cumulative_attention_means_over_slides_of_different_lengths'),
    'audit10_metrics_pred_binary_threshold': (
        'milhelpers/metrics.py',
        '    pred = probs.argmax(1)',
        '    pred = (probs[:, -1] >= 0.5).astype(int)',
        'tests/test_metrics_viz.py -k test_r10_bag_metrics_predicts_the_arg_max_of_three_classes_by_hand'),
    # a mask with the right B but the wrong N passes (only the batch size is compared)
    'r10models_mask_n_unchecked': (
        'milhelpers/models/base.py',
        '                             or mask.shape[1] != logits.shape[2]):',
        '                             ):',
        'tests/test_models.py -k test_r10_miloutput_refuses_a_mask_that_does_not_match_its_attention'),
    # a mask for another batch size passes (only N is compared)
    'r10models_mask_b_unchecked': (
        'milhelpers/models/base.py',
        ' or mask.shape[0] != logits.shape[0]',
        '',
        'tests/test_models.py -k test_r10_miloutput_refuses_a_mask_that_does_not_match_its_attention'),
    # the N check widened to "mask longer than N": a short mask passes and padding is misread
    'r10models_mask_short_accepted': (
        'milhelpers/models/base.py',
        'mask.shape[1] != logits.shape[2]):',
        'mask.shape[1] > logits.shape[2]):',
        'tests/test_models.py -k test_r10_miloutput_refuses_a_mask_that_does_not_match_its_attention'),
    # a 3-D (B, N, 1) mask passes the check and broadcasts later
    'r10models_mask_ndim_unchecked': (
        'milhelpers/models/base.py',
        'mask is not None and (mask.dim() != 2 or mask.shape[0]',
        'mask is not None and (mask.dim() < 2 or mask.shape[0]',
        'tests/test_models.py -k test_r10_miloutput_refuses_a_mask_that_does_not_match_its_attention'),
    # a mismatched mask raises TypeError, which callers catching ValueError miss
    'r10models_mask_error_type': (
        'milhelpers/models/base.py',
        '        raise ValueError(f"mask must be (B, N)',
        '        raise TypeError(f"mask must be (B, N)',
        'tests/test_models.py -k test_r10_miloutput_refuses_a_mask_that_does_not_match_its_attention'),
    # MILOutput.attention ignores its mask: padded positions take weight
    'r10models_output_attention_unmasked': (
        'milhelpers/models/base.py',
        'return masked_softmax(self.attention_logits, self.mask)',
        'return masked_softmax(self.attention_logits, None)',
        'tests/test_models.py -k test_r10_miloutput_attention_uses_its_mask_and_averages_heads_per_bag'),
    # heads summed instead of averaged: the slide attention no longer sums to 1
    'r10models_slide_attention_sums_heads': (
        'milhelpers/models/base.py',
        '    return attention.mean(-2)',
        '    return attention.sum(-2)',
        'tests/test_models.py -k test_r10_miloutput_attention_uses_its_mask_and_averages_heads_per_bag'),
    # the arg-max prediction breaks ties towards the last class (binary 0.5/0.5 becomes class 1)
    'r10models_pred_ties_to_last_class': (
        'milhelpers/metrics.py',
        '    pred = probs.argmax(1)',
        '    pred = probs.shape[1] - 1 - probs[:, ::-1].argmax(1)',
        'tests/test_metrics_viz.py -k test_r10_bag_metrics_binary_tie_goes_to_class_0_and_one_row_still_scores'),
    # predictions from thresholding P(class 1) at 0.5, right only for two classes
    'r10models_pred_threshold_class1': (
        'milhelpers/metrics.py',
        '    pred = probs.argmax(1)',
        '    pred = (probs[:, 1] >= 0.5).astype(int)',
        'tests/test_metrics_viz.py -k test_r10_bag_metrics_predicts_the_arg_max_of_three_classes_by_hand'),
    # weighted F1 reported as macro F1 (imbalanced classes weigh differently)
    'r10models_f1_weighted': (
        'milhelpers/metrics.py',
        'average="macro"',
        'average="weighted"',
        'tests/test_metrics_viz.py -k test_r10_bag_metrics_predicts_the_arg_max_of_three_classes_by_hand'),
    # micro F1 (= accuracy for single-label data) reported as macro F1
    'r10models_f1_micro': (
        'milhelpers/metrics.py',
        'average="macro"',
        'average="micro"',
        'tests/test_metrics_viz.py -k test_r10_bag_metrics_predicts_the_arg_max_of_three_classes_by_hand'),
    # the uniform reference is the median over slides, not the mean the curve is compared with
    'r10models_cumattn_uniform_median': (
        'milhelpers/metrics.py',
        '    return ks, np.mean(curves, 0), np.mean(uniform, 0)',
        '    return ks, np.mean(curves, 0), np.median(uniform, 0)',
        'tests/test_metrics_viz.py -k test_r10_cumulative_attention_means_over_slides_of_different_lengths'),
    # the uniform reference does not stop at 1 once K exceeds the bag length
    'r10models_cumattn_uniform_uncapped': (
        'milhelpers/metrics.py',
        'uniform.append(np.minimum(ks, len(c)) / len(c))',
        'uniform.append(ks / len(c))',
        'tests/test_metrics_viz.py -k test_r10_cumulative_attention_means_over_slides_of_different_lengths'),
    # slides sorted ascending: the curve holds the least-attended instances first
    'r10models_cumattn_ascending': (
        'milhelpers/metrics.py',
        'c = np.cumsum(np.sort(a)[::-1])',
        'c = np.cumsum(np.sort(a))',
        'tests/test_metrics_viz.py -k test_r10_cumulative_attention_means_over_slides_of_different_lengths'),
    # a short bag's curve indexes past its length (clamped at N - 2, one step short)
    'r10models_cumattn_clamp_off_by_one': (
        'milhelpers/metrics.py',
        'curves.append(c[np.minimum(ks, len(c)) - 1])',
        'curves.append(c[np.minimum(ks, len(c) - 1) - 1])',
        'tests/test_metrics_viz.py -k test_r10_cumulative_attention_means_over_slides_of_different_lengths'),
    # the attention share per kind is the median over slides, not the mean
    'r10models_share_by_kind_median': (
        'milhelpers/instances.py',
        'attention_share=("attention_share", "mean")',
        'attention_share=("attention_share", "median")',
        'tests/test_instances.py -k test_r10_attention_share_by_kind_means_over_the_slides_that_contain_a_kind'),
    # the patch share per kind summed over slides (grows with the number of slides)
    'r10models_patch_share_summed': (
        'milhelpers/instances.py',
        'patch_share=("patch_share", "mean")',
        'patch_share=("patch_share", "sum")',
        'tests/test_instances.py -k test_r10_attention_share_by_kind_means_over_the_slides_that_contain_a_kind'),
    # a slide's patch share is the count of its patches of that kind, not the fraction
    'r10models_patch_share_count': (
        'milhelpers/instances.py',
        '"patch_share": float(sel.mean())',
        '"patch_share": float(sel.sum())',
        'tests/test_instances.py -k test_r10_attention_share_by_kind_means_over_the_slides_that_contain_a_kind'),
    # enrichment inverted: patch share over attention share
    'r10models_enrichment_inverted': (
        'milhelpers/instances.py',
        'out["enrichment"] = out.attention_share / out.patch_share',
        'out["enrichment"] = out.patch_share / out.attention_share',
        'tests/test_instances.py -k test_r10_attention_share_by_kind_means_over_the_slides_that_contain_a_kind'),
    # fewer attention vectors than kind vectors passes; zip drops the extra slide silently
    'r10models_share_by_kind_count_widened': (
        'milhelpers/instances.py',
        'if len(attention) != len(kinds):',
        'if len(attention) > len(kinds):',
        'tests/test_instances.py -k test_r10_attention_share_by_kind_means_over_the_slides_that_contain_a_kind'),
    # the neighbour graph is always built under cosine, whatever metric the caller asks for
    'r10models_umap_graph_metric_dropped': (
        'milhelpers/embedding.py',
        'knn = knn_graph(X, n_neighbors, metric)',
        'knn = knn_graph(X, n_neighbors, "cosine")',
        'tests/test_embedding.py -k test_r10_umap_embedding_passes_each_option_to_umap_and_the_metric_to_the_graph'),
    # min_dist never reaches UMAP: the layout ignores the caller's spread
    'r10models_umap_min_dist_ignored': (
        'milhelpers/embedding.py',
        'min_dist=min_dist, metric=metric,',
        'min_dist=0.1, metric=metric,',
        'tests/test_embedding.py -k test_r10_umap_embedding_passes_each_option_to_umap_and_the_metric_to_the_graph'),
    # n_epochs never reaches UMAP (the fast setting the tests and notebooks rely on is lost)
    'r10models_umap_n_epochs_ignored': (
        'milhelpers/embedding.py',
        'n_epochs=n_epochs, random_state=seed',
        'n_epochs=None, random_state=seed',
        'tests/test_embedding.py -k test_r10_umap_embedding_passes_each_option_to_umap_and_the_metric_to_the_graph'),
    # the seed is not given to UMAP: every seed gives the same layout
    'r10models_umap_seed_not_passed': (
        'milhelpers/embedding.py',
        'n_epochs=n_epochs, random_state=seed',
        'n_epochs=n_epochs, random_state=0',
        'tests/test_embedding.py -k test_r10_umap_embedding_passes_each_option_to_umap_and_the_metric_to_the_graph'),
    # cache=False still switches numba's disk cache on
    'r10models_umap_cache_flag_ignored': (
        'milhelpers/embedding.py',
        '    if cache:',
        '    if True:',
        'tests/test_embedding.py -k test_r10_umap_embedding_passes_each_option_to_umap_and_the_metric_to_the_graph'),
    # multi-head entropy is the median over heads (a majority of peaked heads hides a uniform one)
    'r10models_entropy_heads_median': (
        'milhelpers/metrics.py',
        '    return float(h.mean())',
        '    return float(np.median(h))',
        'tests/test_metrics_viz.py -k test_r10_entropy_and_topk_mass_average_three_heads_not_take_their_median_or_max'),
    # top-k mass of several heads is the largest head's, not their mean
    'r10models_topk_mass_heads_max': (
        'milhelpers/metrics.py',
        'return float(np.sort(a, axis=1)[:, ::-1][:, :k].sum(1).mean())',
        'return float(np.sort(a, axis=1)[:, ::-1][:, :k].sum(1).max())',
        'tests/test_metrics_viz.py -k test_r10_entropy_and_topk_mass_average_three_heads_not_take_their_median_or_max'),
    # a DataFrame of folds is read as a list of its column names
    'r10models_summarize_frame_branch_dropped': (
        'milhelpers/metrics.py',
        'df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))',
        'df = pd.DataFrame(list(rows))',
        'tests/test_metrics_viz.py -k test_r10_summarize_takes_a_data_frame_keeps_column_order_and_skips_text_columns'),
    # the summary's "mean" is the median over folds
    'r10models_summarize_median': (
        'milhelpers/metrics.py',
        'out = pd.DataFrame({"mean": num.mean(), "std": num.std(ddof=1)})',
        'out = pd.DataFrame({"mean": num.median(), "std": num.std(ddof=1)})',
        'tests/test_metrics_viz.py -k test_r10_summarize_takes_a_data_frame_keeps_column_order_and_skips_text_columns'),
    # metrics listed alphabetically instead of in the caller's column order
    'r10models_summarize_sorted_rows': (
        'milhelpers/metrics.py',
        'num = df.select_dtypes("number")',
        'num = df.select_dtypes("number").sort_index(axis=1)',
        'tests/test_metrics_viz.py -k test_r10_summarize_takes_a_data_frame_keeps_column_order_and_skips_text_columns'),
})


# round 10: runner and statistics (run_split, compare, slide_metric, comparison tables) — audit-10 survivors and r10runner_
MUTANTS.update({
    # audit-10 survivor
    'audit10_runner_compare_metric_order': (
        'milhelpers/experiments.py',
        '        order = {k: i for i, k in enumerate(metrics)}',
        '        order = {k: i for i, k in enumerate(sorted(metrics))}',
        'tests/test_runner_paths.py -k test_r10_compare_keeps_the_requested_metric_and_method_order'),
    # audit-10 survivor
    'audit10_runner_runsplit_valfrac_dropped': (
        'milhelpers/cached_runs.py',
        '    tr_idx, va_idx = train_val_split(tr, np.asarray(dataset.labels), val_fraction,',
        '    tr_idx, va_idx = train_val_split(tr, np.asarray(dataset.labels), 0.2,',
        'tests/test_runner_paths.py -k test_r10_run_split_passes_val_fraction_folds_and_seed_on'),
    # run_split ignores folds: always the default 5 folds
    'r10runner_runsplit_folds_dropped': (
        'milhelpers/cached_runs.py',
        '    parts = experiment_folds(dataset, folds, seed=seed)',
        '    parts = experiment_folds(dataset, None, seed=seed)',
        'tests/test_runner_paths.py -k test_r10_run_split_passes_val_fraction_folds_and_seed_on'),
    # every repeat of run_split gets repeat 0's partition
    'r10runner_runsplit_seed_dropped': (
        'milhelpers/cached_runs.py',
        '    parts = experiment_folds(dataset, folds, seed=seed)',
        '    parts = experiment_folds(dataset, folds, seed=0)',
        'tests/test_runner_paths.py -k test_r10_run_split_passes_val_fraction_folds_and_seed_on'),
    # run_split returns the training part as the test fold
    'r10runner_runsplit_train_test_swapped': (
        'milhelpers/cached_runs.py',
        '    tr, te = parts[fold]',
        '    te, tr = parts[fold]',
        'tests/test_runner_paths.py -k test_r10_run_split_passes_val_fraction_folds_and_seed_on'),
    # the validation share is 1 − val_fraction
    'r10runner_runsplit_valfrac_complement': (
        'milhelpers/cached_runs.py',
        '    tr_idx, va_idx = train_val_split(tr, np.asarray(dataset.labels), val_fraction,',
        '    tr_idx, va_idx = train_val_split(tr, np.asarray(dataset.labels), 1 - val_fraction,',
        'tests/test_runner_paths.py -k test_r10_run_split_passes_val_fraction_folds_and_seed_on'),
    # case ids never reach the validation draw: a case lands on both sides
    'r10runner_runsplit_groups_dropped': (
        'milhelpers/cached_runs.py',
        '                                     **({"groups": groups} if groups is not None else {}))',
        '                                     **{})',
        'tests/test_runner_paths.py -k test_r10_run_split_keeps_each_case_on_one_side_of_the_validation_split'),
    # a misspelt attribute: the case ids are never found
    'r10runner_runsplit_groups_wrong_attr': (
        'milhelpers/cached_runs.py',
        '    groups = getattr(dataset, "case_ids", None)',
        '    groups = getattr(dataset, "case_id", None)',
        'tests/test_runner_paths.py -k test_r10_run_split_keeps_each_case_on_one_side_of_the_validation_split'),
    # experiment_folds' default becomes 3 folds instead of 5
    'r10runner_folds_default_three': (
        'milhelpers/experiments.py',
        '5 if k is None else k',
        '3 if k is None else k',
        'tests/test_runner_paths.py -k test_r10_run_split_passes_val_fraction_folds_and_seed_on'),
    # compare ignores methods= and always uses every method in run order
    'r10runner_compare_methods_ignored': (
        'milhelpers/experiments.py',
        '        others = [m for m in (methods or self.methods) if m != reference]',
        '        others = [m for m in self.methods if m != reference]',
        'tests/test_runner_paths.py -k test_r10_compare_keeps_the_requested_metric_and_method_order'),
    # the reference is compared with itself as one more row
    'r10runner_compare_reference_kept': (
        'milhelpers/experiments.py',
        '        others = [m for m in (methods or self.methods) if m != reference]',
        '        others = [m for m in (methods or self.methods)]',
        'tests/test_runner_paths.py -k test_r10_compare_keeps_the_requested_metric_and_method_order'),
    # compare's metrics never reach paired: every default metric comes back
    'r10runner_compare_metrics_not_passed': (
        'milhelpers/experiments.py',
        'self.paired(reference, m, metrics, n_boot=n_boot, seed=seed).items()',
        'self.paired(reference, m, n_boot=n_boot, seed=seed).items()',
        'tests/test_runner_paths.py -k test_r10_compare_keeps_the_requested_metric_and_method_order'),
    # diff reported as reference − method
    'r10runner_compare_diff_sign': (
        'milhelpers/experiments.py',
        '"diff": s["diff"], "lo": s["ci95"][0],',
        '"diff": -s["diff"], "lo": s["ci95"][0],',
        'tests/test_runner_paths.py -k test_r10_compare_keeps_the_requested_metric_and_method_order'),
    # the lower bound column holds the upper bound
    'r10runner_compare_lo_is_hi': (
        'milhelpers/experiments.py',
        '"diff": s["diff"], "lo": s["ci95"][0],',
        '"diff": s["diff"], "lo": s["ci95"][1],',
        'tests/test_runner_paths.py -k test_r10_compare_keeps_the_requested_metric_and_method_order'),
    # metrics come back in the reverse of the requested order
    'r10runner_compare_metric_order_reversed': (
        'milhelpers/experiments.py',
        '        order = {k: i for i, k in enumerate(metrics)}',
        '        order = {k: -i for i, k in enumerate(metrics)}',
        'tests/test_runner_paths.py -k test_r10_compare_keeps_the_requested_metric_and_method_order'),
    # the multiclass prediction takes the arg-max over repeats, not classes
    'r10runner_stats_multiclass_argmax_axis': (
        'milhelpers/stats.py',
        'pred = (s > threshold).astype(int) if binary else s.argmax(-1)',
        'pred = (s > threshold).astype(int) if binary else s.argmax(0)',
        'tests/test_stats.py -k test_r10_slide_metric_of_three_classes_by_hand'),
    # balanced accuracy: the median of the per-class recalls
    'r10runner_stats_balacc_median': (
        'milhelpers/stats.py',
        'return np.mean([w[:, y == c] @ correct[y == c] / w[:, y == c].sum(1) for c in classes], 0)',
        'return np.median([w[:, y == c] @ correct[y == c] / w[:, y == c].sum(1) for c in classes], 0)',
        'tests/test_stats.py -k test_r10_slide_metric_of_three_classes_by_hand'),
    # macro F1 becomes the median over classes
    'r10runner_stats_f1_median': (
        'milhelpers/stats.py',
        'return np.mean(f1, 0).mean(1)',
        'return np.median(f1, 0).mean(1)',
        'tests/test_stats.py -k test_r10_slide_metric_of_three_classes_by_hand'),
    # false negatives counted on the other classes' slides
    'r10runner_stats_f1_fn_wrong_class': (
        'milhelpers/stats.py',
        'fn = w @ ((1 - hit) * (y == c)[:, None])',
        'fn = w @ ((1 - hit) * (y != c)[:, None])',
        'tests/test_stats.py -k test_r10_slide_metric_of_three_classes_by_hand'),
    # the multiclass AUC leaves class 0's one-vs-rest out
    'r10runner_stats_auc_drops_class0': (
        'milhelpers/stats.py',
        'for c in (classes[1:] if binary else classes):',
        'for c in classes[1:]:',
        'tests/test_stats.py -k test_r10_slide_metric_three_class_auc_is_the_macro_one_vs_rest'),
    # the one-vs-rest AUCs are combined by their median
    'r10runner_stats_auc_median': (
        'milhelpers/stats.py',
        '    return np.mean(vals, 0)',
        '    return np.median(vals, 0)',
        'tests/test_stats.py -k test_r10_slide_metric_three_class_auc_is_the_macro_one_vs_rest'),
    # float labels pass the label check
    'r10runner_stats_labels_float_accepted': (
        'milhelpers/stats.py',
        'if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):',
        'if y.ndim != 1:',
        'tests/test_stats.py -k test_r10_slide_metric_refuses_bad_inputs_with_a_value_error'),
    # a single-class cohort is let through
    'r10runner_stats_one_class_accepted': (
        'milhelpers/stats.py',
        'if len(np.unique(y)) < n_classes_needed:',
        'if len(np.unique(y)) < n_classes_needed - 1:',
        'tests/test_stats.py -k test_r10_slide_metric_refuses_bad_inputs_with_a_value_error'),
    # scores of another slide count than y are not refused
    'r10runner_stats_score_count_unchecked': (
        'milhelpers/stats.py',
        'if s.ndim not in (2, 3) or s.shape[1] != n:',
        'if s.ndim not in (2, 3):',
        'tests/test_stats.py -k test_r10_slide_metric_refuses_bad_inputs_with_a_value_error'),
    # only NaN scores are refused, infinities pass
    'r10runner_stats_inf_scores_accepted': (
        'milhelpers/stats.py',
        'if not np.isfinite(s).all():',
        'if np.isnan(s).any():',
        'tests/test_stats.py -k test_r10_slide_metric_refuses_bad_inputs_with_a_value_error'),
    # method_table sorts its rows by method name instead of the asked order
    'r10runner_method_table_sorted_by_name': (
        'milhelpers/comparison.py',
        '        row["runs"] = summary[m]["auc"]["n"]\n        rows.append(row)\n    return pd.DataFrame(rows).set_index("method")',
        '        row["runs"] = summary[m]["auc"]["n"]\n        rows.append(row)\n    return pd.DataFrame(rows).set_index("method").sort_index()',
        'tests/test_comparison.py -k test_r10_method_table_ranks_and_differences_pass_their_options_on'),
    # method_ranks ranks every method, not the ones asked
    'r10runner_method_ranks_methods_dropped': (
        'milhelpers/comparison.py',
        'y, cases, _, mats = score_matrices(result, methods)',
        'y, cases, _, mats = score_matrices(result)',
        'tests/test_comparison.py -k test_r10_method_table_ranks_and_differences_pass_their_options_on'),
    # method_ranks always ranks by AUC
    'r10runner_method_ranks_metric_dropped': (
        'milhelpers/comparison.py',
        'return stats.rank_intervals(y, mats, groups=cases, metric=metric, n_boot=n_boot, seed=seed)',
        'return stats.rank_intervals(y, mats, groups=cases, n_boot=n_boot, seed=seed)',
        'tests/test_comparison.py -k test_r10_method_table_ranks_and_differences_pass_their_options_on'),
    # the difference itself is always written to 3 digits
    'r10runner_format_differences_digits_ignored': (
        'milhelpers/comparison.py',
        'out[d] = [f"{r[f\'diff {d}\']:+.{digits}f} [',
        'out[d] = [f"{r[f\'diff {d}\']:+.3f} [',
        'tests/test_comparison.py -k test_r10_method_table_ranks_and_differences_pass_their_options_on'),
})

# round 10: parameters, slides/tiling, sweeps (params.papermill_cells, check_path, check_choices, check_seeds; slides.check_mpp; sweep.parse_value; pipeline.check_unique_ids)
MUTANTS.update({
    'audit10_params_papermill_first_cell': (
        'milhelpers/params.py',
        '    if last is None or last == 0:',
        '    if last is None:',
        'tests/test_chapter_setup.py -k test_r10_papermill_cells_needs_the_declared_cell_before_the_injected_one'),
    'audit10_tiling_checkmpp_typeerror': (
        'milhelpers/slides.py',
        '    except (TypeError, ValueError):\n        raise ValueError(f"{name} must be a number',
        '    except ValueError:\n        raise ValueError(f"{name} must be a number',
        'tests/test_slides.py -k test_r10_check_mpp_refuses_non_numbers_with_a_value_error_naming_the_parameter'),
    'audit10_sweeps_tuple_default_loose': (
        'milhelpers/sweep.py',
        '    if isinstance(default, (list, tuple, dict)):',
        '    if isinstance(default, (list, dict)):',
        'tests/test_sweep.py -k test_r10_parse_value_refuses_the_wrong_container_with_a_value_error'),
    # the first injected cell of a re-run kernel taken instead of the last
    'r10io_papermill_first_injected': (
        'milhelpers/params.py',
        '    last = max((i for i, h in enumerate(cells)',
        '    last = min((i for i, h in enumerate(cells)',
        'tests/test_chapter_setup.py -k test_r10_papermill_cells_pairs_the_last_injected_cell_with_the_cell_just_before_it'),
    # whitespace-only cells kept: the blank cell is read as the declared (parameters) cell
    'r10io_papermill_blank_cells_kept': (
        'milhelpers/params.py',
        '    cells = [h for h in history if h and h.strip()]',
        '    cells = [h for h in history if h]',
        'tests/test_chapter_setup.py -k test_r10_papermill_cells_pairs_the_last_injected_cell_with_the_cell_just_before_it'),
    # the declared names read from the kernel's first cell instead of the one before the injected
    'r10io_papermill_declared_first_cell': (
        'milhelpers/params.py',
        '    return _assigned(cells[last - 1]), _assigned(cells[last])',
        '    return _assigned(cells[0]), _assigned(cells[last])',
        'tests/test_chapter_setup.py -k test_r10_papermill_cells_pairs_the_last_injected_cell_with_the_cell_just_before_it'),
    # a bare '# Parameters' header (nothing injected after it) no longer recognised
    'r10io_papermill_bare_header_missed': (
        'milhelpers/params.py',
        '                or h.strip() == "# Parameters"), default=None)',
        '                or h == "# Parameters\\n"), default=None)',
        'tests/test_chapter_setup.py -k test_r10_papermill_cells_pairs_the_last_injected_cell_with_the_cell_just_before_it'),
    # an injected cell with leading whitespace not recognised (lstrip dropped)
    'r10io_papermill_header_not_lstripped': (
        'milhelpers/params.py',
        '    last = max((i for i, h in enumerate(cells) if h.lstrip().startswith("# Parameters\\n")',
        '    last = max((i for i, h in enumerate(cells) if h.startswith("# Parameters\\n")',
        'tests/test_chapter_setup.py -k test_r10_papermill_cells_pairs_the_last_injected_cell_with_the_cell_just_before_it'),
    # check_mpp's name argument ignored in the not-a-number message
    'r10io_checkmpp_name_ignored': (
        'milhelpers/slides.py',
        '        raise ValueError(f"{name} must be a number of microns per pixel, got {value!r}")',
        '        raise ValueError(f"mpp must be a number of microns per pixel, got {value!r}")',
        'tests/test_slides.py -k test_r10_check_mpp_refuses_non_numbers_with_a_value_error_naming_the_parameter'),
    # the lower bound made open: 0.05 µm/px refused
    'r10io_checkmpp_low_open': (
        'milhelpers/slides.py',
        '    if not (math.isfinite(v) and lo <= v <= hi):',
        '    if not (math.isfinite(v) and lo < v <= hi):',
        'tests/test_slides.py -k test_r10_check_mpp_bounds_are_closed_and_the_result_is_a_float'),
    # the upper bound made open: 20 µm/px refused
    'r10io_checkmpp_high_open': (
        'milhelpers/slides.py',
        '    if not (math.isfinite(v) and lo <= v <= hi):',
        '    if not (math.isfinite(v) and lo <= v < hi):',
        'tests/test_slides.py -k test_r10_check_mpp_bounds_are_closed_and_the_result_is_a_float'),
    # the value returned as given (text '0.5', np.float32) instead of the float
    'r10io_checkmpp_returns_raw': (
        'milhelpers/slides.py',
        '                         f"(0.25 = 40×, 0.5 = 20×, 1.0 = 10×), got {value!r}")\n    return v',
        '                         f"(0.25 = 40×, 0.5 = 20×, 1.0 = 10×), got {value!r}")\n    return value',
        'tests/test_slides.py -k test_r10_check_mpp_bounds_are_closed_and_the_result_is_a_float'),
    # any container accepted for any container default: a list passes for a tuple default
    'r10io_parse_container_any': (
        'milhelpers/sweep.py',
        '        if not isinstance(value, type(default)):',
        '        if not isinstance(value, (list, tuple, dict)):',
        'tests/test_sweep.py -k test_r10_parse_value_refuses_the_wrong_container_with_a_value_error'),
    # an unparsable container text ('[1,') escapes as SyntaxError instead of ValueError
    'r10io_parse_container_syntaxerror': (
        'milhelpers/sweep.py',
        '        except (ValueError, SyntaxError):\n            raise bad(f"a Python',
        '        except ValueError:\n            raise bad(f"a Python',
        'tests/test_sweep.py -k test_r10_parse_value_refuses_the_wrong_container_with_a_value_error'),
    # a tuple literal parsed for a tuple default, then turned into a list
    'r10io_parse_container_listified': (
        'milhelpers/sweep.py',
        '            raise bad(f"a {type(default).__name__} such as {default!r}")\n        return value',
        '            raise bad(f"a {type(default).__name__} such as {default!r}")\n        return list(value) if isinstance(value, tuple) else value',
        'tests/test_sweep.py -k test_r10_parse_value_containers_keep_their_type_and_order'),
    # the None-default fallback returns the text even when it is a literal ('[1, 2]' stays text)
    'r10io_parse_none_default_text': (
        'milhelpers/sweep.py',
        '        return ast.literal_eval(text)       # numbers, None, lists, dicts; anything else: text',
        '        return text       # numbers, None, lists, dicts; anything else: text',
        'tests/test_sweep.py -k test_r10_parse_value_containers_keep_their_type_and_order'),
    # check_path's hint ignored for a missing path: the generic advice always given
    'r10io_checkpath_hint_dropped': (
        'milhelpers/params.py',
        '                   + (f"; {hint}" if hint else "; check the path (relative paths start in "',
        '                   + ("; check the path (relative paths start in "',
        'tests/test_params.py -k test_r10_check_path_hint_replaces_the_default_advice_and_none_is_refused'),
    # None no longer caught: Path(None) raises a bare TypeError instead of a ParameterError
    'r10io_checkpath_none_passes': (
        'milhelpers/params.py',
        '    if value is None or str(value) == "":',
        '    if str(value) == "":',
        'tests/test_params.py -k test_r10_check_path_hint_replaces_the_default_advice_and_none_is_refused'),
    # the chosen names come back sorted instead of in the order the user gave
    'r10io_checkchoices_sorted': (
        'milhelpers/params.py',
        '    return list(items) if many else values',
        '    return sorted(items) if many else values',
        'tests/test_params.py -k test_r10_check_choices_many_keeps_order_and_refuses_a_bare_name'),
    # a bare string accepted for many=True and checked letter by letter
    'r10io_checkchoices_str_accepted': (
        'milhelpers/params.py',
        '    if many and (isinstance(values, str) or not isinstance(values, Sequence) or not values):',
        '    if many and (not isinstance(values, Sequence) or not values):',
        'tests/test_params.py -k test_r10_check_choices_many_keeps_order_and_refuses_a_bare_name'),
    # choices not materialised: a generator is used up by the first `in` test
    'r10io_checkchoices_generator_consumed': (
        'milhelpers/params.py',
        '    choices = list(choices)\n',
        '\n',
        'tests/test_params.py -k test_r10_check_choices_many_keeps_order_and_refuses_a_bare_name'),
    # check_seeds' name not passed on: a bad seed is reported as "seeds" whatever its name
    'r10io_checkseeds_name_ignored': (
        'milhelpers/params.py',
        '    out = [check_int(s, name, 0) for s in seeds]',
        '    out = [check_int(s, "seeds", 0) for s in seeds]',
        'tests/test_params.py -k test_r10_check_seeds_errors_name_the_parameter_given'),
    # the minimum not passed on: check_int's default 1 refuses seed 0
    'r10io_checkseeds_minimum_default': (
        'milhelpers/params.py',
        '    out = [check_int(s, name, 0) for s in seeds]',
        '    out = [check_int(s, name) for s in seeds]',
        'tests/test_params.py -k test_r10_check_seeds_errors_name_the_parameter_given'),
    # only the first group of clashing slides named: the user renames one pair and hits the next
    'r10io_unique_ids_first_group_only': (
        'milhelpers/pipeline.py',
        '        names = "; ".join(" and ".join(str(p) for p in ps) for ps in clashes)',
        '        names = "; ".join(" and ".join(str(p) for p in ps) for ps in clashes[:1])',
        'tests/test_pipeline.py -k test_r10_check_unique_ids_names_every_group_of_clashing_slides'),
    # the id cut at the first dot: b.1.svs and b.svs refused although they write b.1.h5 and b.h5
    'r10io_unique_ids_first_dot': (
        'milhelpers/pipeline.py',
        '        by_id.setdefault(Path(p).stem, []).append(Path(p))',
        '        by_id.setdefault(Path(p).name.split(".")[0], []).append(Path(p))',
        'tests/test_pipeline.py -k test_r10_check_unique_ids_names_every_group_of_clashing_slides'),
    # the id keeps its folder: slides from two folders that write the same patches/a.h5 pass
    'r10io_unique_ids_with_folder': (
        'milhelpers/pipeline.py',
        '        by_id.setdefault(Path(p).stem, []).append(Path(p))',
        '        by_id.setdefault(str(Path(p).with_suffix("")), []).append(Path(p))',
        'tests/test_pipeline.py -k test_r10_check_unique_ids_names_every_group_of_clashing_slides'),
    # a bare annotation (`k: int`) read as a parameter (without a default) that -p may set
    'r10io_nbparams_bare_annotation': (
        'milhelpers/sweep.py',
        '                   else [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])',
        '                   else [node.target] if isinstance(node, ast.AnnAssign) else [])',
        'tests/test_sweep.py -k test_r10_a_tuple_default_in_the_parameters_cell_types_the_grid'),
})


# round 11: method recipes, models and metrics (aem_method/aem_or_base base objects, acmil_method options, metrics' per-head functions) — audit-11 survivors and r11models_
MUTANTS.update({
    'audit11_aem_base_by_name': (
        'milhelpers/methods.py',
        '    base = as_method(base)',
        '    base = as_method(getattr(base, "name", base))',
        'tests/test_aem.py -k test_r11_aem_on_an_unregistered_base_object_keeps_that_base'),
    'audit11_metrics_top_branch_unnormalised': (
        'milhelpers/metrics.py',
        '    a = _per_head(attention)\n    inside = np.zeros(a.shape, bool)\n',
        '    a = np.atleast_2d(np.asarray(attention, dtype=np.float64))\n    inside = np.zeros(a.shape, bool)\n',
        'tests/test_metrics_viz.py -k test_r11_per_head_functions_normalise_each_head_not_the_raw_or_whole_array'),
    # aem_or_base (λ > 0) hands aem_method the base's name: an unregistered variant raises KeyError
    'r11models_aem_or_base_passes_name': (
        'milhelpers/methods.py',
        '    return as_method(base) if lam == 0 else aem_method(lam, schedule, normalize, base)',
        '    return as_method(base) if lam == 0 else aem_method(lam, schedule, normalize, getattr(base, "name", base))',
        'tests/test_aem.py -k test_r11_aem_on_an_unregistered_base_object_keeps_that_base'),
    # aem_or_base (λ = 0) looks the base up again by name instead of returning the object given
    'r11models_aem_or_base_zero_by_name': (
        'milhelpers/methods.py',
        '    return as_method(base) if lam == 0 else aem_method(lam, schedule, normalize, base)',
        '    return as_method(getattr(base, "name", base)) if lam == 0 else aem_method(lam, schedule, normalize, base)',
        'tests/test_aem.py -k test_r11_aem_on_an_unregistered_base_object_keeps_that_base'),
    # AEM's loss terms taken from the registered method of the base's family (5-branch acmil)
    'r11models_aem_terms_from_registry': (
        'milhelpers/methods.py',
        '        return (*base.loss_terms(model), aem_term(lam, schedule, normalize))',
        '        return (*get_method(base.name).loss_terms(model), aem_term(lam, schedule, normalize))',
        'tests/test_aem.py -k test_r11_aem_on_an_unregistered_base_object_keeps_that_base'),
    # acmil_method's variant name leaves K out: K = 5 and K = 10 runs share one cache entry
    'r11models_acmil_name_fixed_k': (
        'milhelpers/methods.py',
        '        f"acmil_M{n_branches}_K{top_k}_drop{_short(float(mask_drop))}", **opts)',
        '        f"acmil_M{n_branches}_K10_drop{_short(float(mask_drop))}", **opts)',
        'tests/test_methods.py -k test_r11_acmil_method_passes_each_option_to_name_and_model'),
    # acmil_method's model kwargs keep the default top_k: the name says K5, the model uses 10
    'r11models_acmil_opts_default_k': (
        'milhelpers/methods.py',
        '    opts = {"n_branches": n_branches, "top_k": top_k, "mask_drop": float(mask_drop)}',
        '    opts = {"n_branches": n_branches, "top_k": 10, "mask_drop": float(mask_drop)}',
        'tests/test_methods.py -k test_r11_acmil_method_passes_each_option_to_name_and_model'),
    # top_branch's arg-max runs over every head, also heads that do not hold the instance in their top k
    'r11models_top_branch_argmax_all_heads': (
        'milhelpers/metrics.py',
        '    best = np.where(inside, a, -np.inf).argmax(0)',
        '    best = a.argmax(0)',
        'tests/test_metrics_viz.py -k test_r11_top_branch_only_heads_that_hold_the_instance_in_their_top_k_compete'),
    # instances in no head's top k get head 0 instead of -1
    'r11models_top_branch_no_minus_one': (
        'milhelpers/metrics.py',
        '    return np.where(inside.any(0), best, -1)',
        '    return best',
        'tests/test_metrics_viz.py -k test_r11_top_branch_only_heads_that_hold_the_instance_in_their_top_k_compete'),
    # top_branch keeps each head's top k + 1 (off by one)
    'r11models_top_branch_k_plus_one': (
        'milhelpers/metrics.py',
        '        inside[h, np.argsort(-row, kind="stable")[:k]] = True',
        '        inside[h, np.argsort(-row, kind="stable")[:k + 1]] = True',
        'tests/test_metrics_viz.py -k test_r11_top_branch_only_heads_that_hold_the_instance_in_their_top_k_compete'),
    # top_branch sorts ascending: each head's k *least* attended instances
    'r11models_top_branch_ascending': (
        'milhelpers/metrics.py',
        '        inside[h, np.argsort(-row, kind="stable")[:k]] = True',
        '        inside[h, np.argsort(row, kind="stable")[:k]] = True',
        'tests/test_metrics_viz.py -k test_r11_top_branch_only_heads_that_hold_the_instance_in_their_top_k_compete'),
    # one normalisation over the whole (H, N) array instead of per head
    'r11models_per_head_global_normalisation': (
        'milhelpers/metrics.py',
        '    return a / total',
        '    return a / a.sum()',
        'tests/test_metrics_viz.py -k test_r11_per_head_functions_normalise_each_head_not_the_raw_or_whole_array'),
    # a head of zeros passes the check: NaN weights instead of a ValueError
    'r11models_per_head_zero_head_allowed': (
        'milhelpers/metrics.py',
        '    if (total <= 0).any() or (a < 0).any():',
        '    if (total < 0).any() or (a < 0).any():',
        'tests/test_metrics_viz.py -k test_r11_per_head_functions_reject_bad_attention_with_valueerror'),
    # negative weights accepted when the head's sum is positive
    'r11models_per_head_negative_allowed': (
        'milhelpers/metrics.py',
        '    if (total <= 0).any() or (a < 0).any():',
        '    if (total <= 0).any():',
        'tests/test_metrics_viz.py -k test_r11_per_head_functions_reject_bad_attention_with_valueerror'),
    # N = 0 no longer named as such (the zero-sum message instead)
    'r11models_per_head_empty_n_unchecked': (
        'milhelpers/metrics.py',
        '    if a.ndim != 2 or a.shape[1] == 0:',
        '    if a.ndim != 2:',
        'tests/test_metrics_viz.py -k test_r11_per_head_functions_reject_bad_attention_with_valueerror'),
    # cumulative_attention averages the raw heads and normalises after (heavy heads dominate)
    'r11models_cumulative_mean_before_normalising': (
        'milhelpers/metrics.py',
        '        a = _per_head(a).mean(0)',
        '        a = _per_head(np.atleast_2d(np.asarray(a, float)).mean(0))',
        'tests/test_metrics_viz.py -k test_r11_per_head_functions_normalise_each_head_not_the_raw_or_whole_array'),
    # attention_entropy sums the heads' entropies instead of averaging them
    'r11models_entropy_sums_heads': (
        'milhelpers/metrics.py',
        '        h = -np.where(a > 0, a * np.log(a), 0.0).sum(1)',
        '        h = -np.where(a > 0, a * np.log(a), 0.0).sum(1, keepdims=True).sum(0)',
        'tests/test_metrics_viz.py -k test_r11_per_head_functions_normalise_each_head_not_the_raw_or_whole_array'),
    # recycle_split rounds ⌈L·ρ⌉ up instead of down: one instance too many kept
    'r11models_recycle_split_rounds_up': (
        'milhelpers/models/mhim.py',
        '        n_keep = max(int(len(idx) * keep_ratio), min(min_keep, len(idx)))   # int(): floor',
        '        n_keep = max(math.ceil(len(idx) * keep_ratio), min(min_keep, len(idx)))   # int(): floor',
        'tests/test_mhim.py -k test_r11_recycle_split_keeps_floor_of_each_bags_own_visible_count'),
    # recycle_split counts the padded length N, not the bag's visible L
    'r11models_recycle_split_padded_length': (
        'milhelpers/models/mhim.py',
        '        n_keep = max(int(len(idx) * keep_ratio), min(min_keep, len(idx)))   # int(): floor',
        '        n_keep = max(int(vis.shape[1] * keep_ratio), min(min_keep, len(idx)))   # int(): floor',
        'tests/test_mhim.py -k test_r11_recycle_split_keeps_floor_of_each_bags_own_visible_count'),
    # recycle_split ignores min_keep: a bag with ⌊L·ρ⌋ = 0 keeps nothing for the student
    'r11models_recycle_split_min_keep_ignored': (
        'milhelpers/models/mhim.py',
        '        n_keep = max(int(len(idx) * keep_ratio), min(min_keep, len(idx)))   # int(): floor',
        '        n_keep = int(len(idx) * keep_ratio)   # int(): floor',
        'tests/test_mhim.py -k test_r11_recycle_split_keeps_floor_of_each_bags_own_visible_count'),
    # ADS accepts r = 1 (compresses nothing, yet PackMIL packs by ⌈n/r⌉ lengths)
    'r11models_ads_ratio_one_allowed': (
        'milhelpers/models/packmil.py',
        '        if isinstance(ratio, bool) or int(ratio) != ratio or ratio < 2:',
        '        if isinstance(ratio, bool) or int(ratio) != ratio or ratio < 1:',
        'tests/test_packing.py -k test_r11_ads_refuses_ratios_that_are_not_integers_of_at_least_two'),
    # ADS accepts a fractional ratio (1.5 passes the bound, int() later truncates it)
    'r11models_ads_fraction_allowed': (
        'milhelpers/models/packmil.py',
        '        if isinstance(ratio, bool) or int(ratio) != ratio or ratio < 2:',
        '        if isinstance(ratio, bool) or ratio < 1.5:',
        'tests/test_packing.py -k test_r11_ads_refuses_ratios_that_are_not_integers_of_at_least_two'),
})

# round 11: the experiment result and training (ExperimentResult: slide_matrix, _per_repeat, summary, paired, values, out_of_fold; train.TrainConfig checks) — audit-11 survivors and r11runner_
MUTANTS.update({
    # audit-11 survivor
    'audit11_rs_slide_matrix_quantity_ignored': (
        'milhelpers/experiments.py',
        'return rows.pivot(index="seed", columns="slide_id", values=quantity).sort_index()',
        'return rows.pivot(index="seed", columns="slide_id", values="score").sort_index()',
        'tests/test_runner_paths.py -k test_r11_slide_matrix_is_the_asked_quantity_of_the_asked_method_by_seed'),
    # audit-11 survivor
    'audit11_rs_per_repeat_nan_kept': (
        'milhelpers/experiments.py',
        '                v = v[~np.isnan(v)]\n                if len(v):\n                    out.append(float(v.mean()))',
        '                if len(v):\n                    out.append(float(v.mean()))',
        'tests/test_runner_paths.py -k test_r11_oof_summary_drops_undefined_slides_and_repeats_but_counts_negatives'),
    # slide_matrix ignores method: every method's matrix is the first method's
    'r11runner_slide_matrix_method_ignored': (
        'milhelpers/experiments.py',
        '        rows = self.out_of_fold(method)\n        return rows.pivot(',
        '        rows = self.out_of_fold(self.methods[0])\n        return rows.pivot(',
        'tests/test_runner_paths.py -k test_r11_slide_matrix_is_the_asked_quantity_of_the_asked_method_by_seed'),
    # slide_matrix transposed: slides as rows, repeats as columns
    'r11runner_slide_matrix_axes_swapped': (
        'milhelpers/experiments.py',
        'return rows.pivot(index="seed", columns="slide_id", values=quantity).sort_index()',
        'return rows.pivot(index="slide_id", columns="seed", values=quantity).sort_index()',
        'tests/test_runner_paths.py -k test_r11_slide_matrix_is_the_asked_quantity_of_the_asked_method_by_seed'),
    # a repeat with no defined slide counts as a NaN repeat (summary n 3, mean NaN)
    'r11runner_per_repeat_empty_repeat_counted': (
        'milhelpers/experiments.py',
        '                if len(v):\n                    out.append(float(v.mean()))',
        '                out.append(float(v.mean()) if len(v) else float("nan"))',
        'tests/test_runner_paths.py -k test_r11_oof_summary_drops_undefined_slides_and_repeats_but_counts_negatives'),
    # top-5 mass averaged over the negatives instead of the positives
    'r11runner_per_repeat_top5_negatives': (
        'milhelpers/experiments.py',
        '                    v = v[y == 1]',
        '                    v = v[y == 0]',
        'tests/test_runner_paths.py -k test_r11_oof_summary_drops_undefined_slides_and_repeats_but_counts_negatives'),
    # every per-slide quantity restricted to positives: the negatives' entropy no longer counts
    'r11runner_per_repeat_entropy_positives_only': (
        'milhelpers/experiments.py',
        '                if metric == "top5_mass":\n                    v = v[y == 1]',
        '                if metric != "loc_auc":\n                    v = v[y == 1]',
        'tests/test_runner_paths.py -k test_r11_oof_summary_drops_undefined_slides_and_repeats_but_counts_negatives'),
    # run metrics averaged with their NaN runs: mean NaN, n counts undefined runs
    'r11runner_summary_run_nan_kept': (
        'milhelpers/experiments.py',
        '                out[m][k] = _mean_std_n(v[~np.isnan(v)])',
        '                out[m][k] = _mean_std_n(v[~np.isnan(v)] if k == "seconds" else v)',
        'tests/test_runner_paths.py -k test_r11_summary_of_run_metrics_drops_nan_runs_per_metric'),
    # every method summarised from all methods' runs
    'r11runner_summary_all_methods_runs': (
        'milhelpers/experiments.py',
        '            rows = self.runs[self.runs.method == m]\n            out[m] = {}',
        '            rows = self.runs\n            out[m] = {}',
        'tests/test_runner_paths.py -k test_r11_summary_of_run_metrics_drops_nan_runs_per_metric'),
    # population std (ddof 0) where the docs promise the sample std
    'r11runner_mean_std_n_ddof0': (
        'milhelpers/experiments.py',
        '"std": float(v.std(ddof=1)) if len(v) > 1 else float("nan")',
        '"std": float(v.std()) if len(v) > 1 else float("nan")',
        'tests/test_runner_paths.py -k test_r11_oof_summary_drops_undefined_slides_and_repeats_but_counts_negatives'),
    # paired compares loc_auc whatever slide quantity is asked (entropy, top-5 mass)
    'r11runner_paired_quantity_column': (
        'milhelpers/experiments.py',
        '                va, vb = mats[a][k], mats[b][k]',
        '                va, vb = mats[a]["loc_auc"], mats[b]["loc_auc"]',
        'tests/test_runner_paths.py -k test_r11_paired_slide_quantities_by_hand_each_from_its_own_column'),
    # the slide-quantity bootstrap ignores n_boot (always 2,000 resamples)
    'r11runner_paired_means_n_boot_ignored': (
        'milhelpers/experiments.py',
        '                out[k] = stats.paired_slide_means(va, vb, y=y, groups=cases, n_boot=n_boot,',
        '                out[k] = stats.paired_slide_means(va, vb, y=y, groups=cases, n_boot=2000,',
        'tests/test_runner_paths.py -k test_r11_paired_bootstrap_follows_its_seed_and_number_of_resamples'),
    # the slide-metric bootstrap ignores seed (always resamples drawn from 0)
    'r11runner_paired_metric_seed_ignored': (
        'milhelpers/experiments.py',
        '                                                       groups=cases, metric=k, n_boot=n_boot,\n                                                       seed=seed)',
        '                                                       groups=cases, metric=k, n_boot=n_boot,\n                                                       seed=0)',
        'tests/test_runner_paths.py -k test_r11_paired_bootstrap_follows_its_seed_and_number_of_resamples'),
    # pairing over the union of seeds: a repeat only one method ran enters the comparison
    'r11runner_aligned_seed_union': (
        'milhelpers/experiments.py',
        '        seeds = sorted(set(oa.seed) & set(ob.seed))',
        '        seeds = sorted(set(oa.seed) | set(ob.seed))',
        'tests/test_runner_paths.py -k test_r11_paired_slide_quantities_by_hand_each_from_its_own_column'),
    # per-slide B − A averaged with the slides where either side is NaN counted as 0
    'r11runner_aligned_nan_as_zero': (
        'milhelpers/experiments.py',
        '            mats[m] = {q: rows[q].reindex(idx).to_numpy(np.float64).reshape(len(seeds), len(ids))',
        '            mats[m] = {q: np.nan_to_num(rows[q].reindex(idx).to_numpy(np.float64)).reshape(len(seeds), len(ids))',
        'tests/test_runner_paths.py -k test_r11_paired_slide_quantities_by_hand_each_from_its_own_column'),
    # values of an unknown method: another exception type than the documented KeyError
    'r11runner_values_unknown_method_valueerror': (
        'milhelpers/experiments.py',
        '            raise KeyError(f"no runs of method {method!r}; the experiment has {self.methods}")',
        '            raise ValueError(f"no runs of method {method!r}; the experiment has {self.methods}")',
        'tests/test_runner_paths.py -k test_r11_values_and_out_of_fold_refuse_unknown_methods_with_their_message'),
    # out_of_fold(method) returns every method's records
    'r11runner_out_of_fold_method_ignored': (
        'milhelpers/experiments.py',
        '        rows = self.slides if method is None else self.slides[self.slides.method == method]',
        '        rows = self.slides if method is None else self.slides[self.slides.method.isin([method, *self.methods[:1]])]',
        'tests/test_runner_paths.py -k test_r11_values_and_out_of_fold_refuse_unknown_methods_with_their_message'),
    # any val_* name accepted as a monitor: a typo (val_auroc) trains with no known direction
    'r11runner_config_monitor_widened': (
        'milhelpers/train.py',
        '        if self.monitor not in MONITORS:',
        '        if self.monitor not in MONITORS and not self.monitor.startswith("val_"):',
        'tests/test_train_paths.py -k test_r11_each_config_check_refuses_its_own_field_with_its_message'),
    # a float batch size (2.0) accepted, to fail later in the DataLoader
    'r11runner_config_batch_size_float': (
        'milhelpers/train.py',
        '        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1):',
        '        if not self.batch_size >= 1:',
        'tests/test_train_paths.py -k test_r11_each_config_check_refuses_its_own_field_with_its_message'),
    # a negative learning rate no longer refused (only weight_decay checked)
    'r11runner_config_lr_unchecked': (
        'milhelpers/train.py',
        '        if self.lr < 0 or self.weight_decay < 0:',
        '        if self.weight_decay < 0:',
        'tests/test_train_paths.py -k test_r11_each_config_check_refuses_its_own_field_with_its_message'),
})

# round 11: parameters, slides, features and the folder pipeline (params, slides, features, pipeline)
MUTANTS.update({
    'audit11_params_label_map_nan_labels': (
        'milhelpers/params.py',
        '    values = table["label"].dropna() if "label" in table else pd.Series([], dtype=object)\n',
        '    values = table["label"] if "label" in table else pd.Series([], dtype=object)\n',
        'tests/test_params.py -k test_r11_check_label_map_ignores_missing_labels'),
    'audit11_tiling_magnification_file_mpp': (
        'milhelpers/slides.py',
        'return mpp_to_magnification(self.mpp)',
        'return mpp_to_magnification(self.file_mpp)',
        'tests/test_slides.py -k test_r11_magnification_and_level_mpp_use_the_mpp_in_use'),
    'audit11_h5f_getstate_keeps_failed': (
        'milhelpers/features.py',
        '        state["_failed"] = {}\n',
        '',
        'tests/test_features.py -k test_r11_a_pickled_patch_dataset_starts_with_no_failures_and_reads_the_same'),
    # int map keys compared as ints with the labels' text: {0: 0, 1: 1} refused for labels 0/1
    'r11io_label_map_keys_not_text': (
        'milhelpers/params.py',
        '    missing = sorted(set(text) - set(map(str, label_map)))',
        '    missing = sorted(set(text) - set(label_map))',
        'tests/test_params.py -k test_r11_check_label_map_ignores_missing_labels'),
    # an empty / all-missing label column counted as text labels: a map demanded for nothing
    'r11io_label_map_empty_needs_map': (
        'milhelpers/params.py',
        '        if len(values) and not pd.api.types.is_numeric_dtype(values):',
        '        if not pd.api.types.is_numeric_dtype(values):',
        'tests/test_params.py -k test_r11_check_label_map_without_a_label_column_needs_no_map'),
    # missing labels dropped only after the text is taken: None becomes the unmapped label 'None'
    'r11io_label_map_text_before_dropna': (
        'milhelpers/params.py',
        '    text = sorted(set(values.astype(str)))',
        '    text = sorted(set(table["label"].astype(str))) if "label" in table else []',
        'tests/test_params.py -k test_r11_check_label_map_ignores_missing_labels'),
    # level_mpp from the file's mpp: a forced 0.5 µm/px slide reports its levels at 40× sizes
    'r11io_level_mpp_file_mpp': (
        'milhelpers/slides.py',
        '        return self.mpp * self.level_downsamples[level]',
        '        return (self.file_mpp or self.mpp) * self.level_downsamples[level]',
        'tests/test_slides.py -k test_r11_magnification_and_level_mpp_use_the_mpp_in_use'),
    # level_mpp ignores its level: every level reported at level-0 resolution
    'r11io_level_mpp_level0': (
        'milhelpers/slides.py',
        '        return self.mpp * self.level_downsamples[level]',
        '        return self.mpp * self.level_downsamples[0]',
        'tests/test_slides.py -k test_r11_magnification_and_level_mpp_use_the_mpp_in_use'),
    # force_mpp ignored: the file's value wins although the user forced theirs
    'r11io_force_mpp_ignored': (
        'milhelpers/slides.py',
        '            return given, f"given mpp, forced over the file\'s {file:g}"',
        '            return file, f"given mpp, forced over the file\'s {file:g}"',
        'tests/test_slides.py -k test_r11_magnification_and_level_mpp_use_the_mpp_in_use'),
    # an implausible file mpp used although a plausible one was given
    'r11io_implausible_file_beats_given': (
        'milhelpers/slides.py',
        '                return given, f"given mpp (the file\'s {file:g} µm/px is implausible)"',
        '                return file, f"given mpp (the file\'s {file:g} µm/px is implausible)"',
        'tests/test_slides.py -k test_r11_magnification_and_level_mpp_use_the_mpp_in_use'),
    # magnification as 20 / mpp (a 0.5 µm/px slide called 40×)
    'r11io_mpp_to_magnification_20': (
        'milhelpers/slides.py',
        'return mpp_to_magnification(self.mpp)',
        'return 2 * mpp_to_magnification(self.mpp)',
        'tests/test_slides.py -k test_r11_magnification_and_level_mpp_use_the_mpp_in_use'),
    # a level whose downsample equals the wanted one skipped: reads a 4× larger region than needed
    'r11io_best_level_strict': (
        'milhelpers/slides.py',
        '            if d <= downsample * (1 + 1e-6):',
        '            if d < downsample:',
        'tests/test_slides.py -k test_r11_best_level_for_downsample_takes_the_deepest_level_not_past_it'),
    # the first level that fits, not the deepest: always level 0 (slow full-resolution reads)
    'r11io_best_level_first': (
        'milhelpers/slides.py',
        '                best = i\n',
        '                best = min(best, i)\n',
        'tests/test_slides.py -k test_r11_best_level_for_downsample_takes_the_deepest_level_not_past_it'),
    # the slide handles sent to the worker (they cannot be pickled)
    'r11io_getstate_keeps_open': (
        'milhelpers/features.py',
        '        state["_open"], state["_band_key"], state["_band"] = OrderedDict(), None, None',
        '        state["_band_key"], state["_band"] = None, None',
        'tests/test_features.py -k test_r11_a_pickled_patch_dataset_starts_with_no_failures_and_reads_the_same'),
    # the band key sent without its band: the worker believes it has the band and slices None
    'r11io_getstate_keeps_band_key': (
        'milhelpers/features.py',
        '        state["_open"], state["_band_key"], state["_band"] = OrderedDict(), None, None',
        '        state["_open"], state["_band"] = OrderedDict(), None',
        'tests/test_features.py -k test_r11_a_pickled_patch_dataset_starts_with_no_failures_and_reads_the_same'),
    # a failed slide's patch returned without its reason: the failure goes unreported
    'r11io_failed_reason_dropped': (
        'milhelpers/features.py',
        '        return blank, j, self._failed[j]',
        '        return blank, j, ""',
        'tests/test_features.py -k test_r11_a_pickled_patch_dataset_starts_with_no_failures_and_reads_the_same'),
    # the patch index located with side="left": a slide's first patch given to the previous slide
    'r11io_patch_job_side_left': (
        'milhelpers/features.py',
        '        j = int(np.searchsorted(self.offsets, i, side="right") - 1)',
        '        j = int(np.searchsorted(self.offsets, i, side="left") - 1)',
        'tests/test_features.py -k test_r11_a_pickled_patch_dataset_starts_with_no_failures_and_reads_the_same'),
    # the folder pre-check compares target_mpp at its default: a rerun at 2 µm/px re-tiles a.svs
    # and fails b.svs slide by slide; a rerun at the same 4 µm/px is refused as stale
    'r11io_tile_precheck_target_mpp_default': (
        'milhelpers/pipeline.py',
        '        requested = tiling_settings(tile_kwargs.get("target_mpp", 0.5),',
        '        requested = tiling_settings(0.5,',
        'tests/test_pipeline.py -k test_r11_tile_folder_checks_every_knob_against_existing_coordinates'),
    # the folder pre-check ignores overlap (always 0)
    'r11io_tile_precheck_overlap_default': (
        'milhelpers/pipeline.py',
        '                                  tile_kwargs.get("patch_size", 256), tile_kwargs.get("overlap", 0),',
        '                                  tile_kwargs.get("patch_size", 256), 0,',
        'tests/test_pipeline.py -k test_r11_tile_folder_checks_every_knob_against_existing_coordinates'),
    # the folder pre-check ignores min_tissue (always 0.25)
    'r11io_tile_precheck_min_tissue_default': (
        'milhelpers/pipeline.py',
        '                                  tile_kwargs.get("min_tissue", 0.25),\n',
        '                                  0.25,\n',
        'tests/test_pipeline.py -k test_r11_tile_folder_checks_every_knob_against_existing_coordinates'),
    # the folder pre-check always assumes the biopsy preset, whatever params was passed
    'r11io_tile_precheck_params_default': (
        'milhelpers/pipeline.py',
        '                                  get_preset(params) if isinstance(params, str) else params)',
        '                                  get_preset("biopsy"))',
        'tests/test_pipeline.py -k test_r11_tile_folder_checks_every_knob_against_existing_coordinates'),
    # unlabelled slides grouped as a class of their own: a cohort with one unlabelled slide refused
    'r11io_folds_nan_label_is_a_class': (
        'milhelpers/params.py',
        '    per_class = pd.Series(groups.to_numpy()).groupby(table["label"].to_numpy()).nunique()',
        '    per_class = pd.Series(groups.to_numpy()).groupby(table["label"].to_numpy(), dropna=False).nunique()',
        'tests/test_params.py -k test_r11_check_folds_leaves_unlabelled_slides_out_of_the_class_counts'),
    # only the width compared: coordinates of a slide of another height applied to this one
    'r11io_check_job_width_only': (
        'milhelpers/features.py',
        '    if None not in want and tuple(int(v) for v in want) != tuple(dims):',
        '    if None not in want and int(want[0]) != dims[0]:',
        'tests/test_features.py -k test_r11_coordinates_must_come_from_a_slide_of_the_same_width_and_height'),
    # a coordinates file without the level-0 size (TRIDENT) refused as another slide's
    'r11io_check_job_refuses_unsized': (
        'milhelpers/features.py',
        '    if None not in want and tuple(int(v) for v in want) != tuple(dims):',
        '    if None in want or tuple(int(v) for v in want) != tuple(dims):',
        'tests/test_features.py -k test_r11_coordinates_must_come_from_a_slide_of_the_same_width_and_height'),
    # top_branch with k < 1 answers silently again (the round-11 bug, fixed)
    'r11models_top_branch_k_unchecked': (
        'milhelpers/metrics.py',
        '    if k < 1:\n        raise ValueError(f"k must be >= 1, got {k}")\n    a = _per_head(attention)\n    inside',
        '    a = _per_head(attention)\n    inside',
        'tests/test_metrics_viz.py -k test_r11_top_branch_rejects_k_below_one_like_topk_members'),
})

# round 12 (ACMIL and PackMIL): the audit-12 survivors in packing.py, packmil.py and packmil_method, and a sweep of packing.py (integer and share checks, empty parts, PackedBatch's model_kwargs and devices, slide order, label dtype, padded_token_share's defaults, the cap's draw), packmil.py (ADS scores, mask, zero padding, owner and part order, the main and residual compression, per-slide pack and position), packmil_method's terms and summary, abmil.py (checkpointed_forward, n_classes, dropout, instance embeddings and logits), base.py's shape messages, stkim_mask's dtype, the ACMIL summaries and the registry (factories' options, Method.fit's plumbing, fingerprint parts, n_classes_of, register, get_method's entry points, as_method) — r12pack_
MUTANTS.update({
    'audit12_packmil_pack_tensors_dtype_lost': (
        'milhelpers/packing.py',
        '    x = ref.new_zeros(len(packs), t, d)',
        '    x = torch.zeros(len(packs), t, d)',
        'tests/test_packing_paths.py -k test_r12_pack_tensors_keeps_the_parts_dtype'),
    'audit12_packmil_ads_split_slide_assert_widened': (
        'milhelpers/models/packmil.py',
        '        assert sorted(owner) == slides, "a slide is split across packs"',
        '        assert set(owner) == set(slides), "a slide is split across packs"',
        'tests/test_packing_paths.py -k test_r12_ads_packed_refuses_a_slide_split_across_packs_and_keeps_each_slides_number'),
    'audit12_packmil_method_lr_not_validated': (
        'milhelpers/methods.py',
        '    TrainConfig(batch_size=batch_size, lr=lr)                       # bad batch size / lr too',
        '    TrainConfig(batch_size=batch_size)                              # bad batch size / lr too',
        'tests/test_packing_paths.py -k test_r12_packmil_method_validates_lr_and_batch_size'),
    'audit12_packmil_hyperslide_counts_truncated': (
        'milhelpers/packing.py',
        '    w = torch.as_tensor(token_counts, dtype=torch.float32)',
        '    w = torch.as_tensor(token_counts, dtype=torch.long)',
        'tests/test_packing_paths.py -k test_r12_hyperslide_tokenmix_keeps_fractional_token_weights'),
    'r12pack_positive_int_check_returns_the_raw_value': (
        'milhelpers/packing.py',
        '    return int(value)',
        '    return value',
        'tests/test_packing_paths.py -k test_r12_integer_checks_hand_back_python_ints'),
    'r12pack_collate_p_unchecked_when_built': (
        'milhelpers/packing.py',
        '        _check_share(self.p)',
        '        float(self.p)',
        'tests/test_packing_paths.py -k test_r12_collate_checks_p_and_ads_ratio_when_built'),
    'r12pack_collate_ads_ratio_zero_ok': (
        'milhelpers/packing.py',
        '_check_positive_int(self.ads_ratio, "ads_ratio", 1, " (1 = no ADS)")',
        '_check_positive_int(self.ads_ratio, "ads_ratio", 0, " (1 = no ADS)")',
        'tests/test_packing_paths.py -k test_r12_collate_checks_p_and_ads_ratio_when_built'),
    'r12pack_sequential_packs_stop_at_an_empty_part': (
        'milhelpers/packing.py',
        '            continue',
        '            break',
        'tests/test_packing_paths.py -k test_r12_sequential_packs_skips_empty_parts_and_goes_on'),
    'r12pack_sequential_packs_max_len_zero_ok': (
        'milhelpers/packing.py',
        '    max_len = _check_positive_int(max_len, "max_len")',
        '    max_len = _check_positive_int(max_len, "max_len", 0)',
        'tests/test_packing_paths.py -k test_r12_sequential_packs_skips_empty_parts_and_goes_on'),
    'r12pack_sequential_packs_new_pack_counts_its_first_part_twice': (
        'milhelpers/packing.py',
        '            total = 0',
        '            total = n',
        'tests/test_packing_paths.py -k test_r12_sequential_packs_skips_empty_parts_and_goes_on'),
    'r12pack_hyperslide_labels_keep_their_dtype': (
        'milhelpers/packing.py',
        '    y = torch.as_tensor(labels, dtype=torch.long)',
        '    y = torch.as_tensor(labels)',
        'tests/test_packing_paths.py -k test_r12_hyperslide_label_takes_class_indices_given_as_floats'),
    'r12pack_packed_batch_kwargs_filled_only_for_none': (
        'milhelpers/packing.py',
        '        if not self.model_kwargs:',
        '        if self.model_kwargs is None:',
        'tests/test_packing_paths.py -k test_r12_packed_batch_builds_its_model_kwargs_from_its_own_fields'),
    'r12pack_packed_batch_residual_kwarg_is_the_main_packs': (
        'milhelpers/packing.py',
        'self.model_kwargs.update(residual=self.residual_features,',
        'self.model_kwargs.update(residual=self.features,',
        'tests/test_packing_paths.py -k test_r12_packed_batch_builds_its_model_kwargs_from_its_own_fields'),
    'r12pack_collate_slide_ids_sorted': (
        'milhelpers/packing.py',
        '[b.slide_id for b in bags]',
        'sorted(b.slide_id for b in bags)',
        'tests/test_packing_paths.py -k test_r12_collate_keeps_the_batch_order_of_slide_ids_and_labels'),
    'r12pack_sampler_batch_size_zero_ok': (
        'milhelpers/packing.py',
        '    batch_size = _check_positive_int(batch_size, "batch_size")',
        '    batch_size = _check_positive_int(batch_size, "batch_size", 0)',
        'tests/test_packing_paths.py -k test_r12_slide_batch_sampler_refuses_batch_size_zero_by_name'),
    'r12pack_padded_share_default_epochs_10': (
        'milhelpers/packing.py',
        '                       epochs: int = 20) -> float:',
        '                       epochs: int = 10) -> float:',
        'tests/test_packing_paths.py -k test_r12_padded_token_share_defaults_are_seed_0_and_20_epochs'),
    'r12pack_padded_share_default_seed_1': (
        'milhelpers/packing.py',
        'def padded_token_share(lengths: Sequence[int], batch_size: int, seed: int = 0,',
        'def padded_token_share(lengths: Sequence[int], batch_size: int, seed: int = 1,',
        'tests/test_packing_paths.py -k test_r12_padded_token_share_defaults_are_seed_0_and_20_epochs'),
    'r12pack_split_cap_draws_for_a_part_at_the_cap': (
        'milhelpers/packing.py',
        '        if len(main) > cap:',
        '        if len(main) >= cap:',
        'tests/test_packing_paths.py -k test_r12_split_slide_draws_a_cap_only_for_a_part_longer_than_the_cap'),
    'r12pack_method_alpha_zero_keeps_a_zero_weight_term': (
        'milhelpers/methods.py',
        '        if alpha == 0:\n            return ()',
        '        if alpha < 0:\n            return ()',
        'tests/test_packing_paths.py -k test_r12_packmil_method_without_residual_has_no_loss_terms_and_no_residual_packs'),
    'r12pack_method_summary_p_is_alpha': (
        'milhelpers/methods.py',
        'f"p = {_short(float(p))} to the main branch',
        'f"p = {_short(float(alpha))} to the main branch',
        'tests/test_packing_paths.py -k test_r12_packmil_summary_names_every_option'),
    'r12pack_method_summary_ads_always': (
        'milhelpers/methods.py',
        'ads = f", ADS r = {ads_ratio}" if ads_ratio else ""',
        'ads = f", ADS r = {ads_ratio}"',
        'tests/test_packing_paths.py -k test_r12_packmil_summary_names_every_option'),
    'r12pack_method_summary_alpha_zero_is_none_check': (
        'milhelpers/methods.py',
        'f"{_short(float(alpha))}" if alpha else "no residual branch")',
        'f"{_short(float(alpha))}" if alpha is not None else "no residual branch")',
        'tests/test_packing_paths.py -k test_r12_packmil_summary_names_every_option'),
    'r12pack_ads_score_relu': (
        'milhelpers/models/packmil.py',
        'nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1)',
        'nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1)',
        'tests/test_packing_paths.py -k test_r12_ads_reweights_with_tanh_scores_over_real_tokens_only'),
    'r12pack_ads_reweight_mask_test_flipped': (
        'milhelpers/models/packmil.py',
        '[..., 0]                                     # (..., n)\n        if mask is not None:',
        '[..., 0]                                     # (..., n)\n        if mask is None:',
        'tests/test_packing_paths.py -k test_r12_ads_reweights_with_tanh_scores_over_real_tokens_only'),
    'r12pack_ads_packed_owner_is_the_pack': (
        'milhelpers/models/packmil.py',
        '                owner.append(s)',
        '                owner.append(p)',
        'tests/test_packing_paths.py -k test_r12_ads_packed_refuses_a_slide_split_across_packs_and_keeps_each_slides_number'),
    'r12pack_packed_pack_of_from_positions': (
        'milhelpers/models/packmil.py',
        'packs = torch.arange(p, device=x.device)[:, None].expand(p, t)[real]',
        'packs = torch.arange(t, device=x.device)[None, :].expand(p, t)[real]',
        'tests/test_packing_paths.py -k test_r12_packed_forward_gives_each_slide_its_own_pack_and_output'),
    'r12pack_packed_token_position_from_packs': (
        'milhelpers/models/packmil.py',
        'pos = torch.arange(t, device=x.device)[None, :].expand(p, t)[real]',
        'pos = torch.arange(p, device=x.device)[:, None].expand(p, t)[real]',
        'tests/test_packing_paths.py -k test_r12_packed_forward_gives_each_slide_its_own_pack_and_output'),
    'r12pack_checkpointed_pools_with_logits': (
        'milhelpers/models/abmil.py',
        'zip(a.split(chunk), hs)',
        'zip(e.split(chunk), hs)',
        'tests/test_models.py -k test_r12_checkpointed_forward_matches_every_output_and_its_gradients'),
    'r12pack_checkpointed_returns_weights_as_logits': (
        'milhelpers/models/abmil.py',
        'return MILOutput(model.classifier(z), e[None, None], z, mask)',
        'return MILOutput(model.classifier(z), a[None, None], z, mask)',
        'tests/test_models.py -k test_r12_checkpointed_forward_matches_every_output_and_its_gradients'),
    'r12pack_abmil_n_classes_fixed_at_two': (
        'milhelpers/models/abmil.py',
        'self.n_classes, self.gated = n_classes, gated',
        'self.n_classes, self.gated = 2, gated',
        'tests/test_models.py -k test_r12_baselines_keep_their_n_classes_and_dropout'),
    'r12pack_meanpool_dropout_fixed': (
        'milhelpers/models/abmil.py',
        '        self.project = _projection(in_dim, embed_dim, dropout)\n        self.classifier = nn.Linear(embed_dim, n_classes)',
        '        self.project = _projection(in_dim, embed_dim, 0.25)\n        self.classifier = nn.Linear(embed_dim, n_classes)',
        'tests/test_models.py -k test_r12_baselines_keep_their_n_classes_and_dropout'),
    'r12pack_maxpool_n_classes_fixed_at_two': (
        'milhelpers/models/abmil.py',
        '        self.n_classes = n_classes\n        self.project = _projection(in_dim, embed_dim, dropout)\n        self.instance_classifier',
        '        self.n_classes = 2\n        self.project = _projection(in_dim, embed_dim, dropout)\n        self.instance_classifier',
        'tests/test_models.py -k test_r12_baselines_keep_their_n_classes_and_dropout'),
    'r12pack_abmil_instance_embeddings_detached': (
        'milhelpers/models/abmil.py',
        '{"instance_embeddings": h}',
        '{"instance_embeddings": h.detach()}',
        'tests/test_models.py -k test_r12_abmil_hands_back_its_instance_embeddings_with_their_gradient'),
    'r12pack_stkim_nothing_hidden_is_float': (
        'milhelpers/models/acmil.py',
        '    hidden = torch.zeros(b, m, n, dtype=torch.bool, device=scores.device)',
        '    hidden = torch.zeros(b, m, n, device=scores.device)',
        'tests/test_acmil.py -k test_r12_stkim_mask_that_hides_nothing_is_a_boolean_b_m_n_mask'),
    'r12pack_mean_pool_registry_drops_options': (
        'milhelpers/methods.py',
        'lambda ctx, **kw: MeanPoolMIL(ctx.in_dim, ctx.n_classes, **kw)',
        'lambda ctx, **kw: MeanPoolMIL(ctx.in_dim, ctx.n_classes)',
        'tests/test_methods.py -k test_r12_registered_factories_pass_model_options_and_the_contexts_sizes'),
    'r12pack_max_pool_registry_drops_options': (
        'milhelpers/methods.py',
        'lambda ctx, **kw: MaxPoolMIL(ctx.in_dim, ctx.n_classes, **kw)',
        'lambda ctx, **kw: MaxPoolMIL(ctx.in_dim, ctx.n_classes)',
        'tests/test_methods.py -k test_r12_registered_factories_pass_model_options_and_the_contexts_sizes'),
    'r12pack_ads_pads_with_ones': (
        'milhelpers/models/packmil.py',
        'x.new_zeros(m * r - n, d)',
        'x.new_ones(m * r - n, d)',
        'tests/test_packing_paths.py -k test_r12_ads_pads_a_part_with_zero_tokens_before_grouping'),
    'r12pack_ads_packed_skips_the_last_pack': (
        'milhelpers/models/packmil.py',
        '        for p in range(x.shape[0]):',
        '        for p in range(x.shape[0] - 1):',
        'tests/test_packing_paths.py -k test_r12_ads_packed_refuses_a_slide_split_across_packs_and_keeps_each_slides_number'),
    'r12pack_ads_packed_part_index_is_the_slide': (
        'milhelpers/models/packmil.py',
        '                pk.append(len(parts))',
        '                pk.append(s)',
        'tests/test_packing_paths.py -k test_r12_ads_packed_keeps_slides_listed_out_of_order_with_their_own_tokens'),
    'r12pack_residual_features_not_compressed': (
        'milhelpers/models/packmil.py',
        '                residual, residual_slide_index = self.ads.packed(residual, residual_slide_index)',
        '                _, residual_slide_index = self.ads.packed(residual, residual_slide_index)',
        'tests/test_packing_paths.py -k test_r12_hyperslide_of_one_slide_with_ads_is_that_slide_through_the_model'),
    'r12pack_batch_to_moves_none': (
        'milhelpers/packing.py',
        '        mv = (lambda t: None if t is None else t.to(device))',
        '        mv = (lambda t: t.to(device))',
        'tests/test_packing_paths.py -k test_r12_batch_without_residual_packs_moves_with_its_empty_fields'),
    'r12pack_collate_coords_empty': (
        'milhelpers/packing.py',
        'coords=[None] * len(bags), instance_labels',
        'coords=[], instance_labels',
        'tests/test_packing_paths.py -k test_r12_collate_keeps_the_batch_order_of_slide_ids_and_labels'),
    'r12pack_with_options_drops_the_name': (
        'milhelpers/methods.py',
        '        return dataclasses.replace(self, name=name or self.name,',
        '        return dataclasses.replace(self, name=name,',
        'tests/test_methods.py -k test_r12_unnamed_variant_keeps_the_name_and_building_leaves_the_global_stream'),
    'r12pack_build_model_reseeds_the_global_stream': (
        'milhelpers/methods.py',
        '        with torch.random.fork_rng(devices=[]):   # leaves the global stream untouched',
        '        if True:   # leaves the global stream untouched',
        'tests/test_methods.py -k test_r12_unnamed_variant_keeps_the_name_and_building_leaves_the_global_stream'),
    'r12pack_packed_main_features_not_compressed': (
        'milhelpers/models/packmil.py',
        '            x, slide_index = self.ads.packed(x, slide_index)',
        '            _, slide_index = self.ads.packed(x, slide_index)',
        'tests/test_packing_paths.py -k test_r12_hyperslide_of_one_slide_with_ads_is_that_slide_through_the_model'),
    'r12pack_batch_to_leaves_slide_index': (
        'milhelpers/packing.py',
        'mv(self.features), mv(self.mask), mv(self.slide_index),',
        'mv(self.features), mv(self.mask), self.slide_index,',
        'tests/test_packing_paths.py -k test_r12_packed_batch_moves_every_tensor_to_the_device_asked_for'),
    'r12pack_batch_to_leaves_labels': (
        'milhelpers/packing.py',
        '                           mv(self.labels), self.slide_ids, mv(self.residual_features),',
        '                           self.labels, self.slide_ids, mv(self.residual_features),',
        'tests/test_packing_paths.py -k test_r12_packed_batch_moves_every_tensor_to_the_device_asked_for'),
    'r12pack_checkpointed_mask_on_the_default_device': (
        'milhelpers/models/abmil.py',
        '    mask = torch.ones(1, len(x), dtype=torch.bool, device=x.device)',
        '    mask = torch.ones(1, len(x), dtype=torch.bool)',
        'tests/test_models.py -k test_r12_checkpointed_forward_builds_its_mask_on_the_bags_device'),
    'r12pack_fit_drops_the_batch_sampler': (
        'milhelpers/methods.py',
        '                   collate_fn=self.collate_fn, batch_sampler=self.batch_sampler,',
        '                   collate_fn=self.collate_fn,',
        'tests/test_methods.py -k test_r12_fit_hands_its_batching_transform_pretrained_and_run_dir_on'),
    'r12pack_fit_drops_the_train_transform': (
        'milhelpers/methods.py',
        '                   train_transform=self.train_transform, run_dir=run_dir)',
        '                   run_dir=run_dir)',
        'tests/test_methods.py -k test_r12_fit_hands_its_batching_transform_pretrained_and_run_dir_on'),
    'r12pack_fit_context_without_pretrained': (
        'milhelpers/methods.py',
        '                           train_ds, val_ds, cfg, pretrained)',
        '                           train_ds, val_ds, cfg)',
        'tests/test_methods.py -k test_r12_fit_hands_its_batching_transform_pretrained_and_run_dir_on'),
    'r12pack_fingerprint_ignores_the_config': (
        'milhelpers/methods.py',
        'self.callbacks, dict(self.config),',
        'self.callbacks,',
        'tests/test_methods.py -k test_r12_code_fingerprint_follows_the_recipes_config_and_train_transform'),
    'r12pack_fingerprint_ignores_the_train_transform': (
        'milhelpers/methods.py',
        '                self.train_transform)',
        '                )',
        'tests/test_methods.py -k test_r12_code_fingerprint_follows_the_recipes_config_and_train_transform'),
    'r12pack_n_classes_of_empty_class_names': (
        'milhelpers/methods.py',
        '        if names:',
        '        if names is not None:',
        'tests/test_methods.py -k test_r12_n_classes_of_an_empty_class_name_list_counts_labels'),
    'r12pack_split_slide_share_unchecked': (
        'milhelpers/packing.py',
        '    _check_share(p)\n',
        '    float(p)\n',
        'tests/test_packing_paths.py -k test_r12_split_slide_checks_its_share_and_a_zero_cap'),
    'r12pack_split_slide_zero_cap_unchecked': (
        'milhelpers/packing.py',
        '    if cap is not None:\n        cap = _check',
        '    if cap:\n        cap = _check',
        'tests/test_packing_paths.py -k test_r12_split_slide_checks_its_share_and_a_zero_cap'),
    'r12pack_sequential_packs_count_parts_from_one': (
        'milhelpers/packing.py',
        '    for i, n in enumerate(lengths):',
        '    for i, n in enumerate(lengths, 1):',
        'tests/test_packing_paths.py -k test_r12_sequential_packs_name_the_part_that_is_too_long'),
    'r12pack_pack_tensors_ref_is_part_zero': (
        'milhelpers/packing.py',
        '    ref = parts[packs[0][0]]',
        '    ref = parts[0]',
        'tests/test_packing_paths.py -k test_r12_pack_tensors_take_dtype_and_width_from_a_packed_part_not_an_empty_one'),
    'r12pack_hyperslide_message_counts_rows': (
        'milhelpers/packing.py',
        'f"token_counts has {w.shape[-1]} slides per row',
        'f"token_counts has {w.shape[0]} slides per row',
        'tests/test_packing_paths.py -k test_r12_hyperslide_label_errors_name_the_numbers'),
    'r12pack_collate_labels_keep_the_bags_integer_type': (
        'milhelpers/packing.py',
        '        labels = torch.tensor([b.label for b in bags], dtype=torch.long)',
        '        labels = torch.tensor([b.label for b in bags])',
        'tests/test_packing_paths.py -k test_r12_collate_labels_are_long_whatever_integer_type_the_bags_hold'),
    'r12pack_maxpool_instance_logits_dropped': (
        'milhelpers/models/abmil.py',
        '{"instance_logits": inst, "instance_scores": score})',
        '{"instance_scores": score})',
        'tests/test_models.py -k test_r12_max_pool_hands_back_every_instances_logits_and_evidence'),
    'r12pack_fit_drops_the_loss_terms': (
        'milhelpers/methods.py',
        'cfg, self.loss_terms(model),',
        'cfg, (),',
        'tests/test_methods.py -k test_r12_fit_adds_the_recipes_loss_terms_every_step'),
    'r12pack_register_ignores_replaceable_names': (
        'milhelpers/methods.py',
        '            and method.name not in _REPLACEABLE):',
        '            ):',
        'tests/test_methods.py -k test_r12_registry_is_sorted_and_takes_a_replaceable_name_again'),
    'r12pack_available_methods_unsorted': (
        'milhelpers/methods.py',
        '    return sorted(METHODS)',
        '    return list(METHODS)',
        'tests/test_methods.py -k test_r12_registry_is_sorted_and_takes_a_replaceable_name_again'),
    'r12pack_get_method_skips_entry_points': (
        'milhelpers/methods.py',
        '        load_entry_points()',
        '        pass',
        'tests/test_methods.py -k test_r12_get_method_loads_the_entry_points_for_a_name_it_does_not_know'),
    'r12pack_get_method_loads_entry_points_for_known_names': (
        'milhelpers/methods.py',
        '    if name not in METHODS:\n        from .plugins',
        '    if name in METHODS:\n        from .plugins',
        'tests/test_methods.py -k test_r12_get_method_loads_the_entry_points_for_a_name_it_does_not_know'),
    'r12pack_as_batch_unsqueezes_one_dimensional_input': (
        'milhelpers/models/base.py',
        '    if x.dim() == 2:',
        '    if x.dim() <= 2:',
        'tests/test_models.py -k test_r12_as_batch_names_a_one_dimensional_input_as_given'),
    'r12pack_logits_message_shows_the_embedding': (
        'milhelpers/models/base.py',
        'with B = {b}; got {tuple(self.logits.shape)}',
        'with B = {b}; got {tuple(self.embedding.shape)}',
        'tests/test_models.py -k test_r12_shape_errors_name_the_shapes_they_got'),
    'r12pack_embedding_message_shows_the_logits': (
        'milhelpers/models/base.py',
        '                             f"{tuple(self.embedding.shape)}")',
        '                             f"{tuple(self.logits.shape)}")',
        'tests/test_models.py -k test_r12_shape_errors_name_the_shapes_they_got'),
    'r12pack_abmil_projection_dropout_fixed': (
        'milhelpers/models/abmil.py',
        '        self.project = _projection(in_dim, embed_dim, dropout)\n        self.attention = AttentionScorer',
        '        self.project = _projection(in_dim, embed_dim, 0.25)\n        self.attention = AttentionScorer',
        'tests/test_models.py -k test_r12_baselines_keep_their_n_classes_and_dropout'),
    'r12pack_as_method_looks_a_method_up_by_name': (
        'milhelpers/methods.py',
        '    if isinstance(method, Method):\n        return method\n',
        '    if isinstance(method, Method):\n        return get_method(method.name)\n',
        'tests/test_methods.py -k test_r12_as_method_hands_back_the_method_object_it_was_given'),
    'r12pack_acmil_summary_branch_count': (
        'milhelpers/methods.py',
        '"ACMIL: M = 5 gated attention branches',
        '"ACMIL: M = 4 gated attention branches',
        'tests/test_methods.py -k test_r12_acmil_summaries_state_the_registered_models_numbers'),
    'r12pack_acmil_stkim_summary_hidden_count': (
        'milhelpers/methods.py',
        '(one branch, 6 of the top 10 hidden',
        '(one branch, 5 of the top 10 hidden',
        'tests/test_methods.py -k test_r12_acmil_summaries_state_the_registered_models_numbers'),
    'r12pack_acmil_mba_summary_branch_count': (
        'milhelpers/methods.py',
        '(M = 5, no STKIM)',
        '(M = 3, no STKIM)',
        'tests/test_methods.py -k test_r12_acmil_summaries_state_the_registered_models_numbers'),
})


# round 12 (MHIM and AEM): the audit-12 survivors in models/mhim.py and methods.py, and a sweep of
# models/mhim.py, visibility.py, losses.py, the MHIM/AEM recipes in methods.py and train.py's schedules
MUTANTS.update({
    # score_picks ignores kinds and scores both kinds every time (audit 12)
    "audit12_mhim_score_picks_kinds": (
        "milhelpers/models/mhim.py", "    for kind in kinds:", "    for kind in SCORES:",
        "tests/test_mhim.py -k test_r12_score_picks_scores_only_the_kinds_asked_for"),
    # the baseline's options left out of MHIM's model_kwargs, so the cache key misses them (audit 12)
    "audit12_mhim_baseline_kwargs_key": (
        "milhelpers/methods.py",
        '                                "baseline_kwargs": dict(base.model_kwargs),\n', "",
        "tests/test_mhim.py -k test_r12_mhim_recipe_carries_the_baselines_options_config_and_batching"),
    "r12mhim_baseline_config_dropped": (
        "milhelpers/methods.py", '"baseline_config": dict(base.config)}', '"baseline_config": {}}',
        "tests/test_mhim.py -k test_r12_mhim_recipe_carries_the_baselines_options_config_and_batching"),
    "r12mhim_recipe_config_not_the_baselines": (
        "milhelpers/methods.py", "callbacks=callbacks, config=dict(base.config),",
        "callbacks=callbacks, config={},",
        "tests/test_mhim.py -k test_r12_mhim_recipe_carries_the_baselines_options_config_and_batching"),
    "r12mhim_recipe_transform_dropped": (
        "milhelpers/methods.py", "                  train_transform=base.train_transform)",
        "                  train_transform=None)",
        "tests/test_mhim.py -k test_r12_mhim_recipe_carries_the_baselines_options_config_and_batching"),
    "r12mhim_v2_default_decay_on": (
        "milhelpers/methods.py", '"decay": False,', '"decay": True,',
        "tests/test_mhim.py -k test_r12_mhim_defaults_exactly"),
    "r12mhim_short_name_rhr_as_rh": (
        "milhelpers/methods.py", '"r_hr": "rhr"', '"r_hr": "rh"',
        "tests/test_mhim.py -k test_r12_mhim_names_list_each_changed_option_in_the_defaults_order"),
    "r12mhim_short_name_merge_k": (
        "milhelpers/methods.py", '"merge_k": "k"', '"merge_k": "mk"',
        "tests/test_mhim.py -k test_r12_mhim_v2_names_list_each_changed_option"),
    "r12mhim_recycle_name_inverted": (
        "milhelpers/methods.py", 'parts.append("recycle" if v else "norecycle")',
        'parts.append("norecycle" if v else "recycle")',
        "tests/test_mhim.py -k test_r12_mhim_v2_names_list_each_changed_option"),
    "r12mhim_name_drops_the_baseline": (
        "milhelpers/methods.py", 'name = "_".join([head, *parts])', 'name = "_".join([prefix, *parts])',
        "tests/test_mhim.py -k test_r12_mhim_v2_names_list_each_changed_option"),
    "r12mhim_build_without_train_ds_unchecked": (
        "milhelpers/methods.py", "            if ctx.train_ds is None:",
        "            if ctx.train_ds is None and ctx.val_ds is not None:",
        "tests/test_mhim.py -k test_r12_mhim_build_refuses_without_teacher_source"),
    "r12mhim_projection_without_project_unchecked": (
        "milhelpers/methods.py", '            if not hasattr(student, "project"):',
        '            if not hasattr(student, "project") and hasattr(student, "pool"):',
        "tests/test_mhim.py -k test_r12_mhim_build_refuses_without_teacher_source"),
    "r12mhim_consistency_term_renamed": (
        "milhelpers/methods.py", 'return [LossTerm("consistency",', 'return [LossTerm("cons",',
        "tests/test_mhim.py -k test_r12_mhim_loss_term_is_the_consistency"),
    "r12mhim_schedule_decay_and_cosine_swapped": (
        "milhelpers/methods.py",
        "self.decay, self.m0, self.momentum_cosine = decay, float(momentum), momentum_cosine",
        "self.decay, self.m0, self.momentum_cosine = momentum_cosine, float(momentum), decay",
        "tests/test_mhim.py -k test_r12_mhim_build_uses_the_pretrained_teacher"),
    "r12mhim_ratio_message_bounds_swapped": (
        "milhelpers/models/mhim.py", 'low = "> 0" if open_low else ">= 0"',
        'low = ">= 0" if open_low else "> 0"',
        "tests/test_mhim.py -k test_r12_ratio_errors_name_the_ratio_and_its_bounds"),
    "r12mhim_mask_last_bag_skipped": (
        "milhelpers/models/mhim.py", "    for b in range(scores.shape[0]):",
        "    for b in range(scores.shape[0] - 1):",
        "tests/test_mhim.py -k test_r12_mhim_mask_per_bag_of_a_wide_batch"),
    "r12mhim_random_draw_at_r_zero": (
        "milhelpers/models/mhim.py", "        if r > 0:", "        if r >= 0:",
        "tests/test_mhim.py -k test_r12_mhim_mask_per_bag_of_a_wide_batch"),
    "r12mhim_unknown_score_message_without_repr": (
        "milhelpers/models/mhim.py", 'raise ValueError(f"score={kind!r}: choose from {list(SCORES)}")',
        'raise ValueError(f"score={kind}: choose from {list(SCORES)}")',
        "tests/test_mhim.py -k test_r12_instance_scores_refuse_unknown_kind"),
    "r12mhim_instance_embeddings_key": (
        "milhelpers/models/mhim.py", 'out.extras.get("instance_embeddings")',
        'out.extras.get("embeddings")',
        "tests/test_mhim.py -k test_r12_instance_scores_refuse_unknown_kind"),
    "r12mhim_ema_update_with_grad": (
        "milhelpers/models/mhim.py", "@torch.no_grad()\ndef ema_update", "def ema_update",
        "tests/test_mhim.py -k test_r12_ema_update_needs_no_grad_mode"),
    "r12mhim_ema_length_mismatch_silent": (
        "milhelpers/models/mhim.py",
        'raise ValueError("teacher and student have different parameter lists")', "pass",
        "tests/test_mhim.py -k test_r12_ema_update_needs_no_grad_mode"),
    "r12mhim_recycle_split_last_bag_skipped": (
        "milhelpers/models/mhim.py", "    for b in range(vis.shape[0]):",
        "    for b in range(vis.shape[0] - 1):",
        "tests/test_mhim.py -k test_r12_recycle_split_uses_the_generator"),
    "r12mhim_recycle_merge_k_message": (
        "milhelpers/models/mhim.py", 'f"merge_k={n_queries!r}: the number',
        'f"n_queries={n_queries}: the number',
        "tests/test_mhim.py -k test_r12_recycle_network_checks_and_shapes"),
    "r12mhim_recycle_inner_width_one_head": (
        "milhelpers/models/mhim.py", "inner = heads * head_dim", "inner = head_dim",
        "tests/test_mhim.py -k test_r12_recycle_network_checks_and_shapes"),
    "r12mhim_default_merge_ratio": (
        "milhelpers/models/mhim.py", "merge_ratio: float = 1.0, recycle",
        "merge_ratio: float = 0.8, recycle",
        "tests/test_mhim.py -k test_r12_mhim_defaults_hide_keeps_modes"),
    "r12mhim_n_classes_fixed_two": (
        "milhelpers/models/mhim.py", "self.n_classes = student.n_classes", "self.n_classes = 2",
        "tests/test_mhim.py -k test_r12_mhim_defaults_hide_keeps_modes"),
    "r12mhim_teacher_scores_not_recorded": (
        "milhelpers/models/mhim.py", 't.extras["teacher_scores"] = s', "pass",
        "tests/test_mhim.py -k test_r12_mhim_defaults_hide_keeps_modes"),
    "r12mhim_forward_extras_dropped": (
        "milhelpers/models/mhim.py", "        out.extras.update(extras)\n", "",
        "tests/test_mhim.py -k test_r12_mhim_defaults_hide_keeps_modes"),
    "r12mhim_score_picks_scores_batched": (
        "milhelpers/models/mhim.py", '"scores": s[0].cpu().numpy()', '"scores": s.cpu().numpy()',
        "tests/test_mhim.py -k test_r12_score_picks_scores_only_the_kinds_asked_for"),
    "r12mhim_recorder_generator_state_not_kept": (
        "milhelpers/methods.py", "g_state = model.generator.get_state()",
        "g_state = torch.Generator().get_state()",
        "tests/test_mhim.py -k test_r12_mask_recorder_records_the_chosen_epochs"),
    # visibility.py
    "r12mhim_vis_nothing_to_cover_is_impossible": (
        "milhelpers/visibility.py", "    if u == 0:\n        return 1.0", "    if u == 0:\n        return 0.0",
        "tests/test_visibility.py -k test_r12_hypergeometric_and_all_in_random_helpers_by_hand"),
    "r12mhim_vis_low_set_skipped": (
        "milhelpers/visibility.py", "    if n_low:", "    if not n_low:",
        "tests/test_visibility.py -k test_r12_p_no_tumour_visible_low_set_pool_and_flat_inputs"),
    "r12mhim_vis_kept_impossible_is_certain": (
        "milhelpers/visibility.py", "        else 0.0\n",
        "        else 1.0\n",
        "tests/test_visibility.py -k test_r12_p_no_tumour_kept_edges_by_hand"),
    "r12mhim_vis_kept_counts_hidden_patches_as_left": (
        "milhelpers/visibility.py", "    left[hidden] = False\n", "",
        "tests/test_visibility.py -k test_r12_p_no_tumour_kept_edges_by_hand"),
    "r12mhim_vis_summary_v1_column_dropped": (
        "milhelpers/visibility.py",
        'cols = [c for c in ("random_only", "v1", "v2_kept", "v2_all_hidden") if c in table]',
        'cols = [c for c in ("random_only", "v2_kept", "v2_all_hidden") if c in table]',
        "tests/test_visibility.py -k test_r12_summary_default_bins"),
    "r12mhim_vis_summary_no_tumour_group_dropped": (
        "milhelpers/visibility.py",
        '    groups.append(("no tumour patch", (table.n_tumour == 0).to_numpy()))\n', "",
        "tests/test_visibility.py -k test_r12_summary_default_bins"),
    "r12mhim_vis_summary_top_bin_named_by_its_low_end": (
        "milhelpers/visibility.py", 'f"> {lo - 1} tumour patches"', 'f"> {lo} tumour patches"',
        "tests/test_visibility.py -k test_r12_summary_default_bins"),
    "r12mhim_vis_audit_default_epochs": (
        "milhelpers/visibility.py", "epochs: int = 20,", "epochs: int = 10,",
        "tests/test_visibility.py -k test_r12_packing_audit_defaults"),
    "r12mhim_vis_audit_threshold_strict": (
        "milhelpers/visibility.py",
        "tumour = [np.asarray(b.instance_labels) >= threshold for b in bags]",
        "tumour = [np.asarray(b.instance_labels) > threshold for b in bags]",
        "tests/test_visibility.py -k test_r12_packing_audit_defaults"),
    "r12mhim_vis_audit_slides_without_tumour_all_vs_any": (
        "milhelpers/visibility.py", "int(sum(not t.any() for t in pos))",
        "int(sum(not t.all() for t in pos))",
        "tests/test_visibility.py -k test_r12_packing_audit_defaults"),
    "r12mhim_vis_points_ignored": (
        "milhelpers/visibility.py", 'schedule = r_h_schedule(o1["r_h"], o1["decay"], points)',
        'schedule = r_h_schedule(o1["r_h"], o1["decay"])',
        "tests/test_visibility.py -k test_r12_mhim_visibility_options_reach_the_rows"),
    "r12mhim_vis_threshold_ignored": (
        "milhelpers/visibility.py", "tumour = np.asarray(bag.instance_labels) >= threshold",
        "tumour = np.asarray(bag.instance_labels) >= LOC_THRESHOLD",
        "tests/test_visibility.py -k test_r12_mhim_visibility_options_reach_the_rows"),
    "r12mhim_vis_v2_scored_by_attention": (
        "milhelpers/visibility.py", 's2 = instance_scores(out, teacher, o2["score"])[0].numpy()',
        's2 = instance_scores(out, teacher, "attention")[0].numpy()',
        "tests/test_visibility.py -k test_r12_mhim_visibility_options_reach_the_rows"),
    "r12mhim_vis_teacher_masks_default_draw_seed": (
        "milhelpers/visibility.py", "slide_id: str, draw_seed: int = 0, baseline=None)",
        "slide_id: str, draw_seed: int = 1, baseline=None)",
        "tests/test_visibility.py -k test_r12_teacher_masks_draw_seed_reaches_the_masks"),
    # losses.py
    "r12mhim_soft_ce_sums_over_bags": (
        "milhelpers/losses.py",
        "return -(targets.float() * torch.log_softmax(logits.float(), dim=-1)).sum(-1).mean()",
        "return -(targets.float() * torch.log_softmax(logits.float(), dim=-1)).sum(0).mean()",
        "tests/test_losses.py -k test_r12_soft_and_multilabel_losses"),
    "r12mhim_bce_targets_unchecked": (
        "milhelpers/losses.py",
        "hyperslide loss.\n    \"\"\"\n    _check_targets(logits, targets)\n",
        "hyperslide loss.\n    \"\"\"\n",
        "tests/test_losses.py -k test_r12_soft_and_multilabel_losses"),
    "r12mhim_soft_ce_message": (
        "milhelpers/losses.py", 'raise ValueError("soft targets must sum to 1 per bag")',
        'raise ValueError("soft targets must sum to 1")',
        "tests/test_losses.py -k test_r12_soft_and_multilabel_losses"),
    "r12mhim_hyperslide_focal_is_bce": (
        "milhelpers/losses.py", '"focal": multilabel_focal,', '"focal": multilabel_bce,',
        "tests/test_losses.py -k test_r12_soft_and_multilabel_losses"),
    # methods.py: AEM's summary
    "r12mhim_aem_summary_log_n_clause_inverted": (
        "milhelpers/methods.py", "{', entropy ÷ log N' if normalize == 'log_n' else ''}",
        "{', entropy ÷ log N' if normalize == 'none' else ''}",
        "tests/test_aem.py -k test_r12_aem_summary"),
    "r12mhim_aem_summary_names_the_method_not_the_base": (
        "milhelpers/methods.py", 'summary = (f"{base.name} + attention entropy maximisation',
        'summary = (f"{name} + attention entropy maximisation',
        "tests/test_aem.py -k test_r12_aem_summary"),
    # train.py: the schedules
    "r12mhim_lr_without_steps_is_zero": (
        "milhelpers/train.py", "        return base\n", "        return 0.0\n",
        "tests/test_train_paths.py -k test_r12_lr_schedule_edges_by_hand"),
    "r12mhim_weight_at_schedule_not_float": (
        "milhelpers/train.py",
        "return float(self.weight(state)) if callable(self.weight) else float(self.weight)",
        "return self.weight(state) if callable(self.weight) else float(self.weight)",
        "tests/test_train_paths.py -k test_r12_loss_term_weights_are_floats"),
    # methods.py: MHIM's summary and registered ablations
    "r12mhim_summary_exact_top_test_inverted": (
        "milhelpers/methods.py", 'if opts["r_hr"] == 1 else', 'if opts["r_hr"] != 1 else',
        "tests/test_mhim.py -k test_r12_mhim_summaries_say_every_option"),
    "r12mhim_summary_decay_clause_on_the_momentum_option": (
        "milhelpers/methods.py", "{' (r_h → 0, cosine)' if opts['decay'] else ''}",
        "{' (r_h → 0, cosine)' if opts['momentum_cosine'] else ''}",
        "tests/test_mhim.py -k test_r12_mhim_summaries_say_every_option"),
    "r12mhim_summary_recycle_clause_on_merge_k": (
        "milhelpers/methods.py", 'if opts["recycle"] else "hidden (no recycling)")',
        'if opts["merge_k"] else "hidden (no recycling)")',
        "tests/test_mhim.py -k test_r12_mhim_summaries_say_every_option"),
    "r12mhim_summary_momentum_cosine_on_decay": (
        "milhelpers/methods.py", "{' → 1' if opts['momentum_cosine'] else ''}",
        "{' → 1' if opts['decay'] else ''}",
        "tests/test_mhim.py -k test_r12_mhim_summaries_say_every_option"),
    "r12mhim_summary_v2_cites_v1": (
        "milhelpers/methods.py", "+ (_MHIM_V2 if v2 else _MHIM),", "+ _MHIM,",
        "tests/test_mhim.py -k test_r12_mhim_summaries_say_every_option"),
    "r12mhim_ablation_grid_r_h": (
        "milhelpers/methods.py", "for rh in (0.01, 0.03, 0.1) for d in (True, False)",
        "for rh in (0.01, 0.03, 0.05) for d in (True, False)",
        "tests/test_mhim.py -k test_r12_mhim_summaries_say_every_option"),
    "r12mhim_recycle_width_is_the_class_count": (
        "milhelpers/methods.py", "width = student.classifier.in_features",
        "width = student.classifier.out_features",
        "tests/test_mhim.py -k test_r12_mhim_build_uses_the_pretrained_teacher"),
    "r12mhim_recycle_network_not_kept": (
        "milhelpers/models/mhim.py", "        self.recycle = recycle\n", "        self.recycle = None\n",
        "tests/test_mhim.py -k test_r12_mhim_build_uses_the_pretrained_teacher"),
    "r12mhim_hide_leaves_the_teacher_in_eval": (
        "milhelpers/models/mhim.py", "self.teacher.train(was)", "self.teacher.train(False)",
        "tests/test_mhim.py -k test_r12_mhim_defaults_hide_keeps_modes"),
    "r12mhim_vis_missing_instance_labels_unchecked": (
        "milhelpers/visibility.py", "            if bag.instance_labels is None:",
        "            if bag.instance_labels is None and bag.label == 0:",
        "tests/test_visibility.py -k test_r12_mhim_visibility_refuses_bags_without_instance_labels"),
    "r12mhim_v2_student_needs_project_or_pool": (
        "milhelpers/models/mhim.py", 'hasattr(student, "project") and hasattr(student, "pool")):',
        'hasattr(student, "project") or hasattr(student, "pool")):',
        "tests/test_mhim.py -k test_r12_v2_student_needs_both_project_and_pool"),
    "r12mhim_recycle_norm_eps": (
        "milhelpers/models/mhim.py", "self.norm = nn.LayerNorm(dim)",
        "self.norm = nn.LayerNorm(dim, eps=1e-6)",
        "tests/test_mhim.py -k test_r12_recycle_network_layer_norm_is_the_default_affine_one"),
    "r12mhim_unknown_options_listed_unsorted": (
        "milhelpers/methods.py", 'f"{sorted(defaults)}")', 'f"{list(defaults)}")',
        "tests/test_mhim.py -k test_r12_mhim_recipe_errors_name_the_option_and_the_choices"),
    "r12mhim_student_init_message_without_repr": (
        "milhelpers/methods.py",
        """raise ValueError(f"student_init={opts['student_init']!r}: choose 'projection' (the \"""",
        """raise ValueError(f"student_init={opts['student_init']}: choose 'projection' (the \"""",
        "tests/test_mhim.py -k test_r12_mhim_recipe_errors_name_the_option_and_the_choices"),
    "r12mhim_alpha_message_bound": (
        "milhelpers/methods.py", """raise ValueError(f"alpha must be >= 0, got {opts['alpha']}")""",
        """raise ValueError(f"alpha must be > 0, got {opts['alpha']}")""",
        "tests/test_mhim.py -k test_r12_mhim_recipe_errors_name_the_option_and_the_choices"),
    "r12mhim_runner_asked_for_the_baselines_name": (
        "milhelpers/methods.py", "trained = ctx.pretrained(base)", "trained = ctx.pretrained(baseline)",
        "tests/test_mhim.py -k test_r12_mhim_asks_the_runner_for_the_baseline_method_not_its_name"),
    "r12mhim_vis_random_only_without_low_masking": (
        "milhelpers/visibility.py",
        '"random_only": p_no_tumour_visible(tumour, att, 0.0, 1.0, o1["r"], o1["r_l"]),',
        '"random_only": p_no_tumour_visible(tumour, att, 0.0, 1.0, o1["r"]),',
        "tests/test_visibility.py -k test_r12_mhim_visibility_options_reach_the_rows"),
    "r12mhim_vis_v1_without_low_masking": (
        "milhelpers/visibility.py", 'o1["r_l"]) for rh in schedule]))}',
        '0.0) for rh in schedule]))}',
        "tests/test_visibility.py -k test_r12_mhim_visibility_options_reach_the_rows"),
})


# round 12 (runner, statistics and metrics): the audit-12 survivors in instances and experiments and a sweep of stats, experiments, comparison, datasets, cached_runs, train, metrics and instances — audit12_ and r12stats_
MUTANTS.update({
    # audit-12 survivor
    'audit12_metrics_random_topk_axis': (
        'milhelpers/instances.py',
        '            shares = counts / counts.sum(1, keepdims=True)',
        '            shares = counts / counts.sum(0, keepdims=True)',
        'tests/test_instances.py -k test_r12_random_topk_shares_of_each_head_sum_to_one_over_the_groups'),
    # audit-12 survivor
    'audit12_rs_scores_of_empty_probs_used': (
        'milhelpers/experiments.py',
        '    if "probs" in rows and rows["probs"].notna().any():',
        '    if "probs" in rows:',
        'tests/test_runner_paths.py -k test_r12_scores_of_uses_binary_scores_when_every_probs_entry_is_missing'),
    # audit-12 survivor
    'audit12_rs_correlation_groups_keep_nan': (
        'milhelpers/experiments.py',
        '        df = pd.DataFrame({"x": x, "y": y, "g": g})[ok]',
        '        df = pd.DataFrame({"x": x, "y": y, "g": g})',
        'tests/test_runner_paths.py -k test_r12_correlation_with_groups_drops_nan_pairs_before_centring'),
    # _interval_and_p: no finite resample no longer answers NaN (indexes an empty array)
    'r12stats_interval_empty_not_nan': (
        'milhelpers/stats.py',
        '    if b == 0:',
        '    if b < 0:',
        'tests/test_stats.py -k test_r12_interval_and_p_of_no_finite_resample_is_nan'),
    # slide_metric's default threshold moves from 0.5
    'r12stats_slide_metric_default_threshold': (
        'milhelpers/stats.py',
        'metric: str = "auc", threshold: float = 0.5) -> float:',
        'metric: str = "auc", threshold: float = 0.6) -> float:',
        'tests/test_stats.py -k test_r12_slide_metric_defaults_are_the_auc_at_threshold_one_half'),
    # slide_metric_interval's default confidence is 0.9
    'r12stats_interval_default_confidence': (
        'milhelpers/stats.py',
        'confidence: float = 0.95, threshold: float = 0.5) -> dict[str, Any]:',
        'confidence: float = 0.9, threshold: float = 0.5) -> dict[str, Any]:',
        'tests/test_stats.py -k test_r12_slide_metric_interval_defaults_confidence_and_threshold'),
    # paired_slide_means resamples slides, not the cases of groups
    'r12stats_means_groups_dropped': (
        'milhelpers/stats.py',
        '        return out\n    case, strata = case_strata(y, groups)\n    w = _case_weights(case, strata, n_boot, np.random.default_rng(seed))',
        '        return out\n    case, strata = case_strata(y, None)\n    w = _case_weights(case, strata, n_boot, np.random.default_rng(seed))',
        'tests/test_stats.py -k test_r12_paired_slide_means_groups_reach_the_bootstrap_and_defaults'),
    # paired_slide_means' default number of resamples is 1000
    'r12stats_means_default_n_boot': (
        'milhelpers/stats.py',
        '                       n_boot: int = 2000, seed: int = 0, return_resamples: bool = False',
        '                       n_boot: int = 1000, seed: int = 0, return_resamples: bool = False',
        'tests/test_stats.py -k test_r12_paired_slide_means_groups_reach_the_bootstrap_and_defaults'),
    # is_clear: a Holm p of 0.0 is taken as no Holm p
    'r12stats_is_clear_holm_zero_falsy': (
        'milhelpers/stats.py',
        '    if p_holm is not None:',
        '    if p_holm:',
        'tests/test_stats.py -k test_r12_is_clear_and_describe_take_a_holm_p_of_zero_as_given'),
    # is_clear ignores a NaN upper end
    'r12stats_is_clear_hi_nan_ignored': (
        'milhelpers/stats.py',
        '    if lo is None or hi is None or np.isnan(lo) or np.isnan(hi):',
        '    if lo is None or hi is None or np.isnan(lo):',
        'tests/test_stats.py -k test_r12_is_clear_needs_both_ends_of_the_interval'),
    # describe drops the Holm p when it is 0.0
    'r12stats_describe_holm_text_falsy': (
        'milhelpers/stats.py',
        'holm_txt = "" if p_holm is None else',
        'holm_txt = "" if not p_holm else',
        'tests/test_stats.py -k test_r12_is_clear_and_describe_take_a_holm_p_of_zero_as_given'),
    # describe says 'the interval holds 0' with a Holm p and 'after Holm' without
    'r12stats_describe_held_swapped': (
        'milhelpers/stats.py',
        'held = "the interval holds 0" if p_holm is None else',
        'held = "the interval holds 0" if p_holm is not None else',
        'tests/test_stats.py -k test_r12_is_clear_and_describe_take_a_holm_p_of_zero_as_given'),
    # bag_metrics: a one-class split gets AUC 0.5 instead of NaN
    'r12stats_bag_metrics_one_class_auc_half': (
        'milhelpers/metrics.py',
        '        auc = float("nan")',
        '        auc = 0.5',
        'tests/test_metrics_viz.py -k test_r12_bag_metrics_of_one_class_has_nan_auc_and_the_rest_defined'),
    # attention_entropy normalises only when asked not to
    'r12stats_entropy_normalized_inverted': (
        'milhelpers/metrics.py',
        '    if normalized:',
        '    if not normalized:',
        'tests/test_metrics_viz.py -k test_r12_attention_entropy_is_normalised_by_default'),
    # localization_auc lets (H, N) scores through
    'r12stats_localization_multihead_unchecked': (
        'milhelpers/metrics.py',
        '        if s.ndim != 1:',
        '        if s.ndim > 2:',
        'tests/test_metrics_viz.py -k test_r12_localization_refuses_multihead_scores_and_mismatched_labels'),
    # localization_auc pools the raw scores instead of the within-slide percentile ranks
    'r12stats_localization_pools_raw_scores': (
        'milhelpers/metrics.py',
        '"pooled_auc": float(roc_auc_score(np.concatenate(ys), np.concatenate(ranks))),',
        '"pooled_auc": float(roc_auc_score(np.concatenate(ys), np.concatenate([np.ravel(v) for v in scores]))),',
        'tests/test_metrics_viz.py -k test_r12_localization_pools_percentile_ranks_not_raw_ranks_or_scores'),
    # localization_auc with no usable slide counts every slide
    'r12stats_localization_none_counts_all': (
        'milhelpers/metrics.py',
        '"pooled_auc": float("nan"), "n_slides": 0}',
        '"pooled_auc": float("nan"), "n_slides": len(scores)}',
        'tests/test_metrics_viz.py -k test_r12_localization_pools_percentile_ranks_not_raw_ranks_or_scores'),
    # packing_verdict takes the largest length as a string ("9000" > "50000")
    'r12stats_packing_top_length_as_string': (
        'milhelpers/comparison.py',
        '    top = max(sizes, key=int)',
        '    top = max(sizes)',
        'tests/test_comparison.py -k test_r12_packing_verdict_takes_the_largest_length_as_a_number_not_a_string'),
    # packing_verdict reads the batch1 → batch1_cap comparison as the capped parts'
    'r12stats_packing_sub_wrong_comparison': (
        'milhelpers/comparison.py',
        'if c.get("a") == "batch1" and c.get("b") == "batch1_main"), None)',
        'if c.get("a") == "batch1"), None)',
        'tests/test_comparison.py -k test_r12_packing_verdict_without_the_capped_comparison_or_the_device'),
    # packing_verdict assumes a CPU when the file names no device
    'r12stats_packing_device_default_cpu': (
        'milhelpers/comparison.py',
        '    device = packing.get("device", "?")',
        '    device = packing.get("device", "cpu")',
        'tests/test_comparison.py -k test_r12_packing_verdict_without_the_capped_comparison_or_the_device'),
    # packing_verdict takes an empty results object for a missing file
    'r12stats_packing_empty_is_missing': (
        'milhelpers/comparison.py',
        '    if packing is None:',
        '    if not packing:',
        'tests/test_comparison.py -k test_r12_packing_verdict_of_empty_none_and_non_mapping_files'),
    # packing_verdict checks only for a string instead of any non-mapping
    'r12stats_packing_non_mapping_unchecked': (
        'milhelpers/comparison.py',
        '    if not isinstance(packing, Mapping):',
        '    if isinstance(packing, str):',
        'tests/test_comparison.py -k test_r12_packing_verdict_of_empty_none_and_non_mapping_files'),
    # format_table treats an empty list of metrics as all of them
    'r12stats_format_table_metrics_falsy': (
        'milhelpers/comparison.py',
        '    metrics = list(metrics) if metrics is not None else [k for k, _ in TABLE_METRICS]',
        '    metrics = list(metrics) if metrics else [k for k, _ in TABLE_METRICS]',
        'tests/test_comparison.py -k test_r12_format_table_writes_undefined_cells_as_dashes_and_asked_columns_only'),
    # format_table writes only NaN as a dash, an infinite peak as 'inf'
    'r12stats_format_table_inf_not_dashed': (
        'milhelpers/comparison.py',
        '        if not np.isfinite(v):',
        '        if np.isnan(v):',
        'tests/test_comparison.py -k test_r12_format_table_writes_undefined_cells_as_dashes_and_asked_columns_only'),
    # format_differences writes an undefined difference as 'nan [nan, nan]'
    'r12stats_format_differences_nan_written': (
        'milhelpers/comparison.py',
        'if np.isfinite(r[f"diff {d}"]) else "—"',
        'if r[f"diff {d}"] is not None else "—"',
        'tests/test_comparison.py -k test_r12_format_differences_marks_clear_and_dashes_undefined'),
    # json_text writes an empty object as an opened block
    'r12stats_json_text_empty_dict_block': (
        'milhelpers/experiments.py',
        '        if isinstance(v, dict) and v:',
        '        if isinstance(v, dict):',
        'tests/test_runner_paths.py -k test_r12_json_text_writes_empty_containers_inline_and_refuses_nan_in_records'),
    # json_text writes an empty list as an opened block of records
    'r12stats_json_text_empty_list_block': (
        'milhelpers/experiments.py',
        '        if isinstance(v, list) and v and all(flat(x) for x in v):',
        '        if isinstance(v, list) and all(flat(x) for x in v):',
        'tests/test_runner_paths.py -k test_r12_json_text_writes_empty_containers_inline_and_refuses_nan_in_records'),
    # json_text lets NaN through in one-per-line records
    'r12stats_json_text_records_allow_nan': (
        'milhelpers/experiments.py',
        '            rows = [f"{inner}{json.dumps(x, allow_nan=False)}" for x in v]',
        '            rows = [f"{inner}{json.dumps(x)}" for x in v]',
        'tests/test_runner_paths.py -k test_r12_json_text_writes_empty_containers_inline_and_refuses_nan_in_records'),
    # json_text's flat record accepts any list value, dicts inside included
    'r12stats_json_text_flat_any_list': (
        'milhelpers/experiments.py',
        '                                           (isinstance(x, list) and all(\n                                               not isinstance(e, (dict, list)) for e in x))',
        '                                           isinstance(x, list)',
        'tests/test_runner_paths.py -k test_r12_json_text_writes_empty_containers_inline_and_refuses_nan_in_records'),
    # _nan_to_none leaves numpy float32 NaN as they are
    'r12stats_nan_to_none_float32_kept': (
        'milhelpers/experiments.py',
        '    if isinstance(obj, (float, np.floating)):',
        '    if isinstance(obj, float):',
        'tests/test_runner_paths.py -k test_r12_nan_to_none_converts_numpy_scalars_and_tuples'),
    # _nan_to_none leaves tuples unconverted
    'r12stats_nan_to_none_tuple_kept': (
        'milhelpers/experiments.py',
        '    if isinstance(obj, (list, tuple)):',
        '    if isinstance(obj, list):',
        'tests/test_runner_paths.py -k test_r12_nan_to_none_converts_numpy_scalars_and_tuples'),
    # _nan_to_none leaves numpy booleans as numpy booleans
    'r12stats_nan_to_none_numpy_bool_kept': (
        'milhelpers/experiments.py',
        '    if isinstance(obj, (np.integer, np.bool_)):',
        '    if isinstance(obj, np.integer):',
        'tests/test_runner_paths.py -k test_r12_nan_to_none_converts_numpy_scalars_and_tuples'),
    # _json_default writes a path by its file name only
    'r12stats_json_default_path_name': (
        'milhelpers/experiments.py',
        '        return str(obj)',
        '        return obj.name',
        'tests/test_runner_paths.py -k test_r12_json_default_writes_paths_arrays_and_numpy_scalars_as_plain_json'),
    # _json_default writes an array as a list of rows (arrays)
    'r12stats_json_default_array_rows': (
        'milhelpers/experiments.py',
        '        return obj.tolist()',
        '        return list(obj)',
        'tests/test_runner_paths.py -k test_r12_json_default_writes_paths_arrays_and_numpy_scalars_as_plain_json'),
    # paired_stats compares only the number of dimensions of the two runs
    'r12stats_paired_stats_shape_ndim': (
        'milhelpers/experiments.py',
        '    if a.shape != b.shape:',
        '    if a.ndim != b.ndim:',
        'tests/test_runner_paths.py -k test_r12_paired_stats_refuses_unequal_runs_and_all_zero_differences_have_p_one'),
    # correlation_ci accepts 2-d x and y of one shape
    'r12stats_correlation_2d_accepted': (
        'milhelpers/experiments.py',
        '    if x.shape != y.shape or x.ndim != 1:',
        '    if x.shape != y.shape:',
        'tests/test_runner_paths.py -k test_r12_correlation_needs_three_pairs_and_one_shape'),
    # correlation_ci compares only the number of dimensions of groups
    'r12stats_correlation_groups_shape_ndim': (
        'milhelpers/experiments.py',
        '        if g.shape != x.shape:',
        '        if g.ndim != x.ndim:',
        'tests/test_runner_paths.py -k test_r12_correlation_needs_three_pairs_and_one_shape'),
    # bootstrap_ci's default confidence is 0.9
    'r12stats_bootstrap_ci_default_confidence': (
        'milhelpers/experiments.py',
        '                 confidence: float = 0.95) -> tuple[float, float]:',
        '                 confidence: float = 0.9) -> tuple[float, float]:',
        'tests/test_runner_paths.py -k test_r12_bootstrap_ci_of_constant_values_is_the_value_and_defaults_are_95_percent'),
    # paired_stats: all-zero differences get p = 0
    'r12stats_paired_stats_all_zero_p': (
        'milhelpers/experiments.py',
        '    if np.all(d == 0):\n        p = 1.0',
        '    if np.all(d == 0):\n        p = 0.0',
        'tests/test_runner_paths.py -k test_r12_paired_stats_refuses_unequal_runs_and_all_zero_differences_have_p_one'),
    # collate_bags pads into float32 whatever the bags' dtype
    'r12stats_collate_dtype_lost': (
        'milhelpers/datasets.py',
        '    x = torch.zeros(len(bags), n, d, dtype=bags[0].features.dtype)',
        '    x = torch.zeros(len(bags), n, d)',
        'tests/test_datasets.py -k test_r12_collate_keeps_float64_and_carries_coords_and_instance_labels'),
    # collate_bags' labels are int32, not long (cross-entropy's target type)
    'r12stats_collate_labels_int32': (
        'milhelpers/datasets.py',
        '    labels = torch.tensor([b.label for b in bags], dtype=torch.long)',
        '    labels = torch.tensor([b.label for b in bags], dtype=torch.int32)',
        'tests/test_datasets.py -k test_r12_collate_keeps_float64_and_carries_coords_and_instance_labels'),
    # encode_labels treats an empty label_map as no map
    'r12stats_encode_empty_map_falsy': (
        'milhelpers/datasets.py',
        '    names = None\n    if label_map is not None:',
        '    names = None\n    if label_map:',
        'tests/test_datasets.py -k test_r12_encode_labels_with_an_empty_map_or_non_index_values'),
    # encode_labels accepts True as a class index
    'r12stats_encode_bool_index_accepted': (
        'milhelpers/datasets.py',
        '                   if not isinstance(v, (int, np.integer)) or isinstance(v, bool)]',
        '                   if not isinstance(v, (int, np.integer))]',
        'tests/test_datasets.py -k test_r12_encode_labels_with_an_empty_map_or_non_index_values'),
    # encode_labels counts classes by map entries, not by the highest index
    'r12stats_encode_classes_by_entries': (
        'milhelpers/datasets.py',
        '        n = int(max(lut.values())) + 1',
        '        n = len(lut)',
        'tests/test_datasets.py -k test_r12_encode_labels_with_an_empty_map_or_non_index_values'),
    # encode_labels names missing labels by 1-based rows
    'r12stats_encode_missing_rows_one_based': (
        'milhelpers/datasets.py',
        '        rows = np.flatnonzero(s.isna().to_numpy())',
        '        rows = np.flatnonzero(s.isna().to_numpy()) + 1',
        'tests/test_datasets.py -k test_r12_encode_labels_messages_name_the_rows_values_and_renumbering'),
    # encode_labels lists every label as negative
    'r12stats_encode_negative_lists_all': (
        'milhelpers/datasets.py',
        '                                f"{sorted(set(y[y < 0].tolist()))}")',
        '                                f"{sorted(set(y.tolist()))}")',
        'tests/test_datasets.py -k test_r12_encode_labels_messages_name_the_rows_values_and_renumbering'),
    # encode_labels proposes a renumbering that keeps the old numbers
    'r12stats_encode_renumber_identity': (
        'milhelpers/datasets.py',
        '        renumber = {str(v): i for i, v in enumerate(found)}',
        '        renumber = {str(v): v for i, v in enumerate(found)}',
        'tests/test_datasets.py -k test_r12_encode_labels_messages_name_the_rows_values_and_renumbering'),
    # encode_labels proposes text classes in order of appearance, not sorted
    'r12stats_encode_text_example_unsorted': (
        'milhelpers/datasets.py',
        '        found = sorted(set(s.astype(str)))',
        '        found = list(dict.fromkeys(s.astype(str)))',
        'tests/test_datasets.py -k test_r12_encode_labels_messages_name_the_rows_values_and_renumbering'),
    # _plural writes '0 slide'
    'r12stats_plural_zero_singular': (
        'milhelpers/datasets.py',
        '    return f"{n} {noun}" + ("" if n == 1 else "s")',
        '    return f"{n} {noun}" + ("" if n <= 1 else "s")',
        'tests/test_datasets.py -k test_r12_plural_and_short_text_helpers_at_their_bounds'),
    # _short adds '(+0 more)' at exactly n items
    'r12stats_short_bound_inclusive': (
        'milhelpers/datasets.py',
        'if len(items) > n else "")',
        'if len(items) >= n else "")',
        'tests/test_datasets.py -k test_r12_plural_and_short_text_helpers_at_their_bounds'),
    # _as_groups lets too few groups through
    'r12stats_as_groups_too_few_pass': (
        'milhelpers/datasets.py',
        '    if len(g) != n:',
        '    if len(g) > n:',
        'tests/test_datasets.py -k test_r12_groups_must_have_one_entry_per_label_and_subsets_keep_every_class_name'),
    # ListBagDataset.subset drops the class names
    'r12stats_subset_class_names_dropped': (
        'milhelpers/datasets.py',
        '        return ListBagDataset([self.bags[i] for i in idx], self.class_names)',
        '        return ListBagDataset([self.bags[i] for i in idx])',
        'tests/test_datasets.py -k test_r12_groups_must_have_one_entry_per_label_and_subsets_keep_every_class_name'),
    # encode_labels' message on fractional labels writes numpy reprs (the round-12 fix undone)
    'r12stats_encode_fraction_message_reprs': (
        'milhelpers/datasets.py',
        '            odd = sorted(set(f[~np.isfinite(f) | (f != np.round(f))].tolist()))[:5]',
        '            odd = sorted(set(f[~np.isfinite(f) | (f != np.round(f))]))[:5]',
        'tests/test_datasets.py -k test_r12_encode_labels_messages_name_the_rows_values_and_renumbering'),
    # predict keeps the padded attention logits of a batch
    'r12stats_predict_logits_uncropped': (
        'milhelpers/train.py',
        '                att_logits.append(al[i, :, :n])',
        '                att_logits.append(al[i])',
        'tests/test_train.py -k test_r12_predict_in_batches_crops_every_per_instance_output_to_its_bag'),
    # predict keeps the padded instance scores of a batch
    'r12stats_predict_scores_uncropped': (
        'milhelpers/train.py',
        '                scores.append(sc[i, :, :n])',
        '                scores.append(sc[i])',
        'tests/test_train.py -k test_r12_predict_in_batches_crops_every_per_instance_output_to_its_bag'),
    # predict's softmax runs over the bags of a batch instead of the classes
    'r12stats_predict_softmax_over_bags': (
        'milhelpers/train.py',
        '            probs.append(torch.softmax(out.logits.float(), -1).cpu().numpy())',
        '            probs.append(torch.softmax(out.logits.float(), 0).cpu().numpy())',
        'tests/test_train.py -k test_r12_predict_in_batches_crops_every_per_instance_output_to_its_bag'),
    # the validation row's accuracy is the balanced accuracy
    'r12stats_validation_accuracy_is_balanced': (
        'milhelpers/train.py',
        '            "val_auc": m["auc"], "val_accuracy": m["accuracy"],',
        '            "val_auc": m["auc"], "val_accuracy": m["balanced_accuracy"],',
        'tests/test_train.py -k test_r12_validation_row_maps_each_metric_to_its_key'),
    # the validation row's balanced accuracy is the plain accuracy
    'r12stats_validation_balanced_is_accuracy': (
        'milhelpers/train.py',
        '            "val_balanced_accuracy": m["balanced_accuracy"], "val_f1": m["macro_f1"],',
        '            "val_balanced_accuracy": m["accuracy"], "val_f1": m["macro_f1"],',
        'tests/test_train.py -k test_r12_validation_row_maps_each_metric_to_its_key'),
    # the validation row's attention entropy is not normalised
    'r12stats_validation_entropy_unnormalised': (
        'milhelpers/train.py',
        '            "val_attention_entropy": pred.mean_entropy()}',
        '            "val_attention_entropy": pred.mean_entropy(False)}',
        'tests/test_train.py -k test_r12_validation_row_maps_each_metric_to_its_key'),
    # _choose_monitor falls back for every monitor, not only the two-class ones
    'r12stats_choose_monitor_every_monitor': (
        'milhelpers/train.py',
        '    if val_ds is None or monitor not in _NEEDS_TWO_CLASSES:',
        '    if val_ds is None:',
        'tests/test_train.py -k test_r12_monitor_falls_back_to_val_loss_only_for_one_class_and_two_class_monitors'),
    # _choose_monitor never falls back (a one-class split keeps the AUC monitor)
    'r12stats_choose_monitor_one_class_kept': (
        'milhelpers/train.py',
        '    if len(classes) < 2:',
        '    if len(classes) < 1:',
        'tests/test_train.py -k test_r12_monitor_falls_back_to_val_loss_only_for_one_class_and_two_class_monitors'),
    # fit lets an empty training set through
    'r12stats_fit_empty_train_unchecked': (
        'milhelpers/train.py',
        '    if len(train_ds) == 0:',
        '    if len(train_ds) < 0:',
        'tests/test_train.py -k test_r12_fit_refuses_an_empty_training_set_and_records_lr_and_losses'),
    # fit records the base lr instead of the scheduled one
    'r12stats_fit_history_base_lr': (
        'milhelpers/train.py',
        '        row = {"epoch": epoch, "lr": lr}',
        '        row = {"epoch": epoch, "lr": cfg.lr}',
        'tests/test_train.py -k test_r12_fit_refuses_an_empty_training_set_and_records_lr_and_losses'),
    # fit records negative epoch seconds
    'r12stats_fit_seconds_negative': (
        'milhelpers/train.py',
        '        row["seconds"] = time.perf_counter() - t0',
        '        row["seconds"] = t0 - time.perf_counter()',
        'tests/test_train.py -k test_r12_fit_refuses_an_empty_training_set_and_records_lr_and_losses'),
    # save_run records the configured monitor, not the one used
    'r12stats_save_run_config_monitor': (
        'milhelpers/train.py',
        '            "monitor": result.monitor, "model_class": type(result.model).__name__,',
        '            "monitor": result.config.monitor, "model_class": type(result.model).__name__,',
        'tests/test_train.py -k test_r12_save_run_writes_the_run_its_metrics_and_each_slides_attention'),
    # save_run records the initial-weights seed as the run's seed
    'r12stats_save_run_seed_is_init_seed': (
        'milhelpers/train.py',
        '    info = {"config": asdict(result.config), "seed": result.config.seed,',
        '    info = {"config": asdict(result.config), "seed": result.init_seed,',
        'tests/test_train.py -k test_r12_save_run_writes_the_run_its_metrics_and_each_slides_attention'),
    # save_run writes the instance scores as the attention
    'r12stats_save_run_scores_as_attention': (
        'milhelpers/train.py',
        '        for sid, a in zip(predictions.slide_ids, predictions.attention):',
        '        for sid, a in zip(predictions.slide_ids, predictions.scores):',
        'tests/test_train.py -k test_r12_save_run_writes_the_run_its_metrics_and_each_slides_attention'),
    # topk_kind_shares' default k is 3
    'r12stats_kind_shares_default_k': (
        'milhelpers/instances.py',
        'def topk_kind_shares(attention: np.ndarray, kinds: Sequence[str], k: int = 5)',
        'def topk_kind_shares(attention: np.ndarray, kinds: Sequence[str], k: int = 3)',
        'tests/test_instances.py -k test_r12_topk_kind_shares_default_k_five_with_ties_across_the_cut'),
    # topk_kind_shares accepts k = 0
    'r12stats_kind_shares_k_zero_allowed': (
        'milhelpers/instances.py',
        '    if not len(a) or int(k) < 1:',
        '    if not len(a) or int(k) < 0:',
        'tests/test_instances.py -k test_r12_topk_kind_shares_default_k_five_with_ties_across_the_cut'),
    # topk_counts marks instead of counting the heads
    'r12stats_topk_counts_marks': (
        'milhelpers/instances.py',
        '        counts[_top(row, k)] += 1',
        '        counts[_top(row, k)] = 1',
        'tests/test_instances.py -k test_r12_topk_counts_and_group_shares_by_hand'),
    # group_shares returns counts, not shares
    'r12stats_group_shares_counts': (
        'milhelpers/instances.py',
        '    return {name: float((g == name).mean()) for name in KIND_GROUPS}',
        '    return {name: float((g == name).sum()) for name in KIND_GROUPS}',
        'tests/test_instances.py -k test_r12_topk_counts_and_group_shares_by_hand'),
    # topk_composition lets a slide with fewer heads into a run
    'r12stats_composition_fewer_heads_pass': (
        'milhelpers/instances.py',
        '            elif len(a) != n_heads:',
        '            elif len(a) > n_heads:',
        'tests/test_instances.py -k test_r12_topk_composition_refuses_runs_with_unequal_heads_and_skips_empty_runs'),
    # topk_composition divides by all heads' picks instead of each head's
    'r12stats_composition_all_picks': (
        'milhelpers/instances.py',
        '        shares = counts / picks[:, None]',
        '        shares = counts / picks.sum()',
        'tests/test_instances.py -k test_r12_topk_composition_refuses_runs_with_unequal_heads_and_skips_empty_runs'),
    # composition_table calls every rank after the first 'least tumour'
    'r12stats_comp_table_least_label': (
        'milhelpers/instances.py',
        '" (least tumour)" if r == n_heads else ""',
        '" (least tumour)" if r > 1 else ""',
        'tests/test_instances.py -k test_r12_composition_table_labels_middle_ranks_and_one_run_cells'),
    # composition_table counts heads as rows of the composition
    'r12stats_comp_table_heads_by_rows': (
        'milhelpers/instances.py',
        '        n_heads = int(comp["rank"].max())',
        '        n_heads = len(comp)',
        'tests/test_instances.py -k test_r12_composition_table_labels_middle_ranks_and_one_run_cells'),
    # composition_table writes '[nan, nan]' for one run
    'r12stats_comp_table_one_run_nan': (
        'milhelpers/instances.py',
        '        return (f"{v.mean():.{digits}f}" if np.isnan(lo) else',
        '        return (f"{v.mean():.{digits}f}" if len(v) == 0 else',
        'tests/test_instances.py -k test_r12_composition_table_labels_middle_ranks_and_one_run_cells'),
    # topk_coverage's default name of the multi-head model changes
    'r12stats_coverage_default_new': (
        'milhelpers/instances.py',
        '                  kinds: dict[str, Sequence[str]], k: int, new: str = "acmil",',
        '                  kinds: dict[str, Sequence[str]], k: int, new: str = "acmil_heads",',
        'tests/test_instances.py -k test_r12_topk_coverage_defaults_checks_and_sentences_without_a_win'),
    # topk_coverage does not check the reference's length
    'r12stats_coverage_ref_length_unchecked': (
        'milhelpers/instances.py',
        '        if not (a.shape[1] == len(r) == len(kk)):',
        '        if not (a.shape[1] == len(kk)):',
        'tests/test_instances.py -k test_r12_topk_coverage_defaults_checks_and_sentences_without_a_win'),
    # Coverage.sentences counts a tie as a win
    'r12stats_coverage_tie_wins': (
        'milhelpers/instances.py',
        '        wins = [i for i in tumours if self.table.loc[i, union] > self.table.loc[i, same]]',
        '        wins = [i for i in tumours if self.table.loc[i, union] >= self.table.loc[i, same]]',
        'tests/test_instances.py -k test_r12_topk_coverage_defaults_checks_and_sentences_without_a_win'),
    # Coverage.sentences' bound on the union adds heads and k
    'r12stats_coverage_bound_sum': (
        'milhelpers/instances.py',
        '               f"{self.k} = {self.n_heads * self.k})"]',
        '               f"{self.k} = {self.n_heads + self.k})"]',
        'tests/test_instances.py -k test_r12_topk_coverage_defaults_checks_and_sentences_without_a_win'),
    # topk_coverage's n_heads is the number of patches
    'r12stats_coverage_n_heads_axis': (
        'milhelpers/instances.py',
        '                    int(_heads(next(iter(att_new.values()))).shape[0]))',
        '                    int(_heads(next(iter(att_new.values()))).shape[1]))',
        'tests/test_instances.py -k test_r12_topk_coverage_defaults_checks_and_sentences_without_a_win'),
    # run_split's default validation share is 0.25
    'r12stats_run_split_default_val_fraction': (
        'milhelpers/cached_runs.py',
        'val_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:',
        'val_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:',
        'tests/test_cached_runs.py -k test_r12_run_split_draws_one_fifth_for_validation_by_default'),
    # score_correlations' repeats_a correlates method B's repeats
    'r12stats_score_correlations_repeats_a_of_b': (
        'milhelpers/stats.py',
        '    return {"repeats_a": avg([wcc(y, a[i], a[j]) for i, j in pairs if i < j]),',
        '    return {"repeats_a": avg([wcc(y, b[i], b[j]) for i, j in pairs if i < j]),',
        'tests/test_stats.py -k test_r12_score_correlations_pair_each_method_with_its_own_repeats'),
    # score_correlations' repeats_b correlates method A's repeats
    'r12stats_score_correlations_repeats_b_of_a': (
        'milhelpers/stats.py',
        '            "repeats_b": avg([wcc(y, b[i], b[j]) for i, j in pairs if i < j]),',
        '            "repeats_b": avg([wcc(y, a[i], a[j]) for i, j in pairs if i < j]),',
        'tests/test_stats.py -k test_r12_score_correlations_pair_each_method_with_its_own_repeats'),
    # _test_train_ratio takes a ratio of 0.0 from meta for none
    'r12stats_test_train_ratio_zero_falsy': (
        'milhelpers/experiments.py',
        '        if ratio is None:',
        '        if not ratio:',
        'tests/test_runner_paths.py -k test_r12_test_train_ratio_from_meta_even_zero_else_from_the_folds'),
    # _test_train_ratio counts runs instead of folds
    'r12stats_test_train_ratio_runs_as_folds': (
        'milhelpers/experiments.py',
        '            k = self.runs.fold.nunique()',
        '            k = len(self.runs)',
        'tests/test_runner_paths.py -k test_r12_test_train_ratio_from_meta_even_zero_else_from_the_folds'),
    # out_of_fold of an unknown method returns no rows silently
    'r12stats_oof_unknown_method_silent': (
        'milhelpers/experiments.py',
        '        if method is not None and rows.empty:',
        '        if method is None and rows.empty:',
        'tests/test_runner_paths.py -k test_r12_out_of_fold_says_what_is_missing'),
    # out_of_fold without records fails with a TypeError instead of saying what is missing
    'r12stats_oof_no_records_unchecked': (
        'milhelpers/experiments.py',
        '        if self.slides is None:',
        '        if self.slides is not None and self.slides.empty:',
        'tests/test_runner_paths.py -k test_r12_out_of_fold_says_what_is_missing'),
    # _aligned pairs methods that share no repeat instead of saying so
    'r12stats_aligned_no_shared_seed_silent': (
        'milhelpers/experiments.py',
        '        if not seeds:',
        '        if seeds is None:',
        'tests/test_runner_paths.py -k test_r12_aligned_keeps_the_shared_seeds_and_the_slides_each_of_them_scored'),
    # _aligned gives the slide ids as the cases
    'r12stats_aligned_cases_are_slides': (
        'milhelpers/experiments.py',
        '        return y, first.case_id.to_numpy(), seeds, mats',
        '        return y, first.index.to_numpy(), seeds, mats',
        'tests/test_runner_paths.py -k test_r12_aligned_keeps_the_shared_seeds_and_the_slides_each_of_them_scored'),
    # paired_slide_comparison's default metric is the balanced accuracy
    'r12stats_paired_default_metric': (
        'milhelpers/stats.py',
        '                            groups: Sequence | None = None, metric: str = "auc",\n                            n_boot: int = 2000, seed: int = 0, threshold: float = 0.5,\n                            paired: bool = True',
        '                            groups: Sequence | None = None, metric: str = "balanced_accuracy",\n                            n_boot: int = 2000, seed: int = 0, threshold: float = 0.5,\n                            paired: bool = True',
        'tests/test_stats.py -k test_r12_paired_slide_comparison_defaults_and_what_it_reports'),
    # paired_slide_comparison's default number of resamples is 1000
    'r12stats_paired_default_n_boot': (
        'milhelpers/stats.py',
        '                            n_boot: int = 2000, seed: int = 0, threshold: float = 0.5,\n                            paired: bool = True',
        '                            n_boot: int = 1000, seed: int = 0, threshold: float = 0.5,\n                            paired: bool = True',
        'tests/test_stats.py -k test_r12_paired_slide_comparison_defaults_and_what_it_reports'),
    # paired_slide_comparison names an unpaired bootstrap 'paired'
    'r12stats_paired_test_text_always_paired': (
        'milhelpers/stats.py',
        '           "test": f"{\'paired\' if paired else \'unpaired\'} case bootstrap of the {metric} "',
        '           "test": f"{\'paired\' if paired is not None else \'unpaired\'} case bootstrap of the {metric} "',
        'tests/test_stats.py -k test_r12_paired_slide_comparison_defaults_and_what_it_reports'),
    # case_strata checks only the number of dimensions of groups
    'r12stats_case_strata_groups_shape_ndim': (
        'milhelpers/stats.py',
        '        if g.shape != y.shape:\n            raise ValueError(f"groups has shape {g.shape}, the labels {y.shape}")',
        '        if g.ndim != y.ndim:\n            raise ValueError(f"groups has shape {g.shape}, the labels {y.shape}")',
        'tests/test_stats.py -k test_r12_case_strata_by_label_set_in_sorted_order_and_checked_groups'),
    # case_strata returns the strata in order of the first case instead of by label set
    'r12stats_case_strata_unsorted': (
        'milhelpers/stats.py',
        '    return case, [np.asarray(v) for _, v in sorted(label_sets.items())]',
        '    return case, [np.asarray(v) for _, v in label_sets.items()]',
        'tests/test_stats.py -k test_r12_case_strata_by_label_set_in_sorted_order_and_checked_groups'),
    # cohort_subgroups puts negative slides in the subgroups
    'r12stats_subgroups_negatives_kept': (
        'milhelpers/comparison.py',
        '    pos = labels[labels.label == 1]',
        '    pos = labels',
        'tests/test_comparison.py -k test_r12_cohort_subgroups_hold_positives_only_as_text_ids'),
    # cohort_subgroups returns the micro slides' ids as they are in the table, not as text
    'r12stats_subgroups_micro_ids_not_text': (
        'milhelpers/comparison.py',
        '    return {"micro": pos.slide_id[pos.burden == "micro"].astype(str).tolist(),',
        '    return {"micro": pos.slide_id[pos.burden == "micro"].tolist(),',
        'tests/test_comparison.py -k test_r12_cohort_subgroups_hold_positives_only_as_text_ids'),
    # replication's default metric is the localisation AUC
    'r12stats_replication_default_metric': (
        'milhelpers/comparison.py',
        'def replication(tables: Mapping[str, pd.DataFrame], metric: str = "auc")',
        'def replication(tables: Mapping[str, pd.DataFrame], metric: str = "loc_auc")',
        'tests/test_comparison.py -k test_r12_replication_reads_the_auc_rows_by_default_and_names_a_missing_method'),
    # replication checks only for an empty draw, not for the method
    'r12stats_replication_missing_method_unchecked': (
        'milhelpers/comparison.py',
        '            if m not in per[d].index:',
        '            if per[d].empty:',
        'tests/test_comparison.py -k test_r12_replication_reads_the_auc_rows_by_default_and_names_a_missing_method'),
    # draw_verdict names only the first draw where it was clear
    'r12stats_draw_verdict_first_draw_only': (
        'milhelpers/comparison.py',
        '    return f"clearly {word} on {\', \'.join(clear)} only"',
        '    return f"clearly {word} on {clear[0]} only"',
        'tests/test_comparison.py -k test_r12_draw_verdict_names_every_draw_where_it_was_clear'),
})


# round 12 (params, tiling, feature files and sweeps): the audit-12 survivors in params (ads_ratio=0
# taken for None) and tiling (patch_grid's default min_tissue), and a sweep of params, tiling,
# slides, h5io, features and sweep for lines no test would notice changed: defaults, falsy values
# that are not None, is_file vs exists, options handed on, messages and orders — r12io_
MUTANTS.update({
    "audit12_params_ads_ratio_falsy": (
        "milhelpers/params.py", "    if ads_ratio is not None:\n", "    if ads_ratio:\n",
        "tests/test_params.py -k test_r12_ads_ratio_zero_or_false_is_refused_not_taken_for_none"),
    "audit12_tl_patch_grid_default_min_tissue": (
        "milhelpers/tiling.py",
        "               min_tissue: float = 0.25) -> tuple[np.ndarray, np.ndarray, int]:",
        "               min_tissue: float = 0.5) -> tuple[np.ndarray, np.ndarray, int]:",
        "tests/test_tiling.py -k test_r12_patch_grid_default_min_tissue_is_a_quarter"),
    "r12io_tl_tile_slide_default_min_tissue": (
        "milhelpers/tiling.py",
        "               patch_size: int = 256, overlap: int = 0, min_tissue: float = 0.25,",
        "               patch_size: int = 256, overlap: int = 0, min_tissue: float = 0.5,",
        "tests/test_tiling.py -k test_r12_tile_slide_defaults_are_256_px"),
    "r12io_tl_tile_slide_default_preset": (
        "milhelpers/tiling.py",
        '               params: SegmentationParams | str = "biopsy", mpp: float | None = None,',
        '               params: SegmentationParams | str = "tcga", mpp: float | None = None,',
        "tests/test_tiling.py -k test_r12_tile_slide_defaults_are_256_px"),
    "r12io_tl_tile_slide_default_target_mpp": (
        "milhelpers/tiling.py",
        "def tile_slide(slide_path: str | Path, out_dir: str | Path, *, target_mpp: float = 0.5,",
        "def tile_slide(slide_path: str | Path, out_dir: str | Path, *, target_mpp: float = 1.0,",
        "tests/test_tiling.py -k test_r12_tile_slide_defaults_are_256_px"),
    "r12io_tl_tile_slide_force_mpp_dropped": (
        "milhelpers/tiling.py", "    with Slide(slide_path, mpp=mpp, force_mpp=force_mpp) as slide:",
        "    with Slide(slide_path, mpp=mpp) as slide:",
        "tests/test_tiling.py -k test_r12_tile_slide_passes_mpp_and_force_mpp_to_the_slide"),
    "r12io_tl_same_json_fallback_false": (
        "milhelpers/tiling.py", "        return a == b", "        return False",
        "tests/test_tiling.py -k test_r12_same_json_compares_values_and_falls_back_to_the_text"),
    "r12io_tl_empty_grid_dtype_lost": (
        "milhelpers/tiling.py", "        return np.zeros((0, 2), np.int64), np.zeros(0), size0",
        "        return np.zeros((0, 2)), np.zeros(0), size0",
        "tests/test_tiling.py -k test_r12_patch_grid_without_tissue_is_an_empty_int64_grid"),
    "r12io_ft_extract_slide_overwrite_dropped": (
        "milhelpers/features.py", "overwrite=overwrite, progress=False, precision=precision)",
        "overwrite=False, progress=False, precision=precision)",
        "tests/test_features.py -k test_r12_extract_slide_hands_every_option_to_extract_features"),
    "r12io_ft_extract_slide_slot_dropped": (
        "milhelpers/features.py", "    dev = resolve_device(device, slot=worker_slot())",
        "    dev = resolve_device(device)",
        "tests/test_features.py -k test_r12_extract_slide_hands_every_option_to_extract_features"),
    "r12io_ft_open_slides_bound": (
        "milhelpers/features.py", "            while len(self._open) > 4:",
        "            while len(self._open) > 5:",
        "tests/test_features.py -k test_r12_patch_dataset_keeps_the_four_slides_used_last_open"),
    "r12io_ft_open_slides_evict_newest": (
        "milhelpers/features.py", "                self._open.popitem(last=False)[1].close()",
        "                self._open.popitem()[1].close()",
        "tests/test_features.py -k test_r12_patch_dataset_keeps_the_four_slides_used_last_open"),
    "r12io_h5_write_coords_returns_str": (
        "milhelpers/h5io.py", "        ds.attrs.update(_clean_attrs(attrs))\n    return Path(path)",
        "        ds.attrs.update(_clean_attrs(attrs))\n    return path",
        "tests/test_h5io.py -k test_r12_writers_return_a_path_and_take_flat_coordinates"),
    "r12io_h5_features_coords_not_reshaped": (
        "milhelpers/h5io.py",
        "    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)\n    if len(features)",
        "    coords = np.asarray(coords, dtype=np.int64)\n    if len(features)",
        "tests/test_h5io.py -k test_r12_writers_return_a_path_and_take_flat_coordinates"),
    "r12io_sl_file_mpp_text_raises": (
        "milhelpers/slides.py", '            except ValueError:\n                v = float("nan")',
        '            except ValueError:\n                raise',
        "tests/test_slides.py -k test_r12_file_mpp_skips_values_that_are_not_finite_numbers"),
    "r12io_sl_conflict_ratio_inverted": (
        "milhelpers/slides.py", "{file / given:.2g}× the intended", "{given / file:.2g}× the intended",
        "tests/test_slides.py -k test_r12_mpp_errors_name_the_slide_the_values_and_the_ratio"),
    "r12io_sl_missing_file_mpp_source": (
        "milhelpers/slides.py", '            return given, "given mpp (the file has none)"',
        '            return given, "file"',
        "tests/test_slides.py -k test_r12_mpp_errors_name_the_slide_the_values_and_the_ratio"),
    "r12io_ft_stale_message_first_only": (
        "milhelpers/features.py", '        raise StaleFeaturesError("\\n".join(stale))',
        "        raise StaleFeaturesError(stale[0])",
        "tests/test_features.py -k test_r12_every_stale_output_is_named"),
    "r12io_ft_done_includes_pending": (
        "milhelpers/features.py", "    done = [j for j in jobs if j not in pending]",
        "    done = list(jobs)",
        "tests/test_features.py -k test_r12_every_stale_output_is_named"),
    "r12io_ft_nothing_to_do_precision_lost": (
        "milhelpers/features.py",
        "        return ExtractionReport([], skipped, 0, time.perf_counter() - t0, failed, str(device),\n                                precision)",
        "        return ExtractionReport([], skipped, 0, time.perf_counter() - t0, failed, str(device))",
        "tests/test_features.py -k test_r12_a_run_with_nothing_to_do_reports"),
    "r12io_params_assigned_syntax_error": (
        "milhelpers/params.py", "    except SyntaxError:\n        return {}\n    out: dict[str, Any] = {}",
        "    except SyntaxError:\n        return {'x': 1}\n    out: dict[str, Any] = {}",
        "tests/test_params.py -k test_r12_assigned_names_are_top_level"),
    "r12io_params_assigned_annotation_without_value": (
        "milhelpers/params.py",
        "[node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []",
        "[node.target] if isinstance(node, ast.AnnAssign) else []",
        "tests/test_params.py -k test_r12_assigned_names_are_top_level"),
    "r12io_params_assigned_no_default_none": (
        "milhelpers/params.py", "                    out[t.id] = _NO_DEFAULT",
        "                    out[t.id] = None",
        "tests/test_params.py -k test_r12_assigned_names_are_top_level"),
    "r12io_params_parse_literal_no_json": (
        "milhelpers/params.py", "    for parse in (json.loads, ast.literal_eval):",
        "    for parse in (ast.literal_eval,):",
        "tests/test_params.py -k test_r12_parse_literal_reads_json_first_then_python"),
    "r12io_params_chapter_dir_cwd_is_dir": (
        "milhelpers/params.py", "    if (cwd / notebook).is_file():\n        return cwd",
        "    if (cwd / notebook).exists():\n        return cwd",
        "tests/test_params.py -k test_r12_chapter_dir_takes_the_working_folder"),
    "r12io_params_chapter_dir_input_path_exists": (
        "milhelpers/params.py",
        "    if isinstance(path, str) and Path(path).expanduser().is_file():",
        "    if isinstance(path, str) and Path(path).expanduser().exists():",
        "tests/test_params.py -k test_r12_chapter_dir_takes_the_working_folder"),
    "r12io_params_chapter_dir_always_notebooks": (
        "milhelpers/params.py",
        "    if (NOTEBOOKS_DIR / notebook).is_file():\n        return NOTEBOOKS_DIR\n    return None",
        "    return NOTEBOOKS_DIR",
        "tests/test_params.py -k test_r12_chapter_dir_takes_the_working_folder"),
    "r12io_params_setup_absent_name_looked_up": (
        "milhelpers/params.py", "        if name in PAPERMILL_NAMES or name not in namespace:",
        "        if name in PAPERMILL_NAMES:",
        "tests/test_params.py -k test_r12_setup_chapter_parses_tuples"),
    "r12io_params_setup_tuple_text_not_parsed": (
        "milhelpers/params.py", 'value.strip()[:1] in ("[", "{", "(")',
        'value.strip()[:1] in ("[", "{")',
        "tests/test_params.py -k test_r12_setup_chapter_parses_tuples"),
    "r12io_params_setup_empty_path_joined": (
        "milhelpers/params.py",
        "        if (isinstance(value, str) and name.endswith(PATH_SUFFIXES) and value\n",
        "        if (isinstance(value, str) and name.endswith(PATH_SUFFIXES)\n",
        "tests/test_params.py -k test_r12_setup_chapter_parses_tuples"),
    "r12io_params_check_path_no_expanduser": (
        "milhelpers/params.py", "    p = Path(value).expanduser()\n    if not p.exists():",
        "    p = Path(value)\n    if not p.exists():",
        "tests/test_params.py -k test_r12_check_path_expands_the_home_folder"),
    "r12io_params_folds_minimum_one": (
        "milhelpers/params.py",
        '    k = check_int(folds, name, 2, "cross-validation needs at least 2 folds")',
        '    k = check_int(folds, name, 1, "cross-validation needs at least 2 folds")',
        "tests/test_params.py -k test_r12_check_folds_needs_two_folds"),
    "r12io_params_folds_label_column_unchecked": (
        "milhelpers/params.py", '    if "label" not in table:\n        raise',
        "    if False:\n        raise",
        "tests/test_params.py -k test_r12_check_folds_needs_two_folds"),
    "r12io_params_folds_slides_counted_as_groups": (
        "milhelpers/params.py", "    n_groups = int(pd.Series(groups.to_numpy()).nunique())",
        "    n_groups = int(len(groups))",
        "tests/test_params.py -k test_r12_check_folds_needs_two_folds"),
    "r12io_params_count_zero_singular": (
        "milhelpers/params.py", '    return f"{n} {noun}" + ("" if n == 1 else "s")',
        '    return f"{n} {noun}" + ("" if n <= 1 else "s")',
        "tests/test_params.py -k test_r12_counts_read_in_plural"),
    "r12io_params_label_map_list_accepted": (
        "milhelpers/params.py", "    if not isinstance(label_map, dict):\n        raise",
        "    if label_map is None:\n        raise",
        "tests/test_params.py -k test_r12_label_map_must_be_a_dict"),
    "r12io_params_own_features_any_kind": (
        "milhelpers/params.py",
        '        out["features_dir"] = check_path(features_dir, "features_dir", "dir")',
        '        out["features_dir"] = check_path(features_dir, "features_dir", "any")',
        "tests/test_params.py -k test_r12_own_features_must_be_a_folder"),
    "r12io_params_ch02_text_classic_datasets": (
        "milhelpers/params.py",
        '    if isinstance(classic_datasets, str) or not isinstance(classic_datasets, Sequence):\n        raise _bad("classic_datasets"',
        '    if not isinstance(classic_datasets, Sequence):\n        raise _bad("classic_datasets"',
        "tests/test_params.py -k test_r12_own_features_must_be_a_folder"),
    "r12io_params_ch02_repeats_minimum_zero": (
        "milhelpers/params.py",
        '    out["classic_repeats"] = check_int(classic_repeats, "classic_repeats", 1)',
        '    out["classic_repeats"] = check_int(classic_repeats, "classic_repeats", 0)',
        "tests/test_params.py -k test_r12_own_features_must_be_a_folder"),
    "r12io_params_ch01_slide_dir_exists": (
        "milhelpers/params.py", "        if not Path(slide_dir).is_dir():",
        "        if not Path(slide_dir).exists():",
        "tests/test_params.py -k test_r12_chapter01_slide_dir_must_be_a_folder"),
    "r12io_params_ch03_top_k_zero": (
        "milhelpers/params.py",
        '    out["top_k"] = check_int(top_k, "top_k", 1, "STKIM\'s K, e.g. 10")',
        '    out["top_k"] = check_int(top_k, "top_k", 0, "STKIM\'s K, e.g. 10")',
        "tests/test_params.py -k test_r12_chapter03_minimums"),
    "r12io_params_ch03_epochs_zero": (
        "milhelpers/params.py",
        '    out["epochs"] = check_int(epochs, "epochs", 1, "e.g. epochs=10")\n    out["coverage_k"]',
        '    out["epochs"] = check_int(epochs, "epochs", 0, "e.g. epochs=10")\n    out["coverage_k"]',
        "tests/test_params.py -k test_r12_chapter03_minimums"),
    "r12io_params_ch03_text_ablation": (
        "milhelpers/params.py",
        "    if isinstance(ablation, str) or not isinstance(ablation, Sequence) \\",
        "    if not isinstance(ablation, Sequence) \\",
        "tests/test_params.py -k test_r12_chapter03_minimums"),
    "r12io_params_ch03_mask_drop_not_float": (
        "milhelpers/params.py", '    out["mask_drop"] = float(mask_drop)',
        '    out["mask_drop"] = mask_drop',
        "tests/test_params.py -k test_r12_chapter03_cleans_mask_drop"),
    "r12io_params_ch03_ablation_not_list": (
        "milhelpers/params.py", '    out["ablation"] = list(ablation)',
        '    out["ablation"] = ablation',
        "tests/test_params.py -k test_r12_chapter03_cleans_mask_drop"),
    "r12io_params_ch05_masks_may_be_a_file": (
        "milhelpers/params.py", '    if not (root / "masks").is_dir():',
        '    if not (root / "masks").exists():',
        "tests/test_params.py -k test_r12_chapter05_masks_folder"),
    "r12io_params_ch05_epochs_zero": (
        "milhelpers/params.py",
        '                           "epochs": check_int(epochs, "epochs", 1, "e.g. epochs=3"),',
        '                           "epochs": check_int(epochs, "epochs", 0, "e.g. epochs=3"),',
        "tests/test_params.py -k test_r12_chapter05_masks_folder"),
    "r12io_params_ch05_alpha_capped_at_one": (
        "milhelpers/params.py",
        '    opts["alpha"] = _number(alpha, "alpha", 0, float("inf"), "must be a finite number >= 0: the "\n                            "consistency',
        '    opts["alpha"] = _number(alpha, "alpha", 0, 1, "must be a finite number >= 0: the "\n                            "consistency',
        "tests/test_params.py -k test_r12_chapter05_masks_folder"),
    "r12io_params_ch06_epochs_zero": (
        "milhelpers/params.py", '    out["epochs"] = check_int(epochs, "epochs", 1, "e.g. epochs=6")',
        '    out["epochs"] = check_int(epochs, "epochs", 0, "e.g. epochs=6")',
        "tests/test_params.py -k test_r12_chapter06_epochs_and_seeds"),
    "r12io_params_ch06_seeds_unchecked": (
        "milhelpers/params.py",
        '    out["seeds"] = check_seeds(seeds)\n    return out\n\n\n#: The committed',
        '    out["seeds"] = list(seeds)\n    return out\n\n\n#: The committed',
        "tests/test_params.py -k test_r12_chapter06_epochs_and_seeds"),
    "r12io_params_ch07_quick_seeds_name": (
        "milhelpers/params.py", '    out["quick_seeds"] = check_seeds(quick_seeds, "quick_seeds")',
        '    out["quick_seeds"] = check_seeds(quick_seeds)',
        "tests/test_params.py -k test_r12_chapter07_paths"),
    "r12io_params_ch07_results_file_may_be_a_folder": (
        "milhelpers/params.py", "            if not (root / name).is_file():",
        "            if not (root / name).exists():",
        "tests/test_params.py -k test_r12_chapter07_paths"),
    "r12io_params_ch07_full_results_dir_str": (
        "milhelpers/params.py", '        out["results_dir"] = Path(results_dir)\n    return out',
        '        out["results_dir"] = results_dir\n    return out',
        "tests/test_params.py -k test_r12_chapter07_paths"),
    "r12io_params_ch07_second_cohort_falsy": (
        "milhelpers/params.py",
        '                           "second_cohort_dir": (None if second_cohort_dir is None',
        '                           "second_cohort_dir": (None if not second_cohort_dir',
        "tests/test_params.py -k test_r12_chapter07_paths"),
    "r12io_sweep_last_parameters_cell": (
        "milhelpers/sweep.py", "        tree = ast.parse(cells[0].source)",
        "        tree = ast.parse(cells[-1].source)",
        "tests/test_sweep.py -k test_r12_notebook_parameters_first_tagged_cell"),
    "r12io_sweep_syntax_error_no_parameters": (
        "milhelpers/sweep.py",
        '        raise ValueError(f"{path}: the parameters cell is not valid Python ({err})") from None',
        "        return {}",
        "tests/test_sweep.py -k test_r12_notebook_parameters_first_tagged_cell"),
    "r12io_sweep_missing_notebook_unchecked": (
        "milhelpers/sweep.py",
        '    if not path.is_file():\n        raise FileNotFoundError(f"notebook {path} not found")',
        '    if False:\n        raise FileNotFoundError(f"notebook {path} not found")',
        "tests/test_sweep.py -k test_r12_notebook_parameters_first_tagged_cell"),
    "r12io_sweep_empty_grid_allowed": (
        "milhelpers/sweep.py", "    if not options:\n        raise ValueError(\"a sweep needs",
        "    if options is None:\n        raise ValueError(\"a sweep needs",
        "tests/test_sweep.py -k test_r12_a_grid_needs_at_least_one_parameter"),
    "r12io_sweep_format_fewer_digits": (
        "milhelpers/sweep.py", '        short = format(value, "g")',
        '        short = format(value, ".3g")',
        "tests/test_sweep.py -k test_r12_run_names_print_whole_floats_short_when_exact"),
    "r12io_sweep_bad_result_json_raises": (
        "milhelpers/sweep.py", "    except (OSError, json.JSONDecodeError):\n        return None\n    return saved",
        "    except OSError:\n        return None\n    return saved",
        "tests/test_sweep.py -k test_r12_a_result_file_that_is_not_json_is_no_result"),
    "r12io_sweep_table_default_over_own_value": (
        "milhelpers/sweep.py",
        "                if name not in params and not isinstance((defaults or {}).get(name, NO_DEFAULT),",
        "                if not isinstance((defaults or {}).get(name, NO_DEFAULT),",
        "tests/test_sweep.py -k test_r12_results_table_keeps_each_runs_own_values"),
    "r12io_sweep_table_columns_unordered": (
        "milhelpers/sweep.py",
        "    order = [n for n in names if n in table] + [c for c in table if c not in names]",
        "    order = list(table)",
        "tests/test_sweep.py -k test_r12_results_table_keeps_each_runs_own_values"),
    "r12io_sweep_key_parameters_not_json": (
        "milhelpers/sweep.py", "    return json.loads(json.dumps(params))", "    return params",
        "tests/test_sweep.py -k test_r12_the_cache_key_holds_parameters_as_json"),
    "r12io_sweep_figure_given_repeat_ignored": (
        "milhelpers/sweep.py",
        "    repeat = repeat_parameters(swept) if repeat is None else repeat",
        "    repeat = repeat_parameters(swept)",
        "tests/test_sweep.py -k test_r12_the_figure_ignores_the_bookkeeping_columns"),
    "r12io_sweep_figure_draws_seconds": (
        "milhelpers/sweep.py",
        '                         ignore=("status", "seconds", "error", "notebook"))',
        '                         ignore=("status", "error", "notebook"))',
        "tests/test_sweep.py -k test_r12_the_figure_ignores_the_bookkeeping_columns"),
    "r12io_tl_stale_int_values_swapped": (
        "milhelpers/tiling.py", '            diffs.append(f"{key} (file {have}, requested {want})")',
        '            diffs.append(f"{key} (file {want}, requested {have})")',
        "tests/test_tiling.py -k test_r12_stale_coordinates_message"),
    "r12io_tl_stale_float_values_swapped": (
        "milhelpers/tiling.py",
        '                diffs.append(f"{key} (file {float(have):g}, requested {want:g})")',
        '                diffs.append(f"{key} (file {want:g}, requested {float(have):g})")',
        "tests/test_tiling.py -k test_r12_stale_coordinates_message"),
    "r12io_tl_stale_reasons_separator": (
        "milhelpers/tiling.py",
        "    return (f\"{path} was made with other settings: {'; '.join(diffs)}. Pass --overwrite \"",
        "    return (f\"{path} was made with other settings: {', '.join(diffs)}. Pass --overwrite \"",
        "tests/test_tiling.py -k test_r12_stale_coordinates_message"),
    "r12io_tl_no_tissue_warning_thresholds": (
        "milhelpers/tiling.py",
        '            f"No tissue found in {slide.name} (sthresh={params.sthresh}, a_t={params.a_t}). "',
        '            f"No tissue found in {slide.name} (sthresh={params.mthresh}, a_t={params.a_t}). "',
        "tests/test_tiling.py -k test_r12_the_no_tissue_warning_names"),
    "r12io_params_lambda_none_hint_always": (
        "milhelpers/params.py",
        '                   "authors\' example is 0.1)" + ("; or None to skip" if allow_none else ""))',
        '                   "authors\' example is 0.1)" + "; or None to skip")',
        "tests/test_params.py -k test_r12_check_lambda_mentions_none"),
    "r12io_ft_broken_slide_message": (
        "milhelpers/features.py", '            failed[name] = f"reading patches failed: {broken[j]}"',
        "            failed[name] = broken[j]",
        "tests/test_features.py -k test_patches_of_an_unreadable_slide_are_not_counted"),
    "r12io_ft_write_error_escapes": (
        "milhelpers/features.py", "        except OSError as err:\n            failed[name] = f\"writing",
        "        except ValueError as err:\n            failed[name] = f\"writing",
        "tests/test_features.py -k test_r12_an_output_that_cannot_be_written"),
    "r12io_params_slides_dir_any_kind": (
        "milhelpers/params.py",
        '        out["slides_dir"] = check_path(slides_dir, "slides_dir", "dir",',
        '        out["slides_dir"] = check_path(slides_dir, "slides_dir", "any",',
        "tests/test_params.py -k test_r12_slides_dir_must_be_a_folder"),
    "r12io_params_fold_column_message_keeps_nan": (
        "milhelpers/params.py",
        "                       f\"({sorted(table['fold'].dropna().unique().tolist())}); set {name}={n}, \"",
        "                       f\"({sorted(table['fold'].unique().tolist())}); set {name}={n}, \"",
        "tests/test_params.py -k test_r12_a_fold_column_message_lists_its_folds"),
    "r12io_sl_thumbnail_default_size": (
        "milhelpers/slides.py", "    def thumbnail(self, max_size: int = 1024) -> tuple[np.ndarray, float]:",
        "    def thumbnail(self, max_size: int = 512) -> tuple[np.ndarray, float]:",
        "tests/test_slides.py -k test_r12_thumbnail_defaults_to_1024_px"),
    "r12io_tl_overlap_message_range": (
        "milhelpers/tiling.py", '                         f"[0, {patch_size}), got {overlap!r}")',
        '                         f"[0, {overlap}), got {overlap!r}")',
        "tests/test_tiling.py -k test_r12_tiling_numbers_are_refused_with_the_valid_range"),
    "r12io_tl_qc_path_folder": (
        "milhelpers/tiling.py", '        qc_path = out_dir / "qc" / f"{slide.name}.png"',
        '        qc_path = out_dir / f"{slide.name}.png"',
        "tests/test_tiling.py -k test_r12_tile_slide_writes_the_qc_picture"),
    "r12io_tl_qc_thumbnail_size": (
        "milhelpers/tiling.py",
        "            thumb, tds = slide.thumbnail(1024)\n            qc_out = save_png(",
        "            thumb, tds = slide.thumbnail(512)\n            qc_out = save_png(",
        "tests/test_tiling.py -k test_r12_tile_slide_writes_the_qc_picture"),
    "r12io_params_closest_hint_without_names": (
        "milhelpers/params.py", '{notebook}" + (f"; the closest is {close[0]!r}" if close else ""))',
        '{notebook}" + f"; the closest is {close[0]!r}")',
        "tests/test_params.py -k test_r12_an_undeclared_name_with_no_declared_ones"),
    "r12io_params_label_map_csv_not_named": (
        "milhelpers/params.py",
        '    where = "the labels table" if isinstance(labels_csv, pd.DataFrame) else str(labels_csv)\n    values =',
        '    where = "the labels table"\n    values =',
        "tests/test_params.py -k test_r12_label_map_names_the_csv_and_returns_a_copy"),
    "r12io_params_label_map_not_copied": (
        "milhelpers/params.py", "    return dict(label_map)", "    return label_map",
        "tests/test_params.py -k test_r12_label_map_names_the_csv_and_returns_a_copy"),
    "r12io_params_ch04_classic_folds_fixed": (
        "milhelpers/params.py",
        "                          classic_repeats=classic_repeats, classic_folds=classic_folds,",
        "                          classic_repeats=classic_repeats, classic_folds=5,",
        "tests/test_params.py -k test_r12_chapter04_hands_classic_folds_on"),
    "r12io_params_ch04_model_variant_kept": (
        "milhelpers/params.py", '    out.pop("methods"), out.pop("model_variant")',
        '    out.pop("methods")',
        "tests/test_params.py -k test_r12_chapter04_hands_classic_folds_on"),
    "r12io_params_ch04_other_bases_not_list": (
        "milhelpers/params.py", '    out["other_bases"] = list(other_bases)',
        '    out["other_bases"] = other_bases',
        "tests/test_params.py -k test_r12_chapter04_hands_classic_folds_on"),
    "r12io_params_ch03_slides_dir_unchecked": (
        "milhelpers/params.py",
        '    out = _own_data(features_dir, labels_csv, slides_dir)\n    out["n_branches"]',
        '    out = _own_data(features_dir, labels_csv, None)\n    out["n_branches"]',
        "tests/test_params.py -k test_r12_chapters_03_05_06_check_their_own_data"),
    "r12io_params_ch06_own_data_skipped": (
        "milhelpers/params.py", "    out = _own_data(features_dir, labels_csv, None)", "    out = {}",
        "tests/test_params.py -k test_r12_chapters_03_05_06_check_their_own_data"),
    "r12io_params_ch05_cohort_any_kind": (
        "milhelpers/params.py",
        '    root = check_path(cohort_dir, "cohort_dir", "dir", "build the cohort with `python -m "',
        '    root = check_path(cohort_dir, "cohort_dir", "any", "build the cohort with `python -m "',
        "tests/test_params.py -k test_r12_chapters_03_05_06_check_their_own_data"),
    "r12io_params_ch05_options_decay_forced": (
        "milhelpers/params.py", '    out["options"] = opts', '    out["options"] = dict(opts, decay=True)',
        "tests/test_params.py -k test_r12_chapters_03_05_06_check_their_own_data"),
    "r12io_params_ch07_cohort_dir_str": (
        "milhelpers/params.py",
        '    out: dict[str, Any] = {"full": full, "cohort_dir": Path(cohort_dir),',
        '    out: dict[str, Any] = {"full": full, "cohort_dir": cohort_dir,',
        "tests/test_params.py -k test_r12_chapter07_returns_paths"),
    "r12io_params_ch07_method_file_str": (
        "milhelpers/params.py", '    out["own_method_file"] = path', '    out["own_method_file"] = own_method_file',
        "tests/test_params.py -k test_r12_chapter07_returns_paths"),
    "r12io_sl_enlarge_by_area": (
        "milhelpers/slides.py",
        "            rgb = cv2.resize(rgb, (out_px, out_px), interpolation=interp)",
        "            rgb = cv2.resize(rgb, (out_px, out_px), interpolation=cv2.INTER_AREA)",
        "tests/test_tiling_paths.py -k test_r12_read_patch_enlarges_with_linear_interpolation"),
    "r12io_sl_repr_ignores_given_mpp": (
        "milhelpers/slides.py", "        mpp = self._mpp_override or self.file_mpp",
        "        mpp = self.file_mpp",
        "tests/test_slides.py -k test_r12_repr_properties_and_level_count"),
    "r12io_sl_properties_lost": (
        "milhelpers/slides.py", "        return dict(self._osr.properties)", "        return {}",
        "tests/test_slides.py -k test_r12_repr_properties_and_level_count"),
    "r12io_sl_level_count_off_by_one": (
        "milhelpers/slides.py", "        return self._osr.level_count",
        "        return len(self._osr.level_dimensions) - 1",
        "tests/test_slides.py -k test_r12_repr_properties_and_level_count"),
    "r12io_sl_unsupported_file_message_lost": (
        "milhelpers/slides.py", "        except openslide.OpenSlideUnsupportedFormatError as err:",
        "        except ValueError as err:",
        "tests/test_slides.py -k test_r12_a_file_openslide_does_not_recognise"),
    "r12io_sweep_leftover_folders_unlinked": (
        "milhelpers/sweep.py", "                if path.is_file():\n                    path.unlink()",
        "                if path.exists():\n                    path.unlink()",
        "tests/test_sweep.py -k test_r12_clean_leftovers_removes_partial_files_only"),
    "r12io_sweep_leftovers_not_listed": (
        "milhelpers/sweep.py", "                    path.unlink()\n                    removed.append(path)",
        "                    path.unlink()",
        "tests/test_sweep.py -k test_r12_clean_leftovers_removes_partial_files_only"),
    "r12io_tl_segment_preset_name_ignored": (
        "milhelpers/tiling.py",
        "    if isinstance(params, str):\n        params = get_preset(params)\n    if params.mthresh % 2 == 0:",
        "    if isinstance(params, str):\n        params = get_preset(\"biopsy\")\n    if params.mthresh % 2 == 0:",
        "tests/test_tiling.py -k test_r12_segment_tissue_takes_a_preset_by_name"),
})


# audit 13's survivors (docs/audits/audit13.md), each with the test written for it after the audit
MUTANTS.update({
    'audit13_met_per_head_float32': (
        'milhelpers/metrics.py',
        '    a = np.asarray(a, dtype=np.float64)',
        '    a = np.asarray(a, dtype=np.float32)',
        'tests/test_metrics_viz.py -k test_r13_attention_summaries_are_computed_in_float64'),
    'audit13_stats_power_curve_drops_n_boot': (
        'milhelpers/stats.py',
        '            res = power(float(d), n_slides=n_slides, n_repeats=int(r), n_cohorts=n_cohorts,\n                        n_boot=n_boot, seed=seed, **model)',
        '            res = power(float(d), n_slides=n_slides, n_repeats=int(r), n_cohorts=n_cohorts,\n                        seed=seed, **model)',
        'tests/test_stats.py -k test_r13_power_curve_passes_n_boot_on_to_each_point'),
    'audit13_exp_unpickled_cache_off_by_one': (
        'milhelpers/experiments.py',
        '            while len(_UNPICKLED) >= 2:',
        '            while len(_UNPICKLED) > 2:',
        'tests/test_runner_paths.py -k test_r13_a_worker_keeps_at_most_two_unpickled_datasets_dropping_the_oldest'),
    'audit13_cmp_showcase_mimics_tie_larger_id': (
        'milhelpers/comparison.py',
        '                                     ascending=[False, False, True]).iloc[0]',
        '                                     ascending=[False, False, False]).iloc[0]',
        'tests/test_comparison.py -k test_r13_showcase_mimic_ties_go_to_the_smaller_slide_id'),
    'audit13_ds_train_val_split_unsorted': (
        'milhelpers/datasets.py',
        '        return np.sort(tr), np.sort(va)',
        '        return tr, va',
        'tests/test_datasets.py -k test_r13_train_val_split_returns_sorted_indices_without_groups'),
})


# audit 14's survivors (docs/audits/audit14.md: 54 of 60 primaries killed), spares included, each
# with the test written for it after the audit
MUTANTS.update({
    'audit14_acmil_mask_logits_none_float': (
        'milhelpers/models/base.py',
        '        return logits',
        '        return logits.float()',
        'tests/test_models.py -k test_a14_mask_logits_keeps_the_logits_and_their_dtype_with_and_without_a_mask'),
    'audit14_mhim_maskcount_negative_ratio': (
        'milhelpers/models/mhim.py',
        '    if ratio <= 0:\n',
        '    if ratio == 0:\n',
        'tests/test_mhim.py -k test_a14_mask_count_clips_to_zero_below_and_to_n_above'),
    'audit14_mhim_packaudit_share_wrong_denominator': (
        'milhelpers/visibility.py',
        '        counts["positive_hyperslides_without_tumour"] / max(counts["positive_hyperslides"], 1))',
        '        counts["positive_hyperslides_without_tumour"] / max(counts["hyperslides"], 1))',
        'tests/test_visibility.py -k test_a14_packing_audit_shares_are_over_their_own_denominators'),
    'audit14_metrics_composition_k0_accepted': (
        'milhelpers/instances.py',
        '    if k < 1:\n        raise ValueError(f"k must be >= 1, got {k}")\n    rows = []',
        '    if k < 0:\n        raise ValueError(f"k must be >= 1, got {k}")\n    rows = []',
        'tests/test_instances.py -k test_a14_topk_composition_refuses_k_zero_and_takes_k_one'),
    'audit14_params_ch04_schedule_normalize_swapped': (
        'milhelpers/params.py',
        '    out["schedule"], out["normalize"] = schedule, normalize',
        '    out["schedule"], out["normalize"] = normalize, schedule',
        'tests/test_params.py -k test_a14_ch04_schedule_and_normalize_come_back_under_their_own_names'),
    'audit14_rs_check_shape_dim_gt': (
        'milhelpers/datasets.py',
        '    if dim is not None and shape[1] != dim:',
        '    if dim is not None and shape[1] > dim:',
        'tests/test_datasets.py -k test_a14_features_narrower_or_wider_than_the_others_are_refused'),
    'audit14_ti_box_fraction_unbinarised': (
        'milhelpers/tiling.py',
        '    ii = cv2.integral((mask > 0).astype(np.uint8))',
        '    ii = cv2.integral(mask.astype(np.uint8))',
        'tests/test_tiling.py -k test_a14_box_fraction_counts_any_nonzero_mask_pixel_once'),
    'audit14_hf_rate_guard_wrong_field': (
        'milhelpers/features.py',
        'return self.n_patches / self.seconds if self.seconds else float("nan")',
        'return self.n_patches / self.seconds if self.n_patches else float("nan")',
        'tests/test_features.py -k test_a14_patches_per_second_is_nan_only_without_a_duration'),
})


def _default_sigint() -> None:
    """Tests run with SIGINT at its default even when this script was started in the background
    of a shell script (which ignores SIGINT for it and, by inheritance, for every test's
    subprocess: the Ctrl-C tests would then fail without any mutant)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def select(args: list[str]) -> tuple[list[str], list[str]]:
    """The mutants named by ``args`` (exact names or prefixes, in the table's order), and the
    arguments that match none."""
    chosen = [n for n in MUTANTS if any(n == a or n.startswith(a) for a in args)]
    unknown = [a for a in args if not any(n == a or n.startswith(a) for n in MUTANTS)]
    return chosen, unknown


def run(name: str, scratch: Path) -> str:
    rel, old, new, selection = MUTANTS[name]
    path = scratch / rel
    text = path.read_text()
    if text.count(old) != 1:
        return f"STALE ({rel}: the original text occurs {text.count(old)} times)"
    path.write_text(text.replace(old, new))
    try:
        # no .pyc files: a mutant of the same size written within the second of the original
        # could otherwise be imported from a stale cache
        env = {**os.environ, "PYTHONPATH": str(scratch), "TQDM_DISABLE": "1",
               "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *selection.split()], cwd=scratch, env=env, capture_output=True,
                              text=True, preexec_fn=_default_sigint)
        # exit 2: collection failed (e.g. the mutant breaks an import), as tools/audit.py counts it
        return ("killed" if proc.returncode in (1, 2)
                else f"SURVIVED (pytest exit {proc.returncode})")
    finally:
        path.write_text(text)


def stale(names: list[str]) -> list[str]:
    """The mutants whose original text does not occur exactly once in its file."""
    return [n for n in names
            if (ROOT / MUTANTS[n][0]).read_text().count(MUTANTS[n][1]) != 1]


def main(args: list[str]) -> int:
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    names, unknown = select(args) if args else (list(MUTANTS), [])
    if unknown:
        print(f"unknown mutant(s) {sorted(unknown)}; choose from {sorted(MUTANTS)}", file=sys.stderr)
        return 2
    if check:
        bad = stale(names)
        for name in bad:
            print(f"{name:40s} STALE ({MUTANTS[name][0]})")
        print(f"{len(names) - len(bad)} of {len(names)} mutants apply to the source")
        return 1 if bad else 0
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for part in ("milhelpers", "tests", "benchmarks"):
            shutil.copytree(ROOT / part, scratch / part, ignore=shutil.ignore_patterns("__pycache__"))
        (scratch / "data").symlink_to(ROOT / "data")
        # the chapters themselves (test_chapter_setup reads them), not their run caches
        shutil.copytree(ROOT / "notebooks", scratch / "notebooks",
                        ignore=shutil.ignore_patterns("runs", "out", ".ipynb_checkpoints"))
        (scratch / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
        bad = 0
        for name in names:
            verdict = run(name, scratch)
            bad += verdict != "killed"
            print(f"{name:40s} {verdict}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
