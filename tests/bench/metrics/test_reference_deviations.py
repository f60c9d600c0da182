"""Pinned deviations of the reference libraries from the published definitions our metrics follow.

METRICS.md, "Known differences in third-party code": each test shows what the library computes (against an
independent formula), what we compute, and that the two differ on the same case. A library upgrade that changes
its behaviour fails here, and the note in METRICS.md must then be revisited.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bench.metrics import MetricContext
from bench.metrics.faithfulness import AverageDrop
from bench.metrics.localisation import EnergyInMask, PointingGame
from tests.nets import gap_net

# --- pytorch-grad-cam: DropInConfidence is absolute and multiplies the normalised tensor -------------------------

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
W = torch.linspace(-0.2, 0.6, 48, dtype=torch.float64).view(3, 4, 4)
BIAS = -7.0


class LinearLogit(nn.Module):
    """Two classes on a 3x4x4 input: logit_0 = sum(W * x) + BIAS, logit_1 = 0, so p_0 = sigmoid(sum(W * x) + BIAS)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x.double() * W).flatten(1).sum(1) + BIAS
        return torch.stack([z, torch.zeros_like(z)], 1).to(x.dtype)


def p0(x: np.ndarray) -> float:
    """The model's p_0 computed independently, in float64."""
    return 1 / (1 + math.exp(-(float((np.asarray(x, dtype=np.float64) * W.numpy()).sum()) + BIAS)))


PIXELS = 0.3 + 0.7 * torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0))  # pixel space, [0.3, 1]
MAP = torch.randperm(16, generator=torch.Generator().manual_seed(1)).float().view(4, 4) - 3.0  # distinct values, some negative


def normalised_map() -> np.ndarray:
    """Â: relu, then min-max to [0, 1], computed by hand."""
    a = np.maximum(MAP.numpy().astype(np.float64), 0)
    return (a - a.min()) / (a.max() - a.min())


