"""Results tables that never drift: render the README's tables from the committed result files.

    python benchmarks/report.py            # rewrite every table between its markers (atomically)
    python benchmarks/report.py --check    # exit 1, naming each table whose text differs

A table lives in a Markdown file between two markers,

    <!-- results:baselines -->
    | method | … |
    <!-- /results:baselines -->

and is described by one entry of ``benchmarks/results/tables.json`` (a list): its ``name``, the
``file`` it lives in, the ``json`` result file it is rendered from (under
``benchmarks/results/``), its ``kind`` and its ``columns``. Adding a table is a few lines there
plus the two markers. Kinds:

* ``methods`` — one row per method of an experiment file (``benchmarks/methods.py --json``):
  ``"methods": [...]`` (the first is the reference unless ``"reference"`` says otherwise),
  optional ``"labels": {method: row text}``; columns ``[header, what]`` with ``what`` one of
  ``runs:<metric>`` (mean ± std over runs), ``oof:<metric>`` (the metric of each repeat's pooled
  out-of-fold predictions, mean ± std over repeats), ``paired:<metric>`` (row − reference over
  slides: diff [95 % CI], p; with several rows Holm-adjusted over them, per metric),
  ``seconds`` (mean seconds per run), ``peak_mb`` (mean peak memory per run, MB) or
  ``best_epoch`` (median selected epoch).
* ``pairs`` — one row per comparison ``[B, A]`` of one experiment file (``"pairs": [...]``),
  each its own question (no Holm); columns ``paired:<metric>``.
* ``records`` — one row per record of a list in any result file (``"rows": "path.to.list"``);
  columns ``[header, "{field:.3f} ± {other:.3f}"]`` (Python format strings; a missing or null
  field prints "—").
* ``draws`` — one row per method: its difference from the reference on each cohort draw
  (``"draws": {name: result file}``, ``"metric"``) with Holm across the methods, and whether it
  holds on every draw (``milhelpers.comparison.replication``).
* ``which_when`` — chapter 07's which-method-when table (``milhelpers.comparison``), from
  ``"draws": {name: [results file, where_looks file]}`` (the latter holds the draw's subgroups
  of positives), ``"real_bags"`` (a results file) and ``"packing"`` (optional).

``python benchmarks/report.py --figures`` also redraws the figures of :data:`FIGURES` (the
README's forest plot) from the same files; ``--check`` compares tables only (images depend on
the plotting library's version).

Every paired cell follows the one decision rule of ``milhelpers.stats``: **bold** when clear
(the 95 % interval excludes 0, or Holm-adjusted p < 0.05 in a family), otherwise "no evidence
either way". Under each table a line names its source and setting. Files are rewritten
atomically and only when a table changed.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import string
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPECS = "benchmarks/results/tables.json"
RESULTS = "benchmarks/results"
MARKER = re.compile(r"<!-- results:(?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /results:(?P=name) -->",
                    re.S)


class ReportError(Exception):
    """A user-facing problem: a missing file, marker or field."""


def _num(x: float | None, digits: int = 3, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    text = f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"
    return text.replace("-", "−")


def _p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _paired_cell(s: dict[str, Any], p_holm: float | None = None) -> str:
    from milhelpers import stats

    lo, hi = s["ci95"]
    if lo is None or math.isnan(lo):
        return "—"
    diff = _num(s["diff"], sign=True)
    if stats.is_clear(s, p_holm):
        diff = f"**{diff}**"
    holm = "" if p_holm is None else f" (Holm {_p(p_holm)})"
    return f"{diff} [{_num(lo, sign=True)}, {_num(hi, sign=True)}], p {_p(s['p'])}{holm}"


def _mean_std(s: dict[str, Any] | None) -> str:
    if s is None or s.get("mean") is None or math.isnan(s["mean"]):
        return "—"
    if s.get("std") is None or math.isnan(s["std"]):
        return _num(s["mean"])
    return f"{_num(s['mean'])} ± {_num(s['std'])}"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _setting(result) -> str:
    m = result.meta
    reps = len(m.get("seeds", [])) or result.runs.seed.nunique()
    epochs = m.get("epochs") or "each method's own"
    folds = m.get("folds", "?")
    part = ("the labels' fixed folds, so intervals are conditional on them"
            if m.get("partitions") == "fixed" else "a partition per repeat")
    return (f"{m.get('n_slides', '?')} slides, {reps} repeat{'s' if reps != 1 else ''} × {folds} folds ({part}), "
            f"{epochs} epochs")


def render_methods(spec: dict, data: dict) -> str:
    """A ``methods`` table (see the module docstring)."""
    import numpy as np

    from milhelpers.experiments import ExperimentResult

    result = ExperimentResult.from_json(data)
    methods = spec["methods"]
    missing = [m for m in methods if m not in result.methods]
    if missing:
        raise ReportError(f"table {spec['name']!r}: method(s) {missing} are not in "
                          f"{spec['json']} (it has {result.methods})")
    ref = spec.get("reference", methods[0])
    others = [m for m in methods if m != ref]
    summary = result.summary()
    paired_metrics = [w.split(":", 1)[1] for _, w in spec["columns"] if w.startswith("paired:")]
    table = result.compare(ref, paired_metrics, others) if paired_metrics and others else None
    family = len(others) > 1
    rows = []
    for m in methods:
        row = [spec.get("labels", {}).get(m, m)]
        for _, what in spec["columns"]:
            kind, _, metric = what.partition(":")
            if kind == "runs":
                row.append(_mean_std(summary[m].get(metric)))
            elif kind == "oof":
                row.append(_mean_std(summary[m].get(f"oof_{metric}")))
            elif kind == "paired":
                if m == ref:
                    row.append("")
                    continue
                r = table[(table.metric == metric) & (table.method == m)].iloc[0]
                s = {"diff": r["diff"], "ci95": [r["lo"], r["hi"]], "p": r["p"]}
                row.append(_paired_cell(s, r["p_holm"] if family else None))
            elif kind == "seconds":
                row.append(_num(summary[m]["seconds"]["mean"], 1))
            elif kind == "peak_mb":
                row.append(_num(summary[m]["peak_mb"]["mean"], 0))
            elif kind == "best_epoch":
                v = result.values(m, "best_epoch").dropna().to_numpy()
                row.append(_num(float(np.median(v)), 0) if len(v) else "—")
            else:
                raise ReportError(f"table {spec['name']!r}: unknown column {what!r}")
        rows.append(row)
    note = (f"*{_setting(result)}; paired: row − {ref} over slides (paired case bootstrap), "
            + (f"Holm-adjusted over the {len(others)} methods per column, " if family else "")
            + "bold = clear. Source `benchmarks/results/" + spec["json"]
            + "`, rendered by `benchmarks/report.py`.*")
    return _markdown([spec.get("first_header", "method")] + [h for h, _ in spec["columns"]],
                     rows) + "\n\n" + note


def render_pairs(spec: dict, data: dict) -> str:
    """A ``pairs`` table: one row per comparison B − A."""
    from milhelpers.experiments import ExperimentResult

    result = ExperimentResult.from_json(data)
    rows = []
    for b, a in spec["pairs"]:
        for m in (a, b):
            if m not in result.methods:
                raise ReportError(f"table {spec['name']!r}: method {m!r} is not in {spec['json']}")
        metrics = [w.split(":", 1)[1] for _, w in spec["columns"]]
        p = result.paired(a, b, metrics)
        rows.append([f"{b} − {a}"] + [_paired_cell(p[k]) for k in metrics])
    note = (f"*{_setting(result)}; each row its own comparison over slides (paired case "
            f"bootstrap; seconds per run), bold = clear. Source `benchmarks/results/"
            f"{spec['json']}`, rendered by `benchmarks/report.py`.*")
    return _markdown([spec.get("first_header", "comparison")] + [h for h, _ in spec["columns"]],
                     rows) + "\n\n" + note


class _Missing(dict):
    def __missing__(self, key):
        return None


def _fill(template: str, record: dict) -> str:
    """``template`` formatted with ``record``; a field that is missing or null prints "—"."""
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    if any(record.get(f.split(".")[0].split("[")[0]) is None for f in fields):
        return "—"
    return re.sub(r"-(?=\d)", "−", template.format_map(_Missing(record)))


def render_records(spec: dict, data: dict) -> str:
    """A ``records`` table: one row per record of the list at ``spec['rows']``, or per entry of
    the mapping there (its name as the field ``key``)."""
    node: Any = data
    for part in spec["rows"].split("."):
        if not isinstance(node, dict) or part not in node:
            raise ReportError(f"table {spec['name']!r}: {spec['json']} has no {spec['rows']!r}")
        node = node[part]
    if isinstance(node, dict):
        node = [{"key": k, **v} for k, v in node.items()]
    rows = [[_fill(t, rec) for _, t in spec["columns"]] for rec in node]
    note = (f"*Source `benchmarks/results/{spec['json']}`, rendered by `benchmarks/report.py`"
            + (f"; {spec['note']}" if spec.get("note") else "") + ".*")
    return _markdown([h for h, _ in spec["columns"]], rows) + "\n\n" + note


def _result(root: Path, name: str):
    from milhelpers.experiments import ExperimentResult

    path = root / RESULTS / name
    if not path.exists():
        raise ReportError(f"{path} is missing; write it with the benchmark that makes it")
    return ExperimentResult.from_json(json.loads(path.read_text()))


def render_draws(spec: dict, data: dict, root: Path) -> str:
    """A ``draws`` table: each method's difference from the reference on every cohort draw."""
    from milhelpers.comparison import replication

    metric, ref = spec.get("metric", "auc"), spec.get("reference", "abmil_gated")
    draws = {d: _result(root, f) for d, f in spec["draws"].items()}
    tables = {d: r.compare(ref, [metric]) for d, r in draws.items()}
    rep = replication(tables, metric)
    per = {d: t.set_index("method") for d, t in tables.items()}
    rows = []
    for m in rep.index:
        cells = []
        for d in draws:
            r = per[d].loc[m]
            cells.append(_paired_cell({"diff": r["diff"], "ci95": [r["lo"], r["hi"]],
                                       "p": r["p"]}, r["p_holm"]))
        rows.append([m] + cells + [rep.loc[m, "verdict"]])
    first = next(iter(draws.values()))
    note = (f"*{metric}: method − {ref} over slides (paired case bootstrap) on each cohort draw "
            f"({_setting(first)} each); Holm-adjusted over the {len(rep)} methods per draw, bold "
            "= clear. Sources " + ", ".join(f"`benchmarks/results/{f}`"
                                             for f in spec["draws"].values())
            + ", rendered by `benchmarks/report.py`.*")
    return _markdown(["method"] + [f"{d}: Δ [95 % CI], p" for d in draws] + ["on both draws"],
                     rows) + "\n\n" + note


