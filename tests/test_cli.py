import os
import stat
import shutil
import subprocess
import sys

import h5py
import pytest

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
    assert r.returncode == 0 and "already done with these settings, skipped" in r.stdout


def _no_traceback(r):
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_two_slides_with_one_name_are_refused_before_any_work(tmp_path):
    d = tmp_path / "slides"
    d.mkdir()
    shutil.copy(REAL_SVS, d / "a.svs")
    shutil.copy(REAL_SVS, d / "a.tif")
    for cmd in ("tile", "extract"):
        r = _no_traceback(run(cmd, d, tmp_path / "out"))
        assert r.returncode == 2 and "a.svs and " in r.stderr and "a.tif" in r.stderr
        assert "rename" in r.stderr
    assert not (tmp_path / "out").exists()


def test_hidden_files_and_resource_forks_are_not_slides(tmp_path):
    d = tmp_path / "slides"
    d.mkdir()
    shutil.copy(REAL_SVS, d / "good.svs")
    (d / "._good.svs").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 100)  # macOS AppleDouble
    (d / ".hidden.tif").write_bytes(b"junk")
    r = _no_traceback(run("tile", d, tmp_path / "out", "--no-qc"))
    assert r.returncode == 0 and "tiled 1/1 slides" in r.stdout, r.stderr


