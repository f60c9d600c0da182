"""Where a suite's classifier comes from: `arch` names a source and a model in it, checked without importing torch."""

from __future__ import annotations

import functools
import re

SOURCES = ("torchvision", "zoo", "python")
_PYTHON = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def parse_arch(arch: str) -> tuple[str, str]:
    """(source, name): "resnet18" and "torchvision:vgg16_bn" are torchvision's, "zoo:vgg7" ours, "python:pkg.mod:factory" a user's."""
    source, sep, rest = arch.partition(":")
    if not sep:
        return "torchvision", arch
    if source not in SOURCES:
        raise ValueError(f"{arch!r}: unknown model source {source!r}; write {' | '.join(s + ':NAME' for s in SOURCES)} or a torchvision name")
    if not rest:
        raise ValueError(f"{arch!r}: name the model after {source}:")
    if source == "python" and not _PYTHON.fullmatch(rest):
        raise ValueError(f"{arch!r}: expected python:package.module:factory")
    return source, rest


@functools.cache
def torchvision_names() -> list[str]:
    """The classification models torchvision can build (imports torchvision)."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def zoo_names() -> list[str]:
    """The presets of our own zoo."""
    from bench.models.zoo import PRESETS

    return sorted(PRESETS)


def architecture_names() -> list[str]:
    """Every arch a suite may name without a factory of its own: torchvision's classifiers and our zoo."""
    return torchvision_names() + [f"zoo:{name}" for name in zoo_names()]
