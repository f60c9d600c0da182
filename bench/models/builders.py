"""Building a suite's classifier from its source: torchvision by name, our zoo, or a user's factory; heads, batch norm, weights."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.core.errors import InputError
from bench.models.architectures import parse_arch, torchvision_names
from bench.models.surgery import adapt_input_channels, classifier_head, remove_batchnorm, replace_head


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of a classifier: source and name, classes, head dropout, batch norm, ImageNet weights file, input layout."""

    arch: str = "resnet18"
    num_classes: int = 2
    dropout: float = 0.0
    batchnorm: bool = True
    pretrained: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    channels: int = 3
    input_shape: tuple[int, ...] = ()

    @classmethod
    def from_card(cls, data: dict) -> ModelSpec:
        """The spec a model card recorded (cards written before the input layout was recorded are RGB images)."""
        return cls(**{**data, "pretrained": None, "input_shape": tuple(data.get("input_shape", ()))})


def imagenet_file(name: str) -> str:
    """The file name torchvision gives the model's ImageNet weights in its download cache."""
    import torchvision

    return torchvision.models.get_model_weights(name).DEFAULT.url.rsplit("/", 1)[-1]


def load_imagenet_weights(model: nn.Module, spec: ModelSpec, name: str) -> None:
    """Load torchvision ImageNet weights from the local file spec.pretrained into the 1000-class model, all but the head."""
    path = Path(spec.pretrained)
    if not path.is_file():
        raise InputError(path, "pretrained", (
            f"ImageNet weights file not found. Downloads are not made at run time: on a machine with internet run "
            f"`python -c \"import torchvision; torchvision.models.get_model('{name}', weights='DEFAULT')\"`, then copy "
            f"~/.cache/torch/hub/checkpoints/{imagenet_file(name)} to this path"))
    head = classifier_head(model)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith(head + ".")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    body = sorted(k for k in missing if not k.startswith(head + "."))
    if body or unexpected:
        raise InputError(path, "pretrained", f"not {name} ImageNet weights: missing {body[:5]}, unexpected {sorted(unexpected)[:5]}")


def _torchvision(spec: ModelSpec, name: str) -> nn.Module:
    import torchvision

    if name not in torchvision_names():
        raise ValueError(f"torchvision has no classifier {name!r}; see `bench ls architectures`")
    if len(spec.input_shape) not in (0, 2):
        raise ValueError(f"torchvision's {name} takes images (2 spatial axes); the data has {len(spec.input_shape)}")
    unknown = sorted(set(spec.params) - {"width"})
    if unknown:
        raise ValueError(f"arch_params {unknown} are for zoo: and python: models; torchvision models take only `width` (ResNets)")
    model = torchvision.models.get_model(name, weights=None)
    if "width" in spec.params:
        if spec.pretrained:
            raise ValueError("pretrained ImageNet weights need torchvision's own width; drop arch_params.width or pretrained")
        from bench.models.resnet_width import with_width

        model = with_width(model, spec.params["width"])
    if spec.pretrained:
        load_imagenet_weights(model, spec, name)
    replace_head(model, spec.num_classes, spec.dropout)
    if spec.channels != 3:
        adapt_input_channels(model, spec.channels)
    return model


def _zoo(spec: ModelSpec, name: str) -> nn.Module:
    from bench.models.zoo import build_zoo

    if spec.pretrained:
        raise ValueError("pretrained ImageNet weights exist only for torchvision models")
    if not spec.input_shape:
        raise ValueError("zoo models need the input shape (it comes from the data)")
    params = {"dropout": spec.dropout, **spec.params} if spec.dropout else dict(spec.params)
    return build_zoo(name, rank=len(spec.input_shape), in_channels=spec.channels, num_classes=spec.num_classes,
                     input_shape=tuple(spec.input_shape), **params)


def _python(spec: ModelSpec, target: str) -> nn.Module:
    if spec.pretrained or spec.dropout:
        raise ValueError("pretrained and dropout apply to torchvision and zoo models; a factory sets up its own head")
    module_name, _, attr = target.rpartition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import the model factory {target!r}: {err}") from err
    accepted = inspect.signature(factory).parameters
    given = {"num_classes": spec.num_classes, "in_channels": spec.channels, "input_shape": spec.input_shape}
    model = factory(**{k: v for k, v in given.items() if k in accepted}, **spec.params)
    if not isinstance(model, nn.Module):
        raise ValueError(f"the factory {target!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


_BUILDERS = {"torchvision": _torchvision, "zoo": _zoo, "python": _python}


def build_model(spec: ModelSpec) -> nn.Module:
    """The classifier for spec, in eval mode, its logits of size num_classes; batch norm removed (folded) if asked."""
    source, name = parse_arch(spec.arch)
    model = _BUILDERS[source](spec, name)
    if not spec.batchnorm:
        remove_batchnorm(model)
    return model.eval()
