"""benchmarks/costs.py: the summary is the median per method over its runs and its ratio to gated
ABMIL's median; a finished file is never overwritten without --overwrite and an unknown method
is refused before any work."""
import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import costs  # noqa: E402


def test_summary_is_the_median_per_method_and_its_ratio_to_the_reference():
    runs = pd.DataFrame({"method": ["abmil_gated"] * 3 + ["mean_pool"] * 3,
                         "epoch_seconds": [4.0, 2.0, 9.0, 1.0, 3.0, 1.5],
                         "steps_per_epoch": [75] * 6})
    rows = {r["method"]: r for r in costs.summarise(runs, ["mean_pool", "abmil_gated"])}
    assert rows["abmil_gated"]["epoch_seconds"] == 4.0            # median, not mean (5.0)
    assert (rows["mean_pool"]["min_s"], rows["mean_pool"]["max_s"]) == (1.0, 3.0)
    assert rows["mean_pool"]["ratio"] == 1.5 / 4.0
    assert math.isnan(costs.summarise(runs, ["mean_pool"], reference="acmil")[0]["ratio"])


def test_a_finished_file_is_kept_and_an_unknown_method_refused(tmp_path, capsys):
    out = tmp_path / "costs.json"
    out.write_text("finished")
    assert costs.main(["--json", str(out), "--data-root", str(tmp_path / "none")]) == 2
    assert out.read_text() == "finished" and "--overwrite" in capsys.readouterr().err
    assert costs.main(["--json", str(tmp_path / "new.json"), "--methods", "abmil_gatd",
                       "--data-root", str(tmp_path / "none")]) == 2
    assert "abmil_gatd" in capsys.readouterr().err and not (tmp_path / "new.json").exists()
