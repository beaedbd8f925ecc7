import shutil
from pathlib import Path

import pytest

from conftest import REAL_SVS
from milhelpers.pipeline import check_unique_ids, check_writable, find_slides, tile_folder
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
    # checked where the first existing folder is; nothing is created until a file is written
    assert check_writable(tmp_path / "ok" / "deep") == tmp_path / "ok" / "deep"
    assert not (tmp_path / "ok").exists()


def test_a_misspelt_encoder_is_refused_before_any_folder_is_made(tmp_path):
    from milhelpers.pipeline import extract_folder

    shutil.copy(REAL_SVS, tmp_path / "a.svs")
    tile_folder(tmp_path / "a.svs", tmp_path / "out", progress=False, patch_size=128, qc=False)
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    with pytest.raises(KeyError, match="Unknown encoder 'resnet50_trunk'.*Did you mean "
                                       "'resnet50_trunc'"):
        extract_folder(tmp_path / "a.svs", tmp_path / "out" / "patches", tmp_path / "out",
                       "resnet50_trunk", progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before == ["patches"]


def test_extraction_makes_its_folder_only_when_a_slide_is_written(tmp_path):
    from milhelpers.pipeline import extract_folder

    shutil.copy(REAL_SVS, tmp_path / "a.svs")
    (tmp_path / "patches").mkdir()
    # no coordinates for the slide: nothing to write, no features folder
    rep, feat_dir, missing = extract_folder(tmp_path / "a.svs", tmp_path / "patches", tmp_path,
                                            input_size=32, progress=False)
    assert missing == ["a"] and not rep.written and not feat_dir.exists()


def test_tiling_makes_no_folder_for_a_slide_that_fails(tmp_path):
    (tmp_path / "bad.svs").write_bytes(b"\x00" * 1000)
    rep = tile_folder(tmp_path / "bad.svs", tmp_path / "out", progress=False)
    assert set(rep.failed) == {"bad.svs"} and not (tmp_path / "out").exists()
    # a good slide brings its folders (coordinates, and QC unless turned off)
    shutil.copy(REAL_SVS, tmp_path / "a.svs")
    tile_folder(tmp_path / "a.svs", tmp_path / "out", progress=False, target_mpp=4.0,
                patch_size=32, qc=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["patches"]


def test_a_slide_without_tissue_is_listed_as_such_and_the_others_are_not(tmp_path, blank_slide):
    shutil.copy(REAL_SVS, tmp_path / "a.svs")
    shutil.copy(blank_slide, tmp_path / "blank.tiff")
    rep = tile_folder(tmp_path, tmp_path / "out", progress=False, target_mpp=4.0, patch_size=32,
                      qc=False)
    assert not rep.failed and rep.no_tissue == ["blank"]
    assert [r.slide_id for r in rep.results] == ["a", "blank"]
    assert rep.results[0].n_patches > 0 and rep.results[1].n_patches == 0


def test_a_folder_run_removes_the_partial_files_of_a_killed_earlier_run(tmp_path):
    """A worker killed mid-write leaves ``.a.h5.<random>.part`` (and a QC ``.part``): the next
    run removes them before tiling a.svs; another slide's partial stays."""
    shutil.copy(REAL_SVS, tmp_path / "a.svs")
    out = tmp_path / "out"
    for rel in ("patches/.a.h5.k1.part", "qc/.a.png.k2.part", "patches/.b.h5.k3.part"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"half")
    rep = tile_folder(tmp_path / "a.svs", out, progress=False, target_mpp=4.0, patch_size=32)
    assert not rep.failed and rep.results[0].n_patches > 0
    assert sorted(p.name for p in (out / "patches").iterdir()) == [".b.h5.k3.part", "a.h5"]
    assert sorted(p.name for p in (out / "qc").iterdir()) == ["a.png"]


def test_overwrite_lets_a_folder_run_replace_coordinates_made_otherwise(tmp_path):
    shutil.copy(REAL_SVS, tmp_path / "a.svs")
    kw = dict(progress=False, target_mpp=4.0, qc=False)
    tile_folder(tmp_path / "a.svs", tmp_path, patch_size=32, **kw)
    with pytest.raises(StaleOutputError):
        tile_folder(tmp_path / "a.svs", tmp_path, patch_size=16, **kw)
    rep = tile_folder(tmp_path / "a.svs", tmp_path, patch_size=16, overwrite=True, **kw)
    assert not rep.failed and not rep.results[0].skipped
    from milhelpers.h5io import read_coords
    assert read_coords(tmp_path / "patches" / "a.h5")[1]["patch_size"] == 16


@pytest.mark.parametrize("kwargs,ok", [(dict(num_workers=0), True), (dict(num_workers=-1), False),
                                       (dict(batch_size=0), False), (dict(batch_size=1), True),
                                       (dict(input_size=0), False), (dict(input_size=32.5), False)])
def test_extract_folder_checks_its_numbers_at_both_ends(tmp_path, kwargs, ok):
    """0 reader processes (read in this process) and a batch of 1 are valid; -1 workers, a
    batch of 0 and a non-positive or fractional input size are refused before any work."""
    from milhelpers.pipeline import extract_folder

    shutil.copy(REAL_SVS, tmp_path / "a.svs")
    (tmp_path / "patches").mkdir()
    call = lambda: extract_folder(tmp_path / "a.svs", tmp_path / "patches", tmp_path,  # noqa: E731
                                  progress=False, **{"input_size": 32, **kwargs})
    if ok:
        rep, _, missing = call()
        assert missing == ["a"] and not rep.written
    else:
        with pytest.raises(ValueError):
            call()


def test_find_slides_takes_one_file_and_refuses_empty_or_missing_paths(tmp_path):
    shutil.copy(REAL_SVS, tmp_path / "a.svs")
    assert find_slides(tmp_path / "a.svs") == [tmp_path / "a.svs"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="No slides"):
        find_slides(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="No slide file or folder"):
        find_slides(tmp_path / "nowhere")
    for name in ("c.NDPI", "b.tif", "d.mrxs"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_slides(tmp_path)] == ["a.svs", "b.tif", "c.NDPI", "d.mrxs"]


def test_r9_a_folder_rerun_at_the_default_settings_keeps_its_coordinates(tmp_path):
    """tile_folder checks existing files against the settings before any slide is read, filling
    in the knobs left out with tile_slide's defaults (0.5 µm/px, 256 px, overlap 0, min_tissue
    0.25, the biopsy preset). A second run with every knob left out, and one spelling those
    defaults out, keep the file. Catches a default in the folder's pre-check that differs from
    tile_slide's (every rerun at the defaults refused as stale)."""
    shutil.copy(REAL_SVS, tmp_path / "a.svs")
    first = tile_folder(tmp_path / "a.svs", tmp_path, progress=False, qc=False)
    assert not first.failed and first.results[0].n_patches > 0
    again = tile_folder(tmp_path / "a.svs", tmp_path, progress=False, qc=False)
    spelt = tile_folder(tmp_path / "a.svs", tmp_path, progress=False, qc=False, target_mpp=0.5,
                        patch_size=256, overlap=0, min_tissue=0.25, params="biopsy")
    for rep in (again, spelt):
        assert rep.results[0].skipped and rep.results[0].n_patches == first.results[0].n_patches


# ---- round 9 (audit 10): check_unique_ids names every clash, and only clashes ----------------
def test_r10_check_unique_ids_names_every_group_of_clashing_slides():
    """Two groups of slides sharing a stem (a.svs/a.tif in different folders, b.svs/b.ndpi) are
    both named, in the order given, and c.svs (unique) is not; stems that differ only past a
    dot (b.1.svs) do not clash with b.svs. Catches only the first group reported, names
    compared with their extension or folder, and a lone slide refused."""
    paths = [Path("x/a.svs"), Path("b.svs"), Path("c.svs"), Path("y/a.tif"), Path("b.ndpi"),
             Path("b.1.svs")]
    with pytest.raises(ValueError, match=r"^Slides with the same name would write the same "
                       r"output file: x/a\.svs and y/a\.tif; b\.svs and b\.ndpi\. Outputs") as err:
        check_unique_ids(paths)
    assert "c.svs" not in str(err.value) and "b.1.svs" not in str(err.value)
    check_unique_ids([Path("x/a.svs"), Path("b.1.svs"), Path("b.svs")])    # no clash: no error
    check_unique_ids([])


# ---- round 11: every tiling knob reaches tile_folder's stale pre-check, both ways --------------
_R11_KW = dict(target_mpp=4.0, patch_size=32, overlap=8, min_tissue=0.5)  # params: "biopsy"


@pytest.fixture(scope="module")
def r11_tiled(tmp_path_factory) -> Path:
    """Slides a.svs and b.svs tiled once at the non-default settings _R11_KW (coarse, so fast)."""
    root = tmp_path_factory.mktemp("r11_tiled")
    (root / "slides").mkdir()
    for name in ("a.svs", "b.svs"):
        shutil.copy(REAL_SVS, root / "slides" / name)
    rep = tile_folder(root / "slides", root, progress=False, qc=False, **_R11_KW)
    assert not rep.failed and all(r.n_patches > 0 for r in rep.results)
    return root


@pytest.mark.parametrize("knob, value, says", [
    ("target_mpp", 2.0, r"target_mpp \(file 4, requested 2\)"),
    ("overlap", 0, r"overlap \(file 8, requested 0\)"),
    ("min_tissue", 0.25, r"min_tissue \(file 0.5, requested 0.25\)"),
    ("params", "resection", r"segmentation"),
])
def test_r11_tile_folder_checks_every_knob_against_existing_coordinates(tmp_path, r11_tiled, knob,
                                                                       value, says):
    """A rerun at the same non-default settings keeps both files; one knob changed stops the run
    before any slide is tiled, naming that knob. Catches a knob left out of the folder pre-check
    (replaced by its default: the same-settings rerun refused as stale, or the changed rerun let
    through to re-tile a.svs and fail b.svs slide by slide instead of refusing)."""
    shutil.copytree(r11_tiled, tmp_path, dirs_exist_ok=True)
    d = tmp_path / "slides"
    same = tile_folder(d, tmp_path, progress=False, qc=False, **_R11_KW)
    assert not same.failed and [r.skipped for r in same.results] == [True, True]
    (tmp_path / "patches" / "a.h5").unlink()
    with pytest.raises(StaleOutputError, match=r"b\.h5.*" + says):
        tile_folder(d, tmp_path, progress=False, qc=False, **{**_R11_KW, knob: value})
    assert not (tmp_path / "patches" / "a.h5").exists()   # refused before a.svs was tiled
