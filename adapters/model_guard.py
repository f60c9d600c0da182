"""Protecting a model from third-party code that changes it: modes, gradients, requires_grad, hooks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def preserved(model: nn.Module, *, keep_new_hooks: bool = False) -> Iterator[None]:
    """Inside the block anything may set modes, fill or clear .grad, toggle requires_grad or add hooks; all is restored after.

    keep_new_hooks leaves hooks added inside the block in place (for a library object that owns them
    and removes them itself when it is closed).
    """
    modes = {m: m.training for m in model.modules()}
    params = list(model.parameters())
    requires = [p.requires_grad for p in params]
    grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    hooks = {m: (dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks), dict(m._backward_pre_hooks))
             for m in model.modules()}
    grad_mode = torch.is_grad_enabled()
    try:
        yield
    finally:
        torch.set_grad_enabled(grad_mode)
        for m, training in modes.items():
            m.training = training
        for p, req, g in zip(params, requires, grads):
            p.requires_grad_(req)
            p.grad = g
        for m, (fwd, pre, bwd, bwd_pre) in ({} if keep_new_hooks else hooks).items():
            for store, saved in ((m._forward_hooks, fwd), (m._forward_pre_hooks, pre), (m._backward_hooks, bwd), (m._backward_pre_hooks, bwd_pre)):
                for key in [k for k in store if k not in saved]:
                    del store[key]
