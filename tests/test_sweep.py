"""Parameter sweeps of a notebook (``python -m milhelpers sweep``) and ``milhelpers.record``.

Every sweep here runs a throwaway notebook of two code cells on a real Dask cluster (the sweep's
only engine): kernels start in about a second each, so the whole file takes well under a minute.
"""
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from PIL import Image
from scipy import stats

import milhelpers
from milhelpers import cluster, recording, sweep
from milhelpers.__main__ import main

pytest.importorskip("papermill")
REPO = Path(__file__).resolve().parents[1]


def _notebook(folder: Path, params: str, body: str, name: str = "toy.ipynb",
              markdown: str = "# a throwaway notebook") -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), cell, nbformat.v4.new_code_cell(body)]
    path = folder / name
    nbformat.write(nb, str(path))
    return path


TOY_PARAMS = 'x = 1.0  # a number\nn = 3\nlabel = "a"'
# ``nonce`` tells a run done now from a run reused: it differs every time the notebook runs
TOY_BODY = ("import os, uuid, milhelpers\n"
            "from milhelpers.recording import sweep_run_dir\n"
            "if x < 0:\n"
            "    raise ValueError(f'negative x={x}')\n"
            "milhelpers.record(square=x * x, n_times_x=n * x)\n"
            "milhelpers.record(label_seen=label, nonce=uuid.uuid4().hex,\n"
            "                  beside_notebook=os.path.isfile('toy.ipynb'),\n"
            "                  run_dir=str(sweep_run_dir('not in a sweep')))")


