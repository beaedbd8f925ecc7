"""Run a held-out mutation audit: mutants the project has never seen, each against the tests of
the file it changes.

``tools/mutants.py`` re-checks the project's own mutants, each with a test selection chosen for
it; an audit asks a harder question: does a bug nobody here anticipated make *the tests of that
file* fail? The auditor writes the mutants (without reading ``tools/mutants.py`` first) as a JSON
list of objects::

    {"id": "pack_ads_keeps_padding", "area": "PackMIL", "file": "milhelpers/models/packmil.py",
     "old": "exact original text", "new": "mutated text", "why": "why no test can call it equivalent"}

and this script checks and runs them (from the repository root)::

    .venv/bin/python tools/audit.py check audit.json   # each applies once; which touch a line of an existing mutant
    .venv/bin/python tools/audit.py run audit.json --out audit_results.json
    .venv/bin/python tools/audit.py report audit_results.json   # Markdown tables for the record

``run`` first runs every test file it will use on the clean code (a file that fails there is
reported and the audit stops: a kill must be the mutant's doing). Each mutant is then applied to a
scratch copy of the package and ``pytest -x`` runs the files that ``TESTS_FOR`` names for its
source file. Killed = pytest reports failed tests or failed collection (exit 1 or 2). A run that
hits the time limit is not a kill: it is rerun once with three times the limit and reported as
``TIMEOUT`` if that also runs out. Results are written after each mutant (to a temporary file,
then renamed), so an interrupted audit keeps what it finished and ``run`` resumes it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The tests of each source file: what a developer changing that file runs, and what an audit
# runs against a mutant of it. Files not named here fall back to DEFAULT_TESTS plus the file's
# own test_<name>.py where one exists.
TESTS_FOR: dict[str, list[str]] = {
    "milhelpers/models/base.py": ["tests/test_models.py", "tests/test_acmil.py",
                                  "tests/test_padding_paths.py"],
    "milhelpers/models/abmil.py": ["tests/test_models.py", "tests/test_padding_paths.py"],
    "milhelpers/models/acmil.py": ["tests/test_acmil.py", "tests/test_branch_attention.py",
                                   "tests/test_padding_paths.py", "tests/test_boundaries.py"],
    "milhelpers/models/mhim.py": ["tests/test_mhim.py", "tests/test_mhim_paths.py",
                                  "tests/test_fidelity.py", "tests/test_padding_paths.py",
                                  "tests/test_schedules.py", "tests/test_seeds.py"],
    "milhelpers/models/packmil.py": ["tests/test_packing.py", "tests/test_packing_paths.py",
                                     "tests/test_padding_paths.py", "tests/test_seeds.py",
                                     "tests/test_fidelity.py"],
    "milhelpers/packing.py": ["tests/test_packing.py", "tests/test_packing_paths.py",
                              "tests/test_padding_paths.py", "tests/test_boundaries.py",
                              "tests/test_viz_packing.py"],
    "milhelpers/losses.py": ["tests/test_losses.py", "tests/test_aem.py", "tests/test_acmil.py",
                             "tests/test_mhim_paths.py", "tests/test_padding_paths.py",
                             "tests/test_fidelity.py"],
    # one registry for every method: the tests of each method family
    "milhelpers/methods.py": ["tests/test_methods.py", "tests/test_acmil.py", "tests/test_aem.py",
                              "tests/test_mhim_paths.py", "tests/test_packing_paths.py",
                              "tests/test_schedules.py", "tests/test_mhim.py",
                              "tests/test_fidelity.py", "tests/test_seeds.py",
                              "tests/test_packing.py"],
    "milhelpers/metrics.py": ["tests/test_metrics_viz.py", "tests/test_branch_attention.py",
                              "tests/test_boundaries.py"],
    "milhelpers/visibility.py": ["tests/test_visibility.py", "tests/test_mhim_paths.py"],
    "milhelpers/stats.py": ["tests/test_stats.py", "tests/test_intervals.py",
                            "tests/test_compare_settings.py", "tests/test_runner_paths.py"],
    "milhelpers/experiments.py": ["tests/test_runner_paths.py", "tests/test_experiments_report.py",
                                  "tests/test_cache_keys.py", "tests/test_intervals.py",
                                  "tests/test_experiments.py"],
    "milhelpers/comparison.py": ["tests/test_comparison.py", "tests/test_runner_paths.py",
                                 "tests/test_compare_settings.py"],
    "milhelpers/cached_runs.py": ["tests/test_cached_runs.py", "tests/test_runner_paths.py"],
    "milhelpers/tiling.py": ["tests/test_tiling.py", "tests/test_tiling_paths.py",
                             "tests/test_boundaries.py", "tests/test_cache_keys.py"],
    "milhelpers/slides.py": ["tests/test_slides.py", "tests/test_tiling_paths.py"],
    "milhelpers/h5io.py": ["tests/test_h5io.py", "tests/test_features.py"],
    "milhelpers/features.py": ["tests/test_features.py", "tests/test_cache_keys.py"],
    "milhelpers/pipeline.py": ["tests/test_pipeline.py", "tests/test_cli.py"],
    "milhelpers/train.py": ["tests/test_train_paths.py", "tests/test_train.py", "tests/test_seeds.py"],
    "milhelpers/datasets.py": ["tests/test_datasets.py", "tests/test_seeds.py"],
    "milhelpers/sweep.py": ["tests/test_sweep.py"],
    "milhelpers/params.py": ["tests/test_params.py", "tests/test_chapter_setup.py"],
    "milhelpers/instances.py": ["tests/test_instances.py"],
}
DEFAULT_TESTS: list[str] = []

# Test files that also exercise a module's behaviour though named after another (found by listing
# which test files import each module): a developer changing the module runs them too. They come
# after the file's own tests, so a run also says whether the own tests alone caught the mutant.
ALSO_TESTS: dict[str, list[str]] = {
    "milhelpers/packing.py": ["tests/test_seeds.py", "tests/test_fidelity.py"],
    "milhelpers/losses.py": ["tests/test_schedules.py", "tests/test_mhim.py", "tests/test_packing.py"],
    "milhelpers/metrics.py": ["tests/test_models.py", "tests/test_train_paths.py"],
    "milhelpers/stats.py": ["tests/test_experiments_report.py", "tests/test_viz_evidence.py"],
    "milhelpers/slides.py": ["tests/test_boundaries.py", "tests/test_tiling.py"],
    "milhelpers/models/base.py": ["tests/test_packing.py", "tests/test_train_paths.py"],
    "milhelpers/models/mhim.py": ["tests/test_visibility.py"],
    "milhelpers/experiments.py": ["tests/test_seeds.py", "tests/test_cached_runs.py"],
    "milhelpers/h5io.py": ["tests/test_cache_keys.py", "tests/test_tiling_paths.py"],
    "milhelpers/train.py": ["tests/test_methods.py", "tests/test_padding_paths.py",
                            "tests/test_boundaries.py", "tests/test_cache_keys.py"],
    "milhelpers/comparison.py": ["tests/test_report.py"],
    "milhelpers/pipeline.py": ["tests/test_tiling.py"],
    "milhelpers/methods.py": ["tests/test_padding_paths.py", "tests/test_train.py",
                              "tests/test_cache_keys.py"],
    "milhelpers/instances.py": ["tests/test_branch_attention.py", "tests/test_comparison.py",
                                "tests/test_mhim.py", "tests/test_seeds.py"],
}
for _src, _also in ALSO_TESTS.items():
    TESTS_FOR[_src] = [*TESTS_FOR[_src], *(t for t in _also if t not in TESTS_FOR[_src])]


def _default_sigint() -> None:
    """Tests run with SIGINT at its default even when this script was started in the background
    of a shell script (which ignores SIGINT for it and, by inheritance, for every test's
    subprocess: the Ctrl-C tests would then fail without any mutant)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def tests_for(rel: str) -> list[str]:
    """The test files run against a mutant of ``rel`` (a path relative to the repository root)."""
    if rel in TESTS_FOR:
        return list(TESTS_FOR[rel])
    own = f"tests/test_{Path(rel).stem}.py"
    return [*DEFAULT_TESTS, *([own] if (ROOT / own).exists() and own not in DEFAULT_TESTS else [])]


