"""Our own small classifiers: one configurable plain CNN for 1-D, 2-D and 3-D inputs, and named presets of it.

PlainCNN is conv blocks (`features`) then a head (`classifier`). Its explained layer is `features`: the output of
the conv stack, i.e. the last block's ReLU, or that block's pooling when a pooling layer follows the last conv.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_BATCHNORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_POOL = {"max": {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}, "avg": {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}}
_GAP = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
_PADDINGS = ("same", "valid")
_POOLS = ("none", "max", "avg")
_HEADS = ("gap", "flatten")


def _is_int(value: Any) -> bool:
    # bool is an int subclass; True as a width or a kernel is a mistake, not 1
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(name: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _positive_ints(name: str, values: Any, *, allow_empty: bool) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not all(_is_int(v) and v >= 1 for v in values):
        raise ValueError(f"{name} must be a sequence of positive integers, got {values!r}")
    if not values and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return tuple(values)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


class PlainCNN(nn.Module):
    """Conv blocks then a head: gap (global average pool + linear) or flatten (+ dense layers).

    features: per width a conv (Conv1d/2d/3d by rank), a BatchNorm when batchnorm, and a ReLU; after every
    pool_every conv layers a max or average pooling of kernel 2 unless pool is "none". Every conv has the same
    kernel and stride; padding "same" keeps the length at stride 1 and pads kernel // 2 at larger strides, "valid"
    pads nothing. input_shape is the spatial shape (no channel axis): the flatten head's size depends on it, and it
    is checked to survive every conv and pooling.

    classifier: for head "gap", AdaptiveAvgPool -> Flatten -> Dropout -> Linear, so that in eval mode the Linear's
    input is features(x) averaged over its spatial axes (what CAM requires); for head "flatten", Flatten -> per
    hidden width Linear + ReLU + Dropout -> Linear. hidden layers exist only in the flatten head, and dropout needs
    a place to act: the gap head, or at least one hidden layer.
    """

    def __init__(self, *, rank: int, in_channels: int, num_classes: int, input_shape: tuple[int, ...],
                 widths: Sequence[int] = (32, 32, 32), kernel: int = 3, stride: int = 1, padding: str = "same",
                 pool: str = "none", pool_every: int = 1, batchnorm: bool = False,
                 head: str = "gap", hidden: Sequence[int] = (), dropout: float = 0.0) -> None:
        super().__init__()
        if not _is_int(rank) or rank not in _CONV:
            raise ValueError(f"rank must be 1, 2 or 3, got {rank!r}")
        _positive_int("in_channels", in_channels)
        _positive_int("num_classes", num_classes)
        shape = _positive_ints("input_shape", input_shape, allow_empty=False)
        if len(shape) != rank:
            raise ValueError(f"input_shape must have rank={rank} spatial sizes (no channel axis), got {input_shape!r}")
        widths = _positive_ints("widths", widths, allow_empty=False)
        _positive_int("kernel", kernel)
        _positive_int("stride", stride)
        _choice("padding", padding, _PADDINGS)
        _choice("pool", pool, _POOLS)
        _positive_int("pool_every", pool_every)
        if not isinstance(batchnorm, bool):
            raise ValueError(f"batchnorm must be True or False, got {batchnorm!r}")
        _choice("head", head, _HEADS)
        hidden = _positive_ints("hidden", hidden, allow_empty=True)
        if head == "gap" and hidden:
            raise ValueError("hidden layers need head 'flatten': the gap head is a single linear layer on the pooled features")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        if dropout and head == "flatten" and not hidden:
            raise ValueError("dropout has no effect with head 'flatten' and no hidden layers; set hidden or use head 'gap'")

        # stride 1 uses torch's own "same", which also handles even kernels (asymmetric padding)
        conv_padding: int | str = 0 if padding == "valid" else "same" if stride == 1 else kernel // 2
        layers: list[nn.Module] = []
        sizes = list(shape)
        channels = in_channels
        for i, width in enumerate(widths, start=1):
            # a conv before batch norm needs no bias: the norm's shift replaces it
            layers.append(_CONV[rank](channels, width, kernel, stride=stride, padding=conv_padding, bias=not batchnorm))
            if batchnorm:
                layers.append(_BATCHNORM[rank](width))
            layers.append(nn.ReLU())
            channels = width
            if conv_padding != "same":
                sizes = [(s + 2 * conv_padding - kernel) // stride + 1 for s in sizes]
            if pool != "none" and i % pool_every == 0:
                layers.append(_POOL[pool][rank](2))
                sizes = [s // 2 for s in sizes]
            if min(sizes) < 1:
                raise ValueError(f"input_shape {shape} is too small for {len(widths)} conv layers (kernel {kernel}, stride "
                                 f"{stride}, padding {padding!r}) with pool {pool!r} every {pool_every}: nothing is left after conv layer {i}")
        self.features = nn.Sequential(*layers)

        if head == "gap":
            self.classifier = nn.Sequential(_GAP[rank](1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes))
        else:
            dense: list[nn.Module] = [nn.Flatten()]
            size = channels * math.prod(sizes)
            for width in hidden:
                dense += [nn.Linear(size, width), nn.ReLU(), nn.Dropout(dropout)]
                size = width
            dense.append(nn.Linear(size, num_classes))
            self.classifier = nn.Sequential(*dense)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of inputs (N, in_channels, *input_shape)."""
        return self.classifier(self.features(x))


