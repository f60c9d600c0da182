"""The model zoo: PlainCNN's shapes, heads and parameter counts against hand computation, its errors, and that it trains."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from adapters.inhouse.activation_cams import CAM
from bench.models.layers import default_layer
from bench.models.zoo import PRESETS, PlainCNN, build_zoo

SHAPES = {1: (20,), 2: (12, 10), 3: (6, 8, 6)}


def _net(rank: int, **kwargs: object) -> PlainCNN:
    return PlainCNN(**{"rank": rank, "in_channels": 2, "num_classes": 5, "input_shape": SHAPES[rank], **kwargs}).eval()


def _x(rank: int, n: int = 3, channels: int = 2) -> torch.Tensor:
    return torch.randn(n, channels, *SHAPES[rank])


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize(("head", "hidden"), [("gap", ()), ("flatten", ()), ("flatten", (7, 4))])
@pytest.mark.parametrize("num_classes", [2, 7])
def test_logits_shape(rank: int, head: str, hidden: tuple[int, ...], num_classes: int) -> None:
    model = _net(rank, head=head, hidden=hidden, num_classes=num_classes, pool="max", pool_every=2)
    assert model(_x(rank, n=4)).shape == (4, num_classes)
    assert isinstance(model.features[0], {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[rank])


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's note that it pads a copy
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("kernel", [3, 4, 5])
def test_same_padding_at_stride_one_keeps_the_size(rank: int, kernel: int) -> None:
    assert _net(rank, kernel=kernel).features(_x(rank)).shape == (3, 32, *SHAPES[rank])


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_valid_padding_shrinks_by_kernel_minus_one_per_layer(rank: int) -> None:
    widths, kernel = (4, 6), 3
    out = _net(rank, widths=widths, kernel=kernel, padding="valid").features(_x(rank))
    assert out.shape == (3, 6, *(s - len(widths) * (kernel - 1) for s in SHAPES[rank]))


@pytest.mark.parametrize("pool", ["max", "avg"])
@pytest.mark.parametrize(("pool_every", "poolings"), [(1, 3), (2, 1), (3, 1), (4, 0)])
def test_pooling_halves_after_every_pool_every_layers(pool: str, pool_every: int, poolings: int) -> None:
    model = _net(2, widths=(4, 4, 4), pool=pool, pool_every=pool_every)
    assert sum(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in model.features) == poolings
    assert model.features(_x(2)).shape == (3, 4, *(s // 2**poolings for s in SHAPES[2]))


@pytest.mark.parametrize(("padding", "kernel"), [("same", 3), ("same", 5), ("valid", 3)])
def test_strided_convs_follow_the_conv_arithmetic(padding: str, kernel: int) -> None:
    length, stride, layers = 37, 2, 3
    pad = kernel // 2 if padding == "same" else 0
    for _ in range(layers):
        length = (length + 2 * pad - kernel) // stride + 1
    model = PlainCNN(rank=1, in_channels=1, num_classes=2, input_shape=(37,), widths=(4,) * layers, kernel=kernel, stride=stride,
                     padding=padding, head="flatten")
    assert model.features(torch.randn(2, 1, 37)).shape == (2, 4, length)
    assert model.classifier[1].in_features == 4 * length


def test_flatten_head_sizes_of_the_presets() -> None:
    mnist1d = build_zoo("mnist1d_cnn", rank=1, in_channels=1, num_classes=10, input_shape=(40,))
    assert mnist1d.classifier[1].in_features == 32 * 40
    mnist = build_zoo("mnist_2conv", rank=2, in_channels=1, num_classes=10, input_shape=(28, 28))
    assert mnist.classifier[1].in_features == 64 * 12 * 12  # 28 -> 26 -> 24 by the valid convs, 12 by the pooling
    assert mnist(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_presets_are_what_their_studies_describe() -> None:
    mnist1d = build_zoo("mnist1d_cnn", rank=1, in_channels=1, num_classes=10, input_shape=(40,))
    convs = [m for m in mnist1d.features if isinstance(m, nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(32, (5,), (1,))] * 3
    assert not any(isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)) for m in mnist1d.modules())
    vgg7 = build_zoo("vgg7", rank=2, in_channels=3, num_classes=2, input_shape=(150, 150))
    weights = [m for m in vgg7.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert [type(m) for m in weights] == [nn.Conv2d] * 6 + [nn.Linear]
    assert vgg7.features(torch.randn(1, 3, 150, 150)).shape == (1, 128, 18, 18)  # 150 -> 75 -> 37 -> 18
    mnist = build_zoo("mnist_2conv", rank=2, in_channels=1, num_classes=10, input_shape=(28, 28))
    assert [type(m) for m in mnist.modules() if isinstance(m, (nn.Conv2d, nn.Linear))] == [nn.Conv2d] * 2 + [nn.Linear] * 2
    assert [m.p for m in mnist.modules() if isinstance(m, nn.Dropout)] == [0.25]


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_gap_head_is_a_linear_map_of_the_spatial_mean_of_features(rank: int) -> None:
    torch.manual_seed(0)
    model = _net(rank, pool="avg", pool_every=2, dropout=0.5)
    x = _x(rank)
    a = model.features(x)
    linear = model.classifier[-1]
    expected = F.linear(a.mean(dim=tuple(range(2, 2 + rank))), linear.weight, linear.bias)
    torch.testing.assert_close(model.classifier(a), expected)
    torch.testing.assert_close(model(x), expected)


def test_cam_runs_on_the_default_layer_of_a_zoo_model() -> None:
    torch.manual_seed(0)
    model = build_zoo("vgg7", rank=2, in_channels=3, num_classes=3, input_shape=(16, 16))
    assert default_layer(model) == "features"
    x, target = torch.randn(2, 3, 16, 16), torch.tensor([0, 2])
    with CAM(model) as explainer:
        assert explainer.target_layer == "features"
        cam = explainer.attribute(x, target)
    expected = torch.einsum("nk,nkhw->nhw", model.classifier[-1].weight[target], model.features(x))
    torch.testing.assert_close(cam, expected.detach())


def test_batchnorm_follows_each_conv_and_replaces_its_bias() -> None:
    model = _net(3, widths=(4, 5), batchnorm=True)
    kinds = [type(m) for m in model.features]
    assert kinds == [nn.Conv3d, nn.BatchNorm3d, nn.ReLU] * 2
    assert all(m.bias is None for m in model.features if isinstance(m, nn.Conv3d))
    assert [m.num_features for m in model.features if isinstance(m, nn.BatchNorm3d)] == [4, 5]


def test_parameter_count_of_mnist_2conv() -> None:
    model = build_zoo("mnist_2conv", rank=2, in_channels=1, num_classes=10, input_shape=(28, 28))
    conv1 = 1 * 32 * 3 * 3 + 32
    conv2 = 32 * 64 * 3 * 3 + 64
    dense = 64 * 12 * 12 * 128 + 128
    out = 128 * 10 + 10
    assert sum(p.numel() for p in model.parameters()) == conv1 + conv2 + dense + out == 1_199_882


@pytest.mark.parametrize(("kwargs", "parameter"), [
    ({"rank": 4}, "rank"),
    ({"rank": 0}, "rank"),
    ({"in_channels": 0}, "in_channels"),
    ({"num_classes": 0}, "num_classes"),
    ({"input_shape": (20, 20)}, "input_shape"),
    ({"input_shape": (0,)}, "input_shape"),
    ({"widths": ()}, "widths"),
    ({"widths": (8, 0)}, "widths"),
    ({"kernel": 0}, "kernel"),
    ({"kernel": True}, "kernel"),
    ({"stride": 0}, "stride"),
    ({"padding": "full"}, "padding"),
    ({"pool": "min"}, "pool"),
    ({"pool": "max", "pool_every": 0}, "pool_every"),
    ({"batchnorm": 1}, "batchnorm"),
    ({"head": "attention"}, "head"),
    ({"hidden": (16,)}, "hidden"),  # the gap head has no hidden layers
    ({"head": "flatten", "hidden": (0,)}, "hidden"),
    ({"dropout": 1.0}, "dropout"),
    ({"head": "flatten", "dropout": 0.5}, "dropout"),  # nowhere for it to act
    ({"input_shape": (4,), "padding": "valid"}, "input_shape"),  # 4 -> 2 -> 0
    ({"input_shape": (4,), "pool": "max"}, "input_shape"),  # 4 -> 2 -> 1 -> 0
    ({"input_shape": (3,), "stride": 3, "padding": "valid"}, "input_shape"),  # 3 -> 1 -> nothing for a 3-wide kernel
])
def test_bad_arguments_name_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(ValueError, match=rf"\b{parameter}\b"):
        PlainCNN(**{"rank": 1, "in_channels": 1, "num_classes": 2, "input_shape": (20,), **kwargs})


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ValueError, match="resnet7") as err:
        build_zoo("resnet7", rank=2, in_channels=3, num_classes=2, input_shape=(32, 32))
    assert all(name in str(err.value) for name in ("plain_cnn", "mnist1d_cnn", "vgg7", "mnist_2conv"))
    assert set(PRESETS) == {"plain_cnn", "mnist1d_cnn", "vgg7", "mnist_2conv"}


def test_overrides_replace_preset_values_and_bad_ones_name_the_parameter() -> None:
    model = build_zoo("vgg7", rank=2, in_channels=3, num_classes=2, input_shape=(32, 32), widths=[8, 8], batchnorm=True)
    assert [m.out_channels for m in model.features if isinstance(m, nn.Conv2d)] == [8, 8]
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.features)
    assert not model.training
    with pytest.raises(ValueError, match="'widht'"):
        build_zoo("vgg7", rank=2, in_channels=3, num_classes=2, input_shape=(32, 32), widht=(8,))
    with pytest.raises(ValueError, match=r"\bkernel\b"):
        build_zoo("mnist1d_cnn", rank=1, in_channels=1, num_classes=10, input_shape=(40,), kernel=-1)


def test_a_few_adam_steps_reduce_the_loss() -> None:
    # two classes told apart by where a bump sits: on the left or the right half of the signal
    torch.manual_seed(0)
    n, length = 64, 40
    y = torch.arange(n) % 2
    centre = torch.where(y == 0, 10.0, 30.0) + torch.randint(-3, 4, (n,))
    t = torch.arange(length, dtype=torch.float32)
    x = (torch.exp(-0.5 * ((t - centre[:, None]) / 2.0) ** 2) + 0.1 * torch.randn(n, length))[:, None]
    model = build_zoo("mnist1d_cnn", rank=1, in_channels=1, num_classes=2, input_shape=(length,), widths=(8, 8)).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        optimiser.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0] and losses[0] > 0.5 * math.log(2)
