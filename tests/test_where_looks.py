"""benchmarks/where_looks.py: each run of a results file is found in the runner's cache among
runs of other settings, and a run the cache lacks is an error, never a retraining."""
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
import where_looks  # noqa: E402


def test_cache_keys_are_matched_by_repeat_fold_and_recorded_metrics(tmp_path):
    ds = planted_bags(18, 6, 3, lengths=(6, 12), id_width=2)
    gated = get_method("abmil_gated").with_options(name="gated", embed_dim=8, attn_dim=4)
    cache = tmp_path / "cache"
    res = ex.run_experiments(ds, [gated], [0, 1], 3, epochs=2, cache_dir=cache, progress=False)
    # the same method, repeats and folds at another setting: same file name prefixes, other keys
    other = ex.run_experiments(ds, [gated], [0, 1], 3, epochs=1, cache_dir=cache, progress=False)
    assert set(other.runs.key).isdisjoint(res.runs.key)
    methods_cli.write_json(res, tmp_path / "r.json")
    back = ex.ExperimentResult.from_json(json.loads((tmp_path / "r.json").read_text()), cache)
    assert (back.runs.key == "").all()
    where_looks.attach_cache_keys(back, cache)
    assert back.runs.key.tolist() == res.runs.key.tolist()
    # the predictions of the file's runs are now reachable, as for a live result
    p, q = back.predictions("gated", 1, 2), res.predictions("gated", 1, 2)
    assert p.slide_ids == q.slide_ids and (p.probs == q.probs).all()
    # a run that is not in the cache: an error naming it, nothing trained
    for f in (cache / "gated").glob(f"seed1_fold2_{res.runs.key.iloc[-1][:16]}.*"):
        f.unlink()
    back = ex.ExperimentResult.from_json(json.loads((tmp_path / "r.json").read_text()), cache)
    with pytest.raises(where_looks.CacheError, match=r"\(gated, repeat 1, fold 2\)"):
        where_looks.attach_cache_keys(back, cache)
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "where_looks.py"), "--results",
                        str(tmp_path / "r.json"), "--cache", str(cache), "--data-root",
                        str(tmp_path), "--json", str(tmp_path / "out.json")],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin",
                                                            "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "labels.csv does not exist" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out.json").exists()
