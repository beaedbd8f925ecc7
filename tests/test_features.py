import numpy as np
import pytest
import torch

from conftest import REAL_SVS
from milhelpers import encoders, features, tiling
from milhelpers.features import ExtractionJob, extract_features
from milhelpers.h5io import h5_attrs, read_coords, read_features, write_coords
from milhelpers.slides import Slide


@pytest.fixture(scope="module")
def tiled(tmp_path_factory, block_slides):
    """The real SVS and a generated slide tiled at 2 µm/px: 39 and ~40 patches of 64 px, several
    batches and row bands each (encoding dominates these tests' time: at 1 µm/px the SVS alone
    has 159 patches)."""
    out = tmp_path_factory.mktemp("tiled")
    paths = [REAL_SVS, block_slides[0.5]]
    for p in paths:
        tiling.tile_slide(p, out, target_mpp=2.0, patch_size=64, qc=False)
    return out, paths


@pytest.fixture(scope="module")
def encoder():
    return encoders.get_encoder("efficientnet_lite0", input_size=64)


def _jobs(out, paths, feat="features"):
    return [ExtractionJob(p, out / "patches" / f"{p.stem}.h5", out / feat / f"{p.stem}.h5") for p in paths]


def test_extraction_matches_direct_encoding(tiled, encoder):
    out, paths = tiled
    rep = extract_features(_jobs(out, paths), encoder, batch_size=16, num_workers=0, progress=False)
    assert len(rep.written) == 2 and rep.n_patches > 0
    feats, coords = read_features(out / "features" / f"{REAL_SVS.stem}.h5")
    assert feats.shape == (len(coords), 1280) and np.isfinite(feats).all()
    assert h5_attrs(out / "features" / f"{REAL_SVS.stem}.h5", "features")["encoder"] == "efficientnet_lite0"
    # re-encode three patches by hand: same numbers, same order
    size0 = h5_attrs(out / "patches" / f"{REAL_SVS.stem}.h5", "coords")["patch_size_level0"]
    with Slide(REAL_SVS) as s:
        imgs = np.stack([s.read_patch(tuple(c), size0, 64) for c in coords[[0, 5, -1]]])
    x = (torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    np.testing.assert_allclose(encoder(x).numpy(), feats[[0, 5, -1]], rtol=1e-3, atol=1e-3)


def test_workers_give_the_same_features(tiled, encoder):
    out, paths = tiled
    extract_features(_jobs(out, paths, "f0"), encoder, num_workers=0, progress=False)
    extract_features(_jobs(out, paths, "f2"), encoder, num_workers=2, batch_size=7, progress=False)
    for p in paths:
        a, _ = read_features(out / "f0" / f"{p.stem}.h5")
        b, _ = read_features(out / "f2" / f"{p.stem}.h5")
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_interrupted_extraction_keeps_finished_slides_and_resumes(tiled, encoder, monkeypatch):
    out, paths = tiled
    jobs = _jobs(out, paths, "resume")
    n_first = len(features.PatchDataset(jobs[:1], 64))
    calls = {"n": 0}
    real = encoder.model.forward

    def failing(x):
        calls["n"] += len(x)
        if calls["n"] > n_first + 8:  # die part-way through the second slide
            raise KeyboardInterrupt
        return real(x)

    monkeypatch.setattr(encoder.model, "forward", failing)
    with pytest.raises(KeyboardInterrupt):
        extract_features(jobs, encoder, batch_size=8, num_workers=0, progress=False)
    assert jobs[0].out_path.exists() and not jobs[1].out_path.exists()
    assert not list((out / "resume").glob("*.part"))
    monkeypatch.setattr(encoder.model, "forward", real)
    rep = extract_features(jobs, encoder, batch_size=8, num_workers=0, progress=False)
    assert rep.skipped == [jobs[0].out_path] and rep.written == [jobs[1].out_path]


def test_missing_patch_size_attribute_is_explained(tmp_path):
    from milhelpers.h5io import write_coords
    write_coords(tmp_path / "p.h5", np.zeros((2, 2)))
    with pytest.raises(KeyError, match="patch_size_level0"):
        features.PatchDataset([ExtractionJob(REAL_SVS, tmp_path / "p.h5", tmp_path / "f.h5")], 64)


def test_band_reads_equal_single_patch_reads(tmp_path, block_slides):
    """Row bands are an optimisation only: every patch equals a direct read of it."""
    for mpp, path in block_slides.items():
        tiling.tile_slide(path, tmp_path / str(mpp), target_mpp=1.0, patch_size=64, qc=False,
                          overlap=16)
        job = ExtractionJob(path, tmp_path / str(mpp) / "patches" / f"{path.stem}.h5", tmp_path / "x.h5")
        ds = features.PatchDataset([job], 64)
        assert len(ds.runs[0][1]) < len(ds) / 4  # patches really share bands
        with Slide(path) as s:
            for k in np.linspace(0, len(ds) - 1, 25).astype(int):
                direct = s.read_patch(tuple(ds.coords[0][k]), ds.size0[0], 64)
                assert np.array_equal(ds[k][0].numpy().transpose(1, 2, 0), direct), (mpp, k)


def _corrupt_copy(src, dst):
    """A slide whose directories still open but whose tile data is garbage (a damaged copy)."""
    import tifffile
    data = bytearray(src.read_bytes())
    with tifffile.TiffFile(src) as tf:
        for page in tf.pages:
            for off, n in zip(page.dataoffsets, page.databytecounts):
                data[off:off + n] = b"\xff" * n
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("workers", [0, 1])
def test_an_unreadable_slide_fails_alone(tmp_path, block_slides, encoder, workers):
    """A slide that opens but cannot be read (corrupt tiles) fails inside the DataLoader; the
    slides after it are still encoded and written."""
    import shutil
    slides = tmp_path / "slides"
    slides.mkdir()
    a = shutil.copy(block_slides[0.5], slides / "a.tiff")
    b = shutil.copy(block_slides[0.5], slides / "b.tiff")
    c = shutil.copy(REAL_SVS, slides / "c.svs")
    for p in (a, b, c):
        tiling.tile_slide(p, tmp_path, target_mpp=2.0, patch_size=64, qc=False)
    _corrupt_copy(block_slides[0.5], slides / "b.tiff")  # broken after tiling
    jobs = _jobs(tmp_path, [slides / "a.tiff", slides / "b.tiff", slides / "c.svs"])
    rep = extract_features(jobs, encoder, batch_size=16, num_workers=workers, progress=False)
    assert list(rep.failed) == ["b.tiff"] and "corrupt" in rep.failed["b.tiff"]
    assert rep.written == [jobs[0].out_path, jobs[2].out_path]
    assert not jobs[1].out_path.exists()
    feats, coords = read_features(jobs[2].out_path)
    assert len(feats) == len(coords) > 0 and np.isfinite(feats).all()


def test_coordinates_of_another_slide_are_refused(tmp_path, block_slides, encoder):
    """patches/a.h5 made from a 4096×3072 slide must not be applied to a different a.svs."""
    tiling.tile_slide(block_slides[0.5], tmp_path, target_mpp=2.0, patch_size=64, qc=False)
    job = ExtractionJob(REAL_SVS, tmp_path / "patches" / "block20.h5", tmp_path / "f" / "x.h5")
    rep = extract_features([job], encoder, num_workers=0, progress=False)
    assert "another slide" in rep.failed[REAL_SVS.name] and not job.out_path.exists()


def test_existing_features_with_other_settings_stop_the_run(tiled, tmp_path):
    out, paths = tiled
    jobs = _jobs(out, paths[:1], "stale")
    enc64 = encoders.get_encoder("efficientnet_lite0", input_size=64, weights="random")
    extract_features(jobs, enc64, num_workers=0, progress=False)
    before = jobs[0].out_path.read_bytes()
    enc32 = encoders.get_encoder("efficientnet_lite0", input_size=32, weights="random")
    with pytest.raises(features.StaleFeaturesError, match=r"input_size \(file 64, requested 32\).*--overwrite"):
        extract_features(jobs, enc32, num_workers=0, progress=False)
    assert jobs[0].out_path.read_bytes() == before
    rep = extract_features(jobs, enc64, num_workers=0, progress=False)  # same settings: kept
    assert rep.skipped == [jobs[0].out_path] and not rep.written
    # re-tiled coordinates make the features stale too
    moved = ExtractionJob(jobs[0].slide_path, tmp_path / "p.h5", jobs[0].out_path)
    c, attrs = read_coords(jobs[0].coords_path)
    write_coords(moved.coords_path, c[::2], **attrs)
    with pytest.raises(features.StaleFeaturesError, match="coordinates"):
        extract_features([moved], enc64, num_workers=0, progress=False)
    rep = extract_features([moved], enc32, num_workers=0, progress=False, overwrite=True)
    assert rep.written == [moved.out_path] and len(read_features(moved.out_path)[0]) == len(c[::2])


# -- precision: mixed precision on a GPU; the autocast path itself runs on the CPU here --------
def test_resolve_precision(monkeypatch):
    from milhelpers.features import resolve_precision

    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto", "cuda:0") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision("auto", "cuda:1") == "fp16"
    assert resolve_precision("fp32", "cuda:0") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="half"):
        resolve_precision("half", "cpu")