PRESETS: dict[str, dict[str, Any]] = {
    # PlainCNN's defaults: three 32-wide 3-wide convs, no pooling, GAP + linear head
    "plain_cnn": {},
    # The MNIST1D study's shallow 1-D CNN. Greydanus' MNIST1D ConvBase has 3 conv layers of 25 channels with kernels
    # 5/3/3 and stride 2; the study changed it to stride 1 and no pooling so the maps keep the input's resolution.
    # Here: 3 conv layers of width 32, kernel 5, stride 1, "same" padding, no pooling, flatten head, no hidden layer.
    "mnist1d_cnn": {"widths": (32, 32, 32), "kernel": 5, "stride": 1, "padding": "same", "pool": "none", "head": "flatten", "hidden": ()},
    # VGG-style net of 7 weight layers for 150x150 RGB histology: 6 convs (kernel 3, max pooling after every 2) and
    # 1 linear. A flatten head would be large (128 x 18 x 18 inputs), so the head is GAP + linear, which also keeps
    # CAM applicable.
    "vgg7": {"widths": (32, 32, 64, 64, 128, 128), "kernel": 3, "padding": "same", "pool": "max", "pool_every": 2,
             "batchnorm": False, "head": "gap", "hidden": ()},
    # The pothole study's MNIST net: 2 valid convs (32, 64, kernel 3), max pooling after the second, then a flatten
    # head with one hidden dense layer of 128 and dropout 0.25: 2 conv + 2 dense weight layers.
    "mnist_2conv": {"widths": (32, 64), "kernel": 3, "padding": "valid", "pool": "max", "pool_every": 2, "head": "flatten",
                    "hidden": (128,), "dropout": 0.25},
}

# What an override may set: everything but the data-dependent arguments build_zoo takes explicitly
_OVERRIDABLE = tuple(name for name in inspect.signature(PlainCNN.__init__).parameters
                     if name not in ("self", "rank", "in_channels", "num_classes", "input_shape"))


def build_zoo(name: str, *, rank: int, in_channels: int, num_classes: int, input_shape: tuple[int, ...], **overrides: Any) -> PlainCNN:
    """The preset `name` for this data, its keyword arguments updated by overrides, in eval mode."""
    if name not in PRESETS:
        raise ValueError(f"unknown zoo preset {name!r}; choose one of {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - set(_OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown parameter {', '.join(map(repr, unknown))} for zoo preset {name!r}; choose from {', '.join(_OVERRIDABLE)}")
    model = PlainCNN(rank=rank, in_channels=in_channels, num_classes=num_classes, input_shape=input_shape,
                     **{**PRESETS[name], **overrides})
    return model.eval()