@pytest.fixture(scope="module")
def dask_client():
    """Two worker processes of two threads each: runs go to different processes *and* share
    one process, so anything a run sets process-wide (environment, folder) would leak."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(REPO))               # the kernels import this checkout
        with cluster.session("local:2", threads_per_worker=2) as client:
            yield client


@pytest.fixture
def kernels_see_repo(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))


def _sweep(nb, out, client, **grid_texts):
    grid = sweep.sweep_grid(nb, list(grid_texts.items()))
    return sweep.run_sweep(nb, grid, out, client=client)


def _by_name(res):
    return {r.name: r for r in res.runs}


def test_sweep_records_skips_redoes_and_survives_a_failing_run(tmp_path, kernels_see_repo,
                                                               capfd, dask_client):
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    out = tmp_path / "sweep"

    # a bad name stops everything before any run, naming the valid parameters
    assert main(["sweep", str(nb), "-p", "x", "1", "-p", "lam", "0", "1", "--out", str(out)]) == 2
    err = capfd.readouterr().err
    assert "unknown parameter lam" in err and "x, n, label" in err and not out.exists()
    # so does a --scheduler that is not one, even when nothing would have to run
    assert main(["sweep", str(nb), "-p", "x", "1", "--out", str(out),
                 "--scheduler", "local:0"]) == 2
    err = capfd.readouterr().err
    assert "--scheduler 'local:0'" in err and "Traceback" not in err and not out.exists()

    # x=0.5 looks done already (same key) with a wrong result: --overwrite redoes it
    (out / "x=0.5").mkdir(parents=True)
    (out / "x=0.5" / "result.json").write_text(json.dumps(
        {"parameters": {"x": 0.5}, "code_hash": sweep._code_hash(nb),
         "package_hash": sweep._package_hash(), "results": {"square": -9.0}}))

    # two good values and one that makes the notebook raise: reported, the others complete;
    # one worker (local:1): the serial reference for the two-process run below
    assert main(["sweep", str(nb), "-p", "x", "2", "-1", "0.5", "--out", str(out),
                 "--overwrite", "--scheduler", "local:1"]) == 1
    cap = capfd.readouterr()
    failed_nb = out / "x=-1" / "notebook.ipynb"
    assert "x=-1: FAILED" in cap.err and "negative x=-1.0" in cap.err and str(failed_nb) in cap.err
    assert "2 run now, 0 skipped, 1 failed" in cap.out
    # no kernel noise: the failure line is all that reaches stderr
    assert [line for line in cap.err.splitlines() if line] == \
        [line for line in cap.err.splitlines() if line.startswith("x=-1: FAILED")]
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
    with Image.open(out / "results.png") as png:
        assert min(png.info["dpi"]) >= 100
    saved = json.loads((out / "x=2" / "result.json").read_text())
    assert saved["parameters"] == {"x": 2.0} and saved["results"]["square"] == 4.0
    # each kernel ran in the notebook's folder and was told its own run folder
    assert table.beside_notebook.tolist()[::2] == [True, True]
    assert table.run_dir.tolist()[::2] == [str((out / "x=2").resolve()),
                                           str((out / "x=0.5").resolve())]
    assert not list(out.rglob("*.part*")) and not list(out.rglob(".record.json"))
    assert not list(out.rglob("*.log"))                       # finished runs keep no kernel log
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.ipynb")}

    # a two-value rerun skips both: nothing is executed again (no cluster is even started)
    assert main(["sweep", str(nb), "-p", "x", "2", "0.5", "--out", str(out)]) == 0
    text = capfd.readouterr().out
    assert text.count("skipped") == 3 and "0 run now, 2 skipped, 0 failed" in text  # 2 + summary
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.ipynb")} == mtimes
    table = pd.read_csv(out / "results.csv")
    # the failed x=-1 is no finished run: it is not kept; the two asked for are reused
    assert table.x.tolist() == [2.0, 0.5] and table.square.tolist() == [4.0, 0.25]
    assert table.status.tolist() == ["skipped", "skipped"]

    # two worker processes (two threads each) give the serial run's table, row for row
    differ = ["seconds", "nonce", "status", "run_dir"]          # by nature
    serial = pd.read_csv(out / "results.csv").drop(columns=differ)
    par = tmp_path / "parallel"
    res = _sweep(nb, par, dask_client, x=["2", "0.5"])
    parallel = pd.read_csv(par / "results.csv")
    assert parallel.status.tolist() == ["ok", "ok"]
    pd.testing.assert_frame_equal(parallel.drop(columns=differ), serial)
    assert parallel.run_dir.tolist() == [str((par / n).resolve()) for n in ("x=2", "x=0.5")]
    assert {r.results["nonce"] for r in res.runs}.isdisjoint(set(table.nonce))  # really run again


def test_every_field_of_the_cache_key_is_compared(tmp_path, dask_client):
    """Change one stored field of a finished run's key → that run is done again; change a field
    that is not in the key, or nothing → it is reused."""
    assert sweep.KEY_FIELDS == ("parameters", "code_hash", "package_hash")   # all tested below
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    out = tmp_path / "sweep"
    first = _by_name(_sweep(nb, out, dask_client, x=["1", "2", "3", "4", "5"]))
    assert {r.status for r in first.values()} == {"ok"}
    changes = {"x=1": ("code_hash", "0" * 64), "x=2": ("package_hash", "0" * 64),
               "x=3": ("parameters", {"x": 3.5}),        # another value, same folder name
               "x=4": ("notebook", "moved/toy.ipynb"),   # not in the key: a moved notebook
               "x=5": None}                              # nothing changed
    for name, change in changes.items():
        if change:
            path = out / name / "result.json"
            saved = json.loads(path.read_text())
            assert change[0] in saved
            saved[change[0]] = change[1]
            path.write_text(json.dumps(saved))
    again = _by_name(_sweep(nb, out, dask_client, x=["1", "2", "3", "4", "5"]))
    for name, change in changes.items():
        redone = change is not None and change[0] in sweep.KEY_FIELDS
        assert again[name].status == ("ok" if redone else "skipped"), (name, change)
        same_nonce = again[name].results["nonce"] == first[name].results["nonce"]
        assert same_nonce != redone, (name, change)


def test_real_edits_recompute_and_cosmetic_ones_do_not(tmp_path, dask_client):
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    out = tmp_path / "sweep"
    first = _by_name(_sweep(nb, out, dask_client, x=["2"]))["x=2"]
    assert first.results["n_times_x"] == 6.0

    # markdown and outputs are not code: reused
    _notebook(tmp_path, TOY_PARAMS, TOY_BODY, markdown="# reworded")
    edited = nbformat.read(str(nb), as_version=4)
    edited.cells[2].outputs = [nbformat.v4.new_output("stream", text="old output\n")]
    nbformat.write(edited, str(nb))
    assert _by_name(_sweep(nb, out, dask_client, x=["2"]))["x=2"].status == "skipped"

    # a default of a parameter that is not swept (n = 3 → 4) is code: the same folder recomputes
    _notebook(tmp_path, TOY_PARAMS.replace("n = 3", "n = 4"), TOY_BODY)
    run = _by_name(_sweep(nb, out, dask_client, x=["2"]))["x=2"]
    assert run.status == "ok" and run.results["n_times_x"] == 8.0
    # so is an edit of the last cell
    _notebook(tmp_path, TOY_PARAMS.replace("n = 3", "n = 4"),
              TOY_BODY.replace("n_times_x=n * x", "n_times_x=n * x + 1"))
    run = _by_name(_sweep(nb, out, dask_client, x=["2"]))["x=2"]
    assert run.status == "ok" and run.results["n_times_x"] == 9.0

    # two values whose folder names collide ("a b", "a_b" → label=a_b): each one is run, never
    # the other's result reused
    runs = [_by_name(_sweep(nb, out, dask_client, label=[v]))["label=a_b"] for v in ("a b", "a_b")]
    assert [r.status for r in runs] == ["ok", "ok"]
    assert [r.results["label_seen"] for r in runs] == ["a b", "a_b"]


def test_package_hash_follows_every_source_file(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "models").mkdir(parents=True)
    (pkg / "a.py").write_text("A = 1\n")
    (pkg / "models" / "b.py").write_text("B = 1\n")
    (pkg / "notes.txt").write_text("not code")
    h0 = sweep._package_hash(pkg)
    assert sweep._package_hash(pkg) == h0
    (pkg / "notes.txt").write_text("edited")                # not a source file
    assert sweep._package_hash(pkg) == h0
    (pkg / "models" / "b.py").write_text("B = 2\n")           # a nested module is followed
    h1 = sweep._package_hash(pkg)
    assert h1 != h0
    (pkg / "c.py").write_text("")                             # a new (even empty) module
    assert sweep._package_hash(pkg) not in (h0, h1)
    assert sweep._package_hash() == sweep._package_hash(Path(sweep.__file__).parent)


def test_results_csv_keeps_every_finished_run(tmp_path, dask_client):
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    out = tmp_path / "sweep"
    _sweep(nb, out, dask_client, x=["1", "2"])
    # one value changes (2 → 3): x=2's folder remains, so does its row, from its own result
    res = _sweep(nb, out, dask_client, x=["1", "3"])
    table = pd.read_csv(out / "results.csv")
    assert table.x.tolist() == [1.0, 3.0, 2.0]
    assert table.status.tolist() == ["skipped", "ok", "earlier"]
    assert table.square.tolist() == [1.0, 9.0, 4.0] and table.notebook[2] == "x=2/notebook.ipynb"
    assert [r.name for r in res.earlier] == ["x=2"]
    assert res.figure_path is not None
    ax = sweep.sweep_figure(table, ["x"]).axes[0]
    assert ax.get_ylabel() == "square"
    assert ax.lines[0].get_xdata().tolist() == [1.0, 2.0, 3.0]   # the earlier run is drawn

    # a sweep over another name: earlier rows get the default they ran with (n = 3)
    _sweep(nb, out, dask_client, x=["1"], n=["5"])
    table = pd.read_csv(out / "results.csv")
    assert list(table.columns[:2]) == ["x", "n"]
    rows = {r.notebook.split("/")[0]: r for r in table.itertuples()}
    assert rows["x=1,n=5"].n == 5 and rows["x=1,n=5"].status == "ok"
    assert rows["x=2"].n == 3 and rows["x=3"].n == 3 and rows["x=1"].n == 3

    # a removed folder leaves the table; a run of other code stays, marked stale, not drawn
    shutil.rmtree(out / "x=3")
    _notebook(tmp_path, TOY_PARAMS, TOY_BODY + "\n# edited")
    _sweep(nb, out, dask_client, x=["1"])
    table = pd.read_csv(out / "results.csv")
    status = dict(zip(table.notebook.str.split("/").str[0], table.status))
    assert status == {"x=1": "ok", "x=1,n=5": "stale", "x=2": "stale"}
    assert np.isnan(table.n[table.notebook == "x=2/notebook.ipynb"]).all()  # not guessed: old code
    assert sweep.sweep_figure(table, ["x", "n"]).axes == []   # one current run: text only


def test_a_killed_sweeps_leftovers_are_cleaned_and_other_folders_kept(tmp_path, dask_client):
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    out = tmp_path / "sweep"
    _sweep(nb, out, dask_client, x=["1"])
    done = (out / "x=1" / "result.json").read_text()
    leftovers = [out / "x=9" / ".notebook.part.ipynb", out / "x=9" / ".kernel.log",
                 out / "x=9" / ".record.json", out / "x=8" / ".record.json.k2j3.part",
                 out / "x=1" / ".notebook.part.ipynb", out / "x=1" / ".result.json.ab12.part",
                 out / ".results.csv.x1y2.part", out / ".results.png.x1y2.part"]
    for path in leftovers:
        path.parent.mkdir(exist_ok=True)
        path.write_text("partial")
    (out / "notes").mkdir()                                  # not a run: kept even when empty
    (out / "x=7").mkdir()
    (out / "x=7" / "notebook.ipynb").write_text("{}")        # a failed run's notebook: kept
    res = _sweep(nb, out, dask_client, x=["1"])
    assert res.runs[0].status == "skipped"                   # nothing had to run
    assert not [p for p in leftovers if p.exists()]
    assert not (out / "x=9").exists() and not (out / "x=8").exists()
    assert (out / "notes").is_dir() and (out / "x=7" / "notebook.ipynb").exists()
    assert (out / "x=1" / "result.json").read_text() == done


def test_a_second_sweep_into_the_same_folder_is_refused_at_once(tmp_path):
    """A sweep started (in another process, as a second `make sweep` is) while one holds the
    folder's lock refuses at once, and leaves the running sweep's files alone; one that waited
    for the lock would hang here, and the time limit makes that a failure, not a stuck test."""
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "x=1").mkdir()
    (out / "x=1" / ".notebook.part.ipynb").write_text("the running sweep's")
    code = ("from milhelpers import sweep\n"
            f"sweep.run_sweep({str(nb)!r}, [{{'x': 1.0}}], {str(out)!r})")
    with sweep._output_lock(out):
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail("a second sweep waited for the lock instead of refusing")
    assert proc.returncode != 0
    assert f"another sweep is writing to {out}" in proc.stderr
    assert (out / "x=1" / ".notebook.part.ipynb").read_text() == "the running sweep's"


def test_ctrl_c_prints_one_line_exits_130_and_the_rerun_resumes(tmp_path, kernels_see_repo,
                                                                dask_client):
    """Ctrl-C in a terminal reaches the whole foreground process group: the command, the Dask
    workers and the kernels."""
    started = tmp_path / "started"
    started.mkdir()
    # each kernel says when it is in the cell: a SIGINT that reaches a kernel still starting up
    # is ignored (ipykernel interrupts only a running cell), and that kernel would sleep on
    nb = _notebook(tmp_path, "x = 1.0", "import pathlib, time, milhelpers\n"
                   f"pathlib.Path(r'{started}', str(x)).touch()\n"
                   "time.sleep(600)\nmilhelpers.record(y=x)")
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "milhelpers", "sweep", str(nb), "-p", "x", "1", "2", "3",
           "--out", str(out), "--scheduler", "local:2"]
    # a terminal's foreground job: SIGINT at its default, even where pytest itself was started
    # in the background of a script (which ignores SIGINT, and Python then never raises
    # KeyboardInterrupt)
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # a generous wait: on a loaded machine two workers and two kernels take a while to start
        deadline = time.monotonic() + 300
        while len(list(started.iterdir())) < 2:     # both workers' kernels in the cell
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    # one line (after a newline that ends any progress bar), no worker tracebacks
    assert stderr.lstrip("\n") == "interrupted; rerun the same command to resume\n"
    assert "swept" not in stdout and not (out / "results.csv").exists()
    # the rerun cleans what the killed runs left and does them; here they finish quickly
    _notebook(tmp_path, "x = 1.0", "import milhelpers\nmilhelpers.record(y=x)")
    res = _sweep(nb, out, dask_client, x=["1", "2", "3"])
    assert [r.status for r in res.runs] == ["ok"] * 3
    assert pd.read_csv(out / "results.csv").y.tolist() == [1.0, 2.0, 3.0]
    assert not list(out.rglob(".*.part*")) and not list(out.rglob(".kernel.log"))


def test_a_failing_task_is_reported_as_it_ends_and_the_others_finish(dask_client):
    """What the sweep's reports rest on: run_tasks calls back each success and each failure
    (a task that raised, a dead worker) by item, and the others go on."""
    import functools
    import operator

    seen = {}
    cluster.run_tasks(functools.partial(operator.truediv, 1), [2, 0, 4], keys=["a", "zero", "c"],
                      client=dask_client, progress=False, echo=None, expected=(),
                      on_result=lambda k, v: seen.setdefault(k, v),
                      on_failure=lambda k, msg, err: seen.setdefault(k, (msg, err)))
    assert seen["a"] == 0.5 and seen["c"] == 0.25
    assert seen["zero"][0].startswith("ZeroDivisionError") and isinstance(seen["zero"][1],
                                                                          ZeroDivisionError)


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


def test_long_run_names_stay_unique_when_they_differ_after_the_cut():
    """Names over 120 characters are cut to 100 plus a hash of the *whole* name, so two runs
    whose parameters differ only past character 100 still get different folders. Catches the
    hash taken of the cut text (both runs then share a folder and one reuses the other's
    results)."""
    a = sweep.run_name({"lst": list(range(60)) + [1]})
    b = sweep.run_name({"lst": list(range(60)) + [2]})
    assert len(a) == len(b) == 113 and a[:100] == b[:100]
    assert a != b


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


# --------------------------------------------------------------------------------------------
# the figure (artists inspected, not pixels)
# --------------------------------------------------------------------------------------------
def test_figure_puts_a_lambda_axis_with_zero_on_symlog_and_skips_failed_runs():
    table = pd.DataFrame({"lam": [0.0, 0.001, 0.1, 1.0, 0.5], "auc": [0.8, 0.82, 0.85, 0.7, 0.6],
                          "note": ["a", "b", "c", "d", "e"],
                          "status": ["ok", "ok", "skipped", "failed", "stale"],
                          "seconds": [1.0, 1, 1, 1, 1]})
    fig = sweep.sweep_figure(table, ["lam"])
    (ax,) = fig.axes                       # one numeric result: auc (seconds is not a result)
    assert ax.get_xscale() == "symlog" and ax.get_ylabel() == "auc" and ax.get_xlabel() == "lam"
    # failed and stale runs are not drawn
    assert ax.lines[0].get_xdata().tolist() == [0.0, 0.001, 0.1]
    assert ax.get_legend() is not None
    assert sweep.sweep_figure(table[["lam", "note", "status"]], ["lam"]) is None
    grid = pd.DataFrame({"lam": [0.1, 1.0, 0.1, 1.0], "norm": ["none", "none", "log_n", "log_n"],
                         "auc": [0.8, 0.7, 0.85, 0.9], "status": ["ok"] * 4})
    (ax,) = sweep.sweep_figure(grid, ["norm", "lam"]).axes   # numeric x, one line per norm
    assert ax.get_xlabel() == "lam" and len(ax.lines) == 2 and ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["norm=none", "norm=log_n"]


def test_figure_averages_repeated_runs_with_t_intervals():
    # three seeds at λ = 0 and 1, two at λ = 10 (one run failed); asymmetric values
    lam = [0.0] * 3 + [1.0] * 3 + [10.0] * 2
    seed = [0, 1, 2, 0, 1, 2, 0, 2]
    auc = [0.70, 0.74, 0.78, 0.80, 0.81, 0.86, 0.60, 0.66]
    table = pd.DataFrame({"lam": lam, "seed": seed, "auc": auc, "status": ["ok"] * 8})
    assert sweep.repeat_parameters(["lam", "seed", "init_seed", "seeds", "folds"]) == \
        ["seed", "init_seed", "seeds"]
    (ax,) = sweep.sweep_figure(table, ["lam", "seed"]).axes
    assert ax.get_xlabel() == "lam"                          # seeds are no axis
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    line, _, (segments,) = bars
    assert line.get_xdata().tolist() == [0.0, 1.0, 10.0]
    expected_mean = [np.mean(auc[:3]), np.mean(auc[3:6]), np.mean(auc[6:])]
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), expected_mean)
    half = [stats.t.ppf(0.975, n - 1) * np.std(v, ddof=1) / np.sqrt(n)
            for v, n in [(auc[:3], 3), (auc[3:6], 3), (auc[6:], 2)]]
    for seg, m, h in zip(segments.get_segments(), expected_mean, half):
        np.testing.assert_allclose(sorted(seg[:, 1]), [m - h, m + h])
    dots = [c for c in ax.collections if c.get_offsets().shape == (8, 2)]
    assert len(dots) == 1                                    # every single run is drawn too
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["single runs", "mean ± 95 % CI over seed"]
    # without repeats: no error bars, one plain line
    (ax,) = sweep.sweep_figure(table[table.seed == 0], ["lam", "seed"]).axes
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_figure_does_not_magnify_noise_and_writes_constants_as_text():
    table = pd.DataFrame({"lam": [0.0, 0.1, 1.0], "auc": [0.8000, 0.8002, 0.8001],
                          "auc_minus_base": [0.001, -0.002, 0.0005], "entropy": [40.0, 41.0, 39.5],
                          "loc_auc": [0.5, 0.6, 0.9], "n_slides": [120, 120, 120],
                          "base_auc": [0.75, 0.75, 0.75], "status": ["ok"] * 3})
    fig = sweep.sweep_figure(table, ["lam"])
    axes = {ax.get_ylabel(): ax for ax in fig.axes}
    assert set(axes) == {"auc", "auc_minus_base", "entropy", "loc_auc"}   # constants: no panels
    # differences around 0 on a scale of 1: the floor is absolute (0.05), not 5 % of 0.002
    lo, hi = axes["auc_minus_base"].get_ylim()
    assert hi - lo >= 0.05 and lo < -0.002 and hi > 0.001
    # above 1 it is relative: 5 % of 41 is 2.05 > the 1.5 spread
    lo, hi = axes["entropy"].get_ylim()
    assert 2.05 <= hi - lo < 2.5 and any("all within 1.5" == t.get_text()
                                          for t in axes["entropy"].texts)
    title = fig._suptitle.get_text()
    assert "n_slides = 120" in title and "base_auc = 0.75" in title
    lo, hi = axes["auc"].get_ylim()
    assert hi - lo >= 0.05 * 0.8002                          # a 0.0002 spread looks flat
    assert lo < 0.8 and hi > 0.8002
    assert any(t.get_text() == "all within 0.0002" for t in axes["auc"].texts)
    lo, hi = axes["loc_auc"].get_ylim()                      # a real spread is not padded
    assert hi - lo < 0.6 and not axes["loc_auc"].texts
    # only constants: a figure of text
    fig = sweep.sweep_figure(table[["lam", "n_slides", "status"]], ["lam"])
    assert fig.axes == [] and "n_slides = 120" in fig._suptitle.get_text()


def test_run_name_keeps_floats_that_six_digits_would_merge_apart():
    """%g keeps 6 significant digits: 0.1234567 and 0.1234568 both print 0.123457, so the name
    falls back to repr for them; short values stay short. Catches ``return short`` (collision)."""
    a, b = sweep.run_name({"lam": 0.1234567}), sweep.run_name({"lam": 0.1234568})
    assert a != b
    assert a == "lam=0.1234567" and b == "lam=0.1234568"
    assert sweep.run_name({"lam": 0.1}) == "lam=0.1"


# ---- round 6: the table, the figure's runs, the cores per host, and bool spellings -------------
def test_every_bool_spelling_parses_and_others_are_refused():
    p = sweep.parse_value
    for text in ("true", "True", "1", "yes", "YES", "on"):
        assert p("flag", text, False) is True
    for text in ("false", "0", "no", "off", "Off"):
        assert p("flag", text, True) is False
    with pytest.raises(ValueError, match="not a bool"):
        p("flag", "2", True)


def test_results_table_renames_only_results_named_like_a_parameter(tmp_path):
    runs = [sweep.SweepRun({"lam": 0.1}, tmp_path / "lam=0.1", "ok",
                           {"auc": 0.9, "lam": 5, "curve": [1, 2]}, 2.0),
            sweep.SweepRun({"seed": 1}, tmp_path / "seed=1", "earlier", {"auc": 0.7}, 1.0),
            sweep.SweepRun({"seed": 2}, tmp_path / "seed=2", "stale", {"auc": 0.5}, 1.0)]
    t = sweep.results_table(runs, tmp_path, {"lam": 0.0, "seed": 0})
    assert list(t.columns[:2]) == ["lam", "seed"]
    assert "lam_result" in t and "auc" in t and "auc_result" not in t and "curve" in t
    assert t.lam_result.tolist()[0] == 5 and t.curve.tolist()[0] == "[1, 2]"
    # a run of the current code is filled with the default it ran with; a stale one is not
    assert t.seed.tolist()[0] == 0 and t.lam.tolist()[1] == 0.0 and pd.isna(t.lam.tolist()[2])
    assert t.notebook.tolist()[0] == str(Path("lam=0.1") / "notebook.ipynb")


def test_repeat_parameters_are_the_seed_like_names():
    assert sweep.repeat_parameters(["lam", "seed", "data_seed", "seed_shift", "Seeds", "rep",
                                    "reps"]) == ["seed", "data_seed", "Seeds", "rep"]


def test_slots_add_up_the_threads_of_every_worker_on_a_host():
    class Client:
        def scheduler_info(self):
            return {"workers": {"tcp://10.0.0.1:4001": {"nthreads": 2},
                                "tcp://10.0.0.1:4002": {"nthreads": 3},
                                "tcp://10.0.0.2:4001": {}}}
    assert sweep._slots_by_host(Client()) == {"10.0.0.1": 5, "10.0.0.2": 1}


def test_the_figure_draws_earlier_runs_of_the_current_code_but_not_stale_or_failed():
    t = pd.DataFrame({"lam": [0.0, 1.0], "auc": [0.6, 0.8], "status": ["earlier", "earlier"]})
    assert sweep.sweep_figure(t, ["lam"]) is not None
    for status in ("stale", "failed"):
        assert sweep.sweep_figure(t.assign(status=status), ["lam"]) is None
    assert sweep.sweep_figure(t.assign(status=["ok", "skipped"]), ["lam"]) is not None


def test_parameters_are_top_level_names_with_a_value(tmp_path):
    nb = _notebook(tmp_path, "a: int\nb, c = 1, 2\nd = 3\nx = {}\nx.y = 4\ne: float = 0.5", "pass")
    assert sweep.notebook_parameters(nb) == {"d": 3, "x": {}, "e": 0.5}


def test_run_names_replace_unsafe_characters_and_keep_small_and_infinite_floats():
    assert sweep.run_name({"path": "a/b c", "lam": 1e-7, "x": float("inf"), "ok": True}) == \
        "path=a_b_c,lam=1e-07,x=inf,ok=True"
    assert sweep.run_name({"seeds": [0, 1]}) == "seeds=[0,1]"


def test_done_before_and_earlier_runs_read_result_files_by_hand(tmp_path):
    from milhelpers._sweep_worker import RESULT_FILE

    code = {"code_hash": "c1", "package_hash": "p1"}
    key = {"notebook": "nb", **code, "parameters": {"lam": 1}}

    def write(name, saved):
        (tmp_path / name).mkdir()
        (tmp_path / name / RESULT_FILE).write_text(json.dumps(saved))
        return tmp_path / name

    run = sweep.SweepRun({"lam": 1}, write("lam=1", {**key, "results": {"auc": 0.8},
                                                      "seconds": 3.5}))
    assert sweep._done_before(run, key)
    assert (run.status, run.results, run.seconds) == ("skipped", {"auc": 0.8}, 3.5)
    for field in sweep.KEY_FIELDS:       # any one field differing: not done
        other = sweep.SweepRun({"lam": 1}, run.dir)
        assert not sweep._done_before(other, {**key, field: "changed"})
        assert other.status == "pending"
    write("lam=2", {**key, "parameters": {"lam": 2}, "results": {"auc": 0.6}, "seconds": 1})
    write("lam=3", {**key, "parameters": {"lam": 3}, "package_hash": "p0", "results": {}})
    write("lam=4", [1, 2])                                   # not a record: ignored
    write("notes", {"results": {}})                          # no parameters: ignored
    earlier = sweep._earlier_runs(tmp_path, {run.dir}, code)
    assert [(r.name, r.status, r.results) for r in earlier] == [
        ("lam=2", "earlier", {"auc": 0.6}), ("lam=3", "stale", {})]
    assert earlier[0].seconds == 1 and math.isnan(earlier[1].seconds)


# --- round 7: the run-name cut at exactly its bound -------------------------------------------
@pytest.mark.parametrize("length, cut", [(120, False), (121, True)])
def test_a_run_name_of_exactly_120_characters_is_kept_whole(length, cut):
    """Names *over* 120 characters are cut to 100 plus '-' and a 12-digit hash (113 in all);
    exactly 120 stay readable. Catches `len > 120` made `>=` (a 120-character name hashed)."""
    params = {"n": "x" * (length - 2)}                       # "n=" + value
    name = sweep.run_name(params)
    assert len(",".join(f"{k}={v}" for k, v in params.items())) == length
    assert (name != "n=" + "x" * (length - 2)) is cut and len(name) == (113 if cut else length)


# --- round 9: every name-uniqueness rule of a sweep, on both sides ----------------------------
class _Cluster(Exception):
    """Raised by a client that must not be reached: the runs were handed to the cluster."""


class _NoClient:
    def __getattr__(self, name):
        raise _Cluster(f"client.{name} used")


@pytest.mark.parametrize("labels, folder", [
    (["a b", "a_b"], "label=a_b"),                 # two runs, one folder
    (["a/b", "c", "a_b"], "label=a_b"),            # the clash need not be neighbours
    (["x y", "z", "x?y", "q", "x_y"], "label=x_y"),  # three runs in one folder
])
def test_r9_runs_that_would_share_a_folder_are_refused_before_anything_is_written(
        tmp_path, labels, folder):
    """Values differing only in characters unsafe in file names map to one run folder; one run
    would overwrite the other's results. Catches the check letting one clash through, or
    comparing neighbours only: the sweep then reaches the cluster and writes ``out``."""
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    out = tmp_path / "sweep"
    with pytest.raises(ValueError, match=rf"several runs would share the folder '{folder}': "
                       "make the values differ in more than punctuation"):
        sweep.run_sweep(nb, [{"label": v} for v in labels], out, client=_NoClient())
    assert not out.exists()


def test_r9_values_that_keep_distinct_folders_reach_the_cluster(tmp_path):
    """'-', '+', '.', ',' and brackets are kept in folder names, so 'a-b' and 'a_b', or 1e+20
    and 1e-20, stay distinct runs: they pass the clash check and go to the cluster. Catches
    any of them turned into '_' (two runs in one folder)."""
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    grid = [{"label": "a-b"}, {"label": "a_b"}, {"label": "[a,b]"}, {"label": "a.b"},
            {"x": 1e20}, {"x": 1e-20}]
    assert [sweep.run_name(p) for p in grid] == [
        "label=a-b", "label=a_b", "label=[a,b]", "label=a.b", "x=1e+20", "x=1e-20"]
    with pytest.raises(_Cluster):
        sweep.run_sweep(nb, grid, tmp_path / "sweep", client=_NoClient())


def test_r9_grid_merges_equal_values_anywhere_and_refuses_a_name_given_twice(tmp_path):
    """'-p x 1 2 1.0' is two runs (1.0 parsed twice), wherever the repeat stands; a name given
    twice is refused even between other names, and an empty value list is refused."""
    nb = _notebook(tmp_path, TOY_PARAMS, TOY_BODY)
    assert sweep.sweep_grid(nb, [("x", ["1", "2", "1.0"]), ("n", ["4", "3", "4"])]) == [
        {"x": 1.0, "n": 4}, {"x": 1.0, "n": 3}, {"x": 2.0, "n": 4}, {"x": 2.0, "n": 3}]
    with pytest.raises(ValueError, match="parameter n given more than once"):
        sweep.sweep_grid(nb, [("n", ["1"]), ("x", ["1"]), ("n", ["2"])])
    with pytest.raises(ValueError, match=r"parameter x: give at least one value \(-p x V1"):
        sweep.sweep_grid(nb, [("n", ["1"]), ("x", [])])
    with pytest.raises(ValueError, match="unknown parameter lam, seed: not in the parameters "
                       "cell of .*toy.ipynb, which sets x, n, label"):
        sweep.sweep_grid(nb, [("lam", ["1"]), ("x", ["1"]), ("seed", ["0"])])


# ---- round 9 (audit 10): parse_value for tuple, dict and None defaults, errors by kind -------
@pytest.mark.parametrize("text, default, expected", [
    ("(1, 2)", (0, 0), (1, 2)), ("(0.5,)", (1.0,), (0.5,)),
    ('{"tumor": 1, "normal": 0}', {"a": 0}, {"tumor": 1, "normal": 0}),
    ("[3, 1, 2]", [0], [3, 1, 2]),                     # order kept as written
    ("[1, 2]", None, [1, 2]), ("none", None, "none"), ("None", None, None),
])
def test_r10_parse_value_containers_keep_their_type_and_order(text, default, expected):
    """Literal texts parse to the default's container type, as written."""
    out = sweep.parse_value("p", text, default)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("text, default, why", [
    ("[1, 2]", (0, 0), r"not a tuple such as \(0, 0\)"),   # a list is not a tuple
    ("(1, 2)", [0], r"not a list such as \[0\]"),          # nor a tuple a list
    ("[1]", {"a": 0}, r"not a dict such as \{'a': 0\}"),
    ("[1,", [0], r"not a Python list literal such as \[0\]"),   # SyntaxError, not ValueError
    ("abc", (0,), r"not a Python tuple literal"),             # a name: ValueError
])
def test_r10_parse_value_refuses_the_wrong_container_with_a_value_error(text, default, why):
    """A list given for a tuple default (and the other mixes) is refused, as are unparsable
    texts, always as ValueError naming the parameter. Catches tuple dropped from the container
    branch, a looser isinstance check, and SyntaxError escaping."""
    with pytest.raises(ValueError, match=rf"^parameter seeds: {re.escape(repr(text))} is {why}"):
        sweep.parse_value("seeds", text, default)


