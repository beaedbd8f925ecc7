"""Code-aware run keys: a method's code fingerprint changes when (and only when) the code that
builds and trains it changes, and the runner retrains exactly then."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from bags import planted_bags
from milhelpers import experiments as ex
from milhelpers.code_fingerprint import code_fingerprint, covered_code
from milhelpers.methods import METHODS, Method, aem_method, get_method
from milhelpers.plugins import load_plugin

ROOT = Path(__file__).resolve().parents[1]

#: A user's method in its own module: a model class with a helper function, a loss term whose
#: weight sits in a closure, and a registration. Edits below replace one piece at a time.
PLUGIN = '''
import torch
from torch import nn
from milhelpers.methods import Method, register
from milhelpers.models import MILModel, MILOutput, as_batch, mask_logits, masked_softmax
from milhelpers.train import LossTerm


def squash(h):
    return torch.relu(h)


class Base(MILModel):
    def pool(self, a, h):
        return (a @ h)[:, 0]


class TinyMIL(Base):
    """A docstring."""
    def __init__(self, in_dim, n_classes, embed_dim=8):
        super().__init__()
        self.n_classes = n_classes
        self.project = nn.Linear(in_dim, embed_dim)
        self.score = nn.Linear(embed_dim, 1)
        self.classifier = nn.Linear(embed_dim, n_classes)

    def forward(self, x, mask=None):
        x, mask = as_batch(x, mask)
        h = squash(self.project(x))
        logits = mask_logits(self.score(h).transpose(1, 2), mask)
        z = self.pool(masked_softmax(logits, mask), h)
        return MILOutput(self.classifier(z), logits, z, mask)


def terms(weight):
    def make(model):
        return [LossTerm("l2", lambda out, batch, state: out.embedding.pow(2).mean(), weight)]
    return make


register(Method("tiny_user", lambda ctx, **kw: TinyMIL(ctx.in_dim, ctx.n_classes, **kw),
                "a user's method", loss_terms=terms(0.01)))
'''

#: (what is edited, old text, new text, must the fingerprint change)
EDITS = [
    ("forward", "z = self.pool(", "z = 0.5 * self.pool("),
    ("a helper the forward calls", "return torch.relu(h)", "return torch.tanh(h)"),
    ("a base class's method", "return (a @ h)[:, 0]", "return (a @ h).mean(1)"),
    ("__init__ (a layer's width)", "embed_dim=8", "embed_dim=9"),
    ("a value captured by a closure", "terms(0.01)", "terms(0.02)"),
    ("a loss term's lambda", "out.embedding.pow(2).mean()", "out.embedding.abs().mean()"),
    ("the factory lambda", "TinyMIL(ctx.in_dim, ctx.n_classes, **kw)",
     "TinyMIL(ctx.in_dim, ctx.n_classes, embed_dim=8, **kw)"),
]
#: edits that change nothing that runs
NEUTRAL = [
    ("a docstring", '"""A docstring."""', '"""Another docstring."""'),
    ("a comment and blank lines", "def squash(h):", "# a comment\n\n\ndef squash(h):"),
    ("the summary text", '"a user\'s method"', '"a user\'s method, described anew"'),
]


def _fingerprint_of(tmp_path: Path, source: str, name: str = "plugin.py") -> str:
    path = tmp_path / name
    path.write_text(source)
    load_plugin(path)
    return get_method("tiny_user").code_fingerprint()


@pytest.fixture
def clean_registry():
    before = dict(METHODS)
    yield
    METHODS.clear()
    METHODS.update(before)


def test_every_edit_of_code_that_runs_changes_the_fingerprint(tmp_path, clean_registry):
    base = _fingerprint_of(tmp_path, PLUGIN)
    assert _fingerprint_of(tmp_path, PLUGIN + "\n# reloaded unchanged\n") == base
    assert _fingerprint_of(tmp_path, PLUGIN, "moved_elsewhere.py") == base   # module name
    for what, old, new in EDITS:
        assert PLUGIN.count(old) == 1, what
        assert _fingerprint_of(tmp_path, PLUGIN.replace(old, new)) != base, what
    for what, old, new in NEUTRAL:
        assert PLUGIN.count(old) == 1, what
        assert _fingerprint_of(tmp_path, PLUGIN.replace(old, new)) == base, what


def test_an_edited_method_retrains_and_an_unchanged_one_is_reused(tmp_path, clean_registry,
                                                                  monkeypatch):
    """Issue 24's trap: a model changed under the same name must not be read from the cache."""
    fits = []
    original = Method.fit
    monkeypatch.setattr(Method, "fit", lambda self, *a, **kw: fits.append(self.name)
                        or original(self, *a, **kw))
    ds = planted_bags(24, 8, 0, lengths=(10, 30))
    kw = dict(seeds=[0], folds=2, epochs=1, cache_dir=tmp_path / "cache", progress=False)
    path = tmp_path / "user_methods.py"
    path.write_text(PLUGIN)
    load_plugin(path)
    first = ex.run_experiments(ds, ["tiny_user"], **kw)
    assert first.n_trained == 2 and len(fits) == 2
    path.write_text(PLUGIN.replace('"""A docstring."""', '"""Edited docs only."""'))
    load_plugin(path)
    again = ex.run_experiments(ds, ["tiny_user"], **kw)
    assert again.n_trained == 0 and len(fits) == 2          # same code: from the cache
    assert list(again.runs.key) == list(first.runs.key)
    path.write_text(PLUGIN.replace("z = self.pool(", "z = 0.5 * self.pool("))
    load_plugin(path)
    edited = ex.run_experiments(ds, ["tiny_user"], **kw)
    assert edited.n_trained == 2 and len(fits) == 4         # the edited forward is trained
    assert not set(edited.runs.key) & set(first.runs.key)


