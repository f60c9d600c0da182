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


def test_gradients_through_the_channels_last_layout_are_the_plain_gradients_up_to_round_off() -> None:
    from adapters.inhouse.gradient_cams import layer_activation_and_gradient
    from adapters.inhouse.input_gradients import input_gradient

    torch.manual_seed(0)
    model, x, target = torchvision.models.resnet18(num_classes=3).eval(), torch.randn(6, 3, 64, 64), torch.tensor([0, 1, 2, 0, 1, 2])
    leaf = x.clone().requires_grad_(True)
    activation = {}
    handle = model.layer4.register_forward_hook(lambda m, a, out: activation.setdefault("a", out))
    score = model(leaf).gather(1, target.view(-1, 1)).sum()
    handle.remove()
    plain_input, plain_layer = torch.autograd.grad(score, [leaf, activation["a"]])

    grad, _ = input_gradient(model, x, target)
    assert grad.is_contiguous()
    torch.testing.assert_close(grad, plain_input, rtol=1e-4, atol=1e-6)
    a, g = layer_activation_and_gradient(model, model.layer4, x, target)
    torch.testing.assert_close(a, activation["a"].detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g, plain_layer, rtol=1e-4, atol=1e-6)
