"""Tiny networks of every spatial rank, shared by the tests."""

from __future__ import annotations

import torch
from torch import nn

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


def gap_net(rank: int = 2, channels: int = 3, classes: int = 3, seed: int = 0) -> nn.Sequential:
    """conv-relu-conv-relu, global average pooling, linear: the CAM architecture, in eval mode."""
    torch.manual_seed(seed)
    return nn.Sequential(
        CONV[rank](channels, 8, 3, padding=1), nn.ReLU(),
        CONV[rank](8, 6, 3, padding=1, stride=2), nn.ReLU(),
        POOL[rank](1), nn.Flatten(), nn.Linear(6, classes),
    ).eval()


def spatial_shape(rank: int) -> tuple[int, ...]:
    """A small input extent for each rank."""
    return {1: (32,), 2: (16, 16), 3: (8, 8, 8)}[rank]