def test_mixed_precision_is_applied_and_stays_close(tiled, encoder):
    out, paths = tiled
    full = extract_features(_jobs(out, paths[:1], "p32"), encoder, num_workers=0, progress=False,
                            precision="fp32")
    half = extract_features(_jobs(out, paths[:1], "p16"), encoder, num_workers=0, progress=False,
                            precision="bf16")
    assert (full.precision, half.precision, half.device) == ("fp32", "bf16", "cpu")
    a, _ = read_features(out / "p32" / f"{REAL_SVS.stem}.h5")
    b, _ = read_features(out / "p16" / f"{REAL_SVS.stem}.h5")
    assert b.dtype == np.float32
    diff = np.abs(a - b)
    assert diff.max() > 1e-3                 # autocast ran: bf16 arithmetic is not fp32's
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
    assert np.median(diff / (np.abs(a) + 1e-2)) < 0.05


def test_prefetched_keeps_order_passes_errors_and_stops_with_its_consumer():
    import threading

    from milhelpers.features import _prefetched

    assert list(_prefetched(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise OSError("slide went away")
    got = []
    with pytest.raises(OSError, match="slide went away"):
        for x in _prefetched(broken()):
            got.append(x)
    assert got == [1]
    gen = _prefetched(iter(range(10**6)), depth=2)
    assert next(gen) == 0
    gen.close()                                   # the consumer stops early
    for t in threading.enumerate():
        if t.name == "patch-prefetch":
            t.join(timeout=5)
            assert not t.is_alive()


def test_row_runs_group_touching_patches_of_one_row_up_to_band():
    """size0 10: row y=0 at x 0, 10, 20 (touching) then 35 (a gap) → runs [0..2], [3];
    row y=10 starts at x 40, right of the last patch (dx 5 ≤ size0 but another row) → a new
    run; then 17 more touching patches on y=20 → runs of BAND = 16 and 1. Catches touching
    patches split (dx < size0), a run of BAND + 1, and runs that cross rows."""
    assert features.BAND == 16
    row0 = [[0, 0], [10, 0], [20, 0], [35, 0]]
    row1 = [[40, 10]]
    row2 = [[10 * i, 20] for i in range(17)]
    coords = np.array(row0 + row1 + row2, np.int64)
    run_of, first, last = features._row_runs(coords, 10)
    assert first.tolist() == [0, 3, 4, 5, 21] and last.tolist() == [2, 3, 4, 20, 21]
    assert run_of.tolist() == [0, 0, 0, 1, 2] + [3] * 16 + [4]


def test_features_with_other_coordinate_attributes_are_stale(tmp_path):
    """Same coordinates, same encoder, but the features were made from a grid with
    patch_size_level0 = 256 while the coordinates file now says 512: stale, named."""
    from types import SimpleNamespace

    from milhelpers.h5io import write_features

    c = np.array([[0, 0], [512, 0]])
    write_coords(tmp_path / "p.h5", c, patch_size_level0=512, patch_size=256, target_mpp=0.5)
    write_features(tmp_path / "f.h5", np.zeros((2, 3)), c,
                   coords_attrs=dict(patch_size_level0=256, patch_size=256, target_mpp=0.5),
                   encoder="enc", input_size=224)
    enc = SimpleNamespace(name="enc", input_size=224)
    job = ExtractionJob(REAL_SVS, tmp_path / "p.h5", tmp_path / "f.h5")
    reason = features.stale_features_reason(job, enc)
    assert reason is not None and "patch_size_level0 (features 256, coordinates file 512)" in reason
    write_coords(tmp_path / "p.h5", c, patch_size_level0=256, patch_size=256, target_mpp=0.5)
    assert features.stale_features_reason(job, enc) is None


def test_a_slide_with_one_non_finite_feature_is_failed_not_written(tiled, encoder, monkeypatch):
    """One NaN in the first patch's features fails the whole slide (nothing written); the
    other slide is written."""
    out, paths = tiled
    jobs = _jobs(out, paths, "nan")
    real = encoder.model.forward
    seen = {"n": 0}

    def one_nan(x):
        y = real(x)
        if seen["n"] == 0:
            y = y.clone()
            y[0, 0] = float("nan")
        seen["n"] += len(x)
        return y

    monkeypatch.setattr(encoder.model, "forward", one_nan)
    rep = extract_features(jobs, encoder, batch_size=512, num_workers=0, progress=False)
    assert list(rep.failed) == [paths[0].name] and "non-finite" in rep.failed[paths[0].name]
    assert not jobs[0].out_path.exists() and rep.written == [jobs[1].out_path]


def test_patches_of_an_unreadable_slide_are_not_counted(tmp_path, block_slides, encoder):
    """n_patches counts the patches encoded: the blank stand-ins of a corrupt slide are not."""
    import shutil
    slides = tmp_path / "slides"
    slides.mkdir()
    a = shutil.copy(block_slides[0.5], slides / "a.tiff")
    b = shutil.copy(block_slides[0.5], slides / "b.tiff")
    for p in (a, b):
        tiling.tile_slide(p, tmp_path, target_mpp=4.0, patch_size=64, qc=False)
    _corrupt_copy(block_slides[0.5], slides / "a.tiff")
    jobs = _jobs(tmp_path, [slides / "a.tiff", slides / "b.tiff"])
    rep = extract_features(jobs, encoder, batch_size=16, num_workers=0, progress=False)
    n_b = len(read_coords(jobs[1].coords_path)[0])
    assert list(rep.failed) == ["a.tiff"] and rep.written == [jobs[1].out_path]
    assert rep.n_patches == n_b > 0
    assert rep.failed["a.tiff"].startswith("reading patches failed: ")


def test_normalise_by_hand():
    """uint8 255 with mean 0.5, std 0.25 → (255 − 127.5) / 63.75 = 2; 0 → −2; per channel."""
    x = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    y = features.normalise(x, (0.5, 0.5, 0.2), (0.25, 0.5, 0.1))
    assert y.dtype == torch.float32 and y.shape == (2, 3, 2, 2)
    # channel 0: (0 − 127.5)/63.75 = −2; channel 1: (255 − 127.5)/127.5 = 1; channel 2: 0
    assert y[0, :, 0, 0].tolist() == pytest.approx([-2.0, 1.0, 0.0])


def test_autocast_context_matches_the_precision():
    cpu = torch.device("cpu")
    assert isinstance(features._autocast(cpu, "fp32"), type(features.contextlib.nullcontext()))
    assert features._autocast(cpu, "bf16").fast_dtype == torch.bfloat16
    assert features._autocast(cpu, "fp16").fast_dtype == torch.float16


def test_report_speed():
    rep = features.ExtractionReport([], [], 30, 1.5)
    assert rep.patches_per_second == 20.0 and (rep.device, rep.precision) == ("cpu", "fp32")
    assert np.isnan(features.ExtractionReport([], [], 0, 0.0).patches_per_second)


def test_jobs_that_cannot_be_encoded_fail_before_any_work(tmp_path, encoder):
    """Coordinates that are not HDF5, coordinates without patch_size_level0, and a slide that
    is not a slide each fail their job with a message saying so; nothing is written."""
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    write_coords(tmp_path / "nosize.h5", np.zeros((2, 2)))
    (tmp_path / "bad.svs").write_bytes(b"\x00" * 1000)
    write_coords(tmp_path / "ok.h5", np.zeros((1, 2)), patch_size_level0=64)
    jobs = [ExtractionJob(REAL_SVS, tmp_path / "junk.h5", tmp_path / "f" / "1.h5"),
            ExtractionJob(tmp_path / "x.svs", tmp_path / "nosize.h5", tmp_path / "f" / "2.h5"),
            ExtractionJob(tmp_path / "bad.svs", tmp_path / "ok.h5", tmp_path / "f" / "3.h5")]
    rep = extract_features(jobs, encoder, num_workers=0, progress=False)
    assert rep.written == [] and rep.n_patches == 0 and not (tmp_path / "f").exists()
    assert "cannot read the coordinates" in rep.failed[REAL_SVS.name]
    assert "lacks the 'patch_size_level0'" in rep.failed["x.svs"]
    assert "bad.svs" in rep.failed["bad.svs"]


def test_features_whose_coordinates_file_is_gone_are_kept(tmp_path):
    """Nothing to compare against: a features file made with this encoder is not stale when
    its coordinates file was removed (or cannot be read)."""
    from types import SimpleNamespace

    from milhelpers.h5io import write_features

    write_features(tmp_path / "f.h5", np.zeros((1, 3)), np.zeros((1, 2)), encoder="enc",
                   input_size=224)
    enc = SimpleNamespace(name="enc", input_size=224)
    job = ExtractionJob(REAL_SVS, tmp_path / "gone.h5", tmp_path / "f.h5")
    assert features.stale_features_reason(job, enc) is None
    (tmp_path / "junk.h5").write_bytes(b"junk")
    job = ExtractionJob(REAL_SVS, tmp_path / "junk.h5", tmp_path / "f.h5")
    assert features.stale_features_reason(job, enc) is None
    assert "encoder (file enc, requested other)" in features.stale_features_reason(
        job, SimpleNamespace(name="other", input_size=224))


def test_extract_slide_builds_its_encoder_once_and_clears_old_partials(tiled, tmp_path,
                                                                        monkeypatch):
    """extract_slide (a Dask task, called here in-process) removes an earlier attempt's
    ``.part`` file, writes the slide, keeps it on a second call, and reuses the encoder."""
    from milhelpers import cluster

    monkeypatch.setenv(cluster.WORKER_THREADS_ENV, str(torch.get_num_threads()))
    monkeypatch.setattr(features, "_ENCODERS", {})
    out, paths = tiled
    job = _jobs(out, paths[:1], str(tmp_path / "ext"))[0]
    job.out_path.parent.mkdir(parents=True)
    stale_part = job.out_path.parent / f".{job.out_path.name}.old1.part"
    stale_part.write_bytes(b"half")
    kw = dict(encoder_name="efficientnet_lite0", weights="random", input_size=32, device="cpu",
              batch_size=32)
    rep = features.extract_slide(job, **kw)
    assert rep.written == [job.out_path] and not stale_part.exists()
    assert rep.n_patches == len(read_coords(job.coords_path)[0]) and rep.precision == "fp32"
    assert h5_attrs(job.out_path, "features")["input_size"] == 32
    enc = next(iter(features._ENCODERS.values()))
    again = features.extract_slide(job, **kw)
    assert again.skipped == [job.out_path] and not again.written
    assert len(features._ENCODERS) == 1 and next(iter(features._ENCODERS.values())) is enc


# --- round 7: every field of the worker's encoder cache key -----------------------------------
_KEY_BASE = dict(encoder_name="enc_a", weights=None, input_size=32, device="cpu")


@pytest.mark.parametrize("field, other", [("encoder_name", "enc_b"), ("weights", "w.pt"),
                                          ("input_size", 64), ("device", "cuda:1")])
def test_extract_slide_rebuilds_its_encoder_when_any_key_field_changes(monkeypatch, tmp_path,
                                                                         field, other):
    """A Dask worker keeps the encoders it built by (name, weights, input size, device). A task
    asking for another value of any one of them gets an encoder built for it (reusing the cached
    one would encode at the wrong size, with the wrong weights or on the wrong device and write
    features under the requested name); the same request again reuses the first encoder.
    (Building and encoding are faked: only the cache is under test.)"""
    from types import SimpleNamespace

    from milhelpers import cluster

    monkeypatch.setenv(cluster.WORKER_THREADS_ENV, str(torch.get_num_threads()))
    monkeypatch.setattr(features, "_ENCODERS", {})
    monkeypatch.setattr(features, "resolve_device", lambda device, slot=0: device)
    monkeypatch.setattr(features, "remove_partials", lambda path: [])
    built, used = [], []

    def fake_get_encoder(name, weights=None, input_size=None, device="cpu"):
        built.append(SimpleNamespace(encoder_name=name, weights=weights, input_size=input_size,
                                     device=device))
        return built[-1]

    monkeypatch.setattr(features, "get_encoder", fake_get_encoder)
    monkeypatch.setattr(features, "extract_features", lambda jobs, enc, **kw: used.append(enc))
    job = ExtractionJob(tmp_path / "s.tiff", tmp_path / "p.h5", tmp_path / "f.h5")
    features.extract_slide(job, **_KEY_BASE)
    features.extract_slide(job, **{**_KEY_BASE, field: other})
    features.extract_slide(job, **_KEY_BASE)
    assert len(built) == 2
    assert getattr(used[1], field) == other                  # built for the changed request
    assert used[2] is used[0]                                # the first one reused


# --- round 9: each rule of the stale-features check, on files written as TRIDENT writes them ---
_C3 = np.array([[0, 0], [512, 0], [0, 512]])
_GRID = {"patch_size_level0": 512, "patch_size": 256, "target_mpp": 0.5}


def _trident_pair(folder, feat_coords=_C3, coords=_C3, feat_grid=None, grid=None,
                  encoder: str | None = "enc", input_size=224):
    """A coordinates file and a features file written with h5py directly: int32 coordinates,
    the encoder name as bytes and the input size as a NumPy integer, as other tools store
    them. Returns the job that pairs them."""
    import h5py

    with h5py.File(folder / "p.h5", "w") as f:
        f.create_dataset("coords", data=np.asarray(coords, np.int32)).attrs.update(
            _GRID if grid is None else grid)
    with h5py.File(folder / "f.h5", "w") as f:
        f.create_dataset("coords", data=np.asarray(feat_coords, np.int32)).attrs.update(
            _GRID if feat_grid is None else feat_grid)
        d = f.create_dataset("features", data=np.zeros((len(feat_coords), 4), np.float32))
        if encoder is not None:
            d.attrs["encoder"] = np.bytes_(encoder)
        d.attrs["input_size"] = np.int64(input_size)
    return ExtractionJob(REAL_SVS, folder / "p.h5", folder / "f.h5")


@pytest.mark.parametrize("change, named", [
    ({}, None),
    ({"grid": {**_GRID, "target_mpp": 0.5 + 1e-12}}, None),            # equal up to rounding
    ({"grid": {"patch_size_level0": 512}}, None),                     # one side lacks a key
    ({"encoder": None}, ["encoder (file not recorded, requested enc)"]),
    ({"encoder": "uni"}, ["encoder (file uni, requested enc)"]),
    ({"input_size": 448}, ["input_size (file 448, requested 224)"]),
    ({"coords": _C3[:2]}, ["coordinates (the features hold 3 patches, p.h5 now has 2 or other "
                           "positions)"]),
    ({"coords": _C3 + [[0, 0], [0, 0], [0, 256]]},                      # one patch moved
     ["coordinates (the features hold 3 patches, p.h5 now has 3 or other positions)"]),
    ({"grid": {**_GRID, "patch_size": 128}}, ["patch_size (features 256, coordinates file 128)"]),
    ({"grid": {**_GRID, "target_mpp": 0.25}}, ["target_mpp (features 0.5, coordinates file 0.25)"]),
    ({"encoder": "uni", "input_size": 448, "grid": {**_GRID, "target_mpp": 1.0}},
     ["encoder (file uni, requested enc)", "input_size (file 448, requested 224)",
      "target_mpp (features 0.5, coordinates file 1.0)"]),
])
def test_r9_stale_features_reason_names_every_difference_and_only_real_ones(tmp_path, change,
                                                                            named):
    """Each field that makes existing features stale (encoder, input size, coordinate count or
    positions, patch_size_level0 / patch_size / target_mpp) on its own and together, and the
    non-differences: bytes vs str names, NumPy vs Python ints, floats equal up to rounding, an
    attribute one side does not record. Catches bytes not decoded, the input size or
    target_mpp not compared, moved patches missed, exact float comparison, a missing attribute
    compared (TypeError), and only the first difference reported."""
    from types import SimpleNamespace

    job = _trident_pair(tmp_path, **change)
    reason = features.stale_features_reason(job, SimpleNamespace(name="enc", input_size=224))
    if named is None:
        assert reason is None
    else:
        assert reason == (f"{tmp_path / 'f.h5'} was made with other settings: "
                          + "; ".join(n.replace("p.h5", str(tmp_path / "p.h5")) for n in named)
                          + ". Pass --overwrite (overwrite=True) to replace it, or write to "
                          "another output folder.")


# ---- round 11 (audit 11): what a worker process receives of a PatchDataset --------------------
def test_r11_a_pickled_patch_dataset_starts_with_no_failures_and_reads_the_same(tiled):
    """A PatchDataset sent to a DataLoader worker (pickled) must read on its own: its slide
    handles and band cache are dropped and its failure list starts empty. Catches the parent's
    failure list inherited (a slide failed in one process blank in every worker), the band key
    kept without its band (the worker slices None), and the open slide handles sent along."""
    import pickle

    out, paths = tiled
    ds = features.PatchDataset(_jobs(out, paths), input_size=64)
    first = int(ds.offsets[1])          # first patch of the second slide
    img0, j0, err0 = ds[0]
    img1, j1, err1 = ds[first]
    assert (j0, err0, j1, err1) == (0, "", 1, "")
    ds[first + 1]                       # leaves slide 1's band cached and both slides open
    ds._failed[0] = "bad"               # slide 0 failed in this process
    blank, j, err = ds[0]
    assert j == 0 and err == "bad" and not blank.any()   # failed: blank image, the reason

    copy = pickle.loads(pickle.dumps(ds))
    assert len(copy) == len(ds)
    c1, cj1, _ = copy[first + 1]        # the patch whose band the parent had cached
    assert cj1 == 1 and torch.equal(c1, ds[first + 1][0])
    c0, cj0, cerr0 = copy[0]            # a fresh process reads slide 0 itself
    assert cj0 == 0 and cerr0 == "" and torch.equal(c0, img0)


@pytest.mark.parametrize("dw, dh, same", [(0, 0, True), (0, 1, False), (-1, 0, False),
                                          (None, None, True)])
def test_r11_coordinates_must_come_from_a_slide_of_the_same_width_and_height(
        tmp_path, encoder, dw, dh, same):
    """Coordinates recording level-0 size W×H are used only on a W×H slide: one pixel off in
    either axis is another slide; a file without the size (TRIDENT) is trusted. Catches the check
    reduced to one axis, or made to refuse files that lack the size."""
    with Slide(REAL_SVS) as s:
        w, h = s.dimensions
    size = {} if dw is None else dict(level0_width=w + dw, level0_height=h + dh)
    job = ExtractionJob(REAL_SVS, tmp_path / "p.h5", tmp_path / "f" / "a.h5")
    write_coords(job.coords_path, [[0, 0], [64, 0], [0, 64]], patch_size_level0=64, **size)
    rep = extract_features([job], encoder, num_workers=0, progress=False)
    if same:
        assert not rep.failed and rep.written == [job.out_path]
        assert read_features(job.out_path)[1].tolist() == [[0, 0], [64, 0], [0, 64]]
    else:
        assert "another slide" in rep.failed[REAL_SVS.name] and not job.out_path.exists()


# --- round 12: what extract_slide hands on, and the open-slide cache --------------------------
def test_r12_extract_slide_hands_every_option_to_extract_features(monkeypatch, tmp_path):
    """extract_slide runs extract_features on its one job with the caller's batch size,
    overwrite and precision, no reader processes and no progress bar; the device comes from the
    worker's slot and the partial files of the job's output are removed first. (Building and
    encoding are faked.) Catches any of these options dropped or replaced by its default."""
    from types import SimpleNamespace

    from milhelpers import cluster

    monkeypatch.setenv(cluster.WORKER_THREADS_ENV, "1")
    monkeypatch.setattr(cluster, "worker_slot", lambda: 3)
    monkeypatch.setattr(features, "_ENCODERS", {})
    slots, removed, calls = [], [], []
    monkeypatch.setattr(features, "resolve_device",
                        lambda device, slot=0: slots.append((device, slot)) or "cpu")
    monkeypatch.setattr(features, "remove_partials", lambda path: removed.append(path) or [])
    monkeypatch.setattr(features, "get_encoder", lambda name, weights=None, input_size=None,
                        device="cpu": SimpleNamespace(name=name))
    monkeypatch.setattr(features, "extract_features",
                        lambda jobs, enc, **kw: calls.append((jobs, enc, kw)) or "report")
    job = ExtractionJob(tmp_path / "s.tiff", tmp_path / "p.h5", tmp_path / "f.h5")
    assert features.extract_slide(job, encoder_name="enc", batch_size=7, device="cuda",
                                  precision="bf16", overwrite=True) == "report"
    (jobs, enc, kw), = calls
    assert jobs == [job] and enc.name == "enc"
    assert kw == dict(batch_size=7, num_workers=0, overwrite=True, progress=False,
                      precision="bf16")
    assert slots == [("cuda", 3)] and removed == [job.out_path]
    features.extract_slide(job, encoder_name="enc")
    assert calls[-1][2] == dict(batch_size=64, num_workers=0, overwrite=False, progress=False,
                                precision="auto")


def test_r12_patch_dataset_keeps_the_four_slides_used_last_open(tiled):
    """Reading one patch of each of six jobs leaves the last four slides open, oldest first
    closed (least recently used). Catches the bound changed or the newest handle evicted."""
    out, paths = tiled
    jobs = _jobs(out, [paths[1]] * 6)
    ds = features.PatchDataset(jobs, 32)
    n = len(read_coords(jobs[0].coords_path)[0])
    for j in range(6):
        img, owner, err = ds[j * n]
        assert owner == j and err == "" and tuple(img.shape) == (3, 32, 32)
    assert list(ds._open) == [2, 3, 4, 5]
    ds[0]
    assert list(ds._open) == [3, 4, 5, 0]


def test_r12_every_stale_output_is_named_and_kept_ones_are_reported(tmp_path):
    """split_done names every stale file (one per line), not just the first; outputs that
    match are returned as kept Paths, in job order. Catches the message cut to the first stale
    file and the kept list lost."""
    from types import SimpleNamespace

    from milhelpers.h5io import write_features

    enc = SimpleNamespace(name="enc", input_size=224)
    jobs = []
    for i, name in enumerate(["ok1", "old1", "ok2", "old2"]):
        write_features(tmp_path / f"{name}.h5", np.zeros((1, 3)), np.zeros((1, 2)),
                       encoder="other" if name.startswith("old") else "enc", input_size=224)
        jobs.append(ExtractionJob(REAL_SVS, tmp_path / "gone.h5", tmp_path / f"{name}.h5"))
    with pytest.raises(features.StaleFeaturesError) as err:
        features.split_done(jobs, enc)
    lines = str(err.value).split("\n")
    assert [line.split(" was made")[0] for line in lines] == [str(tmp_path / "old1.h5"),
                                                                str(tmp_path / "old2.h5")]
    pending, kept = features.split_done([jobs[0], jobs[2]], enc)
    assert pending == [] and kept == [tmp_path / "ok1.h5", tmp_path / "ok2.h5"]
    pending, kept = features.split_done(jobs, enc, overwrite=True)
    assert pending == jobs and kept == []


def test_r12_a_run_with_nothing_to_do_reports_its_skipped_files_device_and_precision(
        tiled, tmp_path):
    """Every output already made: nothing is encoded, the report lists them as skipped and
    still says where and in which precision the encoder would have run (bf16 asked)."""
    from types import SimpleNamespace

    from milhelpers.h5io import write_features

    out, paths = tiled
    jobs = _jobs(out, paths[:1], str(tmp_path / "done"))
    coords, cattrs = read_coords(jobs[0].coords_path)
    write_features(jobs[0].out_path, np.zeros((len(coords), 4)), coords, coords_attrs=cattrs,
                   encoder="fake", input_size=32)
    enc = SimpleNamespace(name="fake", input_size=32, model=torch.nn.Linear(2, 2))
    rep = extract_features(jobs, enc, precision="bf16", progress=False, num_workers=0)
    assert rep.skipped == [jobs[0].out_path] and rep.written == [] and rep.n_patches == 0
    assert (rep.device, rep.precision, rep.failed) == ("cpu", "bf16", {})


def test_r12_an_output_that_cannot_be_written_fails_its_slide_only(tiled, encoder, tmp_path):
    """The output folder is a file: writing fails with an OSError, recorded for that slide with
    the path, and the next slide is still written. Catches the write error escaping (the run
    stops) or the slide counted as written."""
    out, paths = tiled
    (tmp_path / "blocked").write_text("a file, not a folder")
    bad = ExtractionJob(paths[0], out / "patches" / f"{paths[0].stem}.h5",
                        tmp_path / "blocked" / "x.h5")
    good = ExtractionJob(paths[0], out / "patches" / f"{paths[0].stem}.h5", tmp_path / "ok.h5")
    rep = extract_features([bad, good], encoder, batch_size=256, num_workers=0, progress=False)
    assert rep.written == [tmp_path / "ok.h5"]
    assert rep.failed[paths[0].name].startswith(f"writing {bad.out_path} failed: ")


# --- audit 14's survivors ----------------------------------------------------------------------
def test_a14_patches_per_second_is_nan_only_without_a_duration():
    """0 patches in 2 s is a rate of 0.0 (every slide skipped or failed), 8 in 2 s is 4.0, and only
    a zero duration has no rate (NaN). Catches the guard testing the patch count (audit 14)."""
    from milhelpers.features import ExtractionReport

    assert ExtractionReport([], [], 0, 2.0).patches_per_second == 0.0
    assert ExtractionReport([], [], 8, 2.0).patches_per_second == 4.0
    assert np.isnan(ExtractionReport([], [], 8, 0.0).patches_per_second)
