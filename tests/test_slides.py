import cv2
import numpy as np
import pytest
import tifffile

from conftest import REAL_SVS
from milhelpers.slides import (ImplausibleMPPError, MissingMPPError, MPPConflictError, Slide,
                              SlideError, check_mpp)


def test_real_svs_geometry_and_mpp():
    with Slide(REAL_SVS) as s:
        assert s.dimensions == (2220, 2967)
        assert s.mpp == pytest.approx(0.499)
        assert s.magnification == pytest.approx(20.04, abs=0.01)
        thumb, ds = s.thumbnail(500)
        assert max(thumb.shape[:2]) == 500 and ds == pytest.approx(2967 / 500, rel=1e-3)


@pytest.mark.parametrize("mpp", [0.5, 0.25])
def test_pyramid_levels_and_mpp(block_slides, mpp):
    with Slide(block_slides[mpp]) as s:
        assert s.level_count >= 3
        assert s.mpp == pytest.approx(mpp)
        assert s.level_mpp(1) == pytest.approx(2 * mpp)
        assert s.best_level_for_downsample(2.0) == 1
        assert s.best_level_for_downsample(1.9) == 0  # never read a coarser level than asked


def test_read_patch_physical_size_is_the_same_at_20x_and_40x(block_slides):
    """256 px at 0.5 µm/px is 256 level-0 px at 20× and 512 at 40×: the same tissue."""
    with Slide(block_slides[0.5]) as a, Slide(block_slides[0.25]) as b:
        pa = a.read_patch((1024, 768), 256, 128).astype(float)
        pb = b.read_patch((2048, 1536), 512, 128).astype(float)
    assert pa.shape == pb.shape == (128, 128, 3)
    assert np.abs(pa - pb).mean() < 12  # only JPEG/resampling differences


def test_missing_mpp_is_a_clear_error_and_override_works(tmp_path):
    p = tmp_path / "nompp.tiff"
    img = np.full((600, 600, 3), 240, np.uint8)
    tifffile.imwrite(p, img, tile=(256, 256), photometric="rgb", metadata=None)
    s = Slide(p)
    assert s.file_mpp is None
    with pytest.raises(MissingMPPError, match="mpp=0.25"):
        _ = s.mpp
    assert Slide(p, mpp=0.25).mpp == 0.25


@pytest.mark.parametrize("content", [b"", b"not a slide at all" * 100, None])
def test_corrupt_or_missing_files_give_slide_errors(tmp_path, content):
    p = tmp_path / "broken.svs"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(SlideError, match="broken.svs"):
        Slide(p)


def test_truncated_tiff_is_reported(tmp_path, block_slides):
    data = block_slides[0.5].read_bytes()
    p = tmp_path / "truncated.tiff"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(SlideError):
        with Slide(p) as s:  # either opening or reading the cut-off tiles must fail loudly
            s.read_region((0, 0), 0, s.dimensions)


def test_given_mpp_agreeing_with_the_file_uses_the_files_value():
    with Slide(REAL_SVS, mpp=0.5) as s:
        assert s.mpp == pytest.approx(0.499) and s.mpp_source.startswith("file")


def test_given_mpp_contradicting_the_file_is_refused_unless_forced():
    with Slide(REAL_SVS, mpp=0.25) as s:  # the file says 0.499: 10× patches instead of 20×
        with pytest.raises(MPPConflictError, match=r"0\.25.*0\.499.*--force-mpp"):
            _ = s.mpp
    with Slide(REAL_SVS, mpp=0.25, force_mpp=True) as s:
        assert s.mpp == 0.25 and "forced" in s.mpp_source


def _tiff_with_resolution(path, dpi_x):
    img = np.full((600, 600, 3), 240, np.uint8)
    tifffile.imwrite(path, img, tile=(256, 256), photometric="rgb", metadata=None,
                     resolution=(dpi_x, dpi_x), resolutionunit="INCH")
    return path


def test_implausible_file_mpp_is_an_error_that_suggests_mpp(tmp_path):
    p = _tiff_with_resolution(tmp_path / "dpi72.tiff", 72)  # a TIFF default: 352.8 µm/px
    with Slide(p) as s:
        assert s.file_mpp == pytest.approx(25400 / 72)
        with pytest.raises(ImplausibleMPPError, match="--mpp"):
            _ = s.mpp
    with Slide(p, mpp=0.5) as s:  # the file's value cannot be trusted, so the given one wins
        assert s.mpp == 0.5


@pytest.mark.parametrize("bad", [0, -0.5, 0.01, 50, float("nan"), "x"])
def test_given_mpp_must_be_plausible(bad):
    with pytest.raises(ValueError, match="microns per pixel"):
        check_mpp(bad)
    with pytest.raises(ValueError, match="microns per pixel"):
        Slide(REAL_SVS, mpp=bad)


def test_level_read_in_strips_equals_a_whole_level_resize(block_slides):
    """Strips are a memory bound only: with an integer resize factor every output pixel averages
    the same source pixels, so the result is identical to resizing the whole level."""
    with Slide(block_slides[0.25]) as s:
        lw, lh = s.level_dimensions[1]
        whole = cv2.resize(s.read_region((0, 0), 1, (lw, lh)), (lw // 4, lh // 4),
                           interpolation=cv2.INTER_AREA)
        strips = s.read_level_resized(1, (lw // 4, lh // 4), max_pixels=lw * 37)
    assert np.array_equal(whole, strips)