def test_the_code_field_of_the_run_key():
    m = get_method("abmil_gated")
    cfg = m.train_config(seed=1)
    key = ex.run_key(m, cfg, "data", 0, 0, ["a"], 0.2)
    other = dataclasses.replace(m, build=lambda ctx, **kw: get_method("abmil_tanh").build(ctx))
    assert other.name == m.name and other.model_kwargs == m.model_kwargs
    assert ex.run_key(other, cfg, "data", 0, 0, ["a"], 0.2) != key
    # the summary is text, not code
    assert ex.run_key(dataclasses.replace(m, summary="new words"), cfg, "data", 0, 0, ["a"],
                      0.2) == key


def test_closures_count_their_captured_values_and_methods():
    a, b = aem_method(lam=0.1), aem_method(lam=0.2)
    same_name = dataclasses.replace(b, name=a.name, summary=a.summary)
    assert code_fingerprint(same_name) != code_fingerprint(a)        # λ sits in the closure
    # MHIM's recipe captures its baseline method: a baseline with other code is another MHIM
    from milhelpers.methods import mhim_method

    gated, tanh = get_method("abmil_gated"), get_method("abmil_tanh")
    fake = dataclasses.replace(tanh, name="abmil_gated")              # same name, tanh's code
    assert mhim_method(gated, name="m").code_fingerprint() != \
        mhim_method(fake, name="m").code_fingerprint()


def test_what_is_covered_and_what_is_not():
    mhim = covered_code(get_method("mhim"), __import__("milhelpers.train").train.fit)
    for name in ("milhelpers.models.mhim.MHIM.forward", "milhelpers.models.abmil.ABMIL.forward",
                 "milhelpers.models.abmil.AttentionScorer.forward",
                 "milhelpers.models.base.masked_softmax", "milhelpers.methods.MHIMSchedule",
                 "milhelpers.methods.mhim_loss_terms", "milhelpers.losses.consistency_loss",
                 "milhelpers.models.mhim.ema_update", "milhelpers.train.fit",
                 "milhelpers.train._lr_at"):
        assert name in mhim, name
    pack = covered_code(get_method("packmil"))
    assert "milhelpers.models.packmil.PackMIL.forward" in pack
    assert any(k.startswith("milhelpers.packing.") for k in pack)    # the collate's code
    assert not any(k.startswith(("torch", "numpy", "sklearn")) for k in mhim)   # libraries: by name


def test_the_fingerprint_is_the_same_in_every_process():
    code = ("from milhelpers.methods import available_methods, get_method\n"
            "print(' '.join(n + '=' + get_method(n).code_fingerprint() for n in "
            "available_methods()))")
    outs = set()
    for seed in ("1", "2"):        # string hashing differs between these processes
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           cwd=ROOT)
        assert r.returncode == 0, r.stderr
        outs.add(r.stdout.strip())
    assert len(outs) == 1
    there = dict(pair.split("=") for pair in outs.pop().split())
    assert len(there) > 20
    assert there == {n: get_method(n).code_fingerprint() for n in there}    # and this one


def test_tensors_in_a_closure_count_by_value():
    w1, w2 = torch.ones(3), torch.ones(3)
    w2[1] = 2

    def make(w):
        return lambda x: x * w
    assert code_fingerprint(make(w1)) == code_fingerprint(make(torch.ones(3)))
    assert code_fingerprint(make(w1)) != code_fingerprint(make(w2))
