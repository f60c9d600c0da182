"""The forward-only fast path: the plain forward's result up to round-off, as an ordinary tensor, whatever the input rank."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from bench.models.fast_path import fast_layout, infer


def _plain(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("make, shape", [
    (lambda: torchvision.models.resnet18(num_classes=3), (6, 3, 64, 64)),
    (lambda: nn.Sequential(nn.Conv1d(1, 4, 5), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 2)), (5, 1, 40)),
    (lambda: nn.Sequential(nn.Conv3d(2, 4, 3), nn.BatchNorm3d(4), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2)),
     (4, 2, 8, 8, 8)),
])
def test_infer_is_the_plain_forward_up_to_round_off(make, shape) -> None:
    torch.manual_seed(0)
    model, x = make().eval(), torch.randn(*shape)
    fast = infer(model, x)
    torch.testing.assert_close(fast, _plain(model, x), rtol=1e-5, atol=1e-5)
    fast += 1.0  # an ordinary tensor: in-place updates and autograd work on it
    assert not torch.is_inference(fast)
    assert x.is_contiguous()  # the caller's tensor is left in its layout


def test_fast_layout_is_channels_last_for_batches_of_images_and_volumes_only() -> None:
    assert fast_layout(torch.zeros(4, 3, 4, 5)).is_contiguous(memory_format=torch.channels_last)
    assert fast_layout(torch.zeros(4, 3, 4, 5, 6)).is_contiguous(memory_format=torch.channels_last_3d)
    signal, pair = torch.zeros(4, 1, 9), torch.zeros(2, 3, 4, 5)
    assert fast_layout(signal) is signal and fast_layout(pair) is pair


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_infer_on_cuda_is_the_cpu_forward_up_to_round_off() -> None:
    torch.manual_seed(0)
    model, x = torchvision.models.resnet18(num_classes=3).eval(), torch.randn(8, 3, 64, 64)
    reference = _plain(model, x)
    # TF32 matmuls would differ by more than float32 round-off; the fast path must not rely on them.
    with torch.backends.cudnn.flags(allow_tf32=False):
        on_gpu = infer(model.cuda(), x.cuda())
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), reference, rtol=1e-4, atol=1e-4)
