"""Model surgery on torchvision classifiers and hand-written modules: head, input channels, batch-norm removal."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import pytest
import torch
import torchvision
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from bench.models.surgery import ChannelAffine, adapt_input_channels, classifier_head, remove_batchnorm, replace_head


# --- Today's ResNet surgery, verbatim from bench/models/resnet.py at commit 2744573 (the naming-convention version
# this module replaces). Kept here as the independent reference, so the comparison survives that module's removal.
def _bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    pairs = []
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            parent, _, leaf = name.rpartition(".")
            conv = "conv" + leaf[2:] if leaf.startswith("bn") else "0"
            pairs.append((f"{parent}.{conv}" if parent else conv, name))
    return pairs


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def _todays_remove_batchnorm(model: nn.Module) -> nn.Module:
    for conv_name, bn_name in _bn_pairs(model):
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, bias=True)
        with torch.no_grad():
            folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            old_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            folded.bias.copy_(bn.bias + (old_bias - bn.running_mean) * scale)
        _set_module(model, conv_name, folded)
        _set_module(model, bn_name, nn.Identity())
    return model


def _todays_build_model(num_classes: int, dropout: float, batchnorm: bool) -> nn.Module:
    """bench.models.resnet.build_model(ModelSpec("resnet18", num_classes, dropout, batchnorm)) at commit 2744573."""
    model = torchvision.models.resnet18(weights=None)
    model.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(model.fc.in_features, num_classes))
    if not batchnorm:
        _todays_remove_batchnorm(model)
    return model.eval()
# ---


FAMILIES = ["resnet18", "vgg11_bn", "densenet121", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny"]


def _randomise_batchnorm(model: nn.Module, calibrate: torch.Tensor | None = None) -> nn.Module:
    """Give every batch norm statistics and affine parameters far from the identity, so a wrong fold shows.

    With `calibrate`, the statistics are first those of that batch, then perturbed: in a deep random network purely
    random statistics let the input's signal die out, and the outputs would no longer depend on the input.
    """
    batchnorms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    with torch.no_grad():
        if calibrate is not None and batchnorms:
            momenta = [m.momentum for m in batchnorms]
            for m in batchnorms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average: after one batch the running statistics are that batch's
            model.train()(calibrate)
            for m, momentum in zip(batchnorms, momenta):
                m.momentum = momentum
        for m in batchnorms:
            if calibrate is None:
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
            else:
                m.running_mean.add_(torch.randn_like(m.running_mean) * 0.2 * m.running_var.sqrt())
                m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.5, 2.0))
            if m.affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


def _count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: these inputs are tiny, and on shared cores two threads mostly wait for each other (5x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def zoo() -> Callable[..., nn.Module]:
    """A fresh copy of each torchvision classifier (perturbed BN statistics, eval mode, float64), each built once per module.

    float64 because random-weight EfficientNet-B0 is ill-conditioned: a 1e-6 relative change of its input moves the
    output by ~1e-3, more than float32 rounding in any rewritten layer; in float64 rounding is ~1e-12 and a wrong fold
    still shows as an O(1) difference.
    """
    built: dict[str, nn.Module] = {}

    def get(name: str, shared: bool = False) -> nn.Module:
        """A copy to modify, or with shared=True the cached model itself, only to be run."""
        if name not in built:
            torch.manual_seed(FAMILIES.index(name))
            model = getattr(torchvision.models, name)(weights=None).double()
            built[name] = _randomise_batchnorm(model, calibrate=torch.randn(4, 3, 64, 64, dtype=torch.float64)).eval()
        return built[name] if shared else copy.deepcopy(built[name])

    return get


def _assert_same_function(before: nn.Module, after: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        expected, actual = before(x), after(x)
    scale = expected.abs().max().item()
    assert scale > 0 and expected.std() > 0
    assert (actual - expected).abs().max().item() <= 1e-4 * scale


@pytest.mark.parametrize(("name", "folded", "replaced"), [
    ("resnet18", 20, 0),
    ("vgg11_bn", 8, 0),
    # norm0 and each layer's norm2 follow a convolution; each layer's norm1, the transitions' norms and norm5 follow a concatenation.
    ("densenet121", 59, 62),
    ("mobilenet_v3_small", 34, 0),
    ("efficientnet_b0", 49, 0),
])
def test_remove_batchnorm_keeps_the_eval_function(zoo, name: str, folded: int, replaced: int) -> None:
    torch.manual_seed(0)
    original, model = zoo(name, shared=True), zoo(name)
    batchnorms = [n for n, m in model.named_modules() if isinstance(m, _BatchNorm)]
    assert remove_batchnorm(model) is model
    assert _count(model, _BatchNorm) == 0
    kinds = [type(model.get_submodule(n)) for n in batchnorms]
    assert (kinds.count(nn.Identity), kinds.count(ChannelAffine)) == (folded, replaced)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    _assert_same_function(original, model, torch.randn(1, 3, 64, 64, dtype=torch.float64))


def test_resnet_result_is_identical_to_todays_naming_convention_fold() -> None:
    def build() -> nn.Module:
        torch.manual_seed(3)
        return _randomise_batchnorm(torchvision.models.resnet18(weights=None)).eval()

    ours, theirs = build(), build()
    torch.manual_seed(4)
    remove_batchnorm(ours)
    ours_rng = torch.get_rng_state()
    torch.manual_seed(4)
    _todays_remove_batchnorm(theirs)
    # Same random draws while rebuilding the convs, so seeded code after model construction is unchanged.
    assert torch.equal(ours_rng, torch.get_rng_state())
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))


def test_model_without_batchnorm_is_left_alone(zoo) -> None:
    model = zoo("convnext_tiny")
    modules = [(n, id(m)) for n, m in model.named_modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x)
        remove_batchnorm(model)
        assert torch.equal(model(x), expected)
    assert [(n, id(m)) for n, m in model.named_modules()] == modules
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_1d_model_folds_the_conv_norm_and_keeps_the_linear_norm_as_affine() -> None:
    torch.manual_seed(5)
    original = _randomise_batchnorm(nn.Sequential(
        nn.Conv1d(3, 4, 3), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8, 6), nn.BatchNorm1d(6))).eval()
    model = remove_batchnorm(copy.deepcopy(original))
    assert isinstance(model[0], nn.Conv1d) and isinstance(model[1], nn.Identity) and isinstance(model[5], ChannelAffine)
    assert set(model.state_dict()) == {"0.weight", "0.bias", "4.weight", "4.bias", "5.weight", "5.bias"}
    x = torch.randn(5, 3, 10)
    _assert_same_function(original, model, x)
    # ChannelAffine stays traceable, so surgery can be run again on the result.
    with torch.no_grad():
        torch.testing.assert_close(fx.symbolic_trace(model)(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("build", [
    lambda: nn.Sequential(nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2, padding_mode="reflect", bias=False),
                          nn.BatchNorm2d(8, affine=False)),
    lambda: nn.Sequential(nn.Conv3d(2, 3, (1, 3, 3), stride=(1, 2, 2), padding=1), nn.BatchNorm3d(3), nn.ReLU()),
], ids=["grouped-dilated-reflect-no-affine", "conv3d"])
def test_fold_keeps_the_convolution_geometry(build: Callable[[], nn.Module]) -> None:
    torch.manual_seed(6)
    original = _randomise_batchnorm(build()).eval()
    model = remove_batchnorm(copy.deepcopy(original))
    before, after = original[0], model[0]
    assert isinstance(model[1], nn.Identity) and type(after) is type(before) and after.bias is not None
    geometry = ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
    assert [getattr(after, a) for a in geometry] == [getattr(before, a) for a in geometry]
    shape = (2, 4, 9, 9) if isinstance(before, nn.Conv2d) else (2, 2, 3, 8, 8)
    _assert_same_function(original, model, torch.randn(shape))


class _SharedConv(nn.Module):
    """One convolution called twice: folding a batch norm into it would change the other call."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x)) + self.conv(x * 2)


