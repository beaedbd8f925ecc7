"""Do the tests catch the mistakes they are meant to catch?

Each mutant below is a plausible bug, introduced on purpose into a scratch copy of the package;
the named tests are run against it and must fail ("killed"). A mutant that survives means a test
is missing or too weak. Run from the repository root::

    .venv/bin/python tools/mutants.py            # all mutants (a few minutes)
    .venv/bin/python tools/mutants.py gate_added # one by name

Exit status 1 if any mutant survives or no longer applies to the source.
"""
from __future__ import annotations

import os
import shutil
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
        "milhelpers/models/mhim.py", "out = self.student(x, mask & ~masked)",
        "out = self.student(x, mask)", "tests/test_mhim.py"),
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
    "runner_workers_runs_not_counted": (
        "milhelpers/experiments.py", "trained |= runs_trained   #", "pass   #",
        "tests/test_experiments.py -k workers"),
    "runner_runs_not_locked": (
        "milhelpers/experiments.py", "with _run_lock(json_path):",
        "with contextlib.nullcontext():", "tests/test_experiments.py -k once"),
    "runner_lock_without_a_second_look": (
        "milhelpers/experiments.py",
        "            found = None if force else _load_run(json_path, npz_path, key)\n            if",
        "            found = None\n            if", "tests/test_experiments.py -k once"),
    "runner_workers_retrain_in_the_parent": (
        "milhelpers/experiments.py", "missing = [j for j in jobs if not where(*j)[2].exists()]",
        "missing = [j for j in jobs if not where(*j)[2].exists()][:0] + "
        "[j for j in jobs if not where(*j)[2].exists()][1:]", "tests/test_experiments.py -k workers"),
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
}


def run(name: str, scratch: Path) -> str:
    rel, old, new, selection = MUTANTS[name]
    path = scratch / rel
    text = path.read_text()
    if text.count(old) != 1:
        return f"STALE ({rel}: the original text occurs {text.count(old)} times)"
    path.write_text(text.replace(old, new))
    try:
        env = {**os.environ, "PYTHONPATH": str(scratch), "TQDM_DISABLE": "1"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *selection.split()], cwd=scratch, env=env, capture_output=True,
                              text=True)
        return "killed" if proc.returncode == 1 else f"SURVIVED (pytest exit {proc.returncode})"
    finally:
        path.write_text(text)


def main(names: list[str]) -> int:
    unknown = set(names) - set(MUTANTS)
    if unknown:
        print(f"unknown mutant(s) {sorted(unknown)}; choose from {sorted(MUTANTS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for part in ("milhelpers", "tests"):
            shutil.copytree(ROOT / part, scratch / part, ignore=shutil.ignore_patterns("__pycache__"))
        (scratch / "data").symlink_to(ROOT / "data")
        (scratch / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
        bad = 0
        for name in names or list(MUTANTS):
            verdict = run(name, scratch)
            bad += verdict != "killed"
            print(f"{name:40s} {verdict}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