def load(path: Path) -> list[dict]:
    """The audit's mutants, each checked for the fields it needs and a unique id."""
    try:
        mutants = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"{path}: cannot read the audit's mutants ({err}); it must be a JSON list")
    need = {"id", "file", "old", "new"}
    for i, m in enumerate(mutants):
        missing = need - set(m)
        if missing:
            raise SystemExit(f"{path}: mutant #{i + 1} lacks {sorted(missing)}")
    ids = [m["id"] for m in mutants]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise SystemExit(f"{path}: ids used more than once: {dup}")
    return mutants


def touched_lines(text: str, old: str) -> set[int]:
    """The 1-based line numbers that the (single) occurrence of ``old`` in ``text`` spans."""
    start = text.index(old)
    first = text.count("\n", 0, start) + 1
    return set(range(first, first + old.count("\n") + 1))


def existing_lines() -> dict[str, dict[int, str]]:
    """For each source file, the lines changed by a mutant of ``tools/mutants.py`` (line → name)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from mutants import MUTANTS  # noqa: E402  (tools/ is not a package)
    out: dict[str, dict[int, str]] = {}
    for name, (rel, old, _new, _sel) in MUTANTS.items():
        text = (ROOT / rel).read_text()
        if text.count(old) == 1:
            for line in touched_lines(text, old):
                out.setdefault(rel, {})[line] = name
    return out


def check(mutants: list[dict]) -> int:
    """Each mutant's original text must occur exactly once and differ from the new text; report
    the mutants that change a line an existing mutant already changes."""
    known = existing_lines()
    bad = 0
    for m in mutants:
        text = (ROOT / m["file"]).read_text()
        n = text.count(m["old"])
        if n != 1 or m["old"] == m["new"]:
            bad += 1
            print(f"{m['id']:42s} DOES NOT APPLY ({m['file']}: original text occurs {n} times"
                  f"{'; old == new' if m['old'] == m['new'] else ''})")
            continue
        same = sorted({known.get(m["file"], {}).get(line) for line in touched_lines(text, m["old"])}
                      - {None})
        if same:
            bad += 1
            print(f"{m['id']:42s} SAME LINE AS {', '.join(same)}")
    print(f"{len(mutants) - bad} of {len(mutants)} mutants apply once and touch no line of an "
          f"existing mutant")
    return 1 if bad else 0


def scratch_copy(dest: Path) -> None:
    for part in ("milhelpers", "tests", "benchmarks"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "data").symlink_to(ROOT / "data")
    # the chapters themselves (test_chapter_setup reads them), not their run caches
    shutil.copytree(ROOT / "notebooks", dest / "notebooks",
                    ignore=shutil.ignore_patterns("runs", "out", ".ipynb_checkpoints"))
    (dest / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    # the README and docs whose generated tables test_report.py checks against their results
    shutil.copy2(ROOT / "README.md", dest / "README.md")
    shutil.copytree(ROOT / "docs", dest / "docs")


def pytest(scratch: Path, tests: list[str], limit: float) -> tuple[int, str, str]:
    """Run ``pytest -x`` on ``tests`` in ``scratch``: (exit status, first failing test or '',
    the end of pytest's report)."""
    # no .pyc files: a mutant of the same size written within the second of the original could
    # otherwise be imported from a stale cache
    env = {**os.environ, "PYTHONPATH": str(scratch), "TQDM_DISABLE": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *tests], cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=limit, preexec_fn=_default_sigint)
    except subprocess.TimeoutExpired:
        return 124, "", ""
    # the whole node id: a parametrised test's id may hold spaces ("FAILED path::test[a b] - msg")
    hit = re.search(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", proc.stdout, re.M)
    return proc.returncode, hit.group(1) if hit else "", "\n".join(proc.stdout.splitlines()[-30:])


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)