class _ConvOutputReused(nn.Module):
    """A convolution's output feeds the batch norm and a residual sum."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.bn(y) + y


class _Untraceable(nn.Module):
    """Control flow on tensor values, which torch.fx cannot trace."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        return y if y.sum() > 0 else -y


class _ConvWeightRead(nn.Module):
    """forward reads the convolution's weight itself, which folding would change."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x)) + self.conv.weight.sum()


@pytest.mark.parametrize("cls", [_SharedConv, _ConvOutputReused, _Untraceable, _ConvWeightRead])
def test_batchnorm_that_cannot_be_folded_becomes_an_affine(cls: type[nn.Module]) -> None:
    torch.manual_seed(7)
    original = _randomise_batchnorm(cls()).eval()
    model = remove_batchnorm(copy.deepcopy(original))
    assert isinstance(model.bn, ChannelAffine) and model.conv.bias is not None
    assert torch.equal(model.conv.weight, original.conv.weight)
    _assert_same_function(original, model, torch.randn(2, 3, 8, 8))


def test_batch_statistics_cannot_be_removed_and_nothing_changes() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(ValueError, match=r"Sequential\.3 .*track_running_stats=False"):
        remove_batchnorm(model)
    assert isinstance(model[1], nn.BatchNorm2d)


@pytest.mark.parametrize(("name", "head"), [
    ("resnet18", "fc"), ("vgg11_bn", "classifier.6"), ("densenet121", "classifier"),
    ("mobilenet_v3_small", "classifier.3"), ("efficientnet_b0", "classifier.1"), ("convnext_tiny", "classifier.2"),
])
def test_replace_head(zoo, name: str, head: str) -> None:
    model = zoo(name)
    assert classifier_head(model) == head
    in_features = model.get_submodule(head).in_features
    assert replace_head(model, 5, dropout=0.25) == head
    new = model.get_submodule(head)
    assert isinstance(new, nn.Sequential) and len(new) == 2
    assert isinstance(new[0], nn.Dropout) and new[0].p == 0.25
    assert isinstance(new[1], nn.Linear) and (new[1].in_features, new[1].out_features) == (in_features, 5)
    assert classifier_head(model) == f"{head}.1"
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64, dtype=torch.float64)).shape == (2, 5)


@pytest.mark.parametrize("batchnorm", [True, False])
def test_replace_head_on_resnet_gives_todays_layout(batchnorm: bool) -> None:
    torch.manual_seed(8)
    expected = _todays_build_model(3, 0.1, batchnorm).state_dict()
    torch.manual_seed(8)
    model = torchvision.models.resnet18(weights=None)
    assert replace_head(model, 3, dropout=0.1) == "fc"
    if not batchnorm:
        remove_batchnorm(model)
    actual = model.state_dict()
    assert list(actual) == list(expected) and {"fc.1.weight", "fc.1.bias"} <= set(actual)
    assert all(torch.equal(actual[k], expected[k]) for k in actual)


# Not ConvNeXt: a LayerNorm follows its stem convolution (no bias at init), so its output ignores the input's scale.
@pytest.mark.parametrize(("name", "first", "channels"), [
    ("resnet18", "conv1", 1), ("resnet18", "conv1", 2), ("vgg11_bn", "features.0", 1), ("densenet121", "features.conv0", 1),
    ("mobilenet_v3_small", "features.0.0", 1), ("efficientnet_b0", "features.0.0", 1),
])
def test_adapted_model_on_grey_copies_equals_original_on_grey_rgb(zoo, name: str, first: str, channels: int) -> None:
    """The first conv computes out[o] = sum_c W[o, c] * x[c]. On an image g copied into all 3 RGB channels that is
    g * sum_c W[o, c]. The adapted filter is W'[o, j] = mean_c W[o, c] * 3 / channels = sum_c W[o, c] / channels, so on
    g copied into `channels` channels it gives channels * g * sum_c W[o, c] / channels: the same, and so is the rest."""
    torch.manual_seed(9)
    original, model = zoo(name, shared=True), zoo(name)
    assert adapt_input_channels(model, channels) == first
    conv = model.get_submodule(first)
    assert conv.in_channels == channels and conv.weight.shape[1] == channels
    grey = torch.randn(1, 1, 64, 64, dtype=torch.float64)
    _assert_same_function(_Replicated(original, 3), _Replicated(model, channels), grey)


class _Replicated(nn.Module):
    """Feeds a one-channel image to a model as `channels` identical channels."""

    def __init__(self, model: nn.Module, channels: int) -> None:
        super().__init__()
        self.model, self.channels = model, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.expand(-1, self.channels, *x.shape[2:]))


def test_adapt_input_channels_keeps_the_bias_of_a_1d_conv() -> None:
    torch.manual_seed(10)
    original = nn.Sequential(nn.Conv1d(3, 4, 3), nn.Tanh(), nn.Conv1d(4, 2, 3)).eval()
    with torch.no_grad():
        original[0].bias.uniform_(-1.0, 1.0)  # large enough that a lost bias shows
    model = copy.deepcopy(original)
    assert adapt_input_channels(model, 1) == "0"
    _assert_same_function(_Replicated(original, 3), _Replicated(model, 1), torch.randn(2, 1, 10))


def test_adapt_input_channels_is_a_no_op_when_they_already_match(zoo) -> None:
    model = zoo("resnet18")
    conv = model.conv1
    assert adapt_input_channels(model, 3) == "conv1" and model.conv1 is conv


def test_errors_name_the_model_class() -> None:
    with pytest.raises(ValueError, match="Sequential has no nn.Linear"):
        classifier_head(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    with pytest.raises(ValueError, match="Sequential has no nn.Linear"):
        replace_head(nn.Sequential(nn.Conv2d(3, 4, 3)), 2)
    with pytest.raises(ValueError, match="Sequential has no convolution"):
        adapt_input_channels(nn.Sequential(nn.Linear(3, 2)), 1)
    with pytest.raises(ValueError, match="at least 1"):
        adapt_input_channels(nn.Sequential(nn.Conv2d(3, 4, 3)), 0)