def test_r10_a_tuple_default_in_the_parameters_cell_types_the_grid(tmp_path):
    """End to end: a tuple (and a dict) set in the parameters cell makes '-p' texts parse as
    that type, and an annotation without a value (``k: int``) is no parameter. Catches the
    tuple branch lost between notebook_parameters and sweep_grid, and bare annotations
    listed as parameters without a default."""
    nb = _notebook(tmp_path, 'shape = (2, 3)\nk: int\nnames = {"a": 0}', "pass")
    assert sweep.notebook_parameters(nb) == {"shape": (2, 3), "names": {"a": 0}}
    assert sweep.sweep_grid(nb, [("shape", ["(4, 5)", "(1,)"]), ("names", ['{"b": 1}'])]) == [
        {"shape": (4, 5), "names": {"b": 1}}, {"shape": (1,), "names": {"b": 1}}]
    with pytest.raises(ValueError, match=r"parameter shape: '\[4, 5\]' is not a tuple such as "
                       r"\(2, 3\)"):
        sweep.sweep_grid(nb, [("shape", ["[4, 5]"])])
    with pytest.raises(ValueError, match="unknown parameter k: not in the parameters cell"):
        sweep.sweep_grid(nb, [("k", ["1"])])


# --- round 12: the parameters cell's edge cases, an empty grid, and %g names ------------------
def test_r12_notebook_parameters_first_tagged_cell_syntax_errors_and_missing_files(tmp_path):
    """The first cell tagged 'parameters' is read (a later tagged cell is not); a cell that does
    not parse is a ValueError naming the file; a missing notebook a FileNotFoundError saying so.
    Catches the last tagged cell read, a syntax error taken for 'no parameters', and the
    missing-file check dropped (nbformat's own error does not name it 'notebook ...')."""
    nb = nbformat.v4.new_notebook()
    first, second = nbformat.v4.new_code_cell("a = 1"), nbformat.v4.new_code_cell("b = 2")
    first.metadata["tags"] = ["parameters"]
    second.metadata["tags"] = ["parameters"]
    nb.cells = [first, second]
    path = tmp_path / "two.ipynb"
    nbformat.write(nb, str(path))
    assert sweep.notebook_parameters(path) == {"a": 1}
    bad = _notebook(tmp_path, "a = (", "pass", name="bad.ipynb")
    with pytest.raises(ValueError, match=r"bad.ipynb: the parameters cell is not valid Python"):
        sweep.notebook_parameters(bad)
    with pytest.raises(FileNotFoundError, match=r"notebook .*gone.ipynb not found"):
        sweep.notebook_parameters(tmp_path / "gone.ipynb")


