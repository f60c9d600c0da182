"""ResNets of another width: torchvision's structure at every width, torchvision's own network at width 64."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from bench.models.builders import ModelSpec, build_model
from bench.models.resnet_width import with_width


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_width_64_is_torchvisions_own_network(arch: str) -> None:
    rebuilt = with_width(torchvision.models.get_model(arch, weights=None), 64)
    assert _shapes(rebuilt) == _shapes(torchvision.models.get_model(arch, weights=None))


@pytest.mark.parametrize(("arch", "block", "expansion"), [("resnet18", BasicBlock, 1), ("resnet50", Bottleneck, 4)])
def test_every_stage_scales_with_the_width(arch: str, block: type, expansion: int) -> None:
    model = build_model(ModelSpec(arch=arch, num_classes=3, params={"width": 16}))
    assert model.conv1.out_channels == 16
    for k, stage in enumerate([model.layer1, model.layer2, model.layer3, model.layer4]):
        assert isinstance(stage[-1], block)
        assert stage[-1].conv1.in_channels == 16 * 2 ** k * expansion
    assert model.fc[-1].in_features == 128 * expansion and model.fc[-1].out_features == 3
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)
    features = {}
    model.layer4.register_forward_hook(lambda _m, _i, out: features.setdefault("layer4", out))
    model(torch.randn(1, 3, 224, 224))
    assert features["layer4"].shape == (1, 128 * expansion, 7, 7)


def test_a_narrow_resnet18_costs_about_a_sixteenth_of_the_compute() -> None:
    def conv_macs(model: nn.Module) -> int:
        total = 0

        def count(module: nn.Conv2d, _inputs: tuple, out: torch.Tensor) -> None:
            nonlocal total
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += out.numel() * k

        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.register_forward_hook(count)
        model(torch.randn(1, 3, 224, 224))
        return total

    full = conv_macs(build_model(ModelSpec(arch="resnet18")))
    narrow = conv_macs(build_model(ModelSpec(arch="resnet18", params={"width": 16})))
    # every conv but the stem has both its channel counts divided by 4; the stem (7x7 from 3 channels, 112x112 out) only its outputs
    stem = 112 * 112 * 64 * 7 * 7 * 3
    assert narrow == (full - stem) // 16 + stem // 4


def test_initialised_as_torchvision_does() -> None:
    model = build_model(ModelSpec(arch="resnet18", params={"width": 8}))
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in norms)
    # kaiming normal, fan_out, relu: std sqrt(2 / fan_out)
    conv = model.layer4[1].conv2
    fan_out = conv.out_channels * 9
    assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.15)


@pytest.mark.parametrize("width", [0, -4, 2.5, True, "16"])
def test_a_bad_width_is_refused(width: object) -> None:
    with pytest.raises(ValueError, match="arch_params.width must be a positive integer"):
        build_model(ModelSpec(arch="resnet18", params={"width": width}))


def test_width_is_refused_for_other_families_and_with_imagenet_weights(tmp_path) -> None:
    with pytest.raises(ValueError, match="torchvision's ResNets, not VGG"):
        build_model(ModelSpec(arch="vgg11", params={"width": 16}))
    with pytest.raises(ValueError, match="pretrained ImageNet weights need torchvision's own width"):
        build_model(ModelSpec(arch="resnet18", pretrained=str(tmp_path / "w.pth"), params={"width": 16}))
    with pytest.raises(ValueError, match=r"arch_params \['depth'\]"):
        build_model(ModelSpec(arch="resnet18", params={"depth": 3}))
