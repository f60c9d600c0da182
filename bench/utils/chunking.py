"""Running many perturbed forward passes in chunks bounded by a memory budget, halving on CUDA OOM."""

from __future__ import annotations

from collections.abc import Callable

import torch

# Bytes of activations a ResNet-style network keeps per input byte in one inference forward pass;
# a deliberately generous estimate: the budget is an upper bound, not a target.
ACTIVATION_FACTOR = 24


# Budget used when a method's memory_budget_mib is 0 (auto). On CPU, moderate chunks stay in cache and run
# faster than large ones (measured: Score-CAM at 224 px took 8.6 s at 64 MiB, 12.2 s at 1024 MiB), but the
# channels-last fast path wants at least 8 images at 224 px (bench/models/fast_path.py): 128 MiB gives 9, and
# took deletion_auc from 11.4 s to 9.7 s on 4 images (make benchmarks). On CUDA, large chunks keep the device busy.
AUTO_BUDGET_MIB = {"cpu": 128.0, "cuda": 1024.0}


def chunk_size(example: torch.Tensor, memory_budget_mib: float, *, backward: bool = False) -> int:
    """Items per forward pass so that inputs plus activations stay within the budget (0: the device's automatic budget)."""
    if memory_budget_mib <= 0:
        memory_budget_mib = AUTO_BUDGET_MIB.get(example.device.type, AUTO_BUDGET_MIB["cuda"])
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
