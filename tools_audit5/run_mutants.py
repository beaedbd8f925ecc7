"""Apply each audit5 mutant in this worktree, run its tests, record killed/survived, restore.

    python tools_audit5/run_mutants.py targeted          # first pass: each mutant's own tests
    python tools_audit5/run_mutants.py wider             # second pass: survivors, wider tests
    python tools_audit5/run_mutants.py targeted ID ...   # only these mutants

Results go to audit5_results.json after every mutant (an interrupted run loses nothing and
resumes where it stopped). killed = pytest exit status != 0 (import and collection errors
count); exit status 124 (the 300 s timeout) is *not* a kill: such a mutant is rerun once with
a 900 s limit and both runs are recorded.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = "/work/main/.venv/bin/python"
RESULTS = ROOT / "audit5_results.json"

#: Second pass: the related test files a maintainer would run next, per area.
WIDER = {
    "acmil": ["tests/test_padding_paths.py", "tests/test_seeds.py", "tests/test_fidelity.py",
              "tests/test_methods.py"],
    "aem": ["tests/test_fidelity.py", "tests/test_train.py", "tests/test_methods.py",
            "tests/test_exercises_ch0304.py"],
    "mhim": ["tests/test_fidelity.py", "tests/test_train.py", "tests/test_visibility.py",
             "tests/test_methods.py"],
    "packmil": ["tests/test_fidelity.py", "tests/test_seeds.py", "tests/test_timing.py",
                "tests/test_viz_packing.py"],
    "runner_stats": ["tests/test_experiments.py", "tests/test_report.py",
                     "tests/test_cached_runs.py", "tests/test_viz_head_to_head.py"],
    "metrics": ["tests/test_experiments.py", "tests/test_models.py", "tests/test_train.py",
                "tests/test_curves.py"],
    "tiling": ["tests/test_instances.py", "tests/test_synth.py", "tests/test_cli.py",
               "tests/test_datasets.py"],
    "h5io_features": ["tests/test_datasets.py", "tests/test_instances.py",
                      "tests/test_encoders.py", "tests/test_cli.py"],
    "sweeps": ["tests/test_experiments.py", "tests/test_cli.py", "tests/test_params.py"],
    "params": ["tests/test_notebooks_user_data.py", "tests/test_schedules.py",
               "tests/test_cache_keys.py", "tests/test_tiling.py"],
}


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def save(res: dict) -> None:
    tmp = RESULTS.with_suffix(".json.part")
    tmp.write_text(json.dumps(res, indent=1, ensure_ascii=False))
    os.replace(tmp, RESULTS)


def pytest(tests: list[str], limit: int) -> tuple[int, float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.time()
    proc = subprocess.run(["nice", "-n", "10", "timeout", str(limit), PY, "-m", "pytest", "-x",
                           "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    first = next((l for l in out.splitlines() if l.startswith(("FAILED", "ERROR"))), "")
    if not first and proc.returncode not in (0, 124):
        first = out.strip().splitlines()[-1] if out.strip() else ""
    return proc.returncode, round(time.time() - t0, 1), first[:300]


def run_one(m: dict, tests: list[str]) -> dict:
    path = ROOT / m["file"]
    text = path.read_text()
    assert text.count(m["old"]) == 1, f"{m['id']}: original text occurs {text.count(m['old'])}×"
    path.write_text(text.replace(m["old"], m["new"]))
    try:
        rc, secs, first = pytest(tests, 300)
        rec = {"tests": tests, "rc": rc, "seconds": secs, "first_failure": first}
        if rc == 124:                      # the 300 s limit, not a failing test
            rc2, secs2, first2 = pytest(tests, 900)
            rec.update(rc_after_timeout=rc2, seconds_after_timeout=secs2,
                       first_failure=first2)
            rc = rc2
        rec["killed"] = rc not in (0, 124)
        return rec
    finally:
        subprocess.run(["git", "checkout", "--", "."], cwd=ROOT, check=True)
        assert path.read_text() == text


def main(args: list[str]) -> int:
    phase, only = args[0], set(args[1:])
    mutants = json.loads((ROOT / "audit5_mutants.json").read_text())
    res = load()
    for m in mutants:
        if only and m["id"] not in only:
            continue
        entry = res.setdefault(m["id"], {"area": m["area"], "file": m["file"]})
        if phase in entry and not only:
            continue
        if phase == "wider":
            if entry.get("targeted", {}).get("killed", True):
                continue
            tests = [t for t in WIDER[m["area"]] if t not in m["tests"]]
        else:
            tests = m["tests"]
        entry[phase] = run_one(m, tests)
        save(res)
        r = entry[phase]
        print(f"{m['id']:45s} {phase:8s} {'KILLED' if r['killed'] else 'survived':8s} "
              f"rc={r['rc']} {r['seconds']}s {r['first_failure'][:90]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