def run(mutants: list[dict], out: Path, limit: float, shard: tuple[int, int] = (1, 1)) -> int:
    results = json.loads(out.read_text()) if out.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        scratch_copy(scratch)
        files = sorted({t for m in mutants for t in tests_for(m["file"])})
        i, n = shard   # side-by-side shards share the clean runs out between them
        for f in files[i - 1::n]:   # a kill must be the mutant's doing: every file passes on clean code
            code, first, report = pytest(scratch, [f], 3 * limit)
            if code != 0:   # once more: a test that fails only when the machine is loaded
                print(f"{f} failed on the clean code ({first}); running it again:\n{report}",
                      flush=True)
                code, first, report = pytest(scratch, [f], 3 * limit)
            if code != 0:
                print(f"{report}\n{f} does not pass on the clean code (pytest exit {code}, "
                      f"{first}); fix it before auditing", file=sys.stderr)
                return 2
        print(f"{len(files[i - 1::n])} test files pass on the clean code", flush=True)
        for m in mutants[i - 1::n]:
            if m["id"] in results and results[m["id"]]["result"] in ("killed", "SURVIVED"):
                continue
            path = scratch / m["file"]
            text = path.read_text()
            if text.count(m["old"]) != 1:
                print(f"{m['id']}: original text occurs {text.count(m['old'])} times in {m['file']}",
                      file=sys.stderr)
                return 2
            tests = tests_for(m["file"])
            path.write_text(text.replace(m["old"], m["new"]))
            try:
                code, first, _ = pytest(scratch, tests, limit)
                if code == 124:
                    code, first, _ = pytest(scratch, tests, 3 * limit)
            finally:
                path.write_text(text)
            if code in (1, 2) and first:   # the killing test must pass without the mutant
                again, _, _ = pytest(scratch, [first], 3 * limit)
                if again != 0:
                    code = -1
            verdict = ("killed" if code in (1, 2) else "TIMEOUT" if code == 124
                       else "SURVIVED" if code == 0
                       else "UNDECIDED (the failing test also fails without the mutant)"
                       if code == -1 else f"pytest exit {code}")
            results[m["id"]] = {**m, "tests": tests, "exit": code, "first_failure": first,
                                "result": verdict}
            write_json(out, results)
            print(f"{m['id']:42s} {verdict} {first}", flush=True)
    done = [r for r in results.values() if r["result"] in ("killed", "SURVIVED")]
    killed = sum(r["result"] == "killed" for r in done)
    print(f"{killed} of {len(done)} decided mutants killed"
          f" ({100 * killed / max(len(done), 1):.0f} %); results in {out}")
    return 0


