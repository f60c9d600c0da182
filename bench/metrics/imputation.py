"""Noisy linear imputation (ROAD, Rong et al. 2022): fill removed pixels from their neighbours, plus a little noise.

Each removed pixel takes the weighted mean of its in-bounds neighbours (weight 1/6 for a direct neighbour,
1/12 for a diagonal one in 2-D), removed neighbours included, so the removed region is the solution of a
sparse linear system with the kept pixels as boundary values. The reference code builds that system per
image and solves it with a sparse LU on the CPU. Here every image and channel of a batch is solved at once
on the device by conjugate gradients preconditioned with a geometric multigrid V-cycle (damped Jacobi
smoothing, bilinear prolongation and its transpose); all of it is elementwise arithmetic and shifts, so it
runs batched on any device and needs about ten iterations whatever the size of the removed region. The
system is symmetric positive definite whenever at least one pixel is kept, so CG reaches the reference
code's solution (to `tolerance`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.utils.rng import counter_normal

_DAMPING = 0.8
_SWEEPS = 2
# Levels stop halving below this many pixels along an axis; the coarsest level is only smoothed.
_COARSEST = 8
_COARSEST_SWEEPS = 6
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def neighbour_sum(u: torch.Tensor) -> torch.Tensor:
    """Σ_j w_j u_j over the in-bounds neighbours of every pixel of u (M,*S): w = 1/6 direct, halved per further moved axis.

    The weights are (1/3)(⊗ [1/2, 1, 1/2] − δ), so the sum is a separable smoothing minus the centre.
    """
    # In-place adds on shifted views: the solver is bound by memory traffic, and padding copies every plane.
    smooth = u
    for axis in range(1, u.ndim):
        n = u.shape[axis]
        out = smooth.clone()
        out.narrow(axis, 1, n - 1).add_(smooth.narrow(axis, 0, n - 1), alpha=0.5)
        out.narrow(axis, 0, n - 1).add_(smooth.narrow(axis, 1, n - 1), alpha=0.5)
        smooth = out
    return smooth.sub_(u).div_(3)


class _Level:
    """One grid of the multigrid hierarchy: the missing-pixel mask, each pixel's in-bounds weight W, and the operator."""

    def __init__(self, miss: torch.Tensor) -> None:
        self.miss = miss
        self.weight_sum = neighbour_sum(torch.ones_like(miss[:1]))
        # the damped Jacobi step's per-pixel factor, zero on known pixels so that they stay fixed
        self.jacobi = miss * (_DAMPING / self.weight_sum)

    def apply(self, u: torch.Tensor) -> torch.Tensor:
        """miss * (W u - Σ w_j u_j): the linear system's operator on the missing pixels."""
        return (self.weight_sum * u).sub_(neighbour_sum(u)).mul_(self.miss)


def _hierarchy(miss: torch.Tensor) -> list[_Level]:
    """The grids from miss down to the coarsest, built once per solve and reused by every V-cycle."""
    levels = [_Level(miss)]
    while min(levels[-1].miss.shape[1:]) >= 2 * _COARSEST:
        fine = levels[-1].miss
        # A coarse cell is unknown only when all its pixels are: isolated holes then stay fine-level work.
        levels.append(_Level(-_MAX_POOL[fine.ndim - 1](-fine.unsqueeze(1), 2, ceil_mode=True).squeeze(1)))
    return levels


def _prolong_axis(coarse: torch.Tensor, axis: int, length: int) -> torch.Tensor:
    c = coarse.movedim(axis, -1)
    padded = F.pad(c, (1, 1))
    even, odd = 0.75 * c + 0.25 * padded[..., :-2], 0.75 * c + 0.25 * padded[..., 2:]
    return torch.stack((even, odd), -1).flatten(-2)[..., :length].movedim(-1, axis)


def _restrict_axis(fine: torch.Tensor, axis: int) -> torch.Tensor:
    f = fine.movedim(axis, -1)
    f = F.pad(f, (0, f.shape[-1] % 2))
    even, odd = f[..., 0::2], f[..., 1::2]
    c = 0.75 * (even + odd) + 0.25 * (F.pad(odd, (1, 0))[..., :-1] + F.pad(even, (0, 1))[..., 1:])
    return c.movedim(-1, axis)


