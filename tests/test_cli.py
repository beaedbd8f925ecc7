import shutil
import subprocess
import sys

import h5py

from conftest import REAL_SVS


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "milhelpers", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={"TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin"})


def test_tile_real_svs(tmp_path):
    r = run("tile", REAL_SVS, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "tiled 1/1 slides" in r.stdout
    with h5py.File(tmp_path / "out" / "patches" / "cmu_small_region.h5") as f:
        assert f["coords"].shape[0] > 20


def test_folder_with_a_corrupt_slide_reports_it_and_tiles_the_rest(tmp_path):
    d = tmp_path / "slides"
    d.mkdir()
    shutil.copy(REAL_SVS, d / "good.svs")
    (d / "bad.svs").write_bytes(b"\x00" * 1000)
    r = run("tile", d, tmp_path / "out")
    assert r.returncode == 1
    assert "bad.svs: FAILED" in r.stderr and "tiled 1/2 slides" in r.stdout
    assert (tmp_path / "out" / "patches" / "good.h5").exists()
    assert not (tmp_path / "out" / "patches" / "bad.h5").exists()


def test_clear_errors_for_missing_input(tmp_path):
    r = run("tile", tmp_path / "nope", tmp_path / "out")
    assert r.returncode == 2 and "No slide file or folder" in r.stderr
    r = run("extract", REAL_SVS, tmp_path / "empty")
    assert r.returncode == 2 and "run `python -m milhelpers tile` first" in r.stderr


def test_extract_then_resume(tmp_path):
    assert run("tile", REAL_SVS, tmp_path, "--target-mpp", "2.0", "--patch-size", "64").returncode == 0
    r = run("extract", REAL_SVS, tmp_path, "--input-size", "64", "--quiet")
    assert r.returncode == 0 and "written" in r.stdout
    r = run("extract", REAL_SVS, tmp_path, "--input-size", "64", "--quiet")
    assert r.returncode == 0 and "already done, skipped" in r.stdout
