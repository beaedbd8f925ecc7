"""Chapters under papermill (params.setup_chapter): undeclared names refused with the closest
declared one, lists and dicts given as text, and paths that do not depend on the folder papermill
runs in (issue 24: chapter 01 run from the repository root rebuilt the cohort outside it)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from milhelpers import params
from milhelpers.params import ParameterError, chapter_dir, papermill_cells, setup_chapter

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = ('# Parameters (papermill: -p seeds "[0, 1]")\n'
              'cohort_dir = "../data/cohort"\nlabels_csv = None\nlabel_map = None\n'
              'seeds = [0]\nepochs = 6\nlam = 0.1\nname = "[not a list]"\nrun_dir = "runs/02"\n')


def _injected(**values) -> str:
    """The cell papermill inserts after the parameters cell (``# Parameters`` + assignments)."""
    return "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())


def _namespace(**given) -> dict:
    ns = {}
    exec(PARAMETERS, ns)
    ns.update(given)
    return ns


def test_papermill_cells_reads_declared_and_injected_names():
    history = ["", PARAMETERS, _injected(epochs=2, lr=0.1), "check cell"]
    declared, injected = papermill_cells(history)
    assert list(declared) == ["cohort_dir", "labels_csv", "label_map", "seeds", "epochs", "lam",
                              "name", "run_dir"]
    assert declared["seeds"] == [0] and declared["label_map"] is None
    assert injected == {"epochs": 2, "lr": 0.1}
    assert papermill_cells(["", PARAMETERS, "check cell"]) is None     # Jupyter: nothing given


def test_a_name_the_chapter_does_not_declare_is_refused_with_the_closest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for given, closest in (({"lamb": 0.5}, "lam"), ({"epoch": 3}, "epochs"),
                           ({"lr": -0.001}, None)):
        ns = _namespace(**given)
        with pytest.raises(ParameterError) as err:
            setup_chapter(ns, "02_abmil.ipynb", ["", PARAMETERS, _injected(**given), ""])
        (name, value), = given.items()
        text = str(err.value)
        assert text.startswith(f"parameter {name}={value!r} is not a parameter of "
                               "02_abmil.ipynb; the closest is ")
        if closest:
            assert f"the closest is {closest!r}" in text
        assert "Its parameters: cohort_dir, labels_csv, label_map, seeds" in text
    assert Path.cwd() == tmp_path                     # refused before anything moved
    # papermill's own --inject-paths names are not the chapter's business
    ns = _namespace(PAPERMILL_OUTPUT_PATH="out.ipynb")
    setup_chapter(ns, "no_such_chapter.ipynb",
                  ["", PARAMETERS, _injected(PAPERMILL_OUTPUT_PATH="out.ipynb"), ""])


@pytest.mark.parametrize("name, text, value", [
    ("seeds", "[0, 1, 2]", [0, 1, 2]),                                   # JSON and Python alike
    ("label_map", '{"normal": 0, "tumor": 1}', {"normal": 0, "tumor": 1}),
    ("label_map", "{'normal': 0, 'tumor': 1}", {"normal": 0, "tumor": 1}),
    ("seeds", " [3] ", [3]),
    ("name", "[kept as text]", "[kept as text]"),     # a text parameter stays text
    ("epochs", 4, 4),
])
def test_lists_and_dicts_given_as_text_are_parsed(tmp_path, monkeypatch, name, text, value):
    monkeypatch.chdir(tmp_path)
    ns = _namespace(**{name: text})
    setup_chapter(ns, "no_such_chapter.ipynb", ["", PARAMETERS, _injected(**{name: text}), ""])
    assert ns[name] == value and type(ns[name]) is type(value)


def test_a_list_that_is_not_a_literal_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = _namespace(seeds="[0, 1")
    with pytest.raises(ParameterError, match=r"parameter seeds='\[0, 1': is neither JSON nor a "
                                             r"Python literal"):
        setup_chapter(ns, "no_such_chapter.ipynb", ["", PARAMETERS, _injected(seeds="[0, 1"), ""])


def test_paths_given_are_read_from_the_callers_folder_and_defaults_from_the_chapters(
        tmp_path, monkeypatch):
    """The README's papermill commands run from the repository root: the chapter's defaults
    (../data/cohort, runs/02) must resolve inside the repository, the user's relative paths
    against the folder the command was typed in."""
    caller = tmp_path / "elsewhere"
    caller.mkdir()
    monkeypatch.chdir(caller)
    given = {"labels_csv": "mine/labels.csv", "run_dir": "/abs/run"}
    ns = _namespace(**given)
    home = setup_chapter(ns, "02_abmil.ipynb", ["", PARAMETERS, _injected(**given), ""])
    assert home == ROOT / "notebooks" and Path.cwd() == home
    assert ns["labels_csv"] == str(caller / "mine" / "labels.csv")
    assert ns["run_dir"] == "/abs/run"
    assert Path(os.path.abspath(ns["cohort_dir"])) == ROOT / "data" / "cohort"   # not beside caller


def test_nothing_moves_without_papermill_or_inside_the_chapters_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)           # a copy of a chapter opened in Jupyter elsewhere
    monkeypatch.setattr(params, "_by_papermill", lambda: False)
    assert setup_chapter(_namespace(), "02_abmil.ipynb", ["", PARAMETERS, ""]) == tmp_path
    assert Path.cwd() == tmp_path
    monkeypatch.chdir(ROOT / "notebooks")  # Jupyter, nbval, run-notebooks and sweeps start here
    assert chapter_dir("02_abmil.ipynb") == ROOT / "notebooks"
    ns = _namespace(labels_csv="x.csv")
    setup_chapter(ns, "02_abmil.ipynb", ["", PARAMETERS, _injected(labels_csv="x.csv"), ""])
    assert Path.cwd() == ROOT / "notebooks" and ns["labels_csv"] == str(ROOT / "notebooks/x.csv")
    # papermill started without -p (no injected cell) from another folder still moves
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(params, "_by_papermill", lambda: True)
    assert setup_chapter(_namespace(), "02_abmil.ipynb", ["", PARAMETERS, ""]) == \
        ROOT / "notebooks"


