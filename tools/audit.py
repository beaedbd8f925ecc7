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
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The tests of each source file: what a developer changing that file runs, and what an audit
# runs against a mutant of it. Files not named here fall back to DEFAULT_TESTS plus the file's
# own test_<name>.py where one exists.
TESTS_FOR: dict[str, list[str]] = {}
DEFAULT_TESTS: list[str] = []


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
    (dest / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())


def pytest(scratch: Path, tests: list[str], limit: float) -> tuple[int, str]:
    """Run ``pytest -x`` on ``tests`` in ``scratch``: (exit status, first failing test or '')."""
    # no .pyc files: a mutant of the same size written within the second of the original could
    # otherwise be imported from a stale cache
    env = {**os.environ, "PYTHONPATH": str(scratch), "TQDM_DISABLE": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *tests], cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=limit)
    except subprocess.TimeoutExpired:
        return 124, ""
    hit = re.search(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.M)
    return proc.returncode, hit.group(1) if hit else ""


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)


def run(mutants: list[dict], out: Path, limit: float) -> int:
    results = json.loads(out.read_text()) if out.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        scratch_copy(scratch)
        files = sorted({t for m in mutants for t in tests_for(m["file"])})
        for f in files:   # a kill must be the mutant's doing: every file passes on clean code
            code, first = pytest(scratch, [f], 3 * limit)
            if code != 0:
                print(f"{f} does not pass on the clean code (pytest exit {code}, {first}); "
                      f"fix it before auditing", file=sys.stderr)
                return 2
        print(f"{len(files)} test files pass on the clean code", flush=True)
        for m in mutants:
            if m["id"] in results and results[m["id"]]["result"] != "TIMEOUT":
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
                code, first = pytest(scratch, tests, limit)
                if code == 124:
                    code, first = pytest(scratch, tests, 3 * limit)
            finally:
                path.write_text(text)
            verdict = ("killed" if code in (1, 2) else "TIMEOUT" if code == 124
                       else "SURVIVED" if code == 0 else f"pytest exit {code}")
            results[m["id"]] = {**m, "tests": tests, "exit": code, "first_failure": first,
                                "result": verdict}
            write_json(out, results)
            print(f"{m['id']:42s} {verdict} {first}", flush=True)
    done = [r for r in results.values() if r["result"] in ("killed", "SURVIVED")]
    killed = sum(r["result"] == "killed" for r in done)
    print(f"{killed} of {len(done)} decided mutants killed"
          f" ({100 * killed / max(len(done), 1):.0f} %); results in {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["check", "run", "tests-for"])
    ap.add_argument("target", help="the audit's JSON file (check, run) or a source file (tests-for)")
    ap.add_argument("--out", type=Path, help="results JSON (run; default: <audit>_results.json)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per mutant before a rerun")
    a = ap.parse_args(argv)
    if a.command == "tests-for":
        print(" ".join(tests_for(a.target)))
        return 0
    path = Path(a.target)
    mutants = load(path)
    if a.command == "check":
        return check(mutants)
    return run(mutants, a.out or path.with_name(path.stem + "_results.json"), a.timeout)


if __name__ == "__main__":
    sys.exit(main())
