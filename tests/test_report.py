"""benchmarks/report.py: README tables rendered from result files, and --check catching drift."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bags import planted_bags
from milhelpers import experiments as ex
from milhelpers.methods import get_method

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import methods as methods_cli  # noqa: E402
import report  # noqa: E402

SPECS = [
    {"name": "demo", "file": "README.md", "json": "demo.json", "kind": "methods",
     "methods": ["gated", "mean", "max"], "labels": {"max": "max pooling"},
     "columns": [["slide AUC (pooled)", "oof:auc"], ["slide AUC (runs)", "runs:auc"],
                 ["entropy", "oof:entropy"], ["Δ AUC", "paired:auc"],
                 ["Δ entropy", "paired:entropy"], ["s / run", "seconds"]]},
    {"name": "pairs", "file": "docs/other.md", "json": "demo.json", "kind": "pairs",
     "pairs": [["max", "mean"]], "columns": [["Δ AUC", "paired:auc"]]},
    {"name": "rows", "file": "docs/other.md", "json": "records.json", "kind": "records",
     "rows": "table", "columns": [["mode", "{mode}"], ["AUC", "{auc:.3f}"]]},
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A repository root holding result files in the real format — written by
    benchmarks/methods.py's writer from a tiny in-memory experiment — and the table specs."""
    root = tmp_path_factory.mktemp("repo")
    ds = planted_bags(24, 8, 0, lengths=(10, 30), permute=False, id_width=2)
    methods = [get_method("abmil_gated").with_options(name="gated", embed_dim=16, attn_dim=8),
               get_method("mean_pool").with_options(name="mean", embed_dim=16),
               get_method("max_pool").with_options(name="max", embed_dim=16)]
    res = ex.run_experiments(ds, methods, [0, 1], 3, epochs=2, cache_dir=root / "cache",
                             progress=False)
    results = root / "benchmarks" / "results"
    methods_cli.write_json(res, results / "demo.json")
    (results / "records.json").write_text(json.dumps(
        {"table": [{"mode": "batch 1", "auc": 0.8}, {"mode": "packed", "auc": None}]}))
    (results / "tables.json").write_text(json.dumps(SPECS))
    return root, res


def _write_docs(root: Path) -> None:
    (root / "README.md").write_text("# Demo\n\nBefore.\n\n<!-- results:demo -->\nold\n"
                                    "<!-- /results:demo -->\n\nAfter.\n")
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "other.md").write_text("<!-- results:pairs -->\n<!-- /results:pairs -->\n"
                                            "text\n<!-- results:rows -->\nx\n"
                                            "<!-- /results:rows -->\n")


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py"), *map(str, args)],
                          capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                               "OMP_NUM_THREADS": "1"})


def test_rendered_tables_carry_the_json_numbers(repo):
    root, res = repo
    _write_docs(root)
    status, msgs = report.run(root, check=False)
    assert status == 0 and any("README.md: rewrote 1" in m for m in msgs)
    text = (root / "README.md").read_text()
    assert text.startswith("# Demo\n\nBefore.\n\n<!-- results:demo -->\n| method | slide AUC")
    assert text.endswith("<!-- /results:demo -->\n\nAfter.\n")
    summ = res.summary()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()
            if line.startswith("| ") and "---" not in line}
    assert set(rows) == {"method", "gated", "mean", "max pooling"}
    oof = summ["mean"]["oof_auc"]
    assert f"| {oof['mean']:.3f} ± {oof['std']:.3f} |".replace("-", "−") in rows["mean"]
    table = res.compare("gated", ["auc"], ["mean", "max"])
    r = table[table.method == "max"].iloc[0]
    diff = f"{r['diff']:+.3f}".replace("-", "−")
    assert diff in rows["max pooling"] and f"(Holm {r['p_holm']:.3f})" in rows["max pooling"]
    assert ("**" in rows["max pooling"].split(" | ")[4]) == bool(r["clear"])
    assert rows["gated"].split(" | ")[4] == ""                     # the reference row
    assert "Holm-adjusted over the 2 methods" in text and "2 repeats × 3 folds" in text
    other = (root / "docs" / "other.md").read_text()
    assert "| max − mean |" in other and "| batch 1 | 0.800 |" in other and "| packed | — |" in other
    # a second run changes nothing, and --check agrees
    assert report.run(root, check=False) == (0, [])
    r = _cli("--check", "--root", root)
    assert r.returncode == 0 and "all 3 table(s) match" in r.stdout, r.stderr


def test_records_from_a_mapping_name_each_row_and_read_nested_fields():
    """packing.json's cohort table is a mapping mode → row whose differences are nested, as
    benchmarks/packing.py writes it."""
    data = {"cohort": {"table": {
        "batch1": {"time_vs_batch1": 1.0, "oof_auc": 0.8125},
        "packed": {"time_vs_batch1": 0.4567, "oof_auc": 0.75,
                   "auc_minus_batch1": {"diff": -0.0625, "ci95": [-0.125, 0.0], "p": 0.049}}}}}
    spec = {"name": "pk", "json": "packing.json", "rows": "cohort.table",
            "columns": [["mode", "{key}"], ["× batch 1", "{time_vs_batch1:.2f}"],
                        ["Δ AUC", "{auc_minus_batch1[diff]:+.3f} [{auc_minus_batch1[ci95][0]:+.3f},"
                                  " {auc_minus_batch1[ci95][1]:+.3f}], p {auc_minus_batch1[p]:.3f}"]]}
    lines = report.render_records(spec, data).splitlines()
    assert lines[2] == "| batch1 | 1.00 | — |"                      # no difference for itself
    assert lines[3] == "| packed | 0.46 | −0.062 [−0.125, +0.000], p 0.049 |"


