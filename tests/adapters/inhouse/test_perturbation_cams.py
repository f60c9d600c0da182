"""Score-CAM by hand and Ablation-CAM against a direct channel-by-channel evaluation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from adapters.inhouse.perturbation_cams import AblationCAM, ScoreCAM
from tests.nets import gap_net

X = [[[1.0, 2.0], [3.0, 4.0]], [[0.0, -1.0], [2.0, 1.0]]]
W = [[1.0, 2.0], [3.0, -1.0]]
B = [0.5, -0.5]


def fixed_net() -> nn.Sequential:
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor(W))
        head.bias.copy_(torch.tensor(B))
    return nn.Sequential(nn.Identity(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()


def score_cam_by_hand(target: int, weights: str) -> list[list[float]]:
    def minmax(channel):
        flat = [v for row in channel for v in row]
        lo, hi = min(flat), max(flat)
        return [[(v - lo) / (hi - lo) for v in row] for row in channel]

    probs, logits = [], []
    for k in range(2):
        h = minmax(X[k])
        means = [sum(X[c][i][j] * h[i][j] for i in range(2) for j in range(2)) / 4 for c in range(2)]
        z = [sum(W[o][c] * means[c] for c in range(2)) + B[o] for o in range(2)]
        logits.append(z[target])
        probs.append(math.exp(z[target]) / sum(math.exp(v) for v in z))
    if weights == "channel_softmax":
        probs = [math.exp(v) / sum(math.exp(u) for u in logits) for v in logits]
    return [[max(0.0, sum(probs[k] * X[k][i][j] for k in range(2))) for j in range(2)] for i in range(2)]


@pytest.mark.parametrize("weights", ["probability", "channel_softmax"])
@pytest.mark.parametrize("target", [0, 1])
def test_score_cam_by_hand(target: int, weights: str) -> None:
    got = ScoreCAM(fixed_net(), target_layer="0", weights=weights).attribute(torch.tensor([X]), torch.tensor([target]))
    torch.testing.assert_close(got[0], torch.tensor(score_cam_by_hand(target, weights)), rtol=1e-5, atol=1e-6)


def test_score_cam_constant_channel_gets_the_zero_input_score() -> None:
    x = torch.tensor([[X[0], [[2.0, 2.0], [2.0, 2.0]]]])  # channel 1 is constant: its mask is all zeros
    model = fixed_net()
    got = ScoreCAM(model, target_layer="0").attribute(x, torch.tensor([0]))
    p_zero = torch.softmax(model(torch.zeros_like(x)), 1)[0, 0]
    h0 = (x[0, 0] - 1) / 3
    p0 = torch.softmax(model(x * h0), 1)[0, 0]
    torch.testing.assert_close(got[0], torch.relu(p0 * x[0, 0] + p_zero * x[0, 1]).detach())


class SkipNet(nn.Module):
    """A residual connection around the target layer: its output alone does not determine the logits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        return self.head((self.block(s) + s).mean((2, 3)))


def ablation_by_hand(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    seen = {}
    handle = layer.register_forward_hook(lambda m, i, o: seen.setdefault("a", o.detach()))
    with torch.no_grad():
        y = model(x).gather(1, target.view(-1, 1)).squeeze(1)
    handle.remove()
    a = seen["a"]
    cam = torch.zeros(a.shape[0], *a.shape[2:])
    for k in range(a.shape[1]):
        def zero_k(m, i, o, k=k):
            o = o.clone()
            o[:, k] = 0
            return o
        handle = layer.register_forward_hook(zero_k)
        with torch.no_grad():
            yk = model(x).gather(1, target.view(-1, 1)).squeeze(1)
        handle.remove()
        cam += ((y - yk) / y).view(-1, 1, 1) * a[:, k]
    return torch.relu(cam)


def test_ablation_cam_shortcut_through_the_head() -> None:
    model = gap_net(2)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    target = torch.tensor([0, 2, 1])
    explainer = AblationCAM(model, target_layer="3", memory_budget_mib=0.01)
    got = explainer.attribute(x, target)
    assert explainer.shortcut_used is True
    expected = ablation_by_hand(model, model[3], x, target)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


def test_ablation_cam_falls_back_when_the_head_reuses_earlier_tensors() -> None:
    model = SkipNet().eval()
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(7))
    target = torch.tensor([1, 0, 1])
    explainer = AblationCAM(model, target_layer="block")
    got = explainer.attribute(x, target)
    assert explainer.shortcut_used is False
    expected = ablation_by_hand(model, model.block, x, target)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.parametrize("cls,params", [(ScoreCAM, {}), (ScoreCAM, {"weights": "channel_softmax"}), (AblationCAM, {})])
def test_chunk_size_does_not_change_the_map(cls, params) -> None:
    model = gap_net(2)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(8))
    target = torch.tensor([0, 1, 2, 0])
    small = cls(model, target_layer="3", memory_budget_mib=0.005, **params).attribute(x, target)
    large = cls(model, target_layer="3", memory_budget_mib=4096, **params).attribute(x, target)
    torch.testing.assert_close(small, large, rtol=1e-5, atol=1e-6)
