"""CAM by hand on a fixed-weight network, CAM vs Grad-CAM, the head check, Eigen-CAM vs numpy's SVD."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from adapters.inhouse.activation_cams import CAM, EigenCAM, HeadError
from adapters.inhouse.gradient_cams import GradCAM
from tests.nets import gap_net


def fixed_net() -> nn.Sequential:
    """Identity features (2 channels, 2x2), global average pooling, a linear head with known weights."""
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, -1.0]]))
        head.bias.copy_(torch.tensor([0.5, -0.5]))
    return nn.Sequential(nn.Identity(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()


def test_cam_by_hand() -> None:
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, -1.0], [2.0, 1.0]]]])
    with CAM(fixed_net(), target_layer="0") as explainer:
        class0 = explainer.attribute(x, torch.tensor([0]))
        class1 = explainer.attribute(x, torch.tensor([1]))
    # class 0: 1 * A0 + 2 * A1 ; class 1: 3 * A0 - 1 * A1 (the bias never enters a CAM)
    assert class0.tolist() == [[[1.0, 0.0], [7.0, 6.0]]]
    assert class1.tolist() == [[[3.0, 7.0], [7.0, 11.0]]]


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_cam_equals_gradcam_times_z_before_relu(rank: int) -> None:
    model = gap_net(rank)
    x = torch.randn(3, 3, *{1: (20,), 2: (12, 12), 3: (6, 6, 6)}[rank])
    target = torch.tensor([2, 0, 1])
    cam = CAM(model, target_layer="3").attribute(x, target)
    gradcam = GradCAM(model, target_layer="3", relu=False).attribute(x, target)
    torch.testing.assert_close(gradcam * cam[0].numel(), cam, atol=1e-5 * float(cam.abs().max()), rtol=0)


def test_cam_refuses_a_head_that_is_not_global_pooling() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)).eval()
    with pytest.raises(HeadError, match="global average"):
        CAM(model, target_layer="1").attribute(torch.randn(1, 3, 8, 8), torch.tensor([0]))
    with pytest.raises(HeadError, match="no nn.Linear"):
        CAM(nn.Sequential(nn.Conv2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()), target_layer="0")


def test_eigencam_is_the_first_principal_projection() -> None:
    model = gap_net(2)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    out = EigenCAM(model, target_layer="3", relu=False).attribute(x, torch.tensor([0, 1]))
    features = model[:4](x).detach().double().numpy()
    for n in range(2):
        m = features[n].reshape(features.shape[1], -1).T  # positions x channels
        _, _, vt = np.linalg.svd(m, full_matrices=False)
        projection = m @ vt[0]
        if (projection * m.mean(1)).sum() < 0:
            projection = -projection
        np.testing.assert_allclose(out[n].numpy().ravel(), projection, rtol=1e-4, atol=1e-5)