def report(results: dict[str, dict]) -> str:
    """Markdown: killed per area, then one row per mutant."""
    areas: dict[str, list[dict]] = {}
    for r in results.values():
        areas.setdefault(r.get("area", "?"), []).append(r)
    lines = ["| area | mutants | killed |", "|---|---|---|"]
    for area, rs in areas.items():
        lines.append(f"| {area} | {len(rs)} | {sum(r['result'] == 'killed' for r in rs)} / {len(rs)} |")
    k = sum(r["result"] == "killed" for r in results.values())
    lines += [f"| **all** | {len(results)} | **{k} / {len(results)}** "
              f"({100 * k / max(len(results), 1):.0f} %) |", "",
              "| id | area | file | change (old → new) | why not equivalent | result |",
              "|---|---|---|---|---|---|"]
    cell = lambda t: t.replace("|", "\\|").replace("\n", " ⏎ ")  # noqa: E731
    for r in results.values():
        res = (f"killed ({r['first_failure']})" if r["result"] == "killed" and r["first_failure"]
               else r["result"] if r["result"] == "killed" else f"**{r['result']}**")
        lines.append(f"| `{r['id']}` | {r.get('area', '')} | {r['file']} | `{cell(r['old'])}` → "
                     f"`{cell(r['new'])}` | {cell(r.get('why', ''))} | {res} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["check", "run", "report", "tests-for"])
    ap.add_argument("target", help="the audit's JSON file (check, run) or a source file (tests-for)")
    ap.add_argument("--out", type=Path, help="results JSON (run; default: <audit>_results.json)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per mutant before a rerun")
    ap.add_argument("--shard", default="1/1", metavar="I/N",
                    help="run only every N-th mutant from the I-th (run two shards side by side "
                         "on two cores, each with its own --out)")
    a = ap.parse_args(argv)
    if a.command == "tests-for":
        print(" ".join(tests_for(a.target)))
        return 0
    path = Path(a.target)
    if a.command == "report":   # target: one or more results files, comma-separated
        results = {}
        for part in a.target.split(","):
            results.update(json.loads(Path(part).read_text()))
        print(report(results), end="")
        return 0
    mutants = load(path)
    if a.command == "check":
        return check(mutants)
    try:
        i, n = (int(v) for v in a.shard.split("/"))
        assert 1 <= i <= n
    except (ValueError, AssertionError):
        raise SystemExit(f"--shard {a.shard}: expected I/N with 1 <= I <= N, e.g. 1/2")
    return run(mutants, a.out or path.with_name(path.stem + "_results.json"), a.timeout, (i, n))


if __name__ == "__main__":
    sys.exit(main())