def test_a_papermill_run_from_another_folder(tmp_path):
    """One cheap papermill run of a two-cell notebook, started in another folder."""
    pm = pytest.importorskip("papermill")
    nbformat = pytest.importorskip("nbformat")
    home, caller = tmp_path / "chapter", tmp_path / "caller"
    home.mkdir(), caller.mkdir()
    report = tmp_path / "report.json"
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language":
                                                           "python", "display_name": "Python 3"}})
    nb.cells = [
        nbformat.v4.new_code_cell('data_dir = "data"\nseeds = [0]\nlabel_map = None\n'
                                  'labels_csv = None\nreport = ""',
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import json, os\nfrom milhelpers import params\n"
            'params.setup_chapter(globals(), "fixture.ipynb")\n'
            "open(report, 'w').write(json.dumps({'cwd': os.getcwd(), 'seeds': seeds, "
            "'label_map': label_map, 'labels_csv': labels_csv, "
            "'data_dir': os.path.abspath(data_dir)}))"),
    ]
    nbformat.write(nb, home / "fixture.ipynb")
    env = {"PYTHONPATH": str(ROOT)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(str(home / "fixture.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"PAPERMILL_INPUT_PATH": str(home / "fixture.ipynb"),
                                        "seeds": "[1, 2]", "label_map": '{"a": 0, "b": 1}',
                                        "labels_csv": "my/labels.csv", "report": str(report)},
                            cwd=str(caller), kernel_name="python3", progress_bar=False)
        got = json.loads(report.read_text())
        assert got == {"cwd": str(home), "seeds": [1, 2], "label_map": {"a": 0, "b": 1},
                       "labels_csv": str(caller / "my" / "labels.csv"),
                       "data_dir": str(home / "data")}
        with pytest.raises(pm.PapermillExecutionError, match="parameter seed=3 is not a "
                           "parameter of fixture.ipynb; the closest is 'seeds'"):
            pm.execute_notebook(str(home / "fixture.ipynb"), str(tmp_path / "out2.ipynb"),
                                parameters={"seed": 3}, cwd=str(caller), kernel_name="python3",
                                progress_bar=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.parametrize("chapter", sorted(p.name for p in (ROOT / "notebooks").glob("0*.ipynb")))
def test_papermill_sees_every_parameter_the_chapter_declares(chapter):
    """papermill's own reading of the parameters cell (``papermill --help-notebook``) skips a
    line holding two "=" (a comment such as "(0 = off)") with a warning: every name the cell
    assigns must be one papermill lists."""
    import ast

    import papermill

    nb = json.loads((ROOT / "notebooks" / chapter).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    declared = [t.id for node in ast.parse("".join(cell["source"])).body
                if isinstance(node, ast.Assign) for t in node.targets]
    seen = papermill.inspect_notebook(str(ROOT / "notebooks" / chapter))
    assert declared and list(seen) == declared


# ---- round 9 (audit 10): papermill_cells by hand: which cell is declared, which injected ------
def test_r10_papermill_cells_needs_the_declared_cell_before_the_injected_one():
    """An injected cell with nothing before it has no declared cell to compare with: None, not
    the injected cell read as its own declaration (the `last == 0` guard dropped)."""
    assert papermill_cells(["# Parameters\nx = 1"]) is None
    assert papermill_cells(["", "  \n", "# Parameters\nx = 1"]) is None   # blanks are not cells


def test_r10_papermill_cells_pairs_the_last_injected_cell_with_the_cell_just_before_it():
    """Blank cells are skipped, the *last* ``# Parameters`` cell is the injected one, the cell
    right before it the declared one, and a bare ``# Parameters`` (nothing given) counts.
    Catches min for max, blanks kept as cells, cells[0] for cells[last - 1], the bare header
    or an indented header not recognised."""
    setup = "import numpy as np\nseed_all = 3\n"
    history = ["", setup, PARAMETERS, "   \n", _injected(epochs=2), "check cell"]
    declared, injected = papermill_cells(history)
    assert "epochs" in declared and "seed_all" not in declared      # the cell before, not cells[0]
    assert injected == {"epochs": 2}
    # a re-run kernel: two injected cells; the later pair (first injected -> second) is read
    declared, injected = papermill_cells([PARAMETERS, _injected(epochs=2), _injected(lam=0.5)])
    assert (declared, injected) == ({"epochs": 2}, {"lam": 0.5})
    # the header alone, no assignments after it: a papermill cell that injected nothing
    declared, injected = papermill_cells([setup, PARAMETERS, "# Parameters"])
    assert injected == {} and declared["seeds"] == [0]
    # leading whitespace before the header (a kernel that echoes the cell with a newline)
    declared, injected = papermill_cells([PARAMETERS, "\n# Parameters\nlam = 0.3\n"])
    assert injected == {"lam": 0.3} and declared["lam"] == 0.1