def test_check_names_a_hand_edited_number_and_leaves_the_file_alone(repo):
    root, _ = repo
    _write_docs(root)
    report.run(root, check=False)
    readme = root / "README.md"
    good = readme.read_text()
    line = next(x for x in good.splitlines() if x.startswith("| mean |"))
    cell = line.split(" | ")[1]                                       # "0.xyz ± 0.abc"
    edited = cell[:4] + str((int(cell[4]) + 1) % 10) + cell[5:]      # one digit changed
    readme.write_text(good.replace(line, line.replace(cell, edited, 1)))
    before = readme.read_text()
    r = _cli("--check", "--root", root)
    assert r.returncode == 1
    assert "README.md: table 'demo' differs from benchmarks/results/demo.json" in r.stderr
    assert "pairs" not in r.stderr and "Traceback" not in r.stderr
    assert readme.read_text() == before                               # --check writes nothing
    # rendering restores the JSON's numbers
    r = _cli("--root", root)
    assert r.returncode == 0 and readme.read_text() == good


def test_missing_markers_unknown_markers_and_missing_results_are_reported(repo):
    root, _ = repo
    _write_docs(root)
    report.run(root, check=False)
    (root / "README.md").write_text("no tables here\n<!-- results:ghost -->\n<!-- /results:ghost -->\n")
    r = _cli("--check", "--root", root)
    assert r.returncode == 1
    assert "no markers <!-- results:demo -->" in r.stderr
    assert "markers for table(s) ['ghost']" in r.stderr
    specs = SPECS + [{"name": "late", "file": "README.md", "json": "absent.json",
                      "kind": "records", "rows": "t", "columns": []}]
    (root / "benchmarks" / "results" / "tables.json").write_text(json.dumps(specs))
    (root / "README.md").write_text("<!-- results:late -->\n<!-- /results:late -->\n")
    try:
        r = _cli("--check", "--root", root)
        assert r.returncode == 2 and "absent.json is missing" in r.stderr
        assert "Traceback" not in r.stderr
    finally:
        (root / "benchmarks" / "results" / "tables.json").write_text(json.dumps(SPECS))


def test_the_repository_tables_match_their_results():
    """The real README/docs tables named in benchmarks/results/tables.json are up to date."""
    status, msgs = report.run(ROOT, check=True)
    assert status == 0, msgs


def test_draws_which_when_and_the_forest_figure_render_from_the_result_files(repo):
    """Chapter 07's README tables: per-draw differences with the replication verdict, and the
    which-method-when rows, computed by milhelpers.comparison from the same files."""
    from milhelpers import comparison as cmp

    root, res = repo
    results = root / "benchmarks" / "results"
    oof = res.out_of_fold()
    pos = sorted(set(oof.slide_id[oof.label == 1]))
    groups = {"micro": pos[:4], "small": pos[4:6], "large": pos[6:], "discohesive": pos[2:7]}
    (results / "looks.json").write_text(json.dumps({"subgroups": groups}))
    for name in ("head_to_head.json", "head_to_head_seed1.json"):
        (results / name).write_text((results / "demo.json").read_text())
    specs = [{"name": "dr", "file": "README.md", "json": "demo.json", "kind": "draws",
              "metric": "auc", "reference": "gated", "draws": {"A": "demo.json", "B": "demo.json"}},
             {"name": "ww", "file": "README.md", "json": "demo.json", "kind": "which_when",
              "reference": "gated", "draws": {"A": ["demo.json", "looks.json"]},
              "real_bags": "demo.json"}]
    try:
        (results / "tables.json").write_text(json.dumps(specs))
        (root / "README.md").write_text("<!-- results:dr -->\n<!-- /results:dr -->\n"
                                        "<!-- results:ww -->\n<!-- /results:ww -->\n")
        assert report.run(root, check=False)[0] == 0
        text = (root / "README.md").read_text()
        rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in text.splitlines()
                if ln.startswith("| ") and "---" not in ln}
        t = res.compare("gated", ["auc"])
        rep = cmp.replication({"A": t, "B": t})
        diff = f"{rep.loc['max', 'diff A']:+.3f}".replace("-", "−")
        assert rows["max"].count(diff) == 2            # the same file as both draws
        assert rows["max"].endswith(f"| {rep.loc['max', 'verdict']} |")
        assert set(rows) >= {"method", "mean", "max"} and "gated" not in rows
        assert "Holm-adjusted over the 2 methods per draw" in text
        ev = cmp.situation_evidence({"A": res}, {"A": groups}, "gated", real_bags=res)
        want = cmp.which_method_when(ev, "gated")
        for r in want.itertuples():
            line = rows[r.situation]
            assert f"| {r.favoured} |" in line and r.evidence in line
        assert "missing" in rows["very long bags or a GPU"]        # no packing.json here
        assert report.run(root, check=True)[0] == 0
        # the figure: drawn from the two head-to-head files
        r = _cli("--figures", "--root", root)
        assert r.returncode == 0, r.stderr
        png = root / "docs" / "img" / "07_forest.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert _cli("--figures", "--check", "--root", root).returncode == 2
    finally:
        (results / "tables.json").write_text(json.dumps(SPECS))
