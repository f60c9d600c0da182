"""The fast path: channels-last inputs, the layout the CPU and CUDA convolution kernels run fastest in (measured on
ResNet-18 on 2 CPU cores: 1.2-1.3x per forward at batches of 8 to 32, 1.1-1.2x per forward and backward), for every
in-house forward and gradient; and for forward-only work (perturbation metrics, Score-CAM, RISE, occlusion) inference
mode, so autograd keeps no record. The model's own weights are left as they are, so hooks see the tensors they always
saw; results equal the plain computation up to float round-off (tests/bench/models)."""

from __future__ import annotations

import torch
from torch import nn

_LAYOUT = {4: torch.channels_last, 5: torch.channels_last_3d}
# Below this batch size the reorder costs more than it saves (ResNet-18 at 224 px, 2 CPU cores, per image: batch 1
# 27.6 ms plain against 50.0 ms channels-last, batch 2 31.4 against 33.1, batch 4 28.2 against 24.5, batch 8 25.3
# against 21.1; `make benchmarks`, tests/benchmarks/test_fast_path_speed.py).
MIN_BATCH = 4


def fast_layout(x: torch.Tensor) -> torch.Tensor:
    """x in channels-last memory order when it is a batch of at least MIN_BATCH images or volumes; else as it is."""
    layout = _LAYOUT.get(x.ndim)
    return x.contiguous(memory_format=layout) if layout is not None and x.shape[0] >= MIN_BATCH else x


def infer(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """model(x) for forward-only use: no autograd record, channels-last input; the output is an ordinary tensor."""
    with torch.inference_mode():
        out = model(fast_layout(x))
    # Inference tensors refuse in-place updates and autograd later on; a copy of the (N, K) output costs nothing.
    return out.clone()
