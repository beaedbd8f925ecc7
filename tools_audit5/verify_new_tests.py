"""Step 5 check: each new test passes on the clean code and fails with its survivor applied."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = "/work/main/.venv/bin/python"
NEW_TESTS = {
    "acmil_stkim_batch_min": "tests/test_acmil.py::test_stkim_a_bag_that_hides_nothing_does_not_switch_off_the_rest_of_the_batch",
    "aem_drops_base_loss_terms": "tests/test_aem.py::test_aem_adds_its_term_to_the_base_methods_own_loss_terms",
    "mhim_score_picks_mode_not_restored": "tests/test_mhim.py::test_score_picks_gives_the_teacher_back_in_its_own_mode",
    "mhim_teacher_config_unseeded": "tests/test_mhim.py::test_teacher_trained_without_a_runner_config_uses_the_runs_seed",
    "pack_residual_mask_stale_after_ads": "tests/test_packing.py::test_packmil_ads4_trains_a_step_with_ads_on_main_and_residual_packs",
    "pack_build_drops_ads_ratio": "tests/test_packing.py::test_packmil_ads4_trains_a_step_with_ads_on_main_and_residual_packs",
    "pack_padding_share_full_batches": "tests/test_packing.py::test_padding_share_counts_the_last_partial_batch_at_its_own_size",
    "exp_correlation_touching_zero": "tests/test_experiments_report.py::test_describe_correlation_an_interval_ending_at_zero_still_holds_zero",
    "cmp_showcase_upper_median": "tests/test_comparison.py::test_showcase_discohesive_pick_is_the_lower_median_of_an_even_count",
    "tiling_net_area_ignores_holes": "tests/test_tiling.py::test_tissue_area_filter_counts_the_net_area_inside_holes_excluded",
    "tiling_overwrite_keeps_old_coords": "tests/test_tiling.py::test_overwrite_that_finds_no_patch_removes_the_old_coordinates",
    "tiling_blue_ink_kept": "tests/test_tiling.py::test_blue_marker_ink_is_not_tissue",
    "h5_leading_axis_not_squeezed": "tests/test_h5io.py::test_features_stored_with_a_leading_axis_of_one_are_read_as_n_by_d",
}


def pytest(node):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    p = subprocess.run(["nice", "-n", "10", PY, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        node], cwd=ROOT, env=env, capture_output=True, text=True)
    return p.returncode, (p.stdout + p.stderr).strip().splitlines()[-1]


def main() -> int:
    muts = {m["id"]: m for m in json.loads((ROOT / "audit5_mutants.json").read_text())}
    bad = 0
    for mid, node in NEW_TESTS.items():
        rc0, _ = pytest(node)
        m = muts[mid]
        path = ROOT / m["file"]
        text = path.read_text()
        assert text.count(m["old"]) == 1
        path.write_text(text.replace(m["old"], m["new"]))
        try:
            rc1, last = pytest(node)
        finally:
            path.write_text(text)
        ok = rc0 == 0 and rc1 == 1
        bad += not ok
        print(f"{mid:40s} clean rc={rc0} mutated rc={rc1} {'OK' if ok else 'BAD'}  {last[:80]}",
              flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