def prolong(coarse: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Cell-centred linear interpolation of coarse (M,*S/2) to (M,*shape), zero beyond the edges."""
    for axis, length in enumerate(shape, start=1):
        coarse = _prolong_axis(coarse, axis, length)
    return coarse


def restrict(fine: torch.Tensor) -> torch.Tensor:
    """The transpose of prolong: fine (M,*S) to (M,*ceil(S/2))."""
    for axis in range(1, fine.ndim):
        fine = _restrict_axis(fine, axis)
    return fine


def _v_cycle(residual: torch.Tensor, levels: list[_Level]) -> torch.Tensor:
    """An approximate solution of A z = residual; a symmetric operator of residual, so usable as a CG preconditioner."""
    level = levels[0]

    def smooth(z: torch.Tensor, sweeps: int) -> torch.Tensor:
        for _ in range(sweeps):
            z = z.addcmul(torch.sub(residual, level.apply(z)), level.jacobi)
        return z

    z = smooth(torch.zeros_like(residual), _SWEEPS)
    if len(levels) == 1:
        return smooth(z, _COARSEST_SWEEPS)
    # Rescaled so the rediscretised coarse operator matches restrict∘A∘prolong on smooth functions.
    coarse_residual = levels[1].miss * restrict(residual - level.apply(z)) / 2 ** (residual.ndim - 3)
    z = z + level.miss * prolong(_v_cycle(coarse_residual, levels[1:]), tuple(residual.shape[1:]))
    return smooth(z, _SWEEPS)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).flatten(1).sum(1).view(-1, *([1] * (a.ndim - 1)))


def _solve(known: torch.Tensor, miss: torch.Tensor, tolerance: float, max_iterations: int) -> torch.Tensor:
    """known (M,*S) zero where miss (M,*S, 0/1) is 1, filled there by the solution of the linear system."""
    levels = _hierarchy(miss)
    residual = miss * neighbour_sum(known)
    target = residual.flatten(1).norm(dim=1) * tolerance
    solution = torch.zeros_like(residual)
    preconditioned = _v_cycle(residual, levels)
    direction, rz = preconditioned, _dot(residual, preconditioned)
    tiny = torch.finfo(known.dtype).tiny
    for _ in range(max_iterations):
        if bool((residual.flatten(1).norm(dim=1) <= target).all()):
            return known + miss * solution
        applied = levels[0].apply(direction)
        curvature = _dot(direction, applied)
        step = torch.where(curvature > 0, rz / curvature.clamp_min(tiny), 0)
        solution = solution + step * direction
        residual = residual - step * applied
        preconditioned = _v_cycle(residual, levels)
        rz_next = _dot(residual, preconditioned)
        direction = preconditioned + torch.where(rz > 0, rz_next / rz.clamp_min(tiny), 0) * direction
        rz = rz_next
    raise RuntimeError(f"linear imputation did not reach tolerance {tolerance} in {max_iterations} iterations")


def linear_impute(x: torch.Tensor, missing: torch.Tensor, *, tolerance: float = 1e-6, max_iterations: int = 200) -> torch.Tensor:
    """x (N,C,*S) with the pixels where missing (N,*S) is true replaced by the neighbour-weighted linear interpolation.

    Solved until every system's residual is below tolerance times its right-hand side's norm.
    """
    n, c, *spatial = x.shape
    if tuple(missing.shape) != (n, *spatial):
        raise ValueError(f"missing must have shape {(n, *spatial)}, got {tuple(missing.shape)}")
    if bool(missing.flatten(1).all(1).any()):
        raise ValueError("cannot impute an image whose every pixel is missing")
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    miss = missing.unsqueeze(1).expand(n, c, *spatial).reshape(n * c, *spatial).to(dtype)
    known = x.reshape(n * c, *spatial).to(dtype) * (1 - miss)
    return _solve(known, miss, tolerance, max_iterations).reshape(x.shape).to(x.dtype)


def noisy_linear_impute(x: torch.Tensor, missing: torch.Tensor, seeds: torch.Tensor, *, noise: float = 0.01,
                        tolerance: float = 1e-6) -> torch.Tensor:
    """linear_impute plus Gaussian noise of standard deviation `noise` on the imputed pixels, drawn per seed (N,)."""
    filled = linear_impute(x, missing, tolerance=tolerance)
    if noise == 0:
        return filled
    draws = counter_normal(seeds.to(x.device), tuple(x.shape[1:])).to(x.dtype)
    return filled + noise * draws * missing.unsqueeze(1).to(x.dtype)