def render_which_when(spec: dict, data: dict, root: Path) -> str:
    """A ``which_when`` table: chapter 07's which-method-when rows with their evidence."""
    from milhelpers.comparison import situation_evidence, which_method_when

    ref = spec.get("reference", "abmil_gated")
    draws, subgroups = {}, {}
    for d, (res_file, looks_file) in spec["draws"].items():
        draws[d] = _result(root, res_file)
        looks = root / RESULTS / looks_file
        if not looks.exists():
            raise ReportError(f"{looks} is missing; write it with benchmarks/where_looks.py")
        subgroups[d] = json.loads(looks.read_text())["subgroups"]
    real = _result(root, spec["real_bags"]) if spec.get("real_bags") else None
    pack = root / RESULTS / spec.get("packing", "packing.json")
    packing = json.loads(pack.read_text()) if pack.exists() else None
    table = which_method_when(situation_evidence(draws, subgroups, ref, real_bags=real,
                                                 packing=packing), ref)
    rows = [[r.situation, r.favoured, r.avoid or "—", r.evidence] for r in table.itertuples()]
    note = ("*Favoured: clearly better than " + ref + " (Holm) on every cohort draw ("
            + ", ".join(draws) + "); the "
            "evidence column names the comparison. Computed by `milhelpers.comparison` from "
            "the result files, rendered by `benchmarks/report.py`; chapter 07 §8 prints the "
            "numbers behind each row.*")
    return _markdown(["situation", "favoured", "clearly worse on every draw", "rests on"],
                     rows) + "\n\n" + note


