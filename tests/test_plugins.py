"""Plugins: a user's method from a file, a module or an installed package's entry point; the
registry docstring's own-method example run end to end through ``train`` and
``benchmarks/methods.py --plugin``."""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from milhelpers import methods as registry
from milhelpers import plugins
from milhelpers.__main__ import main
from milhelpers.methods import METHODS, get_method
from milhelpers.plugins import PluginError, load_plugin
from own_data import write_feature_cohort

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_registry(monkeypatch):
    before = dict(METHODS)
    monkeypatch.setattr(plugins, "_LOADED", {})
    yield
    METHODS.clear()
    METHODS.update(before)


def docstring_example() -> str:
    """The 'your own method' example of milhelpers.methods' docstring, as a file's text."""
    m = re.search(r"\n    # my_methods.py\n(.*?)(?=\n\S)", registry.__doc__, re.S)
    assert m, "the registry docstring lost its own-method example"
    return textwrap.dedent("    # my_methods.py\n" + m.group(1))


def test_the_docstring_example_trains_through_the_cli_and_the_benchmark(tmp_path, capsys,
                                                                        clean_registry):
    example = docstring_example()
    assert 10 <= len(example.strip().splitlines()) <= 25
    plugin = tmp_path / "my_methods.py"
    plugin.write_text(example)
    feats, labels = write_feature_cohort(tmp_path / "data", 24, dim=16)
    code = main(["train", "--method", "linear_attention", "--plugin", str(plugin), "--features",
                 str(feats), "--labels", str(labels), "--out", str(tmp_path / "run"),
                 "--folds", "3", "--epochs", "2", "--label-map", '{"normal": 0, "tumor": 1}',
                 "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "plugin" in out and "registered linear_attention" in out
    assert "linear_attention on 24 slides" in out and "3 of 3 runs trained" in out
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["method"] == "linear_attention" and len(info["runs"]) == 3
    # the same file through benchmarks/methods.py, next to a built-in method
    spec = importlib.util.spec_from_file_location("bench_methods", ROOT / "benchmarks" / "methods.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    int_labels = tmp_path / "int_labels.csv"
    pd.read_csv(labels).assign(label=lambda t: (t.label == "tumor").astype(int)).to_csv(
        int_labels, index=False)
    code = bench.main(["--plugin", str(plugin), "--features", str(feats), "--labels",
                       str(int_labels), "--methods", "mean_pool", "linear_attention", "--folds",
                       "3", "--epochs", "1", "--workers", "1", "--cache",
                       str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "each method − mean_pool" in out and "linear_attention / mean_pool" in out
    assert (tmp_path / "cache" / "linear_attention").is_dir()


def test_a_plugin_that_cannot_load_says_where_and_leaves_the_registry(tmp_path, clean_registry):
    with pytest.raises(PluginError, match="plugin .*nope.py: no such file"):
        load_plugin(tmp_path / "nope.py")
    with pytest.raises(PluginError, match="plugin 'no_such_module_xyz': no file and no module"):
        load_plugin("no_such_module_xyz")
    bad = tmp_path / "bad.py"
    bad.write_text("x = (\n")
    with pytest.raises(PluginError, match=r"bad.py failed while importing \(line 1\): "
                                          r"SyntaxError"):
        load_plugin(bad)
    half = tmp_path / "half.py"
    half.write_text(docstring_example() + "\n\nraise RuntimeError('my bug')\n")
    n = len(half.read_text().splitlines())
    with pytest.raises(PluginError, match=rf"half.py failed while importing \(line {n} of "
                                          rf"half.py\): RuntimeError: my bug"):
        load_plugin(half)
    assert "linear_attention" not in METHODS          # nothing half-registered
    clash = tmp_path / "clash.py"
    clash.write_text("from milhelpers.methods import get_method, register\n"
                     "import dataclasses\n"
                     "register(dataclasses.replace(get_method('abmil_tanh'), name='abmil_gated'))\n")
    with pytest.raises(PluginError, match="'abmil_gated' is already registered"):
        load_plugin(clash)
    assert METHODS["abmil_gated"].build is not METHODS["abmil_tanh"].build


def test_a_module_on_the_path_and_a_changed_file(tmp_path, monkeypatch, clean_registry):
    (tmp_path / "lab_methods.py").write_text(docstring_example().replace(
        '"linear_attention"', '"lab_linear"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_plugin("lab_methods") == ["lab_linear"]
    assert load_plugin("lab_methods") == ["lab_linear"]          # imported once
    f = tmp_path / "mine.py"
    f.write_text(docstring_example())
    first = load_plugin(f)
    method = get_method("linear_attention")
    assert first == ["linear_attention"] and load_plugin(f) == first
    assert get_method("linear_attention") is method               # unchanged: not re-imported
    f.write_text(docstring_example().replace("embed_dim=64", "embed_dim=32"))
    assert load_plugin(f) == ["linear_attention"]                 # changed: replaced
    assert get_method("linear_attention") is not method
    assert get_method("linear_attention").code_fingerprint() != method.code_fingerprint()


def test_installed_packages_register_through_the_entry_point_group(tmp_path, monkeypatch,
                                                                   clean_registry):
    (tmp_path / "mylab_plugin.py").write_text(docstring_example().replace(
        '"linear_attention"', '"ep_linear"'))
    dist = tmp_path / "mylab-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[milhelpers.methods]\nmylab = mylab_plugin\n"
                                           "broken = no_such_module_for_mylab\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_ENTRY_POINTS_LOADED", False)
    assert "ep_linear" not in registry.available_methods()       # lazy: nothing loaded yet
    with pytest.warns(RuntimeWarning, match=r"entry point broken = no_such_module_for_mylab "
                                            r"\(package mylab\)"):
        method = get_method("ep_linear")                       # unknown name: entry points load
    assert method.name == "ep_linear"
    with pytest.raises(KeyError, match="unknown method 'nothing_like_it'"):
        get_method("nothing_like_it")                          # loaded once, then the error
