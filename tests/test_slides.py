import numpy as np
import pytest
import tifffile

from conftest import REAL_SVS
from milhelpers.slides import MissingMPPError, Slide, SlideError


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