def test_r12_a_grid_needs_at_least_one_parameter(tmp_path):
    nb = _notebook(tmp_path, "lam = 0.1", "pass")
    with pytest.raises(ValueError, match="a sweep needs at least one parameter"):
        sweep.sweep_grid(nb, [])


def test_r12_run_names_print_whole_floats_short_when_exact():
    """%g gives '100000' and '1234' (exact), where fewer digits would not be: catches the
    format's precision lowered (then the long repr '100000.0' is used)."""
    assert sweep.run_name({"n": 100000.0, "lam": 1234.0, "w": 0.5}) == "n=100000,lam=1234,w=0.5"


def test_r12_results_table_keeps_each_runs_own_values_and_writes_lists_compactly(tmp_path):
    """A run's own value is never replaced by the notebook's default, and a list parameter is
    written as its compact JSON (the text of its folder name). Catches the default filled in
    over a value the run set, and the list left a Python list in the table."""
    runs = [sweep.SweepRun({"lam": 0.1, "seeds": [0, 1]}, tmp_path / "a", "ok", {"auc": 0.9}, 1.0),
            sweep.SweepRun({"lam": 2.0}, tmp_path / "b", "earlier", {"auc": 0.8}, 1.0)]
    t = sweep.results_table(runs, tmp_path, {"lam": 0.0, "seeds": [7]})
    assert t.lam.tolist() == [0.1, 2.0]
    assert t.seeds.tolist() == ["[0,1]", "[7]"]
    # every parameter column comes first, in the order the runs name them, then the results
    later = [sweep.SweepRun({"a": 1}, tmp_path / "c", "ok", {"auc": 0.5}, 1.0),
             sweep.SweepRun({"b": 2}, tmp_path / "d", "stale", {}, 1.0)]
    assert list(sweep.results_table(later, tmp_path).columns) == [
        "a", "b", "auc", "status", "seconds", "error", "notebook"]


