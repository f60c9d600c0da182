"""Running many perturbed forward passes in chunks bounded by a memory budget, halving on CUDA OOM."""

from __future__ import annotations

from collections.abc import Callable

import torch

# Bytes of activations a ResNet-style network keeps per input byte in one inference forward pass;
# a deliberately generous estimate: the budget is an upper bound, not a target.
ACTIVATION_FACTOR = 24


def chunk_size(example: torch.Tensor, memory_budget_mib: float, *, backward: bool = False) -> int:
    """Items per forward pass so that inputs plus activations stay within the budget."""
    per_item = example[0].numel() * example.element_size() * ACTIVATION_FACTOR * (3 if backward else 1)
    return max(1, int(memory_budget_mib * 2**20 // max(per_item, 1)))


def run_chunked(fn: Callable[[int, int], torch.Tensor], total: int, chunk: int) -> torch.Tensor:
    """Concatenate fn(start, stop) over [0, total) in chunks; a chunk that runs out of CUDA memory is retried at half size."""
    outputs, start = [], 0
    while start < total:
        size = min(chunk, total - start)
        try:
            outputs.append(fn(start, start + size))
        except torch.cuda.OutOfMemoryError:
            if size == 1:
                raise
            torch.cuda.empty_cache()
            chunk = max(1, size // 2)
            continue
        start += size
    return torch.cat(outputs)
