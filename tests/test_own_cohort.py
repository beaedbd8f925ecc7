"""The README's "Your own cohort" section, run as written: every command of its bash blocks, in
order, from a fresh folder holding the course's real SVS region and a small stand-in for the
course cohort (40 slides of 1280-d features, the width efficientnet_lite0 gives the real
region), so the test needs no built cohort and runs in about a minute."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from conftest import REAL_SVS
from own_data import write_feature_cohort

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The commands of the section's ```bash blocks (continuation lines joined)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Your own cohort\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        commands += [line for line in joined.splitlines() if line.startswith(".venv/bin/python")]
    return commands


def test_the_readme_section_runs_from_slides_to_heatmaps(tmp_path):
    commands = readme_commands()
    verbs = [c.split()[3] if c.split()[1] == "-m" else c.split()[1] for c in commands]
    assert verbs == ["tile", "extract", "-c", "train", "evaluate", "predict", "heatmap"]
    data = tmp_path / "data"
    data.mkdir()
    (data / "cmu_small_region.svs").symlink_to(REAL_SVS)
    feats, labels = write_feature_cohort(tmp_path / "stand_in", 40, dim=1280, seed=0,
                                         prefix="synth")
    cohort = data / "cohort"
    cohort.mkdir()
    feats.rename(cohort / "features_efficientnet_lite0")
    pd.read_csv(labels).assign(label=lambda t: (t.label == "tumor").astype(int)).to_csv(
        cohort / "labels.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    outputs = {}
    for command, verb in zip(commands, verbs):
        argv = shlex.split(command)
        argv[0] = sys.executable
        r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, (command, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        outputs[verb] = r.stdout
    own = tmp_path / "build" / "own"
    assert "tiled 1/1 slides" in outputs["tile"]
    assert (own / "features_efficientnet_lite0" / "cmu_small_region.h5").is_file()
    train, held = pd.read_csv(own / "train.csv"), pd.read_csv(own / "heldout.csv")
    assert not set(train.case_id) & set(held.case_id) and len(train) + len(held) == 40
    assert "abmil_gated on 32 slides (1280-d features, classes 0, 1): 3 folds" in outputs["train"]
    assert "8 features files in data/cohort/features_efficientnet_lite0 have no row" in \
        outputs["train"]
    assert re.search(r"AUC +\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", outputs["evaluate"])
    assert "on 8 held-out slides from 4 cases" in outputs["evaluate"]
    pred = pd.read_csv(own / "predictions.csv")
    assert pred.slide_id.tolist() == ["cmu_small_region"] and pred.n_patches[0] > 20
    assert abs(pred.prob_0[0] + pred.prob_1[0] - 1) < 1e-6
    png = own / "cmu_small_region_attention.png"
    with Image.open(png) as im:
        assert im.size[0] >= 800 and im.info.get("dpi", (100,))[0] >= 100
    assert "-> build/own/cmu_small_region_attention.png" in outputs["heatmap"]
