"""Opt-in reduced precision: autocast of every model pass of a run, and how far its maps stray from float32's.

bfloat16 keeps float32's range (no overflow in logits or gradients) with 8 bits of mantissa; float16 has more mantissa
but a narrow range and is only offered on CUDA, where its kernels exist and are fast. Targets are always chosen by the
float32 model, so a reduced-precision run explains the same classes.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from bench.core.errors import BenchError
from bench.metrics.maps import average_ranks, flat, row_pearson

PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
CUDA_ONLY = ("float16",)


def check_precision(precision: str, device: torch.device) -> None:
    """An error naming run.precision when the precision is unknown or not offered on the device."""
    if precision not in PRECISIONS:
        raise BenchError(f"run.precision: {precision!r} is not one of {list(PRECISIONS)}")
    if precision in CUDA_ONLY and device.type != "cuda":
        raise BenchError(f"run.precision: {precision} autocast runs on CUDA only, and this run is on {device.type}; use bfloat16 "
                         "or float32 there")


def autocast(precision: str, device: torch.device) -> ContextManager:
    """The context every model pass of a run executes in: nothing for float32, else torch.autocast to the precision."""
    dtype = PRECISIONS[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def precision_agreement(reduced: torch.Tensor, full: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per sample: Spearman correlation of the raw maps and ||reduced - full|| / ||full|| (NaN for an all-zero float32 map)."""
    r, f = flat(reduced).double(), flat(full).double()
    norm = f.norm(dim=1)
    relative = torch.where(norm > 0, (r - f).norm(dim=1) / norm.clamp_min(1e-300), torch.full_like(norm, float("nan")))
    return {"float32_spearman": row_pearson(average_ranks(r), average_ranks(f)), "float32_relative_error": relative}
