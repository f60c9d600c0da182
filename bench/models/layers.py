"""Finding the layer a CAM-style method explains: by name, or a sensible default per architecture."""

from __future__ import annotations

import difflib

from torch import nn

from bench.core.errors import BenchError

# Architectures whose conventional explained layer is known, by class name.
DEFAULT_LAYERS = {"ResNet": "layer4", "PlainCNN": "features", "VGG": "features", "DenseNet": "features", "MobileNetV2": "features", "MobileNetV3": "features", "EfficientNet": "features", "ConvNeXt": "features"}
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class LayerError(BenchError):
    """A target layer name that the model does not have."""


def default_layer(model: nn.Module) -> str:
    """The conventional explained layer: from the architecture table, else the last convolution."""
    known = DEFAULT_LAYERS.get(type(model).__name__)
    if known is not None:
        return known
    convs = [name for name, module in model.named_modules() if isinstance(module, _CONVS)]
    if not convs:
        raise LayerError(f"{type(model).__name__} has no convolution layer to explain; pass target_layer")
    return convs[-1]


def resolve_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """(name, module) of the target layer; a wrong name is an error listing candidate layers."""
    name = default_layer(model) if name is None else name
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return name, modules[name]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    top = [n for n, _ in model.named_children()]
    raise LayerError(f"{type(model).__name__} has no layer {name!r}{hint} Top-level layers: {', '.join(top)}")
