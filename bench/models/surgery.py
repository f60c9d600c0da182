"""Architecture-independent model surgery: classifier head, input channels and batch-norm removal for any nn.Module.

The former `bench.models.resnet` (until commit 2744573) did this for ResNets only, by their naming convention; these functions find the layers
structurally (the last Linear, the first convolution, and with torch.fx the convolution that feeds each batch norm),
so they work for every torchvision classifier and for user models. All of them modify the model in place.
"""

from __future__ import annotations

import torch
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class ChannelAffine(nn.Module):
    """Per-channel y = x * weight + bias on dim 1: what an eval-mode batch norm computes, as learnable parameters."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone())
        self.bias = nn.Parameter(bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale and shift every channel (dim 1) of x, for inputs (N, C) or (N, C, *spatial)."""
        # Moving the channels last lets the parameters broadcast without a shape built from x.dim(),
        # which keeps the module traceable by torch.fx (a second remove_batchnorm, feature extractors).
        return (x.transpose(1, -1) * self.weight + self.bias).transpose(1, -1)

    def extra_repr(self) -> str:
        """The channel count, as BatchNorm prints it."""
        return f"{self.weight.numel()}"


def _set_module(model: nn.Module, old: nn.Module, new: nn.Module) -> None:
    """Put new wherever old is registered (a module may be registered under several names)."""
    for name, module in list(model.named_modules(remove_duplicate=False)):
        if module is old and name:
            parent, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, new)


def classifier_head(model: nn.Module) -> str:
    """Name of the final nn.Linear that produces the logits."""
    # Registration order ends with the head in every torchvision classifier (and in nearly every hand-written one).
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear) and name]
    if not names:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to use as classifier head")
    return names[-1]


def replace_head(model: nn.Module, num_classes: int, dropout: float = 0.0) -> str:
    """Replace the final linear layer by Sequential(Dropout(dropout), Linear(in, num_classes)); returns its name."""
    name = classifier_head(model)
    old = model.get_submodule(name)
    # The constructor call the former ResNet-only builder made, so a seeded ResNet gets the very same head weights.
    linear = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
    head = nn.Sequential(nn.Dropout(dropout), linear)
    head.train(old.training)
    _set_module(model, old, head)
    return name


def adapt_input_channels(model: nn.Module, channels: int) -> str:
    """Make the first convolution accept `channels` input channels; returns its name."""
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    name = next((n for n, m in model.named_modules() if isinstance(m, _CONVS)), None)
    if name is None:
        raise ValueError(f"{type(model).__name__} has no convolution layer to adapt to {channels} input channels")
    conv = model.get_submodule(name)
    if conv.in_channels == channels:
        return name
    if conv.groups != 1:
        raise ValueError(f"{type(model).__name__}.{name} is a grouped convolution (groups={conv.groups}): "
                         f"its input channels cannot be changed")
    base = next(cls for cls in _CONVS if isinstance(conv, cls))
    new = base(channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, 1,
               bias=conv.bias is not None, padding_mode=conv.padding_mode, device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        # The mean filter times in/channels: `channels` copies of one grey image then give exactly the activations
        # the old filter gave on that image copied into every old channel (both sum the old filters once).
        mean = conv.weight.mean(dim=1, keepdim=True) * (conv.in_channels / channels)
        new.weight.copy_(mean.expand(-1, channels, *mean.shape[2:]))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    new.requires_grad_(conv.weight.requires_grad)
    new.train(conv.training)
    _set_module(model, conv, new)
    return name


def _foldable(model: nn.Module, batchnorms: dict[str, _BatchNorm]) -> dict[str, str]:
    """{batch-norm name: conv name} for each batch norm fed by a convolution's output that nothing else uses."""
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception:  # any tracing failure (control flow on tensor values, unsupported ops): fold nothing, replace all
        return {}
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    # A conv whose parameters forward reads directly (get_attr) or shares with another module would see the folded values.
    read = {node.target.rpartition(".")[0] for node in graph.nodes if node.op == "get_attr"}
    owners: dict[int, int] = {}
    for _, param in model.named_parameters(remove_duplicate=False):
        owners[id(param)] = owners.get(id(param), 0) + 1
    pairs = {}
    for node in graph.nodes:
        if node.op != "call_module" or node.target not in batchnorms or calls[node.target] != 1 or not node.args:
            continue
        source = node.args[0]
        if not isinstance(source, fx.Node) or source.op != "call_module" or len(source.users) != 1:
            continue
        conv = model.get_submodule(source.target)
        # Exact types only: a subclass may change forward, and the fold rebuilds a plain convolution.
        if type(conv) not in _CONVS or calls[source.target] != 1 or source.target in read:
            continue
        if any(owners[id(p)] > 1 for p in conv.parameters()):
            continue
        pairs[node.target] = source.target
    return pairs


def _bn_scale(bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, bias) with bn(x) = (x - running_mean) * scale + bias in eval mode; weight 1 and bias 0 where affine=False."""
    weight = bn.weight.detach() if bn.weight is not None else torch.ones_like(bn.running_var)
    bias = bn.bias.detach() if bn.bias is not None else torch.zeros_like(bn.running_mean)
    return weight / torch.sqrt(bn.running_var + bn.eps), bias


def _fold(conv: nn.Module, bn: _BatchNorm) -> nn.Module:
    """A convolution with bias computing bn(conv(x)) in eval mode."""
    # The former ResNet-only folding's operations in the same order, so the ResNet result is bit-identical;
    # building the conv the same way draws the same random numbers, so later seeded draws are unchanged too.
    scale, bias = _bn_scale(bn)
    folded = type(conv)(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups,
                        bias=True, padding_mode=conv.padding_mode, device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale.view(-1, *([1] * (conv.weight.dim() - 1))))
        old_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        folded.bias.copy_(bias + (old_bias - bn.running_mean) * scale)
    folded.requires_grad_(conv.weight.requires_grad)
    folded.train(conv.training)
    return folded


def remove_batchnorm(model: nn.Module) -> nn.Module:
    """Remove every BatchNorm (1d/2d/3d) exactly in eval mode: folded into the conv that alone feeds it, else made a ChannelAffine."""
    batchnorms = {name: m for name, m in model.named_modules() if isinstance(m, _BatchNorm)}
    # Checked before any change, so a model that cannot be converted is left as it was.
    for name, bn in batchnorms.items():
        if bn.running_mean is None or bn.running_var is None:
            raise ValueError(f"{type(model).__name__}.{name} ({type(bn).__name__} with track_running_stats=False) normalises with "
                             f"batch statistics, which no fixed layer reproduces; it cannot be removed exactly")
    if not batchnorms:
        return model
    pairs = _foldable(model, batchnorms)
    # Applied in registration order, as the former ResNet-only folding did (same order of random draws).
    for name, bn in batchnorms.items():
        if name in pairs:
            conv = model.get_submodule(pairs[name])
            _set_module(model, conv, _fold(conv, bn))
            # Identity under the batch norm's name: state dicts keep the layout models trained before this module had.
            _set_module(model, bn, nn.Identity())
        else:
            scale, bias = _bn_scale(bn)
            affine = ChannelAffine(scale, bias - bn.running_mean * scale)
            affine.train(bn.training)
            _set_module(model, bn, affine)
    return model