def model_space(pixels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    return (pixels - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def pgc_drop(x: torch.Tensor, cam: np.ndarray) -> float:
    from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    scores = DropInConfidence()(x[None], cam[None].astype(np.float32), [ClassifierOutputSoftmaxTarget(0)], LinearLogit())
    return float(np.asarray(scores).reshape(-1)[0])


def ours(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> float:
    ctx = MetricContext(maps=MAP[None], x=x[None], target=torch.tensor([0]), model=LinearLogit(), pixel_mean=mean, pixel_std=std)
    return AverageDrop()(ctx).item()


def test_pgc_drop_in_confidence_is_absolute_and_multiplies_the_normalised_tensor() -> None:
    x = model_space(PIXELS, MEAN, STD)
    cam = normalised_map()
    xn = x.double().numpy()
    before, after_model_space = p0(xn), p0(xn * cam)
    after_pixel_space = p0(model_space(PIXELS.double() * torch.from_numpy(cam), MEAN, STD).numpy())
    assert 0.2 < before < 0.95 and before - after_model_space > 0.05 and before - after_pixel_space > 0.05  # a case where it shows

    theirs = pgc_drop(x, cam)
    assert theirs == pytest.approx(max(0.0, before - after_model_space), rel=1e-4)  # absolute, x_normalised * cam
    ours_value = ours(x, MEAN, STD)
    assert ours_value == pytest.approx(100 * max(0.0, before - after_pixel_space) / before, rel=1e-4)  # relative, pixel space
    assert abs(ours_value - 100 * theirs) > 1.0  # not the same number up to the percentage
    assert abs(ours_value - 100 * theirs / before) > 1.0  # and not only the missing division: the space differs too


def test_with_an_identity_normalisation_only_the_division_by_p_differs() -> None:
    zero, one = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    x = PIXELS.clone()  # model space is pixel space
    theirs = pgc_drop(x, normalised_map())
    before = p0(x.double().numpy())
    assert theirs > 0.05
    assert ours(x, zero, one) == pytest.approx(100 * theirs / before, rel=1e-4)


# --- Quantus 0.6 -------------------------------------------------------------------------------------------------

RNG = np.random.default_rng(3)
N, SIZE = 12, 10
X = RNG.standard_normal((N, 3, SIZE, SIZE)).astype(np.float32)
Y = RNG.integers(0, 3, N)


def quantus_scores(metric, a: np.ndarray, s: np.ndarray | None) -> np.ndarray:
    """Quantus on maps (N,H,W) and masks (N,H,W), both given with a channel axis as Quantus 0.6 requires for images."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = metric(model=gap_net(2), x_batch=X[: len(a)], y_batch=Y[: len(a)], a_batch=a[:, None],
                     s_batch=None if s is None else s[:, None], device="cpu")
    return np.asarray(out, dtype=np.float64)


def ours_scores(metric, a: np.ndarray, s: np.ndarray, seed: int = 0) -> np.ndarray:
    ctx = MetricContext(maps=torch.from_numpy(a), x=torch.from_numpy(X[: len(a)]), target=torch.from_numpy(Y[: len(a)]),
                        masks=torch.from_numpy(s.astype(bool)), seed=seed)
    return metric(ctx).double().numpy()


def test_quantus_pointing_game_equals_ours_on_maps_with_a_single_maximum() -> None:
    quantus = pytest.importorskip("quantus")
    maps = RNG.random((N, SIZE, SIZE)).astype(np.float32)
    masks = RNG.random((N, SIZE, SIZE)) > 0.6
    expected = np.array([masks[i].flatten()[maps[i].argmax()] for i in range(N)], dtype=np.float64)  # strict pointing game
    assert 0 < expected.sum() < N  # hits and misses
    np.testing.assert_array_equal(ours_scores(PointingGame(), maps, masks), expected)
    for dtype in (bool, np.uint8, np.float32):  # every mask dtype is accepted by 0.6.0 with a channel axis
        metric = quantus.PointingGame(normalise=False, abs=False, disable_warnings=True)
        np.testing.assert_array_equal(quantus_scores(metric, maps, masks.astype(dtype)), expected)


def test_quantus_pointing_game_scores_a_zero_map_an_empty_mask_and_any_tied_maximum_as_hits() -> None:
    quantus = pytest.importorskip("quantus")
    maps = RNG.random((3, SIZE, SIZE)).astype(np.float32)
    masks = np.zeros((3, SIZE, SIZE), dtype=bool)
    masks[:, 2:5, 2:6] = True
    maps[0] = 0.0  # all-zero map, non-empty mask
    masks[1] = False  # ordinary map, empty mask: their code assigns NaN into a boolean array, which stores True
    maps[2, 3, 3] = maps[2, 8, 8] = 2.0  # two equal maxima, one inside the mask and one outside
    theirs = quantus_scores(quantus.PointingGame(normalise=False, abs=False, disable_warnings=True), maps, masks)
    np.testing.assert_array_equal(theirs, [1.0, 1.0, 1.0])
    mine = ours_scores(PointingGame(), maps, masks)
    assert np.isnan(mine[:2]).all()  # METRICS.md: a zero map is constant (undefined), an empty mask is undefined
    seeded = {ours_scores(PointingGame(), maps[2:], masks[2:], seed=s)[0] for s in range(20)}
    assert seeded == {0.0, 1.0}  # ours breaks the tie by the seeded permutation: sometimes a miss


def test_quantus_attribution_localisation_scores_a_zero_map_as_a_defined_zero() -> None:
    quantus = pytest.importorskip("quantus")
    maps = RNG.random((2, SIZE, SIZE)).astype(np.float32)
    maps[0] = 0.0
    masks = np.zeros((2, SIZE, SIZE), dtype=bool)
    masks[:, 2:5, 2:6] = True
    theirs = quantus_scores(quantus.AttributionLocalisation(normalise=False, abs=False, disable_warnings=True), maps, masks)
    inside = (maps[1] * masks[1]).sum() / maps[1].sum()
    np.testing.assert_allclose(theirs, [0.0, inside], rtol=1e-5)  # a zero map is a miss, not undefined
    mine = ours_scores(EnergyInMask(), maps, masks)
    assert np.isnan(mine[0]) and np.isfinite(mine[1])


def test_quantus_default_normalisation_divides_by_the_batch_wide_maximum() -> None:
    """A sample's score depends on the other samples of the batch; shown on EffectiveComplexity (count of |a| > eps)."""
    quantus = pytest.importorskip("quantus")
    from quantus.functions.normalise_func import normalise_by_max

    small = RNG.random((1, SIZE, SIZE)).astype(np.float32)
    batch = np.concatenate([small, 10 * RNG.random((1, SIZE, SIZE)).astype(np.float32)])
    np.testing.assert_allclose(normalise_by_max(batch), batch / np.abs(batch).max(), rtol=1e-6)

    def effective_complexity(a: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = quantus.EffectiveComplexity(eps=0.5, abs=True, normalise=True, disable_warnings=True)
            return np.asarray(metric(model=None, x_batch=X[: len(a)], y_batch=Y[: len(a)], a_batch=a[:, None], device="cpu"))

    alone, together = effective_complexity(small)[0], effective_complexity(batch)[0]
    assert alone == (small[0] / small[0].max() > 0.5).sum() > 0  # per-image maximum when alone
    assert together == (small[0] / batch.max() > 0.5).sum()  # the batch's maximum next to a larger map
    assert together < alone
