import shutil

import pytest

from conftest import REAL_SVS
from milhelpers.pipeline import check_writable, find_slides, tile_folder
from milhelpers.tiling import StaleOutputError


def test_find_slides_skips_hidden_files_and_refuses_name_clashes(tmp_path):
    shutil.copy(REAL_SVS, tmp_path / "b.svs")
    (tmp_path / "._b.svs").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / ".DS_Store.tif").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a slide")
    assert find_slides(tmp_path) == [tmp_path / "b.svs"]
    shutil.copy(REAL_SVS, tmp_path / "b.TIFF")
    with pytest.raises(ValueError, match=r"b\.svs and .*b\.TIFF|b\.TIFF and .*b\.svs"):
        find_slides(tmp_path)


def test_stale_outputs_stop_a_folder_run_before_any_slide_is_tiled(tmp_path):
    d = tmp_path / "slides"
    d.mkdir()
    for name in ("a.svs", "b.svs"):
        shutil.copy(REAL_SVS, d / name)
    rep = tile_folder(d, tmp_path, progress=False, patch_size=128, qc=False)
    assert not rep.failed and len(rep.results) == 2
    (tmp_path / "patches" / "a.h5").unlink()
    with pytest.raises(StaleOutputError, match=r"b\.h5.*patch_size \(file 128, requested 64\)"):
        tile_folder(d, tmp_path, progress=False, patch_size=64, qc=False)
    assert not (tmp_path / "patches" / "a.h5").exists()  # refused before a.svs was tiled
    rep = tile_folder(d, tmp_path, progress=False, patch_size=128, qc=False)
    assert [r.skipped for r in rep.results] == [False, True]


def test_check_writable_names_the_folder(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(PermissionError, match=r"Cannot write to the output folder .*f/x"):
        check_writable(tmp_path / "f" / "x")
    assert check_writable(tmp_path / "ok" / "deep").is_dir()