def test_unwritable_output_is_reported_before_any_slide_is_read(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should go")
    r = _no_traceback(run("tile", REAL_SVS, blocker / "out"))
    assert r.returncode == 2 and "Cannot write to the output folder" in r.stderr
    assert str(blocker / "out" / "patches") in r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_output_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        r = _no_traceback(run("tile", REAL_SVS, out))
        assert r.returncode == 2 and "Cannot write to the output folder" in r.stderr
    finally:
        out.chmod(0o755)


@pytest.mark.parametrize("args,what", [
    (["--patch-size", "0"], "--patch-size"), (["--target-mpp", "0"], "--target-mpp"),
    (["--overlap", "256"], "--overlap"), (["--overlap", "-1"], "--overlap"),
    (["--min-tissue", "1.5"], "--min-tissue"), (["--mpp", "0"], "--mpp"),
])
def test_invalid_numbers_are_usage_errors(tmp_path, args, what):
    r = _no_traceback(run("tile", REAL_SVS, tmp_path / "out", *args))
    assert r.returncode == 2 and f"argument {what}" in r.stderr
    assert not (tmp_path / "out").exists()


def test_patch_larger_than_slide_is_named(tmp_path):
    r = _no_traceback(run("tile", REAL_SVS, tmp_path, "--patch-size", "8192"))
    assert r.returncode == 1 and "larger than the slide" in r.stderr and "no tissue" not in r.stdout


def test_mpp_contradicting_the_file_needs_force(tmp_path):
    r = _no_traceback(run("tile", REAL_SVS, tmp_path / "a", "--mpp", "0.25", "--no-qc"))
    assert r.returncode == 1 and "contradicts" in r.stderr and "--force-mpp" in r.stderr
    r = run("tile", REAL_SVS, tmp_path / "b", "--mpp", "0.25", "--force-mpp", "--no-qc")
    assert r.returncode == 0 and "0.25 µm/px from given mpp, forced" in r.stdout
    assert h5py.File(tmp_path / "b" / "patches" / "cmu_small_region.h5")["coords"].attrs[
        "patch_size_level0"] == 512
    r = run("tile", REAL_SVS, tmp_path / "c", "--mpp", "0.5", "--no-qc")  # agrees: file's value
    assert r.returncode == 0 and "0.499 µm/px from file" in r.stdout


def test_retiling_with_other_settings_stops_and_names_the_parameter(tmp_path):
    assert run("tile", REAL_SVS, tmp_path, "--patch-size", "128").returncode == 0
    h5 = tmp_path / "patches" / "cmu_small_region.h5"
    before = h5.read_bytes()
    r = _no_traceback(run("tile", REAL_SVS, tmp_path, "--patch-size", "64"))
    assert r.returncode == 2 and "patch_size (file 128, requested 64)" in r.stderr
    assert "--overwrite" in r.stderr and h5.read_bytes() == before
    r = run("tile", REAL_SVS, tmp_path, "--patch-size", "128")
    assert r.returncode == 0 and "kept" in r.stdout and h5.read_bytes() == before


def test_outputs_are_readable_by_colleagues(tmp_path):
    r = subprocess.run(["sh", "-c", f'umask 022 && "{sys.executable}" -m milhelpers tile '
                        f'"{REAL_SVS}" "{tmp_path}"'], capture_output=True, text=True,
                       env={"TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    for f in (tmp_path / "patches" / "cmu_small_region.h5", tmp_path / "qc" / "cmu_small_region.png"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644


def test_extract_goes_on_after_a_slide_breaks_and_refuses_other_settings(tmp_path):
    from test_features import _corrupt_copy
    d = tmp_path / "slides"
    d.mkdir()
    for name in ("a.svs", "b.svs", "c.svs"):
        shutil.copy(REAL_SVS, d / name)
    assert run("tile", d, tmp_path, "--target-mpp", "4.0", "--patch-size", "32",
               "--no-qc").returncode == 0
    _corrupt_copy(REAL_SVS, d / "a.svs")  # unreadable after tiling: the first slide
    r = _no_traceback(run("extract", d, tmp_path, "--input-size", "32", "--quiet",
                          "--workers", "1"))
    assert r.returncode == 1 and "a.svs: FAILED" in r.stderr and "1 failed" in r.stdout
    assert sorted(p.name for p in (tmp_path / "features_efficientnet_lite0").glob("*.h5")) == [
        "b.h5", "c.h5"]
    r = _no_traceback(run("extract", d / "b.svs", tmp_path, "--input-size", "48", "--quiet"))
    assert r.returncode == 2 and "input_size (file 32, requested 48)" in r.stderr
    assert "--overwrite" in r.stderr


def test_extract_fails_when_a_requested_slide_has_no_coordinates(tmp_path):
    d = tmp_path / "slides"
    d.mkdir()
    for name in ("a.svs", "b.svs"):
        shutil.copy(REAL_SVS, d / name)
    assert run("tile", d, tmp_path, "--target-mpp", "4.0", "--patch-size", "32",
               "--no-qc").returncode == 0
    (tmp_path / "patches" / "b.h5").unlink()          # as if b's tiling had failed
    r = _no_traceback(run("extract", d, tmp_path, "--input-size", "32", "--quiet"))
    assert r.returncode == 1 and "b: FAILED: no coordinates" in r.stderr
    assert "1 without coordinates" in r.stdout and "on cpu (fp32)" in r.stdout
    assert "patches/s" in r.stdout
    assert [p.name for p in (tmp_path / "features_efficientnet_lite0").glob("*.h5")] == ["a.h5"]


def test_extract_refuses_a_misspelt_encoder_or_a_missing_gpu_before_making_folders(tmp_path):
    assert run("tile", REAL_SVS, tmp_path, "--target-mpp", "4.0", "--patch-size", "32",
               "--no-qc").returncode == 0
    r = _no_traceback(run("extract", REAL_SVS, tmp_path, "--encoder", "resnet50_trunk"))
    assert r.returncode == 2 and "Did you mean 'resnet50_trunc'" in r.stderr
    import torch
    if not torch.cuda.is_available():
        r = _no_traceback(run("extract", REAL_SVS, tmp_path, "--device", "cuda"))
        assert r.returncode == 2 and "--device cuda" in r.stderr and "--device cpu" in r.stderr
    r = _no_traceback(run("extract", REAL_SVS, tmp_path, "--device", "gpu"))
    assert r.returncode == 2 and "use auto, cpu, cuda or cuda:N" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patches"]


def test_a_failed_tiling_leaves_no_empty_folders(tmp_path):
    r = _no_traceback(run("tile", REAL_SVS, tmp_path / "out", "--patch-size", "8192"))
    assert r.returncode == 1 and not (tmp_path / "out").exists()