def test_r12_a_result_file_that_is_not_json_is_no_result(tmp_path):
    from milhelpers._sweep_worker import RESULT_FILE

    (tmp_path / RESULT_FILE).write_text("{not json")
    assert sweep._read_result(tmp_path) is None
    (tmp_path / RESULT_FILE).write_text('{"results": {"auc": 1}}')
    assert sweep._read_result(tmp_path) == {"results": {"auc": 1}}
    assert sweep._read_result(tmp_path / "missing") is None


def test_r12_the_cache_key_holds_parameters_as_json_reads_them_back():
    """result.json stores the parameters as JSON, so the key compared with it must be the JSON
    form: a tuple becomes a list. Catches the parameters compared as given (a tuple never equals
    the list read back, and every run is redone)."""
    assert sweep._jsonable({"lst": (1, 2), "x": 0.5}) == {"lst": [1, 2], "x": 0.5}
    assert type(sweep._jsonable({"lst": (1, 2)})["lst"]) is list


def test_r12_the_figure_ignores_the_bookkeeping_columns_and_takes_an_explicit_repeat():
    """seconds (like status, error, notebook) is not a result: one panel, for auc. An explicit
    ``repeat=[]`` draws each seed as its own line instead of averaging the seeds (the default
    for a parameter named seed). Catches seconds drawn as a panel and the given repeat ignored."""
    t = pd.DataFrame({"lam": [0.0, 0.0, 1.0, 1.0], "seed": [0, 1, 0, 1],
                      "auc": [0.5, 0.6, 0.7, 0.9], "status": ["ok"] * 4,
                      "seconds": [1.0, 2.0, 3.5, 8.0], "error": [""] * 4,
                      "notebook": ["a", "b", "c", "d"]})
    fig = sweep.sweep_figure(t, ["lam", "seed"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["auc"]
    per_seed = sweep.sweep_figure(t, ["lam", "seed"], repeat=[])
    assert len(per_seed.axes[0].get_lines()) != len(fig.axes[0].get_lines())


def test_r12_clean_leftovers_removes_partial_files_only_and_says_what_it_removed(tmp_path):
    """By hand, without a cluster: partial files go (in the output folder and in run folders), a
    run folder left empty goes, a folder named like a partial file stays (only files are
    partial), other folders stay; the return value lists exactly what went. Catches a folder
    unlinked as a file, and the list of removals not kept."""
    out = tmp_path
    (out / ".results.csv.ab.part").write_text("x")
    (out / "lam=1").mkdir()
    (out / "lam=1" / ".notebook.part.ipynb").write_text("x")
    (out / "lam=2").mkdir()
    (out / "lam=2" / ".kernel.log").write_text("x")
    (out / "lam=2" / "notebook.ipynb").write_text("{}")
    (out / ".cache.d.part").mkdir()                          # a folder, not a partial file
    (out / "notes").mkdir()
    removed = sweep._clean_leftovers(out)
    assert sorted(removed) == sorted([out / ".results.csv.ab.part",
                                      out / "lam=1" / ".notebook.part.ipynb", out / "lam=1",
                                      out / "lam=2" / ".kernel.log"])
    assert sorted(p.name for p in out.iterdir()) == [".cache.d.part", "lam=2", "notes"]
    assert [p.name for p in (out / "lam=2").iterdir()] == ["notebook.ipynb"]