RENDERERS = {"methods": render_methods, "pairs": render_pairs, "records": render_records,
             "draws": render_draws, "which_when": render_which_when}
#: Renderers that read more result files than their ``json``.
_WITH_ROOT = {"draws", "which_when"}


def figure_forest(root: Path, path: Path) -> None:
    """The README's forest plot: every method's slide-AUC difference from gated ABMIL on the
    course cohort (chapter 07 §2) from ``head_to_head.json``, beside the second cohort draw's
    (``head_to_head_seed1.json``) when that file exists."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from milhelpers.h5io import atomic_output
    from milhelpers.viz import forest_plot, setup

    setup()
    draws = {"cohort seed 0": _result(root, "head_to_head.json")}
    if (root / RESULTS / "head_to_head_seed1.json").exists():
        draws["cohort seed 1"] = _result(root, "head_to_head_seed1.json")
    ref = draws["cohort seed 0"].methods[0]       # the file's reference (gated ABMIL)
    tables = {d: r.compare(ref, ["auc"]) for d, r in draws.items()}
    ax = forest_plot(tables if len(tables) > 1 else tables["cohort seed 0"], "auc", ref,
                     label="slide AUC")
    with atomic_output(path) as tmp:
        ax.figure.savefig(tmp, dpi=110, format="png")
    plt.close(ax.figure)


#: Figures ``--figures`` redraws: repository path → function(root, path).
FIGURES = {"docs/img/07_forest.png": figure_forest}


def render(spec: dict, root: Path) -> str:
    """The Markdown of one table from its result file."""
    path = root / RESULTS / spec["json"]
    if not path.exists():
        raise ReportError(f"table {spec['name']!r}: its result file {path} is missing; write it "
                          "with the benchmark that makes it (e.g. benchmarks/methods.py --json)")
    kind = spec.get("kind")
    if kind not in RENDERERS:
        raise ReportError(f"table {spec['name']!r}: kind {kind!r} is not one of {list(RENDERERS)}")
    data = json.loads(path.read_text())
    return (RENDERERS[kind](spec, data, root) if kind in _WITH_ROOT
            else RENDERERS[kind](spec, data))


def load_specs(root: Path) -> list[dict]:
    path = root / SPECS
    if not path.exists():
        return []
    specs = json.loads(path.read_text())
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        raise ReportError(f"{path}: a table name is used twice: {names}")
    return specs


def run(root: Path, check: bool) -> tuple[int, list[str]]:
    """Render or check every table; (exit status, messages)."""
    from milhelpers.h5io import atomic_output

    specs = load_specs(root)
    messages, status = [], 0
    by_file: dict[str, list[dict]] = {}
    for s in specs:
        by_file.setdefault(s["file"], []).append(s)
    for name, file_specs in by_file.items():
        path = root / name
        if not path.exists():
            messages.append(f"{name}: missing (tables {[s['name'] for s in file_specs]})")
            status = 1
            continue
        text = path.read_text()
        found = {m["name"]: m for m in MARKER.finditer(text)}
        new = text
        for spec in file_specs:
            if spec["name"] not in found:
                messages.append(f"{name}: no markers <!-- results:{spec['name']} --> … "
                                f"<!-- /results:{spec['name']} --> for table '{spec['name']}'")
                status = 1
                continue
            body = render(spec, root) + "\n"
            if found[spec["name"]]["body"] != body:
                if check:
                    messages.append(f"{name}: table '{spec['name']}' differs from "
                                    f"{RESULTS}/{spec['json']} (run benchmarks/report.py)")
                    status = 1
                new = new.replace(found[spec["name"]].group(0),
                                  f"<!-- results:{spec['name']} -->\n{body}"
                                  f"<!-- /results:{spec['name']} -->", 1)
        unknown = sorted(set(found) - {s["name"] for s in file_specs})
        if unknown:
            messages.append(f"{name}: markers for table(s) {unknown} that {SPECS} does not "
                            "describe")
            status = 1
        if not check and new != text:
            with atomic_output(path) as tmp:
                tmp.write_text(new)
            messages.append(f"{name}: rewrote {sum(1 for s in file_specs if s['name'] in found)} "
                            "table(s)")
    return status, messages


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 naming each table that differs from its JSON")
    ap.add_argument("--root", type=Path, default=ROOT,
                    help="repository root (default: this checkout)")
    ap.add_argument("--figures", action="store_true",
                    help="also redraw the figures (" + ", ".join(FIGURES) + ") from the results")
    args = ap.parse_args(argv)
    if args.figures and args.check:
        print("error: --figures writes images; it does not go with --check", file=sys.stderr)
        return 2
    try:
        status, messages = run(args.root, args.check)
        if args.figures:
            for name, draw in FIGURES.items():
                draw(args.root, args.root / name)
                messages.append(f"{name}: redrawn")
    except (ReportError, json.JSONDecodeError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for m in messages:
        print(m, file=sys.stderr if status else sys.stdout)
    if args.check and not status:
        print(f"all {len(load_specs(args.root))} table(s) match their result files")
    return status


if __name__ == "__main__":
    sys.exit(main())
