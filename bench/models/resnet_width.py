"""ResNets of another width: torchvision's ResNet classes with every stage's channel count scaled by one factor.

A ResNet-18 at width 16 keeps the depth, the residual blocks, batch norm and the layer names of torchvision's (so
every adapter, target layer and canonizer that knows torchvision's ResNets applies) at about 1/16 of the compute:
what a demo on 2 CPU cores can afford for methods that need hundreds of forward passes per image.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import ResNet

STANDARD_WIDTH = 64
STAGES = ("layer1", "layer2", "layer3", "layer4")


def with_width(model: ResNet, width: int) -> ResNet:
    """model rebuilt with `width` stem channels (torchvision's is 64), stage k having width * 2**k, initialised as torchvision does."""
    if not isinstance(model, ResNet):
        raise ValueError(f"arch_params.width applies to torchvision's ResNets, not {type(model).__name__}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"arch_params.width must be a positive integer (torchvision's ResNets have {STANDARD_WIDTH}), got {width!r}")
    block = type(model.layer1[0])
    blocks = [len(getattr(model, stage)) for stage in STAGES]
    classes = model.fc.out_features
    model.inplanes, model.dilation = width, 1
    model.conv1 = nn.Conv2d(model.conv1.in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = model._norm_layer(width)
    for k, (stage, count) in enumerate(zip(STAGES, blocks)):
        setattr(model, stage, model._make_layer(block, width * 2 ** k, count, stride=1 if k == 0 else 2))
    model.fc = nn.Linear(width * 2 ** (len(STAGES) - 1) * block.expansion, classes)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return model
