"""Parameter sweeps of a notebook (``python -m milhelpers sweep``) and ``milhelpers.record``."""
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import milhelpers
from milhelpers import recording, sweep
from milhelpers.__main__ import main

pytest.importorskip("papermill")
REPO = Path(__file__).resolve().parents[1]


def _notebook(folder: Path, params: str, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# a throwaway notebook"), cell,
                nbformat.v4.new_code_cell(body)]
    path = folder / "toy.ipynb"
    nbformat.write(nb, str(path))
    return path


TOY_PARAMS = 'x = 1.0  # a number\nn = 3\nlabel = "a"'
TOY_BODY = ("import milhelpers\n"
            "if x < 0:\n"
            "    raise ValueError(f'negative x={x}')\n"
            "milhelpers.record(square=x * x, n_times_x=n * x)\n"
            "milhelpers.record(label_seen=label)")


def test_sweep_records_skips_redoes_and_survives_a_failing_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PYTHONPATH", str(REPO))           # the kernel imports this checkout
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    out = tmp_path / "sweep"

    # a bad name stops everything before any run, naming the valid parameters
    assert main(["sweep", str(nb), "-p", "x", "1", "-p", "lam", "0", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter lam" in err and "x, n, label" in err and not out.exists()

    # x=0.5 looks done already (same parameters and code) with a wrong result: --overwrite redoes it
    (out / "x=0.5").mkdir(parents=True)
    (out / "x=0.5" / "result.json").write_text(json.dumps(
        {"parameters": {"x": 0.5}, "code_hash": sweep._code_hash(nb), "results": {"square": -9.0}}))

    # two good values and one that makes the notebook raise: reported, the others complete
    assert main(["sweep", str(nb), "-p", "x", "2", "-1", "0.5", "--out", str(out),
                 "--overwrite"]) == 1
    cap = capsys.readouterr()
    failed_nb = out / "x=-1" / "notebook.ipynb"
    assert "x=-1: FAILED" in cap.err and "negative x=-1.0" in cap.err and str(failed_nb) in cap.err
    assert "2 run now, 0 skipped, 1 failed" in cap.out
    cells = nbformat.read(str(failed_nb), as_version=4).cells
    assert any(o.get("ename") == "ValueError" for c in cells for o in c.get("outputs", []))
    assert not (out / "x=-1" / "result.json").exists()       # so the next sweep tries it again
    # one row per value, in the order given, with what each run recorded
    table = pd.read_csv(out / "results.csv")
    assert table.x.tolist() == [2.0, -1.0, 0.5] and table.status.tolist() == ["ok", "failed", "ok"]
    assert table.square.tolist()[::2] == [4.0, 0.25] and table.n_times_x.tolist()[::2] == [6.0, 1.5]
    assert np.isnan(table.square[1]) and "negative x" in table.error[1]
    assert table.label_seen.tolist()[::2] == ["a", "a"]      # two record() calls merged
    assert table.notebook[0] == "x=2/notebook.ipynb"
    assert (out / "results.png").stat().st_size > 0
    saved = json.loads((out / "x=2" / "result.json").read_text())
    assert saved["parameters"] == {"x": 2.0} and saved["results"]["square"] == 4.0
    assert not list(out.rglob("*.part*")) and not list(out.rglob(".record.json"))
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.ipynb")}

    # a two-value rerun skips both: nothing is executed again
    assert main(["sweep", str(nb), "-p", "x", "2", "0.5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("skipped") == 3 and "0 run now, 2 skipped, 0 failed" in text  # 2 + summary
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.ipynb")} == mtimes
    table = pd.read_csv(out / "results.csv")
    assert table.x.tolist() == [2.0, 0.5] and table.square.tolist() == [4.0, 0.25]
    assert table.status.tolist() == ["skipped", "skipped"]


def test_values_take_the_type_of_the_default():
    p = sweep.parse_value
    assert p("flag", "true", False) is True and p("flag", "0", True) is False
    assert p("n", "4", 3) == 4 and isinstance(p("n", "4", 3), int)
    assert p("lam", "1", 0.1) == 1.0 and isinstance(p("lam", "1", 0.1), float)
    assert p("name", "0.5", "a") == "0.5"
    assert p("seeds", "[0, 1]", [0]) == [0, 1]
    assert p("dir", "0.5", None) == 0.5 and p("dir", "/my/slides", None) == "/my/slides"
    for name, text, default, why in [("flag", "maybe", False, "not a bool"),
                                     ("n", "0.5", 3, "not a whole number"),
                                     ("lam", "big", 0.1, "not a number"),
                                     ("seeds", "3", [0], "not a list")]:
        with pytest.raises(ValueError, match=f"parameter {name}: .*{why}"):
            p(name, text, default)


def test_parameters_cell_and_grid(tmp_path):
    nb = _notebook(tmp_path, 'from pathlib import Path\nlam: float = 0.1\nseeds = [\n  0,\n  1]\n'
                             'root = Path("data")\nlam2 = lam * 2', "pass")
    params = sweep.notebook_parameters(nb)
    assert params == {"lam": 0.1, "seeds": [0, 1], "root": sweep.NO_DEFAULT,
                      "lam2": sweep.NO_DEFAULT}
    grid = sweep.sweep_grid(nb, [("lam", ["0", "0.0", "1"]), ("seeds", ["[0]", "[1, 2]"])])
    assert grid == [{"lam": 0.0, "seeds": [0]}, {"lam": 0.0, "seeds": [1, 2]},
                    {"lam": 1.0, "seeds": [0]}, {"lam": 1.0, "seeds": [1, 2]}]
    with pytest.raises(ValueError, match="lam given more than once"):
        sweep.sweep_grid(nb, [("lam", ["0"]), ("lam", ["1"])])
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        sweep.notebook_parameters(_untagged(tmp_path))
    assert sweep.run_name({"lam": 1e-05, "seeds": [1, 2]}) == "lam=1e-05,seeds=[1,2]"
    assert sweep.run_name({"lam": 0.1, "name": "a b/c"}) == "lam=0.1,name=a_b_c"


def _untagged(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    path = folder / "untagged.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_record_is_silent_outside_a_sweep_and_merges_inside(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(recording.RECORD_ENV, raising=False)
    assert milhelpers.record(auc=0.9) is None and capsys.readouterr() == ("", "")
    assert not list(tmp_path.iterdir())
    with pytest.raises(TypeError, match=r"record\(model=...\)"):
        milhelpers.record(model=object())                  # caught while writing the notebook
    target = tmp_path / "run" / "rec.json"
    monkeypatch.setenv(recording.RECORD_ENV, str(target))
    milhelpers.record(auc=np.float32(0.5), n=np.int64(3), curve=[np.float64(1.5), 2])
    milhelpers.record(auc=0.75, ok=np.bool_(True))
    assert json.loads(target.read_text()) == {"auc": 0.75, "n": 3, "curve": [1.5, 2], "ok": True}
    assert capsys.readouterr() == ("", "")
    monkeypatch.setenv(recording.RUN_DIR_ENV, str(tmp_path / "run"))
    assert recording.sweep_run_dir("out/04") == tmp_path / "run"
    monkeypatch.delenv(recording.RUN_DIR_ENV)
    assert recording.sweep_run_dir("out/04") == Path("out/04")


def test_plot_results_puts_a_lambda_axis_with_zero_on_symlog():
    table = pd.DataFrame({"lam": [0.0, 0.001, 0.1, 1.0], "auc": [0.8, 0.82, 0.85, 0.7],
                          "note": ["a", "b", "c", "d"], "status": ["ok", "ok", "skipped", "failed"],
                          "seconds": [1.0, 1, 1, 1]})
    fig = sweep.plot_results(table, ["lam"])
    (ax,) = fig.axes                       # one numeric result: auc (seconds is not a result)
    assert ax.get_xscale() == "symlog" and ax.get_ylabel() == "auc" and ax.get_xlabel() == "lam"
    assert ax.lines[0].get_xdata().tolist() == [0.0, 0.001, 0.1]   # the failed run is not drawn
    assert sweep.plot_results(table[["lam", "note", "status"]], ["lam"]) is None
    grid = pd.DataFrame({"lam": [0.1, 1.0, 0.1, 1.0], "norm": ["none", "none", "log_n", "log_n"],
                         "auc": [0.8, 0.7, 0.85, 0.9], "status": ["ok"] * 4})
    (ax,) = sweep.plot_results(grid, ["norm", "lam"]).axes   # numeric x, one line per norm
    assert ax.get_xlabel() == "lam" and len(ax.lines) == 2 and ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["norm=none", "norm=log_n"]
