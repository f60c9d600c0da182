"""torchvision ResNets with a configurable head, optional batch-norm removal and local ImageNet weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.core.errors import InputError
from bench.models.architectures import ARCHITECTURES

# ImageNet normalisation: the statistics the torchvision weights were trained with.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
IMAGENET_FILES = {"resnet18": "resnet18-f37072fd.pth", "resnet34": "resnet34-b627a593.pth", "resnet50": "resnet50-0676ba61.pth"}


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of a classifier: depth, classes, head dropout, batch norm, ImageNet weights file."""

    arch: str = "resnet18"
    num_classes: int = 2
    dropout: float = 0.0
    batchnorm: bool = True
    pretrained: str | None = None


def _bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv, batch-norm) module names that torchvision's ResNets pair by naming convention."""
    pairs = []
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            parent, _, leaf = name.rpartition(".")
            conv = "conv" + leaf[2:] if leaf.startswith("bn") else "0"
            pairs.append((f"{parent}.{conv}" if parent else conv, name))
    return pairs


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def remove_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d by Identity, folding its affine map and statistics into the conv before it."""
    for conv_name, bn_name in _bn_pairs(model):
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, bias=True)
        with torch.no_grad():
            folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            old_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            folded.bias.copy_(bn.bias + (old_bias - bn.running_mean) * scale)
        _set_module(model, conv_name, folded)
        _set_module(model, bn_name, nn.Identity())
    return model


def load_imagenet_weights(model: nn.Module, spec: ModelSpec) -> None:
    """Load torchvision ImageNet weights from the local file spec.pretrained, all but the head."""
    path = Path(spec.pretrained)
    if not path.is_file():
        raise InputError(path, "pretrained", (
            f"ImageNet weights file not found. Downloads are not made at run time: on a machine with internet run "
            f"`python -c \"import torchvision; torchvision.models.{spec.arch}(weights='IMAGENET1K_V1')\"`, then copy "
            f"~/.cache/torch/hub/checkpoints/{IMAGENET_FILES[spec.arch]} to this path"))
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    head = {k for k in missing if k.startswith("fc.")}
    if set(missing) - head or unexpected:
        raise InputError(path, "pretrained", f"not {spec.arch} ImageNet weights: missing {sorted(set(missing) - head)[:5]}, unexpected {sorted(unexpected)[:5]}")


def build_model(spec: ModelSpec) -> nn.Module:
    """A ResNet for spec, in eval mode; its head is fc = Sequential(Dropout, Linear)."""
    if spec.arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {spec.arch!r}; choose one of {ARCHITECTURES.names()}")
    model = ARCHITECTURES.get(spec.arch)(weights=None)
    if spec.pretrained:
        load_imagenet_weights(model, spec)
    model.fc = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(model.fc.in_features, spec.num_classes))
    if not spec.batchnorm:
        remove_batchnorm(model)
    return model.eval()


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N,3,H,W) to the float input the models expect (ImageNet mean and std)."""
    mean = torch.tensor(MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std
