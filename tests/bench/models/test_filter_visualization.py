"""Activation maximisation: planted filter patterns are recovered, settings are checked, the ascent is seeded and batched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.models.filter_visualization import AscentSettings, image_grid, layer_filters, maximise_filters, spread_layers
from bench.models.preprocessing import Preprocessing, attach

K = 12


def _pattern(name: str) -> torch.Tensor:
    """A smooth, zero-mean K x K pattern: a horizontal or a vertical grating, or a centre-surround blob."""
    y, x = torch.meshgrid(torch.arange(K, dtype=torch.float32), torch.arange(K, dtype=torch.float32), indexing="ij")
    if name == "blob":
        r2 = (x - (K - 1) / 2) ** 2 + (y - (K - 1) / 2) ** 2
        p = torch.exp(-r2 / 8) - 0.5 * torch.exp(-r2 / 32)
    else:
        p = torch.cos(2 * torch.pi * (y if name == "horizontal" else x) / K)
    return (p - p.mean()) / p.std()


PATTERNS = {name: _pattern(name) for name in ("horizontal", "vertical", "blob")}


class _Planted(nn.Module):
    """A grey-input conv whose filters are the planted patterns, then a block that passes them on (a later layer to visualise)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, len(PATTERNS), K, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.stack(list(PATTERNS.values())).unsqueeze(1))
        self.relu = nn.ReLU()
        self.mix = nn.Conv2d(len(PATTERNS), len(PATTERNS), 1, bias=False)
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(len(PATTERNS)).view(len(PATTERNS), len(PATTERNS), 1, 1))
        self.head = nn.Linear(len(PATTERNS), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mix(self.relu(self.features(x))).mean((2, 3)))


def _best_match(image: torch.Tensor, pattern: torch.Tensor) -> float:
    """The highest Pearson correlation between the pattern and any K x K patch of the image (an independent check)."""
    patches = F.unfold(image[None], K).squeeze(0).T  # (positions, K*K)
    patches = patches - patches.mean(1, keepdim=True)
    p = (pattern - pattern.mean()).flatten()
    corr = patches @ p / (patches.norm(dim=1) * p.norm()).clamp_min(1e-12)
    return float(corr.max())


@pytest.fixture(scope="module")
def planted() -> nn.Module:
    model = _Planted()
    return attach(model, Preprocessing(channels=1, rank=2, scale=255.0, mean=(0.5,), std=(0.25,), name="test"))


@pytest.mark.parametrize("layer", ["features", "mix"])
def test_each_planted_pattern_is_recovered_by_its_filter(planted: nn.Module, layer: str) -> None:
    # The input is one receptive field, so the optimum is the pattern itself (its sign, as pixels are bounded);
    # jitter, blur and total variation must not keep the ascent from it.
    found = maximise_filters(planted, layer, [0, 1, 2], (1, K, K), AscentSettings(steps=200, lr=0.1, jitter=1, seed=1))
    assert found.images.shape == (3, 1, K, K) and 0 <= found.images.min() and found.images.max() <= 1
    names = list(PATTERNS)
    for i, name in enumerate(names):
        own = _best_match(found.images[i, 0], PATTERNS[name])
        others = [_best_match(found.images[i, 0], PATTERNS[o]) for o in names if o != name]
        assert own > 0.8, (name, own)
        assert own > max(others) + 0.3, (name, own, others)
        # and the ascent gained: the filter fires far more on its image than on grey
        assert found.activation[i] > 5 * max(found.grey_activation[i], 1e-3)


def test_the_ascent_is_seeded_and_leaves_the_model_as_it_was(planted: nn.Module) -> None:
    planted.train()
    weights = {k: v.clone() for k, v in planted.state_dict().items()}
    settings = AscentSettings(steps=10, seed=4)
    a = maximise_filters(planted, "features", [0, 2], (1, 16, 16), settings)
    b = maximise_filters(planted, "features", [0, 2], (1, 16, 16), settings)
    c = maximise_filters(planted, "features", [0, 2], (1, 16, 16), AscentSettings(steps=10, seed=5))
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert planted.training is True and all(p.grad is None for p in planted.parameters())
    assert all(torch.equal(v, planted.state_dict()[k]) for k, v in weights.items())
    planted.eval()


def test_filters_outside_the_layer_are_refused(planted: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        maximise_filters(planted, "features", [3], (1, 16, 16))
    with pytest.raises(ValueError, match=r"steps >= 1.*'steps': 0"):
        AscentSettings(steps=0)
    with pytest.raises(ValueError, match=r"'tv': -1"):
        AscentSettings(tv=-1)
    assert layer_filters(planted, "mix") == 3


def test_spread_layers_of_a_resnet_skip_the_stem() -> None:
    from torchvision.models import resnet18

    assert spread_layers(resnet18(num_classes=2)) == ["layer1", "layer3", "layer4"]
    # a model of one block of convolutions: spread over its convolutions after the first
    assert spread_layers(_Planted()) == ["mix"]


def test_image_grid_places_images_row_by_row() -> None:
    images = torch.stack([torch.full((3, 4, 5), v) for v in (0.0, 0.25, 0.5)])
    grid = image_grid(images, columns=2, gap=1)
    assert grid.shape == (3, 9, 11)
    assert grid[:, :4, :5].eq(0).all() and grid[:, :4, 6:].eq(0.25).all() and grid[:, 5:, :5].eq(0.5).all()
    assert grid[:, 4, :].eq(1).all() and grid[:, 5:, 6:].eq(1).all()
